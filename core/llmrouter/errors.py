"""The one error tree of llmrouter.

Every exception llmrouter raises on purpose derives from :class:`LLMRouterError`::

    LLMRouterError
    ├── InvalidRequestError          bad arguments, raised before any request is sent (also ValueError)
    │   ├── UnknownProviderError     "provider/model" names a provider that is not installed
    │   ├── MissingAPIKeyError       no key given and none found in the provider's variables
    │   └── PromptTemplateError      a template cannot render these messages (or is malformed)
    ├── ConfigError                  the routing config is invalid (file, key path, what is allowed)
    ├── BudgetExceededError          the router's spend cap (max_budget) is used up for this period
    ├── PluginLoadError              a call needs a plugin that failed to load (any plugin, in strict mode)
    │   └── AmbiguousProviderError   two installed distributions claim the provider; choose one
    └── APIError                     anything that happened talking to a provider
        ├── APIConnectionError       no usable response: refused, reset, cut mid-stream
        │   └── APITimeoutError      connect timeout, or the attempt's deadline (timeout=) ran out
        ├── ResponseTooLargeError    a body or one stream event over max_response_bytes
        ├── StreamDecodeError        stream bytes that are not UTF-8 (.offset says where)
        ├── APIStatusError           the provider answered with an error status
        │   ├── BadRequestError                  400
        │   │   └── ContextWindowExceededError   400 whose provider code says the prompt is too long
        │   ├── AuthenticationError              401
        │   ├── PaymentRequiredError             402 (out of credits)
        │   ├── PermissionDeniedError            403
        │   ├── NotFoundError                    404 (unknown model or endpoint)
        │   ├── ConflictError                    409
        │   ├── UnprocessableEntityError         422
        │   ├── RequestTimeoutStatusError        408
        │   ├── RateLimitError                   429 (retry_after parsed when sent)
        │   ├── InternalServerError              500 and other 5xx without a class of their own
        │   │   ├── ServiceUnavailableError      503, 529 (overloaded)
        │   │   └── GatewayTimeoutError          504, 524
        │   └── (any other status)               APIStatusError itself
        ├── StreamError                  the provider reported an error inside a stream (in-band event)
        └── AllDeploymentsFailedError    a routed call tried every deployment and fallback; .attempts says why

Names follow the OpenAI SDK so that ``except RateLimitError`` reads the same. Every error carries
``provider``, ``model``, ``status_code``, ``request_id`` and ``body`` where they are known. None
carries a secret: messages are built from our own words and the provider's error text, which is
passed through :func:`llmrouter.secrets.redact_text` first, and before an error of a call leaves
the core, the key that call sent is removed from all of it (message, body, every header value,
request id, chained causes: :func:`llmrouter.secrets.scrub_call_error`), however many other keys
the process has used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AllDeploymentsFailedError",
    "AmbiguousProviderError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigError",
    "ConflictError",
    "ContextWindowExceededError",
    "GatewayTimeoutError",
    "InternalServerError",
    "InvalidRequestError",
    "LLMRouterError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PluginLoadError",
    "PromptTemplateError",
    "RateLimitError",
    "RequestTimeoutStatusError",
    "ResponseTooLargeError",
    "ServiceUnavailableError",
    "StreamDecodeError",
    "StreamError",
    "UnknownProviderError",
    "UnprocessableEntityError",
    "status_error_class",
]


class LLMRouterError(Exception):
    """Base of every error llmrouter raises on purpose.

    The context attributes are keyword-only so that adding one never breaks a caller; they are
    ``None`` when unknown.
    """

    #: Whether a router may retry the same deployment after this error.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # Imported here: secrets imports nothing from us, but keeping errors.py import-free makes it
        # safe to import from anywhere (plugins, tests) without cycles.
        from llmrouter.secrets import redact_obj, redact_text

        self.message = redact_text(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = request_id
        self.body = redact_obj(body)
        self.headers: dict[str, str] = _safe_headers(headers)
        super().__init__(self.message)

    def __str__(self) -> str:
        context = []
        if self.provider:
            context.append(f"provider={self.provider}")
        if self.model:
            context.append(f"model={self.model}")
        if self.status_code is not None:
            context.append(f"status={self.status_code}")
        if self.request_id:
            context.append(f"request_id={self.request_id}")
        if not context:
            return self.message
        return f"{self.message} [{', '.join(context)}]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only context must survive pickling (multiprocessing, pytest-xdist).
        return (
            _rebuild,
            (
                type(self),
                self.message,
                {
                    "provider": self.provider,
                    "model": self.model,
                    "status_code": self.status_code,
                    "request_id": self.request_id,
                    "body": self.body,
                    "headers": self.headers,
                },
                self.__dict__,
            ),
        )


def _rebuild(
    cls: type[LLMRouterError], message: str, kwargs: dict[str, Any], state: dict[str, Any]
) -> LLMRouterError:
    err = cls.__new__(cls)
    LLMRouterError.__init__(err, message, **kwargs)
    err.__dict__.update(state)
    return err


def _safe_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of response ``headers`` fit to keep on an error: credential headers (the one list,
    ``secrets.CREDENTIAL_HEADERS``) replaced whole, every other value through ``redact_text``
    (a server may echo a key in any header: ``x-debug-key``, ``www-authenticate: ...
    token="..."``). The core also removes the call's own key from every value
    (``secrets.scrub_call_error``)."""
    if not headers:
        return {}
    from llmrouter.secrets import CREDENTIAL_HEADERS, REDACTED, redact_text

    return {
        k: (REDACTED if k.lower() in CREDENTIAL_HEADERS else redact_text(v))
        for k, v in headers.items()
    }


