"""The sync native engine's transport (``llmrouter._native``) over real sockets.

A scripted server on 127.0.0.1 (threads, blocking sockets) answers each request it reads with
the next reply of its script (raw bytes, so that framing and faults are exactly what a test
says) and counts its connections: reuse, closing, limits and framing are checked on the wire,
through ``Router(engine="native")`` where the router's typed errors are the point, and through
a plain ``httpx.Client`` over the transport for the transport's own contract. The engine's
ordinary behaviour against the emulators (same wire as httpx, same errors, deadlines, secrets)
is covered with the other engines in tests/test_engines.py and tests/hardening/ ("sync-native").
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import llmrouter
from llmrouter import _api, _native
from llmrouter.errors import APIConnectionError, APITimeoutError

# The scripted answers are the async native engine's (tests/test_http1.py): the same bytes.
from tests.test_http1 import ANSWER, CLOSE, HANG, MESSAGES, MODEL, reply

pytest.importorskip("httptools")

KEY = "k" * 24
#: Script items as tests/test_http1.py's (raw bytes, CLOSE, HANG, ``(bytes, CLOSE)``), and a
#: list of bytes: send each piece with a pause between them.


def framed(body: bytes, size: int = 7) -> bytes:
    """``body`` in HTTP chunks of ``size`` bytes, with the last chunk."""
    return (
        b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
            for i in range(0, len(body), size)
        )
        + b"0\r\n\r\n"
    )


def chunked(body: bytes, size: int = 7, content_type: str = "application/json") -> bytes:
    return reply(
        framed(body, size),
        headers=("transfer-encoding: chunked", f"content-type: {content_type}"),
        length=False,
    )


def sse(texts: list[str]) -> bytes:
    """A Together-style stream: one chunk per text, then ``[DONE]``."""
    events = []
    for i, text in enumerate(texts):
        chunk = {
            "id": "chat-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        }
        if i == len(texts) - 1:
            chunk["choices"][0]["finish_reason"] = "stop"  # type: ignore[index]
        events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


class Scripted:
    """A server answering the n-th request (over all connections) with ``script[n]``."""

    def __init__(self, script: list[Any], tls: ssl.SSLContext | None = None) -> None:
        self.script = list(script)
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_client = 0
        self._tls = tls
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        with self._lock:
                            self.closed_by_client += 1
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lowered = head.lower()
                if b"transfer-encoding: chunked" in lowered:
                    while not buf.endswith(b"0\r\n\r\n"):
                        buf += conn.recv(65536)
                    body, buf = buf, b""
                else:
                    length = 0
                    for line in lowered.split(b"\r\n"):
                        if line.startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    while len(buf) < length:
                        buf += conn.recv(65536)
                    body, buf = buf[:length], buf[length:]
                with self._lock:
                    self.requests.append(head + b"\r\n\r\n" + body)
                    item = self.script.pop(0) if self.script else CLOSE
                if item == CLOSE:
                    return
                if item == HANG:
                    self._stop.wait(30)
                    return
                close_after = isinstance(item, tuple)
                if close_after:
                    item = item[0]
                if isinstance(item, list):
                    for piece in item:
                        conn.sendall(piece)
                        time.sleep(0.05)
                    item = b""
                conn.sendall(item)
                if close_after or b"connection: close" in item.lower().split(b"\r\n\r\n")[0]:
                    return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[Scripted] = []

    def make(script: list[Any], tls: ssl.SSLContext | None = None) -> Scripted:
        server = Scripted(script, tls)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def ask(router: llmrouter.Router, server: Scripted, **kwargs: Any) -> Any:
    return router.completion(
        model=MODEL, messages=MESSAGES, api_base=server.base, api_key=KEY, **kwargs
    )


def native(**kwargs: Any) -> llmrouter.Router:
    return llmrouter.Router(engine="native", **kwargs)


def transport_of(router: llmrouter.Router) -> _native.NativeTransport:
    transport = router.http_client._transport
    assert isinstance(transport, _native.NativeTransport)
    return transport


def client(**kwargs: Any) -> httpx.Client:
    return httpx.Client(transport=_native.NativeTransport(**kwargs), timeout=5.0)


# --- the engine --------------------------------------------------------------------------------


def test_engine_argument() -> None:
    with native() as router:
        assert isinstance(transport_of(router), _native.NativeTransport)
    with llmrouter.Router() as router:
        assert not isinstance(router.http_client._transport, _native.NativeTransport)
    with pytest.raises(ValueError, match="unknown engine 'aiohttp'; use one of httpx, native"):
        llmrouter.Router(engine="aiohttp")
    with pytest.raises(ValueError, match="either http_client= or engine="):
        llmrouter.Router(engine="native", http_client=httpx.Client())


# --- framing and reuse -------------------------------------------------------------------------


def test_keep_alive_connection_is_reused(scripted: Any) -> None:
    server = scripted([reply(), reply(), reply()])
    with native() as router:
        for _ in range(3):
            assert ask(router, server).choices[0].message.content == "scripted answer"
    assert server.connections == 1
    assert len(server.requests) == 3
    first = server.requests[0].decode().lower()
    assert first.startswith("post /v1/chat/completions http/1.1\r\n")
    assert f"host: 127.0.0.1:{server.port}\r\n" in first
    assert f"authorization: bearer {KEY}\r\n" in first
    body = server.requests[0].split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["messages"] == MESSAGES


def test_connection_close_answer_is_not_reused(scripted: Any) -> None:
    closing = reply(headers=("content-type: application/json", "connection: close"))
    server = scripted([closing, reply()])
    with native() as router:
        ask(router, server)
        ask(router, server)
        assert transport_of(router)._open == 1  # the closed one was given back
    assert server.connections == 2


def test_chunked_and_close_delimited_bodies(scripted: Any) -> None:
    until_close = reply(headers=("connection: close",), length=False)
    server = scripted([chunked(ANSWER), until_close, chunked(ANSWER, size=1)])
    with native() as router:
        for _ in range(3):
            assert ask(router, server).choices[0].message.content == "scripted answer"
    assert server.connections == 2


def test_interim_1xx_answer_is_skipped(scripted: Any) -> None:
    server = scripted([b"HTTP/1.1 100 Continue\r\n\r\n" + reply(), reply()])
    with native() as router:
        assert ask(router, server).choices[0].message.content == "scripted answer"
        assert ask(router, server).choices[0].message.content == "scripted answer"
    assert server.connections == 1


def test_server_closing_an_idle_connection_is_not_reused(scripted: Any) -> None:
    server = scripted([(reply(), CLOSE), reply()])  # closes after answering, without saying so
    with native() as router:
        ask(router, server)
        time.sleep(0.1)  # the close reaches the client's socket while the connection is idle
        assert ask(router, server).choices[0].message.content == "scripted answer"
    assert server.connections == 2


def test_bytes_after_the_answer_keep_it_but_end_the_connection(scripted: Any) -> None:
    server = scripted([reply() + b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", reply()])
    with native() as router:
        assert ask(router, server).choices[0].message.content == "scripted answer"
        assert ask(router, server).choices[0].message.content == "scripted answer"
    assert server.connections == 2


def test_gzip_body_is_decoded_by_httpx(scripted: Any) -> None:
    packed = gzip.compress(ANSWER)
    server = scripted([reply(packed, headers=("content-encoding: gzip",))])
    with native() as router:
        assert ask(router, server).choices[0].message.content == "scripted answer"


def test_head_request_has_no_body_and_closes(scripted: Any) -> None:
    server = scripted([reply(b"", headers=("content-length: 1234",), length=False), reply()])
    with client() as c:
        head = c.head(server.base + "/models")
        assert head.status_code == 200 and head.content == b""
        assert c.post(server.base + "/x", content=b"{}").status_code == 200
    assert server.connections == 2


def test_chunked_request_body(scripted: Any) -> None:
    server = scripted([reply()])

    def pieces() -> Iterator[bytes]:
        yield b'{"a":'
        yield b""
        yield b"1}"

    with client() as c:
        assert c.post(server.base + "/x", content=pieces()).status_code == 200
    assert server.requests[0].endswith(b'\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n')


# --- streams -----------------------------------------------------------------------------------


def test_stream_events_split_and_joined_across_reads(scripted: Any) -> None:
    texts = [f"piece {i} " for i in range(300)]
    stream = sse(texts)
    pieces = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    whole = chunked(stream, size=len(stream), content_type="text/event-stream")
    tiny = chunked(stream, size=13, content_type="text/event-stream")
    dribbled = chunked(stream, size=997, content_type="text/event-stream")
    head, _, body = dribbled.partition(b"\r\n\r\n")
    slow = [head + b"\r\n\r\n" + body[:10], body[10:5000], body[5000:]]
    server = scripted([whole, tiny, slow, reply(b"", length=False)])
    with native() as router:
        for _ in range(3):
            got = [c.choices[0].delta.content for c in ask(router, server, stream=True)]
            assert "".join(t for t in got if t) == "".join(texts)
    assert server.connections == 1
    assert pieces  # (the stream is larger than one read of the server's)


def test_stream_closed_early_closes_its_connection(scripted: Any) -> None:
    stream = chunked(sse(["a", "b", "c"]), size=40, content_type="text/event-stream")
    server = scripted([[stream[:-100], stream[-100:]], reply()])
    with native() as router:
        with ask(router, server, stream=True) as chunks:
            next(chunks)
        assert transport_of(router)._open == 0
        assert ask(router, server).choices[0].message.content == "scripted answer"
    assert server.connections == 2


def test_stream_cut_mid_body_is_a_typed_error(scripted: Any) -> None:
    stream = chunked(sse(["a", "b", "c"]), size=40, content_type="text/event-stream")
    server = scripted([(stream[:-60], CLOSE)])
    with native() as router:
        chunks = ask(router, server, stream=True)
        with pytest.raises(APIConnectionError, match="closed the connection before the end"):
            list(chunks)


# --- failures ----------------------------------------------------------------------------------


def test_truncated_and_missing_answers(scripted: Any) -> None:
    server = scripted([(reply()[:-5], CLOSE), CLOSE])
    with native() as router:
        with pytest.raises(APIConnectionError, match="before the end of its response"):
            ask(router, server)
        with pytest.raises(APIConnectionError, match="disconnected without sending a response"):
            ask(router, server)


def test_malformed_answer_and_upgrade(scripted: Any) -> None:
    server = scripted(
        [
            b"HTTP/1.1 2x0 Nope\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
        ]
    )
    with native() as router:
        with pytest.raises(APIConnectionError, match="malformed HTTP response"):
            ask(router, server)
        with pytest.raises(APIConnectionError, match="switched protocols"):
            ask(router, server)


def test_connection_refused() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with native() as router, pytest.raises(APIConnectionError):
        router.completion(
            model=MODEL,
            messages=MESSAGES,
            api_base=f"http://127.0.0.1:{port}/v1",
            api_key=KEY,
        )


def test_response_head_is_bounded(scripted: Any) -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"x-h: v\r\n" * (_native.HEAD_MAX // 8 + 10)
    server = scripted([[endless]])  # the head never ends; the connection stays open
    with native() as router, pytest.raises(APIConnectionError, match="head is over"):
        ask(router, server)


def test_endless_trailers_are_cut_off(scripted: Any) -> None:
    trailers = b"".join(b"x-t%d: %s\r\n" % (i, b"v" * 100) for i in range(2000))
    body = b"5\r\nhello\r\n0\r\n" + trailers  # they never end; the connection stays open
    server = scripted([[reply(body, headers=("transfer-encoding: chunked",), length=False)]])
    with client() as c, pytest.raises(httpx.RemoteProtocolError, match="chunk framing"):
        c.post(server.base + "/x", content=b"{}")


def test_deadline_ends_a_silent_server(scripted: Any) -> None:
    server = scripted([HANG])
    with native() as router, pytest.raises(APITimeoutError):
        ask(router, server, timeout=0.3)


# --- the pool ----------------------------------------------------------------------------------


def test_max_connections_then_pool_timeout(scripted: Any) -> None:
    server = scripted([HANG, reply()])
    transport = _native.NativeTransport(limits=httpx.Limits(max_connections=1))
    c = httpx.Client(transport=transport)
    failures: list[BaseException] = []

    def hang() -> None:
        try:
            c.post(server.base, timeout=1.0)
        except httpx.ReadTimeout as exc:
            failures.append(exc)

    hanging = threading.Thread(target=hang)
    hanging.start()
    time.sleep(0.2)
    with pytest.raises(httpx.PoolTimeout, match="no free connection"):
        c.post(server.base, timeout=httpx.Timeout(5.0, pool=0.1))
    hanging.join()
    assert len(failures) == 1  # the first call timed out reading
    assert transport._open == 0  # the timed-out connection was closed, its slot given back
    assert c.post(server.base, content=b"{}").status_code == 200
    c.close()


def test_a_waiting_thread_gets_the_connection_given_back(scripted: Any) -> None:
    slow = [reply()[:20], reply()[20:]]
    server = scripted([slow, reply()])
    transport = _native.NativeTransport(limits=httpx.Limits(max_connections=1))
    with httpx.Client(transport=transport, timeout=5.0) as c:
        results: list[int] = []
        first = threading.Thread(target=lambda: results.append(c.post(server.base).status_code))
        first.start()
        time.sleep(0.005)
        results.append(c.post(server.base).status_code)
        first.join()
    assert results == [200, 200]
    assert server.connections == 1


def test_keepalive_expiry_and_idle_cap(scripted: Any) -> None:
    server = scripted([reply(), reply(), reply(), reply()])
    with client(limits=httpx.Limits(keepalive_expiry=0.0)) as c:
        c.post(server.base)
        time.sleep(0.01)
        c.post(server.base)
    assert server.connections == 2
    with client(limits=httpx.Limits(max_keepalive_connections=0)) as c:
        c.post(server.base)
        c.post(server.base)
    assert server.connections == 4


def test_close_closes_idle_and_in_use_connections(scripted: Any) -> None:
    stream = chunked(sse(["a", "b"]), size=40, content_type="text/event-stream")
    server = scripted([[stream[:200], stream[200:]], reply()])
    transport = _native.NativeTransport()
    c = httpx.Client(transport=transport, timeout=5.0)
    with c.stream("POST", server.base) as response:
        c.post(server.base)  # a second connection, idle once answered
        assert transport._idle_count == 1
        transport.close()  # the idle connection closes now
        assert transport._idle_count == 0
        response.read()  # the one in use closes when its answer ends
    assert transport._open == 0
    time.sleep(0.1)
    assert server.closed_by_client == 2


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_is_verified(scripted: Any, tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from tests.test_http1 import _certificate

    cert, key = _certificate(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = scripted([reply(), reply()], tls=server_ctx)
    with client() as c, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        c.post(server.base)
    trusting = ssl.create_default_context(cafile=str(cert))
    with client(verify=trusting) as c:
        assert json.loads(c.post(server.base).content)["id"] == "chat-1"
        assert c.post(server.base).status_code == 200
    assert server.connections == 2  # the refused handshake, then one kept-alive connection


# --- found by review: each failed before its fix ------------------------------------------------


def test_an_answer_sent_before_the_body_was_taken_is_the_result() -> None:
    """A server that refuses a large body at once (413, close) must give the caller its 413,
    as httpx's own transport does, not a write error (which the router would retry)."""
    sock = socket.create_server(("127.0.0.1", 0))
    message = b'{"error": {"message": "request too large"}}'

    def serve() -> None:
        conn, _ = sock.accept()
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += conn.recv(65536)
        conn.sendall(reply(message, status="413 Payload Too Large", headers=("connection: close",)))
        time.sleep(0.2)
        conn.close()  # the unread body makes the kernel reset the connection

    threading.Thread(target=serve, daemon=True).start()
    try:
        with native() as router, pytest.raises(llmrouter.APIStatusError) as info:
            router.completion(
                model=MODEL,
                messages=[{"role": "user", "content": "x" * (32 * 1024 * 1024)}],
                api_base=f"http://127.0.0.1:{sock.getsockname()[1]}/v1",
                api_key=KEY,
            )
        assert info.value.status_code == 413
    finally:
        sock.close()


