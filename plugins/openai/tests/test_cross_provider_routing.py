"""A routing config that mixes providers: a Together alias falling back to an openai_compatible
deployment, both emulated on 127.0.0.1, through Router and AsyncRouter alike.

The Together deployment lives on the Together emulator (tenant ``xp``), the fallback on the
OpenAI-flavoured emulator playing a local vLLM (no key). Faults on the Together tenant decide
who answers; the tests count requests on each side rather than timing anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmrouter
from llmrouter.testing import Fault, OpenAIEmulator, TogetherEmulator

TOGETHER_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
LOCAL_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
KEY_ENV = "XP_TOGETHER_KEY"
KEY = "tgp_v1_CrossProviderKey_0123456789"
MESSAGES = [{"role": "user", "content": "Hello from the router"}]


def routing_config(together: TogetherEmulator, local: OpenAIEmulator) -> dict[str, Any]:
    """Alias ``chat`` (Together) falls back to alias ``local`` (an OpenAI-compatible server)."""
    return {
        "router": {"num_retries": 1, "backoff_base": 0.0, "retry_budget": 10},
        "models": {
            "chat": {
                "fallbacks": ["local"],
                "deployments": [
                    {
                        "name": "together",
                        "model": f"together_ai/{TOGETHER_MODEL}",
                        "api_base": together.base_url_for("xp"),
                        "api_key_env": KEY_ENV,
                    }
                ],
            },
            "local": {
                "deployments": [
                    {
                        "name": "vllm",
                        "model": f"openai_compatible/{LOCAL_MODEL}",
                        "api_base": local.base_url_for("xp"),
                        "options": {"top_k": 20},
                    }
                ]
            },
        },
    }


class Client:
    """One face over Router / AsyncRouter, so every test runs both ways."""

    def __init__(self, mode: str, config: dict[str, Any]) -> None:
        # An AsyncRouter opens its HTTP client lazily, inside the loop that first uses it.
        self.sync = llmrouter.Router(config=config) if mode == "sync" else None
        self.router = llmrouter.AsyncRouter(config=config) if mode == "async" else None
        self.loop = asyncio.new_event_loop() if mode == "async" else None

    def _async(self) -> llmrouter.AsyncRouter:
        assert self.router is not None
        return self.router

    def complete(self, **kw: Any) -> Any:
        if self.sync is not None:
            return self.sync.completion(model="chat", messages=MESSAGES, **kw)
        assert self.loop is not None
        return self.loop.run_until_complete(
            self._async().completion(model="chat", messages=MESSAGES, **kw)
        )

    def stream(self, **kw: Any) -> list[Any]:
        if self.sync is not None:
            return list(self.sync.completion(model="chat", messages=MESSAGES, stream=True, **kw))

        async def collect() -> list[Any]:
            stream = await self._async().completion(
                model="chat", messages=MESSAGES, stream=True, **kw
            )
            return [chunk async for chunk in stream]

        assert self.loop is not None
        return self.loop.run_until_complete(collect())

    def close(self) -> None:
        if self.sync is not None:
            self.sync.close()
        if self.loop is not None:
            if self.router is not None:
                self.loop.run_until_complete(self.router.aclose())
            self.loop.close()


@pytest.fixture
def local(compat: OpenAIEmulator) -> OpenAIEmulator:
    return compat


@pytest.fixture(params=["sync", "async"])
def client(
    request: pytest.FixtureRequest,
    emu: TogetherEmulator,
    local: OpenAIEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Client]:
    monkeypatch.setenv(KEY_ENV, KEY)
    made = Client(str(request.param), routing_config(emu, local))
    yield made
    made.close()


def on(emulator: TogetherEmulator, tenant: str = "xp") -> int:
    return sum(1 for r in emulator.requests if r.tenant == tenant)


def test_together_serves_when_healthy(
    client: Client, emu: TogetherEmulator, local: OpenAIEmulator
) -> None:
    response = client.complete()
    info = response.llmrouter
    assert (info.provider, info.alias, info.deployment, info.attempts) == (
        "together_ai",
        "chat",
        "together",
        1,
    )
    assert on(emu) == 1 and on(local) == 0
    ChatCompletion.model_validate(response.model_dump())


def test_together_outage_falls_back_to_openai_compatible(
    client: Client, emu: TogetherEmulator, local: OpenAIEmulator
) -> None:
    emu.add_fault(Fault(status=503), tenant="xp")
    response = client.complete(max_tokens=32)
    info = response.llmrouter
    assert info.provider == "openai_compatible" and info.deployment == "vllm"
    assert info.attempts == 3  # Together: first try + 1 retry; then the fallback
    assert on(emu) == 2 and on(local) == 1
    assert response.choices[0].message.content.startswith(
        "This is a deterministic reply from the OpenAI"
    )
    ChatCompletion.model_validate(response.model_dump())
    # the Together attempts carried the key from api_key_env; the local server got none, the
    # caller's option and the deployment's default option both reached it
    together_sent = [r for r in emu.requests if r.tenant == "xp"]
    assert all(r.key_matches(KEY) for r in together_sent)
    local_sent = local.last_request
    assert local_sent is not None and not local_sent.has_key
    assert local_sent.body["model"] == LOCAL_MODEL
    assert local_sent.body["max_tokens"] == 32 and local_sent.body["top_k"] == 20


def test_non_retryable_failure_falls_back_at_once(
    client: Client, emu: TogetherEmulator, local: OpenAIEmulator
) -> None:
    emu.add_fault(Fault(status=401), tenant="xp")
    response = client.complete()
    assert response.llmrouter.provider == "openai_compatible"
    assert on(emu) == 1 and on(local) == 1


def test_cut_connection_falls_back(
    client: Client, emu: TogetherEmulator, local: OpenAIEmulator
) -> None:
    emu.add_fault(Fault(cut_after=0), tenant="xp")
    response = client.complete()
    assert response.llmrouter.provider == "openai_compatible"
    assert on(local) == 1


def test_stream_fails_over_before_the_first_chunk(
    client: Client, emu: TogetherEmulator, local: OpenAIEmulator
) -> None:
    emu.add_fault(Fault(status=500), tenant="xp")
    chunks = client.stream()
    text = "".join(c["choices"][0]["delta"].content or "" for c in chunks)
    assert text.startswith("This is a deterministic reply from the OpenAI")
    assert chunks[-1].usage is not None
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump())
    assert on(emu) == 2 and on(local) == 1
    sent = local.last_request
    assert sent is not None and sent.body["stream_options"] == {"include_usage": True}


def test_both_down_lists_both_providers(
    client: Client, emu: TogetherEmulator, local: OpenAIEmulator
) -> None:
    emu.add_fault(Fault(status=503), tenant="xp")
    local.add_fault(Fault(status=502), tenant="xp")
    with pytest.raises(llmrouter.AllDeploymentsFailedError) as info:
        client.complete()
    tried = [(name, type(error).__name__) for name, error in info.value.attempts]
    assert {name for name, _ in tried} >= {"together", "vllm"}
    assert ("vllm", "InternalServerError") in tried
    assert isinstance(info.value.__cause__, llmrouter.InternalServerError)
    assert on(emu) == 2 and on(local) == 2


def test_bad_arguments_stop_before_any_fallback(
    client: Client, emu: TogetherEmulator, local: OpenAIEmulator
) -> None:
    with pytest.raises(llmrouter.InvalidRequestError):
        client.complete(temperature=5)
    assert on(emu) == 0 and on(local) == 0
