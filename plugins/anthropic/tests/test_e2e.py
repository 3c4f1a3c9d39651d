"""The plugin end to end through ``llmrouter.completion``/``acompletion``/``list_models`` against
``AnthropicEmulator`` (strict: it refuses what Anthropic's API refuses), streaming, tools and
thinking included, faults and errors too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmrouter
from llmrouter import errors
from llmrouter.testing import Fault
from llmrouter_anthropic.testing import AnthropicEmulator

KEY = "sk-ant-api03-E2eTestKeyDoNotLeak0123456789"
MODEL = "anthropic/claude-sonnet-4-6"
USER = [{"role": "user", "content": "Tell me about rivers"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
#: Makes the emulator answer with a tool call without a forcing tool_choice (which, with
#: thinking, Anthropic refuses).
CALL_A_TOOL = "What is the weather in Paris? [[emulator:tool_call]]"


@pytest.fixture(scope="module")
def server() -> Iterator[AnthropicEmulator]:
    with AnthropicEmulator(api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def emu(server: AnthropicEmulator, monkeypatch: pytest.MonkeyPatch) -> AnthropicEmulator:
    server.reset()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    return server


def joined(chunks: list[Any]) -> dict[str, Any]:
    """A streamed answer put back together the way OpenAI's stream helpers do."""
    content, reasoning = "", ""
    calls: dict[int, dict[str, Any]] = {}
    thinking: list[Any] = []
    finish = usage = None
    for chunk in chunks:
        choice = chunk.choices[0]
        delta = choice.delta
        content += delta.content or ""
        reasoning += delta.get("reasoning_content") or ""
        thinking += delta.get("thinking_blocks") or []
        for piece in delta.tool_calls or ():
            entry = calls.setdefault(
                piece.index,
                {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
            )
            entry["id"] += piece.id or ""
            if piece.function is not None:
                entry["function"]["name"] += piece.function.name or ""
                entry["function"]["arguments"] += piece.function.arguments or ""
        finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    if thinking:
        message["thinking_blocks"] = thinking
        message["reasoning_content"] = reasoning
    return {"message": message, "finish_reason": finish, "usage": usage}


# --- plain calls ----------------------------------------------------------------------------------


def test_completion(emu: AnthropicEmulator) -> None:
    response = llmrouter.completion(model=MODEL, messages=USER)
    assert response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.prompt_tokens > 0
    assert response.id.startswith("msg_")
    assert response.llmrouter.request_id
    request = emu.requests[-1]
    assert request.path == "/v1/messages"
    assert request.headers["anthropic-version"] == "2026-10-21"
    assert request.key_matches(KEY) and "x-api-key" not in request.headers
    assert request.body["max_tokens"] == 16384


@pytest.mark.asyncio
async def test_acompletion(emu: AnthropicEmulator) -> None:
    response = await llmrouter.acompletion(model=MODEL, messages=USER, max_tokens=50)
    assert response.choices[0].message.content
    assert emu.requests[-1].body["max_tokens"] == 50


def test_stream_matches_the_non_streamed_answer(emu: AnthropicEmulator) -> None:
    whole = llmrouter.completion(model=MODEL, messages=USER)
    chunks = list(llmrouter.completion(model=MODEL, messages=USER, stream=True))
    streamed = joined(chunks)
    assert streamed["message"]["content"] == whole.choices[0].message.content
    assert streamed["finish_reason"] == "stop"
    assert streamed["usage"] == whole.usage
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1


@pytest.mark.asyncio
async def test_async_stream(emu: AnthropicEmulator) -> None:
    stream = await llmrouter.acompletion(model=MODEL, messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert joined(chunks)["message"]["content"]
    assert stream.usage is not None


def test_system_images_and_options_are_accepted_by_the_strict_emulator(
    emu: AnthropicEmulator,
) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        },
    ]
    response = llmrouter.completion(
        model=MODEL,
        messages=messages,
        max_completion_tokens=64,
        stop=["zzz"],
        user="user-1",
        reasoning_effort="low",
        service_tier="auto",
    )
    assert response.choices[0].message.content
    body = emu.requests[-1].body
    assert body["system"] == "Be brief."
    assert body["metadata"] == {"user_id": "user-1"}


