"""ConverseStream: the binary event stream decoded into events, and each event into a chunk.

**Decoding** (:class:`EventStreamDecoder`, named in ``HTTPRequest.stream_decoder``): the body is
``application/vnd.amazon.eventstream``, binary frames (a prelude with lengths and a CRC32,
headers, a JSON payload, a CRC32 of the whole message) parsed by botocore's own
:class:`botocore.eventstream.EventStreamBuffer`, which checks both checksums. Each message
becomes one text event for ``llmrouter_parse_stream_event``:

- ``:message-type: event`` -> ``{"<:event-type>": <payload>}`` (``{"contentBlockDelta":
  {...}}``: the shape boto3 hands its users);
- ``:message-type: exception`` -> ``{"exception": {"type": "<:exception-type>", "body":
  <payload>}}``; ``:message-type: error`` -> the same with ``:error-code`` and
  ``{"message": <:error-message>}``.

A frame whose checksum fails, or that is not what the framing promises, is a
:class:`~llmrouter.errors.StreamDecodeError` (with the offset of the frame); a frame larger than
the stream's ``max_event_bytes`` a :class:`~llmrouter.errors.ResponseTooLargeError`, raised
while it arrives.

**Events -> chunks** (:func:`parse_stream_event`), per stream state in ``StreamState.data``:

- ``messageStart`` -> the first chunk (``delta.role="assistant"``, ``content=""``), with a
  made-up id (Converse sends none) and the creation time;
- ``contentBlockDelta`` ``text`` -> ``delta.content``; ``reasoningContent.text`` ->
  ``delta.reasoning_content`` (its signature or redacted content kept for the block's end);
- ``contentBlockStart`` with ``toolUse`` -> ``delta.tool_calls[0]`` with ``index``, ``id``,
  ``type`` and ``function.name`` (``arguments=""``); each ``toolUse.input`` delta -> a piece
  with ``index`` and ``function.arguments`` only. ``index`` counts tool calls (0, 1...), not
  content blocks;
- ``contentBlockStop`` of a reasoning block -> ``delta.thinking_blocks`` with the whole block
  (text and signature, or redacted), so a streamed tool loop can send it back unchanged;
- what has no OpenAI delta is collected per content block and sent whole on the chunk of the
  block's ``contentBlockStop``, as extra delta fields (lists: the core's
  ``final_response()`` concatenates them onto the message, as a non-streamed answer has
  them): ``citation`` deltas -> ``delta.citations`` ``[{"text", "citations"}]`` (the block's
  text, which also streamed as ``delta.content``, and its citation deltas as sent); a
  ``toolUse`` of type ``server_tool_use`` (a tool the service runs: never a ``tool_calls``
  piece) -> ``delta.server_tool_uses`` ``[{"toolUseId", "name", "type", "input"}]``; a
  ``toolResult`` block (the service's result of such a tool) ->
  ``delta.server_tool_results`` ``[{"toolUseId", ..., "content"}]``; a block of any other
  kind (images...) -> ``delta.bedrock_events`` ``[{"contentBlockIndex", "events"}]``, its
  start and delta payloads as sent;
- ``messageStop`` -> the chunk with ``finish_reason`` (Bedrock's ``stopReason`` kept as an
  extra); ``metadata`` -> the last chunk, ``choices=[]`` with the usage (as OpenAI's
  ``include_usage`` chunk; none when the call's ``stream_options`` says ``include_usage:
  False``), which completes the stream (``state.done``): ConverseStream has no other end
  marker, so a stream cut before ``metadata`` is an error in the core;
- an exception -> the typed error, raised (``throttlingException`` is a retryable
  RateLimitError); other events (``contentBlockStop`` of text) -> ``None``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import from_json

from llmrouter.errors import LLMRouterError, ResponseTooLargeError, StreamDecodeError
from llmrouter.pipeline import Call, StreamDone, StreamState
from llmrouter.translation import content_chunk, stream_chunk, tool_call_start, unreadable_event
from llmrouter.types import ModelResponseStream
from llmrouter_bedrock.response import (
    SERVER_TOOL_USE,
    finish_reason,
    inband_error,
    new_id,
    usage_of,
)

__all__ = ["EventStreamDecoder", "parse_stream_event"]

_validate_chunk = ModelResponseStream.__pydantic_validator__.validate_python

#: ``StreamState.data`` keys.
_TOOLS: Final = "bedrock.tools"  # content block index -> tool-call index
_REASONING: Final = "bedrock.reasoning"  # content block index -> the reasoning block so far
_TEXT: Final = "bedrock.text"  # content block index -> its text pieces (for its citations)
_CITED: Final = "bedrock.citations"  # content block index -> its citation deltas
_SERVER: Final = "bedrock.server_tools"  # content block index -> a server tool use so far
_RESULTS: Final = "bedrock.server_results"  # content block index -> a tool result so far
_RAW: Final = "bedrock.raw"  # content block index -> the payloads of a block of another kind
# An event type goes into a JSON key unescaped: only what Converse's names are made of.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# A frame's 12-byte prelude: total length, headers length, CRC32 of those 8 bytes.
_PRELUDE = 12


# --- the binary framing -----------------------------------------------------------------------


class EventStreamDecoder:
    """Binary event-stream bytes in (cut anywhere), one text event per message out; see the
    module docstring. Built per stream by the core (``HTTPRequest.stream_decoder``)."""

    __slots__ = ("_buffer", "_call", "_consumed", "_fault", "_fed", "_limit", "_seen")

    def __init__(self, call: Call, max_event_bytes: int | None = None) -> None:
        # The first stream pays for the import.
        from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

        self._call = call
        self._buffer = EventStreamBuffer()
        self._limit = max_event_bytes
        #: Bytes fed, and bytes of the messages completed (the offset of the next message).
        self._fed = 0
        self._consumed = 0
        self._seen = False
        #: A fault found after events that were returned first: raised by the next call.
        self._fault: LLMRouterError | None = None

    @property
    def seen_event(self) -> bool:
        return self._seen

    def feed(self, data: bytes) -> list[str]:
        if self._fault is not None:
            fault, self._fault = self._fault, None
            raise fault
        self._buffer.add_data(data)
        self._fed += len(data)
        return self._drain()

    def flush(self) -> list[str]:
        if self._fault is not None:
            fault, self._fault = self._fault, None
            raise fault
        # A partial message left at the end is a cut stream: the core reports it as such
        # (no end event), so nothing is returned for it here.
        return []

    def _drain(self) -> list[str]:
        from botocore.eventstream import ParserError

        events: list[str] = []
        try:
            for message in self._buffer:
                self._consumed += message.prelude.total_length
                events.append(self._event(message.headers, message.payload))
        except ParserError as exc:
            fault: LLMRouterError = self._decode_error(f"a frame is corrupt ({exc})")
        except LLMRouterError as exc:
            fault = exc
        else:
            pending = self._fed - self._consumed
            limit = self._limit
            if limit is None or pending <= limit:
                if events:
                    self._seen = True
                return events
            fault = ResponseTooLargeError(
                f"one event of the stream from {self._call.provider} ({self._call.route}) grew "
                f"past {limit} bytes (at least {pending} bytes at stream byte {self._fed}); "
                "raise max_response_bytes if such events are expected",
                limit=limit,
                size=pending,
                provider=self._call.provider,
                model=self._call.model,
            )
        if not events:
            raise fault
        self._seen = True
        self._fault = fault
        return events

    def _decode_error(self, what: str) -> StreamDecodeError:
        call = self._call
        return StreamDecodeError(
            f"the event stream from {call.provider} ({call.route}) cannot be decoded at byte "
            f"{self._consumed} of its body: {what}; the service (or a proxy) sent corrupt bytes",
            offset=self._consumed,
            provider=call.provider,
            model=call.model,
        )

    def _event(self, headers: dict[str, Any], payload: bytes) -> str:
        """One message -> its text event."""
        try:
            body = payload.decode("utf-8") if payload else "{}"
        except UnicodeDecodeError as exc:
            raise self._decode_error(f"a payload is not UTF-8 ({exc.reason})") from None
        kind = headers.get(":message-type")
        if kind == "event":
            name = headers.get(":event-type")
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise self._decode_error(f"an event has no valid :event-type ({name!r})")
            return '{"' + name + '":' + body + "}"
        if kind == "exception":
            name = headers.get(":exception-type")
            return '{"exception":{"type":' + json.dumps(str(name)) + ',"body":' + body + "}}"
        if kind == "error":
            code = headers.get(":error-code")
            message = headers.get(":error-message")
            return json.dumps(
                {"exception": {"type": str(code), "body": {"message": str(message or "")}}}
            )
        raise self._decode_error(f"a message has an unknown :message-type ({kind!r})")

    def __repr__(self) -> str:
        return f"<EventStreamDecoder {self._call.route} at byte {self._consumed}>"


# --- events -> chunks ---------------------------------------------------------------------------


def parse_stream_event(
    call: Call, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    """One decoded event -> a chunk, or ``None`` (nothing to show)."""
    try:
        event = from_json(data)
        delta_event = event.get("contentBlockDelta")
        if delta_event is not None:
            return _delta(call, delta_event, state)
        if "contentBlockStart" in event:
            return _block_start(event["contentBlockStart"], state)
        if "contentBlockStop" in event:
            return _block_stop(event["contentBlockStop"], state)
        if "messageStart" in event:
            return _message_start(call, state)
        if "messageStop" in event:
            return _message_stop(event["messageStop"], state)
        if "metadata" in event:
            return _metadata(call, event["metadata"], state)
        exception = event.get("exception")
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise unreadable_event(call, data, exc) from None
    if exception is None:
        return None  # event types this plugin does not know yet
    raise inband_error(
        call,
        str(exception.get("type")),
        exception.get("body"),
        f"exception in the stream after {state.chunks} chunk(s)",
    )


def _message_start(call: Call, state: StreamState) -> ModelResponseStream:
    # No id on the wire: made up on the first pass; the core keeps it for a replay's pass.
    state.response_id = state.response_id or new_id()
    state.created = state.created or int(time.time())
    state.model = call.model
    return stream_chunk(state, {"role": "assistant", "content": ""})


def _delta(call: Call, event: dict[str, Any], state: StreamState) -> ModelResponseStream | None:
    delta = event["delta"]
    index = event["contentBlockIndex"]
    if "text" in delta:
        text = delta["text"]
        state.data.setdefault(_TEXT, {}).setdefault(index, []).append(text)
        return content_chunk(state, text)
    use = delta.get("toolUse")
    if use is not None:
        piece = use["input"]
        tool = state.data.get(_TOOLS, {}).get(index)
        if tool is None:
            server = state.data.get(_SERVER, {}).get(index)
            if server is None:
                raise KeyError(f"no toolUse block started at index {index}")
            server["pieces"].append(piece)
            return None
        if not piece:
            return None
        return stream_chunk(
            state, {"tool_calls": [{"index": tool, "function": {"arguments": piece}}]}
        )
    reasoning = delta.get("reasoningContent")
    if reasoning is not None:
        block = state.data.setdefault(_REASONING, {}).setdefault(index, {"pieces": []})
        if "text" in reasoning:
            block["pieces"].append(reasoning["text"])
            return stream_chunk(state, {"reasoning_content": reasoning["text"]})
        if "signature" in reasoning:
            block["signature"] = block.get("signature", "") + reasoning["signature"]
        elif "redactedContent" in reasoning:
            block["redacted"] = block.get("redacted", "") + reasoning["redactedContent"]
        return None
    if "citation" in delta:
        state.data.setdefault(_CITED, {}).setdefault(index, []).append(delta["citation"])
    elif "toolResult" in delta:
        result = state.data.get(_RESULTS, {}).get(index)
        if result is None:
            raise KeyError(f"no toolResult block started at index {index}")
        result["content"].extend(delta["toolResult"])
    else:
        state.data.setdefault(_RAW, {}).setdefault(index, []).append({"delta": delta})
    return None  # sent whole at the block's end (_block_stop)


def _block_start(event: dict[str, Any], state: StreamState) -> ModelResponseStream | None:
    start = event["start"]
    index = event["contentBlockIndex"]
    use = start.get("toolUse")
    if use is None:
        if "toolResult" in start:
            result = {**start["toolResult"], "content": []}
            state.data.setdefault(_RESULTS, {})[index] = result
        else:
            state.data.setdefault(_RAW, {}).setdefault(index, []).append({"start": start})
        return None
    if use.get("type") == SERVER_TOOL_USE:
        # The service runs it: kept for the block's end, never a tool call for the caller.
        state.data.setdefault(_SERVER, {})[index] = {**use, "pieces": []}
        return None
    tools: dict[int, int] = state.data.setdefault(_TOOLS, {})
    position = tools[index] = len(tools)
    return stream_chunk(state, tool_call_start(position, use["toolUseId"], use["name"]))


def _block_stop(event: dict[str, Any], state: StreamState) -> ModelResponseStream | None:
    """The end of a content block: what was collected for it, whole, as extra delta fields."""
    index = event["contentBlockIndex"]
    data = state.data
    delta: dict[str, Any] = {}
    reasoning = _pop(data, _REASONING, index)
    if reasoning is not None:
        delta["thinking_blocks"] = [_thinking_block(reasoning)]
    pieces = _pop(data, _TEXT, index)
    cited = _pop(data, _CITED, index)
    if cited is not None:
        delta["citations"] = [{"text": "".join(pieces or ()), "citations": cited}]
    server = _pop(data, _SERVER, index)
    if server is not None:
        text = "".join(server.pop("pieces"))
        delta["server_tool_uses"] = [{**server, "input": json.loads(text) if text else {}}]
    result = _pop(data, _RESULTS, index)
    if result is not None:
        result["content"] = _joined_text(result["content"])
        delta["server_tool_results"] = [result]
    raw = _pop(data, _RAW, index)
    if raw is not None:
        delta["bedrock_events"] = [{"contentBlockIndex": index, "events": raw}]
    return stream_chunk(state, delta) if delta else None


def _pop(data: dict[str, Any], key: str, index: int) -> Any:
    blocks = data.get(key)
    return blocks.pop(index, None) if blocks else None


def _thinking_block(block: dict[str, Any]) -> dict[str, Any]:
    """A reasoning block's collected pieces -> Anthropic's thinking block."""
    if "redacted" in block and not block["pieces"]:
        return {"type": "redacted_thinking", "data": block["redacted"]}
    kept: dict[str, Any] = {"type": "thinking", "thinking": "".join(block["pieces"])}
    if block.get("signature"):
        kept["signature"] = block["signature"]
    return kept


def _joined_text(content: list[Any]) -> list[Any]:
    """A streamed tool result's pieces: adjacent ``{"text"}`` pieces joined into one block,
    as the non-streamed answer holds it."""
    out: list[Any] = []
    for piece in content:
        if isinstance(piece, dict) and set(piece) == {"text"} and out and set(out[-1]) == {"text"}:
            out[-1] = {"text": out[-1]["text"] + piece["text"]}
        else:
            out.append(piece)
    return out


def _message_stop(event: dict[str, Any], state: StreamState) -> ModelResponseStream:
    stop_reason = event["stopReason"]
    chunk: dict[str, Any] = {
        "id": state.response_id,
        "created": state.created,
        "model": state.model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason(stop_reason)}],
        "stop_reason": stop_reason,
    }
    fields = event.get("additionalModelResponseFields")
    if fields is not None:
        chunk["additional_model_response_fields"] = fields
    return _validate_chunk(chunk)  # type: ignore[no-any-return]


def _metadata(call: Call, event: dict[str, Any], state: StreamState) -> ModelResponseStream | None:
    state.done = True  # the last event of a ConverseStream
    options = call.params.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is False:
        return None  # asked for no usage chunk, as OpenAI streams without it
    state.usage_seen = True
    chunk: dict[str, Any] = {
        "id": state.response_id,
        "created": state.created,
        "model": state.model,
        "choices": [],
        "usage": usage_of(event["usage"]),
    }
    for field, name in (("metrics", "metrics"), ("trace", "trace")):
        if event.get(field) is not None:
            chunk[name] = event[field]
    return _validate_chunk(chunk)  # type: ignore[no-any-return]
