"""``[gateway] engine``: which of the router's async engines calls the providers.

``native`` (the default: non-streamed calls over llmrouter's own HTTP/1.1 client, streams over
aiohttp) or ``aiohttp``. Each is driven through the gateway's app against the Together
emulator over a real socket, non-streamed and streamed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from llmrouter import _http
from llmrouter.config import ConfigError, load_config
from llmrouter.testing import TogetherEmulator
from llmrouter_gateway.app import Gateway

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"


def _config(base: str, engine: str | None) -> Any:
    data: dict[str, Any] = {
        "models": {
            "chat": {
                "deployments": [{"model": MODEL, "api_base": base, "api_key_env": "GW_ENGINE_KEY"}]
            }
        }
    }
    if engine is not None:
        data["gateway"] = {"engine": engine}
    return load_config(data)


@pytest.mark.parametrize(
    ("engine", "client"),
    [(None, _http.NativeAsyncClient), ("native", _http.NativeAsyncClient), ("aiohttp", None)],
)
def test_engine_setting_picks_the_client_and_both_answer(
    engine: str | None, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GW_ENGINE_KEY", "gw-engine-key-0000")
    with TogetherEmulator() as emu:
        gateway = Gateway(_config(emu.base_url, engine))

        async def run() -> tuple[Any, ...]:
            http_client = gateway.router.http_client
            transport = httpx.ASGITransport(app=gateway.app(), client=("127.0.0.1", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
                plain = await http.post("/v1/chat/completions", json=body)
                streamed = await http.post("/v1/chat/completions", json={**body, "stream": True})
            await gateway.router.aclose()
            return http_client, plain, streamed

        http_client, plain, streamed = asyncio.run(run())
        served = emu.stats["total"]
    if client is None:  # aiohttp: the aiohttp engine's client, not the native one
        assert type(http_client) is _http.AiohttpAsyncClient
    else:
        assert type(http_client) is client
    assert plain.status_code == 200
    assert "deterministic reply" in plain.json()["choices"][0]["message"]["content"]
    assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
    assert served == 2


def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="engine") as info:
        _config("http://127.0.0.1:9/v1", "httpx")
    assert "native" in str(info.value) and "aiohttp" in str(info.value)
