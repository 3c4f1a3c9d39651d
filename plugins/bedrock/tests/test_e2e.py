"""The plugin end to end through ``llmrouter.completion``/``acompletion`` and a Router, over a
socket to ``BedrockEmulator`` (strict, and verifying every SigV4 signature with the test
secret): plain, streamed (sync and async), a tool loop, reasoning sent back, caching, and the
errors: each Bedrock exception, throttling retried, cut and broken streams, bad credentials.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import llmrouter
from llmrouter import errors
from llmrouter.testing import Fault, samples
from llmrouter_bedrock.testing import BedrockEmulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedrock_support import KEY_ID, MODEL, MODEL_ID, SECRET, TOKEN

USER = [{"role": "user", "content": "Tell me about rivers"}]
CALL_A_TOOL = "Weather in Paris? [[emulator:tool_call]]"


def verified(emu: BedrockEmulator) -> bool:
    """Every request the emulator received was signed, and the signature checked out."""
    signatures = emu.signatures
    return bool(signatures) and all(s.verified for s in signatures)


# --- answers --------------------------------------------------------------------------------------


def test_a_plain_call(bedrock: BedrockEmulator) -> None:
    response = llmrouter.completion(model=MODEL, messages=USER, max_tokens=100, temperature=0.3)
    choice = response.choices[0]
    assert choice.message.content.startswith("This is a deterministic reply")
    assert "Tell me about rivers" in choice.message.content
    assert choice.finish_reason == "stop" and response.model == MODEL_ID
    assert response.usage.prompt_tokens == 4 and response.usage.completion_tokens > 0
    assert response.llmrouter.request_id and response.llmrouter.provider == "bedrock"
    assert response.llmrouter.cost  # priced from genai-prices' "aws" entries
    sent = bedrock.last_request
    assert sent is not None
    assert sent.path == "/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse"
    assert sent.body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.3}
    assert sent.headers["authorization"] == "AWS4-HMAC-SHA256 <redacted>"
    assert verified(bedrock) and bedrock.signatures[-1].service == "bedrock"


def test_an_async_call(bedrock: BedrockEmulator) -> None:
    async def run() -> Any:
        return await llmrouter.acompletion(model=MODEL, messages=USER)

    response = asyncio.run(run())
    assert "rivers" in response.choices[0].message.content and verified(bedrock)


def test_a_stream(bedrock: BedrockEmulator) -> None:
    stream = llmrouter.completion(model=MODEL, messages=USER, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == llmrouter.completion(model=MODEL, messages=USER).choices[0].message.content
    assert chunks[-1].usage.total_tokens > 0 and chunks[-2].choices[0].finish_reason == "stop"
    final = stream.final_response()
    assert final.choices[0].message.content == text and final.id == chunks[0].id
    assert bedrock.requests[0].path.endswith("/converse-stream") and verified(bedrock)


def test_a_stream_asked_for_no_usage_ends_without_the_usage_chunk(
    bedrock: BedrockEmulator,
) -> None:
    stream = llmrouter.completion(
        model=MODEL, messages=USER, stream=True, stream_options={"include_usage": False}
    )
    chunks = list(stream)
    assert chunks and all(c.usage is None and c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    with_usage = list(
        llmrouter.completion(
            model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert with_usage[-1].usage is not None and len(with_usage) == len(chunks) + 1


@pytest.mark.parametrize("engine", ["httpx-stock", "aiohttp"])
def test_every_async_engine_sends_the_signature(bedrock: BedrockEmulator, engine: str) -> None:
    """The aiohttp engine sends non-streamed calls on a path of its own: signed there too."""

    async def run() -> tuple[Any, list[Any]]:
        async with llmrouter.AsyncRouter(engine=engine) as router:
            answer = await router.completion(model=MODEL, messages=USER)
            stream = await router.completion(model=MODEL, messages=USER, stream=True)
            return answer, [chunk async for chunk in stream]

    answer, chunks = asyncio.run(run())
    assert answer.choices[0].message.content and chunks[-1].usage is not None
    assert len(bedrock.signatures) == 2 and verified(bedrock)


def test_an_async_stream(bedrock: BedrockEmulator) -> None:
    async def run() -> list[Any]:
        stream = await llmrouter.acompletion(model=MODEL, messages=USER, stream=True)
        return [chunk async for chunk in stream]

    chunks = asyncio.run(run())
    assert "rivers" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_loop(bedrock: BedrockEmulator, stream: bool) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": CALL_A_TOOL},
    ]
    first = llmrouter.completion(model=MODEL, messages=messages, tools=samples.TOOLS, stream=stream)
    if stream:
        first = first.final_response()
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example city", "days": 1}
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    # The strict emulator checks the toolUse/toolResult pairing and that toolConfig came along.
    second = llmrouter.completion(model=MODEL, messages=messages, tools=samples.TOOLS)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    result = bedrock.last_request.body["messages"][-1]["content"][0]  # type: ignore[union-attr]
    assert result["toolResult"]["toolUseId"] == call.id


def test_reasoning_is_returned_and_sent_back_unchanged(bedrock: BedrockEmulator) -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    messages: list[dict[str, Any]] = [{"role": "user", "content": CALL_A_TOOL}]
    first = llmrouter.completion(
        model=MODEL, messages=messages, tools=samples.TOOLS, thinking=thinking, stream=True
    ).final_response()
    message = first.choices[0].message.model_dump(exclude_none=True)
    assert message["reasoning_content"].startswith("The user wrote")
    assert message["thinking_blocks"][0]["signature"]
    messages += [
        message,
        {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "18C"},
    ]
    second = llmrouter.completion(
        model=MODEL, messages=messages, tools=samples.TOOLS, thinking=thinking
    )
    assert second.choices[0].message.content
    message["thinking_blocks"][0]["thinking"] += " (edited)"
    with pytest.raises(errors.BadRequestError, match="signature"):
        llmrouter.completion(model=MODEL, messages=messages, tools=samples.TOOLS, thinking=thinking)


def test_model_ids_that_need_encoding_reach_the_model(bedrock: BedrockEmulator) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us." + MODEL_ID
    for model in ("bedrock/us." + MODEL_ID, "bedrock/" + arn, "bedrock/converse/" + MODEL_ID):
        assert llmrouter.completion(model=model, messages=USER).choices[0].message.content
    with pytest.raises(errors.BadRequestError, match="model identifier is invalid"):
        llmrouter.completion(model="bedrock/acme.unknown-v1:0", messages=USER)


def test_cache_points_and_structured_output(bedrock: BedrockEmulator) -> None:
    policy = {
        "type": "text",
        "text": "The long policy " * 20,
        "cache_control": {"type": "ephemeral"},
    }
    messages = [{"role": "system", "content": [policy]}, *USER]
    first = llmrouter.completion(model=MODEL, messages=messages)
    second = llmrouter.completion(model=MODEL, messages=messages)
    assert first.usage["cache_creation_input_tokens"] == 60
    assert second.usage.prompt_tokens_details["cached_tokens"] == 60
    assert first.usage.prompt_tokens == second.usage.prompt_tokens == 64
    schema = {"type": "object", "properties": {"river": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    answer = llmrouter.completion(model=MODEL, messages=USER, response_format=fmt)
    assert json.loads(answer.choices[0].message.content) == {"river": "example river"}


# --- credentials ---------------------------------------------------------------------------------


def test_explicit_credentials_with_a_session_token(
    bedrock: BedrockEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    response = llmrouter.completion(
        model=MODEL,
        messages=USER,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
        aws_region_name="us-east-1",
    )
    assert response.choices[0].message.content and verified(bedrock)
    assert "x-amz-security-token" in bedrock.signatures[-1].signed_headers
    sent = bedrock.last_request
    assert sent is not None and TOKEN not in json.dumps(sent.headers)


def test_a_bedrock_api_key(bedrock: BedrockEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKbedrockApiKeyForTests0123")
    assert llmrouter.completion(model=MODEL, messages=USER).choices[0].message.content
    sent = bedrock.last_request
    assert sent is not None and sent.key_matches("ABSKbedrockApiKeyForTests0123")
    assert bedrock.signatures == []


@pytest.mark.parametrize(
    ("key_id", "secret", "kind"),
    [
        (KEY_ID, SECRET + "wrong", "InvalidSignatureException"),
        ("AKIDUNKNOWN000000000", SECRET, "UnrecognizedClientException"),
    ],
)
def test_bad_credentials_are_an_authentication_error_without_the_secret(
    bedrock: BedrockEmulator, monkeypatch: pytest.MonkeyPatch, key_id: str, secret: str, kind: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with pytest.raises(errors.AuthenticationError) as info:
        llmrouter.completion(model=MODEL, messages=USER)
    error = info.value
    assert error.status_code == 403 and error.error_type == kind
    for text in (str(error), repr(error.body), repr(error.headers)):
        assert secret not in text and "Signature=" not in text


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse_stream"])
@pytest.mark.parametrize("source", ["options", "chain"])
def test_a_session_token_quoted_back_in_a_signature_error_is_not_in_the_error(
    bedrock: BedrockEmulator, monkeypatch: pytest.MonkeyPatch, stream: bool, source: str
) -> None:
    """A signature mismatch quotes the canonical request back, the session token's value
    among its headers (as AWS does): none of the error may hold it, whether the token came
    as an option or from the credential chain."""
    wrong = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET + "wrong"}
    if source == "options":
        params: dict[str, Any] = {**wrong, "aws_session_token": TOKEN}
    else:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong["aws_secret_access_key"])
        monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
        params = {}
    with pytest.raises(errors.AuthenticationError) as info:
        answer = llmrouter.completion(model=MODEL, messages=USER, stream=stream, **params)
        if stream:
            list(answer)
    error = info.value
    assert error.error_type == "InvalidSignatureException"
    assert "The Canonical String for this request" in error.message  # the echo came back
    assert "x-amz-security-token:" in error.message
    for text in (str(error), repr(error), repr(error.args), repr(error.body), repr(error.headers)):
        assert TOKEN not in text and wrong["aws_secret_access_key"] not in text


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault(status=400), errors.BadRequestError),
        (Fault(status=403), errors.PermissionDeniedError),
        (Fault(status=404), errors.NotFoundError),
        (Fault(status=408), errors.GatewayTimeoutError),
        (Fault(status=424), errors.InternalServerError),
        (Fault(status=429), errors.RateLimitError),
        (Fault(status=429, type="ModelNotReadyException"), errors.ServiceUnavailableError),
        (Fault(status=500), errors.InternalServerError),
        (Fault(status=503), errors.ServiceUnavailableError),
    ],
)
def test_bedrock_exceptions_map_to_the_tree(
    bedrock: BedrockEmulator, fault: Fault, cls: type[errors.APIStatusError]
) -> None:
    bedrock.add_fault(fault)
    with pytest.raises(cls) as info:
        llmrouter.completion(model=MODEL, messages=USER)
    error = info.value
    assert type(error) is cls and error.status_code == fault.status
    assert error.error_type and error.error_type.endswith("Exception") and error.request_id
    assert len(bedrock.requests) == 1  # a direct call is not retried


def test_throttling_is_retried_by_a_router(bedrock: BedrockEmulator) -> None:
    bedrock.add_fault(Fault(status=429), times=2)
    config = {
        "router": {"num_retries": 2, "backoff_base": 0.0},
        "models": {"chat": {"deployments": [{"name": "bedrock", "model": MODEL}]}},
    }
    with llmrouter.Router(config=config) as router:
        response = router.completion(model="chat", messages=USER)
    assert response.choices[0].message.content
    assert [r.status for r in bedrock.requests] == [429, 429, 200]
    # each attempt was signed afresh, and each signature checked out
    assert len(bedrock.signatures) == 3 and verified(bedrock)


@pytest.mark.parametrize(
    ("fault", "cls", "delivered"),
    [
        (Fault(cut_after=4), errors.APIConnectionError, 4),
        (Fault(no_done=True), errors.APIConnectionError, 17),
        (Fault(stream_error_after=4, status=429), errors.RateLimitError, 4),
        (Fault(stream_error_after=4), errors.InternalServerError, 4),
        (Fault(malformed=True), errors.StreamDecodeError, 0),
    ],
)
def test_broken_streams_fail_loudly(
    bedrock: BedrockEmulator, fault: Fault, cls: type[Exception], delivered: int
) -> None:
    bedrock.add_fault(fault)
    got: list[Any] = []
    with pytest.raises(cls):
        for chunk in llmrouter.completion(model=MODEL, messages=USER, stream=True):
            got.append(chunk)
    # every frame before the fault was delivered as a chunk (17: all but metadata's usage)
    assert len(got) == delivered


def test_an_error_before_the_stream_is_a_json_error_answer(bedrock: BedrockEmulator) -> None:
    bedrock.add_fault(Fault(status=429, retry_after=2))
    with pytest.raises(errors.RateLimitError) as info:
        list(llmrouter.completion(model=MODEL, messages=USER, stream=True))
    assert info.value.error_type == "ThrottlingException" and info.value.retry_after == 2


def test_a_broken_answer_is_an_api_error(bedrock: BedrockEmulator) -> None:
    bedrock.add_fault(Fault(malformed=True))
    with pytest.raises(errors.APIError, match="cannot read"):
        llmrouter.completion(model=MODEL, messages=USER)


def test_refused_before_sending(bedrock: BedrockEmulator) -> None:
    for params in ({"seed": 1}, {"n": 2}, {"response_format": {"type": "json_object"}}):
        with pytest.raises(errors.InvalidRequestError):
            llmrouter.completion(model=MODEL, messages=USER, **params)
    with pytest.raises(errors.InvalidRequestError, match="prompt template"):
        llmrouter.completion(model=MODEL, messages=USER, prompt_template="llama-2")
    with pytest.raises(errors.InvalidRequestError, match="no embeddings"):
        llmrouter.embedding(model=MODEL, input="x")
    assert bedrock.requests == []
