"""The translation toolkit (llmrouter.translation): pure helpers of the plugins whose wire is not
OpenAI's (Anthropic, Gemini, Bedrock). Each plugin's own tests check its wording end to end
against its emulator; these check the shared rules directly, once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrouter import errors
from llmrouter.pipeline import Call, HTTPResponse, StreamState
from llmrouter.translation import (
    MEDIA_ALIASES,
    RequestErrors,
    asks_nothing,
    assistant_message,
    cached_prompt_usage,
    check_token_limit,
    check_tool_choice,
    drop_unsupported,
    json_object_body,
    one_page_error,
    openai_tool_call,
    parse_data_url,
    parse_tool_call,
    parse_tool_calls,
    part_text,
    stream_chunk,
    system_text_parts,
    tool_call_start,
    unreadable_event,
)

UNSUPPORTED = {"n": "one answer per call", "seed": "no seed", "logprobs": "no logprobs"}
WORDS: dict[str, Any] = {"takes": "Svc takes a tool call's input", "field": "Svc's tool input"}


def call(**params: Any) -> Call:
    return Call(operation="chat", provider="svc", model="m1", params=params)


def fail(**params: Any) -> RequestErrors:
    return RequestErrors(call(**params))


def drop(params: dict[str, Any]) -> Any:
    return drop_unsupported(
        params,
        UNSUPPORTED,
        api="Svc's Chat API",
        service="Svc",
        supported=["temperature", "max_tokens"],
        provider="svc",
        model="m1",
    )


# --- errors and options ---------------------------------------------------------------------------


def test_request_errors_carry_the_call_and_drop_params() -> None:
    error = fail()("bad thing", "messages[0]")
    assert isinstance(error, errors.InvalidRequestError)
    assert (error.param, error.provider, error.model) == ("messages[0]", "svc", "m1")
    assert fail().drop is False and fail(drop_params=True).drop is True
    assert fail(drop_params="yes").drop is False  # only True drops
    role = fail().unknown_role(2, "function", "Svc")
    assert role.param == "messages[2].role" and "'function'" in str(role)
    assert "Svc takes system, developer, user, assistant and tool" in str(role)
    assert "Svc needs at least one user message" in str(fail().no_user_message("Svc"))


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("seed", None, True),
        ("n", 1, True),
        ("n", True, False),  # a bool is not the count 1
        ("n", 2, False),
        ("logprobs", False, True),
        ("logprobs", True, False),
        ("parallel_tool_calls", True, True),
        ("parallel_tool_calls", False, False),
        ("seed", 0, False),
    ],
)
def test_asks_nothing(name: str, value: object, expected: bool) -> None:
    assert asks_nothing(name, value) is expected


def test_drop_unsupported_keeps_params_untouched_when_nothing_goes() -> None:
    params = {"temperature": 0.5}
    assert drop(params) is params


def test_drop_unsupported_drops_harmless_values_silently() -> None:
    params = {"temperature": 0.5, "n": 1, "seed": None}
    assert drop(params) == {"temperature": 0.5}
    assert params == {"temperature": 0.5, "n": 1, "seed": None}  # the caller's dict unchanged


def test_drop_unsupported_refuses_with_reasons_and_the_ways_out() -> None:
    with pytest.raises(errors.InvalidRequestError) as info:
        drop({"seed": 3, "temperature": 0.5, "n": 2})
    message = str(info.value)
    assert info.value.param == "seed"
    assert "option(s) 'seed', 'n' are not supported by Svc's Chat API" in message
    assert "(seed: no seed; n: one answer per call)" in message
    assert "Supported: max_tokens, temperature." in message
    assert "drop the options Svc lacks, or send Svc fields with extra_body={...}" in message


def test_drop_unsupported_with_drop_params_drops_everything_unsupported() -> None:
    kept = drop({"seed": 3, "n": 4, "drop_params": True})
    assert kept == {"drop_params": True}


def test_token_limit_and_tool_choice_checks() -> None:
    check_token_limit(10, None)
    check_token_limit(None, 10)
    with pytest.raises(ValueError, match="not both"):
        check_token_limit(10, 20)
    tools = [{"type": "function", "function": {"name": "f"}}]
    check_tool_choice(tools, {"type": "function", "function": {"name": "f"}})
    check_tool_choice(None, None)
    with pytest.raises(ValueError):
        check_tool_choice(tools, {"type": "function", "function": {"name": "g"}})
    with pytest.raises(ValueError):
        check_tool_choice(None, "required")  # a choice needs tools


# --- content --------------------------------------------------------------------------------------


def test_part_text() -> None:
    assert part_text({"type": "text", "text": "hi"}, "m[0]", fail()) == "hi"
    with pytest.raises(errors.InvalidRequestError) as info:
        part_text({"type": "text", "text": 3}, "m[0]", fail())
    assert info.value.param == "m[0].text"


def test_data_url_media_type_and_data() -> None:
    assert parse_data_url("data:Image/PNG;base64,AAAA", "u", fail(), hint="h") == (
        "image/png",
        "AAAA",
    )
    jpg = "data:image/jpg;base64,QQ=="
    assert parse_data_url(jpg, "u", fail(), hint="h") == ("image/jpg", "QQ==")
    assert parse_data_url(jpg, "u", fail(), hint="h", aliases=MEDIA_ALIASES)[0] == "image/jpeg"
    assert parse_data_url("data:text/plain;base64,", "u", fail(), hint="h") == ("text/plain", "")


@pytest.mark.parametrize(
    ("url", "require_data"),
    [
        ("data:image/png,AAAA", False),  # not base64
        ("data:image/png;base64", False),  # no comma, no data
        ("data:;base64,AAAA", False),  # no media type
        ("data:image/png;base64,", True),  # empty data, where the service needs some
    ],
)
def test_data_url_refused(url: str, require_data: bool) -> None:
    with pytest.raises(errors.InvalidRequestError) as info:
        parse_data_url(url, "at.url", fail(), hint="Svc takes base64", require_data=require_data)
    assert info.value.param == "at.url"
    assert info.value.message.endswith("'data:<media type>;base64,<data>'; Svc takes base64")


def test_system_text_parts_checks_each_part_as_it_comes() -> None:
    content = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": "x"}]
    parts = system_text_parts(content, 1, fail(), prompt="Svc's system prompt")
    assert next(parts) == ("messages[1].content[0]", content[0])
    with pytest.raises(errors.InvalidRequestError) as info:
        next(parts)
    assert info.value.param == "messages[1].content[1]"
    assert "(Svc's system prompt is text), got type 'image_url'" in str(info.value)
    with pytest.raises(errors.InvalidRequestError, match="got type None"):
        list(system_text_parts(["text"], 0, fail(), prompt="p"))


# --- tool calls -----------------------------------------------------------------------------------


def tool_call(arguments: Any) -> dict[str, Any]:
    return {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}


@pytest.mark.parametrize(
    ("arguments", "parsed"),
    [('{"a": 1}', {"a": 1}), ("", {}), (None, {}), ({"b": 2}, {"b": 2})],
)
def test_tool_call_arguments_become_an_object(arguments: Any, parsed: dict[str, Any]) -> None:
    parts = parse_tool_call(tool_call(arguments), "w", 0, fail(), **WORDS)
    assert (parts.id, parts.name, parts.arguments) == ("c1", "f", parsed)


def test_tool_call_arguments_refused_with_the_services_words() -> None:
    with pytest.raises(errors.InvalidRequestError) as info:
        parse_tool_call(tool_call("{not json"), "messages[3].tool_calls[0]", 3, fail(), **WORDS)
    assert info.value.param == "messages[3].tool_calls[0].function.arguments"
    assert str(info.value).startswith("messages[3]: messages[3].tool_calls[0].function.arguments")
    assert "is not valid JSON" in str(info.value)
    assert "Svc takes a tool call's input as a JSON object" in str(info.value)
    with pytest.raises(errors.InvalidRequestError) as info:
        parse_tool_call(tool_call("[1, 2]"), "w", 0, fail(), **WORDS)
    assert "must be a JSON object (Svc's tool input is one), got list" in str(info.value)


def test_tool_call_shape_and_id() -> None:
    with pytest.raises(errors.InvalidRequestError) as info:
        parse_tool_call({"id": "c1", "function": {"arguments": "{}"}}, "w", 0, fail(), **WORDS)
    assert info.value.param == "w"
    no_id = {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    with pytest.raises(errors.InvalidRequestError) as info:
        parse_tool_call(no_id, "w", 0, fail(), **WORDS)
    assert info.value.param == "w.id"
    parts = parse_tool_call({**no_id, "id": ""}, "w", 0, fail(), require_id=False, **WORDS)
    assert parts.id is None and parts.source["function"]["name"] == "f"


def test_tool_calls_of_a_message() -> None:
    assert parse_tool_calls({"role": "assistant", "content": "x"}, 0, fail(), **WORDS) == []
    message = {"role": "assistant", "tool_calls": [tool_call("{}"), tool_call('{"x": 1}')]}
    got = parse_tool_calls(message, 4, fail(), **WORDS)
    assert [c.arguments for c in got] == [{}, {"x": 1}]
    with pytest.raises(errors.InvalidRequestError) as info:
        parse_tool_calls({"tool_calls": {"id": "c1"}}, 4, fail(), **WORDS)
    assert info.value.param == "messages[4].tool_calls"
    bad = {"tool_calls": [tool_call("{}"), tool_call("no")]}
    with pytest.raises(errors.InvalidRequestError) as info:
        parse_tool_calls(bad, 4, fail(), **WORDS)
    assert info.value.param == "messages[4].tool_calls[1].function.arguments"


def test_openai_tool_call() -> None:
    got = openai_tool_call("t1", "f", {"a": [1]})
    assert got == {
        "id": "t1",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a": [1]}'},
    }
    assert json.loads(got["function"]["arguments"]) == {"a": [1]}


# --- answers --------------------------------------------------------------------------------------


def test_json_object_body() -> None:
    assert json_object_body(call(), HTTPResponse(200, {}, b'{"a": 1}'), "message") == {"a": 1}
    for content in (b"not json", b"[1]"):
        with pytest.raises(errors.APIError) as info:
            json_object_body(call(), HTTPResponse(200, {}, content), "message")
        assert "svc sent a message that llmrouter cannot read" in str(info.value)
        assert info.value.status_code == 200


def test_assistant_message() -> None:
    calls = [openai_tool_call("t1", "f", {})]
    assert assistant_message(["a", "b"], []) == {"role": "assistant", "content": "ab"}
    only_calls = assistant_message([], calls)
    assert only_calls["content"] is None and only_calls["tool_calls"] == calls
    assert assistant_message([], [])["content"] == ""
    blocks = [{"type": "redacted_thinking", "data": "x"}]
    redacted = assistant_message(["a"], [], [], blocks)
    assert redacted["reasoning_content"] is None and redacted["thinking_blocks"] == blocks
    thought = assistant_message(["a"], [], ["t1", "t2"])
    assert thought["reasoning_content"] == "t1t2" and "thinking_blocks" not in thought


def test_cached_prompt_usage_counts_every_prompt_token() -> None:
    usage = cached_prompt_usage(10, 100, 5, 7)
    assert usage["prompt_tokens"] == 115 and usage["total_tokens"] == 122
    assert usage["prompt_tokens_details"] == {"cached_tokens": 100, "cache_creation_tokens": 5}
    assert (usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]) == (100, 5)


def test_one_page_error() -> None:
    error = one_page_error(call(), HTTPResponse(200, {}, b"{}"), 3, "has_more is true")
    assert isinstance(error, errors.APIError) and error.status_code == 200
    assert "more models than the 3 of one page (has_more is true)" in str(error)


# --- streams --------------------------------------------------------------------------------------


def test_stream_chunk_and_tool_call_start() -> None:
    state = StreamState(response_id="r1", created=5, model="m1")
    chunk = stream_chunk(state, tool_call_start(1, "t1", "f"), finish_reason=None)
    assert (chunk.id, chunk.created, chunk.model) == ("r1", 5, "m1")
    delta = chunk.choices[0].delta
    assert delta.tool_calls is not None
    first = delta.tool_calls[0]
    assert (first.index, first.id, first.function.name, first.function.arguments) == (
        1,
        "t1",
        "f",
        "",
    )
    done = stream_chunk(state, {}, finish_reason="stop")
    assert done.choices[0].finish_reason == "stop"


def test_unreadable_event_quotes_the_start_of_the_event() -> None:
    # words, not one long run: a run of one letter could equal a key another test in this
    # process used, which the library then redacts everywhere (as it should)
    data = " ".join(f"w{i}" for i in range(200))
    error = unreadable_event(call(), data, KeyError("type"))
    assert isinstance(error, errors.APIError)
    assert "svc sent a stream event llmrouter cannot read ('type')" in str(error)
    assert repr(data[:200]) in str(error) and data[:201] not in str(error)
