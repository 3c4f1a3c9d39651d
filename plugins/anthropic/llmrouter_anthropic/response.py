"""Anthropic's answers -> llmrouter's OpenAI-shaped types, and its errors -> the error tree.

- A message (``{"type": "message", "content": [blocks], "stop_reason", "usage"}``) becomes a
  :class:`~llmrouter.types.ModelResponse`: text blocks joined into ``message.content``,
  ``tool_use`` blocks -> ``tool_calls`` (the id kept, the input re-serialised as JSON text),
  thinking blocks -> ``message.reasoning_content`` (their text) and ``message.thinking_blocks``
  (the raw blocks, signatures and redacted ones included, to be sent back unchanged), and
  ``stop_reason`` -> ``finish_reason`` through :data:`FINISH_REASONS`. Anthropic's own
  ``stop_reason`` and ``stop_sequence`` stay on the response as extra fields.
- Usage: Anthropic's ``input_tokens`` counts only the tokens that were neither read from nor
  written to the prompt cache, so ``prompt_tokens`` is the sum of all three (OpenAI's meaning:
  every prompt token), with ``prompt_tokens_details.cached_tokens`` (cache reads) and
  ``cache_creation_tokens`` (cache writes).
- An error body ``{"type": "error", "error": {"type", "message"}, "request_id"}`` maps by HTTP
  status, then by the error ``type`` (:data:`ERROR_CLASSES`); the same body inside a stream,
  without a status, maps through :data:`ERROR_STATUS`.
- ``GET /v1/models`` is one page (``?limit=1000``); a page that says ``has_more`` is an error,
  never a silently short list.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from llmrouter.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    GatewayTimeoutError,
    InternalServerError,
    LLMRouterError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from llmrouter.pipeline import Call, HTTPResponse
from llmrouter.provider import error_from_response, error_in_band, unreadable_response
from llmrouter.translation import (
    assistant_message,
    cached_prompt_usage,
    json_object_body,
    one_page_error,
    openai_tool_call,
)
from llmrouter.types import ModelInfo, ModelResponse, Usage

__all__ = [
    "ERROR_CLASSES",
    "ERROR_STATUS",
    "FINISH_REASONS",
    "RATE_LIMIT_PREFIX",
    "finish_reason",
    "inband_error",
    "map_error",
    "parse_message",
    "parse_models",
    "usage_of",
]

#: Anthropic's ``stop_reason`` -> OpenAI's ``finish_reason``. ``pause_turn`` (a server tool's
#: long turn, paused: send the answer back to continue) is ``stop``, like any turn that ended
#: without a tool call for the app to run; the raw value is kept as ``response.stop_reason``.
#: An unknown value passes through unchanged (never guessed).
FINISH_REASONS: Final[Mapping[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}

#: Error ``type`` -> class, refining the class of the HTTP status within its family.
ERROR_CLASSES: Final[Mapping[str, type[APIStatusError]]] = {
    "invalid_request_error": BadRequestError,
    "authentication_error": AuthenticationError,
    "billing_error": PaymentRequiredError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "rate_limit_error": RateLimitError,
    "api_error": InternalServerError,
    "overloaded_error": ServiceUnavailableError,
    "timeout_error": GatewayTimeoutError,
}

#: Error ``type`` -> the HTTP status Anthropic documents for it (an in-band stream error has none).
ERROR_STATUS: Final[Mapping[str, int]] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

#: Response headers of Anthropic's rate limits; kept on a RateLimitError without the prefix.
RATE_LIMIT_PREFIX: Final = "anthropic-ratelimit-"
_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")

_validate_response = ModelResponse.__pydantic_validator__.validate_python
_validate_usage = Usage.__pydantic_validator__.validate_python


def finish_reason(stop_reason: Any) -> Any:
    """``stop_reason`` -> ``finish_reason`` (``None`` stays ``None``)."""
    return FINISH_REASONS.get(stop_reason, stop_reason) if isinstance(stop_reason, str) else None


def usage_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic's usage -> OpenAI's, as a dict (the cache counts kept under both names)."""
    usage = cached_prompt_usage(
        raw.get("input_tokens") or 0,
        raw.get("cache_read_input_tokens") or 0,
        raw.get("cache_creation_input_tokens") or 0,
        raw.get("output_tokens") or 0,
    )
    details = raw.get("output_tokens_details")
    if isinstance(details, Mapping) and isinstance(details.get("thinking_tokens"), int):
        usage["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return usage


def _message_fields(content: list[Any]) -> dict[str, Any]:
    """The blocks of an answer -> the fields of its OpenAI message."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: list[Any] = []
    thoughts: list[str] = []
    other = False
    for block in content:
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(openai_tool_call(block["id"], block["name"], block["input"]))
        elif kind == "thinking":
            thinking.append(block)
            thoughts.append(block["thinking"])
        elif kind == "redacted_thinking":
            thinking.append(block)
        else:
            other = True  # a server tool's use and result, and block types to come
    message = assistant_message(texts, calls, thoughts, thinking)
    if other:
        # Blocks OpenAI's message has no field for (server_tool_use, web_search_tool_result...)
        # are not dropped: the whole content, in order, is kept here, and a message sent back
        # with it is sent exactly as it came (which continuing a ``pause_turn`` needs).
        message["anthropic_content"] = content
    return message


def _json_body(call: Call, response: HTTPResponse, what: str) -> dict[str, Any]:
    """The body as a dict; a 200 that carries an error object raises that error."""
    raw = json_object_body(call, response, what)
    if raw.get("type") == "error":
        raise inband_error(call, raw, "error in a 200 response")
    return raw


def parse_message(call: Call, response: HTTPResponse) -> ModelResponse:
    """A ``/v1/messages`` answer -> a ModelResponse."""
    raw = _json_body(call, response, "message")
    try:
        stop_reason = raw.get("stop_reason")
        return _validate_response(  # type: ignore[no-any-return]
            {
                "id": raw["id"],
                "created": int(time.time()),
                "model": raw.get("model") or call.model,
                "choices": [
                    {
                        "index": 0,
                        "message": _message_fields(raw["content"]),
                        "finish_reason": finish_reason(stop_reason),
                    }
                ],
                "usage": usage_of(raw["usage"]),
                "stop_reason": stop_reason,
                "stop_sequence": raw.get("stop_sequence"),
            }
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise unreadable_response(call, response, "message", exc) from None


# --- errors ---------------------------------------------------------------------------------------


def _reset_wait(limits: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until the latest reset of the limits with nothing remaining (RFC 3339 times),
    for a 429 without ``retry-after``; ``None`` when no exhausted limit says. Never a guess."""
    waits = []
    for kind in _LIMITS:
        if limits.get(f"{kind}-remaining") != "0":
            continue
        reset = limits.get(f"{kind}-reset")
        if not reset:
            continue
        try:
            when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            continue
        waits.append(max(0.0, when.timestamp() - (time.time() if now is None else now)))
    return max(waits) if waits else None


def map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    """The typed error for an error status: by status, then the body's error ``type``; a 429
    keeps ``retry-after`` and the ``anthropic-ratelimit-*`` headers."""
    error = error_from_response(call, response, code_classes=ERROR_CLASSES)
    body = error.body
    if error.request_id is None and isinstance(body, dict):
        request_id = body.get("request_id")
        if isinstance(request_id, str):
            error.request_id = request_id
    if isinstance(error, RateLimitError):
        limits = {
            key[len(RATE_LIMIT_PREFIX) :]: value
            for key, value in ((k.lower(), v) for k, v in response.headers.items())
            if key.startswith(RATE_LIMIT_PREFIX)
        }
        error.rate_limit = limits
        if error.retry_after is None:
            error.retry_after = _reset_wait(limits)
    return error


def inband_error(call: Call, payload: Mapping[str, Any], where: str) -> LLMRouterError:
    """The typed error for an error object that arrived without an error status: an ``error``
    event in a stream, or an error body in a 200. Its ``type`` gives the status it stands for
    (``overloaded_error`` -> 529, a retryable ServiceUnavailableError); an unknown type is a
    StreamError."""
    err = payload.get("error")
    kind = err.get("type") if isinstance(err, Mapping) else None
    status = ERROR_STATUS.get(kind) if isinstance(kind, str) else None
    return error_in_band(call, payload, status, where, map_error)


# --- models ---------------------------------------------------------------------------------------


def _created(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def parse_models(call: Call, response: HTTPResponse) -> list[ModelInfo]:
    """``GET /v1/models``: ``{data, has_more, first_id, last_id}`` -> ModelInfo, each entry
    kept whole (``display_name``, ``created_at``... as extras). ``has_more`` is an APIError:
    llmrouter sends one request per call, and a short list must not pass for the whole one."""
    raw = _json_body(call, response, "model list")
    try:
        items = raw["data"]
        models = [
            ModelInfo.model_validate(
                {
                    **item,
                    "object": "model",
                    "created": _created(item.get("created_at")),
                    "owned_by": "anthropic",
                }
            )
            for item in items
        ]
    except (KeyError, TypeError, ValueError, ValidationError, AttributeError) as exc:
        raise unreadable_response(call, response, "model list", exc) from None
    if raw.get("has_more"):
        raise one_page_error(
            call, response, len(models), f"has_more is true after {raw.get('last_id')!r}"
        )
    return models
