"""Pure tests of the OpenAI-compatible toolkit under Together's dialect: no server, no hooks."""

from __future__ import annotations

import json
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest

from llmrouter import errors
from llmrouter import openai_compat as oc
from llmrouter.pipeline import STREAM_DONE, Call, ChatPrompt, HTTPResponse, StreamState, TextPrompt
from llmrouter_together.dialect import DIALECT
from llmrouter_together.options import CHAT_ONLY, ChatOptions, CompletionOptions

#: The toolkit's functions bound to Together's dialect, as the plugin's hooks call them.
wire = SimpleNamespace(
    chat_body=partial(oc.chat_body, dialect=DIALECT),
    completion_body=partial(oc.completion_body, dialect=DIALECT, chat_only=CHAT_ONLY),
    map_error=partial(oc.map_error, dialect=DIALECT),
    parse_chat=partial(oc.parse_chat, dialect=DIALECT),
    parse_completion_as_chat=partial(oc.parse_completion_as_chat, dialect=DIALECT),
    parse_stream_event=partial(oc.parse_stream_event, dialect=DIALECT),
    normalize_finish_reason=lambda r: DIALECT.finish_reasons.get(r, r) if r else r,
)


def make_call(**kw: Any) -> Call:
    return Call(
        operation="chat",
        provider="together_ai",
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        **kw,
    )


def test_finish_reasons() -> None:
    assert wire.normalize_finish_reason("eos") == "stop"
    assert wire.normalize_finish_reason("length") == "length"
    assert wire.normalize_finish_reason("tool_calls") == "tool_calls"
    assert wire.normalize_finish_reason(None) is None


def test_chat_body_stream_asks_for_usage_and_normalises_stop() -> None:
    call = make_call(stream=True)
    body = wire.chat_body(
        call, ChatOptions(stop="</s>", max_tokens=5), ChatPrompt(call.messages or [])
    )
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stop": ["</s>"],
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_openai_style_logprobs_map_to_together_int() -> None:
    body = wire.chat_body(make_call(), ChatOptions(logprobs=True, top_logprobs=3), ChatPrompt([]))
    assert body["logprobs"] == 3 and "top_logprobs" not in body
    body = wire.chat_body(make_call(), ChatOptions(logprobs=False), ChatPrompt([]))
    assert "logprobs" not in body


def test_legacy_together_ai_flag_warns_and_is_not_sent() -> None:
    with pytest.warns(DeprecationWarning, match="together_ai=True"):
        body = wire.chat_body(make_call(), ChatOptions(together_ai=True), ChatPrompt([]))
    assert "together_ai" not in body


def test_completion_body_adds_template_stops_and_refuses_chat_only_options() -> None:
    body = wire.completion_body(
        make_call(), CompletionOptions(stop=["x"]), TextPrompt("P", "llama-2", ("</s>",))
    )
    assert body == {"model": "m", "prompt": "P", "stop": ["x", "</s>"]}
    with pytest.raises(errors.InvalidRequestError, match="tools"):
        wire.completion_body(
            make_call(),
            ChatOptions(tools=[{"type": "function", "function": {"name": "f"}}]),
            TextPrompt("P", "t"),
        )


