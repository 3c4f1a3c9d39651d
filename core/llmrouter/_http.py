"""Sending requests and reading responses: the engine code (httpx, aiohttp) lives here.

Building the HTTP request, sending it, enforcing deadlines and size limits, and turning the
engine's exceptions into llmrouter's errors happen here, so the engine stays swappable. Other
modules name httpx only at their edges: ``client.py`` accepts ``httpx.Client`` /
``httpx.AsyncClient`` and ``httpx.Timeout`` and catches ``httpx.HTTPError`` around a send,
``streaming.py`` reads an ``httpx.Response`` (catching ``httpx.HTTPError`` around each read),
and ``pool.py`` subclasses httpcore's pool and installs it under an httpx transport.

The core builds one :class:`httpx.Client` / :class:`httpx.AsyncClient` per Router and reuses it
(connection pooling). Any httpx-compatible client can be passed in instead.

Async engines (``AsyncRouter(engine=...)``):

``"httpx"`` (default)
    httpx with llmrouter's own pool: httpx's AsyncClient, whose default transport gets
    llmrouter's constant-time connection pool (:mod:`llmrouter._pool`): the same connections,
    limits and errors, without httpcore's per-request scan of the whole pool, which dominates
    under concurrency.
``"httpx-stock"``
    plain httpx: httpx's AsyncClient exactly as httpx builds it (httpcore's own pool).
``"aiohttp"`` (``pip install 'llmrouter[aiohttp]'``)
    :class:`AiohttpAsyncClient`: still an ``httpx.AsyncClient`` (so ``router.http_client`` keeps
    httpx's API, through the ``httpx-aiohttp`` transport), over ONE aiohttp session that
    llmrouter's own non-streaming calls use directly (:meth:`AiohttpAsyncClient.send_call`),
    skipping httpx's request/response machinery. Several times faster under concurrency; see
    docs/performance.md.
``"native"`` (same extra)
    :class:`NativeAsyncClient`: the aiohttp engine, except that llmrouter's own non-streamed
    calls go through :mod:`llmrouter._http1`, a small asyncio HTTP/1.1 client over httptools
    that costs about a third of aiohttp's per-request CPU (docs/performance.md, "The gateway").
    Streams and the httpx API stay on the aiohttp session. The gateway's engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from llmrouter import __version__
from llmrouter.errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidRequestError,
    ResponseTooLargeError,
)
from llmrouter.pipeline import (
    DEFAULT_REQUEST_ID_HEADERS,
    Call,
    HTTPRequest,
    HTTPResponse,
    ResponseHeaders,
    request_id_of,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEADLINE",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "ENGINES",
    "AiohttpAsyncClient",
    "NativeAsyncClient",
    "ResponseHeaders",
    "aiohttp_async_client",
    "aread_response",
    "budget_of",
    "build_httpx_request",
    "check_engine",
    "check_max_response_bytes",
    "deadline_error",
    "deadline_scope",
    "direct_client",
    "encode_json",
    "install_deadlines",
    "make_async_client",
    "make_sync_client",
    "read_response",
    "to_http_response",
    "too_large",
    "transport_error",
]

#: 10 s to connect, 600 s for everything else (a long generation can take minutes). The read
#: timeout is also the attempt's deadline (see :func:`budget_of`): the whole response of a
#: non-streamed call, a stream's first event, then the longest gap between two events.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
#: The default ``max_response_bytes``: the largest body, or single stream event, a router reads
#: (128 MiB: far above any chat answer, far below what would exhaust a machine's memory).
DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 * 1024
DEFAULT_LIMITS = httpx.Limits(
    max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30.0
)

#: Async engines: ``httpx`` (httpx with llmrouter's connection pool), ``httpx-stock`` (httpx
#: untouched), ``aiohttp`` (httpx's API over an aiohttp session, from the optional
#: ``httpx-aiohttp`` package: ``pip install 'llmrouter[aiohttp]'``) or ``native`` (the aiohttp
#: engine with llmrouter's own HTTP/1.1 client for non-streamed calls; same extra).
ENGINES = ("httpx", "httpx-stock", "aiohttp", "native")
#: Sync engines: ``httpx`` (httpx's own transport) or ``native`` (httpx with llmrouter's
#: HTTP/1.1 transport, :mod:`llmrouter._native`, which reads with ``httptools``:
#: ``pip install 'llmrouter[native]'``).
SYNC_ENGINES = ("httpx", "native")

#: Sent on every request (a caller's ``extra_headers`` may override them). The version is
#: ``llmrouter.__version__``, the one version source (pyproject reads it too).
_HEADERS = {"user-agent": f"llmrouter/{__version__}", "accept": "application/json"}


def to_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(float(timeout), connect=min(float(timeout), 10.0))


class _Cookies(httpx.Cookies):
    """httpx's cookie store, minus the work of reading an answer that sets no cookie.

    For every response httpx builds urllib stand-ins for the request and the response (the
    latter parses the headers into an ``email.message.Message``) and hands them to the standard
    library's jar, which then finds no ``Set-Cookie`` header and does nothing. That was 43 us of
    a 340 us non-streamed call, 12% (docs/performance.md). Without either header this does
    nothing at once; with one, exactly what httpx does (header names compared as httpx compares
    them, ASCII case-insensitively). A store assigned later through the public
    ``client.cookies = ...`` is httpx's own again (correct, only slower)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


