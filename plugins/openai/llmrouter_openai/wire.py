"""OpenAI's wire format as pure functions: request bodies in, llmrouter types out.

Shared by every provider of the family; where they differ, the difference is a field of their
:class:`~llmrouter_openai.presets.Preset`. Nothing here does I/O or reads the environment.

Shapes, from OpenAI's API reference and real servers of the family:

- chat responses are ``chat.completion`` objects; ``finish_reason`` is ``stop``, ``length``,
  ``tool_calls`` or ``content_filter`` (a few compatible servers say ``eos``: normalised);
- a stream is ``data: {chunk}`` events ending in ``data: [DONE]``; with
  ``stream_options.include_usage`` the last chunk has ``choices: []`` and the usage. llmrouter
  gives that chunk one empty choice (``delta: {}``, ``finish_reason: null``) so that
  ``chunk["choices"][0]["delta"]`` works on every chunk, as it does with Together. Groq may put
  the usage in ``x_groq.usage`` instead: it is moved to ``usage``;
- an error is ``{"error": {"message", "type", "param", "code"}}``, also as an in-band stream event
  (OpenRouter adds a numeric ``code`` holding the HTTP status);
- ``/models`` returns ``{"object": "list", "data": [...]}``;
- rate limits come as ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with resets as
  Go durations (``6m0s``, ``20ms``), plus ``retry-after`` / ``retry-after-ms`` sometimes.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from llmrouter.errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InvalidRequestError,
    LLMRouterError,
    NotFoundError,
    RateLimitError,
    StreamError,
)
from llmrouter.pipeline import (
    STREAM_DONE,
    Call,
    ChatPrompt,
    HTTPResponse,
    Prompt,
    StreamDone,
    StreamState,
    TextPrompt,
)
from llmrouter.provider import (
    error_from_response,
    merge_extra_body,
    parse_model_list,
    unreadable_response,
)
from llmrouter.types import (
    Choice,
    Delta,
    EmbeddingResponse,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamChoice,
    Usage,
)
from llmrouter_openai.errors import InsufficientQuotaError
from llmrouter_openai.options import CHAT_ONLY
from llmrouter_openai.presets import Preset

__all__ = [
    "CODE_CLASSES",
    "STATUS_CLASSES",
    "chat_body",
    "check_messages",
    "completion_body",
    "embedding_body",
    "map_error",
    "normalize_finish_reason",
    "parse_chat",
    "parse_completion_as_chat",
    "parse_duration",
    "parse_embeddings",
    "parse_models",
    "parse_stream_event",
]

#: Finish reasons some compatible servers use -> OpenAI's. Unknown values pass through.
FINISH_REASONS = {
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
}

#: Structured error ``code`` (or ``type``) -> class, refined within the status family only.
CODE_CLASSES: dict[str, type[APIStatusError]] = {
    "context_length_exceeded": ContextWindowExceededError,
    "invalid_api_key": AuthenticationError,
    "model_not_found": NotFoundError,
    "insufficient_quota": InsufficientQuotaError,
    "rate_limit_exceeded": RateLimitError,
}

#: Statuses the core has no class for. 413 (Groq: the request alone exceeds the tokens-per-minute
#: limit; others: body too large) is a client error that a retry cannot fix, and must not be
#: refined into a retryable RateLimitError by its ``rate_limit_exceeded`` code.
STATUS_CLASSES: dict[int, type[APIStatusError]] = {413: BadRequestError}

#: Error ``type``/``code`` of an in-band stream error without a status -> the status it means.
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "insufficient_quota": 429,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "requests": 429,
    "tokens": 429,
    "server_error": 500,
    "internal_server_error": 500,
    "service_unavailable": 503,
    "overloaded_error": 529,
}


def normalize_finish_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    return FINISH_REASONS.get(reason, reason)


# --- request bodies -------------------------------------------------------------------------------


def check_messages(call: Call, preset: Preset) -> None:
    """Refuse, before sending, what the provider is documented to reject in ``messages``."""
    if preset.rejects_message_name:
        for i, msg in enumerate(call.messages or ()):
            if "name" in msg:
                raise InvalidRequestError(
                    f"messages[{i}] has a 'name'; {preset.title} rejects messages[].name with "
                    "a 400: drop it (or fold it into the content)",
                    param=f"messages[{i}].name",
                    provider=call.provider,
                    model=call.model,
                )


def _stream_fields(call: Call, body: dict[str, Any]) -> None:
    if call.stream:
        stream_options = dict(body.get("stream_options") or {})
        stream_options.setdefault("include_usage", True)
        body["stream_options"] = stream_options
        body["stream"] = True
    else:
        body.pop("stream_options", None)


def chat_body(call: Call, options: BaseModel, prompt: ChatPrompt, preset: Preset) -> dict[str, Any]:
    """The ``/chat/completions`` body: messages as given, validated options, stream settings."""
    body: dict[str, Any] = {"model": call.model, "messages": prompt.messages}
    opts = options.model_dump(exclude_none=True)
    if preset.max_tokens_as_max_completion_tokens and "max_tokens" in opts:
        opts["max_completion_tokens"] = opts.pop("max_tokens")
    if "top_logprobs" in opts and "logprobs" not in opts:
        opts["logprobs"] = True
    body.update(opts)
    _stream_fields(call, body)
    return merge_extra_body(body, call)


def completion_body(
    call: Call, options: BaseModel, prompt: TextPrompt, preset: Preset
) -> dict[str, Any]:
    """The ``/completions`` body for a chat call whose prompt a template rendered client-side.

    Chat-style options are translated (``max_completion_tokens`` -> ``max_tokens``,
    ``logprobs=True, top_logprobs=k`` -> ``logprobs=k``); chat-only ones are refused. The
    template's stop sequences (its end-of-turn token) are added to the caller's.
    """
    opts = options.model_dump(exclude_none=True)
    used = sorted(k for k in opts if k in CHAT_ONLY)
    if used:
        raise InvalidRequestError(
            f"option(s) {', '.join(used)} need the chat endpoint, but a prompt template "
            f"({prompt.template!r}) sends this call to /completions; drop the template "
            "registration for this model or the option(s)",
            param=used[0],
            provider=call.provider,
            model=call.model,
        )
    if "max_completion_tokens" in opts:
        opts["max_tokens"] = opts.pop("max_completion_tokens")
    top = opts.pop("top_logprobs", None)
    logprobs = opts.pop("logprobs", None)
    if logprobs or top is not None:
        opts["logprobs"] = top if top is not None else 0
    if prompt.stop:
        stop = opts.get("stop")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        stops.extend(s for s in prompt.stop if s not in stops)
        if preset.max_stop is not None and len(stops) > preset.max_stop:
            raise InvalidRequestError(
                f"{preset.title} takes at most {preset.max_stop} stop sequences, but the "
                f"template {prompt.template!r} adds {len(prompt.stop)} to the {len(stops) - len(prompt.stop)} "
                "given; pass fewer",
                param="stop",
                provider=call.provider,
                model=call.model,
            )
        opts["stop"] = stops
    body: dict[str, Any] = {"model": call.model, "prompt": prompt.text}
    body.update(opts)
    _stream_fields(call, body)
    return merge_extra_body(body, call)


def embedding_body(call: Call, options: BaseModel) -> dict[str, Any]:
    body: dict[str, Any] = {"model": call.model, "input": call.input}
    body.update(options.model_dump(exclude_none=True))
    return merge_extra_body(body, call)


# --- responses ------------------------------------------------------------------------------------


def _json_object(call: Call, response: HTTPResponse, what: str) -> dict[str, Any]:
    """The body as a dict; a 200 that carries an ``error`` object raises that error."""
    try:
        raw = response.json()
    except ValueError as exc:
        raise unreadable_response(call, response, what, exc) from None
    if not isinstance(raw, dict):
        raise unreadable_response(call, response, what, TypeError("not a JSON object"))
    if raw.get("error"):
        raise inband_error(call, raw, None)
    return raw


def parse_chat(call: Call, response: HTTPResponse) -> ModelResponse:
    try:
        result = ModelResponse.model_validate_json(response.content)
    except ValidationError as exc:
        _json_object(call, response, "chat completion")  # raises a 200's in-band error, if any
        raise unreadable_response(call, response, "chat completion", exc) from None
    for choice in result.choices:
        choice.finish_reason = normalize_finish_reason(choice.finish_reason)
        if choice.message.tool_calls == []:
            choice.message.tool_calls = None
    extra = result.__pydantic_extra__
    if extra and extra.get("error"):
        raise inband_error(call, {"error": extra["error"]}, None)
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


def parse_completion_as_chat(call: Call, response: HTTPResponse) -> ModelResponse:
    """A ``/completions`` answer, reshaped as a chat completion (``message.content`` = text)."""
    raw = _json_object(call, response, "completion")
    try:
        choices = [
            Choice(
                index=c.get("index", i),
                message=Message(content=c.get("text", "")),
                finish_reason=normalize_finish_reason(c.get("finish_reason")),
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


def _floats(encoded: str) -> list[float]:
    data = base64.b64decode(encoded, validate=True)
    if len(data) % 4:
        raise ValueError("base64 embedding is not a whole number of float32 values")
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def parse_embeddings(call: Call, response: HTTPResponse) -> EmbeddingResponse:
    """``/embeddings``; a ``encoding_format="base64"`` answer is decoded to floats."""
    try:
        return EmbeddingResponse.model_validate_json(response.content)
    except ValidationError as first:
        raw = _json_object(call, response, "embedding response")
        try:
            for item in raw.get("data") or ():
                if isinstance(item, dict) and isinstance(item.get("embedding"), str):
                    item["embedding"] = _floats(item["embedding"])
            raw.setdefault("model", call.model)
            return EmbeddingResponse.model_validate(raw)
        except (ValueError, TypeError, ValidationError, struct.error):
            raise unreadable_response(call, response, "embedding response", first) from None


parse_models = parse_model_list


# --- streams --------------------------------------------------------------------------------------


def inband_error(
    call: Call, payload: Mapping[str, Any], state: StreamState | None
) -> LLMRouterError:
    """The typed error for an ``{"error": {...}}`` found in a stream event or a 200 body."""
    err = payload.get("error")
    info: dict[str, Any] = dict(err) if isinstance(err, dict) else {"message": str(err)}
    status = info.get("status") or info.get("status_code")
    code = info.get("code")
    if not isinstance(status, int) and isinstance(code, int) and 400 <= code <= 599:
        status = code  # OpenRouter: "code" is the HTTP status
    if not isinstance(status, int):
        status = _STREAM_ERROR_STATUS.get(str(code), 0) or _STREAM_ERROR_STATUS.get(
            str(info.get("type")), 0
        )
    where = (
        f"error event in the stream after {state.chunks} chunk(s)"
        if state is not None
        else "error in a 200 response"
    )
    if status:
        synthetic = HTTPResponse(status, {}, json.dumps({"error": info}).encode())
        error = map_error(call, synthetic)
        error.message = f"{where}: {error.message}"
        error.args = (error.message,)
        return error
    return StreamError(
        f"{call.provider} sent an {where}: {info.get('message') or info}",
        provider=call.provider,
        model=call.model,
        body=dict(payload),
    )


def _lenient_chunk(call: Call, data: str, state: StreamState) -> ModelResponseStream:
    """The slow path for a chunk the strict parse refused: an error event, or a compatible
    server's small deviations (no ``id``/``model``, tool-call deltas without ``index``)."""
    try:
        raw = json.loads(data)
    except ValueError:
        raise APIError(
            f"{call.provider} sent a stream event that is not JSON: {data[:200]!r}",
            provider=call.provider,
            model=call.model,
        ) from None
    if not isinstance(raw, dict):
        raise APIError(
            f"{call.provider} sent a stream event that is not an object: {data[:200]!r}",
            provider=call.provider,
            model=call.model,
        )
    if raw.get("error"):
        raise inband_error(call, raw, state)
    raw.setdefault("id", state.response_id or "")
    raw.setdefault("model", call.model)
    for choice in raw.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        for n, tool_call in enumerate(calls or ()):
            if isinstance(tool_call, dict):
                tool_call.setdefault("index", n)
    try:
        return ModelResponseStream.model_validate(raw)
    except ValidationError as exc:
        raise APIError(
            f"{call.provider} sent a stream chunk llmrouter cannot read: {exc}",
            provider=call.provider,
            model=call.model,
        ) from None


