"""Edge cases a review found in the first version of the plugin, each pinned by a test:
Gemini's function-call ids go back with the call and its result; the streaming endpoint's
list-form error body is read; thinking levels in any case; a ``candidateCount`` given through
``extra_body`` keeps the stream open for every candidate; ``MODEL_ARMOR`` is a content filter;
an instruction between two tool results does not split their turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrouter import errors
from llmrouter.pipeline import Call, HTTPResponse, StreamState
from llmrouter_gemini.options import parse_options
from llmrouter_gemini.request import convert_messages
from llmrouter_gemini.response import finish_reason, map_error
from llmrouter_gemini.stream import parse_stream_event

MODEL = "gemini-2.5-flash"


def call(messages: list[dict[str, Any]] | None = None, **kw: Any) -> Call:
    return Call(operation="chat", provider="gemini", model=MODEL, messages=messages or [], **kw)


def assistant_calls(*ids: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            for i in ids
        ],
    }


def test_geminis_call_ids_go_back_on_the_call_and_its_result() -> None:
    history = [
        {"role": "user", "content": "Paris and Rome?"},
        assistant_calls("fc-paris", "fc-rome"),
        {"role": "tool", "tool_call_id": "fc-rome", "content": "rainy"},
        {"role": "tool", "tool_call_id": "fc-paris", "content": "sunny"},
    ]
    _, contents = convert_messages(history, call(history))
    assert [p["functionCall"]["id"] for p in contents[1]["parts"]] == ["fc-paris", "fc-rome"]
    results = [p["functionResponse"] for p in contents[2]["parts"]]
    assert [(r["id"], r["response"]["output"]) for r in results] == [
        ("fc-rome", "rainy"),
        ("fc-paris", "sunny"),
    ]
    # ids llmrouter made up (call_...) were never Gemini's: they are not sent
    made_up = [
        history[0],
        assistant_calls("call_r1_0_0"),
        {"role": "tool", "tool_call_id": "call_r1_0_0", "content": "x"},
    ]
    _, contents = convert_messages(made_up, call(made_up))
    assert "id" not in contents[1]["parts"][0]["functionCall"]
    assert "id" not in contents[2]["parts"][0]["functionResponse"]


def test_an_instruction_between_tool_results_does_not_split_their_turn() -> None:
    history = [
        {"role": "user", "content": "Paris and Rome?"},
        assistant_calls("call_a", "call_b"),
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "system", "content": "Answer in French."},
        {"role": "tool", "tool_call_id": "call_b", "content": "rainy"},
    ]
    system, contents = convert_messages(history, call(history))
    assert system == {"parts": [{"text": "Answer in French."}]}
    assert len(contents) == 3 and len(contents[2]["parts"]) == 2


def test_the_streaming_endpoints_list_form_error_is_read() -> None:
    body = [
        {
            "error": {
                "code": 400,
                "message": "API key not valid",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            }
        }
    ]
    error = map_error(call(), HTTPResponse(400, {}, json.dumps(body).encode()))
    assert isinstance(error, errors.AuthenticationError)
    assert "API key not valid" in str(error) and error.error_type == "INVALID_ARGUMENT"


@pytest.mark.parametrize("level", ["low", "HIGH", "xhigh"])
def test_thinking_levels_in_any_case(level: str) -> None:
    options = parse_options({"thinking": {"thinkingLevel": level}}, provider="gemini", model=MODEL)
    assert options.thinking == {"thinkingLevel": level}  # sent as given


def test_model_armor_is_a_content_filter() -> None:
    assert finish_reason("MODEL_ARMOR") == "content_filter"


def event(candidates: list[dict[str, Any]], usage: bool = False) -> str:
    payload: dict[str, Any] = {"responseId": "r1", "modelVersion": MODEL, "candidates": candidates}
    if usage:
        payload["usageMetadata"] = {
            "promptTokenCount": 3,
            "candidatesTokenCount": 4,
            "totalTokenCount": 7,
        }
    return json.dumps(payload)


def test_candidate_count_from_extra_body_keeps_the_stream_open_for_each_candidate() -> None:
    streamed = call(stream=True, extra_body={"generationConfig": {"candidateCount": 2}})
    state = StreamState()
    first = {
        "index": 0,
        "content": {"role": "model", "parts": [{"text": "a"}]},
        "finishReason": "STOP",
    }
    second = {"index": 1, "content": {"role": "model", "parts": [{"text": "b0"}]}}
    parse_stream_event(streamed, event([first, second]), state)
    assert not state.done  # candidate 1 is still writing
    last = {
        "index": 1,
        "content": {"role": "model", "parts": [{"text": "b1"}]},
        "finishReason": "STOP",
    }
    chunk = parse_stream_event(streamed, event([last], usage=True), state)
    assert state.done and chunk is not None
    assert chunk.choices[0].delta.content == "b1"


def test_more_texts_than_one_batch_takes_are_refused_before_sending() -> None:
    from llmrouter_gemini.options import parse_embedding_options
    from llmrouter_gemini.request import MAX_EMBED_BATCH, embed_body

    many = Call(
        operation="embedding",
        provider="gemini",
        model="text-embedding-004",
        input=["x"] * (MAX_EMBED_BATCH + 1),
    )
    with pytest.raises(errors.InvalidRequestError, match="at most 100 texts") as info:
        embed_body(many, parse_embedding_options({}, provider="gemini"))
    assert info.value.param == "input"


def test_an_answer_without_usage_metadata_has_no_usage() -> None:
    from llmrouter_gemini.response import parse_generate

    body = {
        "responseId": "r",
        "modelVersion": MODEL,
        "candidates": [
            {
                "index": 0,
                "content": {"role": "model", "parts": [{"text": "hi"}]},
                "finishReason": "STOP",
            }
        ],
    }
    assert parse_generate(call(), HTTPResponse(200, {}, json.dumps(body).encode())).usage is None