def quiet_cookies(client: httpx.Client | httpx.AsyncClient) -> None:
    """Give a client llmrouter builds the cookie store above, keeping any cookies it holds.
    ``_cookies`` is httpx's private attribute behind ``client.cookies`` (whose setter would
    wrap the store in a plain ``httpx.Cookies``); httpx is pinned below 1.0 and CI's
    newest-releases step runs tests/test_response_cookies.py, which checks both paths."""
    client._cookies = _Cookies(client._cookies.jar)  # the same jar, its policy and lock


def make_sync_client(
    timeout: float | httpx.Timeout | None = None, engine: str | None = None
) -> httpx.Client:
    """The Client a Router owns, for ``engine`` (see :data:`SYNC_ENGINES`)."""
    if check_engine(engine, SYNC_ENGINES) == "native":
        native = _extra("llmrouter._native", "native", extra="native")
        client: httpx.Client = native.make_native_client(to_timeout(timeout), _HEADERS)
    else:
        client = httpx.Client(timeout=to_timeout(timeout), limits=DEFAULT_LIMITS, headers=_HEADERS)
        install_deadlines(client)
    quiet_cookies(client)
    return client


def check_engine(engine: str | None, engines: tuple[str, ...] = ENGINES) -> str:
    """``None`` or a known engine name -> the engine name; anything else is a ValueError."""
    if engine is None:
        return "httpx"
    if engine not in engines:
        raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(engines)}")
    return engine


def make_async_client(
    timeout: float | httpx.Timeout | None = None, engine: str | None = None
) -> httpx.AsyncClient:
    """The AsyncClient an AsyncRouter owns, for ``engine`` (see :data:`ENGINES`)."""
    engine = check_engine(engine)
    client: httpx.AsyncClient
    if engine == "aiohttp":
        client = aiohttp_async_client(timeout)
    elif engine == "native":
        client = NativeAsyncClient(timeout=to_timeout(timeout))
    else:
        client = httpx.AsyncClient(
            timeout=to_timeout(timeout), limits=DEFAULT_LIMITS, headers=_HEADERS
        )
        if engine == "httpx":
            from llmrouter import _pool as pool

            pool.install(client)
    quiet_cookies(client)
    return client


def aiohttp_async_client(timeout: float | httpx.Timeout | None = None) -> AiohttpAsyncClient:
    """An httpx AsyncClient whose transport is aiohttp (needs ``llmrouter[aiohttp]``).

    ``AsyncRouter(engine="aiohttp")`` builds one of these; pass it as
    ``AsyncRouter(http_client=aiohttp_async_client(...))`` to share it or set its timeout.
    """
    return AiohttpAsyncClient(timeout=to_timeout(timeout))


