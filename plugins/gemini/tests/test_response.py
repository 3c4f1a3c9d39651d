"""Answers, usage, blocked prompts, errors, embeddings and the model list."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmrouter import errors
from llmrouter.pipeline import Call, HTTPResponse
from llmrouter_gemini.response import (
    map_error,
    parse_embeddings,
    parse_generate,
    parse_models,
    retry_delay,
    usage_of,
)

CALL = Call(operation="chat", provider="gemini", model="gemini-2.5-flash")
USAGE = {
    "promptTokenCount": 10,
    "candidatesTokenCount": 5,
    "thoughtsTokenCount": 7,
    "cachedContentTokenCount": 4,
    "totalTokenCount": 22,
}


def ok(body: Any) -> HTTPResponse:
    return HTTPResponse(200, {}, json.dumps(body).encode())


def answer(parts: list[dict[str, Any]], reason: str = "STOP", **extra: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason}],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "resp1",
        **extra,
    }


def test_text_parts_are_joined() -> None:
    response = parse_generate(CALL, ok(answer([{"text": "Hel"}, {"text": "lo"}])))
    assert response.id == "resp1"
    assert response.model == "gemini-2.5-flash-001"
    choice = response.choices[0]
    assert choice.message.content == "Hello"
    assert choice.finish_reason == "stop"
    assert choice["gemini_finish_reason"] == "STOP"


def test_thoughts_are_reasoning_content() -> None:
    parts: list[dict[str, Any]] = [{"text": "Let me think", "thought": True}, {"text": "42"}]
    message = parse_generate(CALL, ok(answer(parts))).choices[0].message
    assert message.content == "42"
    assert message["reasoning_content"] == "Let me think"


def test_function_calls_become_tool_calls_with_stable_ids() -> None:
    parts: list[dict[str, Any]] = [
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": "c2ln",
        },
        {"functionCall": {"name": "get_time", "id": "fc_own"}},
    ]
    body = answer(parts)
    first = parse_generate(CALL, ok(body))
    again = parse_generate(CALL, ok(body))
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None
    assert [c.id for c in calls] == ["call_resp1_0_0", "fc_own"]
    assert [c.id for c in again.choices[0].message.tool_calls or ()] == ["call_resp1_0_0", "fc_own"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert calls[1].function.arguments == "{}"
    assert calls[0]["thought_signature"] == "c2ln"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("SOMETHING_NEW", "something_new"),
    ],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    choice = parse_generate(CALL, ok(answer([{"text": "x"}], reason))).choices[0]
    assert choice.finish_reason == expected
    assert choice["gemini_finish_reason"] == reason


def test_several_candidates_are_several_choices() -> None:
    body = answer([{"text": "a"}])
    body["candidates"].append(
        {"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1}
    )
    response = parse_generate(CALL, ok(body))
    assert [c.message.content for c in response.choices] == ["a", "b"]
    assert [c.index for c in response.choices] == [0, 1]


def test_usage() -> None:
    assert usage_of(USAGE) == {
        "prompt_tokens": 10,
        "completion_tokens": 12,
        "total_tokens": 22,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 7},
    }


def test_blocked_prompt_is_an_empty_content_filter_choice() -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
    response = parse_generate(CALL, ok(body))
    choice = response.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.content == ""
    assert choice["gemini_finish_reason"] == "SAFETY"
    assert response["prompt_feedback"] == {"blockReason": "SAFETY"}
    assert response.usage is not None and response.usage.prompt_tokens == 3


def test_unreadable_answer_is_an_api_error() -> None:
    with pytest.raises(errors.APIError, match="cannot read"):
        parse_generate(CALL, HTTPResponse(200, {}, b"not json"))
    with pytest.raises(errors.APIError, match="cannot read"):
        parse_generate(CALL, ok({"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]}))


# --- errors ---------------------------------------------------------------------------------------


def error(status: int, code: str, message: str = "m", details: Any = None, **headers: str) -> Any:
    err: dict[str, Any] = {"code": status, "message": message, "status": code}
    if details is not None:
        err["details"] = details
    return map_error(CALL, HTTPResponse(status, headers, json.dumps({"error": err}).encode()))


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "INVALID_ARGUMENT", errors.BadRequestError),
        (403, "PERMISSION_DENIED", errors.PermissionDeniedError),
        (404, "NOT_FOUND", errors.NotFoundError),
        (429, "RESOURCE_EXHAUSTED", errors.RateLimitError),
        (500, "INTERNAL", errors.InternalServerError),
        (503, "UNAVAILABLE", errors.ServiceUnavailableError),
        (504, "DEADLINE_EXCEEDED", errors.GatewayTimeoutError),
    ],
)
def test_error_statuses(status: int, code: str, cls: type[errors.APIStatusError]) -> None:
    exc = error(status, code, "went wrong")
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.error_type == code
    assert "went wrong" in exc.message


def test_too_long_input_is_a_context_window_error() -> None:
    exc = error(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    )
    assert isinstance(exc, errors.ContextWindowExceededError)


def test_bad_key_is_an_authentication_error() -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    exc = error(400, "INVALID_ARGUMENT", "API key not valid.", details)
    assert isinstance(exc, errors.AuthenticationError)


def test_rate_limit_wait_from_retry_info() -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
    ]
    exc = error(429, "RESOURCE_EXHAUSTED", "quota", details)
    assert isinstance(exc, errors.RateLimitError)
    assert exc.retry_after == 37.0
    assert error(429, "RESOURCE_EXHAUSTED", "q", details, **{"retry-after": "5"}).retry_after == 5.0
    assert retry_delay([{"@type": "x.RetryInfo", "retryDelay": "1.5s"}]) == 1.5
    assert retry_delay("nope") is None


def test_a_status_never_changes_the_family() -> None:
    assert type(error(500, "INVALID_ARGUMENT")) is errors.InternalServerError


def test_non_json_error_body() -> None:
    exc = map_error(CALL, HTTPResponse(502, {}, b"<html>bad gateway</html>"))
    assert isinstance(exc, errors.InternalServerError)


def test_error_in_a_200() -> None:
    with pytest.raises(errors.RateLimitError):
        parse_generate(
            CALL, ok({"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}})
        )


# --- embeddings and models ------------------------------------------------------------------------


def test_embeddings() -> None:
    call = Call(operation="embedding", provider="gemini", model="gemini-embedding-001")
    response = parse_embeddings(
        call, ok({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3]}]})
    )
    assert [d.embedding for d in response.data] == [[0.1, 0.2], [0.3]]
    assert [d.index for d in response.data] == [0, 1]
    assert response.model == "gemini-embedding-001"
    with pytest.raises(errors.APIError):
        parse_embeddings(call, ok({"embedding": {}}))


def test_models_lose_their_prefix() -> None:
    call = Call(operation="list_models", provider="gemini", model="")
    body = {
        "models": [
            {
                "name": "models/gemini-2.5-flash",
                "displayName": "Gemini 2.5 Flash",
                "inputTokenLimit": 1048576,
            },
            {"name": "models/gemini-embedding-001"},
        ]
    }
    models = parse_models(call, ok(body))
    assert [m.id for m in models] == ["gemini-2.5-flash", "gemini-embedding-001"]
    assert models[0]["displayName"] == "Gemini 2.5 Flash"
    assert models[0].owned_by == "google"


def test_a_next_page_token_is_an_error() -> None:
    call = Call(operation="list_models", provider="gemini", model="")
    with pytest.raises(errors.APIError, match="nextPageToken"):
        parse_models(call, ok({"models": [{"name": "models/a"}], "nextPageToken": "t"}))
