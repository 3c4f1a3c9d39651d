"""Converse answers and errors -> llmrouter's types and error tree: pure, one rule per test."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from llmrouter import errors
from llmrouter.pipeline import HTTPResponse, ResponseHeaders
from llmrouter_bedrock.response import (
    REQUEST_ID_HEADERS,
    inband_error,
    map_error,
    parse_converse,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedrock_support import make_call

CALL = make_call()


def answer(content: list[dict[str, Any]], stop: str = "end_turn", **extra: Any) -> HTTPResponse:
    raw = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 120},
        **extra,
    }
    return HTTPResponse(200, {}, json.dumps(raw).encode())


def test_text_blocks_join_into_the_content() -> None:
    response = parse_converse(CALL, answer([{"text": "Hello"}, {"text": " world"}]))
    choice = response.choices[0]
    assert choice.message.content == "Hello world" and choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert response.model == CALL.model and response.id.startswith("chatcmpl-")
    assert response["stop_reason"] == "end_turn" and response["metrics"] == {"latencyMs": 120}
    assert response.usage.prompt_tokens == 10 and response.usage.total_tokens == 15


def test_tool_uses_become_tool_calls_with_json_arguments() -> None:
    use = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Oslo"}}}
    message = parse_converse(CALL, answer([use], "tool_use")).choices[0]
    assert message.finish_reason == "tool_calls"
    assert message.message.content is None
    call = message.message.tool_calls[0]
    assert call.id == "tooluse_1" and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}


def test_reasoning_becomes_reasoning_content_and_thinking_blocks() -> None:
    content = [
        {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "c2ln"}}},
        {"reasoningContent": {"redactedContent": "cmVk"}},
        {"text": "Yes."},
    ]
    message = parse_converse(CALL, answer(content)).choices[0].message
    assert message["reasoning_content"] == "Hmm."
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Hmm.", "signature": "c2ln"},
        {"type": "redacted_thinking", "data": "cmVk"},
    ]
    assert message.content == "Yes."


def test_blocks_without_an_openai_field_are_kept_whole() -> None:
    content = [{"text": "See"}, {"citationsContent": {"citations": []}}]
    message = parse_converse(CALL, answer(content)).choices[0].message
    assert message.content == "See" and message["bedrock_content"] == content


CITED = {
    "citationsContent": {
        "content": [{"text": "revenue grew 12%"}],
        "citations": [
            {
                "title": "report.pdf",
                "sourceContent": [{"text": "Revenue grew 12%"}],
                "location": {"documentPage": {"documentIndex": 0, "start": 1, "end": 1}},
            }
        ],
    }
}


def test_cited_text_joins_the_content_and_its_citations_are_kept() -> None:
    content = [{"text": "According to the report, "}, CITED, {"text": "."}]
    message = parse_converse(CALL, answer(content)).choices[0].message
    assert message.content == "According to the report, revenue grew 12%."
    assert message["citations"] == [
        {"text": "revenue grew 12%", "citations": CITED["citationsContent"]["citations"]}
    ]
    assert message["bedrock_content"] == content


SERVER_USE = {
    "toolUse": {
        "toolUseId": "srv_1",
        "name": "web_search",
        "input": {"query": "rivers"},
        "type": "server_tool_use",
    }
}
SERVER_RESULT = {
    "toolResult": {
        "toolUseId": "srv_1",
        "type": "web_search_result",
        "content": [{"text": "The Nile is long."}],
    }
}


def test_a_tool_the_service_ran_is_not_a_tool_call_for_the_caller() -> None:
    content = [SERVER_USE, SERVER_RESULT, {"text": "The Nile."}]
    choice = parse_converse(CALL, answer(content)).choices[0]
    assert choice.message.tool_calls is None and choice.message.content == "The Nile."
    assert choice.message["server_tool_uses"] == [SERVER_USE["toolUse"]]
    assert choice.message["server_tool_results"] == [SERVER_RESULT["toolResult"]]


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_tool_use", "malformed_tool_use"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop: str, finish: str) -> None:
    response = parse_converse(CALL, answer([{"text": "x"}], stop))
    assert response.choices[0].finish_reason == finish and response["stop_reason"] == stop


def test_cache_counts_are_part_of_the_prompt_tokens() -> None:
    raw = json.loads(answer([{"text": "x"}]).content)
    raw["usage"] = {
        "inputTokens": 3,
        "outputTokens": 2,
        "totalTokens": 105,
        "cacheReadInputTokens": 60,
        "cacheWriteInputTokens": 40,
    }
    usage = parse_converse(CALL, HTTPResponse(200, {}, json.dumps(raw).encode())).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (103, 2, 105)
    assert usage.prompt_tokens_details["cached_tokens"] == 60
    assert usage["cache_creation_input_tokens"] == 40


def test_model_specific_response_fields_are_kept() -> None:
    extra = {"additionalModelResponseFields": {"stop_sequence": "END"}}
    response = parse_converse(CALL, answer([{"text": "x"}], **extra))
    assert response["additional_model_response_fields"] == {"stop_sequence": "END"}


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"output": {}}'])
def test_an_unreadable_answer_is_an_api_error(body: bytes) -> None:
    with pytest.raises(errors.APIError, match="cannot read"):
        parse_converse(CALL, HTTPResponse(200, {}, body))


# --- errors ---------------------------------------------------------------------------------------


def error_response(status: int, kind: str | None, body: Any = None, **headers: str) -> HTTPResponse:
    raw = {"x-amzn-requestid": "req-123", **headers}
    if kind is not None:
        raw["x-amzn-errortype"] = kind + ":http://internal.amazon.com/coral/com.amazon.bedrock/"
    content = json.dumps({"message": "went wrong"} if body is None else body).encode()
    return HTTPResponse(status, ResponseHeaders(raw), content, REQUEST_ID_HEADERS)


@pytest.mark.parametrize(
    ("status", "kind", "cls", "retryable"),
    [
        (400, "ValidationException", errors.BadRequestError, False),
        (429, "ThrottlingException", errors.RateLimitError, True),
        (400, "ServiceQuotaExceededException", errors.RateLimitError, True),
        (403, "AccessDeniedException", errors.PermissionDeniedError, False),
        (404, "ResourceNotFoundException", errors.NotFoundError, False),
        (429, "ModelNotReadyException", errors.ServiceUnavailableError, True),
        (503, "ServiceUnavailableException", errors.ServiceUnavailableError, True),
        (408, "ModelTimeoutException", errors.GatewayTimeoutError, True),
        (500, "InternalServerException", errors.InternalServerError, True),
        (424, "ModelErrorException", errors.InternalServerError, True),
        (403, "UnrecognizedClientException", errors.AuthenticationError, False),
        (403, "InvalidSignatureException", errors.AuthenticationError, False),
        (403, "ExpiredTokenException", errors.AuthenticationError, False),
        (418, "SomethingNewException", errors.APIStatusError, False),
        (502, None, errors.InternalServerError, True),
    ],
)
def test_error_types_map_to_the_tree(
    status: int, kind: str | None, cls: type[errors.APIStatusError], retryable: bool
) -> None:
    error = map_error(CALL, error_response(status, kind))
    assert type(error) is cls and error.retryable is retryable
    assert error.status_code == status and error.request_id == "req-123"
    assert "went wrong" in error.message
    if kind is not None:
        assert error.error_type == kind and kind in error.message


@pytest.mark.parametrize(
    "body",
    [
        {"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "bad"},
        {"code": "UnrecognizedClientException", "Message": "bad"},
    ],
)
def test_the_type_is_read_from_the_body_without_the_header(body: dict[str, Any]) -> None:
    error = map_error(CALL, error_response(403, None, body))
    assert isinstance(error, errors.AuthenticationError) and "bad" in error.message


def test_a_throttle_keeps_retry_after_and_a_text_body_is_kept() -> None:
    error = map_error(CALL, error_response(429, "ThrottlingException", **{"retry-after": "3"}))
    assert isinstance(error, errors.RateLimitError) and error.retry_after == 3.0
    text = map_error(CALL, HTTPResponse(502, {}, b"<html>Bad Gateway</html>"))
    assert isinstance(text, errors.InternalServerError) and "Bad Gateway" in text.message


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("throttlingException", errors.RateLimitError),
        ("validationException", errors.BadRequestError),
        ("internalServerException", errors.InternalServerError),
        ("serviceUnavailableException", errors.ServiceUnavailableError),
        ("modelStreamErrorException", errors.InternalServerError),
    ],
)
def test_stream_exceptions_map_like_error_responses(kind: str, cls: type[Exception]) -> None:
    error = inband_error(CALL, kind, {"message": "slow down"}, "exception in the stream")
    assert type(error) is cls
    assert error.message.startswith("exception in the stream: ") and "slow down" in error.message


def test_an_unknown_stream_exception_is_a_stream_error() -> None:
    error = inband_error(CALL, "newException", {"message": "huh"}, "exception in the stream")
    assert isinstance(error, errors.StreamError) and "NewException: huh" in error.message