def _extra(module: str, engine: str, extra: str = "aiohttp") -> Any:
    """``module``, which the ``engine`` engine needs from the ``llmrouter[extra]`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ImportError(
            f"the {engine} engine needs the optional extra: pip install 'llmrouter[{extra}]' "
            f"({exc})"
        ) from exc


class AiohttpAsyncClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` over one lazily created aiohttp session (``llmrouter[aiohttp]``).

    Requests made through the httpx API (``send``, ``post``, streams) go through the
    ``httpx-aiohttp`` transport; llmrouter's non-streaming calls take :meth:`send_call`, which
    uses the same session directly. Create and use it inside one event loop, like any
    ``httpx.AsyncClient``; ``aclose()`` closes the session.
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        headers: dict[str, str] | None = None,
    ) -> None:
        AiohttpTransport = _extra("httpx_aiohttp", "aiohttp").AiohttpTransport
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: tuple[httpx.Timeout, Any] | None = None
        #: (a copy of the client's default headers as httpx stores them, {(has body, *request
        #: header names): the defaults a request with those headers keeps}); see
        #: :meth:`_request_headers`.
        self._headers_cache: tuple[list[Any], dict[tuple[Any, ...], dict[str, str]]] | None = None
        super().__init__(
            timeout=timeout,
            headers=_HEADERS if headers is None else headers,
            transport=AiohttpTransport(limits=limits, client=self.session),
        )

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (created on first use, inside the running loop)."""
        session = self._session
        if session is None or session.closed:
            import aiohttp

            limits = self._limits
            connector = aiohttp.TCPConnector(
                limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry or 15.0,
                ssl=httpx.create_ssl_context(),
            )
            session = self._session = aiohttp.ClientSession(connector=connector)
        return session

    async def aclose(self) -> None:
        await super().aclose()
        session = self._session
        if session is not None and not session.closed:
            await session.close()
        self._session = None

    def _client_timeout(self, timeout: httpx.Timeout) -> Any:
        cached = self._timeouts
        if cached is not None and (cached[0] is timeout or cached[0] == timeout):
            return cached[1]
        import aiohttp

        # The mapping httpx-aiohttp uses (pool -> connect, waiting for a connection included),
        # except that the read timeout is the deadline of the whole request (aiohttp's
        # ``total``: connect, send and read the body; one timer per request), as on every
        # engine (see budget_of). A per-read limit would be redundant under it.
        value = aiohttp.ClientTimeout(
            total=timeout.read,
            connect=timeout.pool,
            sock_connect=timeout.connect,
            sock_read=None,
        )
        self._timeouts = (timeout, value)
        return value

    def _request_headers(self, own: dict[str, str], has_body: bool) -> dict[str, str]:
        """The headers httpx would send: the client's defaults, ``content-type`` for a JSON
        body, then the request's own, which replace defaults of the same name.

        The defaults a request keeps depend only on the names of its own headers, so they are
        computed once per set of names. ``client.headers`` is mutable: its raw list is compared
        on every call (much cheaper than decoding it) and a change starts a new cache.
        """
        # httpx keeps a Headers object's items in ``_list``; comparing it allocates nothing,
        # where ``.raw`` builds a new list of tuples on every call.
        headers = self.headers
        raw = getattr(headers, "_list", None)
        if type(raw) is not list:
            raw = headers.raw
        cached = self._headers_cache
        if cached is None or cached[0] != raw:
            cached = self._headers_cache = (list(raw), {})
        kept_by_names = cached[1]
        names = (has_body, *own)
        kept = kept_by_names.get(names)
        if kept is None:
            defaults = dict(self.headers.items())
            if has_body:
                defaults["content-type"] = "application/json"
            lowered = {name.lower() for name in own}
            kept = {k: v for k, v in defaults.items() if k not in lowered}
            if len(kept_by_names) < 64:
                kept_by_names[names] = kept
        return {**kept, **own} if own else dict(kept)

    # The direct path, in three synchronous pieces so that the router can await aiohttp in its
    # own frame (one coroutine less per call; see docs/performance.md), and as one coroutine,
    # send_call, for everyone else.

    def _prepared(
        self, request: HTTPRequest, call: Call
    ) -> tuple[bytes | None, dict[str, str], httpx.Timeout]:
        """The body, headers and timeout of ``request`` as the direct path sends it."""
        body = None if request.json is None else encode_json(request.json, call)
        headers = self._request_headers(request.headers, body is not None)
        if request.sign is not None:  # a signature over the final body (AWS SigV4)
            headers.update(request.sign(body or b""))
        timeout = to_timeout(call.timeout) if call.timeout is not None else self.timeout
        return body, headers, timeout

    def open_call(self, request: HTTPRequest, call: Call) -> Any:
        """aiohttp's request context manager for ``request``: the same request as
        :func:`build_httpx_request` would build (the client's default headers, replaced by the
        request's own of the same name; the JSON body; the client's or the call's timeout)."""
        body, headers, timeout = self._prepared(request, call)
        return self.session().request(
            request.method,
            request.url,
            data=body,
            headers=headers,
            timeout=self._client_timeout(timeout),
            allow_redirects=False,
        )

    @staticmethod
    def read_response(response: Any, content: bytes) -> HTTPResponse:
        """Our view of an aiohttp response whose body is ``content``."""
        return HTTPResponse(
            response.status, ResponseHeaders.from_raw(response.raw_headers), content
        )

    @staticmethod
    def body_fits(response: Any, limit: int, call: Call) -> bool:
        """Whether the body of aiohttp ``response`` may be read in one go: its Content-Length is
        known, within ``limit``, and is the size of what will be read (no content encoding that
        aiohttp would expand). A Content-Length over the limit fails here, before any of the
        body is read. ``False``: read it with :meth:`read_capped`."""
        names = _AIOHTTP_NAMES or _aiohttp_names()
        headers = response.headers
        text = headers.get(names[0])
        if text is None:
            return False
        length = int(text)  # aiohttp's parser accepts only digits here
        if length > limit:
            response.close()
            raise too_large(
                call,
                response.status,
                ResponseHeaders.from_raw(response.raw_headers),
                limit,
                length,
                announced=True,
            )
        return names[1] not in headers

    @staticmethod
    async def read_capped(response: Any, limit: int, call: Call) -> bytes:
        """The body of aiohttp ``response``, read in pieces and counted; more than ``limit``
        bytes close the connection and raise :class:`ResponseTooLargeError` (memory stays near
        the limit)."""
        parts: list[bytes] = []
        size = 0
        content = response.content
        while True:
            part = await content.readany()
            if not part:
                break
            size += len(part)
            if size > limit:
                response.close()
                raise too_large(
                    call,
                    response.status,
                    ResponseHeaders.from_raw(response.raw_headers),
                    limit,
                    size,
                )
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    @staticmethod
    def transport_error(exc: BaseException) -> httpx.TransportError | None:
        """The httpx exception the router already maps for an aiohttp failure (``None``: not a
        transport failure, let it propagate)."""
        import aiohttp

        if isinstance(exc, asyncio.TimeoutError):
            connecting = isinstance(exc, aiohttp.ConnectionTimeoutError)
            kind = httpx.ConnectTimeout if connecting else httpx.ReadTimeout
            return kind(str(exc) or type(exc).__name__)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return httpx.ConnectError(str(exc))
        if isinstance(exc, aiohttp.ClientPayloadError):
            return httpx.ReadError(str(exc))
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return httpx.RemoteProtocolError(str(exc) or "server disconnected")
        if isinstance(exc, (aiohttp.ClientError, OSError)):
            return httpx.TransportError(str(exc) or type(exc).__name__)
        return None

    async def send_call(
        self, request: HTTPRequest, call: Call, limit: int = DEFAULT_MAX_RESPONSE_BYTES
    ) -> HTTPResponse:
        """Send ``request`` and read the whole answer (at most ``limit`` bytes) over the aiohttp
        session; transport failures are raised as the httpx exceptions the router already maps
        (``httpx.ConnectError``, ``httpx.ReadTimeout``...)."""
        try:
            async with self.open_call(request, call) as response:
                if self.body_fits(response, limit, call):
                    content = await response.read()
                else:
                    content = await self.read_capped(response, limit, call)
                return self.read_response(response, content)
        except Exception as exc:
            mapped = self.transport_error(exc)
            if mapped is None:
                raise
            raise mapped from exc


