"""The native engine's HTTP/1.1 client (``llmrouter._http1``) over real sockets.

A scripted server on 127.0.0.1 answers each request it reads with the next reply of its script
(raw bytes, so that framing, encodings and faults are exactly what a test says), and counts its
connections: reuse, closing, limits, deadlines and size limits are checked on the wire, through
``AsyncRouter(engine="native")`` where the router's typed errors are the point, and on the pool
itself for its own bookkeeping. The engine's ordinary behaviour against the emulators (same
wire as httpx, same errors) is covered with the other engines in tests/test_engines.py and
tests/hardening/.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import json
import ssl
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

import llmrouter
from llmrouter import _http, _http1

pytest.importorskip("httpx_aiohttp")

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello"}]
ANSWER = json.dumps(
    {
        "id": "chat-1",
        "object": "chat.completion",
        "created": 1,
        "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "scripted answer"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
).encode()

#: Script items besides raw bytes: close the connection without answering; never answer.
#: ``(raw bytes, CLOSE)``: send them, then close.
CLOSE = "close"
HANG = "hang"


def reply(
    body: bytes = ANSWER,
    *,
    status: str = "200 OK",
    headers: tuple[str, ...] = ("content-type: application/json",),
    length: bool = True,
) -> bytes:
    head = [f"HTTP/1.1 {status}", *headers]
    if length:
        head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 7) -> bytes:
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    )
    return reply(out + b"0\r\n\r\n", headers=("transfer-encoding: chunked",), length=False)


class Scripted:
    """A server that answers the n-th request (over all connections) with ``script[n]``."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                item = self.script.pop(0) if self.script else CLOSE
                if item == CLOSE:
                    return
                if item == HANG:
                    await asyncio.sleep(30)
                    return
                close_after = isinstance(item, tuple)
                if close_after:
                    item = item[0]
                writer.write(item)
                await writer.drain()
                if close_after or b"connection: close" in item.lower().split(b"\r\n\r\n")[0]:
                    return
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[Callable[[list[Any]], Any]]:
    servers: list[Scripted] = []

    async def make(script: list[Any]) -> Scripted:
        server = Scripted(script)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


async def ask(router: llmrouter.AsyncRouter, server: Scripted, **kwargs: Any) -> Any:
    return await router.completion(
        model=MODEL, messages=MESSAGES, api_base=server.base, api_key="k" * 24, **kwargs
    )


def native() -> llmrouter.AsyncRouter:
    return llmrouter.AsyncRouter(engine="native")


# --- framing and reuse ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_keep_alive_connection_is_reused(scripted: Any) -> None:
    server = await scripted([reply(), reply(), reply()])
    async with native() as router:
        for _ in range(3):
            answer = await ask(router, server)
            assert answer.choices[0].message.content == "scripted answer"
    assert server.connections == 1
    assert len(server.requests) == 3
    first = server.requests[0].decode()
    assert first.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{server.port}\r\n" in first
    assert "authorization: Bearer " + "k" * 24 in first


@pytest.mark.asyncio
async def test_connection_close_answer_is_not_reused(scripted: Any) -> None:
    closing = reply(headers=("content-type: application/json", "connection: close"))
    server = await scripted([closing, reply()])
    async with native() as router:
        await ask(router, server)
        await ask(router, server)
        client = router.http_client
        assert isinstance(client, _http.NativeAsyncClient)
        assert client._pool._open == 1  # the closed one was given back
    assert server.connections == 2


@pytest.mark.asyncio
async def test_chunked_and_close_delimited_bodies(scripted: Any) -> None:
    until_close = reply(headers=("connection: close",), length=False)
    server = await scripted([chunked(ANSWER), until_close])
    async with native() as router:
        for _ in range(2):
            answer = await ask(router, server)
            assert answer.choices[0].message.content == "scripted answer"


