"""Contract: what the plugin sends, and what the emulator answers, is what Together defines.

Runs a broad set of real calls through llmrouter to the emulator, then checks each recorded
request body, and the emulator's answer to it (streamed chunks included), two ways:

- against Together's OpenAPI spec (../shared/together/openapi.yaml, or $LLMROUTER_TOGETHER_SPEC),
  when it is present. In a plain clone it is not: those tests skip with a one-line reason, which
  ``-ra`` prints in the summary;
- against the types of Together's official SDK (``together``, a dev dependency, so always),
  which are generated from that spec. So a plain clone still checks the whole contract.

Deliberate departures from both are listed in :data:`DEPARTURES`, each with its reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import llmrouter
from llmrouter.testing import TogetherEmulator, samples


def _spec_utils() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "tests" / "spec_utils.py"
    spec = importlib.util.spec_from_file_location("llmrouter_spec_utils", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


spec_utils = _spec_utils()
SPEC = spec_utils.load_together_spec()


def needs_spec() -> dict[str, Any]:
    """The spec, or a skip whose one-line reason says where it was looked for and that the SDK
    checks ran instead."""
    if SPEC is None:
        pytest.skip(spec_utils.SPEC_MISSING_REASON)
    return SPEC


MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
TOOLS = samples.TOOLS
CONVERSATION = samples.TOOL_CONVERSATION

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
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "stream": True,
    },
    {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": TOOLS,
        "tool_choice": "required",
    },
    {
        "messages": [{"role": "user", "content": "json"}],
        "response_format": {"type": "json_object"},
        "stream": True,
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


#: Where a body llmrouter sends deliberately departs from the spec and the SDK's types, and why.
DEPARTURES = {
    "tool_choice object": (
        "a forced tool choice is sent as OpenAI's {'type': 'function', 'function': {'name': ...}}, "
        "as Together's function-calling docs show and its SDK passes through; the spec's (and so "
        "the SDK's) object type for tool_choice is a copy of the tool-call schema (id, index and "
        "arguments required), which no caller can fill in before the call"
    ),
    "stream_options": (
        "llmrouter asks for usage on every stream (it arrives on the last chunk); Together "
        "accepts stream_options but neither the spec nor the SDK lists it"
    ),
    "user": (
        "the OpenAI-compatible end-user id, sent only when the caller sets it; not in the spec "
        "or the SDK"
    ),
}
#: Top-level request fields the SDK check accepts beyond the SDK's types (see DEPARTURES).
SDK_EXTRA_FIELDS = ("stream_options", "user")


def checked_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its deliberate departures checked for their exact shape, then removed."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        assert choice == {"type": "function", "function": {"name": "get_weather"}}, choice
        body = {k: v for k, v in body.items() if k != "tool_choice"}
    return body


@dataclass
class Exchange:
    """One request llmrouter sent, and the emulator's answer to the same body."""

    endpoint: str
    body: dict[str, Any]
    response: Any = None  # the JSON answer (not streamed)
    chunks: list[Any] | None = None  # the streamed events' JSON ([DONE] left out)


def _answer(emu: TogetherEmulator, exchange: Exchange) -> None:
    with httpx.Client(
        base_url=emu.base_url, headers={"authorization": "Bearer contract"}, timeout=30
    ) as client:
        if exchange.body.get("stream") is True:
            with client.stream("POST", exchange.endpoint, json=exchange.body) as r:
                assert r.status_code == 200, r.read()
                data = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
            assert data[-1] == "[DONE]"
            exchange.chunks = [json.loads(d) for d in data[:-1]]
        else:
            r = client.post(exchange.endpoint, json=exchange.body)
            assert r.status_code == 200, r.text
            exchange.response = r.json()


@pytest.fixture(scope="module")
def exchanges(emulator: TogetherEmulator) -> list[Exchange]:
    """Every call of the matrix through llmrouter; each recorded body replayed for its answer."""
    emulator.clear_faults()
    emulator.clear()
    where = {"api_base": emulator.base_url, "api_key": "tgp_v1_contract"}
    try:
        for kwargs in CHAT_CALLS:
            result = llmrouter.completion(model=MODEL, **kwargs, **where)
            if kwargs.get("stream"):
                list(result)
        for given in ("one", ["one", "two"]):
            llmrouter.embedding(model="together_ai/BAAI/bge-large-en-v1.5", input=given, **where)
    finally:
        llmrouter.reset_default_routers()
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert len(posts) == len(CHAT_CALLS) + 2
    assert {r.endpoint for r in posts} == {"/chat/completions", "/completions", "/embeddings"}
    out = [Exchange(r.endpoint, r.body) for r in posts]
    for exchange in out:
        _answer(emulator, exchange)
    emulator.clear()
    return out


