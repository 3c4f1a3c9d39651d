"""Router and AsyncRouter: mirror images over one pure base.

:class:`_RouterBase` holds every decision (building the :class:`Call`, running the stage hooks,
mapping errors, assembling results); :class:`Router` and :class:`AsyncRouter` only add the I/O,
the one thing that differs between sync and async. Each owns one httpx client, reused across
calls for connection pooling, and closes it on ``close()`` / context exit.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import weakref
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx

from llmrouter import _http
from llmrouter._plugins import PluginHost, ProviderHooks, default_host
from llmrouter._streaming import (
    AsyncCompletionStream,
    CompletionStream,
    StreamCore,
    pending_call_info,
    replay_chunks,
)
from llmrouter.errors import (
    APIError,
    InvalidRequestError,
    LLMRouterError,
    ResponseTooLargeError,
    status_error_class,
)
from llmrouter.pipeline import (
    Call,
    CallOutcome,
    HTTPRequest,
    HTTPResponse,
    Operation,
    Prompt,
    request_id_of,
)
from llmrouter.secrets import Secret, scrub_call_error, secret_for
from llmrouter.types import (
    EmbeddingResponse,
    ModelInfo,
    ModelResponse,
    PendingCallInfo,
    trusted_call_info,
)
from llmrouter.validation import (
    check_request,
    split_model,
    validate_api_base,
    validate_api_key,
    validate_headers,
    validate_messages,
    validate_timeout,
)

if TYPE_CHECKING:
    from llmrouter._routing import CallPlan, Lease, Routing
    from llmrouter.budget import Budget
    from llmrouter.config import RouterConfig

__all__ = ["AsyncCompletionStream", "AsyncRouter", "CompletionStream", "Router"]

# Keywords the core consumes itself; everything else in **params goes to the provider's options.
_CORE_KEYWORDS = ("extra_body", "extra_headers", "prompt_template", "metadata", "cache")

_R = TypeVar("_R", bound="_RouterBase")


class _RouterBase:
    def __init__(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        plugin_host: PluginHost | None = None,
        config: RouterConfig | Mapping[str, Any] | Routing | None = None,
        max_response_bytes: int | None = None,
        max_budget: float | str | Decimal | None = None,
        budget_period: str | float | None = None,
        budget: Budget | None = None,
    ) -> None:
        # The largest body or single stream event this router reads (ResponseTooLargeError
        # beyond); checked now, so a bad value never waits for the first response.
        self._max_response_bytes = _http.check_max_response_bytes(max_response_bytes)
        if timeout is not None and not isinstance(timeout, httpx.Timeout):
            # Checked here rather than on the first request, where an infinite or huge value
            # would surface as an engine-specific OverflowError (see validate_timeout).
            timeout = validate_timeout(timeout)
        self._timeout = timeout
        self._host = plugin_host
        # None when there is no config: the per-call cost of routing is then one attribute test.
        self._routing: Routing | None = None
        if config is not None:
            self._routing = _make_routing(config)
            if timeout is None:
                self._timeout = self._routing.settings.timeout
            if max_response_bytes is None:
                self._max_response_bytes = self._routing.settings.max_response_bytes
        self._budget = _make_budget(
            budget,
            max_budget,
            budget_period,
            None if self._routing is None else self._routing.settings,
        )

    @property
    def budget(self) -> Budget | None:
        """The spend cap (``max_budget``/``budget_period``), or ``None`` without one."""
        return self._budget

    @classmethod
    def from_file(cls: type[_R], path: str | os.PathLike[str], **kwargs: Any) -> _R:
        """A client configured from a TOML routing file (see docs/configuration.md)."""
        from llmrouter.config import load_config_file

        return cls(config=load_config_file(path), **kwargs)

    @property
    def routing(self) -> Routing | None:
        """The routing table and deployment health, or ``None`` without a config."""
        return self._routing

    def _plan(self, model: object) -> CallPlan | None:
        routing = self._routing
        if routing is None or not isinstance(model, str) or model not in routing.routes:
            return None
        return routing.plan(model)

    def _routed_failed(self, call: Call, exc: BaseException, started: float) -> None:
        """The end-of-call hook for a routed call that failed, once, after every attempt."""
        try:
            hooks = self.plugin_host.provider_hooks(call.provider)
        except LLMRouterError:
            return
        self._failed(hooks, call, exc, started)

    @property
    def plugin_host(self) -> PluginHost:
        host = self._host
        if host is None:
            host = self._host = default_host()
        return host

    # --- pure steps -------------------------------------------------------------------------

    def _make_call(
        self,
        operation: Operation,
        model: str,
        *,
        messages: Any = None,
        input: Any = None,
        stream: bool = False,
        api_base: str | None = None,
        api_key: str | Secret | None = None,
        timeout: float | None = None,
        params: dict[str, Any],
    ) -> Call:
        provider, provider_model = split_model(model)
        # ``params`` is this call's own dict (built from **kwargs): the Call keeps it, without
        # a default one of its own; the core keywords are popped out of it below.
        call = Call(
            operation=operation,
            provider=provider,
            model=provider_model,
            stream=bool(stream),
            params=params,
        )
        if operation == "chat":
            call.messages = validate_messages(messages)
        elif operation == "embedding":
            call.input = _validate_embedding_input(input)
        if stream not in (True, False):
            raise InvalidRequestError(
                f"stream must be True or False, got {stream!r}", param="stream"
            )
        if api_base is not None:
            base = _API_BASES.get(api_base) if type(api_base) is str else None
            call.api_base = base if base is not None else _validate_api_base(api_base)
        if api_key is not None:
            if isinstance(api_key, Secret):
                validate_api_key(api_key.get_secret_value())
                call.api_key = api_key
            else:
                call.api_key = secret_for(_validate_key(api_key))
        if timeout is not None:
            call.timeout = validate_timeout(timeout)
        if params:
            for key in _CORE_KEYWORDS:
                if key in params:
                    value = params.pop(key)
                    if key == "extra_body":
                        call.extra_body = _validate_mapping(value, "extra_body")
                    elif key == "extra_headers":
                        call.extra_headers = validate_headers(value)
                    elif key == "prompt_template":
                        call.prompt_template = value
                    elif key == "cache":
                        call.cache = _validate_cache(value)
                    else:
                        call.metadata.update(_validate_metadata(value))
        budget = self._budget
        if budget is not None and operation != "list_models":
            budget.check()
        return call

    def _prepare(self, call: Call) -> tuple[ProviderHooks, Prompt | None, HTTPRequest]:
        hooks = self.plugin_host.provider_hooks(call.provider)
        prompt: Prompt | None = None
        if call.operation == "chat":
            prompt = hooks.format_prompt(call=call)
        request = hooks.build_request(call=call, prompt=prompt)
        if request is None:
            raise InvalidRequestError(
                f"provider {call.provider!r} does not support {call.operation}",
                provider=call.provider,
            )
        # Whatever built them (the caller, an environment variable, a deployment, the plugin),
        # the URL and headers every engine will send are checked here, before any engine sees
        # them: one InvalidRequestError, never retried nor counted against a deployment.
        check_request(request, call)
        if call.cache is not None and not hooks.caching:
            raise InvalidRequestError(
                "cache= was given but no response cache is enabled, so it would do nothing; "
                "enable one with llmrouter.cache.enable_cache() (docs/caching.md) or drop cache=",
                param="cache",
            )
        return hooks, prompt, request

    def _cached(
        self,
        hooks: ProviderHooks,
        call: Call,
        prompt: Prompt | None,
        request: HTTPRequest,
        hit: Any,
        started: float,
        stream_type: type[CompletionStream] | type[AsyncCompletionStream],
    ) -> Any:
        """The caller's answer from a cache plugin's hit (``None`` when it is unusable: logged,
        and the call goes upstream). No request was sent: the CallInfo says ``cache_hit``,
        ``attempts=0`` and a cost of 0; a stream replays the answer as chunks."""
        expected = EmbeddingResponse if call.operation == "embedding" else ModelResponse
        if type(hit) is not expected:
            _cache_failed(
                "lookup",
                TypeError(
                    f"a cache plugin answered with {type(hit).__name__}, not {expected.__name__}"
                ),
                call,
            )
            return None
        latency = time.perf_counter() - started
        info = _hit_info(call, request, prompt, latency)
        if call.stream:
            core = StreamCore(hooks, call, prompt, request, HTTPResponse(200, {}), started)
            core.cache_hit = True
            core.info = info
            core.done = True
            chunks = replay_chunks(hit)  # type: ignore[arg-type]  # chat: a ModelResponse
            for chunk in chunks:
                chunk._set_call_info(info)
            core.chunks = list(chunks)
            core.state.chunks = len(chunks)
            core.usage = hit.usage
            stream = stream_type(core, _Replay())  # type: ignore[arg-type]
            stream._buffer = chunks
            return stream
        hit._set_call_info(info)
        hooks.call_end(
            outcome=CallOutcome(
                call,
                hit,
                None,
                latency,
                0,
                None,
                None,
                getattr(hit, "usage", None),
                cache_hit=True,
                attempt_log=() if call.attempt_log is None else tuple(call.attempt_log),
            )
        )
        return hit

    def _spent(self, result: Any) -> None:
        """A non-streamed answer's cost counts against the spend cap."""
        budget = self._budget
        if budget is not None and isinstance(result, (ModelResponse, EmbeddingResponse)):
            budget.add(result.llmrouter.cost)

    def _routed_end(self, hooks: ProviderHooks, call: Call, result: Any, started: float) -> None:
        """The end-of-call hook of a routed, non-streamed call that succeeded: after the last
        attempt was recorded, so ``attempt_log`` holds it."""
        if isinstance(result, (ModelResponse, EmbeddingResponse)) and _cache_hit(result):
            return  # told already by _cached
        if hooks.success_end_idle():
            return
        answer = _answer_of(result)
        hooks.call_end(
            outcome=CallOutcome(
                call,
                result,
                None,
                time.perf_counter() - started,
                call.metadata.get("attempts", 1),
                answer.status_code if answer is not None else None,
                answer.request_id if answer is not None else None,
                getattr(result, "usage", None),
                attempt_log=tuple(call.attempt_log or ()),
            )
        )

    @staticmethod
    def _error(hooks: ProviderHooks, call: Call, response: HTTPResponse) -> LLMRouterError:
        err = hooks.map_error(call=call, response=response)
        if err is not None:
            return err  # type: ignore[no-any-return]
        return default_status_error(call, response)

    def _finish(
        self,
        hooks: ProviderHooks,
        call: Call,
        prompt: Prompt | None,
        request: HTTPRequest,
        response: HTTPResponse,
        started: float,
    ) -> Any:
        """A complete (non-streamed) response: observers, then the error or the result.

        An error leaves without the key this call sent, whatever the provider echoed: the
        attempt's caller (``_run`` / ``_run_routed``) scrubs it, see :func:`_scrub`."""
        hooks.response_received(call=call, request=request, response=response)
        if response.status_code >= 400:
            raise self._error(hooks, call, response)
        return self._result(hooks, call, prompt, request, response, started)

    @staticmethod
    def _result(
        hooks: ProviderHooks,
        call: Call,
        prompt: Prompt | None,
        request: HTTPRequest,
        response: HTTPResponse,
        started: float,
    ) -> Any:
        result = hooks.parse_response(call=call, prompt=prompt, response=response)
        if result is None:
            raise APIError(
                f"provider {call.provider!r} returned no parser result for {call.operation}",
                provider=call.provider,
                model=call.model,
            )
        latency = time.perf_counter() - started
        if isinstance(result, (ModelResponse, EmbeddingResponse)):
            # Built on first read of ``result.llmrouter``, which most callers never do.
            result._set_call_info(
                pending_call_info(call, request, response, latency, prompt, result)
            )
        if call.attempt_log is None and not hooks.success_end_idle():
            hooks.call_end(
                outcome=CallOutcome(
                    call,
                    result,
                    None,
                    latency,
                    call.metadata.get("attempts", 1),
                    response.status_code,
                    response.request_id,
                    getattr(result, "usage", None),
                )
            )
        return result

    @staticmethod
    def _failed(
        hooks: ProviderHooks | None, call: Call, exc: BaseException, started: float
    ) -> None:
        if hooks is None:
            return
        hooks.call_end(
            outcome=CallOutcome(
                call=call,
                error=exc,
                latency_s=time.perf_counter() - started,
                attempts=call.metadata.get("attempts", 1),
                status_code=getattr(exc, "status_code", None),
                request_id=getattr(exc, "request_id", None),
                attempt_log=() if call.attempt_log is None else tuple(call.attempt_log),
            )
        )


