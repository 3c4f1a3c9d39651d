"""Answers, errors and the model list: Anthropic's shapes in, llmrouter's types out."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llmrouter import errors
from llmrouter.pipeline import Call, HTTPResponse
from llmrouter_anthropic.response import (
    ERROR_STATUS,
    FINISH_REASONS,
    inband_error,
    map_error,
    parse_message,
    parse_models,
)

CALL = Call(operation="chat", provider="anthropic", model="claude-sonnet-4-6")
USAGE = {"input_tokens": 12, "output_tokens": 7}


def message(content: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": USAGE,
        **fields,
    }


def ok(payload: Any, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(200, headers or {}, json.dumps(payload).encode(), ("request-id",))


def error_response(
    status: int, kind: str, headers: dict[str, str] | None = None, **extra: Any
) -> HTTPResponse:
    body = {"type": "error", "error": {"type": kind, "message": f"{kind} happened"}, **extra}
    return HTTPResponse(status, headers or {}, json.dumps(body).encode(), ("request-id",))


# --- messages -------------------------------------------------------------------------------------


def test_text_blocks_are_joined() -> None:
    result = parse_message(
        CALL, ok(message([{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]))
    )
    choice = result.choices[0]
    assert choice.message.content == "Hello"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert result.id == "msg_01" and result.model == "claude-sonnet-4-6"
    assert result["stop_reason"] == "end_turn" and result["stop_sequence"] is None


def test_tool_use_becomes_tool_calls() -> None:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
    ]
    result = parse_message(CALL, ok(message(content, stop_reason="tool_use")))
    msg = result.choices[0].message
    assert msg.content == "Checking."
    assert [(c.id, c.function.name) for c in msg.tool_calls or []] == [
        ("toolu_1", "get_weather"),
        ("toolu_2", "now"),
    ]
    assert json.loads((msg.tool_calls or [])[0].function.arguments) == {"city": "Paris"}
    assert result.choices[0].finish_reason == "tool_calls"


def test_only_tool_calls_means_no_content() -> None:
    content = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]
    assert parse_message(CALL, ok(message(content))).choices[0].message.content is None


def test_empty_answer_is_empty_text() -> None:
    assert parse_message(CALL, ok(message([]))).choices[0].message.content == ""


def test_thinking_blocks_are_kept_raw_with_reasoning_content() -> None:
    thinking = {"type": "thinking", "thinking": "Let me think.", "signature": "sig=="}
    redacted = {"type": "redacted_thinking", "data": "opaque"}
    result = parse_message(CALL, ok(message([thinking, redacted, {"type": "text", "text": "42"}])))
    msg = result.choices[0].message
    assert msg.content == "42"
    assert msg["reasoning_content"] == "Let me think."
    assert msg["thinking_blocks"] == [thinking, redacted]
    dumped = result.model_dump()["choices"][0]["message"]
    assert dumped["thinking_blocks"] == [thinking, redacted]


def test_no_thinking_no_extra_fields() -> None:
    msg = parse_message(CALL, ok(message([{"type": "text", "text": "x"}]))).choices[0].message
    assert "thinking_blocks" not in msg and "reasoning_content" not in msg


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("something_new", "something_new"),
    ],
)
def test_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    result = parse_message(CALL, ok(message([], stop_reason=stop_reason)))
    assert result.choices[0].finish_reason == finish_reason
    assert result["stop_reason"] == stop_reason


def test_every_sdk_stop_reason_is_in_the_table() -> None:
    from typing import get_args

    from anthropic.types import StopReason

    assert set(get_args(StopReason)) <= set(FINISH_REASONS)


def test_usage_counts_cached_tokens_in_prompt_tokens() -> None:
    usage = {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
        "output_tokens_details": {"thinking_tokens": 3},
    }
    result = parse_message(CALL, ok(message([], usage=usage)))
    assert result.usage is not None
    dumped = result.usage.model_dump()
    assert dumped["prompt_tokens"] == 130
    assert dumped["completion_tokens"] == 5
    assert dumped["total_tokens"] == 135
    assert dumped["prompt_tokens_details"] == {"cached_tokens": 100, "cache_creation_tokens": 20}
    assert dumped["completion_tokens_details"] == {"reasoning_tokens": 3}
    assert dumped["cache_read_input_tokens"] == 100


def test_null_cache_counts_are_zero() -> None:
    usage = {**USAGE, "cache_read_input_tokens": None, "cache_creation_input_tokens": None}
    result = parse_message(CALL, ok(message([], usage=usage)))
    assert result.usage is not None and result.usage.prompt_tokens == 12


def test_response_validates_as_the_openai_sdk_type() -> None:
    from openai.types.chat import ChatCompletion

    content: list[dict[str, Any]] = [
        {"type": "thinking", "thinking": "t", "signature": "s"},
        {"type": "text", "text": "x"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
    ]
    result = parse_message(CALL, ok(message(content, stop_reason="tool_use")))
    ChatCompletion.model_validate(result.model_dump())


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1]", json.dumps({"type": "message", "content": []}).encode()]
)
def test_unreadable_answers(payload: bytes) -> None:
    with pytest.raises(errors.APIError, match="cannot read"):
        parse_message(CALL, HTTPResponse(200, {}, payload))


def test_error_body_in_a_200_raises_it() -> None:
    with pytest.raises(errors.ServiceUnavailableError) as info:
        parse_message(CALL, ok({"type": "error", "error": {"type": "overloaded_error"}}))
    assert "200" in str(info.value) and info.value.retryable


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "cls"),
    [
        (400, "invalid_request_error", errors.BadRequestError),
        (401, "authentication_error", errors.AuthenticationError),
        (402, "billing_error", errors.PaymentRequiredError),
        (403, "permission_error", errors.PermissionDeniedError),
        (404, "not_found_error", errors.NotFoundError),
        (413, "request_too_large", errors.APIStatusError),
        (429, "rate_limit_error", errors.RateLimitError),
        (500, "api_error", errors.InternalServerError),
        (504, "timeout_error", errors.GatewayTimeoutError),
        (529, "overloaded_error", errors.ServiceUnavailableError),
    ],
)
def test_error_mapping(status: int, kind: str, cls: type[errors.APIStatusError]) -> None:
    error = map_error(CALL, error_response(status, kind, {"request-id": "req_011"}))
    assert type(error) is cls
    assert isinstance(error, errors.APIStatusError)
    assert error.status_code == status
    assert error.error_type == kind
    assert error.request_id == "req_011"
    assert f"{kind} happened" in error.message
    assert error.provider == "anthropic" and error.model == "claude-sonnet-4-6"
    assert ERROR_STATUS[kind] == status


def test_overloaded_is_retryable_and_bad_request_is_not() -> None:
    assert map_error(CALL, error_response(529, "overloaded_error")).retryable
    assert map_error(CALL, error_response(500, "overloaded_error")).retryable
    assert not map_error(CALL, error_response(400, "invalid_request_error")).retryable
    assert not map_error(CALL, error_response(413, "request_too_large")).retryable


def test_a_type_never_changes_the_status_family() -> None:
    error = map_error(CALL, error_response(500, "invalid_request_error"))
    assert type(error) is errors.InternalServerError


def test_request_id_from_the_body_when_no_header() -> None:
    error = map_error(CALL, error_response(400, "invalid_request_error", request_id="req_body"))
    assert error.request_id == "req_body"


def test_rate_limit_headers_and_retry_after() -> None:
    headers = {
        "retry-after": "7",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:00Z",
        "x-unrelated": "1",
    }
    error = map_error(CALL, error_response(429, "rate_limit_error", headers))
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after == 7
    assert error.rate_limit == {
        "requests-limit": "50",
        "requests-remaining": "0",
        "requests-reset": "2026-01-01T00:00:00Z",
    }


def test_rate_limit_without_retry_after_waits_for_the_exhausted_limits_reset() -> None:
    soon = datetime.now(timezone.utc) + timedelta(seconds=30)
    later = datetime.now(timezone.utc) + timedelta(seconds=90)
    headers = {
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": soon.isoformat().replace("+00:00", "Z"),
        "anthropic-ratelimit-requests-remaining": "10",
        "anthropic-ratelimit-requests-reset": later.isoformat().replace("+00:00", "Z"),
    }
    error = map_error(CALL, error_response(429, "rate_limit_error", headers))
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after is not None and 20 < error.retry_after <= 30


def test_rate_limit_without_any_hint_has_no_retry_after() -> None:
    error = map_error(CALL, error_response(429, "rate_limit_error"))
    assert isinstance(error, errors.RateLimitError) and error.retry_after is None


def test_non_json_error_body() -> None:
    error = map_error(CALL, HTTPResponse(502, {}, b"<html>bad gateway</html>"))
    assert isinstance(error, errors.InternalServerError)
    assert "bad gateway" in str(error.body)


def test_a_key_in_an_error_message_is_redacted() -> None:
    key = "sk-ant-api03-" + "a" * 40
    body = {"type": "error", "error": {"type": "authentication_error", "message": f"bad {key}"}}
    error = map_error(CALL, HTTPResponse(401, {}, json.dumps(body).encode()))
    assert key not in str(error) and key not in repr(error.body)


@pytest.mark.parametrize(("kind", "status"), sorted(ERROR_STATUS.items()))
def test_inband_errors_get_the_status_of_their_type(kind: str, status: int) -> None:
    error = inband_error(CALL, {"type": "error", "error": {"type": kind}}, "error event")
    assert isinstance(error, errors.APIStatusError) and error.status_code == status
    assert error.message.startswith("error event")


def test_inband_error_of_unknown_type_is_a_stream_error() -> None:
    error = inband_error(CALL, {"type": "error", "error": {"type": "new_error"}}, "error event")
    assert type(error) is errors.StreamError


# --- models ---------------------------------------------------------------------------------------

MODELS = {
    "data": [
        {
            "type": "model",
            "id": "claude-sonnet-4-6",
            "display_name": "Claude Sonnet 4.6",
            "created_at": "2026-02-17T00:00:00Z",
        },
        {
            "type": "model",
            "id": "claude-haiku-4-5",
            "display_name": "Claude Haiku 4.5",
            "created_at": "not a date",
        },
    ],
    "has_more": False,
    "first_id": "claude-sonnet-4-6",
    "last_id": "claude-haiku-4-5",
}


def test_models() -> None:
    models = parse_models(CALL, ok(MODELS))
    assert [m.id for m in models] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    first = models[0]
    assert first.owned_by == "anthropic" and first.object == "model"
    assert first.created == int(datetime(2026, 2, 17, tzinfo=timezone.utc).timestamp())
    assert first["display_name"] == "Claude Sonnet 4.6"
    assert models[1].created is None


def test_models_has_more_is_an_error_not_a_short_list() -> None:
    with pytest.raises(errors.APIError, match="has_more") as info:
        parse_models(CALL, ok({**MODELS, "has_more": True}))
    assert "2" in info.value.message


@pytest.mark.parametrize("payload", [[], {"data": [{"no": "id"}]}, {"items": []}])
def test_unreadable_model_lists(payload: Any) -> None:
    with pytest.raises(errors.APIError, match="cannot read"):
        parse_models(CALL, ok(payload))


def test_clock_is_used_for_created() -> None:
    before = int(time.time())
    assert parse_message(CALL, ok(message([]))).created >= before


def test_server_tool_blocks_are_kept_whole_and_go_back_unchanged() -> None:
    """A paused server-tool turn (pause_turn) is continued by sending it back exactly."""
    from llmrouter_anthropic.options import parse_options
    from llmrouter_anthropic.request import messages_body

    content = [
        {"type": "text", "text": "Let me search."},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {"query": "x"},
        },
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
    ]
    result = parse_message(CALL, ok(message(content, stop_reason="pause_turn")))
    sent_back = result.choices[0].message.model_dump(exclude_none=True)
    assert sent_back["content"] == "Let me search." and sent_back["anthropic_content"] == content
    history = [{"role": "user", "content": "Search."}, sent_back]
    call = Call(operation="chat", provider="anthropic", model="m", messages=history)
    body = messages_body(
        call, parse_options({"max_tokens": 64}, provider="anthropic", model="m"), history
    )
    assert body["messages"][1] == {"role": "assistant", "content": content}


def test_plain_answers_carry_no_anthropic_content() -> None:
    result = parse_message(CALL, ok(message([{"type": "text", "text": "hi"}])))
    assert "anthropic_content" not in result.choices[0].message.model_dump()
