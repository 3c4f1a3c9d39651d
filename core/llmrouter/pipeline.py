"""The plain data that travels between pipeline stages.

These are dataclasses, not pydantic models: they are built once or more per call on the hot path
and never come from untrusted input (arguments are validated before a :class:`Call` is made).
Stage hooks receive and return these; nothing here does I/O.

    completion(...) -> Call -> format_prompt -> Prompt -> build_request -> HTTPRequest
        -> (core sends it) -> HTTPResponse -> parse_response -> ModelResponse
                                            \\-> parse_stream_event (per SSE event) -> chunks
        error status -> map_error -> LLMRouterError
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal, Protocol

from llmrouter.secrets import Secret, redact_headers
from llmrouter.types import _UNSET

__all__ = [
    "DEFAULT_REQUEST_ID_HEADERS",
    "STREAM_DONE",
    "AttemptRecord",
    "Call",
    "CallOutcome",
    "ChatPrompt",
    "HTTPRequest",
    "HTTPResponse",
    "Operation",
    "Prompt",
    "ResponseHeaders",
    "StreamDecoder",
    "StreamDone",
    "StreamState",
    "TextPrompt",
    "request_id_of",
]

Operation = Literal["chat", "text_completion", "embedding", "list_models"]


#: Where a request id is looked for unless the provider says otherwise.
DEFAULT_REQUEST_ID_HEADERS: Final = ("x-request-id",)


@dataclass(slots=True, repr=False)
class Call:
    """One user call, validated for shape, before any provider saw it.

    ``params`` holds the caller's options exactly as given (the provider validates them against
    its own option model in ``build_request``). ``api_key`` is a :class:`Secret` or ``None``.
    """

    operation: Operation
    provider: str
    model: str
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    #: Embedding input: strings, or token ids as lists of ints (one ``[1, 2]`` arrives as
    #: ``[[1, 2]]``). A provider without token-id input calls ``provider.require_text_input``.
    input: list[str] | list[list[int]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    api_base: str | None = None
    api_key: Secret | None = None
    timeout: float | None = None
    extra_body: dict[str, Any] | None = None
    extra_headers: dict[str, str] | None = None
    prompt_template: str | None = None
    #: Free-form context a router or wrapper plugin can attach (alias, deployment, attempt, ...).
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The caller's per-call cache controls (``cache={"no-cache": True}``, ``{"ttl": 60}``...),
    #: validated for shape by the core; ``None`` when not given. Read by cache plugins.
    cache: dict[str, Any] | None = None
    #: A routed call's attempts so far (the plan's list, shared by its attempts' calls);
    #: ``None`` for a direct call. The ``call_end`` outcome's ``attempt_log`` is read from it.
    attempt_log: list[AttemptRecord] | None = None

    @property
    def route(self) -> str:
        return f"{self.provider}/{self.model}"

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        return (
            f"Call(operation={self.operation!r}, route={self.route!r}, stream={self.stream}, "
            f"params={sorted(self.params)}, api_base={self.api_base!r}, api_key=<{key}>)"
        )


@dataclass(slots=True, frozen=True)
class ChatPrompt:
    """Send the messages as-is to a chat endpoint; the provider applies its own template."""

    messages: list[dict[str, Any]]


@dataclass(slots=True, frozen=True)
class TextPrompt:
    """Send ``text`` to a text-completion endpoint; ``template`` names what rendered it."""

    text: str
    template: str | None = None
    #: Stop sequences the template implies (e.g. the end-of-turn token), added to the request.
    stop: tuple[str, ...] = ()


Prompt = ChatPrompt | TextPrompt


@dataclass(slots=True, repr=False)
class HTTPRequest:
    """What the core sends. ``json`` is encoded once by the core; ``headers`` may hold a secret."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    #: The endpoint path, for logs and CallInfo (``/chat/completions``...).
    endpoint: str = ""
    #: Response headers that hold the provider's request id, tried in order, lower-case (the
    #: provider's dialect names them; the core knows no provider's header).
    request_id_headers: tuple[str, ...] = DEFAULT_REQUEST_ID_HEADERS
    #: For a request whose signature covers the body (AWS SigV4): called by the core with the
    #: body's final bytes (``b""`` without a body) just before each send, after every stage
    #: and wrapper has had its say, and returns the headers to add (``authorization``,
    #: ``x-amz-date``...). It runs only when the request is sent (never for a cache hit) and
    #: must not do I/O. ``None`` (the default): nothing to sign.
    sign: Callable[[bytes], Mapping[str, str]] | None = None
    #: For a stream whose body is not server-sent events (Bedrock's binary event stream):
    #: makes the stream's decoder, given the stream's ``max_event_bytes`` (``None``: no limit).
    #: Each text the decoder returns reaches ``llmrouter_parse_stream_event`` as its ``data``.
    #: ``None`` (the default): the core's SSE decoder.
    stream_decoder: Callable[[int | None], StreamDecoder] | None = None

    def __repr__(self) -> str:
        return (
            f"HTTPRequest({self.method} {self.url}, headers={redact_headers(self.headers)}, "
            f"json_keys={sorted(self.json) if isinstance(self.json, dict) else None})"
        )


