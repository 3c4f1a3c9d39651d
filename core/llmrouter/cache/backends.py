"""Where cached answers live: in process memory, in one SQLite file, or in Redis.

A backend stores opaque ``bytes`` under a string key with an optional lifetime; it knows nothing
about requests or responses (the plugin in :mod:`llmrouter.cache.plugin` builds keys and values).
That keeps a third-party backend small: four methods (:class:`CacheBackend`), plus ``aget`` /
``aset`` / ``aclose`` (:class:`AsyncCacheBackend`) when the store is across a network and an
:class:`~llmrouter.AsyncRouter` should not block its event loop on it.

Every backend may raise on any operation (a server down, a locked or corrupt file): the plugin
catches it, logs ``llmrouter.cache_error`` and lets the call go upstream, so backends do not
swallow errors themselves (the plugin would then not know to count or log them).
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from llmrouter.errors import InvalidRequestError
from llmrouter.secrets import redact_url

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = [
    "DEFAULT_MAXSIZE",
    "DEFAULT_REDIS_PREFIX",
    "DEFAULT_REDIS_URL",
    "AsyncCacheBackend",
    "CacheBackend",
    "MemoryBackend",
    "RedisBackend",
    "SQLiteBackend",
]

#: How many answers the memory backend keeps before evicting the least recently used one.
DEFAULT_MAXSIZE = 1024
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Every Redis key the cache writes starts with this, so it can share a database with other data
#: and ``clear()`` removes only its own keys.
DEFAULT_REDIS_PREFIX = "llmrouter:cache:"

Timer = Callable[[], float]


@runtime_checkable
class CacheBackend(Protocol):
    """What the response cache needs from a store. ``name`` appears in ``llmrouter.cache_error``
    log events, so it must not hold a secret (no URL with a password)."""

    name: str

    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or ``None`` when absent or expired."""

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value``; ``ttl`` is its lifetime in seconds (``None``: until evicted)."""

    def clear(self) -> None:
        """Remove every entry this backend wrote."""

    def close(self) -> None:
        """Release connections and files. The backend may be used again afterwards (it
        reconnects), so closing one still registered somewhere breaks nothing."""


@runtime_checkable
class AsyncCacheBackend(CacheBackend, Protocol):
    """A backend with a network round trip: an AsyncRouter awaits these instead of blocking."""

    async def aget(self, key: str) -> bytes | None: ...

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None: ...

    async def aclose(self) -> None: ...


def _check_ttl(ttl: float | None) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not (0 < ttl < math.inf):
        raise InvalidRequestError(
            f"cache ttl must be a number of seconds > 0 (or None for no expiry), got {ttl!r}",
            param="ttl",
        )
    return float(ttl)


# --- memory -----------------------------------------------------------------------------------


class MemoryBackend:
    """An LRU of at most ``maxsize`` entries in this process, each with its own expiry.

    An :class:`collections.OrderedDict` behind a lock (one cache serves every thread of a
    Router): a read moves its entry to the end, a write past ``maxsize`` drops the first, all
    three C operations. ``cachetools.LRUCache``, used before, cost 6 to 8 us per stored answer
    inside a call, its ``TLRUCache`` (a heap of expiry times) twice that (docs/performance.md).
    Each entry keeps its expiry time and an expired entry is dropped when it is read; the LRU
    already bounds how many wait for that. ``timer`` is the clock expiry is measured on (tests
    pass a fake one instead of sleeping).
    """

    name = "memory"

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE, *, timer: Timer = time.monotonic) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise InvalidRequestError(
                f"memory cache maxsize must be an int >= 1 (entries kept), got {maxsize!r}",
                param="maxsize",
            )
        self.maxsize = maxsize
        self._timer = timer
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[object, float]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        value = self.get_object(key)
        if value is None or type(value) is bytes:
            return value
        return bytes(value)  # type: ignore[call-overload,no-any-return]

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.set_object(key, value if type(value) is bytes else bytes(value), ttl)

    def get_object(self, key: str) -> object | None:
        """What :meth:`set_object` (or :meth:`set`) stored under ``key``, the object itself;
        ``None`` when absent or expired."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[1] != math.inf and item[1] <= self._timer():
                del self._data[key]
                return None
            self._data.move_to_end(key)
        return item[0]

    def set_object(self, key: str, value: object, ttl: float | None) -> None:
        """Keep ``value`` itself, not bytes: the response cache stores an entry object here and
        so skips building the envelope that a shared backend needs (docs/performance.md).
        ``value`` is kept by reference, so it must not change afterwards; :meth:`get` returns
        ``bytes(value)``, so give it a ``__bytes__`` when it is not bytes."""
        expires = math.inf if ttl is None else self._timer() + _check_ttl(ttl)  # type: ignore[operator]
        item = (value, expires)
        data = self._data
        with self._lock:
            data[key] = item
            data.move_to_end(key)
            if len(data) > self.maxsize:
                data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def close(self) -> None:
        """Nothing to release: the entries stay (``clear()`` drops them)."""

    def __len__(self) -> int:
        """Entries not expired yet."""
        with self._lock:
            now = self._timer()
            for key in [k for k, (_, expires) in self._data.items() if expires <= now]:
                del self._data[key]
            return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryBackend(maxsize={self.maxsize})"


