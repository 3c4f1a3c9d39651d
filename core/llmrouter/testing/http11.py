"""A small, fast HTTP/1.1 server on ``asyncio`` protocols, for the emulator and nothing else.

Why not ``http.server`` or a framework: the emulator is the far end of the project's benchmarks
and must not be their bottleneck (thousands of requests per second on one core, a thousand open
connections), it must stream server-sent events incrementally with keep-alive, and it must be able
to misbehave on purpose (cut a response mid-stream). A ``Protocol`` with a hand-rolled parser does
all that with the standard library only, and answers a simple request without creating a task.
Why not h11 (httpx's sans-IO parser, which would replace most of this file): measured with
bench/emulator_throughput.py (docs/performance.md), an h11-driven server spent twice the CPU per
request (204 us against 102 us per non-streamed chat on the benchmark machine, 5.2 us against
2.5 us per stream chunk), more than the fastest client spends (raw aiohttp at c=100, about
120 us per request): it would cap that client at about 4,800 req/s where this server lets it
reach 8,400, and the benchmark would measure the emulator.

Scope: request bodies by ``Content-Length`` or chunked transfer coding, ``Expect: 100-continue``,
pipelining (requests on one connection are answered in order), keep-alive by HTTP version and
``Connection`` header, responses with ``Content-Length`` or streamed with chunked coding
(``Connection: close`` framing for HTTP/1.0 clients). No TLS, no HTTP/2, no trailers, no upgrades.
A malformed request gets a 400 (or 413/431) and the connection is closed; a client that goes
away mid-response is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from email.utils import formatdate
from http import HTTPStatus

__all__ = ["HTTPConnection", "HTTPServer", "Handler", "Request"]

logger = logging.getLogger("llmrouter.testing.http")

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_HEADERS = 200
# Stop reading from a client whose unprocessed pipelined input exceeds this.
_READ_HIGH_WATER = 1024 * 1024

_STATUS_LINES: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = {524: "A Timeout Occurred", 529: "Site Overloaded"}.get(status, "Unknown")
        line = f"HTTP/1.1 {status} {phrase}\r\n".encode()
        _STATUS_LINES[status] = line
    return line


_date_cache: list[object] = [0, b""]


def _date_header() -> bytes:
    """``date: ...\\r\\n``, formatted at most once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    value = _date_cache[1]
    assert isinstance(value, bytes)
    return value


_SERVER_HEADER = b"server: llmrouter-emulator\r\n"


