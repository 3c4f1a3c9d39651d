"""``TogetherEmulator``: a Together-compatible API server on 127.0.0.1, for tests and benchmarks.

It speaks Together's wire format (see :mod:`llmrouter.testing.together_wire`), answers
deterministically, records what it received (with keys redacted), and misbehaves on request so a
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
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeGuard

from llmrouter.secrets import CREDENTIAL_HEADERS
from llmrouter.testing import together_wire as wire
from llmrouter.testing.faults import Fault, FaultRule, FaultSpecError, parse_fault
from llmrouter.testing.http11 import HTTPConnection, HTTPServer, Request

__all__ = ["RecordedRequest", "TogetherEmulator"]

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
_Reply = Awaitable[None] | None
"""What an answering method returns: None when it answered synchronously, else an awaitable
that the connection runs as a task (streams, delays)."""
_MODEL_NOT_AVAILABLE = (
    "Unable to access model {model}. Please visit https://api.together.ai/models to view the "
    "list of supported models."
)


@dataclass(slots=True)
class RecordedRequest:
    """One request as the emulator saw it. Credentials are never stored.

    ``headers`` has ``authorization`` (and other credential headers) replaced by a marker;
    ``has_key`` says whether a non-empty bearer key was sent; ``key_suffix`` holds its last four
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
        """True when ``candidate`` is the bearer key this request carried."""
        return self.key_fingerprint is not None and hmac.compare_digest(
            self.key_fingerprint, _fingerprint(candidate)
        )

    @property
    def model(self) -> str | None:
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            return str(body["model"])
        return None


