"""Gemini's stream events -> OpenAI-shaped chunks: one SSE ``data`` in, a chunk (or nothing) out.

``streamGenerateContent?alt=sse`` sends a partial ``GenerateContentResponse`` per event and no
end marker: the stream is over after the event whose candidates carry a ``finishReason``. Here:

- each candidate of an event -> one choice of the chunk (its ``index``): ``text`` parts ->
  ``delta.content``, ``thought`` parts -> ``delta.reasoning_content``, and each
  ``functionCall`` part (Gemini sends a whole call in one event) -> one ``delta.tool_calls``
  entry with ``index`` (counting the candidate's calls: 0, 1...), ``id`` (as in
  :func:`~llmrouter_gemini.response.tool_call_id`), ``type``, ``function.name`` and the whole
  ``function.arguments``, plus ``thought_signature`` when the part has one; the first chunk
  also carries ``delta.role="assistant"``;
- the event with the ``finishReason`` -> ``finish_reason`` (``tool_calls`` when the candidate
  called a function) and the usage of its ``usageMetadata``, and ``state.done = True`` once every
  candidate asked for (``n``) has finished: the connection ending after it is a clean end, and
  ending before it stays an error (the core's);
- a prompt blocked before any candidate (``promptFeedback.blockReason``) -> one chunk with
  ``finish_reason="content_filter"``, and the stream is done;
- ``{"error": {...}}`` -> the typed error, raised; an event with nothing to show -> ``None``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import from_json

from llmrouter.pipeline import Call, StreamState
from llmrouter.translation import unreadable_event
from llmrouter.types import ModelResponseStream
from llmrouter_gemini.response import choice_fields, finish_reason, inband_error, usage_of

__all__ = ["parse_stream_event"]

_validate_chunk = ModelResponseStream.__pydantic_validator__.validate_python

#: ``StreamState.data`` keys.
_CALLS: Final = "gemini.calls"  # candidate index -> tool calls seen so far
_FINISHED: Final = "gemini.finished"  # candidate indexes that have finished
_ROLE: Final = "gemini.role_sent"  # a chunk (with the role) has been returned


def _expected(call: Call) -> int:
    """How many candidates the stream carries: ``n``, or a ``candidateCount`` given through
    ``extra_body`` (the stream is complete only once each of them has finished)."""
    n = call.params.get("n")
    extra = call.extra_body or {}
    config = extra.get("generationConfig")
    if isinstance(config, dict) and "candidateCount" in config:
        n = config["candidateCount"]
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


def parse_stream_event(call: Call, data: str, state: StreamState) -> ModelResponseStream | None:
    """One SSE ``data`` -> a chunk or ``None``; ``state.done`` set on the finishing event."""
    try:
        event = from_json(data)
        if not isinstance(event, dict):
            raise TypeError("not a JSON object")
        if "error" not in event:
            return _chunk(call, event, state)
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise unreadable_event(call, data, exc) from None
    raise inband_error(call, event, f"error event in the stream after {state.chunks} chunk(s)")


def _chunk(call: Call, event: dict[str, Any], state: StreamState) -> ModelResponseStream | None:
    if state.response_id is None:
        state.response_id = event.get("responseId") or "gemini-" + uuid.uuid4().hex
        state.model = event.get("modelVersion") or call.model
        state.created = int(time.time())
    first = _ROLE not in state.data  # no chunk yet: the next one carries the role
    response_id = state.response_id
    assert response_id is not None
    calls_seen: dict[int, int] = state.data.setdefault(_CALLS, {})
    finished: set[int] = state.data.setdefault(_FINISHED, set())
    choices: list[dict[str, Any]] = []
    candidates = event.get("candidates") or []
    for i, candidate in enumerate(candidates):
        index = candidate.get("index", i)
        fields, calls, thoughts = choice_fields(
            candidate, index, response_id, calls_seen.get(index, 0)
        )
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        if fields["texts"]:
            delta["content"] = "".join(fields["texts"])
        if thoughts:
            delta["reasoning_content"] = "".join(thoughts)
        if calls:
            start = calls_seen.get(index, 0)
            delta["tool_calls"] = [{"index": start + k, **c} for k, c in enumerate(calls)]
            calls_seen[index] = start + len(calls)
        raw = candidate.get("finishReason")
        choice: dict[str, Any] = {"index": index, "delta": delta}
        if raw is not None:
            finished.add(index)
            choice["finish_reason"] = finish_reason(raw, calls_seen.get(index, 0) > 0)
            choice["gemini_finish_reason"] = raw
        elif len(delta) == (1 if first else 0):  # nothing but the role: nothing to show
            continue
        choices.append(choice)
    out: dict[str, Any] = {
        "id": response_id,
        "created": state.created,
        "model": state.model,
        "choices": choices,
    }
    if not candidates:
        feedback = event.get("promptFeedback")
        if not isinstance(feedback, dict) or not feedback.get("blockReason"):
            return None  # nothing to show (usage only, keep-alive...)
        finished.add(0)
        delta = {"role": "assistant", "content": ""} if first else {"content": ""}
        choices.append(
            {
                "index": 0,
                "delta": delta,
                "finish_reason": "content_filter",
                "gemini_finish_reason": feedback["blockReason"],
            }
        )
        out["prompt_feedback"] = feedback
        state.done = True
    elif len(finished) >= _expected(call):
        state.done = True
    if not choices:
        return None
    state.data[_ROLE] = True
    if state.done:
        if event.get("usageMetadata"):  # not reported is not zero tokens
            out["usage"] = usage_of(event["usageMetadata"])
        state.usage_seen = True
    return _validate_chunk(out)  # type: ignore[no-any-return]
