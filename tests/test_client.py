"""The core end to end: real requests over a socket to the Together emulator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmrouter
from llmrouter.testing import Fault, TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello, whats the weather in San Francisco??"}]


def test_sync_completion(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    r = llmrouter.completion(model=MODEL, messages=MESSAGES, max_tokens=30, **where)
    assert isinstance(r, llmrouter.ModelResponse)
    assert r["choices"][0]["message"]["content"] == r.choices[0].message.content
    assert r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert isinstance(r.created, int)
    assert (
        r.usage is not None
        and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    )
    ChatCompletion.model_validate(r.model_dump())
    sent = emu.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert sent.body["messages"] == MESSAGES
    assert sent.body["max_tokens"] == 30
    assert r.llmrouter.provider == "together_ai" and r.llmrouter.endpoint == "/chat/completions"


@pytest.mark.asyncio
async def test_async_completion(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    r = await llmrouter.acompletion(model=MODEL, messages=MESSAGES, **where)
    ChatCompletion.model_validate(r.model_dump())
    assert r.choices[0].message.content


def test_sync_stream(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    stream = llmrouter.completion(
        model=MODEL, messages=MESSAGES, stream=True, max_tokens=5, **where
    )
    chunks = list(stream)
    assert len(chunks) >= 5
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())
        # the tutorial's chunk['choices'][0]['delta'] works on every chunk, usage chunk included
        assert len(c["choices"]) == 1 and c["choices"][0]["index"] == 0
        delta = c["choices"][0]["delta"]
        assert "content" in delta and (
            delta["content"] is None or isinstance(delta["content"], str)
        )
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and stream.usage is not None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert emu.requests[-1].body["stream"] is True
    assert emu.requests[-1].body["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_async_stream(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    stream = await llmrouter.acompletion(model=MODEL, messages=MESSAGES, stream=True, **where)
    chunks = [c async for c in stream]
    assert chunks and chunks[-1].usage is not None
    assert all(ChatCompletionChunk.model_validate(c.model_dump()) for c in chunks)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]  # Together's "eos" normalised


def test_router_object_reuses_one_client(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    with llmrouter.Router() as router:
        first = router.http_client
        for _ in range(3):
            router.completion(model=MODEL, messages=MESSAGES, **where)
        assert router.http_client is first
    assert first.is_closed


@pytest.mark.asyncio
async def test_async_router_context(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    async with llmrouter.AsyncRouter() as router:
        r = await router.completion(model=MODEL, messages=MESSAGES, **where)
        client = router.http_client
    assert r.choices and client.is_closed


def test_timeout_and_own_client_together_are_refused(emu: TogetherEmulator) -> None:
    """A router timeout configures the client the router builds; with the caller's client it
    would be silently ignored, so the pair is refused (before any I/O)."""
    with httpx.Client() as client:
        with pytest.raises(ValueError, match="either http_client= or timeout="):
            llmrouter.Router(http_client=client, timeout=5)
        # Either one alone is fine, and the caller's client keeps its own timeout.
        assert llmrouter.Router(http_client=client).http_client.timeout == client.timeout
    with pytest.raises(ValueError, match="per call"):
        llmrouter.AsyncRouter(http_client=httpx.AsyncClient(), timeout=5)
    assert emu.requests == []


def test_unknown_provider_lists_installed(emu: TogetherEmulator) -> None:
    with pytest.raises(llmrouter.UnknownProviderError) as info:
        llmrouter.completion(model="nosuch/model", messages=MESSAGES)
    assert "together_ai" in str(info.value) and "nosuch" in str(info.value)
    assert "together_ai" in info.value.available
    assert emu.requests == []


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "", "messages": MESSAGES}, "model"),
        ({"model": "together_ai", "messages": MESSAGES}, "model"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": MODEL, "messages": MESSAGES, "temperature": 9.0}, "temperature"),
        ({"model": MODEL, "messages": MESSAGES, "temperature": "hot"}, "temperature"),
        ({"model": MODEL, "messages": MESSAGES, "bogus_option": 1}, "bogus_option"),
        ({"model": MODEL, "messages": MESSAGES, "timeout": -1}, "timeout"),
        ({"model": MODEL, "messages": MESSAGES, "api_base": "ftp://x"}, "api_base"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    emu: TogetherEmulator, where: dict[str, Any], kwargs: dict[str, Any], param: str
) -> None:
    call = {**where, **kwargs}
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        llmrouter.completion(**call)
    assert info.value.param == param
    assert emu.requests == []


def test_status_errors_are_typed_with_context(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    emu.add_fault(Fault(status=429, retry_after=3), times=1)
    with pytest.raises(llmrouter.RateLimitError) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, **where)
    err = info.value
    assert err.status_code == 429 and err.provider == "together_ai" and err.retry_after == 3.0
    assert err.model == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert err.body and "error" in err.body
    assert err.request_id


def test_connection_refused_is_api_connection_error() -> None:
    with pytest.raises(llmrouter.APIConnectionError):
        llmrouter.completion(
            model=MODEL, messages=MESSAGES, api_base="http://127.0.0.1:9/v1", api_key="k"
        )


def test_stream_cut_raises_not_short(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    emu.add_fault(Fault(cut_after=2), times=1)
    got = []
    with pytest.raises(llmrouter.APIConnectionError):
        for chunk in llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where):
            got.append(chunk)
    assert len(got) == 2


def test_stream_without_done_raises(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    emu.add_fault(Fault(no_done=True), times=1)
    with pytest.raises(llmrouter.APIConnectionError, match=r"\[DONE\]"):
        list(llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where))


@pytest.mark.asyncio
async def test_async_stream_in_band_error(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    emu.add_fault(Fault(stream_error_after=1, status=500), times=1)
    stream = await llmrouter.acompletion(model=MODEL, messages=MESSAGES, stream=True, **where)
    got = []
    with pytest.raises(llmrouter.APIError) as info:
        async for chunk in stream:
            got.append(chunk)
    assert len(got) == 1
    assert isinstance(info.value, (llmrouter.InternalServerError, llmrouter.StreamError))


def test_read_timeout_is_typed(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    emu.add_fault(Fault(delay=2.0), times=1)
    with pytest.raises(llmrouter.APITimeoutError):
        llmrouter.completion(model=MODEL, messages=MESSAGES, timeout=0.3, **where)


def test_closing_a_stream_early_releases_it(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    stream = llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
    first = next(stream)
    stream.close()
    assert first.choices
    assert list(stream) == []


def test_embedding_and_models(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    e = llmrouter.embedding(model="together_ai/BAAI/bge-large-en-v1.5", input=["a", "b"], **where)
    assert len(e.data) == 2 and e["data"][1]["index"] == 1 and e.data[0].embedding
    models = llmrouter.list_models("together_ai", **where)
    assert any(m.id == "meta-llama/Llama-3.3-70B-Instruct-Turbo" for m in models)
    assert emu.requests[-1].method == "GET" and emu.requests[-1].path == "/v1/models"


def test_chunks_before_an_in_band_error_are_all_delivered(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    """Chunks that share a network read with the error event still reach the caller first."""
    emu.add_fault(Fault(stream_error_after=3, status=503), times=1)
    got = []
    with pytest.raises(llmrouter.ServiceUnavailableError):
        for chunk in llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where):
            got.append(chunk)
    assert len(got) == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["chat", "template"])
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_in_band_error_inside_a_chunk_is_an_error(
    emu: TogetherEmulator, where: dict[str, Any], mode: str, path: str
) -> None:
    """An error event that is also a well-formed chunk (``error`` beside ``choices``) raises the
    mapped error; it is not passed through as one more (empty) chunk."""
    emu.add_fault(Fault(stream_error_after=2, status=503, error_in_chunk=True), times=1)
    extra = {"prompt_template": "llama-2"} if path == "template" else {}
    kwargs = {"model": MODEL, "messages": MESSAGES, "stream": True, **extra, **where}
    got: list[Any] = []
    with pytest.raises(llmrouter.ServiceUnavailableError, match="after 2 chunk"):
        if mode == "sync":
            for chunk in llmrouter.completion(**kwargs):
                got.append(chunk)
        else:
            async for chunk in await llmrouter.acompletion(**kwargs):
                got.append(chunk)
    assert len(got) == 2
    sent = emu.requests[-1]
    assert sent.path == ("/v1/completions" if path == "template" else "/v1/chat/completions")
    assert sent.fault is not None and "error_in_chunk" in sent.fault


def test_stream_core_holds_an_error_until_earlier_chunks_are_read() -> None:
    import json as _json

    from llmrouter._plugins import default_host
    from llmrouter._streaming import StreamCore
    from llmrouter.pipeline import Call, ChatPrompt, HTTPRequest, HTTPResponse

    call = Call(operation="chat", provider="together_ai", model="m", messages=[], stream=True)
    hooks = default_host().provider_hooks("together_ai")
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}],
    }
    blob = b"".join(
        b"data: " + _json.dumps(c).encode() + b"\n\n"
        for c in (chunk, chunk, {"error": {"message": "overloaded", "type": "overloaded_error"}})
    )
    core = StreamCore(
        hooks, call, ChatPrompt([]), HTTPRequest("POST", "http://x"), HTTPResponse(200, {}), 0.0
    )
    assert len(core.feed(blob)) == 2
    assert isinstance(core.pending, llmrouter.ServiceUnavailableError)
