"""A small asyncio HTTP/1.1 client for llmrouter's own non-streamed calls (the ``native`` engine).

Why written here rather than taken from a library: the gateway's added latency at concurrency 1
is mostly CPU spent per request, and the best-kept asyncio client, aiohttp, spends about
175-215 us of it on one POST of a chat body and the read of its answer (its session's request
machinery: cookie and header processing, timers, trace hooks, its stream reader), where this
module spends about 70 us for the same exchange on the same machine (an asyncio protocol, the
request written in one call, the answer parsed by ``httptools``, the C parser uvicorn uses;
docs/performance.md, "The gateway"). No maintained client offers a lighter mode, and the work
is small because the job is narrow:

- one request, one whole answer: no streaming (streams, and everything called through the httpx
  API, stay on the aiohttp session beside it, :class:`llmrouter._http.NativeAsyncClient`);
- HTTP/1.1 over TCP or TLS (the ssl context httpx builds, so certificates are checked the same
  way), keep-alive connections pooled per origin with httpx's limits (``max_connections``,
  ``max_keepalive_connections``, ``keepalive_expiry``), calls over ``max_connections`` served
  in arrival order;
- bodies framed by Content-Length, chunked, or the end of the connection; gzip and deflate
  decoded (the only encodings it asks for);
- the request's whole deadline (``timeout.read``, as on every engine), the connect timeout and
  the wait for a free connection (``timeout.pool``), the response size limit checked on the
  announced length before the body is read, then while reading and decoding; a response head
  still unfinished after 64 KiB, or 128 KiB of chunk framing and trailers without any body, is
  an error (the parser would buffer them without end);
- no proxies (like aiohttp's default, ``trust_env=False``), no redirects (never followed by the
  router), no cookies (the router bypasses httpx only when the client has none).

Failures are raised as the httpx exceptions the router already maps (``httpx.ConnectError``,
``httpx.ReadTimeout``, ``httpx.RemoteProtocolError``...), so this engine's errors read exactly
like the others'. A connection is reused only after a complete answer that allowed it, with the
whole request written; anything else (an error, a cancelled call, a size limit) closes it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import zlib
from collections.abc import Callable

import httptools
import httpx

__all__ = ["HEAD_MAX", "Http1Pool", "TooLarge", "decode_body"]

_Origin = tuple[str, str, int]  # scheme, host (ASCII, IDNA-encoded), port

#: The largest response head (status line and headers) read, in bytes; more is an error.
HEAD_MAX = 64 * 1024

#: Methods whose request carries a Content-Length even without a body (as httpx and aiohttp).
_WITH_LENGTH = frozenset({"POST", "PUT", "PATCH"})

_timeout_scope = getattr(asyncio, "timeout", None)  # Python 3.11+


class TooLarge(Exception):
    """The answer is over the size limit: ``size`` bytes (announced by Content-Length when
    ``announced``). The caller turns it into ``ResponseTooLargeError`` with its call's names."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], size: int, announced: bool):
        super().__init__(size)
        self.status = status
        self.headers = headers
        self.size = size
        self.announced = announced


class _Stop(Exception):
    """Raised from a parser callback to stop parsing (the answer already failed)."""


