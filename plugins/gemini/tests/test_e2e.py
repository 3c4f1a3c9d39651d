"""The plugin end to end through ``llmrouter.completion``/``acompletion``/``embedding``/
``list_models`` against ``GeminiEmulator`` (strict: it refuses what Gemini's API refuses),
streaming, tools and thinking included, faults and errors too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmrouter
from llmrouter import errors
from llmrouter.testing import Fault
from llmrouter_gemini.testing import GeminiEmulator

KEY = "AIzaSyE2eTestKeyDoNotLeak0123456789abcd"
MODEL = "gemini/gemini-2.5-flash"
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
CALL_A_TOOL = "What is the weather in Paris? [[emulator:tool_call]]"


@pytest.fixture(scope="module")
def server() -> Iterator[GeminiEmulator]:
    with GeminiEmulator(api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def emu(server: GeminiEmulator, monkeypatch: pytest.MonkeyPatch) -> GeminiEmulator:
    server.reset()
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_GEMINI_BASE_URL", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_BASE", server.base_url)
    return server


def joined(chunks: list[Any]) -> dict[str, Any]:
    """A streamed answer put back together the way OpenAI's stream helpers do."""
    content, reasoning = "", ""
    calls: dict[int, dict[str, Any]] = {}
    finish = usage = None
    for chunk in chunks:
        choice = chunk.choices[0]
        delta = choice.delta
        content += delta.content or ""
        reasoning += delta.get("reasoning_content") or ""
        for piece in delta.tool_calls or ():
            entry = calls.setdefault(
                piece.index,
                {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
            )
            entry["id"] += piece.id or ""
            if piece.get("thought_signature"):
                entry["thought_signature"] = piece["thought_signature"]
            if piece.function is not None:
                entry["function"]["name"] += piece.function.name or ""
                entry["function"]["arguments"] += piece.function.arguments or ""
        finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    if reasoning:
        message["reasoning_content"] = reasoning
    return {"message": message, "finish_reason": finish, "usage": usage}


# --- plain calls ----------------------------------------------------------------------------------


def test_completion(emu: GeminiEmulator) -> None:
    response = llmrouter.completion(model=MODEL, messages=USER)
    assert response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.prompt_tokens > 0
    request = emu.requests[-1]
    assert request.path == "/v1/models/gemini-2.5-flash:generateContent"
    assert request.key_matches(KEY)
    assert "x-emulator-key-source" not in request.headers  # the key was not in the URL
    assert request.query == ""


@pytest.mark.asyncio
async def test_acompletion(emu: GeminiEmulator) -> None:
    response = await llmrouter.acompletion(model=MODEL, messages=USER, max_tokens=50)
    assert response.choices[0].message.content
    assert emu.requests[-1].body["generationConfig"] == {"maxOutputTokens": 50}


def test_stream_matches_the_non_streamed_answer(emu: GeminiEmulator) -> None:
    whole = llmrouter.completion(model=MODEL, messages=USER)
    chunks = list(llmrouter.completion(model=MODEL, messages=USER, stream=True))
    streamed = joined(chunks)
    assert streamed["message"]["content"] == whole.choices[0].message.content
    assert streamed["finish_reason"] == "stop"
    assert streamed["usage"] == whole.usage
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1


@pytest.mark.asyncio
async def test_async_stream(emu: GeminiEmulator) -> None:
    stream = await llmrouter.acompletion(model=MODEL, messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert joined(chunks)["message"]["content"]
    assert stream.usage is not None


def test_system_images_and_options_are_accepted_by_the_strict_emulator(
    emu: GeminiEmulator,
) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        },
    ]
    response = llmrouter.completion(
        model=MODEL,
        messages=messages,
        temperature=0.3,
        top_p=0.9,
        top_k=20,
        seed=1,
        presence_penalty=0.1,
        frequency_penalty=0.1,
        safety_settings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    )
    assert response.choices[0].message.content
    assert emu.requests[-1].body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


def test_stop_sequence_length_and_candidates(emu: GeminiEmulator) -> None:
    short = llmrouter.completion(model=MODEL, messages=USER, max_tokens=2)
    assert short.choices[0].finish_reason == "length"
    two = llmrouter.completion(model=MODEL, messages=USER, n=2)
    assert [c.index for c in two.choices] == [0, 1]


