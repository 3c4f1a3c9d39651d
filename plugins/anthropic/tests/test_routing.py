"""A routing alias whose deployments are Together and Anthropic falls back across them, both ways,
sync and async, streamed or not: one OpenAI-shaped call, two wires.

Both services are emulated on 127.0.0.1; faults decide who answers, and the tests count the
requests each side received rather than timing anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import llmrouter
from llmrouter.testing import Fault, TogetherEmulator
from llmrouter_anthropic.testing import AnthropicEmulator

TOGETHER_MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
CLAUDE_MODEL = "anthropic/claude-sonnet-4-6"
KEYS = {
    "RT_TOGETHER_KEY": "tgp_v1_RoutingTogetherKey_0123456789",
    "RT_CLAUDE_KEY": "sk-ant-api03-RoutingClaudeKey-0123456789",
}
MESSAGES = [{"role": "user", "content": "Hello from the router"}]


def config(together: TogetherEmulator, claude: AnthropicEmulator, first: str) -> dict[str, Any]:
    deployments = {
        "together": {
            "name": "together",
            "model": TOGETHER_MODEL,
            "api_base": together.base_url,
            "api_key_env": "RT_TOGETHER_KEY",
        },
        "claude": {
            "name": "claude",
            "model": CLAUDE_MODEL,
            "api_base": claude.base_url,
            "api_key_env": "RT_CLAUDE_KEY",
            "options": {"max_tokens": 64},
        },
    }
    second = "claude" if first == "together" else "together"
    return {
        "router": {"num_retries": 0, "backoff_base": 0.0},
        "models": {
            "chat": {"fallbacks": ["backup"], "deployments": [deployments[first]]},
            "backup": {"deployments": [deployments[second]]},
        },
    }


@pytest.fixture
def emulators(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[TogetherEmulator, AnthropicEmulator]]:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        yield together, claude


def call(mode: str, cfg: dict[str, Any], *, stream: bool) -> tuple[str, Any]:
    """(the text, the response or the last chunk) through a Router or an AsyncRouter."""
    if mode == "sync":
        with llmrouter.Router(config=cfg) as router:
            if not stream:
                response = router.completion(model="chat", messages=MESSAGES)
                return response.choices[0].message.content or "", response
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
            return result.choices[0].message.content or "", result
        chunks = result
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    return text, chunks[-1]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("first", "down"), [("together", "Together"), ("claude", "Anthropic")])
def test_an_outage_falls_back_to_the_other_wire(
    emulators: tuple[TogetherEmulator, AnthropicEmulator],
    mode: str,
    stream: bool,
    first: str,
    down: str,
) -> None:
    together, claude = emulators
    failing = together if first == "together" else claude
    failing.add_fault(Fault(status=503))
    text, last = call(mode, config(together, claude, first), stream=stream)
    served_by = "Anthropic" if first == "together" else "Together"
    assert text.startswith(f"This is a deterministic reply from the {served_by} emulator")
    assert last.usage is not None and last.usage.total_tokens > 0
    assert len(together.requests) == 1 and len(claude.requests) == 1
    # each side got its own wire and its own key
    sent_claude = claude.requests[0]
    assert sent_claude.path == "/v1/messages" and sent_claude.body["max_tokens"] == 64
    assert sent_claude.key_matches(KEYS["RT_CLAUDE_KEY"])
    assert together.requests[0].path == "/v1/chat/completions"
    assert together.requests[0].key_matches(KEYS["RT_TOGETHER_KEY"])
    if not stream:
        assert last.llmrouter.provider == ("anthropic" if first == "together" else "together_ai")
        assert last.llmrouter.attempts == 2


def test_both_down_names_both_providers(
    emulators: tuple[TogetherEmulator, AnthropicEmulator],
) -> None:
    together, claude = emulators
    together.add_fault(Fault(status=503))
    claude.add_fault(Fault(status=529))
    with pytest.raises(llmrouter.AllDeploymentsFailedError) as info:
        call("sync", config(together, claude, "together"), stream=False)
    text = str(info.value)
    assert "together_ai" in text and "anthropic" in text


def test_a_deployment_pins_the_old_api_version(
    emulators: tuple[TogetherEmulator, AnthropicEmulator],
) -> None:
    """``anthropic_version`` in a deployment's options pins it for every call routed there."""
    together, claude = emulators
    cfg = config(together, claude, "claude")
    deployment = cfg["models"]["chat"]["deployments"][0]
    deployment["options"] = {"anthropic_version": "2023-06-01", "temperature": 0.2}
    with llmrouter.Router(config=cfg) as router:
        response = router.completion(model="chat", messages=MESSAGES, max_tokens=16)
    assert response.llmrouter.deployment == "claude"
    sent = claude.requests[-1]
    assert sent.headers["anthropic-version"] == "2023-06-01" and "x-api-key" in sent.headers
    assert sent.body["temperature"] == 0.2 and sent.body["max_tokens"] == 16
    assert together.requests == []
