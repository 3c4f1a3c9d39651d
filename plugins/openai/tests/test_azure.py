"""The ``azure`` provider end to end, over a socket to the Azure OpenAI emulator.

Both URL forms, sync and async, streams (with Azure's opening annotation), embeddings, model
lists, templated prompts, errors (the content filter's 400, a 429 with its retry headers, an
unknown deployment, a bad key), Entra ID tokens (a callable called per request, a static token,
the SDK's variables), configuration errors raised before anything is sent, routing deployments
that set their own ``api_version``, and secrets kept out of errors, reprs and logs. The emulator's
own Azure rules are checked at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmrouter
from llmrouter.errors import (
    AuthenticationError,
    BadRequestError,
    InvalidRequestError,
    MissingAPIKeyError,
    NotFoundError,
    RateLimitError,
)
from llmrouter.testing import Fault
from llmrouter.testing.azure_emulator import (
    COMPLETION_FILTER_MARKER,
    PROMPT_FILTER_MARKER,
    AzureOpenAIEmulator,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from azure_support import KEY, VERSION, clean_env, ensure_provider

from llmrouter_openai import azure as azure_module
from llmrouter_openai.azure_wire import ContentPolicyViolationError

HI = [{"role": "user", "content": "Hello Azure"}]
CHAT = "azure/gpt-4o-mini"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.TestTokenDoNotLeak.0123456789"


@pytest.fixture(scope="module")
def azure_emulator() -> Iterator[AzureOpenAIEmulator]:
    ensure_provider()
    with AzureOpenAIEmulator(api_key=KEY, deployments={"chat": "gpt-4o-mini"}) as emu:
        yield emu


@pytest.fixture
def az(azure_emulator: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch) -> AzureOpenAIEmulator:
    clean_env(monkeypatch)
    azure_emulator.clear_faults()
    azure_emulator.clear()
    azure_emulator.ad_token = None
    return azure_emulator


@pytest.fixture
def at_az(az: AzureOpenAIEmulator) -> dict[str, Any]:
    return {"api_base": az.endpoint, "api_key": KEY, "api_version": VERSION}


# --- the two URL forms ---------------------------------------------------------------------------


def test_chat_goes_to_the_deployment_with_the_api_version(
    az: AzureOpenAIEmulator, at_az: dict[str, Any]
) -> None:
    response = llmrouter.completion(model="azure/chat", messages=HI, temperature=0.2, **at_az)
    (sent,) = az.requests
    assert sent.path == "/openai/deployments/chat/chat/completions"
    assert sent.query == f"api-version={VERSION}"
    assert sent.headers["api-key"] == "<redacted>" and "authorization" not in sent.headers
    assert sent.key_matches(KEY)
    assert sent.body == {"model": "chat", "messages": HI, "temperature": 0.2}
    assert response.model == "gpt-4o-mini"  # Azure names the model, not the deployment
    assert response.choices[0].message.content
    # content filter annotations are kept, by attribute and by key
    assert response.prompt_filter_results[0]["content_filter_results"]["hate"]["filtered"] is False
    assert response["choices"][0]["content_filter_results"]["violence"]["severity"] == "safe"


def test_request_id_is_azures(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    response = llmrouter.completion(model=CHAT, messages=HI, **at_az)
    request_id = response.llmrouter.request_id
    assert request_id and len(request_id) == 36  # apim-request-id, a UUID


@pytest.mark.parametrize(
    ("options", "path", "query"),
    [
        ({"api_version": "v1"}, "/openai/v1/chat/completions", ""),
        ({"api_version": "preview"}, "/openai/v1/chat/completions", "api-version=preview"),
        ({"api_base_suffix": "/openai/v1"}, "/openai/v1/chat/completions", ""),
        (
            {"api_base_suffix": "/openai/v1/", "api_version": "preview"},
            "/openai/v1/chat/completions",
            "api-version=preview",
        ),
        (
            {"api_base_suffix": "/openai", "api_version": VERSION},
            "/openai/deployments/chat/chat/completions",
            f"api-version={VERSION}",
        ),
    ],
)
def test_v1_form_and_endpoint_spellings(
    az: AzureOpenAIEmulator, options: dict[str, Any], path: str, query: str
) -> None:
    options = dict(options)
    base = az.endpoint + options.pop("api_base_suffix", "")
    llmrouter.completion(model="azure/chat", messages=HI, api_base=base, api_key=KEY, **options)
    (sent,) = az.requests
    assert (sent.path, sent.query, sent.status) == (path, query, 200)
    assert sent.body["model"] == "chat" and sent.key_matches(KEY)


def test_environment_as_the_official_sdk_reads_it(
    az: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", az.endpoint + "/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    llmrouter.completion(model=CHAT, messages=HI)
    llmrouter.completion(model=CHAT, messages=HI, api_version="2025-04-01-preview")
    first, second = az.requests
    assert first.query == "api-version=2024-06-01" and first.key_matches(KEY)
    assert second.query == "api-version=2025-04-01-preview"


# --- async, streams, embeddings, models, templates ------------------------------------------------


def test_async_chat_and_stream(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    async def run() -> tuple[Any, list[Any]]:
        whole = await llmrouter.acompletion(model=CHAT, messages=HI, **at_az)
        stream = await llmrouter.acompletion(model=CHAT, messages=HI, stream=True, **at_az)
        return whole, [chunk async for chunk in stream]

    whole, chunks = asyncio.run(run())
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    assert [r.path for r in az.requests] == ["/openai/deployments/gpt-4o-mini/chat/completions"] * 2


def test_stream_carries_the_prompt_annotation_on_its_first_chunk(
    az: AzureOpenAIEmulator, at_az: dict[str, Any]
) -> None:
    stream = llmrouter.completion(model=CHAT, messages=HI, stream=True, **at_az)
    chunks = list(stream)
    first = chunks[0]
    assert first.choices[0].delta.role == "assistant"
    assert first["prompt_filter_results"][0]["prompt_index"] == 0
    assert all("prompt_filter_results" not in c for c in chunks[1:])
    assert chunks[1].choices[0]["content_filter_results"]["hate"]["filtered"] is False
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("This is")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert az.requests[0].body["stream_options"] == {"include_usage": True}


def test_old_api_versions_get_no_stream_options(az: AzureOpenAIEmulator) -> None:
    """Before 2024-09-01 Azure's chat API has no stream_options (a 400 for an unknown field), so
    none is sent unless the caller asks; the stream then reports no usage."""
    where = {"api_base": az.endpoint, "api_key": KEY, "api_version": "2024-06-01"}
    chunks = list(llmrouter.completion(model=CHAT, messages=HI, stream=True, **where))
    assert "stream_options" not in az.requests[0].body
    assert all(c.usage is None for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"
    list(
        llmrouter.completion(
            model=CHAT,
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
            **where,
        )
    )
    assert az.requests[1].body["stream_options"] == {"include_usage": True}


def test_filtered_completion_passes_through(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": f"tell me {COMPLETION_FILTER_MARKER}"}]
    whole = llmrouter.completion(model=CHAT, messages=messages, **at_az)
    choice = whole.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice["content_filter_results"]["violence"] == {"filtered": True, "severity": "medium"}
    chunks = list(llmrouter.completion(model=CHAT, messages=messages, stream=True, **at_az))
    finish = [c for c in chunks if c.choices[0].finish_reason]
    assert finish[0].choices[0].finish_reason == "content_filter"
    assert finish[0].choices[0]["content_filter_results"]["violence"]["filtered"] is True


def test_embeddings_both_forms(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    dated = llmrouter.embedding(model="azure/text-embedding-3-small", input=["a", "b"], **at_az)
    v1 = llmrouter.embedding(
        model="azure/text-embedding-3-small",
        input=["a", "b"],
        api_base=az.endpoint,
        api_key=KEY,
        api_version="v1",
        dimensions=4,
    )
    first, second = az.requests
    assert first.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert second.path == "/openai/v1/embeddings" and second.query == ""
    assert second.body == {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4}
    assert len(dated.data) == 2 and len(v1.data[0].embedding) == 4


def test_async_embedding(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    result = asyncio.run(
        llmrouter.aembedding(model="azure/text-embedding-3-small", input="x", **at_az)
    )
    assert len(result.data) == 1 and az.requests[0].status == 200


def test_model_lists(az: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_VERSION", VERSION)
    dated = llmrouter.list_models("azure", api_base=az.endpoint, api_key=KEY)
    v1 = llmrouter.list_models("azure", api_base=az.endpoint + "/openai/v1", api_key=KEY)
    first, second = az.requests
    assert (first.path, first.query) == ("/openai/models", f"api-version={VERSION}")
    assert (second.path, second.query) == ("/openai/v1/models", "")
    ids = [m.id for m in dated]
    assert "gpt-4o-mini" in ids and ids == [m.id for m in v1]
    assert dated[0]["capabilities"]["inference"] is True  # Azure's fields are kept


def test_templated_prompt_goes_to_the_deployments_completions(
    az: AzureOpenAIEmulator, at_az: dict[str, Any]
) -> None:
    response = llmrouter.completion(
        model="azure/gpt-3.5-turbo-instruct", messages=HI, prompt_template="chatml", **at_az
    )
    (sent,) = az.requests
    assert sent.path == "/openai/deployments/gpt-3.5-turbo-instruct/completions"
    assert isinstance(sent.body["prompt"], str) and response.choices[0].message.content


# --- errors -----------------------------------------------------------------------------------------


def test_content_filter_400(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": f"something {PROMPT_FILTER_MARKER}"}]
    with pytest.raises(ContentPolicyViolationError) as info:
        llmrouter.completion(model=CHAT, messages=messages, **at_az)
    err = info.value
    assert isinstance(err, BadRequestError) and err.status_code == 400 and not err.retryable
    assert err.code == "content_filter" and err.param == "prompt"
    assert err.content_filter_result is not None
    assert err.content_filter_result["hate"] == {"filtered": True, "severity": "high"}
    assert err.request_id and "content management policy" in err.message


def test_content_filter_fault_and_stream(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    az.add_fault(Fault(status=400, code="content_filter"), times=1)
    with pytest.raises(ContentPolicyViolationError) as info:
        list(llmrouter.completion(model=CHAT, messages=HI, stream=True, **at_az))
    assert info.value.content_filter_result is not None


def test_429_with_retry_after(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    az.add_fault(Fault(status=429, retry_after=2), times=1)
    with pytest.raises(RateLimitError) as info:
        llmrouter.completion(model=CHAT, messages=HI, **at_az)
    err = info.value
    assert err.retryable and err.retry_after == 2.0 and err.code == "429"
    assert err.rate_limit["remaining-requests"] == "0"


def test_routed_429_is_retried_after_retry_after_ms(az: AzureOpenAIEmulator) -> None:
    config = {
        "router": {"num_retries": 1, "backoff_base": 0.0, "retry_budget": 10},
        "models": {
            "gpt": {
                "deployments": [
                    {
                        "model": "azure/chat",
                        "api_base": az.endpoint,
                        "api_key_env": "AZ_TEST_KEY",
                        "options": {"api_version": VERSION},
                    }
                ]
            }
        },
    }
    az.add_fault(Fault(status=429, retry_after=1, retry_after_ms=20), times=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AZ_TEST_KEY", KEY)
        response = llmrouter.Router(config=config).completion(model="gpt", messages=HI)
    assert [r.status for r in az.requests] == [429, 200]
    assert response.llmrouter.attempts == 2


def test_routing_deployments_set_their_own_api_version(az: AzureOpenAIEmulator) -> None:
    def deployment(version: str) -> dict[str, Any]:
        return {
            "model": "azure/chat",
            "api_base": az.endpoint,
            "api_key_env": "AZ_TEST_KEY",
            "options": {"api_version": version},
        }

    config = {
        "models": {
            "old": {"deployments": [deployment("2024-06-01")]},
            "new": {"deployments": [deployment("v1")]},
        }
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AZ_TEST_KEY", KEY)
        router = llmrouter.Router(config=config)
        router.completion(model="old", messages=HI)
        router.completion(model="new", messages=HI)
        router.completion(model="old", messages=HI, api_version="2025-04-01-preview")
    assert [(r.path, r.query) for r in az.requests] == [
        ("/openai/deployments/chat/chat/completions", "api-version=2024-06-01"),
        ("/openai/v1/chat/completions", ""),
        ("/openai/deployments/chat/chat/completions", "api-version=2025-04-01-preview"),
    ]


def test_unknown_deployment_is_not_found(az: AzureOpenAIEmulator, at_az: dict[str, Any]) -> None:
    with pytest.raises(NotFoundError) as info:
        llmrouter.completion(model="azure/no-such-deployment", messages=HI, **at_az)
    assert info.value.code == "DeploymentNotFound" and info.value.status_code == 404


def test_wrong_key_is_an_authentication_error_without_the_key(az: AzureOpenAIEmulator) -> None:
    wrong = "azure-WrongKeyDoNotLeak-999999999999"
    with pytest.raises(AuthenticationError) as info:
        llmrouter.completion(
            model=CHAT, messages=HI, api_base=az.endpoint, api_key=wrong, api_version=VERSION
        )
    err = info.value
    assert err.code == "401"
    for text in (str(err), repr(err), json.dumps(err.body), json.dumps(err.headers)):
        assert wrong not in text


# --- Entra ID tokens --------------------------------------------------------------------------------


def test_token_provider_is_called_for_every_request(az: AzureOpenAIEmulator) -> None:
    tokens: list[str] = []

    def token_provider() -> str:
        tokens.append(f"{TOKEN}-{len(tokens)}")
        return tokens[-1]

    where = {"api_base": az.endpoint, "api_version": VERSION}
    llmrouter.completion(model=CHAT, messages=HI, azure_ad_token_provider=token_provider, **where)
    list(
        llmrouter.completion(
            model=CHAT, messages=HI, stream=True, azure_ad_token_provider=token_provider, **where
        )
    )
    asyncio.run(
        llmrouter.acompletion(
            model=CHAT, messages=HI, azure_ad_token_provider=token_provider, **where
        )
    )
    assert len(tokens) == 3
    for sent, token in zip(az.requests, tokens, strict=True):
        assert sent.key_matches(token) and "api-key" not in sent.headers
        assert sent.headers["authorization"].startswith("Bearer <redacted")


def test_static_token_and_the_token_variable(
    az: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    az.ad_token = TOKEN
    where = {"api_base": az.endpoint, "api_version": "v1"}
    llmrouter.completion(model=CHAT, messages=HI, azure_ad_token=TOKEN, **where)
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", TOKEN)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)  # the token variable wins, as in the SDK
    llmrouter.completion(model=CHAT, messages=HI, **where)
    assert all(r.key_matches(TOKEN) and r.status == 200 for r in az.requests)


def test_a_refused_token_stays_secret(
    az: AzureOpenAIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    az.ad_token = "the-only-valid-token-xyz"
    with (
        caplog.at_level(logging.DEBUG, logger="llmrouter"),
        pytest.raises(AuthenticationError) as info,
    ):
        llmrouter.completion(
            model=CHAT,
            messages=HI,
            api_base=az.endpoint,
            api_version=VERSION,
            azure_ad_token_provider=lambda: TOKEN,
        )
    err = info.value
    assert "Access token is missing, invalid" in err.message
    texts = [str(err), repr(err), json.dumps(err.body), json.dumps(err.headers)]
    texts += [r.getMessage() + repr(getattr(r, "llmrouter", "")) for r in caplog.records]
    assert caplog.records, "the failed call was logged"
    assert all(TOKEN not in text for text in texts)


def test_a_token_provider_that_raises_is_an_authentication_error_without_its_message(
    az: AzureOpenAIEmulator,
) -> None:
    def token_provider() -> str:
        raise RuntimeError(f"ClientAuthenticationError: refresh token {TOKEN} was revoked")

    with pytest.raises(AuthenticationError, match="raised RuntimeError") as info:
        llmrouter.completion(
            model=CHAT,
            messages=HI,
            api_base=az.endpoint,
            api_version=VERSION,
            azure_ad_token_provider=token_provider,
        )
    err = info.value
    assert err.__context__ is None and err.__cause__ is None
    assert TOKEN not in str(err) + repr(err.args) and "revoked" not in err.message
    assert az.requests == []  # nothing was sent


def test_entra_id_helper_needs_azure_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if not installed
    with pytest.raises(InvalidRequestError, match=r"pip install .llmrouter-openai\[azure\]."):
        azure_module.entra_id_token_provider()


def test_entra_id_helper_builds_the_callable(
    az: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With azure-identity present (a stand-in module here), the helper hands the credential and
    Azure OpenAI's scope to get_bearer_token_provider and returns its callable."""
    seen: list[tuple[object, str]] = []

    class DefaultAzureCredential:
        pass

    def get_bearer_token_provider(credential: object, scope: str) -> Any:
        seen.append((credential, scope))
        return lambda: TOKEN

    fake = types.ModuleType("azure.identity")
    fake.DefaultAzureCredential = DefaultAzureCredential  # type: ignore[attr-defined]
    fake.get_bearer_token_provider = get_bearer_token_provider  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure", types.ModuleType("azure"))
    monkeypatch.setitem(sys.modules, "azure.identity", fake)
    token_provider = azure_module.entra_id_token_provider()
    ((credential, scope),) = seen
    assert isinstance(credential, DefaultAzureCredential)
    assert scope == "https://cognitiveservices.azure.com/.default"
    llmrouter.completion(
        model=CHAT,
        messages=HI,
        api_base=az.endpoint,
        api_version=VERSION,
        azure_ad_token_provider=token_provider,
    )
    assert az.requests[0].key_matches(TOKEN)


