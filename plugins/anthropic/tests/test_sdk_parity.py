"""Parity with Anthropic's official SDK (``anthropic``, a dev dependency), over real sockets.

Each case is a pair: an OpenAI-shaped ``llmrouter.completion(model="anthropic/...", ...)`` and
the equivalent Anthropic-shaped ``anthropic.Anthropic().messages.create(...)``. Both clients send
to one emulator, which records the JSON body and the headers; the bodies must be equal, and the
headers that carry the protocol (``anthropic-version``, ``anthropic-beta``, how the key travels)
too. So each translation rule of docs/providers/anthropic.md is checked against the body the
vendor's own client builds, not against our reading of the API.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from llmrouter.testing import samples

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anthropic_capture import capture, sent_by_llmrouter, sent_by_sdk

MODEL = "claude-sonnet-4-6"
HI = [{"role": "user", "content": "Weather in Paris?"}]
TOOL = samples.WEATHER_TOOL["function"]
ANTHROPIC_TOOL = {
    "name": TOOL["name"],
    "description": TOOL["description"],
    "input_schema": TOOL["parameters"],
}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

#: name -> (the llmrouter call, the SDK call); both with MODEL.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "plain": ({"messages": HI, "max_tokens": 64}, {"messages": HI, "max_tokens": 64}),
    "max_completion_tokens": (
        {"messages": HI, "max_completion_tokens": 64},
        {"messages": HI, "max_tokens": 64},
    ),
    "stream": (
        {"messages": HI, "max_tokens": 64, "stream": True},
        {"messages": HI, "max_tokens": 64, "stream": True},
    ),
    "system": (
        {"messages": [{"role": "system", "content": "Be brief."}, *HI], "max_tokens": 64},
        {"system": "Be brief.", "messages": HI, "max_tokens": 64},
    ),
    "system_blocks_keep_cache_control": (
        {
            "messages": [
                {
                    "role": "system",
                    "content": [
                        {
                            "type": "text",
                            "text": "Long rules.",
                            "cache_control": {"type": "ephemeral"},
                        }
                    ],
                },
                *HI,
            ],
            "max_tokens": 64,
        },
        {
            "system": [
                {"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}
            ],
            "messages": HI,
            "max_tokens": 64,
        },
    ),
    "stop_and_user": (
        {"messages": HI, "max_tokens": 64, "stop": ["END"], "user": "user-42"},
        {
            "messages": HI,
            "max_tokens": 64,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "user-42"},
        },
    ),
    "tools_auto": (
        {"messages": HI, "max_tokens": 64, "tools": samples.TOOLS, "tool_choice": "auto"},
        {
            "messages": HI,
            "max_tokens": 64,
            "tools": [ANTHROPIC_TOOL],
            "tool_choice": {"type": "auto"},
        },
    ),
    "tools_required_no_parallel": (
        {
            "messages": HI,
            "max_tokens": 64,
            "tools": samples.TOOLS,
            "tool_choice": "required",
            "parallel_tool_calls": False,
        },
        {
            "messages": HI,
            "max_tokens": 64,
            "tools": [ANTHROPIC_TOOL],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        },
    ),
    "tool_forced_stream": (
        {
            "messages": HI,
            "max_tokens": 64,
            "tools": samples.TOOLS,
            "tool_choice": samples.FORCED_TOOL_CHOICE,
            "stream": True,
        },
        {
            "messages": HI,
            "max_tokens": 64,
            "tools": [ANTHROPIC_TOOL],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "stream": True,
        },
    ),
    "tool_history": (
        {"messages": samples.TOOL_CONVERSATION, "max_tokens": 64, "tools": samples.TOOLS},
        {
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "call_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                        {"type": "text", "text": "And tomorrow?"},
                    ],
                },
            ],
            "max_tokens": 64,
            "tools": [ANTHROPIC_TOOL],
        },
    ),
    "image_data_url": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PIXEL}"},
                        },
                    ],
                }
            ],
            "max_tokens": 64,
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                        },
                    ],
                }
            ],
            "max_tokens": 64,
        },
    ),
    "reasoning_effort": (
        {"messages": HI, "max_tokens": 64, "reasoning_effort": "high"},
        {"messages": HI, "max_tokens": 64, "output_config": {"effort": "high"}},
    ),
    "thinking": (
        {
            "messages": HI,
            "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        },
        {
            "messages": HI,
            "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        },
    ),
    "json_schema": (
        {
            "messages": HI,
            "max_tokens": 64,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "weather", "schema": SCHEMA},
            },
        },
        {
            "messages": HI,
            "max_tokens": 64,
            "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
        },
    ),
    "beta_header": (
        {"messages": HI, "max_tokens": 64, "anthropic_beta": ["b-one", "b-two"]},
        {"messages": HI, "max_tokens": 64, "extra_headers": {"anthropic-beta": "b-one,b-two"}},
    ),
}

#: Headers that must match (the key's own header is checked by presence: the log redacts it).
PROTOCOL_HEADERS = ("anthropic-version", "anthropic-beta", "content-type")


@pytest.mark.parametrize("case", sorted(CASES))
def test_llmrouter_sends_the_body_the_sdk_sends(case: str) -> None:
    ours_call, sdk_call = CASES[case]
    with capture(strict=True) as emu:
        sdk = sent_by_sdk(emu, model=MODEL, **sdk_call)
        ours = sent_by_llmrouter(emu, model=MODEL, **ours_call)
    assert sdk.status == 200 and ours.status == 200  # the strict emulator took both
    assert ours.body == sdk.body
    for name in PROTOCOL_HEADERS:
        assert ours.headers.get(name) == sdk.headers.get(name), name
    assert ("authorization" in ours.headers) == ("authorization" in sdk.headers)
    assert ("x-api-key" in ours.headers) == ("x-api-key" in sdk.headers)


def test_the_default_max_tokens_is_sent_as_the_sdk_would_send_it() -> None:
    from llmrouter_anthropic.request import default_max_tokens  # the documented table

    with capture(strict=True) as emu:
        ours = sent_by_llmrouter(emu, model=MODEL, messages=HI)
        sdk = sent_by_sdk(emu, model=MODEL, messages=HI, max_tokens=default_max_tokens(MODEL))
    assert ours.body == sdk.body and ours.body["max_tokens"] >= 4096


def test_the_pinned_old_version_sends_sampling_and_x_api_key_like_the_sdk() -> None:
    """With ``anthropic_version="2023-06-01"`` the key travels as ``x-api-key`` and
    ``temperature``/``top_k`` are sent. SDK 2.17 no longer has those arguments, so its call
    passes them as ``extra_body`` and the old version's headers as the 0.x SDK sent them."""
    with capture(strict=True) as emu:
        ours = sent_by_llmrouter(
            emu,
            model=MODEL,
            messages=HI,
            max_tokens=64,
            anthropic_version="2023-06-01",
            temperature=0.2,
            top_k=5,
        )
    assert ours.status == 200
    assert ours.headers["anthropic-version"] == "2023-06-01"
    assert "x-api-key" in ours.headers and "authorization" not in ours.headers
    assert ours.body == {
        "model": MODEL,
        "messages": HI,
        "max_tokens": 64,
        "temperature": 0.2,
        "top_k": 5,
    }
