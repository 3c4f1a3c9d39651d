"""Parity with OpenAI's official SDK (``openai``, a dev dependency), over real sockets.

Two checks per call of a small matrix (plain, stream, tools, forced tool, tool history,
response_format, stop, logprobs, penalties, sampling, OpenAI's own fields, embeddings):

1. the SDK, with strict response validation, reads every ``OpenAIEmulator`` answer (streams
   included), so the emulator's shapes are the ones OpenAI's generated types demand;
2. the JSON body the SDK sends equals the body llmrouter sends for the same ``openai/...`` call
   (both recorded by the strict emulator), except for the deliberate differences in
   :data:`DELIBERATE`, each with its reason.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai import OpenAI
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

import llmrouter
from llmrouter.testing import OpenAIEmulator, samples

MODEL = "gpt-4o-mini"
EMBED = "text-embedding-3-small"
HI = [{"role": "user", "content": "Weather in Paris?"}]
TOOLS = samples.TOOLS
FORCED = samples.FORCED_TOOL_CHOICE
HISTORY = samples.TOOL_CONVERSATION

#: The same keyword arguments go to ``OpenAI().chat.completions.create(model=MODEL, **kw)`` and
#: to ``llmrouter.completion(model="openai/" + MODEL, **kw)``.
CASES: dict[str, dict[str, Any]] = {
    "plain": {"messages": HI},
    "stream": {"messages": HI, "stream": True},
    "tools": {"messages": HI, "tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": False},
    "forced_tool": {"messages": HI, "tools": TOOLS, "tool_choice": FORCED},
    "forced_tool_stream": {"messages": HI, "tools": TOOLS, "tool_choice": FORCED, "stream": True},
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
    "stop": {"messages": HI, "stop": ["emulator", "END"]},
    "stop_string": {"messages": HI, "stop": "emulator"},
    "max_tokens": {"messages": HI, "max_tokens": 5},
    "max_completion_tokens": {"messages": HI, "max_completion_tokens": 5},
    "logprobs": {"messages": HI, "logprobs": True, "top_logprobs": 2},
    "logprobs_stream": {"messages": HI, "logprobs": True, "top_logprobs": 1, "stream": True},
    "penalties": {
        "messages": HI,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"1024": -10},
    },
    "sampling": {"messages": HI, "temperature": 0.3, "top_p": 0.9, "seed": 42, "n": 2},
    "openai_fields": {
        "messages": HI,
        "user": "u-1",
        "service_tier": "default",
        "store": False,
        "metadata": {"k": "v"},
    },
    "usage_stream": {"messages": HI, "stream": True, "stream_options": {"include_usage": True}},
}

#: Where llmrouter's body deliberately differs from the SDK's for the same call, and why. Each
#: entry turns the SDK's body into the one llmrouter must send, only where its condition holds,
#: so an unexplained difference still fails.
DELIBERATE: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {}


def _deliberate(reason: str) -> Callable[[Callable[[dict[str, Any]], None]], None]:
    def register(fn: Callable[[dict[str, Any]], None]) -> None:
        DELIBERATE[fn.__name__] = (reason, fn)

    return register


@_deliberate(
    "llmrouter asks for usage on every stream (one chunk more, with the usage); the SDK sends "
    "stream_options only when the caller does"
)
def stream_usage(body: dict[str, Any]) -> None:
    if body.get("stream") is True:
        body["stream_options"] = {"include_usage": True, **(body.get("stream_options") or {})}


@_deliberate(
    "OpenAI deprecated max_tokens for chat in favour of max_completion_tokens, and its reasoning "
    "models reject max_tokens; llmrouter sends the caller's max_tokens under the new name"
)
def max_completion_tokens(body: dict[str, Any]) -> None:
    if "max_tokens" in body:
        body["max_completion_tokens"] = body.pop("max_tokens")


@_deliberate(
    "metadata= is llmrouter's own call metadata (seen by plugins and logs, docs/providers/"
    "openai.md), never sent; OpenAI's stored-completion metadata goes in extra_body"
)
def router_metadata(body: dict[str, Any]) -> None:
    body.pop("metadata", None)


def expected_body(sdk_body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(sdk_body)
    for _reason, apply in DELIBERATE.values():
        apply(body)
    return body


@pytest.fixture
def sdk(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> Iterator[OpenAI]:
    client = OpenAI(
        base_url=oai.base_url,
        api_key=at_oai["api_key"],
        max_retries=0,
        _strict_response_validation=True,
    )
    with client:
        yield client


def _drain(result: Any) -> list[Any]:
    return list(result) if not hasattr(result, "choices") else [result]


@pytest.mark.parametrize("case", sorted(CASES))
def test_sdk_and_llmrouter_send_the_same_body(
    case: str, oai: OpenAIEmulator, at_oai: dict[str, Any], sdk: OpenAI
) -> None:
    kwargs = copy.deepcopy(CASES[case])
    sdk_results = _drain(sdk.chat.completions.create(model=MODEL, **kwargs))
    sdk_body = oai.requests[-1].body
    ours = _drain(llmrouter.completion(model="openai/" + MODEL, **kwargs, **at_oai))
    our_body = oai.requests[-1].body
    assert [r.status for r in oai.requests] == [200, 200]
    assert oai.requests[0].path == oai.requests[1].path == "/v1/chat/completions"
    assert our_body == expected_body(sdk_body), f"{case}: unexplained body difference"
    assert kwargs == CASES[case]  # neither client mutated the caller's arguments
    assert sdk_results and ours


def test_embeddings_send_the_same_body(
    oai: OpenAIEmulator, at_oai: dict[str, Any], sdk: OpenAI
) -> None:
    """With ``encoding_format`` given, the bodies match exactly. Without it the SDK asks for
    base64 (and decodes it) while llmrouter sends nothing and gets floats: a request-side
    difference of the SDK's own transport choice, the vectors read the same."""
    for given in (["one", "two"], "one"):
        got = sdk.embeddings.create(model=EMBED, input=given, encoding_format="float")
        ours = llmrouter.embedding(
            model="openai/" + EMBED, input=given, encoding_format="float", **at_oai
        )
        sdk_body, our_body = (r.body for r in oai.requests[-2:])
        assert sdk_body == {"model": EMBED, "input": given, "encoding_format": "float"}
        expected = {**sdk_body, "input": [given] if isinstance(given, str) else given}
        assert our_body == expected  # llmrouter's core sends one string as a one-item list
        assert [d.embedding for d in got.data] == [d.embedding for d in ours.data]
    # The SDK's strict mode validates before its own base64 decoding runs, so it rejects the
    # base64 answer it asked for: read that one with the SDK's default (lenient) client.
    with OpenAI(base_url=oai.base_url, api_key=at_oai["api_key"], max_retries=0) as lenient:
        default = lenient.embeddings.create(model=EMBED, input="one")
    assert oai.requests[-1].body == {"model": EMBED, "input": "one", "encoding_format": "base64"}
    ours = llmrouter.embedding(model="openai/" + EMBED, input="one", **at_oai)
    assert oai.requests[-1].body == {"model": EMBED, "input": ["one"]}
    assert default.data[0].embedding == pytest.approx(ours.data[0].embedding, rel=1e-6)