def test_stop_sequence_and_length(emu: AnthropicEmulator) -> None:
    response = llmrouter.completion(model=MODEL, messages=USER, max_tokens=2)
    assert response.choices[0].finish_reason == "length"
    assert response["stop_reason"] == "max_tokens"
    words = llmrouter.completion(model=MODEL, messages=USER).choices[0].message.content
    assert words is not None
    stop = words.split()[3]
    response = llmrouter.completion(model=MODEL, messages=USER, stop=stop)
    assert response.choices[0].finish_reason == "stop"
    assert response["stop_reason"] == "stop_sequence" and response["stop_sequence"] == stop


def test_structured_output(emu: AnthropicEmulator) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    response = llmrouter.completion(
        model=MODEL,
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    data = json.loads(response.choices[0].message.content or "")
    assert set(data) == {"city", "population"} and isinstance(data["population"], int)


def test_prompt_cache_counts(emu: AnthropicEmulator) -> None:
    system = [
        {"type": "text", "text": "A long policy " * 50, "cache_control": {"type": "ephemeral"}}
    ]
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}, *USER]
    first = llmrouter.completion(model=MODEL, messages=messages)
    second = llmrouter.completion(model=MODEL, messages=messages)
    assert first.usage is not None and second.usage is not None
    written = first.usage.model_dump()["prompt_tokens_details"]["cache_creation_tokens"]
    read = second.usage.model_dump()["prompt_tokens_details"]["cached_tokens"]
    assert written > 0 and read == written
    assert first.usage.prompt_tokens == second.usage.prompt_tokens


def test_pinned_old_version(emu: AnthropicEmulator) -> None:
    response = llmrouter.completion(
        model=MODEL, messages=USER, anthropic_version="2023-06-01", temperature=0.2, top_k=5
    )
    assert response.choices[0].message.content
    request = emu.requests[-1]
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "x-api-key" in request.headers and "authorization" not in request.headers
    assert request.key_matches(KEY)
    assert request.body["temperature"] == 0.2


def test_drop_params_reaches_the_strict_emulator(emu: AnthropicEmulator) -> None:
    response = llmrouter.completion(
        model=MODEL, messages=USER, temperature=0.5, seed=3, n=1, logprobs=False, drop_params=True
    )
    assert response.choices[0].message.content
    assert "temperature" not in emu.requests[-1].body


def test_beta_header(emu: AnthropicEmulator) -> None:
    llmrouter.completion(model=MODEL, messages=USER, anthropic_beta=["x-1", "y-2"])
    assert emu.requests[-1].headers["anthropic-beta"] == "x-1,y-2"


# --- tools and thinking ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("thinking", [None, {"type": "enabled", "budget_tokens": 1024}])
def test_tool_loop(emu: AnthropicEmulator, stream: bool, thinking: dict[str, Any] | None) -> None:
    """The model calls a tool, the app answers, the model finishes: OpenAI's loop, unchanged;
    with thinking, the signed blocks go back as they came (the emulator checks the signature)."""
    extra: dict[str, Any] = {"max_tokens": 4096}
    if thinking is not None:
        extra["thinking"] = thinking
    messages: list[dict[str, Any]] = [{"role": "user", "content": CALL_A_TOOL}]
    for turn in range(3):
        if stream:
            chunks = list(
                llmrouter.completion(
                    model=MODEL, messages=messages, tools=[WEATHER], stream=True, **extra
                )
            )
            result = joined(chunks)
            message, finish = result["message"], result["finish_reason"]
        else:
            response = llmrouter.completion(
                model=MODEL, messages=messages, tools=[WEATHER], **extra
            )
            message = response.choices[0].message.model_dump(exclude_none=True)
            finish = response.choices[0].finish_reason
        if thinking is not None:
            assert message["thinking_blocks"][0]["signature"]
            assert message["reasoning_content"]
        messages.append(message)
        if finish != "tool_calls":
            break
        assert turn == 0
        (call,) = message["tool_calls"]
        assert call["function"]["name"] == "get_weather"
        assert isinstance(json.loads(call["function"]["arguments"]), dict)
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"})
    assert finish == "stop" and turn == 1
    sent = emu.requests[-1].body["messages"]
    assert sent[-1]["content"][0]["type"] == "tool_result"
    if thinking is not None:
        assert sent[1]["content"][0]["type"] == "thinking"


def test_forced_tool_choice(emu: AnthropicEmulator) -> None:
    response = llmrouter.completion(
        model=MODEL,
        messages=USER,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    assert response.choices[0].finish_reason == "tool_calls"
    assert emu.requests[-1].body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }


