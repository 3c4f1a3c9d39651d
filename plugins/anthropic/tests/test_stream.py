"""Stream events: each kind, a whole streamed tool call, a thinking sequence, in-band errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrouter import errors
from llmrouter.pipeline import STREAM_DONE, Call, StreamState
from llmrouter.types import ModelResponseStream
from llmrouter_anthropic.stream import parse_stream_event

CALL = Call(operation="chat", provider="anthropic", model="claude-sonnet-4-6", stream=True)

START = {
    "type": "message_start",
    "message": {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 1,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 0,
        },
    },
}


def feed(events: list[dict[str, Any]], state: StreamState | None = None) -> list[Any]:
    """Each event's result, as the core would ask for it (compact JSON, as Anthropic sends)."""
    state = state or StreamState()
    out = []
    for event in events:
        result = parse_stream_event(CALL, json.dumps(event, separators=(",", ":")), state)
        if isinstance(result, ModelResponseStream):
            state.chunks += 1
        out.append(result)
    return out


def delta(chunk: Any) -> dict[str, Any]:
    assert isinstance(chunk, ModelResponseStream)
    assert len(chunk.choices) == 1
    return chunk.choices[0].delta.model_dump(exclude_none=True)


def text(index: int, value: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": value},
    }


def test_message_start_is_the_role_chunk() -> None:
    (chunk,) = feed([START])
    assert delta(chunk) == {"role": "assistant", "content": ""}
    assert chunk.id == "msg_01" and chunk.model == "claude-sonnet-4-6"
    assert chunk.usage is None


def test_text_sequence() -> None:
    out = feed(
        [
            START,
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            {"type": "ping"},
            text(0, "Hel"),
            text(0, "lo"),
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
            {"type": "message_stop"},
        ]
    )
    assert out[1] is None and out[2] is None and out[5] is None
    assert [delta(c)["content"] for c in out[3:5]] == ["Hel", "lo"]
    assert len({c.id for c in out if isinstance(c, ModelResponseStream)}) == 1
    final = out[6]
    assert isinstance(final, ModelResponseStream)
    assert final.choices[0].finish_reason == "stop"
    assert final["stop_reason"] == "end_turn"
    assert final.usage is not None
    assert final.usage.model_dump()["prompt_tokens"] == 120
    assert final.usage.completion_tokens == 9 and final.usage.total_tokens == 129
    assert out[7] is STREAM_DONE


def test_text_in_the_block_start_is_not_lost() -> None:
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": "Hi"},
    }
    assert delta(feed([START, start])[1]) == {"content": "Hi"}


def test_complete_streamed_tool_call() -> None:
    events: list[dict[str, Any]] = [
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        text(0, "Let me check."),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_A",
                "name": "get_weather",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_B", "name": "now", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": "{}"},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 30},
        },
        {"type": "message_stop"},
    ]
    out = feed(events)
    first = delta(out[4])["tool_calls"]
    assert first == [
        {
            "index": 0,
            "id": "toolu_A",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
    ]
    assert out[5] is None  # the empty first fragment
    assert delta(out[6])["tool_calls"] == [{"index": 0, "function": {"arguments": '{"city": '}}]
    # the second tool call is index 1 (tool calls are counted, not content blocks: it is block 2)
    assert delta(out[9])["tool_calls"][0]["index"] == 1
    assert delta(out[10])["tool_calls"] == [{"index": 1, "function": {"arguments": "{}"}}]
    assert out[12].choices[0].finish_reason == "tool_calls"
    # What a consumer joining the pieces (as OpenAI's stream helpers do) gets:
    calls: dict[int, dict[str, str]] = {}
    for chunk in out:
        if isinstance(chunk, ModelResponseStream):
            for piece in chunk.choices[0].delta.tool_calls or ():
                entry = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += piece.id or ""
                if piece.function is not None:
                    entry["name"] += piece.function.name or ""
                    entry["arguments"] += piece.function.arguments or ""
    assert calls == {
        0: {"id": "toolu_A", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "toolu_B", "name": "now", "arguments": "{}"},
    }


def test_thinking_sequence() -> None:
    events: list[dict[str, Any]] = [
        START,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Two "},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "plus two."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "EqQB"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "redacted_thinking", "data": "opaque"},
        },
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        text(2, "4"),
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 50, "output_tokens_details": {"thinking_tokens": 40}},
        },
        {"type": "message_stop"},
    ]
    out = feed(events)
    assert out[1] is None and out[4] is None
    assert [delta(c)["reasoning_content"] for c in out[2:4]] == ["Two ", "plus two."]
    assert delta(out[5]) == {
        "thinking_blocks": [{"type": "thinking", "thinking": "Two plus two.", "signature": "EqQB"}]
    }
    assert out[6] is None
    assert delta(out[7]) == {"thinking_blocks": [{"type": "redacted_thinking", "data": "opaque"}]}
    assert delta(out[9]) == {"content": "4"}
    final = out[11]
    assert final.usage.model_dump()["completion_tokens_details"] == {"reasoning_tokens": 40}


