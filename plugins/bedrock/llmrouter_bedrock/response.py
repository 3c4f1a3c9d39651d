"""Bedrock's Converse answers -> llmrouter's OpenAI-shaped types, and its errors -> the tree.

- A Converse response (``{"output": {"message": {"role", "content": [blocks]}}, "stopReason",
  "usage", "metrics"}``) becomes a :class:`~llmrouter.types.ModelResponse`: ``text`` blocks
  joined into ``message.content``, ``toolUse`` blocks -> ``tool_calls`` (the id kept, the
  input re-serialised as JSON text), ``reasoningContent`` blocks -> ``message.reasoning_content``
  (their text) and ``message.thinking_blocks`` (Anthropic's shape: ``thinking`` with its
  ``signature``, or ``redacted_thinking``; sent back unchanged by :mod:`.request`), and
  ``stopReason`` -> ``finish_reason`` through :data:`FINISH_REASONS`.
- ``citationsContent`` blocks: their generated text joins ``message.content`` in place, and
  ``message.citations`` lists one ``{"text", "citations"}`` per block (the text it supports,
  Converse's citations as sent). A ``toolUse`` of ``type`` ``server_tool_use`` is a tool the
  service ran itself, not one for the caller to run: it is listed in
  ``message.server_tool_uses`` (as sent), never in ``tool_calls``; the service's results of
  such tools (``toolResult`` blocks in the answer) in ``message.server_tool_results``.
- Blocks OpenAI's message has no field for (those, images, block types to come) are not
  dropped: the whole content, in order, is also kept as ``message.bedrock_content``.
  Bedrock's ``stopReason``, ``metrics``, ``trace`` and ``additionalModelResponseFields`` stay
  on the response as extra fields.
- Converse has no response id: the id is ``chatcmpl-`` and a random hex string (the request
  id, ``x-amzn-RequestId``, is ``response.llmrouter.request_id``).
- Usage: ``inputTokens`` counts the prompt tokens that were neither read from nor written to a
  cache, so ``prompt_tokens`` is the sum of all three (OpenAI's meaning: every prompt token),
  with ``prompt_tokens_details.cached_tokens`` (cache reads) and ``cache_creation_tokens``
  (cache writes), also kept under Anthropic's names ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``.
- Errors are ``{"message": ...}`` bodies whose type is the ``x-amzn-ErrorType`` header (else
  the body's ``code`` or ``__type``), in botocore's order; the type picks the class
  (:data:`ERROR_CLASSES`), else the HTTP status. An exception inside a stream has the same
  types (camelCase, ``throttlingException``) and maps the same way.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError

from llmrouter.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GatewayTimeoutError,
    InternalServerError,
    LLMRouterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    StreamError,
    status_error_class,
)
from llmrouter.pipeline import Call, HTTPResponse
from llmrouter.provider import error_from_response, unreadable_response
from llmrouter.secrets import redact_text
from llmrouter.translation import (
    assistant_message,
    cached_prompt_usage,
    json_object_body,
    openai_tool_call,
)
from llmrouter.types import ModelResponse

__all__ = [
    "ERROR_CLASSES",
    "ERROR_STATUS",
    "FINISH_REASONS",
    "REQUEST_ID_HEADERS",
    "SERVER_TOOL_USE",
    "citations_text",
    "error_type",
    "finish_reason",
    "inband_error",
    "map_error",
    "message_fields",
    "new_id",
    "parse_converse",
    "usage_of",
]

#: Response headers that hold Bedrock's request id.
REQUEST_ID_HEADERS: Final = ("x-amzn-requestid",)

#: Converse's ``stopReason`` -> OpenAI's ``finish_reason``. An unknown value (and
#: ``malformed_model_output``/``malformed_tool_use``, which OpenAI has no word for) passes
#: through unchanged, never guessed; the raw value is kept as ``response.stop_reason``.
FINISH_REASONS: Final[Mapping[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

#: Error type -> class. The type decides (AWS's 403 for a bad signature is an authentication
#: failure, its 429 for a model still loading a server condition), then the status.
ERROR_CLASSES: Final[Mapping[str, type[APIStatusError]]] = {
    "ValidationException": BadRequestError,
    "SerializationException": BadRequestError,
    "ThrottlingException": RateLimitError,
    "ServiceQuotaExceededException": RateLimitError,
    "AccessDeniedException": PermissionDeniedError,
    "ResourceNotFoundException": NotFoundError,
    "ConflictException": ConflictError,
    "ModelNotReadyException": ServiceUnavailableError,
    "ServiceUnavailableException": ServiceUnavailableError,
    "ModelTimeoutException": GatewayTimeoutError,
    "InternalServerException": InternalServerError,
    "InternalFailure": InternalServerError,
    "ModelErrorException": InternalServerError,
    "ModelStreamErrorException": InternalServerError,
    "UnrecognizedClientException": AuthenticationError,
    "InvalidSignatureException": AuthenticationError,
    "IncompleteSignatureException": AuthenticationError,
    "MissingAuthenticationTokenException": AuthenticationError,
    "ExpiredTokenException": AuthenticationError,
    "InvalidClientTokenId": AuthenticationError,
}

#: Error type -> the HTTP status the service model gives it (an exception inside a stream has
#: none of its own).
ERROR_STATUS: Final[Mapping[str, int]] = {
    "ValidationException": 400,
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 400,
    "ModelNotReadyException": 429,
    "ServiceUnavailableException": 503,
    "ModelTimeoutException": 408,
    "InternalServerException": 500,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
}

_validate_response = ModelResponse.__pydantic_validator__.validate_python


def new_id() -> str:
    """A response id: Converse sends none."""
    return "chatcmpl-" + uuid.uuid4().hex


def finish_reason(stop_reason: Any) -> Any:
    """``stopReason`` -> ``finish_reason`` (``None`` stays ``None``)."""
    return FINISH_REASONS.get(stop_reason, stop_reason) if isinstance(stop_reason, str) else None


def usage_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Converse's ``TokenUsage`` -> OpenAI's usage, as a dict (the cache counts kept under
    OpenAI's and Anthropic's names)."""
    return cached_prompt_usage(
        raw.get("inputTokens") or 0,
        raw.get("cacheReadInputTokens") or 0,
        raw.get("cacheWriteInputTokens") or 0,
        raw.get("outputTokens") or 0,
    )


