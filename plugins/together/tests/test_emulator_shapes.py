"""Pure tests of the Together emulator's wire shapes (``llmrouter.testing.together_wire``) where
they follow Together's spec rather than OpenAI's conventions: no server, no client.

Over real sockets, the same shapes are checked against the spec and the official SDK in
test_contract.py and test_sdk_parity.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrouter.testing import together_wire as wire

TOKENS = ["Hello", ' "quoted"', " ünïcode", " new\nline", "\\", " {brace}", " 100%", " %s{0}"]


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_content_events_match_chunk_dict_byte_for_byte(kind: str) -> None:
    encoder = wire.StreamEncoder(kind=kind, request_id="r-1", created=5, model="m")
    for token in TOKENS:
        for index in (0, 3):
            expected = encoder.chunk_dict(token, index=index, tid=wire.token_id(token))
            assert encoder.content_event(token, index) == wire.sse_event(expected)


def test_completion_chunks_carry_the_spec_token_and_finish_reason() -> None:
    encoder = wire.StreamEncoder(kind="completion", request_id="r-1", created=5, model="m")
    chunk = json.loads(encoder.content_event(" hi")[6:])
    assert chunk["token"] == {
        "id": wire.token_id(" hi"),
        "text": " hi",
        "logprob": -0.25,
        "special": False,
    }
    assert chunk["finish_reason"] is None and chunk["usage"] is None
    eos = encoder.chunk_dict("", tid=wire.EOS_TOKEN_ID, finish_reason="eos", seed=1)
    assert eos["token"]["special"] is True and eos["finish_reason"] == "eos"
    last = encoder.chunk_dict(" end", tid=9, finish_reason="length", seed=1)
    assert last["token"]["special"] is False and last["finish_reason"] == "length"
    chat = wire.StreamEncoder(kind="chat", request_id="r-1", created=5, model="m")
    assert "token" not in chat.chunk_dict("x", tid=1)
    assert "finish_reason" not in chat.chunk_dict("x", tid=1)


def test_every_tool_call_piece_is_a_full_tool_choice() -> None:
    """The spec's ToolChoice (index, id, type, function.name and .arguments) in every piece, with
    an integer token id; only the arguments change, and they join to the call's JSON."""
    encoder = wire.StreamEncoder(kind="chat", request_id="r-1", created=5, model="m")
    call = {
        "index": 0,
        "id": "call_abc",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 2}'},
    }
    events = [json.loads(e[6:]) for e in encoder.tool_events([call])]
    assert len(events) > 2
    pieces: list[dict[str, Any]] = []
    for event in events:
        delta = event["choices"][0]["delta"]
        assert isinstance(delta["token_id"], int)
        (piece,) = delta["tool_calls"]
        assert set(piece) == {"index", "id", "type", "function"}
        assert (piece["index"], piece["id"], piece["type"]) == (0, "call_abc", "function")
        assert piece["function"]["name"] == "get_weather"
        pieces.append(piece)
    assert pieces[0]["function"]["arguments"] == ""
    assert "".join(p["function"]["arguments"] for p in pieces) == call["function"]["arguments"]


def test_json_reply() -> None:
    text = "Plain words"
    assert wire.json_reply({}, text) is None
    assert wire.json_reply({"response_format": {"type": "text"}}, text) is None
    as_object = wire.json_reply({"response_format": {"type": "json_object"}}, text)
    assert as_object is not None and json.loads(as_object) == {"reply": text}
    already = '{"city": "Paris"}'
    assert wire.json_reply({"response_format": {"type": "json_object"}}, already) == already
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    as_schema = wire.json_reply({"response_format": fmt}, text)
    assert as_schema is not None and json.loads(as_schema) == {"n": 1}


def test_completion_choices_have_logprobs_only_when_asked() -> None:
    """The spec's completion choice types ``logprobs`` as a non-nullable object."""
    common: dict[str, Any] = {
        "request_id": "r",
        "created": 1,
        "model": "m",
        "texts": ["a b"],
        "finish_reason": "eos",
        "usage_data": wire.usage(1, 2),
        "seed": 3,
    }
    assert "logprobs" not in wire.completion_response(**common)["choices"][0]
    asked = wire.completion_response(**common, logprob_tokens=["a", " b"])
    assert asked["choices"][0]["logprobs"]["tokens"] == ["a", " b"]
