"""Streams: SSE bytes in, chunks out, and the rule that a stream never ends quietly short.

(A provider whose stream is not SSE names its own decoder in ``HTTPRequest.stream_decoder``.)

:class:`StreamCore` is the pure part (decoder, per-event stage hook, end-of-stream checks, the
once-per-call end hook); :class:`CompletionStream` and :class:`AsyncCompletionStream` add only
the reading of bytes, sync or async, like the two Routers over their common base.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import httpx

from llmrouter import _http
from llmrouter._plugins import ProviderHooks
from llmrouter._sse import SSEDecoder, SSEError, SSEEventTooLargeError
from llmrouter.errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidRequestError,
    LLMRouterError,
    StreamDecodeError,
)
from llmrouter.pipeline import (
    STREAM_DONE,
    Call,
    CallOutcome,
    HTTPRequest,
    HTTPResponse,
    Prompt,
    StreamDecoder,
    StreamState,
)
from llmrouter.secrets import scrub_call_error
from llmrouter.types import (
    _UNSET,
    CallInfo,
    Delta,
    DeltaFunction,
    DeltaToolCall,
    ModelResponse,
    ModelResponseStream,
    PendingCallInfo,
    Pricing,
    StreamChoice,
    trusted_call_info,
)

if TYPE_CHECKING:
    from llmrouter.budget import Budget

__all__ = [
    "AsyncCompletionStream",
    "CompletionStream",
    "StreamCore",
    "call_info",
    "pending_call_info",
    "replay_chunks",
]


class _Unread:
    """The type of :data:`_UNREAD`: ``request_id`` not read yet (``None`` is a value)."""


_UNREAD = _Unread()

#: How many events a stream turns into chunks at a time (see :meth:`StreamCore.more`).
PARSE_BATCH: Final = 16


def call_info(
    call: Call,
    request: HTTPRequest,
    response: HTTPResponse,
    latency: float,
    prompt: Prompt | None,
    request_id: str | _Unread | None = _UNREAD,
) -> CallInfo:
    """``request_id`` may be passed when the caller already read ``response.request_id``."""
    metadata = call.metadata
    # Trusted values of the right types: skip validation (docs/performance.md).
    return trusted_call_info(
        {
            "provider": call.provider,
            "deployment": metadata.get("deployment", call.route),
            "alias": metadata.get("alias"),
            "attempts": metadata.get("attempts", 1),
            "latency_s": latency,
            "request_id": response.request_id if request_id is _UNREAD else request_id,
            "endpoint": request.endpoint or None,
            "prompt": getattr(prompt, "text", None),
            "cache_hit": False,
        }
    )


def pending_call_info(
    call: Call,
    request: HTTPRequest,
    response: HTTPResponse,
    latency: float,
    prompt: Prompt | None,
    result: Any = None,
) -> PendingCallInfo:
    """What :func:`call_info` would return, built only when ``response.llmrouter`` is read;
    with ``result`` (the parsed answer) its ``cost`` is computed from the answer's usage."""
    metadata = call.metadata
    return PendingCallInfo(
        call.provider,
        call.model,
        dict(metadata) if metadata else None,
        latency,
        response.headers,
        request.endpoint,
        getattr(prompt, "text", None),
        response.request_id_headers,
        getattr(result, "usage", None),
        getattr(result, "model", None),
        response.status_code,
    )


# --- streams ------------------------------------------------------------------------------------


