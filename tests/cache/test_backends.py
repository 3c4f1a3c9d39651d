"""The backends on their own: get/set/expiry/eviction/clear, across threads, connections and
(for Redis) the real server."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from llmrouter.cache import (
    AsyncCacheBackend,
    CacheBackend,
    MemoryBackend,
    RedisBackend,
    SQLiteBackend,
)
from llmrouter.errors import InvalidRequestError

# --- memory -----------------------------------------------------------------------------------


def test_memory_get_set_and_ttl(clock: Any) -> None:
    backend = MemoryBackend(10, timer=clock)
    assert isinstance(backend, CacheBackend) and not isinstance(backend, AsyncCacheBackend)
    assert backend.get("k") is None
    backend.set("k", b"v", None)
    backend.set("t", b"short", 5)
    assert backend.get("k") == b"v" and backend.get("t") == b"short"
    clock.advance(4.9)
    assert backend.get("t") == b"short"
    clock.advance(0.2)
    assert backend.get("t") is None
    clock.advance(10_000)
    assert backend.get("k") == b"v"  # no ttl: kept until evicted
    assert len(backend) == 1


def test_memory_evicts_least_recently_used(clock: Any) -> None:
    backend = MemoryBackend(3, timer=clock)
    for name in "abc":
        backend.set(name, name.encode(), None)
    assert backend.get("a") == b"a"  # a is now the most recently used
    backend.set("d", b"d", None)
    assert backend.get("b") is None
    assert [backend.get(n) for n in "acd"] == [b"a", b"c", b"d"]
    assert len(backend) == 3


def test_memory_expired_entries_make_room_first(clock: Any) -> None:
    backend = MemoryBackend(2, timer=clock)
    backend.set("old", b"1", 1)
    backend.set("keep", b"2", None)
    clock.advance(2)
    backend.set("new", b"3", None)
    assert backend.get("keep") == b"2" and backend.get("new") == b"3"


def test_memory_clear_and_threads() -> None:
    backend = MemoryBackend(100_000)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(500):
                backend.set(f"{n}-{i}", b"x", 60)
                assert backend.get(f"{n}-{i}") == b"x"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(backend) == 4000
    backend.clear()
    assert len(backend) == 0


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, True, "10"])
def test_memory_rejects_bad_maxsize(maxsize: Any) -> None:
    with pytest.raises(InvalidRequestError, match="maxsize"):
        MemoryBackend(maxsize)


@pytest.mark.parametrize("ttl", [0, -5, float("nan"), float("inf"), "5"])
def test_set_rejects_bad_ttl(ttl: Any) -> None:
    with pytest.raises(InvalidRequestError, match="ttl"):
        MemoryBackend(2).set("k", b"v", ttl)


# --- sqlite -----------------------------------------------------------------------------------


def test_sqlite_get_set_ttl_and_purge(tmp_path: Path, clock: Any) -> None:
    backend = SQLiteBackend(tmp_path / "c.sqlite3", timer=clock, purge_every=2)
    try:
        assert backend.get("k") is None
        backend.set("k", b"\x00binary\xff", None)
        backend.set("t", b"short", 5)
        assert backend.get("k") == b"\x00binary\xff" and backend.get("t") == b"short"
        clock.advance(5)
        assert backend.get("t") is None  # expired rows are ignored on read...
        raw = sqlite3.connect(tmp_path / "c.sqlite3")
        assert raw.execute("SELECT COUNT(*) FROM llmrouter_cache").fetchone()[0] == 2
        backend.set("u", b"1", None)
        backend.set("w", b"2", None)  # ...and purged every purge_every writes
        assert raw.execute("SELECT key FROM llmrouter_cache ORDER BY key").fetchall() == [
            ("k",),
            ("u",),
            ("w",),
        ]
        raw.close()
        assert len(backend) == 3
        backend.set("k", b"replaced", None)
        assert backend.get("k") == b"replaced"
        backend.clear()
        assert backend.get("k") is None and len(backend) == 0
    finally:
        backend.close()


def test_sqlite_two_connections_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    one, two = SQLiteBackend(path), SQLiteBackend(path)
    try:
        one.set("k", b"from one", 60)
        assert two.get("k") == b"from one"
        two.set("k", b"from two", None)
        assert one.get("k") == b"from two"
        journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert journal == "wal"
    finally:
        one.close()
        two.close()


def test_sqlite_threads_and_reopen_after_close(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "t.sqlite3")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                backend.set(f"{n}-{i}", str(i).encode(), None)
                assert backend.get(f"{n}-{i}") == str(i).encode()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(backend) == 300
    backend.close()
    assert backend.get("0-7") == b"7"  # closing releases connections; use reconnects
    backend.close()


def test_sqlite_corrupt_row_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite3"
    backend = SQLiteBackend(path)
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO llmrouter_cache VALUES ('k', 'text, not a blob', NULL)")
    raw.commit()
    raw.close()
    with pytest.raises(TypeError, match="corrupt"):
        backend.get("k")
    backend.close()


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_sqlite_needs_a_file(path: str) -> None:
    with pytest.raises(InvalidRequestError, match="path"):
        SQLiteBackend(path)


# --- redis ------------------------------------------------------------------------------------


def test_redis_get_set_ttl_clear(redis_url: str, redis_prefix: str) -> None:
    import redis

    backend = RedisBackend(redis_url, prefix=redis_prefix)
    raw = redis.Redis.from_url(redis_url)
    other = RedisBackend(redis_url, prefix=redis_prefix.rstrip(":") + "-other:")
    try:
        assert backend.get("k") is None
        backend.set("k", b"\x00v\xff", None)
        backend.set("t", b"short", 30)
        assert backend.get("k") == b"\x00v\xff" and backend.get("t") == b"short"
        assert raw.ttl(redis_prefix + "k") == -1  # no expiry
        assert 0 < raw.pttl(redis_prefix + "t") <= 30_000  # Redis's own expiry
        backend.set("ms", b"gone soon", 0.05)
        assert raw.pttl(redis_prefix + "ms") <= 50
        other.set("k", b"kept", None)
        backend.clear()
        assert backend.get("k") is None and backend.get("t") is None
        assert other.get("k") == b"kept"  # clear() stays under its own prefix
    finally:
        other.clear()
        other.close()
        backend.close()
        raw.close()


def test_redis_default_prefix_and_reopen(redis_url: str, redis_prefix: str) -> None:
    backend = RedisBackend(redis_url)
    assert backend.prefix == "llmrouter:cache:"
    backend.close()
    scoped = RedisBackend(redis_url, prefix=redis_prefix)
    scoped.set("k", b"v", 60)
    scoped.close()
    assert scoped.get("k") == b"v"  # reconnects after close
    scoped.close()


def test_redis_async(redis_url: str, redis_prefix: str) -> None:
    backend = RedisBackend(redis_url, prefix=redis_prefix)
    assert isinstance(backend, AsyncCacheBackend)

    async def main() -> tuple[bytes | None, bytes | None]:
        await backend.aset("k", b"async", 60)
        got = await backend.aget("k")
        missing = await backend.aget("absent")
        await backend.aclose()
        return got, missing

    # Two event loops in a row: each gets its own client.
    assert asyncio.run(main()) == (b"async", None)
    assert asyncio.run(main()) == (b"async", None)
    assert backend.get("k") == b"async"
    backend.close()


def test_redis_url_password_never_shown() -> None:
    backend = RedisBackend("redis://user:s3cr3t-pw@127.0.0.1:1/0")
    assert "s3cr3t-pw" not in repr(backend) and "s3cr3t-pw" not in backend.url
    with pytest.raises(InvalidRequestError, match="url") as info:
        RedisBackend("http://user:s3cr3t-pw@127.0.0.1:1/0")
    assert "s3cr3t-pw" not in str(info.value)


def test_redis_down_raises_fast() -> None:
    import redis

    backend = RedisBackend("redis://127.0.0.1:1/0")
    with pytest.raises(redis.ConnectionError):
        backend.get("k")
    backend.close()


def test_memory_keeps_objects_by_reference_and_gives_bytes_to_get(clock: Any) -> None:
    """``set_object`` keeps the object itself (the response cache stores an entry object there
    and so builds no envelope); ``get`` still honours the bytes contract through ``__bytes__``,
    and objects age and leave the LRU like bytes do."""

    class Blob:
        def __bytes__(self) -> bytes:
            return b"as bytes"

    backend = MemoryBackend(2, timer=clock)
    blob = Blob()
    backend.set_object("o", blob, 5)
    assert backend.get_object("o") is blob
    assert backend.get("o") == b"as bytes"
    backend.set("b", bytearray(b"raw"), None)
    assert backend.get_object("b") == b"raw" and type(backend.get_object("b")) is bytes
    backend.get_object("o")  # o is now the most recently used
    backend.set_object("n", Blob(), None)
    assert backend.get_object("b") is None and backend.get_object("o") is blob
    clock.advance(5)
    assert backend.get_object("o") is None and len(backend) == 1
    with pytest.raises(InvalidRequestError, match="ttl"):
        backend.set_object("x", blob, 0)