def _scrub(exc: BaseException, call: Call, request: HTTPRequest | None) -> None:
    """Remove the key(s) ``call`` sent from ``exc``, in place, before anyone sees it.

    The one place every error of an attempt passes: the ``except`` of ``_run`` and of the
    attempt loop ``_run_routed``, in both routers, before the ``call_end`` hook, the
    ``llmrouter.attempt`` log event, the routing plan (whose AllDeploymentsFailedError quotes
    each attempt's error) or the caller. That covers what the engines raise on their own while
    reading (ResponseTooLargeError with the response's headers, transport errors quoting a
    malformed status line), a failing observer on a stream head, and the mapped status errors
    of ``_finish``, whichever engine or path (the aiohttp direct path included) produced them.
    Errors raised later, while a stream is iterated, are scrubbed by the stream's iterator.
    ``request`` is ``None`` when the attempt failed before its request was built (then only
    ``call.api_key`` is known). Costs nothing when the attempt succeeds.

    It also gives a body that was too large the provider's request id: the engines raise that
    error while reading, before the request's ``request_id_headers`` are at hand."""
    if (
        request is not None
        and isinstance(exc, ResponseTooLargeError)
        and exc.request_id is None
        and exc.headers
    ):
        exc.request_id = request_id_of(exc.headers, request.request_id_headers)
    scrub_call_error(exc, call.api_key, None if request is None else request.headers)


