"""Faults a provider (or whatever sits in front of it) can send, on every engine.

Issue 13, items 7-9, each checked over a real socket against a small misbehaving server on
127.0.0.1, on the sync ``Router`` and on the three ``AsyncRouter`` engines:

- **7** a stream with bytes that are not UTF-8 is a ``StreamDecodeError`` naming the provider and
  the offset (it was a bare ``UnicodeDecodeError``), and a routed alias falls back;
- **8** ``timeout=`` is a deadline: the whole response of a non-streamed attempt, a stream's
  first event, then the gap between events (a server sending a byte every 0.1 s kept a call
  alive as long as it liked), and a routed call keeps the ``retry_budget + timeout`` bound of
  docs/routing.md;
- **9** ``max_response_bytes``: a body (error bodies too) or one stream event over it raises
  ``ResponseTooLargeError`` naming the limit, with memory near the limit; the SSE decoder is
  linear in the bytes received.

Time is asserted only with generous bounds (3x what the docs promise); ordering and counts are
taken from what the server observed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import select
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import llmrouter
from llmrouter import _http
from llmrouter._sse import SSEDecodeError, SSEDecoder, SSEEventTooLargeError
from llmrouter.testing import TogetherEmulator

pytest.importorskip("httpx_aiohttp")

#: "sync" is a Router on httpx's own transport, "sync-native" a Router(engine="native").
ENGINES = ("sync", "sync-native", "httpx", "httpx-stock", "aiohttp", "native")


def _sync_engine(engine: str) -> str | None:
    return "native" if engine == "sync-native" else None


MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello"}]
KEY = "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a"
MIB = 1024 * 1024
#: How long a dribbling server keeps going: long enough that code without the deadline fails
#: the time bounds below, short enough that it fails rather than hangs.
DRIBBLE_FOR = 20.0
DRIBBLE_EVERY = 0.1


# --- a misbehaving server -----------------------------------------------------------------------


@dataclass
class Conn:
    """One connection as the server saw it."""

    accepted: float
    gone: float | None = None  # when the client closed it (seen by the server)
    sent: int = 0


Script = Callable[["Server", socket.socket, Conn], None]


class Server:
    """A tiny HTTP/1.1 server: reads one request per connection, then runs ``script``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.conns: list[Conn] = []
        self.stopping = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.listen(64)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        record = Conn(time.perf_counter())
        self.conns.append(record)
        try:
            _read_request(conn)
            self.script(self, conn, record)
        except OSError:
            pass
        finally:
            if record.gone is None:
                record.gone = time.perf_counter()
            conn.close()

    # helpers for scripts

    def send(self, conn: socket.socket, record: Conn, data: bytes) -> None:
        conn.sendall(data)
        record.sent += len(data)

    def wait_or_gone(self, conn: socket.socket, record: Conn, seconds: float) -> bool:
        """Sleep ``seconds`` unless the client closes first (then record it, return True)."""
        readable, _, _ = select.select([conn], [], [], seconds)
        if readable:
            try:
                data = conn.recv(1)
            except OSError:
                data = b""
            if not data:
                record.gone = time.perf_counter()
                return True
        return self.stopping.is_set()

    def dribble(self, conn: socket.socket, record: Conn, data: bytes, *, chunked: bool) -> None:
        """Send ``data`` one byte every DRIBBLE_EVERY seconds, for at most DRIBBLE_FOR."""
        until = time.perf_counter() + DRIBBLE_FOR
        for i in range(len(data)):
            if time.perf_counter() > until:
                return
            byte = data[i : i + 1]
            self.send(conn, record, b"1\r\n" + byte + b"\r\n" if chunked else byte)
            if self.wait_or_gone(conn, record, DRIBBLE_EVERY):
                return

    def settle(self, seconds: float = 5.0) -> list[Conn]:
        """The connections, once the server has seen every one of them end (it notices a
        client's close at its next step, up to DRIBBLE_EVERY later)."""
        until = time.perf_counter() + seconds
        while any(conn.gone is None for conn in self.conns) and time.perf_counter() < until:
            time.sleep(0.02)
        return list(self.conns)

    def close(self) -> None:
        self.stopping.set()
        self._sock.close()
        for thread in self._threads[1:]:
            thread.join(timeout=5)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            raise OSError("client went away")
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head


