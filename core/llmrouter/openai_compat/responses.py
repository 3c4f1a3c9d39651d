"""Responses and errors of OpenAI's wire format, as pure functions: bytes in, llmrouter types out.

Shapes, from OpenAI's API reference and the compatible servers seen in real traffic:

- a chat answer is a ``chat.completion`` object; ``finish_reason`` is ``stop``, ``length``,
  ``tool_calls`` or ``content_filter`` (some servers say ``eos`` & co.: normalised through the
  dialect's table); an empty ``tool_calls: []`` means none;
- a ``/completions`` answer (a client-side template's call) is reshaped as a chat answer, its
  log-probabilities into the chat shape;
- an error is ``{"error": {"message", "type", "param", "code"}}``, also inside a 200 body or a
  stream event (OpenRouter adds a numeric ``code`` holding the HTTP status);
- ``/embeddings`` may answer base64 (``encoding_format="base64"``): decoded to floats;
- ``/models`` is ``{"object": "list", "data": [...]}`` or, at Together, a bare array;
- a 429 may say when to come back only in ``x-ratelimit-reset-{requests,tokens}`` (Go
  durations such as ``6m0s``), which then stands in for a missing ``Retry-After``.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from llmrouter.errors import LLMRouterError, RateLimitError
from llmrouter.openai_compat.dialect import Dialect
from llmrouter.pipeline import Call, HTTPResponse, StreamState
from llmrouter.provider import (
    error_from_response,
    error_in_band,
    parse_model_list,
    unreadable_response,
)
from llmrouter.types import Choice, EmbeddingResponse, Message, ModelInfo, ModelResponse, Usage

__all__ = [
    "completion_logprobs",
    "inband_error",
    "map_error",
    "parse_chat",
    "parse_completion_as_chat",
    "parse_duration",
    "parse_embeddings",
    "parse_models",
]


def map_error(call: Call, response: HTTPResponse, dialect: Dialect) -> LLMRouterError:
    """The typed error for an error status: by status, then the dialect's codes; a 429 without
    ``Retry-After`` waits for the reset of the limit that was hit."""
    error = error_from_response(
        call, response, code_classes=dialect.code_classes, status_classes=dialect.status_classes
    )
    if isinstance(error, RateLimitError) and error.retryable and error.retry_after is None:
        error.retry_after = _reset_wait(error)
    return error


def inband_error(
    call: Call, payload: Mapping[str, Any], state: StreamState | None, dialect: Dialect
) -> LLMRouterError:
    """The typed error for an ``{"error": {...}}`` found in a stream event (``state`` given)
    or in a 200 body (``state`` is ``None``)."""
    err = payload.get("error")
    info: dict[str, Any] = dict(err) if isinstance(err, dict) else {"message": str(err)}
    status = info.get("status") or info.get("status_code")
    code = info.get("code")
    if not isinstance(status, int) and isinstance(code, int) and 400 <= code <= 599:
        status = code  # OpenRouter: "code" is the HTTP status
    if not isinstance(status, int):
        # The code is more specific than the type ("service_unavailable" vs "server_error").
        table = dialect.inband_status
        status = table.get(str(code), 0) or table.get(str(info.get("type")), 0)
    where = (
        f"error event in the stream after {state.chunks} chunk(s)"
        if state is not None
        else "error in a 200 response"
    )
    return error_in_band(
        call, {**payload, "error": info}, status, where, lambda c, r: map_error(c, r, dialect)
    )


def _json_object(call: Call, response: HTTPResponse, what: str, dialect: Dialect) -> dict[str, Any]:
    """The body as a dict; a 200 that carries an ``error`` object raises that error."""
    try:
        raw = response.json()
    except ValueError as exc:
        raise unreadable_response(call, response, what, exc) from None
    if not isinstance(raw, dict):
        raise unreadable_response(call, response, what, TypeError("not a JSON object"))
    if raw.get("error"):
        raise inband_error(call, raw, None, dialect)
    return raw


def parse_chat(call: Call, response: HTTPResponse, dialect: Dialect) -> ModelResponse:
    """A ``/chat/completions`` answer."""
    try:
        result = ModelResponse.model_validate_json(response.content)
    except ValidationError as exc:
        _json_object(call, response, "chat completion", dialect)  # a 200's in-band error
        raise unreadable_response(call, response, "chat completion", exc) from None
    reasons = dialect.finish_reasons
    for choice in result.choices:
        # Both fields came from the JSON (so they are in the model's fields_set already) and the
        # models do not validate assignment: writing __dict__ is what pydantic's __setattr__
        # would do, without its cost per assignment.
        reason = choice.finish_reason
        if reason is not None and reason in reasons:
            choice.__dict__["finish_reason"] = reasons[reason]
        message = choice.message
        if message.tool_calls == []:
            message.__dict__["tool_calls"] = None
    extra = result.__pydantic_extra__
    if extra and extra.get("error"):
        raise inband_error(call, {"error": extra["error"]}, None, dialect)
    return result


def completion_logprobs(raw: object) -> object:
    """``/completions`` log-probabilities (``tokens``, ``token_logprobs``, ``top_logprobs``)
    reshaped as a chat choice's (``{"content": [{token, logprob, bytes, top_logprobs}]}``);
    anything else is returned unchanged."""
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens"), list):
        return raw
    tokens = raw["tokens"]
    values = raw.get("token_logprobs") or [None] * len(tokens)
    tops = raw.get("top_logprobs") or [None] * len(tokens)
    content = []
    for token, value, top in zip(tokens, values, tops, strict=False):
        alternatives = top.items() if isinstance(top, dict) else ()
        content.append(
            {
                "token": token,
                "logprob": value if value is not None else 0.0,
                "bytes": list(str(token).encode()),
                "top_logprobs": [
                    {"token": t, "logprob": lp, "bytes": list(str(t).encode())}
                    for t, lp in alternatives
                ],
            }
        )
    return {"content": content, "refusal": None}


def parse_completion_as_chat(call: Call, response: HTTPResponse, dialect: Dialect) -> ModelResponse:
    """A ``/completions`` answer, reshaped as a chat completion (``message.content`` = text)."""
    raw = _json_object(call, response, "completion", dialect)
    reasons = dialect.finish_reasons
    try:
        choices = [
            Choice(
                index=c.get("index", i),
                message=Message(content=c.get("text", "")),
                finish_reason=_finish(c.get("finish_reason"), reasons),
                logprobs=completion_logprobs(c.get("logprobs")),
            )
            for i, c in enumerate(raw["choices"])
        ]
        usage = Usage.model_validate(raw["usage"]) if raw.get("usage") else None
        return ModelResponse(
            id=raw.get("id") or "",
            **({"created": int(raw["created"])} if raw.get("created") else {}),
            model=raw.get("model") or call.model,
            choices=choices,
            usage=usage,
            system_fingerprint=raw.get("system_fingerprint"),
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise unreadable_response(call, response, "completion", exc) from None


def _finish(reason: Any, reasons: Mapping[str, str]) -> Any:
    return reasons.get(reason, reason) if isinstance(reason, str) else reason


def _floats(encoded: str) -> list[float]:
    data = base64.b64decode(encoded, validate=True)
    if len(data) % 4:
        raise ValueError("base64 embedding is not a whole number of float32 values")
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def parse_embeddings(call: Call, response: HTTPResponse, dialect: Dialect) -> EmbeddingResponse:
    """``/embeddings``; an ``encoding_format="base64"`` answer is decoded to floats."""
    try:
        return EmbeddingResponse.model_validate_json(response.content)
    except ValidationError as first:
        raw = _json_object(call, response, "embedding response", dialect)
        try:
            for item in raw.get("data") or ():
                if isinstance(item, dict) and isinstance(item.get("embedding"), str):
                    item["embedding"] = _floats(item["embedding"])
            raw.setdefault("model", call.model)
            return EmbeddingResponse.model_validate(raw)
        except (ValueError, TypeError, ValidationError, struct.error):
            raise unreadable_response(call, response, "embedding response", first) from None


def parse_models(call: Call, response: HTTPResponse, dialect: Dialect) -> list[ModelInfo]:
    """``/models``: either shape, each entry kept whole with its service-specific fields."""
    return parse_model_list(call, response)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str | None) -> float | None:
    """Seconds in a rate-limit reset header: a Go duration (``6m0s``, ``1.5s``, ``20ms``) or a
    plain number of seconds. ``None`` when absent or unreadable."""
    if not text:
        return None
    value = text.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _reset_wait(error: RateLimitError) -> float | None:
    """When a 429 has no Retry-After: the reset time of the limit that was hit (the one named
    by the error ``type``, else those with nothing remaining). Never a guess."""
    limits = error.rate_limit
    kinds = [error.error_type] if error.error_type in ("requests", "tokens") else []
    if not kinds:
        kinds = [k for k in ("requests", "tokens") if limits.get(f"remaining-{k}") == "0"]
    waits = [parse_duration(limits.get(f"reset-{k}")) for k in kinds]
    found = [w for w in waits if w is not None]
    return max(found) if found else None
