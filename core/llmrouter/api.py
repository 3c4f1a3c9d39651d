"""The module-level functions: ``llmrouter.completion(...)`` and friends.

They delegate to a lazily created default :class:`~llmrouter.client.Router` (one per process) or
:class:`~llmrouter.client.AsyncRouter` (one per running event loop, because an httpx
AsyncClient is bound to the loop that created it). Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from llmrouter.client import AsyncRouter, Router
from llmrouter.types import EmbeddingResponse, ModelInfo

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


def get_default_router() -> Router:
    global _router
    router = _router
    if router is None:
        with _lock:
            if _router is None:
                _router = Router()
            router = _router
    return router


def get_default_async_router() -> AsyncRouter:
    loop = asyncio.get_running_loop()
    router = _async_routers.get(loop)
    if router is None:
        router = _async_routers[loop] = AsyncRouter()
    return router


def reset_default_routers() -> None:
    """Drop the default routers (closing the sync one); the next call creates fresh ones.

    For tests and for applications that change configuration at run time.
    """
    global _router
    with _lock:
        if _router is not None:
            _router.close()
        _router = None
        _async_routers.clear()


def completion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    **params: Any,
) -> Any:
    """Send a chat completion to ``model`` (``"provider/provider_model"``).

    Returns a :class:`~llmrouter.types.ModelResponse`; with ``stream=True`` an iterator of
    :class:`~llmrouter.types.ModelResponseStream` chunks. ``params`` are the provider's options
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


async def acompletion(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    **params: Any,
) -> Any:
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
    input: str | list[str],
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    **params: Any,
) -> EmbeddingResponse:
    """Embeddings for ``input`` from ``model`` (``"provider/provider_model"``)."""
    return get_default_router().embedding(
        model, input, api_base=api_base, api_key=api_key, timeout=timeout, **params
    )


async def aembedding(
    model: str,
    input: str | list[str],
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