def _thinking_block(reasoning: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A ``reasoningContent`` block -> (Anthropic-shaped thinking block, its text or None)."""
    text = reasoning.get("reasoningText")
    if isinstance(text, Mapping):
        block: dict[str, Any] = {"type": "thinking", "thinking": text["text"]}
        if text.get("signature"):
            block["signature"] = text["signature"]
        return block, text["text"]
    return {"type": "redacted_thinking", "data": reasoning["redactedContent"]}, None


#: ``ToolUseBlock.type`` of a tool the service runs itself (not the caller's to run).
SERVER_TOOL_USE: Final = "server_tool_use"


def citations_text(block: Mapping[str, Any]) -> str:
    """The generated text of a ``citationsContent`` block (its ``content[].text``, joined)."""
    return "".join(
        part["text"]
        for part in block.get("content") or ()
        if isinstance(part, Mapping) and isinstance(part.get("text"), str)
    )


def message_fields(content: list[Any]) -> dict[str, Any]:
    """The blocks of an answer -> the fields of its OpenAI message."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    thoughts: list[str] = []
    extras: dict[str, list[Any]] = {}
    other = False
    for block in content:
        if "text" in block:
            texts.append(block["text"])
        elif "citationsContent" in block:
            cited = block["citationsContent"]
            supported = citations_text(cited)
            texts.append(supported)
            extras.setdefault("citations", []).append(
                {"text": supported, "citations": cited.get("citations") or []}
            )
            other = True
        elif "toolUse" in block and block["toolUse"].get("type") == SERVER_TOOL_USE:
            extras.setdefault("server_tool_uses", []).append(block["toolUse"])
            other = True
        elif "toolResult" in block:
            extras.setdefault("server_tool_results", []).append(block["toolResult"])
            other = True
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(openai_tool_call(use["toolUseId"], use["name"], use["input"]))
        elif "reasoningContent" in block:
            kept, text = _thinking_block(block["reasoningContent"])
            thinking.append(kept)
            if text is not None:
                thoughts.append(text)
        else:
            other = True  # images, and block types to come
    message = assistant_message(texts, calls, thoughts, thinking)
    message.update(extras)
    if other:
        # Blocks OpenAI's message has no field for are not dropped: the whole content, in
        # order, is kept here.
        message["bedrock_content"] = content
    return message


def parse_converse(call: Call, response: HTTPResponse) -> ModelResponse:
    """A Converse answer -> a ModelResponse."""
    raw = json_object_body(call, response, "Converse response")
    try:
        stop_reason = raw["stopReason"]
        out: dict[str, Any] = {
            "id": new_id(),
            "created": int(time.time()),
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": message_fields(raw["output"]["message"]["content"]),
                    "finish_reason": finish_reason(stop_reason),
                }
            ],
            "usage": usage_of(raw["usage"]),
            "stop_reason": stop_reason,
        }
        for field, name in (
            ("metrics", "metrics"),
            ("trace", "trace"),
            ("additionalModelResponseFields", "additional_model_response_fields"),
            ("performanceConfig", "performance_config"),
            ("serviceTier", "service_tier"),
        ):
            if raw.get(field) is not None:
                out[name] = raw[field]
        return _validate_response(out)  # type: ignore[no-any-return]
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise unreadable_response(call, response, "Converse response", exc) from None


