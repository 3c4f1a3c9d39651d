"""The core's side of the two cache hooks, with hand-written plugins: what a hit does, and that
no failing or misbehaving cache plugin can fail a call (llmrouter.cache has its own tests)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import pytest

import llmrouter
from llmrouter import PluginHost, hookimpl
from llmrouter.pipeline import Call, CallOutcome, HTTPRequest
from llmrouter.testing import TogetherEmulator
from llmrouter.types import ModelResponse

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello"}]


def canned() -> ModelResponse:
    return ModelResponse(
        id="cached-1",
        model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        choices=[{"message": {"content": "from the cache"}, "finish_reason": "stop"}],
        usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    )


class Ends:
    def __init__(self) -> None:
        self.outcomes: list[CallOutcome] = []

    @hookimpl
    def llmrouter_call_end(self, outcome: CallOutcome) -> None:
        self.outcomes.append(outcome)


def host_with(*plugins: object) -> tuple[PluginHost, Ends]:
    host = PluginHost()
    ends = Ends()
    host.register_plugin(ends)
    for plugin in plugins:
        host.register_plugin(plugin)
    return host, ends


class Answers:
    def __init__(self, value: Any = None, *, raises: bool = False) -> None:
        self.value = value
        self.raises = raises
        self.stored: list[Any] = []

    @hookimpl
    def llmrouter_cache_lookup(self, call: Call, request: HTTPRequest, asynchronous: bool) -> Any:
        if self.raises:
            raise ConnectionError("cache down")
        return self.value() if callable(self.value) else self.value

    @hookimpl
    def llmrouter_cache_store(
        self, call: Call, request: HTTPRequest, response: Any, asynchronous: bool
    ) -> None:
        if self.raises:
            raise ConnectionError("cache down")
        self.stored.append(response)


def test_a_hit_sends_nothing_and_says_so(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    host, ends = host_with(Answers(canned))
    with llmrouter.Router(plugin_host=host) as router:
        r = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert emu.requests == []
    assert r.choices[0].message.content == "from the cache"
    info = r.llmrouter
    assert info.cache_hit and info.cost == Decimal(0) and info.attempts == 0
    assert info.provider == "together_ai" and info.request_id is None
    (outcome,) = ends.outcomes
    assert outcome.cache_hit and outcome.cost == 0 and outcome.attempts == 0
    assert outcome.response is r


def test_a_hit_replays_as_a_stream(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    host, ends = host_with(Answers(canned))
    with llmrouter.Router(plugin_host=host) as router:
        stream = router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        chunks = list(stream)
    assert emu.requests == []
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "from the cache"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is not None
    assert stream.llmrouter.cache_hit and stream.llmrouter.cost == 0
    assert stream.final_response().choices[0].message.content == "from the cache"
    (outcome,) = ends.outcomes
    assert outcome.cache_hit and outcome.chunks == len(chunks) and outcome.error is None


def test_a_miss_is_sent_and_stored(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    plugin = Answers(None)
    host, _ = host_with(plugin)
    with llmrouter.Router(plugin_host=host) as router:
        r = router.completion(model=MODEL, messages=MESSAGES, **where)
        stream = router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        next(stream)
        stream.close()  # closed before its end: not stored
        list(router.completion(model=MODEL, messages=MESSAGES, stream=True, **where))
    assert len(emu.requests) == 3
    assert plugin.stored[0] is r and not r.llmrouter.cache_hit
    assert len(plugin.stored) == 2  # the plain answer and the complete stream
    assert plugin.stored[1].choices[0].message.content == r.choices[0].message.content


def test_a_failing_cache_never_fails_the_call(
    emu: TogetherEmulator, where: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    host, _ = host_with(Answers(raises=True))
    with (
        caplog.at_level(logging.WARNING, logger="llmrouter"),
        llmrouter.Router(plugin_host=host) as router,
    ):
        r = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert r.choices[0].message.content and len(emu.requests) == 1
    events = [
        rec.getMessage() for rec in caplog.records if "llmrouter.cache_error" in rec.getMessage()
    ]
    assert len(events) == 2  # the lookup and the store
    assert "ConnectionError" in events[0] and where["api_key"] not in " ".join(events)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda: {"id": "x"}, id="a dict"),
        pytest.param(lambda: llmrouter.EmbeddingResponse(data=[], model="m"), id="wrong kind"),
    ],
)
def test_a_wrong_answer_is_ignored(
    emu: TogetherEmulator, where: dict[str, Any], value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    host, _ = host_with(Answers(value))
    with (
        caplog.at_level(logging.WARNING, logger="llmrouter"),
        llmrouter.Router(plugin_host=host) as router,
    ):
        r = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert not r.llmrouter.cache_hit and len(emu.requests) == 1
    assert any("llmrouter.cache_error" in rec.getMessage() for rec in caplog.records)


def test_an_awaitable_to_a_sync_router_is_a_logged_plugin_bug(
    emu: TogetherEmulator, where: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def later() -> ModelResponse:
        return canned()

    host, _ = host_with(Answers(later))
    with (
        caplog.at_level(logging.WARNING, logger="llmrouter"),
        llmrouter.Router(plugin_host=host) as router,
    ):
        r = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert not r.llmrouter.cache_hit and len(emu.requests) == 1
    assert any("awaitable to a sync Router" in rec.getMessage() for rec in caplog.records)


@pytest.mark.asyncio
async def test_an_async_router_awaits_the_plugin(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    seen: list[bool] = []

    class AsyncCache:
        @hookimpl
        def llmrouter_cache_lookup(
            self, call: Call, request: HTTPRequest, asynchronous: bool
        ) -> Any:
            seen.append(asynchronous)

            async def fetch() -> ModelResponse:
                return canned()

            return fetch()

    host, _ = host_with(AsyncCache())
    async with llmrouter.AsyncRouter(plugin_host=host) as router:
        r = await router.completion(model=MODEL, messages=MESSAGES, **where)
        stream = await router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert seen == [True, True] and emu.requests == []
    assert r.llmrouter.cache_hit and text == "from the cache"


def test_cache_controls_need_a_cache(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    with llmrouter.Router(plugin_host=PluginHost()) as router:
        with pytest.raises(llmrouter.InvalidRequestError, match="no response cache is enabled"):
            router.completion(model=MODEL, messages=MESSAGES, cache={"ttl": 5}, **where)
        with pytest.raises(llmrouter.InvalidRequestError, match="cache"):
            router.completion(model=MODEL, messages=MESSAGES, cache={"tl": 5}, **where)
    assert emu.requests == []


class SlowStore:
    """An async cache whose store takes long (a slow Redis): the caller may cancel meanwhile."""

    def __init__(self) -> None:
        self.started = 0

    @hookimpl
    def llmrouter_cache_lookup(self, call: Call, request: HTTPRequest, asynchronous: bool) -> Any:
        return None

    @hookimpl
    def llmrouter_cache_store(
        self, call: Call, request: HTTPRequest, response: Any, asynchronous: bool
    ) -> Any:
        async def slow() -> None:
            self.started += 1
            await asyncio.sleep(30)

        return slow()


@pytest.mark.asyncio
@pytest.mark.parametrize("routed", [False, True], ids=["direct", "routed"])
async def test_a_store_cancelled_is_no_failure_of_the_call(
    emu: TogetherEmulator, where: dict[str, Any], routed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while the cache stores: the call was told ended once, as a success, and its
    cost was counted."""
    slow = SlowStore()
    host, ends = host_with(slow)
    monkeypatch.setenv("LLMR_HOOKS_KEY", where["api_key"])
    config = {
        "models": {
            "chat": {
                "deployments": [
                    {"model": MODEL, "api_base": emu.base_url, "api_key_env": "LLMR_HOOKS_KEY"}
                ]
            }
        }
    }
    async with llmrouter.AsyncRouter(
        plugin_host=host, max_budget=1000, config=config if routed else None
    ) as router:
        kwargs = {} if routed else where
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                router.completion(model="chat" if routed else MODEL, messages=MESSAGES, **kwargs),
                0.5,
            )
        assert router.budget is not None and router.budget.spent > 0
    assert slow.started == 1 and len(emu.requests) == 1
    assert [o.error for o in ends.outcomes] == [None]


