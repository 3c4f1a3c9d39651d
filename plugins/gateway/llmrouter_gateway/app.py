"""The gateway's ASGI app: OpenAI's HTTP API in front of one :class:`llmrouter.AsyncRouter`.

Starlette routes each request to a handler that checks the key, reads the body within
``[gateway] max_body_bytes``, turns it into a router call (``requests.py``), awaits the router
and writes the answer: the response's own JSON (pydantic's serializer, no second encoding), or
for a stream one ``data:`` event per chunk and ``data: [DONE]``. Errors become OpenAI's error
objects (``errors.py``); an error after a stream started is one in-band ``data: {"error": ...}``
event and no ``[DONE]``, so a client never takes a cut answer for a whole one.

Streams are written by :class:`_SSEResponse` rather than Starlette's ``StreamingResponse``,
which notices a client that went away only at its next write: a stream waiting on a slow
model would keep its upstream call open until then. Here a watcher on ``receive()`` cancels
the upstream read the moment the client disconnects, and the upstream stream is always
closed, shielded from that cancellation.

Upstream, the router uses its native engine (``AsyncRouter(engine="native")``): non-streamed
calls over llmrouter's own HTTP/1.1 client, streams over aiohttp, the fastest pair measured
(docs/performance.md).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from pydantic_core import from_json, to_json
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from llmrouter import AsyncRouter
from llmrouter.config import RouterConfig
from llmrouter.errors import ConfigError
from llmrouter_gateway.errors import ErrorReply, error_reply, gateway_error
from llmrouter_gateway.metrics import CONTENT_TYPE_LATEST, Metrics
from llmrouter_gateway.requests import (
    RAW_PROMPT,
    RequestProblem,
    call_params,
    encode_base64_embeddings,
    text_completion_body,
    text_completion_chunk,
    text_prompt_messages,
)

if TYPE_CHECKING:
    from llmrouter_gateway.keys import Keys, KeyUse
    from llmrouter_gateway.shared import SharedCooldowns, SharedInFlight
    from llmrouter_gateway.store import KeyRecord

__all__ = ["CONFIG_ENV", "Gateway", "create_app", "create_app_from_env"]

CONFIG_ENV = "LLMROUTER_CONFIG"

log = logging.getLogger("llmrouter.gateway")

_JSON = "application/json"
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b"data: [DONE]\n\n"
#: Seconds a router call runs before the gateway starts watching for its client leaving.
WATCH_AFTER = 0.05

Handler = Callable[[Request], Awaitable[Any]]
T = TypeVar("T")


def _json_response(
    payload: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(payload, status_code=status, headers=headers, media_type=_JSON)


class _Answer:
    """A 200 JSON answer whose bookkeeping (metrics, the cost) runs after it is sent: off the
    caller's latency, which the gateway's goal counts (docs/performance.md)."""

    __slots__ = ("after", "body")

    def __init__(self, body: bytes, after: Callable[[], None]) -> None:
        self.body = body
        self.after = after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(body)),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            self.after()


def _error_response(reply: ErrorReply) -> Response:
    return _json_response(to_json(reply.body()), reply.status, reply.headers)


class _SSEResponse:
    """A ``text/event-stream`` answer: one ``data:`` event per chunk of ``stream``, then
    ``[DONE]``, or the in-band error event; the upstream call is cancelled when the client
    leaves and always closed, and ``finish(status)`` is told how it ended.

    The chunks are written from this loop, with no async generator between the stream and
    ``send`` (one fewer coroutine switch per chunk: docs/performance.md), and the chunks that
    arrived together (decoded from one read of the upstream) go out in one write: nothing
    waits for a chunk that has not arrived, and a burst costs one ASGI send instead of one
    per chunk."""

    def __init__(
        self, stream: Any, encode: Callable[[Any], bytes], finish: Callable[[int, Any], None]
    ) -> None:
        self._stream = stream
        self._encode = encode
        self._finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self._stream
        encode = self._encode
        status = 200
        error: ErrorReply | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    nonlocal status
                    while True:
                        message = await receive()
                        if message["type"] == "http.disconnect":
                            status = 499  # nginx's "client closed request", for the metrics
                            group.cancel_scope.cancel()
                            return

                group.start_soon(watch)
                try:
                    try:
                        take_ready = stream.take_ready
                        async for chunk in stream:
                            body = b"data: " + encode(chunk) + b"\n\n"
                            ready = take_ready()
                            failed: Exception | None = None
                            if ready:  # arrived with it: one write for all of them
                                parts = [body]
                                for more in ready:
                                    try:
                                        parts.append(b"data: " + encode(more) + b"\n\n")
                                    except Exception as exc:  # its elders still go out first
                                        failed = exc
                                        break
                                body = b"".join(parts)
                            await send(
                                {"type": "http.response.body", "body": body, "more_body": True}
                            )
                            if failed is not None:
                                raise failed
                        last = _DONE
                    except OSError:  # the client went away between two events (ASGI 2.4)
                        raise
                    except Exception as exc:
                        error = error_reply(exc)
                        if error.code == "internal_error":
                            log.error("llmrouter.gateway.internal_error in a stream", exc_info=exc)
                        status = error.status
                        last = b"data: " + to_json(error.body()) + b"\n\n"
                    await send({"type": "http.response.body", "body": last, "more_body": False})
                except OSError:
                    status = 499
                finally:
                    group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            self._finish(status, error)


class _HotPaths:
    """In front of the Starlette app: the hot endpoints go straight to their handlers."""

    def __init__(self, app: Starlette, routes: dict[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is not None:
                response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Gateway:
    """The state of one gateway worker: its config, key, router and metrics."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        master_key: str | None = None,
        router: AsyncRouter | None = None,
        engine: str | None = None,
    ) -> None:
        self.config = config
        self.settings = config.gateway
        # Bytes, compared in constant time; never logged, never in a repr.
        self._key = master_key.encode() if master_key else None
        self.aliases: dict[str, Any] = dict(config.models)
        self._router = router
        self._owns_router = router is None
        self._engine = engine or config.gateway.engine
        self.metrics = Metrics()
        self.created = int(time.time())
        #: Why the gateway is not ready (a provider plugin that failed to load), or empty.
        self.problems: list[str] = []
        #: Tune the garbage collector at start (``_tune_gc``): set by ``llmrouter serve``.
        self.tune_gc = False
        self.started = False
        #: Virtual keys (``keys.py``), opened at startup when a database is configured.
        self.keys: Keys | None = None
        #: Deployment cooldowns shared through Redis (``shared.py``), started with ``redis_url``.
        self.shared: SharedCooldowns | None = None
        #: In-flight counts exchanged through Redis for ``least-busy`` aliases (``shared.py``).
        self.shared_in_flight: SharedInFlight | None = None
        settings = self.settings
        self._keys_wanted = bool(settings.database_url or settings.database_url_env)
        if self._keys_wanted and self._key is None:
            raise ConfigError(
                "[gateway] database_url turns on virtual keys, which need a master key to "
                "manage them: set [gateway] master_key_env to the name of a variable holding one",
                key="gateway.master_key_env",
            )

    def __repr__(self) -> str:
        return (
            f"Gateway(aliases={sorted(self.aliases)!r}, "
            f"master_key={'set' if self._key else 'none'})"
        )

    @property
    def router(self) -> AsyncRouter:
        router = self._router
        if router is None:
            router = self._router = AsyncRouter(config=self.config, engine=self._engine)
        return router

    # --- lifecycle ------------------------------------------------------------------------------

    async def startup(self) -> None:
        """Create the router in this loop and load every provider the config names."""
        router = self.router
        host = router.plugin_host
        problems = []
        for provider in sorted({d.provider for g in self.aliases.values() for d in g.deployments}):
            try:
                host.provider_hooks(provider)
            except Exception as exc:  # reported by /health/readiness, not fatal
                problems.append(f"provider {provider!r}: {type(exc).__name__}: {exc}")
        self.problems = problems
        for problem in problems:
            log.warning("llmrouter.gateway.provider_unavailable: %s", problem)
        self._warm_prices()
        if self._keys_wanted and self.keys is None:
            from llmrouter_gateway.keys import Keys

            self.keys = await Keys.open(self.settings)
        routing = router.routing
        wants_redis = bool(self.settings.redis_url or self.settings.redis_url_env)
        if wants_redis and self.shared is None and routing is not None:
            from llmrouter_gateway.shared import SharedCooldowns

            keys = self.keys
            self.shared = SharedCooldowns.open(
                routing, self.settings, limiter=keys.limiter if keys is not None else None
            )
            if self.shared is not None:
                self.shared.start()
                from llmrouter_gateway.shared import SharedInFlight

                self.shared_in_flight = SharedInFlight.open(
                    routing, self.settings, self.shared.limiter
                )
                if self.shared_in_flight is not None:
                    self.shared_in_flight.start()
        if self.tune_gc:
            _tune_gc()  # after the plugins loaded: they are part of what is frozen
        self.started = True

    def _warm_prices(self) -> None:
        """Price each deployment once now: the first price read loads genai-prices' table
        (about half a second), which would otherwise land on the first caller's latency."""
        from llmrouter.cost import cost_of
        from llmrouter.types import Usage

        usage = Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2)
        for group in self.aliases.values():
            for dep in group.deployments:
                try:
                    cost_of(dep.provider, dep.provider_model, usage)
                except Exception as exc:  # a price is a metric, never a reason not to serve
                    log.warning("llmrouter.gateway.price_unavailable: %s: %s", dep.model, exc)

    async def shutdown(self) -> None:
        self.started = False
        in_flight, self.shared_in_flight = self.shared_in_flight, None
        if in_flight is not None:
            await in_flight.stop()  # before its limiter closes
        shared, self.shared = self.shared, None
        if shared is not None:
            await shared.stop()  # before the keys close a limiter it may share
        keys, self.keys = self.keys, None
        if keys is not None:
            await keys.close()  # flushes the spend rows still queued
        if self._owns_router and self._router is not None:
            await self._router.aclose()
            self._router = None

    # --- admission ------------------------------------------------------------------------------

    def _admit(self, request: Request, *, virtual: bool = False) -> ErrorReply | str | None:
        """``None`` for the master key (or no key configured), the error to answer, or, with
        ``virtual`` and virtual keys on, the token to look up in the key store."""
        key = self._key
        if key is None:
            # No key: local use only. `llmrouter serve` binds 127.0.0.1 then, but an ASGI
            # server started by hand (uvicorn --factory) may listen anywhere.
            client = request.scope.get("client")
            if client and not _is_loopback(client[0]):
                return gateway_error(
                    403,
                    "this gateway has no master key, so it answers only requests from this "
                    "machine; its operator must set [gateway] master_key_env to serve others",
                    code="local_only",
                )
            return None
        headers = request.headers
        given = headers.get("authorization")
        if given is not None:
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer":
                return gateway_error(
                    401,
                    "the Authorization header must be 'Bearer <key>'",
                    code="invalid_api_key",
                )
            given = token.strip()
        else:
            given = headers.get("x-api-key")
        if not given:
            return gateway_error(
                401,
                "this gateway needs a key: send 'Authorization: Bearer <key>' (the OpenAI "
                "SDKs do this with api_key=)",
                code="missing_api_key",
            )
        if not hmac.compare_digest(given.encode(), key):
            if virtual and self.keys is not None:
                return given
            return gateway_error(
                401, "the key is not valid for this gateway", code="invalid_api_key"
            )
        return None

    async def _body(self, request: Request) -> Any:
        """The decoded JSON body, read straight from ``receive`` within the size limit."""
        limit = self.settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise RequestProblem("the Content-Length header is not a number") from None
            if declared > limit:
                raise _too_large(declared, limit)
        receive = request.receive
        message = await receive()
        raw = message.get("body", b"")
        if message.get("more_body", False):
            parts = [raw]
            size = len(raw)
            while message.get("more_body", False):
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                part = message.get("body", b"")
                size += len(part)
                if size > limit:
                    raise _too_large(size, limit)
                parts.append(part)
            raw = b"".join(parts)
        elif message["type"] == "http.disconnect":
            raise _ClientGone
        if len(raw) > limit:
            raise _too_large(len(raw), limit)
        if not raw:
            raise RequestProblem("the request body is empty; send a JSON object")
        try:
            return from_json(raw)
        except ValueError as exc:
            raise RequestProblem(f"the request body is not valid JSON: {exc}") from None

    # --- answering ------------------------------------------------------------------------------

    async def _guarded(self, request: Request, call: Awaitable[T]) -> T:
        """Await a router call; a client that disconnects meanwhile cancels it.

        The body has been read, so the next ASGI message is the disconnect. A waiter task
        watches for it and cancels this task, which closes the upstream request (the core is
        cancellation-safe). The waiter starts only once the call has run for
        ``WATCH_AFTER`` seconds: most answers come sooner, and a task per request was a tenth
        of the gateway's own CPU per request (docs/performance.md). A client that leaves is
        noticed at most that much later.
        """
        task = asyncio.current_task()
        assert task is not None
        gone = False
        waiter: asyncio.Future[Any] | None = None

        def on_message(done: asyncio.Future[Any]) -> None:
            nonlocal gone
            if done.cancelled() or done.exception() is not None:
                return
            if done.result().get("type") == "http.disconnect":
                gone = True
                task.cancel()

        def watch() -> None:
            nonlocal waiter
            waiter = asyncio.ensure_future(request.receive())
            waiter.add_done_callback(on_message)

        timer = asyncio.get_running_loop().call_later(WATCH_AFTER, watch)
        try:
            return await call
        except asyncio.CancelledError:
            if not gone:
                raise
            if sys.version_info >= (3, 11):
                task.uncancel()
            raise _ClientGone from None
        finally:
            timer.cancel()
            if waiter is not None:
                waiter.remove_done_callback(on_message)
                waiter.cancel()

    def _fail(
        self, endpoint: str, alias: str, started: float, exc: BaseException, request: Request
    ) -> Any:
        metrics = self.metrics
        metrics.in_flight.dec()
        keys = self.keys
        use: KeyUse | None = request.scope.get(_KEY_USE) if keys is not None else None
        if isinstance(exc, _ClientGone):
            seconds = time.perf_counter() - started
            metrics.answered(endpoint, alias, 499, seconds)
            if keys is not None:
                self._keyed(keys, use, endpoint, alias, 499, None, None, seconds, "client_gone")
            return _nothing
        if isinstance(exc, _Denied):
            reply = exc.reply
        elif isinstance(exc, RequestProblem):
            reply = gateway_error(exc.status, exc.message, param=exc.param, code=_problem_code(exc))
        else:
            reply = error_reply(exc)
            if reply.code == "internal_error":
                log.error("llmrouter.gateway.internal_error on %s", endpoint, exc_info=exc)
        metrics.failed(endpoint, alias, reply.code)
        seconds = time.perf_counter() - started
        metrics.answered(endpoint, alias, reply.status, seconds)
        if keys is not None and (use is not None or not isinstance(exc, _Denied)):
            self._keyed(keys, use, endpoint, alias, reply.status, None, None, seconds, reply.code)
        return _error_response(reply)

    def _keyed(
        self,
        keys: Keys,
        use: KeyUse | None,
        endpoint: str,
        alias: str,
        status: int,
        info: Any,
        usage: Any,
        seconds: float,
        code: str | None,
    ) -> None:
        """The bookkeeping of a request when virtual keys are on: its spend row, its key's
        counters and the per-key metric."""
        if use is not None:
            self.metrics.key_answered(use.record.id, endpoint, status)
        keys.account(
            use, alias=alias, status=status, info=info, usage=usage, seconds=seconds, code=code
        )

    def _stream(
        self,
        endpoint: str,
        alias: str,
        started: float,
        stream: Any,
        encode: Callable[[Any], bytes],
        use: KeyUse | None = None,
    ) -> _SSEResponse:
        metrics = self.metrics
        keys = self.keys

        def finish(status: int, error: ErrorReply | None) -> None:
            metrics.in_flight.dec()
            if error is not None:
                metrics.failed(endpoint, alias, error.code)
            seconds = time.perf_counter() - started
            metrics.answered(endpoint, alias, status, seconds)
            if status == 200:
                metrics.usage(alias, stream.llmrouter, stream.usage)
            if keys is not None:
                self._keyed(
                    keys,
                    use,
                    endpoint,
                    alias,
                    status,
                    stream.llmrouter,
                    stream.usage,
                    seconds,
                    error.code if error is not None else None,
                )

        return _SSEResponse(stream, encode, finish)

    def _done(
        self, endpoint: str, alias: str, started: float, response: Any, use: KeyUse | None = None
    ) -> None:
        metrics = self.metrics
        metrics.in_flight.dec()
        seconds = time.perf_counter() - started
        metrics.answered(endpoint, alias, 200, seconds)
        metrics.usage(alias, response.llmrouter, response.usage)
        keys = self.keys
        if keys is not None:
            self._keyed(
                keys, use, endpoint, alias, 200, response.llmrouter, response.usage, seconds, None
            )

    async def _begin(
        self, request: Request, required: str
    ) -> tuple[str, dict[str, Any], KeyUse | None]:
        """Admission and the body: ``(alias, params, use)`` (``use``: the virtual key's, else
        ``None``), or an exception for ``_fail``."""
        self.metrics.in_flight.inc()
        denied = self._admit(request, virtual=True)
        if denied is None:
            alias, params = call_params(await self._body(request), self.aliases, required=required)
            return alias, params, None
        if not isinstance(denied, str):
            raise _Denied(denied)
        keys = self.keys
        assert keys is not None
        found = await keys.identify(denied)
        if isinstance(found, ErrorReply):
            raise _Denied(found)
        from llmrouter_gateway.keys import KeyUse

        use = KeyUse(found)
        request.scope[_KEY_USE] = use
        alias, params = call_params(await self._body(request), self.aliases, required=required)
        refused = await keys.admit(use, alias, params)
        if refused is not None:
            raise _Denied(refused, alias)
        return alias, params, use

    async def _caller(self, request: Request) -> ErrorReply | KeyRecord | None:
        """Who calls a non-completion endpoint: ``None`` (the master key), a virtual key's
        record, or the error to answer."""
        denied = self._admit(request, virtual=True)
        if not isinstance(denied, str):
            return denied
        keys = self.keys
        assert keys is not None
        return await keys.identify(denied)

    async def _master_only(self, request: Request) -> ErrorReply | None:
        """``None`` for the master key; a virtual key gets 403, anything else its 401."""
        found = await self._caller(request)
        if found is None or isinstance(found, ErrorReply):
            return found
        return gateway_error(
            403,
            "this endpoint needs the gateway's master key; a virtual key cannot use it",
            code="admin_only",
        )

    async def _complete(
        self,
        request: Request,
        endpoint: str,
        required: str,
        messages_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
        answer: Callable[[Any], bytes],
        chunk: Callable[[Any], bytes],
    ) -> Any:
        """One chat-shaped router call: ``messages_of(params)`` turns the body into messages
        (and may set router options), ``answer``/``chunk`` encode the result for the client."""
        started = time.perf_counter()
        alias = ""
        try:
            alias, params, use = await self._begin(request, required)
            messages = messages_of(params)
            router = self.router
            if params.pop("stream", False):
                stream = await self._guarded(
                    request, router.completion(alias, messages, stream=True, **params)
                )
                return self._stream(endpoint, alias, started, stream, chunk, use)
            response = await self._guarded(request, router.completion(alias, messages, **params))
        except BaseException as exc:
            if not isinstance(exc, Exception | _ClientGone):
                self.metrics.in_flight.dec()
                raise
            return self._fail(endpoint, alias or _denied_alias(exc), started, exc, request)
        return _Answer(
            answer(response), partial(self._done, endpoint, alias, started, response, use)
        )

    async def chat(self, request: Request) -> Any:
        return await self._complete(
            request, "chat", "messages", _chat_messages, _model_json, _model_json
        )

    async def completions(self, request: Request) -> Any:
        return await self._complete(
            request, "completions", "prompt", _prompt_messages, _text_json, _text_model_json
        )

    async def embeddings(self, request: Request) -> Any:
        endpoint = "embeddings"
        started = time.perf_counter()
        alias = ""
        try:
            alias, params, use = await self._begin(request, "input")
            if params.pop("stream", False):
                raise RequestProblem("embeddings cannot be streamed", param="stream")
            encoding = params.pop("encoding_format", None)
            if encoding not in (None, "float", "base64"):
                raise RequestProblem(
                    f"'encoding_format' must be 'float' or 'base64', got {encoding!r}",
                    param="encoding_format",
                )
            response = await self._guarded(
                request, self.router.embedding(alias, params.pop("input"), **params)
            )
        except BaseException as exc:
            if not isinstance(exc, Exception | _ClientGone):
                self.metrics.in_flight.dec()
                raise
            return self._fail(endpoint, alias or _denied_alias(exc), started, exc, request)
        done = partial(self._done, endpoint, alias, started, response, use)
        if encoding == "base64":
            return _Answer(to_json(encode_base64_embeddings(response.model_dump())), done)
        return _Answer(response.__pydantic_serializer__.to_json(response), done)

    def _model_entry(self, alias: str) -> dict[str, Any]:
        return {"id": alias, "object": "model", "created": self.created, "owned_by": "llmrouter"}

    async def models(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, ErrorReply):
            return _error_response(caller)
        aliases: Any = self.aliases
        if caller is not None and caller.models:
            aliases = [alias for alias in self.aliases if alias in caller.models]
        data = [self._model_entry(alias) for alias in aliases]
        return _json_response(to_json({"object": "list", "data": data}))

    async def model(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, ErrorReply):
            return _error_response(caller)
        alias = request.path_params["model_id"]
        if alias not in self.aliases or (caller is not None and not caller.allows_model(alias)):
            return _error_response(
                gateway_error(
                    404,
                    f"the model {alias[:256]!r} does not exist on this gateway",
                    param="model",
                    code="model_not_found",
                )
            )
        return _json_response(to_json(self._model_entry(alias)))

    async def liveliness(self, request: Request) -> Response:
        return _json_response(b'{"status":"ok"}')

    async def readiness(self, request: Request) -> Response:
        ready = self.started and not self.problems
        body = {
            "status": "ready" if ready else "not ready",
            "config": "loaded",
            "aliases": len(self.aliases),
            "providers": "loaded" if not self.problems else self.problems,
        }
        if not self.started:
            body["providers"] = "not loaded yet"
        keys = self.keys
        if keys is not None:
            services = await keys.check()
            body.update(services)
            if any(state != "ok" for state in services.values()):
                ready = False
                body["status"] = "not ready"
        return _json_response(to_json(body), 200 if ready else 503)

    async def metrics_page(self, request: Request) -> Response:
        denied = await self._master_only(request)
        if denied is not None:
            return _error_response(denied)
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            reply = gateway_error(
                405,
                f"{request.method} is not allowed on {request.url.path}",
                code="method_not_allowed",
            )
        else:
            reply = gateway_error(
                404,
                f"no route {request.url.path!r}: this gateway serves /v1/chat/completions, "
                "/v1/completions, /v1/embeddings and /v1/models",
                code="not_found",
            )
        return _error_response(reply)

    # --- the app ----------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        out = []
        for prefix in ("/v1", ""):
            out += [
                Route(f"{prefix}/chat/completions", self.chat, methods=["POST"]),
                Route(f"{prefix}/completions", self.completions, methods=["POST"]),
                Route(f"{prefix}/embeddings", self.embeddings, methods=["POST"]),
                Route(f"{prefix}/models", self.models, methods=["GET"]),
                Route(f"{prefix}/models/{{model_id:path}}", self.model, methods=["GET"]),
            ]
        out += [
            Route("/health/liveliness", self.liveliness, methods=["GET"]),
            Route("/health/liveness", self.liveliness, methods=["GET"]),
            Route("/health/readiness", self.readiness, methods=["GET"]),
            Route("/metrics", self.metrics_page, methods=["GET"]),
        ]
        from llmrouter_gateway.admin import admin_routes

        out += admin_routes(self)
        return out

    def app(self) -> ASGIApp:
        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await self.startup()
            try:
                yield
            finally:
                await self.shutdown()

        middleware = []
        origins = self.settings.cors_origins
        if origins:
            from starlette.middleware.cors import CORSMiddleware

            middleware.append(
                # Any request header: the OpenAI SDKs send their own (x-stainless-*,
                # openai-organization...), and no cookie is ever accepted (credentials off).
                Middleware(
                    CORSMiddleware,
                    allow_origins=origins,
                    allow_methods=["GET", "POST", "OPTIONS"],
                    allow_headers=["*"],
                    expose_headers=["retry-after", "x-request-id"],
                )
            )
        app = Starlette(
            routes=self.routes(),
            middleware=middleware,
            lifespan=lifespan,
            exception_handlers={404: self.not_found, 405: self.not_found},
        )
        app.state.gateway = self
        # A trailing slash is a 404, not a redirect built from the Host header.
        app.router.redirect_slashes = False
        if not middleware:
            # The completion endpoints skip Starlette's middleware layers and route matching: their handlers answer every error themselves (measured: about 25 us a
            # request, docs/performance.md). Everything else, and any request when CORS is on,
            # goes through Starlette.
            hot: dict[tuple[str, str], Handler] = {}
            for prefix in ("/v1", ""):
                hot[("POST", f"{prefix}/chat/completions")] = self.chat
                hot[("POST", f"{prefix}/completions")] = self.completions
                hot[("POST", f"{prefix}/embeddings")] = self.embeddings
            return _HotPaths(app, hot)
        return app


