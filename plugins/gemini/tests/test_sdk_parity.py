"""Parity with Google's official SDK (``google-genai``, a dev dependency), over real sockets.

Each case is a pair: an OpenAI-shaped ``llmrouter.completion(model="gemini/...", ...)`` and the
equivalent ``genai.Client().models.generate_content(...)``. Both send to one emulator, which
records the path and the JSON body; they must be equal once the differences in
:func:`canonical` are set aside, each of which the API reads the same way:

- the SDK writes a few field names in snake_case (``parameters_json_schema``,
  ``include_thoughts``...); the API reference documents camelCase, which llmrouter sends, and
  Google's JSON parser accepts both;
- the SDK gives ``systemInstruction`` a ``role: "user"``, which the API ignores there;
- the SDK sends ``generationConfig: {}`` when no option is set; llmrouter leaves it out.
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from google.genai import types

from llmrouter.testing import samples

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gemini_capture import capture, sent_by_llmrouter, sent_by_sdk

MODEL = "gemini-2.5-flash"
QUESTION = "Weather in Paris?"
HI = [{"role": "user", "content": QUESTION}]
PARAMS = samples.WEATHER_TOOL["function"]["parameters"]
DECLARATION = types.FunctionDeclaration(
    name="get_weather", description="Weather for a city", parameters_json_schema=PARAMS
)
TOOL = types.Tool(function_declarations=[DECLARATION])
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def canonical(value: Any) -> Any:
    """The body with the SDK's equivalent spellings set aside (see the module docstring)."""
    if isinstance(value, dict):
        out = {camel(k): canonical(v) for k, v in value.items()}
        if out.get("generationConfig") == {}:
            del out["generationConfig"]
        system = out.get("systemInstruction")
        if isinstance(system, dict) and system.get("role") == "user":
            out["systemInstruction"] = {k: v for k, v in system.items() if k != "role"}
        return out
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


#: name -> (the llmrouter call, the SDK's contents, the SDK's config, stream)
CASES: dict[str, tuple[dict[str, Any], Any, dict[str, Any] | None, bool]] = {
    "plain": ({"messages": HI}, QUESTION, None, False),
    "stream": ({"messages": HI, "stream": True}, QUESTION, None, True),
    "system_and_max_tokens": (
        {"messages": [{"role": "system", "content": "Be brief."}, *HI], "max_tokens": 64},
        QUESTION,
        {"system_instruction": "Be brief.", "max_output_tokens": 64},
        False,
    ),
    "sampling": (
        {
            "messages": HI,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 20,
            "stop": ["END"],
            "n": 2,
            "seed": 7,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.25,
        },
        QUESTION,
        {
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 20,
            "stop_sequences": ["END"],
            "candidate_count": 2,
            "seed": 7,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.25,
        },
        False,
    ),
    "tools_auto": (
        {"messages": HI, "tools": samples.TOOLS, "tool_choice": "auto"},
        QUESTION,
        {"tools": [TOOL], "tool_config": {"function_calling_config": {"mode": "AUTO"}}},
        False,
    ),
    "tool_forced_stream": (
        {
            "messages": HI,
            "tools": samples.TOOLS,
            "tool_choice": samples.FORCED_TOOL_CHOICE,
            "stream": True,
        },
        QUESTION,
        {
            "tools": [TOOL],
            "tool_config": {
                "function_calling_config": {
                    "mode": "ANY",
                    "allowed_function_names": ["get_weather"],
                }
            },
        },
        True,
    ),
    "tools_none": (
        {"messages": HI, "tools": samples.TOOLS, "tool_choice": "none"},
        QUESTION,
        {"tools": [TOOL], "tool_config": {"function_calling_config": {"mode": "NONE"}}},
        False,
    ),
    "json_schema": (
        {
            "messages": HI,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "weather", "schema": SCHEMA},
            },
        },
        QUESTION,
        {"response_mime_type": "application/json", "response_json_schema": SCHEMA},
        False,
    ),
    "json_object": (
        {"messages": HI, "response_format": {"type": "json_object"}},
        QUESTION,
        {"response_mime_type": "application/json"},
        False,
    ),
    "tool_history": (
        {"messages": samples.TOOL_CONVERSATION, "tools": samples.TOOLS},
        [
            types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
            types.Content(
                role="model",
                parts=[
                    types.Part(
                        function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"})
                    )
                ],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(
                            name="get_weather", response={"output": "sunny"}
                        )
                    )
                ],
            ),
            types.Content(role="user", parts=[types.Part(text="And tomorrow?")]),
        ],
        {"system_instruction": "Be brief.", "tools": [TOOL]},
        False,
    ),
    "image": (
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
            ]
        },
        [
            types.Content(
                role="user",
                parts=[
                    types.Part(text="What is this?"),
                    types.Part(
                        inline_data=types.Blob(mime_type="image/png", data=base64.b64decode(PIXEL))
                    ),
                ],
            )
        ],
        None,
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_llmrouter_sends_the_body_the_sdk_sends(case: str) -> None:
    ours_call, contents, config, stream = CASES[case]
    with capture(strict=True) as emu:
        sdk = sent_by_sdk(emu, MODEL, contents, config=config, stream=stream)
        ours = sent_by_llmrouter(emu, MODEL, **ours_call)
    assert sdk.status == 200 and ours.status == 200  # the strict emulator took both
    assert ours.path == sdk.path
    assert canonical(ours.body) == canonical(sdk.body)
    assert ours.headers.get("x-goog-api-key") is not None  # the key in a header (redacted)
    assert "key=" not in ours.query  # never in the URL
