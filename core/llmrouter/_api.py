"""The module-level functions: ``llmrouter.completion(...)`` and friends.

They delegate to a lazily created default :class:`~llmrouter._client.Router` (one per process) or
:class:`~llmrouter._client.AsyncRouter` (one per running event loop, because an httpx
AsyncClient is bound to the loop that created it). Nothing is created at import time.

When the first default router is created, the routing config is looked up: the file named by
``$LLMROUTER_CONFIG``, else ``./llmrouter.toml`` if it exists. The default routers then share one
routing table, so deployment health (cooldowns, latency) is shared by sync and async calls.
:func:`reset_default_routers` forgets it, so the next call reads the file again.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import TYPE_CHECKING, Any, Literal, overload

from llmrouter._client import AsyncRouter, Router
from llmrouter._configfile import config_file
from llmrouter._streaming import AsyncCompletionStream, CompletionStream
from llmrouter.types import EmbeddingResponse, ModelInfo, ModelResponse

if TYPE_CHECKING:
    from llmrouter._routing import Routing

__all__ = [
    "acompletion",
    "aembedding",
    "alist_models",
    "completion",
    "embedding",
    "get_default_async_router",
    "get_default_router",
    "list_models",
    "reset_default_routers",
]

_lock = threading.Lock()
_router: Router | None = None
_async_routers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRouter] = (
    weakref.WeakKeyDictionary()
)
_config_lock = threading.Lock()
_routing: Routing | None = None
_routing_loaded = False


def _default_routing() -> Routing | None:
    """The routing table of the default routers, loaded once (ConfigError when it is invalid)."""
    global _routing, _routing_loaded
    if _routing_loaded:
        return _routing
    with _config_lock:
        if not _routing_loaded:
            path = config_file()
            if path is not None:
                # Only now: a process without a config never imports the config machinery.
                from llmrouter._routing import Routing
                from llmrouter.config import load_config_file

                _routing = Routing(load_config_file(path))
            _routing_loaded = True
        return _routing


def get_default_router() -> Router:
    global _router
    router = _router
    if router is None:
        routing = _default_routing()
        with _lock:
            if _router is None:
                _router = Router(config=routing)
            router = _router
    return router


def get_default_async_router() -> AsyncRouter:
    loop = asyncio.get_running_loop()
    router = _async_routers.get(loop)
    if router is None:
        router = _async_routers[loop] = AsyncRouter(config=_default_routing())
    return router


def reset_default_routers() -> None:
    """Drop the default routers (closing the sync one); the next call creates fresh ones.

    For tests and for applications that change configuration at run time.
    """
    global _router, _routing, _routing_loaded
    with _lock:
        if _router is not None:
            _router.close()
        _router = None
        _async_routers.clear()
    with _config_lock:
        _routing = None
        _routing_loaded = False


@overload
def completion(
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
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    **params: Any,
) -> ModelResponse | CompletionStream:
    """Send a chat completion to ``model`` (``"provider/provider_model"``).

    Returns a :class:`~llmrouter.types.ModelResponse`; with ``stream=True`` an iterator of
    :class:`~llmrouter.types.ModelResponseStream` chunks (a
    :class:`~llmrouter._streaming.CompletionStream`). The overloads tell a type checker which. ``params`` are the provider's options
    (``max_tokens``, ``temperature``, ...); unknown ones raise before any request, so send
    provider-specific extras with ``extra_body={...}``.
    """
    return get_default_router().completion(
        model,
        messages,
        stream=stream,
        api_base=api_base,
        api_key=api_key,
        timeout=timeout,
        **params,
    )


@overload
async def acompletion(
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
async def acompletion(
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
async def acompletion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    **params: Any,
) -> ModelResponse | AsyncCompletionStream: ...


async def acompletion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    **params: Any,
) -> ModelResponse | AsyncCompletionStream:
    """Async :func:`completion`; with ``stream=True`` returns an async iterator of chunks."""
    return await get_default_async_router().completion(
        model,
        messages,
        stream=stream,
        api_base=api_base,
        api_key=api_key,
        timeout=timeout,
        **params,
    )


def embedding(
    model: str,
    input: str | list[str] | list[int] | list[list[int]],
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    **params: Any,
) -> EmbeddingResponse:
    """Embeddings for ``input`` from ``model`` (``"provider/provider_model"``): a string, a list
    of strings, or token ids (a list of ints, or a list of such lists) for providers that take
    them (``openai``, ``openai_compatible``); the others refuse token ids before sending."""
    return get_default_router().embedding(
        model, input, api_base=api_base, api_key=api_key, timeout=timeout, **params
    )


async def aembedding(
    model: str,
    input: str | list[str] | list[int] | list[list[int]],
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    **params: Any,
) -> EmbeddingResponse:
    return await get_default_async_router().embedding(
        model, input, api_base=api_base, api_key=api_key, timeout=timeout, **params
    )


def list_models(
    provider: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
) -> list[ModelInfo]:
    """The models ``provider`` serves (e.g. ``list_models("together_ai")``)."""
    return get_default_router().list_models(
        provider, api_base=api_base, api_key=api_key, timeout=timeout
    )


async def alist_models(
    provider: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
) -> list[ModelInfo]:
    return await get_default_async_router().list_models(
        provider, api_base=api_base, api_key=api_key, timeout=timeout
    )
