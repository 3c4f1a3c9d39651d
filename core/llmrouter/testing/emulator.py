"""The emulators: API servers on 127.0.0.1 that speak a provider's wire, for tests and benchmarks.

Two layers, so every emulator gets the same server and the same ways to misbehave:

- :class:`BaseEmulator`, the wire-agnostic core: the HTTP server (:mod:`llmrouter.testing.http11`)
  and its lifecycle (``start``/``stop``, ``with``, ``async with``, ``serve_forever``), routing,
  the request log with keys redacted, tenants, fault rules and fault injection (statuses,
  ``Retry-After``, cuts, slow answers, in-band stream errors, a missing end of stream, garbage
  JSON), stats, and the ``reply``/``latency``/``reply_tokens`` knobs. A wire on top of it declares
  its routes and answers them, and says how its errors, headers and broken bodies look (the
  ``# -- the wire's part`` methods). ``AnthropicEmulator`` (in the ``llmrouter-anthropic``
  plugin) is one such wire.
- :class:`OpenAICompatibleEmulator`, the OpenAI-compatible wire on that core: the request checks
  (:mod:`llmrouter.testing.dialect`) and the building of every answer (deterministic replies,
  tool calls, JSON mode, ``stop``/``max_tokens``, streams). A flavour declares only data (its
  :class:`~llmrouter.testing.dialect.Dialect`, default models, reply text) and the shapes of its
  bodies, from its wire module:

  - :class:`TogetherEmulator` (here): Together's wire format
    (:mod:`~llmrouter.testing.together_wire`);
  - :class:`~llmrouter.testing.OpenAIEmulator` (:mod:`llmrouter.testing.openai_emulator`):
    OpenAI's (:mod:`~llmrouter.testing.openai_wire`), for OpenAI and the OpenAI-compatible family.

An emulator answers deterministically, records what it received, and misbehaves on request so a
client's error handling can be tested without the network: HTTP errors with ``Retry-After``,
fail-the-first-K, slow responses, in-band stream errors, cut connections, missing ``[DONE]``,
garbage JSON. It runs in a background thread with its own event loop (``start``/``stop``, ``with``,
``async with``), or in the foreground (``python -m llmrouter.testing``).

Knobs a request can turn with headers (documented in docs/testing.md):

- ``x-emulator-fault: <spec>``: inject a fault into this response (grammar in
  :mod:`llmrouter.testing.faults`);
- ``x-emulator-tokens: N``: reply with N filler tokens (``max``: as many as ``max_tokens``),
  for long benchmark streams.

A message containing ``[[emulator:tool_call]]`` (or ``[[emulator:tool_call:NAME]]``) as the last
message makes a request with ``tools`` answer with a tool call, as does a forcing ``tool_choice``
(OpenAI's ``{"type": "function", "function": {"name": ...}}``, the bare name, or ``"required"``).
``response_format`` ``json_object`` / ``json_schema`` makes the reply JSON text.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, ClassVar, Protocol, TypeVar

from llmrouter.secrets import CREDENTIAL_HEADERS
from llmrouter.testing import together_wire as tw
from llmrouter.testing import wire
from llmrouter.testing.dialect import Dialect, Invalid, check_common
from llmrouter.testing.faults import Fault, FaultRule, FaultSpecError, parse_fault
from llmrouter.testing.http11 import HTTPConnection, HTTPServer, Request

__all__ = [
    "FAULT_HEADER",
    "TOKENS_HEADER",
    "TOOL_MARKER",
    "BaseEmulator",
    "Call",
    "OpenAICompatibleEmulator",
    "RecordedRequest",
    "Reply",
    "TogetherEmulator",
    "WireFormat",
    "bearer_key",
    "marked_tool",
]

logger = logging.getLogger("llmrouter.testing")

FAULT_HEADER = "x-emulator-fault"
TOKENS_HEADER = "x-emulator-tokens"
TOOL_MARKER = "[[emulator:tool_call"

# The one list of credential header names (llmrouter.secrets), shared with errors and logs.
_SENSITIVE_HEADERS = CREDENTIAL_HEADERS
# A key shorter than this gets no ``key_suffix``: its last four characters would be most of it.
_KEY_SUFFIX_MIN_LEN = 8
# Per-process salt for key fingerprints, so a log never holds a reusable digest of a key.
_KEY_SALT = os.urandom(16)
_JSON = b"application/json"
_NO_FAULT = Fault()
Reply = Awaitable[None] | None
"""What an answering method returns: None when it answered synchronously, else an awaitable
that the connection runs as a task (streams, delays)."""
_Headers = Sequence[tuple[str, str]]
_E = TypeVar("_E", bound="BaseEmulator")


@dataclass(slots=True)
class RecordedRequest:
    """One request as the emulator saw it. Credentials are never stored.

    ``headers`` has ``authorization`` (and other credential headers) replaced by a marker;
    ``has_key`` says whether a non-empty API key was sent (a bearer token, or wherever the wire
    takes its key: Anthropic's also reads ``x-api-key``); ``key_suffix`` holds its last four
    characters when the key has at least 8 (so most of it stays hidden); ``key_fingerprint`` is
    a salted digest, and :meth:`key_matches` tells whether a candidate key is the one sent, for
    keys of any length, without the log ever holding the key.
    ``body`` is the parsed JSON (``None`` if the body was empty or not JSON; then ``body_text``
    holds up to 1 KiB of it). ``status`` and ``fault`` are filled in once the answer is chosen.
    """

    method: str
    path: str
    endpoint: str
    tenant: str
    query: str
    headers: dict[str, str]
    body: Any
    timestamp: float
    has_key: bool
    key_suffix: str | None
    key_fingerprint: str | None
    body_text: str | None = None
    status: int | None = None
    fault: str | None = None

    @property
    def json(self) -> Any:
        """Alias of ``body`` (reads naturally in assertions: ``emu.last_request.json``)."""
        return self.body

    def key_matches(self, candidate: str) -> bool:
        """True when ``candidate`` is the API key this request carried."""
        return self.key_fingerprint is not None and hmac.compare_digest(
            self.key_fingerprint, _fingerprint(candidate)
        )

    @property
    def model(self) -> str | None:
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            return str(body["model"])
        return None


def _fingerprint(key: str) -> str:
    return hmac.new(_KEY_SALT, key.encode(), hashlib.sha256).hexdigest()[:32]


def _redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with credentials replaced (a bearer key's last four characters may stay)."""
    out = dict(headers)
    for name in _SENSITIVE_HEADERS.intersection(out):
        if name == "authorization":
            scheme, _, key = out[name].strip().partition(" ")
            key = key.strip()
            suffix = ""
            if scheme.lower() == "bearer" and len(key) >= _KEY_SUFFIX_MIN_LEN:
                suffix = " ..." + key[-4:]
            out[name] = f"{scheme} <redacted{suffix}>".strip()
        else:
            out[name] = "<redacted>"
    return out


def bearer_key(headers: Mapping[str, str]) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None (no header, another
    scheme, or an empty key)."""
    scheme, _, key = headers.get("authorization", "").partition(" ")
    key = key.strip()
    return key if key and scheme.lower() == "bearer" else None


def marked_tool(text: str) -> str | None:
    """The tool a message asks for with the ``[[emulator:tool_call]]`` marker: None without a
    marker, ``""`` for the bare marker (the first tool), else the name in
    ``[[emulator:tool_call:NAME]]``."""
    if TOOL_MARKER not in text:
        return None
    named = text.split(TOOL_MARKER, 1)[1].split("]]", 1)[0]
    return named[1:] if named.startswith(":") else ""


@dataclass(slots=True)
class Call:
    """Everything one request handler needs, gathered once: the request, its connection, the
    endpoint (below ``/v1``) and the name of the method that answers it, the parsed JSON body,
    the fault that applies and the log entry (None when recording is off)."""

    request: Request
    conn: HTTPConnection
    endpoint: str
    stats_path: str
    record: RecordedRequest | None
    body: Any = None
    fault: Fault = _NO_FAULT
    handler: str = ""


_ROUTES: dict[str, tuple[str, str]] = {
    "/chat/completions": ("POST", "_chat"),
    "/completions": ("POST", "_completion"),
    "/embeddings": ("POST", "_embeddings"),
    "/models": ("GET", "_list_models"),
}


class WireFormat(Protocol):
    """What the core asks of a flavour's wire module (a module satisfies this protocol): its
    request checks, its catalogue, and the shapes of everything it sends."""

    @property
    def DIALECT(self) -> Dialect: ...
    @property
    def DEFAULT_MODELS(self) -> Sequence[Mapping[str, Any]]: ...
    def model_entry(
        self, model_id: str, type_: str = ..., *, context_length: int = ...
    ) -> dict[str, Any]: ...
    def guess_type(self, model_id: str) -> str: ...
    def models_body(self, entries: list[dict[str, Any]]) -> Any: ...
    def default_error(self, status: int, code: str | None = ...) -> tuple[str, str, str | None]: ...
    def ratelimit_headers(
        self, *, limit: int | None, remaining: int | None, reset: float, error_type: str
    ) -> list[tuple[str, str]]: ...
    def new_tool_call_id(self) -> str: ...
    def usage(self, prompt_tokens: int, completion_tokens: int) -> Mapping[str, Any]: ...
    def response_seed(self, body: Mapping[str, Any]) -> int: ...
    def ok_headers(self) -> _Headers: ...
    def error_response(
        self, message: str, type_: str, code: str | None, param: str | None
    ) -> tuple[dict[str, Any], _Headers]: ...
    def chat_body(self, body: Mapping[str, Any], answer: wire.Answer) -> dict[str, Any]: ...
    def completion_body(self, body: Mapping[str, Any], answer: wire.Answer) -> dict[str, Any]: ...
    def embedding_body(
        self, model: str, inputs: list[str], dim: int, as_base64: bool
    ) -> dict[str, Any]: ...
    def stream_encoder(
        self, kind: str, body: Mapping[str, Any], model: str
    ) -> wire.StreamEncoder: ...


class BaseEmulator:
    """The wire-agnostic core of the emulators: an HTTP server on localhost with a request log,
    tenants, fault injection, stats and the reply knobs, speaking no API of its own.

    A wire subclasses it: it declares :attr:`routes` (and :attr:`stream_endpoints`), writes the
    methods those routes name (each takes a :class:`Call` and returns a :data:`Reply`; raising
    :class:`~llmrouter.testing.dialect.Invalid` answers with that error), and fills in the
    ``# -- the wire's part`` methods: its model catalogue, its error bodies and headers, and what a
    broken body looks like. Streams go through :meth:`_stream`, which applies the stream faults
    to any sequence of events. Everything else (lifecycle, log, faults, stats) is inherited.

    ``api_key=None`` accepts any non-empty key; a string requires exactly that key. ``models``
    replaces the built-in catalogue. ``reply`` fixes the reply text (or is a callable given the
    request body); by default the reply is derived from the prompt. ``latency`` delays every
    response (seconds). ``reply_tokens`` makes every reply that many filler tokens (benchmarks).
    ``log_limit`` bounds the request log (oldest dropped); ``record=False`` turns recording off
    (benchmarks). ``strict`` and ``require_key`` default to the class attributes of the same
    names.
    """

    #: Endpoint (the path below ``/v1``) -> (HTTP method, name of the method that answers it).
    routes: ClassVar[Mapping[str, tuple[str, str]]] = {}
    #: Endpoints that answer ``"stream": true`` with an event stream (``cut_after`` then cuts
    #: the stream rather than dropping the request unanswered).
    stream_endpoints: ClassVar[frozenset[str]] = frozenset()
    #: The status whose default error an in-band stream error carries when the fault sets none.
    stream_error_status: ClassVar[int] = 500
    #: The content type of a stream's answer (Bedrock's is a binary event stream).
    stream_content_type: ClassVar[bytes] = b"text/event-stream;charset=utf-8"
    #: The version prefixes the API is served under (``/v1/...``; Gemini's also ``/v1beta/``).
    api_versions: ClassVar[tuple[str, ...]] = ("v1",)
    #: The opening of the default (prompt-derived) reply.
    default_reply: ClassVar[str] = "This is a deterministic reply from the emulator."
    #: The 400 answers to a body that is not JSON, or not a JSON object.
    bad_json_message: ClassVar[str] = "Input validation error: request body is not valid JSON"
    not_object_message: ClassVar[str] = "Input validation error: request body must be a JSON object"
    #: Reject what the real API rejects beyond the basic checks (each wire says which).
    strict: bool = False
    #: A request without a key is a 401 (False: fine, like a local server).
    require_key: bool = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        models: Sequence[str | Mapping[str, Any]] | None = None,
        reply: str | Callable[[dict[str, Any]], str] | None = None,
        latency: float = 0.0,
        reply_tokens: int | None = None,
        record: bool = True,
        log_limit: int | None = 10_000,
        strict: bool | None = None,
        require_key: bool | None = None,
    ) -> None:
        if strict is not None:
            self.strict = strict
        if require_key is not None:
            self.require_key = require_key
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self.api_key = api_key
        self.reply = reply
        self.latency = latency
        self.reply_tokens = reply_tokens
        self.record = record
        self._lock = threading.Lock()
        self._log: deque[RecordedRequest] = deque(maxlen=log_limit)
        self._rules: list[FaultRule] = []
        self._stats: Counter[tuple[str, int]] = Counter()
        self._events: Counter[str] = Counter()
        # requests being answered now, and the most at once since the last reset_stats()
        # (touched only on the event-loop thread)
        self._in_flight = 0
        self._peak_in_flight = 0
        self._models: dict[str, dict[str, Any]] = {}
        self._reply_cache: tuple[str, list[str]] | None = None
        self.set_models(self._default_models() if models is None else models)
        self._reset_state()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What a client uses as its API base: ``http://127.0.0.1:PORT/v1``."""
        return self.url + "/v1"

    def base_url_for(self, tenant: str) -> str:
        """A base URL that serves the same API under ``/t/<tenant>``, so fault rules (and the
        request log) can tell apart clients or deployments pointed at different URLs."""
        return self._tenant_root(tenant) + "/v1"

    def _tenant_root(self, tenant: str) -> str:
        if not tenant or "/" in tenant:
            raise ValueError("tenant must be a non-empty name without '/'")
        return f"{self.url}/t/{tenant}"

    # -- models ----------------------------------------------------------------------------

    @property
    def models(self) -> list[dict[str, Any]]:
        """The model catalogue, as entries (copies)."""
        with self._lock:
            return [dict(m) for m in self._models.values()]

    def set_models(self, models: Sequence[str | Mapping[str, Any]]) -> None:
        """Replace the model catalogue (ids, or entry dicts in the wire's shape)."""
        raise NotImplementedError

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every recorded request, oldest first (a snapshot; safe from any thread)."""
        with self._lock:
            return list(self._log)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._log[-1] if self._log else None

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget requests, fault rules and stats: a clean slate between tests."""
        with self._lock:
            self._log.clear()
            self._rules.clear()
        self.reset_stats()
        self._reset_state()

    # -- faults ----------------------------------------------------------------------------

    def add_fault(
        self,
        fault: Fault | str,
        *,
        path: str | None = None,
        model: str | None = None,
        tenant: str | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Install a fault rule; rules are tried in the order added, the first match applies.

        ``times=K`` hits only the next K matching requests (fail-the-first-K), then the rule
        retires. ``fault`` may be a :class:`Fault` or a spec string. Returns the rule (its
        ``hits`` counts the requests it hit).
        """
        rule = FaultRule(
            fault if isinstance(fault, Fault) else parse_fault(fault),
            path=path,
            model=model,
            tenant=tenant,
            times=times,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def faults(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def _rule_fault(self, endpoint: str, model: object, tenant: str) -> Fault | None:
        with self._lock:
            rules = list(self._rules)
        model_name = model if isinstance(model, str) else None
        for rule in rules:
            if rule.matches(endpoint, model_name, tenant) and rule.try_consume():
                if rule.exhausted:
                    with self._lock, contextlib.suppress(ValueError):
                        self._rules.remove(rule)
                return rule.fault
        return None

    # -- stats -----------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, Any]:
        """Counters for soak tests: ``total``, ``by_path`` and ``by_status`` response counts,
        ``by_path_status`` (``{"/v1/chat/completions": {200: n}}``), ``streams``,
        ``stream_errors``, ``cuts``, ``disconnects``, ``protocol_errors``, ``open_connections``,
        ``accepted_connections`` (connections opened by clients since the last reset),
        ``in_flight`` (requests being answered now: received, answer not yet finished) and
        ``peak_in_flight`` (the most at once since the last reset), which show whether clients
        really overlapped their requests."""
        with self._lock:
            items = list(self._stats.items())
            events = dict(self._events)
        by_path: Counter[str] = Counter()
        by_status: Counter[int] = Counter()
        by_path_status: dict[str, dict[int, int]] = {}
        for (path, status), n in items:
            by_path[path] += n
            by_status[status] += n
            by_path_status.setdefault(path, {})[status] = n
        server = self._server
        return {
            "total": sum(by_path.values()),
            "by_path": dict(by_path),
            "by_status": dict(by_status),
            "by_path_status": by_path_status,
            "streams": events.get("streams", 0),
            "stream_errors": events.get("stream_errors", 0),
            "cuts": events.get("cuts", 0),
            "disconnects": server.disconnects if server else 0,
            "protocol_errors": server.protocol_errors if server else 0,
            "open_connections": len(server.connections) if server else 0,
            "accepted_connections": server.accepted if server else 0,
            "in_flight": self._in_flight,
            "peak_in_flight": self._peak_in_flight,
        }

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._events.clear()
            self._peak_in_flight = self._in_flight
        server = self._server
        if server is not None:
            server.protocol_errors = 0
            server.disconnects = 0
            server.accepted = 0

    def close_idle_connections(self, timeout: float = 10.0) -> int:
        """Close every client connection that is between two requests, as a server whose
        keep-alive timer ran out does; returns how many were closed. For testing how clients
        handle a pooled connection the server has closed."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return 0
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return server.close_idle()

        async def close() -> int:
            return server.close_idle()

        return asyncio.run_coroutine_threadsafe(close(), loop).result(timeout)

    def _count(self, path: str, status: int) -> None:
        with self._lock:
            self._stats[(path, status)] += 1

    def _event(self, name: str) -> None:
        with self._lock:
            self._events[name] += 1

    # -- lifecycle -------------------------------------------------------------------------

    def start(self: _E) -> _E:
        """Serve from a background thread; returns once the socket is listening."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_quiet_exception_handler)
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(ready.set))
            except BaseException as exc:  # surfaced to start()'s caller
                failure.append(exc)
                ready.set()
            finally:
                with contextlib.suppress(Exception):
                    _cancel_all(loop)
                loop.close()

        name = type(self).__name__.lower()
        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"the emulator failed to start: {failure[0]!r}") from failure[0]
        return self

    def stop(self) -> None:
        """Close the socket and every connection, and end the thread. Idempotent."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self.port = None

    async def _serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Listen until ``_stopping`` is set; ``on_ready`` runs once the socket is bound."""
        loop = asyncio.get_running_loop()
        stopping = self._stopping = asyncio.Event()
        server = HTTPServer(self._handle, loop)
        _, self.port = await server.start(self.host, self._requested_port)
        self._server = server
        try:
            if on_ready is not None:
                on_ready()
            await stopping.wait()
        finally:
            await server.close()

    def serve_forever(self: _E, *, on_ready: Callable[[_E], None] | None = None) -> None:
        """Serve in the current thread until SIGINT or SIGTERM (the ``python -m`` form).

        ``on_ready`` is called once the socket is listening (the CLI prints the URL there).
        """

        def ready() -> None:
            loop = asyncio.get_running_loop()
            stopping = self._stopping
            assert stopping is not None
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, stopping.set)
            if on_ready is not None:
                on_ready(self)

        async def main() -> None:
            asyncio.get_running_loop().set_exception_handler(_quiet_exception_handler)
            await self._serve(ready)

        asyncio.run(main())

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self: _E) -> _E:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.port is not None else "not started"
        return f"<{type(self).__name__} {where}>"

    # -- request handling (event-loop thread) ----------------------------------------------

    def _handle(self, request: Request, conn: HTTPConnection) -> Reply:
        """Answer one request, counting it in flight until its answer is finished."""
        self._in_flight += 1
        if self._in_flight > self._peak_in_flight:
            self._peak_in_flight = self._in_flight
        try:
            reply = self._answer(request, conn)
        except BaseException:
            self._in_flight -= 1
            raise
        if reply is None:
            self._in_flight -= 1
            return None
        return self._tracked(reply)

    async def _tracked(self, reply: Awaitable[None]) -> None:
        try:
            await reply
        finally:
            self._in_flight -= 1

    def _answer(self, request: Request, conn: HTTPConnection) -> Reply:
        path = request.path
        tenant = ""
        api_path = path
        if path.startswith("/t/"):
            tenant, _, rest = path[3:].partition("/")
            api_path = "/" + rest
        version, endpoint = self._split_path(api_path)
        route = self._route(endpoint)
        stats_path = f"/{version}{endpoint}" if route is not None else "<unknown>"
        call = Call(request, conn, endpoint, stats_path, None)

        body: Any = None
        body_text: str | None = None
        bad_json = False
        if request.body:
            try:
                body = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                bad_json = True
                body_text = request.body[:1024].decode("utf-8", "replace")
        call.body = body

        if self.record:
            key = self._sent_key(request.headers)
            record = RecordedRequest(
                method=request.method,
                path=path,
                endpoint=endpoint,
                tenant=tenant,
                query=request.query,
                headers=_redact(request.headers),
                body=body,
                timestamp=time.time(),
                has_key=key is not None,
                key_suffix=(key[-4:] if key and len(key) >= _KEY_SUFFIX_MIN_LEN else None),
                key_fingerprint=_fingerprint(key) if key else None,
                body_text=body_text,
            )
            call.record = record
            with self._lock:
                self._log.append(record)

        if route is None or (tenant == "" and path.startswith("/t/")):
            return self._error(
                call, 404, f"Invalid URL ({request.method} {path})", code="not_found"
            )
        method, call.handler = route
        if request.method != method:
            return self._error(
                call,
                405,
                f"Method {request.method} not allowed for {path}; use {method}",
                code="method_not_allowed",
                headers=(("allow", method),),
            )
        if not self._authorised(request.headers):
            return self._auth_failure(call)

        spec = request.headers.get(FAULT_HEADER)
        fault: Fault | None = None
        if spec is not None:
            try:
                fault = parse_fault(spec)
            except FaultSpecError as exc:
                return self._error(
                    call, 400, f"Bad {FAULT_HEADER} header: {exc}", param=FAULT_HEADER
                )
        elif self._rules:
            model = body.get("model") if isinstance(body, dict) else None
            fault = self._rule_fault(endpoint, model, tenant)
        if fault is not None and not fault.is_noop:
            call.fault = fault
            if call.record is not None:
                call.record.fault = fault.to_spec()

        if bad_json:
            return self._error(call, 400, self.bad_json_message)
        if method == "POST" and not isinstance(body, dict):
            return self._error(call, 400, self.not_object_message)

        fault = call.fault
        delay = self.latency + fault.delay
        if delay > 0:
            return self._delayed(call, delay)
        return self._respond_to(call)

    async def _delayed(self, call: Call, delay: float) -> None:
        await asyncio.sleep(delay)
        if call.conn.closed:
            return
        result = self._respond_to(call)
        if result is not None:
            await result

    def _respond_to(self, call: Call) -> Reply:
        fault = call.fault
        if fault.status is not None and fault.stream_error_after is None:
            return self._fault_status(call, fault)
        if fault.cut_after is not None and not self._wants_stream(call):
            self._event("cuts")
            self._count(call.stats_path, 0)
            if call.record is not None:
                call.record.status = 0
            call.conn.cut()
            return None
        try:
            handler: Callable[[Call], Reply] = getattr(self, call.handler)
            return handler(call)
        except Invalid as exc:
            return self._error(
                call, exc.status, exc.message, type_=exc.type, code=exc.code, param=exc.param
            )

    def _wants_stream(self, call: Call) -> bool:
        return (
            call.endpoint in self.stream_endpoints
            and isinstance(call.body, dict)
            and call.body.get("stream") is True
        )

    def _split_path(self, api_path: str) -> tuple[str, str]:
        """``(prefix, endpoint)`` of a path below the tenant: ``/v1/chat/completions`` ->
        ``("v1", "/chat/completions")``; ``("", "")`` when no version prefix matches. A wire
        whose prefix holds a parameter (Azure's ``/openai/deployments/{name}``) overrides this."""
        version = next((v for v in self.api_versions if api_path.startswith(f"/{v}/")), "")
        return version, (api_path[len(version) + 1 :] if version else "")

    def _route(self, endpoint: str) -> tuple[str, str] | None:
        """(method, handler name) of an endpoint, or None: a 404. A wire with path parameters
        (``/models/{id}``) overrides this."""
        return self.routes.get(endpoint)

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        """Whether the request may pass (default: an ``Authorization: Bearer`` key)."""
        if not headers.get("authorization"):
            return not self.require_key
        key = bearer_key(headers)
        return key is not None and (self.api_key is None or key == self.api_key)

    # -- the wire's part -------------------------------------------------------------------

    def _default_models(self) -> Sequence[str | Mapping[str, Any]]:
        """The built-in catalogue (what ``models=None`` means)."""
        raise NotImplementedError

    def _reset_state(self) -> None:
        """Start the wire's own memory afresh (a prompt cache, say): at construction and on
        :meth:`reset`."""

    def _sent_key(self, headers: Mapping[str, str]) -> str | None:
        """The API key a request carries (default: a bearer token), for the log and the auth
        check; never stored."""
        return bearer_key(headers)

    def _auth_failure(self, call: Call) -> Reply:
        """The answer to a request whose key is missing or wrong (the wire's 401)."""
        message, type_, code = self._default_error(401, None)
        return self._error(call, 401, message, type_=type_, code=code)

    def _default_error(self, status: int, code: str | None) -> tuple[str, str, str | None]:
        """(message, type, code) the wire sends with an error status a fault asked for."""
        raise NotImplementedError

    def _error_type(self, status: int) -> str:
        """The error type of the core's own errors (unknown URL, bad JSON, a bad fault header)."""
        return "invalid_request_error"

    def _error_response(
        self, status: int, message: str, type_: str, code: str | None, param: str | None
    ) -> tuple[Any, _Headers]:
        """An error's JSON body and the headers it carries."""
        raise NotImplementedError

    def _ratelimit_headers(
        self, *, limit: int | None, remaining: int | None, reset: float, error_type: str
    ) -> list[tuple[str, str]]:
        """The rate-limit headers of a 429 (``limit``/``remaining`` None: the wire's defaults;
        ``reset``: seconds until the window resets)."""
        return []

    def _ok_headers(self) -> _Headers:
        """Headers every successful non-streamed answer carries (a request id, say)."""
        return ()

    def _malformed_body(self) -> bytes:
        """What the ``malformed`` fault sends as a 200 body: the start of a valid body, cut off."""
        raise NotImplementedError

    # -- responses -------------------------------------------------------------------------

    def _send(self, call: Call, status: int, body: bytes, headers: _Headers = ()) -> None:
        if call.record is not None:
            call.record.status = status
        self._count(call.stats_path, status)
        call.conn.respond(status, body, content_type=_JSON, headers=headers)

    def _send_json(self, call: Call, response: Any, headers: _Headers | None = None) -> None:
        if headers is None:
            headers = self._ok_headers()
        self._send(call, 200, wire.dumps(response).encode(), headers)

    def _error(
        self,
        call: Call,
        status: int,
        message: str,
        *,
        type_: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: _Headers = (),
    ) -> Reply:
        body, extra = self._error_response(
            status, message, type_ or self._error_type(status), code, param
        )
        self._send(call, status, wire.dumps(body).encode(), (*headers, *extra))
        return None

    def _fault_status(self, call: Call, fault: Fault) -> Reply:
        status = fault.status
        assert status is not None
        message, type_, code = self._default_error(status, fault.code)
        headers: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            headers.append(("retry-after", wire.format_seconds(fault.retry_after)))
        if fault.retry_after_ms is not None:
            headers.append(("retry-after-ms", str(fault.retry_after_ms)))
        if status == 429 or fault.ratelimit_limit is not None:
            reset = fault.ratelimit_reset
            if reset is None:
                reset = fault.retry_after if fault.retry_after is not None else 1.0
            headers += self._ratelimit_headers(
                limit=fault.ratelimit_limit,
                remaining=fault.ratelimit_remaining,
                reset=reset,
                error_type=fault.type or type_,
            )
        return self._error(
            call,
            status,
            fault.message if fault.message is not None else message,
            type_=fault.type if fault.type is not None else type_,
            code=fault.code if fault.code is not None else code,
            param=fault.param,
            headers=headers,
        )

    def _malformed(self, call: Call) -> Reply:
        self._send(call, 200, self._malformed_body())
        return None

    def _inband_error(self, fault: Fault) -> tuple[str, str, str | None]:
        """(message, type, code) of the in-band error a ``stream_error_after`` fault sends: the
        wire's default for the fault's status (else :attr:`stream_error_status`), overridden by
        the fault's own fields."""
        status = fault.status if fault.status is not None else self.stream_error_status
        message, type_, code = self._default_error(status, None)
        return (
            fault.message if fault.message is not None else message,
            fault.type if fault.type is not None else type_,
            fault.code if fault.code is not None else code,
        )

    # -- replies ---------------------------------------------------------------------------

    def _plain_reply_tokens(self, call: Call, body: Mapping[str, Any]) -> list[str]:
        """The reply's tokens: the ``x-emulator-tokens`` header, else ``reply_tokens``,
        ``reply`` or the default reply (derived from the prompt)."""
        wanted = call.request.headers.get(TOKENS_HEADER)
        if wanted is not None:
            wanted = wanted.strip().lower()
            if wanted == "max":
                # one more than allowed, so the reply ends by hitting the limit ("length")
                max_tokens = body.get("max_tokens")
                return list(wire.filler_tokens(max_tokens + 1 if wire.is_int(max_tokens) else 256))
            if not wanted.isdigit() or int(wanted) > 1_000_000:
                raise Invalid(
                    400,
                    f"Bad {TOKENS_HEADER} header: expected a count or 'max'",
                    param=TOKENS_HEADER,
                )
            return list(wire.filler_tokens(int(wanted)))
        if self.reply_tokens is not None:
            return list(wire.filler_tokens(self.reply_tokens))
        reply = self.reply
        if isinstance(reply, str):
            cache = self._reply_cache
            if cache is None or cache[0] != reply:
                cache = (reply, wire.split_tokens(reply))
                self._reply_cache = cache
            return list(cache[1])
        if reply is not None:
            return wire.split_tokens(str(reply(dict(body))))
        snippet = " ".join(wire.prompt_text(body).split()[:16])
        text = self.default_reply
        if snippet:
            text += f" You said: {snippet}"
        return wire.split_tokens(text)

    # -- streaming -------------------------------------------------------------------------

    async def _stream(
        self,
        call: Call,
        events: Iterable[bytes],
        *,
        end: bytes,
        error_event: Callable[[Fault], bytes],
        broken: bytes,
        headers: _Headers = (),
    ) -> None:
        """Send ``events`` (every event of the stream before ``end``, its last one) as an event
        stream, with the stream faults applied: ``malformed`` sends ``broken`` first,
        ``cut_after``/``stream_error_after`` stop after that many events (and cut the
        connection, or send ``error_event(fault)``), ``no_done`` leaves out ``end``,
        ``chunk_delay`` paces the events."""
        conn = call.conn
        fault = call.fault
        if call.record is not None:
            call.record.status = 200
        self._count(call.stats_path, 200)
        self._event("streams")
        conn.start_stream(200, content_type=self.stream_content_type, headers=headers)
        if fault.malformed:
            conn.write_chunk(broken)
        stop_at = fault.cut_after if fault.cut_after is not None else fault.stream_error_after
        chunk_delay = fault.chunk_delay
        batch: list[bytes] = []
        for sent, event in enumerate(events):
            if stop_at is not None and sent >= stop_at:
                break
            if chunk_delay > 0:
                if sent:
                    await asyncio.sleep(chunk_delay)
                if conn.closed:
                    return
                conn.write_chunk(event)
            else:
                batch.append(event)
                if len(batch) >= 32:
                    conn.write_chunks(batch)
                    batch.clear()
                    await asyncio.sleep(0)
                    await conn.drain()
                    if conn.closed:
                        return
        if batch:
            conn.write_chunks(batch)
        if fault.cut_after is not None:
            self._event("cuts")
            conn.cut()
            return
        if fault.stream_error_after is not None:
            self._event("stream_errors")
            conn.write_chunk(error_event(fault))
            conn.end_stream()
            return
        if chunk_delay > 0:
            await asyncio.sleep(chunk_delay)
        if not fault.no_done:
            conn.write_chunk(end)
        conn.end_stream()


class OpenAICompatibleEmulator(BaseEmulator):
    """The OpenAI-compatible wire on the emulators' core, in no one flavour. Use
    :class:`TogetherEmulator` or :class:`~llmrouter.testing.OpenAIEmulator`; a new flavour
    subclasses this and declares the class attributes below (``api``: a wire module that
    satisfies :class:`WireFormat`), and inherits everything else.

    Takes every :class:`BaseEmulator` argument, and ``embedding_dim`` (the size of the embedding
    vectors). ``models`` entries are ids (typed by the flavour's ``guess_type``) or entry dicts.
    ``strict`` and ``require_key`` default to the flavour's class attributes of the same names.
    """

    routes: ClassVar[Mapping[str, tuple[str, str]]] = _ROUTES
    stream_endpoints: ClassVar[frozenset[str]] = frozenset({"/chat/completions", "/completions"})
    #: The flavour's wire module: its shapes, its catalogue and its dialect.
    api: ClassVar[WireFormat]
    #: Fields a catalogue entry given as a dict gets when it lacks them.
    model_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Reject what the real API rejects beyond the common checks: the dialect's strict-only
    #: rules (OpenAI: unknown fields, more than 4 stops; Together declares none).
    strict: bool = False

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        models: Sequence[str | Mapping[str, Any]] | None = None,
        reply: str | Callable[[dict[str, Any]], str] | None = None,
        latency: float = 0.0,
        reply_tokens: int | None = None,
        embedding_dim: int = 8,
        record: bool = True,
        log_limit: int | None = 10_000,
        strict: bool | None = None,
        require_key: bool | None = None,
    ) -> None:
        self.embedding_dim = embedding_dim
        self._models_body = b"[]"
        #: What the API accepts and how it words a rejection (the wire module's ``DIALECT``).
        self.dialect: Dialect = self.api.DIALECT
        super().__init__(
            host,
            port,
            api_key=api_key,
            models=models,
            reply=reply,
            latency=latency,
            reply_tokens=reply_tokens,
            record=record,
            log_limit=log_limit,
            strict=strict,
            require_key=require_key,
        )

    # -- models ----------------------------------------------------------------------------

    def set_models(self, models: Sequence[str | Mapping[str, Any]]) -> None:
        """Replace the model catalogue (an id gets an entry typed by the flavour's ``guess_type``)."""
        index: dict[str, dict[str, Any]] = {}
        for item in models:
            if isinstance(item, str):
                entry = self.api.model_entry(item, self.api.guess_type(item))
            else:
                entry = {**self.model_defaults, **item}
            if not isinstance(entry.get("id"), str):
                raise ValueError(f"model entry without an 'id': {item!r}")
            entry.setdefault("object", "model")
            entry.setdefault("created", 1692896905)
            entry.setdefault("type", "chat")
            index[entry["id"].lower()] = entry
        body = wire.dumps(self.api.models_body(list(index.values()))).encode()
        with self._lock:
            self._models = index
            self._models_body = body

    def add_model(
        self, model_id: str, type: str = "chat", *, context_length: int = 8192, **extra: Any
    ) -> None:
        """Add (or replace) one model; ``type`` is chat, language, code, embedding, ..."""
        entry = self.api.model_entry(model_id, type, context_length=context_length)
        entry.update(extra)
        self.set_models([*self.models, entry])

    # -- the wire's part -------------------------------------------------------------------

    def _default_models(self) -> Sequence[str | Mapping[str, Any]]:
        return self.api.DEFAULT_MODELS

    def _default_error(self, status: int, code: str | None) -> tuple[str, str, str | None]:
        return self.api.default_error(status, code)

    def _error_response(
        self, status: int, message: str, type_: str, code: str | None, param: str | None
    ) -> tuple[Any, _Headers]:
        return self.api.error_response(message, type_, code, param)

    def _ratelimit_headers(
        self, *, limit: int | None, remaining: int | None, reset: float, error_type: str
    ) -> list[tuple[str, str]]:
        return self.api.ratelimit_headers(
            limit=limit, remaining=remaining, reset=reset, error_type=error_type
        )

    def _ok_headers(self) -> _Headers:
        return self.api.ok_headers()

    def _malformed_body(self) -> bytes:
        return b'{"id":"' + tw.new_request_id().encode() + b'","choices":[{"ind'

    def _stream_error_event(self, encoder: wire.StreamEncoder, fault: Fault) -> bytes:
        """``data: {"error": {...}}`` (with ``error_in_chunk``, on an otherwise valid chunk)."""
        message, type_, code = self._inband_error(fault)
        error = wire.error_body(message, type_, code, fault.param)
        if fault.error_in_chunk:
            # the error rides on an otherwise valid (empty) chunk of this stream
            error = {**encoder.chunk_dict("", index=0), **error}
        return wire.sse_event(error)

    # -- model & reply helpers -------------------------------------------------------------

    def _model(self, body: Mapping[str, Any], allowed: tuple[str, ...] | None) -> dict[str, Any]:
        return self.dialect.model_entry(self._models, body, allowed)

    def _reply_tokens(self, call: Call, body: Mapping[str, Any], *, json_mode: bool) -> list[str]:
        """The reply before ``stop``/``max_tokens``: the ``x-emulator-tokens`` header, else
        ``reply_tokens``, ``reply`` or the default reply; in JSON mode, JSON text instead."""
        tokens = self._plain_reply_tokens(call, body)
        if json_mode:
            as_json = wire.json_reply(
                body, "".join(tokens), keep_objects=self.dialect.keep_json_objects
            )
            if as_json is not None:
                return wire.split_tokens(as_json)
        return tokens

    def _limit(self, tokens: list[str], body: Mapping[str, Any]) -> tuple[list[str], str]:
        """Apply ``stop`` and the reply bound; returns the tokens kept and the finish reason."""
        finish = self.dialect.natural_finish
        stop = body.get("stop")
        if stop:
            stops = [stop] if isinstance(stop, str) else [s for s in stop if s]
            text = "".join(tokens)
            cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
            if cut >= 0:
                tokens = wire.split_tokens(text[:cut])
                finish = "stop"
        max_tokens = self.dialect.max_tokens(body)
        if wire.is_int(max_tokens) and len(tokens) > max_tokens:
            tokens = tokens[:max_tokens]
            finish = "length"
        return tokens, finish

    def _tool_calls(self, body: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        tools = body.get("tools")
        if not tools:
            return None
        by_name = {t["function"]["name"]: t for t in tools}
        choice = body.get("tool_choice")
        name: str | None = None
        if isinstance(choice, dict):
            function = choice.get("function")
            name = function.get("name") if isinstance(function, dict) else None
            if name is None:
                name = next(iter(by_name))
        elif choice in ("required", "any"):
            name = next(iter(by_name))
        elif isinstance(choice, str) and choice not in ("auto", "none"):
            name = choice
        if name is None and choice != "none":
            messages = body.get("messages") or []
            last = messages[-1] if messages else None
            content = last.get("content") if isinstance(last, dict) else None
            marked = marked_tool(content) if isinstance(content, str) else None
            if marked is not None:
                name = marked or next(iter(by_name))
        if name is None:
            return None
        tool = by_name.get(name)
        if tool is None:
            raise Invalid(
                400,
                f"Input validation error: tool_choice names function {name!r}, which is not in "
                f"'tools'",
                param="tool_choice",
            )
        return [
            {
                "index": 0,
                "id": self.api.new_tool_call_id(),
                "type": "function",
                "function": {"name": name, "arguments": wire.tool_call_arguments(tool)},
            }
        ]

    # -- endpoints -------------------------------------------------------------------------

    def _chat(self, call: Call) -> Reply:
        body = call.body
        dialect = self.dialect
        if self.strict:
            dialect.check_fields(body, dialect.chat_fields)
        dialect.check_chat(body, strict=self.strict)
        check_common(body)
        entry = self._model(body, dialect.chat_model_types)
        prompt_tokens = wire.count_prompt_tokens(body)
        dialect.check_context(entry, body, prompt_tokens)
        tool_calls = self._tool_calls(body)
        if tool_calls:
            tokens = wire.split_tokens(tool_calls[0]["function"]["arguments"])
            finish = "tool_calls"
        else:
            tokens, finish = self._limit(self._reply_tokens(call, body, json_mode=True), body)
        return self._complete(call, "chat", entry, tokens, finish, prompt_tokens, tool_calls)

    def _completion(self, call: Call) -> Reply:
        body = call.body
        dialect = self.dialect
        if self.strict:
            dialect.check_fields(body, dialect.completion_fields)
        dialect.check_prompt(body)
        check_common(body)
        if self.strict:
            dialect.check_stop(body)
        entry = self._model(body, dialect.completion_types(self.strict))
        prompt_tokens = wire.count_prompt_tokens(body)
        dialect.check_context(entry, body, prompt_tokens)
        json_mode = dialect.json_mode_in_completions
        tokens, finish = self._limit(self._reply_tokens(call, body, json_mode=json_mode), body)
        return self._complete(call, "completion", entry, tokens, finish, prompt_tokens, None)

    def _complete(
        self,
        call: Call,
        kind: str,
        entry: Mapping[str, Any],
        tokens: list[str],
        finish: str,
        prompt_tokens: int,
        tool_calls: list[dict[str, Any]] | None,
    ) -> Reply:
        """Answer a checked chat or text completion: streamed, whole, or malformed."""
        body = call.body
        n = body.get("n") or 1
        answer = wire.Answer(
            model=str(entry["id"]),
            tokens=tokens,
            n=n,
            finish=finish,
            usage=self.api.usage(prompt_tokens, len(tokens) * n),
            seed=self.api.response_seed(body),
            tool_calls=tool_calls,
        )
        stream = body.get("stream") is True
        if call.fault.malformed and not stream:
            return self._malformed(call)
        if stream:
            encoder = self.api.stream_encoder(kind, body, answer.model)
            return self._stream(
                call,
                encoder.events(answer),
                end=wire.SSE_DONE,
                error_event=partial(self._stream_error_event, encoder),
                broken=b'data: {"id":"' + encoder.request_id.encode() + b'","choices":[\n\n',
            )
        if kind == "chat":
            self._send_json(call, self.api.chat_body(body, answer))
        else:
            self._send_json(call, self.api.completion_body(body, answer))
        return None

    def _embeddings(self, call: Call) -> Reply:
        body = call.body
        dialect = self.dialect
        if self.strict:
            dialect.check_fields(body, dialect.embedding_fields)
        entry = self._model(body, ("embedding",))
        raw = body.get("input")
        if raw is None:
            raise dialect.complaint("input_missing")
        inputs = wire.embedding_inputs(raw, token_ids=dialect.token_id_embeddings)
        if inputs is None:
            raise dialect.complaint("input_shape")
        dim, as_base64 = self.embedding_dim, False
        if dialect.makes("dimensions"):  # an API that checks the options also honours them
            dimensions = body.get("dimensions")
            if dimensions is not None and (not wire.is_int(dimensions) or dimensions < 1):
                raise dialect.complaint("dimensions")
            encoding = body.get("encoding_format", "float")
            if encoding not in ("float", "base64"):
                raise dialect.complaint("encoding_format")
            dim, as_base64 = dimensions or self.embedding_dim, encoding == "base64"
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, self.api.embedding_body(str(entry["id"]), inputs, dim, as_base64))
        return None

    def _list_models(self, call: Call) -> Reply:
        if call.fault.malformed:
            return self._malformed(call)
        self._send(call, 200, self._models_body, self.api.ok_headers())
        return None


class TogetherEmulator(OpenAICompatibleEmulator):
    """A Together-compatible HTTP server on localhost: the core speaking Together's wire format
    (:mod:`llmrouter.testing.together_wire`). See the module docstring and docs/testing.md.

    ``models`` entries given as dicts are ``ModelInfo``-shaped; ids become chat models.
    """

    api: ClassVar[WireFormat] = tw
    default_reply = "This is a deterministic reply from the Together emulator."


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Client disconnects are normal for a test server; keep them out of the test output."""
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, BrokenPipeError, asyncio.CancelledError)):
        return
    loop.default_exception_handler(context)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
