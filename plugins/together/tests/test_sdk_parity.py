"""Parity with Together's official SDK (``together``, a dev dependency), over real sockets.

Two checks per call of a small matrix (plain, stream, tools, forced tool, tool history,
response_format, stop, logprobs, penalties, sampling, Together's extras, embeddings):

1. the SDK, with strict response validation, reads every emulator answer (so the emulator's
   shapes are the ones Together's generated types demand, streams included);
2. the JSON body the SDK sends equals the body llmrouter sends for the same call (both recorded
   by the emulator), except for the deliberate differences in :data:`DELIBERATE`, each with its
   reason.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from together import Together

import llmrouter
from llmrouter.testing import TogetherEmulator, samples

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
EMBED = "BAAI/bge-large-en-v1.5"
HI = [{"role": "user", "content": "Weather in Paris?"}]
TOOLS = samples.TOOLS
FORCED = samples.FORCED_TOOL_CHOICE
HISTORY = samples.TOOL_CONVERSATION

#: The same keyword arguments go to ``Together().chat.completions.create(model=MODEL, **kw)`` and
#: to ``llmrouter.completion(model="together_ai/" + MODEL, **kw)``.
CASES: dict[str, dict[str, Any]] = {
    "plain": {"messages": HI},
    "stream": {"messages": HI, "stream": True},
    "tools": {"messages": HI, "tools": TOOLS, "tool_choice": "auto"},
    "forced_tool": {"messages": HI, "tools": TOOLS, "tool_choice": FORCED},
    "forced_tool_stream": {"messages": HI, "tools": TOOLS, "tool_choice": FORCED, "stream": True},
    "required_tool": {"messages": HI, "tools": TOOLS, "tool_choice": "required"},
    "tool_history": {"messages": HISTORY, "tools": TOOLS},
    "json_object": {"messages": HI, "response_format": {"type": "json_object"}},
    "json_schema": {
        "messages": HI,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "weather",
                "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
    },
    "stop": {"messages": HI, "stop": ["Together", "END"], "max_tokens": 30},
    "logprobs": {"messages": HI, "logprobs": 2},
    "logprobs_stream": {"messages": HI, "logprobs": 1, "stream": True},
    "penalties": {
        "messages": HI,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "repetition_penalty": 1.1,
        "logit_bias": {"1024": -10.5},
    },
    "sampling": {
        "messages": HI,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "min_p": 0.05,
        "seed": 42,
        "n": 2,
        "max_tokens": 5,
    },
    "together_extras": {
        "messages": HI,
        "safety_model": "meta-llama/Meta-Llama-Guard-3-8B",
        "context_length_exceeded_behavior": "truncate",
        "reasoning_effort": "low",
        "reasoning": {"enabled": False},
        "chat_template_kwargs": {"enable_thinking": False},
        "echo": False,
    },
}

#: Where llmrouter's body deliberately differs from the SDK's for the same call, and why. Each
#: entry turns the SDK's body into the one llmrouter must send (and only applies where its
#: condition holds, so an unexplained difference still fails).
DELIBERATE: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {}


def _deliberate(reason: str) -> Callable[[Callable[[dict[str, Any]], None]], None]:
    def register(fn: Callable[[dict[str, Any]], None]) -> None:
        DELIBERATE[fn.__name__] = (reason, fn)

    return register


@_deliberate(
    "llmrouter asks for usage on every stream (it arrives on the last chunk, see llmrouter_together/dialect.py); the "
    "SDK sends no stream_options"
)
def stream_usage(body: dict[str, Any]) -> None:
    if body.get("stream") is True:
        body["stream_options"] = {"include_usage": True}


@_deliberate(
    "Together's spec requires `index` on each tool call of an assistant message "
    "(ChatCompletionAssistantMessageParam.tool_calls items are ToolChoice); llmrouter adds the "
    "position to OpenAI-shaped history, the SDK sends the caller's dicts as they are"
)
def tool_call_index(body: dict[str, Any]) -> None:
    for message in body.get("messages") or []:
        for n, tool_call in enumerate(message.get("tool_calls") or []):
            tool_call.setdefault("index", n)


@_deliberate(
    "llmrouter's core turns one embedding input string into a one-item list before any provider "
    "sees it (one shape for every provider); Together answers both forms with the same data"
)
def embedding_input_list(body: dict[str, Any]) -> None:
    if isinstance(body.get("input"), str):
        body["input"] = [body["input"]]


def expected_body(sdk_body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(sdk_body)
    for _reason, apply in DELIBERATE.values():
        apply(body)
    return body


@pytest.fixture
def sdk(emu: TogetherEmulator) -> Iterator[Together]:
    client = Together(
        base_url=emu.url,
        api_key="tgp_v1_sdk_parity",
        max_retries=0,
        _strict_response_validation=True,
    )
    with client:
        yield client


def _drain(result: Any) -> list[Any]:
    return list(result) if not hasattr(result, "choices") else [result]


@pytest.mark.parametrize("case", sorted(CASES))
def test_sdk_and_llmrouter_send_the_same_body(
    case: str, emu: TogetherEmulator, where: dict[str, Any], sdk: Together
) -> None:
    kwargs = copy.deepcopy(CASES[case])
    sdk_results = _drain(sdk.chat.completions.create(model=MODEL, **kwargs))
    sdk_body = emu.requests[-1].body
    ours = _drain(llmrouter.completion(model="together_ai/" + MODEL, **kwargs, **where))
    our_body = emu.requests[-1].body
    assert len(emu.requests) == 2
    assert emu.requests[0].path == emu.requests[1].path == "/v1/chat/completions"
    assert our_body == expected_body(sdk_body), f"{case}: unexplained body difference"
    # the caller's arguments were not mutated by either client
    assert kwargs == CASES[case]
    assert sdk_results and ours


def test_embeddings_send_the_same_body(
    emu: TogetherEmulator, where: dict[str, Any], sdk: Together
) -> None:
    for given in ("one", ["one", "two"]):
        got = sdk.embeddings.create(model=EMBED, input=given)
        ours = llmrouter.embedding(model="together_ai/" + EMBED, input=given, **where)
        sdk_body, our_body = (r.body for r in emu.requests[-2:])
        assert sdk_body == {"model": EMBED, "input": given}
        assert our_body == expected_body(sdk_body)
        assert [d.embedding for d in got.data] == [d.embedding for d in ours.data]


def test_every_deliberate_difference_is_exercised() -> None:
    """An allow-list entry no case needs is stale: it would hide a future regression."""
    for name, (reason, apply) in DELIBERATE.items():
        assert reason
        changed = False
        for kwargs in [*CASES.values(), {"input": "one"}]:
            body = {"model": MODEL, **copy.deepcopy(kwargs)}
            before = copy.deepcopy(body)
            apply(body)
            changed = changed or body != before
        assert changed, f"deliberate difference {name!r} is never needed by the matrix"


# --- the SDK reads the emulator strictly ----------------------------------------------------------


def test_sdk_reads_a_streamed_tool_call_strictly(emu: TogetherEmulator, sdk: Together) -> None:
    """Every piece of a streamed call validates as the SDK's ``ToolChoice`` (id, type, name and
    arguments in each); joined, the arguments are the call's JSON."""
    chunks = list(
        sdk.chat.completions.create(
            model=MODEL, messages=HI, tools=TOOLS, tool_choice=FORCED, stream=True
        )
    )
    pieces = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(pieces) > 2
    assert {(tc.id, tc.type, tc.function.name, tc.index) for tc in pieces} == {
        (pieces[0].id, "function", "get_weather", 0)
    }
    assert json.loads("".join(tc.function.arguments for tc in pieces)) == {
        "city": "example city",
        "days": 1,
    }
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None


