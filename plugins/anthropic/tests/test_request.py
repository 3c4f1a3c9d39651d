"""Request translation: each rule of docs/providers/anthropic.md, OpenAI-shaped call in,
Messages API body out, and every refusal with the place it names."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from llmrouter.errors import InvalidRequestError
from llmrouter.pipeline import Call
from llmrouter_anthropic.options import parse_options
from llmrouter_anthropic.request import (
    DEFAULT_MAX_TOKENS,
    FALLBACK_MAX_TOKENS,
    JSON_OBJECT_INSTRUCTION,
    default_max_tokens,
    messages_body,
)

MODEL = "claude-sonnet-4-6"
USER = {"role": "user", "content": "Hello"}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def body(
    messages: list[dict[str, Any]],
    *,
    model: str = MODEL,
    stream: bool = False,
    extra_body: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    call = Call(
        operation="chat",
        provider="anthropic",
        model=model,
        messages=messages,
        params=params,
        stream=stream,
        extra_body=extra_body,
    )
    options = parse_options(params, provider="anthropic", model=model)
    return messages_body(call, options, messages)


def refused(messages: list[dict[str, Any]], **params: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        body(messages, **params)
    assert info.value.provider == "anthropic"
    return info.value


# --- the minimal body -----------------------------------------------------------------------------


def test_minimal_call() -> None:
    assert body([USER]) == {
        "model": MODEL,
        "max_tokens": FALLBACK_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hello"}],
    }


def test_stream_flag() -> None:
    assert body([USER], stream=True)["stream"] is True
    assert "stream" not in body([USER])


# --- system ---------------------------------------------------------------------------------------


def test_system_and_developer_messages_become_one_system_string_in_order() -> None:
    out = body(
        [
            {"role": "system", "content": "Be brief."},
            USER,
            {"role": "developer", "content": "Answer in French."},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "user", "content": "Again"},
        ]
    )
    assert out["system"] == "Be brief.\n\nAnswer in French."
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]


def test_system_content_parts_stay_blocks_with_cache_control() -> None:
    cached = {"type": "text", "text": "Long policy", "cache_control": {"type": "ephemeral"}}
    out = body(
        [{"role": "system", "content": "Intro"}, {"role": "system", "content": [cached]}, USER]
    )
    assert out["system"] == [{"type": "text", "text": "Intro"}, cached]


def test_system_part_that_is_not_text_is_refused() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    error = refused([{"role": "system", "content": [image]}, USER])
    assert error.param == "messages[0].content[0]"


def test_only_system_messages_are_refused() -> None:
    assert refused([{"role": "system", "content": "x"}]).param == "messages"


# --- content parts --------------------------------------------------------------------------------


def test_text_parts_are_blocks_unchanged() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert body([{"role": "user", "content": parts}])["messages"][0]["content"] == parts


def test_image_data_url_becomes_base64_source() -> None:
    data = base64.b64encode(b"\x89PNG...").decode()
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    out = body([{"role": "user", "content": [part]}])
    assert out["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    ]


def test_image_jpg_alias_and_cache_control() -> None:
    part = {
        "type": "image_url",
        "image_url": {"url": "data:image/jpg;base64,AAAA", "detail": "high"},
        "cache_control": {"type": "ephemeral"},
    }
    block = body([{"role": "user", "content": [part]}])["messages"][0]["content"][0]
    assert block["source"]["media_type"] == "image/jpeg"
    assert block["cache_control"] == {"type": "ephemeral"}


def test_image_http_url_becomes_url_source() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    block = body([{"role": "user", "content": [part]}])["messages"][0]["content"][0]
    assert block == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("data:image/bmp;base64,AAAA", "image/bmp"),
        ("data:image/png,notbase64", "base64"),
        ("ftp://example.com/cat.jpg", "http(s)"),
    ],
)
def test_bad_images_are_refused(url: str, needle: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    error = refused([USER, {"role": "user", "content": [part]}])
    assert error.param == "messages[1].content[0].image_url.url"
    assert needle in error.message


def test_pdf_file_part_becomes_document_with_title() -> None:
    part = {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
    }
    block = body([{"role": "user", "content": [part]}])["messages"][0]["content"][0]
    assert block == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
        "title": "a.pdf",
    }


def test_text_file_part_becomes_plain_text_document() -> None:
    data = base64.b64encode("héllo".encode()).decode()
    part = {"type": "file", "file": {"file_data": f"data:text/plain;base64,{data}"}}
    block = body([{"role": "user", "content": [part]}])["messages"][0]["content"][0]
    assert block == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
    }


def test_file_id_becomes_file_source() -> None:
    part = {"type": "file", "file": {"file_id": "file_011abc"}}
    block = body([{"role": "user", "content": [part]}])["messages"][0]["content"][0]
    assert block == {"type": "document", "source": {"type": "file", "file_id": "file_011abc"}}


def test_unsupported_file_type_and_audio_are_refused() -> None:
    part = {"type": "file", "file": {"file_data": "data:application/zip;base64,AAAA"}}
    assert refused([{"role": "user", "content": [part]}]).param == (
        "messages[0].content[0].file.file_data"
    )
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    error = refused([{"role": "user", "content": [audio]}])
    assert error.param == "messages[0].content[0]" and "audio" in error.message


def test_anthropic_blocks_pass_through() -> None:
    doc = {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}
    assert body([{"role": "user", "content": [doc]}])["messages"][0]["content"] == [doc]


def test_unknown_part_type_is_refused() -> None:
    error = refused([{"role": "user", "content": [{"type": "video", "url": "x"}]}])
    assert error.param == "messages[0].content[0]" and "'video'" in error.message


# --- tools in the conversation --------------------------------------------------------------------

TOOL_CALL = {
    "id": "toolu_01",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def test_assistant_tool_calls_become_tool_use_blocks() -> None:
    out = body(
        [
            USER,
            {"role": "assistant", "content": "Let me look.", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
        ]
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
    }
    assert out["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}],
    }


def test_consecutive_tool_results_are_one_user_turn_with_the_next_user_text() -> None:
    second = {**TOOL_CALL, "id": "toolu_02", "function": {"name": "get_weather", "arguments": ""}}
    out = body(
        [
            USER,
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL, second]},
            {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "toolu_02",
                "content": [{"type": "text", "text": "20C"}],
            },
            {"role": "user", "content": "Thanks"},
        ]
    )
    assert len(out["messages"]) == 3
    assistant, results = out["messages"][1], out["messages"][2]
    assert [b["input"] for b in assistant["content"]] == [{"city": "Paris"}, {}]
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_02",
                "content": [{"type": "text", "text": "20C"}],
            },
            {"type": "text", "text": "Thanks"},
        ],
    }


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"'])
def test_tool_call_arguments_must_be_a_json_object(arguments: str) -> None:
    bad = {**TOOL_CALL, "function": {"name": "get_weather", "arguments": arguments}}
    error = refused([USER, {"role": "assistant", "content": None, "tool_calls": [bad]}])
    assert error.param == "messages[1].tool_calls[0].function.arguments"
    assert "messages[1]" in error.message


def test_tool_call_without_id_is_refused() -> None:
    bad = {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    error = refused([USER, {"role": "assistant", "content": None, "tool_calls": [bad]}])
    assert error.param == "messages[1].tool_calls[0].id"


def test_thinking_blocks_go_back_first_unchanged() -> None:
    thinking = [
        {"type": "thinking", "thinking": "Paris, so...", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
    msg = {
        "role": "assistant",
        "content": None,
        "tool_calls": [TOOL_CALL],
        "reasoning_content": "Paris, so...",
        "thinking_blocks": thinking,
    }
    out = body([USER, msg, {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"}])
    content = out["messages"][1]["content"]
    assert content[:2] == thinking
    assert content[2]["type"] == "tool_use"


def test_bad_thinking_blocks_are_refused() -> None:
    msg = {"role": "assistant", "content": "x", "thinking_blocks": [{"type": "text", "text": "x"}]}
    assert refused([USER, msg]).param == "messages[1].thinking_blocks"


def test_consecutive_same_role_turns_are_merged() -> None:
    out = body(
        [
            USER,
            {"role": "user", "content": [{"type": "text", "text": "more"}]},
            {"role": "assistant", "content": "A"},
            {"role": "assistant", "content": "B"},
        ]
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "more"}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        },
    ]


def test_empty_assistant_message_is_left_out() -> None:
    out = body([USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "x"}])
    assert out["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "x"}],
        }
    ]


def test_refusal_part_is_sent_as_text() -> None:
    msg = {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}
    assert body([USER, msg])["messages"][1]["content"] == [{"type": "text", "text": "No."}]


def test_message_names_are_not_sent() -> None:
    out = body([{"role": "user", "content": "Hi", "name": "ann"}])
    assert out["messages"] == [{"role": "user", "content": "Hi"}]


def test_function_role_is_refused() -> None:
    error = refused([USER, {"role": "function", "name": "f", "content": "x"}])
    assert error.param == "messages[1].role"


def test_the_callers_messages_are_not_changed() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": "S"}]},
        USER,
        {"role": "user", "content": [{"type": "text", "text": "T"}]},
        {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18C"},
    ]
    before = copy.deepcopy(messages)
    body(messages, response_format={"type": "json_object"})
    assert messages == before


# --- tools and tool_choice ------------------------------------------------------------------------


def test_tools_become_name_description_input_schema() -> None:
    bare = {"type": "function", "function": {"name": "now", "strict": True}}
    out = body([USER], tools=[{**WEATHER, "cache_control": {"type": "ephemeral"}}, bare])
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "cache_control": {"type": "ephemeral"},
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}, "strict": True},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert body([USER], tools=[WEATHER], tool_choice=choice)["tool_choice"] == expected


def test_parallel_tool_calls_false() -> None:
    out = body([USER], tools=[WEATHER], parallel_tool_calls=False)
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    out = body([USER], tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    out = body([USER], tools=[WEATHER], tool_choice="none", parallel_tool_calls=False)
    assert out["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in body([USER], tools=[WEATHER], parallel_tool_calls=True)


def test_tool_choice_none_without_tools_sends_nothing() -> None:
    out = body([USER], tool_choice="none", parallel_tool_calls=False)
    assert "tool_choice" not in out and "tools" not in out


# --- options --------------------------------------------------------------------------------------


def test_scalar_options() -> None:
    out = body([USER], max_completion_tokens=300, stop="END", user="user-42", service_tier="auto")
    assert out["max_tokens"] == 300
    assert out["stop_sequences"] == ["END"]
    assert out["metadata"] == {"user_id": "user-42"}
    assert out["service_tier"] == "auto"
    assert body([USER], max_tokens=5, stop=["a", "b"])["stop_sequences"] == ["a", "b"]


def test_reasoning_effort_and_json_schema_share_output_config() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    out = body(
        [USER],
        reasoning_effort="low",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "n", "schema": schema, "strict": True},
        },
    )
    assert out["output_config"] == {
        "effort": "low",
        "format": {"type": "json_schema", "schema": schema},
    }


def test_json_object_adds_the_instruction_to_system() -> None:
    fmt = {"type": "json_object"}
    assert body([USER], response_format=fmt)["system"] == JSON_OBJECT_INSTRUCTION
    out = body([{"role": "system", "content": "S"}, USER], response_format=fmt)
    assert out["system"] == f"S\n\n{JSON_OBJECT_INSTRUCTION}"
    out = body(
        [{"role": "system", "content": [{"type": "text", "text": "S"}]}, USER], response_format=fmt
    )
    assert out["system"][-1] == {"type": "text", "text": JSON_OBJECT_INSTRUCTION}
    assert "output_config" not in out


def test_text_response_format_sends_nothing() -> None:
    out = body([USER], response_format={"type": "text"})
    assert "output_config" not in out and "system" not in out


def test_thinking_is_sent_as_given() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    out = body([USER], thinking=thinking, max_tokens=4096)
    assert out["thinking"] == thinking
    assert body([USER], thinking={"type": "adaptive"})["thinking"] == {"type": "adaptive"}


def test_thinking_budget_at_or_over_the_default_max_tokens_is_refused() -> None:
    error = refused([USER], thinking={"type": "enabled", "budget_tokens": FALLBACK_MAX_TOKENS})
    assert error.param == "thinking.budget_tokens"
    assert str(FALLBACK_MAX_TOKENS) in error.message
    assert (
        body([USER], thinking={"type": "enabled", "budget_tokens": 20000}, max_tokens=30000)[
            "max_tokens"
        ]
        == 30000
    )


def test_legacy_sampling_options() -> None:
    out = body([USER], anthropic_version="2023-06-01", temperature=0.3, top_p=0.9, top_k=40)
    assert (out["temperature"], out["top_p"], out["top_k"]) == (0.3, 0.9, 40)
    assert "anthropic_version" not in out


def test_switches_are_not_sent() -> None:
    out = body(
        [USER], anthropic_beta=["a"], drop_params=True, stream_options={"include_usage": True}
    )
    assert set(out) == {"model", "max_tokens", "messages"}


def test_extra_body_is_merged_and_reserved_keys_refused() -> None:
    out = body([USER], extra_body={"metadata": {"user_id": "u"}, "inference_geo": "us"})
    assert out["metadata"] == {"user_id": "u"} and out["inference_geo"] == "us"
    with pytest.raises(InvalidRequestError) as info:
        body([USER], extra_body={"messages": []})
    assert info.value.param == "extra_body.messages"


def test_body_is_json() -> None:
    out = body(
        [{"role": "system", "content": "S"}, USER],
        tools=[WEATHER],
        tool_choice="auto",
        reasoning_effort="high",
    )
    assert json.loads(json.dumps(out)) == out


# --- default max_tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-3-haiku-20240307", 4096),
        ("claude-3-opus-20240229", 4096),
        ("claude-3-5-sonnet-20241022", 8192),
        ("claude-3-5-haiku-latest", 8192),
        ("claude-opus-4-20250514", 8192),
        ("claude-opus-4-0", 8192),
        ("claude-opus-4-1-20250805", 8192),
        ("claude-3-7-sonnet-latest", FALLBACK_MAX_TOKENS),
        ("claude-sonnet-4-6", FALLBACK_MAX_TOKENS),
        ("claude-opus-4-5", FALLBACK_MAX_TOKENS),
        ("claude-haiku-5-5", FALLBACK_MAX_TOKENS),
        ("my-gateway-alias", FALLBACK_MAX_TOKENS),
    ],
)
def test_default_max_tokens_table(model: str, expected: int) -> None:
    assert default_max_tokens(model) == expected
    assert body([USER], model=model)["max_tokens"] == expected


def test_default_table_is_never_tiny() -> None:
    assert min(tokens for _, tokens in DEFAULT_MAX_TOKENS) >= 4096
    assert FALLBACK_MAX_TOKENS >= 8192


def test_thinking_budget_must_be_below_an_explicit_max_tokens_too() -> None:
    error = refused(
        [{"role": "user", "content": "hi"}],
        max_tokens=1000,
        thinking={"type": "enabled", "budget_tokens": 2048},
    )
    assert error.param == "thinking.budget_tokens" and "which is 1000" in str(error)
    sent = body(
        [{"role": "user", "content": "hi"}],
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
    )
    assert sent["max_tokens"] == 4096 and sent["thinking"]["budget_tokens"] == 2048