class _Connection(asyncio.Protocol):
    """One connection and the answer being read on it (one request at a time)."""

    def __init__(self, pool: Http1Pool, origin: _Origin) -> None:
        self.pool = pool
        self.origin = origin
        self.generation = pool._generation
        self.epoch = pool._epoch
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.lost: BaseException | None = None  # why the connection ended, if it did
        self.idle = False
        self.used = False  # has carried a request before
        self.counted = True  # holds one of the pool's max_connections slots
        self.idle_since = 0.0
        self.limit = 0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.fed = 0  # bytes of this answer fed to the parser
        self.progress = 0  # self.fed when the body last made progress
        self.first_line = b""
        self.received = False  # any byte of the answer
        self.headers_done = False
        self.framed = False  # Content-Length or chunked: the end is not the connection's
        self.complete = False
        self.keep_alive = False

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes before any request, or on an idle connection: unusable
            self.close()
            return
        if not self.received:
            self.received = True
            end = data.find(b"\r\n", 0, 202)
            self.first_line = data[:end] if end >= 0 else data[:202]
        if not self.headers_done and self.fed > HEAD_MAX:
            self._head_too_large()
            return
        self.fed += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, _Stop) as exc:
            # a callback that stopped the parser has already failed the answer (httptools
            # re-raises it as HttpParserCallbackError); anything else is a malformed answer
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}{self._quote()}"))
            return
        except httptools.HttpParserUpgrade:
            self._fail(
                httpx.RemoteProtocolError(
                    f"the server switched protocols (HTTP {self.status or 101}), which a chat "
                    "call cannot use"
                )
            )
            return
        # The parser buffers a head, and a chunked body's trailers, until they end: both are
        # bounded (by what arrived without the head ending, or without any body progress),
        # and the check comes after a read, so a read holding a head and a large body is fine.
        if self.complete:
            return
        if not self.headers_done:
            if self.fed > HEAD_MAX:
                self._head_too_large()
        elif self.fed - self.progress > 2 * HEAD_MAX:
            self._fail(
                httpx.RemoteProtocolError(
                    f"the answer sent over {2 * HEAD_MAX} bytes of chunk framing or trailers "
                    "without any body"
                )
            )

    def _head_too_large(self) -> None:
        self._fail(
            httpx.RemoteProtocolError(f"the response head is over {HEAD_MAX} bytes{self._quote()}")
        )

    def _quote(self) -> str:
        """The answer's status line for an error message, when it is short: a long one is not
        quoted, since a cut could leave part of a secret that redaction would not recognise."""
        line = self.first_line
        if not line or len(line) > 200 or self.headers_done:
            return ""
        return f" (its status line: {line!r})"

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if exc is None and self.headers_done and not self.framed and not self.complete:
                self.complete = True  # a body delimited by the end of the connection
                self.keep_alive = False
                waiter.set_result(None)
            elif isinstance(exc, OSError):
                waiter.set_exception(httpx.ReadError(str(exc) or type(exc).__name__))
            elif self.received:
                waiter.set_exception(
                    httpx.RemoteProtocolError(
                        "the server closed the connection before the end of its response"
                    )
                )
            else:
                waiter.set_exception(_disconnected())
        if self.idle:
            self.pool._lost(self)

    # --- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # bytes after the whole answer, before it was taken: not reusable
            self.keep_alive = False
            raise _Stop
        self.headers = []
        self.body = []
        self.size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.headers_done:  # after the head: a chunked body's trailers, not kept
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.progress = self.fed
        status = self.parser.get_status_code()
        self.status = status
        if status < 200:  # 1xx: an interim answer; the real one follows
            return
        self.headers_done = True
        if status in (204, 304):  # no body, whatever the headers say
            self.framed = True
            return
        length = None
        chunked = None  # the last Transfer-Encoding decides, and overrides a Content-Length
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                with contextlib.suppress(ValueError):  # the parser refuses a bad one itself
                    length = int(value)
            elif lowered == b"transfer-encoding":
                chunked = value.rstrip().lower().endswith(b"chunked")
        if chunked is not None:
            self.framed = chunked
        elif length is not None:
            self.framed = True
            if length > self.limit:
                self._fail(TooLarge(status, self.headers, length, announced=True))
                raise _Stop

    def on_chunk_header(self) -> None:
        self.progress = self.fed

    def on_body(self, body: bytes) -> None:
        self.progress = self.fed
        self.size += len(body)
        if self.size > self.limit:
            self._fail(TooLarge(self.status, self.headers, self.size, announced=False))
            raise _Stop
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.status < 200:
            self.headers = []
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- helpers -------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop already closed
                self.transport.abort()

    def timed_out(self) -> None:
        self._fail(httpx.ReadTimeout("no complete response before the request's deadline"))


def _disconnected() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("server disconnected without sending a response")


_POOL_TIMEOUT = object()  # a pool waiter's result when its wait ran out
_SLOT = object()  # a pool waiter's result: a connection slot, already counted for it