@pytest.mark.asyncio
async def test_aclose_cancelled_while_storing_still_ends_the_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Gemini stream is complete with its last chunk (no end marker): the caller has every
    chunk and closes the stream, whose store is then cancelled. The stream still ends: one
    call_end, the deployment's lease released, the cost counted."""
    testing = pytest.importorskip("llmrouter_gemini.testing")
    key = "AIzaSyHooksTestKeyDoNotLeak0123456789ab"
    slow = SlowStore()
    host, ends = host_with(slow)
    with testing.GeminiEmulator(api_key=key) as gemini:
        monkeypatch.setenv("LLMR_GEMINI_KEY", key)
        config = {
            "models": {
                "chat": {
                    "deployments": [
                        {
                            "model": "gemini/gemini-2.5-flash",
                            "api_base": gemini.base_url,
                            "api_key_env": "LLMR_GEMINI_KEY",
                        }
                    ]
                }
            }
        }
        async with llmrouter.AsyncRouter(
            plugin_host=host, config=config, max_budget=1000
        ) as router:
            stream = await router.completion(model="chat", messages=MESSAGES, stream=True)
            core = stream._core
            while not (core.done and stream._pos >= len(stream._buffer)):
                await asyncio.wait_for(stream.__anext__(), 5)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(stream.aclose(), 0.5)
            assert router.routing is not None
            assert router.routing.snapshot()["chat"][0]["in_flight"] == 0
            assert router.budget is not None and router.budget.spent > 0
    assert slow.started == 1 and len(ends.outcomes) == 1 and ends.outcomes[0].error is None