class _ClientGone(Exception):
    """The client disconnected while its call was running; the call was cancelled."""


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer to a client that is gone: nothing to send."""


_NOT_ON_COMPLETIONS = {
    "messages": "/v1/completions takes a 'prompt', not 'messages'; send chat messages to "
    "/v1/chat/completions",
    "logprobs": "this gateway's /v1/completions does not return logprobs; ask "
    "/v1/chat/completions with logprobs=true",
}


class _Denied(Exception):
    """Carries the admission error through ``_fail`` (counted like every other error)."""

    def __init__(self, reply: ErrorReply, alias: str = "") -> None:
        super().__init__(reply.message)
        self.reply = reply
        self.alias = alias


def _denied_alias(exc: BaseException) -> str:
    return exc.alias if isinstance(exc, _Denied) else ""


#: Where a request's :class:`~llmrouter_gateway.keys.KeyUse` is kept in its ASGI scope.
_KEY_USE = "llmrouter.key"


def _problem_code(problem: RequestProblem) -> str:
    if problem.status == 404:
        return "model_not_found"
    if problem.param is not None and "does not let a request set" in problem.message:
        return "forbidden_parameter"
    if "larger than" in problem.message:
        return "request_too_large"
    return "invalid_request"


def _too_large(size: int, limit: int) -> RequestProblem:
    return RequestProblem(
        f"the request body ({size} bytes) is larger than this gateway accepts ({limit} bytes, "
        "[gateway] max_body_bytes)"
    )


def _chat_messages(params: dict[str, Any]) -> list[dict[str, Any]]:
    return params.pop("messages")  # type: ignore[no-any-return]


def _prompt_messages(params: dict[str, Any]) -> list[dict[str, Any]]:
    """A legacy completion: one prompt, sent verbatim through the raw template."""
    for key in ("messages", "logprobs"):
        if key in params:
            raise RequestProblem(_NOT_ON_COMPLETIONS[key], param=key)
    messages = text_prompt_messages(params.pop("prompt"))
    params["prompt_template"] = RAW_PROMPT
    return messages


def _text_json(response: Any) -> bytes:
    return to_json(text_completion_body(response))


def _model_json(chunk: Any) -> bytes:
    return chunk.__pydantic_serializer__.to_json(chunk)  # type: ignore[no-any-return]


def _text_model_json(chunk: Any) -> bytes:
    return to_json(text_completion_chunk(chunk))


def create_app(
    config: RouterConfig,
    *,
    master_key: str | None = None,
    router: AsyncRouter | None = None,
    engine: str | None = None,
) -> ASGIApp:
    """The gateway's ASGI app for ``config`` (``master_key``: the one key it accepts)."""
    return Gateway(config, master_key=master_key, router=router, engine=engine).app()