def _hold(stream: CompletionStream | AsyncCompletionStream, lease: Lease) -> None:
    """Keep a streamed deployment "in flight" until the stream ends, is closed, or is dropped."""
    core = stream._core
    if core._ended:
        lease(None)
        return
    core.on_end = lease
    weakref.finalize(stream, lease.later)


class _Replay:
    """The body of a replayed (cached) stream: no bytes, nothing to close."""

    def iter_bytes(self) -> Any:
        return iter(())

    def aiter_bytes(self) -> Any:
        return _no_bytes()

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    @property
    def request(self) -> Any:
        return _NO_REQUEST


class _NoRequest:
    extensions: dict[str, Any] = {}


_NO_REQUEST = _NoRequest()


async def _no_bytes() -> Any:
    return
    yield  # an async generator that yields nothing


def _hit_info(call: Call, request: HTTPRequest, prompt: Prompt | None, latency: float) -> Any:
    metadata = call.metadata
    info = trusted_call_info(
        {
            "provider": call.provider,
            "deployment": metadata.get("deployment", call.route),
            "alias": metadata.get("alias"),
            "attempts": 0,
            "latency_s": latency,
            "request_id": None,
            "endpoint": request.endpoint or None,
            "prompt": getattr(prompt, "text", None),
            "cache_hit": True,
        }
    )
    info.cost = Decimal(0)
    return info


def _cache_failed(what: str, exc: BaseException, call: Call) -> None:
    """A cache plugin failed: logged, never raised (the call goes on as if there were none)."""
    from llmrouter.logs import get_logger

    # A plugin's error text could quote what it was given, the key included: scrubbed as
    # every error of a call is.
    scrub_call_error(exc, call.api_key, None)
    get_logger().warning(
        "llmrouter.cache_error",
        step=what,
        provider=call.provider,
        model=call.model,
        error_type=type(exc).__name__,
        error=str(exc),
    )


def _no_awaitable(result: Any) -> Any:
    """A cache plugin's answer to a sync Router, which has no loop to await on: an awaitable is
    a plugin bug (closed, so it does not warn as never awaited, and raised as one)."""
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()
        raise TypeError("a cache plugin returned an awaitable to a sync Router")
    return result


def cache_lookup(hooks: ProviderHooks, call: Call, request: HTTPRequest) -> Any:
    """A sync Router's cache lookup: the hit, or ``None`` (a miss, or a failing plugin)."""
    if call.operation == "list_models":
        return None
    try:
        hit = hooks.cache_lookup(call=call, request=request, asynchronous=False)
        if hit is None:  # a miss: nothing to check
            return None
        hit = _no_awaitable(hit)
    except Exception as exc:
        _cache_failed("lookup", exc, call)
        return None
    return hit