def test_a_tampered_thinking_block_is_refused_by_the_emulator(emu: AnthropicEmulator) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    messages: list[dict[str, Any]] = [{"role": "user", "content": CALL_A_TOOL}]
    response = llmrouter.completion(
        model=MODEL, messages=messages, tools=[WEATHER], thinking=thinking, max_tokens=4096
    )
    message = response.choices[0].message.model_dump(exclude_none=True)
    message["thinking_blocks"][0]["thinking"] += " (edited)"
    call_id = message["tool_calls"][0]["id"]
    messages += [message, {"role": "tool", "tool_call_id": call_id, "content": "18C"}]
    with pytest.raises(errors.BadRequestError):
        llmrouter.completion(
            model=MODEL, messages=messages, tools=[WEATHER], thinking=thinking, max_tokens=4096
        )


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (402, errors.PaymentRequiredError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (413, errors.APIStatusError),
        (500, errors.InternalServerError),
        (504, errors.GatewayTimeoutError),
        (529, errors.ServiceUnavailableError),
    ],
)
def test_error_statuses(emu: AnthropicEmulator, status: int, cls: type[Exception]) -> None:
    emu.add_fault(Fault(status=status))
    with pytest.raises(cls) as info:
        llmrouter.completion(model=MODEL, messages=USER)
    error = info.value
    assert type(error) is cls
    assert isinstance(error, errors.APIStatusError)
    assert error.status_code == status and error.error_type
    assert error.request_id


def test_wrong_key(emu: AnthropicEmulator) -> None:
    wrong = "sk-ant-api03-WrongKeyDoNotLeak000000000"
    with pytest.raises(errors.AuthenticationError) as info:
        llmrouter.completion(model=MODEL, messages=USER, api_key=wrong)
    assert wrong not in str(info.value) and wrong not in repr(info.value.body)


def test_rate_limit(emu: AnthropicEmulator) -> None:
    emu.add_fault(Fault(status=429, retry_after=3, ratelimit_remaining=0))
    with pytest.raises(errors.RateLimitError) as info:
        llmrouter.completion(model=MODEL, messages=USER)
    error = info.value
    assert error.retry_after == 3
    assert error.rate_limit and all(not k.startswith("anthropic-") for k in error.rate_limit)
    assert any(k.endswith("-remaining") for k in error.rate_limit)


def test_inband_overloaded_error(emu: AnthropicEmulator) -> None:
    emu.add_fault(Fault(stream_error_after=3))
    got: list[Any] = []
    with pytest.raises(errors.ServiceUnavailableError) as info:
        for chunk in llmrouter.completion(model=MODEL, messages=USER, stream=True):
            got.append(chunk)
    assert info.value.retryable
    assert got  # the events before the error were delivered


def test_stream_without_message_stop(emu: AnthropicEmulator) -> None:
    emu.add_fault(Fault(no_done=True))
    with pytest.raises(errors.APIConnectionError):
        list(llmrouter.completion(model=MODEL, messages=USER, stream=True))


def test_cut_stream(emu: AnthropicEmulator) -> None:
    emu.add_fault(Fault(cut_after=4))
    with pytest.raises(errors.APIConnectionError):
        list(llmrouter.completion(model=MODEL, messages=USER, stream=True))


def test_refused_before_sending(emu: AnthropicEmulator) -> None:
    for params in ({"seed": 1}, {"temperature": 0.5}, {"n": 2}):
        with pytest.raises(errors.InvalidRequestError):
            llmrouter.completion(model=MODEL, messages=USER, **params)
    with pytest.raises(errors.InvalidRequestError):
        llmrouter.completion(model=MODEL, messages=USER, prompt_template="llama-2")
    with pytest.raises(errors.InvalidRequestError):
        llmrouter.embedding(model=MODEL, input="x")
    assert emu.requests == []


# --- models ---------------------------------------------------------------------------------------


def test_list_models(emu: AnthropicEmulator) -> None:
    models = llmrouter.list_models("anthropic")
    assert models and all(m.owned_by == "anthropic" for m in models)
    assert all(isinstance(m.get("display_name"), str) for m in models)
    assert emu.requests[-1].path.startswith("/v1/models")


def test_list_models_more_than_a_page_is_an_error(emu: AnthropicEmulator) -> None:
    saved = emu.models
    try:
        emu.set_models([f"claude-test-{i:04d}" for i in range(1001)])
        with pytest.raises(errors.APIError, match="has_more"):
            llmrouter.list_models("anthropic")
    finally:
        emu.set_models(saved)
