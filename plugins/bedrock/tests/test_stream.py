"""ConverseStream: binary frames -> events (botocore's parser) -> chunks. Pure, no sockets.

The frames are made by the emulator's own encoder (``encode_frame``, written from the framing
rules with zlib's CRC32), so decoding them with botocore checks both sides.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from llmrouter import errors
from llmrouter.chunks import stream_chunk_builder
from llmrouter.pipeline import HTTPResponse, StreamState
from llmrouter.types import ModelResponseStream
from llmrouter_bedrock.response import parse_converse
from llmrouter_bedrock.stream import EventStreamDecoder, parse_stream_event
from llmrouter_bedrock.testing import encode_frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedrock_support import make_call

CALL = make_call()


def event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = ((":event-type", kind), (":content-type", "application/json"))
    return encode_frame((*headers, (":message-type", "event")), json.dumps(payload).encode())


def exception(kind: str, message: str) -> bytes:
    headers = ((":exception-type", kind), (":content-type", "application/json"))
    body = json.dumps({"message": message}).encode()
    return encode_frame((*headers, (":message-type", "exception")), body)


TEXT_STREAM = [
    event("messageStart", {"role": "assistant"}),
    event("contentBlockDelta", {"delta": {"text": "Hel"}, "contentBlockIndex": 0, "p": "ab"}),
    event("contentBlockDelta", {"delta": {"text": "lo"}, "contentBlockIndex": 0}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event("messageStop", {"stopReason": "end_turn"}),
    event(
        "metadata",
        {
            "usage": {"inputTokens": 4, "outputTokens": 2, "totalTokens": 6},
            "metrics": {"latencyMs": 9},
        },
    ),
]


# --- the decoder ----------------------------------------------------------------------------------


def test_each_frame_becomes_one_event_named_by_its_type() -> None:
    decoder = EventStreamDecoder(CALL)
    events = decoder.feed(b"".join(TEXT_STREAM))
    assert [json.loads(e) for e in events][:2] == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Hel"}, "contentBlockIndex": 0, "p": "ab"}},
    ]
    assert len(events) == len(TEXT_STREAM) and decoder.seen_event and decoder.flush() == []


def test_how_the_bytes_are_cut_changes_nothing() -> None:
    whole = b"".join(TEXT_STREAM)
    expected = EventStreamDecoder(CALL).feed(whole)
    decoder = EventStreamDecoder(CALL)
    pieces = [decoder.feed(whole[i : i + 1]) for i in range(len(whole))]
    assert pieces[0] == [] and pieces[-1] == expected[-1:]
    assert [e for piece in pieces for e in piece] == expected


def test_exception_and_error_frames_become_exception_events() -> None:
    error_frame = encode_frame(
        ((":message-type", "error"), (":error-code", "InternalFailure"), (":error-message", "x")),
        b"",
    )
    events = EventStreamDecoder(CALL).feed(exception("throttlingException", "slow") + error_frame)
    assert [json.loads(e) for e in events] == [
        {"exception": {"type": "throttlingException", "body": {"message": "slow"}}},
        {"exception": {"type": "InternalFailure", "body": {"message": "x"}}},
    ]


def test_a_corrupt_frame_is_a_decode_error_raised_after_the_events_before_it() -> None:
    good = TEXT_STREAM[0]
    bad = encode_frame(((":message-type", "event"), (":event-type", "x")), b"{}", corrupt=True)
    decoder = EventStreamDecoder(CALL)
    assert len(decoder.feed(good + bad)) == 1  # the good event first...
    with pytest.raises(errors.StreamDecodeError) as info:
        decoder.feed(b"")  # ...then the fault
    assert info.value.offset == len(good) and "corrupt" in info.value.message
    with pytest.raises(errors.StreamDecodeError):
        EventStreamDecoder(CALL).feed(bad)


def test_an_event_over_the_limit_fails_while_it_arrives() -> None:
    big = event("contentBlockDelta", {"delta": {"text": "x" * 500}, "contentBlockIndex": 0})
    decoder = EventStreamDecoder(CALL, 100)
    with pytest.raises(errors.ResponseTooLargeError) as info:
        decoder.feed(big[:200])  # not complete yet, and already over
    assert info.value.limit == 100
    assert EventStreamDecoder(CALL, 1000).feed(big)  # within the limit: fine


@pytest.mark.parametrize(
    "headers",
    [
        ((":message-type", "event"), (":event-type", 'x","y')),
        ((":message-type", "gossip"),),
    ],
)
def test_frames_that_are_not_converse_events_are_refused(headers: tuple[Any, ...]) -> None:
    with pytest.raises(errors.StreamDecodeError):
        EventStreamDecoder(CALL).feed(encode_frame(headers, b"{}"))


# --- events -> chunks -----------------------------------------------------------------------------


def chunks_of(frames: list[bytes], state: StreamState | None = None) -> list[ModelResponseStream]:
    state = state or StreamState()
    out = []
    for data in EventStreamDecoder(CALL).feed(b"".join(frames)):
        chunk = parse_stream_event(CALL, data, state)
        if isinstance(chunk, ModelResponseStream):
            out.append(chunk)
    return out


def test_a_text_stream_becomes_chunks_ending_with_the_usage() -> None:
    state = StreamState()
    chunks = chunks_of(TEXT_STREAM, state)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-2]["stop_reason"] == "end_turn"
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens == 6 and last["metrics"]["latencyMs"] == 9
    assert state.done and len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")


def test_tool_use_blocks_become_indexed_tool_call_pieces() -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"delta": {"text": "Let me check."}, "contentBlockIndex": 0}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        *(
            frame
            for index, (tid, city) in enumerate([("t1", "Oslo"), ("t2", "Rome")], start=1)
            for frame in (
                event(
                    "contentBlockStart",
                    {
                        "start": {"toolUse": {"toolUseId": tid, "name": "get_weather"}},
                        "contentBlockIndex": index,
                    },
                ),
                event(
                    "contentBlockDelta",
                    {"delta": {"toolUse": {"input": '{"city": '}}, "contentBlockIndex": index},
                ),
                event(
                    "contentBlockDelta",
                    {"delta": {"toolUse": {"input": f'"{city}"}}'}}, "contentBlockIndex": index},
                ),
                event("contentBlockStop", {"contentBlockIndex": index}),
            )
        ),
        event("messageStop", {"stopReason": "tool_use"}),
        TEXT_STREAM[-1],
    ]
    chunks = chunks_of(frames)
    starts = [
        c.choices[0].delta.tool_calls[0]
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert [(s.index, s.id) for s in starts if s.id] == [(0, "t1"), (1, "t2")]
    built = stream_chunk_builder(chunks)
    calls = built.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Oslo"}, {"city": "Rome"}]
    assert built.choices[0].finish_reason == "tool_calls"
    assert built.choices[0].message.content == "Let me check."


def test_reasoning_streams_as_reasoning_content_then_a_whole_thinking_block() -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockDelta",
            {"delta": {"reasoningContent": {"text": "Hmm"}}, "contentBlockIndex": 0},
        ),
        event(
            "contentBlockDelta",
            {"delta": {"reasoningContent": {"signature": "c2ln"}}, "contentBlockIndex": 0},
        ),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        *TEXT_STREAM[1:],
    ]
    built = stream_chunk_builder(chunks_of(frames))
    message = built.choices[0].message
    assert message["reasoning_content"] == "Hmm"
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Hmm", "signature": "c2ln"}
    ]
    assert message.content == "Hello"


def non_streamed(content: list[dict[str, Any]]) -> Any:
    """The message of the non-streamed answer with ``content``."""
    raw = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 4, "outputTokens": 2, "totalTokens": 6},
    }
    return parse_converse(CALL, HTTPResponse(200, {}, json.dumps(raw).encode())).choices[0].message


def delta(index: int, **fields: Any) -> bytes:
    return event("contentBlockDelta", {"delta": fields, "contentBlockIndex": index})


def stop(index: int) -> bytes:
    return event("contentBlockStop", {"contentBlockIndex": index})


def test_citations_stream_with_their_text_and_end_as_the_non_streamed_answer() -> None:
    citation = {
        "title": "report.pdf",
        "sourceContent": [{"text": "Revenue grew 12%"}],
        "location": {"documentPage": {"documentIndex": 0, "start": 1, "end": 1}},
    }
    frames = [
        TEXT_STREAM[0],
        delta(0, text="According to the report, "),
        stop(0),
        delta(1, text="revenue grew "),
        delta(1, text="12%"),
        delta(1, citation=citation),
        stop(1),
        delta(2, text="."),
        stop(2),
        *TEXT_STREAM[-2:],
    ]
    message = stream_chunk_builder(chunks_of(frames)).choices[0].message
    expected = non_streamed(
        [
            {"text": "According to the report, "},
            {
                "citationsContent": {
                    "content": [{"text": "revenue grew 12%"}],
                    "citations": [citation],
                }
            },
            {"text": "."},
        ]
    )
    assert message.content == expected.content == "According to the report, revenue grew 12%."
    assert message["citations"] == expected["citations"]
    assert message["citations"] == [{"text": "revenue grew 12%", "citations": [citation]}]


def test_a_tool_the_service_runs_streams_as_server_fields_not_tool_calls() -> None:
    frames = [
        TEXT_STREAM[0],
        event(
            "contentBlockStart",
            {
                "start": {
                    "toolUse": {
                        "toolUseId": "srv_1",
                        "name": "web_search",
                        "type": "server_tool_use",
                    }
                },
                "contentBlockIndex": 0,
            },
        ),
        delta(0, toolUse={"input": '{"query": '}),
        delta(0, toolUse={"input": '"rivers"}'}),
        stop(0),
        event(
            "contentBlockStart",
            {
                "start": {"toolResult": {"toolUseId": "srv_1", "type": "web_search_result"}},
                "contentBlockIndex": 1,
            },
        ),
        delta(1, toolResult=[{"text": "The Nile "}]),
        delta(1, toolResult=[{"text": "is long."}]),
        stop(1),
        delta(2, text="The Nile."),
        stop(2),
        *TEXT_STREAM[-2:],
    ]
    chunks = chunks_of(frames)
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    message = stream_chunk_builder(chunks).choices[0].message
    expected = non_streamed(
        [
            {
                "toolUse": {
                    "toolUseId": "srv_1",
                    "name": "web_search",
                    "type": "server_tool_use",
                    "input": {"query": "rivers"},
                }
            },
            {
                "toolResult": {
                    "toolUseId": "srv_1",
                    "type": "web_search_result",
                    "content": [{"text": "The Nile is long."}],
                }
            },
            {"text": "The Nile."},
        ]
    )
    assert message.tool_calls is None and message.content == expected.content
    assert message["server_tool_uses"] == expected["server_tool_uses"]
    assert message["server_tool_results"] == expected["server_tool_results"]


def test_a_block_of_another_kind_is_kept_as_its_events() -> None:
    start = {"image": {"format": "png"}}
    frames = [
        TEXT_STREAM[0],
        event("contentBlockStart", {"start": start, "contentBlockIndex": 0}),
        delta(0, image={"source": {"bytes": "iVBO"}}),
        stop(0),
        *TEXT_STREAM[1:],
    ]
    message = stream_chunk_builder(chunks_of(frames)).choices[0].message
    assert message["bedrock_events"] == [
        {
            "contentBlockIndex": 0,
            "events": [{"start": start}, {"delta": {"image": {"source": {"bytes": "iVBO"}}}}],
        }
    ]
    assert message.content == "Hello"


def test_an_exception_event_raises_the_typed_error() -> None:
    state = StreamState(chunks=3)
    data = EventStreamDecoder(CALL).feed(exception("throttlingException", "Too many tokens"))[0]
    with pytest.raises(errors.RateLimitError, match="after 3 chunk"):
        parse_stream_event(CALL, data, state)


def test_tool_input_without_its_start_is_unreadable() -> None:
    delta = event(
        "contentBlockDelta", {"delta": {"toolUse": {"input": "{}"}}, "contentBlockIndex": 2}
    )
    data = EventStreamDecoder(CALL).feed(delta)[0]
    with pytest.raises(errors.APIError, match="no toolUse block started"):
        parse_stream_event(CALL, data, StreamState())


def test_events_of_no_interest_give_nothing() -> None:
    state = StreamState()
    for data in ('{"somethingNew": {}}', '{"contentBlockStop": {"contentBlockIndex": 0}}'):
        assert parse_stream_event(CALL, data, state) is None
