"""Together's wire format as pure functions: request bodies in, llmrouter types out.

Nothing here does I/O or reads the environment; ``plugin.py`` adapts the hooks to these
functions. Together's OpenAPI spec is the source of truth for fields and shapes; these facts are
not in it but are seen in real traffic, so the code relies on them too: chat and completion
responses carry ``prompt: []`` and ``choices[].seed``; ``finish_reason`` may be ``eos``; streams
end with ``data: [DONE]`` and carry usage on the last content chunk (the plugin always sends
``stream_options: {"include_usage": true}`` to ask for it); an error inside a stream is a
``data: {"error": {...}}`` event; ``/models`` returns a bare JSON array. docs/providers/together.md
("Responses") tells users the same.

Streams are read in both shapes a Together server may send: the spec's (every tool-call piece
repeats ``id``, ``type`` and ``function.name``; a completion chunk has a top-level ``token`` and
``finish_reason``) and OpenAI's (a call is named once, then only ``index`` and ``arguments``).
Chunks always leave here in OpenAI's shape, so code that joins the pieces of a tool call, as
OpenAI's own stream helpers do, gets the name once.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from pydantic import BaseModel, ValidationError

from llmrouter.errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    ContextWindowExceededError,
    InvalidRequestError,
    LLMRouterError,
    NotFoundError,
    PaymentRequiredError,
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
from llmrouter_together.options import CHAT_ONLY

__all__ = [
    "chat_body",
    "completion_body",
    "embedding_body",
    "map_error",
    "normalize_finish_reason",
    "parse_chat",
    "parse_completion_as_chat",
    "parse_embeddings",
    "parse_models",
    "parse_stream_event",
]

#: Together's finish reasons -> OpenAI's. Unknown values pass through unchanged (not guessed).
FINISH_REASONS = {
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
}

#: Together's structured error ``code``/``type`` values -> classes (refined within the status).
CODE_CLASSES: dict[str, type[APIStatusError]] = {
    "context_length_exceeded": ContextWindowExceededError,
    "model_not_available": NotFoundError,
    "model_not_found": NotFoundError,
    "invalid_api_key": AuthenticationError,
    "rate_limit_exceeded": RateLimitError,
    "credit_limit": PaymentRequiredError,
    "insufficient_quota": PaymentRequiredError,
}

#: Error ``type`` of an in-band stream error -> the HTTP status it stands for.
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
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


def _common_options(call: Call, options: BaseModel) -> dict[str, Any]:
    """The validated options as Together wants them (shared by chat and completions)."""
    if not options.model_fields_set:
        # No option given (the common case): nothing below applies but the stream flags.
        return {"stream_options": {"include_usage": True}, "stream": True} if call.stream else {}
    body = options.model_dump(exclude_none=True)
    if body.pop("together_ai", None) is not None:
        warnings.warn(
            "together_ai=True is a legacy tutorial flag; the 'together_ai/' model prefix already "
            "selects Together, so the flag is ignored and not sent",
            DeprecationWarning,
            stacklevel=6,
        )
    stop = body.get("stop")
    if isinstance(stop, str):
        body["stop"] = [stop]
    top_logprobs = body.pop("top_logprobs", None)
    logprobs = body.get("logprobs")
    if isinstance(logprobs, bool):
        if logprobs:
            body["logprobs"] = top_logprobs if top_logprobs is not None else 1
        else:
            del body["logprobs"]
    elif top_logprobs is not None and logprobs is None:
        body["logprobs"] = top_logprobs
    if call.stream:
        stream_options = dict(body.get("stream_options") or {})
        stream_options["include_usage"] = True
        body["stream_options"] = stream_options
        body["stream"] = True
    else:
        body.pop("stream_options", None)
    return body


def _together_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as Together's schema wants them.

    The spec requires ``index`` on each tool call of an assistant message (OpenAI's shape has
    none), so those messages are copied with the position added; all others pass unchanged.
    """
    out = messages
    for i, msg in enumerate(messages):
        calls = msg.get("tool_calls")
        if not calls or all("index" in c for c in calls):
            continue
        if out is messages:
            out = list(messages)
        out[i] = {
            **msg,
            "tool_calls": [{**c, "index": c.get("index", n)} for n, c in enumerate(calls)],
        }
    return out


def chat_body(call: Call, options: BaseModel, prompt: ChatPrompt) -> dict[str, Any]:
    body: dict[str, Any] = {"model": call.model, "messages": _together_messages(prompt.messages)}
    body.update(_common_options(call, options))
    # A forced tool_choice goes out as OpenAI's {"type": "function", "function": {"name": ...}},
    # unchanged: Together's function-calling docs show that object and its SDK passes it through.
    # The spec's object form (ToolChoice: id, index and arguments required) is a copy of the
    # tool-call schema that no caller can fill in before the call; the contract tests list this
    # as a deliberate departure from the spec.
    return merge_extra_body(body, call)