def test_usage_null_counts_in_message_delta_keep_message_starts() -> None:
    out = feed(
        [
            START,
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens"},
                "usage": {
                    "output_tokens": 3,
                    "cache_read_input_tokens": None,
                    "input_tokens": None,
                },
            },
        ]
    )
    assert out[1].choices[0].finish_reason == "length"
    assert out[1].usage.prompt_tokens == 120


def test_cumulative_input_usage_in_message_delta_wins() -> None:
    out = feed(
        [
            START,
            {
                "type": "message_delta",
                "delta": {},
                "usage": {"output_tokens": 3, "input_tokens": 25},
            },
        ]
    )
    assert out[1].usage.prompt_tokens == 125
    assert out[1].choices[0].finish_reason is None


def test_unknown_events_and_deltas_are_skipped() -> None:
    out = feed(
        [
            START,
            {"type": "future_event"},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "server_tool_use",
                    "id": "s",
                    "name": "web_search",
                    "input": {},
                },
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "citations_delta", "citation": {}},
            },
            {"type": "content_block_stop", "index": 0},
        ]
    )
    assert out[1:] == [None, None, None, None]


@pytest.mark.parametrize(
    ("kind", "cls", "retryable"),
    [
        ("overloaded_error", errors.ServiceUnavailableError, True),
        ("api_error", errors.InternalServerError, True),
        ("rate_limit_error", errors.RateLimitError, True),
        ("invalid_request_error", errors.BadRequestError, False),
    ],
)
def test_inband_error_event_raises_typed(
    kind: str, cls: type[errors.APIError], retryable: bool
) -> None:
    state = StreamState()
    feed([START, text(0, "partial")], state)
    event = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    with pytest.raises(cls) as info:
        feed([event], state)
    assert type(info.value) is cls
    assert info.value.retryable is retryable
    assert "after 2 chunk(s)" in info.value.message
    assert "Overloaded" in info.value.message


def test_unknown_inband_error_is_a_stream_error() -> None:
    with pytest.raises(errors.StreamError):
        feed([{"type": "error", "error": {"type": "brand_new", "message": "x"}}])


@pytest.mark.parametrize(
    "data", ["not json", "[]", '{"no_type": 1}', '{"type": "content_block_delta"}']
)
def test_unreadable_events(data: str) -> None:
    with pytest.raises(errors.APIError, match="cannot read"):
        parse_stream_event(CALL, data, StreamState())


def test_input_json_delta_for_an_unknown_block_is_unreadable() -> None:
    event = {
        "type": "content_block_delta",
        "index": 5,
        "delta": {"type": "input_json_delta", "partial_json": "{}"},
    }
    with pytest.raises(errors.APIError, match="cannot read"):
        feed([START, event])


def test_chunks_validate_as_the_openai_sdk_type() -> None:
    from openai.types.chat import ChatCompletionChunk

    out = feed(
        [
            START,
            text(0, "x"),
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
            },
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 1},
            },
        ]
    )
    for chunk in out:
        ChatCompletionChunk.model_validate(chunk.model_dump())


def test_a_server_tools_streamed_input_is_not_a_tool_call() -> None:
    """A server tool (web search...) streams its input as input_json_delta too; it is not a call
    for the app to run, so it gives no chunk, and a client tool after it keeps index 0."""
    events = [
        START,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {
                "type": "server_tool_use",
                "id": "srvtoolu_1",
                "name": "web_search",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"query":'},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city":"Paris"}'},
        },
    ]
    out = feed(events)
    assert out[2] is None and out[3] is None
    first = delta(out[4])["tool_calls"][0]
    assert first["index"] == 0 and first["id"] == "toolu_1"
    assert delta(out[5])["tool_calls"] == [
        {"index": 0, "function": {"arguments": '{"city":"Paris"}'}}
    ]