def test_extra_body_cannot_override_core_fields() -> None:
    call = make_call(extra_body={"model": "other"})
    with pytest.raises(errors.InvalidRequestError, match="extra_body"):
        wire.chat_body(call, ChatOptions(), ChatPrompt([]))
    call = make_call(extra_body={"some_new_flag": 1})
    assert wire.chat_body(call, ChatOptions(), ChatPrompt([]))["some_new_flag"] == 1


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(status, headers or {}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "context_length_exceeded", errors.ContextWindowExceededError),
        (400, None, errors.BadRequestError),
        (401, "invalid_api_key", errors.AuthenticationError),
        (402, None, errors.PaymentRequiredError),
        (403, None, errors.PermissionDeniedError),
        (404, "model_not_available", errors.NotFoundError),
        (422, None, errors.UnprocessableEntityError),
        (429, None, errors.RateLimitError),
        (500, None, errors.InternalServerError),
        (
            500,
            "context_length_exceeded",
            errors.InternalServerError,
        ),  # a code never changes the status family
        (503, None, errors.ServiceUnavailableError),
        (504, None, errors.GatewayTimeoutError),
        (524, None, errors.GatewayTimeoutError),
        (529, None, errors.ServiceUnavailableError),
    ],
)
def test_error_mapping(status: int, code: str | None, cls: type) -> None:
    body = {"id": "req-1", "error": {"message": "m", "type": "t", "param": None, "code": code}}
    err = wire.map_error(make_call(), response(status, body))
    assert type(err) is cls
    assert err.status_code == status and err.request_id == "req-1" and err.body == body


def test_rate_limit_headers_parsed() -> None:
    headers = {
        "retry-after": "7",
        "x-ratelimit-limit": "60",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "7",
    }
    err = wire.map_error(make_call(), response(429, {"error": {"message": "slow"}}, headers))
    assert isinstance(err, errors.RateLimitError)
    assert err.retry_after == 7.0 and err.rate_limit == {
        "limit": "60",
        "remaining": "0",
        "reset": "7",
    }


def test_non_json_error_body_kept_as_text() -> None:
    err = wire.map_error(make_call(), HTTPResponse(502, {}, b"<html>bad gateway</html>"))
    assert isinstance(err, errors.InternalServerError) and "bad gateway" in str(err.body)


def test_stream_events() -> None:
    state = StreamState()
    call = make_call(stream=True)
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "text": "a",
                "finish_reason": "eos",
                "delta": {"content": "a", "token_id": 5},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    parsed = wire.parse_stream_event(call, ChatPrompt([]), json.dumps(chunk), state)
    assert parsed is not STREAM_DONE and parsed is not None
    assert parsed.choices[0].finish_reason == "stop" and parsed.usage is not None
    assert wire.parse_stream_event(call, ChatPrompt([]), "[DONE]", state) is STREAM_DONE
    with pytest.raises(errors.RateLimitError):
        wire.parse_stream_event(
            call,
            ChatPrompt([]),
            json.dumps({"error": {"message": "slow", "type": "rate_limit_exceeded"}}),
            state,
        )
    with pytest.raises(errors.StreamError):
        wire.parse_stream_event(
            call, ChatPrompt([]), json.dumps({"error": {"message": "odd"}}), state
        )
    with pytest.raises(errors.APIError):
        wire.parse_stream_event(call, ChatPrompt([]), "{not json", state)


def test_completion_chunk_reshaped_as_chat_chunk() -> None:
    state = StreamState()
    raw = {
        "id": "c",
        "object": "completion.chunk",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "text": " sky", "finish_reason": None}],
    }
    parsed = wire.parse_stream_event(
        make_call(stream=True), TextPrompt("p", "t"), json.dumps(raw), state
    )
    assert parsed is not None and parsed is not STREAM_DONE
    assert parsed.choices[0].delta.content == " sky" and parsed.object == "chat.completion.chunk"