class StreamCore:
    """The pure part of a stream: bytes in, chunks out, and the end-of-stream rules.

    It also keeps the stream's deadline (``budget`` seconds, the attempt's ``timeout``): the
    first event must arrive within ``budget`` of the request, and each next one within
    ``budget`` of the moment the reader asked for it (the reader's own pace between chunks
    never counts). :meth:`read_window` tells the reading side how long its next read may take.
    One event larger than ``max_event_bytes``, or bytes that are not UTF-8, end the stream with
    a typed error.
    """

    __slots__ = (
        "_decoder",
        "_ended",
        "_rearm",
        "_started",
        "_todo",
        "_todo_fault",
        "_todo_pos",
        "budget",
        "cache_hit",
        "call",
        "chunks",
        "deadline",
        "done",
        "events",
        "hooks",
        "info",
        "on_end",
        "pending",
        "pricing",
        "prompt",
        "request",
        "response",
        "spend",
        "state",
        "stored",
        "usage",
    )

    def __init__(
        self,
        hooks: ProviderHooks,
        call: Call,
        prompt: Prompt | None,
        request: HTTPRequest,
        response: HTTPResponse,
        started: float,
        *,
        budget: float | None = None,
        deadline: float | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        self.hooks = hooks
        self.call = call
        self.prompt = prompt
        self.request = request
        self.response = response
        self.state = StreamState()
        self.done = False
        self.usage: Any = None
        # Server-sent events unless the provider's request names its own decoder (a binary
        # event stream such as Bedrock's); either way events come out as text.
        factory = request.stream_decoder
        self._decoder: StreamDecoder = (
            SSEDecoder(max_event_bytes) if factory is None else factory(max_event_bytes)
        )
        #: Seconds to the first event, then between events (None: no deadline).
        self.budget = budget
        #: The ``time.perf_counter()`` by which the awaited event must have arrived.
        self.deadline = deadline
        if budget is not None and deadline is None:
            self.deadline = time.perf_counter() + budget
        #: The last read completed an event: the wait for the next starts at the next read.
        self._rearm = False
        self._ended = False
        self._started = started
        self.info = call_info(call, request, response, 0.0, prompt)
        # The cost is computed from the usage last seen (see _usage), when someone reads it.
        self.pricing = Pricing(call.provider, call.model, None, None, call.metadata.get("prices"))
        self.info.set_pricing(self.pricing)
        #: The text of every event read, for :meth:`final_response` and the cache, which parse
        #: them again. Kept as text, not as the chunks: a string is invisible to the garbage
        #: collector, while a long stream's chunks (thousands of pydantic models kept alive)
        #: made every collection slower and cost more per chunk than the parsing itself
        #: (docs/performance.md).
        self.events: list[str] = []
        #: The chunks of a cache replay (a live stream keeps its events instead).
        self.chunks: list[ModelResponseStream] | None = None
        #: The answer is a cache replay (no request was sent; it cost nothing).
        self.cache_hit = False
        #: The cache has been offered the answer (once per stream).
        self.stored = False
        #: The router's spend cap, told the stream's cost when it ends.
        self.spend: Budget | None = None
        #: Told the stream's final error (or None) once it ends; the router frees the deployment.
        self.on_end: Callable[[BaseException | None], None] | None = None
        #: An error parsed from the same read as chunks still owed to the caller: raised once
        #: those chunks are delivered, so what the caller sees does not depend on packet timing.
        #: (Any exception: ``take_ready`` parses too, and keeps whatever a parser raised here
        #: for the next iteration, which fails the stream as iterating would have.)
        self.pending: Exception | None = None
        #: Events read but not parsed yet (see :meth:`more`), from ``_todo_pos`` on, and an
        #: error of the read that brought them, raised once they are delivered.
        self._todo: list[str] = []
        self._todo_pos = 0
        self._todo_fault: LLMRouterError | None = None

    def read_window(self) -> float | None:
        """Called before each read: the seconds it may take, ``None`` when the read timeout
        alone bounds it (the wait for a fresh event starts now, a full ``budget`` away). While
        the first event, or the rest of a half-received one, is awaited, it is what is left
        before the deadline; none left raises :class:`APITimeoutError`."""
        budget = self.budget
        if budget is None:
            return None
        if self._rearm:
            self._rearm = False
            self.deadline = time.perf_counter() + budget
            return None
        remaining = (self.deadline or 0.0) - time.perf_counter()
        if remaining <= 0:
            raise self.deadline_error()
        return remaining

    def deadline_error(self) -> APITimeoutError:
        what = "next event" if self._decoder.seen_event else "first event"
        return _http.deadline_error(self.call, self.budget or 0.0, what, self.state.chunks)

    def transport_error(self, exc: Exception) -> APIConnectionError:
        """An httpx failure while reading, in our tree (a timeout at the deadline says so)."""
        return _http.transport_error(
            exc,
            self.call,
            budget=self.budget,
            deadline=self.deadline,
            what="next event" if self._decoder.seen_event else "first event",
            chunks=self.state.chunks,
        )

    def _fault(self, exc: SSEError) -> LLMRouterError:
        """The error for bytes the SSE decoder refused."""
        call = self.call
        response = self.response
        if isinstance(exc, SSEEventTooLargeError):
            return _http.too_large(
                call,
                response.status_code,
                response.headers,
                exc.limit,
                exc.size,
                what="stream event",
                request_id_headers=response.request_id_headers,
            )
        return StreamDecodeError(
            f"stream from {call.provider} ({call.route}) is not valid UTF-8 at byte {exc.offset} "
            f"of its body ({getattr(exc, 'reason', exc)}), after {self.state.chunks} chunk(s); "
            "the provider (or a proxy) sent corrupt text",
            offset=exc.offset,
            provider=call.provider,
            model=call.model,
            status_code=response.status_code,
            request_id=response.request_id,
        )

    def feed(self, data: bytes) -> list[ModelResponseStream]:
        """Decode ``data``'s events and return the chunks of the first of them (at most
        :data:`PARSE_BATCH`); the rest wait, as text, for :meth:`more`."""
        if self.done:
            return []
        fault: LLMRouterError | None = None
        try:
            events = self._decoder.feed(data)
        except SSEError as exc:
            events = exc.events
            fault = self._fault(exc)
        if events:
            self._rearm = True
            self.events += events
            if self._todo_pos < len(self._todo):
                self._todo += events
            else:
                self._todo = events
                self._todo_pos = 0
        elif self.budget is not None and time.perf_counter() > (self.deadline or 0.0):
            # Checked here too, for clients whose reads the deadline cannot interrupt.
            fault = fault or self.deadline_error()
        if fault is not None and self._todo_fault is None:
            self._todo_fault = fault
        return self.more()

    def has_more(self) -> bool:
        """Events have been read that :meth:`more` has not turned into chunks yet (or an error
        waits behind them): take those before reading again."""
        return not self.done and (self._todo_pos < len(self._todo) or self._todo_fault is not None)

    def more(self) -> list[ModelResponseStream]:
        """The chunks of the next events already read, at most :data:`PARSE_BATCH` of them.

        One read can hold hundreds of events (a fast connection, a reader that fell behind):
        parsed all at once they would be hundreds of live pydantic models, and every garbage
        collection meanwhile would walk them all, which cost more per chunk than the parsing
        itself (docs/performance.md). Parsed a few at a time, as the caller iterates, they stay
        few. An error read after some events is raised once their chunks are delivered."""
        out: list[ModelResponseStream] = []
        if self.done:
            return out
        todo = self._todo
        pos = self._todo_pos
        end = min(len(todo), pos + PARSE_BATCH)
        hooks = self.hooks
        # The plugin's own function, called by position, while pluggy would call just it
        # (checked once per batch); pluggy's caller otherwise.
        direct = hooks.parse_stream_event_direct()
        parse = hooks.parse_stream_event
        call = self.call
        prompt = self.prompt
        state = self.state
        while pos < end:
            event = todo[pos]
            pos += 1
            try:
                if direct is not None:
                    chunk = direct(call, prompt, event, state)
                else:
                    chunk = parse(call=call, prompt=prompt, data=event, state=state)
            except LLMRouterError as exc:
                self._todo_pos = pos
                if getattr(exc, "request_id", True) is None:
                    # An in-band error event has no headers of its own: it belongs to this
                    # response, whose request id the provider gave in the stream's head.
                    exc.request_id = self.response.request_id
                self.done_reading()
                if not out:
                    raise
                self.pending = exc
                return out
            if chunk is None:
                if state.done:
                    self.done = True
                    break
                continue
            if chunk is STREAM_DONE:
                self.done = True
                break
            state.chunks += 1
            if chunk.usage is not None:
                self._usage(chunk)
            out.append(chunk)
            if state.done:  # the provider's last chunk: the stream is complete with it
                self.done = True
                break
        self._todo_pos = pos
        if self.done or pos >= len(todo):
            self._todo = []
            self._todo_pos = 0
            fault, self._todo_fault = self._todo_fault, None
            if fault is not None and not self.done:
                if not out:
                    raise fault
                if self.pending is None:  # raised once the chunks before it are delivered
                    self.pending = fault
        return out

    def done_reading(self) -> None:
        """Forget the events not parsed yet: the stream failed at the one before them."""
        self._todo = []
        self._todo_pos = 0
        self._todo_fault = None

    def _usage(self, chunk: ModelResponseStream) -> None:
        """A chunk with usage: the stream's cost now follows it, and the chunk carries the
        stream's CallInfo (``chunk.llmrouter.cost`` on the final chunk)."""
        self.usage = pricing_usage = chunk.usage
        pricing = self.pricing
        pricing.usage = pricing_usage
        pricing.response_model = self.state.model
        private = self.info.__pydantic_private__
        if private is not None:
            private["_cost"] = _UNSET
        chunk._set_call_info(self.info)

    def eof(self) -> list[ModelResponseStream]:
        """The connection ended: flush, and fail loudly if the end marker never came."""
        if self.done:
            return []
        out: list[ModelResponseStream] = []
        fault: LLMRouterError | None = None
        try:
            events = self._decoder.flush()
        except SSEError as exc:
            events = exc.events
            fault = self._fault(exc)
        if events:
            self.events += events
        for event in events:
            chunk = self.hooks.parse_stream_event(
                call=self.call, prompt=self.prompt, data=event, state=self.state
            )
            if chunk is STREAM_DONE:
                self.done = True
                break
            if chunk is not None:
                self.state.chunks += 1
                if chunk.usage is not None:
                    self._usage(chunk)
                out.append(chunk)
            if self.state.done:
                self.done = True
                break
        if fault is not None and not self.done:
            if not out:
                raise fault
            if self.pending is None:
                self.pending = fault
            return out
        if not self.done:
            raise APIConnectionError(
                f"stream from {self.call.provider} ended after {self.state.chunks} chunk(s) without "
                "its end-of-stream marker (such as [DONE] or message_stop); the answer is incomplete",
                provider=self.call.provider,
                model=self.call.model,
                status_code=self.response.status_code,
                request_id=self.response.request_id,
            )
        return out

    def final_response(self) -> ModelResponse:
        """The answer rebuilt from the stream so far, carrying the stream's CallInfo."""
        from llmrouter.chunks import stream_chunk_builder

        response = stream_chunk_builder(self.delivered())
        # What a parser may make up when the wire has none (a creation time, an id) is taken
        # from the stream the caller read, not from the second parse.
        state = self.state
        if state.response_id:
            response.id = state.response_id
        if state.created:
            response.created = state.created
        response._set_call_info(self.info)
        return response

    def delivered(self) -> list[ModelResponseStream]:
        """The chunks delivered so far, made again from the events' text by the provider's
        parser with a fresh state (the parser is a pure function of the events), so exactly
        the chunks the caller received, up to the end marker."""
        if self.chunks is not None:
            return self.chunks
        parse = self.hooks.parse_stream_event
        call = self.call
        prompt = self.prompt
        state = StreamState()
        out: list[ModelResponseStream] = []
        for event in self.events:
            chunk = parse(call=call, prompt=prompt, data=event, state=state)
            if chunk is STREAM_DONE:
                break
            if chunk is not None:
                out.append(chunk)
            if state.done:
                break
        return out

    def _complete(self) -> bool:
        """The stream reached its end marker, was sent (not a replay) and is not stored yet."""
        return self.done and not self.cache_hit and not self.stored and self.state.chunks > 0

    def store(self) -> None:
        """Offer the complete answer to the cache plugins (sync streams)."""
        if not self.hooks.caching or not self._complete():
            return
        self.stored = True
        from llmrouter._client import cache_store

        answer = self._rebuilt("cache")
        if answer is not None:
            cache_store(self.hooks, self.call, self.request, answer)

    async def astore(self) -> None:
        """:meth:`store` for async streams: a plugin's awaitable is awaited."""
        if not self.hooks.caching or not self._complete():
            return
        self.stored = True
        from llmrouter._client import acache_store

        answer = self._rebuilt("cache")
        if answer is not None:
            await acache_store(self.hooks, self.call, self.request, answer)

    def _rebuilt(self, purpose: str) -> ModelResponse | None:
        """:meth:`final_response` for the cache or an observer, which must never fail a stream
        the caller read whole: a failure is logged and there is no answer to offer."""
        try:
            return self.final_response()
        except Exception as exc:
            from llmrouter.logs import get_logger

            get_logger().warning(
                "llmrouter.stream_rebuild_error",
                purpose=purpose,
                provider=self.call.provider,
                model=self.call.model,
                error_type=type(exc).__name__,
                error=str(exc),
            )
            return None

    def end(self, error: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        latency = time.perf_counter() - self._started
        self.info.latency_s = latency
        try:
            if error is None:
                self.store()
            spend = self.spend
            if spend is not None and self.usage is not None:
                spend.add(self.info.cost)
            hooks = self.hooks
            response = None
            if error is None and self.done and self.state.chunks and not hooks.success_end_idle():
                response = self._rebuilt("call_end")
            attempt_log = self.call.attempt_log
            hooks.call_end(
                outcome=CallOutcome(
                    call=self.call,
                    response=response,
                    error=error,
                    latency_s=latency,
                    attempts=0 if self.cache_hit else self.call.metadata.get("attempts", 1),
                    status_code=self.response.status_code,
                    request_id=self.response.request_id,
                    usage=self.usage,
                    chunks=self.state.chunks,
                    cache_hit=self.cache_hit,
                    attempt_log=() if attempt_log is None else tuple(attempt_log),
                )
            )
        finally:
            on_end = self.on_end
            if on_end is not None:
                on_end(error)


def replay_chunks(response: ModelResponse) -> list[ModelResponseStream]:
    """A cached answer as a stream's chunks: per choice, one chunk with the role, text and
    reasoning, one with the tool calls whole, then one with the finish reason; the usage on the
    last chunk. Joining them (:func:`llmrouter.stream_chunk_builder`) gives the answer back."""
    base = {"id": response.id, "created": response.created, "model": response.model}
    if response.system_fingerprint is not None:
        base["system_fingerprint"] = response.system_fingerprint
    chunks: list[ModelResponseStream] = []
    for choice in response.choices:
        message = choice.message
        extra = dict(message.__pydantic_extra__ or {})
        delta = Delta(role="assistant", content=message.content, **extra)
        chunks.append(
            ModelResponseStream(**base, choices=[StreamChoice(index=choice.index, delta=delta)])
        )
        if message.tool_calls:
            calls = [
                DeltaToolCall(
                    index=i,
                    id=call.id,
                    type="function",
                    function=DeltaFunction(
                        name=call.function.name, arguments=call.function.arguments
                    ),
                )
                for i, call in enumerate(message.tool_calls)
            ]
            chunks.append(
                ModelResponseStream(
                    **base,
                    choices=[StreamChoice(index=choice.index, delta=Delta(tool_calls=calls))],
                )
            )
        chunks.append(
            ModelResponseStream(
                **base,
                choices=[
                    StreamChoice(
                        index=choice.index,
                        delta=Delta(),
                        finish_reason=choice.finish_reason,
                        logprobs=choice.logprobs,
                    )
                ],
            )
        )
    if response.usage is not None:
        if chunks:
            chunks[-1].usage = response.usage.model_copy(deep=True)
        else:
            chunks.append(ModelResponseStream(**base, choices=[], usage=response.usage))
    return chunks


class _Buffered:
    """What the sync and the async stream share: the chunks decoded from the last read, and
    how far the caller has taken them."""

    _core: StreamCore
    _buffer: list[ModelResponseStream]
    _pos: int

    def take_ready(self) -> list[ModelResponseStream]:
        """The chunks already decoded from the bytes that have arrived, taken without waiting
        for more (an empty list when there are none): exactly what the next iterations would
        return without any I/O, in order, and consumed as if iterated. For a relay that writes
        the chunks that arrived together in one write (the gateway); iteration goes on after
        them as usual, end-of-stream checks included."""
        buf, pos = self._buffer, self._pos
        ready = buf[pos:]
        self._pos = len(buf)
        core = self._core
        # The events already read but not parsed yet are ready too; an error among them stays
        # pending, raised by the next iteration as it would have been.
        while core.pending is None and core.has_more():
            try:
                more = core.more()
            except Exception as exc:  # raised, and the stream failed, by the next iteration
                core.pending = exc
                break
            ready += more
        return ready


class CompletionStream(_Buffered, Iterator[ModelResponseStream]):
    """Iterator of chunks for ``completion(..., stream=True)``.

    Closing it (or leaving its ``with`` block, or breaking out and letting it be collected)
    releases the connection. Iterating to the end either reaches the provider's end marker or
    raises a typed error: a stream never ends quietly short.
    """

    def __init__(self, core: StreamCore, response: httpx.Response) -> None:
        self._core = core
        self._response = response
        self._bytes = response.iter_bytes()
        self._buffer: list[ModelResponseStream] = []
        self._pos = 0
        self._closed = False

    @property
    def llmrouter(self) -> CallInfo:
        return self._core.info

    @property
    def usage(self) -> Any:
        """Token usage, once the chunk that carries it has been read."""
        return self._core.usage

    def final_response(self) -> ModelResponse:
        """The whole answer as one :class:`~llmrouter.types.ModelResponse`, as if the call had
        not been streamed: reads whatever is left of the stream first, then rebuilds content,
        tool calls, reasoning, finish reason and usage from every chunk
        (:func:`llmrouter.stream_chunk_builder`), with the stream's ``llmrouter`` CallInfo."""
        for _ in self:
            pass
        return _final(self._core)

    def __iter__(self) -> CompletionStream:
        return self

    def __next__(self) -> ModelResponseStream:
        while True:
            buf = self._buffer
            if self._pos < len(buf):
                chunk = buf[self._pos]
                self._pos += 1
                return chunk
            if self._closed:
                raise StopIteration
            core = self._core
            try:
                if core.pending is not None:
                    exc, core.pending = core.pending, None
                    raise exc
                if core.done:
                    self.close()
                    raise StopIteration
                if core.has_more():
                    self._buffer = core.more()
                    self._pos = 0
                    continue
                try:
                    core.read_window()
                    # The socket-level clamp of the client a Router builds ends the read by
                    # the deadline (http.install_deadlines); other clients are checked after.
                    token = _http.DEADLINE.set(core.deadline)
                    try:
                        data = next(self._bytes)
                    finally:
                        _http.DEADLINE.reset(token)
                except StopIteration:
                    self._buffer = core.eof()
                    self._pos = 0
                    if not self._buffer:
                        self.close()
                    else:
                        core.done = True
                    continue
                except httpx.HTTPError as exc:
                    raise core.transport_error(exc) from exc
                self._buffer = core.feed(data)
                self._pos = 0
            except StopIteration:
                raise
            except BaseException as exc:
                scrub_call_error(exc, core.call.api_key, core.request.headers)
                self._fail(exc)
                raise

    def _fail(self, exc: BaseException) -> None:
        self._closed = True
        self._response.close()
        self._core.end(exc)

    def _prime(self) -> None:
        """Read until the first chunk arrives, or the stream ends or fails, keeping the chunk
        for the caller. Until then a failure belongs to the router's attempt, not to the call
        (it may retry elsewhere), so the end-of-call hook is held back meanwhile."""
        core = self._core
        core._ended = True
        try:
            next(self)
        except StopIteration:
            core._ended = False
            core.end(None)
            return
        core._ended = False
        self._pos -= 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._response.close()
            _replay_cut(self._core, self._pos, len(self._buffer))
            self._core.end(None)

    def __enter__(self) -> CompletionStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._response.close()

    def __repr__(self) -> str:
        return f"<CompletionStream {self._core.call.route} chunks={self._core.state.chunks}>"


def _replay_cut(core: StreamCore, delivered: int, buffered: int) -> None:
    """A cache replay closed before its last chunk: it ends like a live stream closed early
    (counted as delivered, no whole answer), not as the complete answer it was made from."""
    if core.cache_hit and delivered < buffered:
        core.done = False
        core.state.chunks = delivered


def _final(core: StreamCore) -> ModelResponse:
    if not core.done:
        raise InvalidRequestError(
            "final_response() needs the whole stream, and this one was closed (or failed) "
            f"after {core.state.chunks} chunk(s), before its end; the answer would be partial. "
            "Use llmrouter.stream_chunk_builder(chunks) on the chunks you kept to rebuild what "
            "arrived"
        )
    return core.final_response()


def _read_timeout(response: httpx.Response) -> float | None:
    """The read timeout ``response``'s request was sent with (``None``: none)."""
    timeouts = response.request.extensions.get("timeout") or {}
    read: float | None = timeouts.get("read")
    return read


class AsyncCompletionStream(_Buffered, AsyncIterator[ModelResponseStream]):
    """Async iterator of chunks for ``acompletion(..., stream=True)``; see :class:`CompletionStream`."""

    def __init__(self, core: StreamCore, response: httpx.Response) -> None:
        self._core = core
        self._response = response
        self._bytes = response.aiter_bytes()
        self._buffer: list[ModelResponseStream] = []
        self._pos = 0
        self._closed = False
        #: Whether the engine's read timeout bounds each read from the moment it begins (httpx
        #: does). A request sent without one (the aiohttp engine's streams: its read timeout
        #: counts the server's silence, the caller's pace included, see
        #: http.build_httpx_request) has every read timed here instead.
        self._timed_reads = _read_timeout(response) is not None

    @property
    def llmrouter(self) -> CallInfo:
        return self._core.info

    @property
    def usage(self) -> Any:
        return self._core.usage

    async def final_response(self) -> ModelResponse:
        """See :meth:`CompletionStream.final_response` (reads the rest of the stream first)."""
        async for _ in self:
            pass
        return _final(self._core)

    def __aiter__(self) -> AsyncCompletionStream:
        return self

    async def __anext__(self) -> ModelResponseStream:
        while True:
            buf = self._buffer
            if self._pos < len(buf):
                chunk = buf[self._pos]
                self._pos += 1
                return chunk
            if self._closed:
                raise StopAsyncIteration
            core = self._core
            try:
                if core.pending is not None:
                    exc, core.pending = core.pending, None
                    raise exc
                if core.done:
                    await self.aclose()
                    raise StopAsyncIteration
                if core.has_more():
                    self._buffer = core.more()
                    self._pos = 0
                    continue
                try:
                    window = core.read_window()
                    if window is None and not self._timed_reads:
                        window = core.budget  # a full timeout away, from now
                    if window is None:  # a full timeout away: the read timeout bounds it
                        data = await self._bytes.__anext__()
                    else:  # the first event, or the rest of one: by the deadline
                        try:
                            async with _http.deadline_scope(window):
                                data = await self._bytes.__anext__()
                        except TimeoutError:
                            raise core.deadline_error() from None
                except StopAsyncIteration:
                    self._buffer = core.eof()
                    self._pos = 0
                    if not self._buffer:
                        await self.aclose()
                    else:
                        core.done = True
                    continue
                except httpx.HTTPError as exc:
                    raise core.transport_error(exc) from exc
                self._buffer = core.feed(data)
                self._pos = 0
            except StopAsyncIteration:
                raise
            except BaseException as exc:
                scrub_call_error(exc, core.call.api_key, core.request.headers)
                self._closed = True
                await self._response.aclose()
                core.end(exc)
                raise

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._response.aclose()
            core = self._core
            _replay_cut(core, self._pos, len(self._buffer))
            try:
                if not core._ended:
                    await core.astore()
            finally:
                core.end(None)

    async def _prime(self) -> None:
        """See :meth:`CompletionStream._prime`."""
        core = self._core
        core._ended = True
        try:
            await self.__anext__()
        except StopAsyncIteration:
            core._ended = False
            core.end(None)
            return
        core._ended = False
        self._pos -= 1

    async def __aenter__(self) -> AsyncCompletionStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncCompletionStream {self._core.call.route} chunks={self._core.state.chunks}>"