def test_every_request_body_matches_the_spec(exchanges: list[Exchange]) -> None:
    spec = needs_spec()
    for exchange in exchanges:
        schema = spec_utils.request_schema_for(spec, exchange.endpoint)
        spec_utils.validate_against(spec, schema, checked_body(exchange.body))


def test_every_request_body_matches_the_sdk_types(exchanges: list[Exchange]) -> None:
    """Runs in every clone: the same bodies against the official SDK's parameter types."""
    for exchange in exchanges:
        spec_utils.sdk_check_request(
            exchange.endpoint, checked_body(exchange.body), allowed_extra=SDK_EXTRA_FIELDS
        )


def test_every_answer_matches_the_spec(exchanges: list[Exchange]) -> None:
    """The emulator's answers to those bodies, streamed tool-call pieces and text-completion
    chunks included (each piece a full ``ToolChoice``; each text chunk with its ``token``)."""
    spec = needs_spec()
    chunk_schemas = {"/chat/completions": "ChatCompletionChunk", "/completions": "CompletionChunk"}
    for exchange in exchanges:
        if exchange.chunks is None:
            schema = spec_utils.response_schema_for(spec, exchange.endpoint)
            spec_utils.validate_against(spec, schema, exchange.response)
            continue
        for chunk in exchange.chunks:
            spec_utils.validate_against(spec, chunk_schemas[exchange.endpoint], chunk)


def test_every_answer_matches_the_sdk_types(exchanges: list[Exchange]) -> None:
    """Runs in every clone: the answers as the SDK reads them with strict validation."""
    streamed = set()
    for exchange in exchanges:
        if exchange.chunks is None:
            spec_utils.sdk_check_response(exchange.endpoint, exchange.response)
            continue
        streamed.add(exchange.endpoint)
        for chunk in exchange.chunks:
            spec_utils.sdk_check_chunk(exchange.endpoint, chunk)
    assert streamed == {"/chat/completions", "/completions"}
    tool_pieces = [
        tc
        for e in exchanges
        for c in e.chunks or []
        for choice in c["choices"]
        for tc in choice["delta"].get("tool_calls") or []
    ]
    assert len(tool_pieces) > 2  # the forced tool stream was checked piece by piece


def test_the_contract_check_can_fail() -> None:
    """A body the spec forbids (stop as a bare string) is rejected by the same check."""
    spec = needs_spec()
    schema = spec_utils.request_schema_for(spec, "/chat/completions")
    with pytest.raises(Exception, match="array"):
        spec_utils.validate_against(spec, schema, {"model": "m", "messages": [], "stop": "x"})


def test_the_sdk_check_can_fail() -> None:
    """What the SDK's types forbid is rejected by the SDK check: a bare-string stop, a string
    temperature, an unknown field, a tool call without index in history, a streamed tool-call
    piece without its id and name (OpenAI's shape), a completion chunk without ``token``."""
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    spec_utils.sdk_check_request("/chat/completions", base)
    history = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        }
    ]
    for bad in (
        {**base, "stop": "x"},
        {**base, "temperature": "0.5"},
        {**base, "tempreature": 0.5},
        {**base, "messages": history},
    ):
        with pytest.raises(Exception):  # noqa: B017 - pydantic's or the unknown-field assertion
            spec_utils.sdk_check_request("/chat/completions", bad)
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": None,
                "delta": {
                    "role": "assistant",
                    "tool_calls": [{"index": 0, "function": {"arguments": "{"}}],
                },
            }
        ],
    }
    with pytest.raises(Exception, match="id"):
        spec_utils.sdk_check_chunk("/chat/completions", chunk)
    text_chunk = {"id": "x", "choices": [{"index": 0, "text": "hi"}], "usage": None}
    with pytest.raises(Exception, match="token"):
        spec_utils.sdk_check_chunk("/completions", text_chunk)


def test_without_the_spec_the_sdk_checks_run_and_the_skip_says_why(tmp_path: Path) -> None:
    """A plain clone (no spec beside it): the SDK half of the contract still runs and passes,
    and each skipped spec test prints the one-line reason in the ``-ra`` summary."""
    env = {**os.environ, spec_utils.SPEC_ENV: str(tmp_path / "absent.yaml")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "-k",
            "not without_the_spec",
            __file__,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-2000:]
    lines = out.splitlines()
    skips = [line for line in lines if line.startswith("SKIPPED")]
    assert skips, out[-3000:]
    for line in skips:  # one summary line per reason: where the spec was looked for, and why
        assert "absent.yaml" in line and "checked against the together SDK's types" in line
    passed = {line.rsplit("::", 1)[-1] for line in lines if line.startswith("PASSED")}
    assert {
        "test_every_request_body_matches_the_sdk_types",
        "test_every_answer_matches_the_sdk_types",
        "test_the_sdk_check_can_fail",
    } <= passed, out[-3000:]
    assert "test_every_request_body_matches_the_spec" not in passed
