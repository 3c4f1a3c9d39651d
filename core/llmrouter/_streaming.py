"""Streams: SSE bytes in, chunks out, and the rule that a stream never ends quietly short.

:class:`StreamCore` is the pure part (decoder, per-event stage hook, end-of-stream checks, the
once-per-call end hook); :class:`CompletionStream` and :class:`AsyncCompletionStream` add only
the reading of bytes, sync or async, like the two Routers over their common base.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from llmrouter import _http
from llmrouter._plugins import ProviderHooks
from llmrouter._sse import SSEDecoder, SSEError, SSEEventTooLargeError
from llmrouter.errors import APIConnectionError, APITimeoutError, LLMRouterError, StreamDecodeError
from llmrouter.pipeline import (
    STREAM_DONE,
    Call,
    CallOutcome,
    HTTPRequest,
    HTTPResponse,
    Prompt,
    StreamState,
)
from llmrouter.secrets import scrub_call_error
from llmrouter.types import CallInfo, ModelResponseStream, PendingCallInfo, trusted_call_info

__all__ = [
    "AsyncCompletionStream",
    "CompletionStream",
    "StreamCore",
    "call_info",
    "pending_call_info",
]


class _Unread:
    """The type of :data:`_UNREAD`: ``request_id`` not read yet (``None`` is a value)."""


_UNREAD = _Unread()


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
        }
    )


def pending_call_info(
    call: Call, request: HTTPRequest, response: HTTPResponse, latency: float, prompt: Prompt | None
) -> PendingCallInfo:
    """What :func:`call_info` would return, built only when ``response.llmrouter`` is read."""
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
        "budget",
        "call",
        "deadline",
        "done",
        "hooks",
        "info",
        "on_end",
        "pending",
        "prompt",
        "request",
        "response",
        "state",
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
        self._decoder = SSEDecoder(max_event_bytes)
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
        #: Told the stream's final error (or None) once it ends; the router frees the deployment.
        self.on_end: Callable[[BaseException | None], None] | None = None
        #: An error parsed from the same read as chunks still owed to the caller: raised once
        #: those chunks are delivered, so what the caller sees does not depend on packet timing.
        self.pending: LLMRouterError | None = None

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
        out: list[ModelResponseStream] = []
        if self.done:
            return out
        fault: LLMRouterError | None = None
        try:
            events = self._decoder.feed(data)
        except SSEError as exc:
            events = exc.events
            fault = self._fault(exc)
        if events:
            self._rearm = True
        elif self.budget is not None and time.perf_counter() > (self.deadline or 0.0):
            # Checked here too, for clients whose reads the deadline cannot interrupt.
            fault = fault or self.deadline_error()
        parse = self.hooks.parse_stream_event
        call = self.call
        prompt = self.prompt
        state = self.state
        for event in events:
            try:
                chunk = parse(call=call, prompt=prompt, data=event, state=state)
            except LLMRouterError as exc:
                if getattr(exc, "request_id", True) is None:
                    # An in-band error event has no headers of its own: it belongs to this
                    # response, whose request id the provider gave in the stream's head.
                    exc.request_id = self.response.request_id
                if not out:
                    raise
                self.pending = exc
                break
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
                self.usage = chunk.usage
            out.append(chunk)
            if state.done:  # the provider's last chunk: the stream is complete with it
                self.done = True
                break
        if fault is not None and not self.done:
            if not out:
                raise fault
            if self.pending is None:  # raised once the chunks before it are delivered
                self.pending = fault
        return out

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
                    self.usage = chunk.usage
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

    def end(self, error: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        latency = time.perf_counter() - self._started
        self.info.latency_s = latency
        try:
            self.hooks.call_end(
                outcome=CallOutcome(
                    call=self.call,
                    error=error,
                    latency_s=latency,
                    attempts=self.call.metadata.get("attempts", 1),
                    status_code=self.response.status_code,
                    request_id=self.response.request_id,
                    usage=self.usage,
                    chunks=self.state.chunks,
                )
            )
        finally:
            on_end = self.on_end
            if on_end is not None:
                on_end(error)


class CompletionStream(Iterator[ModelResponseStream]):
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


def _read_timeout(response: httpx.Response) -> float | None:
    """The read timeout ``response``'s request was sent with (``None``: none)."""
    timeouts = response.request.extensions.get("timeout") or {}
    read: float | None = timeouts.get("read")
    return read


class AsyncCompletionStream(AsyncIterator[ModelResponseStream]):
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
            self._core.end(None)

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
