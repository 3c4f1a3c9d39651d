"""Resource limits of the Jinja sandbox: a hostile chat template stops with a named limit.

jinja2's sandbox blocks escapes but lets ``{{ 'x' * 10**9 }}``, ``10**1000000`` or two nested
``range(100000)`` loops run: CPU and memory were unbounded. Every test here renders a template
that would take seconds to minutes, or gigabytes, without the limits, and checks that it stops
with a PromptTemplateError naming the limit. Nothing asserts on wall-clock time: a test that
regressed would hang (pytest-timeout ends it) or run out of memory, not pass.

The real chat templates still render, with large conversations, exactly as transformers does.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import llmrouter
from llmrouter.errors import PromptTemplateError
from llmrouter.templates import jinja as sandbox
from llmrouter.templates import register_prompt_template, render_prompt
from llmrouter.testing import TogetherEmulator

MESSAGES = [{"role": "user", "content": "hi"}]

# Each would allocate gigabytes or loop for minutes in a plain jinja2 sandbox.
ATTACKS: dict[str, tuple[str, str]] = {
    # 'x' * N: strings, lists, and a constant the compiler would fold at registration
    "str_times_huge": ("{{ 'x' * 10**9 }}", "size"),
    "str_times_literal": ("{{ 'x' * 1000000000 }}", "size"),
    "list_times_huge": ("{{ ([0] * 10**9)|length }}", "size"),
    "int_times_list": ("{{ (10**9 * [[0]])|length }}", "size"),
    # huge integers
    "power": ("{{ 7 ** (10 ** 7) }}", "integer"),  # jinja2's ** groups to the left
    "power_of_power": ("{% set x = 10 ** (10 ** (9 ** 3)) %}", "integer"),
    "squaring_in_a_loop": (
        "{% set ns = namespace(x=3) %}{% for i in range(64) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}",
        "integer",
    ),
    # loops and ranges
    "one_huge_range": ("{% for i in range(10**9) %}{% endfor %}", "range"),
    "nested_ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "steps",
    ),
    "nested_loop_filter_skipping_everything": (
        "{% for i in range(100000) %}{% for j in range(100000) if false %}{% endfor %}{% endfor %}",
        "steps",
    ),
    "exponential_macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        "steps",
    ),
    # string concatenation doubling in a loop
    "doubling_with_tilde": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "size",
    ),
    "doubling_with_plus": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}",
        "size",
    ),
    "doubling_through_a_block_set": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set t %}{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = t %}{% endfor %}",
        "work",
    ),
    "literal_text_in_nested_loops": (
        "{% set t %}{% for i in range(1000) %}{% for j in range(90) %}"
        + "A" * 10_000
        + "{% endfor %}{% endfor %}{% endset %}",
        "work",
    ),
    # widths
    "center_filter": ("{{ 'x'|center(1000000000) }}", "size"),
    "center_method": ("{{ 'x'.center(10**9) }}", "size"),
    "ljust_method": ("{{ 'x'.ljust(10**9, '-') }}", "size"),
    "zfill_method": ("{{ '1'.zfill(10**9) }}", "size"),
    "format_filter": ("{{ '%1000000000s'|format('x') }}", "size"),
    "percent_width": ("{{ '%1000000000d' % 1 }}", "size"),
    "percent_star": ("{{ '%*d' % (10**9, 1) }}", "size"),
    "percent_precision": ("{{ '%.1000000000f' % 1.5 }}", "size"),
    "str_format_width": ("{{ '{:>1000000000}'.format('x') }}", "size"),
    "str_format_nested_width": ("{{ '{:>{}}'.format('x', 10**9) }}", "size"),
    "indent_filter": ("{{ ('a\n' * 100000)|indent(100000) }}", "size"),
    "wordwrap_filter": ("{{ ('a ' * 100000)|wordwrap(1, wrapstring='x' * 100000) }}", "size"),
    "expandtabs": ("{{ ('\t' * 100000).expandtabs(100000) }}", "size"),
    "tojson_indent": (
        "{% set ns = namespace(l=1) %}{% for i in range(150) %}{% set ns.l = [ns.l] %}"
        "{% endfor %}{{ ns.l|tojson(indent=100000) }}",
        "size",
    ),
    # amplifying string functions
    "replace_empty": ("{{ ('x' * 100000)|replace('', 'y' * 100000) }}", "size"),
    "replace_method": ("{{ ('x' * 100000).replace('x', 'y' * 100000) }}", "size"),
    "translate": ("{{ ('x' * 100000).translate({120: 'y' * 100000}) }}", "size"),
    "join_filter_separator": ("{{ (['a'] * 100000)|join('x' * 100000) }}", "size"),
    "join_method_separator": ("{{ ('x' * 100000).join(['a'] * 100000) }}", "size"),
    "batch_fill": ("{{ [1]|batch(10**9, 'x')|list|length }}", "size"),
    "slice_count": ("{{ [1]|slice(10**9)|list|length }}", "size"),
    "lipsum": ("{{ lipsum(10**6) }}", "size"),
    "to_bytes": ("{{ (1).to_bytes(10**9, 'big')|length }}", "size"),
    # shared references: tiny to build, exponential once written out, compared or hashed
    "shared_list_written_out": (
        "{% set ns = namespace(l=[]) %}{% for i in range(80) %}{% set ns.l = [ns.l, ns.l] %}"
        "{% endfor %}{{ ns.l }}",
        "size",
    ),
    "shared_lists_compared": (
        "{% set ns = namespace(a=[], b=[]) %}{% for i in range(80) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}",
        "size",
    ),
    "shared_tuple_hashed": (
        "{% set ns = namespace(t=()) %}{% for i in range(80) %}{% set ns.t = (ns.t, ns.t) %}"
        "{% endfor %}{% set d = {ns.t: 1} %}",
        "size",
    ),
    "shared_list_tojson": (
        "{% set ns = namespace(l=[]) %}{% for i in range(80) %}{% set ns.l = [ns.l, ns.l] %}"
        "{% endfor %}{{ ns.l|tojson }}",
        "size",
    ),
    "namespace_grown_after_being_shared": (
        "{% set ns = namespace(x='') %}{% set l = [ns] * 100000 %}{% set ns.x = 'x' * 900000 %}"
        "{{ l|string|length }}",
        "size",
    ),
    # repeated big work: each step is bounded, their sum is not
    "slicing_a_big_list_repeatedly": (
        "{% set big = range(100000)|list %}{% for i in range(100000) %}{% set c = big[:] %}"
        "{% endfor %}",
        "work",
    ),
    "comparing_big_lists_repeatedly": (
        "{% set a = range(100000)|list %}{% set b = range(100000)|list %}"
        "{% for i in range(100000) %}{% if a == b %}{% endif %}{% endfor %}",
        "work",
    ),
    "searching_a_big_string_repeatedly": (
        "{% set s = 'x' * 900000 %}{% for i in range(100000) %}{% if 'y' in s %}{% endif %}"
        "{% endfor %}",
        "work",
    ),
    "summing_lists": ("{{ (range(3000)|map('string')|map('list')|list)|sum(start=[]) }}", "work"),
    "striptags": ("{{ ('<a>' * 300000)|striptags }}", "work"),
    # the rendered prompt itself
    "output": ("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", "output"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_hostile_template_stops_with_the_limit_it_hit(name: str) -> None:
    source, limit = ATTACKS[name]
    template = register_prompt_template("acme/hostile", chat_template=source)
    with pytest.raises(PromptTemplateError) as caught:
        template.render(MESSAGES)
    message = str(caught.value)
    assert f"chat_template for 'acme/hostile' hit the sandbox's {limit} limit: " in message
    assert caught.value.template == "acme/hostile"


def test_the_message_says_what_was_too_big_and_how_big_it_may_be() -> None:
    register_prompt_template("acme/x", chat_template="{{ 'ab' * 10**9 }}")
    with pytest.raises(PromptTemplateError) as caught:
        render_prompt(MESSAGES, model="acme/x")
    assert str(caught.value) == (
        "chat_template for 'acme/x' hit the sandbox's size limit: the result of * would have "
        "2,000,000,000 characters or items; a value may have at most 1,000,038 (1,000,000 plus "
        "2 per character of the messages, which have 19)"
    )


def test_a_constant_bomb_does_not_run_at_registration() -> None:
    # jinja2 folds constant expressions when it compiles: a plain sandbox would build this
    # gigabyte-sized string inside register_prompt_template.
    template = register_prompt_template("acme/x", chat_template="{{ 'x'|center(1000000000) }}")
    with pytest.raises(PromptTemplateError, match="size limit: center"):
        template.render(MESSAGES)


def test_limits_grow_with_the_conversation() -> None:
    content = "y" * 2_000_000  # the size limit is 1,000,000 + 2 * (about 2,000,000)
    messages = [{"role": "user", "content": content}]
    register_prompt_template("acme/twice", chat_template="{{ messages[0].content * 2 }}")
    assert render_prompt(messages, model="acme/twice") == content * 2
    register_prompt_template("acme/thrice", chat_template="{{ messages[0].content * 3 }}")
    with pytest.raises(PromptTemplateError, match="size limit"):
        render_prompt(messages, model="acme/thrice")


def test_the_output_limit_counts_the_whole_prompt() -> None:
    # Every piece is fine on its own; together they are longer than the limit.
    messages = [{"role": "user", "content": "z" * 100_000}]
    register_prompt_template(
        "acme/repeat",
        chat_template="{% for i in range(20) %}{{ messages[0].content }}{% endfor %}",
    )
    with pytest.raises(PromptTemplateError, match="output limit: the rendered prompt"):
        render_prompt(messages, model="acme/repeat")
    register_prompt_template(
        "acme/repeat",
        chat_template="{% for i in range(3) %}{{ messages[0].content }}{% endfor %}",
    )
    assert len(render_prompt(messages, model="acme/repeat")) == 300_000


def test_each_render_has_its_own_budget() -> None:
    # 60,000 steps fit one render's 100,000; a second render starts from zero, also in threads.
    template = register_prompt_template(
        "acme/busy", chat_template="{% for i in range(60000) %}{% endfor %}done"
    )
    assert template.render(MESSAGES) == "done"
    assert template.render(MESSAGES) == "done"
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(template.render(MESSAGES))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["done"] * 3


def test_every_real_chat_template_renders_a_big_conversation(reference: Any, family: str) -> None:
    entry = reference.by_family[family]
    template = register_prompt_template(
        "acme/" + family, chat_template=entry["template"], eos_token=entry["eos_token"] or ""
    )
    long_content = [{"role": "user", "content": "word " * 400_000}]  # 2,000,000 characters
    many = [
        {"role": role, "content": f"turn {i} " * 10}
        for i in range(1500)
        for role in ("user", "assistant")
    ]
    for messages in (long_content, many):
        assert template.render(messages) == reference.render(family, messages, True)


def test_weights_count_shared_parts_expanded_and_walk_them_once() -> None:
    budget = sandbox._Budget()
    leaf = ["x" * 10]
    shared: Any = leaf
    for _ in range(15):
        shared = [shared, shared]
    # 2**15 copies of the leaf (11 each) plus the 2**15 - 1 pairs around them
    assert budget.weigh(shared) == 2**15 * 11 + 2**15 - 1
    deeper = shared
    for _ in range(10):
        deeper = [deeper, deeper]
    with pytest.raises(sandbox._LimitExceeded) as caught:
        budget.weigh(deeper)
    assert caught.value.limit == "size"
    # Each distinct list was walked once (16 lists with 2 children each, plus the leaf).
    assert budget.work < 200 * sandbox.WALK_COST


def test_a_namespace_is_weighed_again_after_it_changes() -> None:
    from jinja2.utils import Namespace

    budget = sandbox._Budget()
    ns = Namespace(x="")
    held = [ns, ns]
    small = budget.weigh(held)
    ns["x"] = "y" * 1000
    assert budget.weigh(held) >= small + 2000
    ns["me"] = ns  # a cycle does not loop
    assert budget.weigh(ns) >= 1000


def test_hostile_template_fails_before_any_request(emu: TogetherEmulator) -> None:
    model = "acme-org/hostile-text-model"
    register_prompt_template(model, chat_template="{{ 'x' * 10**9 }}")
    with pytest.raises(PromptTemplateError, match="size limit"):
        llmrouter.completion(
            model=f"together_ai/{model}",
            messages=MESSAGES,
            api_base=emu.base_url,
            api_key="tgp_v1_LimitsTestKey_0123456789",
        )
    assert emu.requests == []