@pytest.mark.asyncio
async def test_interim_1xx_answer_is_skipped(scripted: Any) -> None:
    server = await scripted([b"HTTP/1.1 100 Continue\r\n\r\n" + reply()])
    async with native() as router:
        answer = await ask(router, server)
    assert answer.usage.total_tokens == 5


@pytest.mark.asyncio
async def test_server_closing_an_idle_connection_itself(scripted: Any) -> None:
    """A server that closes a kept-alive connection once it is idle (as servers do after their
    idle timeout; here at once): the next call opens a new connection instead of failing on
    the dead one."""

    class ClosesAfterAnswer(Scripted):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(reply())  # keep-alive allowed, then closed anyway
            await writer.drain()
            writer.close()

    server = ClosesAfterAnswer([])
    await server.start()
    try:
        async with native() as router:
            for _ in range(3):
                await ask(router, server)
                await asyncio.sleep(0.05)  # the close arrives while the connection is idle
        assert server.connections == 3
    finally:
        await server.close()


@pytest.mark.asyncio
async def test_bytes_after_the_answer_keep_it_but_end_the_connection(scripted: Any) -> None:
    server = await scripted([reply() + b"HTTP/1.1 200 OK\r\n", reply()])
    async with native() as router:
        for _ in range(2):
            answer = await ask(router, server)
            assert answer.choices[0].message.content == "scripted answer"
    assert server.connections == 2  # the first connection was not trusted again


