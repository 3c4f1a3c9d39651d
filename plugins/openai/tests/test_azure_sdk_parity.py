"""Parity with the official SDK's Azure clients (``openai.AzureOpenAI``, ``AsyncAzureOpenAI``).

For each call of a small matrix, the SDK and llmrouter send to the Azure emulator, which records
both requests: the method, path, query, credential header and JSON body must be the same, except
for the deliberate differences listed (each with its reason). The SDK reads the emulator's
answers with strict response validation, so the emulator's Azure shapes (filter results included)
are ones the SDK's generated types accept. Streams are read by a lenient client: Azure's opening
annotation chunk (``object: ""``) is one the SDK's strict mode refuses, from Azure itself too.
"""

from __future__ import annotations

import asyncio
import copy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncAzureOpenAI, AzureOpenAI, OpenAI

import llmrouter
from llmrouter.testing import samples
from llmrouter.testing.azure_emulator import AzureOpenAIEmulator
from llmrouter.testing.emulator import RecordedRequest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from azure_support import KEY, VERSION, clean_env, ensure_provider

DEPLOYMENT = "chat"
HI = [{"role": "user", "content": "Weather in Paris?"}]
TOKEN = "eyJhbGciOiJSUzI1NiJ9.ParityToken.0123456789"

CASES: dict[str, dict[str, Any]] = {
    "plain": {"messages": HI},
    "stream": {"messages": HI, "stream": True},
    "tools": {"messages": HI, "tools": samples.TOOLS, "tool_choice": "auto"},
    "forced_tool": {
        "messages": HI,
        "tools": samples.TOOLS,
        "tool_choice": samples.FORCED_TOOL_CHOICE,
    },
    "tool_history": {"messages": samples.TOOL_CONVERSATION, "tools": samples.TOOLS},
    "json_object": {"messages": HI, "response_format": {"type": "json_object"}},
    "sampling": {"messages": HI, "temperature": 0.3, "top_p": 0.9, "seed": 42, "n": 2},
    "max_tokens": {"messages": HI, "max_tokens": 5, "stop": ["emulator"]},
    "logprobs": {"messages": HI, "logprobs": True, "top_logprobs": 2},
    "on_your_data": {
        "messages": HI,
        "extra_body": {"data_sources": [{"type": "azure_search", "parameters": {"index": "i"}}]},
    },
}


