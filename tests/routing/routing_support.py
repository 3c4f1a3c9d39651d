"""Helpers for the routing tests: a fake clock, configs on emulator tenants, and one client
interface over Router and AsyncRouter so a single suite runs against both."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmrouter
from llmrouter.testing import TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello there"}]
KEY_ENV = "LLMROUTER_TEST_ROUTING_KEY"
KEY = "tgp_v1_RoutingTestKey_DoNotLeak_0123456789"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def deployment(emu: TogetherEmulator, tenant: str, **extra: Any) -> dict[str, Any]:
    """A deployment of the chat model served under the emulator tenant ``tenant``."""
    return {
        "model": MODEL,
        "name": tenant,
        "api_base": emu.base_url_for(tenant),
        "api_key_env": KEY_ENV,
        **extra,
    }


def config(models: dict[str, Any], **router: Any) -> dict[str, Any]:
    """A config with fast backoffs (tests never wait long) plus ``router`` overrides."""
    settings: dict[str, Any] = {"backoff_base": 0.001, "backoff_max": 0.01, "num_retries": 2}
    settings.update(router)
    return {"router": settings, "models": models}


class Client:
    """``Router`` or ``AsyncRouter`` behind one synchronous interface (async calls run on a
    private event loop), so each end-to-end test runs in both modes."""

    def __init__(self, mode: str, cfg: Any) -> None:
        self.mode = mode
        if mode == "sync":
            self.router: Any = llmrouter.Router(config=cfg)
            self._loop: asyncio.AbstractEventLoop | None = None
        else:
            self._loop = asyncio.new_event_loop()
            self.router = llmrouter.AsyncRouter(config=cfg)

    @property
    def routing(self) -> Any:
        return self.router.routing

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None
        return self._loop.run_until_complete(coro)

    def complete(self, model: str, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return self.router.completion(model, MESSAGES, **kwargs)
        return self._run(self.router.completion(model, MESSAGES, **kwargs))

    def embed(self, model: str, text: str) -> Any:
        if self.mode == "sync":
            return self.router.embedding(model, text)
        return self._run(self.router.embedding(model, text))

    def stream(self, model: str, **kwargs: Any) -> tuple[Any, list[Any], BaseException | None]:
        """Open a stream and read it to the end: (the stream, chunks read, the error raised by
        the iterator or None). An error raised by the call itself propagates."""
        if self.mode == "sync":
            stream = self.router.completion(model, MESSAGES, stream=True, **kwargs)
            chunks: list[Any] = []
            try:
                for chunk in stream:
                    chunks.append(chunk)
            except llmrouter.LLMRouterError as exc:
                return stream, chunks, exc
            return stream, chunks, None

        async def go() -> tuple[Any, list[Any], BaseException | None]:
            stream = await self.router.completion(model, MESSAGES, stream=True, **kwargs)
            got: list[Any] = []
            try:
                async for chunk in stream:
                    got.append(chunk)
            except llmrouter.LLMRouterError as exc:
                return stream, got, exc
            return stream, got, None

        return self._run(go())  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.mode == "sync":
            self.router.close()
            return
        assert self._loop is not None
        self._loop.run_until_complete(self.router.aclose())
        self._loop.close()


def attempt_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The structured ``llmrouter.attempt`` events captured so far."""
    return [
        r.llmrouter  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "llmrouter", {}).get("event") == "llmrouter.attempt"
    ]


def call_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The structured ``llmrouter.call`` events (one per user call) captured so far."""
    return [
        r.llmrouter  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "llmrouter", {}).get("event") == "llmrouter.call"
    ]


def tenant_requests(emu: TogetherEmulator, tenant: str) -> int:
    return sum(1 for r in emu.requests if r.tenant == tenant)
