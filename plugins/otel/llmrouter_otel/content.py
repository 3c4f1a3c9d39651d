"""Message content in the shape of the GenAI conventions' ``gen_ai.input.messages`` and
``gen_ai.output.messages`` (JSON strings), recorded only when the user opts in.

The conventions' shape: a list of messages, each ``{"role", "parts": [...]}`` (output messages
add ``finish_reason``), a part being ``{"type": "text", "content"}``, ``{"type": "tool_call",
"id", "name", "arguments"}``, ``{"type": "tool_call_response", "id", "response"}`` or any other
``{"type": ...}``. Non-text input parts (images, audio, files) are recorded by type only: their
payload is often a base64 data URI of megabytes, which no span should carry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["input_messages", "output_messages"]

#: OpenAI's finish reasons -> the conventions' ``FinishReason`` values where they differ.
_FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call"}


def _arguments(raw: Any) -> Any:
    """Tool-call arguments as the conventions prefer them (a JSON value), else as sent."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _tool_call_part(call: Any) -> dict[str, Any]:
    """A ``tool_call`` part from an OpenAI-shaped tool call (a dict or a pydantic model)."""
    if isinstance(call, Mapping):
        function = call.get("function") or {}
        name = function.get("name") if isinstance(function, Mapping) else None
        arguments = function.get("arguments") if isinstance(function, Mapping) else None
        call_id = call.get("id")
    else:
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        arguments = getattr(function, "arguments", None)
        call_id = getattr(call, "id", None)
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": _arguments(arguments)}


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, Sequence):
        for item in content:
            if isinstance(item, Mapping):
                kind = str(item.get("type") or "unknown")
                if kind == "text" and isinstance(item.get("text"), str):
                    parts.append({"type": "text", "content": item["text"]})
                else:
                    parts.append({"type": kind})
            elif isinstance(item, str):
                parts.append({"type": "text", "content": item})
    return parts


def _input_message(message: Mapping[str, Any]) -> dict[str, Any]:
    role = str(message.get("role") or "user")
    if role in ("tool", "function"):
        parts: list[dict[str, Any]] = [
            {
                "type": "tool_call_response",
                "id": message.get("tool_call_id"),
                "response": message.get("content"),
            }
        ]
    else:
        parts = _content_parts(message.get("content"))
        for call in message.get("tool_calls") or ():
            parts.append(_tool_call_part(call))
    out: dict[str, Any] = {"role": role, "parts": parts}
    name = message.get("name")
    if isinstance(name, str) and role not in ("tool", "function"):
        out["name"] = name
    return out


def input_messages(
    messages: Sequence[Mapping[str, Any]] | None, prompt: str | None
) -> list[dict[str, Any]] | None:
    """The conversation sent (chat) or the prompt (text completion) in the conventions' shape;
    ``None`` for an operation without messages (embeddings, the model list)."""
    if messages is not None:
        return [_input_message(m) for m in messages if isinstance(m, Mapping)]
    if prompt is not None:
        return [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
    return None


def output_messages(response: Any) -> list[dict[str, Any]] | None:
    """One output message per choice of a chat-shaped answer; ``None`` for anything else."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        return None
    out: list[dict[str, Any]] = []
    for choice in choices:
        message = getattr(choice, "message", None)
        if message is None:
            continue
        parts = _content_parts(getattr(message, "content", None))
        for call in getattr(message, "tool_calls", None) or ():
            parts.append(_tool_call_part(call))
        reason = getattr(choice, "finish_reason", None)
        out.append(
            {
                "role": str(getattr(message, "role", None) or "assistant"),
                "parts": parts,
                "finish_reason": _FINISH_REASONS.get(reason, reason) if reason else "stop",
            }
        )
    return out
