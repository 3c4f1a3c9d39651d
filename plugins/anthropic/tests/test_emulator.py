"""``AnthropicEmulator`` on the wire (raw HTTP): shapes, checks, faults, log, stats, caching.

test_sdk_emulator.py proves the shapes against the official SDK's types; this file checks what
a client library cannot see or does not send: the exact event sequence, the headers, the
request checks (each with the API's wording), ``x-api-key`` auth, and every fault knob.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmrouter.testing import Fault
from llmrouter.testing.emulator import BaseEmulator, OpenAICompatibleEmulator
from llmrouter_anthropic.testing import LATEST_VERSION, AnthropicEmulator, model_info, sign

KEY = "sk-ant-emulator-test-0123456789"
MODEL = "claude-sonnet-4-6"
HI = [{"role": "user", "content": "Weather in Paris?"}]
TOOL = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[AnthropicEmulator]:
    with AnthropicEmulator() as emu:
        yield emu


@pytest.fixture
def emu(server: AnthropicEmulator) -> Iterator[AnthropicEmulator]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def http(emu: AnthropicEmulator) -> Iterator[httpx.Client]:
    headers = {"x-api-key": KEY, "anthropic-version": LATEST_VERSION}
    with httpx.Client(base_url=emu.base_url, headers=headers) as client:
        yield client


def ask(http: httpx.Client, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    body = {"model": MODEL, "max_tokens": 200, "messages": HI, **body}
    return http.post("/v1/messages", json=body, headers=headers or {})


def error_of(response: httpx.Response, status: int, type_: str) -> str:
    """The error's message, after checking Anthropic's envelope, type and request id."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == type_, body
    assert body["request_id"] == response.headers["request-id"]
    return str(body["error"]["message"])


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each server-sent event, checking that the two name the same type."""
    out = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: "), block
        data = json.loads(data_line[len("data: ") :])
        assert data["type"] == name_line[len("event: ") :]
        out.append((data["type"], data))
    return out


# --- the core it is built on --------------------------------------------------------------------


def test_is_the_shared_core_with_its_own_wire(emu: AnthropicEmulator) -> None:
    assert isinstance(emu, BaseEmulator) and not isinstance(emu, OpenAICompatibleEmulator)
    assert emu.base_url == emu.url and not emu.base_url.endswith("/v1")
    assert emu.base_url_for("eu") == emu.url + "/t/eu"
    assert repr(emu).startswith("<AnthropicEmulator 127.0.0.1:")


def test_a_message(http: httpx.Client, emu: AnthropicEmulator) -> None:
    r = ask(http)
    assert r.status_code == 200 and r.headers["request-id"].startswith("req_")
    body = r.json()
    assert body["id"].startswith("msg_01") and body["type"] == "message"
    assert body["role"] == "assistant" and body["model"] == MODEL
    text = "This is a deterministic reply from the Anthropic emulator. You said: Weather in Paris?"
    assert body["content"] == [{"type": "text", "text": text}]
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    assert body["usage"]["input_tokens"] == 3 and body["usage"]["output_tokens"] == 14
    assert body["usage"]["cache_read_input_tokens"] == 0
    assert emu.last_request is not None and emu.last_request.status == 200


# --- headers: version and auth -----------------------------------------------------------------


def test_the_version_header_is_required_and_recorded(
    http: httpx.Client, emu: AnthropicEmulator
) -> None:
    bare = httpx.post(
        emu.base_url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 5, "messages": HI},
        headers={"x-api-key": KEY},
    )
    message = error_of(bare, 400, "invalid_request_error")
    assert message == "anthropic-version: header is required"
    assert ask(http, {"anthropic-version": "2023-06-01"}).status_code == 200
    assert emu.requests[-1].headers["anthropic-version"] == "2023-06-01"
    unknown = ask(http, {"anthropic-version": "2099-01-01"})
    assert "is not a valid version" in error_of(unknown, 400, "invalid_request_error")


def test_a_lenient_emulator_takes_unknown_versions_and_fields() -> None:
    with AnthropicEmulator(strict=False) as emu:
        r = httpx.post(
            emu.base_url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 5, "messages": HI, "temperature": 0.5, "x": 1},
            headers={"x-api-key": KEY, "anthropic-version": "2099-01-01"},
        )
        assert r.status_code == 200, r.text


def test_keys_by_x_api_key_or_bearer_never_logged(emu: AnthropicEmulator) -> None:
    url = emu.base_url + "/v1/messages"
    body = {"model": MODEL, "max_tokens": 5, "messages": HI}
    version = {"anthropic-version": LATEST_VERSION}
    assert httpx.post(url, json=body, headers={"x-api-key": KEY, **version}).status_code == 200
    bearer = {"authorization": f"Bearer {KEY}", **version}
    assert httpx.post(url, json=body, headers=bearer).status_code == 200
    missing = httpx.post(url, json=body, headers=version)
    assert error_of(missing, 401, "authentication_error") == "x-api-key header is required"
    by_key, by_bearer, anonymous = emu.requests
    assert by_key.headers["x-api-key"] == "<redacted>" and by_key.key_matches(KEY)
    assert by_bearer.headers["authorization"] == "Bearer <redacted ...6789>"
    assert by_bearer.has_key and by_bearer.key_suffix == "6789" and by_bearer.key_matches(KEY)
    assert not anonymous.has_key and anonymous.status == 401
    assert KEY not in repr(emu.requests)
    emu.api_key = "sk-ant-the-right-one"
    try:
        wrong = httpx.post(url, json=body, headers={"x-api-key": KEY, **version})
        assert error_of(wrong, 401, "authentication_error") == "invalid x-api-key"
        wrong = httpx.post(url, json=body, headers=bearer)
        assert error_of(wrong, 401, "authentication_error") == "Invalid bearer token"
    finally:
        emu.api_key = None


def test_unknown_urls_and_methods(http: httpx.Client) -> None:
    error_of(http.post("/v1/complete", json={}), 404, "not_found_error")
    assert "details" not in http.post("/v1/complete", json={}).json()["error"]
    r = http.get("/v1/messages")
    error_of(r, 405, "invalid_request_error")
    assert r.headers["allow"] == "POST"


# --- request checks ------------------------------------------------------------------------------

BAD_BODIES: dict[str, tuple[dict[str, Any], str]] = {
    "no max_tokens": ({"max_tokens": None}, "max_tokens: Field required"),
    "no messages": ({"messages": None}, "messages: Field required"),
    "no model": ({"model": None}, "model: Field required"),
    "empty messages": ({"messages": []}, "messages: at least one message is required"),
    "bad role": (
        {"messages": [{"role": "tool", "content": "x"}]},
        "messages.0.role: Input should be 'user' or 'assistant' or 'system'",
    ),
    "empty content": (
        {"messages": [{"role": "user", "content": ""}]},
        "messages.0: all messages must have non-empty content except for the optional final "
        "assistant message",
    ),
    "temperature on 2026-10-21": (
        {"temperature": 0.5},
        "temperature: Extra inputs are not permitted",
    ),
    "unknown field": ({"n": 2}, "n: Extra inputs are not permitted"),
    "block without type": (
        {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
        "messages.0.content.0.type: Field required",
    ),
    "image media type": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/bmp", "data": "AA"},
                        }
                    ],
                }
            ]
        },
        "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', "
        "'image/png', 'image/gif', 'image/webp'",
    ),
    "tool name": (
        {"tools": [{**TOOL, "name": "get.weather"}]},
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    "tool_choice without tools": (
        {"tool_choice": {"type": "any"}},
        "tool_choice: tool_choice may only be specified while providing tools",
    ),
    "tool_choice naming no tool": (
        {"tools": [TOOL], "tool_choice": {"type": "tool", "name": "nope"}},
        "tool_choice.name: no tool named 'nope' in `tools`",
    ),
    "tool_choice type": (
        {"tools": [TOOL], "tool_choice": {"type": "required"}},
        "tool_choice: Input tag found using 'type' does not match any of the expected tags: "
        "'auto', 'any', 'tool', 'none'",
    ),
    "small thinking budget": (
        {"thinking": {"type": "enabled", "budget_tokens": 500}},
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    "budget over max_tokens": (
        {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    ),
    "thinking with a forced tool": (
        {
            "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [TOOL],
            "tool_choice": {"type": "any"},
        },
        "Thinking may not be enabled when tool_choice forces tool use.",
    ),
    "blank stop sequence": (
        {"stop_sequences": [" "]},
        "stop_sequences: each stop sequence must contain non-whitespace",
    ),
    "effort": ({"output_config": {"effort": "extreme"}}, "output_config.effort: Input should be"),
    "max_tokens over the model's": (
        {"max_tokens": 64_001},
        "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for "
        "claude-sonnet-4-6",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bodies_the_api_rejects(case: str, http: httpx.Client) -> None:
    change, wording = BAD_BODIES[case]
    body = {"model": MODEL, "max_tokens": 200, "messages": HI, **change}
    body = {k: v for k, v in body.items() if v is not None}
    r = http.post("/v1/messages", json=body)
    assert error_of(r, 400, "invalid_request_error").startswith(wording)


def test_version_rules(http: httpx.Client) -> None:
    old = {"anthropic-version": "2023-06-01"}
    assert ask(http, old, temperature=1.0, top_p=0.9, top_k=5).status_code == 200
    too_hot = ask(http, old, temperature=1.5)
    assert error_of(too_hot, 400, "invalid_request_error") == (
        "temperature: Input should be between 0 and 1"
    )
    system_turn = [{"role": "system", "content": "Be brief."}, *HI]
    assert "Unexpected role" in error_of(
        ask(http, old, messages=system_turn), 400, "invalid_request_error"
    )
    assert ask(http, messages=system_turn).status_code == 200
    # with a beta header, fields the beta adds pass
    beta = {"anthropic-beta": "context-management-2025-06-27"}
    assert ask(http, beta, context_management={"edits": []}).status_code == 200


def test_unknown_model_is_a_404(http: httpx.Client) -> None:
    r = ask(http, model="claude-nope")
    assert error_of(r, 404, "not_found_error") == "model: claude-nope"


def test_a_long_prompt_is_refused(emu: AnthropicEmulator, http: httpx.Client) -> None:
    emu.add_model("claude-tiny", max_input_tokens=5)
    r = ask(
        http,
        model="claude-tiny",
        messages=[{"role": "user", "content": "one two three four five six"}],
    )
    assert error_of(r, 400, "invalid_request_error") == "prompt is too long: 6 tokens > 5 maximum"


def tool_round(tool_use_id: str, answered: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": tool_use_id, "name": "get_weather", "input": {}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": answered, "content": "sunny"}],
        },
    ]


def test_tool_results_must_answer_the_tool_uses(http: httpx.Client) -> None:
    assert ask(http, tools=[TOOL], messages=tool_round("toolu_1", "toolu_1")).status_code == 200
    stray = ask(http, tools=[TOOL], messages=tool_round("toolu_1", "toolu_2"))
    assert "unexpected `tool_use_id` found in `tool_result` blocks: toolu_2" in error_of(
        stray, 400, "invalid_request_error"
    )
    unanswered = [*tool_round("toolu_1", "toolu_1")[:2], {"role": "user", "content": "and?"}]
    message = error_of(ask(http, tools=[TOOL], messages=unanswered), 400, "invalid_request_error")
    assert message.startswith("messages.2: `tool_use` ids were found without `tool_result` blocks")


def test_thinking_blocks_come_back_signed_and_first(http: httpx.Client) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    block = {"type": "thinking", "thinking": "Let me check.", "signature": sign("Let me check.")}
    turn = tool_round("toolu_1", "toolu_1")
    turn[1]["content"] = [block, *turn[1]["content"]]
    assert (
        ask(http, max_tokens=2000, thinking=thinking, tools=[TOOL], messages=turn).status_code
        == 200
    )
    forged = [
        turn[0],
        {**turn[1], "content": [{**block, "thinking": "Changed."}, *turn[1]["content"][1:]]},
        turn[2],
    ]
    r = ask(http, max_tokens=2000, thinking=thinking, tools=[TOOL], messages=forged)
    assert error_of(r, 400, "invalid_request_error") == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    r = ask(
        http,
        max_tokens=2000,
        thinking=thinking,
        tools=[TOOL],
        messages=tool_round("toolu_1", "toolu_1"),
    )
    assert "Expected `thinking` or `redacted_thinking`, but found `tool_use`" in error_of(
        r, 400, "invalid_request_error"
    )


# --- what it answers -----------------------------------------------------------------------------


def test_stream_event_sequence(http: httpx.Client) -> None:
    r = ask(http, stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["request-id"].startswith("req_")
    got = events(r)
    names = [name for name, _ in got]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    start = got[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 3
    assert got[1][1]["content_block"] == {"type": "text", "text": ""}
    text = "".join(d["delta"]["text"] for n, d in got if n == "content_block_delta")
    assert text == ask(http).json()["content"][0]["text"]
    delta = got[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == len(text.split())


def test_streamed_thinking_then_tool_call(http: httpx.Client) -> None:
    r = ask(
        http,
        stream=True,
        max_tokens=2000,
        thinking={"type": "adaptive"},
        tools=[TOOL],
        messages=[{"role": "user", "content": "Weather? [[emulator:tool_call:get_weather]]"}],
    )
    got = events(r)
    starts = [d["content_block"] for n, d in got if n == "content_block_start"]
    assert starts[0] == {"type": "thinking", "thinking": "", "signature": ""}
    assert starts[1]["type"] == "tool_use" and starts[1]["input"] == {}
    assert starts[1]["id"].startswith("toolu_01") and starts[1]["name"] == "get_weather"
    deltas = [(d["index"], d["delta"]) for n, d in got if n == "content_block_delta"]
    thought = "".join(x["thinking"] for i, x in deltas if x["type"] == "thinking_delta")
    signatures = [x["signature"] for i, x in deltas if x["type"] == "signature_delta"]
    assert signatures == [sign(thought)] and thought.startswith("The user wrote")
    pieces = [x["partial_json"] for i, x in deltas if x["type"] == "input_json_delta"]
    assert pieces[0] == "" and len(pieces) > 2
    assert json.loads("".join(pieces)) == {"city": "example city", "days": 1}
    assert got[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_stop_sequences_and_max_tokens(http: httpx.Client) -> None:
    stopped = ask(http, stop_sequences=["emulator", "deterministic"]).json()
    assert stopped["stop_reason"] == "stop_sequence" and stopped["stop_sequence"] == "deterministic"
    assert stopped["content"][0]["text"] == "This is a"
    capped = ask(http, max_tokens=3).json()
    assert capped["stop_reason"] == "max_tokens" and capped["stop_sequence"] is None
    assert capped["content"][0]["text"] == "This is a" and capped["usage"]["output_tokens"] == 3
    nothing = ask(http, max_tokens=0).json()
    assert nothing["content"] == [] and nothing["stop_reason"] == "max_tokens"
    thinking = ask(http, max_tokens=1025, thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b["type"] for b in thinking.json()["content"]] == ["thinking", "text"]


def test_forced_tool_choice_and_none(http: httpx.Client) -> None:
    other = {**TOOL, "name": "get_time"}
    forced = ask(http, tools=[TOOL, other], tool_choice={"type": "tool", "name": "get_time"}).json()
    assert forced["stop_reason"] == "tool_use" and forced["content"][0]["name"] == "get_time"
    anyone = ask(http, tools=[TOOL, other], tool_choice={"type": "any"}).json()
    assert anyone["content"][0]["name"] == "get_weather"
    marked = [{"role": "user", "content": [{"type": "text", "text": "[[emulator:tool_call]]"}]}]
    refused = ask(http, tools=[TOOL], tool_choice={"type": "none"}, messages=marked).json()
    assert refused["stop_reason"] == "end_turn"
    unknown = [{"role": "user", "content": "[[emulator:tool_call:nope]]"}]
    assert "names no tool" in error_of(
        ask(http, tools=[TOOL], messages=unknown), 400, "invalid_request_error"
    )


def test_structured_output_is_a_schema_instance(http: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "warm": {"type": "boolean"}},
    }
    r = ask(
        http, output_config={"format": {"type": "json_schema", "schema": schema}, "effort": "low"}
    )
    assert json.loads(r.json()["content"][0]["text"]) == {"city": "example city", "warm": True}


def test_prompt_caching_counts(emu: AnthropicEmulator, http: httpx.Client) -> None:
    system = [
        {
            "type": "text",
            "text": "You are a weather bot with a long manual",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    first = ask(http, system=system).json()["usage"]
    assert first["cache_creation_input_tokens"] == 9 and first["cache_read_input_tokens"] == 0
    assert first["cache_creation"] == {
        "ephemeral_5m_input_tokens": 9,
        "ephemeral_1h_input_tokens": 0,
    }
    assert first["input_tokens"] == 3
    second = ask(http, system=system).json()["usage"]
    assert second["cache_read_input_tokens"] == 9 and second["cache_creation_input_tokens"] == 0
    counted = http.post(
        "/v1/messages/count_tokens", json={"model": MODEL, "messages": HI, "system": system}
    )
    assert counted.status_code == 200 and counted.json() == {"input_tokens": 12}
    emu.reset()
    hour = [{**system[0], "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    again = ask(http, system=hour).json()["usage"]
    assert again["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": 9,
    }
    whole = ask(http, cache_control={"type": "ephemeral"}).json()["usage"]
    assert whole["cache_creation_input_tokens"] == 3 and whole["input_tokens"] == 0


def test_filler_tokens_header(http: httpx.Client) -> None:
    long = ask(http, {"x-emulator-tokens": "50"}).json()
    assert long["usage"]["output_tokens"] == 50
    capped = ask(http, {"x-emulator-tokens": "max"}, max_tokens=7).json()
    assert capped["usage"]["output_tokens"] == 7 and capped["stop_reason"] == "max_tokens"


def test_models_pages(emu: AnthropicEmulator, http: httpx.Client) -> None:
    listed = [m["id"] for m in emu.models if m["lifecycle"] != "retired"]
    first = http.get("/v1/models", params={"limit": 3}).json()
    assert [m["id"] for m in first["data"]] == listed[:3] and first["has_more"] is True
    assert (first["first_id"], first["last_id"]) == (listed[0], listed[2])
    rest = http.get("/v1/models", params={"limit": 100, "after_id": first["last_id"]}).json()
    assert [m["id"] for m in rest["data"]] == listed[3:] and rest["has_more"] is False
    back = http.get("/v1/models", params={"limit": 2, "before_id": listed[3]}).json()
    assert [m["id"] for m in back["data"]] == listed[1:3] and back["has_more"] is True
    deprecated = http.get("/v1/models", params={"lifecycle[]": "deprecated"}).json()["data"]
    assert [m["lifecycle"] for m in deprecated] == ["deprecated"]
    one = http.get(f"/v1/models/{MODEL}").json()
    assert (
        one == model_info(MODEL, created_at=one["created_at"])
        and one["display_name"] == "Claude Sonnet 4.6"
    )
    error_of(http.get("/v1/models/claude-nope"), 404, "not_found_error")
    error_of(http.get("/v1/models", params={"limit": 0}), 400, "invalid_request_error")
    error_of(http.get("/v1/models", params={"after_id": "nope"}), 400, "invalid_request_error")


def test_catalogue_knobs() -> None:
    with AnthropicEmulator(models=["claude-a-1", {"id": "claude-b-2", "max_tokens": 10}]) as emu:
        assert [m["id"] for m in emu.models] == ["claude-a-1", "claude-b-2"]
        assert emu.models[1]["max_tokens"] == 10 and emu.models[1]["display_name"] == "Claude B 2"
        emu.add_model("claude-c-3", lifecycle="retired")
        assert emu.models[0]["id"] == "claude-c-3"
        headers = {"x-api-key": KEY, "anthropic-version": LATEST_VERSION}
        r = httpx.post(
            emu.base_url + "/v1/messages",
            json={"model": "claude-c-3", "max_tokens": 5, "messages": HI},
            headers=headers,
        )
        error_of(r, 404, "not_found_error")
        with pytest.raises(ValueError, match="without an 'id'"):
            emu.set_models([{"name": "x"}])


# --- faults ------------------------------------------------------------------------------------


STATUSES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
    503: "api_error",
}


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_fault_statuses_have_anthropic_types(status: int, http: httpx.Client) -> None:
    r = ask(http, {"x-emulator-fault": f"status={status}"})
    assert error_of(r, status, STATUSES[status])


def test_rate_limit_headers_and_error_codes(http: httpx.Client) -> None:
    r = ask(http, {"x-emulator-fault": "status=429;retry_after=7;ratelimit_limit=50"})
    error_of(r, 429, "rate_limit_error")
    assert r.headers["retry-after"] == "7"
    assert r.headers["anthropic-ratelimit-requests-limit"] == "50"
    assert r.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert r.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert r.headers["anthropic-ratelimit-output-tokens-limit"]
    coded = ask(http, {"x-emulator-fault": "status=529;code=compaction_unavailable;message=busy"})
    assert error_of(coded, 529, "overloaded_error") == "busy"
    assert coded.json()["error"]["details"] == {"error_code": "compaction_unavailable"}


def test_fail_the_first_k(emu: AnthropicEmulator, http: httpx.Client) -> None:
    rule = emu.add_fault(Fault(status=529), path="/messages", model=MODEL, times=2)
    assert [ask(http).status_code for _ in range(3)] == [529, 529, 200]
    assert rule.hits == 2 and [r.status for r in emu.requests] == [529, 529, 200]
    assert emu.requests[0].fault == "status=529"


def test_inband_stream_error(emu: AnthropicEmulator, http: httpx.Client) -> None:
    got = events(ask(http, {"x-emulator-fault": "stream_error_after=4"}, stream=True))
    assert [n for n, _ in got][:4] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
    ]
    assert got[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    assert len(got) == 5 and emu.stats["stream_errors"] == 1
    chosen = events(ask(http, {"x-emulator-fault": "stream_error_after=1;status=500"}, stream=True))
    assert chosen[-1][1]["error"]["type"] == "api_error"


def test_missing_message_stop(http: httpx.Client) -> None:
    got = events(ask(http, {"x-emulator-fault": "no_done"}, stream=True))
    assert [n for n, _ in got][-2:] == ["content_block_stop", "message_delta"]


def test_cut_mid_stream(emu: AnthropicEmulator, http: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        ask(http, {"x-emulator-fault": "cut_after=5"}, stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        ask(http, {"x-emulator-fault": "cut_after=0"})  # not streamed: no answer at all
    assert emu.stats["cuts"] == 2 and [r.status for r in emu.requests] == [200, 0]


def test_malformed_bodies(http: httpx.Client) -> None:
    plain = ask(http, {"x-emulator-fault": "malformed"})
    assert plain.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        plain.json()
    streamed = ask(http, {"x-emulator-fault": "malformed"}, stream=True)
    first = streamed.text.split("\n\n")[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(first.split("data: ", 1)[1])
    counted = http.post(
        "/v1/messages/count_tokens",
        json={"model": MODEL, "messages": HI},
        headers={"x-emulator-fault": "malformed"},
    )
    with pytest.raises(json.JSONDecodeError):
        counted.json()


def test_slow_and_paced_answers_are_still_whole(emu: AnthropicEmulator, http: httpx.Client) -> None:
    emu.add_fault(Fault(delay=0.05, chunk_delay=0.001), times=1)
    got = events(ask(http, stream=True))
    assert got[-1][0] == "message_stop" and emu.requests[-1].fault == "delay=0.05;chunk_delay=0.001"


def test_a_bad_fault_header_is_a_400(http: httpx.Client) -> None:
    r = ask(http, {"x-emulator-fault": "nope=1"})
    assert "unknown fault key" in error_of(r, 400, "invalid_request_error")


def test_tenants_and_stats(emu: AnthropicEmulator) -> None:
    emu.add_fault("status=529", tenant="primary")
    headers = {"x-api-key": KEY, "anthropic-version": LATEST_VERSION}
    body = {"model": MODEL, "max_tokens": 5, "messages": HI}
    primary = httpx.post(emu.base_url_for("primary") + "/v1/messages", json=body, headers=headers)
    backup = httpx.post(emu.base_url_for("backup") + "/v1/messages", json=body, headers=headers)
    assert (primary.status_code, backup.status_code) == (529, 200)
    assert [r.tenant for r in emu.requests] == ["primary", "backup"]
    stats = emu.stats
    assert stats["by_path_status"] == {"/v1/messages": {529: 1, 200: 1}}
    assert stats["total"] == 2 and stats["in_flight"] == 0


def test_async_with() -> None:
    async def main() -> dict[str, Any]:
        async with AnthropicEmulator() as emu:
            headers = {"x-api-key": KEY, "anthropic-version": LATEST_VERSION}
            async with httpx.AsyncClient(base_url=emu.base_url, headers=headers) as client:
                r = await client.post(
                    "/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": HI}
                )
                return dict(r.json())

    assert asyncio.run(main())["stop_reason"] == "max_tokens"


def test_runs_as_a_process() -> None:
    """``python -m llmrouter_anthropic.testing``: the URL first, then it serves (benchmarks)."""
    command = [sys.executable, "-m", "llmrouter_anthropic.testing", "--reply", "Hi there"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith("/v1")
        r = httpx.post(
            url + "/v1/messages",
            json={"model": MODEL, "max_tokens": 5, "messages": HI},
            headers={"x-api-key": KEY, "anthropic-version": LATEST_VERSION},
        )
        assert r.json()["content"] == [{"type": "text", "text": "Hi there"}]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
