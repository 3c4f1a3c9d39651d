"""Anthropic's stream events -> OpenAI-shaped chunks: one SSE ``data`` in, a chunk (or nothing) out.

A Messages stream is ``message_start``, then per content block ``content_block_start``,
``content_block_delta``... and ``content_block_stop``, then ``message_delta`` (the stop reason
and the output usage) and ``message_stop``; ``ping`` events may come anywhere, and an ``error``
event reports a failure in-band. Here:

- ``message_start`` -> the first chunk (``delta.role="assistant"``, ``content=""``); its id,
  model and input usage are kept for the chunks after it;
- ``text_delta`` -> ``delta.content``; ``thinking_delta`` -> ``delta.reasoning_content``;
- a ``tool_use`` block start -> ``delta.tool_calls[0]`` with ``index``, ``id``, ``type`` and
  ``function.name`` (and ``arguments=""``); each ``input_json_delta`` -> a piece with ``index``
  and ``function.arguments`` only. ``index`` counts tool calls (0, 1...), not content blocks;
- a thinking block's end -> ``delta.thinking_blocks`` with the whole block (text and
  signature, or a redacted block), so a streamed tool loop can send it back unchanged;
- ``message_delta`` -> the last chunk: ``finish_reason`` and the usage (prompt tokens from
  ``message_start``, output tokens from here), Anthropic's ``stop_reason`` kept as an extra;
- ``message_stop`` -> :data:`~llmrouter.pipeline.STREAM_DONE`; ``ping``, block stops and
  anything unknown -> ``None``;
- ``error`` -> the typed error, raised (``overloaded_error`` is a retryable
  ServiceUnavailableError). A stream that ends without ``message_stop`` is an error in the core.

Runs once per event, so the common event (a text delta) costs one JSON parse (pydantic-core's
``from_json``, three times ``json.loads``'s speed on such small events), two dict lookups and one
validation of a small dict; per-stream state lives in ``StreamState.data``.
"""

from __future__ import annotations

import time
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import from_json

from llmrouter.pipeline import STREAM_DONE, Call, StreamDone, StreamState
from llmrouter.translation import content_chunk, stream_chunk, tool_call_start, unreadable_event
from llmrouter.types import ModelResponseStream
from llmrouter_anthropic.response import finish_reason, inband_error, usage_of

__all__ = ["parse_stream_event"]

_validate_chunk = ModelResponseStream.__pydantic_validator__.validate_python

#: ``StreamState.data`` keys.
_TOOLS: Final = "anthropic.tools"  # content block index -> tool-call index
_OTHER: Final = "anthropic.other_blocks"  # indexes of blocks with no OpenAI field (server tools)
_THINKING: Final = "anthropic.thinking"  # content block index -> the block being streamed
_USAGE: Final = "anthropic.usage"  # message_start's usage


def parse_stream_event(
    call: Call, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    """One SSE ``data`` -> a chunk, ``None`` (nothing to show) or ``STREAM_DONE``."""
    try:
        event = from_json(data)
        kind = event["type"]
        if kind == "content_block_delta":
            delta = event["delta"]
            dtype = delta["type"]
            if dtype == "text_delta":
                return content_chunk(state, delta["text"])
            if dtype == "input_json_delta":
                part = delta["partial_json"]
                if not part:
                    return None
                index = state.data.get(_TOOLS, {}).get(event["index"])
                if index is None:
                    if event["index"] in state.data.get(_OTHER, ()):
                        return None  # a server tool's input: not a call for the app to run
                    raise KeyError(f"no tool_use block started at index {event['index']}")
                return stream_chunk(
                    state, {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
                )
            if dtype == "thinking_delta":
                text = delta["thinking"]
                block = state.data.get(_THINKING, {}).get(event["index"])
                if block is not None:
                    block["pieces"].append(text)
                return stream_chunk(state, {"reasoning_content": text})
            if dtype == "signature_delta":
                block = state.data.get(_THINKING, {}).get(event["index"])
                if block is not None:
                    block["signature"] = block.get("signature", "") + delta["signature"]
            return None  # citations_delta and kinds to come: nothing for an OpenAI chunk
        if kind == "content_block_start":
            return _block_start(event, state)
        if kind == "content_block_stop":
            return _block_stop(event, state)
        if kind == "message_start":
            return _message_start(call, event["message"], state)
        if kind == "message_delta":
            return _message_delta(event, state)
        if kind == "message_stop":
            return STREAM_DONE
        if kind != "error":
            return None  # ping, and event types this plugin does not know yet
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise unreadable_event(call, data, exc) from None
    raise inband_error(call, event, f"error event in the stream after {state.chunks} chunk(s)")


def _message_start(call: Call, message: dict[str, Any], state: StreamState) -> ModelResponseStream:
    state.response_id = message["id"]
    state.model = message.get("model") or call.model
    state.created = int(time.time())
    state.data[_USAGE] = message.get("usage") or {}
    return stream_chunk(state, {"role": "assistant", "content": ""})


def _block_start(event: dict[str, Any], state: StreamState) -> ModelResponseStream | None:
    block = event["content_block"]
    kind = block["type"]
    if kind == "tool_use":
        tools: dict[int, int] = state.data.setdefault(_TOOLS, {})
        index = tools[event["index"]] = len(tools)
        return stream_chunk(state, tool_call_start(index, block["id"], block["name"]))
    if kind == "text":
        text = block.get("text")
        return content_chunk(state, text) if text else None
    if kind in ("thinking", "redacted_thinking"):
        kept = dict(block)
        if kind == "thinking":
            kept["pieces"] = [block.get("thinking") or ""]
        state.data.setdefault(_THINKING, {})[event["index"]] = kept
        text = block.get("thinking")
        return stream_chunk(state, {"reasoning_content": text}) if text else None
    # A server tool's use (web search...) and block types to come: no OpenAI field; their
    # input deltas are expected and give nothing (see parse_stream_event).
    state.data.setdefault(_OTHER, set()).add(event["index"])
    return None


def _block_stop(event: dict[str, Any], state: StreamState) -> ModelResponseStream | None:
    thinking = state.data.get(_THINKING)
    if not thinking:
        return None
    block = thinking.pop(event["index"], None)
    if block is None:
        return None
    pieces = block.pop("pieces", None)
    if pieces is not None:
        block["thinking"] = "".join(pieces)
    return stream_chunk(state, {"thinking_blocks": [block]})


def _message_delta(event: dict[str, Any], state: StreamState) -> ModelResponseStream:
    delta = event.get("delta") or {}
    stop_reason = delta.get("stop_reason")
    # message_delta's counts are cumulative; those it leaves out (or sends as null) come from
    # message_start.
    usage = dict(state.data.get(_USAGE) or {})
    for name, value in (event.get("usage") or {}).items():
        if value is not None:
            usage[name] = value
    state.usage_seen = True
    return _validate_chunk(  # type: ignore[no-any-return]
        {
            "id": state.response_id,
            "created": state.created,
            "model": state.model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason(stop_reason)}],
            "usage": usage_of(usage),
            "stop_reason": stop_reason,
            "stop_sequence": delta.get("stop_sequence"),
        }
    )
