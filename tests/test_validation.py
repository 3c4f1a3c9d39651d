"""Argument validation: every bad input is a typed error naming the argument, before any I/O."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from llmrouter.errors import InvalidRequestError
from llmrouter.validation import split_model, validate_messages, validate_options


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
            ("together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ),
        (
            "together_ai/togethercomputer/llama-2-70b-chat",
            ("together_ai", "togethercomputer/llama-2-70b-chat"),
        ),
        ("echo/x", ("echo", "x")),
    ],
)
def test_split_at_first_slash(model: str, expected: tuple[str, str]) -> None:
    assert split_model(model) == expected


@pytest.mark.parametrize("model", ["", "together_ai", "together_ai/", "/llama", "  /x", None, 3])
def test_bad_model_strings(model: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        split_model(model)
    assert info.value.param == "model"
    assert "provider" in str(info.value)


GOOD = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("messages", "param", "fragment"),
    [
        ("hello", "messages", "must be a list"),
        ([], "messages", "empty"),
        ([1], "messages[0]", "must be a dict"),
        ([{"content": "x"}], "messages[0].role", "no 'role'"),
        ([{"role": "bot", "content": "x"}], "messages[0].role", "unknown role 'bot'"),
        ([{"role": "user"}], "messages[0].content", "no 'content'"),
        ([{"role": "user", "content": 5}], "messages[0].content", "string or a list"),
        ([{"role": "user", "content": None}], "messages[0].content", "None"),
        ([{"role": "user", "content": ["x"]}], "messages[0].content[0]", "content part"),
        ([{"role": "tool", "content": "42"}], "messages[0].tool_call_id", "tool_call_id"),
    ],
)
def test_bad_messages(messages: Any, param: str, fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_messages(messages)
    assert info.value.param == param
    assert fragment in str(info.value)


def test_good_messages_pass_through_unchanged() -> None:
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "content": "42", "tool_call_id": "c1"},
    ]
    assert validate_messages(msgs) == msgs


def test_pydantic_messages_are_accepted() -> None:
    class Msg(BaseModel):
        role: str
        content: str

    assert validate_messages([Msg(role="user", content="hi")]) == [
        {"role": "user", "content": "hi"}
    ]


def test_plain_lists_are_not_copied_and_mixed_ones_are() -> None:
    class Msg(BaseModel):
        role: str
        content: str

    plain = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert validate_messages(plain) is plain  # no copy on the hot path
    mixed: list[Any] = [plain[0], Msg(role="user", content="hi"), plain[1]]
    out = validate_messages(mixed)
    assert out is not mixed
    assert out == [plain[0], {"role": "user", "content": "hi"}, plain[1]]
    assert isinstance(mixed[1], Msg)  # the caller's list is left as it was
    as_tuple = validate_messages(tuple(plain))
    assert type(as_tuple) is list and as_tuple == plain


class Opts(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)


def test_options_unknown_lists_supported_and_escape_hatch() -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_options(Opts, {"temprature": 0.5}, provider="p", what="chat")
    text = str(info.value)
    assert "'temprature'" in text and "max_tokens, temperature" in text and "extra_body" in text


def test_options_out_of_range_and_wrong_type() -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_options(Opts, {"temperature": 5.0, "max_tokens": "10"}, provider="p", what="chat")
    text = str(info.value)
    assert "temperature=5.0" in text and "less than or equal to 2" in text
    assert "max_tokens='10'" in text


def test_options_ok() -> None:
    assert validate_options(Opts, {"temperature": 1}, provider="p", what="chat").temperature == 1


def test_response_format_schema_required_by_a_service() -> None:
    from llmrouter.validation import validate_response_format

    no_schema = {"type": "json_schema", "json_schema": {"name": "w"}}
    validate_response_format(no_schema)  # OpenAI's own rule: a name, the schema optional
    with pytest.raises(ValueError, match=r"\(Gemini's structured output needs the schema\)"):
        validate_response_format(no_schema, schema_required_by="Gemini's structured output")
    validate_response_format(
        {"type": "json_schema", "json_schema": {"schema": {}}},
        schema_required_by="Gemini's structured output",
    )
