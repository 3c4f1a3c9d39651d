"""The ResponseCache plugin through its hooks: values, controls, stats, errors, registration."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from llmrouter._plugins import PluginHost
from llmrouter.cache import (
    PLUGIN_NAME,
    CacheStats,
    MemoryBackend,
    RedisBackend,
    ResponseCache,
    SQLiteBackend,
    cache_key,
    disable_cache,
    enable_cache,
)
from llmrouter.errors import InvalidRequestError
from llmrouter.pipeline import Call, HTTPRequest
from llmrouter.secrets import Secret
from llmrouter.types import EmbeddingResponse, ModelResponse

KEY = "tgp_v1_PluginTestKeyNeverLogged_1234567"


def _call(operation: str = "chat", cache: dict[str, Any] | None = None) -> Call:
    return Call(
        operation=operation,  # type: ignore[arg-type]
        provider="together_ai",
        model="m/x",
        api_key=Secret(KEY),
        cache=cache,
    )


def _request(content: str = "hi") -> HTTPRequest:
    return HTTPRequest(
        "POST",
        "https://api.together.xyz/v1/chat/completions",
        headers={"authorization": f"Bearer {KEY}"},
        json={"model": "m/x", "messages": [{"role": "user", "content": content}]},
    )


def _answer(text: str = "cached answer") -> ModelResponse:
    return ModelResponse(
        id="c1",
        model="m/x",
        choices=[{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )


def _cache(clock: Any, **options: Any) -> ResponseCache:
    return ResponseCache(MemoryBackend(16, timer=clock), clock=clock, **options)


def _lookup(cache: ResponseCache, call: Call, request: HTTPRequest) -> Any:
    return cache.llmrouter_cache_lookup(call=call, request=request, asynchronous=False)


def _store(cache: ResponseCache, call: Call, request: HTTPRequest, response: Any) -> None:
    assert (
        cache.llmrouter_cache_store(
            call=call, request=request, response=response, asynchronous=False
        )
        is None
    )


def test_store_then_hit_returns_a_new_equal_answer(clock: Any) -> None:
    cache = _cache(clock)
    answer = _answer()
    assert _lookup(cache, _call(), _request()) is None
    _store(cache, _call(), _request(), answer)
    first, second = _lookup(cache, _call(), _request()), _lookup(cache, _call(), _request())
    assert isinstance(first, ModelResponse)
    assert first.model_dump() == answer.model_dump() and first is not answer
    assert first is not second
    assert cache.stats == CacheStats(hits=2, misses=1, stores=1, errors=0)
    assert _lookup(cache, _call(), _request("other")) is None


def test_stored_value_shape_and_no_secret(clock: Any) -> None:
    backend = MemoryBackend(4, timer=clock)
    cache = ResponseCache(backend, clock=clock)
    _store(cache, _call(), _request(), _answer())
    raw = backend.get(cache_key(_call(), _request()))
    assert raw is not None and KEY.encode() not in raw
    entry = json.loads(raw)
    assert entry["kind"] == "chat" and entry["stored_at"] == clock.now
    assert entry["response"] == _answer().model_dump(mode="json")


def test_embeddings_are_cached_as_embeddings(clock: Any) -> None:
    cache = _cache(clock)
    emb = EmbeddingResponse(data=[{"index": 0, "embedding": [0.5, -1.0]}], model="e")
    _store(cache, _call("embedding"), _request(), emb)
    hit = _lookup(cache, _call("embedding"), _request())
    assert isinstance(hit, EmbeddingResponse) and hit.data[0].embedding == [0.5, -1.0]
    # The same request as a chat call is another entry.
    assert _lookup(cache, _call("chat"), _request()) is None


def test_list_models_and_wrong_types_are_ignored(clock: Any) -> None:
    cache = _cache(clock)
    _store(cache, _call("list_models"), _request(), _answer())
    _store(cache, _call("chat"), _request(), ["not", "a", "response"])
    assert _lookup(cache, _call("list_models"), _request()) is None
    assert cache.stats.stores == 0


def test_no_cache_and_no_store(clock: Any) -> None:
    cache = _cache(clock)
    _store(cache, _call(cache={"no-store": True}), _request(), _answer())
    assert _lookup(cache, _call(), _request()) is None
    _store(cache, _call(), _request(), _answer("first"))
    assert _lookup(cache, _call(cache={"no-cache": True}), _request()) is None
    _store(cache, _call(cache={"no-cache": True}), _request(), _answer("second"))
    assert _lookup(cache, _call(), _request()).choices[0].message.content == "second"


def test_ttl_default_and_per_call(clock: Any) -> None:
    cache = _cache(clock, ttl=10)
    _store(cache, _call(), _request("a"), _answer())
    _store(cache, _call(cache={"ttl": 100}), _request("b"), _answer())
    clock.advance(11)
    assert _lookup(cache, _call(), _request("a")) is None
    assert _lookup(cache, _call(), _request("b")) is not None
    clock.advance(90)
    assert _lookup(cache, _call(), _request("b")) is None


def test_s_maxage_accepts_only_young_entries(clock: Any) -> None:
    cache = _cache(clock)
    _store(cache, _call(), _request(), _answer())
    clock.advance(30)
    assert _lookup(cache, _call(cache={"s-maxage": 60}), _request()) is not None
    assert _lookup(cache, _call(cache={"s-maxage": 29}), _request()) is None
    assert _lookup(cache, _call(), _request()) is not None  # the entry itself is still there


def test_namespaces(clock: Any) -> None:
    cache = _cache(clock, namespace="tenant-a")
    _store(cache, _call(), _request(), _answer())
    assert _lookup(cache, _call(cache={"namespace": "tenant-b"}), _request()) is None
    assert _lookup(cache, _call(cache={"namespace": "tenant-a"}), _request()) is not None
    assert _lookup(_cache(clock), _call(), _request()) is None  # another store entirely


class Broken:
    name = "broken"

    def get(self, key: str) -> bytes | None:
        raise ConnectionError(f"cannot read {key} with {KEY}")

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        raise OSError("disk full")

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


def _cache_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("llmrouter.cache_error")]


def test_backend_errors_are_counted_and_logged_once_per_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = ResponseCache(Broken())
    call = _call()
    with caplog.at_level(logging.WARNING, logger="llmrouter"):
        assert _lookup(cache, call, _request()) is None
        _store(cache, call, _request(), _answer())
        _lookup(cache, _call(), _request())  # another call: logged again
    assert cache.stats == CacheStats(hits=0, misses=0, stores=0, errors=3)
    records = _cache_errors(caplog)
    assert len(records) == 2 and all(r.levelno == logging.WARNING for r in records)
    fields = records[0].llmrouter  # type: ignore[attr-defined]
    assert fields["backend"] == "broken" and fields["error_type"] == "ConnectionError"
    key = cache_key(call, _request())
    text = caplog.text + repr([r.__dict__ for r in records])
    assert KEY not in text and key not in text


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", b'{"v": 1, "kind": "embedding", "stored_at": 1, "response": {}}', b""],
)
def test_undecodable_values_are_errors_not_failures(clock: Any, raw: bytes) -> None:
    backend = MemoryBackend(4, timer=clock)
    cache = ResponseCache(backend, clock=clock)
    backend.set(cache_key(_call(), _request()), raw, None)
    assert _lookup(cache, _call(), _request()) is None
    assert cache.stats.errors == 1 and cache.stats.hits == 0


def test_corrupt_sqlite_row_is_an_error_not_a_failure(tmp_path: Path) -> None:
    import sqlite3

    cache = ResponseCache("sqlite", path=tmp_path / "c.sqlite3")
    raw = sqlite3.connect(tmp_path / "c.sqlite3")
    raw.execute(
        "INSERT INTO llmrouter_cache VALUES (?, 'text', NULL)", (cache_key(_call(), _request()),)
    )
    raw.commit()
    raw.close()
    assert _lookup(cache, _call(), _request()) is None and cache.stats.errors == 1
    cache.close()


def test_redis_lookup_is_awaitable_for_async_routers(redis_url: str, redis_prefix: str) -> None:
    cache = ResponseCache(RedisBackend(redis_url, prefix=redis_prefix))

    async def main() -> Any:
        stored = cache.llmrouter_cache_store(
            call=_call(), request=_request(), response=_answer(), asynchronous=True
        )
        assert stored is not None
        await stored
        pending = cache.llmrouter_cache_lookup(call=_call(), request=_request(), asynchronous=True)
        assert asyncio.iscoroutine(pending)
        hit = await pending
        await cache.aclose()
        return hit

    hit = asyncio.run(main())
    assert isinstance(hit, ModelResponse) and hit.choices[0].message.content == "cached answer"
    # A sync Router gets a plain answer from the same backend.
    assert isinstance(_lookup(cache, _call(), _request()), ModelResponse)
    cache.close()


def test_enable_replace_disable_on_a_private_host(tmp_path: Path) -> None:
    host = PluginHost(autoload=False)
    first = enable_cache(host=host)
    assert host.pm.get_plugin(PLUGIN_NAME) is first
    assert isinstance(first.backend, MemoryBackend)
    second = enable_cache("sqlite", path=tmp_path / "c.sqlite3", ttl=60, host=host)
    assert host.pm.get_plugin(PLUGIN_NAME) is second and host.pm.get_plugin(PLUGIN_NAME) != first
    assert isinstance(second.backend, SQLiteBackend) and second.ttl == 60
    assert disable_cache(host=host) is second
    assert host.pm.get_plugin(PLUGIN_NAME) is None
    assert disable_cache(host=host) is None


@pytest.mark.parametrize(
    ("args", "kwargs", "param"),
    [
        (("memcached",), {}, "backend"),
        (("memory",), {"path": "x.db"}, "path"),
        (("redis",), {"maxsize": 3}, "maxsize"),
        (("sqlite",), {}, "path"),
        ((MemoryBackend(2),), {"maxsize": 3}, "maxsize"),
        ((object(),), {}, "backend"),
        (("memory",), {"ttl": 0}, "ttl"),
        (("memory",), {"namespace": ""}, "namespace"),
    ],
)
def test_bad_arguments_are_clear_errors(
    args: tuple[Any, ...], kwargs: dict[str, Any], param: str
) -> None:
    host = PluginHost(autoload=False)
    with pytest.raises(InvalidRequestError) as info:
        enable_cache(*args, host=host, **kwargs)
    assert info.value.param == param
    assert host.pm.get_plugin(PLUGIN_NAME) is None


def test_a_hit_is_a_copy_no_caller_can_change_the_next_one(clock: Any) -> None:
    """The memory backend keeps a snapshot (the answer's JSON), not the answer: changing the
    stored answer after the store, or a hit after the lookup, does not change later hits."""
    cache = _cache(clock)
    answer = _answer("the original")
    _store(cache, _call(), _request(), answer)
    answer.choices[0].message.content = "changed by its caller"
    answer.choices.append(answer.choices[0])
    first = _lookup(cache, _call(), _request())
    assert first.choices[0].message.content == "the original" and len(first.choices) == 1
    first.choices[0].message.content = "changed by the first hit's caller"
    first.usage.completion_tokens = 999
    second = _lookup(cache, _call(), _request())
    assert second.choices[0].message.content == "the original"
    assert second.usage.completion_tokens == 2
    assert second is not first and second.choices[0] is not first.choices[0]


def test_memory_entries_read_as_the_shared_backends_value(clock: Any, tmp_path: Path) -> None:
    """What the memory backend keeps reads (``backend.get``) exactly as what SQLite and Redis
    store: one format, whichever backend."""
    memory = MemoryBackend(4, timer=clock)
    sqlite = SQLiteBackend(tmp_path / "c.sqlite3")
    for backend in (memory, sqlite):
        _store(ResponseCache(backend, clock=clock), _call(), _request(), _answer())
    key = cache_key(_call(), _request())
    assert memory.get(key) == sqlite.get(key)
    assert not isinstance(memory.get_object(key), bytes)  # kept as an entry, not its bytes
    sqlite.close()


def test_memory_entry_of_another_kind_is_an_error(clock: Any) -> None:
    """A memory entry whose kind does not match the call (only possible by writing the backend
    directly) is counted as an error and the call goes upstream, as for the bytes backends."""
    backend = MemoryBackend(4, timer=clock)
    cache = ResponseCache(backend, clock=clock)
    _store(cache, _call(), _request(), _answer())
    key = cache_key(_call(), _request())
    entry = backend.get_object(key)
    backend.set_object(key, entry._replace(kind="embedding"), None)  # type: ignore[union-attr]
    assert _lookup(cache, _call(), _request()) is None
    assert cache.stats.errors == 1 and cache.stats.hits == 0


def test_s_maxage_applies_to_memory_entries(clock: Any) -> None:
    cache = _cache(clock)
    _store(cache, _call(), _request(), _answer())
    clock.advance(30)
    assert _lookup(cache, _call(cache={"s-maxage": 60}), _request()) is not None
    assert _lookup(cache, _call(cache={"s-maxage": 10}), _request()) is None
    assert cache.stats == CacheStats(hits=1, misses=1, stores=1, errors=0)
