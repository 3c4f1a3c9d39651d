"""The OpenAI-flavoured emulator, checked with the official ``openai`` SDK as its client.

If the SDK parses what the emulator sends (and maps its errors to the SDK's own classes), the
emulator's shapes are OpenAI's, and the plugin's tests against it mean something.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from llmrouter.testing import Fault, OpenAIEmulator, TogetherEmulator
from llmrouter.testing.emulator import OpenAICompatibleEmulator


@pytest.fixture
def client(oai: OpenAIEmulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=oai.base_url, api_key="sk-test-key-0000", max_retries=0) as c:
        yield c


def test_shares_the_emulator_core_with_together(oai: OpenAIEmulator) -> None:
    assert isinstance(oai, OpenAICompatibleEmulator) and not isinstance(oai, TogetherEmulator)
    assert repr(oai).startswith("<OpenAIEmulator 127.0.0.1:")


def test_chat(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    raw = completion.model_dump()
    assert "prompt" not in raw and "seed" not in raw["choices"][0]
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.refusal is None
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.system_fingerprint


def test_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("This is a deterministic reply from the OpenAI emulator")


def test_stream_without_usage(client: openai.OpenAI, oai: OpenAIEmulator) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    raw = httpx.post(
        f"{oai.base_url}/chat/completions",
        headers={"authorization": "Bearer k"},
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
        },
    ).text
    assert '"usage"' not in raw and raw.rstrip().endswith("data: [DONE]")


def test_tool_call_stream(client: openai.OpenAI) -> None:
    tools: list[openai.types.chat.ChatCompletionToolParam] = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "go"}],
            tools=tools,
            tool_choice="required",
            stream=True,
        )
    )
    head = chunks[0].choices[0].delta.tool_calls
    assert head and head[0].function and head[0].function.name == "f"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_completions_and_embeddings_and_models(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    assert completion.object == "text_completion" and completion.choices[0].text
    embedding = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(embedding.data) == 2 and embedding.usage.total_tokens == 2
    # the SDK asks for base64 by default and decodes it itself
    assert len(embedding.data[0].embedding) == 8
    models = client.models.list()
    assert "gpt-4o-mini" in [m.id for m in models]
    raw = client.models.with_raw_response.list().http_response.json()
    assert raw["object"] == "list"
    assert all(set(m) == {"id", "object", "created", "owned_by"} for m in raw["data"])


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault(status=400), openai.BadRequestError),
        (Fault(status=401), openai.AuthenticationError),
        (Fault(status=404), openai.NotFoundError),
        (Fault(status=429), openai.RateLimitError),
        (Fault(status=429, code="insufficient_quota"), openai.RateLimitError),
        (Fault(status=500), openai.InternalServerError),
    ],
)
def test_errors_are_openai_shaped(
    client: openai.OpenAI, oai: OpenAIEmulator, fault: Fault, cls: type[Exception]
) -> None:
    oai.add_fault(fault, times=1)
    with pytest.raises(cls) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    error = info.value
    assert isinstance(error, openai.APIStatusError)
    body = error.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    if fault.code:
        assert error.code == fault.code


def test_rate_limit_headers(oai: OpenAIEmulator) -> None:
    oai.add_fault(Fault(status=429, retry_after=1), times=1)
    response = httpx.post(
        f"{oai.base_url}/chat/completions",
        headers={"authorization": "Bearer k"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 429
    for kind in ("requests", "tokens"):
        for field in ("limit", "remaining", "reset"):
            assert f"x-ratelimit-{field}-{kind}" in response.headers
    assert response.headers["x-ratelimit-reset-requests"] == "1s"
    assert response.headers["retry-after"] == "1"


def test_strict_and_lenient(oai: OpenAIEmulator, compat: OpenAIEmulator) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "x"}],
        "top_k": 3,
        "stop": ["1", "2", "3", "4", "5"],
    }
    strict = httpx.post(
        f"{oai.base_url}/chat/completions", headers={"authorization": "Bearer k"}, json=body
    )
    assert strict.status_code == 400 and "Unrecognized" in strict.json()["error"]["message"]
    lenient = httpx.post(f"{compat.base_url}/chat/completions", json=body)
    assert lenient.status_code == 200
    assert httpx.post(f"{oai.base_url}/chat/completions", json=body).status_code == 401


def test_json_schema_reply(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "n",
                "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
            },
        },
    )
    assert json.loads(completion.choices[0].message.content or "") == {"ok": True}


def test_models_given_as_ids_are_typed_by_name() -> None:
    emu = OpenAIEmulator(models=["my-chat", "my-embed-model", "davinci-002"])
    types = {m["id"]: m["type"] for m in emu.models}
    assert types == {"my-chat": "chat", "my-embed-model": "embedding", "davinci-002": "language"}
