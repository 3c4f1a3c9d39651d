"""Pure tests of the OpenAI-compatible toolkit under the family's dialects: no server, no hooks."""

from __future__ import annotations

import base64
import json
import struct
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest

from llmrouter import errors
from llmrouter import openai_compat as oc
from llmrouter.pipeline import STREAM_DONE, Call, HTTPResponse, StreamState, TextPrompt
from llmrouter.types import ModelResponseStream
from llmrouter_openai.errors import InsufficientQuotaError
from llmrouter_openai.options import CHAT_ONLY, ChatOptions
from llmrouter_openai.presets import OPENAI, OPENAI_COMPATIBLE

D = OPENAI.dialect

#: The toolkit's functions bound to OpenAI's dialect, as the plugin's hooks call them.
wire = SimpleNamespace(
    completion_body=lambda call, options, prompt, preset: oc.completion_body(
        call, options, prompt, preset.dialect, chat_only=CHAT_ONLY
    ),
    completion_logprobs=oc.completion_logprobs,
    map_error=partial(oc.map_error, dialect=D),
    parse_chat=partial(oc.parse_chat, dialect=D),
    parse_duration=oc.parse_duration,
    parse_embeddings=partial(oc.parse_embeddings, dialect=D),
    parse_models=partial(oc.parse_models, dialect=D),
    parse_stream_event=partial(oc.parse_stream_event, dialect=D),
    normalize_finish_reason=lambda r: D.finish_reasons.get(r, r) if r else r,
)


def make_call(**kw: Any) -> Call:
    kw.setdefault("messages", [{"role": "user", "content": "hi"}])
    return Call(operation="chat", provider="openai", model="gpt-4o-mini", **kw)


def response(status: int, payload: Any, headers: dict[str, str] | None = None) -> HTTPResponse:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return HTTPResponse(status, headers or {}, raw)


def err(
    code: str | None = None, type_: str = "invalid_request_error", message: str = "boom"
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# --- errors ---------------------------------------------------------------------------------------

ERROR_TABLE: list[tuple[int, dict[str, Any], type[errors.LLMRouterError]]] = [
    (400, err(), errors.BadRequestError),
    (400, err("context_length_exceeded"), errors.ContextWindowExceededError),
    (401, err("invalid_api_key"), errors.AuthenticationError),
    (403, err(None, "invalid_request_error"), errors.PermissionDeniedError),
    (404, err("model_not_found"), errors.NotFoundError),
    (409, err(), errors.ConflictError),
    (413, err("rate_limit_exceeded", "tokens"), errors.BadRequestError),
    (422, err(), errors.UnprocessableEntityError),
    (429, err("rate_limit_exceeded", "requests"), errors.RateLimitError),
    (429, err("insufficient_quota", "insufficient_quota"), InsufficientQuotaError),
    (500, err(None, "server_error"), errors.InternalServerError),
    (502, err(None, "server_error"), errors.InternalServerError),
    (503, err(None, "server_error"), errors.ServiceUnavailableError),
    (504, err(None, "server_error"), errors.GatewayTimeoutError),
    # a code never moves an error out of its status family
    (500, err("context_length_exceeded"), errors.InternalServerError),
    (400, err("insufficient_quota"), errors.BadRequestError),
    # OpenRouter's numeric code and a non-JSON body
    (402, {"error": {"code": 402, "message": "Insufficient credits"}}, errors.PaymentRequiredError),
    (502, b"<html>bad gateway</html>", errors.InternalServerError),
]


@pytest.mark.parametrize(("status", "payload", "cls"), ERROR_TABLE)
def test_error_mapping(status: int, payload: Any, cls: type[errors.LLMRouterError]) -> None:
    error = wire.map_error(make_call(), response(status, payload, {"x-request-id": "req_1"}))
    assert type(error) is cls
    assert error.status_code == status and error.request_id == "req_1"
    assert error.provider == "openai" and error.model == "gpt-4o-mini"


def test_insufficient_quota_is_a_rate_limit_that_is_not_retried() -> None:
    error = wire.map_error(make_call(), response(429, err("insufficient_quota")))
    assert isinstance(error, errors.RateLimitError) and isinstance(error, InsufficientQuotaError)
    assert error.retryable is False and errors.RateLimitError.retryable is True
    assert error.retry_after is None


def test_error_keeps_code_type_param_and_body() -> None:
    payload = {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "n", "code": "x"}
    }
    error = wire.map_error(make_call(), response(400, payload))
    assert isinstance(error, errors.APIStatusError)
    assert (error.code, error.error_type, error.param) == ("x", "invalid_request_error", "n")
    assert error.body == payload