def _completion_chunk(call: Call, data: str, state: StreamState) -> ModelResponseStream | None:
    """A ``/completions`` stream chunk (client-side template), reshaped as a chat chunk."""
    try:
        raw = json.loads(data)
    except ValueError:
        raise APIError(
            f"{call.provider} sent a stream event that is not JSON: {data[:200]!r}",
            provider=call.provider,
            model=call.model,
        ) from None
    if not isinstance(raw, dict):
        raise APIError(
            f"{call.provider} sent a stream event that is not an object: {data[:200]!r}",
            provider=call.provider,
            model=call.model,
        )
    if raw.get("error"):
        raise inband_error(call, raw, state)
    try:
        choices = [
            StreamChoice(
                index=c.get("index", i),
                delta=Delta(
                    role="assistant" if state.chunks == 0 else None, content=c.get("text") or ""
                ),
                finish_reason=normalize_finish_reason(c.get("finish_reason")),
                logprobs=completion_logprobs(c.get("logprobs")),
            )
            for i, c in enumerate(raw.get("choices") or [])
        ]
        usage = Usage.model_validate(raw["usage"]) if raw.get("usage") else None
    except (AttributeError, TypeError, ValueError, ValidationError) as exc:
        raise APIError(
            f"{call.provider} sent a completion chunk llmrouter cannot read: {exc}",
            provider=call.provider,
            model=call.model,
        ) from None
    if not choices:
        if usage is None:
            return None
        choices = [StreamChoice(index=0, delta=Delta())]
    return ModelResponseStream(
        id=raw.get("id") or "",
        model=raw.get("model") or call.model,
        choices=choices,
        usage=usage,
        **({"created": int(raw["created"])} if raw.get("created") else {}),
    )


def parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    """One SSE ``data`` -> a chunk, ``None`` (nothing to show) or ``STREAM_DONE``."""
    if data == "[DONE]":
        return STREAM_DONE
    if isinstance(prompt, TextPrompt):
        return _completion_chunk(call, data, state)
    try:
        chunk = ModelResponseStream.model_validate_json(data)
    except ValidationError:
        chunk = _lenient_chunk(call, data, state)
    extra = chunk.__pydantic_extra__
    if extra:
        if extra.get("error"):
            raise inband_error(call, {"error": extra["error"]}, state)
        groq = extra.get("x_groq")
        if chunk.usage is None and isinstance(groq, dict) and groq.get("usage"):
            chunk.usage = Usage.model_validate(groq["usage"])
    if state.response_id is None:
        state.response_id = chunk.id
    choices = chunk.choices
    if not choices:
        if chunk.usage is None:
            return None  # e.g. a prompt-filter or keep-alive chunk: nothing for the caller
        # OpenAI's usage chunk: give it a choice so chunk.choices[0] works on every chunk
        chunk.choices = [StreamChoice(index=0, delta=Delta())]
        return chunk
    for choice in choices:
        reason = choice.finish_reason
        if reason is not None:
            if reason == "error":
                raise inband_error(call, {"error": {"message": "finish_reason 'error'"}}, state)
            choice.finish_reason = FINISH_REASONS.get(reason, reason)
    return chunk


# --- errors ---------------------------------------------------------------------------------------

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


def map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    error = error_from_response(
        call, response, code_classes=CODE_CLASSES, status_classes=STATUS_CLASSES
    )
    if isinstance(error, RateLimitError) and error.retryable and error.retry_after is None:
        error.retry_after = _reset_wait(error)
    return error