# --- argument errors: raised before any network I/O -------------------------------------------


class InvalidRequestError(LLMRouterError, ValueError):
    """An argument is wrong. The message names the argument and how to fix it.

    Also a ``ValueError`` so code that validates inputs generically still catches it.
    """

    def __init__(self, message: str, *, param: str | None = None, **kwargs: Any) -> None:
        self.param = param
        super().__init__(message, **kwargs)


class UnknownProviderError(InvalidRequestError):
    """The provider part of ``provider/model`` is not an installed provider."""

    def __init__(self, message: str, *, available: list[str] | None = None, **kwargs: Any) -> None:
        self.available = list(available or [])
        super().__init__(message, param="model", **kwargs)


class MissingAPIKeyError(InvalidRequestError):
    """No API key was passed and none of the provider's environment variables holds one."""

    def __init__(self, message: str, *, env_vars: list[str] | None = None, **kwargs: Any) -> None:
        from llmrouter.secrets import REDACTED, looks_like_credential

        # A variable "name" that is really a key (pasted into a plugin's or a config's list of
        # variables) is not repeated by every call that fails to find it.
        names = []
        for name in env_vars or []:
            if looks_like_credential(name):
                message = message.replace(name, REDACTED)
                name = REDACTED
            names.append(name)
        self.env_vars = names
        super().__init__(message, param="api_key", **kwargs)


class PromptTemplateError(InvalidRequestError):
    """A prompt template rejected the messages, or the template itself is malformed."""

    def __init__(self, message: str, *, template: str | None = None, **kwargs: Any) -> None:
        self.template = template
        super().__init__(message, param="messages", **kwargs)


class ConfigError(LLMRouterError):
    """The routing configuration is invalid. ``path`` is the file, ``key`` the dotted key path."""

    def __init__(
        self, message: str, *, path: str | None = None, key: str | None = None, **kwargs: Any
    ) -> None:
        self.path = path
        self.key = key
        super().__init__(message, **kwargs)