def test_body_bytes_before_a_framing_fault_are_delivered_first(scripted: Any) -> None:
    good = framed(sse(["a", "b"]), size=40)
    broken = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream"
    server = scripted([broken + b"\r\n\r\n" + good[:-5] + b"zz\r\nbroken"])
    with native() as router:
        texts = [c.choices[0].delta.content for c in ask(router, server, stream=True)]
    assert texts == ["a", "b"]  # [DONE] came before the fault: a complete answer


def test_take_ready_keeps_any_parser_error_for_the_next_iteration(scripted: Any) -> None:
    """A parser error raised while take_ready parses waiting events fails the stream at the
    next iteration, as iterating would have (not an escape that leaves the stream open)."""
    good = sse([f"t{i}" for i in range(20)]).split(b"data: [DONE]")[0]
    bad = b'data: {"id": "c", "choices": [], "usage": {"prompt_tokens": "abc"}}\n\n'
    body = good + bad + b"data: [DONE]\n\n"
    server = scripted([reply(body, headers=("content-type: text/event-stream",))])
    with native() as router:
        stream = ask(router, server, stream=True)
        next(stream)
        ready = stream.take_ready()
        assert len(ready) == 19
        with pytest.raises(Exception) as info:
            next(stream)
        assert stream._closed and stream._core._ended
    assert "prompt_tokens" in str(info.value)


