"""The cache end to end: a Router on a private plugin host, the Together emulator on a socket,
and the request count that proves a hit never reached it."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import llmrouter
from llmrouter._plugins import PluginHost
from llmrouter.cache import MemoryBackend, ResponseCache, enable_cache
from llmrouter.testing import TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
EMBED = "together_ai/BAAI/bge-base-en-v1.5"
MESSAGES = [{"role": "user", "content": "Tell me about caches"}]


def _text(response: Any) -> str:
    return str(response.choices[0].message.content)


def _joined(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_second_identical_call_is_a_free_hit(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost
) -> None:
    cache = enable_cache(host=host)
    with llmrouter.Router(plugin_host=host) as router:
        first = router.completion(model=MODEL, messages=MESSAGES, max_tokens=12, **where)
        assert len(emu.requests) == 1
        assert first.llmrouter.cache_hit is False
        second = router.completion(model=MODEL, messages=MESSAGES, max_tokens=12, **where)
        assert len(emu.requests) == 1  # answered without reaching the emulator
        assert second.llmrouter.cache_hit is True and second.llmrouter.cost == Decimal(0)
        assert _text(second) == _text(first) and second.id == first.id
        assert second.usage == first.usage
        # A different request is sent.
        router.completion(model=MODEL, messages=MESSAGES, max_tokens=13, **where)
        assert len(emu.requests) == 2
    assert cache.stats.hits == 1 and cache.stats.misses == 2 and cache.stats.stores == 2


def test_a_different_key_still_hits(emu: TogetherEmulator, host: PluginHost) -> None:
    enable_cache(host=host)
    with llmrouter.Router(plugin_host=host) as router:
        router.completion(
            model=MODEL, messages=MESSAGES, api_base=emu.base_url, api_key="tgp_v1_first_key_aaaa"
        )
        again = router.completion(
            model=MODEL, messages=MESSAGES, api_base=emu.base_url, api_key="tgp_v1_other_key_bbbb"
        )
    assert again.llmrouter.cache_hit and len(emu.requests) == 1


def test_stream_replays_a_cached_answer(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost
) -> None:
    enable_cache(host=host)
    with llmrouter.Router(plugin_host=host) as router:
        plain = router.completion(model=MODEL, messages=MESSAGES, **where)
        stream = router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        chunks = list(stream)
    assert len(emu.requests) == 1
    assert chunks and _joined(chunks) == _text(plain)


def test_a_stream_is_stored_at_its_end(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost
) -> None:
    cache = enable_cache(host=host)
    with llmrouter.Router(plugin_host=host) as router:
        chunks = list(router.completion(model=MODEL, messages=MESSAGES, stream=True, **where))
        assert cache.stats.stores == 1
        plain = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert len(emu.requests) == 1
    assert plain.llmrouter.cache_hit and _text(plain) == _joined(chunks)


def test_a_stream_closed_early_is_not_stored(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost
) -> None:
    cache = enable_cache(host=host)
    with llmrouter.Router(plugin_host=host) as router:
        stream = router.completion(
            model=MODEL, messages=MESSAGES, stream=True, max_tokens=20, **where
        )
        next(iter(stream))
        stream.close()
        assert cache.stats.stores == 0
        router.completion(model=MODEL, messages=MESSAGES, max_tokens=20, **where)
    assert len(emu.requests) == 2


def test_embeddings_are_cached(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost
) -> None:
    enable_cache(host=host)
    with llmrouter.Router(plugin_host=host) as router:
        first = router.embedding(EMBED, ["a", "b"], **where)
        second = router.embedding(EMBED, ["a", "b"], **where)
    assert len(emu.requests) == 1 and second.llmrouter.cache_hit
    assert [d.embedding for d in second.data] == [d.embedding for d in first.data]


def test_no_cache_and_no_store(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost
) -> None:
    enable_cache(host=host)
    with llmrouter.Router(plugin_host=host) as router:
        router.completion(model=MODEL, messages=MESSAGES, cache={"no-store": True}, **where)
        router.completion(model=MODEL, messages=MESSAGES, cache={"no-cache": True}, **where)
        assert len(emu.requests) == 2  # nothing stored by the first; the second skipped reading
        hit = router.completion(model=MODEL, messages=MESSAGES, **where)
        assert hit.llmrouter.cache_hit and len(emu.requests) == 2  # ...but it stored
        fresh = router.completion(model=MODEL, messages=MESSAGES, cache={"no-cache": True}, **where)
    assert not fresh.llmrouter.cache_hit and len(emu.requests) == 3


def test_ttl_and_s_maxage(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost, clock: Any
) -> None:
    cache = ResponseCache(MemoryBackend(8, timer=clock), clock=clock, ttl=100)
    host.register_plugin(cache, name="my-cache")
    with llmrouter.Router(plugin_host=host) as router:
        router.completion(model=MODEL, messages=MESSAGES, cache={"ttl": 10}, **where)
        clock.advance(5)
        young = router.completion(model=MODEL, messages=MESSAGES, cache={"s-maxage": 5}, **where)
        assert young.llmrouter.cache_hit and len(emu.requests) == 1
        too_old = router.completion(model=MODEL, messages=MESSAGES, cache={"s-maxage": 4}, **where)
        assert not too_old.llmrouter.cache_hit and len(emu.requests) == 2  # and stored anew
        clock.advance(50)  # the new entry has the default ttl (100): still there
        assert router.completion(model=MODEL, messages=MESSAGES, **where).llmrouter.cache_hit
        clock.advance(51)
        expired = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert not expired.llmrouter.cache_hit and len(emu.requests) == 3


def test_namespaces_separate_tenants(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost
) -> None:
    enable_cache(host=host, namespace="default-tenant")
    with llmrouter.Router(plugin_host=host) as router:
        router.completion(model=MODEL, messages=MESSAGES, cache={"namespace": "a"}, **where)
        b = router.completion(model=MODEL, messages=MESSAGES, cache={"namespace": "b"}, **where)
        plain = router.completion(model=MODEL, messages=MESSAGES, **where)
        assert not b.llmrouter.cache_hit and not plain.llmrouter.cache_hit
        a = router.completion(model=MODEL, messages=MESSAGES, cache={"namespace": "a"}, **where)
    assert a.llmrouter.cache_hit and len(emu.requests) == 3


def test_sqlite_backend_end_to_end(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost, tmp_path: Path
) -> None:
    enable_cache("sqlite", path=tmp_path / "cache.sqlite3", host=host)
    with llmrouter.Router(plugin_host=host) as router:
        router.completion(model=MODEL, messages=MESSAGES, **where)
    # A new cache on the same file (another process would do the same) finds the answer.
    other = PluginHost(autoload=False)
    other.register_provider("together_ai", host._providers["together_ai"])
    enable_cache("sqlite", path=tmp_path / "cache.sqlite3", host=other)
    with llmrouter.Router(plugin_host=other) as router:
        hit = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert hit.llmrouter.cache_hit and len(emu.requests) == 1


def test_a_broken_backend_never_fails_the_call(
    emu: TogetherEmulator,
    where: dict[str, Any],
    host: PluginHost,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = enable_cache("redis", url="redis://127.0.0.1:1/0", host=host)
    with (
        caplog.at_level(logging.WARNING, logger="llmrouter"),
        llmrouter.Router(plugin_host=host) as router,
    ):
        first = router.completion(model=MODEL, messages=MESSAGES, **where)
        second = router.completion(model=MODEL, messages=MESSAGES, **where)
        chunks = list(router.completion(model=MODEL, messages=MESSAGES, stream=True, **where))
    assert _text(first) and _text(second) and _joined(chunks)
    assert len(emu.requests) == 3 and not second.llmrouter.cache_hit
    assert cache.stats.errors == 6 and cache.stats.hits == 0
    events = [r for r in caplog.records if r.getMessage().startswith("llmrouter.cache_error")]
    assert len(events) == 3  # one per call
    assert where["api_key"] not in caplog.text


@pytest.mark.asyncio
async def test_async_router_with_redis(
    emu: TogetherEmulator,
    where: dict[str, Any],
    host: PluginHost,
    redis_url: str,
    redis_prefix: str,
) -> None:
    from llmrouter.cache import RedisBackend

    cache = enable_cache(RedisBackend(redis_url, prefix=redis_prefix), host=host)
    try:
        async with llmrouter.AsyncRouter(plugin_host=host) as router:
            first = await router.completion(model=MODEL, messages=MESSAGES, **where)
            second = await router.completion(model=MODEL, messages=MESSAGES, **where)
            stream = await router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
            chunks = [c async for c in stream]
            emb = [await router.embedding(EMBED, ["x"], **where) for _ in range(2)]
    finally:
        await cache.aclose()
    assert len(emu.requests) == 2  # one chat, one embedding
    assert second.llmrouter.cache_hit and second.llmrouter.cost == Decimal(0)
    assert _text(second) == _text(first) == _joined(chunks)
    assert emb[1].llmrouter.cache_hit and not emb[0].llmrouter.cache_hit
    assert cache.stats.hits == 3 and cache.stats.stores == 2


@pytest.mark.asyncio
async def test_async_router_with_memory_and_broken_redis(
    emu: TogetherEmulator, where: dict[str, Any], host: PluginHost
) -> None:
    cache = enable_cache("redis", url="redis://127.0.0.1:1/0", host=host)
    async with llmrouter.AsyncRouter(plugin_host=host) as router:
        r = await router.completion(model=MODEL, messages=MESSAGES, **where)
    await cache.aclose()
    assert _text(r) and cache.stats.errors == 2 and len(emu.requests) == 1

    enable_cache(host=host)
    async with llmrouter.AsyncRouter(plugin_host=host) as router:
        await router.completion(model=MODEL, messages=MESSAGES, **where)
        hit = await router.completion(model=MODEL, messages=MESSAGES, **where)
    assert hit.llmrouter.cache_hit and len(emu.requests) == 2


def test_cache_controls_are_validated(where: dict[str, Any], host: PluginHost) -> None:
    enable_cache(host=host)
    with (
        llmrouter.Router(plugin_host=host) as router,
        pytest.raises(llmrouter.InvalidRequestError, match="no_cache"),
    ):
        router.completion(model=MODEL, messages=MESSAGES, cache={"no_cache": True}, **where)


def test_routed_call_hits_without_touching_deployment_health(
    emu: TogetherEmulator, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A routed call asks the cache per attempt; a hit sends nothing, records no latency or
    failure for the deployment, and the answer still says which alias and deployment."""
    monkeypatch.setenv("LLMR_CACHE_KEY", "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a")
    enable_cache(host=host)
    config = {
        "models": {
            "chat": {
                "deployments": [
                    {
                        "model": MODEL,
                        "name": "primary",
                        "api_base": emu.base_url,
                        "api_key_env": "LLMR_CACHE_KEY",
                    }
                ]
            }
        }
    }
    with llmrouter.Router(plugin_host=host, config=config) as router:
        first = router.completion(model="chat", messages=MESSAGES)
        health = router.routing.snapshot() if router.routing else {}
        second = router.completion(model="chat", messages=MESSAGES)
        assert router.routing is not None and router.routing.snapshot() == health
    assert len(emu.requests) == 1
    assert second.llmrouter.cache_hit and not first.llmrouter.cache_hit
    assert second.llmrouter.alias == "chat" and second.llmrouter.deployment == "primary"
    assert second.llmrouter.attempts == 0 and _text(second) == _text(first)


@pytest.mark.asyncio
async def test_async_memory_hit_and_replay(emu: TogetherEmulator, host: PluginHost) -> None:
    enable_cache(host=host)
    where = {"api_base": emu.base_url, "api_key": "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a"}
    async with llmrouter.AsyncRouter(plugin_host=host) as router:
        stream = await router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        streamed = await stream.final_response()
        hit = await router.completion(model=MODEL, messages=MESSAGES, **where)
        replay = await router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        chunks = [c async for c in replay]
    assert len(emu.requests) == 1
    assert hit.llmrouter.cache_hit and _text(hit) == _text(streamed)
    assert _joined(chunks) == _text(streamed) and replay.llmrouter.cache_hit