def test_error_text_never_holds_a_key() -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
    payload = err("invalid_api_key", message=f"Incorrect API key provided: {key}.")
    error = wire.map_error(make_call(), response(401, payload))
    assert key not in str(error) and key not in repr(error) and key not in json.dumps(error.body)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        # no Retry-After: the reset of the limit that was hit
        (
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"},
            360.0,
        ),
        (
            {
                "x-ratelimit-remaining-requests": "12",
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "1.5s",
            },
            1.5,
        ),
        ({"x-ratelimit-remaining-requests": "4", "x-ratelimit-reset-requests": "2s"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    error = wire.map_error(make_call(), response(429, err("rate_limit_exceeded"), headers))
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after == pytest.approx(expected) if expected else error.retry_after is None


def test_retry_after_follows_the_error_type() -> None:
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "20ms"}
    error = wire.map_error(
        make_call(), response(429, err("rate_limit_exceeded", "tokens"), headers)
    )
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after == pytest.approx(0.02)
    assert error.rate_limit["reset-tokens"] == "20ms"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("20ms", 0.02),
        ("350us", 0.00035),
        ("2.5", 2.5),
        ("", None),
        (None, None),
        ("soon", None),
        ("1s garbage", None),
    ],
)
def test_parse_duration(text: str | None, seconds: float | None) -> None:
    result = wire.parse_duration(text)
    assert result == pytest.approx(seconds) if seconds is not None else result is None


# --- streams --------------------------------------------------------------------------------------


def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
    base = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": choices,
    }
    return json.dumps({**base, **extra})


def parse(data: str, prompt: Any = None, state: StreamState | None = None) -> Any:
    return wire.parse_stream_event(make_call(stream=True), prompt, data, state or StreamState())


def test_done_marker() -> None:
    assert parse("[DONE]") is STREAM_DONE


def test_content_chunk() -> None:
    out = parse(chunk([{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]))
    assert isinstance(out, ModelResponseStream) and out.choices[0].delta.content == "Hi"


def test_usage_chunk_gets_one_empty_choice() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    out = parse(chunk([], usage=usage))
    assert isinstance(out, ModelResponseStream)
    assert out.usage is not None and out.usage.total_tokens == 7
    assert len(out.choices) == 1 and out.choices[0]["delta"].content is None
    assert out.choices[0].finish_reason is None


def test_empty_chunk_without_usage_is_skipped() -> None:
    assert parse(chunk([], usage=None)) is None


def test_groq_usage_is_moved_from_x_groq() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    out = parse(
        chunk(
            [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            x_groq={"id": "req_1", "usage": usage},
        )
    )
    assert isinstance(out, ModelResponseStream) and out.usage is not None
    assert out.usage.total_tokens == 3


def test_finish_reasons_are_normalised() -> None:
    out = parse(chunk([{"index": 0, "delta": {}, "finish_reason": "eos"}]))
    assert out.choices[0].finish_reason == "stop"
    assert wire.normalize_finish_reason("max_tokens") == "length"
    assert wire.normalize_finish_reason("content_filter") == "content_filter"
    assert wire.normalize_finish_reason(None) is None


def test_in_band_error_event_is_typed() -> None:
    state = StreamState(chunks=3)
    with pytest.raises(errors.RateLimitError, match="after 3 chunk"):
        parse(json.dumps(err("rate_limit_exceeded", "requests")), state=state)
    with pytest.raises(errors.InternalServerError):
        parse(json.dumps(err(None, "server_error")))
    with pytest.raises(errors.StreamError):
        parse(json.dumps({"error": {"message": "mystery"}}))


def test_openrouter_mid_stream_error() -> None:
    data = chunk(
        [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        error={"code": 502, "message": "upstream died"},
    )
    with pytest.raises(errors.InternalServerError, match="upstream died") as info:
        parse(data)
    assert info.value.status_code == 502
    with pytest.raises(errors.StreamError):
        parse(chunk([{"index": 0, "delta": {}, "finish_reason": "error"}]))


def test_lenient_chunk_from_a_sloppy_server() -> None:
    data = json.dumps(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"function": {"name": "f", "arguments": ""}}]},
                }
            ]
        }
    )
    out = parse(data)
    assert isinstance(out, ModelResponseStream)
    assert out.model == "gpt-4o-mini" and out.choices[0].delta.tool_calls[0].index == 0


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '{"choices": "nope"}'])
def test_unreadable_chunk_is_an_api_error(data: str) -> None:
    with pytest.raises(errors.APIError):
        parse(data)


