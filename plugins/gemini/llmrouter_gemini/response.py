"""Gemini's answers -> llmrouter's OpenAI-shaped types, and its errors -> the error tree.

- A ``GenerateContentResponse`` becomes a :class:`~llmrouter.types.ModelResponse`, one choice
  per candidate: ``text`` parts joined into ``message.content``, ``thought`` parts joined into
  ``message.reasoning_content``, ``functionCall`` parts -> ``tool_calls`` (the args
  re-serialised as JSON text; the id is Gemini's when it sends one, else
  ``call_<responseId>_<candidate>_<n>``, stable for a given answer; a part's
  ``thoughtSignature`` kept as the tool call's ``thought_signature``, which :mod:`.request`
  sends back), and ``finishReason`` -> ``finish_reason`` through :data:`FINISH_REASONS` (a
  candidate with function calls that ended normally -> ``tool_calls``). Gemini's own reason is
  kept on the choice as ``gemini_finish_reason`` (and ``finishMessage`` as ``finish_message``).
- A prompt blocked before any candidate (``promptFeedback.blockReason``, no ``candidates``)
  becomes one choice with ``content=""`` and ``finish_reason="content_filter"``, the feedback
  kept as ``response.prompt_feedback``: never an IndexError, and the same shape as an answer
  blocked midway.
- Usage: ``prompt_tokens`` = ``promptTokenCount`` (+ ``toolUsePromptTokenCount``),
  ``completion_tokens`` = ``candidatesTokenCount`` + ``thoughtsTokenCount`` (OpenAI counts
  reasoning as completion), with ``prompt_tokens_details.cached_tokens`` and
  ``completion_tokens_details.reasoning_tokens``.
- An error body ``{"error": {"code", "message", "status", "details"}}`` maps by HTTP status,
  then by ``status`` (:data:`STATUS_CLASSES`); see :func:`map_error`.
- ``GET /{version}/models`` is one page (``pageSize=1000``); a ``nextPageToken`` is an error,
  never a silently short list. Names lose their ``models/`` prefix.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from llmrouter.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    GatewayTimeoutError,
    InternalServerError,
    LLMRouterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    status_error_class,
)
from llmrouter.pipeline import Call, HTTPResponse
from llmrouter.provider import error_from_response, error_in_band, unreadable_response
from llmrouter.translation import (
    assistant_message,
    json_object_body,
    one_page_error,
    openai_tool_call,
)
from llmrouter.types import EmbeddingResponse, ModelInfo, ModelResponse

__all__ = [
    "FINISH_REASONS",
    "STATUS_CLASSES",
    "STATUS_CODES",
    "choice_fields",
    "finish_reason",
    "inband_error",
    "map_error",
    "parse_embeddings",
    "parse_generate",
    "parse_models",
    "retry_delay",
    "tool_call_id",
    "usage_of",
]

#: Gemini's ``finishReason`` -> OpenAI's ``finish_reason``. An unknown value passes through
#: lower-cased (never guessed).
FINISH_REASONS: Final[Mapping[str, str]] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "OTHER": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "TOO_MANY_TOOL_CALLS": "stop",
}

#: The error ``status`` (google.rpc.Code name) -> class, refining the HTTP status's class.
STATUS_CLASSES: Final[Mapping[str, type[APIStatusError]]] = {
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "OUT_OF_RANGE": BadRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "INTERNAL": InternalServerError,
    "UNAVAILABLE": ServiceUnavailableError,
    "DEADLINE_EXCEEDED": GatewayTimeoutError,
}

#: The error ``status`` -> its HTTP status, for an error that arrives without one (in a stream).
STATUS_CODES: Final[Mapping[str, int]] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

#: ErrorInfo ``reason`` values that mean a bad key (Gemini answers them with a 400).
_KEY_REASONS: Final = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
#: Gemini says "The input token count (N) exceeds the maximum number of tokens allowed (M)",
#: with no structured code of its own: the one place this plugin reads an error's text.
_TOO_LONG: Final = re.compile(r"input token count.*exceeds the maximum", re.IGNORECASE)
_DELAY: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")

_validate_response = ModelResponse.__pydantic_validator__.validate_python


def finish_reason(raw: Any, has_calls: bool = False) -> Any:
    """``finishReason`` -> ``finish_reason``; ``None`` stays ``None``. A candidate with
    function calls that stopped normally finished with ``tool_calls``."""
    if not isinstance(raw, str):
        return None
    if has_calls and raw == "STOP":
        return "tool_calls"
    return FINISH_REASONS.get(raw, raw.lower())


def usage_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Gemini's ``usageMetadata`` -> OpenAI's usage, as a dict."""
    prompt = (raw.get("promptTokenCount") or 0) + (raw.get("toolUsePromptTokenCount") or 0)
    thoughts = raw.get("thoughtsTokenCount") or 0
    completion = (raw.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": raw.get("cachedContentTokenCount") or 0},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def tool_call_id(response_id: str, candidate: int, n: int) -> str:
    """The id given to the ``n``-th function call of a candidate when Gemini sends none."""
    return f"call_{response_id}_{candidate}_{n}"


def choice_fields(
    candidate: Mapping[str, Any], index: int, response_id: str, first_call: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """A candidate's parts -> (message fields with texts joined, tool calls, thought texts).

    ``first_call`` numbers the tool calls (a stream counts across events)."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    content = candidate.get("content") or {}
    for part in content.get("parts") or ():
        text = part.get("text")
        if isinstance(text, str):
            (thoughts if part.get("thought") else texts).append(text)
            continue
        fc = part.get("functionCall")
        if isinstance(fc, Mapping):
            call = openai_tool_call(
                fc.get("id") or tool_call_id(response_id, index, first_call + len(calls)),
                fc["name"],
                fc.get("args") or {},
            )
            signature = part.get("thoughtSignature")
            if isinstance(signature, str):
                call["thought_signature"] = signature
            calls.append(call)
    return {"texts": texts}, calls, thoughts


def _message(candidate: Mapping[str, Any], index: int, response_id: str) -> dict[str, Any]:
    fields, calls, thoughts = choice_fields(candidate, index, response_id)
    message = assistant_message(fields["texts"], calls, thoughts)
    raw = candidate.get("finishReason")
    choice: dict[str, Any] = {
        "index": candidate.get("index", index),
        "message": message,
        "finish_reason": finish_reason(raw, bool(calls)),
        "gemini_finish_reason": raw,
    }
    if candidate.get("finishMessage") is not None:
        choice["finish_message"] = candidate["finishMessage"]
    return choice


def _json_body(call: Call, response: HTTPResponse, what: str) -> dict[str, Any]:
    """The body as a dict; a 200 that carries an error object raises that error."""
    raw = json_object_body(call, response, what)
    if isinstance(raw.get("error"), Mapping):
        raise inband_error(call, raw, "error in a 200 response")
    return raw


def _blocked_choice(feedback: Any) -> dict[str, Any]:
    reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
    return {
        "index": 0,
        "message": {"role": "assistant", "content": ""},
        "finish_reason": "content_filter",
        "gemini_finish_reason": reason,
    }


def parse_generate(call: Call, response: HTTPResponse) -> ModelResponse:
    """A ``generateContent`` answer -> a ModelResponse."""
    raw = _json_body(call, response, "response")
    try:
        response_id = raw.get("responseId") or "gemini-" + uuid.uuid4().hex
        candidates = raw.get("candidates") or []
        choices = [_message(c, i, response_id) for i, c in enumerate(candidates)]
        feedback = raw.get("promptFeedback")
        if not choices:
            choices = [_blocked_choice(feedback)]
        out: dict[str, Any] = {
            "id": response_id,
            "created": int(time.time()),
            "model": raw.get("modelVersion") or call.model,
            "choices": choices,
            # No usageMetadata is "not reported", not zero tokens.
            "usage": usage_of(raw["usageMetadata"]) if raw.get("usageMetadata") else None,
        }
        if feedback is not None:
            out["prompt_feedback"] = feedback
        return _validate_response(out)  # type: ignore[no-any-return]
    except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as exc:
        raise unreadable_response(call, response, "response", exc) from None


# --- errors ---------------------------------------------------------------------------------------


def retry_delay(details: object) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "37s"``), if any."""
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _reasons(details: object) -> set[str]:
    if not isinstance(details, list):
        return set()
    return {
        str(d.get("reason"))
        for d in details
        if isinstance(d, Mapping) and str(d.get("@type", "")).endswith("ErrorInfo")
    }


def _class_for(status: int, err: Mapping[str, Any]) -> type[APIStatusError]:
    """The class of the HTTP status, refined by Gemini's ``status`` within its family; a bad
    key (ErrorInfo reason API_KEY_INVALID, sent as a 400) is an AuthenticationError; a 400 that
    says the input has too many tokens is a ContextWindowExceededError."""
    base = status_error_class(status)
    details = err.get("details")
    if _reasons(details) & _KEY_REASONS:
        return AuthenticationError
    refined = STATUS_CLASSES.get(str(err.get("status")))
    cls = refined if refined is not None and issubclass(refined, base) else base
    message = err.get("message")
    if issubclass(cls, BadRequestError) and isinstance(message, str) and _TOO_LONG.search(message):
        return ContextWindowExceededError
    return cls


def map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    """The typed error for an error status (see :func:`_class_for`); a 429 keeps the wait of
    ``retry-after`` or, failing that, of the body's RetryInfo."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]  # the streaming endpoint's error form: ``[{"error": {...}}]``
        response = HTTPResponse(
            response.status_code,
            response.headers,
            json.dumps(body).encode(),
            response.request_id_headers,
        )
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, Mapping):
        return error_from_response(call, response)
    cls = _class_for(response.status_code, err)
    error = error_from_response(call, response, status_classes={response.status_code: cls})
    if isinstance(error, APIStatusError) and isinstance(err.get("status"), str):
        error.error_type = err["status"]
    if isinstance(error, RateLimitError) and error.retry_after is None:
        error.retry_after = retry_delay(err.get("details"))
    return error


def inband_error(call: Call, payload: Mapping[str, Any], where: str) -> LLMRouterError:
    """The typed error for an error object that arrived without an error status (in a stream,
    or in a 200): its ``code`` (or its ``status``) gives the HTTP status it stands for; without
    either it is a StreamError."""
    err = payload.get("error")
    status: int | None = None
    if isinstance(err, Mapping):
        code = err.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
            status = code
        else:
            status = STATUS_CODES.get(str(err.get("status")))
    return error_in_band(call, payload, status, where, map_error)


# --- embeddings and models ------------------------------------------------------------------------


def parse_embeddings(call: Call, response: HTTPResponse) -> EmbeddingResponse:
    """``batchEmbedContents``: ``{"embeddings": [{"values": [...]}]}`` -> EmbeddingResponse,
    in input order. Gemini reports no token counts here, so ``usage`` is ``None``."""
    raw = _json_body(call, response, "embedding response")
    try:
        items = raw["embeddings"]
        return EmbeddingResponse.model_validate(
            {
                "data": [
                    {"object": "embedding", "index": i, "embedding": item["values"]}
                    for i, item in enumerate(items)
                ],
                "model": call.model,
                "usage": None,
            }
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise unreadable_response(call, response, "embedding response", exc) from None


def parse_models(call: Call, response: HTTPResponse) -> list[ModelInfo]:
    """``GET /{version}/models``: ``{models, nextPageToken}`` -> ModelInfo (id without
    ``models/``, every other field kept). A ``nextPageToken`` is an APIError: llmrouter sends
    one request per call, and a short list must not pass for the whole one."""
    raw = _json_body(call, response, "model list")
    try:
        models = [
            ModelInfo.model_validate(
                {
                    **item,
                    "id": item["name"].removeprefix("models/"),
                    "object": "model",
                    "owned_by": "google",
                }
            )
            for item in raw.get("models") or []
        ]
    except (KeyError, TypeError, ValueError, ValidationError, AttributeError) as exc:
        raise unreadable_response(call, response, "model list", exc) from None
    if raw.get("nextPageToken"):
        raise one_page_error(call, response, len(models), "the answer has a nextPageToken")
    return models