def create_app_from_env() -> ASGIApp:
    """The app for ASGI servers' factory mode (``uvicorn --factory``, granian ``--factory``).

    The config file is ``$LLMROUTER_CONFIG`` (else ``./llmrouter.toml``): llmrouter's TOML or a
    LiteLLM proxy YAML. The master key is read from the variable ``[gateway] master_key_env``
    names; a key missing from it stops the start rather than serving without one.
    """
    from llmrouter_gateway.server import load_for_serving

    loaded = load_for_serving(os.environ.get(CONFIG_ENV) or None)
    _log_to_stderr()
    gateway = Gateway(loaded.config, master_key=loaded.master_key)
    gateway.tune_gc = True
    return gateway.app()


#: The young-generation threshold of a serving process (CPython's default: 700 allocations).
GC_THRESHOLDS = (20_000, 50, 100)


def _tune_gc() -> None:
    """Fewer, later garbage collections in a process that only serves.

    A request allocates a few thousand short-lived objects, almost all freed by reference
    counting; with CPython's default thresholds the cyclic collector still ran every few
    requests and walked everything the process had loaded. Moving what exists at start to the
    permanent generation (``gc.freeze``) and collecting the young generation every 20,000
    allocations instead of 700 took 10 to 20% off the gateway's CPU per request
    (docs/performance.md). Only the process ``llmrouter serve`` starts does this: an app
    mounted in someone else's server leaves their process's settings alone.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _log_to_stderr() -> None:
    """The gateway's own warnings and errors (an internal error's traceback, a provider that
    failed to load) on stderr, next to uvicorn's lines: the library's ``llmrouter`` logger has
    only a NullHandler, so without this they would go nowhere."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.WARNING)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