def test_a_failing_rebuild_never_fails_a_stream(
    emu: TogetherEmulator,
    where: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import llmrouter.chunks

    def broken(chunks: Any) -> Any:
        raise llmrouter.InvalidRequestError("chunks come from more than one stream")

    monkeypatch.setattr(llmrouter.chunks, "stream_chunk_builder", broken)
    plugin = Answers(None)
    host, ends = host_with(plugin)
    with (
        caplog.at_level(logging.WARNING, logger="llmrouter"),
        llmrouter.Router(plugin_host=host) as router,
    ):
        chunks = list(router.completion(model=MODEL, messages=MESSAGES, stream=True, **where))
    assert chunks and plugin.stored == []
    (outcome,) = ends.outcomes
    assert outcome.error is None and outcome.response is None
    assert any("llmrouter.stream_rebuild_error" in r.getMessage() for r in caplog.records)


def test_a_store_only_plugin_is_called(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    seen: list[Any] = []

    class StoreOnly:
        @hookimpl
        def llmrouter_cache_store(
            self, call: Call, request: HTTPRequest, response: Any, asynchronous: bool
        ) -> None:
            seen.append(response)

    host, _ = host_with(StoreOnly())
    with llmrouter.Router(plugin_host=host) as router:
        r = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert seen == [r]


def test_a_replay_closed_early_is_not_a_whole_answer(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    host, ends = host_with(Answers(canned))
    with llmrouter.Router(plugin_host=host) as router:
        stream = router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        next(stream)
        stream.close()
        with pytest.raises(llmrouter.InvalidRequestError, match="before its end"):
            stream.final_response()
    (outcome,) = ends.outcomes
    assert outcome.cache_hit and outcome.chunks == 1 and outcome.response is None
