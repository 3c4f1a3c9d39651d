"""Tests of the Together emulator itself, over real sockets with httpx (no llmrouter client).

The emulator is what the rest of the test suite (and users) trust to behave like Together, so
these tests pin its wire shapes (also against the official OpenAPI spec when it is available),
its fault injection, its HTTP behaviour under abuse, and its request log's redaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmrouter.testing import Fault, FaultSpecError, TogetherEmulator, parse_fault
from llmrouter.testing import together_wire as wire

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spec_utils import (
    SPEC_MISSING_REASON,
    load_together_spec,
    request_schema_for,
    response_schema_for,
    validate_against,
)

CHAT = "togethercomputer/llama-2-70b-chat"
BASE = "meta-llama/Llama-2-70b-hf"
EMBED = "togethercomputer/m2-bert-80M-8k-retrieval"
KEY = "sk7Qz2"
LONG_KEY = "tgp_v1_0123456789abcdefSECRETwxyz"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}


def chat_body(content: str = "Hello there, how are you?", **extra: Any) -> dict[str, Any]:
    return {"model": CHAT, "messages": [{"role": "user", "content": content}], **extra}


def sse_events(lines: Iterator[str]) -> list[Any]:
    """Parse ``data:`` lines into JSON objects; ``[DONE]`` stays the string ``"[DONE]"``."""
    out: list[Any] = []
    for line in lines:
        if not line.startswith("data: "):
            continue
        data = line[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


@pytest.fixture(scope="module")
def emu() -> Iterator[TogetherEmulator]:
    with TogetherEmulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    if "emu" in request.fixturenames:
        emulator: TogetherEmulator = request.getfixturevalue("emu")
        emulator.reset()
        emulator.reply = None
        emulator.latency = 0.0
        emulator.reply_tokens = None
        emulator.api_key = None


@pytest.fixture
def client(emu: TogetherEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ) as c:
        yield c


def stream_events(client: httpx.Client, path: str, body: dict[str, Any], **kw: Any) -> list[Any]:
    with client.stream("POST", path, json={**body, "stream": True}, **kw) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_events(response.iter_lines())


# ---------------------------------------------------------------------------------------------
# shapes


def test_chat_completion_shape(client: httpx.Client) -> None:
    r = client.post("/chat/completions", json=chat_body())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    data = r.json()
    assert set(data) == {"id", "object", "created", "model", "prompt", "choices", "usage"}
    assert data["object"] == "chat.completion"
    assert data["model"] == CHAT
    assert data["prompt"] == []
    assert isinstance(data["created"], int)
    (choice,) = data["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "eos"
    assert choice["logprobs"] is None
    assert isinstance(choice["seed"], int)
    message = choice["message"]
    assert message["role"] == "assistant"
    assert message["tool_calls"] == []
    assert "Hello there, how are you?" in message["content"]
    usage = data["usage"]
    assert usage["prompt_tokens"] == 5  # whitespace words of the messages
    assert usage["completion_tokens"] == len(message["content"].split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_is_deterministic(client: httpx.Client) -> None:
    a = client.post("/chat/completions", json=chat_body("same prompt")).json()
    b = client.post("/chat/completions", json=chat_body("same prompt")).json()
    c = client.post("/chat/completions", json=chat_body("other prompt")).json()
    assert a["choices"][0]["message"] == b["choices"][0]["message"]
    assert a["choices"][0]["seed"] == b["choices"][0]["seed"]
    assert a["choices"][0]["message"] != c["choices"][0]["message"]
    assert a["id"] != b["id"]
    seeded = client.post("/chat/completions", json=chat_body(seed=42)).json()
    assert seeded["choices"][0]["seed"] == 42


def test_fixed_and_callable_reply(emu: TogetherEmulator, client: httpx.Client) -> None:
    emu.reply = "Fixed answer here"
    data = client.post("/chat/completions", json=chat_body()).json()
    assert data["choices"][0]["message"]["content"] == "Fixed answer here"
    emu.reply = lambda body: "model was " + body["model"]
    data = client.post("/chat/completions", json=chat_body()).json()
    assert data["choices"][0]["message"]["content"] == f"model was {CHAT}"


def test_max_tokens_and_stop(emu: TogetherEmulator, client: httpx.Client) -> None:
    emu.reply = "one two three four five six"
    data = client.post("/chat/completions", json=chat_body(max_tokens=3)).json()
    assert data["choices"][0]["message"]["content"] == "one two three"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 3
    data = client.post("/chat/completions", json=chat_body(stop=[" four"])).json()
    assert data["choices"][0]["message"]["content"] == "one two three"
    assert data["choices"][0]["finish_reason"] == "stop"
    data = client.post("/chat/completions", json=chat_body(max_tokens=6)).json()
    assert data["choices"][0]["finish_reason"] == "eos"


def test_n_choices(emu: TogetherEmulator, client: httpx.Client) -> None:
    emu.reply = "a b c"
    data = client.post("/chat/completions", json=chat_body(n=3)).json()
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert data["usage"]["completion_tokens"] == 9
    events = stream_events(client, "/chat/completions", chat_body(n=2))
    chunks = [e for e in events if e != "[DONE]"]
    by_index: dict[int, str] = {}
    for chunk in chunks:
        choice = chunk["choices"][0]
        by_index[choice["index"]] = by_index.get(choice["index"], "") + choice["delta"]["content"]
    assert by_index == {0: "a b c", 1: "a b c"}


def test_completion_shape(client: httpx.Client) -> None:
    r = client.post("/completions", json={"model": BASE, "prompt": "Once upon a time"})
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "text.completion"
    assert data["prompt"] == []
    (choice,) = data["choices"]
    assert set(choice) == {"index", "text", "seed", "finish_reason"}  # logprobs only if asked
    assert choice["finish_reason"] == "eos"
    assert data["usage"]["prompt_tokens"] == 4
    echoed = client.post("/completions", json={"model": BASE, "prompt": "Echo me", "echo": True})
    assert echoed.json()["prompt"][0]["text"] == "Echo me"
    with_lp = client.post("/completions", json={"model": BASE, "prompt": "x", "logprobs": 1})
    logprobs = with_lp.json()["choices"][0]["logprobs"]
    assert len(logprobs["tokens"]) == len(logprobs["token_logprobs"]) > 0


def test_chat_model_served_on_completions_and_case_insensitive(client: httpx.Client) -> None:
    r = client.post("/completions", json={"model": CHAT.upper(), "prompt": "[INST] hi [/INST]"})
    assert r.status_code == 200
    assert r.json()["model"] == CHAT  # canonical id, as Together answers


def test_embeddings(emu: TogetherEmulator, client: httpx.Client) -> None:
    r = client.post("/embeddings", json={"model": EMBED, "input": ["alpha", "beta", "alpha"]})
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "list"
    assert data["model"] == EMBED
    vectors = [d["embedding"] for d in data["data"]]
    assert [d["index"] for d in data["data"]] == [0, 1, 2]
    assert all(d["object"] == "embedding" for d in data["data"])
    assert all(len(v) == 8 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-6)
    single = client.post("/embeddings", json={"model": EMBED, "input": "alpha"}).json()
    assert single["data"][0]["embedding"] == vectors[0]
    emu.embedding_dim = 32
    try:
        wide = client.post("/embeddings", json={"model": EMBED, "input": "alpha"}).json()
        assert len(wide["data"][0]["embedding"]) == 32
    finally:
        emu.embedding_dim = 8
    wrong = client.post("/embeddings", json={"model": CHAT, "input": "x"})
    assert wrong.status_code == 400
    assert client.post("/embeddings", json={"model": EMBED, "input": []}).status_code == 400
    assert client.post("/embeddings", json={"model": EMBED}).status_code == 400
    assert client.post("/chat/completions", json={**chat_body(), "model": EMBED}).status_code == 400


def test_models_is_a_bare_array(emu: TogetherEmulator, client: httpx.Client) -> None:
    r = client.get("/models")
    assert r.status_code == 200
    models = r.json()
    assert isinstance(models, list)
    by_id = {m["id"]: m for m in models}
    for model_id, type_ in [
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "chat"),
        (CHAT, "chat"),
        ("OpenAssistant/llama2-70b-oasst-sft-v10", "chat"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "chat"),
        (BASE, "language"),
        (EMBED, "embedding"),
        ("BAAI/bge-large-en-v1.5", "embedding"),
    ]:
        assert by_id[model_id]["type"] == type_
        assert by_id[model_id]["object"] == "model"
        assert isinstance(by_id[model_id]["context_length"], int)
    emu.add_model("acme/custom-model", "chat", context_length=100)
    assert any(m["id"] == "acme/custom-model" for m in client.get("/models").json())
    assert client.post("/chat/completions", json={**chat_body(), "model": "acme/custom-model"})


def test_custom_catalogue() -> None:
    with TogetherEmulator(models=["only/model"]) as emu:
        c = httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer k"})
        with c:
            assert [m["id"] for m in c.get("/models").json()] == ["only/model"]
            assert c.post("/chat/completions", json=chat_body()).status_code == 404
            ok = c.post("/chat/completions", json={**chat_body(), "model": "only/model"})
            assert ok.status_code == 200


# ---------------------------------------------------------------------------------------------
# auth, routing, validation


def assert_together_error(
    r: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    data = r.json()
    assert isinstance(data["id"], str)
    error: dict[str, Any] = data["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}],
)
def test_missing_or_empty_key_is_401(emu: TogetherEmulator, headers: dict[str, str]) -> None:
    r = httpx.post(emu.base_url + "/chat/completions", json=chat_body(), headers=headers)
    error = assert_together_error(r, 401, "invalid_api_key")
    assert "Invalid API key" in error["message"]
    r = httpx.get(emu.base_url + "/models", headers=headers)
    assert r.status_code == 401


def test_required_key(emu: TogetherEmulator) -> None:
    emu.api_key = "right"
    wrong = httpx.post(
        emu.base_url + "/chat/completions", json=chat_body(), headers={"Authorization": "Bearer x"}
    )
    assert_together_error(wrong, 401, "invalid_api_key")
    right = httpx.post(
        emu.base_url + "/chat/completions",
        json=chat_body(),
        headers={"Authorization": "Bearer right"},
    )
    assert right.status_code == 200


def test_unknown_model_is_404(client: httpx.Client) -> None:
    r = client.post("/chat/completions", json={**chat_body(), "model": "nobody/nothing"})
    error = assert_together_error(r, 404, "model_not_available")
    assert "nobody/nothing" in error["message"]


def test_unknown_path_and_wrong_method(emu: TogetherEmulator, client: httpx.Client) -> None:
    assert_together_error(client.post("/nope", json={}), 404)
    assert_together_error(httpx.get(emu.url + "/"), 404)
    assert_together_error(httpx.get(emu.url + "/chat/completions"), 404)
    r = client.get("/chat/completions")
    assert_together_error(r, 405)
    assert r.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, "model"),
        ("/chat/completions", {"model": CHAT}, "messages"),
        ("/chat/completions", {"model": CHAT, "messages": []}, "messages"),
        ("/chat/completions", {"model": CHAT, "messages": "hi"}, "messages"),
        ("/chat/completions", {"model": CHAT, "messages": [{"role": "bot", "content": "x"}]}, None),
        ("/chat/completions", {"model": CHAT, "messages": [{"role": "user"}]}, "messages"),
        ("/chat/completions", chat_body(max_tokens="10"), "max_tokens"),
        ("/chat/completions", chat_body(max_tokens=0), "max_tokens"),
        ("/chat/completions", chat_body(max_tokens=True), "max_tokens"),
        ("/chat/completions", chat_body(n=0), "n"),
        ("/chat/completions", chat_body(n=129), "n"),
        ("/chat/completions", chat_body(logprobs=21), "logprobs"),
        ("/chat/completions", chat_body(temperature="hot"), "temperature"),
        ("/chat/completions", chat_body(top_p=1.5), "top_p"),
        ("/chat/completions", chat_body(presence_penalty=3), "presence_penalty"),
        ("/chat/completions", chat_body(stop=5), "stop"),
        ("/chat/completions", chat_body(stream="yes"), "stream"),
        ("/chat/completions", chat_body(tools=[{"type": "function"}]), "tools"),
        ("/chat/completions", chat_body(response_format={"type": "yaml"}), "response_format"),
        ("/completions", {"model": BASE}, "prompt"),
        ("/completions", {"model": BASE, "prompt": ["a", "b"]}, "prompt"),
        ("/completions", {"model": BASE, "prompt": "x", "top_k": 1.5}, "top_k"),
        ("/embeddings", {"model": EMBED, "input": [1, 2]}, "input"),
    ],
)
def test_validation_errors(
    client: httpx.Client, path: str, body: dict[str, Any], param: str | None
) -> None:
    error = assert_together_error(client.post(path, json=body), 400)
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


def test_bad_json_bodies(client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    assert_together_error(client.post("/chat/completions", content=b"{nope", headers=headers), 400)
    assert_together_error(client.post("/chat/completions", content=b"[1, 2]", headers=headers), 400)
    assert_together_error(client.post("/chat/completions"), 400)


def test_context_window_exceeded(client: httpx.Client) -> None:
    big = " ".join(["word"] * 4000)
    r = client.post("/chat/completions", json=chat_body(big, max_tokens=200))
    assert_together_error(r, 400, "context_length_exceeded")
    ok = client.post(
        "/chat/completions",
        json=chat_body(big, max_tokens=200, context_length_exceeded_behavior="truncate"),
    )
    assert ok.status_code == 200


# ---------------------------------------------------------------------------------------------
# streaming


def test_chat_stream_shape(client: httpx.Client) -> None:
    full = client.post("/chat/completions", json=chat_body()).json()
    events = stream_events(
        client, "/chat/completions", chat_body(stream_options={"include_usage": True})
    )
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len(chunks) >= 3
    text = ""
    for chunk in chunks[:-1]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == CHAT
        assert chunk["usage"] is None
        (choice,) = chunk["choices"]
        assert choice["finish_reason"] is None
        assert choice["seed"] is None
        assert choice["logprobs"] is None
        assert choice["text"] == choice["delta"]["content"]
        assert choice["delta"]["role"] == "assistant"
        assert isinstance(choice["delta"]["token_id"], int)
        text += choice["delta"]["content"]
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "eos"
    assert isinstance(last["choices"][0]["seed"], int)
    assert last["choices"][0]["delta"]["content"] == ""
    assert last["usage"] == full["usage"]
    assert text == full["choices"][0]["message"]["content"]
    assert len({c["id"] for c in chunks}) == 1


def test_stream_usage_arrives_without_include_usage(client: httpx.Client) -> None:
    events = stream_events(client, "/chat/completions", chat_body(max_tokens=2))
    chunks = events[:-1]
    assert len(chunks) == 2
    assert chunks[0]["usage"] is None
    assert chunks[-1]["usage"]["completion_tokens"] == 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_completion_stream_shape(client: httpx.Client) -> None:
    events = stream_events(client, "/completions", {"model": BASE, "prompt": "Tell me"})
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "completion.chunk" for c in chunks)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["usage"]["prompt_tokens"] == 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "eos"
    text = "".join(c["choices"][0]["text"] for c in chunks)
    assert "Tell me" in text


def test_long_streams_by_header_and_setting(emu: TogetherEmulator, client: httpx.Client) -> None:
    events = stream_events(
        client, "/chat/completions", chat_body(), headers={"x-emulator-tokens": "2000"}
    )
    chunks = events[:-1]
    assert len(chunks) == 2001  # 2000 tokens + the end-of-sequence chunk
    assert chunks[-1]["usage"]["completion_tokens"] == 2000
    events = stream_events(
        client,
        "/chat/completions",
        chat_body(max_tokens=50),
        headers={"x-emulator-tokens": "max"},
    )
    assert len(events) == 51
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    bad = client.post("/chat/completions", json=chat_body(), headers={"x-emulator-tokens": "lots"})
    assert_together_error(bad, 400)
    emu.reply_tokens = 7
    data = client.post("/chat/completions", json=chat_body()).json()
    assert data["usage"]["completion_tokens"] == 7


# ---------------------------------------------------------------------------------------------
# tool calls


def test_forced_tool_call(client: httpx.Client) -> None:
    body = chat_body(
        "weather?",
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    data = client.post("/chat/completions", json=body).json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "example city", "unit": "celsius"}


def test_tool_call_by_marker_and_none(client: httpx.Client) -> None:
    body = chat_body("please [[emulator:tool_call]]", tools=[WEATHER_TOOL])
    data = client.post("/chat/completions", json=body).json()
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    body = chat_body("please [[emulator:tool_call]]", tools=[WEATHER_TOOL], tool_choice="none")
    data = client.post("/chat/completions", json=body).json()
    assert data["choices"][0]["finish_reason"] == "eos"
    plain = client.post("/chat/completions", json=chat_body("hi", tools=[WEATHER_TOOL])).json()
    assert plain["choices"][0]["message"]["tool_calls"] == []
    bad = chat_body("x", tools=[WEATHER_TOOL], tool_choice="no_such_tool")
    assert_together_error(client.post("/chat/completions", json=bad), 400)


def test_tool_call_stream(client: httpx.Client) -> None:
    body = chat_body("x", tools=[WEATHER_TOOL], tool_choice="required")
    events = stream_events(client, "/chat/completions", body)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["function"]["name"] == "get_weather"
    assert first["id"].startswith("call_")
    arguments = "".join(
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks
        if c["choices"][0]["delta"].get("tool_calls")
    )
    assert json.loads(arguments)["city"] == "example city"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"] is not None


# ---------------------------------------------------------------------------------------------
# faults


def test_parse_fault_and_round_trip() -> None:
    fault = parse_fault("status=429; retry_after=2.5 ;code=rate_limited;message=slow%3B%20down")
    assert fault == Fault(status=429, retry_after=2.5, code="rate_limited", message="slow; down")
    assert parse_fault(fault.to_spec()) == fault
    assert parse_fault("no_done").no_done is True
    assert parse_fault("malformed=0").malformed is False
    assert parse_fault("") == Fault()
    for bad in ("status=abc", "bogus=1", "status", "status=700", "delay=-1", "no_done=maybe"):
        with pytest.raises(FaultSpecError):
            parse_fault(bad)


def test_status_fault_with_rate_limit_headers(emu: TogetherEmulator, client: httpx.Client) -> None:
    emu.add_fault(Fault(status=429, retry_after=2, retry_after_ms=1500), times=1)
    r = client.post("/chat/completions", json=chat_body())
    error = assert_together_error(r, 429)
    assert error["message"].startswith("You have been rate limited")
    assert r.headers["retry-after"] == "2"
    assert r.headers["retry-after-ms"] == "1500"
    assert r.headers["x-ratelimit-limit"] == "60"
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert r.headers["x-ratelimit-reset"] == "2"
    assert client.post("/chat/completions", json=chat_body()).status_code == 200


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422, 500, 503, 504, 524, 529])
def test_status_faults_use_together_error_bodies(client: httpx.Client, status: int) -> None:
    r = client.post(
        "/chat/completions", json=chat_body(), headers={"x-emulator-fault": f"status={status}"}
    )
    assert_together_error(r, status)


def test_fault_overrides_code_type_message(client: httpx.Client) -> None:
    spec = Fault(status=503, code="engine_down", type="server_error", message="gone").to_spec()
    r = client.post("/chat/completions", json=chat_body(), headers={"x-emulator-fault": spec})
    error = assert_together_error(r, 503, "engine_down")
    assert (error["type"], error["message"]) == ("server_error", "gone")


def test_fail_first_k(emu: TogetherEmulator, client: httpx.Client) -> None:
    rule = emu.add_fault(Fault(status=503), path="/chat/completions", times=2)
    statuses = [client.post("/chat/completions", json=chat_body()).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert rule.hits == 2
    assert rule.remaining == 0
    assert emu.faults == []  # an exhausted rule retires
    assert [r.fault for r in emu.requests] == ["status=503", "status=503", None, None]


def test_rules_match_path_model_and_order(emu: TogetherEmulator, client: httpx.Client) -> None:
    emu.add_fault("status=500", path="/v1/completions")
    emu.add_fault("status=502", model="meta-llama/llama-3.3-70b-instruct-turbo", times=1)
    emu.add_fault("status=504", model="meta-llama/Llama-3.3-70B-Instruct-Turbo")
    assert client.post("/chat/completions", json=chat_body()).status_code == 200
    assert client.post("/completions", json={"model": BASE, "prompt": "x"}).status_code == 500
    llama3 = {**chat_body(), "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo"}
    assert client.post("/chat/completions", json=llama3).status_code == 502
    assert client.post("/chat/completions", json=llama3).status_code == 504
    emu.clear_faults()
    assert client.post("/chat/completions", json=llama3).status_code == 200


def test_header_fault_beats_rules_and_bad_spec_is_400(
    emu: TogetherEmulator, client: httpx.Client
) -> None:
    rule = emu.add_fault("status=500", times=1)
    r = client.post(
        "/chat/completions", json=chat_body(), headers={"x-emulator-fault": "status=418"}
    )
    assert r.status_code == 418
    assert rule.hits == 0
    bad = client.post("/chat/completions", json=chat_body(), headers={"x-emulator-fault": "nope=1"})
    error = assert_together_error(bad, 400)
    assert "nope" in error["message"]


def test_delay_and_latency(emu: TogetherEmulator, client: httpx.Client) -> None:
    start = time.perf_counter()
    r = client.post(
        "/chat/completions", json=chat_body(), headers={"x-emulator-fault": "delay=0.3"}
    )
    assert r.status_code == 200
    assert time.perf_counter() - start >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            "/chat/completions",
            json=chat_body(),
            headers={"x-emulator-fault": "delay=2"},
            timeout=0.2,
        )
    emu.latency = 0.2
    start = time.perf_counter()
    assert client.get("/models").status_code == 200
    assert time.perf_counter() - start >= 0.2


def test_stream_error_after(client: httpx.Client) -> None:
    events = stream_events(
        client,
        "/chat/completions",
        chat_body(),
        headers={"x-emulator-fault": "stream_error_after=2;status=503;message=overloaded"},
    )
    assert len(events) == 3
    assert all("choices" in e for e in events[:2])
    error = events[2]["error"]
    assert error["message"] == "overloaded"
    assert error["type"] == "server_error"
    assert set(error) == {"message", "type", "param", "code"}
    assert "[DONE]" not in events


def test_stream_error_in_chunk(client: httpx.Client) -> None:
    events = stream_events(
        client,
        "/chat/completions",
        chat_body(),
        headers={"x-emulator-fault": "stream_error_after=1;status=429;error_in_chunk"},
    )
    assert len(events) == 2 and "error" not in events[0]
    mixed = events[1]
    assert mixed["error"]["message"] and mixed["error"]["type"]
    # the same envelope as the stream's other chunks, beside the error
    assert mixed["id"] == events[0]["id"] and mixed["object"] == "chat.completion.chunk"
    assert mixed["choices"][0]["index"] == 0 and mixed["model"] == events[0]["model"]
    with pytest.raises(FaultSpecError, match="stream_error_after"):
        parse_fault("error_in_chunk")


def test_stream_error_after_more_chunks_than_reply(client: httpx.Client) -> None:
    events = stream_events(
        client,
        "/chat/completions",
        chat_body(max_tokens=2),
        headers={"x-emulator-fault": "stream_error_after=99"},
    )
    assert [("error" in e) for e in events] == [False, False, True]


def test_cut_after_stream(emu: TogetherEmulator, client: httpx.Client) -> None:
    got: list[Any] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream(
            "POST",
            "/chat/completions",
            json=chat_body(stream=True),
            headers={"x-emulator-fault": "cut_after=3"},
        ) as response,
    ):
        for line in response.iter_lines():
            got.extend(sse_events(iter([line])))
    assert len(got) == 3
    assert "[DONE]" not in got
    # the emulator keeps serving on new connections
    assert client.post("/chat/completions", json=chat_body()).status_code == 200
    assert emu.stats["cuts"] == 1


def test_cut_non_stream(emu: TogetherEmulator, client: httpx.Client) -> None:
    emu.add_fault(Fault(cut_after=0), times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=chat_body())
    assert client.post("/chat/completions", json=chat_body()).status_code == 200
    assert emu.requests[0].status == 0


def test_chunk_delay_paces_stream_and_trips_read_timeouts(client: httpx.Client) -> None:
    start = time.perf_counter()
    events = stream_events(
        client,
        "/chat/completions",
        chat_body(max_tokens=3),
        headers={"x-emulator-fault": "chunk_delay=0.1"},
    )
    assert len(events) == 4
    assert time.perf_counter() - start >= 0.3
    with (
        pytest.raises(httpx.ReadTimeout),
        client.stream(
            "POST",
            "/chat/completions",
            json=chat_body(stream=True),
            headers={"x-emulator-fault": "chunk_delay=1"},
            timeout=httpx.Timeout(5, read=0.3),
        ) as response,
    ):
        for _ in response.iter_lines():
            pass


def test_no_done(client: httpx.Client) -> None:
    events = stream_events(
        client, "/chat/completions", chat_body(), headers={"x-emulator-fault": "no_done"}
    )
    assert events and "[DONE]" not in events
    assert events[-1]["choices"][0]["finish_reason"] == "eos"


def test_malformed(client: httpx.Client) -> None:
    headers = {"x-emulator-fault": "malformed"}
    for path, body in [
        ("/chat/completions", chat_body()),
        ("/completions", {"model": BASE, "prompt": "x"}),
        ("/embeddings", {"model": EMBED, "input": "x"}),
    ]:
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
    with client.stream(
        "POST", "/chat/completions", json=chat_body(stream=True), headers=headers
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0][6:])
    assert lines[-1] == "data: [DONE]"


def test_tenants(emu: TogetherEmulator) -> None:
    emu.add_fault(Fault(status=429), tenant="flaky")
    headers = {"Authorization": f"Bearer {KEY}"}
    flaky = httpx.post(
        emu.base_url_for("flaky") + "/chat/completions", json=chat_body(), headers=headers
    )
    steady = httpx.post(
        emu.base_url_for("steady") + "/chat/completions", json=chat_body(), headers=headers
    )
    plain = httpx.post(emu.base_url + "/chat/completions", json=chat_body(), headers=headers)
    assert (flaky.status_code, steady.status_code, plain.status_code) == (429, 200, 200)
    assert [r.tenant for r in emu.requests] == ["flaky", "steady", ""]
    assert emu.requests[0].endpoint == "/chat/completions"
    models = httpx.get(emu.base_url_for("steady") + "/models", headers=headers)
    assert models.status_code == 200
    assert emu.base_url_for("x") == f"http://127.0.0.1:{emu.port}/t/x/v1"
    with pytest.raises(ValueError):
        emu.base_url_for("a/b")


# ---------------------------------------------------------------------------------------------
# request log, stats


def test_request_log_redacts_keys(emu: TogetherEmulator) -> None:
    httpx.post(
        emu.base_url + "/chat/completions",
        json=chat_body(),
        headers={"Authorization": f"Bearer {LONG_KEY}", "x-api-key": LONG_KEY},
    )
    httpx.post(
        emu.base_url + "/chat/completions",
        json=chat_body(),
        headers={"Authorization": f"Bearer {KEY}"},
    )
    httpx.get(emu.base_url + "/models")
    long_req, short_req, anon = emu.requests
    assert LONG_KEY not in repr(emu.requests)
    assert KEY not in repr(emu.requests)
    assert long_req.has_key and long_req.key_suffix == "wxyz"
    assert long_req.key_matches(LONG_KEY) and not long_req.key_matches(KEY)
    assert short_req.has_key and short_req.key_suffix is None  # too short for a suffix
    assert short_req.key_matches(KEY) and not short_req.key_matches(LONG_KEY)
    assert anon.key_fingerprint is None and not anon.key_matches("")
    assert not anon.has_key and anon.status == 401
    assert long_req.headers["x-api-key"] == "<redacted>"
    assert "redacted" in long_req.headers["authorization"]
    assert long_req.method == "POST" and long_req.path == "/v1/chat/completions"
    assert long_req.body == chat_body() == long_req.json
    assert long_req.model == CHAT
    assert long_req.status == 200
    assert emu.last_request is anon
    assert time.time() - long_req.timestamp < 60
    emu.clear()
    assert emu.requests == [] and emu.last_request is None


def test_request_log_keeps_unparseable_body(emu: TogetherEmulator, client: httpx.Client) -> None:
    client.post("/chat/completions", content=b"not json")
    record = emu.last_request
    assert record is not None
    assert record.body is None and record.body_text == "not json"


def test_stats() -> None:
    # its own emulator: an answer an earlier test gave up on (delay=2 with a short client
    # timeout) would otherwise be counted whenever it finishes
    with (
        TogetherEmulator() as emu,
        httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {KEY}"}) as client,
    ):
        _check_stats(emu, client)


def _check_stats(emu: TogetherEmulator, client: httpx.Client) -> None:
    client.post("/chat/completions", json=chat_body())
    client.post("/chat/completions", json=chat_body())
    client.post("/chat/completions", json={"model": "x"})
    client.get("/models")
    client.get("/nothing-here")
    stats = emu.stats
    assert stats["total"] == 5
    assert stats["by_path_status"]["/v1/chat/completions"] == {200: 2, 400: 1}
    assert stats["by_path"]["/v1/models"] == 1
    assert stats["by_path"]["<unknown>"] == 1
    assert stats["by_status"][200] == 3
    assert stats["open_connections"] >= 1
    emu.reset_stats()
    assert emu.stats["total"] == 0


def test_stats_count_requests_in_flight() -> None:
    """Overlapping requests show in ``peak_in_flight``; one after another they do not."""
    with TogetherEmulator() as emu:  # its own: nothing left in flight by another test
        _check_in_flight(emu)


def _check_in_flight(emu: TogetherEmulator) -> None:
    headers = {"Authorization": "Bearer k", "x-emulator-fault": "delay=0.3"}

    async def post(client: httpx.AsyncClient) -> int:
        r = await client.post(emu.base_url + "/chat/completions", json=chat_body(), headers=headers)
        return r.status_code

    async def run(together: bool) -> list[int]:
        async with httpx.AsyncClient() as client:
            if together:
                return list(await asyncio.gather(*(post(client) for _ in range(3))))
            return [await post(client) for _ in range(2)]

    def settled() -> int:
        # the client can hold the last bytes a moment before the emulator's thread has finished
        # the task that sent them: wait (bounded) for the count to drop
        deadline = time.monotonic() + 10
        while emu.stats["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.005)
        return int(emu.stats["in_flight"])

    emu.reset_stats()
    assert asyncio.run(run(together=True)) == [200, 200, 200]
    assert emu.stats["peak_in_flight"] == 3 and settled() == 0
    emu.reset_stats()
    assert asyncio.run(run(together=False)) == [200, 200]
    assert emu.stats["peak_in_flight"] == 1 and settled() == 0


def test_log_can_be_bounded_or_off() -> None:
    with TogetherEmulator(log_limit=2) as emu:
        for _ in range(5):
            httpx.get(emu.base_url + "/models", headers={"Authorization": "Bearer k"})
        assert len(emu.requests) == 2
        emu.record = False
        httpx.get(emu.base_url + "/models", headers={"Authorization": "Bearer k"})
        assert len(emu.requests) == 2
        assert emu.stats["total"] == 6


# ---------------------------------------------------------------------------------------------
# HTTP behaviour


def raw_exchange(emu: TogetherEmulator, payload: bytes, *, read_until_close: bool = True) -> bytes:
    assert emu.port is not None
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(payload)
        if not read_until_close:
            return sock.recv(65536)
        out = b""
        while True:
            data = sock.recv(65536)
            if not data:
                return out
            out += data


def test_malformed_requests_get_400(emu: TogetherEmulator) -> None:
    for payload in [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/models HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"POST /v1/models HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization Bearer %b\r\n\r\n"
        % LONG_KEY.encode(),
    ]:
        response = raw_exchange(emu, payload)
        assert response.startswith(b"HTTP/1.1 400 "), response
        assert b'"error"' in response
        assert LONG_KEY.encode() not in response  # a bad line is not quoted back
    # a head over 64 KiB, whether it arrives whole or in pieces
    huge = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70000 + b"\r\n\r\n"
    assert raw_exchange(emu, huge).startswith(b"HTTP/1.1 431 ")
    assert emu.port is not None
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(huge[:40000])
        time.sleep(0.05)  # not a bound on anything: lets the first piece be read on its own
        with contextlib.suppress(OSError):  # the server may close before the rest is sent
            sock.sendall(huge[40000:])
        assert sock.recv(65536).startswith(b"HTTP/1.1 431 ")
    assert emu.stats["protocol_errors"] >= 8


def test_pipelining_chunked_body_expect_and_http10(emu: TogetherEmulator) -> None:
    body = json.dumps(chat_body()).encode()
    auth = f"Authorization: Bearer {KEY}\r\n".encode()
    one = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )
    last = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth + b"\r\n"
    response = raw_exchange(emu, one + one + last)
    assert response.count(b"HTTP/1.1 200 OK") == 3
    assert response.count(b'"chat.completion"') == 2

    chunked = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + auth
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % 5
        + body[:5]
        + b"\r\n"
        + b"%x;ext=1\r\n" % (len(body) - 5)
        + body[5:]
        + b"\r\n0\r\n\r\n"
    )
    assert raw_exchange(emu, chunked).startswith(b"HTTP/1.1 200 OK")

    assert emu.port is not None
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + auth
            + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
        assert rest.startswith(b"HTTP/1.1 200 OK")

    old = raw_exchange(emu, b"GET /v1/models HTTP/1.0\r\n" + auth + b"\r\n")
    assert old.startswith(b"HTTP/1.1 200 OK") and old.lower().count(b"connection: close") == 1
    stream_body = json.dumps(chat_body(stream=True)).encode()
    streamed = raw_exchange(
        emu,
        b"POST /v1/chat/completions HTTP/1.0\r\n"
        + auth
        + b"Content-Length: %d\r\n\r\n" % len(stream_body)
        + stream_body,
    )
    assert b"transfer-encoding" not in streamed
    assert streamed.endswith(b"data: [DONE]\n\n")


def test_client_disconnects_are_quiet(caplog: pytest.LogCaptureFixture) -> None:
    # its own emulator: a client an earlier test gave up on is counted as a disconnect whenever
    # the emulator next writes to it
    with (
        TogetherEmulator() as emu,
        httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {KEY}"}) as client,
    ):
        _check_disconnects_are_quiet(emu, client, caplog)


def _check_disconnects_are_quiet(
    emu: TogetherEmulator, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert emu.port is not None
    body = json.dumps(chat_body(stream=True)).encode()
    for fault in ("", "chunk_delay=0.05", "delay=0.2"):
        sock = socket.create_connection(("127.0.0.1", emu.port), timeout=5)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer k\r\nx-emulator-tokens: 200000\r\n"
            + f"x-emulator-fault: {fault}\r\n".encode()
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        if fault != "delay=0.2":
            assert sock.recv(4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # RST mid-response
    # the server notices each reset on its own thread: wait for it (bounded), never a fixed sleep
    deadline = time.monotonic() + 30
    while emu.stats["disconnects"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.post("/chat/completions", json=chat_body()).status_code == 200
    assert emu.stats["disconnects"] == 3
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_stop_closes_connections_and_is_idempotent() -> None:
    emu = TogetherEmulator().start()
    assert emu.start() is emu
    port = emu.port
    c = httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer k"})
    assert c.get("/models").status_code == 200
    emu.stop()
    emu.stop()
    with pytest.raises(httpx.TransportError):
        c.get("/models")
    c.close()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    assert repr(emu) == "<TogetherEmulator not started>"
    assert port is not None


@pytest.mark.asyncio
async def test_async_context_manager_and_concurrency() -> None:
    async with TogetherEmulator() as emu:
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
        async with httpx.AsyncClient(
            base_url=emu.base_url,
            headers={"Authorization": "Bearer k"},
            limits=limits,
            timeout=60,
        ) as c:
            responses = await asyncio.gather(
                *(c.post("/chat/completions", json=chat_body(f"request {i}")) for i in range(500))
            )
        assert all(r.status_code == 200 for r in responses)
        contents = {r.json()["choices"][0]["message"]["content"] for r in responses}
        assert len(contents) == 500
        assert emu.stats["by_path_status"]["/v1/chat/completions"] == {200: 500}


@pytest.mark.asyncio
async def test_a_thousand_open_connections() -> None:
    async with TogetherEmulator(record=False) as emu:
        assert emu.port is not None
        request = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n"

        async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection("127.0.0.1", emu.port)

        pairs = await asyncio.gather(*(one() for _ in range(1000)))
        try:
            for _, writer in pairs:
                writer.write(request)

            async def read(reader: asyncio.StreamReader) -> bytes:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                return head

            heads = await asyncio.wait_for(asyncio.gather(*(read(r) for r, _ in pairs)), timeout=60)
            assert all(h.startswith(b"HTTP/1.1 200 OK") for h in heads)
            assert emu.stats["open_connections"] == 1000
        finally:
            for _, writer in pairs:
                writer.close()
            await asyncio.gather(*(w.wait_closed() for _, w in pairs), return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# subprocess mode


def test_subprocess_mode() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmrouter.testing", "--api-key", "sub-key", "--print-url"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        ok = httpx.get(url + "/models", headers={"Authorization": "Bearer sub-key"})
        assert ok.status_code == 200
        denied = httpx.get(url + "/models", headers={"Authorization": "Bearer other"})
        assert denied.status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


# ---------------------------------------------------------------------------------------------
# wire helpers


def test_stream_templates_match_reference_dicts() -> None:
    encoder = wire.StreamEncoder(kind="chat", request_id="id-1", created=1, model="m/x")
    for token in ["Hello", ' "quoted"', " ünïcode", " new\nline", "\\"]:
        expected = wire.sse_event(encoder.chunk_dict(token, tid=wire.token_id(token)))
        assert encoder.content_event(token) == expected
        assert encoder.content_event(token, 3) == wire.sse_event(
            encoder.chunk_dict(token, index=3, tid=wire.token_id(token))
        )
    completion = wire.StreamEncoder(kind="completion", request_id="i", created=1, model="m")
    assert json.loads(completion.content_event(" a")[6:])["object"] == "completion.chunk"


def test_split_tokens_round_trips() -> None:
    text = "Hello,  world!\nNew line"
    assert "".join(wire.split_tokens(text)) == text
    assert len(wire.filler_tokens(5)) == 5
    assert wire.filler_tokens(3)[0] == "lorem"


# ---------------------------------------------------------------------------------------------
# against Together's OpenAPI spec


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded = load_together_spec()
    if loaded is None:
        pytest.skip(SPEC_MISSING_REASON)
    return loaded


def test_responses_validate_against_spec(spec: dict[str, Any], client: httpx.Client) -> None:
    cases: list[tuple[str, str, dict[str, Any] | None]] = [
        ("/chat/completions", "post", chat_body()),
        ("/chat/completions", "post", chat_body(n=2, logprobs=1, max_tokens=2)),
        (
            "/chat/completions",
            "post",
            chat_body(tools=[WEATHER_TOOL], tool_choice="required"),
        ),
        ("/completions", "post", {"model": BASE, "prompt": "x", "echo": True, "logprobs": 2}),
        ("/embeddings", "post", {"model": EMBED, "input": ["a", "b"]}),
        ("/models", "get", None),
    ]
    for path, method, body in cases:
        r = client.request(method.upper(), path, json=body)
        assert r.status_code == 200
        validate_against(spec, response_schema_for(spec, path, method), r.json())
        # the request bodies used here are valid for the spec too
        if body is not None:
            validate_against(spec, request_schema_for(spec, path), body)


def test_errors_validate_against_spec(spec: dict[str, Any], client: httpx.Client) -> None:
    for status in (400, 401, 404, 429, 503, 504):
        r = client.post(
            "/chat/completions", json=chat_body(), headers={"x-emulator-fault": f"status={status}"}
        )
        validate_against(
            spec, response_schema_for(spec, "/chat/completions", status=status), r.json()
        )
    unknown = client.post("/chat/completions", json={**chat_body(), "model": "no/such"})
    validate_against(spec, "ErrorData", unknown.json())


def test_chat_stream_chunks_validate_against_spec(
    spec: dict[str, Any], client: httpx.Client
) -> None:
    # Only content streams: Together sends ``token_id: null`` in tool-call deltas, which the
    # spec's ChatCompletionChunk does not allow. Text-completion chunks are not checked: the
    # spec's CompletionChunk (top-level ``token``) predates the shape Together sends today.
    for body in (chat_body(), chat_body(max_tokens=2), chat_body(n=2)):
        events = stream_events(client, "/chat/completions", body)
        assert events[-1] == "[DONE]"
        for chunk in events[:-1]:
            validate_against(spec, "ChatCompletionChunk", chunk)