# --- errors ---------------------------------------------------------------------------------------


def error_type(headers: Mapping[str, str], body: Any) -> str | None:
    """The error's type, as botocore reads it: the ``x-amzn-ErrorType`` header, else the body's
    ``code`` (or ``Code``), else its ``__type``; any ``:suffix`` and ``namespace#`` removed."""
    code: Any = headers.get("x-amzn-errortype")
    if not code and isinstance(body, dict):
        code = body.get("code") or body.get("Code") or body.get("__type")
    if not isinstance(code, str) or not code:
        return None
    return code.split(":", 1)[0].rsplit("#", 1)[-1] or None


def map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    """The typed error for an error status: the class by the error type, else the status
    (the core's :func:`~llmrouter.provider.error_from_response` builds it, so it keeps the
    body, the request id and, for a throttle, ``retry-after`` when Bedrock or a proxy sends
    one); the type is the error's ``code`` and ``error_type`` and is named in its message."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    kind = error_type(response.headers, body)
    cls = ERROR_CLASSES.get(kind or "") or status_error_class(status)
    error = error_from_response(call, response, status_classes={status: cls})
    if kind and isinstance(error, APIStatusError):
        error.code = error.error_type = kind
        error.message = error.message.replace(f"HTTP {status}", f"HTTP {status} {kind}", 1)
    if isinstance(body, dict) and "message" not in body and isinstance(body.get("Message"), str):
        error.message += ": " + redact_text(body["Message"])  # some AWS errors capitalise it
    error.args = (error.message,)
    return error


def inband_error(call: Call, kind: str, payload: Any, where: str) -> LLMRouterError:
    """The typed error for an exception inside a stream (``throttlingException``...): the
    type's documented status mapped like an error response, its message prefixed with
    ``where``; an unknown type is a :class:`StreamError` keeping the payload."""
    name = kind[:1].upper() + kind[1:]
    status = ERROR_STATUS.get(name)
    if status is None:
        message = payload.get("message") if isinstance(payload, Mapping) else None
        return StreamError(
            f"{call.provider} sent an {where}: {name}: {message or payload}",
            provider=call.provider,
            model=call.model,
            body={"type": name, "payload": payload},
        )
    error = map_error(
        call,
        HTTPResponse(
            status,
            {"x-amzn-errortype": name},
            json.dumps(payload if isinstance(payload, Mapping) else {"message": payload}).encode(),
        ),
    )
    error.message = f"{where}: {error.message}"
    error.args = (error.message,)
    return error
