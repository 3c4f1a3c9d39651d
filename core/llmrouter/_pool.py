"""A constant-time asyncio connection pool under httpx's default async transport.

Why: httpcore's ``AsyncConnectionPool`` (httpcore 1.0) re-plans the whole pool on every request
start and every response close, scanning every queued request against every connection. With
hundreds of requests in flight that scan costs milliseconds per request and becomes the client's
bottleneck (raw httpx does about 440 requests/s at concurrency 1,000 on the benchmark machine,
where the server and aiohttp do 9,000+). Its idle-connection rule also counts *all* connections
against ``max_keepalive_connections``, so beyond that many connections every idle one is closed
and requests keep reconnecting. See docs/performance.md.

:class:`AsyncPool` keeps the same connections (httpcore's ``AsyncHTTPConnection``: the same
HTTP/1.1, TLS, timeout and keep-alive code), the same limits and the same errors; only the
bookkeeping differs:

* idle connections wait in a per-origin stack (the most recently used is reused first, the
  oldest is closed first when ``max_keepalive_connections`` is exceeded or its keep-alive
  expired);
* a request that finds the pool full waits in a FIFO queue, and a connection released later is
  handed to the first waiter directly (or, for another origin, its slot is);
* no step looks at other requests or at the other connections of the same origin, so the cost
  per request does not grow with concurrency (a few steps look once at each origin: a router
  talks to a handful).

It is installed only where it is known to be equivalent (:func:`install`): the transport an
``AsyncRouter`` builds for itself, HTTP/1.1, no proxy, httpcore's stock pool class. Proxies from
the environment keep httpx's own transports (httpx mounts them separately), and under an event
loop other than asyncio (trio, also as a guest on an asyncio loop: decided with sniffio, as
httpcore decides) requests go through httpcore's own algorithm. Connections are closed shielded
from cancellation, as httpcore closes them. ``AsyncRouter(engine="httpx-stock")`` leaves
httpx completely untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

import anyio
import httpcore
import httpx

_sniff: Callable[[], str] | None
try:
    from sniffio import current_async_library as _sniff
except ImportError:  # pragma: no cover - sniffio comes with trio, the only other loop
    _sniff = None

__all__ = ["AsyncPool", "install"]

# httpcore's own scheme check, with its wording.
_SCHEMES = ("http", "https", "ws", "wss")

#: The constructor arguments of ``httpcore.AsyncConnectionPool`` that a replacement copies, by
#: the private attribute httpcore 1.0 stores each one in.
_SETTINGS = {
    "ssl_context": "_ssl_context",
    "max_connections": "_max_connections",
    "max_keepalive_connections": "_max_keepalive_connections",
    "keepalive_expiry": "_keepalive_expiry",
    "http1": "_http1",
    "http2": "_http2",
    "retries": "_retries",
    "local_address": "_local_address",
    "uds": "_uds",
    "network_backend": "_network_backend",
    "socket_options": "_socket_options",
}

Connection = httpcore.AsyncConnectionInterface
Origin = httpcore.Origin
#: ``(scheme, host, port)`` of an origin: httpcore's ``Origin`` is not hashable.
Key = tuple[bytes, bytes, int]


class AsyncPool(httpcore.AsyncConnectionPool):
    """httpcore's async connection pool with constant-time bookkeeping (HTTP/1.1, asyncio).

    Takes exactly ``httpcore.AsyncConnectionPool``'s arguments; HTTP/2 is refused (a multiplexed
    connection is shared between requests, which this pool does not do).
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self._http2:
            raise ValueError("AsyncPool is HTTP/1.1 only; use httpcore.AsyncConnectionPool")
        #: Idle connections by origin, oldest first, each with the time it became idle.
        self._idle: dict[Key, deque[tuple[Connection, float]]] = {}
        self._idle_count = 0
        #: Every connection this pool opened and has not dropped: idle, busy or connecting.
        self._owned: set[Connection] = set()
        #: Requests waiting for a connection, first come first served.
        self._waiters: deque[tuple[Key, Origin, asyncio.Future[Connection]]] = deque()
        #: Connections taken out of the pool by the bookkeeping, to be closed by the next await.
        self._dropped: list[Connection] = []
        #: When every origin's idle connections were last checked for expiry.
        self._swept = 0.0
        self._closed = False

    @classmethod
    def replacing(cls, pool: httpcore.AsyncConnectionPool) -> AsyncPool:
        """A new pool with the settings of ``pool`` (which must not have been used)."""
        return cls(**{name: getattr(pool, attr) for name, attr in _SETTINGS.items()})

    # -- httpcore's interface --------------------------------------------------------------

    @property
    def connections(self) -> list[Connection]:
        return [*self._owned, *self._connections]

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not _on_asyncio():
            # Not asyncio (trio, also as a guest on an asyncio loop): httpcore's own algorithm,
            # its own connections.
            return await super().handle_async_request(request)
        scheme = request.url.scheme.decode()
        if scheme == "":
            raise httpcore.UnsupportedProtocol(
                "Request URL is missing an 'http://' or 'https://' protocol."
            )
        if scheme not in _SCHEMES:
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'."
            )
        origin = request.url.origin
        key = (origin.scheme, origin.host, origin.port)
        timeout = request.extensions.get("timeout", {}).get("pool")
        while True:
            connection = self._checkout(key, origin)
            if connection is None:
                connection = await self._wait(key, origin, timeout)
            try:
                if self._dropped:
                    await self._close_dropped()
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                # The connection changed state between checkout and use: take another one.
                await self._release(connection, key)
                continue
            except BaseException:
                await self._release(connection, key)
                raise
            assert isinstance(response.stream, AsyncIterable)
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_PooledStream(response.stream, self, connection, key),
                extensions=response.extensions,
            )

    async def aclose(self) -> None:
        self._closed = True
        closing = [*self._dropped, *self._owned]
        self._dropped = []
        self._owned.clear()
        self._idle.clear()
        self._idle_count = 0
        while self._waiters:
            _, _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(
                    httpcore.ConnectError("the connection pool was closed while waiting")
                )
        await _close_all(closing)
        await super().aclose()

    def __repr__(self) -> str:
        busy = len(self._owned) - self._idle_count
        return (
            f"<{type(self).__name__} [{busy} busy, {self._idle_count} idle, "
            f"{len(self._waiters)} waiting | max {self._max_connections}]>"
        )

    # -- bookkeeping (synchronous, so it cannot be interrupted half-way) -----------------

    def _checkout(self, key: Key, origin: Origin) -> Connection | None:
        """An idle connection to ``origin``, or a new one if the limit allows, else ``None``."""
        idle = self._idle.get(key)
        while idle:
            connection, _ = idle.pop()
            self._idle_count -= 1
            if not idle:
                del self._idle[key]
            if connection.is_available() and not connection.has_expired():
                return connection
            self._drop(connection)
        if len(self._owned) < self._max_connections:
            return self._open(origin)
        if self._idle_count:
            # The pool is full, partly with idle connections to other origins: replace one.
            self._drop(self._pop_oldest_idle())
            return self._open(origin)
        return None

    def _checkin(self, connection: Connection, key: Key) -> None:
        """Take back ``connection`` after its request: reuse it, hand it on, or drop it."""
        if connection not in self._owned:
            # Already dropped: the pool was closed meanwhile (a connection still connecting
            # then was not really closed), or this is a second release. Closing is idempotent.
            self._dropped.append(connection)
            return
        if not connection.is_idle() or connection.is_closed() or self._closed:
            self._drop(connection)
            self._give_slot()
            return
        while self._waiters:
            wanted, origin, waiter = self._waiters.popleft()
            if waiter.done():
                continue  # timed out or cancelled
            if wanted == key:
                waiter.set_result(connection)
                return
            # Another origin: this connection's slot goes to the waiter (still first in line).
            self._waiters.appendleft((wanted, origin, waiter))
            self._drop(connection)
            self._give_slot()
            return
        now = time.monotonic()
        self._idle.setdefault(key, deque()).append((connection, now))
        self._idle_count += 1
        self._expire_idle(key, now)

    def _give_slot(self) -> None:
        """A connection was dropped: let the first live waiter open a new one."""
        while self._waiters and len(self._owned) < self._max_connections:
            _, origin, waiter = self._waiters.popleft()
            if waiter.done():
                continue
            try:
                connection = self._open(origin)
            except Exception as exc:  # the waiter learns why, rather than waiting on
                waiter.set_exception(exc)
                continue
            waiter.set_result(connection)
            return

    def _expire_idle(self, key: Key, now: float) -> None:
        """Close idle connections beyond the keep-alive limit or past their expiry, oldest
        first. The origin just used is checked on every release; all origins at most once a
        second (so the cost per request does not grow with the number of origins)."""
        while self._idle_count > self._max_keepalive_connections:
            self._drop(self._pop_oldest_idle())
        expiry = self._keepalive_expiry
        if expiry is None:
            return
        if now - self._swept < 1.0:
            keys: Iterable[Key] = (key,) if key in self._idle else ()
        else:
            self._swept = now
            keys = list(self._idle)
        for each in keys:
            idle = self._idle[each]
            while idle and now - idle[0][1] > expiry:
                connection, _ = idle.popleft()
                self._idle_count -= 1
                self._drop(connection)
            if not idle:
                del self._idle[each]

    def _pop_oldest_idle(self) -> Connection:
        oldest: deque[tuple[Connection, float]] | None = None
        for idle in self._idle.values():
            if idle and (oldest is None or idle[0][1] < oldest[0][1]):
                oldest = idle
        assert oldest is not None
        connection, _ = oldest.popleft()
        self._idle_count -= 1
        if not oldest:
            self._idle = {k: v for k, v in self._idle.items() if v}
        return connection

    def _open(self, origin: Origin) -> Connection:
        connection = self.create_connection(origin)
        self._owned.add(connection)
        return connection

    def _drop(self, connection: Connection) -> None:
        self._owned.discard(connection)
        self._dropped.append(connection)

    # -- waiting and releasing ----------------------------------------------------------

    async def _wait(self, key: Key, origin: Origin, timeout: float | None) -> Connection:
        """Queue for a connection to ``origin``; ``httpcore.PoolTimeout`` after ``timeout``."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Connection] = loop.create_future()
        self._waiters.append((key, origin, waiter))
        timer = None if timeout is None else loop.call_later(timeout, _time_out, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection just as this request was cancelled: pass it on.
                await self._release(waiter.result(), key)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def _release(self, connection: Connection, key: Key) -> None:
        self._checkin(connection, key)
        await self._close_dropped()

    async def _close_dropped(self) -> None:
        dropped = self._dropped
        if dropped:
            self._dropped = []
            await _close_all(dropped)


def _on_asyncio() -> bool:
    """Whether the running event loop is asyncio's own (and not trio, also not trio running as
    a guest on an asyncio loop): what httpcore itself decides with sniffio."""
    if _sniff is not None:
        try:
            return bool(_sniff() == "asyncio")
        except Exception:  # sniffio's AsyncLibraryNotFoundError: no loop at all
            return False
    return asyncio._get_running_loop() is not None


def _time_out(waiter: asyncio.Future[Connection]) -> None:
    if not waiter.done():
        waiter.set_exception(httpcore.PoolTimeout("timed out waiting for a free connection"))


async def _close_all(connections: list[Connection]) -> None:
    """Close every connection, shielded from cancellation as httpcore shields its own closes
    (an anyio cancel scope that is already cancelled would otherwise stop at the first one and
    leave the rest open). Closing a socket the peer already dropped may fail: not reported."""
    with anyio.CancelScope(shield=True):
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.aclose()


class _PooledStream:
    """A response body that gives its connection back to the pool when closed."""

    __slots__ = ("_closed", "_connection", "_key", "_pool", "_stream")

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        pool: AsyncPool,
        connection: Connection,
        key: Key,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._key = key
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                # Shielded like httpcore's: a response read to the end and closed inside a
                # cancelled anyio scope still returns its connection for reuse.
                with anyio.CancelScope(shield=True):
                    await close()
        finally:
            # Always, even if closing was interrupted: an unfinished connection is dropped.
            await self._pool._release(self._connection, self._key)


def install(client: httpx.AsyncClient) -> bool:
    """Put an :class:`AsyncPool` under ``client``'s default transport where that is equivalent.

    Only for a client whose default transport is httpx's own ``AsyncHTTPTransport`` over
    httpcore's stock pool, HTTP/1.1, not used yet. Returns whether the pool was replaced.
    """
    transport = getattr(client, "_transport", None)
    if type(transport) is not httpx.AsyncHTTPTransport:
        return False
    pool = getattr(transport, "_pool", None)
    if type(pool) is not httpcore.AsyncConnectionPool:
        return False
    try:
        if pool._http2 or pool.connections:
            return False
        replacement = AsyncPool.replacing(pool)
    except (AttributeError, TypeError):  # another httpcore layout: keep httpx as it is
        return False
    transport._pool = replacement
    return True
