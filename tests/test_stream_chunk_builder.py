"""``stream_chunk_builder``: the chunks of one stream -> the answer as if it had not been streamed.

Unit tests build chunks in the shapes the providers' stream parsers emit; the socket tests stream
from the Together and Anthropic emulators and compare the rebuilt answer with the non-streamed
answer to the same request (both emulators answer deterministically per request: content from
the prompt, usage from word counts, thinking signed by an HMAC of its text; only ids are random).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

import llmrouter
from llmrouter.chunks import stream_chunk_builder
from llmrouter.errors import InvalidRequestError
from llmrouter.testing import TogetherEmulator
from llmrouter.types import CallInfo, ModelResponse, ModelResponseStream, PendingCallInfo

TOGETHER_MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
TOGETHER_KEY = "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a"
ANTHROPIC_MODEL = "anthropic/claude-sonnet-4-6"
ANTHROPIC_KEY = "sk-ant-api03-ChunkBuilderTestKeyDoNotLeak012345"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def chunk(
    *choices: dict[str, Any], id: str = "chatcmpl-1", model: str = "m", **fields: Any
) -> ModelResponseStream:
    """A chunk as a provider parser would emit it (validated from its wire dict)."""
    return ModelResponseStream.model_validate(
        {"id": id, "created": 1700000000, "model": model, "choices": list(choices), **fields}
    )


def choice(index: int = 0, finish_reason: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish_reason}


def piece(
    index: int,
    arguments: str | None = None,
    *,
    id: str | None = None,
    name: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One streamed tool-call piece (OpenAI's shape: named once, then arguments only)."""
    out: dict[str, Any] = {"index": index, **extra}
    if id is not None:
        out["id"] = id
        out["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    if function:
        out["function"] = function
    return out


def sdk_valid(response: ModelResponse) -> ChatCompletion:
    """The rebuilt answer is a ``ChatCompletion`` for the official SDK."""
    return ChatCompletion.model_validate(response.model_dump())


# --- content, ids, finish reason ---------------------------------------------------------------


def test_content_is_joined_and_the_envelope_comes_from_the_first_chunk() -> None:
    chunks = [
        chunk(choice(role="assistant", content=""), created=1700000001, system_fingerprint=None),
        chunk(choice(content="Hello"), system_fingerprint="fp_1"),
        chunk(choice(content=", world"), model="other", system_fingerprint="fp_2"),
        chunk(choice(finish_reason="stop")),
    ]
    before = [c.model_dump() for c in chunks]
    response = stream_chunk_builder(chunks)
    assert isinstance(response, ModelResponse)
    assert response.id == "chatcmpl-1"
    assert response.object == "chat.completion"
    assert response.created == 1700000001
    assert response.model == "m"
    assert response.system_fingerprint == "fp_1"
    (only,) = response.choices
    assert only.index == 0
    assert only.message.role == "assistant"
    assert only.message.content == "Hello, world"
    assert only.message.tool_calls is None
    assert only.finish_reason == "stop"
    assert only.logprobs is None
    assert response.usage is None
    assert [c.model_dump() for c in chunks] == before  # the chunks are left as they were
    completion = sdk_valid(response)
    assert completion.choices[0].message.content == "Hello, world"


def test_content_is_none_when_no_piece_had_any() -> None:
    response = stream_chunk_builder(
        [chunk(choice(role="assistant")), chunk(choice(finish_reason="stop"))]
    )
    assert response.choices[0].message.content is None


def test_empty_content_stays_empty_without_tool_calls() -> None:
    response = stream_chunk_builder(
        [chunk(choice(role="assistant", content="", finish_reason="stop"))]
    )
    assert response.choices[0].message.content == ""


def test_finish_reason_is_the_last_one_given_and_none_when_never_given() -> None:
    chunks = [
        chunk(choice(content="a", finish_reason="length")),
        chunk(choice(content="b")),
        chunk(choice(finish_reason="stop")),
        chunk(choice()),
    ]
    assert stream_chunk_builder(chunks).choices[0].finish_reason == "stop"
    unfinished = stream_chunk_builder([chunk(choice(content="a")), chunk(choice(content="b"))])
    assert unfinished.choices[0].finish_reason is None
    assert unfinished.choices[0].message.content == "ab"


def test_a_generator_is_read_once() -> None:
    def gen() -> Iterator[ModelResponseStream]:
        yield chunk(choice(content="x"))
        yield chunk(choice(content="y", finish_reason="stop"))

    assert stream_chunk_builder(gen()).choices[0].message.content == "xy"


def test_an_empty_id_is_no_id() -> None:
    """The OpenAI-compatible parser gives a chunk that came without an id ``""``."""
    response = stream_chunk_builder(
        [chunk(choice(content="a"), id=""), chunk(choice(content="b"), id="real-id")]
    )
    assert response.id == "real-id"


# --- reasoning and thinking --------------------------------------------------------------------


def test_reasoning_and_thinking_blocks_as_the_anthropic_stream_sends_them() -> None:
    block_1 = {"type": "thinking", "thinking": "Let me think. Yes.", "signature": "sig-1"}
    block_2 = {"type": "redacted_thinking", "data": "opaque"}
    chunks = [
        chunk(choice(role="assistant", content="")),
        chunk(choice(reasoning_content="Let me think.")),
        chunk(choice(reasoning_content=" Yes.")),
        chunk(choice(thinking_blocks=[block_1])),
        chunk(choice(thinking_blocks=[block_2])),
        chunk(choice(content="The answer")),
        chunk(choice(finish_reason="stop"), stop_reason="end_turn", stop_sequence=None),
    ]
    response = stream_chunk_builder(chunks)
    message = response.choices[0].message
    assert message["reasoning_content"] == "Let me think. Yes."
    assert message["thinking_blocks"] == [block_1, block_2]
    assert message.content == "The answer"
    # top-level extras describe the whole answer: kept
    assert response["stop_reason"] == "end_turn" and response["stop_sequence"] is None
    # the result shares no list or dict with the chunks
    message["thinking_blocks"][0]["signature"] = "changed"
    assert chunks[3].choices[0].delta["thinking_blocks"][0]["signature"] == "sig-1"
    dumped = sdk_valid(response).model_dump()
    assert dumped["choices"][0]["message"]["reasoning_content"] == "Let me think. Yes."


def test_no_reasoning_fields_when_the_stream_had_none() -> None:
    message = stream_chunk_builder([chunk(choice(content="hi"))]).choices[0].message
    assert "reasoning_content" not in message and "thinking_blocks" not in message


# --- tool calls ---------------------------------------------------------------------------------


def test_two_tool_calls_in_interleaved_fragments() -> None:
    chunks = [
        chunk(choice(role="assistant", content="")),
        # the call with index 1 is named first: the output is still in index order
        chunk(choice(tool_calls=[piece(1, "", id="call_b", name="get_time")])),
        chunk(choice(tool_calls=[piece(0, "", id="call_a", name="get_weather")])),
        chunk(choice(tool_calls=[piece(0, '{"city": '), piece(1, '{"tz"')])),
        chunk(choice(tool_calls=[piece(1, ': "UTC"}')])),
        chunk(choice(tool_calls=[piece(0, '"Paris"}')])),
        chunk(choice(finish_reason="tool_calls")),
    ]
    response = stream_chunk_builder(chunks)
    message = response.choices[0].message
    assert message.content is None  # "" + tool calls: null, as in the non-streamed answer
    calls = message.tool_calls
    assert calls is not None
    assert [c.id for c in calls] == ["call_a", "call_b"]
    assert [c.type for c in calls] == ["function", "function"]
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert json.loads(calls[1].function.arguments) == {"tz": "UTC"}
    assert response.choices[0].finish_reason == "tool_calls"
    completion = sdk_valid(response)
    sdk_calls = completion.choices[0].message.tool_calls
    assert sdk_calls is not None
    assert sdk_calls[1].model_dump()["function"]["arguments"] == '{"tz": "UTC"}'


def test_tool_call_identity_comes_from_the_first_piece_that_has_it() -> None:
    """A later piece never renames a call; a piece without ``function`` adds nothing to it."""
    chunks = [
        chunk(choice(tool_calls=[piece(0, '{"a"')])),  # arguments before the name
        chunk(choice(tool_calls=[piece(0, ": 1}", id="call_x", name="f")])),
        chunk(choice(tool_calls=[piece(0, None, id="call_y", name="g")])),
        chunk(choice(tool_calls=[{"index": 0}])),
    ]
    (call,) = stream_chunk_builder(chunks).choices[0].message.tool_calls or []
    assert (call.id, call.function.name, call.function.arguments) == ("call_x", "f", '{"a": 1}')


def test_whole_tool_calls_with_extras_as_gemini_sends_them() -> None:
    gemini = chunk(
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_g_0",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                        "thought_signature": "c2ln",
                    }
                ],
            },
            "finish_reason": "tool_calls",
            "gemini_finish_reason": "STOP",
        },
        prompt_feedback={"safetyRatings": []},
    )
    response = stream_chunk_builder([gemini])
    first = response.choices[0]
    assert first["gemini_finish_reason"] == "STOP"
    assert first.message.tool_calls is not None
    assert first.message.tool_calls[0]["thought_signature"] == "c2ln"
    assert first.message.content is None
    assert response["prompt_feedback"] == {"safetyRatings": []}
    sdk_valid(response)


