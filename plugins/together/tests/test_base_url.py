"""Together's base URL: one rule for ``api_base=``, a deployment's ``api_base`` and the variables.

docs/providers/together.md promises that a base without ``/v1`` gets it. Before issue 14 only
the environment variables got it: ``api_base="http://host:port"`` sent ``POST /chat/completions``,
which Together (and the emulator) answer with a 404.
"""

from __future__ import annotations

from typing import Any

import pytest

import llmrouter
from llmrouter.config import load_config
from llmrouter.pipeline import Call
from llmrouter.testing import TogetherEmulator
from llmrouter_together.dialect import DEFAULT_API_BASE
from llmrouter_together.plugin import provider

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
EMBED = "together_ai/BAAI/bge-base-en-v1.5"
MESSAGES = [{"role": "user", "content": "Hello"}]
KEY = "tgp_v1_BaseUrlTestKey_0123456789"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_api_base_argument_with_or_without_v1(emu: TogetherEmulator, suffix: str) -> None:
    base = emu.url + suffix
    with llmrouter.Router() as router:
        router.completion(MODEL, MESSAGES, api_base=base, api_key=KEY, max_tokens=3)
        router.embedding(EMBED, "hi", api_base=base, api_key=KEY)
        router.list_models("together_ai", api_base=base, api_key=KEY)
    assert [r.path for r in emu.requests] == [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/models",
    ]
    assert all(r.status == 200 for r in emu.requests)


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
async def test_api_base_without_v1_async(emu: TogetherEmulator, stream: bool) -> None:
    async with llmrouter.AsyncRouter() as router:
        result: Any = await router.completion(
            MODEL, MESSAGES, stream=stream, api_base=emu.url, api_key=KEY, max_tokens=3
        )
        if stream:
            chunks = [chunk async for chunk in result]
            assert chunks
    assert [r.path for r in emu.requests] == ["/v1/chat/completions"]
    assert emu.requests[0].status == 200


def test_a_path_before_v1_is_kept(emu: TogetherEmulator) -> None:
    """A gateway or tenant prefix stays in front of the added ``/v1``."""
    llmrouter.completion(
        model=MODEL, messages=MESSAGES, api_base=f"{emu.url}/t/gw", api_key=KEY, max_tokens=3
    )
    (request,) = emu.requests
    assert request.path == "/t/gw/v1/chat/completions"
    assert request.tenant == "gw" and request.status == 200


def test_deployment_api_base_without_v1(emu: TogetherEmulator) -> None:
    config = load_config(
        {"models": {"chat": {"deployments": [{"model": MODEL, "api_base": emu.url, "name": "d"}]}}}
    )
    with llmrouter.Router(config=config) as router:
        response = router.completion("chat", MESSAGES, api_key=KEY, max_tokens=3)
    assert response.llmrouter.deployment == "d"
    assert [r.path for r in emu.requests] == ["/v1/chat/completions"]


@pytest.mark.parametrize(
    ("api_base", "env", "expected"),
    [
        (None, {}, DEFAULT_API_BASE),
        ("https://proxy.example", {}, "https://proxy.example/v1"),
        ("https://proxy.example/v1", {}, "https://proxy.example/v1"),
        ("https://gw.example/together", {}, "https://gw.example/together/v1"),
        # the argument beats the variables, and gets /v1 just the same
        (
            "https://arg.example",
            {"TOGETHERAI_API_BASE": "https://env.example"},
            "https://arg.example/v1",
        ),
        (None, {"TOGETHERAI_API_BASE": "https://env.example/"}, "https://env.example/v1"),
        (None, {"TOGETHER_BASE_URL": "https://other.example/v1"}, "https://other.example/v1"),
    ],
)
def test_base_rule(
    monkeypatch: pytest.MonkeyPatch, api_base: str | None, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    call = Call(operation="chat", provider="together_ai", model="m", api_base=api_base)
    assert provider.base_url(call) == expected