class NativeAsyncClient(AiohttpAsyncClient):
    """The aiohttp engine whose direct path (llmrouter's own non-streamed calls) is
    :class:`llmrouter._http1.Http1Pool` instead of the aiohttp session (``engine="native"``).

    Same requests on the wire (except ``accept-encoding``, always ``gzip, deflate``: what the
    pool decodes), same limits, timeouts, size limits and errors; streams and anything sent
    through the httpx API (``send``, ``post``...) still use aiohttp. A URL with a user part
    (``https://user:pass@host``), which the pool does not turn into credentials, and a HEAD
    request go through aiohttp as well. The pool and the aiohttp session each apply the
    client's ``limits``: up to ``max_connections`` for non-streamed calls plus as many for
    streams. Cookies a server sets are not sent back on the pool's requests (the aiohttp
    engine's session would keep them).
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        headers: dict[str, str] | None = None,
    ) -> None:
        _http1 = _extra("llmrouter._http1", "native")
        super().__init__(timeout=timeout, limits=limits, headers=headers)
        # Only what the pool decodes is asked for (httpx would add br and zstd when their
        # modules are installed); aiohttp, for streams, decodes these two as well.
        self.headers["accept-encoding"] = "gzip, deflate"
        self._pool = _http1.Http1Pool(limits)
        self._too_large = _http1.TooLarge

    async def aclose(self) -> None:
        await self._pool.aclose()
        await super().aclose()

    @staticmethod
    def transport_error(exc: BaseException) -> httpx.TransportError | None:
        if isinstance(exc, httpx.TransportError):
            return exc
        return AiohttpAsyncClient.transport_error(exc)

    async def send_call(
        self, request: HTTPRequest, call: Call, limit: int = DEFAULT_MAX_RESPONSE_BYTES
    ) -> HTTPResponse:
        """Send ``request`` and read the whole answer (at most ``limit`` bytes); transport
        failures are raised as httpx exceptions, an answer over ``limit`` as
        :class:`ResponseTooLargeError`."""
        url = _url(request.url)
        if url.userinfo or url.scheme not in ("http", "https") or request.method == "HEAD":
            return await super().send_call(request, call, limit)
        body, headers, timeout = self._prepared(request, call)
        try:
            status, raw, content = await self._pool.request(
                request.method, url, headers, body, timeout, limit
            )
        except self._too_large as exc:
            over = exc
        else:
            return HTTPResponse(status, ResponseHeaders.from_raw(raw), content)
        # Raised here, outside the handler, so that the error chains nothing: the pool's
        # exception holds the raw response headers, which may echo a secret.
        raise too_large(
            call,
            over.status,
            ResponseHeaders.from_raw(over.headers),
            limit,
            over.size,
            announced=over.announced,
        )


#: aiohttp's own (``istr``) Content-Length and Content-Encoding names: a lookup with them skips
#: the case folding a ``str`` key costs (set on first use; aiohttp is an optional import).
_AIOHTTP_NAMES: tuple[Any, Any] | None = None


def _aiohttp_names() -> tuple[Any, Any]:
    global _AIOHTTP_NAMES
    from aiohttp import hdrs

    _AIOHTTP_NAMES = (hdrs.CONTENT_LENGTH, hdrs.CONTENT_ENCODING)
    return _AIOHTTP_NAMES


def direct_client(client: httpx.AsyncClient) -> AiohttpAsyncClient | None:
    """``client`` when llmrouter's non-streaming calls may bypass httpx on it (the aiohttp engine
    with no cookies or default query params), else ``None``: use ``build_httpx_request`` +
    ``send``."""
    if isinstance(client, AiohttpAsyncClient) and not client.params and _no_cookies(client):
        return client
    return None


def _no_cookies(client: httpx.AsyncClient) -> bool:
    """``not client.cookies`` without iterating the jar (which takes its lock and walks every
    domain and path: about 1 us per call): an empty ``CookieJar._cookies`` dict means no cookie;
    anything else is decided by ``httpx.Cookies`` itself."""
    cookies = getattr(client.cookies.jar, "_cookies", None)
    if type(cookies) is dict and not cookies:
        return True
    return not client.cookies


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not a JSON type")


#: ``json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)`` without
#: building an encoder and a circular-reference dict per call: CPython's C encoder, built once
#: (it holds no state between calls), which halves the cost of encoding a request body. A
#: circular structure then ends in RecursionError instead of json's ValueError; both are
#: reported as the same InvalidRequestError below.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encode = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
)
_py_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_not_json
).encode


def encode_json(body: Any, call: Call | None = None) -> bytes:
    """``body`` as compact UTF-8 JSON; a body JSON cannot carry (an object of another type, NaN
    or infinity, a circular reference) is an :class:`InvalidRequestError` naming the problem,
    raised before anything is sent."""
    try:
        if _c_encode is not None:
            return "".join(_c_encode(body, 0)).encode("utf-8")
        return _py_encode(body).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, RecursionError) or "ircular" in str(exc):
            problem = "a circular reference (or nesting too deep)"
        elif isinstance(exc, TypeError):
            problem = f"a value JSON cannot represent ({exc})"
        else:
            problem = "NaN or infinity, which JSON cannot represent"
        where = "the request body"
        if isinstance(body, dict):  # name the first top-level field that fails (error path only)
            for key, value in body.items():
                try:
                    _py_encode(value)
                except (TypeError, ValueError, RecursionError):
                    where = f"the request body's {key!r} field"
                    break
        raise InvalidRequestError(
            f"{where} cannot be sent as JSON: it contains {problem}. Messages, options and "
            "extra_body may hold only str, int, float, bool, None, lists and dicts",
            provider=None if call is None else call.provider,
            model=None if call is None else call.model,
        ) from None


#: Parsed URLs by text. Routers send to a handful of endpoint URLs, and httpx's URL parser is
#: one of the most expensive steps of building a request; bounded so odd callers cannot grow it.
_URLS: dict[str, httpx.URL] = {}
_URLS_MAX = 256


def _url(text: str) -> httpx.URL:
    url = _URLS.get(text)
    if url is None:
        url = httpx.URL(text)
        if len(_URLS) >= _URLS_MAX:
            _URLS.clear()
        _URLS[text] = url
    return url


def _plain_client(client: httpx.Client | httpx.AsyncClient) -> bool:
    """True when ``client.build_request`` would only merge the client's default headers and
    timeout: a stock httpx client (not a subclass overriding ``build_request``) with no default
    query params and no cookies."""
    build = type(client).build_request
    return (
        (build is httpx.Client.build_request or build is httpx.AsyncClient.build_request)
        and not client.params
        and not client.cookies
    )


def build_httpx_request(
    client: httpx.Client | httpx.AsyncClient, request: HTTPRequest, call: Call
) -> httpx.Request:
    """The httpx request for ``request``, exactly as ``client.build_request`` would build it.

    For a plain client (see :func:`_plain_client`) and an absolute URL the request is built
    directly: the parsed URL is cached and the client's default headers are merged the way
    ``build_request`` merges them (a request header replaces a default of the same name), which
    halves the cost. Anything else goes through ``client.build_request``.
    """
    headers = request.headers
    content: bytes | None = None
    if request.json is not None:
        content = encode_json(request.json, call)
        headers = {"content-type": "application/json", **headers}
    if request.sign is not None:  # a signature over the final body (AWS SigV4)
        headers = {**headers, **request.sign(content or b"")}
    timeout = to_timeout(call.timeout) if call.timeout is not None else client.timeout
    timeouts = timeout.as_dict()
    untimed_reads = call.stream and isinstance(client, AiohttpAsyncClient)
    if untimed_reads:
        # aiohttp's read timeout (``sock_read``) measures the server's silence, restarted only
        # when bytes arrive, so between two events it would also count the time the caller
        # spends on a chunk. A stream's reads are timed by the stream instead, each from the
        # moment it asks (streaming.AsyncCompletionStream); its head by the attempt's timer.
        timeouts["read"] = None
    url = _url(request.url)
    if url.is_absolute_url and _plain_client(client):
        own = {name.lower() for name in headers}
        # The client's raw (bytes) defaults, then the request's own (str): httpx normalises both.
        merged: list[Any] = [
            item for item in client.headers.raw if item[0].decode("latin-1").lower() not in own
        ]
        merged.extend(headers.items())
        return httpx.Request(
            request.method,
            url,
            headers=merged,
            content=content,
            extensions={"timeout": timeouts},
        )
    req = client.build_request(request.method, url, headers=headers, content=content)
    if call.timeout is not None or untimed_reads:
        req.extensions["timeout"] = timeouts
    return req


def to_http_response(response: httpx.Response, *, read: bool = True) -> HTTPResponse:
    """Our view of an httpx response (``read=False`` for a stream's head: no body yet)."""
    headers = ResponseHeaders.from_raw(response.headers.raw)
    return HTTPResponse(response.status_code, headers, response.content if read else b"")


def transport_error(
    exc: Exception,
    call: Call,
    *,
    budget: float | None = None,
    deadline: float | None = None,
    what: str = "response",
    chunks: int = 0,
) -> APIConnectionError:
    """Map an httpx transport exception to our tree; the message names the failure, not the key.

    With the attempt's ``budget`` and ``deadline`` (a ``time.perf_counter()`` value), a timeout
    at or past the deadline is reported as that deadline (:func:`deadline_error`)."""
    where = f"{call.provider} ({call.route})"
    if isinstance(exc, httpx.TimeoutException):
        if (
            budget is not None
            and deadline is not None
            and time.perf_counter() >= deadline - _DEADLINE_SLACK
        ):
            return deadline_error(call, budget, what, chunks, cause=type(exc).__name__)
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


# --- response size -----------------------------------------------------------------------------


def check_max_response_bytes(value: object) -> int:
    """``max_response_bytes`` of a Router: ``None`` -> the default; else a positive int."""
    if value is None:
        return DEFAULT_MAX_RESPONSE_BYTES
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(
            "max_response_bytes must be a positive whole number of bytes (default "
            f"{DEFAULT_MAX_RESPONSE_BYTES}, 128 MiB), got {value!r}",
            param="max_response_bytes",
        )
    return value


def too_large(
    call: Call,
    status: int | None,
    headers: Mapping[str, str] | None,
    limit: int,
    size: int,
    *,
    announced: bool = False,
    what: str = "response body",
    request_id_headers: tuple[str, ...] = DEFAULT_REQUEST_ID_HEADERS,
) -> ResponseTooLargeError:
    """The error for a body (or, with ``what``, a stream event) over ``limit`` bytes. Raised
    while reading, where the request is not known: the attempt fills in the provider's request
    id (``_client._scrub``) when its header is not the default one."""
    where = f"{call.provider} ({call.route})"
    if announced:
        detail = f"announced a {what} of {size} bytes (Content-Length)"
    else:
        detail = f"sent a {what} larger than that ({size} bytes when reading stopped)"
    return ResponseTooLargeError(
        f"{where} {detail}, over max_response_bytes={limit} ({limit / 1048576:g} MiB); nothing "
        "more was read. Raise max_response_bytes (Router(max_response_bytes=...) or "
        "[router] max_response_bytes) if answers this large are expected",
        limit=limit,
        size=size,
        provider=call.provider,
        model=call.model,
        status_code=status,
        request_id=None if headers is None else request_id_of(headers, request_id_headers),
        headers=headers,
    )


def _check_length(headers: ResponseHeaders, limit: int, call: Call, status: int) -> None:
    """Fail fast, before reading the body, when its Content-Length is over ``limit``."""
    length = dict.get(headers, "content-length")
    if length is None:
        return
    try:
        size = int(length)
    except ValueError:  # the HTTP parser refuses such a response first; nothing to check
        return
    if size > limit:
        raise too_large(call, status, headers, limit, size, announced=True)


def read_response(
    response: httpx.Response,
    limit: int,
    call: Call,
    budget: float | None = None,
    deadline: float | None = None,
) -> HTTPResponse:
    """Read the body of an httpx ``response`` opened with ``stream=True``, then close it.

    At most ``limit`` bytes (decoded) are kept: a Content-Length over it fails before reading,
    and a body that grows past it fails as soon as it does, so memory stays near the limit
    (this is what ``httpx.Response.read`` does, joining the pieces, plus a count). Between two
    pieces the attempt's ``deadline`` is checked, for clients without the socket-level clamp
    (:func:`install_deadlines`)."""
    headers = ResponseHeaders.from_raw(response.headers.raw)
    status = response.status_code
    try:
        _check_length(headers, limit, call, status)
        parts: list[bytes] = []
        size = 0
        for part in response.iter_bytes():
            size += len(part)
            if size > limit:
                raise too_large(call, status, headers, limit, size)
            parts.append(part)
            if deadline is not None and budget is not None and time.perf_counter() > deadline:
                raise deadline_error(call, budget)
    finally:
        response.close()
    return HTTPResponse(status, headers, parts[0] if len(parts) == 1 else b"".join(parts))


async def aread_response(response: httpx.Response, limit: int, call: Call) -> HTTPResponse:
    """:func:`read_response` for an async httpx response (its deadline is the caller's
    :func:`deadline_scope`)."""
    headers = ResponseHeaders.from_raw(response.headers.raw)
    status = response.status_code
    try:
        _check_length(headers, limit, call, status)
        parts: list[bytes] = []
        size = 0
        async for part in response.aiter_bytes():
            size += len(part)
            if size > limit:
                raise too_large(call, status, headers, limit, size)
            parts.append(part)
    finally:
        await response.aclose()
    return HTTPResponse(status, headers, parts[0] if len(parts) == 1 else b"".join(parts))


# --- deadlines ---------------------------------------------------------------------------------

#: A timeout this close to the deadline (seconds) is the deadline's (timers fire a little early
#: or late).
_DEADLINE_SLACK = 0.01
#: Seconds a deadline timer waits past the deadline, so that the engine's own timeouts (pool,
#: connect, read: set to the same budget, started a little later) win a tie and name their
#: cause (``PoolTimeout``...) in the error.
_SCOPE_GRACE = 0.05


def budget_of(call: Call, client: httpx.Client | httpx.AsyncClient) -> float | None:
    """The seconds one attempt of ``call`` may take: its ``timeout=`` (or its deployment's),
    else the read timeout of ``client`` (the router's ``timeout``); ``None``: no limit.

    A non-streamed attempt must be complete (connect to last byte) within it; a stream must
    deliver its first event within it, then each next event within it of the one before. A
    per-read limit alone let a server that sends a byte now and then hold a call forever."""
    if call.timeout is not None:
        return call.timeout
    return client.timeout.read


def deadline_error(
    call: Call, budget: float, what: str = "response", chunks: int = 0, cause: str | None = None
) -> APITimeoutError:
    """The error for an attempt whose deadline ran out; ``what`` is ``"response"``,
    ``"first event"`` or ``"next event"`` (a stream after ``chunks`` chunks); ``cause`` names
    the engine's timeout that noticed it (``PoolTimeout``: no free connection in time...)."""
    where = f"{call.provider} ({call.route})"
    if what == "first event":
        text = (
            f"stream from {where} sent no event within {budget:g}s (timeout= bounds the time to "
            "a stream's first event)"
        )
    elif what == "next event":
        text = (
            f"stream from {where} sent no event for {budget:g}s after chunk {chunks} (timeout= "
            "is the longest wait between two events of a stream)"
        )
    else:
        text = (
            f"request to {where} did not complete within its {budget:g}s deadline (timeout= "
            "bounds the whole attempt, from connecting to the last byte of the response)"
        )
    if cause:
        text += f" [{cause}]"
    return APITimeoutError(
        text + "; raise timeout= or check the provider's status",
        provider=call.provider,
        model=call.model,
    )


#: The deadline (a ``time.perf_counter()`` value) of the attempt running in this context, read
#: by the socket-level clamp of the sync clients a Router builds; ``None``: no deadline.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "llmrouter_deadline", default=None
)