class BudgetExceededError(LLMRouterError):
    """The router's spend cap (``max_budget`` USD per ``budget_period``) is used up.

    Raised before the call is sent, so nothing more is spent. ``spent`` and ``max_budget`` are
    Decimals in USD; ``resets_in`` is the seconds until the period ends (``None`` for a cap
    without a period). Not retryable: waiting for the reset is the caller's decision.
    """

    def __init__(
        self,
        message: str,
        *,
        spent: Any = None,
        max_budget: Any = None,
        resets_in: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.spent = spent
        self.max_budget = max_budget
        self.resets_in = resets_in
        super().__init__(message, **kwargs)


class PluginLoadError(LLMRouterError):
    """A plugin could not be imported or registered.

    Raised by a call to a provider whose plugin failed to load (the failure is otherwise only
    recorded in ``llmrouter.plugin_errors()``, so other providers keep working), and, with
    ``LLMROUTER_STRICT_PLUGINS=1``, by any call while any plugin failed to load (``strict``
    is then true). A routed call moves on to the next deployment after a non-strict one, as
    after UnknownProviderError: another deployment may use another provider.
    """

    def __init__(
        self, message: str, *, plugin: str | None = None, strict: bool = False, **kwargs: Any
    ) -> None:
        self.plugin = plugin
        self.strict = strict
        super().__init__(message, **kwargs)


class AmbiguousProviderError(PluginLoadError):
    """Two or more installed distributions register the same provider name.

    llmrouter refuses to guess, because the one it picked would receive that provider's keys.
    ``distributions`` lists the candidates and ``env_var`` names the variable that chooses one
    (``LLMROUTER_PROVIDER_<NAME>=<distribution>``).
    """

    def __init__(
        self,
        message: str,
        *,
        distributions: list[str] | None = None,
        env_var: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.distributions = list(distributions or [])
        self.env_var = env_var
        super().__init__(message, **kwargs)


# --- provider errors ----------------------------------------------------------------------------


class APIError(LLMRouterError):
    """Something went wrong talking to the provider."""


class APIConnectionError(APIError):
    """No usable response arrived: refused, reset, DNS, TLS, or a stream cut before its end."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """A timeout expired: connecting, or the attempt's deadline (``timeout=``): the whole
    response of a non-streamed call, a stream's first event, or the gap between two events."""


class ResponseTooLargeError(APIError):
    """A response body, or one event of a stream, is larger than ``max_response_bytes``.

    Raised as soon as the size is known (a ``Content-Length`` over the limit fails before the
    body is read), so memory stays near the limit. ``limit`` is the limit in bytes, ``size`` the
    size announced or reached when reading stopped. Not retryable on the same deployment; a
    routed call moves on to the next deployment or fallback.
    """

    def __init__(
        self, message: str, *, limit: int | None = None, size: int | None = None, **kwargs: Any
    ) -> None:
        self.limit = limit
        self.size = size
        super().__init__(message, **kwargs)


class StreamDecodeError(APIError):
    """A stream sent bytes that are not valid UTF-8 where text was due (an event's data).

    ``offset`` is the position of the first bad byte, counted from the start of the stream's
    body. Not retryable on the same deployment; a routed call moves on to the next deployment
    or fallback (before the first chunk reached the caller).
    """

    def __init__(self, message: str, *, offset: int | None = None, **kwargs: Any) -> None:
        self.offset = offset
        super().__init__(message, **kwargs)


class StreamError(APIError):
    """The provider sent an error event inside a stream.

    When the event carries a status or code that maps to a more specific class, that class is
    raised instead (the mapping is the provider's ``map_error`` hook); this is the fallback.
    """


class APIStatusError(APIError):
    """The provider answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        error_type: str | None = None,
        param: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.code = code
        self.error_type = error_type
        self.param = param
        super().__init__(message, **kwargs)


class BadRequestError(APIStatusError):
    """400: the provider rejected the request as malformed."""


class ContextWindowExceededError(BadRequestError):
    """400 whose structured provider code says the prompt does not fit the model's context."""


class AuthenticationError(APIStatusError):
    """401: the key is missing, malformed or revoked."""


class PaymentRequiredError(APIStatusError):
    """402: the account has no credits left."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or endpoint."""


class NotFoundError(APIStatusError):
    """404: unknown model or endpoint."""


class RequestTimeoutStatusError(APIStatusError):
    """408: the provider timed out waiting for the request."""

    retryable = True


class ConflictError(APIStatusError):
    """409: a conflicting request; retryable."""

    retryable = True


class UnprocessableEntityError(APIStatusError):
    """422: the request parsed but a value is not acceptable."""


class RateLimitError(APIStatusError):
    """429: too many requests or tokens. ``retry_after`` (seconds) and ``rate_limit`` when sent."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        rate_limit: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        self.rate_limit: dict[str, str] = dict(rate_limit or {})
        super().__init__(message, **kwargs)


class InternalServerError(APIStatusError):
    """500 and any other 5xx without a class of its own."""

    retryable = True


class ServiceUnavailableError(InternalServerError):
    """503 (unavailable) and 529 (overloaded)."""


class GatewayTimeoutError(InternalServerError):
    """504 and Cloudflare's 524: the upstream model server took too long."""


class AllDeploymentsFailedError(APIError):
    """A routed call tried every deployment and fallback and each failed.

    ``attempts`` is a list of ``(deployment, error)`` pairs in the order they were tried; the last
    error is also chained as ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: list[tuple[str, BaseException]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.attempts = list(attempts or [])
        super().__init__(message, **kwargs)


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutStatusError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: InternalServerError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
    524: GatewayTimeoutError,
    529: ServiceUnavailableError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The error class for an HTTP status: the table above, else 5xx -> InternalServerError."""
    cls = _STATUS_CLASSES.get(status_code)
    if cls is not None:
        return cls
    if status_code >= 500:
        return InternalServerError
    return APIStatusError
