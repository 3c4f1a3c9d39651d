"""Issue 13, "Secrets" 1-3: a key never leaves a call in its errors or log events.

1. The key of a call is scrubbed from that call's errors and log events however many other keys
   the process used meanwhile (the process-wide list of known keys holds only 64). The server
   below holds each answer until it has seen 70 calls with other keys (the ordering is observed
   by the server, no clock involved), then echoes the key in the error message and body.
   The same for errors raised inside an engine before the response is complete (1b): a body
   over ``max_response_bytes`` whose headers echo the key, a malformed status line quoting it,
   an observer failing on a stream head; on every engine, plain and routed.
2. A key pasted where a variable name (or any config value) belongs is refused, never printed.
3. A key echoed in any response header is scrubbed, and the credential-header list is one list.

The sockets are real: a tiny HTTP server on 127.0.0.1 that answers like a provider that echoes
what it was sent (the Together emulator never echoes a key, by design).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import string
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import llmrouter
from llmrouter import errors, hookimpl, logs, secrets, validation
from llmrouter._plugins import PluginHost
from llmrouter.pipeline import Call, HTTPRequest, Prompt

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "hello"}]
#: Calls with other keys the server waits for before answering a gated request: more than the
#: 64 keys the process-wide list remembers.
NOISE_PER_GATE = 70
REDACTED = "[REDACTED]"
#: The size of the ``huge`` answers, and the ``max_response_bytes`` of the routers that get them.
HUGE_BODY = 5000
SMALL_LIMIT = 1000
#: The four ways a call goes out: the sync Router and the AsyncRouter's three engines.
#: "sync" is a Router on httpx's own transport, "sync-native" a Router(engine="native").
ENGINES = ["sync", "sync-native", "httpx", "httpx-stock", "aiohttp", "native"]


def _sync_engine(engine: str) -> str | None:
    return "native" if engine == "sync-native" else None


def shapeless_key(tag: str) -> str:
    """A key no pattern recognises (no known prefix, not hex, not 'Bearer ...'), like an old
    Together key or a self-hosted gateway's: only the per-call scrub can catch it."""
    return f"{tag}-{uuid.uuid4().hex[:10]}-tenant"


# --- the echoing server ---------------------------------------------------------------------------


