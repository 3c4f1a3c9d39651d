"""A routing alias that falls back Gemini -> Anthropic -> Together: three wires, one call.

All three services are emulated on 127.0.0.1; faults decide who answers, and the tests count
the requests each side received rather than timing anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import llmrouter
from llmrouter.testing import Fault, TogetherEmulator
from llmrouter_anthropic.testing import AnthropicEmulator
from llmrouter_gemini.testing import GeminiEmulator

KEYS = {
    "RG_GEMINI_KEY": "AIza-RoutingGeminiKey-0123456789",
    "RG_CLAUDE_KEY": "sk-ant-api03-RoutingClaudeKey-0123456789",
    "RG_TOGETHER_KEY": "tgp_v1_RoutingTogetherKey_0123456789",
}
MESSAGES = [{"role": "user", "content": "Hello from the router"}]
Servers = tuple[GeminiEmulator, AnthropicEmulator, TogetherEmulator]


def config(
    gemini: GeminiEmulator, claude: AnthropicEmulator, together: TogetherEmulator
) -> dict[str, Any]:
    def deployment(name: str, model: str, base: str, key: str) -> dict[str, Any]:
        return {"name": name, "model": model, "api_base": base, "api_key_env": key}

    return {
        "router": {"num_retries": 0, "backoff_base": 0.0},
        "models": {
            "chat": {
                "fallbacks": ["claude", "together"],
                "deployments": [
                    deployment(
                        "gemini", "gemini/gemini-2.5-flash", gemini.base_url, "RG_GEMINI_KEY"
                    )
                ],
            },
            "claude": {
                "deployments": [
                    deployment(
                        "claude", "anthropic/claude-sonnet-4-6", claude.base_url, "RG_CLAUDE_KEY"
                    )
                ]
            },
            "together": {
                "deployments": [
                    deployment(
                        "together",
                        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
                        together.base_url,
                        "RG_TOGETHER_KEY",
                    )
                ]
            },
        },
    }


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    with GeminiEmulator() as gemini, AnthropicEmulator() as claude, TogetherEmulator() as together:
        yield gemini, claude, together


def ask(mode: str, cfg: dict[str, Any], *, stream: bool) -> str:
    if mode == "sync":
        with llmrouter.Router(config=cfg) as router:
            if not stream:
                return (
                    router.completion(model="chat", messages=MESSAGES).choices[0].message.content
                    or ""
                )
            chunks = list(router.completion(model="chat", messages=MESSAGES, stream=True))
    else:

        async def run() -> Any:
            async with llmrouter.AsyncRouter(config=cfg) as router:
                if not stream:
                    return await router.completion(model="chat", messages=MESSAGES)
                answer = await router.completion(model="chat", messages=MESSAGES, stream=True)
                return [c async for c in answer]

        result = asyncio.run(run())
        if not stream:
            return result.choices[0].message.content or ""
        chunks = result
    return "".join(c.choices[0].delta.content or "" for c in chunks)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gemini_then_anthropic_then_together(servers: Servers, mode: str, stream: bool) -> None:
    gemini, claude, together = servers
    cfg = config(gemini, claude, together)
    assert ask(mode, cfg, stream=stream).startswith("This is a deterministic reply from the Gemini")

    gemini.add_fault(Fault(status=503))
    assert ask(mode, cfg, stream=stream).startswith(
        "This is a deterministic reply from the Anthropic"
    )

    claude.add_fault(Fault(status=529))
    assert ask(mode, cfg, stream=stream).startswith(
        "This is a deterministic reply from the Together"
    )
    assert (len(gemini.requests), len(claude.requests), len(together.requests)) == (3, 2, 1)
    assert (
        ":streamGenerateContent" in gemini.requests[0].path
        if stream
        else ":generateContent" in gemini.requests[0].path
    )
    assert all(r.key_matches(KEYS["RG_GEMINI_KEY"]) for r in gemini.requests)


def test_a_deployment_pins_the_api_version(servers: Servers) -> None:
    """``api_version`` in a deployment's options reaches the URL of every call routed there."""
    gemini, claude, together = servers
    cfg = config(gemini, claude, together)
    cfg["models"]["chat"]["deployments"][0]["options"] = {"api_version": "v1beta"}
    with llmrouter.Router(config=cfg) as router:
        router.completion(model="chat", messages=MESSAGES)
    assert gemini.requests[-1].path == "/v1beta/models/gemini-2.5-flash:generateContent"
