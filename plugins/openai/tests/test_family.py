"""Every preset over the wire, against a lenient OpenAI-compatible emulator on 127.0.0.1.

Each provider gets its own tenant URL (``/t/<provider>/v1``) so the request log tells them
apart; the emulator plays vLLM / Ollama / a hosted provider (extra fields accepted, key
optional).
"""

from __future__ import annotations

from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmrouter
from llmrouter.testing import Fault, OpenAIEmulator

KEYS = {
    "openai_compatible": None,
    "ollama": None,
    "groq": "gsk_TestKey0123456789",
    "fireworks_ai": "fw_TestKey0123456789",
    "deepinfra": "di-TestKey0123456789",
    "openrouter": "sk-or-v1-TestKey0123456789",
}
NAMES = sorted(KEYS)
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
MESSAGES = [{"role": "user", "content": "Tell me a joke"}]


def where(emu: OpenAIEmulator, name: str) -> dict[str, Any]:
    base = emu.base_url_for(name)
    if name == "ollama":
        base = base.removesuffix("/v1")  # Ollama's base URL gets its /v1 added
    out: dict[str, Any] = {"api_base": base}
    if KEYS[name]:
        out["api_key"] = KEYS[name]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_chat(compat: OpenAIEmulator, name: str) -> None:
    response = llmrouter.completion(
        model=f"{name}/{MODEL}", messages=MESSAGES, **where(compat, name)
    )
    assert response.choices[0].message.content
    ChatCompletion.model_validate(response.model_dump())
    sent = compat.last_request
    assert sent is not None and sent.tenant == name and sent.path.endswith("/v1/chat/completions")
    assert sent.has_key is bool(KEYS[name])
    if KEYS[name]:
        assert sent.key_matches(KEYS[name] or "")
    assert response.llmrouter.provider == name


@pytest.mark.parametrize("name", NAMES)
def test_stream(compat: OpenAIEmulator, name: str) -> None:
    stream = llmrouter.completion(
        model=f"{name}/{MODEL}", messages=MESSAGES, stream=True, **where(compat, name)
    )
    chunks = list(stream)
    assert "".join(c["choices"][0]["delta"].content or "" for c in chunks)
    assert stream.usage is not None
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.asyncio
async def test_async_stream(compat: OpenAIEmulator, name: str) -> None:
    stream = await llmrouter.acompletion(
        model=f"{name}/{MODEL}", messages=MESSAGES, stream=True, **where(compat, name)
    )
    assert [c async for c in stream]
    assert stream.usage is not None


@pytest.mark.parametrize("name", NAMES)
def test_tool_calls(compat: OpenAIEmulator, name: str) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]
    messages = [{"role": "user", "content": "find it [[emulator:tool_call]]"}]
    response = llmrouter.completion(
        model=f"{name}/{MODEL}", messages=messages, tools=tools, **where(compat, name)
    )
    assert response.choices[0].message.tool_calls[0].function.name == "lookup"


@pytest.mark.parametrize("name", [n for n in NAMES if n != "groq"])
def test_embeddings(compat: OpenAIEmulator, name: str) -> None:
    response = llmrouter.embedding(
        model=f"{name}/nomic-embed-text", input=["a", "b"], **where(compat, name)
    )
    assert len(response.data) == 2
    CreateEmbeddingResponse.model_validate(response.model_dump())


def test_groq_embeddings_are_refused_before_sending(compat: OpenAIEmulator) -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match="/embeddings"):
        llmrouter.embedding(model="groq/nomic-embed-text", input="a", **where(compat, "groq"))
    assert compat.requests == []


@pytest.mark.parametrize("name", NAMES)
def test_list_models(compat: OpenAIEmulator, name: str) -> None:
    models = llmrouter.list_models(name, **where(compat, name))
    assert MODEL in [m.id for m in models]


def test_vllm_sampling_extras_reach_the_server(compat: OpenAIEmulator) -> None:
    llmrouter.completion(
        model=f"openai_compatible/{MODEL}",
        messages=MESSAGES,
        top_k=20,
        min_p=0.05,
        repetition_penalty=1.05,
        chat_template_kwargs={"enable_thinking": False},
        **where(compat, "openai_compatible"),
    )
    sent = compat.last_request
    assert sent is not None
    assert (sent.body["top_k"], sent.body["min_p"], sent.body["repetition_penalty"]) == (
        20,
        0.05,
        1.05,
    )


def test_openai_compatible_templated_completion(compat: OpenAIEmulator) -> None:
    response = llmrouter.completion(
        model="openai_compatible/llama3.2",
        messages=MESSAGES,
        prompt_template="llama-2",
        top_k=5,
        **where(compat, "openai_compatible"),
    )
    sent = compat.last_request
    assert sent is not None and sent.path.endswith("/v1/completions")
    assert sent.body["prompt"].startswith("[INST]") and sent.body["top_k"] == 5
    assert response.choices[0].message.content


def test_groq_refuses_a_template(compat: OpenAIEmulator) -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match="/completions"):
        llmrouter.completion(
            model=f"groq/{MODEL}",
            messages=MESSAGES,
            prompt_template="llama-2",
            **where(compat, "groq"),
        )
    assert compat.requests == []


def test_openrouter_attribution_headers_are_sent(
    compat: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_SITE_URL", "https://myapp.example")
    monkeypatch.setenv("OPENROUTER_APP_NAME", "My App")
    llmrouter.completion(
        model=f"openrouter/{MODEL}",
        messages=MESSAGES,
        transforms=["middle-out"],
        **where(compat, "openrouter"),
    )
    sent = compat.last_request
    assert sent is not None
    assert sent.headers["http-referer"] == "https://myapp.example"
    assert sent.headers["x-title"] == "My App"
    assert sent.body["transforms"] == ["middle-out"]


@pytest.mark.parametrize("name", NAMES)
def test_errors_map_the_same_for_every_provider(compat: OpenAIEmulator, name: str) -> None:
    compat.add_fault(Fault(status=429, retry_after=2), tenant=name, times=1)
    with pytest.raises(llmrouter.RateLimitError) as info:
        llmrouter.completion(model=f"{name}/{MODEL}", messages=MESSAGES, **where(compat, name))
    assert info.value.provider == name and info.value.retry_after == 2.0
    with pytest.raises(llmrouter.NotFoundError):
        llmrouter.completion(
            model=f"{name}/no-such-model", messages=MESSAGES, **where(compat, name)
        )


def test_a_local_server_that_wants_a_key(compat: OpenAIEmulator) -> None:
    compat.api_key = "local-secret-123"
    with pytest.raises(llmrouter.AuthenticationError):
        llmrouter.completion(
            model=f"openai_compatible/{MODEL}",
            messages=MESSAGES,
            api_key="wrong-key-456",
            **where(compat, "openai_compatible"),
        )
    response = llmrouter.completion(
        model=f"openai_compatible/{MODEL}",
        messages=MESSAGES,
        api_key="local-secret-123",
        **where(compat, "openai_compatible"),
    )
    assert response.choices[0].message.content