class EchoServer:
    """Answers ``/<gate>/<kind>/v1/chat/completions``.

    ``gate`` is ``g`` (hold the answer until NOISE_PER_GATE noise calls arrived after this
    request) or ``n`` (answer at once). ``kind``:

    - ``body``: 401 echoing the bearer key in the error message and elsewhere in the JSON body;
    - ``all``: the same, plus the key in ``x-request-id``, ``x-debug-key``,
      ``www-authenticate`` and ``set-cookie`` headers;
    - ``inband``: streams get a 200, one chunk, then an in-band error event echoing the key
      (non-streamed requests get ``body``);
    - ``ok``: a 200 chat completion whose ``x-request-id`` echoes the key;
    - ``huge`` / ``hugechunked``: a 200 with a HUGE_BODY-byte body (with a Content-Length, or
      chunked, without one) whose ``x-request-id`` and ``x-debug-key`` echo the key: a router
      with a smaller ``max_response_bytes`` fails inside the engine's read;
    - ``badstatus``: a malformed status line quoting the key (the engines' protocol errors
      quote the line);
    - ``noise``: a plain 401, counted as one noise call.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.noise = 0
        self.noise_keys: set[str] = set()
        self.waiting = 0
        self.gate_timeouts = 0
        self.keys: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server._answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, gate: str, kind: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{gate}/{kind}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _gate(self) -> None:
        with self.cond:
            target = self.noise + NOISE_PER_GATE
            self.waiting += 1
            self.cond.notify_all()
            if not self.cond.wait_for(lambda: self.noise >= target, timeout=60):
                self.gate_timeouts += 1
            self.waiting -= 1

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        request = json.loads(h.rfile.read(length) or b"{}")
        _, gate, kind, *_ = h.path.split("/")
        key = (h.headers.get("authorization") or "").partition(" ")[2]
        if kind == "noise":
            with self.cond:
                self.noise += 1
                self.noise_keys.add(key)
                self.cond.notify_all()
            self._send(h, 401, {"error": {"message": "bad key", "code": "invalid_api_key"}}, {})
            return
        with self.cond:
            self.keys.append(key)
        if gate == "g":
            self._gate()
        if kind == "inband" and request.get("stream"):
            self._stream_error(h, key)
            return
        if kind in ("huge", "hugechunked", "badstatus"):
            self._misbehave(h, kind, key)
            return
        if kind == "ok":
            answer = {
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Hi"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            self._send(h, 200, answer, {"x-request-id": f"req-{key}"})
            return
        body = {
            "id": "req-1",
            "error": {
                "message": f"Invalid API key provided: {key}",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            },
            "echo": {"received": key, "nested": [[{"key": key}]], key: "as a name"},
        }
        headers: dict[str, str] = {}
        if kind == "all":
            headers = {
                "x-request-id": f"req-{key}",
                "x-debug-key": key,
                "www-authenticate": f'Bearer realm="api", error="invalid_token", token="{key}"',
                "set-cookie": f"session={key}; Path=/; HttpOnly",
            }
        self._send(h, 401, body, headers)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def _misbehave(h: BaseHTTPRequestHandler, kind: str, key: str) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):  # the client may hang up once over its limit
            if kind == "badstatus":
                h.wfile.write(f"HTTP/1.1 abc {key}\r\n\r\n".encode())
            else:
                h.send_response(200)
                h.send_header("content-type", "application/json")
                h.send_header("x-request-id", f"req-{key}")
                h.send_header("x-debug-key", key)
                h.send_header("connection", "close")  # never pooled, even if read whole
                if kind == "huge":
                    h.send_header("content-length", str(HUGE_BODY))
                    h.end_headers()
                    h.wfile.write(b" " * HUGE_BODY)
                else:
                    h.send_header("transfer-encoding", "chunked")
                    h.end_headers()
                    piece = b" " * (HUGE_BODY // 5)
                    for _ in range(5):
                        h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
            # Close only after the client did (it must: the answer is too large or broken). A
            # server closing first races the aiohttp engine's request-writing task, which may
            # then report "Can not write request body" instead of the error under test.
            h.connection.settimeout(30)
            while h.connection.recv(65536):
                pass

    @staticmethod
    def _stream_error(h: BaseHTTPRequestHandler, key: str) -> None:
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}],
        }
        error = {
            "error": {
                "message": f"key {key} was revoked",
                "type": "authentication_error",
                "code": "invalid_api_key",
                "key": key,
            }
        }
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("connection", "close")
        h.end_headers()
        h.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(error)}\n\n".encode())
        h.wfile.flush()
        h.close_connection = True


class Noise:
    """Calls with fresh keys (each a new Secret, so each pushes one key out of the process-wide
    list), made by another thread whenever a gated request is waiting: a multi-tenant process
    serving other tenants while this call is in flight."""

    def __init__(self, server: EchoServer) -> None:
        self.server = server
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        server = self.server
        with llmrouter.Router() as router:
            while not self.stop.is_set():
                with server.cond:
                    if not server.cond.wait_for(
                        lambda: server.waiting > 0 or self.stop.is_set(), timeout=0.5
                    ):
                        continue
                if self.stop.is_set():
                    return
                with contextlib.suppress(llmrouter.AuthenticationError):
                    router.completion(
                        MODEL,
                        MESSAGES,
                        api_base=server.url("n", "noise"),
                        api_key=shapeless_key("noise"),
                    )

    def close(self) -> None:
        self.stop.set()
        with self.server.cond:
            self.server.cond.notify_all()
        self.thread.join(timeout=30)


@pytest.fixture
def server() -> Iterator[EchoServer]:
    srv = EchoServer()
    noise = Noise(srv)
    yield srv
    noise.close()
    srv.close()
    assert srv.gate_timeouts == 0, "a gated request was answered without its noise calls"


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="llmrouter")
    return caplog


def _texts(err: BaseException) -> list[str]:
    """Every view of an error a user, a log or a tracker could print."""
    out = [str(err), repr(err), repr(err.args)]
    for name, value in vars(err).items():
        if name == "attempts":
            for _, inner in value:
                out.extend(_texts(inner))
            continue
        out.append(f"{name}={json.dumps(value, default=repr)}")
    cause = err.__cause__ or err.__context__
    if cause is not None and cause is not err:
        out.extend(_texts(cause))
    return out


def assert_scrubbed(err: BaseException, key: str, caplog: pytest.LogCaptureFixture) -> None:
    for text in _texts(err):
        assert key not in text
    for record in caplog.records:
        assert key not in record.getMessage()
        assert key not in repr(vars(record))


def assert_echoed_then_scrubbed(err: BaseException, key: str) -> None:
    """The server really echoed (the test would prove nothing otherwise): the body kept its
    shape with the key replaced."""
    body = getattr(err, "body", None)
    assert isinstance(body, dict), body
    assert REDACTED in json.dumps(body)


def _direct(server: EchoServer, kind: str, key: str, *, stream: bool, mode: str) -> Any:
    """One call with ``key`` to the gated ``kind`` route; returns the error it raised."""
    base = server.url("g", kind)

    def sync() -> BaseException:
        with llmrouter.Router() as router:
            try:
                result = router.completion(
                    MODEL, MESSAGES, api_base=base, api_key=key, stream=stream
                )
                for _ in result:
                    pass
            except llmrouter.APIError as exc:
                return exc
        raise AssertionError("the call did not fail")

    async def run_async() -> BaseException:
        async with llmrouter.AsyncRouter() as router:
            try:
                result = await router.completion(
                    MODEL, MESSAGES, api_base=base, api_key=key, stream=stream
                )
                async for _ in result:
                    pass
            except llmrouter.APIError as exc:
                return exc
        raise AssertionError("the call did not fail")

    return sync() if mode == "sync" else asyncio.run(run_async())


# --- 1. the call's key, whatever the process did meanwhile ---------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("kind", "stream"),
    [("body", False), ("all", False), ("all", True), ("inband", True)],
    ids=["body", "body+headers", "stream-status", "stream-inband"],
)
def test_call_key_scrubbed_after_many_other_keys(
    server: EchoServer, events: pytest.LogCaptureFixture, mode: str, kind: str, stream: bool
) -> None:
    key = shapeless_key("first")
    err = _direct(server, kind, key, stream=stream, mode=mode)
    assert server.keys == [key]  # the key went out, and came back in the answer
    assert len(server.noise_keys) >= NOISE_PER_GATE  # 70 other keys were used meanwhile
    assert isinstance(err, llmrouter.AuthenticationError)
    assert REDACTED in err.message
    assert_echoed_then_scrubbed(err, key)
    assert_scrubbed(err, key, events)
    assert any(getattr(r, "llmrouter", {}).get("event") == "llmrouter.call" for r in events.records)


def test_key_from_the_environment_is_scrubbed_too(
    server: EchoServer, events: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider plugin reads the key itself (TOGETHERAI_API_KEY): the core finds it in the
    request it sent."""
    key = shapeless_key("envkey")
    monkeypatch.setenv("TOGETHERAI_API_KEY", key)
    with llmrouter.Router() as router, pytest.raises(llmrouter.AuthenticationError) as info:
        router.completion(MODEL, MESSAGES, api_base=server.url("g", "all"))
    assert server.keys == [key]
    assert_echoed_then_scrubbed(info.value, key)
    assert_scrubbed(info.value, key, events)