def test_pool_moves_to_a_new_event_loop() -> None:
    """A pool used under one ``asyncio.run`` and then another (a script calling a helper that
    runs its own loop twice): the old loop's connections are dropped, the limits still hold."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-length", str(len(ANSWER)))
            self.end_headers()
            self.wfile.write(ANSWER)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pool = _http1.Http1Pool(httpx.Limits(max_connections=1))
    url = httpx.URL(f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions")

    async def twice() -> list[int]:
        timeout = httpx.Timeout(5.0, pool=1.0)
        out = [(await pool.request("POST", url, {}, b"{}", timeout, 1 << 20))[0] for _ in "ab"]
        assert pool._open == 1
        return out

    try:
        assert asyncio.run(twice()) == [200, 200]
        assert asyncio.run(twice()) == [200, 200]  # max_connections=1 was not used up
    finally:
        server.shutdown()
        server.server_close()


# --- encodings -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_gzip_and_deflate_bodies_are_decoded(scripted: Any) -> None:
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = raw_deflate.compress(ANSWER) + raw_deflate.flush()
    bodies = [
        (gzip.compress(ANSWER), "gzip"),
        (zlib.compress(ANSWER), "deflate"),
        (raw, "deflate"),  # raw deflate, as some servers send it
    ]
    server = await scripted(
        [reply(body, headers=(f"content-encoding: {name}",)) for body, name in bodies]
    )
    async with native() as router:
        for _ in bodies:
            answer = await ask(router, server)
            assert answer.choices[0].message.content == "scripted answer"
    assert b"accept-encoding: gzip, deflate" in server.requests[0]


@pytest.mark.asyncio
async def test_corrupt_or_unknown_encoding_is_a_connection_error(scripted: Any) -> None:
    server = await scripted(
        [
            reply(b"\x1f\x8bnot gzip at all", headers=("content-encoding: gzip",)),
            reply(ANSWER, headers=("content-encoding: snappy",)),
        ]
    )
    async with native() as router:
        with pytest.raises(llmrouter.APIConnectionError, match="gzip body is corrupt"):
            await ask(router, server)
        with pytest.raises(llmrouter.APIConnectionError, match="'snappy'"):
            await ask(router, server)


# --- faults ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_truncated_and_missing_answers(scripted: Any) -> None:
    cut = reply()[:-20]  # Content-Length promises more than comes before the close
    server = await scripted([(cut, CLOSE), CLOSE])
    async with native() as router:
        with pytest.raises(llmrouter.APIConnectionError, match="before the end of its response"):
            await ask(router, server)
        with pytest.raises(llmrouter.APIConnectionError, match="without sending a response"):
            await ask(router, server)
        assert router.http_client._pool._open == 0  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_malformed_answer_is_quoted(scripted: Any) -> None:
    server = await scripted([b"HTTP/1.1 abc nonsense\r\n\r\n"])
    async with native() as router:
        with pytest.raises(llmrouter.APIConnectionError, match="malformed HTTP response") as info:
            await ask(router, server)
    assert "abc nonsense" in str(info.value)


@pytest.mark.asyncio
async def test_connection_refused() -> None:
    async with native() as router:
        with pytest.raises(llmrouter.APIConnectionError, match="ConnectError"):
            await router.completion(
                model=MODEL, messages=MESSAGES, api_base="http://127.0.0.1:9/v1", api_key="k"
            )


@pytest.mark.asyncio
async def test_deadline_covers_the_whole_answer(scripted: Any) -> None:
    server = await scripted([HANG])
    async with native() as router:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(llmrouter.APITimeoutError, match=r"0\.3s deadline"):
            await ask(router, server, timeout=0.3)
        assert loop.time() - started < 5  # not the server's 30 s
        assert router.http_client._pool._open == 0  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_cancelled_call_closes_its_connection(scripted: Any) -> None:
    server = await scripted([HANG, reply()])
    async with native() as router:
        task = asyncio.ensure_future(ask(router, server))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pool = router.http_client._pool  # type: ignore[attr-defined]
        assert pool._open == 0 and pool._idle_count == 0
        answer = await ask(router, server)  # a new connection
    assert answer.choices[0].message.content == "scripted answer"
    assert server.connections == 2


# --- size limits -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_size_limit_announced_streamed_and_decoded(scripted: Any) -> None:
    big = b"x" * 5000
    server = await scripted(
        [
            reply(big),  # Content-Length over the limit: refused before the body
            chunked(big, size=1000),  # no length: refused while reading
            reply(gzip.compress(big), headers=("content-encoding: gzip",)),  # small, expands
        ]
    )
    async with llmrouter.AsyncRouter(engine="native", max_response_bytes=4096) as router:
        with pytest.raises(llmrouter.ResponseTooLargeError, match="announced") as info:
            await ask(router, server)
        assert info.value.size == 5000 and info.value.status_code == 200
        with pytest.raises(llmrouter.ResponseTooLargeError, match="larger than that") as info:
            await ask(router, server)
        assert 4096 < info.value.size <= 5000
        with pytest.raises(llmrouter.ResponseTooLargeError, match="larger than that") as info:
            await ask(router, server)
        assert info.value.size == 4097  # decoding stopped one byte past the limit
        assert info.value.__context__ is None  # nothing chained (raw headers may hold secrets)
        # the first two connections were closed mid-answer; the third answer was whole (only
        # its decoding was too large), so its connection went back to the pool
        pool = router.http_client._pool  # type: ignore[attr-defined]
        assert pool._open == pool._idle_count == 1
    assert server.connections == 3


# --- the pool's limits ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_max_connections_queue_then_pool_timeout(scripted: Any) -> None:
    slow = asyncio.Event()

    async def held() -> bytes:
        await slow.wait()
        return reply()

    class Slow(Scripted):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(await held())
                await writer.drain()
            writer.close()

    server = Slow([])
    await server.start()
    pool = _http1.Http1Pool(httpx.Limits(max_connections=2, max_keepalive_connections=2))
    url = httpx.URL(server.base + "/chat/completions")
    headers = {"content-type": "application/json"}

    def send(timeout: httpx.Timeout) -> Any:
        return asyncio.ensure_future(pool.request("POST", url, headers, b"{}", timeout, 1 << 20))

    try:
        waiting = httpx.Timeout(10.0)
        first, second, third = send(waiting), send(waiting), send(waiting)
        await asyncio.sleep(0.1)
        assert server.connections == 2 and pool._open == 2 and len(pool._waiters) == 1
        with pytest.raises(httpx.PoolTimeout):
            await pool.request("POST", url, headers, b"{}", httpx.Timeout(10.0, pool=0.1), 1 << 20)
        slow.set()
        results = await asyncio.gather(first, second, third)
        assert [status for status, _, _ in results] == [200, 200, 200]
        assert server.connections == 2  # the third waited for a connection and reused it
        assert pool._open == 2 and pool._idle_count == 2
    finally:
        await pool.aclose()
        await server.close()


@pytest.mark.asyncio
async def test_keepalive_expiry_and_idle_cap(scripted: Any) -> None:
    server = await scripted([reply()] * 6)
    pool = _http1.Http1Pool(httpx.Limits(max_keepalive_connections=1, keepalive_expiry=0.2))
    url = httpx.URL(server.base + "/chat/completions")
    timeout = httpx.Timeout(5.0)
    try:
        both = [pool.request("POST", url, {}, b"{}", timeout, 1 << 20) for _ in range(2)]
        await asyncio.gather(*both)  # two connections at once; only one may stay idle
        assert server.connections == 2 and pool._idle_count == 1 and pool._open == 1
        await pool.request("POST", url, {}, b"{}", timeout, 1 << 20)
        assert server.connections == 2  # reused
        await asyncio.sleep(0.3)  # past keepalive_expiry
        await pool.request("POST", url, {}, b"{}", timeout, 1 << 20)
        assert server.connections == 3 and pool._open == 1
    finally:
        await pool.aclose()


@pytest.mark.asyncio
async def test_header_with_a_line_break_is_refused_before_sending(scripted: Any) -> None:
    server = await scripted([reply()])
    pool = _http1.Http1Pool(httpx.Limits())
    url = httpx.URL(server.base + "/chat/completions")
    with pytest.raises(httpx.LocalProtocolError, match="line break"):
        await pool.request("POST", url, {"x-a": "1\r\nx-b: 2"}, b"{}", httpx.Timeout(5.0), 100)
    assert server.connections == 0
    await pool.aclose()


# --- TLS ---------------------------------------------------------------------------------------------


def _certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key) made with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmrouter test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.asyncio
async def test_tls_is_verified(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = Scripted([reply(), reply()])
    await server.start(server_ctx)
    url = httpx.URL(f"https://127.0.0.1:{server.port}/v1/chat/completions")
    timeout = httpx.Timeout(5.0)
    try:
        # the default context (httpx's: certifi's roots) does not trust a self-signed cert
        untrusting = _http1.Http1Pool(httpx.Limits())
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.request("POST", url, {}, b"{}", timeout, 1 << 20)
        await untrusting.aclose()
        trusting = _http1.Http1Pool(
            httpx.Limits(), ssl_context=lambda: ssl.create_default_context(cafile=str(cert))
        )
        status, _, body = await trusting.request("POST", url, {}, b"{}", timeout, 1 << 20)
        assert status == 200 and json.loads(body)["id"] == "chat-1"
        await trusting.aclose()
    finally:
        await server.close()


# --- found by review: each was a real failure before its fix --------------------------------------


async def _pool_call(
    pool: _http1.Http1Pool, server: Scripted, method: str = "POST", body: bytes | None = b"{}"
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    url = httpx.URL(server.base + "/chat/completions")
    return await pool.request(method, url, {}, body, httpx.Timeout(10.0), 1 << 20)


@pytest.mark.asyncio
async def test_server_closing_at_once_is_an_error_not_a_wait() -> None:
    class Slams(Scripted):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n")
            writer.close()

    server = Slams([])
    await server.start()
    try:
        async with native() as router:
            with pytest.raises(llmrouter.APIConnectionError) as info:
                await ask(router, server, timeout=30)  # not an APITimeoutError after 30 s
        assert not isinstance(info.value, llmrouter.APITimeoutError)
    finally:
        await server.close()


@pytest.mark.asyncio
async def test_get_is_sent_again_on_a_stale_connection_post_is_not(scripted: Any) -> None:
    """The server takes a request on a kept-alive connection and closes without answering (a
    keep-alive race): a GET goes once more on a new connection, a POST fails (it may have been
    acted on)."""
    server = await scripted([reply(), CLOSE, reply()])
    pool = _http1.Http1Pool(httpx.Limits())
    try:
        await _pool_call(pool, server, "GET", None)
        status, _, _ = await _pool_call(pool, server, "GET", None)
        assert status == 200 and server.connections == 2 and len(server.requests) == 3
        server.script = [reply(), CLOSE]
        await _pool_call(pool, server)  # a fresh keep-alive connection for the next one
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await _pool_call(pool, server)
    finally:
        await pool.aclose()


@pytest.mark.asyncio
async def test_expired_idle_connections_are_closed_not_only_forgotten(scripted: Any) -> None:
    closed: list[int] = []

    class Watches(Scripted):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            number = self.connections + 1
            await super()._serve(reader, writer)
            closed.append(number)

    server = Watches([reply()] * 3)
    await server.start()
    pool = _http1.Http1Pool(httpx.Limits(keepalive_expiry=0.05))
    try:
        await _pool_call(pool, server)
        await asyncio.sleep(0.15)
        await _pool_call(pool, server)  # the first connection expired: a new one
        await asyncio.sleep(0.1)
        assert server.connections == 2 and closed == [1]  # and the first was really closed
    finally:
        await pool.aclose()
        await server.close()


@pytest.mark.asyncio
async def test_a_woken_waiter_that_is_cancelled_passes_the_slot_on(scripted: Any) -> None:
    server = await scripted([reply()])
    pool = _http1.Http1Pool(httpx.Limits(max_connections=1))
    pool._loop = asyncio.get_running_loop()
    pool._open = 1  # as if one call held the only connection
    b = asyncio.ensure_future(_pool_call(pool, server))
    c = asyncio.ensure_future(_pool_call(pool, server))
    await asyncio.sleep(0.05)
    assert len(pool._waiters) == 2
    pool._free_slot()  # that call ends: its slot goes to the first waiter...
    b.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await b
    status, _, _ = await asyncio.wait_for(c, 5)  # the slot went on to the next waiter
    assert status == 200 and pool._open == 1
    await pool.aclose()


@pytest.mark.asyncio
async def test_waiting_calls_are_served_in_arrival_order(scripted: Any) -> None:
    """At max_connections, a call that waits gets the next connection given back: a call
    arriving later (here, one task sending again as soon as it has its answer) cannot take it
    first, however often it asks."""
    server = await scripted([reply()] * 60)
    pool = _http1.Http1Pool(httpx.Limits(max_connections=1))
    done: list[str] = []

    async def looper() -> None:
        for _ in range(40):
            await _pool_call(pool, server)
            done.append("loop")

    async def waiter() -> None:
        await _pool_call(pool, server)
        done.append("waiter")

    loop_task = asyncio.ensure_future(looper())
    await asyncio.sleep(0)  # the looper holds the connection first
    await asyncio.gather(loop_task, waiter())
    assert done.index("waiter") <= 2, done[:5]
    assert server.connections == 1  # handed over, never reopened
    await pool.aclose()


@pytest.mark.asyncio
async def test_a_tls_setup_failure_is_a_connect_error_and_frees_its_slot() -> None:
    def broken() -> ssl.SSLContext:
        raise FileNotFoundError("no such CA bundle: /nowhere.pem")

    pool = _http1.Http1Pool(httpx.Limits(max_connections=1), ssl_context=broken)
    url = httpx.URL("https://127.0.0.1:9/v1/chat/completions")
    for _ in range(3):  # not a PoolTimeout on the second: the slot came back
        with pytest.raises(httpx.ConnectError, match="could not set up TLS"):
            await pool.request("POST", url, {}, b"{}", httpx.Timeout(5.0, pool=0.2), 100)
    assert pool._open == 0


@pytest.mark.asyncio
async def test_response_head_is_bounded(scripted: Any) -> None:
    huge = b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * (3 * _http1.HEAD_MAX) + b"\r\n\r\n"
    server = await scripted([huge])
    pool = _http1.Http1Pool(httpx.Limits())
    with pytest.raises(httpx.RemoteProtocolError, match="head is over"):
        await _pool_call(pool, server)
    await pool.aclose()


@pytest.mark.asyncio
async def test_a_head_whose_end_is_split_across_reads_then_a_large_body() -> None:
    """The blank line that ends the head arrives in two reads, the second holding a body far
    over 64 KiB: a good answer, not a head over the bound."""
    body = b"x" * 300_000

    class Split(Scripted):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r" % len(body))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"\n" + body)
            await writer.drain()

    server = Split([])
    await server.start()
    pool = _http1.Http1Pool(httpx.Limits())
    try:
        status, _, got = await _pool_call(pool, server)
        assert status == 200 and got == body
    finally:
        await pool.aclose()
        await server.close()


@pytest.mark.asyncio
async def test_endless_trailers_are_cut_off(scripted: Any) -> None:
    trailer = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
        b"x-trailer: " + b"t" * (10 * _http1.HEAD_MAX)  # more than one read holds
    )
    server = await scripted([trailer])
    pool = _http1.Http1Pool(httpx.Limits())
    with pytest.raises(httpx.RemoteProtocolError, match="chunk framing or trailers"):
        await _pool_call(pool, server)
    await pool.aclose()


@pytest.mark.asyncio
async def test_reset_during_a_close_delimited_body_is_an_error() -> None:
    import socket
    import struct

    class Resets(Scripted):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b'HTTP/1.1 200 OK\r\n\r\n{"partial": ')
            await writer.drain()
            await asyncio.sleep(0.05)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # RST, not FIN

    server = Resets([])
    await server.start()
    pool = _http1.Http1Pool(httpx.Limits())
    try:
        with pytest.raises(httpx.ReadError):
            await _pool_call(pool, server, body=None, method="GET")
    finally:
        await pool.aclose()
        await server.close()


@pytest.mark.asyncio
async def test_upgrade_answer_is_an_error(scripted: Any) -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
    )
    server = await scripted([switch])
    async with native() as router:
        with pytest.raises(llmrouter.APIConnectionError, match="switched protocols"):
            await ask(router, server)


@pytest.mark.asyncio
async def test_long_status_line_is_not_quoted(scripted: Any) -> None:
    secret = "sk-" + "s" * 300
    server = await scripted([f"HTTP/1.1 abc {secret}\r\n\r\n".encode()])
    pool = _http1.Http1Pool(httpx.Limits())
    with pytest.raises(httpx.RemoteProtocolError) as info:
        await _pool_call(pool, server)
    assert "sss" not in str(info.value)  # not even a cut piece of it
    await pool.aclose()


@pytest.mark.asyncio
async def test_aclose_closes_connections_still_in_use(scripted: Any) -> None:
    gate = asyncio.Event()

    class Held(Scripted):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
            await gate.wait()
            writer.write(reply())
            await writer.drain()
            await reader.read()  # until the client closes
            writer.close()

    server = Held([])
    await server.start()
    pool = _http1.Http1Pool(httpx.Limits())
    try:
        call = asyncio.ensure_future(_pool_call(pool, server))
        await asyncio.sleep(0.05)
        await pool.aclose()
        later = asyncio.ensure_future(_pool_call(pool, server))  # the pool is used again
        await asyncio.sleep(0.05)
        gate.set()
        assert [s for s, _, _ in await asyncio.gather(call, later)] == [200, 200]
        # the call running at aclose closed its connection; the later one pooled its own
        assert pool._idle_count == 1 and pool._open == 1
    finally:
        await server.close()


@pytest.mark.asyncio
async def test_framing_details(scripted: Any) -> None:
    trailer = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\ncontent-encoding: gzip\r\n\r\n"
    )
    no_content = b"HTTP/1.1 204 No Content\r\ncontent-length: 99999999\r\n\r\n"
    te_not_chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: identity\r\n\r\nuntil the end", CLOSE)
    server = await scripted([trailer, no_content, te_not_chunked, reply()])
    pool = _http1.Http1Pool(httpx.Limits())
    try:
        # trailers are not headers: their content-encoding does not apply to the body
        assert (await _pool_call(pool, server))[2] == b"hello"
        # 204 has no body whatever its Content-Length says: no size error
        assert (await _pool_call(pool, server))[0] == 204
        # a transfer-encoding that does not end in chunked: the body runs to the close
        assert (await _pool_call(pool, server))[2] == b"until the end"
        # a POST without a body still says so
        await _pool_call(pool, server, body=None)
        assert b"content-length: 0\r\n" in server.requests[-1]
    finally:
        await pool.aclose()


@pytest.mark.asyncio
async def test_handed_over_connection_found_dead_keeps_the_callers_place(
    scripted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection given to the first waiter is closed by the server before that waiter
    runs (a keep-alive timeout): the waiter opens a new one in the same slot and is still
    served before the call that queued after it."""
    gate = asyncio.Event()

    class FirstHeld(Scripted):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                    await reader.readexactly(2)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                await gate.wait()  # the first answer waits until both others queue
                writer.write(reply())
                await writer.drain()
            writer.close()

    server = FirstHeld([])
    await server.start()
    pool = _http1.Http1Pool(httpx.Limits(max_connections=1))
    order: list[str] = []
    release = pool._release
    kill = [True]

    def release_then_server_closes(conn: Any) -> None:
        release(conn)
        if kill[0] and not conn.idle and not conn.closed:  # handed to a waiter
            kill[0] = False
            conn.transport.abort()

    monkeypatch.setattr(pool, "_release", release_then_server_closes)

    async def call(name: str) -> None:
        await _pool_call(pool, server)
        order.append(name)

    first = asyncio.ensure_future(call("a"))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(call("b"))
    await asyncio.sleep(0.01)
    third = asyncio.ensure_future(call("c"))
    await asyncio.sleep(0.01)
    assert len(pool._waiters) == 2
    gate.set()
    await asyncio.gather(first, second, third)
    assert order == ["a", "b", "c"]
    assert server.connections == 2 and pool._open == 1
    await pool.aclose()
    await server.close()


@pytest.mark.asyncio
async def test_connection_handed_to_a_waiter_that_leaves_goes_to_the_next(
    scripted: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await scripted([reply()] * 3)
    pool = _http1.Http1Pool(httpx.Limits(max_connections=1))
    release = pool._release
    leaving: list[asyncio.Future[Any]] = []

    def release_then_waiter_leaves(conn: Any) -> None:
        release(conn)
        if leaving and not conn.idle:  # handed to the waiting call, which is cancelled now
            leaving.pop().cancel()

    monkeypatch.setattr(pool, "_release", release_then_waiter_leaves)
    first = asyncio.ensure_future(_pool_call(pool, server))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(_pool_call(pool, server))
    leaving.append(second)
    third = asyncio.ensure_future(_pool_call(pool, server))
    assert (await first)[0] == 200
    with pytest.raises(asyncio.CancelledError):
        await second
    assert (await third)[0] == 200
    assert server.connections == 1  # the connection went on to the third call, not closed
    await pool.aclose()
