"""register_prompt_template: both roles forms, eos placement, errors, chat_template, sandbox."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from llmrouter.errors import InvalidRequestError, PromptTemplateError
from llmrouter.templates import (
    PromptTemplate,
    register_prompt_template,
    registered_prompt_templates,
    render_prompt,
    unregister_prompt_template,
)

OASST = "OpenAssistant/llama2-70b-oasst-sft-v10"
TUTORIAL_ROLES = {
    "system": "<|im_start|>system",
    "assistant": "<|im_start|>assistant",
    "user": "<|im_start|>user",
}
POEM = [{"role": "user", "content": "Write me a poem about the blue sky"}]


def _m(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content}


# --- the tutorial's string form -------------------------------------------------------------------


def test_tutorial_registration_renders_exactly() -> None:
    template = register_prompt_template(
        model=OASST, roles=TUTORIAL_ROLES, pre_message_sep="\n", post_message_sep="\n"
    )
    assert isinstance(template, PromptTemplate)
    assert template.name == OASST and template.kind == "custom"
    expected = "<|im_start|>user\nWrite me a poem about the blue sky\n"
    assert render_prompt(POEM, model=OASST) == expected
    assert render_prompt(POEM, model="together_ai/" + OASST) == expected


def test_full_chatml_registration_equals_builtin_chatml() -> None:
    # The docs suggest this registration as the complete form of the tutorial's one.
    register_prompt_template(
        model=OASST,
        roles=TUTORIAL_ROLES,
        pre_message_sep="\n",
        post_message_sep="<|im_end|>\n",
        final_prompt_value="<|im_start|>assistant\n",
    )
    messages = [_m("system", "S"), _m("user", "U"), _m("assistant", "A"), _m("user", "V")]
    for conversation in (POEM, messages):
        for gen in (True, False):
            assert render_prompt(conversation, model=OASST, add_generation_prompt=gen) == (
                render_prompt(conversation, template="chatml", add_generation_prompt=gen)
            )


def test_string_form_multi_turn() -> None:
    register_prompt_template(
        "acme/m", roles=TUTORIAL_ROLES, pre_message_sep="\n", post_message_sep="<|im_end|>\n"
    )
    messages = [_m("system", "S"), _m("user", "U"), _m("assistant", "A"), _m("user", "V")]
    assert render_prompt(messages, model="acme/m") == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
        "<|im_start|>assistant\nA<|im_end|>\n<|im_start|>user\nV<|im_end|>\n"
    )


def test_bos_initial_final_wrap_the_messages() -> None:
    register_prompt_template(
        "acme/m",
        roles={"user": "U:", "assistant": "A:"},
        pre_message_sep=" ",
        post_message_sep="\n",
        initial_prompt_value="INIT\n",
        final_prompt_value="A:",
        bos_token="<s>",
    )
    assert render_prompt([_m("user", "hi")], model="acme/m") == "<s>INIT\nU: hi\nA:"


def test_final_prompt_value_is_the_generation_prompt() -> None:
    register_prompt_template(
        "acme/m", roles={"user": "U: "}, initial_prompt_value="I|", final_prompt_value="A:"
    )
    assert render_prompt([_m("user", "x")], model="acme/m") == "I|U: xA:"
    assert render_prompt([_m("user", "x")], model="acme/m", add_generation_prompt=False) == (
        "I|U: x"
    )


# --- the dict form --------------------------------------------------------------------------


def test_dict_form_llama2_style_with_eos_after_assistant() -> None:
    template = register_prompt_template(
        "acme/llama2-like",
        roles={
            "system": {"pre_message": "[INST] <<SYS>>\n", "post_message": "\n<</SYS>>\n [/INST]\n"},
            "user": {"pre_message": "[INST] ", "post_message": " [/INST]"},
            "assistant": {"pre_message": " ", "post_message": " "},
        },
        bos_token="<s>",
        eos_token="</s>",
    )
    messages = [_m("user", "Hi"), _m("assistant", "Hello"), _m("user", "Again")]
    assert template.render(messages) == "<s>[INST] Hi [/INST] Hello </s>[INST] Again [/INST]"
    assert template.stop == ("</s>",)
    assert template.eos_token == "</s>" and template.bos_token == "<s>"


def test_eos_follows_every_assistant_turn_in_string_form() -> None:
    register_prompt_template(
        "acme/m",
        roles={"user": "<u>", "assistant": "<a>"},
        pre_message_sep="[",
        post_message_sep="]",
        eos_token="<eos>",
    )
    messages = [_m("user", "1"), _m("assistant", "2"), _m("user", "3"), _m("assistant", "4")]
    assert render_prompt(messages, model="acme/m") == "<u>[1]<a>[2]<eos><u>[3]<a>[4]<eos>"


def test_dict_form_missing_keys_default_to_empty_and_skip_separators() -> None:
    register_prompt_template(
        "acme/m",
        roles={"user": {"pre_message": "Q: "}, "assistant": "A:"},
        pre_message_sep=" ",
        post_message_sep="\n",
    )
    # Separators apply to the string-form role only.
    messages = [_m("user", "hi"), _m("assistant", "yo")]
    assert render_prompt(messages, model="acme/m") == "Q: hiA: yo\n"


def test_empty_messages_render_the_frame() -> None:
    register_prompt_template("acme/m", roles={"user": ""}, initial_prompt_value="I", bos_token="B")
    assert render_prompt([], model="acme/m") == "BI"


# --- errors ---------------------------------------------------------------------------------------


def test_uncovered_role_names_role_and_covered_roles() -> None:
    register_prompt_template("acme/m", roles={"user": "U: ", "assistant": "A: "})
    with pytest.raises(PromptTemplateError) as caught:
        render_prompt([_m("user", "x"), _m("system", "s")], model="acme/m")
    text = str(caught.value)
    assert "'system'" in text and "'user'" in text and "'assistant'" in text
    assert "messages[1]" in text
    assert caught.value.template == "acme/m"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"roles": None}, "roles"),
        ({"roles": {}}, "roles"),
        ({"roles": ["user"]}, "roles"),
        ({"roles": {"user": 1}}, "roles"),
        ({"roles": {1: "x"}}, "roles"),
        ({"roles": {"user": {"prefix": "x"}}}, "roles"),
        ({"roles": {"user": {"pre_message": 3}}}, "roles"),
        ({"roles": {"user": "x"}, "pre_message_sep": None}, "pre_message_sep"),
        ({"roles": {"user": "x"}, "eos_token": 0}, "eos_token"),
        ({"roles": {"user": {"pre_message": "x"}}, "post_message_sep": "\n"}, "post_message_sep"),
        ({"roles": {"user": "x"}, "chat_template": "{{ 1 }}"}, "roles"),
        ({"chat_template": "{{ 1 }}", "initial_prompt_value": "x"}, "initial_prompt_value"),
        ({"chat_template": "{{ 1 }}", "final_prompt_value": "x"}, "final_prompt_value"),
        ({"chat_template": 5}, "chat_template"),
        ({"chat_template": "{% for %}"}, "chat_template"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(PromptTemplateError) as caught:
        register_prompt_template("acme/m", **kwargs)
    assert isinstance(caught.value, InvalidRequestError)
    assert caught.value.param == param
    assert param in str(caught.value) or param == "chat_template"
    assert registered_prompt_templates() == {}


@pytest.mark.parametrize("model", ["", "   ", None, 3])
def test_bad_model_name(model: Any) -> None:
    with pytest.raises(PromptTemplateError) as caught:
        register_prompt_template(model, roles={"user": ""})
    assert caught.value.param == "model"


# --- listing, replacing, unregistering ------------------------------------------------------------


def test_list_replace_unregister() -> None:
    assert registered_prompt_templates() == {}
    first = register_prompt_template("Acme/M", roles={"user": "1"})
    assert registered_prompt_templates() == {"Acme/M": first}
    second = register_prompt_template("acme/m", roles={"user": "2"})
    assert registered_prompt_templates() == {"acme/m": second}
    assert render_prompt([_m("user", "x")], model="ACME/M") == "2x"
    listing = registered_prompt_templates()
    listing.clear()  # a copy
    assert len(registered_prompt_templates()) == 1
    assert unregister_prompt_template("ACME/m") is True
    assert unregister_prompt_template("acme/m") is False
    assert registered_prompt_templates() == {}
    with pytest.raises(PromptTemplateError):
        render_prompt([_m("user", "x")], model="acme/m")


def test_templates_are_frozen() -> None:
    template = register_prompt_template("acme/m", roles={"user": ""})
    with pytest.raises(AttributeError):
        template.name = "other"  # type: ignore[misc]


def test_concurrent_registration_is_consistent() -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(200):
                register_prompt_template(f"acme/m{n}-{i}", roles={"user": str(n)})
                assert render_prompt([_m("user", "")], model=f"acme/m{n}-{i}") == str(n)
                if i % 2:
                    assert unregister_prompt_template(f"acme/m{n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(registered_prompt_templates()) == 8 * 100


# --- chat_template (Hugging Face Jinja) -----------------------------------------------------------

CHATML_JINJA = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def test_chat_template_renders_like_transformers() -> None:
    template = register_prompt_template(
        "acme/jinja", chat_template=CHATML_JINJA, bos_token="<s>", eos_token="<|im_end|>"
    )
    assert template.kind == "chat_template"
    assert template.stop == ("<|im_end|>",)
    assert render_prompt(POEM, model="together_ai/acme/jinja") == (
        "<s><|im_start|>user\nWrite me a poem about the blue sky<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render_prompt(POEM, model="acme/jinja", add_generation_prompt=False).endswith(
        "<|im_end|>\n"
    )


def test_chat_template_matches_official_renderer(reference: Any, family: str) -> None:
    entry = reference.by_family[family]
    template = register_prompt_template(
        "acme/" + family, chat_template=entry["template"], eos_token=entry["eos_token"] or ""
    )
    messages = [_m("user", " Hi "), _m("assistant", "Yo"), _m("user", "日本 🙂")]
    assert template.render(messages) == reference.render(family, messages, True)


def test_chat_template_conventions() -> None:
    source = (
        "{% for m in messages %}{% if loop.index0 > 0 %}{% break %}{% endif %}"
        "{{ m | tojson }}{% endfor %}|{{ strftime_now('%Y') | length }}|{{ eos_token }}"
    )
    register_prompt_template("acme/j", chat_template=source, eos_token="</s>")
    out = render_prompt([_m("user", "<b>é</b>"), _m("user", "x")], model="acme/j")
    # loopcontrols, tojson without HTML escaping or ASCII escaping, strftime_now.
    assert out == '{"role": "user", "content": "<b>é</b>"}|4|</s>'


def test_trim_and_lstrip_blocks() -> None:
    source = (
        "{% for m in messages %}\n    {% if true %}\n{{ m.content }}\n    {% endif %}\n{% endfor %}"
    )
    register_prompt_template("acme/j", chat_template=source)
    assert render_prompt([_m("user", "a"), _m("user", "b")], model="acme/j") == "a\nb\n"


def test_raise_exception_becomes_error_not_prompt_text() -> None:
    source = (
        "{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported by this model') }}{% endif %}"
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    register_prompt_template("acme/j", chat_template=source)
    assert render_prompt([_m("user", "ok")], model="acme/j") == "ok"
    with pytest.raises(PromptTemplateError) as caught:
        render_prompt([_m("system", "s"), _m("user", "u")], model="acme/j")
    assert str(caught.value) == "System role not supported by this model"
    assert caught.value.template == "acme/j"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ messages.__class__.__base__.__subclasses__() }}",
        "{{ raise_exception.__globals__ }}",
        "{{ messages.append({'role': 'x'}) }}",
        "{% set d = {} %}{{ d.update(a=1) }}",
        "{{ cycler.__init__.__globals__.os }}",
    ],
)
def test_sandbox_refuses_escapes_and_mutation(source: str) -> None:
    register_prompt_template("acme/evil", chat_template=source)
    with pytest.raises(PromptTemplateError) as caught:
        render_prompt([_m("user", "x")], model="acme/evil")
    assert "sandbox" in str(caught.value)
    assert "<class" not in str(caught.value)


def test_runtime_failures_become_template_errors() -> None:
    register_prompt_template("acme/j", chat_template="{{ messages[0]['content'] + 1 }}")
    with pytest.raises(PromptTemplateError, match="failed on these messages"):
        render_prompt([_m("user", "x")], model="acme/j")
    with pytest.raises(PromptTemplateError, match="messages must be a list"):
        render_prompt("not a list", model="acme/j")  # type: ignore[arg-type]


def test_chat_template_passes_rich_messages_through() -> None:
    # Unlike built-ins, a registered Jinja template sees the messages as given (tool calls...).
    source = "{% for m in messages %}{{ m.tool_calls | length if m.tool_calls else 0 }}{% endfor %}"
    register_prompt_template("acme/j", chat_template=source)
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}, {"id": "2"}]},
        _m("user", "x"),
    ]
    assert render_prompt(messages, model="acme/j") == "20"