class StreamDecoder(Protocol):
    """Turns a streamed body's bytes into events, for a provider whose stream is not SSE
    (``HTTPRequest.stream_decoder``); the core's own SSE decoder is the model.

    ``feed`` takes the bytes as they arrive, cut anywhere, and returns the text of every event
    they complete, in order: the ``data`` each ``llmrouter_parse_stream_event`` call receives
    (and that the core keeps, to parse again for ``final_response()``, so it must carry the
    whole event). ``flush`` is called once the body ends and returns what is left. Bytes that
    cannot be decoded raise an :class:`~llmrouter.errors.LLMRouterError` (usually
    :class:`~llmrouter.errors.StreamDecodeError`, or :class:`~llmrouter.errors.
    ResponseTooLargeError` for an event over ``max_event_bytes``); events completed before the
    fault are returned first and the error raised by the next call, so what a reader sees does
    not depend on how the network cut the bytes. ``seen_event`` tells whether any event was
    completed (the core's timeout messages say "first" or "next" event).
    """

    def feed(self, data: bytes) -> list[str]: ...

    def flush(self) -> list[str]: ...

    @property
    def seen_event(self) -> bool: ...


class ResponseHeaders(dict[str, str]):
    """Response headers as a plain dict with lower-cased names and case-insensitive lookups.

    A header sent more than once is joined with ``", "``, as ``httpx.Headers.get`` does. Reading
    ``x-request-id`` & co. from a dict costs a fraction of a lookup in ``httpx.Headers`` (which
    lower-cases and scans its whole list every time), and this is done several times per call.
    """

    __slots__ = ()

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> ResponseHeaders:
        if not isinstance(raw, (list, tuple)):
            raw = list(raw)
        # Fast path: ASCII names and values, no repeated name (every response of the benchmark).
        # Built straight into the dict: no intermediate list of tuples, which matters under
        # concurrency, where every container allocated feeds the garbage collector.
        try:
            out = cls({n.decode("ascii").lower(): v.decode("ascii") for n, v in raw})
        except UnicodeDecodeError:
            pass
        else:
            if len(out) == len(raw):
                return out
        out = cls()
        for raw_name, raw_value in raw:
            name = raw_name.decode("latin-1").lower()
            try:
                value = raw_value.decode("ascii")
            except UnicodeDecodeError:
                try:
                    value = raw_value.decode("utf-8")
                except UnicodeDecodeError:
                    value = raw_value.decode("latin-1")
            previous = dict.get(out, name)
            dict.__setitem__(out, name, value if previous is None else f"{previous}, {value}")
        return out

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())