# --- refused before anything is sent ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        ({"api_base": None}, InvalidRequestError, "api_base"),
        ({"api_version": None}, InvalidRequestError, "api_version"),
        ({"api_version": "2024-10"}, InvalidRequestError, "api_version"),
        ({"api_key": None}, MissingAPIKeyError, "api_key"),
        ({"azure_ad_token": TOKEN}, InvalidRequestError, "azure_ad_token"),
        ({"model": "azure/bad/name"}, InvalidRequestError, "model"),
        ({"extra_headers": {"api-key": "x" * 20}}, InvalidRequestError, "extra_headers.api-key"),
        ({"temprature": 0.5}, InvalidRequestError, "temprature"),
    ],
)
def test_configuration_errors_before_any_request(
    az: AzureOpenAIEmulator,
    at_az: dict[str, Any],
    kwargs: dict[str, Any],
    error: type[Exception],
    param: str | None,
) -> None:
    arguments = {"model": CHAT, "messages": HI, **at_az, **kwargs}
    with pytest.raises(error) as info:
        llmrouter.completion(**arguments)
    assert getattr(info.value, "param", None) == param
    assert TOKEN not in str(info.value)
    assert az.requests == []


# --- the emulator's own Azure rules ---------------------------------------------------------------------


def _raw(az: AzureOpenAIEmulator, path: str, **headers: str) -> tuple[int, Any]:
    body = json.dumps({"messages": HI}).encode() if "chat" in path else None
    request = urllib.request.Request(
        az.endpoint + path, data=body, headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/openai/deployments/chat/chat/completions", 404, "404"),  # no api-version
        ("/openai/deployments/chat/chat/completions?api-version=soon", 400, "BadRequest"),
        ("/openai/chat/completions?api-version=2024-10-21", 404, "404"),
        (
            "/openai/deployments/nope/chat/completions?api-version=2024-10-21",
            404,
            "DeploymentNotFound",
        ),
        ("/openai/v1/chat/completions?api-version=2024-10-21", 400, "BadRequest"),
        ("/openai/models", 404, "404"),
    ],
)
def test_emulator_paths_and_versions(
    az: AzureOpenAIEmulator, path: str, status: int, code: str
) -> None:
    got, body = _raw(az, path, **{"api-key": KEY})
    assert got == status and body == {"error": {"code": code, "message": body["error"]["message"]}}