def test_structured_output(emu: GeminiEmulator) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    response = llmrouter.completion(
        model=MODEL,
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    )
    assert set(json.loads(response.choices[0].message.content or "")) == {"name", "age"}
    plain = llmrouter.completion(
        model=MODEL, messages=USER, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(plain.choices[0].message.content or ""), dict)


def test_reasoning_effort_brings_reasoning_content(emu: GeminiEmulator) -> None:
    response = llmrouter.completion(model=MODEL, messages=USER, reasoning_effort="low")
    message = response.choices[0].message
    assert message["reasoning_content"]
    assert response.usage is not None
    assert response.usage["completion_tokens_details"]["reasoning_tokens"] > 0
    streamed = joined(
        list(llmrouter.completion(model=MODEL, messages=USER, reasoning_effort="low", stream=True))
    )
    assert streamed["message"]["reasoning_content"] == message["reasoning_content"]


def test_v1beta(emu: GeminiEmulator) -> None:
    llmrouter.completion(model=MODEL, messages=USER, api_version="v1beta")
    assert emu.requests[-1].path.startswith("/v1beta/models/")


def test_drop_params_reaches_the_strict_emulator(emu: GeminiEmulator) -> None:
    response = llmrouter.completion(
        model=MODEL, messages=USER, user="u1", logit_bias={"1": 1}, drop_params=True
    )
    assert response.choices[0].message.content
    assert set(emu.requests[-1].body) == {"contents"}


# --- tools ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("effort", [None, "low"])
def test_tool_loop(emu: GeminiEmulator, stream: bool, effort: str | None) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": CALL_A_TOOL}]
    extra: dict[str, Any] = {"reasoning_effort": effort} if effort else {}
    if stream:
        got = joined(
            list(
                llmrouter.completion(
                    model=MODEL, messages=messages, tools=[WEATHER], stream=True, **extra
                )
            )
        )
        message, finish = got["message"], got["finish_reason"]
    else:
        response = llmrouter.completion(model=MODEL, messages=messages, tools=[WEATHER], **extra)
        message = response.choices[0].message.model_dump(exclude_none=True)
        finish = response.choices[0].finish_reason
    assert finish == "tool_calls"
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert "city" in json.loads(call["function"]["arguments"])
    messages.append(message)
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"})
    final = llmrouter.completion(model=MODEL, messages=messages, tools=[WEATHER], **extra)
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content
    sent = emu.requests[-1].body["contents"]
    assert sent[1]["role"] == "model" and "functionCall" in sent[1]["parts"][-1]
    assert sent[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"output": "18C and sunny"}}}
    ]


def test_forced_tool_choice(emu: GeminiEmulator) -> None:
    response = llmrouter.completion(
        model=MODEL,
        messages=USER,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert response.choices[0].finish_reason == "tool_calls"
    assert emu.requests[-1].body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }


# --- filters --------------------------------------------------------------------------------------


def test_blocked_prompt(emu: GeminiEmulator) -> None:
    messages = [{"role": "user", "content": "bad [[emulator:blocked]]"}]
    response = llmrouter.completion(model=MODEL, messages=messages)
    assert response.choices[0].finish_reason == "content_filter"
    assert response.choices[0].message.content == ""
    chunks = list(llmrouter.completion(model=MODEL, messages=messages, stream=True))
    assert joined(chunks)["finish_reason"] == "content_filter"


def test_safety_finish(emu: GeminiEmulator) -> None:
    messages = [{"role": "user", "content": "x [[emulator:finish:SAFETY]]"}]
    choice = llmrouter.completion(model=MODEL, messages=messages).choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice["gemini_finish_reason"] == "SAFETY"


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (500, errors.InternalServerError),
        (503, errors.ServiceUnavailableError),
        (504, errors.GatewayTimeoutError),
    ],
)
def test_error_statuses(emu: GeminiEmulator, status: int, cls: type[Exception]) -> None:
    emu.add_fault(Fault(status=status))
    with pytest.raises(cls) as info:
        llmrouter.completion(model=MODEL, messages=USER)
    error = info.value
    assert type(error) is cls
    assert isinstance(error, errors.APIStatusError)
    assert error.status_code == status and error.error_type