def test_sdk_reads_completion_streams_strictly(emu: TogetherEmulator, sdk: Together) -> None:
    """Text-completion chunks carry the spec's top-level ``token`` the SDK requires."""
    chunks = list(sdk.completions.create(model=MODEL, prompt="Say hi", max_tokens=4, stream=True))
    text = "".join(c.token.text for c in chunks)
    assert text == "".join(c.choices[0].text or "" for c in chunks)
    assert text.split() == ["This", "is", "a", "deterministic"]
    assert chunks[-1].finish_reason == "length" and chunks[-1].usage is not None
    assert [c.token.special for c in chunks] == [False] * len(chunks)
    eos = list(sdk.completions.create(model=MODEL, prompt="Say hi", stream=True))
    assert eos[-1].token.special and eos[-1].token.text == "" and eos[-1].finish_reason == "eos"
    plain = sdk.completions.create(model=MODEL, prompt="Say hi", logprobs=1, echo=True)
    assert plain.choices[0].text


def test_sdk_gets_json_text_in_json_mode(emu: TogetherEmulator, sdk: Together) -> None:
    r = sdk.chat.completions.create(
        model=MODEL, messages=HI, response_format={"type": "json_object"}
    )
    assert r.choices[0].message is not None and r.choices[0].message.content is not None
    assert json.loads(r.choices[0].message.content) == {
        "reply": "This is a deterministic reply from the Together emulator. You said: Weather "
        "in Paris?"
    }
    streamed = sdk.chat.completions.create(
        model=MODEL,
        messages=HI,
        stream=True,
        response_format=CASES["json_schema"]["response_format"],
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed)
    assert json.loads(text) == {"city": "example city"}