# --- sqlite -----------------------------------------------------------------------------------

_TABLE = "llmrouter_cache"


class SQLiteBackend:
    """One SQLite file shared by threads and processes on one machine.

    Each thread gets its own connection (sqlite3 connections must not be used concurrently);
    the database is in WAL mode so readers in other processes are not blocked by a writer, and a
    busy timeout makes a writer wait for another process's write instead of failing. Expired
    rows are ignored on read and deleted every ``purge_every`` writes. ``timer`` is wall-clock
    time by default: expiry times are compared across processes.
    """

    name = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timer: Timer = time.time,
        purge_every: int = 256,
        busy_timeout: float = 5.0,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise InvalidRequestError(
                f"the sqlite cache needs path= (a file name), got {path!r}", param="path"
            )
        if os.fspath(path) == ":memory:":
            raise InvalidRequestError(
                "the sqlite cache needs path= to name a file: ':memory:' would give every thread its "
                "own empty database; use backend='memory' for an in-process cache",
                param="path",
            )
        self.path = Path(path)
        self._timer = timer
        self._purge_every = max(1, purge_every)
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._writes = 0
        self._generation = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection()  # create the file and table now: a bad path fails here, not later

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.generation == self._generation:
            return conn
        # check_same_thread=False only so that close() may close it from another thread; each
        # connection is otherwise used by the thread that opened it.
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout, check_same_thread=False, isolation_level=None
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_TABLE} "
                "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL)"
            )
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._connections.append(conn)
            local.conn, local.generation = conn, self._generation
        return conn

    def get(self, key: str) -> bytes | None:
        row = (
            self._connection()
            .execute(f"SELECT value, expires_at FROM {_TABLE} WHERE key = ?", (key,))
            .fetchone()
        )
        if row is None:
            return None
        value, expires_at = row
        if expires_at is not None and not (self._timer() < expires_at):
            return None
        if not isinstance(value, bytes):
            raise TypeError(f"corrupt cache row: value is {type(value).__name__}, not bytes")
        return value

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        ttl = _check_ttl(ttl)
        now = self._timer()
        conn = self._connection()
        conn.execute(
            f"INSERT OR REPLACE INTO {_TABLE} (key, value, expires_at) VALUES (?, ?, ?)",
            (key, sqlite3.Binary(value), None if ttl is None else now + ttl),
        )
        with self._lock:
            self._writes += 1
            purge = self._writes % self._purge_every == 0
        if purge:
            self.purge_expired()

    def purge_expired(self) -> int:
        """Delete the rows whose lifetime is over; returns how many."""
        cursor = self._connection().execute(
            f"DELETE FROM {_TABLE} WHERE expires_at IS NOT NULL AND expires_at <= ?",
            (self._timer(),),
        )
        return cursor.rowcount

    def clear(self) -> None:
        self._connection().execute(f"DELETE FROM {_TABLE}")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
            self._generation += 1  # every thread opens a new connection on next use
        for conn in connections:
            conn.close()

    def __len__(self) -> int:
        row = (
            self._connection()
            .execute(
                f"SELECT COUNT(*) FROM {_TABLE} WHERE expires_at IS NULL OR expires_at > ?",
                (self._timer(),),
            )
            .fetchone()
        )
        return int(row[0])

    def __repr__(self) -> str:
        return f"SQLiteBackend(path={os.fspath(self.path)!r})"