def test_wrong_key(emu: GeminiEmulator) -> None:
    wrong = "AIzaSyWrongKeyDoNotLeak00000000000000"
    with pytest.raises(errors.AuthenticationError) as info:
        llmrouter.completion(model=MODEL, messages=USER, api_key=wrong)
    assert wrong not in str(info.value) and wrong not in repr(info.value.body)


def test_rate_limit(emu: GeminiEmulator) -> None:
    emu.add_fault(Fault(status=429, retry_after=3))
    with pytest.raises(errors.RateLimitError) as info:
        llmrouter.completion(model=MODEL, messages=USER)
    assert info.value.retry_after == 3


def test_too_long_prompt_is_a_context_window_error(emu: GeminiEmulator) -> None:
    emu.add_model("gemini-tiny", input_token_limit=5, thinking=False)
    with pytest.raises(errors.ContextWindowExceededError):
        llmrouter.completion(
            model="gemini/gemini-tiny", messages=[{"role": "user", "content": "one " * 20}]
        )


def test_inband_error(emu: GeminiEmulator) -> None:
    emu.add_fault(Fault(stream_error_after=1))
    got: list[Any] = []
    with pytest.raises(errors.ServiceUnavailableError) as info:
        for chunk in llmrouter.completion(model=MODEL, messages=USER, stream=True):
            got.append(chunk)
    assert info.value.retryable


def test_stream_ending_before_the_finish_reason(emu: GeminiEmulator) -> None:
    emu.add_fault(Fault(no_done=True))
    with pytest.raises(errors.APIConnectionError):
        list(llmrouter.completion(model=MODEL, messages=USER, stream=True))


def test_cut_stream(emu: GeminiEmulator) -> None:
    emu.add_fault(Fault(cut_after=2))
    with pytest.raises(errors.APIConnectionError):
        list(llmrouter.completion(model=MODEL, messages=USER, stream=True))


def test_refused_before_sending(emu: GeminiEmulator) -> None:
    for params in ({"logprobs": True}, {"user": "u"}, {"parallel_tool_calls": False}):
        with pytest.raises(errors.InvalidRequestError):
            llmrouter.completion(model=MODEL, messages=USER, **params)
    with pytest.raises(errors.InvalidRequestError):
        llmrouter.completion(model=MODEL, messages=USER, prompt_template="llama-2")
    assert emu.requests == []


# --- embeddings and models ------------------------------------------------------------------------


def test_embeddings(emu: GeminiEmulator) -> None:
    response = llmrouter.embedding(
        model="gemini/gemini-embedding-001",
        input=["a river", "a mountain"],
        dimensions=8,
        task_type="RETRIEVAL_DOCUMENT",
    )
    assert [d.index for d in response.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in response.data)
    assert emu.requests[-1].path == "/v1/models/gemini-embedding-001:batchEmbedContents"


def test_list_models(emu: GeminiEmulator) -> None:
    models = llmrouter.list_models("gemini")
    ids = [m.id for m in models]
    assert "gemini-2.5-flash" in ids and all(not i.startswith("models/") for i in ids)
    assert emu.requests[-1].path == "/v1/models"


def test_list_models_more_than_a_page_is_an_error(emu: GeminiEmulator) -> None:
    saved = emu.models
    try:
        emu.set_models([f"gemini-test-{i:04d}" for i in range(1001)])
        with pytest.raises(errors.APIError, match="nextPageToken"):
            llmrouter.list_models("gemini")
    finally:
        emu.set_models(saved)


def test_final_response_and_cost_of_a_stream(emu: GeminiEmulator) -> None:
    """A Gemini stream has no end marker and usage on every chunk: the final response is parsed
    again from the events and must equal what the chunks give, with the cost of the last usage."""
    call: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": CALL_A_TOOL}],
        "tools": [WEATHER],
    }
    stream = llmrouter.completion(**call, stream=True)
    chunks = list(stream)
    whole = stream.final_response()
    assert whole.model_dump() == llmrouter.stream_chunk_builder(chunks).model_dump()
    assert whole.choices[0].message.tool_calls and whole.usage == chunks[-1].usage
    assert chunks[-1].llmrouter.cost is not None
    assert whole.llmrouter.cost == chunks[-1].llmrouter.cost == stream.llmrouter.cost