def test_head_answer_ignores_bytes_after_its_head(scripted: Any) -> None:
    server = scripted([b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"])
    with client() as c:
        assert c.head(server.base).content == b""


def test_line_breaks_in_headers_and_chunked_bytes_bodies(scripted: Any) -> None:
    server = scripted([reply()])
    with client() as c:
        with pytest.raises(httpx.LocalProtocolError, match="line break"):
            c.post(server.base, headers={"x-user": "a\r\nx-injected: yes"})
        response = c.post(server.base, content=b"{}", headers={"transfer-encoding": "chunked"})
        assert response.status_code == 200
    assert server.requests[0].endswith(b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n")


# --- found by the second review ------------------------------------------------------------------


def test_proxies_from_the_environment_are_used(
    scripted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = scripted([reply()])
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    with native() as router:
        assert isinstance(transport_of(router), _native.NativeTransport)
        answer = router.completion(
            model=MODEL, messages=MESSAGES, api_base="http://upstream.invalid/v1", api_key=KEY
        )
    assert answer.choices[0].message.content == "scripted answer"
    # the proxy was asked for the absolute URL, as a forward proxy is
    assert proxy.requests[0].startswith(b"POST http://upstream.invalid/v1/chat/completions ")


def test_expired_idle_connections_of_other_origins_are_closed(scripted: Any) -> None:
    first, second = scripted([reply()]), scripted([reply()])
    transport = _native.NativeTransport(limits=httpx.Limits(keepalive_expiry=0.05))
    with httpx.Client(transport=transport, timeout=5.0) as c:
        c.post(first.base)
        time.sleep(0.1)
        transport._swept = 0.0  # (the sweep runs at most once a second)
        c.post(second.base)  # a call elsewhere closes the first origin's expired connection
        assert transport._open == 1 and transport._idle_count == 1
        time.sleep(0.1)
        assert first.closed_by_client == 1


def test_an_interrupt_while_closing_a_stale_connection_leaks_no_slot(
    scripted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted([reply(), reply(), reply()])
    transport = _native.NativeTransport(limits=httpx.Limits(max_connections=2))
    with httpx.Client(transport=transport, timeout=5.0) as c:
        with c.stream("POST", server.base) as one, c.stream("POST", server.base) as two:
            one.read()
            two.read()
        (idle,) = transport._idle.values()
        assert len(idle) == 2
        idle[-1].idle_since = 0.0  # the one taken first has expired: stale

        def interrupted(self: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(_native._Conn, "close", interrupted)
        with pytest.raises(KeyboardInterrupt):
            c.post(server.base)
        monkeypatch.undo()
        assert transport._open <= 1  # the stale one is gone, the good one not held
        assert c.post(server.base).status_code == 200


def test_a_connection_given_back_while_this_thread_holds_the_pool_lock(scripted: Any) -> None:
    """A stream the cycle collector frees (a stream that kept an exception whose traceback
    leads back to it is one) closes its answer from ``__del__``, at any allocation of any
    code, possibly inside the pool's own critical section: giving the connection back then
    must not wait for a lock this thread holds (it would wait forever)."""
    server = scripted([reply()])
    transport = _native.NativeTransport()
    with httpx.Client(transport=transport, timeout=5.0) as c:
        response = c.send(c.build_request("POST", server.base), stream=True)
        with transport._cond:
            response.close()
        assert transport._open - transport._idle_count == 0  # given back: none in use


# --- [router] engine and async_engine --------------------------------------------------------------


def test_the_config_chooses_the_engine_of_the_module_level_calls(
    emu: Any, where: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[router] engine = "native"``: ``llmrouter.completion()`` (the default Router, built from
    ``$LLMROUTER_CONFIG``) sends its requests through the native transport."""
    config = tmp_path / "llmrouter.toml"
    config.write_text('[router]\nengine = "native"\n', encoding="utf-8")
    monkeypatch.setenv("LLMROUTER_CONFIG", str(config))
    llmrouter.reset_default_routers()
    sent = len(emu.requests)
    answer = llmrouter.completion(model=MODEL, messages=MESSAGES, **where)
    chunks = list(llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where))
    assert answer.choices[0].message.content
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(emu.requests) == sent + 2  # both crossed the socket to the emulator
    transport = _api.get_default_router().http_client._transport
    assert isinstance(transport, _native.NativeTransport)


def test_the_router_argument_wins_over_the_config() -> None:
    native = {"router": {"engine": "native", "async_engine": "httpx-stock"}}
    assert llmrouter.Router(config=native)._engine == "native"
    assert llmrouter.Router(config=native, engine="httpx")._engine == "httpx"
    assert llmrouter.Router(config={"router": {}})._engine == "httpx"  # the default
    assert llmrouter.AsyncRouter(config=native)._engine == "httpx-stock"
    assert llmrouter.AsyncRouter(config=native, engine="httpx")._engine == "httpx"
    # a client of the caller's own is kept as it is
    with httpx.Client() as client:
        router = llmrouter.Router(config=native, http_client=client)
        assert router.http_client is client


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("engine", "aiohttp", "'httpx' or 'native'"),
        ("async_engine", "h2", "'httpx', 'httpx-stock', 'aiohttp' or 'native'"),
    ],
)
def test_an_unknown_engine_in_the_config_is_a_config_error(
    key: str, value: str, allowed: str
) -> None:
    with pytest.raises(llmrouter.ConfigError, match=f"router.{key}: .*{allowed}"):
        llmrouter.Router(config={"router": {key: value}})


def test_the_config_chooses_the_engine_of_the_module_level_async_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    config = tmp_path / "llmrouter.toml"
    config.write_text('[router]\nasync_engine = "httpx-stock"\n', encoding="utf-8")
    monkeypatch.setenv("LLMROUTER_CONFIG", str(config))
    llmrouter.reset_default_routers()

    async def engine() -> str:
        return _api.get_default_async_router()._engine

    assert asyncio.run(engine()) == "httpx-stock"