def test_completion_chunks_are_reshaped() -> None:
    prompt = TextPrompt("[INST] hi [/INST]", template="llama-2")
    state = StreamState()
    first = json.dumps(
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 5,
            "model": "m",
            "choices": [{"text": "Hi", "index": 0, "logprobs": None, "finish_reason": None}],
        }
    )
    out = parse(first, prompt, state)
    assert out.object == "chat.completion.chunk" and out.choices[0].delta.content == "Hi"
    assert out.choices[0].delta.role == "assistant"
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    tail = parse(json.dumps({"id": "cmpl-1", "choices": [], "usage": usage}), prompt, state)
    assert tail.usage.total_tokens == 2 and len(tail.choices) == 1
    assert parse(json.dumps({"id": "cmpl-1", "choices": []}), prompt, state) is None
    with pytest.raises(errors.RateLimitError):
        parse(json.dumps(err("rate_limit_exceeded")), prompt, state)


# --- responses ------------------------------------------------------------------------------------


def test_completion_logprobs_become_chat_shaped() -> None:
    shaped = wire.completion_logprobs(
        {"tokens": ["a", "b"], "token_logprobs": [-0.1, -0.2], "top_logprobs": [{"a": -0.1}, None]}
    )
    assert shaped == {
        "content": [
            {
                "token": "a",
                "logprob": -0.1,
                "bytes": [97],
                "top_logprobs": [{"token": "a", "logprob": -0.1, "bytes": [97]}],
            },
            {"token": "b", "logprob": -0.2, "bytes": [98], "top_logprobs": []},
        ],
        "refusal": None,
    }
    assert wire.completion_logprobs(None) is None


def test_base64_embeddings_are_decoded() -> None:
    floats = [0.5, -0.25, 1.0]
    packed = base64.b64encode(struct.pack("<3f", *floats)).decode()
    payload = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": packed}],
        "model": "text-embedding-3-small",
    }
    out = wire.parse_embeddings(make_call(), response(200, payload))
    assert out.data[0].embedding == floats


def test_embeddings_without_model_get_the_call_model() -> None:
    payload = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [1.0]}]}
    assert wire.parse_embeddings(make_call(), response(200, payload)).model == "gpt-4o-mini"


def test_bad_base64_embedding_is_an_api_error() -> None:
    payload = {"data": [{"index": 0, "embedding": "@@@"}], "model": "m"}
    with pytest.raises(errors.APIError):
        wire.parse_embeddings(make_call(), response(200, payload))


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "list", "data": [{"id": "a", "object": "model", "owned_by": "o"}]},
        [{"id": "a", "object": "model"}],
    ],
)
def test_model_lists(payload: Any) -> None:
    assert [m.id for m in wire.parse_models(make_call(), response(200, payload))] == ["a"]


def test_a_200_with_an_error_body_raises_it() -> None:
    with pytest.raises(errors.ServiceUnavailableError):
        wire.parse_chat(make_call(), response(200, {"error": {"code": 503, "message": "down"}}))


def test_unreadable_chat_body() -> None:
    with pytest.raises(errors.APIError, match="cannot read"):
        wire.parse_chat(make_call(), response(200, {"id": "x"}))


def test_empty_tool_calls_become_none() -> None:
    payload = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "x", "tool_calls": []},
                "finish_reason": "eos",
            }
        ],
    }
    out = wire.parse_chat(make_call(), response(200, payload))
    assert out.choices[0].message.tool_calls is None and out.choices[0].finish_reason == "stop"


# --- bodies ---------------------------------------------------------------------------------------


def test_completion_body_translates_chat_options() -> None:
    call = make_call()
    prompt = TextPrompt("P", template="llama-2", stop=("</s>",))
    options = ChatOptions(max_completion_tokens=9, logprobs=True, top_logprobs=2, stop="END")
    assert wire.completion_body(call, options, prompt, OPENAI_COMPATIBLE) == {
        "model": "gpt-4o-mini",
        "prompt": "P",
        "max_tokens": 9,
        "logprobs": 2,
        "stop": ["END", "</s>"],
    }
    assert wire.completion_body(call, ChatOptions(logprobs=True), prompt, OPENAI)["logprobs"] == 0


def test_completion_body_refuses_chat_only_options() -> None:
    prompt = TextPrompt("P", template="llama-2")
    with pytest.raises(errors.InvalidRequestError, match="response_format"):
        wire.completion_body(
            make_call(), ChatOptions(response_format={"type": "json_object"}), prompt, OPENAI
        )


def test_completion_body_respects_the_stop_limit() -> None:
    prompt = TextPrompt("P", template="t", stop=("<a>", "<b>"))
    with pytest.raises(errors.InvalidRequestError, match="at most 4"):
        wire.completion_body(make_call(), ChatOptions(stop=["1", "2", "3"]), prompt, OPENAI)
