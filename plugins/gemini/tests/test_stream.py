"""Stream events: text, thoughts, whole function calls, the finishing event (``state.done``),
blocked prompts and in-band errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrouter import errors
from llmrouter.pipeline import Call, StreamState
from llmrouter.types import ModelResponseStream
from llmrouter_gemini.stream import parse_stream_event

CALL = Call(operation="chat", provider="gemini", model="gemini-2.5-flash", stream=True)
USAGE = {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7}


def event(parts: list[dict[str, Any]], reason: str | None = None, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if reason is not None:
        candidate["finishReason"] = reason
    return {
        "candidates": [candidate],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
        **extra,
    }


def feed(
    events: list[dict[str, Any]], state: StreamState | None = None, call: Call = CALL
) -> list[Any]:
    state = state or StreamState()
    return [parse_stream_event(call, json.dumps(e, separators=(",", ":")), state) for e in events]


def test_text_sequence() -> None:
    state = StreamState()
    chunks = feed([event([{"text": "Hel"}]), event([{"text": "lo"}]), event([], "STOP")], state)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == "Hel"
    assert chunks[1].choices[0].delta.role is None
    assert chunks[1].choices[0].delta.content == "lo"
    assert all(c.id == "r1" for c in chunks)
    assert chunks[0].usage is None and chunks[1].usage is None
    last = chunks[2]
    assert last.choices[0].finish_reason == "stop"
    assert last.choices[0]["gemini_finish_reason"] == "STOP"
    assert last.usage.prompt_tokens == 4 and last.usage.completion_tokens == 3
    assert state.done is True and state.usage_seen is True


def test_not_done_before_the_finish_reason() -> None:
    state = StreamState()
    feed([event([{"text": "Hel"}])], state)
    assert state.done is False


def test_text_and_finish_in_one_event() -> None:
    state = StreamState()
    (chunk,) = feed([event([{"text": "Hi"}], "MAX_TOKENS")], state)
    assert chunk.choices[0].delta.content == "Hi"
    assert chunk.choices[0].finish_reason == "length"
    assert state.done


def test_thoughts_are_reasoning_content() -> None:
    (chunk,) = feed([event([{"text": "hmm", "thought": True}])])
    assert chunk.choices[0].delta["reasoning_content"] == "hmm"
    assert chunk.choices[0].delta.content is None


def test_whole_function_calls_are_one_delta_each() -> None:
    state = StreamState()
    chunks = feed(
        [
            event([{"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "s"}]),
            event([{"functionCall": {"name": "b", "args": {}}}], "STOP"),
        ],
        state,
    )
    first = chunks[0].choices[0].delta.tool_calls
    assert len(first) == 1
    assert first[0].index == 0
    assert first[0].id == "call_r1_0_0"
    assert first[0].type == "function"
    assert first[0].function.name == "a"
    assert json.loads(first[0].function.arguments) == {"x": 1}
    assert first[0]["thought_signature"] == "s"
    second = chunks[1].choices[0]
    assert second.delta.tool_calls[0].index == 1
    assert second.delta.tool_calls[0].id == "call_r1_0_1"
    assert second.finish_reason == "tool_calls"
    assert state.done


def test_n_candidates_are_done_when_all_finished() -> None:
    call = Call(operation="chat", provider="gemini", model="m", stream=True, params={"n": 2})
    state = StreamState()
    one = event([{"text": "a"}], "STOP")
    feed([one], state, call)
    assert not state.done
    two = event([{"text": "b"}], "STOP")
    two["candidates"][0]["index"] = 1
    (chunk,) = feed([two], state, call)
    assert chunk.choices[0].index == 1
    assert state.done


def test_blocked_prompt_finishes_the_stream() -> None:
    state = StreamState()
    (chunk,) = feed(
        [{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": USAGE}], state
    )
    assert chunk.choices[0].finish_reason == "content_filter"
    assert chunk.choices[0]["gemini_finish_reason"] == "PROHIBITED_CONTENT"
    assert state.done


def test_an_event_with_nothing_to_show_is_skipped() -> None:
    assert feed([{"usageMetadata": USAGE}, event([])]) == [None, None]


def test_the_role_comes_with_the_first_chunk_shown() -> None:
    chunks = feed([{"usageMetadata": USAGE, "responseId": "r1"}, event([{"text": "a"}])])
    assert chunks[0] is None
    assert chunks[1].choices[0].delta.role == "assistant"
    assert chunks[1].id == "r1"


def test_inband_error_raises_typed() -> None:
    state = StreamState()
    feed([event([{"text": "a"}])], state)
    payload = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    with pytest.raises(errors.ServiceUnavailableError, match="overloaded"):
        feed([payload], state)
    with pytest.raises(errors.StreamError):
        feed([{"error": {"message": "odd"}}])


@pytest.mark.parametrize(
    "data", ["not json", "[1]", '{"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]}']
)
def test_unreadable_events(data: str) -> None:
    with pytest.raises(errors.APIError, match="cannot read"):
        parse_stream_event(CALL, data, StreamState())


def test_chunks_validate_as_the_openai_sdk_type() -> None:
    openai_types = pytest.importorskip("openai.types.chat")
    for chunk in feed(
        [event([{"text": "x"}]), event([{"functionCall": {"name": "f", "args": {}}}], "STOP")]
    ):
        assert isinstance(chunk, ModelResponseStream)
        openai_types.ChatCompletionChunk.model_validate(chunk.model_dump())
