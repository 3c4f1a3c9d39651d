"""The response cache: a cross-cutting plugin built only on the public cache hooks.

``llmrouter_cache_lookup`` answers a chat, text-completion or embedding call from the backend
before anything is sent; ``llmrouter_cache_store`` keeps a sent call's successful answer. Both
honour the call's controls (``call.cache``), and neither ever fails a call: a backend error is
counted, logged once per call as ``llmrouter.cache_error`` and the call goes upstream.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from llmrouter.cache.backends import (
    DEFAULT_MAXSIZE,
    DEFAULT_REDIS_URL,
    AsyncCacheBackend,
    CacheBackend,
    MemoryBackend,
    RedisBackend,
    SQLiteBackend,
    _check_ttl,
)
from llmrouter.cache.keys import cache_key
from llmrouter.errors import InvalidRequestError
from llmrouter.hookspecs import hookimpl
from llmrouter.types import EmbeddingResponse, ModelResponse

if TYPE_CHECKING:
    from llmrouter._plugins import PluginHost
    from llmrouter.pipeline import Call, HTTPRequest

__all__ = ["PLUGIN_NAME", "CacheStats", "ResponseCache", "disable_cache", "enable_cache"]

#: The name :func:`enable_cache` registers the cache under.
PLUGIN_NAME: Final = "llmrouter.cache"
#: The version of the stored value's shape.
VALUE_VERSION: Final = 1
_OPERATIONS: Final = {"chat": "chat", "text_completion": "chat", "embedding": "embedding"}
_KINDS: Final[dict[str, type[ModelResponse] | type[EmbeddingResponse]]] = {
    "chat": ModelResponse,
    "embedding": EmbeddingResponse,
}
#: Set in ``call.metadata`` once a cache error of this call was logged (one event per call).
_ERROR_LOGGED: Final = "llmrouter.cache.error_logged"
#: Where the lookup leaves the call's key for the store: (id of the request, namespace, key).
_KEY_MEMO: Final = "llmrouter.cache.key"
_HEX_KEY = re.compile(r"\b[0-9a-f]{64}\b")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of a cache's counters since it was made (or ``reset_stats()``)."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    errors: int = 0


class _Entry(NamedTuple):
    """A stored answer as the memory backend keeps it: the envelope's fields, with the answer's
    pydantic JSON as bytes (immutable: a snapshot the caller's later changes to the answer
    cannot reach, and one the collector need not scan). Building the envelope's bytes and
    parsing them back cost about 4 us of a store and most of a hit's (docs/performance.md);
    ``bytes(entry)`` still gives them, for anyone reading the backend directly."""

    kind: str
    stored_at: float
    response: bytes

    def __bytes__(self) -> bytes:
        return _envelope(self.kind, self.stored_at, self.response)


_new_entry = tuple.__new__


def _envelope(kind: str, stored_at: float, response: bytes) -> bytes:
    """The stored value of a shared backend: pydantic's own JSON of the answer inside an
    envelope written by hand (one serialisation in pydantic-core, not model_dump + json.dumps,
    a third of the store's cost)."""
    head = f'{{"v":{VALUE_VERSION},"kind":"{kind}","stored_at":{stored_at!r},"response":'
    return b"".join((head.encode(), response, b"}"))


def make_backend(
    backend: str | CacheBackend,
    *,
    maxsize: int | None = None,
    path: str | os.PathLike[str] | None = None,
    url: str | None = None,
) -> CacheBackend:
    """The backend ``backend`` names, built from the options that belong to it (an option for
    another backend is an error, so ``path=`` with the memory backend does not go unnoticed)."""
    given = {k: v for k, v in (("maxsize", maxsize), ("path", path), ("url", url)) if v is not None}
    if not isinstance(backend, str):
        if given:
            raise InvalidRequestError(
                f"{', '.join(f'{k}=' for k in given)} only apply when backend is a name "
                "('memory', 'sqlite', 'redis'); configure the backend object instead",
                param=next(iter(given)),
            )
        if not isinstance(backend, CacheBackend):
            raise InvalidRequestError(
                f"backend must be 'memory', 'sqlite', 'redis' or an object with name, get, set, "
                f"clear and close, got {type(backend).__name__}",
                param="backend",
            )
        return backend
    allowed = {"memory": {"maxsize"}, "sqlite": {"path"}, "redis": {"url"}}.get(backend)
    if allowed is None:
        raise InvalidRequestError(
            f"unknown cache backend {backend!r}: use 'memory' (default, this process), "
            "'sqlite' (one file, several processes) or 'redis' (shared server)",
            param="backend",
        )
    extra = sorted(set(given) - allowed)
    if extra:
        raise InvalidRequestError(
            f"{', '.join(f'{k}=' for k in extra)} does not apply to the {backend} backend "
            f"(it takes {', '.join(f'{k}=' for k in sorted(allowed))})",
            param=extra[0],
        )
    if backend == "memory":
        return MemoryBackend(DEFAULT_MAXSIZE if maxsize is None else maxsize)
    if backend == "sqlite":
        if path is None:
            raise InvalidRequestError(
                "the sqlite cache needs path= (the database file, e.g. 'llm-cache.sqlite3')",
                param="path",
            )
        return SQLiteBackend(path)
    return RedisBackend(DEFAULT_REDIS_URL if url is None else url)


def _secrets_of(backend: CacheBackend) -> list[str]:
    secrets = getattr(backend, "_secrets", None)
    return list(secrets()) if callable(secrets) else []


class ResponseCache:
    """Answers repeated calls from ``backend`` (a name or a backend object).

    ``ttl`` is the default lifetime in seconds of a stored answer (``None``: kept until the
    backend evicts it); ``namespace`` separates this cache's entries from others' in a shared
    backend (a call's ``cache={"namespace": ...}`` wins). ``clock`` is wall-clock time, used to
    stamp entries for ``s-maxage``. Register with :func:`enable_cache` or
    ``llmrouter.register_plugin(cache, name=...)``.
    """

    def __init__(
        self,
        backend: str | CacheBackend = "memory",
        *,
        ttl: float | None = None,
        namespace: str | None = None,
        maxsize: int | None = None,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = _check_ttl(ttl)
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise InvalidRequestError(
                f"namespace must be a non-empty string or None, got {namespace!r}",
                param="namespace",
            )
        self.namespace = namespace
        self.backend: CacheBackend = make_backend(backend, maxsize=maxsize, path=path, url=url)
        self._async = isinstance(self.backend, AsyncCacheBackend)
        # In-process: entries are kept as objects (get_object/set_object), not envelopes.
        self._memory: MemoryBackend | None = (
            self.backend if isinstance(self.backend, MemoryBackend) else None
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._hits = self._misses = self._stores = self._errors = 0

    # --- stats ----------------------------------------------------------------------------

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._stores, self._errors)

    def reset_stats(self) -> None:
        with self._lock:
            self._hits = self._misses = self._stores = self._errors = 0

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    # --- the hooks ------------------------------------------------------------------------

    @hookimpl
    def llmrouter_cache_lookup(
        self, call: Call, request: HTTPRequest, asynchronous: bool
    ) -> ModelResponse | EmbeddingResponse | Awaitable[Any] | None:
        kind = _OPERATIONS.get(call.operation)
        controls = call.cache or {}
        if kind is None or controls.get("no-cache"):
            return None
        try:
            key = self._key(call, request, controls)
            memory = self._memory
            if memory is not None:
                value = memory.get_object(key)
                if value is None:
                    with self._lock:
                        self._misses += 1
                    return None
                if type(value) is _Entry:
                    return self._entry_answer(value, kind, controls)
                return self._answer(call, value, kind, controls)  # type: ignore[arg-type]
            if asynchronous and self._async:
                return self._alookup(call, key, kind, controls)
            raw = self.backend.get(key)
            return self._answer(call, raw, kind, controls)
        except Exception as exc:
            self._failed(call, "lookup", exc)
            return None

    async def _alookup(
        self, call: Call, key: str, kind: str, controls: dict[str, Any]
    ) -> ModelResponse | EmbeddingResponse | None:
        try:
            raw = await self.backend.aget(key)  # type: ignore[attr-defined]
            return self._answer(call, raw, kind, controls)
        except Exception as exc:
            self._failed(call, "lookup", exc)
            return None

    @hookimpl
    def llmrouter_cache_store(
        self,
        call: Call,
        request: HTTPRequest,
        response: ModelResponse | EmbeddingResponse,
        asynchronous: bool,
    ) -> Awaitable[None] | None:
        kind = _OPERATIONS.get(call.operation)
        controls = call.cache or {}
        if kind is None or controls.get("no-store") or not isinstance(response, _KINDS[kind]):
            return None
        try:
            key = self._key(call, request, controls)
            stored_at = float(self._clock())
            # As bytes: model_dump_json's text would only be encoded again.
            answer = response.__pydantic_serializer__.to_json(response)
            ttl = controls.get("ttl", self.ttl)
            memory = self._memory
            if memory is not None:
                # tuple.__new__: the NamedTuple's own __new__ is a Python function.
                memory.set_object(key, _new_entry(_Entry, (kind, stored_at, answer)), ttl)
                with self._lock:
                    self._stores += 1
                return None
            value = _envelope(kind, stored_at, answer)
            if asynchronous and self._async:
                return self._astore(call, key, value, ttl)
            self.backend.set(key, value, ttl)
            with self._lock:
                self._stores += 1
        except Exception as exc:
            self._failed(call, "store", exc)
        return None

    async def _astore(self, call: Call, key: str, value: bytes, ttl: float | None) -> None:
        try:
            await self.backend.aset(key, value, ttl)  # type: ignore[attr-defined]
            self._count("_stores")
        except Exception as exc:
            self._failed(call, "store", exc)

    # --- helpers --------------------------------------------------------------------------

    def _key(self, call: Call, request: HTTPRequest, controls: dict[str, Any]) -> str:
        """The call's key, computed once per attempt: the lookup leaves it in the call's
        metadata (with the request it was made from) for the store."""
        metadata = call.metadata
        memo = metadata.get(_KEY_MEMO)
        namespace = controls.get("namespace", self.namespace)
        if memo is not None and memo[0] == id(request) and memo[1] == namespace:
            return memo[2]  # type: ignore[no-any-return]
        key = cache_key(call, request, namespace)
        metadata[_KEY_MEMO] = (id(request), namespace, key)
        return key

    def _answer(
        self, call: Call, raw: bytes | None, kind: str, controls: dict[str, Any]
    ) -> ModelResponse | EmbeddingResponse | None:
        if raw is None:
            with self._lock:
                self._misses += 1
            return None
        entry = json.loads(raw)
        if not isinstance(entry, dict) or entry.get("v") != VALUE_VERSION:
            raise ValueError("cached value is not an llmrouter cache entry of this version")
        if entry.get("kind") != kind:
            raise ValueError(f"cached value is a {entry.get('kind')!r} answer, not a {kind!r}")
        max_age = controls.get("s-maxage")
        if max_age is not None:
            stored_at = entry.get("stored_at")
            if isinstance(stored_at, bool) or not isinstance(stored_at, (int, float)):
                raise ValueError("cached value has no valid stored_at time")
            if self._clock() - stored_at > max_age:
                self._count("_misses")
                return None
        answer = _KINDS[kind].model_validate(entry["response"])
        self._count("_hits")
        return answer

    def _entry_answer(
        self, entry: _Entry, kind: str, controls: dict[str, Any]
    ) -> ModelResponse | EmbeddingResponse | None:
        """A hit of the memory backend: :meth:`_answer` without the envelope to parse."""
        if entry.kind != kind:
            raise ValueError(f"cached value is a {entry.kind!r} answer, not a {kind!r}")
        max_age = controls.get("s-maxage")
        if max_age is not None and self._clock() - entry.stored_at > max_age:
            self._count("_misses")
            return None
        answer = _KINDS[kind].model_validate_json(entry.response)
        self._count("_hits")
        return answer

    def _failed(self, call: Call, stage: str, exc: Exception) -> None:
        """Count the error, and log it unless this call already logged one."""
        self._count("_errors")
        metadata = call.metadata
        if metadata.get(_ERROR_LOGGED):
            return
        metadata[_ERROR_LOGGED] = True
        message = _HEX_KEY.sub("<key>", str(exc))
        for secret in _secrets_of(self.backend):
            message = message.replace(secret, "<redacted>")
        from llmrouter.logs import get_logger

        get_logger().warning(
            "llmrouter.cache_error",
            backend=getattr(self.backend, "name", type(self.backend).__name__),
            step=stage,
            error_type=type(exc).__name__,
            error=message[:300],
            provider=call.provider,
            model=call.model,
        )

    # --- lifecycle ------------------------------------------------------------------------

    def clear(self) -> None:
        """Drop every stored answer (of every namespace) from the backend."""
        self.backend.clear()

    def close(self) -> None:
        """Release the backend's connections; the cache reconnects if used again."""
        self.backend.close()

    async def aclose(self) -> None:
        """``close()`` for an AsyncRouter: also closes this event loop's Redis client."""
        aclose = getattr(self.backend, "aclose", None)
        if aclose is not None:
            await aclose()
        else:
            self.backend.close()

    def __repr__(self) -> str:
        return f"ResponseCache({self.backend!r}, ttl={self.ttl}, namespace={self.namespace!r})"


def _host(host: PluginHost | None) -> PluginHost:
    if host is None:
        from llmrouter._plugins import default_host

        return default_host()
    return host


def enable_cache(
    backend: str | CacheBackend = "memory",
    *,
    ttl: float | None = None,
    maxsize: int | None = None,
    path: str | os.PathLike[str] | None = None,
    url: str | None = None,
    namespace: str | None = None,
    host: PluginHost | None = None,
) -> ResponseCache:
    """Cache every Router's answers (or those of the Routers using ``host``).

    Registers a :class:`ResponseCache` as plugin ``"llmrouter.cache"``, replacing (and closing)
    one registered before, and returns it. ``backend``: ``"memory"`` (``maxsize=`` entries,
    default 1024), ``"sqlite"`` (``path=``), ``"redis"`` (``url=``, default
    ``redis://127.0.0.1:6379/0``) or a backend object. ``ttl``: default lifetime in seconds
    (``None``: until evicted).
    """
    cache = ResponseCache(
        backend, ttl=ttl, namespace=namespace, maxsize=maxsize, path=path, url=url
    )
    plugin_host = _host(host)
    with plugin_host._lock:
        old = plugin_host.pm.get_plugin(PLUGIN_NAME)
        if old is not None:
            plugin_host.unregister_plugin(name=PLUGIN_NAME)
        plugin_host.register_plugin(cache, name=PLUGIN_NAME)
    if isinstance(old, ResponseCache) and old is not cache:
        old.close()
    return cache


def disable_cache(host: PluginHost | None = None) -> ResponseCache | None:
    """Unregister the cache :func:`enable_cache` registered, close it and return it (``None``
    when there was none). Stored answers stay in the backend for a later ``enable_cache``."""
    plugin_host = _host(host)
    with plugin_host._lock:
        old = plugin_host.pm.get_plugin(PLUGIN_NAME)
        if old is None:
            return None
        plugin_host.unregister_plugin(name=PLUGIN_NAME)
    if isinstance(old, ResponseCache):
        old.close()
        return old
    return None