def test_emulator_auth(az: AzureOpenAIEmulator) -> None:
    path = "/openai/deployments/chat/chat/completions?api-version=2024-10-21"
    assert _raw(az, path, **{"api-key": KEY})[0] == 200
    assert _raw(az, path, **{"api-key": "wrong-key-123456"})[0] == 401
    assert _raw(az, path)[0] == 401
    assert _raw(az, path, authorization="Bearer any-token-123")[0] == 200
    az.ad_token = TOKEN
    status, body = _raw(az, path, authorization="Bearer any-token-123")
    assert status == 401 and "Access token" in body["error"]["message"]
    assert _raw(az, path, authorization=f"Bearer {TOKEN}")[0] == 200
    assert all("wrong-key" not in json.dumps(r.headers) for r in az.requests)


def test_cli_lists_the_resources_models(
    az: AzureOpenAIEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``llmrouter models azure`` with the SDK's variables (in process: the entry point is read
    from the installed metadata, see azure_support)."""
    from llmrouter.cli import main

    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", az.endpoint)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", VERSION)
    assert main(["models", "azure"]) == 0
    out, err = capsys.readouterr()
    assert "gpt-4o-mini" in out.split() and KEY not in out + err
    assert az.requests[0].path == "/openai/models"
    monkeypatch.delenv("OPENAI_API_VERSION")
    assert main(["models", "azure"]) != 0
    assert "OPENAI_API_VERSION" in capsys.readouterr().err