def completion_body(call: Call, options: BaseModel, prompt: TextPrompt) -> dict[str, Any]:
    """The ``/completions`` body for a client-side rendered prompt.

    The template's stop sequences (its end-of-turn token) are added to the caller's, so the
    model stops where the assistant turn ends instead of writing the user's next turn.
    """
    used = sorted(k for k in CHAT_ONLY if getattr(options, k, None) is not None)
    if used:
        raise InvalidRequestError(
            f"option(s) {', '.join(used)} need the chat endpoint, but a prompt template "
            f"({prompt.template!r}) sends this call to /completions; drop the template "
            "registration for this model or the option(s)",
            param=used[0],
            provider=call.provider,
            model=call.model,
        )
    body: dict[str, Any] = {"model": call.model, "prompt": prompt.text}
    body.update(_common_options(call, options))
    if prompt.stop:
        stops = list(body.get("stop") or [])
        for s in prompt.stop:
            if s not in stops:
                stops.append(s)
        body["stop"] = stops
    return merge_extra_body(body, call)


def embedding_body(call: Call) -> dict[str, Any]:
    body: dict[str, Any] = {"model": call.model, "input": call.input}
    return merge_extra_body(body, call)


# --- responses ------------------------------------------------------------------------------------


def parse_chat(call: Call, response: HTTPResponse) -> ModelResponse:
    try:
        result = ModelResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise unreadable_response(call, response, "chat completion", exc) from None
    for choice in result.choices:
        reason = choice.finish_reason
        normalized = normalize_finish_reason(reason)
        # Both fields came from the JSON (so they are already in the model's fields_set) and the
        # models do not validate assignments: writing __dict__ is what pydantic's __setattr__
        # would do, without its ~1 us per assignment.
        if normalized != reason:
            choice.__dict__["finish_reason"] = normalized
        message = choice.message
        if message.tool_calls == []:
            message.__dict__["tool_calls"] = None
    return result


def parse_completion_as_chat(call: Call, response: HTTPResponse) -> ModelResponse:
    """A ``/completions`` answer, reshaped as a chat completion (``message.content`` = text)."""
    try:
        raw = response.json()
        choices = [
            Choice(
                index=c.get("index", i),
                message=Message(content=c.get("text", "")),
                finish_reason=normalize_finish_reason(c.get("finish_reason")),
                logprobs=c.get("logprobs"),
            )
            for i, c in enumerate(raw["choices"])
        ]
        usage = Usage.model_validate(raw["usage"]) if raw.get("usage") else None
        return ModelResponse(
            id=raw["id"],
            **({"created": int(raw["created"])} if raw.get("created") else {}),
            model=raw.get("model") or call.model,
            choices=choices,
            usage=usage,
        )
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise unreadable_response(call, response, "completion", exc) from None


def parse_embeddings(call: Call, response: HTTPResponse) -> EmbeddingResponse:
    try:
        result = EmbeddingResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise unreadable_response(call, response, "embedding response", exc) from None
    return result


parse_models = parse_model_list


# --- streams --------------------------------------------------------------------------------------


def _stream_error(call: Call, payload: dict[str, Any], state: StreamState) -> LLMRouterError:
    err = payload.get("error")
    info = err if isinstance(err, dict) else {"message": str(err)}
    status = info.get("status") or info.get("status_code")
    if not isinstance(status, int):
        # The code is more specific than the type ("service_unavailable" vs "server_error").
        status = _STREAM_ERROR_STATUS.get(str(info.get("code")), 0) or _STREAM_ERROR_STATUS.get(
            str(info.get("type")), 0
        )
    if status:
        synthetic = HTTPResponse(status, {}, json.dumps({"error": info}).encode())
        error = error_from_response(call, synthetic, code_classes=CODE_CLASSES)
        error.message = f"error event in the stream after {state.chunks} chunk(s): {error.message}"
        error.args = (error.message,)
        return error
    return StreamError(
        f"{call.provider} sent an error event in the stream after {state.chunks} chunk(s): "
        f"{info.get('message') or info}",
        provider=call.provider,
        model=call.model,
        body=payload,
    )


#: ``ModelResponseStream.model_validate_json`` without the classmethod's per-call overhead (this
#: runs once per streamed chunk).
_validate_chunk = ModelResponseStream.__pydantic_validator__.validate_json


def parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    if data == "[DONE]":
        return STREAM_DONE
    text_prompt = isinstance(prompt, TextPrompt)
    try:
        if not text_prompt:
            chunk: ModelResponseStream = _validate_chunk(data)
            extra = chunk.__pydantic_extra__
            if extra and "error" in extra:
                raise _stream_error(call, {"error": extra["error"]}, state)
            for choice in chunk.choices:
                if choice.finish_reason is not None:
                    choice.finish_reason = normalize_finish_reason(choice.finish_reason)
                if choice.delta.tool_calls:
                    _name_tool_calls_once(choice.index, choice.delta, state)
            return chunk
        raw = json.loads(data)
    except ValidationError:
        try:
            raw = json.loads(data)
        except ValueError:
            raw = None
        if isinstance(raw, dict) and "error" in raw:
            raise _stream_error(call, raw, state) from None
        raise APIError(
            f"{call.provider} sent a stream event llmrouter cannot read: {data[:200]!r}",
            provider=call.provider,
            model=call.model,
        ) from None
    except ValueError:
        raise APIError(
            f"{call.provider} sent a stream event that is not JSON: {data[:200]!r}",
            provider=call.provider,
            model=call.model,
        ) from None
    # A completion chunk (client-side template): reshape as a chat chunk.
    if not isinstance(raw, dict):
        raise APIError(f"{call.provider} sent a stream event that is not an object: {data[:200]!r}")
    if "error" in raw:
        raise _stream_error(call, raw, state)
    try:
        raw_choices = raw.get("choices") or []
        token = raw.get("token")
        if not raw_choices and isinstance(token, dict):
            # only the spec's top-level token: it is the one choice's text
            raw_choices = [{"index": 0, "text": token.get("text") or ""}]
        # The spec puts finish_reason at the top level of a completion chunk; servers that
        # follow OpenAI put it in the choice. With one choice, either means that choice.
        one = len(raw_choices) == 1
        top_finish = raw.get("finish_reason") if one else None
        token_text = token.get("text") if one and isinstance(token, dict) else None
        choices = [
            StreamChoice(
                index=c.get("index", i),
                delta=Delta(
                    role="assistant" if state.chunks == 0 else None,
                    content=_completion_text(c, token_text),
                ),
                finish_reason=normalize_finish_reason(c.get("finish_reason") or top_finish),
                logprobs=c.get("logprobs"),
            )
            for i, c in enumerate(raw_choices)
        ]
        usage = Usage.model_validate(raw["usage"]) if raw.get("usage") else None
        return ModelResponseStream(
            id=raw.get("id") or "",
            model=raw.get("model") or call.model,
            choices=choices,
            usage=usage,
            **({"created": int(raw["created"])} if raw.get("created") else {}),
        )
    except (ValueError, TypeError, ValidationError) as exc:
        raise APIError(
            f"{call.provider} sent a completion chunk llmrouter cannot read: {exc}"
        ) from None


def _completion_text(choice: dict[str, Any], token_text: object) -> str:
    """A completion chunk choice's new text: ``text``, else its chat-style ``delta.content``,
    else (the chunk's only choice) the text of the spec's top-level ``token``."""
    text = choice.get("text")
    if text:
        return str(text)
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    if isinstance(content, str) and content:
        return content
    return token_text if isinstance(token_text, str) else ""


#: ``StreamState.data`` key: (choice index, tool-call index) -> the id of the call seen there.
_TOOL_CALLS_SEEN = "together.tool_calls_seen"


def _name_tool_calls_once(choice_index: int, delta: Delta, state: StreamState) -> None:
    """Reduce spec-shaped tool-call pieces to OpenAI's: name a call in its first piece only.

    Together's spec (its ``ToolChoice`` schema, which Together's SDK validates) repeats ``id``,
    ``type`` and ``function.name`` in every piece of a streamed call; OpenAI sends them once and
    then only ``index`` and ``arguments``. Consumers join string fields piece by piece (OpenAI's
    own stream helpers do), so a repeated name would come out as ``get_weatherget_weather...``.
    A piece that repeats the id already seen at its index loses those fields; a piece with a new
    id is a new call and is left whole.
    """
    calls = delta.tool_calls
    assert calls is not None
    seen: dict[tuple[int, int], str | None] = state.data.setdefault(_TOOL_CALLS_SEEN, {})
    for tc in calls:
        key = (choice_index, tc.index)
        if key not in seen or (tc.id is not None and tc.id != seen[key]):
            seen[key] = tc.id
            continue
        # A repeat: clear the fields as if they had never been sent (the models do not validate
        # assignment, so this is what pydantic's __setattr__ would do, minus the fields_set).
        tc.__dict__["id"] = None
        tc.__dict__["type"] = None
        tc.__pydantic_fields_set__.difference_update(("id", "type"))
        function = tc.function
        if function is not None:
            function.__dict__["name"] = None
            function.__pydantic_fields_set__.discard("name")


def map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    return error_from_response(call, response, code_classes=CODE_CLASSES)
