"""Stream events of OpenAI's wire format: one SSE ``data`` in, one chunk (or nothing) out.

A stream is ``data: {chunk}`` events ending in ``data: [DONE]``. Chunks leave here in OpenAI's
shape whatever the server sent, and every chunk has at least one choice, so
``chunk["choices"][0]["delta"]`` works on each:

- with ``stream_options.include_usage`` OpenAI's last chunk has ``choices: []`` and the usage: it
  gets one empty choice (``delta: {}``, ``finish_reason: null``). A chunk with neither choices
  nor usage (a prompt-filter note, a keep-alive) is skipped. Groq may put the usage in
  ``x_groq.usage``: it is moved to ``usage``;
- Together's spec repeats ``id``, ``type`` and ``function.name`` in every piece of a streamed
  tool call, where OpenAI names a call once and then sends only ``index`` and ``arguments``.
  Consumers join string fields piece by piece (OpenAI's own stream helpers do), so a repeated
  name would come out as ``get_weatherget_weather``: repeats are dropped;
- small deviations (no ``id``/``model``, tool-call pieces without ``index``) are repaired on a
  slow path that runs only when the strict parse refuses a chunk;
- an ``{"error": {...}}`` event, or ``finish_reason: "error"``, raises the typed error;
- a ``/completions`` chunk (a client-side template's stream) is reshaped as a chat chunk; both
  its shapes are read: OpenAI's (``choices[].text``) and Together's spec (a top-level ``token``
  and ``finish_reason``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from llmrouter.errors import APIError
from llmrouter.openai_compat.dialect import Dialect
from llmrouter.openai_compat.responses import completion_logprobs, inband_error
from llmrouter.pipeline import STREAM_DONE, Call, Prompt, StreamDone, StreamState, TextPrompt
from llmrouter.types import Delta, ModelResponseStream, StreamChoice, Usage

__all__ = ["parse_stream_event"]

#: ``ModelResponseStream.model_validate_json`` without the classmethod's per-call overhead (this
#: runs once per streamed chunk).
_validate_chunk = ModelResponseStream.__pydantic_validator__.validate_json


def parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState, dialect: Dialect
) -> ModelResponseStream | StreamDone | None:
    """One SSE ``data`` -> a chunk, ``None`` (nothing to show) or ``STREAM_DONE``."""
    if data == "[DONE]":
        return STREAM_DONE
    if isinstance(prompt, TextPrompt):
        return _completion_chunk(call, data, state, dialect)
    try:
        chunk: ModelResponseStream = _validate_chunk(data)
    except ValidationError:
        chunk = _lenient_chunk(call, data, state, dialect)
    extra = chunk.__pydantic_extra__
    if extra:
        if extra.get("error"):
            raise inband_error(call, {"error": extra["error"]}, state, dialect)
        groq = extra.get("x_groq")
        if chunk.usage is None and isinstance(groq, dict) and groq.get("usage"):
            chunk.usage = Usage.model_validate(groq["usage"])
    if state.response_id is None:
        state.response_id = chunk.id
    choices = chunk.choices
    if not choices:
        if chunk.usage is None:
            return None
        chunk.choices = [StreamChoice(index=0, delta=Delta())]
        return chunk
    reasons = dialect.finish_reasons
    for choice in choices:
        reason = choice.finish_reason
        if reason is not None:
            if reason == "error":
                raise inband_error(
                    call, {"error": {"message": "finish_reason 'error'"}}, state, dialect
                )
            if reason in reasons:
                choice.finish_reason = reasons[reason]
        if choice.delta.tool_calls:
            _name_tool_calls_once(choice.index, choice.delta, state)
    return chunk


def _event_object(call: Call, data: str) -> dict[str, Any]:
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
    return raw


def _lenient_chunk(
    call: Call, data: str, state: StreamState, dialect: Dialect
) -> ModelResponseStream:
    """The slow path for a chunk the strict parse refused: an error event, or a compatible
    server's small deviations (no ``id``/``model``, tool-call pieces without ``index``)."""
    raw = _event_object(call, data)
    if raw.get("error"):
        raise inband_error(call, raw, state, dialect)
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


def _completion_chunk(
    call: Call, data: str, state: StreamState, dialect: Dialect
) -> ModelResponseStream | None:
    """A ``/completions`` stream chunk, reshaped as a chat chunk."""
    raw = _event_object(call, data)
    if raw.get("error"):
        raise inband_error(call, raw, state, dialect)
    reasons = dialect.finish_reasons
    try:
        raw_choices = raw.get("choices") or []
        token = raw.get("token")
        if not raw_choices and isinstance(token, dict):
            # only the spec's top-level token: it is the one choice's text
            raw_choices = [{"index": 0, "text": token.get("text") or ""}]
        # Together's spec puts finish_reason at the top level of a completion chunk; servers
        # that follow OpenAI put it in the choice. With one choice, either means that choice.
        one = len(raw_choices) == 1
        top_finish = raw.get("finish_reason") if one else None
        token_text = token.get("text") if one and isinstance(token, dict) else None
        choices = []
        for i, c in enumerate(raw_choices):
            reason = c.get("finish_reason") or top_finish
            choices.append(
                StreamChoice(
                    index=c.get("index", i),
                    delta=Delta(
                        role="assistant" if state.chunks == 0 else None,
                        content=_completion_text(c, token_text),
                    ),
                    finish_reason=reasons.get(reason, reason) if isinstance(reason, str) else None,
                    logprobs=completion_logprobs(c.get("logprobs")),
                )
            )
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
_TOOL_CALLS_SEEN = "openai_compat.tool_calls_seen"


def _name_tool_calls_once(choice_index: int, delta: Delta, state: StreamState) -> None:
    """Name a streamed tool call in its first piece only (see the module docstring).

    A piece that repeats the id already seen at its index loses ``id``, ``type`` and
    ``function.name``; a piece with a new id is a new call and is left whole.
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