def test_completion_reshaped_as_chat() -> None:
    raw = {
        "id": "c",
        "object": "text.completion",
        "created": 5,
        "model": "m",
        "prompt": [],
        "choices": [{"index": 0, "text": "blue", "finish_reason": "eos", "seed": 1}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    r = wire.parse_completion_as_chat(make_call(), response(200, raw))
    assert r.choices[0].message.content == "blue" and r.choices[0].finish_reason == "stop"
    assert r.created == 5 and r.usage is not None and r.usage.total_tokens == 4


def test_tool_call_messages_gain_index_and_tool_choice_stays_openai_shaped() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
    ]
    options = ChatOptions(
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    body = wire.chat_body(make_call(), options, ChatPrompt(messages))
    assert [c["index"] for c in body["messages"][1]["tool_calls"]] == [0, 1]
    assert "index" not in messages[1]["tool_calls"][0]  # the caller's messages are not mutated
    assert body["messages"][0] is messages[0]
    # sent as OpenAI's object, as Together's docs and SDK do (not the bare name)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    for choice in ("auto", "none", "required"):
        options = ChatOptions(
            tools=[{"type": "function", "function": {"name": "f"}}], tool_choice=choice
        )
        assert wire.chat_body(make_call(), options, ChatPrompt(messages))["tool_choice"] == choice
    # the spec's string form (a function's name alone) goes out as the same object
    options = ChatOptions(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice="f")
    body = wire.chat_body(make_call(), options, ChatPrompt(messages))
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}


def test_parse_chat_normalises_like_pydantic_assignment_would() -> None:
    """parse_chat writes the normalised fields straight into the models' __dict__ (cheaper than
    pydantic's __setattr__): the result must be the same object pydantic assignment gives."""
    from llmrouter.types import ModelResponse

    raw = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "eos",
                "message": {"role": "assistant", "content": "hi", "tool_calls": []},
            },
            {"index": 1, "finish_reason": "length", "message": {"role": "assistant"}},
        ],
    }
    content = json.dumps(raw).encode()
    call = Call(operation="chat", provider="together_ai", model="m")
    got = wire.parse_chat(call, HTTPResponse(200, {}, content))
    expected = ModelResponse.model_validate_json(content)
    expected.choices[0].finish_reason = "stop"
    expected.choices[0].message.tool_calls = None
    assert got == expected
    for mine, theirs in zip(got.choices, expected.choices, strict=True):
        assert mine.model_fields_set == theirs.model_fields_set
        assert mine.message.model_fields_set == theirs.message.model_fields_set
    assert got.model_dump() == expected.model_dump()
    assert got["choices"][0]["finish_reason"] == "stop"
    assert got.choices[0].message.tool_calls is None
    assert got.choices[1].finish_reason == "length"


# --- streams in both shapes -----------------------------------------------------------------------


def _chat_chunk(tool_calls: list[dict[str, Any]], index: int = 0) -> str:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": index,
                    "finish_reason": None,
                    "delta": {"role": "assistant", "token_id": 5, "tool_calls": tool_calls},
                }
            ],
        }
    )


