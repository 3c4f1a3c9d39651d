"""A response cache for llmrouter: identical requests are answered without being sent.

    import llmrouter
    from llmrouter.cache import enable_cache

    cache = enable_cache()                      # memory; or "sqlite", path=...; "redis", url=...
    llmrouter.completion(model=..., messages=...)                      # sent, stored
    llmrouter.completion(model=..., messages=...)                      # answered from the cache
    llmrouter.completion(model=..., messages=..., cache={"no-cache": True})  # sent again

It is an ordinary plugin on the public hooks ``llmrouter_cache_lookup``/``_store``
(:mod:`llmrouter.hookspecs`); see docs/caching.md.
"""

from __future__ import annotations

from llmrouter.cache.backends import (
    DEFAULT_MAXSIZE,
    DEFAULT_REDIS_PREFIX,
    DEFAULT_REDIS_URL,
    AsyncCacheBackend,
    CacheBackend,
    MemoryBackend,
    RedisBackend,
    SQLiteBackend,
)
from llmrouter.cache.keys import (
    CACHE_CONTROLS,
    KEY_VERSION,
    cache_key,
    key_document,
    validate_cache_controls,
)
from llmrouter.cache.plugin import (
    PLUGIN_NAME,
    CacheStats,
    ResponseCache,
    disable_cache,
    enable_cache,
    make_backend,
)

__all__ = [
    "CACHE_CONTROLS",
    "DEFAULT_MAXSIZE",
    "DEFAULT_REDIS_PREFIX",
    "DEFAULT_REDIS_URL",
    "KEY_VERSION",
    "PLUGIN_NAME",
    "AsyncCacheBackend",
    "CacheBackend",
    "CacheStats",
    "MemoryBackend",
    "RedisBackend",
    "ResponseCache",
    "SQLiteBackend",
    "cache_key",
    "disable_cache",
    "enable_cache",
    "key_document",
    "make_backend",
    "validate_cache_controls",
]