async def acache_lookup(hooks: ProviderHooks, call: Call, request: HTTPRequest) -> Any:
    """An AsyncRouter's cache lookup: a plugin's awaitable is awaited."""
    if call.operation == "list_models":
        return None
    try:
        hit = hooks.cache_lookup(call=call, request=request, asynchronous=True)
        if inspect.isawaitable(hit):
            hit = await hit
    except Exception as exc:
        _cache_failed("lookup", exc, call)
        return None
    return hit


def cache_store(hooks: ProviderHooks, call: Call, request: HTTPRequest, response: Any) -> None:
    """Offer a successful answer to every cache plugin (sync); failures are logged."""
    try:
        results = hooks.cache_store(
            call=call, request=request, response=response, asynchronous=False
        )
        for result in results or ():
            _no_awaitable(result)
    except Exception as exc:
        _cache_failed("store", exc, call)


async def acache_store(
    hooks: ProviderHooks, call: Call, request: HTTPRequest, response: Any
) -> None:
    """:func:`cache_store` for an AsyncRouter: each plugin's awaitable is awaited."""
    try:
        results = hooks.cache_store(
            call=call, request=request, response=response, asynchronous=True
        )
        for result in results or ():
            if inspect.isawaitable(result):
                await result
    except Exception as exc:
        _cache_failed("store", exc, call)


def _cache_hit(result: Any) -> bool:
    """Whether an answer came from the cache, without building its CallInfo: a fresh answer
    still holds its :class:`PendingCallInfo`, a cached one a built CallInfo that says so."""
    private = result.__pydantic_private__
    info = private.get("_llmrouter") if private else None
    return info is not None and type(info) is not PendingCallInfo and bool(info.cache_hit)


def _answer_of(result: Any) -> Any:
    """What carries a successful attempt's status and request id: a stream's head, or the
    pending call info of an answer (no CallInfo is built for it)."""
    core = getattr(result, "_core", None)
    if core is not None:
        return core.response
    private = getattr(result, "__pydantic_private__", None)
    pending = private.get("_llmrouter") if private else None
    return pending if isinstance(pending, PendingCallInfo) else None


def _make_budget(
    budget: Budget | None,
    max_budget: Any,
    budget_period: Any,
    settings: Any,
) -> Budget | None:
    """The router's spend cap: ``budget=`` (a Budget, maybe shared), else ``max_budget=`` /
    ``budget_period=``, else the config's ``[router] max_budget`` / ``budget_period``."""
    if budget is not None:
        if max_budget is not None or budget_period is not None:
            raise ValueError("pass either budget= or max_budget=/budget_period=, not both")
        return budget
    period_given = budget_period
    if settings is not None:
        if max_budget is None:
            max_budget = settings.max_budget
        if budget_period is None:
            budget_period = settings.budget_period
    if max_budget is None:
        if period_given is not None:
            raise ValueError("budget_period= needs max_budget= (the USD to spend per period)")
        return None
    from llmrouter.budget import Budget

    return Budget(max_budget, budget_period)


def _validate_cache(value: object) -> dict[str, Any]:
    from llmrouter.cache import validate_cache_controls

    return validate_cache_controls(value)


def _make_routing(config: Any) -> Routing:
    from llmrouter._routing import Routing
    from llmrouter.config import load_config

    if isinstance(config, Routing):
        return config
    return Routing(load_config(config))


def default_status_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    """The error for a status no provider mapped: class by status, the body kept raw."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.content.decode("utf-8", "replace")[:2000]
    cls = status_error_class(response.status_code)
    return cls(
        f"{call.provider} returned HTTP {response.status_code}",
        provider=call.provider,
        model=call.model,
        status_code=response.status_code,
        request_id=response.request_id,
        body=body,
        headers=response.headers,
    )


#: Validated ``api_base`` values, by the text the caller passed (bounded in count and in length,
#: like the URL cache).
_API_BASES: dict[str, str] = {}


def _validate_api_base(api_base: object) -> str:
    base = validate_api_base(api_base)
    if type(api_base) is str and len(api_base) <= 2048:
        if len(_API_BASES) >= 256:
            _API_BASES.clear()
        _API_BASES[api_base] = base
    return base


def _validate_key(api_key: object) -> str:
    if not isinstance(api_key, str):
        raise InvalidRequestError(
            f"api_key must be a string, got {type(api_key).__name__}", param="api_key"
        )
    return validate_api_key(api_key)


def _check_client_args(timeout: object, http_client: object) -> None:
    """A router's ``timeout`` configures the client it builds; with a client of the caller's it
    would have nothing to apply to, so both together are refused rather than one ignored."""
    if timeout is not None and http_client is not None:
        raise ValueError(
            "pass either http_client= or timeout=, not both: the timeout configures the client "
            "the router builds. Set it on your client (httpx.Client(timeout=...)) or per call "
            "(completion(..., timeout=...))"
        )


#: ``metadata`` keys the core itself writes for a routed call (and reads for logs, CallInfo and
#: the cost): a caller's value would masquerade as the router's (another deployment's name in
#: the logs, a price of its own choosing that the spend cap then trusts).
_RESERVED_METADATA = frozenset({"alias", "deployment", "attempts", "prices"})


def _validate_metadata(value: object) -> dict[str, Any]:
    metadata = _validate_mapping(value, "metadata")
    taken = sorted(
        k for k in metadata if k in _RESERVED_METADATA or str(k).startswith("llmrouter.")
    )
    if taken:
        raise InvalidRequestError(
            f"metadata key(s) {', '.join(map(repr, taken))} are llmrouter's own (it sets them "
            "for routed calls: alias, deployment, attempts, prices, llmrouter.*); use other names",
            param="metadata",
        )
    return metadata


def _validate_mapping(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{name} must be a dict, got {type(value).__name__}", param=name)
    return value


_INPUT_FORMS = (
    "a string, a non-empty list of strings, or token ids: a non-empty list of ints >= 0 (one "
    "input) or a list of such lists"
)


def _validate_embedding_input(value: object) -> list[str] | list[list[int]]:
    """Text or token ids, in OpenAI's four forms; token ids become a list of lists (a single
    ``[1, 2]`` is the one input ``[[1, 2]]``). Whether the provider takes token ids is the
    provider's call (``provider.require_text_input``)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise InvalidRequestError(f"input must be {_INPUT_FORMS}", param="input")
    first = value[0]
    if isinstance(first, str):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidRequestError(
                    f"input[{i}] is of type {type(item).__name__} in a list of strings; input must "
                    f"be {_INPUT_FORMS}",
                    param="input",
                )
        return value
    if isinstance(first, list):
        for i, tokens in enumerate(value):
            _check_token_ids(tokens, f"input[{i}]")
        return value
    _check_token_ids(value, "input")
    return [value]