@dataclass(slots=True)
class HTTPResponse:
    """A received response, decoupled from httpx so stages stay pure and testable."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes = b""
    #: Where :attr:`request_id` looks: the request's ``request_id_headers``.
    request_id_headers: tuple[str, ...] = DEFAULT_REQUEST_ID_HEADERS

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def request_id(self) -> str | None:
        return request_id_of(self.headers, self.request_id_headers)


def request_id_of(
    headers: Mapping[str, str], names: tuple[str, ...] = DEFAULT_REQUEST_ID_HEADERS
) -> str | None:
    """The provider's request id: the first of the headers ``names`` that is set."""
    if type(headers) is ResponseHeaders:
        # Lower-cased names: read as a plain dict, skipping the case-insensitive lookup.
        for name in names:
            value = dict.get(headers, name)
            if value:
                return value
        return None
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


class StreamDone:
    """Returned by ``parse_stream_event`` when the provider's end-of-stream marker arrives."""

    _instance: StreamDone | None = None

    def __new__(cls) -> StreamDone:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "STREAM_DONE"


STREAM_DONE: Final = StreamDone()


@dataclass(slots=True)
class StreamState:
    """Mutable per-stream scratch space handed to every ``parse_stream_event`` call of one stream."""

    chunks: int = 0
    response_id: str | None = None
    created: int | None = None
    model: str | None = None
    usage_seen: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    #: Set by ``parse_stream_event`` when the event it just read completes the stream (for a
    #: provider whose stream has no end marker of its own, such as Gemini's last chunk with a
    #: finish reason): the chunk returned with it, if any, is the last one, and the connection
    #: ending after it is a clean end, where without it the end would be a cut.
    done: bool = False


#: ``CallOutcome.cost`` not computed yet (``None`` is a value): the sentinel of
#: :mod:`llmrouter.types`, one for both.
UNSET: Final = _UNSET


@functools.cache
def _outcome_cost() -> Callable[[CallOutcome], Decimal | None]:
    """``cost.outcome_cost``, imported on first use and kept (``cost`` is not loaded with this
    module, and an ``import`` statement per read costs more than the read; see
    ``types._request_id_of``)."""
    from llmrouter.cost import outcome_cost

    return outcome_cost


@dataclass(slots=True, frozen=True)
class AttemptRecord:
    """One attempt of a routed call, as the ``call_end`` outcome lists it (``attempt_log``).

    Times are wall-clock nanoseconds since the epoch (``time.time_ns()``), the unit tracing
    systems take, so an observer can draw each attempt where it happened."""

    number: int
    deployment: str
    provider: str
    model: str
    start_ns: int
    end_ns: int
    error: BaseException | None = None
    status_code: int | None = None
    request_id: str | None = None
    #: After a failure: ``retry`` (same deployment), ``next`` (another one) or ``stop``.
    decision: str | None = None


@dataclass(slots=True)
class CallOutcome:
    """What ``llmrouter_call_end`` observers receive: how a call finished.

    ``response`` is the result of a non-streamed call, and for a stream that reached its end the
    response rebuilt from its chunks (:func:`llmrouter.stream_chunk_builder`); ``None`` for a
    failure or a stream closed early. ``attempt_log`` lists a routed call's attempts (empty for a
    direct call, which is its own single attempt). ``end_ns`` is when the call ended
    (``time.time_ns()``); it began ``latency_s`` before.
    """

    call: Call
    response: Any = None
    error: BaseException | None = None
    latency_s: float = 0.0
    attempts: int = 1
    status_code: int | None = None
    request_id: str | None = None
    usage: Any = None
    chunks: int | None = None
    #: The answer came from a response cache: no request was sent, and it cost nothing.
    cache_hit: bool = False
    attempt_log: tuple[AttemptRecord, ...] = ()
    end_ns: int = field(default_factory=time.time_ns)
    _cost: Any = field(default=UNSET, repr=False)

    @property
    def cost(self) -> Decimal | None:
        """The call's cost in USD (see :mod:`llmrouter.cost`): computed on first read, ``0`` for
        a cache hit, ``None`` when nothing was answered or the model's price is unknown."""
        cost = self._cost
        if cost is UNSET:
            cost = self._cost = _outcome_cost()(self)
        return cost  # type: ignore[no-any-return]