# --- n > 1 --------------------------------------------------------------------------------------


def test_interleaved_choices_are_grouped_and_sorted_by_index() -> None:
    chunks = [
        chunk(choice(1, role="assistant", content=""), choice(0, role="assistant", content="")),
        chunk(choice(1, content="B1")),
        chunk(choice(0, content="A1")),
        chunk(choice(0, content=" A2"), choice(1, content=" B2")),
        chunk(choice(1, finish_reason="length")),
        chunk(choice(0, finish_reason="stop")),
    ]
    response = stream_chunk_builder(chunks)
    assert [c.index for c in response.choices] == [0, 1]
    assert [c.message.content for c in response.choices] == ["A1 A2", "B1 B2"]
    assert [c.finish_reason for c in response.choices] == ["stop", "length"]
    sdk_valid(response)


# --- usage --------------------------------------------------------------------------------------


def test_usage_on_a_final_chunk_with_no_choices_keeps_its_details_as_a_copy() -> None:
    usage = {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    chunks = [
        chunk(choice(role="assistant", content="hi")),
        chunk(choice(finish_reason="stop")),
        chunk(usage=usage),  # OpenAI's include_usage chunk: choices []
    ]
    response = stream_chunk_builder(chunks)
    assert len(response.choices) == 1 and response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.model_dump() == usage
    assert response.usage is not chunks[-1].usage
    response.usage["prompt_tokens_details"]["cached_tokens"] = 99
    assert chunks[-1].usage is not None
    assert chunks[-1].usage["prompt_tokens_details"] == {"cached_tokens": 2}
    assert sdk_valid(response).usage is not None


def test_usage_is_the_last_one_sent() -> None:
    """Gemini sends a cumulative usage on every chunk; the last is the answer's."""
    chunks = [
        chunk(
            choice(content="a"),
            usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        ),
        chunk(
            choice(content="b"),
            usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        ),
        chunk(choice(finish_reason="stop")),
    ]
    usage = stream_chunk_builder(chunks).usage
    assert usage is not None and (usage.completion_tokens, usage.total_tokens) == (2, 7)


# --- logprobs -----------------------------------------------------------------------------------


def _lp(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.5, "bytes": list(token.encode()), "top_logprobs": []}


def test_logprobs_content_lists_are_joined() -> None:
    chunks = [
        chunk({"index": 0, "delta": {"content": "Hi"}, "logprobs": {"content": [_lp("Hi")]}}),
        chunk({"index": 0, "delta": {"content": ""}, "logprobs": None}),
        chunk(
            {
                "index": 0,
                "delta": {"content": " there"},
                "logprobs": {"content": [_lp(" there")], "refusal": None},
            }
        ),
        chunk(choice(finish_reason="stop")),
    ]
    response = stream_chunk_builder(chunks)
    assert response.choices[0].logprobs == {"content": [_lp("Hi"), _lp(" there")]}
    completion = sdk_valid(response)
    assert completion.choices[0].logprobs is not None
    assert [t.token for t in completion.choices[0].logprobs.content or []] == ["Hi", " there"]


def test_logprobs_of_another_shape_give_none() -> None:
    raw = {"tokens": ["a"], "token_logprobs": [-0.25]}
    response = stream_chunk_builder(
        [chunk({"index": 0, "delta": {"content": "a"}, "logprobs": raw, "finish_reason": "stop"})]
    )
    assert response.choices[0].logprobs is None


# --- unknown fields -----------------------------------------------------------------------------


def test_unknown_fields_are_merged_not_dropped() -> None:
    chunks = [
        chunk(
            {
                "index": 0,
                "delta": {"content": "a", "refusal": None, "vendor_text": "x", "vendor_list": [1]},
                "seed": 41,
                "text": "a",
            },
            service_tier="default",
            obfuscation="Zx9",
        ),
        chunk(
            {
                "index": 0,
                "delta": {
                    "content": "b",
                    "vendor_text": "y",
                    "vendor_list": [2, 3],
                    "vendor_obj": {"n": 1},
                    "token_id": 7,
                },
                "seed": 42,
                "text": "b",
            },
            service_tier="default",
            obfuscation="Qq",
        ),
        chunk(
            {
                "index": 0,
                "delta": {"vendor_obj": {"n": 2}, "vendor_text": None, "token_id": None},
                "seed": None,
                "finish_reason": "stop",
            },
            service_tier=None,
        ),
    ]
    response = stream_chunk_builder(chunks)
    message = response.choices[0].message
    assert message["vendor_text"] == "xy"  # strings joined
    assert message["vendor_list"] == [1, 2, 3]  # lists extended
    assert message["vendor_obj"] == {"n": 2}  # other values: the last one
    assert message["token_id"] == 7  # None never replaces a value
    assert "refusal" in message and message["refusal"] is None  # only ever None: kept as None
    assert response.choices[0]["seed"] == 42
    assert response.choices[0]["text"] == "ab"
    assert response["service_tier"] == "default"  # top level: the last non-None value
    assert "obfuscation" not in response
    sdk_valid(response)


def test_unknown_fields_of_tool_call_pieces_and_functions_are_kept() -> None:
    chunks = [
        chunk(choice(tool_calls=[piece(0, "{", id="c1", name="f", vendor_meta={"k": 1})])),
        chunk(choice(tool_calls=[{"index": 0, "function": {"arguments": "}", "strict": True}}])),
    ]
    (call,) = stream_chunk_builder(chunks).choices[0].message.tool_calls or []
    assert call["vendor_meta"] == {"k": 1}
    assert call.function["strict"] is True
    assert call.function.arguments == "{}"


# --- call info ----------------------------------------------------------------------------------


def test_call_info_of_the_last_chunk_that_has_one_is_reused() -> None:
    early, late = CallInfo(provider="early"), CallInfo(provider="together_ai", attempts=2)
    chunks = [chunk(choice(content="a")), chunk(choice(content="b")), chunk(choice(content="c"))]
    chunks[0]._set_call_info(early)
    chunks[1]._set_call_info(late)
    response = stream_chunk_builder(chunks)
    assert response.llmrouter is late
    assert "llmrouter" not in response.model_dump()


def test_a_pending_call_info_is_not_built() -> None:
    pending = PendingCallInfo("together_ai", "m", None, 0.5, {"x-request-id": "r-1"}, None, None)
    last = chunk(choice(content="a"))
    last._set_call_info(pending)
    response = stream_chunk_builder([last])
    assert pending._built is None  # not forced
    info = response.llmrouter
    assert info.provider == "together_ai" and info.request_id == "r-1"
    assert info is pending.build()


def test_no_call_info_is_made_up() -> None:
    response = stream_chunk_builder([chunk(choice(content="a"))])
    assert response._llmrouter is None


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [[], (), iter([])], ids=["list", "tuple", "iterator"])
def test_no_chunk_is_refused(empty: Any) -> None:
    with pytest.raises(InvalidRequestError, match="at least one chunk") as info:
        stream_chunk_builder(empty)
    assert isinstance(info.value, ValueError) and info.value.param == "chunks"