def test_every_deliberate_difference_is_exercised() -> None:
    """An allow-list entry no case needs is stale: it would hide a future regression."""
    for name, (reason, apply) in DELIBERATE.items():
        assert reason
        changed = False
        for kwargs in CASES.values():
            body = {"model": MODEL, **copy.deepcopy(kwargs)}
            before = copy.deepcopy(body)
            apply(body)
            changed = changed or body != before
        assert changed, f"deliberate difference {name!r} is never needed by the matrix"


def test_sdk_reads_a_streamed_tool_call_strictly(
    oai: OpenAIEmulator, at_oai: dict[str, Any], sdk: OpenAI
) -> None:
    """The SDK's own stream accumulator joins the emulator's pieces into one well-formed call,
    and llmrouter's chunks (dumped as the SDK would receive them) join to the same call."""
    kwargs: dict[str, Any] = {"messages": HI, "tools": TOOLS, "tool_choice": FORCED}
    state = ChatCompletionStreamState()
    for chunk in sdk.chat.completions.create(model=MODEL, stream=True, **kwargs):
        state.handle_chunk(chunk)
    (call,) = state.get_final_completion().choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example city", "days": 1}
    mine = ChatCompletionStreamState()
    for ours in llmrouter.completion(model="openai/" + MODEL, stream=True, **kwargs, **at_oai):
        mine.handle_chunk(ChatCompletionChunk.model_validate(ours.model_dump(exclude_unset=True)))
    (joined,) = mine.current_completion_snapshot.choices[0].message.tool_calls or []
    assert joined.function.name == "get_weather"
    assert json.loads(joined.function.arguments) == json.loads(call.function.arguments)