def _ours(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same call as llmrouter takes it: Azure's own fields are options, not extra_body."""
    kwargs = copy.deepcopy(kwargs)
    kwargs.update(kwargs.pop("extra_body", {}))
    return kwargs


def expected_body(sdk_body: dict[str, Any]) -> dict[str, Any]:
    """The SDK's body turned into llmrouter's, by its one deliberate difference: llmrouter asks
    for the usage of every stream (API versions that take ``stream_options``)."""
    body = copy.deepcopy(sdk_body)
    if body.get("stream") is True:
        body["stream_options"] = {"include_usage": True, **(body.get("stream_options") or {})}
    return body


def _wire(request: RecordedRequest) -> tuple[str, str, str, bool, bool]:
    return (
        request.method,
        request.path,
        request.query,
        "api-key" in request.headers,
        "authorization" in request.headers,
    )


@pytest.fixture(scope="module")
def parity_emulator() -> Iterator[AzureOpenAIEmulator]:
    ensure_provider()
    with AzureOpenAIEmulator(api_key=KEY, deployments={DEPLOYMENT: "gpt-4o-mini"}) as emu:
        yield emu


@pytest.fixture
def az(
    parity_emulator: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> AzureOpenAIEmulator:
    clean_env(monkeypatch)
    parity_emulator.clear()
    parity_emulator.clear_faults()
    return parity_emulator


@pytest.fixture(scope="module")
def sdk(parity_emulator: AzureOpenAIEmulator) -> Iterator[AzureOpenAI]:
    with AzureOpenAI(
        azure_endpoint=parity_emulator.endpoint,
        api_key=KEY,
        api_version=VERSION,
        max_retries=0,
        _strict_response_validation=True,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def lenient_sdk(parity_emulator: AzureOpenAIEmulator) -> Iterator[AzureOpenAI]:
    with AzureOpenAI(
        azure_endpoint=parity_emulator.endpoint, api_key=KEY, api_version=VERSION, max_retries=0
    ) as client:
        yield client


def _drain(result: Any) -> list[Any]:
    return [result] if hasattr(result, "choices") else list(result)


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_request_as_azure_openai(
    case: str, az: AzureOpenAIEmulator, sdk: AzureOpenAI, lenient_sdk: AzureOpenAI
) -> None:
    kwargs = copy.deepcopy(CASES[case])
    client = lenient_sdk if kwargs.get("stream") else sdk
    theirs = _drain(client.chat.completions.create(model=DEPLOYMENT, **kwargs))
    ours = _drain(
        llmrouter.completion(
            model="azure/" + DEPLOYMENT,
            api_base=az.endpoint,
            api_key=KEY,
            api_version=VERSION,
            **_ours(kwargs),
        )
    )
    sdk_request, our_request = az.requests
    assert [sdk_request.status, our_request.status] == [200, 200]
    assert (
        _wire(our_request)
        == _wire(sdk_request)
        == (
            "POST",
            f"/openai/deployments/{DEPLOYMENT}/chat/completions",
            f"api-version={VERSION}",
            True,
            False,
        )
    )
    assert sdk_request.key_matches(KEY) and our_request.key_matches(KEY)
    assert our_request.body == expected_body(sdk_request.body), f"{case}: unexplained difference"
    assert kwargs == CASES[case]  # neither client changed the caller's arguments
    assert theirs and ours


def test_content_filter_results_read_alike(az: AzureOpenAIEmulator, sdk: AzureOpenAI) -> None:
    theirs = sdk.chat.completions.create(model=DEPLOYMENT, messages=HI)
    ours = llmrouter.completion(
        model="azure/" + DEPLOYMENT,
        messages=HI,
        api_base=az.endpoint,
        api_key=KEY,
        api_version=VERSION,
    )
    extra = theirs.model_extra or {}
    assert extra["prompt_filter_results"] == ours.prompt_filter_results
    their_choice = theirs.choices[0].model_extra or {}
    assert their_choice["content_filter_results"] == ours.choices[0]["content_filter_results"]


def test_same_embedding_request(az: AzureOpenAIEmulator, sdk: AzureOpenAI) -> None:
    theirs = sdk.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
    )
    ours = llmrouter.embedding(
        model="azure/text-embedding-3-small",
        input=["a", "b"],
        encoding_format="float",
        api_base=az.endpoint,
        api_key=KEY,
        api_version=VERSION,
    )
    sdk_request, our_request = az.requests
    assert _wire(our_request) == _wire(sdk_request)
    assert our_request.body == sdk_request.body
    assert [d.embedding for d in theirs.data] == [d.embedding for d in ours.data]


def test_same_request_with_an_entra_id_token_provider(az: AzureOpenAIEmulator) -> None:
    def token_provider() -> str:
        return TOKEN

    with AzureOpenAI(
        azure_endpoint=az.endpoint,
        azure_ad_token_provider=token_provider,
        api_version=VERSION,
        max_retries=0,
        _strict_response_validation=True,
    ) as client:
        client.chat.completions.create(model=DEPLOYMENT, messages=HI)
    llmrouter.completion(
        model="azure/" + DEPLOYMENT,
        messages=HI,
        api_base=az.endpoint,
        api_version=VERSION,
        azure_ad_token_provider=token_provider,
    )
    sdk_request, our_request = az.requests
    assert _wire(our_request) == _wire(sdk_request)
    assert _wire(our_request)[3:] == (False, True)
    assert sdk_request.key_matches(TOKEN) and our_request.key_matches(TOKEN)
    assert our_request.body == sdk_request.body


def test_same_request_as_the_async_client(az: AzureOpenAIEmulator) -> None:
    async def run() -> None:
        async with AsyncAzureOpenAI(
            azure_endpoint=az.endpoint,
            api_key=KEY,
            api_version=VERSION,
            max_retries=0,
            _strict_response_validation=True,
        ) as client:
            await client.chat.completions.create(model=DEPLOYMENT, messages=HI, temperature=0)
        await llmrouter.acompletion(
            model="azure/" + DEPLOYMENT,
            messages=HI,
            temperature=0,
            api_base=az.endpoint,
            api_key=KEY,
            api_version=VERSION,
        )

    asyncio.run(run())
    sdk_request, our_request = az.requests
    assert _wire(our_request) == _wire(sdk_request)
    assert our_request.body == sdk_request.body


def test_v1_api_as_openai_client(az: AzureOpenAIEmulator) -> None:
    """Microsoft documents the v1 API with ``openai.OpenAI(base_url=f"{endpoint}/openai/v1/")``.
    Same path, no query, same body; the one difference is deliberate: that client sends the key
    as ``Authorization: Bearer``, llmrouter as ``api-key``, the header Azure documents for keys in
    both URL forms (the v1 API takes either)."""
    with OpenAI(
        base_url=az.base_url + "/", api_key=KEY, max_retries=0, _strict_response_validation=True
    ) as client:
        client.chat.completions.create(model=DEPLOYMENT, messages=HI, max_completion_tokens=9)
    llmrouter.completion(
        model="azure/" + DEPLOYMENT,
        messages=HI,
        max_completion_tokens=9,
        api_base=az.endpoint,
        api_key=KEY,
        api_version="v1",
    )
    sdk_request, our_request = az.requests
    assert _wire(sdk_request) == ("POST", "/openai/v1/chat/completions", "", False, True)
    assert _wire(our_request) == ("POST", "/openai/v1/chat/completions", "", True, False)
    assert sdk_request.key_matches(KEY) and our_request.key_matches(KEY)
    assert our_request.body == sdk_request.body


def test_errors_read_alike(az: AzureOpenAIEmulator, sdk: AzureOpenAI) -> None:
    """The content filter's 400 and an unknown deployment: the SDK's classes and ours agree."""
    import openai

    from llmrouter.errors import NotFoundError
    from llmrouter.testing.azure_emulator import PROMPT_FILTER_MARKER
    from llmrouter_openai.azure_wire import ContentPolicyViolationError

    filtered = [{"role": "user", "content": PROMPT_FILTER_MARKER}]
    where = {"api_base": az.endpoint, "api_key": KEY, "api_version": VERSION}
    with pytest.raises(openai.BadRequestError) as theirs:
        sdk.chat.completions.create(model=DEPLOYMENT, messages=filtered)
    with pytest.raises(ContentPolicyViolationError) as ours:
        llmrouter.completion(model="azure/" + DEPLOYMENT, messages=filtered, **where)
    assert theirs.value.code == ours.value.code == "content_filter"
    assert isinstance(theirs.value.body, dict)
    inner = theirs.value.body["innererror"]["content_filter_result"]
    assert inner == ours.value.content_filter_result
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="missing", messages=HI)
    with pytest.raises(NotFoundError):
        llmrouter.completion(model="azure/missing", messages=HI, **where)