def _piece(arguments: str, *, id_: str = "call_1", name: str = "get_weather", n: int = 0) -> dict:
    """A piece as Together's spec shapes it: id, type and name repeated in every piece."""
    return {
        "index": n,
        "id": id_,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _parse(events: list[str]) -> list[Any]:
    call, state = make_call(stream=True), StreamState()
    out = []
    for data in events:
        chunk = wire.parse_stream_event(call, None, data, state)
        state.chunks += 1
        out.append(chunk)
    return out


def _accumulate(chunks: list[Any]) -> list[Any]:
    """Join the chunks with OpenAI's own stream accumulator (it concatenates string fields)."""
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    acc = ChatCompletionStreamState()
    for chunk in chunks:
        acc.handle_chunk(ChatCompletionChunk.model_validate(chunk.model_dump(exclude_unset=True)))
    return list(acc.current_completion_snapshot.choices[0].message.tool_calls or [])


def test_spec_shaped_tool_call_pieces_come_out_named_once() -> None:
    """Together's spec repeats id/type/name in every streamed piece; the parser passes the first
    and clears the repeats, so OpenAI-style joining gives the name once."""
    events = [
        _chat_chunk([_piece("")]),
        _chat_chunk([_piece('{"city":')]),
        _chat_chunk([_piece(' "Paris"}')]),
    ]
    chunks = _parse(events)
    first, *rest = (c.choices[0].delta.tool_calls[0] for c in chunks)
    assert (first.id, first.type, first.function.name) == ("call_1", "function", "get_weather")
    for tc in rest:
        assert (tc.index, tc.id, tc.type, tc.function.name) == (0, None, None, None)
        assert "id" not in tc.model_dump(exclude_unset=True)
    assert [tc.function.arguments for tc in rest] == ['{"city":', ' "Paris"}']
    (joined,) = _accumulate(chunks)
    assert joined.id == "call_1" and joined.function.name == "get_weather"
    assert joined.function.arguments == '{"city": "Paris"}'


def test_openai_shaped_tool_call_pieces_pass_unchanged() -> None:
    events = [
        _chat_chunk([_piece("")]),
        _chat_chunk([{"index": 0, "function": {"arguments": "{}"}}]),
    ]
    chunks = _parse(events)
    second = chunks[1].choices[0].delta.tool_calls[0]
    assert second.model_dump(exclude_unset=True) == {"index": 0, "function": {"arguments": "{}"}}
    (joined,) = _accumulate(chunks)
    assert joined.function.name == "get_weather" and joined.function.arguments == "{}"


def test_parallel_calls_and_choices_are_tracked_apart() -> None:
    """Two calls (index 0 and 1) in one choice, and the same call index in another choice, are
    different calls: each keeps its name in its own first piece; a new id at a seen index is a
    new call and is left whole."""
    events = [
        _chat_chunk([_piece(""), _piece("", id_="call_2", name="get_time", n=1)]),
        _chat_chunk([_piece("{}"), _piece("{}", id_="call_2", name="get_time", n=1)]),
        _chat_chunk([_piece("", id_="call_9", name="other")], index=1),
        _chat_chunk([_piece("", id_="call_3", name="third")]),
    ]
    chunks = _parse(events)
    assert [tc.function.name for tc in chunks[0].choices[0].delta.tool_calls] == [
        "get_weather",
        "get_time",
    ]
    assert [tc.function.name for tc in chunks[1].choices[0].delta.tool_calls] == [None, None]
    assert chunks[2].choices[0].delta.tool_calls[0].function.name == "other"
    assert chunks[3].choices[0].delta.tool_calls[0].id == "call_3"


def test_completion_chunks_in_the_spec_shape_and_openai_shape() -> None:
    """The spec's CompletionChunk has a top-level token and finish_reason; OpenAI-style servers
    put finish_reason in the choice. Both read the same."""
    prompt = TextPrompt(text="p", template="llama-2")
    call, state = make_call(stream=True), StreamState()
    spec_shaped = {
        "id": "x",
        "token": {"id": 2, "text": "", "logprob": -0.1, "special": True},
        "choices": [{"index": 0, "text": "", "delta": {"role": "assistant", "content": ""}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        "finish_reason": "eos",
    }
    chunk = wire.parse_stream_event(call, prompt, json.dumps(spec_shaped), state)
    assert chunk.choices[0].finish_reason == "stop" and chunk.usage.total_tokens == 2
    text_in_delta = {**spec_shaped, "finish_reason": None}
    text_in_delta["choices"] = [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]
    chunk = wire.parse_stream_event(call, prompt, json.dumps(text_in_delta), state)
    assert chunk.choices[0].delta.content == "Hi" and chunk.choices[0].finish_reason is None
    in_token = {**spec_shaped, "finish_reason": None, "choices": [{"index": 0}]}
    in_token["token"] = {"id": 8, "text": " you", "logprob": 0, "special": False}
    chunk = wire.parse_stream_event(call, prompt, json.dumps(in_token), state)
    assert chunk.choices[0].delta.content == " you"
    token_only = {"id": "x", "token": {"id": 7, "text": " there", "logprob": 0, "special": False}}
    chunk = wire.parse_stream_event(call, prompt, json.dumps(token_only), state)
    assert chunk.choices[0].delta.content == " there"
    openai_shaped = {"id": "x", "choices": [{"index": 0, "text": "!", "finish_reason": "length"}]}
    chunk = wire.parse_stream_event(call, prompt, json.dumps(openai_shaped), state)
    assert chunk.choices[0].delta.content == "!" and chunk.choices[0].finish_reason == "length"
