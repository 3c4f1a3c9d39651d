"""Everything llmrouter knows about httpx lives here, so the engine stays swappable.

The core builds one :class:`httpx.Client` / :class:`httpx.AsyncClient` per Router and reuses it
(connection pooling). Any httpx-compatible client can be passed in instead, e.g. one with the
aiohttp-backed transport of the ``httpx-aiohttp`` package (``pip install llmrouter[aiohttp]``),
which is much faster under high async concurrency; see :func:`aiohttp_async_client`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from llmrouter.errors import APIConnectionError, APITimeoutError
from llmrouter.pipeline import Call, HTTPRequest, HTTPResponse

__all__ = [
    "DEFAULT_TIMEOUT",
    "aiohttp_async_client",
    "build_httpx_request",
    "make_async_client",
    "make_sync_client",
    "to_http_response",
    "transport_error",
]

#: 10 s to connect, 600 s for everything else (a long generation can take minutes). Streams use
#: the read timeout as the idle limit between two chunks.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
DEFAULT_LIMITS = httpx.Limits(
    max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30.0
)

_HEADERS = {"user-agent": "llmrouter/0.1", "accept": "application/json"}


def to_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(float(timeout), connect=min(float(timeout), 10.0))


def make_sync_client(timeout: float | httpx.Timeout | None = None) -> httpx.Client:
    return httpx.Client(timeout=to_timeout(timeout), limits=DEFAULT_LIMITS, headers=_HEADERS)


def make_async_client(timeout: float | httpx.Timeout | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=to_timeout(timeout), limits=DEFAULT_LIMITS, headers=_HEADERS)


def aiohttp_async_client(timeout: float | httpx.Timeout | None = None) -> httpx.AsyncClient:
    """An httpx AsyncClient whose transport is aiohttp (needs ``llmrouter[aiohttp]``)."""
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ImportError(
            "the aiohttp engine needs the optional extra: pip install 'llmrouter[aiohttp]'"
        ) from exc
    return httpx.AsyncClient(
        timeout=to_timeout(timeout),
        limits=DEFAULT_LIMITS,
        headers=_HEADERS,
        transport=AiohttpTransport(),
    )


def encode_json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_httpx_request(
    client: httpx.Client | httpx.AsyncClient, request: HTTPRequest, call: Call
) -> httpx.Request:
    headers = request.headers
    content: bytes | None = None
    if request.json is not None:
        content = encode_json(request.json)
        headers = {"content-type": "application/json", **headers}
    timeout = to_timeout(call.timeout) if call.timeout is not None else None
    extensions = {"timeout": timeout.as_dict()} if timeout is not None else None
    req = client.build_request(request.method, request.url, headers=headers, content=content)
    if extensions:
        req.extensions.update(extensions)
    return req


def to_http_response(response: httpx.Response) -> HTTPResponse:
    return HTTPResponse(response.status_code, response.headers, response.content)


def transport_error(exc: Exception, call: Call) -> APIConnectionError:
    """Map an httpx transport exception to our tree; the message names the failure, not the key."""
    where = f"{call.provider} ({call.route})"
    if isinstance(exc, httpx.TimeoutException):
        kind = type(exc).__name__
        return APITimeoutError(
            f"request to {where} timed out ({kind}); raise timeout= or check the provider's status",
            provider=call.provider,
            model=call.model,
        )
    detail = str(exc) or type(exc).__name__
    return APIConnectionError(
        f"connection to {where} failed: {type(exc).__name__}: {detail}",
        provider=call.provider,
        model=call.model,
    )
