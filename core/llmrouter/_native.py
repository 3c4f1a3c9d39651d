"""A sync httpx transport that reads HTTP/1.1 answers with httptools (``Router(engine="native")``).

Why written here rather than taken from a library: a sync stream's cost per chunk was mostly
httpx's own reading, not llmrouter's. httpx's default transport (httpcore over h11) hands a
streamed body over one HTTP chunk at a time, and a server streaming Server-Sent Events sends one
event per HTTP chunk, so every event crossed h11's state machine and five generator layers:
about two thirds of a chunk's CPU on Anthropic's stream (docs/performance.md, "The Anthropic
path"). This transport gives httpx everything the socket returned in one read, with the chunk
framing removed by ``httptools`` (the C parser uvicorn uses), so those layers run once per read
instead of once per event. No maintained sync client reads that way; the job is narrow:

- an ``httpx.BaseTransport`` (httpx's documented extension point): the client keeps building
  requests, decoding content (gzip...), mounting proxy transports from the environment and
  raising its own exceptions; this class only moves bytes;
- HTTP/1.1 over TCP or TLS through httpcore's sync network backend (its connect, TLS handshake
  and per-operation timeouts, and llmrouter's deadline clamp, exactly as the ``httpx`` engine's
  connections have them), with the ssl context httpx builds;
- keep-alive connections pooled per origin with httpx's limits (``max_connections``,
  ``max_keepalive_connections``, ``keepalive_expiry``), a connection that became readable while
  idle (closed by the server) never reused, threads over ``max_connections`` waiting up to
  ``timeout.pool`` for one to be given back;
- bodies framed by Content-Length, chunked, or the end of the connection; a response head still
  unfinished after 64 KiB, or 128 KiB of chunk framing and trailers without any body, is an
  error (the parser would buffer them without end). A connection is reused only after a
  complete answer that allowed it; anything else closes it.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Final

import httpcore
import httptools
import httpx

from llmrouter._http import DEFAULT_LIMITS, _DeadlineBackend

__all__ = ["HEAD_MAX", "NativeTransport", "make_native_client"]

_Origin = tuple[str, str, int]  # scheme, host (ASCII, IDNA-encoded), port

#: The largest response head (status line and headers) read, in bytes; more is an error.
HEAD_MAX: Final = 64 * 1024
#: Bytes asked of the socket per read.
READ_SIZE: Final = 64 * 1024
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

#: httpcore's exceptions (raised by its network streams) as httpx's, by the same names.
_EXCEPTIONS: Final[dict[type[Exception], type[httpx.TransportError]]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


@contextlib.contextmanager
def _as_httpx() -> Iterator[None]:
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise _EXCEPTIONS.get(type(exc), httpx.TimeoutException)(str(exc)) from exc
    except httpcore.NetworkError as exc:
        raise _EXCEPTIONS.get(type(exc), httpx.NetworkError)(str(exc)) from exc
    except httpcore.ProtocolError as exc:
        raise _EXCEPTIONS.get(type(exc), httpx.ProtocolError)(str(exc)) from exc


class _Conn:
    """One connection and the answer being read on it (one request at a time)."""

    __slots__ = (
        "body",
        "broken",
        "complete",
        "fault",
        "fed",
        "first_line",
        "framed",
        "head_only",
        "headers",
        "headers_done",
        "idle_since",
        "keep_alive",
        "origin",
        "parser",
        "progress",
        "reason",
        "status",
        "stream",
    )

    def __init__(self, stream: httpcore.NetworkStream, origin: _Origin) -> None:
        self.stream = stream
        self.origin = origin
        self.idle_since = 0.0
        self.broken = False  # the request was not written whole: never reused
        self.start(head_only=False)

    def start(self, head_only: bool) -> None:
        """Ready for the answer to a new request (``head_only``: a HEAD, which has no body)."""
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.fed = 0  # bytes of this answer fed to the parser
        self.first_line = b""
        self.progress = 0  # self.fed when the body last made progress
        self.headers_done = False
        self.framed = False  # Content-Length or chunked: the end is not the connection's
        self.complete = False
        self.keep_alive = False
        #: A fault in the body, raised once the bytes read before it are handed over.
        self.fault: httpx.HTTPError | None = None

    def feed(self, data: bytes) -> None:
        if not self.fed:
            end = data.find(b"\r\n", 0, 202)
            self.first_line = data[:end] if end >= 0 else data[:202]
        if not self.headers_done and self.fed > HEAD_MAX:
            raise self._head_too_large()
        self.fed += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise httpx.RemoteProtocolError(
                f"the server switched protocols (HTTP {self.status or 101}), which a chat call "
                "cannot use"
            ) from None
        except httptools.HttpParserError as exc:
            if self.complete:  # bytes after the whole answer: the connection is not reusable
                self.keep_alive = False
                return
            raise httpx.RemoteProtocolError(
                f"malformed HTTP response: {exc}{self._quote()}"
            ) from None
        if self.complete:
            return
        if not self.headers_done:
            if self.fed > HEAD_MAX:
                raise self._head_too_large()
        elif self.fed - self.progress > 2 * HEAD_MAX:
            raise httpx.RemoteProtocolError(
                f"the answer sent over {2 * HEAD_MAX} bytes of chunk framing or trailers "
                "without any body"
            )

    def _head_too_large(self) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError(
            f"the response head is over {HEAD_MAX} bytes{self._quote()}"
        )

    def _quote(self) -> str:
        """The answer's status line for an error message, when it is short: a long one is not
        quoted, since a cut could leave part of a secret that redaction would not recognise."""
        line = self.first_line
        if not line or len(line) > 200 or self.headers_done:
            return ""
        return f" (its status line: {line!r})"

    def ended(self) -> None:
        """The server closed the connection: the end of a body it delimits, else an error."""
        if self.headers_done and not self.framed:
            self.complete = True
            self.keep_alive = False
            return
        if self.fed:
            raise httpx.RemoteProtocolError(
                "the server closed the connection before the end of its response"
            )
        raise httpx.RemoteProtocolError("server disconnected without sending a response")

    # --- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request: the connection is not reusable
            self.keep_alive = False
            raise httpx.RemoteProtocolError("bytes after the end of the response")
        self.headers = []
        self.body = []

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

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
        if status in (204, 304):
            self.framed = True
            return
        if self.head_only:  # the headers describe a body that is not sent
            self.framed = True
            self.complete = True
            self.keep_alive = False  # the parser would wait for that body: not reused
            return
        chunked = None  # the last Transfer-Encoding decides, and overrides a Content-Length
        length = False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = True
            elif lowered == b"transfer-encoding":
                chunked = value.rstrip().lower().endswith(b"chunked")
        self.framed = chunked if chunked is not None else length

    def on_chunk_header(self) -> None:
        self.progress = self.fed

    def on_body(self, body: bytes) -> None:
        if self.complete:  # a HEAD answer's announced body, or bytes after the answer
            return
        self.progress = self.fed
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.status < 200:
            self.headers = []
            self.reason = b""
            return
        if not self.complete:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.close()


class _Body(httpx.SyncByteStream):
    """An answer's body: each read's bytes, the chunk framing removed, as they arrive."""

    def __init__(self, transport: NativeTransport, conn: _Conn, read_timeout: float | None):
        self._transport = transport
        self._conn: _Conn | None = conn
        self._read_timeout = read_timeout

    def __iter__(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        read = conn.stream.read
        timeout = self._read_timeout
        while True:
            if conn.body:
                body, conn.body = conn.body, []
                yield body[0] if len(body) == 1 else b"".join(body)
            if conn.fault is not None:  # after the bytes the same read brought before it
                fault, conn.fault = conn.fault, None
                raise fault
            if conn.complete:
                return
            with _as_httpx():
                data = read(READ_SIZE, timeout)
            if not data:
                conn.ended()  # the end of a close-delimited body, or an error
                continue
            try:
                conn.feed(data)
            except httpx.HTTPError as exc:
                conn.fault = exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._transport._release(conn, conn.complete and conn.keep_alive and not conn.broken)


class NativeTransport(httpx.BaseTransport):
    """httpx's transport for ``Router(engine="native")``: see the module docstring.

    ``limits`` as httpx's (default llmrouter's); ``verify`` and ``trust_env`` as for
    ``httpx.create_ssl_context`` (certificates checked as httpx checks them)."""

    def __init__(
        self,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        verify: bool | str | ssl.SSLContext = True,
        trust_env: bool = True,
        network_backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._max_connections = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._verify = verify
        self._trust_env = trust_env
        self._ssl: ssl.SSLContext | None = None
        self._backend = network_backend or _DeadlineBackend(httpcore.SyncBackend())
        # Reentrant: a stream collected by the garbage collector (its __del__ closes the answer,
        # which gives the connection back here) may run while this thread holds the lock.
        self._cond = threading.Condition(threading.RLock())
        self._swept = 0.0  # when idle connections of every origin were last checked for expiry
        self._idle: dict[_Origin, list[_Conn]] = {}
        self._idle_count = 0
        self._open = 0  # connections open or being opened (each holds a max_connections slot)
        self._closed = False

    # --- httpx.BaseTransport -------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(
                f"the native engine speaks http and https, not {scheme or 'a relative URL'!r}"
            )
        host = url.raw_host.decode("ascii")
        origin = (scheme, host, url.port or _DEFAULT_PORTS[scheme])
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
        conn = self._acquire(origin, timeouts.get("pool"), timeouts.get("connect"))
        try:
            conn.start(request.method == "HEAD")
            try:
                self._send(conn, request, timeouts.get("write"))
            except httpx.WriteError as exc:
                # The server may have answered (413, 401...) and closed before taking the
                # whole body: its answer is the result, as httpx's own transport gives it.
                self._early_answer(conn, timeouts.get("read"), exc)
            read = conn.stream.read
            timeout = timeouts.get("read")
            while not conn.headers_done:
                with _as_httpx():
                    data = read(READ_SIZE, timeout)
                if not data:
                    conn.ended()
                try:
                    conn.feed(data)
                except httpx.HTTPError as exc:
                    if not conn.headers_done:
                        raise
                    conn.fault = exc  # in the body the head came with: the body raises it
        except BaseException:
            self._release(conn, False)
            raise
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=_Body(self, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
        )

    @staticmethod
    def _early_answer(conn: _Conn, timeout: float | None, failed: httpx.WriteError) -> None:
        """After a failed write: read the answer the server sent before it stopped reading,
        or raise ``failed`` when there is none. The connection is never reused."""
        conn.keep_alive = False
        try:
            while not conn.headers_done:
                with _as_httpx():
                    data = conn.stream.read(READ_SIZE, timeout)
                if not data:
                    raise failed
                conn.feed(data)
        except httpx.HTTPError:
            raise failed from None
        conn.broken = True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
            self._idle_count = 0
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()

    # --- the request ---------------------------------------------------------------------------

    @staticmethod
    def _send(conn: _Conn, request: httpx.Request, timeout: float | None) -> None:
        head = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
        chunked = False
        for name, value in request.headers.raw:
            if b"\r" in name or b"\n" in name or b"\r" in value or b"\n" in value:
                raise httpx.LocalProtocolError(
                    f"header {name.decode('latin-1')!r} holds a line break; it cannot be sent"
                )
            head += (name, b": ", value, b"\r\n")
            if name.lower() == b"transfer-encoding" and value.lower().endswith(b"chunked"):
                chunked = True
        head.append(b"\r\n")
        write = conn.stream.write
        with _as_httpx():
            if not chunked:
                write(b"".join(head) + request.read(), timeout)
                return
            write(b"".join(head), timeout)
            for piece in request.stream:  # type: ignore[union-attr]  # a sync body
                if piece:
                    write(b"%x\r\n%s\r\n" % (len(piece), piece), timeout)
            write(b"0\r\n\r\n", timeout)

    # --- the pool ------------------------------------------------------------------------------

    def _acquire(self, origin: _Origin, pool: float | None, connect: float | None) -> _Conn:
        """An idle connection to ``origin``, else a new one once a slot is free."""
        give_up = None if pool is None else time.monotonic() + pool
        stale: list[_Conn] = []
        reserved = False  # a slot for a new connection: given back if anything below fails
        taken: _Conn | None = None  # an idle connection, given back if closing the stale fails
        try:
            with self._cond:
                self._sweep(stale)
                while True:
                    if self._closed:
                        raise RuntimeError("this Router's native transport is closed")
                    taken = self._take_idle(origin, stale)
                    if taken is not None:
                        return taken
                    if self._max_connections is None or self._open < self._max_connections:
                        self._open += 1
                        reserved = True
                        break
                    other = self._oldest_idle()
                    if other is not None:  # an idle connection elsewhere gives up its slot
                        stale.append(other)
                        self._open += 1
                        reserved = True
                        break
                    left = None if give_up is None else give_up - time.monotonic()
                    if left is not None and left <= 0:
                        raise httpx.PoolTimeout(
                            f"no free connection within {pool:g}s (all {self._max_connections} "
                            "in use)"
                        )
                    self._cond.wait(left)
        finally:
            if not reserved:
                try:
                    for conn in stale:
                        conn.close()
                except BaseException:  # (an interrupt): the connection taken is not used
                    if taken is not None:
                        self._release(taken, False)
                    raise
        try:
            for conn in stale:
                conn.close()
            return self._connect(origin, connect)
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _take_idle(self, origin: _Origin, stale: list[_Conn]) -> _Conn | None:
        """The most recent idle connection to ``origin`` still usable (under the lock); those
        expired or readable (closed by the server, or sending unasked bytes) go to ``stale``."""
        conns = self._idle.get(origin)
        now = time.monotonic()
        while conns:
            conn = conns.pop()
            self._idle_count -= 1
            expired = self._expiry is not None and now - conn.idle_since > self._expiry
            if expired or conn.stream.get_extra_info("is_readable"):
                stale.append(conn)
                self._open -= 1
                continue
            return conn
        return None

    def _sweep(self, stale: list[_Conn]) -> None:
        """Every second at most (under the lock): idle connections past their expiry, of every
        origin, go to ``stale`` (those of origins no longer called would stay open otherwise)."""
        if self._expiry is None or not self._idle_count:
            return
        now = time.monotonic()
        if now - self._swept < 1.0:
            return
        self._swept = now
        for conns in self._idle.values():
            while conns and now - conns[0].idle_since > self._expiry:  # oldest first
                stale.append(conns.pop(0))
                self._idle_count -= 1
                self._open -= 1

    def _oldest_idle(self) -> _Conn | None:
        oldest: _Conn | None = None
        for conns in self._idle.values():
            if conns and (oldest is None or conns[0].idle_since < oldest.idle_since):
                oldest = conns[0]
        if oldest is not None:
            self._idle[oldest.origin].remove(oldest)
            self._idle_count -= 1
            self._open -= 1
        return oldest

    def _connect(self, origin: _Origin, timeout: float | None) -> _Conn:
        scheme, host, port = origin
        with _as_httpx():
            stream = self._backend.connect_tcp(host, port, timeout)  # with TCP_NODELAY
            if scheme == "https":
                try:
                    stream = stream.start_tls(self._ssl_context(), host.rstrip("."), timeout)
                except BaseException:
                    stream.close()
                    raise
        return _Conn(stream, origin)

    def _ssl_context(self) -> ssl.SSLContext:
        context = self._ssl
        if context is None:  # built on first use: loading the certificates takes milliseconds
            context = self._ssl = httpx.create_ssl_context(
                verify=self._verify, trust_env=self._trust_env
            )
        return context

    def _release(self, conn: _Conn, reuse: bool) -> None:
        with self._cond:
            if reuse and not self._closed and self._idle_count < self._max_idle_or_inf():
                conn.idle_since = time.monotonic()
                self._idle.setdefault(conn.origin, []).append(conn)
                self._idle_count += 1
                self._cond.notify()
                return
            self._open -= 1
            self._cond.notify()
        conn.close()

    def _max_idle_or_inf(self) -> float:
        return float("inf") if self._max_idle is None else self._max_idle

    def __repr__(self) -> str:
        return f"<NativeTransport open={self._open} idle={self._idle_count}>"


def make_native_client(timeout: httpx.Timeout, headers: dict[str, str]) -> httpx.Client:
    """The httpx Client a ``Router(engine="native")`` owns.

    Built as httpx builds its default Client, then given this transport as its default one:
    httpx reads proxy settings from the environment (``HTTPS_PROXY``, ``NO_PROXY``...) only
    for a client built without ``transport=``, and mounts its own transport for each proxied
    URL pattern; those mounts stay. ``_transport`` is httpx's private attribute for the
    default transport (httpx is pinned below 1.0, and CI's newest-releases
    step runs tests/test_native.py)."""
    client = httpx.Client(timeout=timeout, headers=headers, limits=DEFAULT_LIMITS)
    stock = client._transport
    client._transport = NativeTransport()
    stock.close()
    return client