def test_success_log_event_scrubs_an_environment_key(
    server: EchoServer, events: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 whose request id echoes the key: the INFO ``llmrouter.call`` event is clean too
    (the key the plugin read from the environment is kept on the call for this)."""
    key = shapeless_key("okkey")
    monkeypatch.setenv("TOGETHERAI_API_KEY", key)
    with llmrouter.Router() as router:
        router.completion(MODEL, MESSAGES, api_base=server.url("g", "ok"))
    assert server.keys == [key]
    calls = [
        r
        for r in events.records
        if getattr(r, "llmrouter", {}).get("event") == "llmrouter.call"
        and r.llmrouter["outcome"] == "ok"  # type: ignore[attr-defined]
    ]
    assert len(calls) == 1 and calls[0].llmrouter["request_id"] == f"req-{REDACTED}"  # type: ignore[attr-defined]
    assert_scrubbed(RuntimeError(), key, events)


def test_secret_object_made_long_before_the_call(
    server: EchoServer, events: pytest.LogCaptureFixture
) -> None:
    """A Secret the application built once and keeps passing (or one built before 64 other
    keys): its text left the process-wide list long ago."""
    key = shapeless_key("held")
    held = secrets.Secret(key)
    for i in range(secrets._KNOWN_MAX + 1):
        secrets.Secret(shapeless_key(f"other{i}"))
    with llmrouter.Router() as router, pytest.raises(llmrouter.AuthenticationError) as info:
        router.completion(MODEL, MESSAGES, api_base=server.url("n", "body"), api_key=held)  # type: ignore[arg-type]
    assert server.keys == [key]
    assert_echoed_then_scrubbed(info.value, key)
    assert_scrubbed(info.value, key, events)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_routed_call_each_deployment_key_scrubbed(
    server: EchoServer,
    events: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """An alias with three deployments, each with its own key variable: every attempt's error,
    the final AllDeploymentsFailedError and every attempt/call log event are clean."""
    keys = [shapeless_key(f"dep{i}") for i in range(3)]
    for i, key in enumerate(keys):
        monkeypatch.setenv(f"H1_SECRETS_KEY_{i}", key)
    config = {
        "router": {"num_retries": 0, "backoff_base": 0.001, "backoff_max": 0.01},
        "models": {
            "tenants": {
                "deployments": [
                    {
                        "model": MODEL,
                        "name": f"d{i}",
                        "api_base": server.url("g", "all"),
                        "api_key_env": f"H1_SECRETS_KEY_{i}",
                    }
                    for i in range(3)
                ]
            }
        },
    }

    async def run_async() -> BaseException:
        async with llmrouter.AsyncRouter(config=config) as router:
            try:
                await router.completion("tenants", MESSAGES)
            except llmrouter.AllDeploymentsFailedError as exc:
                return exc
        raise AssertionError("the call did not fail")

    if mode == "sync":
        with llmrouter.Router(config=config) as router:
            with pytest.raises(llmrouter.AllDeploymentsFailedError) as info:
                router.completion("tenants", MESSAGES)
            err: BaseException = info.value
    else:
        err = asyncio.run(run_async())
    assert isinstance(err, llmrouter.AllDeploymentsFailedError)
    assert sorted(server.keys) == sorted(keys)  # each deployment sent its own key
    assert len(err.attempts) == 3
    for _, attempt in err.attempts:
        assert_echoed_then_scrubbed(attempt, keys[0])
    attempts = [r for r in events.records if r.getMessage().startswith("llmrouter.attempt")]
    assert len(attempts) == 3
    for key in keys:
        assert_scrubbed(err, key, events)


# --- 1b. errors raised inside an engine's read, before the response is complete ------------------


def _fail(
    engine: str,
    model: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    stream: bool = False,
    config: dict[str, Any] | None = None,
    plugin_host: PluginHost | None = None,
) -> BaseException:
    """One call on ``engine`` (``sync`` or an AsyncRouter engine) with a router whose
    ``max_response_bytes`` is SMALL_LIMIT; returns the exception it raised."""
    options: dict[str, Any] = {
        "max_response_bytes": SMALL_LIMIT,
        "config": config,
        "plugin_host": plugin_host,
    }
    extra: dict[str, Any] = {"api_base": api_base, "api_key": api_key, "stream": stream}

    def sync() -> BaseException:
        with llmrouter.Router(**options, engine=_sync_engine(engine)) as router:
            try:
                result = router.completion(model, MESSAGES, **extra)
                for _ in result:
                    pass
            except Exception as exc:
                return exc
        raise AssertionError("the call did not fail")

    async def run_async() -> BaseException:
        async with llmrouter.AsyncRouter(engine=engine, **options) as router:
            try:
                result = await router.completion(model, MESSAGES, **extra)
                async for _ in result:
                    pass
            except Exception as exc:
                return exc
        raise AssertionError("the call did not fail")

    return sync() if engine.startswith("sync") else asyncio.run(run_async())


def _echoed_headers_scrubbed(err: BaseException) -> None:
    """The huge answer's headers reached the error (so the echo was there to scrub)."""
    assert isinstance(err, llmrouter.ResponseTooLargeError), repr(err)
    headers = {k.lower(): v for k, v in err.headers.items()}
    assert headers["x-debug-key"] == REDACTED
    assert err.request_id == f"req-{REDACTED}"


@pytest.mark.parametrize("kind", ["huge", "hugechunked"], ids=["content-length", "chunked"])
@pytest.mark.parametrize("engine", ENGINES)
def test_too_large_answer_with_echoing_headers_is_scrubbed(
    server: EchoServer, events: pytest.LogCaptureFixture, engine: str, kind: str
) -> None:
    """ResponseTooLargeError is raised inside the engine's read (the announced length, or the
    count as the body arrives), before the router's usual end of a call: it keeps the headers
    and request id, which echo the key, and must leave without it all the same."""
    key = shapeless_key("huge")
    err = _fail(engine, MODEL, api_base=server.url("g", kind), api_key=key)
    assert server.keys == [key]
    assert len(server.noise_keys) >= NOISE_PER_GATE
    _echoed_headers_scrubbed(err)
    assert_scrubbed(err, key, events)


@pytest.mark.parametrize("engine", ENGINES)
def test_transport_error_quoting_the_key_is_scrubbed(
    server: EchoServer, events: pytest.LogCaptureFixture, engine: str
) -> None:
    """A malformed status line that quotes the key: every engine's protocol error quotes the
    line, and the APIConnectionError (and its chained causes) carry it."""
    key = shapeless_key("status")
    err = _fail(engine, MODEL, api_base=server.url("g", "badstatus"), api_key=key)
    assert server.keys == [key]
    assert isinstance(err, llmrouter.APIConnectionError), repr(err)
    assert REDACTED in str(err)  # the line was quoted, without the key
    assert_scrubbed(err, key, events)


class _NumericRequestIds:
    """An observer that expects numeric request ids: on a stream head whose id echoes the key,
    its ValueError quotes the id, and the key with it."""

    @hookimpl
    def llmrouter_response_received(self, call: Call, request: HTTPRequest, response: Any) -> None:
        int(response.request_id or "0")


@pytest.mark.parametrize("engine", ENGINES)
def test_failing_observer_on_a_stream_head_is_scrubbed(
    server: EchoServer, events: pytest.LogCaptureFixture, engine: str
) -> None:
    key = shapeless_key("head")
    host = PluginHost(autoload=True)
    host.register_plugin(_NumericRequestIds())
    err = _fail(
        engine,
        MODEL,
        api_base=server.url("g", "ok"),
        api_key=key,
        stream=True,
        plugin_host=host,
    )
    assert server.keys == [key]
    assert isinstance(err, ValueError) and f"req-{REDACTED}" in str(err), repr(err)
    assert_scrubbed(err, key, events)


@pytest.mark.parametrize("engine", ENGINES)
def test_routed_too_large_and_transport_errors_are_scrubbed(
    server: EchoServer,
    events: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    engine: str,
) -> None:
    """Three deployments, each with its own key: a huge body with a Content-Length, a chunked
    one, a malformed status line. Each attempt's error, its WARNING
    ``llmrouter.attempt`` event and the final AllDeploymentsFailedError are clean."""
    kinds = ["huge", "hugechunked", "badstatus"]
    keys = [shapeless_key(f"routed{i}") for i in range(len(kinds))]
    for i, key in enumerate(keys):
        monkeypatch.setenv(f"H1_SECRETS_BIG_{i}", key)
    config = {
        "router": {"num_retries": 0, "backoff_base": 0.001, "backoff_max": 0.01},
        "models": {
            "tenants": {
                "deployments": [
                    {
                        "model": MODEL,
                        "name": f"d{i}",
                        "api_base": server.url("g", kind),
                        "api_key_env": f"H1_SECRETS_BIG_{i}",
                    }
                    for i, kind in enumerate(kinds)
                ]
            }
        },
    }
    err = _fail(engine, "tenants", config=config)
    assert isinstance(err, llmrouter.AllDeploymentsFailedError), repr(err)
    assert sorted(server.keys) == sorted(keys)  # each deployment sent its own key
    assert len(err.attempts) == len(kinds)
    by_type = sorted(type(inner).__name__ for _, inner in err.attempts)
    assert by_type == ["APIConnectionError", "ResponseTooLargeError", "ResponseTooLargeError"]
    for _, inner in err.attempts:
        if isinstance(inner, llmrouter.ResponseTooLargeError):
            _echoed_headers_scrubbed(inner)
    attempts = [r for r in events.records if r.getMessage().startswith("llmrouter.attempt")]
    assert len(attempts) == len(kinds)
    assert all(r.levelno == logging.WARNING for r in attempts)
    for key in keys:
        assert_scrubbed(err, key, events)


# --- 2. a key where a name belongs -----------------------------------------------------------------

PREFIXED = "tgp_v1_" + "QwErTy0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01"
# A key of no known shape but plainly generated; also a valid environment variable name.
RANDOM_TOKEN = "Qx7Lm2Pz9Rk4Tn8Vb3Wc6Yd5Hs1Jf0Ga"


def _deployment(**extra: Any) -> dict[str, Any]:
    return {"models": {"chat": {"deployments": [{"model": MODEL, **extra}]}}}


@pytest.mark.parametrize("value", [PREFIXED, RANDOM_TOKEN, "sk-proj-" + RANDOM_TOKEN])
def test_key_pasted_as_api_key_env_is_refused_unprinted(value: str) -> None:
    with pytest.raises(llmrouter.ConfigError) as info:
        llmrouter.Router(config=_deployment(api_key_env=value))
    err = info.value
    assert err.key == "models.chat.deployments[0].api_key_env"
    assert "looks like a key" in str(err) and "environment" in str(err)
    assert value not in str(err) and value not in repr(err)


@pytest.mark.parametrize(
    ("extra", "key_path"),
    [
        ({"weight": RANDOM_TOKEN}, "models.chat.deployments[0].weight"),
        ({"name": RANDOM_TOKEN}, "models.chat.deployments[0].name"),
        ({"options": {"user": RANDOM_TOKEN}}, "models.chat.deployments[0].options.user"),
        ({"options": {RANDOM_TOKEN: 1}}, "models.chat.deployments[0].options"),
        (
            {"api_base": f"https://gw.example/{RANDOM_TOKEN}/v1"},
            "models.chat.deployments[0].api_base",
        ),
    ],
)
def test_key_as_any_config_value_is_refused_unprinted(extra: dict[str, Any], key_path: str) -> None:
    with pytest.raises(llmrouter.ConfigError) as info:
        llmrouter.Router(config=_deployment(**extra))
    assert info.value.key == key_path
    assert RANDOM_TOKEN not in str(info.value) and RANDOM_TOKEN not in repr(info.value)
    assert "looks like" in str(info.value)


def test_type_errors_do_not_echo_a_key_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text(
        f'[[models.chat.deployments]]\nmodel = "{MODEL}"\nweight = "{RANDOM_TOKEN}"\n',
        encoding="utf-8",
    )
    with pytest.raises(llmrouter.ConfigError) as info:
        llmrouter.Router.from_file(path)
    assert info.value.path == str(path) and RANDOM_TOKEN not in str(info.value)
    # An ordinary wrong value is still shown: that is what makes the message useful.
    path.write_text(
        f'[[models.chat.deployments]]\nmodel = "{MODEL}"\nweight = "heavy"\n', encoding="utf-8"
    )
    with pytest.raises(llmrouter.ConfigError, match="got 'heavy'"):
        llmrouter.Router.from_file(path)


def test_direct_model_construction_refuses_too() -> None:
    from llmrouter.config import Deployment

    with pytest.raises(llmrouter.ConfigError) as info:
        Deployment(model=MODEL, api_key_env=PREFIXED)
    assert PREFIXED not in str(info.value)


@pytest.mark.parametrize(
    "name",
    ["TOGETHER_API_KEY", "MY_OPENAI_KEY_2", "AZURE_OPENAI_API_KEY", "TENANT1_REGION2_ZONE3_KEY4"],
)
def test_legitimate_variable_names_are_accepted(name: str) -> None:
    config = llmrouter.Router(config=_deployment(api_key_env=name)).routing
    assert config is not None
    assert config.config.models["chat"].deployments[0].api_key_env == name


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmrouter", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.mark.parametrize("value", [PREFIXED, RANDOM_TOKEN])
def test_config_check_never_prints_a_pasted_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text(
        f'[[models.chat.deployments]]\nmodel = "{MODEL}"\napi_key_env = "{value}"\n',
        encoding="utf-8",
    )
    for args in (("config", "check", str(path)), ("config", "check", "--debug", str(path))):
        result = _run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert value not in result.stdout and value not in result.stderr
        assert "looks like a key" in result.stderr
        assert "models.chat.deployments[0].api_key_env" in result.stderr


def test_config_check_still_lists_legitimate_names(tmp_path: Path) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text(
        f'[[models.chat.deployments]]\nmodel = "{MODEL}"\napi_key_env = "MY_OPENAI_KEY_2"\n',
        encoding="utf-8",
    )
    result = _run_cli("config", "check", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: MY_OPENAI_KEY_2 is not set here" in result.stdout


class _KeyAsVariablePlugin:
    """A provider whose list of key variables holds a key by mistake."""

    @hookimpl
    def llmrouter_build_request(self, call: Call, prompt: Prompt | None) -> HTTPRequest:
        from llmrouter.provider import resolve_api_key

        resolve_api_key(call, ["GOOD_NAME_FOR_A_KEY", PREFIXED])
        raise AssertionError("unreachable: no key is set")


def test_missing_key_error_does_not_repeat_a_key_a_plugin_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOOD_NAME_FOR_A_KEY", raising=False)
    monkeypatch.delenv(PREFIXED, raising=False)
    host = PluginHost(autoload=False)
    host.register_provider("keyvar", _KeyAsVariablePlugin())
    with (
        llmrouter.Router(plugin_host=host) as router,
        pytest.raises(llmrouter.MissingAPIKeyError) as info,
    ):
        router.completion("keyvar/m", MESSAGES)
    err = info.value
    assert PREFIXED not in str(err) and PREFIXED not in repr(err.env_vars)
    assert err.env_vars == ["GOOD_NAME_FOR_A_KEY", REDACTED]
    assert "GOOD_NAME_FOR_A_KEY" in str(err)


# --- 3. headers ----------------------------------------------------------------------------------


def test_key_echoed_in_any_response_header_is_scrubbed(server: EchoServer) -> None:
    key = shapeless_key("hdr")
    with llmrouter.Router() as router, pytest.raises(llmrouter.AuthenticationError) as info:
        router.completion(MODEL, MESSAGES, api_base=server.url("n", "all"), api_key=key)
    headers = info.value.headers
    assert headers["x-debug-key"] == REDACTED
    assert (
        headers["www-authenticate"].startswith("Bearer ") and key not in headers["www-authenticate"]
    )
    assert headers["set-cookie"] == REDACTED  # errors.py's own copy of the list lacked it
    assert info.value.request_id == f"req-{REDACTED}"
    assert all(key not in f"{k}: {v}" for k, v in headers.items())


def test_one_credential_header_list() -> None:
    from llmrouter.testing import emulator

    assert emulator._SENSITIVE_HEADERS is secrets.CREDENTIAL_HEADERS
    assert secrets.CREDENTIAL_HEADERS <= logs._SECRET_KEYS
    assert not hasattr(errors, "_SECRET_HEADERS")
    assert {"set-cookie", "cookie", "authorization", "x-api-key"} <= secrets.CREDENTIAL_HEADERS
    # The headers whose bad value is reported as api_key: the same list, less other credentials.
    key_headers = secrets.CREDENTIAL_HEADERS - {"proxy-authorization", "cookie", "set-cookie"}
    assert key_headers == validation._KEY_HEADERS
    err = errors.APIStatusError(
        "x", headers={"Set-Cookie": "s=1", "X-Api-Key": "abc", "content-type": "text/plain"}
    )
    assert err.headers == {
        "Set-Cookie": REDACTED,
        "X-Api-Key": REDACTED,
        "content-type": "text/plain",
    }
    rendered = logs.redact_event(None, "info", {"set-cookie": "s=1", "x-goog-api-key": "abc"})
    assert rendered == {"set-cookie": REDACTED, "x-goog-api-key": REDACTED}


# --- pure units ------------------------------------------------------------------------------------


def test_call_secret_values_reads_the_request() -> None:
    key = "abcdef-123456"
    values = secrets.call_secret_values(
        secrets.Secret("from-api-key-arg"),
        {
            "Authorization": f"Bearer {key}",
            "x-api-key": "other-header-key",
            "cookie": "a=cookie-value-1; b=xy",
            "content-type": "application/json",
        },
    )
    assert key in values and f"Bearer {key}" in values
    assert {"from-api-key-arg", "other-header-key", "cookie-value-1"} <= set(values)
    assert "application/json" not in values and "xy" not in values  # too short to scrub
    assert list(values) == sorted(values, key=len, reverse=True)
    assert secrets.call_secret_values(None, None) == ()


def test_scrub_error_reaches_every_string_and_the_chain() -> None:
    key = "plain-looking-key-42"
    try:
        try:
            json.loads(f'{{"key": "{key}", bad')
        except ValueError as inner:
            raise errors.AuthenticationError(
                f"bad {key}",
                body={"k": [key, {key: (key,)}], "n": 1},
                headers={"x-echo": key},
                request_id=key,
            ) from inner
    except errors.AuthenticationError as exc:
        err = exc
    err.add_note(f"note {key}")
    untouched = {"n": 1}
    err.extra = untouched  # type: ignore[attr-defined]
    assert secrets.scrub_error(err, (key,)) is err
    assert key not in str(err) and key not in repr(err.args)
    assert err.body == {"k": [REDACTED, {REDACTED: (REDACTED,)}], "n": 1}
    assert err.headers == {"x-echo": REDACTED} and err.request_id == REDACTED
    assert err.__notes__ == [f"note {REDACTED}"]
    assert err.extra is untouched  # type: ignore[attr-defined]  # not replaced: same object
    cause = err.__cause__
    assert isinstance(cause, json.JSONDecodeError) and key not in cause.doc


def test_scrub_values_keeps_named_tuples_and_reads_any_mapping() -> None:
    """aiohttp's ClientResponseError (chained under a transport error) keeps the request's
    headers, ``Authorization`` included, as a multidict inside its ``request_info`` named
    tuple, and prints them in its repr: both shapes are scrubbed, the named tuple kept."""
    from typing import NamedTuple

    import httpx

    class Info(NamedTuple):
        url: str
        headers: Any

    key = "plain-looking-key-42"
    info = Info("https://h/v1", httpx.Headers({"Authorization": f"Bearer {key}", "X-A": "1"}))
    out = secrets.scrub_values(info, (f"Bearer {key}", key))
    assert type(out) is Info and out.url == "https://h/v1"
    assert out.headers == {"authorization": REDACTED, "x-a": "1"}
    assert key not in repr(out)
    untouched = Info("u", httpx.Headers({"x": "1"}))
    assert secrets.scrub_values(untouched, (key,)) is untouched


def test_scrub_values_survives_a_hostile_depth() -> None:
    deep: Any = "key-123456"
    for _ in range(5000):
        deep = [deep]
    out = secrets.scrub_values(deep, ("key-123456",))
    assert "key-123456" not in json.dumps(out[0][0][0])[:200]


def test_log_event_scrubs_the_call_key_from_every_field(caplog: pytest.LogCaptureFixture) -> None:
    """The per-call scrub of the call_end event, alone (request_id comes from the server)."""
    from llmrouter.pipeline import CallOutcome

    key = shapeless_key("log")
    call = Call(operation="chat", provider="p", model="m", api_key=secrets.Secret(key))
    for i in range(secrets._KNOWN_MAX + 1):
        secrets.Secret(shapeless_key(f"push{i}"))
    caplog.set_level(logging.INFO, logger="llmrouter")
    logs.llmrouter_call_end(CallOutcome(call=call, response=object(), request_id=f"id-{key}"))
    assert caplog.records and key not in caplog.text
    assert caplog.records[-1].llmrouter["request_id"] == f"id-{REDACTED}"  # type: ignore[attr-defined]


# looks_like_credential: what it must flag, what it must leave alone

_NAMES_AND_ROUTES = [
    "TOGETHER_API_KEY",
    "TOGETHERAI_API_KEY",
    "MY_OPENAI_KEY_2",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_KEY_TENANT_0001_EU_WEST_2",
    "HF_TOKEN",
    "MyCompanyOpenAIKey2024Production",
    "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "together_ai/meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo",
    "together_ai/deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1",
    "together_ai/togethercomputer/m2-bert-80M-8k-retrieval",
    "openai/gpt-4o-mini-2024-07-18",
    "fireworks_ai/accounts/fireworks/models/llama-v3p1-405b-instruct",
    "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
    "https://api.together.xyz/v1",
    "http://127.0.0.1:8080/t/tenant-a/v1",
    "llama-70b",
    "least-busy",
    "[INST] {prompt} [/INST]",
]
_KEYS = [
    PREFIXED,
    RANDOM_TOKEN,
    "sk-proj-" + RANDOM_TOKEN,
    "gsk_" + RANDOM_TOKEN,
    "Bearer " + RANDOM_TOKEN,
    "0123456789abcdef0123456789abcdef01234567",  # 40 hex digits
    "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
]


@pytest.mark.parametrize("value", _NAMES_AND_ROUTES)
def test_names_routes_and_urls_are_not_credentials(value: str) -> None:
    assert not secrets.looks_like_credential(value)


@pytest.mark.parametrize("value", _KEYS)
def test_key_shapes_are_credentials(value: str) -> None:
    assert secrets.looks_like_credential(value)
    assert secrets.looks_like_credential(f"  {value}  ")


@given(st.from_regex(r"[A-Z][A-Z0-9]{0,11}(_[A-Z0-9]{1,12}){0,6}", fullmatch=True))
def test_upper_case_words_with_underscores_are_names(name: str) -> None:
    assert not secrets.looks_like_credential(name)


@pytest.mark.parametrize(
    "model",
    [
        "user_2abcXYZ/Meta-Llama-3.1-8B-Instruct-Reference-ft-a1b2c3d4",
        "myorg/Meta-Llama-3.1-8B-Instruct-Reference-mymodel-5c1d2b7e",
        "yourname/Meta-Llama-3-8B-Instruct-lora-2024-05-13-21-08-58-a1b2c3",
        "ft:gpt-4o-mini-2024-07-18:my-org:custom-suffix:9bMC0Mb1AbCd",
    ],
)
def test_fine_tuned_model_names_are_not_keys(model: str) -> None:
    """Fine-tuned model ids end in generated suffixes; the config must still take them."""
    assert not secrets.looks_like_credential(model)
    router = llmrouter.Router(config=_deployment(model=f"together_ai/{model}"))
    assert router.routing is not None


@pytest.mark.parametrize(
    "config_value",
    [
        {"api_base": "https://imzvo0p4c6upqp8uma5kku4e7dpejvsk.lambda-url.us-east-1.on.aws/v1"},
        {"api_base": "https://my-endpoint-8f3k2l1m9n0p.eastus2.inference.ml.azure.com/v1"},
        {"name": "sk-prod-deployment"},
        {"options": {"user": "hf_transfer_cache"}},
        {
            "api_base": "https://gateway.ai.cloudflare.com/v1/"
            "0123456789abcdef0123456789abcdef/my-gateway/openai"
        },
    ],
    ids=["lambda-host", "azure-ml-host", "sk-word", "hf-word", "hex-account-id"],
)
def test_generated_host_names_and_prefix_words_are_not_keys(config_value: dict[str, Any]) -> None:
    """Only a URL's password and query can hold a key; a word that merely starts like a key
    prefix is a name."""
    router = llmrouter.Router(config=_deployment(**config_value))
    assert router.routing is not None


@pytest.mark.parametrize(
    "api_base",
    ["https://user:hunter2-secret@example.com/v1", f"https://example.com/v1?key={RANDOM_TOKEN}"],
    ids=["password", "query"],
)
def test_credentials_inside_a_url_are_refused_unprinted(api_base: str) -> None:
    with pytest.raises(llmrouter.ConfigError) as info:
        llmrouter.Router(config=_deployment(api_base=api_base))
    assert info.value.key == "models.chat.deployments[0].api_base"
    assert "hunter2" not in str(info.value) and RANDOM_TOKEN not in str(info.value)


def test_generated_tokens_are_flagged_most_of_the_time() -> None:
    """A heuristic, measured: 40-character random keys of the common alphabets."""
    rng = random.Random(13)
    for alphabet in (
        string.ascii_letters + string.digits,
        string.ascii_lowercase + string.digits,
        string.ascii_letters + string.digits + "-_",
    ):
        flagged = sum(
            secrets.looks_like_credential("".join(rng.choice(alphabet) for _ in range(40)))
            for _ in range(400)
        )
        assert flagged >= 0.95 * 400, (alphabet, flagged)


def test_redact_text_knows_the_key_prefixes() -> None:
    text = f"got {PREFIXED} and gsk_{RANDOM_TOKEN}; names stay: TOGETHER_API_KEY HF_TOKEN_PROD_1"
    out = secrets.redact_text(text)
    assert PREFIXED not in out and RANDOM_TOKEN not in out
    assert "TOGETHER_API_KEY HF_TOKEN_PROD_1" in out
