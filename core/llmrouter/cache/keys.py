"""Cache keys and per-call cache controls.

A key is the sha256 of a canonical JSON document describing *what would be asked*, never *who
asks*: the operation, provider, model, HTTP method, the endpoint's origin (scheme, host, port)
and the JSON body, plus the namespace. Headers are left out (they hold the API key, and
``extra_headers`` such as tracing ids would defeat the cache); so is the URL's path and query
(Gemini names the streaming method in the path, ``:streamGenerateContent?alt=sse``) and so are
the body's ``stream`` and ``stream_options``: a streamed and a non-streamed call of the same
request share one entry, and a cached answer can be replayed as chunks.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from llmrouter.errors import InvalidRequestError

if TYPE_CHECKING:
    from llmrouter.pipeline import Call, HTTPRequest

__all__ = [
    "CACHE_CONTROLS",
    "KEY_VERSION",
    "STREAM_ONLY_FIELDS",
    "cache_key",
    "key_document",
    "validate_cache_controls",
]

#: Part of every key: bump it when the key's recipe or the stored value's shape changes, and
#: older entries simply stop matching.
KEY_VERSION: Final = "llmrouter-cache/1"

#: Top-level body fields that only say *how* the answer is delivered, not what it is.
STREAM_ONLY_FIELDS: Final = frozenset({"stream", "stream_options"})

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=256)
def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, lower-cased, with the default port made explicit.
    Never the user name or password a URL may carry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port is not None else _DEFAULT_PORTS.get(scheme)
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"


def _body(body: Any) -> Any:
    if type(body) is dict or isinstance(body, Mapping):
        if "stream" not in body and "stream_options" not in body:
            return body
        return {k: v for k, v in body.items() if k not in STREAM_ONLY_FIELDS}
    return body


def key_document(call: Call, request: HTTPRequest, namespace: str | None = None) -> dict[str, Any]:
    """What a key is the hash of (useful to see why two calls do or do not share an entry)."""
    return {
        "v": KEY_VERSION,
        "namespace": namespace,
        "operation": call.operation,
        "provider": call.provider,
        "model": call.model,
        "method": request.method.upper(),
        "origin": _origin(request.url),
        "body": _body(request.json),
    }


#: One encoder for every key (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _sorted_c_encoder() -> Callable[[Any, int], Any]:
    """``_ENCODER.encode`` without its Python layers: CPython's C encoder, built once.

    ``JSONEncoder.encode`` builds a new C encoder and a circular-reference dict on every call;
    inside a call (cold caches) that was half the key's cost (docs/performance.md). The C encoder
    is also what ``json.dumps`` uses, so the text is the same to the byte. Without the dict, a
    circular body ends in ``RecursionError`` (reported like json's ``ValueError``: as a cache
    error, after which the core refuses the body itself). Called as ``encoder(value, 0)``, it
    returns the text's pieces."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - only interpreters without the _json accelerator
        return lambda value, _level: (_ENCODER.encode(value),)
    # markers, default, string encoder, indent, separators, sort_keys, skipkeys, allow_nan
    encoder: Callable[[Any, int], Any] = make(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    return encoder


_ENCODE_SORTED: Final = _sorted_c_encoder()


def _builtin_sha256() -> Callable[[bytes], Any]:
    """CPython's own SHA-256 rather than OpenSSL's: the same digest, but ``hashlib.sha256``
    on OpenSSL 3 fetches the algorithm anew on every call (Python before 3.12), which took 7 to
    8 us of a call against under 3 us for the built-in module (docs/performance.md)."""
    for name in ("_sha2", "_sha256"):  # 3.12+, then 3.10-3.11
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        constructor = getattr(module, "sha256", None)
        if constructor is not None and constructor(b"").hexdigest() == _EMPTY_SHA256:
            return constructor  # type: ignore[no-any-return]
    return hashlib.sha256  # pragma: no cover - an interpreter built without the module


_EMPTY_SHA256: Final = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_sha256 = _builtin_sha256()


def cache_key(call: Call, request: HTTPRequest, namespace: str | None = None) -> str:
    """The key of ``call`` as sent in ``request``: 64 hex digits, the sha256 of the canonical
    JSON of :func:`key_document`.

    The document's fixed part (everything but the body) is encoded once per route and kept
    (:func:`_head`); only the body is encoded per call. The text hashed is exactly the
    canonical JSON of the whole document: ``"body"`` sorts first among its keys."""
    head = _head(namespace, call.operation, call.provider, call.model, request.method, request.url)
    body = request.json
    if type(body) is not dict or "stream" in body or "stream_options" in body:
        body = _body(body)
    text = "".join(_ENCODE_SORTED(body, 0))
    return _sha256(f'{{"body":{text},{head}'.encode()).hexdigest()  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1024)
def _head(
    namespace: str | None, operation: str, provider: str, model: str, method: str, url: str
) -> str:
    """The canonical JSON of the document without its body, minus the opening brace. Keyed by
    the whole URL (a route has one or two), so the origin is parsed once per URL, not per call."""
    fixed = {
        "v": KEY_VERSION,
        "namespace": namespace,
        "operation": operation,
        "provider": provider,
        "model": model,
        "method": method.upper(),
        "origin": _origin(url),
    }
    return _ENCODER.encode(fixed)[1:]


# --- per-call controls ------------------------------------------------------------------------

#: The keys ``cache=`` accepts, and what each does.
CACHE_CONTROLS: Final = {
    "no-cache": "bool: do not answer from the cache (the answer is still stored)",
    "no-store": "bool: do not store this call's answer",
    "ttl": "seconds > 0: how long this call's answer is kept",
    "s-maxage": "seconds >= 0: accept only a cached answer at most this old",
    "namespace": "non-empty str: a separate cache (per tenant, per user...)",
}


def _bad(message: str, key: str | None = None) -> InvalidRequestError:
    valid = ", ".join(f"{name!r} ({meaning})" for name, meaning in CACHE_CONTROLS.items())
    where = "cache" if key is None else f"cache[{key!r}]"
    return InvalidRequestError(f"{where}: {message}. Valid cache controls: {valid}", param="cache")


def _seconds(key: str, value: Any, *, zero_ok: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise _bad(f"must be a number of seconds, got {value!r}", key)
    if math.isinf(value) or value < 0 or (value == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise _bad(f"must be a finite number of seconds {bound}, got {value!r}", key)
    return value


def validate_cache_controls(value: Any) -> dict[str, Any]:
    """Check a call's ``cache=`` argument and return it as a new dict (``{}`` for ``None``).

    Raises :class:`~llmrouter.errors.InvalidRequestError` naming the bad key or value and
    listing the valid controls, so a typo (``no_cache``) is an error, not a silent cache hit.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(f"must be a dict such as {{'no-cache': True}}, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in CACHE_CONTROLS:
            hint = ""
            if isinstance(key, str):
                close = difflib.get_close_matches(key.replace("_", "-").lower(), CACHE_CONTROLS)
                if close:
                    hint = f" (did you mean {close[0]!r}?)"
            raise _bad(f"unknown cache control {key!r}{hint}")
        if key in ("no-cache", "no-store"):
            if not isinstance(item, bool):
                raise _bad(f"must be True or False, got {item!r}", key)
        elif key == "ttl":
            item = _seconds(key, item, zero_ok=False)
        elif key == "s-maxage":
            item = _seconds(key, item, zero_ok=True)
        elif not isinstance(item, str) or not item:
            raise _bad(f"must be a non-empty string, got {item!r}", key)
        out[key] = item
    return out