class _Invalid(Exception):
    """A request the real service would reject: status + Together error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param


def _fingerprint(key: str) -> str:
    return hmac.new(_KEY_SALT, key.encode(), hashlib.sha256).hexdigest()[:32]


def _redact(headers: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """Headers with credentials replaced, and the bearer key (kept only in a local variable)."""
    out = dict(headers)
    bearer: str | None = None
    for name in _SENSITIVE_HEADERS.intersection(out):
        value = out[name]
        if name == "authorization":
            scheme, _, key = value.strip().partition(" ")
            key = key.strip()
            suffix = ""
            if scheme.lower() == "bearer" and key:
                bearer = key
                if len(key) >= _KEY_SUFFIX_MIN_LEN:
                    suffix = " ..." + key[-4:]
            out[name] = f"{scheme} <redacted{suffix}>".strip()
        else:
            out[name] = "<redacted>"
    return out, bearer


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# bounds from Together's OpenAPI spec (and the OpenAI-compatible fields Together accepts)
_NUMBER_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "min_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
    "repetition_penalty": (0.0, None),
}
_INT_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "max_tokens": (1, None),
    "n": (1, 128),
    "top_k": (-1, None),
    "seed": (None, None),
    "top_logprobs": (0, 20),
}
_BOOL_FIELDS = ("stream", "echo")
_STR_FIELDS = ("safety_model", "user")
_ROLES = frozenset({"system", "user", "assistant", "tool", "function"})


def _check_common(body: Mapping[str, Any]) -> None:
    """Type and range checks shared by chat and text completions."""
    for name, (lo, hi) in _NUMBER_BOUNDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise _Invalid(400, f"Input validation error: '{name}' must be a number", param=name)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _Invalid(
                400,
                f"Input validation error: '{name}' must be between {lo} and {hi}, got {value}",
                param=name,
            )
    for name, (ilo, ihi) in _INT_BOUNDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not _is_int(value):
            raise _Invalid(400, f"Input validation error: '{name}' must be an integer", param=name)
        if (ilo is not None and value < ilo) or (ihi is not None and value > ihi):
            bound = f">= {ilo}" if ihi is None else f"between {ilo} and {ihi}"
            raise _Invalid(
                400, f"Input validation error: '{name}' must be {bound}, got {value}", param=name
            )
    for name in _BOOL_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise _Invalid(400, f"Input validation error: '{name}' must be a boolean", param=name)
    for name in _STR_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise _Invalid(400, f"Input validation error: '{name}' must be a string", param=name)
    logprobs = body.get("logprobs")
    if (
        logprobs is not None
        and not isinstance(logprobs, bool)
        and (not _is_int(logprobs) or not 0 <= logprobs <= 20)
    ):
        raise _Invalid(
            400,
            "Input validation error: 'logprobs' must be an integer between 0 and 20",
            param="logprobs",
        )
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop))
    ):
        raise _Invalid(
            400, "Input validation error: 'stop' must be a list of strings", param="stop"
        )
    logit_bias = body.get("logit_bias")
    if logit_bias is not None and (
        not isinstance(logit_bias, dict) or not all(_is_number(v) for v in logit_bias.values())
    ):
        raise _Invalid(
            400,
            "Input validation error: 'logit_bias' must map tokens to numbers",
            param="logit_bias",
        )
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise _Invalid(
            400,
            "Input validation error: 'stream_options' must be an object",
            param="stream_options",
        )
    behaviour = body.get("context_length_exceeded_behavior")
    if behaviour is not None and behaviour not in ("truncate", "error"):
        raise _Invalid(
            400,
            "Input validation error: 'context_length_exceeded_behavior' must be 'truncate' or "
            "'error'",
            param="context_length_exceeded_behavior",
        )


def _check_chat(body: Mapping[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise _Invalid(400, "Input validation error: 'messages' is required", param="messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid(
            400, "Input validation error: 'messages' must be a non-empty list", param="messages"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _Invalid(
                400, f"Input validation error: 'messages[{i}]' must be an object", param="messages"
            )
        role = message.get("role")
        if role not in _ROLES:
            raise _Invalid(
                400,
                f"Input validation error: 'messages[{i}].role' must be one of "
                f"{', '.join(sorted(_ROLES))}",
                param="messages",
            )
        content = message.get("content")
        if content is None:
            if role != "assistant":
                raise _Invalid(
                    400,
                    f"Input validation error: 'messages[{i}].content' is required",
                    param="messages",
                )
        elif not isinstance(content, (str, list)):
            raise _Invalid(
                400,
                f"Input validation error: 'messages[{i}].content' must be a string or a list",
                param="messages",
            )
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _Invalid(400, "Input validation error: 'tools' must be a list", param="tools")
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise _Invalid(
                    400,
                    f"Input validation error: 'tools[{i}].function.name' is required",
                    param="tools",
                )
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, (str, dict)):
        raise _Invalid(
            400,
            "Input validation error: 'tool_choice' must be a string or an object",
            param="tool_choice",
        )
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict)
        or response_format.get("type") not in ("text", "json_object", "json_schema")
    ):
        raise _Invalid(
            400,
            "Input validation error: 'response_format.type' must be one of text, json_object, "
            "json_schema",
            param="response_format",
        )
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in ("low", "medium", "high"):
        raise _Invalid(
            400,
            "Input validation error: 'reasoning_effort' must be one of low, medium, high",
            param="reasoning_effort",
        )


@dataclass(slots=True)
class _Call:
    """Everything one request handler needs, gathered once."""

    request: Request
    conn: HTTPConnection
    endpoint: str
    stats_path: str
    record: RecordedRequest | None
    body: Any = None
    fault: Fault = _NO_FAULT


class TogetherEmulator:
    """A Together-compatible HTTP server on localhost. See the module docstring and
    docs/testing.md.

    ``api_key=None`` accepts any non-empty bearer key; a string requires exactly that key.
    ``models`` replaces the built-in catalogue (ids, or ``ModelInfo``-shaped dicts).
    ``reply`` fixes the reply text (or is a callable given the request body); by default the
    reply is derived from the prompt. ``latency`` delays every response (seconds).
    ``reply_tokens`` makes every reply that many filler tokens (benchmarks). ``embedding_dim``
    sizes the embedding vectors. ``log_limit`` bounds the request log (oldest dropped);
    ``record=False`` turns recording off (benchmarks).
    """

    #: The opening of the default (prompt-derived) reply; flavoured subclasses change it.
    default_reply = "This is a deterministic reply from the Together emulator."
    #: (message, type, code) for an error status; flavoured subclasses use their API's texts.
    _default_error = staticmethod(wire.default_error)

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
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self.api_key = api_key
        self.reply = reply
        self.latency = latency
        self.reply_tokens = reply_tokens
        self.embedding_dim = embedding_dim
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
        self._models_body = b"[]"
        self._reply_cache: tuple[str, list[str]] | None = None
        self.set_models(wire.DEFAULT_MODELS if models is None else models)
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
        if not tenant or "/" in tenant:
            raise ValueError("tenant must be a non-empty name without '/'")
        return f"{self.url}/t/{tenant}/v1"

    # -- models ----------------------------------------------------------------------------

    def set_models(self, models: Sequence[str | Mapping[str, Any]]) -> None:
        """Replace the model catalogue (ids become chat models)."""
        index: dict[str, dict[str, Any]] = {}
        for item in models:
            entry = wire.model_entry(item) if isinstance(item, str) else dict(item)
            if not isinstance(entry.get("id"), str):
                raise ValueError(f"model entry without an 'id': {item!r}")
            entry.setdefault("object", "model")
            entry.setdefault("created", 1692896905)
            entry.setdefault("type", "chat")
            index[entry["id"].lower()] = entry
        body = wire.dumps(list(index.values())).encode()
        with self._lock:
            self._models = index
            self._models_body = body

    def add_model(
        self, model_id: str, type: str = "chat", *, context_length: int = 8192, **extra: Any
    ) -> None:
        """Add (or replace) one model; ``type`` is chat, language, code, embedding, ..."""
        entry = wire.model_entry(model_id, type, context_length=context_length)
        entry.update(extra)
        self.set_models([*self.models, entry])

    @property
    def models(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._models.values()]

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

    def start(self) -> TogetherEmulator:
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

        self._thread = threading.Thread(target=run, name="together-emulator", daemon=True)
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

    def serve_forever(self, *, on_ready: Callable[[TogetherEmulator], None] | None = None) -> None:
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

    def __enter__(self) -> TogetherEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> TogetherEmulator:
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
        return f"<TogetherEmulator {where}>"

    # -- request handling (event-loop thread) ----------------------------------------------

    def _handle(self, request: Request, conn: HTTPConnection) -> _Reply:
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

    def _answer(self, request: Request, conn: HTTPConnection) -> _Reply:
        path = request.path
        tenant = ""
        api_path = path
        if path.startswith("/t/"):
            tenant, _, rest = path[3:].partition("/")
            api_path = "/" + rest
        endpoint = api_path[3:] if api_path.startswith("/v1/") else ""
        known = endpoint in _ROUTES
        stats_path = "/v1" + endpoint if known else "<unknown>"
        call = _Call(request, conn, endpoint, stats_path, None)

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
            headers, bearer = _redact(request.headers)
            record = RecordedRequest(
                method=request.method,
                path=path,
                endpoint=endpoint,
                tenant=tenant,
                query=request.query,
                headers=headers,
                body=body,
                timestamp=time.time(),
                has_key=bearer is not None,
                key_suffix=(bearer[-4:] if bearer and len(bearer) >= _KEY_SUFFIX_MIN_LEN else None),
                key_fingerprint=_fingerprint(bearer) if bearer else None,
                body_text=body_text,
            )
            call.record = record
            with self._lock:
                self._log.append(record)

        if not known or (tenant == "" and path.startswith("/t/")):
            return self._error(
                call,
                404,
                f"Invalid URL ({request.method} {path})",
                code="not_found",
            )
        method = _ROUTES[endpoint]
        if request.method != method:
            return self._error(
                call,
                405,
                f"Method {request.method} not allowed for {path}; use {method}",
                code="method_not_allowed",
                headers=(("allow", method),),
            )
        if not self._authorised(request.headers.get("authorization")):
            message, type_, code = self._default_error(401)
            return self._error(call, 401, message, type_=type_, code=code)

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
            return self._error(call, 400, "Input validation error: request body is not valid JSON")
        if method == "POST" and not isinstance(body, dict):
            return self._error(
                call, 400, "Input validation error: request body must be a JSON object"
            )

        fault = call.fault
        delay = self.latency + fault.delay
        if delay > 0:
            return self._delayed(call, delay)
        return self._respond_to(call)

    async def _delayed(self, call: _Call, delay: float) -> None:
        await asyncio.sleep(delay)
        if call.conn.closed:
            return
        result = self._respond_to(call)
        if result is not None:
            await result

    def _respond_to(self, call: _Call) -> _Reply:
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
            handler: Callable[[_Call], _Reply] = getattr(self, _HANDLERS[call.endpoint])
            return handler(call)
        except _Invalid as exc:
            return self._error(
                call, exc.status, exc.message, type_=exc.type, code=exc.code, param=exc.param
            )

    @staticmethod
    def _wants_stream(call: _Call) -> bool:
        return (
            call.endpoint in ("/chat/completions", "/completions")
            and isinstance(call.body, dict)
            and call.body.get("stream") is True
        )

    def _authorised(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return False
        return self.api_key is None or key == self.api_key

    # -- responses -------------------------------------------------------------------------

    def _send(
        self,
        call: _Call,
        status: int,
        body: bytes,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        if call.record is not None:
            call.record.status = status
        self._count(call.stats_path, status)
        call.conn.respond(status, body, content_type=_JSON, headers=headers)

    def _error(
        self,
        call: _Call,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> _Reply:
        body = wire.error_body(message, type_, code, param, request_id=wire.new_request_id())
        self._send(call, status, wire.dumps(body).encode(), headers)
        return None

    def _fault_status(self, call: _Call, fault: Fault) -> _Reply:
        status = fault.status
        assert status is not None
        message, type_, code = self._default_error(status)
        headers: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            headers.append(("retry-after", _format_seconds(fault.retry_after)))
        if fault.retry_after_ms is not None:
            headers.append(("retry-after-ms", str(fault.retry_after_ms)))
        if status == 429 or fault.ratelimit_limit is not None:
            reset = fault.ratelimit_reset
            if reset is None:
                reset = fault.retry_after if fault.retry_after is not None else 1.0
            headers.append(("x-ratelimit-limit", str(fault.ratelimit_limit or 60)))
            headers.append(("x-ratelimit-remaining", str(fault.ratelimit_remaining or 0)))
            headers.append(("x-ratelimit-reset", _format_seconds(reset)))
        return self._error(
            call,
            status,
            fault.message if fault.message is not None else message,
            type_=fault.type if fault.type is not None else type_,
            code=fault.code if fault.code is not None else code,
            param=fault.param,
            headers=headers,
        )

    def _malformed(self, call: _Call) -> _Reply:
        self._send(call, 200, b'{"id":"' + wire.new_request_id().encode() + b'","choices":[{"ind')
        return None

    # -- model & reply helpers -------------------------------------------------------------

    def _model(self, body: Mapping[str, Any], *, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        model = body.get("model")
        if model is None:
            raise _Invalid(400, "Input validation error: 'model' is required", param="model")
        if not isinstance(model, str) or not model:
            raise _Invalid(
                400, "Input validation error: 'model' must be a non-empty string", param="model"
            )
        entry = self._models.get(model.lower())
        if entry is None:
            raise _Invalid(
                404,
                _MODEL_NOT_AVAILABLE.format(model=model),
                code="model_not_available",
                param="model",
            )
        if allowed is not None and entry.get("type") not in allowed:
            raise _Invalid(
                400,
                f"Model {entry['id']} is a {entry.get('type')} model and cannot serve this "
                f"endpoint",
                code="model_not_supported",
                param="model",
            )
        return entry

    def _reply_tokens(self, call: _Call, body: Mapping[str, Any]) -> list[str]:
        wanted = call.request.headers.get(TOKENS_HEADER)
        if wanted is not None:
            wanted = wanted.strip().lower()
            if wanted == "max":
                # one more than allowed, so the reply ends by hitting the limit ("length")
                max_tokens = body.get("max_tokens")
                return list(wire.filler_tokens(max_tokens + 1 if _is_int(max_tokens) else 256))
            if not wanted.isdigit() or int(wanted) > 1_000_000:
                raise _Invalid(
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

    @staticmethod
    def _limit(tokens: list[str], body: Mapping[str, Any]) -> tuple[list[str], str]:
        """Apply ``stop`` and ``max_tokens``; returns the tokens kept and the finish reason."""
        finish = "eos"
        stop = body.get("stop")
        if stop:
            stops = [stop] if isinstance(stop, str) else [s for s in stop if s]
            text = "".join(tokens)
            cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
            if cut >= 0:
                tokens = wire.split_tokens(text[:cut])
                finish = "stop"
        max_tokens = body.get("max_tokens")
        if _is_int(max_tokens) and len(tokens) > max_tokens:
            tokens = tokens[:max_tokens]
            finish = "length"
        return tokens, finish

    @staticmethod
    def _check_context(
        entry: Mapping[str, Any], body: Mapping[str, Any], prompt_tokens: int
    ) -> None:
        context = entry.get("context_length")
        max_tokens = body.get("max_tokens")
        wanted = max_tokens if _is_int(max_tokens) else 0
        if (
            _is_int(context)
            and prompt_tokens + wanted > context
            and body.get("context_length_exceeded_behavior") != "truncate"
        ):
            raise _Invalid(
                400,
                f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
                f"{context}. Given: {prompt_tokens} `inputs` tokens and {wanted} "
                f"`max_new_tokens`",
                code="context_length_exceeded",
                param="max_tokens",
            )

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
            if isinstance(content, str) and TOOL_MARKER in content:
                rest = content.split(TOOL_MARKER, 1)[1]
                named = rest.split("]]", 1)[0]
                name = named[1:] if named.startswith(":") and named[1:] else next(iter(by_name))
        if name is None:
            return None
        tool = by_name.get(name)
        if tool is None:
            raise _Invalid(
                400,
                f"Input validation error: tool_choice names function {name!r}, which is not in "
                f"'tools'",
                param="tool_choice",
            )
        return [
            {
                "index": 0,
                "id": wire.new_tool_call_id(),
                "type": "function",
                "function": {"name": name, "arguments": wire.tool_call_arguments(tool)},
            }
        ]

    # -- endpoints -------------------------------------------------------------------------

    def _chat(self, call: _Call) -> _Reply:
        body = call.body
        _check_chat(body)
        _check_common(body)
        entry = self._model(body, allowed=("chat", "language", "code", "moderation"))
        prompt_tokens = wire.count_prompt_tokens(body)
        self._check_context(entry, body, prompt_tokens)
        tool_calls = self._tool_calls(body)
        n = body.get("n") or 1
        if tool_calls:
            tokens = wire.split_tokens(tool_calls[0]["function"]["arguments"])
            finish = "tool_calls"
        else:
            tokens = self._reply_tokens(call, body)
            as_json = wire.json_reply(body, "".join(tokens))  # response_format: JSON text
            if as_json is not None:
                tokens = wire.split_tokens(as_json)
            tokens, finish = self._limit(tokens, body)
        seed = wire.seed_for(wire.prompt_text(body), body.get("seed"))
        usage_data = wire.usage(prompt_tokens, len(tokens) * n)
        model = str(entry["id"])
        request_id = wire.new_request_id()
        if call.fault.malformed and body.get("stream") is not True:
            return self._malformed(call)
        if body.get("stream") is True:
            encoder = wire.StreamEncoder(
                kind="chat", request_id=request_id, created=wire.now(), model=model
            )
            return self._stream(call, encoder, tokens, n, finish, seed, usage_data, tool_calls)
        logprob_tokens = tokens if body.get("logprobs") not in (None, False, 0) else None
        response = wire.chat_response(
            request_id=request_id,
            created=wire.now(),
            model=model,
            contents=["".join(tokens)] * n,
            finish_reason=finish,
            usage_data=usage_data,
            seed=seed,
            tool_calls=tool_calls,
            logprob_tokens=logprob_tokens,
        )
        self._send(call, 200, wire.dumps(response).encode())
        return None

    def _completion(self, call: _Call) -> _Reply:
        body = call.body
        if "prompt" not in body or body["prompt"] is None:
            raise _Invalid(400, "Input validation error: 'prompt' is required", param="prompt")
        if not isinstance(body["prompt"], str):
            raise _Invalid(400, "Input validation error: 'prompt' must be a string", param="prompt")
        _check_common(body)
        entry = self._model(body, allowed=("chat", "language", "code", "moderation"))
        prompt_tokens = wire.count_prompt_tokens(body)
        self._check_context(entry, body, prompt_tokens)
        n = body.get("n") or 1
        tokens, finish = self._limit(self._reply_tokens(call, body), body)
        seed = wire.seed_for(body["prompt"], body.get("seed"))
        usage_data = wire.usage(prompt_tokens, len(tokens) * n)
        model = str(entry["id"])
        request_id = wire.new_request_id()
        if call.fault.malformed and body.get("stream") is not True:
            return self._malformed(call)
        if body.get("stream") is True:
            encoder = wire.StreamEncoder(
                kind="completion", request_id=request_id, created=wire.now(), model=model
            )
            return self._stream(call, encoder, tokens, n, finish, seed, usage_data, None)
        logprob_tokens = tokens if body.get("logprobs") not in (None, False, 0) else None
        response = wire.completion_response(
            request_id=request_id,
            created=wire.now(),
            model=model,
            texts=["".join(tokens)] * n,
            finish_reason=finish,
            usage_data=usage_data,
            seed=seed,
            echo_prompt=body["prompt"] if body.get("echo") is True else None,
            logprob_tokens=logprob_tokens,
        )
        self._send(call, 200, wire.dumps(response).encode())
        return None

    def _embeddings(self, call: _Call) -> _Reply:
        body = call.body
        entry = self._model(body, allowed=("embedding",))
        raw = body.get("input")
        if raw is None:
            raise _Invalid(400, "Input validation error: 'input' is required", param="input")
        inputs = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(s, str) for s in inputs)
        ):
            raise _Invalid(
                400,
                "Input validation error: 'input' must be a string or a non-empty list of strings",
                param="input",
            )
        if call.fault.malformed:
            return self._malformed(call)
        response = wire.embedding_response(
            request_id=wire.new_request_id(),
            model=str(entry["id"]),
            inputs=inputs,
            dim=self.embedding_dim,
        )
        self._send(call, 200, wire.dumps(response).encode())
        return None

    def _list_models(self, call: _Call) -> _Reply:
        if call.fault.malformed:
            return self._malformed(call)
        self._send(call, 200, self._models_body)
        return None

    # -- streaming -------------------------------------------------------------------------

    def _stream_events(
        self,
        encoder: wire.StreamEncoder,
        tokens: list[str],
        n: int,
        finish: str,
        seed: int,
        usage_data: Mapping[str, int],
        tool_calls: list[dict[str, Any]] | None,
    ) -> Iterator[bytes]:
        if tool_calls:
            yield from encoder.tool_events(tool_calls)
            yield encoder.final_event(
                finish_reason=finish, seed=seed, usage_data=usage_data, tid=wire.EOS_TOKEN_ID
            )
            return
        last_is_content = finish == "length" and tokens
        body_tokens = tokens[:-1] if last_is_content else tokens
        content_event = encoder.content_event
        if n == 1:
            for token in body_tokens:
                yield content_event(token)
        else:
            for token in body_tokens:
                for index in range(n):
                    yield content_event(token, index)
        for index in range(n):
            usage_here = usage_data if index == n - 1 else None
            if last_is_content:
                last = tokens[-1]
                event = encoder.chunk_dict(
                    last,
                    index=index,
                    tid=wire.token_id(last),
                    finish_reason=finish,
                    seed=seed,
                    usage_data=usage_here,
                )
            else:
                # end of sequence: an empty token carrying the finish reason, as Together sends
                event = encoder.chunk_dict(
                    "",
                    index=index,
                    tid=wire.EOS_TOKEN_ID,
                    finish_reason=finish,
                    seed=seed,
                    usage_data=usage_here,
                )
            yield wire.sse_event(event)

    async def _stream(
        self,
        call: _Call,
        encoder: wire.StreamEncoder,
        tokens: list[str],
        n: int,
        finish: str,
        seed: int,
        usage_data: Mapping[str, int],
        tool_calls: list[dict[str, Any]] | None,
    ) -> None:
        conn = call.conn
        fault = call.fault
        if call.record is not None:
            call.record.status = 200
        self._count(call.stats_path, 200)
        self._event("streams")
        conn.start_stream(200)
        if fault.malformed:
            conn.write_chunk(b'data: {"id":"' + encoder.request_id.encode() + b'","choices":[\n\n')
        events = self._stream_events(encoder, tokens, n, finish, seed, usage_data, tool_calls)
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
            status = fault.status if fault.status is not None else 500
            message, type_, code = self._default_error(status)
            error = wire.error_body(
                fault.message if fault.message is not None else message,
                fault.type if fault.type is not None else type_,
                fault.code if fault.code is not None else code,
                fault.param,
            )
            if fault.error_in_chunk:
                # the error rides on an otherwise valid (empty) chunk of this stream
                error = {**encoder.chunk_dict("", index=0), **error}
            conn.write_chunk(wire.sse_event(error))
            conn.end_stream()
            return
        if chunk_delay > 0:
            await asyncio.sleep(chunk_delay)
        if not fault.no_done:
            conn.write_chunk(wire.SSE_DONE)
        conn.end_stream()


_ROUTES: dict[str, str] = {
    "/chat/completions": "POST",
    "/completions": "POST",
    "/embeddings": "POST",
    "/models": "GET",
}

#: Endpoint -> the method that answers it (looked up on the instance, so subclasses override).
_HANDLERS: dict[str, str] = {
    "/chat/completions": "_chat",
    "/completions": "_completion",
    "/embeddings": "_embeddings",
    "/models": "_list_models",
}


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
