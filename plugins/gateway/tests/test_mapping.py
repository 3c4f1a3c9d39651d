"""The pure parts: errors -> OpenAI error answers, request bodies -> router calls, legacy shapes."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from llmrouter import errors as e
from llmrouter.types import ModelResponse, ModelResponseStream
from llmrouter_gateway.errors import error_reply, gateway_error
from llmrouter_gateway.requests import (
    FORBIDDEN_KEYS,
    RequestProblem,
    call_params,
    encode_base64_embeddings,
    text_completion_body,
    text_completion_chunk,
    text_prompt_messages,
)

ALIASES = {"chat": object()}


@pytest.mark.parametrize(
    ("exc", "status", "kind", "code"),
    [
        (e.InvalidRequestError("bad"), 400, "invalid_request_error", "invalid_request"),
        (e.PromptTemplateError("bad template"), 400, "invalid_request_error", "invalid_request"),
        (e.MissingAPIKeyError("set TOGETHER_API_KEY"), 500, "server_error", "upstream_key_missing"),
        (e.ConfigError("broken"), 500, "server_error", "gateway_misconfigured"),
        (e.PluginLoadError("gone"), 500, "server_error", "gateway_misconfigured"),
        (
            e.BadRequestError("too long", status_code=400, code="ctx"),
            400,
            "invalid_request_error",
            "ctx",
        ),
        (e.NotFoundError("no model", status_code=404), 404, "invalid_request_error", None),
        (e.UnprocessableEntityError("no", status_code=422), 422, "invalid_request_error", None),
        (
            e.AuthenticationError("bad key", status_code=401),
            502,
            "server_error",
            "upstream_authentication_error",
        ),
        (
            e.PaymentRequiredError("no credit", status_code=402),
            502,
            "server_error",
            "upstream_authentication_error",
        ),
        (
            e.PermissionDeniedError("no", status_code=403),
            502,
            "server_error",
            "upstream_authentication_error",
        ),
        (
            e.RateLimitError("slow down", status_code=429),
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        (e.InternalServerError("boom", status_code=500), 500, "server_error", None),
        (e.ServiceUnavailableError("overloaded", status_code=529), 503, "server_error", None),
        (e.GatewayTimeoutError("cf", status_code=524), 504, "server_error", None),
        (e.InternalServerError("odd", status_code=599), 502, "server_error", None),
        (e.APIStatusError("teapot", status_code=418), 502, "server_error", "upstream_error"),
        (e.APITimeoutError("deadline"), 504, "server_error", "upstream_timeout"),
        (e.APIConnectionError("refused"), 502, "server_error", "upstream_error"),
        (e.ResponseTooLargeError("huge"), 502, "server_error", "upstream_error"),
        (e.StreamError("in-band"), 502, "server_error", "upstream_error"),
        (RuntimeError("secret detail"), 500, "server_error", "internal_error"),
    ],
)
def test_error_reply(exc: BaseException, status: int, kind: str, code: str | None) -> None:
    reply = error_reply(exc)
    assert (reply.status, reply.type, reply.code) == (status, kind, code)
    body = reply.body()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    if isinstance(exc, RuntimeError):
        assert "secret detail" not in body["message"]  # internals stay in the server's log


def test_retry_after_headers() -> None:
    assert error_reply(e.RateLimitError("x", status_code=429, retry_after=2.2)).headers == {
        "retry-after": "3"
    }
    assert error_reply(e.RateLimitError("x", status_code=429)).headers == {}
    budget = e.BudgetExceededError("cap", resets_in=59.5)
    reply = error_reply(budget)
    assert (reply.status, reply.type, reply.headers) == (
        429,
        "insufficient_quota",
        {"retry-after": "60"},
    )


def test_all_deployments_failed_takes_the_last_errors_status() -> None:
    last = e.RateLimitError("slow", status_code=429, retry_after=4)
    exc = e.AllDeploymentsFailedError(
        "every deployment failed: a, b",
        attempts=[("a", e.APIConnectionError("refused")), ("b", last)],
    )
    reply = error_reply(exc)
    assert (reply.status, reply.headers["retry-after"]) == (429, "4")
    assert reply.message == "every deployment failed: a, b"
    empty = error_reply(e.AllDeploymentsFailedError("nothing tried"))
    assert (empty.status, empty.code) == (502, "all_deployments_failed")


def test_gateway_error_types() -> None:
    assert gateway_error(401, "k").type == "authentication_error"
    assert gateway_error(404, "m").type == "invalid_request_error"
    assert gateway_error(400, "b").type == "invalid_request_error"
    assert gateway_error(503, "s").type == "server_error"


# --- request bodies -----------------------------------------------------------------------------


def test_call_params_keeps_every_other_key() -> None:
    body = {"model": "chat", "messages": [], "temperature": 0.2, "stream": True, "user": "u"}
    alias, params = call_params(body, ALIASES, required="messages")
    assert alias == "chat"
    assert params == {"messages": [], "temperature": 0.2, "stream": True, "user": "u"}


@pytest.mark.parametrize("key", sorted(FORBIDDEN_KEYS))
def test_call_params_refuses_each_forbidden_key(key: str) -> None:
    with pytest.raises(RequestProblem) as info:
        call_params({"model": "chat", "messages": [], key: "x"}, ALIASES, required="messages")
    assert info.value.param == key and info.value.status == 400
    assert key in info.value.message


def provider_credential_options() -> list[str]:
    """The options with which a call names its own credentials, region or API version, as the
    providers of llmrouter-openai (azure) and llmrouter-bedrock declare them."""
    from llmrouter_bedrock.options import CREDENTIAL_OPTIONS
    from llmrouter_openai.azure import AZURE_SETTINGS

    return sorted({*CREDENTIAL_OPTIONS, *AZURE_SETTINGS})


@pytest.mark.parametrize(
    "key",
    [
        *provider_credential_options(),
        # LiteLLM's names for other ways to sign in to the same clouds, or to reach them
        "tenant_id",
        "client_id",
        "client_secret",
        "azure_username",
        "azure_password",
        "aws_role_name",
        "aws_web_identity_token",
        "aws_bedrock_runtime_endpoint",
        "aws_sts_endpoint",
        # Azure "on your data": a search service reached with the resource's identity
        "data_sources",
    ],
)
def test_a_request_cannot_choose_a_deployments_credentials_or_region(key: str) -> None:
    """Listed here rather than read from FORBIDDEN_KEYS, so that removing one fails."""
    body = {"model": "chat", "messages": [], key: "AKIDEXAMPLE-or-a-token"}
    with pytest.raises(RequestProblem) as info:
        call_params(body, ALIASES, required="messages")
    problem = info.value
    assert (problem.status, problem.param) == (400, key)
    assert repr(key) in problem.message and "gateway" in problem.message
    assert "AKIDEXAMPLE" not in problem.message  # the value is never echoed


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        ([], 400, None, "must be a JSON object"),
        ({"messages": []}, 400, "model", "'model' is required"),
        ({"model": 3, "messages": []}, 400, "model", "'model' is required"),
        ({"model": "gpt-4o", "messages": []}, 404, "model", "does not exist on this gateway"),
        ({"model": "chat"}, 400, "messages", "'messages' is required"),
        ({"model": "chat", "messages": [], "stream": 1}, 400, "stream", "true or false"),
    ],
)
def test_call_params_problems(body: Any, status: int, param: str | None, words: str) -> None:
    with pytest.raises(RequestProblem) as info:
        call_params(body, ALIASES, required="messages")
    assert (info.value.status, info.value.param) == (status, param)
    assert words in info.value.message


def test_a_long_unknown_model_is_cut_in_the_message() -> None:
    with pytest.raises(RequestProblem) as info:
        call_params({"model": "m" * 5000, "messages": []}, ALIASES, required="messages")
    assert len(info.value.message) < 400


def test_text_prompt_messages() -> None:
    assert text_prompt_messages("hi") == [{"role": "user", "content": "hi"}]
    assert text_prompt_messages(["hi"]) == [{"role": "user", "content": "hi"}]
    for bad in (["a", "b"], [[1, 2, 3]], None, 5):
        with pytest.raises(RequestProblem) as info:
            text_prompt_messages(bad)
        assert info.value.param == "prompt"


def test_text_completion_shapes() -> None:
    response = ModelResponse.model_validate(
        {
            "id": "r1",
            "created": 7,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "text"},
                    "finish_reason": "length",
                }
            ],
            "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
        }
    )
    assert text_completion_body(response) == {
        "id": "r1",
        "object": "text_completion",
        "created": 7,
        "model": "m",
        "choices": [{"index": 0, "text": "text", "finish_reason": "length", "logprobs": None}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
    }
    chunk = ModelResponseStream.model_validate(
        {
            "id": "r1",
            "created": 7,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "te"}, "finish_reason": None}],
        }
    )
    out = text_completion_chunk(chunk)
    assert out["choices"] == [{"index": 0, "text": "te", "finish_reason": None, "logprobs": None}]
    assert "usage" not in out


def test_base64_embeddings_are_little_endian_float32() -> None:
    body = {"data": [{"index": 0, "embedding": [0.5, -1.25, 3.0]}], "object": "list"}
    out = encode_base64_embeddings(body)
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<3f", raw) == (0.5, -1.25, 3.0)
