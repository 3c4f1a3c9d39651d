"""The ``openai`` provider end to end against the OpenAI emulator on 127.0.0.1.

Chat, streaming with usage, async, tool calls, JSON mode, embeddings, model listing, the
client-side template path, errors over the wire, key redaction, and the responses checked
against the official ``openai`` SDK's types.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmrouter
from llmrouter.testing import Fault, OpenAIEmulator
from llmrouter_openai.errors import InsufficientQuotaError

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Hello, whats the weather in San Francisco??"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city"],
            },
        },
    }
]


# --- chat -----------------------------------------------------------------------------------------


def test_chat(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    response = llmrouter.completion(model=MODEL, messages=MESSAGES, max_tokens=64, **at_oai)
    assert response["choices"][0]["message"]["content"].startswith("This is a deterministic")
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens == response.usage.prompt_tokens + (
        response.usage.completion_tokens
    )
    assert "prompt" not in response and "seed" not in response.choices[0]
    ChatCompletion.model_validate(response.model_dump())
    sent = oai.last_request
    assert sent is not None and sent.path == "/v1/chat/completions"
    assert sent.body == {"model": "gpt-4o-mini", "messages": MESSAGES, "max_completion_tokens": 64}
    assert sent.key_matches(at_oai["api_key"])
    info = response.llmrouter
    assert info.provider == "openai" and info.endpoint == "/chat/completions"
    assert info.request_id and info.request_id.startswith("req_")


def test_chat_length_and_n(at_oai: dict[str, Any]) -> None:
    response = llmrouter.completion(model=MODEL, messages=MESSAGES, max_tokens=3, n=2, **at_oai)
    assert [c.finish_reason for c in response.choices] == ["length", "length"]
    ChatCompletion.model_validate(response.model_dump())


def test_chat_logprobs(at_oai: dict[str, Any]) -> None:
    response = llmrouter.completion(model=MODEL, messages=MESSAGES, top_logprobs=2, **at_oai)
    content = response.choices[0].logprobs["content"]
    assert content and len(content[0]["top_logprobs"]) == 2
    ChatCompletion.model_validate(response.model_dump())


@pytest.mark.asyncio
async def test_chat_async(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    response = await llmrouter.acompletion(model=MODEL, messages=MESSAGES, **at_oai)
    assert response.choices[0].message.content
    ChatCompletion.model_validate(response.model_dump())


def test_developer_role_and_multimodal_content(at_oai: dict[str, Any]) -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Describe this"}]},
    ]
    assert llmrouter.completion(model=MODEL, messages=messages, **at_oai).choices[0].message


# --- streaming ------------------------------------------------------------------------------------


def test_stream_with_usage(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    stream = llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **at_oai)
    chunks = list(stream)
    # the tutorial's loop works on every chunk, the usage chunk included
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    text = "".join(d.content or "" for d in deltas)
    assert text.startswith("This is a deterministic")
    assert chunks[-1].usage is not None and stream.usage is chunks[-1].usage
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())
    sent = oai.last_request
    assert sent is not None and sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_stream_async(at_oai: dict[str, Any]) -> None:
    stream = await llmrouter.acompletion(model=MODEL, messages=MESSAGES, stream=True, **at_oai)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert stream.usage is not None and stream.usage.completion_tokens > 0


def test_stream_cut_is_an_error_not_a_short_answer(
    oai: OpenAIEmulator, at_oai: dict[str, Any]
) -> None:
    oai.add_fault(Fault(cut_after=3), times=1)
    with pytest.raises(llmrouter.APIConnectionError):
        list(llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **at_oai))


def test_stream_without_done_is_an_error(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    oai.add_fault(Fault(no_done=True), times=1)
    with pytest.raises(llmrouter.APIConnectionError, match=r"\[DONE\]"):
        list(llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **at_oai))


def test_in_band_stream_error_is_typed(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    # the event carries type/code, not a status: server_error -> 500, a code -> its class
    oai.add_fault(Fault(stream_error_after=2, status=503), times=1)
    received: list[Any] = []
    with pytest.raises(llmrouter.InternalServerError, match="after 2 chunk"):
        for chunk in llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **at_oai):
            received.append(chunk)
    assert len(received) == 2
    oai.add_fault(Fault(stream_error_after=1, status=429), times=1)
    with pytest.raises(llmrouter.RateLimitError):
        list(llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **at_oai))


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["chat", "template"])
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_in_band_error_inside_a_chunk_is_an_error(
    oai: OpenAIEmulator, at_oai: dict[str, Any], mode: str, path: str
) -> None:
    """An error event that is also a valid chunk (``error`` beside ``choices``) raises the mapped
    error instead of reaching the caller as one more chunk."""
    oai.add_fault(Fault(stream_error_after=2, status=429, error_in_chunk=True), times=1)
    if path == "template":
        target = {"model": "openai/gpt-3.5-turbo-instruct", "prompt_template": "llama-2"}
    else:
        target = {"model": MODEL}
    kwargs = {"messages": MESSAGES, "stream": True, **target, **at_oai}
    received: list[Any] = []
    with pytest.raises(llmrouter.RateLimitError, match="after 2 chunk"):
        if mode == "sync":
            for chunk in llmrouter.completion(**kwargs):
                received.append(chunk)
        else:
            async for chunk in await llmrouter.acompletion(**kwargs):
                received.append(chunk)
    assert len(received) == 2
    sent = oai.requests[-1]
    assert sent.path == ("/v1/completions" if path == "template" else "/v1/chat/completions")
    assert sent.fault is not None and "error_in_chunk" in sent.fault


# --- tools and JSON mode --------------------------------------------------------------------------


def test_tool_call(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    response = llmrouter.completion(
        model=MODEL,
        messages=MESSAGES,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        **at_oai,
    )
    choice = response.choices[0]
    call = choice.message.tool_calls[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example city", "unit": "c"}
    ChatCompletion.model_validate(response.model_dump())
    # OpenAI's object form of tool_choice is sent as is (unlike Together's)
    sent = oai.last_request
    assert sent is not None and sent.body["tool_choice"]["type"] == "function"

    # the conversation continues with the tool's answer
    follow_up = [
        *MESSAGES,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 18}'},
    ]
    final = llmrouter.completion(model=MODEL, messages=follow_up, tools=TOOLS, **at_oai)
    assert final.choices[0].finish_reason == "stop"


def test_tool_call_stream(at_oai: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": "weather? [[emulator:tool_call]]"}]
    chunks = list(
        llmrouter.completion(model=MODEL, messages=messages, tools=TOOLS, stream=True, **at_oai)
    )
    name, arguments, ids = "", "", []
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())
        for delta in c.choices[0].delta.tool_calls or ():
            assert delta.index == 0
            if delta.id:
                ids.append(delta.id)
            if delta.function is not None:
                name += delta.function.name or ""
                arguments += delta.function.arguments or ""
    assert name == "get_weather" and len(ids) == 1
    assert json.loads(arguments)["city"] == "example city"
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == [
        "tool_calls"
    ]


def test_json_mode(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    response = llmrouter.completion(
        model=MODEL, messages=MESSAGES, response_format={"type": "json_object"}, **at_oai
    )
    assert "reply" in json.loads(response.choices[0].message.content)
    sent = oai.last_request
    assert sent is not None and sent.body["response_format"] == {"type": "json_object"}


def test_structured_output(at_oai: dict[str, Any]) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"],
        "additionalProperties": False,
    }
    response = llmrouter.completion(
        model=MODEL,
        messages=MESSAGES,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema, "strict": True},
        },
        **at_oai,
    )
    data = json.loads(response.choices[0].message.content)
    assert set(data) == {"answer", "confidence"}


# --- embeddings, models, templates ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", [None, "float", "base64"])
def test_embeddings(oai: OpenAIEmulator, at_oai: dict[str, Any], encoding: str | None) -> None:
    params = {"encoding_format": encoding} if encoding else {}
    response = llmrouter.embedding(
        model="openai/text-embedding-3-small",
        input=["good morning", "hello"],
        dimensions=16,
        **params,
        **at_oai,
    )
    assert [len(d.embedding) for d in response.data] == [16, 16]
    assert all(isinstance(v, float) for v in response.data[0].embedding)
    CreateEmbeddingResponse.model_validate(response.model_dump())
    sent = oai.last_request
    assert sent is not None and sent.path == "/v1/embeddings" and sent.body["dimensions"] == 16


def test_base64_and_float_embeddings_agree(at_oai: dict[str, Any]) -> None:
    plain = llmrouter.embedding(model="openai/text-embedding-3-small", input="x", **at_oai)
    packed = llmrouter.embedding(
        model="openai/text-embedding-3-small", input="x", encoding_format="base64", **at_oai
    )
    assert packed.data[0].embedding == pytest.approx(plain.data[0].embedding, abs=1e-6)


@pytest.mark.asyncio
async def test_embeddings_async(at_oai: dict[str, Any]) -> None:
    response = await llmrouter.aembedding(
        model="openai/text-embedding-3-small", input="hi", **at_oai
    )
    assert len(response.data) == 1


def test_list_models(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    models = llmrouter.list_models("openai", **at_oai)
    ids = [m.id for m in models]
    assert "gpt-4o-mini" in ids and "text-embedding-3-small" in ids
    for m in models:
        Model.model_validate(m.model_dump())
    sent = oai.last_request
    assert sent is not None and sent.method == "GET" and sent.path == "/v1/models"


@pytest.mark.asyncio
async def test_list_models_async(at_oai: dict[str, Any]) -> None:
    assert await llmrouter.alist_models("openai", **at_oai)


def test_template_sends_a_rendered_prompt_to_completions(
    oai: OpenAIEmulator, at_oai: dict[str, Any]
) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    response = llmrouter.completion(
        model="openai/gpt-3.5-turbo-instruct",
        messages=messages,
        prompt_template="llama-2",
        max_tokens=50,
        **at_oai,
    )
    sent = oai.last_request
    assert sent is not None and sent.path == "/v1/completions"
    assert sent.body["prompt"] == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]"
    assert sent.body["max_tokens"] == 50 and "</s>" in sent.body["stop"]
    assert response.object == "chat.completion" and response.choices[0].message.content
    assert response.llmrouter.endpoint == "/completions"
    ChatCompletion.model_validate(response.model_dump())

    chunks = list(
        llmrouter.completion(
            model="openai/gpt-3.5-turbo-instruct",
            messages=messages,
            prompt_template="llama-2",
            stream=True,
            **at_oai,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].usage is not None
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())


def test_template_logprobs_come_back_chat_shaped(at_oai: dict[str, Any]) -> None:
    response = llmrouter.completion(
        model="openai/gpt-3.5-turbo-instruct",
        messages=MESSAGES,
        prompt_template="llama-2",
        logprobs=True,
        top_logprobs=2,
        **at_oai,
    )
    ChatCompletion.model_validate(response.model_dump())
    assert response.choices[0].logprobs["content"][0]["top_logprobs"]


# --- errors over the wire -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, llmrouter.BadRequestError),
        (401, llmrouter.AuthenticationError),
        (403, llmrouter.PermissionDeniedError),
        (404, llmrouter.NotFoundError),
        (409, llmrouter.ConflictError),
        (422, llmrouter.UnprocessableEntityError),
        (429, llmrouter.RateLimitError),
        (500, llmrouter.InternalServerError),
        (502, llmrouter.InternalServerError),
        (503, llmrouter.ServiceUnavailableError),
        (504, llmrouter.GatewayTimeoutError),
    ],
)
def test_status_mapping_over_the_wire(
    oai: OpenAIEmulator, at_oai: dict[str, Any], status: int, cls: type
) -> None:
    oai.add_fault(Fault(status=status), times=1)
    with pytest.raises(cls) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, **at_oai)
    assert type(info.value) is cls and info.value.status_code == status
    assert info.value.request_id and info.value.request_id.startswith("req_")


def test_wrong_key(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    oai.api_key = "sk-the-right-one-0000000000"
    with pytest.raises(llmrouter.AuthenticationError) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, **at_oai)
    assert info.value.code == "invalid_api_key"
    assert at_oai["api_key"] not in str(info.value) + repr(info.value)


def test_unknown_model(at_oai: dict[str, Any]) -> None:
    with pytest.raises(llmrouter.NotFoundError) as info:
        llmrouter.completion(model="openai/gpt-9", messages=MESSAGES, **at_oai)
    assert info.value.code == "model_not_found"


def test_context_window(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    oai.add_model("tiny-model", context_length=8)
    long = [{"role": "user", "content": "word " * 20}]
    with pytest.raises(llmrouter.ContextWindowExceededError) as info:
        llmrouter.completion(model="openai/tiny-model", messages=long, **at_oai)
    assert info.value.code == "context_length_exceeded" and info.value.status_code == 400


def test_insufficient_quota(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    oai.add_fault(Fault(status=429, code="insufficient_quota"), times=1)
    with pytest.raises(llmrouter.RateLimitError) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, **at_oai)
    assert isinstance(info.value, InsufficientQuotaError) and not info.value.retryable
    assert "quota" in str(info.value)


def test_rate_limit_headers(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    oai.add_fault(Fault(status=429, ratelimit_reset=12), times=1)
    with pytest.raises(llmrouter.RateLimitError) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, **at_oai)
    error = info.value
    assert error.retry_after == pytest.approx(12.0)
    assert error.rate_limit["reset-requests"] == "12s"
    assert error.rate_limit["remaining-requests"] == "0"
    oai.add_fault(Fault(status=429, retry_after_ms=1500), times=1)
    with pytest.raises(llmrouter.RateLimitError) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, **at_oai)
    assert info.value.retry_after == pytest.approx(1.5)


def test_strict_server_rejects_unknown_fields(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    # what the plugin validates away would be a 400 at OpenAI; extra_body reaches the server
    with pytest.raises(llmrouter.BadRequestError, match="Unrecognized request argument"):
        llmrouter.completion(model=MODEL, messages=MESSAGES, extra_body={"top_k": 3}, **at_oai)


def test_malformed_body(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> None:
    oai.add_fault(Fault(malformed=True), times=1)
    with pytest.raises(llmrouter.APIError, match="cannot read"):
        llmrouter.completion(model=MODEL, messages=MESSAGES, **at_oai)


def test_key_never_reaches_the_logs(
    oai: OpenAIEmulator, at_oai: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    oai.add_fault(
        Fault(status=401, message=f"Incorrect API key provided: {at_oai['api_key']}"), times=1
    )
    with pytest.raises(llmrouter.AuthenticationError) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, **at_oai)
    llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=oai.base_url, api_key="x" * 40)
    assert caplog.records
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert at_oai["api_key"] not in logged
    assert at_oai["api_key"] not in str(info.value) + repr(info.value)
    assert at_oai["api_key"] not in json.dumps(info.value.body)
    for record in oai.requests:
        assert at_oai["api_key"] not in json.dumps(record.headers)
