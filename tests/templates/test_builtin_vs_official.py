"""Every built-in renders exactly what its official template renders (bos_token="").

The reference is the template string from templates.json rendered with jinja2 the transformers
way (conftest.render_official). A conversation the official template rejects must raise
PromptTemplateError, with the template's own reason when it called raise_exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmrouter.errors import PromptTemplateError
from llmrouter.templates import get_template, prompt_templates
from llmrouter.templates.builtin import ALIASES, FAMILIES

Messages = list[dict[str, Any]]


def _m(role: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


S, U, A = "system", "user", "assistant"

#: name -> conversation. Chosen to hit every branch the official templates have: system handling,
#: alternation checks, stripping, empty turns, odd roles, and text that looks like markup.
TRICKY: dict[str, Messages] = {
    "empty": [],
    "user": [_m(U, "Hello")],
    "system_user": [_m(S, "You are terse."), _m(U, "Hello")],
    "multi_turn": [_m(U, "Hi"), _m(A, "Hello!"), _m(U, "How are you?")],
    "system_multi_turn": [
        _m(S, "Be kind."),
        _m(U, "Hi"),
        _m(A, "Hello!"),
        _m(U, "How are you?"),
    ],
    "ends_with_assistant": [_m(U, "Hi"), _m(A, "Hello!")],
    "system_ends_with_assistant": [_m(S, "Sys"), _m(U, "Hi"), _m(A, "Hello!")],
    "only_system": [_m(S, "Just a system prompt")],
    "only_assistant": [_m(A, "I speak first")],
    "whitespace": [
        _m(S, "  \n sys with spaces \n "),
        _m(U, "\n\n  lead and trail  \n\n"),
        _m(A, "\t tabbed \t"),
        _m(U, "line1\n\nline2\n\n\nline3\r\nline4\r\n\r\nend "),
    ],
    "unicode": [
        _m(S, "Système: répondez en français ✓"),
        _m(U, "日本語で答えて 🙂 \u200b mixed עברית"),
        _m(A, "\u00a0non-breaking\u00a0 and \u2028separator\u2028"),
        _m(U, "e\u0301 combining, \U0001f9ea test"),
    ],
    "empty_turns": [_m(S, ""), _m(U, ""), _m(A, ""), _m(U, "")],
    "empty_assistant": [_m(U, "Q"), _m(A, ""), _m(U, "Q2")],
    "whitespace_only": [_m(U, "   "), _m(A, "\n"), _m(U, "\t")],
    "markup_lookalikes": [
        _m(S, "<<SYS>> [INST] {{ bos_token }} {% raw %}"),
        _m(U, "<s>[INST] <|im_start|>user\n<|eot_id|> </s>"),
        _m(A, "<start_of_turn>model <|end|> <\uff5cUser\uff5c>"),
        _m(U, "'quotes' \"double\" \\ backslash"),
    ],
    "user_user": [_m(U, "one"), _m(U, "two")],
    "assistant_first": [_m(A, "hi"), _m(U, "hello")],
    "system_in_middle": [_m(U, "Hi"), _m(S, "late system"), _m(U, "again")],
    "system_at_odd_position": [_m(U, "Hi"), _m(S, "late system")],
    "two_systems": [_m(S, "first"), _m(S, "second"), _m(U, "Hi")],
    "system_after_turns": [_m(S, "first"), _m(U, "Hi"), _m(A, "Yo"), _m(S, "again"), _m(U, "ok")],
    "tool_result": [_m(U, "weather?"), _m("tool", "sunny")],
    "tool_result_with_id": [_m(U, "weather?"), _m("tool", '{"t": 21}', tool_call_id="abc123xyz")],
    "two_tool_results": [
        _m(U, "weather?"),
        _m("tool", "sunny", tool_call_id="abc123xyz"),
        _m("tool", "warm", tool_call_id="def456uvw"),
        _m(A, "Sunny and warm."),
    ],
    "tool_then_user": [_m(U, "q"), _m("tool", "r"), _m(U, "thanks")],
    "ipython": [_m(U, "run it"), _m("ipython", "42")],
    "unknown_role": [_m(U, "Hi"), _m("function", "result")],
    "unknown_role_first": [_m("developer", "be careful"), _m(U, "Hi")],
    "long": [_m(U if i % 2 == 0 else A, f"turn {i} " * 3) for i in range(12)],
}


def _compare(reference: Any, family: str, messages: Messages, add_generation_prompt: bool) -> None:
    try:
        expected = reference.render(family, messages, add_generation_prompt)
    except Exception as exc:
        with pytest.raises(PromptTemplateError) as caught:
            FAMILIES[family].render(messages, add_generation_prompt=add_generation_prompt)
        assert caught.value.template == family
        if isinstance(exc, reference.raised):
            assert caught.value.message == str(exc)
        return
    got = FAMILIES[family].render(messages, add_generation_prompt=add_generation_prompt)
    assert got == expected


@pytest.mark.parametrize("add_generation_prompt", [True, False])
@pytest.mark.parametrize("case", list(TRICKY))
def test_tricky_conversations(
    reference: Any, family: str, case: str, add_generation_prompt: bool
) -> None:
    _compare(reference, family, TRICKY[case], add_generation_prompt)


# --- property: random conversations ------------------------------------------------------------

_PIECES = [" ", "  ", "\n", "\n\n", "\r\n", "\t", "\u00a0", "\u2028", "<s>", "</s>", "[INST]", "{{"]
_content = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(_PIECES)), max_size=5).map(
    "".join
)
_role = st.sampled_from([S, U, A, U, A, "tool", "ipython", "function", "tool_results"])


@st.composite
def conversations(draw: st.DrawFn) -> Messages:
    if draw(st.booleans()):
        # Mostly valid shapes, so the success paths get as much attention as the errors.
        roles = [U if i % 2 == 0 else A for i in range(draw(st.integers(0, 6)))]
    else:
        roles = draw(st.lists(_role, max_size=6))
    if draw(st.booleans()):
        roles.insert(0, S)
    messages: Messages = []
    for role in roles:
        message = _m(role, draw(_content))
        if role in ("tool", "tool_results") and draw(st.booleans()):
            message["tool_call_id"] = draw(st.sampled_from(["abc123xyz", "short", "123456789"]))
        messages.append(message)
    return messages


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(messages=conversations(), add_generation_prompt=st.booleans())
def test_random_conversations_match_official(
    reference: Any, family: str, messages: Messages, add_generation_prompt: bool
) -> None:
    _compare(reference, family, messages, add_generation_prompt)


# --- hand-checked outputs, so that a shared mistake in helper and built-in still shows ----------

GOLDEN: list[tuple[str, Messages, str]] = [
    (
        "llama-2",
        [_m(S, "S"), _m(U, " U "), _m(A, " A "), _m(U, "U2")],
        "[INST] <<SYS>>\nS\n<</SYS>>\n\n U [/INST] A </s>[INST] U2 [/INST]",
    ),
    (
        "llama-3",
        [_m(U, " Hi ")],
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    ("mistral", [_m(S, "S"), _m(U, "U"), _m(A, "A")], " [INST] S\n\nU [/INST] A</s>"),
    (
        "mistral-v0.3",
        [_m(S, "S"), _m(U, "U"), _m(A, "A"), _m(U, "V")],
        "[INST] U[/INST] A</s>[INST] S\n\nV[/INST]",
    ),
    ("chatml", [_m(U, "Hi")], "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
    (
        "gemma",
        [_m(U, "Hi"), _m(A, "Yo")],
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nYo<end_of_turn>\n<start_of_turn>model\n",
    ),
    ("zephyr", [_m(U, "Hi")], "<|user|>\nHi</s>\n<|assistant|>\n"),
    ("falcon", [_m(U, "a\r\n\r\nb\n\n\nc")], "\n\nUser: a\r\n\r\nb\n\nc\n\nAssistant:"),
]


@pytest.mark.parametrize(("name", "messages", "expected"), GOLDEN)
def test_golden_outputs(name: str, messages: Messages, expected: str) -> None:
    assert get_template(name).render(messages) == expected


def test_gemma_rejects_system_with_official_reason() -> None:
    with pytest.raises(PromptTemplateError, match=r"^System role not supported$"):
        get_template("gemma").render([_m(S, "S"), _m(U, "U")])


def test_rejection_reason_is_the_official_text() -> None:
    with pytest.raises(PromptTemplateError) as caught:
        get_template("llama-2").render([_m(U, "a"), _m(U, "b")])
    assert (
        str(caught.value) == "Conversation roles must alternate user/assistant/user/assistant/..."
    )
    assert caught.value.template == "llama-2-chat"


# --- the table itself ----------------------------------------------------------------------------


def test_one_builtin_per_family(reference: Any) -> None:
    by_family = reference.by_family
    assert set(FAMILIES) == set(by_family)
    for family, template in FAMILIES.items():
        assert template.name == family
        assert template.kind == "builtin"
        assert template.eos_token == (by_family[family]["eos_token"] or "")
        assert template.bos_token == (by_family[family]["bos_token"] or "")


def test_aliases_point_at_families() -> None:
    names = prompt_templates()
    assert names == sorted(names)
    for alias, family in ALIASES.items():
        assert alias in names
        assert get_template(alias) is FAMILIES[family]
    for required in ("llama-2", "llama-3", "llama-3.1", "mistral", "chatml", "zephyr", "vicuna",
                     "gemma", "phi-3", "qwen2", "deepseek"):  # fmt: skip
        assert required in names


def test_names_are_case_insensitive() -> None:
    assert get_template("LLaMA-2") is FAMILIES["llama-2-chat"]


@pytest.mark.parametrize(
    ("family", "stop"),
    [
        ("llama-2-chat", "</s>"),
        ("llama-3-instruct", "<|eot_id|>"),
        ("llama-3.1-instruct", "<|eot_id|>"),
        ("chatml-oasst-llama2-70b-sft-v10", "<|im_end|>"),
        ("qwen2.5-instruct", "<|im_end|>"),
        ("gemma-2-it", "<end_of_turn>"),
        ("phi-3-mini", "<|end|>"),
    ],
)
def test_stop_sequences(family: str, stop: str) -> None:
    assert stop in FAMILIES[family].stop


def test_every_family_stops_on_its_turn_end(family: str) -> None:
    assert FAMILIES[family].stop, "a text completion needs a stop sequence"


def test_identical_official_templates_share_a_renderer(reference: Any) -> None:
    # Documented equivalences (the aliases rely on them).
    same = [
        ("mistral-7b-instruct-v0.1", "mistral-7b-instruct-v0.2", "mixtral-8x7b-instruct-v0.1"),
        ("gemma-it", "gemma-2-it"),
    ]
    by_family = reference.by_family
    for group in same:
        sources = {by_family[f]["template"] for f in group}
        assert len(sources) == 1, group


@pytest.mark.parametrize(
    "messages",
    [
        "not a list",
        [{"role": "user"}],
        [{"role": "user", "content": None}],
        [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        [{"role": 1, "content": "x"}],
        ["just a string"],
        [{"role": "assistant", "content": "x", "tool_calls": [{"id": "1"}]}],
    ],
)
def test_malformed_messages_are_template_errors(messages: Any) -> None:
    with pytest.raises(PromptTemplateError):
        get_template("chatml").render(messages)


def test_str_subclass_roles_compare_by_value() -> None:
    import enum

    class Role(str, enum.Enum):
        USER = "user"

    out = get_template("chatml").render([{"role": Role.USER, "content": "hi"}])
    assert out.startswith("<|im_start|>user\nhi")


def test_tool_calls_none_is_plain_message() -> None:
    message = {"role": "assistant", "content": "x", "tool_calls": None}
    assert "x<|im_end|>" in get_template("chatml").render([_m(U, "q"), message])