def _check_token_ids(tokens: object, where: str) -> None:
    if not isinstance(tokens, list) or not tokens:
        shown = "an empty list" if tokens == [] else f"of type {type(tokens).__name__}"
        raise InvalidRequestError(
            f"{where} is {shown}; input must be {_INPUT_FORMS}", param="input"
        )
    for j, token in enumerate(tokens):
        if type(token) is not int or token < 0:
            shown = str(token) if type(token) is int else f"of type {type(token).__name__}"
            raise InvalidRequestError(
                f"{where}[{j}] is {shown}, not a token id (an int >= 0); input must be "
                f"{_INPUT_FORMS}",
                param="input",
            )


# --- the two clients ----------------------------------------------------------------------------


class Router(_RouterBase):
    """A synchronous client: ``Router().completion(model=..., messages=[...])``.

    Reuse one Router for many calls (it pools connections); use it as a context manager or call
    :meth:`close` when done.

    ``timeout`` (seconds) is each attempt's deadline: a non-streamed response must be complete
    within it, a stream must send its first event within it and then each next event within it
    of the one before (``completion(timeout=...)`` and a deployment's ``timeout`` override it).
    ``max_response_bytes`` (default 128 MiB, or ``[router] max_response_bytes``) is the largest
    body or single stream event read; beyond it a call raises ``ResponseTooLargeError``.

    ``engine``: ``"httpx"`` (default: httpx as httpx builds it, or ``[router] engine``) or
    ``"native"`` (httpx over llmrouter's HTTP/1.1 transport, which reads with httptools: about
    a third of the CPU per streamed chunk; ``pip install 'llmrouter[native]'``). See
    docs/performance.md.
    """

    def __init__(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        http_client: httpx.Client | None = None,
        plugin_host: PluginHost | None = None,
        engine: str | None = None,
        config: RouterConfig | Mapping[str, Any] | Routing | None = None,
        max_response_bytes: int | None = None,
        max_budget: float | str | Decimal | None = None,
        budget_period: str | float | None = None,
        budget: Budget | None = None,
    ) -> None:
        _check_client_args(timeout, http_client)
        super().__init__(
            timeout=timeout,
            plugin_host=plugin_host,
            config=config,
            max_response_bytes=max_response_bytes,
            max_budget=max_budget,
            budget_period=budget_period,
            budget=budget,
        )
        if engine is not None and http_client is not None:
            raise ValueError("pass either http_client= or engine=, not both")
        if engine is None and self._routing is not None:
            engine = self._routing.settings.engine  # [router] engine
        self._engine = _http.check_engine(engine, _http.SYNC_ENGINES)
        self._client = http_client
        self._owns_client = http_client is None

    @property
    def http_client(self) -> httpx.Client:
        client = self._client
        if client is None:
            client = self._client = _http.make_sync_client(self._timeout, self._engine)
        return client

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @overload
    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: Literal[False] = False,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> ModelResponse: ...

    @overload
    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: Literal[True],
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> CompletionStream: ...

    @overload
    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: bool,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> ModelResponse | CompletionStream: ...

    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: bool = False,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> ModelResponse | CompletionStream:
        """Chat completion. Returns a :class:`ModelResponse`, or a :class:`CompletionStream`
        of :class:`ModelResponseStream` chunks when ``stream=True``.

        ``model`` is a config alias (routed: retries, fallbacks, cooldowns) or
        ``provider/model`` (sent once, directly). The overloads tell a type checker which
        result: ``stream=True`` gives the stream, ``False`` (the default) the response, a plain
        ``bool`` either."""
        plan = self._plan(model) if self._routing is not None else None
        call = self._make_call(
            "chat",
            model if plan is None else plan.placeholder,
            messages=messages,
            stream=stream,
            api_base=api_base,
            api_key=api_key,
            timeout=timeout,
            params=params,
        )
        if plan is not None:
            return self._run_routed(plan, call)  # type: ignore[no-any-return]
        return self._run(call)  # type: ignore[no-any-return]

    def embedding(
        self,
        model: str,
        input: str | list[str] | list[int] | list[list[int]],
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> EmbeddingResponse:
        """Embeddings for one string or a list of strings, or for token ids (a list of ints,
        or a list of such lists) where the provider takes them (``model`` may be an alias)."""
        plan = self._plan(model) if self._routing is not None else None
        call = self._make_call(
            "embedding",
            model if plan is None else plan.placeholder,
            input=input,
            api_base=api_base,
            api_key=api_key,
            timeout=timeout,
            params=params,
        )
        if plan is not None:
            return self._run_routed(plan, call)  # type: ignore[no-any-return]
        return self._run(call)  # type: ignore[no-any-return]

    def list_models(
        self,
        provider: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> list[ModelInfo]:
        """The provider's model catalogue, e.g. ``list_models("together_ai")``."""
        call = self._make_call(
            "list_models",
            f"{provider}/-",
            api_base=api_base,
            api_key=api_key,
            timeout=timeout,
            params={},
        )
        return self._run(call)  # type: ignore[no-any-return]

    def _run(self, call: Call) -> Any:
        started = time.perf_counter()
        hooks: ProviderHooks | None = None
        request: HTTPRequest | None = None
        try:
            hooks, prompt, request = self._prepare(call)
            if hooks.caching:
                served = self._from_cache(hooks, call, prompt, request, started)
                if served is not None:
                    return served
            result = self._send(hooks, call, prompt, request, started)
        except BaseException as exc:
            _scrub(exc, call, request)
            self._failed(hooks, call, exc, started)
            raise
        if call.stream:
            result._core.spend = self._budget
            return result
        if self._budget is not None:
            self._spent(result)
        if hooks.caching:
            cache_store(hooks, call, request, result)
        return result

    def _run_routed(self, plan: CallPlan, base: Call) -> Any:
        """The attempt loop; its twin in AsyncRouter differs only in ``await`` and the sleep."""
        from llmrouter._routing import Attempt, Wait, deployment_call, log_attempt

        started = time.perf_counter()
        call = base
        # The request of the attempt in flight, for _scrub (a stale one, if the next attempt
        # fails before building its own, only adds a key to remove).
        request: HTTPRequest | None = None
        while True:
            step = plan.next()
            if not isinstance(step, Attempt):
                if isinstance(step, Wait):
                    time.sleep(step.seconds)
                    continue
                self._routed_failed(call, step.error, started)
                raise step.error
            try:
                call = deployment_call(base, plan, step)
                hooks, prompt, request = self._prepare(call)
                if hooks.caching:
                    served = self._from_cache(hooks, call, prompt, request, started)
                    if served is not None:
                        plan.abandon(step)  # nothing was sent: no health to record
                        return served
                result = self._send(hooks, call, prompt, request, started)
                if call.stream:
                    result._core.spend = self._budget
                    result._prime()
            except LLMRouterError as exc:
                _scrub(exc, call, request)
                decision, delay = plan.failed(step, exc)
                log_attempt(plan, step, error=exc, decision=decision, delay=delay)
                continue
            except BaseException as exc:
                _scrub(exc, call, request)
                plan.abandon(step)
                self._routed_failed(call, exc, started)
                raise
            lease = plan.succeeded(step, hold=call.stream)
            log_attempt(plan, step, answer=_answer_of(result))
            if call.stream:
                _hold(result, lease)
                return result
            # Counted and told first, offered to the cache last: what the caller is owed does
            # not wait on (or depend on) the cache.
            if self._budget is not None:
                self._spent(result)
            self._routed_end(hooks, call, result, started)
            if hooks.caching:
                cache_store(hooks, call, request, result)
            return result

    def _from_cache(
        self,
        hooks: ProviderHooks,
        call: Call,
        prompt: Prompt | None,
        request: HTTPRequest,
        started: float,
    ) -> Any:
        """The caller's answer from a cache plugin, or ``None``: send the request."""
        hit = cache_lookup(hooks, call, request)
        if hit is None:
            return None
        return self._cached(hooks, call, prompt, request, hit, started, CompletionStream)

    def _send(
        self,
        hooks: ProviderHooks,
        call: Call,
        prompt: Prompt | None,
        request: HTTPRequest,
        started: float,
    ) -> Any:
        client = self.http_client
        req = _http.build_httpx_request(client, request, call)
        # The attempt's deadline: a sync read cannot be interrupted by a timer, so the client a
        # Router builds shortens every socket operation to what is left of it (DEADLINE, read
        # by http.install_deadlines' clamp); other clients are checked between reads.
        budget = _http.budget_of(call, client)
        deadline = None if budget is None else time.perf_counter() + budget
        token = _http.DEADLINE.set(deadline)
        try:
            try:
                resp = client.send(req, stream=True)
            except httpx.HTTPError as exc:
                what = "first event" if call.stream else "response"
                raise _http.transport_error(
                    exc, call, budget=budget, deadline=deadline, what=what
                ) from exc
            if call.stream and resp.status_code < 400:
                try:
                    head = HTTPResponse(
                        resp.status_code, resp.headers, b"", request.request_id_headers
                    )
                    hooks.response_received(call=call, request=request, response=head)
                except BaseException:
                    resp.close()
                    raise
                core = StreamCore(
                    hooks,
                    call,
                    prompt,
                    request,
                    head,
                    started,
                    budget=budget,
                    deadline=deadline,
                    max_event_bytes=self._max_response_bytes,
                )
                return CompletionStream(core, resp)
            try:
                # At most max_response_bytes, counted as it arrives; the response is closed.
                response = _http.read_response(
                    resp, self._max_response_bytes, call, budget, deadline
                )
                response.request_id_headers = request.request_id_headers
            except httpx.HTTPError as exc:
                raise _http.transport_error(exc, call, budget=budget, deadline=deadline) from exc
        finally:
            _http.DEADLINE.reset(token)
        return self._finish(hooks, call, prompt, request, response, started)


class AsyncRouter(_RouterBase):
    """The asynchronous mirror of :class:`Router`: ``await AsyncRouter().completion(...)``.

    An httpx AsyncClient belongs to one event loop: create the AsyncRouter inside the loop that
    uses it (the module-level ``acompletion`` keeps one per loop for you).

    ``engine``: ``"httpx"`` (default: httpx with llmrouter's constant-time connection pool,
    :mod:`llmrouter._pool`), ``"httpx-stock"`` (httpx exactly as httpx builds it) or
    ``"aiohttp"`` (aiohttp behind httpx's API, ``pip install 'llmrouter[aiohttp]'``: the fastest
    under high concurrency); without it, ``[router] async_engine`` of the config, if any. See
    docs/performance.md.
    """

    def __init__(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        http_client: httpx.AsyncClient | None = None,
        plugin_host: PluginHost | None = None,
        engine: str | None = None,
        config: RouterConfig | Mapping[str, Any] | Routing | None = None,
        max_response_bytes: int | None = None,
        max_budget: float | str | Decimal | None = None,
        budget_period: str | float | None = None,
        budget: Budget | None = None,
    ) -> None:
        _check_client_args(timeout, http_client)
        super().__init__(
            timeout=timeout,
            plugin_host=plugin_host,
            config=config,
            max_response_bytes=max_response_bytes,
            max_budget=max_budget,
            budget_period=budget_period,
            budget=budget,
        )
        if engine is not None and http_client is not None:
            raise ValueError("pass either http_client= or engine=, not both")
        if engine is None and self._routing is not None:
            engine = self._routing.settings.async_engine  # [router] async_engine
        self._engine = _http.check_engine(engine)
        self._client = http_client
        self._owns_client = http_client is None

    @property
    def http_client(self) -> httpx.AsyncClient:
        client = self._client
        if client is None:
            client = self._client = _http.make_async_client(self._timeout, self._engine)
        return client

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> AsyncRouter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @overload
    async def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: Literal[False] = False,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> ModelResponse: ...

    @overload
    async def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: Literal[True],
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> AsyncCompletionStream: ...

    @overload
    async def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: bool,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> ModelResponse | AsyncCompletionStream: ...

    async def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: bool = False,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> ModelResponse | AsyncCompletionStream:
        """Chat completion; with ``stream=True`` returns an :class:`AsyncCompletionStream`.

        The overloads tell a type checker which: ``stream=True`` gives the stream, ``False`` (the
        default) the :class:`ModelResponse`, a plain ``bool`` either."""
        plan = self._plan(model) if self._routing is not None else None
        call = self._make_call(
            "chat",
            model if plan is None else plan.placeholder,
            messages=messages,
            stream=stream,
            api_base=api_base,
            api_key=api_key,
            timeout=timeout,
            params=params,
        )
        if plan is not None:
            return await self._run_routed(plan, call)  # type: ignore[no-any-return]
        return await self._run(call)  # type: ignore[no-any-return]

    async def embedding(
        self,
        model: str,
        input: str | list[str] | list[int] | list[list[int]],
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> EmbeddingResponse:
        plan = self._plan(model) if self._routing is not None else None
        call = self._make_call(
            "embedding",
            model if plan is None else plan.placeholder,
            input=input,
            api_base=api_base,
            api_key=api_key,
            timeout=timeout,
            params=params,
        )
        if plan is not None:
            return await self._run_routed(plan, call)  # type: ignore[no-any-return]
        return await self._run(call)  # type: ignore[no-any-return]

    async def list_models(
        self,
        provider: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> list[ModelInfo]:
        call = self._make_call(
            "list_models",
            f"{provider}/-",
            api_base=api_base,
            api_key=api_key,
            timeout=timeout,
            params={},
        )
        return await self._run(call)  # type: ignore[no-any-return]

    async def _run(self, call: Call) -> Any:
        started = time.perf_counter()
        hooks: ProviderHooks | None = None
        request: HTTPRequest | None = None
        try:
            hooks, prompt, request = self._prepare(call)
            if hooks.caching:
                served = await self._from_cache(hooks, call, prompt, request, started)
                if served is not None:
                    return served
            direct = None if call.stream else _http.direct_client(self.http_client)
            if direct is None:
                result = await self._send(hooks, call, prompt, request, started)
                if call.stream:
                    result._core.spend = self._budget
                    return result
            else:
                # The aiohttp engine's direct path (no httpx objects), awaited in this frame
                # rather than through _send and send_call: fewer coroutines per call in flight
                # measurably helps under high concurrency (docs/performance.md).
                # Its ClientTimeout bounds the whole request
                # (http.AiohttpAsyncClient._client_timeout); the body is read in one go when
                # its Content-Length is known and within the limit. The native engine's
                # send_call is its own HTTP/1.1 exchange (_http1.Http1Pool.request).
                limit = self._max_response_bytes
                try:
                    if isinstance(direct, _http.NativeAsyncClient):
                        response = await direct.send_call(request, call, limit)
                    else:
                        async with direct.open_call(request, call) as raw:
                            if direct.body_fits(raw, limit, call):
                                body = await raw.read()
                            else:
                                body = await direct.read_capped(raw, limit, call)
                            response = direct.read_response(raw, body)
                    response.request_id_headers = request.request_id_headers
                except Exception as exc:
                    mapped = direct.transport_error(exc)
                    if mapped is None:
                        raise
                    budget = _http.budget_of(call, direct)
                    raise _http.transport_error(
                        mapped,
                        call,
                        budget=budget,
                        deadline=None if budget is None else started + budget,
                    ) from exc
                result = self._finish(hooks, call, prompt, request, response, started)
        except BaseException as exc:
            _scrub(exc, call, request)
            self._failed(hooks, call, exc, started)
            raise
        # Outside the try: the call has ended (its call_end was told); the cache's store, which
        # an AsyncRouter awaits and a caller may cancel, is no failure of the call.
        if hooks.caching or self._budget is not None:
            # Only then: one coroutine less per call in flight otherwise (docs/performance.md).
            return await self._kept(hooks, call, request, result)
        return result

    async def _kept(
        self, hooks: ProviderHooks, call: Call, request: HTTPRequest, result: Any
    ) -> Any:
        """A non-streamed answer: counted against the spend cap, then offered to the cache."""
        if self._budget is not None:
            self._spent(result)
        if hooks.caching:
            await acache_store(hooks, call, request, result)
        return result

    async def _run_routed(self, plan: CallPlan, base: Call) -> Any:
        """The attempt loop: :meth:`Router._run_routed` with ``await`` and ``asyncio.sleep``."""
        from llmrouter._routing import Attempt, Wait, deployment_call, log_attempt

        started = time.perf_counter()
        call = base
        # The request of the attempt in flight, for _scrub (a stale one, if the next attempt
        # fails before building its own, only adds a key to remove).
        request: HTTPRequest | None = None
        while True:
            step = plan.next()
            if not isinstance(step, Attempt):
                if isinstance(step, Wait):
                    await asyncio.sleep(step.seconds)
                    continue
                self._routed_failed(call, step.error, started)
                raise step.error
            try:
                call = deployment_call(base, plan, step)
                hooks, prompt, request = self._prepare(call)
                if hooks.caching:
                    served = await self._from_cache(hooks, call, prompt, request, started)
                    if served is not None:
                        plan.abandon(step)  # nothing was sent: no health to record
                        return served
                result = await self._send(hooks, call, prompt, request, started)
                if call.stream:
                    result._core.spend = self._budget
                    await result._prime()
            except LLMRouterError as exc:
                _scrub(exc, call, request)
                decision, delay = plan.failed(step, exc)
                log_attempt(plan, step, error=exc, decision=decision, delay=delay)
                continue
            except BaseException as exc:
                _scrub(exc, call, request)
                plan.abandon(step)
                self._routed_failed(call, exc, started)
                raise
            lease = plan.succeeded(step, hold=call.stream)
            log_attempt(plan, step, answer=_answer_of(result))
            if call.stream:
                _hold(result, lease)
                return result
            if self._budget is not None:
                self._spent(result)
            self._routed_end(hooks, call, result, started)
            if hooks.caching:
                await acache_store(hooks, call, request, result)
            return result

    async def _from_cache(
        self,
        hooks: ProviderHooks,
        call: Call,
        prompt: Prompt | None,
        request: HTTPRequest,
        started: float,
    ) -> Any:
        """:meth:`Router._from_cache`: a plugin's awaitable lookup is awaited."""
        hit = await acache_lookup(hooks, call, request)
        if hit is None:
            return None
        return self._cached(hooks, call, prompt, request, hit, started, AsyncCompletionStream)

    async def _send(
        self,
        hooks: ProviderHooks,
        call: Call,
        prompt: Prompt | None,
        request: HTTPRequest,
        started: float,
    ) -> Any:
        client = self.http_client
        limit = self._max_response_bytes
        budget = _http.budget_of(call, client)
        begun = time.perf_counter()
        deadline = None if budget is None else begun + budget
        direct = None if call.stream else _http.direct_client(client)
        if direct is not None:  # aiohttp engine: one direct request, no httpx objects
            try:
                response = await direct.send_call(request, call, limit)
            except httpx.HTTPError as exc:
                raise _http.transport_error(exc, call, budget=budget, deadline=deadline) from exc
            response.request_id_headers = request.request_id_headers
            return self._finish(hooks, call, prompt, request, response, started)
        req = _http.build_httpx_request(client, request, call)
        what = "first event" if call.stream else "response"
        try:
            # One timer for the attempt: the whole response, or a stream's head (its reads
            # then follow the stream's own deadline, see StreamCore.read_window).
            async with _http.deadline_scope(budget):
                resp = await client.send(req, stream=True)
                if call.stream and resp.status_code < 400:
                    try:
                        head = HTTPResponse(
                            resp.status_code, resp.headers, b"", request.request_id_headers
                        )
                        hooks.response_received(call=call, request=request, response=head)
                    except BaseException:
                        await resp.aclose()
                        raise
                    core = StreamCore(
                        hooks,
                        call,
                        prompt,
                        request,
                        head,
                        started,
                        budget=budget,
                        deadline=deadline,
                        max_event_bytes=limit,
                    )
                    return AsyncCompletionStream(core, resp)
                # At most max_response_bytes, counted as it arrives; the response is closed.
                response = await _http.aread_response(resp, limit, call)
                response.request_id_headers = request.request_id_headers
        except httpx.HTTPError as exc:
            raise _http.transport_error(
                exc, call, budget=budget, deadline=deadline, what=what
            ) from exc
        except TimeoutError:
            if budget is None:
                raise
            raise _http.deadline_error(call, budget, what) from None
        return self._finish(hooks, call, prompt, request, response, started)