def test_a_dict_is_refused_by_position() -> None:
    good = chunk(choice(content="a"))
    with pytest.raises(
        InvalidRequestError, match=r"position 1 is a dict, not a ModelResponseStream"
    ) as info:
        stream_chunk_builder([good, good.model_dump()])  # type: ignore[list-item]
    assert "model_validate" in str(info.value)


def test_a_non_chunk_is_refused_by_position_and_type() -> None:
    response = stream_chunk_builder([chunk(choice(content="a"))])
    with pytest.raises(InvalidRequestError, match=r"position 0 is a ModelResponse,"):
        stream_chunk_builder([response])  # type: ignore[list-item]


def test_chunks_of_two_streams_are_refused_naming_both_ids() -> None:
    chunks = [chunk(choice(content="a"), id="stream-A"), chunk(choice(content="b"), id="stream-B")]
    with pytest.raises(InvalidRequestError) as info:
        stream_chunk_builder(chunks)
    assert "'stream-A'" in str(info.value) and "'stream-B'" in str(info.value)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (chunk(choice(content="a")), "not one chunk"),
        ({"id": "x", "choices": []}, "got dict"),
        ("data: {}", "got str"),
        (42, "got int"),
    ],
    ids=["one-chunk", "dict", "str", "int"],
)
def test_what_is_not_a_sequence_of_chunks_is_refused(wrong: Any, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        stream_chunk_builder(wrong)


def test_an_async_stream_is_refused_with_how_to_collect_it() -> None:
    async def chunks() -> AsyncIterator[ModelResponseStream]:
        yield chunk(choice(content="a"))

    agen = chunks()
    with pytest.raises(InvalidRequestError, match=r"\[c async for c in stream\]"):
        stream_chunk_builder(agen)  # type: ignore[arg-type]


# --- over a socket: the rebuilt stream equals the non-streamed answer ----------------------------


def _without_ids(calls: Any) -> list[dict[str, Any]] | None:
    """Tool calls minus their ids, which the emulators draw at random for each answer, and
    minus ``index``, which Together's non-streamed answer also carries in each tool call (a
    stream field; a rebuilt call has its place in the list instead)."""
    if calls is None:
        return None
    out = []
    for call in calls:
        dumped = call.model_dump()
        assert isinstance(dumped.pop("id"), str) and call.id
        dumped.pop("index", None)
        out.append(dumped)
    return out


def _same_answer(streamed: ModelResponse, whole: ModelResponse) -> None:
    assert len(streamed.choices) == len(whole.choices)
    for got, want in zip(streamed.choices, whole.choices, strict=True):
        assert got.index == want.index
        assert got.message.content == want.message.content
        assert _without_ids(got.message.tool_calls) == _without_ids(want.message.tool_calls)
        assert got.finish_reason == want.finish_reason
    assert streamed.usage == whole.usage
    sdk_valid(streamed)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tokens": 40},
        {"max_tokens": 3},
        {"n": 2, "max_tokens": 12},
        {
            "tools": [WEATHER],
            "messages": [{"role": "user", "content": "Weather in Paris? [[emulator:tool_call]]"}],
        },
    ],
    ids=["stop", "length", "n2", "tool-call"],
)
def test_together_stream_rebuilds_the_non_streamed_answer(
    emu: TogetherEmulator, kwargs: dict[str, Any]
) -> None:
    call: dict[str, Any] = {
        "model": TOGETHER_MODEL,
        "messages": [{"role": "user", "content": "Tell me about the rivers of France"}],
        "api_base": emu.base_url,
        "api_key": TOGETHER_KEY,
        **kwargs,
    }
    whole = llmrouter.completion(**call)
    stream = llmrouter.completion(**call, stream=True)
    chunks = list(stream)
    streamed = stream_chunk_builder(chunks)
    _same_answer(streamed, whole)
    # stream.final_response() parses the stream's events again instead of keeping the chunks:
    # it must give exactly what the chunks the caller read give
    again = stream.final_response()
    assert again.model_dump() == streamed.model_dump()
    assert again.llmrouter is stream.llmrouter
    assert streamed.id == chunks[0].id and streamed.model == chunks[0].model
    if "tools" in kwargs:
        assert streamed.choices[0].message.tool_calls is not None
        assert streamed.choices[0].finish_reason == "tool_calls"
    else:
        assert streamed.choices[0].message.content
    if "n" in kwargs:
        assert len(streamed.choices) == 2


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[Any]:
    testing = pytest.importorskip("llmrouter_anthropic.testing")
    with testing.AnthropicEmulator(api_key=ANTHROPIC_KEY) as server:
        yield server


