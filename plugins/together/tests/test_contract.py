"""Contract: every request body the plugin sends validates against Together's official spec.

Runs a broad set of real calls through llmrouter to the emulator, then checks each recorded body
against the request schema of its endpoint in ../shared/together/openapi.yaml. Skipped, with the
reason, when the spec file is not present.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import llmrouter
from llmrouter.testing import TogetherEmulator


def _spec_utils() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "tests" / "spec_utils.py"
    spec = importlib.util.spec_from_file_location("llmrouter_spec_utils", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


spec_utils = _spec_utils()
SPEC = spec_utils.load_together_spec()
pytestmark = pytest.mark.skipif(SPEC is None, reason=spec_utils.SPEC_MISSING_REASON)

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
CONVERSATION = [
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

CHAT_CALLS: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "hi"}]},
    {"messages": [{"role": "user", "content": "hi"}], "stream": True},
    {
        "messages": CONVERSATION,
        "max_tokens": 10,
        "stop": "END",
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 40,
        "min_p": 0.05,
        "repetition_penalty": 1.1,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"1024": -10.5},
        "logprobs": 2,
        "echo": False,
        "n": 2,
        "seed": 42,
        "safety_model": "meta-llama/Meta-Llama-Guard-3-8B",
        "tools": TOOLS,
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "context_length_exceeded_behavior": "truncate",
        "reasoning_effort": "low",
        "user": "u-1",
    },
    {
        "messages": [{"role": "user", "content": "json"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        },
    },
    {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    },
    {
        "messages": [{"role": "user", "content": "hi"}],
        "logprobs": True,
        "top_logprobs": 3,
        "stream": True,
    },
    # a client-side template sends the text-completion endpoint
    {
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
        "prompt_template": "llama-2",
        "max_tokens": 5,
        "stop": ["x"],
    },
    {
        "messages": [{"role": "user", "content": "hi"}],
        "prompt_template": "chatml",
        "stream": True,
        "temperature": 0.1,
    },
]


def test_every_request_body_matches_the_spec(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    assert SPEC is not None
    for kwargs in CHAT_CALLS:
        result = llmrouter.completion(model=MODEL, **kwargs, **where)
        if kwargs.get("stream"):
            list(result)
    llmrouter.embedding(model="together_ai/BAAI/bge-large-en-v1.5", input="one", **where)
    llmrouter.embedding(model="together_ai/BAAI/bge-large-en-v1.5", input=["one", "two"], **where)

    posts = [r for r in emu.requests if r.method == "POST"]
    assert len(posts) == len(CHAT_CALLS) + 2
    assert {r.endpoint for r in posts} == {"/chat/completions", "/completions", "/embeddings"}
    for recorded in posts:
        schema = spec_utils.request_schema_for(SPEC, recorded.endpoint)
        spec_utils.validate_against(SPEC, schema, recorded.body)


def test_the_contract_check_can_fail() -> None:
    """A body the spec forbids (stop as a bare string) is rejected by the same check."""
    assert SPEC is not None
    schema = spec_utils.request_schema_for(SPEC, "/chat/completions")
    with pytest.raises(Exception, match="array"):
        spec_utils.validate_against(SPEC, schema, {"model": "m", "messages": [], "stop": "x"})