_NO_SCOPE: contextlib.nullcontext[None] = contextlib.nullcontext()
_asyncio_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


def deadline_scope(seconds: float | None) -> contextlib.AbstractAsyncContextManager[Any]:
    """One timer that cancels what runs inside after ``seconds`` and raises ``TimeoutError``:
    ``asyncio.timeout`` in an asyncio task, else anyio's ``fail_after`` (trio); no timer for
    ``None``."""
    if seconds is None:
        return _NO_SCOPE
    seconds += _SCOPE_GRACE
    if _asyncio_timeout is not None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no asyncio loop running (trio)
            task = None
        if task is not None:
            return _asyncio_timeout(seconds)  # type: ignore[no-any-return]
    return _AnyioDeadline(seconds)


class _AnyioDeadline:
    """``anyio.fail_after`` as an async context manager (loops other than asyncio)."""

    __slots__ = ("_scope", "_seconds")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._scope: Any = None

    async def __aenter__(self) -> None:
        import anyio

        self._scope = anyio.fail_after(self._seconds)
        self._scope.__enter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        return self._scope.__exit__(*exc)  # type: ignore[no-any-return]


def _clamp(timeout: float | None, kind: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` of one socket operation, shortened to what is left of the attempt's
    :data:`DEADLINE`; a deadline already past raises ``kind`` at once."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise kind("the attempt's deadline passed")
    return remaining if timeout is None or remaining < timeout else timeout


class _DeadlineStream(httpcore.NetworkStream):
    """A connection's socket whose every read, write and TLS handshake ends by the deadline."""

    __slots__ = ("_stream",)

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._stream.start_tls(
                ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync network backend with :class:`_DeadlineStream` connections."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._backend.connect_tcp(
                host, port, _clamp(timeout, httpcore.ConnectTimeout), local_address, socket_options
            )
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._backend.connect_unix_socket(
                path, _clamp(timeout, httpcore.ConnectTimeout), socket_options
            )
        )

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def install_deadlines(client: httpx.Client) -> bool:
    """Make every socket operation of ``client`` end by the running attempt's :data:`DEADLINE`.

    A sync client has no timer that could interrupt a read, and httpcore takes the read timeout
    once per response, so a server sending one byte now and then kept a call alive forever.
    The connections of httpx's default transport are given a network backend that shortens
    each read, write, connect and TLS handshake to the time left (a context-variable read and
    a subtraction per socket operation). Only for httpx's own transport over httpcore's pool
    (the client a Router builds); returns whether it was installed. On other clients the
    deadline is checked between reads.
    """
    transport = getattr(client, "_transport", None)
    if type(transport) is not httpx.HTTPTransport:
        return False
    pool = getattr(transport, "_pool", None)
    if type(pool) is not httpcore.ConnectionPool:
        return False
    backend = getattr(pool, "_network_backend", None)
    if backend is None or isinstance(backend, _DeadlineBackend):
        return backend is not None
    pool._network_backend = _DeadlineBackend(backend)
    return True
