"""OpenAI-shaped sample arguments for provider tests: one function tool, a forced choice of it,
and a conversation that called it and got the tool's answer back.

Provider plugins (first-party or not) use the same samples in their wire and SDK-parity tests, so
every provider is checked against the same shapes: a system message, a tool call in the
assistant's history, a ``tool`` message, and content given as a list of parts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORCED_TOOL_CHOICE", "TOOLS", "TOOL_CONVERSATION", "WEATHER_TOOL"]

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
TOOLS: list[dict[str, Any]] = [WEATHER_TOOL]
FORCED_TOOL_CHOICE: dict[str, Any] = {"type": "function", "function": {"name": "get_weather"}}
TOOL_CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
    {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
]