@pytest.fixture
def anthropic(anthropic_server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    anthropic_server.reset()
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return {"api_base": anthropic_server.base_url, "api_key": ANTHROPIC_KEY}


@pytest.mark.parametrize("thinking", [False, True], ids=["plain", "thinking"])
@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool-call"])
def test_anthropic_stream_rebuilds_the_non_streamed_answer(
    anthropic: dict[str, Any], thinking: bool, tools: bool
) -> None:
    content = "What is the weather in Paris?" + (" [[emulator:tool_call]]" if tools else "")
    call: dict[str, Any] = {
        "model": ANTHROPIC_MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 4096,
        **anthropic,
    }
    if tools:
        call["tools"] = [WEATHER]
    if thinking:
        call["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    whole = llmrouter.completion(**call)
    stream = llmrouter.completion(**call, stream=True)
    chunks = list(stream)
    streamed = stream_chunk_builder(chunks)
    _same_answer(streamed, whole)
    # stream.final_response() parses the stream's events again instead of keeping the chunks:
    # it must give exactly what the chunks the caller read give
    again = stream.final_response()
    assert again.model_dump() == streamed.model_dump()
    assert again.llmrouter is stream.llmrouter
    assert streamed.id == chunks[0].id and streamed.id.startswith("msg_")
    assert streamed["stop_reason"] == whole["stop_reason"]
    got, want = streamed.choices[0].message, whole.choices[0].message
    if tools:
        assert got.tool_calls is not None and got.tool_calls[0].id.startswith("toolu_")
        assert streamed.choices[0].finish_reason == "tool_calls"
    else:
        assert got.content
    if thinking:
        assert got["reasoning_content"] == want["reasoning_content"]
        assert got["reasoning_content"]
        assert got["thinking_blocks"] == want["thinking_blocks"]  # signatures included
    else:
        assert "thinking_blocks" not in got


def test_a_rebuilt_anthropic_answer_continues_a_tool_loop(anthropic: dict[str, Any]) -> None:
    """The strict emulator checks the thinking block's signature on the way back: the rebuilt
    message must carry it unchanged."""
    call: dict[str, Any] = {
        "model": ANTHROPIC_MODEL,
        "tools": [WEATHER],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "max_tokens": 4096,
        **anthropic,
    }
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Paris? [[emulator:tool_call]]"}
    ]
    first = stream_chunk_builder(list(llmrouter.completion(messages=messages, stream=True, **call)))
    message = first.choices[0].message
    assert message.tool_calls is not None
    messages.append(message.model_dump(exclude_none=True))
    messages.append(
        {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18C and sunny"}
    )
    second = stream_chunk_builder(llmrouter.completion(messages=messages, stream=True, **call))
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content