@pytest.fixture
def serve() -> Iterator[Callable[[Script], Server]]:
    servers: list[Server] = []

    def start(script: Script) -> Server:
        server = Server(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _chunk_event(text: str) -> bytes:
    event = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "test-model",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
    b"connection: close\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


# --- running one call on an engine --------------------------------------------------------------


@dataclass
class Outcome:
    texts: list[str] = field(default_factory=list)
    error: BaseException | None = None
    elapsed: float = 0.0
    result: Any = None


def _text(chunk: Any) -> str:
    return "".join(c.delta.content or "" for c in chunk.choices)


def run(
    engine: str,
    *,
    stream: bool = False,
    model: str = MODEL,
    router: dict[str, Any] | None = None,
    before_close: Callable[[], None] | None = None,
    **kwargs: Any,
) -> Outcome:
    """One completion on ``engine`` (a stream is read to its end); the typed error it raised,
    if any, is returned rather than raised. Anything else (a bare UnicodeDecodeError...)
    propagates and fails the test. ``before_close`` runs after the call, while the router (and
    its connection pool) is still open."""
    out = Outcome()
    started = time.perf_counter()
    router_kwargs = router or {}
    if engine.startswith("sync"):
        with llmrouter.Router(**router_kwargs, engine=_sync_engine(engine)) as sync_router:
            try:
                result = sync_router.completion(
                    model=model, messages=MESSAGES, stream=stream, api_key=KEY, **kwargs
                )
                out.result = result
                if stream:
                    for chunk in result:
                        out.texts.append(_text(chunk))
                else:
                    out.texts.append(result.choices[0].message.content)
            except llmrouter.LLMRouterError as exc:
                out.error = exc
            if before_close is not None:
                before_close()
    else:

        async def main() -> None:
            async with llmrouter.AsyncRouter(engine=engine, **router_kwargs) as async_router:
                try:
                    result = await async_router.completion(
                        model=model, messages=MESSAGES, stream=stream, api_key=KEY, **kwargs
                    )
                    out.result = result
                    if stream:
                        async for chunk in result:
                            out.texts.append(_text(chunk))
                    else:
                        out.texts.append(result.choices[0].message.content)
                except llmrouter.LLMRouterError as exc:
                    out.error = exc
                if before_close is not None:
                    await asyncio.to_thread(before_close)

        asyncio.run(main())
    out.elapsed = time.perf_counter() - started
    return out


def attempt_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The structured ``llmrouter.attempt`` events captured so far."""
    return [
        r.llmrouter  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "llmrouter", {}).get("event") == "llmrouter.attempt"
    ]


# --- 7: bytes that are not UTF-8 ----------------------------------------------------------------

BAD_EVENT = b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"delta":{"content":"\xff\xfe"}}]}\n\n'


def _bad_utf8_script(good_events: int) -> tuple[Script, int]:
    body = b"".join(_chunk_event(f"tok{i} ") for i in range(good_events)) + BAD_EVENT
    body += b"data: [DONE]\n\n"

    def script(server: Server, conn: socket.socket, record: Conn) -> None:
        server.send(conn, record, SSE_HEAD + _chunk(body) + b"0\r\n\r\n")

    return script, body.index(b"\xff")


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_utf8_after_a_chunk_is_a_stream_decode_error(
    engine: str, serve: Callable[[Script], Server]
) -> None:
    script, offset = _bad_utf8_script(good_events=1)
    server = serve(script)
    out = run(engine, stream=True, api_base=server.url)
    assert out.texts == ["tok0 "]  # what came before the bad bytes is delivered first
    assert isinstance(out.error, llmrouter.StreamDecodeError)
    assert isinstance(out.error, llmrouter.APIError)
    assert out.error.offset == offset
    assert out.error.provider == "together_ai"
    assert f"byte {offset}" in str(out.error) and "together_ai" in str(out.error)
    assert KEY not in str(out.error)


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_utf8_as_first_event(engine: str, serve: Callable[[Script], Server]) -> None:
    script, offset = _bad_utf8_script(good_events=0)
    server = serve(script)
    out = run(engine, stream=True, api_base=server.url)
    assert out.texts == []
    assert isinstance(out.error, llmrouter.StreamDecodeError), out.error
    assert (out.error.offset, out.error.provider) == (offset, "together_ai")
    assert f"byte {offset}" in str(out.error) and "after 0 chunk(s)" in str(out.error)
    assert KEY not in str(out.error)


@pytest.mark.parametrize("engine", ENGINES)
def test_routed_alias_falls_back_from_bad_utf8(
    engine: str,
    serve: Callable[[Script], Server],
    emu: TogetherEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="llmrouter")
    script, _ = _bad_utf8_script(good_events=0)
    server = serve(script)
    config = {
        "router": {"num_retries": 3, "backoff_base": 0.01},
        "models": {
            "chat": {
                "deployments": [{"model": MODEL, "api_base": server.url, "name": "broken"}],
                "fallbacks": ["backup"],
            },
            "backup": {"deployments": [{"model": MODEL, "api_base": emu.base_url, "name": "ok"}]},
        },
    }
    out = run(engine, stream=True, model="chat", router={"config": config})
    assert out.error is None, out.error
    assert "deterministic reply" in "".join(out.texts)
    info = out.result.llmrouter
    assert (info.deployment, info.attempts) == ("ok", 2)  # not retried on the broken one
    assert len(server.conns) == 1
    failed, succeeded = attempt_events(caplog)
    assert (failed["deployment"], failed["error_type"], failed["decision"]) == (
        "broken",
        "StreamDecodeError",
        "next",
    )
    assert (succeeded["deployment"], succeeded["outcome"]) == ("ok", "ok")


# --- 8: timeout= is a deadline ------------------------------------------------------------------

TIMEOUT = 1.0
CHAT = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "late"}}],
    }
).encode()


def _dribble_head(server: Server, conn: socket.socket, record: Conn) -> None:
    """The status line at once, then the headers a byte at a time."""
    server.send(conn, record, b"HTTP/1.1 200 OK\r\n")
    head = b"content-type: application/json\r\nx-pad: " + b"a" * 400 + b"\r\n"
    server.dribble(
        conn, record, head + b"content-length: %d\r\n\r\n" % len(CHAT) + CHAT, chunked=False
    )


def _dribble_body(server: Server, conn: socket.socket, record: Conn) -> None:
    """Headers at once, then a (long) body a byte at a time."""
    body = CHAT[:-1] + b" " * 400 + b"}"
    server.send(
        conn,
        record,
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        % len(body),
    )
    server.dribble(conn, record, body, chunked=False)


def _assert_deadline(out: Outcome, server: Server, phrase: str) -> None:
    assert isinstance(out.error, llmrouter.APITimeoutError), out.error
    assert phrase in str(out.error)
    # The bound is the timeout; 3x it for a noisy machine (without the deadline: DRIBBLE_FOR).
    assert TIMEOUT * 0.9 <= out.elapsed < 3 * TIMEOUT
    (conn,) = server.settle()
    assert conn.gone is not None and conn.gone - conn.accepted < 3 * TIMEOUT


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("where", ["head", "body"])
def test_deadline_bounds_a_dribbled_response(
    engine: str, where: str, serve: Callable[[Script], Server]
) -> None:
    server = serve(_dribble_head if where == "head" else _dribble_body)
    out = run(engine, api_base=server.url, timeout=TIMEOUT)
    _assert_deadline(out, server, "did not complete within its 1s deadline")


@pytest.mark.parametrize("engine", ENGINES)
def test_router_timeout_is_the_deadline_too(engine: str, serve: Callable[[Script], Server]) -> None:
    """The router's own timeout (not the call's) is the deadline of its attempts."""
    server = serve(_dribble_body)
    out = run(engine, api_base=server.url, router={"timeout": TIMEOUT})
    _assert_deadline(out, server, "did not complete within its 1s deadline")


def test_sync_deadline_with_a_client_of_your_own(serve: Callable[[Script], Server]) -> None:
    """A client the router did not build has no socket-level clamp: the deadline is checked
    between reads of the body."""
    server = serve(_dribble_body)
    started = time.perf_counter()
    with (
        llmrouter.Router(http_client=httpx.Client(timeout=30.0)) as router,
        pytest.raises(llmrouter.APITimeoutError, match="1s deadline"),
    ):
        router.completion(
            model=MODEL, messages=MESSAGES, api_base=server.url, api_key=KEY, timeout=TIMEOUT
        )
    assert time.perf_counter() - started < 3 * TIMEOUT


def _sse_dribble_first(server: Server, conn: socket.socket, record: Conn) -> None:
    server.send(conn, record, SSE_HEAD)
    server.dribble(conn, record, _chunk_event("slow " * 40), chunked=True)


def _sse_one_then_dribble(server: Server, conn: socket.socket, record: Conn) -> None:
    server.send(conn, record, SSE_HEAD + _chunk(_chunk_event("first ")))
    server.dribble(conn, record, _chunk_event("slow " * 40), chunked=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_deadline_bounds_a_streams_first_event(
    engine: str, serve: Callable[[Script], Server]
) -> None:
    server = serve(_sse_dribble_first)
    out = run(engine, stream=True, api_base=server.url, timeout=TIMEOUT)
    assert out.texts == []
    _assert_deadline(out, server, "sent no event within 1s")


def _sse_one_then_silence(server: Server, conn: socket.socket, record: Conn) -> None:
    server.send(conn, record, SSE_HEAD + _chunk(_chunk_event("first ")))
    server.wait_or_gone(conn, record, DRIBBLE_FOR)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("then", ["dribble", "silence"])
def test_idle_limit_between_events(
    engine: str, then: str, serve: Callable[[Script], Server]
) -> None:
    """After an event, the next one a byte at a time (the rest of an event is awaited by the
    deadline), or nothing at all (a fresh wait; on the aiohttp engine only the stream's own
    timer bounds it, since its stream requests go without aiohttp's read timeout: see
    test_only_aiohttp_stream_requests_go_without_a_read_timeout)."""
    server = serve(_sse_one_then_dribble if then == "dribble" else _sse_one_then_silence)
    out = run(engine, stream=True, api_base=server.url, timeout=TIMEOUT)
    assert out.texts == ["first "]
    _assert_deadline(out, server, "sent no event for 1s after chunk 1")


#: The idle limit of the test below, the reader's pause after each chunk (longer than the
#: limit), and how soon after the reader asks the server sends the next event (well within it).
IDLE_LIMIT = 0.6
READER_PAUSE = 2 * IDLE_LIMIT
ANSWER_AFTER = 0.1


@pytest.mark.parametrize("engine", ENGINES)
def test_idle_limit_counts_only_the_wait_not_the_readers_pace(
    engine: str, serve: Callable[[Script], Server]
) -> None:
    """A reader slower than ``timeout`` between chunks is not the server's fault.

    The server sends each next event ANSWER_AFTER after the reader asks for it, so the gap
    between two events on the wire (the reader's pause, twice the timeout) is longer than the
    timeout while every wait the reader sees is far shorter. A limit that measures the
    server's silence instead of the reader's wait (aiohttp's ``sock_read``, which restarts only
    when bytes arrive) blames the reader's pace on the server."""
    events = [_chunk(_chunk_event(f"t{i} ")) for i in range(3)]
    events.append(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    asked = threading.Semaphore(0)
    gaps: list[float] = []  # between two events on the wire

    def script(server: Server, conn: socket.socket, record: Conn) -> None:
        server.send(conn, record, SSE_HEAD + events[0])
        last = time.perf_counter()
        for event in events[1:]:
            if not asked.acquire(timeout=10):
                return
            time.sleep(ANSWER_AFTER)
            # Recorded before sending: once the event is out the reader may finish and check
            # ``gaps`` before this thread would get to append the last one.
            gaps.append(time.perf_counter() - last)
            last = time.perf_counter()
            server.send(conn, record, event)

    server = serve(script)
    texts: list[str] = []
    options: dict[str, Any] = {
        "model": MODEL,
        "messages": MESSAGES,
        "stream": True,
        "api_base": server.url,
        "api_key": KEY,
        "timeout": IDLE_LIMIT,
    }
    if engine.startswith("sync"):
        with llmrouter.Router(engine=_sync_engine(engine)) as router:
            for chunk in router.completion(**options):
                texts.append(_text(chunk))
                time.sleep(READER_PAUSE)  # the reader, not the server, is slow
                asked.release()  # the loop asks for the next chunk now
    else:

        async def main() -> None:
            async with llmrouter.AsyncRouter(engine=engine) as router:
                async for chunk in await router.completion(**options):
                    texts.append(_text(chunk))
                    await asyncio.sleep(READER_PAUSE)
                    asked.release()

        asyncio.run(main())
    assert texts == ["t0 ", "t1 ", "t2 "]
    assert len(gaps) == 3 and min(gaps) > IDLE_LIMIT  # the server was silent longer than timeout


@pytest.mark.parametrize("engine", [e for e in ENGINES if not e.startswith("sync")])
@pytest.mark.parametrize("timeout", [None, 5.0])
@pytest.mark.parametrize("custom", [False, True])
def test_only_aiohttp_stream_requests_go_without_a_read_timeout(
    engine: str, timeout: float | None, custom: bool
) -> None:
    """The request half of the idle limit above: on the aiohttp engine a stream's request
    carries no read timeout (its ``sock_read`` would count the reader's pace), so the stream
    times each read itself; every other request keeps the read timeout the engine applies per
    read. ``custom``: a client with default params (built by ``client.build_request``)."""
    from llmrouter.pipeline import Call, HTTPRequest

    client = _http.make_async_client(30.0, engine)
    if custom:
        client.params = httpx.QueryParams({"q": "1"})
    request = HTTPRequest("POST", "http://127.0.0.1:9/v1/chat/completions", {}, {"a": 1})
    for stream in (False, True):
        call = Call(operation="chat", provider="p", model="m", timeout=timeout, stream=stream)
        read = _http.build_httpx_request(client, request, call).extensions["timeout"]["read"]
        expected = timeout or 30.0
        untimed = stream and engine in ("aiohttp", "native")
        assert read == (None if untimed else expected), (stream, read)


@pytest.mark.parametrize("engine", ENGINES)
def test_routed_call_keeps_the_documented_bound(
    engine: str, serve: Callable[[Script], Server]
) -> None:
    """docs/routing.md: a routed call lasts at most about ``retry_budget + timeout``."""
    server = serve(_dribble_body)
    budget = 2.0
    config = {
        "router": {
            "retry_budget": budget,
            "timeout": TIMEOUT,
            "num_retries": 10,
            "backoff_base": 0.05,
            "backoff_max": 0.1,
        },
        "models": {"chat": {"deployments": [{"model": MODEL, "api_base": server.url}]}},
    }
    out = run(engine, model="chat", router={"config": config})
    assert isinstance(out.error, llmrouter.AllDeploymentsFailedError), out.error
    errors = [err for _, err in out.error.attempts]
    assert len(errors) >= 2  # the first attempt ended by its deadline, so a retry began
    assert all(isinstance(err, llmrouter.APITimeoutError) for err in errors)
    assert all("1s deadline" in str(err) for err in errors)
    bound = budget + TIMEOUT
    assert out.elapsed < 3 * bound  # was 20 s (DRIBBLE_FOR) and more
    # What the server saw: one connection per attempt, each given up by its deadline.
    conns = server.settle()
    assert len(conns) == len(errors)
    for conn in conns:
        assert conn.gone is not None and conn.gone - conn.accepted < 3 * TIMEOUT
    starts = [conn.accepted for conn in conns]
    assert starts == sorted(starts)
    assert starts[-1] - starts[0] <= budget + 0.5  # no attempt began after the budget


# --- 9: max_response_bytes ------------------------------------------------------------------------

BLOCK = b"x" * 65536


def _huge_body(total: int, *, content_length: bool, status: int = 200) -> Script:
    def script(server: Server, conn: socket.socket, record: Conn) -> None:
        head = b"HTTP/1.1 %d Whatever\r\ncontent-type: application/json\r\n" % status
        if content_length:
            server.send(conn, record, head + b"content-length: %d\r\n\r\n" % total)
        else:
            server.send(conn, record, head + b"transfer-encoding: chunked\r\n\r\n")
        left = total
        while left > 0 and not server.stopping.is_set():
            piece = BLOCK if left >= len(BLOCK) else BLOCK[:left]
            server.send(conn, record, piece if content_length else _chunk(piece))
            left -= len(piece)
        if not content_length:
            server.send(conn, record, b"0\r\n\r\n")

    return script


def _peak(fn: Callable[[], Outcome]) -> tuple[Outcome, int]:
    """``fn()``'s outcome and peak traced memory; run once untraced first, so that one-time
    imports and caches (the engine, the plugin) are not counted."""
    fn()
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


@pytest.mark.parametrize("engine", ENGINES)
def test_content_length_over_the_limit_fails_before_reading(
    engine: str, serve: Callable[[Script], Server]
) -> None:
    """Refused on its Content-Length: nothing of the body is kept, and the connection is closed
    at once (not drained to be reused, nor left open in the pool until the router closes)."""
    server = serve(_huge_body(50 * MIB, content_length=True))
    open_at_error: list[int] = []  # per call: connections the server still saw open

    def before_close() -> None:
        open_at_error.append(sum(conn.gone is None for conn in server.settle()))

    out, peak = _peak(
        lambda: run(
            engine,
            api_base=server.url,
            router={"max_response_bytes": MIB},
            before_close=before_close,
        )
    )
    assert isinstance(out.error, llmrouter.ResponseTooLargeError), out.error
    assert (out.error.limit, out.error.size) == (MIB, 50 * MIB)
    assert "max_response_bytes=1048576" in str(out.error) and "Content-Length" in str(out.error)
    assert peak < MIB  # nothing of the body was kept
    # What the server saw: both calls' connections closed while their router was still open,
    # each after at most what the socket buffers hold (the body was not read to its end).
    assert open_at_error == [0, 0]
    conns = server.settle()
    assert len(conns) == 2  # the untraced run, then the traced one
    assert all(conn.sent < 50 * MIB for conn in conns), [conn.sent for conn in conns]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("status", [200, 500])
def test_body_without_length_is_cut_at_the_limit(
    engine: str, status: int, serve: Callable[[Script], Server]
) -> None:
    """Chunked, so the size is only known by reading: memory stays near the limit (the whole
    50 MiB was read and joined before, and held until the body failed to parse)."""
    server = serve(_huge_body(50 * MIB, content_length=False, status=status))
    open_at_error: list[int] = []  # per call: connections the server still saw open

    def before_close() -> None:
        open_at_error.append(sum(conn.gone is None for conn in server.settle()))

    out, peak = _peak(
        lambda: run(
            engine,
            api_base=server.url,
            router={"max_response_bytes": MIB},
            before_close=before_close,
        )
    )
    assert isinstance(out.error, llmrouter.ResponseTooLargeError), out.error
    assert out.error.status_code == status
    assert out.error.limit == MIB and out.error.size is not None and out.error.size > MIB
    assert "max_response_bytes=1048576" in str(out.error)
    assert peak < 3 * MIB, peak  # measured: 1.3-1.5 MiB on every engine
    conns = server.settle()
    assert len(conns) == 2  # the untraced run, then the traced one
    assert all(conn.sent < 50 * MIB for conn in conns)  # the client stopped reading, closed
    assert open_at_error == [0, 0]  # at once, not when the router closed its pool


@pytest.mark.parametrize("engine", ENGINES)
def test_stream_event_over_the_limit(engine: str, serve: Callable[[Script], Server]) -> None:
    """One SSE line of 8 MiB without a newline, sent fast: cut at the limit, linear work."""

    def script(server: Server, conn: socket.socket, record: Conn) -> None:
        server.send(conn, record, SSE_HEAD + _chunk(_chunk_event("first ")))
        server.send(conn, record, _chunk(b"data: "))
        for _ in range(8 * MIB // len(BLOCK)):
            if server.stopping.is_set():
                return
            server.send(conn, record, _chunk(BLOCK))
        server.send(conn, record, b"0\r\n\r\n")

    server = serve(script)
    out, peak = _peak(
        lambda: run(engine, stream=True, api_base=server.url, router={"max_response_bytes": MIB})
    )
    assert out.texts == ["first "]
    assert isinstance(out.error, llmrouter.ResponseTooLargeError), out.error
    assert "stream event" in str(out.error) and "max_response_bytes=1048576" in str(out.error)
    assert out.error.limit == MIB and out.error.size is not None and out.error.size > MIB
    assert peak < 3 * MIB, peak  # measured: 1.3-1.5 MiB on every engine


@pytest.mark.parametrize("engine", ENGINES)
def test_limit_boundary_on_a_real_answer(engine: str, emu: TogetherEmulator) -> None:
    """A body of exactly the limit is read; one byte less fails (Content-Length path)."""
    probe = httpx.post(
        emu.base_url + "/chat/completions",
        json={"model": MODEL.split("/", 1)[1], "messages": MESSAGES},
        headers={"authorization": f"Bearer {KEY}"},
    )
    size = len(probe.content)
    ok = run(engine, api_base=emu.base_url, router={"max_response_bytes": size})
    assert ok.error is None, ok.error
    too_small = run(engine, api_base=emu.base_url, router={"max_response_bytes": size - 1})
    assert isinstance(too_small.error, llmrouter.ResponseTooLargeError), too_small.error
    assert (too_small.error.limit, too_small.error.size) == (size - 1, size)
    assert f"max_response_bytes={size - 1}" in str(too_small.error)


@pytest.mark.parametrize("engine", ENGINES)
def test_routed_call_moves_on_from_a_body_too_large(
    engine: str,
    serve: Callable[[Script], Server],
    emu: TogetherEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="llmrouter")
    server = serve(_huge_body(4 * MIB, content_length=False))
    config = {
        "router": {"max_response_bytes": MIB, "num_retries": 3, "backoff_base": 0.01},
        "models": {
            "chat": {
                "deployments": [{"model": MODEL, "api_base": server.url, "name": "huge"}],
                "fallbacks": ["backup"],
            },
            "backup": {"deployments": [{"model": MODEL, "api_base": emu.base_url, "name": "ok"}]},
        },
    }
    out = run(engine, model="chat", router={"config": config})
    assert out.error is None, out.error
    assert (out.result.llmrouter.deployment, out.result.llmrouter.attempts) == ("ok", 2)
    assert len(server.conns) == 1  # not retried on the deployment that answered too much
    failed, succeeded = attempt_events(caplog)
    assert (failed["deployment"], failed["error_type"], failed["decision"]) == (
        "huge",
        "ResponseTooLargeError",
        "next",
    )
    assert "max_response_bytes=1048576" in failed["error"]
    assert (succeeded["deployment"], succeeded["outcome"]) == ("ok", "ok")


def test_max_response_bytes_default_config_and_bad_values() -> None:
    from llmrouter.config import RouterSettings

    assert _http.DEFAULT_MAX_RESPONSE_BYTES == 128 * MIB
    assert RouterSettings().max_response_bytes == _http.DEFAULT_MAX_RESPONSE_BYTES
    assert llmrouter.Router()._max_response_bytes == 128 * MIB
    config = {"router": {"max_response_bytes": 1000}, "models": {}}
    assert llmrouter.Router(config=config)._max_response_bytes == 1000
    assert llmrouter.Router(config=config, max_response_bytes=5)._max_response_bytes == 5
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(llmrouter.InvalidRequestError, match="max_response_bytes"):
            llmrouter.Router(max_response_bytes=bad)  # type: ignore[arg-type]
        with pytest.raises(llmrouter.InvalidRequestError, match="max_response_bytes"):
            llmrouter.AsyncRouter(max_response_bytes=bad)  # type: ignore[arg-type]
    with pytest.raises(llmrouter.ConfigError, match="max_response_bytes"):
        llmrouter.load_config({"router": {"max_response_bytes": 0}, "models": {}})


# --- the SSE decoder (pure) -----------------------------------------------------------------------


def test_decoder_names_the_offset_of_bad_utf8_however_bytes_are_cut() -> None:
    stream = b'data: {"a":1}\n\n: comment\r\ndata: ok\r\ndata: bad \xc3\x28\n\ndata: [DONE]\n\n'
    bad = stream.index(b"\xc3")
    for cut in range(1, len(stream)):
        for pieces in (
            [stream[:cut], stream[cut:]],
            [stream[i : i + 1] for i in range(len(stream))],
        ):
            decoder = SSEDecoder()
            seen: list[str] = []
            with pytest.raises(SSEDecodeError) as caught:
                for piece in pieces:
                    seen.extend(decoder.feed(piece))
            seen.extend(caught.value.events)
            assert seen == ['{"a":1}']
            assert caught.value.offset == bad


def test_decoder_event_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    assert decoder.feed(b"data: 0123456789\n\n") == ["0123456789"]  # exactly the limit
    assert decoder.feed(b"data: 01234\ndata: 56789\n\n") == ["01234\n56789"]
    with pytest.raises(SSEEventTooLargeError) as caught:
        decoder.feed(b"data: 01234\ndata: 567890\n\n")  # 11 bytes of data in one event
    assert caught.value.limit == 10
    decoder = SSEDecoder(max_event_bytes=10)
    decoder.feed(b"data: 0123")
    with pytest.raises(SSEEventTooLargeError):  # an unfinished line counts as it grows
        for _ in range(20):
            decoder.feed(b"x")
    decoder = SSEDecoder(max_event_bytes=10)
    with pytest.raises(SSEEventTooLargeError) as caught:
        decoder.feed(b"data: a\n\ndata: 0123456789ab")
    assert caught.value.events == ["a"]  # completed before the fault: still delivered


def test_decoder_is_linear_in_the_bytes_received() -> None:
    """One long line fed a byte at a time: 4x the bytes must cost about 4x (the old decoder
    copied the whole buffered line on every feed: 16x). Compared within one run, best of 3."""

    def cost(n: int) -> float:
        line = b"data: " + b"x" * n
        best = float("inf")
        for _ in range(3):
            decoder = SSEDecoder()
            pieces = [line[i : i + 1] for i in range(len(line))]
            started = time.perf_counter()
            for piece in pieces:
                decoder.feed(piece)
            events = decoder.feed(b"\n\n")
            best = min(best, time.perf_counter() - started)
            assert len(events[0]) == n
        return best

    small, large = cost(20_000), cost(80_000)
    assert large / small < 8, (small, large)


@pytest.mark.parametrize("stream", [False, True])
def test_deadline_under_trio(stream: bool, serve: Callable[[Script], Server]) -> None:
    """Outside asyncio the deadline timer is anyio's (httpx runs on trio too)."""
    trio = pytest.importorskip("trio")
    server = serve(_sse_one_then_dribble if stream else _dribble_body)
    texts: list[str] = []

    async def main() -> None:
        async with llmrouter.AsyncRouter() as router:
            result = await router.completion(
                model=MODEL,
                messages=MESSAGES,
                stream=stream,
                api_base=server.url,
                api_key=KEY,
                timeout=TIMEOUT,
            )
            async for chunk in result:
                texts.append(_text(chunk))

    started = time.perf_counter()
    with pytest.raises(llmrouter.APITimeoutError) as caught:
        trio.run(main)
    elapsed = time.perf_counter() - started
    assert TIMEOUT * 0.9 <= elapsed < 3 * TIMEOUT
    if stream:
        assert texts == ["first "] and "after chunk 1" in str(caught.value)
    else:
        assert "1s deadline" in str(caught.value)