# --- redis ------------------------------------------------------------------------------------


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _as_bytes(value: bytes | str | None) -> bytes | None:
    # The clients are made without decode_responses, so values come back as bytes.
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


def _px(ttl: float | None) -> int | None:
    ttl = _check_ttl(ttl)
    return None if ttl is None else max(1, math.ceil(ttl * 1000))


class RedisBackend:
    """A Redis server shared by every process and machine that points at it (a gateway's
    replicas see each other's answers).

    The sync client serves :class:`~llmrouter.Router`; ``aget``/``aset`` use a
    ``redis.asyncio`` client for :class:`~llmrouter.AsyncRouter`, one per event loop (an asyncio
    connection belongs to the loop that opened it). Lifetimes are Redis's own (``SET ... PX``).
    Timeouts are short and there is at most one retry: a cache that waits seconds for a dead
    server costs more than the call it was meant to save.
    """

    name = "redis"

    def __init__(
        self,
        url: str = DEFAULT_REDIS_URL,
        *,
        prefix: str = DEFAULT_REDIS_PREFIX,
        socket_timeout: float = 1.0,
        connect_timeout: float = 1.0,
    ) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
            raise InvalidRequestError(
                "the redis cache needs url='redis://host:port/db' (or rediss:// or unix://), "
                f"got {redact_url(url) if isinstance(url, str) else url!r}",
                param="url",
            )
        try:
            import redis  # noqa: F401
        except ImportError as exc:  # pragma: no cover - redis is in the dev environment
            raise InvalidRequestError(
                "the redis cache needs the redis package: pip install 'llmrouter[redis]'",
                param="backend",
            ) from exc
        self._url = url
        self.prefix = prefix
        self._options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
        }
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._aclients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, redis.asyncio.Redis
        ] = weakref.WeakKeyDictionary()

    @property
    def url(self) -> str:
        """The server's URL with any password removed."""
        return redact_url(self._url)

    def _secrets(self) -> list[str]:
        parts = urlsplit(self._url)
        return [s for s in (parts.password,) if s]

    def _sync(self) -> redis.Redis:
        client = self._client
        if client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            with self._lock:
                if self._client is None:
                    self._client = redis.Redis.from_url(
                        self._url, retry=Retry(NoBackoff(), 1), **self._options
                    )
                client = self._client
        return client

    def _async(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._aclients.get(loop)
            if client is None:
                import redis.asyncio
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff

                client = redis.asyncio.Redis.from_url(
                    self._url, retry=Retry(NoBackoff(), 1), **self._options
                )
                self._aclients[loop] = client
        return client

    def get(self, key: str) -> bytes | None:
        return _as_bytes(self._sync().get(self.prefix + key))

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._sync().set(self.prefix + key, value, px=_px(ttl))

    async def aget(self, key: str) -> bytes | None:
        return _as_bytes(await self._async().get(self.prefix + key))

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        await self._async().set(self.prefix + key, value, px=_px(ttl))

    def clear(self) -> None:
        """Delete every key under this backend's prefix (SCAN, never KEYS: the server is not
        blocked on a large database)."""
        client = self._sync()
        batch: list[Any] = []
        for name in client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)

    def close(self) -> None:
        """Close the sync client, and the async clients whose loop is not running (a running
        loop's client is closed by ``await aclose()`` in it; otherwise it is dropped)."""
        with self._lock:
            client, self._client = self._client, None
            aclients = list(self._aclients.items())
            self._aclients.clear()
        if client is not None:
            client.close()
        for loop, aclient in aclients:
            if loop.is_closed():
                continue
            if loop.is_running():
                try:
                    running = asyncio.get_running_loop()
                except RuntimeError:
                    running = None
                if running is loop:
                    loop.create_task(aclient.aclose())
                else:
                    asyncio.run_coroutine_threadsafe(aclient.aclose(), loop)
            else:
                loop.run_until_complete(aclient.aclose())

    async def aclose(self) -> None:
        """Close the current event loop's client (and, like ``close()``, the sync one)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            aclient = self._aclients.pop(loop, None)
        if aclient is not None:
            await aclient.aclose()
        self.close()

    def __repr__(self) -> str:
        return f"RedisBackend(url={self.url!r}, prefix={self.prefix!r})"