class Request:
    """One parsed request. Header names are lower-cased; repeated headers are joined by ``,``."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "query", "target", "version")

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: dict[str, str],
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.target = target
        path, _, query = target.partition("?")
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.body = b""

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


Handler = Callable[[Request, "HTTPConnection"], "Awaitable[None] | None"]
"""Called once per request. Answer synchronously and return ``None``, or return an awaitable
that answers; the connection reads the next pipelined request only after the answer is done."""


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_json(message: str) -> bytes:
    # Same envelope as the emulator's API errors, so a client parses a protocol error the same way.
    escaped = message.replace("\\", "\\\\").replace('"', '\\"')
    return (
        '{"error":{"message":"' + escaped + '","type":"invalid_request_error",'
        '"param":null,"code":null}}'
    ).encode()


class HTTPConnection(asyncio.Protocol):
    """One client connection: parses requests and offers the response API to the handler.

    Response API (one response per request, in this order): either :meth:`respond`, or
    :meth:`start_stream` + :meth:`write_chunk`/:meth:`write_chunks` + :meth:`end_stream`; or
    :meth:`cut` to drop the connection mid-response on purpose.
    """

    def __init__(self, server: HTTPServer) -> None:
        self._server = server
        self._handler = server.handler
        self._loop = server.loop
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._pending: Request | None = None
        self._pending_length = 0  # -1 = chunked
        self._busy = False
        self._closed = False
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # per-response state
        self._keep_alive = True
        self._responded = False
        self._streaming = False
        self._chunked = True
        self._version = "HTTP/1.1"

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._server.connections.add(self)
        self._server.accepted += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self._busy and not self._closed:
            self._server.disconnects += 1  # the client left before its answer was complete
        self._closed = True
        self._server.connections.discard(self)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._buf.clear()

    @property
    def idle(self) -> bool:
        """Open, with no request in progress and no partial request received."""
        return not self._busy and not self._closed and not self._buf

    def close(self) -> None:
        """Close the connection gracefully (FIN, no reset)."""
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._busy:
            if len(self._buf) > _READ_HIGH_WATER and not self._reading_paused:
                assert self.transport is not None
                self.transport.pause_reading()
                self._reading_paused = True
            return
        self._process()

    def eof_received(self) -> bool | None:
        # A half-closed client still gets its in-flight answer; then we close.
        if not self._busy:
            return None
        self._keep_alive = False
        return True

    # -- parsing -------------------------------------------------------------------------------

    def _process(self) -> None:
        while not self._busy and not self._closed:
            try:
                request = self._parse_one()
            except _BadRequest as exc:
                self._fail(exc.status, exc.message)
                return
            if request is None:
                if self._reading_paused and self.transport is not None:
                    self._reading_paused = False
                    self.transport.resume_reading()
                return
            self._dispatch(request)

    def _parse_one(self) -> Request | None:
        buf = self._buf
        request = self._pending
        if request is None:
            while buf[:2] == b"\r\n":  # tolerated empty lines between requests (RFC 9112 2.2)
                del buf[:2]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise _BadRequest(431, "Request header fields too large")
                return None
            if end > MAX_HEAD_BYTES:
                raise _BadRequest(431, "Request header fields too large")
            head = bytes(buf[:end])
            del buf[: end + 4]
            request = self._parse_head(head)
            self._pending = request
            if self._pending_length and request.headers.get("expect", "").lower() == (
                "100-continue"
            ):
                waiting = len(buf) < self._pending_length if self._pending_length > 0 else not buf
                if waiting:
                    assert self.transport is not None
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        length = self._pending_length
        if length > 0:
            if len(buf) < length:
                return None
            request.body = bytes(buf[:length])
            del buf[:length]
        elif length < 0:
            body = self._take_chunked_body()
            if body is None:
                return None
            request.body = body
        self._pending = None
        self._pending_length = 0
        return request

    def _parse_head(self, head: bytes) -> Request:
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise _BadRequest(400, "Malformed request head") from None
        lines = text.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise _BadRequest(400, "Malformed request line")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(400 if not version.startswith("HTTP/") else 505, "Bad HTTP version")
        if not method.isalpha() or not method.isupper() or not target:
            raise _BadRequest(400, "Malformed request line")
        if not (target.startswith("/") or target == "*"):
            # absolute-form (proxy style): keep only the path
            scheme, sep, rest = target.partition("://")
            if not sep or not scheme.isalpha():
                raise _BadRequest(400, "Malformed request target")
            target = "/" + rest.partition("/")[2]
        if len(lines) - 1 > MAX_HEADERS:
            raise _BadRequest(431, "Too many request headers")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or " " in name or "\t" in name:
                raise _BadRequest(400, "Malformed header line")
            name = name.lower()
            value = value.strip(" \t")
            if name in headers:
                if name == "content-length" and headers[name] != value:
                    raise _BadRequest(400, "Conflicting Content-Length headers")
                if name != "content-length":
                    headers[name] = headers[name] + ", " + value
            else:
                headers[name] = value
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        te = headers.get("transfer-encoding")
        cl = headers.get("content-length")
        if te is not None:
            if cl is not None:
                raise _BadRequest(400, "Both Content-Length and Transfer-Encoding sent")
            if te.lower().replace(" ", "") != "chunked":
                raise _BadRequest(400, "Unsupported Transfer-Encoding")
            self._pending_length = -1
        elif cl is not None:
            if not cl.isdigit():
                raise _BadRequest(400, "Invalid Content-Length")
            length = int(cl)
            if length > MAX_BODY_BYTES:
                raise _BadRequest(413, "Request body too large")
            self._pending_length = length
        else:
            self._pending_length = 0
        return Request(method, target, version, headers, keep_alive)

    def _take_chunked_body(self) -> bytes | None:
        """Decode a complete chunked body from the buffer, or None if more input is needed."""
        buf = self._buf
        pos = 0
        out = bytearray()
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if len(buf) - pos > 1024:
                    raise _BadRequest(400, "Malformed chunk size line")
                return None
            size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest(400, "Malformed chunk size") from None
            if size < 0:
                raise _BadRequest(400, "Malformed chunk size")
            if size == 0:
                # skip optional trailers up to the blank line
                end = buf.find(b"\r\n\r\n", eol)
                if end < 0:
                    if buf[eol : eol + 4] == b"\r\n\r\n":
                        end = eol
                    else:
                        return None
                del buf[: end + 4]
                return bytes(out)
            start = eol + 2
            if len(buf) < start + size + 2:
                return None
            if buf[start + size : start + size + 2] != b"\r\n":
                raise _BadRequest(400, "Malformed chunk data")
            out += buf[start : start + size]
            if len(out) > MAX_BODY_BYTES:
                raise _BadRequest(413, "Request body too large")
            pos = start + size + 2

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> None:
        self._busy = True
        self._keep_alive = request.keep_alive
        self._version = request.version
        self._chunked = request.version == "HTTP/1.1"
        self._responded = False
        self._streaming = False
        try:
            result = self._handler(request, self)
        except Exception:
            logger.exception("emulator handler failed for %s %s", request.method, request.path)
            self._internal_error()
            return
        if result is None:
            self._finish()
            return
        self._task = self._loop.create_task(result)  # type: ignore[arg-type]
        self._task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if task.cancelled():
            if not self._closed:
                self.cut()
            return
        exc = task.exception()
        if exc is not None:
            if not isinstance(exc, (ConnectionError, OSError)):
                logger.error("emulator handler failed", exc_info=exc)
            self._internal_error()
            return
        self._finish()
        if not self._closed and not self._busy:
            self._process()

    def _finish(self) -> None:
        if self._closed:
            return
        if not self._responded:
            self._internal_error()
            return
        if self._streaming:
            # handler returned without ending its stream: end it so the connection stays sane
            self.end_stream()
        if not self._keep_alive:
            assert self.transport is not None
            self.transport.close()
            self._closed = True
            return
        self._busy = False

    def _internal_error(self) -> None:
        if self._closed:
            return
        if self._responded:
            self.cut()
            return
        self._keep_alive = False
        self.respond(500, _error_json("Internal server error in the emulator"))
        assert self.transport is not None
        self.transport.close()
        self._closed = True

    def _fail(self, status: int, message: str) -> None:
        """Answer a request we could not parse, then close (the stream is out of sync)."""
        self._busy = True
        self._keep_alive = False
        self._responded = False
        self._streaming = False
        self._chunked = True
        self._server.on_protocol_error(status)
        self.respond(status, _error_json(message))
        assert self.transport is not None
        self.transport.close()
        self._closed = True

    # -- response API --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the client is gone (or we closed); a handler should stop writing."""
        return self._closed or self.transport is None or self.transport.is_closing()

    def _head(
        self, status: int, content_type: bytes, headers: Sequence[tuple[str, str]]
    ) -> bytearray:
        head = bytearray(_status_line(status))
        head += b"content-type: " + content_type + b"\r\n"
        head += _date_header()
        head += _SERVER_HEADER
        for name, value in headers:
            head += f"{name}: {value}\r\n".encode("latin-1", "replace")
        if not self._keep_alive:
            head += b"connection: close\r\n"
        elif self._version == "HTTP/1.0":
            head += b"connection: keep-alive\r\n"
        return head

    def respond(
        self,
        status: int,
        body: bytes,
        *,
        content_type: bytes = b"application/json",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Send a complete response with ``Content-Length``, in one write."""
        if self._responded:
            raise RuntimeError("response already started")
        self._responded = True
        if self._closed or self.transport is None:
            return
        head = self._head(status, content_type, headers)
        head += b"content-length: %d\r\n\r\n" % len(body)
        head += body
        self.transport.write(head)

    def start_stream(
        self,
        status: int = 200,
        *,
        content_type: bytes = b"text/event-stream;charset=utf-8",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Send the head of a streamed response (chunked coding, or close-delimited for 1.0)."""
        if self._responded:
            raise RuntimeError("response already started")
        self._responded = True
        self._streaming = True
        if self._closed or self.transport is None:
            return
        if not self._chunked:
            self._keep_alive = False
        head = self._head(status, content_type, headers)
        if self._chunked:
            head += b"transfer-encoding: chunked\r\n"
        head += b"cache-control: no-cache\r\n\r\n"
        self.transport.write(head)

    def write_chunk(self, data: bytes) -> None:
        """Write one piece of a streamed body (one HTTP chunk)."""
        if not data or self._closed or self.transport is None:
            return
        if self._chunked:
            self.transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.transport.write(data)

    def write_chunks(self, pieces: Iterable[bytes]) -> None:
        """Write several pieces, each its own HTTP chunk, in a single transport write."""
        if self._closed or self.transport is None:
            return
        if self._chunked:
            out = bytearray()
            for data in pieces:
                if data:
                    out += b"%x\r\n%b\r\n" % (len(data), data)
            if out:
                self.transport.write(out)
        else:
            self.transport.write(b"".join(pieces))

    def end_stream(self) -> None:
        """Finish a streamed body cleanly (the zero-length chunk)."""
        if not self._streaming:
            return
        self._streaming = False
        if self._closed or self.transport is None:
            return
        if self._chunked:
            self.transport.write(b"0\r\n\r\n")
        else:
            self.transport.close()
            self._closed = True

    def cut(self) -> None:
        """Close the connection now, whatever was promised: a deliberate broken response.

        Data already written is flushed first (``close``, not ``abort``), so the client sees the
        chunks sent so far and then an end of stream with no terminating chunk.
        """
        self._streaming = False
        self._responded = True
        self._keep_alive = False
        if self.transport is not None and not self._closed:
            self.transport.close()
        self._closed = True

    async def drain(self) -> None:
        """Wait while the client is not reading (transport above its high-water mark)."""
        if self._write_paused and not self._closed:
            waiter = self._loop.create_future()
            self._drain_waiter = waiter
            try:
                await waiter
            finally:
                self._drain_waiter = None


class HTTPServer:
    """Owns the listening socket and the open connections of one emulator instance."""

    def __init__(self, handler: Handler, loop: asyncio.AbstractEventLoop) -> None:
        self.handler = handler
        self.loop = loop
        self.connections: set[HTTPConnection] = set()
        self.protocol_errors = 0
        self.disconnects = 0
        #: Connections accepted since the start (or the last stats reset).
        self.accepted = 0
        self._server: asyncio.base_events.Server | None = None

    def on_protocol_error(self, status: int) -> None:
        self.protocol_errors += 1

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await self.loop.create_server(
            lambda: HTTPConnection(self),
            host,
            port,
            backlog=4096,
            reuse_address=True,
        )
        sock = self._server.sockets[0]
        bound = sock.getsockname()
        return str(bound[0]), int(bound[1])

    def close_idle(self) -> int:
        """Close every connection that is between requests (as a server ending keep-alive
        does); returns how many. Connections with a request in progress are left alone."""
        idle = [conn for conn in self.connections if conn.idle]
        for conn in idle:
            conn.close()
        return len(idle)

    async def close(self) -> None:
        """Stop listening and drop every open connection (in-flight handlers are cancelled)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
