"""llmrouter's errors as OpenAI's error responses: the status, the body and the headers.

The gateway's clients are OpenAI SDKs, which pick their exception class from the status alone
(400 BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError,
429 RateLimitError, 5xx InternalServerError) and read ``{"error": {"message", "type", "param",
"code"}}``. So the mapping says, for each error, whose fault it is:

- the request's (a bad parameter, an unknown model, a prompt too long): 400 or 404, as the
  provider said it, so the caller can fix the request;
- the gateway's own admission (no key, a wrong key): 401;
- the gateway's credentials upstream (the provider answered 401, 402 or 403): **502**, never
  401 or 403, which would tell the caller that *their* key is wrong;
- too much traffic (the provider's 429, the router's spend cap): 429 with ``retry-after``;
- the provider or the network failing: 5xx (502 no usable answer, 504 deadline).

Messages are llmrouter's own, already scrubbed of keys by the core (``scrub_call_error``);
nothing here adds a header value or a key. An error the gateway did not expect is a 500 that
says only that, and is logged with its traceback on the server side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from llmrouter.errors import (
    AllDeploymentsFailedError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BudgetExceededError,
    ConfigError,
    GatewayTimeoutError,
    InvalidRequestError,
    LLMRouterError,
    MissingAPIKeyError,
    PluginLoadError,
    RateLimitError,
    ResponseTooLargeError,
    ServiceUnavailableError,
    StreamDecodeError,
    StreamError,
)

__all__ = ["ErrorReply", "error_reply", "gateway_error"]

#: Upstream statuses that are the gateway's own credentials or account, not the caller's.
_UPSTREAM_CREDENTIALS = frozenset({401, 402, 403})
_STANDARD_5XX = frozenset({500, 501, 502, 503, 504})
#: Upstream 4xx that describe the caller's request and are passed on as they are.
_CALLER_STATUSES = frozenset({400, 404, 408, 409, 413, 415, 422})


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """One error answer: the HTTP status, OpenAI's error object and extra headers."""

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def gateway_error(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> ErrorReply:
    """An error the gateway itself answers (auth, limits, unknown route), typed by its status."""
    kind = {
        401: "authentication_error",
        403: "permission_error",
        404: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "invalid_request_error" if status < 500 else "server_error")
    return ErrorReply(status, message, kind, code=code, param=param)


def _retry_after(seconds: float | None) -> dict[str, str]:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return {}
    return {"retry-after": str(max(1, math.ceil(seconds)))}


def _last_error(exc: AllDeploymentsFailedError) -> BaseException | None:
    if exc.attempts:
        return exc.attempts[-1][1]
    return exc.__cause__


def error_reply(exc: BaseException) -> ErrorReply:
    """The answer for an exception raised by a router call (see the module docstring)."""
    if isinstance(exc, AllDeploymentsFailedError):
        last = _last_error(exc)
        inner = error_reply(last) if last is not None else None
        if inner is None or inner.code == "internal_error":
            return ErrorReply(502, exc.message, "server_error", code="all_deployments_failed")
        # The status and headers the last failure would have had, with the whole story.
        return ErrorReply(
            inner.status,
            exc.message,
            inner.type,
            code=inner.code or "all_deployments_failed",
            param=inner.param,
            headers=inner.headers,
        )
    if isinstance(exc, MissingAPIKeyError):
        return ErrorReply(
            500,
            "the gateway has no API key for this deployment; its operator must set the "
            f"variable the config names ({exc.message})",
            "server_error",
            code="upstream_key_missing",
        )
    if isinstance(exc, InvalidRequestError):
        return ErrorReply(
            400,
            exc.message,
            "invalid_request_error",
            code="invalid_request",
            param=getattr(exc, "param", None),
        )
    if isinstance(exc, BudgetExceededError):
        return ErrorReply(
            429,
            exc.message,
            "insufficient_quota",
            code="budget_exceeded",
            headers=_retry_after(exc.resets_in),
        )
    if isinstance(exc, (ConfigError, PluginLoadError)):
        return ErrorReply(500, exc.message, "server_error", code="gateway_misconfigured")
    if isinstance(exc, RateLimitError):
        return ErrorReply(
            429,
            exc.message,
            "rate_limit_error",
            code=exc.code or "rate_limit_exceeded",
            headers=_retry_after(exc.retry_after),
        )
    if isinstance(exc, APIStatusError):
        status = exc.status_code or 502
        if status in _UPSTREAM_CREDENTIALS:
            return ErrorReply(
                502,
                f"the provider refused the gateway's credentials (HTTP {status}): {exc.message}",
                "server_error",
                code="upstream_authentication_error",
            )
        if status in _CALLER_STATUSES:
            return ErrorReply(
                status,
                exc.message,
                "invalid_request_error",
                code=exc.code,
                param=exc.param,
            )
        if status >= 500:
            # Providers' own 5xx (Anthropic's 529 overloaded, Cloudflare's 524) become the
            # standard status of their class, which every HTTP client knows.
            if status not in _STANDARD_5XX:
                status = (
                    503
                    if isinstance(exc, ServiceUnavailableError)
                    else (504 if isinstance(exc, GatewayTimeoutError) else 502)
                )
            return ErrorReply(status, exc.message, "server_error", code=exc.code)
        return ErrorReply(502, exc.message, "server_error", code=exc.code or "upstream_error")
    if isinstance(exc, APITimeoutError):
        return ErrorReply(504, exc.message, "server_error", code="upstream_timeout")
    if isinstance(exc, (APIConnectionError, ResponseTooLargeError, StreamDecodeError, StreamError)):
        return ErrorReply(502, exc.message, "server_error", code="upstream_error")
    if isinstance(exc, LLMRouterError):
        return ErrorReply(502, exc.message, "server_error", code="upstream_error")
    return ErrorReply(
        500,
        "internal error in the gateway (its log has the details)",
        "server_error",
        code="internal_error",
    )