class Http1Pool:
    """Keep-alive HTTP/1.1 connections by origin, and :meth:`request` over them.

    At ``max_connections`` calls wait in arrival order: a connection given back goes straight
    to the first waiter (or, for another origin, is closed and its slot goes to that waiter),
    so a call that has waited is never overtaken by one that just arrived. Bound to the event
    loop it is first used in (as an aiohttp session is); ``aclose`` closes every idle
    connection, and those in use when their calls end."""

    def __init__(
        self,
        limits: httpx.Limits,
        ssl_context: Callable[[], ssl.SSLContext] = httpx.create_ssl_context,
    ) -> None:
        self._max = limits.max_connections or 0  # 0: no limit
        self._max_idle = (
            limits.max_keepalive_connections
            if limits.max_keepalive_connections is not None
            else 1 << 30
        )
        self._expiry = limits.keepalive_expiry if limits.keepalive_expiry is not None else 1e12
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[_Origin, collections.deque[_Connection]] = {}
        self._idle_count = 0
        self._open = 0  # connections open or being opened, and slots handed to waiters
        self._waiters: collections.deque[tuple[asyncio.Future[object], _Origin]] = (
            collections.deque()
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Bumped when the pool moves to another event loop: connections of an older
        #: generation no longer count against the limits and are never pooled again.
        self._generation = 0
        #: Bumped by aclose(): connections opened before it are closed when their calls end.
        self._epoch = 0
        self._heads: dict[tuple[_Origin, str, bytes], bytes] = {}

    # --- connections ---------------------------------------------------------------------------

    async def _acquire(
        self, origin: _Origin, deadline: float, timeout: httpx.Timeout
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._forget_loop()
            self._loop = loop
        until = deadline if timeout.pool is None else min(deadline, loop.time() + timeout.pool)
        while not self._waiters:  # nobody waits ahead of this call
            idle = self._idle.get(origin)
            while idle:
                conn = idle.pop()
                self._idle_count -= 1
                conn.idle = False
                if conn.closed or loop.time() - conn.idle_since > self._expiry:
                    conn.close()
                    self._discard(conn)
                    continue
                return conn
            if not self._max or self._open < self._max:
                self._open += 1
                return await self._connect(loop, origin, deadline, timeout)
            if not self._idle_count:
                break
            self._close_one_idle()  # make room: close an idle connection to another origin
        got = await self._wait(loop, origin, until)
        if got is _SLOT:
            return await self._connect(loop, origin, deadline, timeout)
        assert isinstance(got, _Connection)
        return got

    async def _wait(self, loop: asyncio.AbstractEventLoop, origin: _Origin, until: float) -> object:
        """Wait for a connection to ``origin`` or a slot (counted for this call). One handed
        over as this call leaves anyway (cancelled, timed out) is handed on."""
        waiter: asyncio.Future[object] = loop.create_future()
        entry = (waiter, origin)
        self._waiters.append(entry)
        timer = loop.call_at(until, _expire, waiter)
        try:
            got = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._hand_back(waiter.result())
            raise
        finally:
            timer.cancel()
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
        if got is _POOL_TIMEOUT:
            raise httpx.PoolTimeout("no free connection in time (max_connections)")
        return got

    def _hand_back(self, got: object) -> None:
        """What a waiter was given and will not use."""
        if isinstance(got, _Connection):
            got.keep_alive = True  # as it was given: reusable, for the next waiter
            self._release(got)
        elif got is _SLOT:
            self._free_slot()

    def _next_waiter(self) -> tuple[asyncio.Future[object], _Origin] | None:
        while self._waiters:
            entry = self._waiters.popleft()
            if not entry[0].done():
                return entry
        return None

    def _free_slot(self) -> None:
        """A counted slot is free: the first waiter gets it, else the count goes down."""
        entry = self._next_waiter()
        if entry is None:
            self._open -= 1
        else:
            entry[0].set_result(_SLOT)

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, origin: _Origin, deadline: float, t: httpx.Timeout
    ) -> _Connection:
        """A new connection to ``origin``, in a slot already counted for it."""
        scheme, host, port = origin
        conn = _Connection(self, origin)
        try:
            context = None
            if scheme == "https":
                context = self._ssl
                if context is None:
                    context = self._ssl = self._ssl_factory()
        except Exception as exc:
            self._discard(conn)
            raise httpx.ConnectError(f"could not set up TLS: {type(exc).__name__}: {exc}") from exc
        limit = deadline - loop.time()
        if t.connect is not None:
            limit = min(limit, t.connect)
        # A name with a trailing dot is checked against the certificate without it (as
        # aiohttp and browsers do).
        connecting = loop.create_connection(
            lambda: conn,
            host,
            port,
            ssl=context,
            server_hostname=host.rstrip(".") if context is not None else None,
        )
        try:
            if _timeout_scope is not None:
                async with _timeout_scope(max(limit, 0.0)):
                    await connecting
            else:  # Python 3.10
                await asyncio.wait_for(connecting, max(limit, 0.0))
        except asyncio.TimeoutError:
            self._discard(conn)
            conn.close()
            raise httpx.ConnectTimeout(f"could not connect to {host}:{port} in time") from None
        except (OSError, ssl.SSLError) as exc:
            self._discard(conn)
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self._discard(conn)
            conn.close()
            raise
        return conn

    async def _replace(
        self,
        conn: _Connection,
        loop: asyncio.AbstractEventLoop,
        origin: _Origin,
        deadline: float,
        timeout: httpx.Timeout,
    ) -> _Connection:
        """A new connection in the slot of ``conn``, which is closed: the call keeps its place
        (a call that waited for ``conn`` is not sent to the back of the queue)."""
        conn.close()
        if conn.counted and conn.generation == self._generation:
            conn.counted = False
            return await self._connect(loop, origin, deadline, timeout)
        self._discard(conn)
        return await self._acquire(origin, deadline, timeout)

    def _release(self, conn: _Connection) -> None:
        """After a complete answer that allows it: to the first waiter for its origin, or back
        to the pool; anything else closes it."""
        conn.waiter = None
        transport = conn.transport
        if (
            conn.closed
            or not conn.keep_alive
            or conn.epoch != self._epoch
            or conn.generation != self._generation
            or transport is None
            or transport.get_write_buffer_size()  # answered before the request was all sent
        ):
            conn.close()
            self._discard(conn)
            return
        conn._reset()
        conn.used = True
        entry = self._next_waiter()
        if entry is not None:
            waiter, origin = entry
            if origin == conn.origin:
                waiter.set_result(conn)
            else:  # its slot goes to a waiter for another origin
                conn.close()
                conn.counted = False
                waiter.set_result(_SLOT)
            return
        if self._idle_count >= self._max_idle:
            conn.close()
            self._discard(conn)
            return
        loop = self._loop
        conn.idle_since = loop.time() if loop is not None else 0.0
        conn.idle = True
        self._idle.setdefault(conn.origin, collections.deque()).append(conn)
        self._idle_count += 1

    def _discard(self, conn: _Connection) -> None:
        if conn.counted:
            conn.counted = False
            if conn.generation == self._generation:
                self._free_slot()

    def _lost(self, conn: _Connection) -> None:
        """An idle connection closed by the server."""
        idle = self._idle.get(conn.origin)
        if idle is not None and conn.idle:
            with contextlib.suppress(ValueError):
                idle.remove(conn)
                self._idle_count -= 1
        conn.idle = False
        self._discard(conn)

    def _close_one_idle(self) -> None:
        for idle in self._idle.values():
            if idle:
                conn = idle.popleft()  # the oldest of its origin
                self._idle_count -= 1
                conn.idle = False
                conn.close()
                self._discard(conn)
                return

    def _forget_loop(self) -> None:
        """Connections of another (finished) event loop cannot be used in this one."""
        for idle in self._idle.values():
            for conn in idle:
                conn.idle = False
                conn.close()  # on a closed loop the socket is closed when collected
        self._idle.clear()
        self._idle_count = 0
        self._open = 0
        self._waiters.clear()
        self._generation += 1

    async def aclose(self) -> None:
        """Close the idle connections; those in use are closed when their calls end."""
        self._epoch += 1
        idle_now = [conn for idle in self._idle.values() for conn in idle]
        self._idle.clear()
        self._idle_count = 0
        for conn in idle_now:
            conn.idle = False
            conn.close()
            self._discard(conn)

    # --- requests ------------------------------------------------------------------------------

    def _head(self, method: str, url: httpx.URL, origin: _Origin) -> bytes:
        """The request line and Host header, by URL (routers call a handful of URLs)."""
        key = (origin, method, url.raw_path)
        head = self._heads.get(key)
        if head is None:
            head = method.encode("ascii") + b" " + url.raw_path + b" HTTP/1.1\r\nhost: "
            head += url.netloc + b"\r\n"
            if len(self._heads) >= 256:
                self._heads.clear()
            self._heads[key] = head
        return head

    async def request(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        body: bytes | None,
        timeout: httpx.Timeout,
        limit: int,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one request and read its whole answer: (status, raw headers, decoded body).

        ``timeout.read`` is the deadline of the whole exchange; more than ``limit`` bytes of
        body raise :class:`TooLarge`; transport failures raise httpx's exceptions. A GET whose
        kept-alive connection turns out to be closed by the server is sent once more on a new
        connection (it changes nothing on the server); any other method fails then."""
        scheme = url.scheme
        # The host as it goes on the wire (IDNA-encoded): connecting with the decoded name
        # would let the resolver and the certificate check encode it their own way.
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, host, port)
        loop = asyncio.get_running_loop()
        total = timeout.read
        deadline = loop.time() + (total if total is not None else 1e12)
        parts = [self._head(method, url, origin)]
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise httpx.LocalProtocolError(f"header {name!r} holds a line break")
            parts.append(f"{name}: {value}\r\n".encode())
        if body is not None:
            parts.append(b"content-length: %d\r\n\r\n" % len(body))
            parts.append(body)
        elif method in _WITH_LENGTH:
            parts.append(b"content-length: 0\r\n\r\n")
        else:
            parts.append(b"\r\n")
        retried = False
        conn = await self._acquire(origin, deadline, timeout)
        while True:
            transport = conn.transport
            if conn.closed or transport is None or transport.is_closing():
                if conn.used:  # a kept-alive connection that died unseen: nothing was sent
                    conn = await self._replace(conn, loop, origin, deadline, timeout)
                    continue
                # a new connection the server closed (or wrote to) before the request
                self._discard(conn)
                conn.close()
                lost = conn.lost
                if isinstance(lost, OSError):
                    raise httpx.ConnectError(f"{type(lost).__name__}: {lost}")
                raise _disconnected()
            waiter = conn.waiter = loop.create_future()
            conn.limit = limit
            timer = loop.call_at(deadline, conn.timed_out) if total is not None else None
            try:
                transport.writelines(parts)
                await waiter
            except (httpx.RemoteProtocolError, httpx.ReadError):
                if method == "GET" and conn.used and not conn.received and not retried:
                    retried = True  # a stale keep-alive connection: once more, on a new one
                    conn.waiter = None
                    conn = await self._replace(conn, loop, origin, deadline, timeout)
                    continue
                conn.close()
                self._discard(conn)
                raise
            except BaseException:
                conn.close()
                self._discard(conn)
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            break
        status, raw_headers, chunks = conn.status, conn.headers, conn.body
        self._release(conn)
        content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return status, raw_headers, decode_body(status, raw_headers, content, limit)


def _expire(waiter: asyncio.Future[object]) -> None:
    if not waiter.done():
        waiter.set_result(_POOL_TIMEOUT)


def decode_body(
    status: int, headers: list[tuple[bytes, bytes]], content: bytes, limit: int
) -> bytes:
    """``content`` with its Content-Encoding undone (gzip or deflate, the encodings the engine
    asks for); more than ``limit`` decoded bytes raise :class:`TooLarge`; a corrupt, truncated
    or unknown encoding is an ``httpx.RemoteProtocolError`` naming it."""
    encoding = None
    for name, value in headers:
        if name.lower() == b"content-encoding":
            encoding = value.strip().lower()
    if not encoding or encoding == b"identity" or not content:
        return content
    if encoding in (b"gzip", b"x-gzip"):
        out = _inflate(encoding, content, 16 + zlib.MAX_WBITS, limit)
    elif encoding == b"deflate":  # zlib-wrapped as the RFC says, or raw as some servers send
        try:
            out = _inflate(encoding, content, zlib.MAX_WBITS, limit)
        except httpx.RemoteProtocolError:
            out = _inflate(encoding, content, -zlib.MAX_WBITS, limit)
    else:
        raise httpx.RemoteProtocolError(
            f"the server answered with Content-Encoding {encoding.decode('latin-1')!r}, which "
            "this engine does not decode (it asks for gzip or deflate only)"
        )
    if len(out) > limit:
        raise TooLarge(status, headers, len(out), announced=False)
    return out


def _inflate(encoding: bytes, content: bytes, wbits: int, limit: int) -> bytes:
    name = encoding.decode()
    try:
        decoder = zlib.decompressobj(wbits)
        out = decoder.decompress(content, limit + 1)
    except zlib.error as exc:
        raise httpx.RemoteProtocolError(f"the {name} body is corrupt: {exc}") from None
    if len(out) <= limit and not decoder.eof:
        raise httpx.RemoteProtocolError(f"the {name} body is truncated")
    return out
