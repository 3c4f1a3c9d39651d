"""Azure OpenAI's rules one at a time: URLs, versions, credentials, filter annotations, errors.

Pure functions of :mod:`llmrouter_openai.azure_wire` and the provider's setting resolution
(:class:`~llmrouter_openai.azure.AzureOpenAIProvider` ``base_url``/``headers`` on a built
:class:`~llmrouter.pipeline.Call`): no socket, no emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from llmrouter.errors import BadRequestError, InvalidRequestError, MissingAPIKeyError
from llmrouter.pipeline import Call, HTTPResponse, StreamState
from llmrouter.secrets import Secret
from llmrouter.types import ModelResponseStream
from llmrouter_openai import azure_wire as aw
from llmrouter_openai.azure import (
    AD_TOKEN_ENV,
    API_KEY_ENV,
    API_VERSION_ENV,
    ENDPOINT_ENV,
    provider,
)

ENDPOINT = "https://res.openai.azure.com"
KEY = "azure-key-0123456789abcdef"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.payload.signature"


@pytest.fixture(autouse=True)
def _no_azure_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*API_KEY_ENV, *ENDPOINT_ENV, *API_VERSION_ENV, *AD_TOKEN_ENV, "AZURE_AD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield


def make_call(
    *,
    operation: Any = "chat",
    model: str = "my-gpt",
    api_base: str | None = ENDPOINT,
    api_key: str | None = KEY,
    **params: Any,
) -> Call:
    return Call(
        operation=operation,
        provider="azure",
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        params=params,
        api_base=api_base,
        api_key=Secret(api_key) if api_key is not None else None,
    )


# --- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "path", "url"),
    [
        (
            "2024-10-21",
            "/chat/completions",
            f"{ENDPOINT}/openai/deployments/dep/chat/completions?api-version=2024-10-21",
        ),
        (
            "2025-04-01-preview",
            "/embeddings",
            f"{ENDPOINT}/openai/deployments/dep/embeddings?api-version=2025-04-01-preview",
        ),
        (
            "2024-10-21",
            "/completions",
            f"{ENDPOINT}/openai/deployments/dep/completions?api-version=2024-10-21",
        ),
        ("2024-10-21", "/models", f"{ENDPOINT}/openai/models?api-version=2024-10-21"),
        ("v1", "/chat/completions", f"{ENDPOINT}/openai/v1/chat/completions"),
        ("v1", "/models", f"{ENDPOINT}/openai/v1/models"),
        (
            "preview",
            "/chat/completions",
            f"{ENDPOINT}/openai/v1/chat/completions?api-version=preview",
        ),
    ],
)
def test_request_url(version: str, path: str, url: str) -> None:
    assert aw.request_url(ENDPOINT, version, "dep", path) == url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (ENDPOINT, (ENDPOINT, False)),
        (ENDPOINT + "/", (ENDPOINT, False)),
        (ENDPOINT + "/openai", (ENDPOINT, False)),
        (ENDPOINT + "/openai/", (ENDPOINT, False)),
        (ENDPOINT + "/openai/v1", (ENDPOINT, True)),
        (ENDPOINT + "/openai/v1/", (ENDPOINT, True)),
        ("https://gw.example/azure", ("https://gw.example/azure", False)),
    ],
)
def test_split_endpoint(given: str, expected: tuple[str, bool]) -> None:
    assert aw.split_endpoint(given) == expected


@pytest.mark.parametrize("good", ["v1", "preview", "2024-10-21", "2025-04-01-preview"])
def test_api_versions_accepted(good: str) -> None:
    assert aw.api_version_problem(good) is None


@pytest.mark.parametrize("bad", ["", "2024-10", "latest-ish", "2024-10-21&x=1", "V1", 20241021])
def test_api_versions_refused(bad: object) -> None:
    problem = aw.api_version_problem(bad)
    assert problem is not None and ("2024-10-21" in problem or "string" in problem)


def test_v1_and_dated_forms() -> None:
    assert aw.is_v1("v1") and aw.is_v1("preview") and not aw.is_v1("2024-10-21")
    assert aw.version_query("v1") == ""
    assert aw.version_query("preview") == "?api-version=preview"
    assert aw.version_query("2024-06-01") == "?api-version=2024-06-01"


@pytest.mark.parametrize(
    ("version", "takes"),
    [
        ("2024-02-01", False),
        ("2024-06-01", False),
        ("2024-08-01-preview", False),
        ("2024-09-01-preview", True),
        ("2024-10-21", True),
        ("2025-04-01-preview", True),
        ("v1", True),
        ("preview", True),
    ],
)
def test_stream_options_by_version(version: str, takes: bool) -> None:
    assert aw.takes_stream_options(version) is takes


@pytest.mark.parametrize("good", ["gpt-4o", "my_dep.v2", "a", "X" * 64])
def test_deployment_names_accepted(good: str) -> None:
    assert aw.deployment_problem(good) is None


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "dep?x=1", "has space", "-lead", "X" * 65])
def test_deployment_names_refused(bad: str) -> None:
    problem = aw.deployment_problem(bad)
    assert problem is not None and "azure/<your deployment name>" in problem


# --- the provider's settings ---------------------------------------------------------------------


def test_base_url_per_form() -> None:
    call = make_call(api_version="2024-10-21")
    assert provider.base_url(call) == f"{ENDPOINT}/openai/deployments/my-gpt"
    assert provider.base_url(make_call(api_version="v1")) == f"{ENDPOINT}/openai/v1"
    listing = make_call(operation="list_models", model="-", api_version="2024-10-21")
    assert provider.base_url(listing) == f"{ENDPOINT}/openai"


def test_version_and_endpoint_from_the_sdk_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com/")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    monkeypatch.setenv("AZURE_API_BASE", "https://litellm.example")  # second in line
    monkeypatch.setenv("AZURE_API_VERSION", "2023-05-15")
    call = make_call(api_base=None)
    assert provider.base_url(call) == "https://env.openai.azure.com/openai/deployments/my-gpt"
    assert provider.api_version(call, False) == "2024-06-01"
    # the call's own option wins over the variable
    assert provider.api_version(make_call(api_version="2025-04-01-preview"), False) == (
        "2025-04-01-preview"
    )


def test_litellm_variables_are_read_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_API_BASE", "https://litellm.example/")
    monkeypatch.setenv("AZURE_API_VERSION", "2023-05-15")
    monkeypatch.setenv("AZURE_API_KEY", KEY)
    call = make_call(api_base=None, api_key=None)
    assert provider.base_url(call) == "https://litellm.example/openai/deployments/my-gpt"
    assert provider.headers(call) == {"api-key": KEY}


def test_an_endpoint_ending_in_v1_means_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    call = make_call(api_base=ENDPOINT + "/openai/v1")
    assert provider.base_url(call) == f"{ENDPOINT}/openai/v1"
    # a dated version exported for the SDK's AzureOpenAI does not turn it into the dated form
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    assert provider.api_version(call, True) == "v1"
    monkeypatch.setenv("OPENAI_API_VERSION", "preview")
    assert provider.api_version(call, True) == "preview"
    preview = make_call(api_base=ENDPOINT + "/openai/v1", api_version="preview")
    assert provider.base_url(preview) == f"{ENDPOINT}/openai/v1"
    with pytest.raises(InvalidRequestError, match="ends with /openai/v1") as info:
        provider.base_url(make_call(api_base=ENDPOINT + "/openai/v1", api_version="2024-10-21"))
    assert info.value.param == "api_version"


def test_missing_endpoint_names_option_and_variable() -> None:
    with pytest.raises(InvalidRequestError) as info:
        provider.base_url(make_call(api_base=None, api_version="v1"))
    assert info.value.param == "api_base"
    assert "AZURE_OPENAI_ENDPOINT" in info.value.message and "api_base=" in info.value.message


def test_missing_version_names_option_and_variable() -> None:
    with pytest.raises(InvalidRequestError) as info:
        provider.base_url(make_call())
    assert info.value.param == "api_version"
    assert "OPENAI_API_VERSION" in info.value.message and "api_version=" in info.value.message


def test_bad_version_says_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_VERSION", "yesterday")
    with pytest.raises(InvalidRequestError, match="from OPENAI_API_VERSION"):
        provider.base_url(make_call())
    with pytest.raises(InvalidRequestError, match="must be a string"):
        provider.base_url(make_call(api_version=20241021))


def test_bad_deployment_name_refused_for_the_deployments_url_only() -> None:
    with pytest.raises(InvalidRequestError) as info:
        provider.base_url(make_call(model="a/b", api_version="2024-10-21"))
    assert info.value.param == "model"
    # in the v1 API the deployment travels in the body, as any string may
    assert provider.base_url(make_call(model="a/b", api_version="v1")).endswith("/openai/v1")


# --- credentials --------------------------------------------------------------------------------


def test_key_travels_as_api_key() -> None:
    assert provider.headers(make_call()) == {"api-key": KEY}
    assert aw.credential_header("key", KEY) == ("api-key", KEY)
    assert aw.credential_header("token", TOKEN) == ("authorization", "Bearer " + TOKEN)


def test_token_options_travel_as_bearer() -> None:
    assert provider.headers(make_call(api_key=None, azure_ad_token=TOKEN)) == {
        "authorization": "Bearer " + TOKEN
    }
    calls: list[int] = []

    def token_provider() -> str:
        calls.append(1)
        return f"{TOKEN}-{len(calls)}"

    call = make_call(api_key=None, azure_ad_token_provider=token_provider)
    assert provider.headers(call)["authorization"] == f"Bearer {TOKEN}-1"
    assert provider.headers(call)["authorization"] == f"Bearer {TOKEN}-2"  # called each time


def test_env_precedence_as_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """No explicit credential: AZURE_OPENAI_AD_TOKEN before AZURE_OPENAI_API_KEY; an explicit
    credential beats both."""
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    assert provider.headers(make_call(api_key=None)) == {"api-key": KEY}
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", TOKEN)
    assert provider.headers(make_call(api_key=None)) == {"authorization": "Bearer " + TOKEN}
    assert provider.headers(make_call(api_key="explicit-key-0123456789")) == {
        "api-key": "explicit-key-0123456789"
    }
    assert provider.headers(make_call(api_key=None, azure_ad_token="other-token-123")) == {
        "authorization": "Bearer other-token-123"
    }


def test_one_credential_only() -> None:
    with pytest.raises(InvalidRequestError, match="api_key and azure_ad_token") as info:
        provider.headers(make_call(azure_ad_token=TOKEN))
    assert info.value.param == "azure_ad_token" and TOKEN not in str(info.value)
    with pytest.raises(InvalidRequestError, match="azure_ad_token and azure_ad_token_provider"):
        provider.headers(make_call(api_key=None, azure_ad_token=TOKEN, azure_ad_token_provider=str))


def test_no_credential_names_every_variable() -> None:
    with pytest.raises(MissingAPIKeyError) as info:
        provider.headers(make_call(api_key=None))
    assert info.value.env_vars == [*API_KEY_ENV, *AD_TOKEN_ENV, "AZURE_AD_TOKEN"]
    assert "azure_ad_token_provider=" in info.value.message


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("not callable", "must be a callable"),
        (lambda: "", "returned an empty string"),
        (lambda: b"bytes-token-value", "returned bytes"),
        (lambda: None, "returned NoneType"),
    ],
)
def test_bad_token_provider(given: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message) as info:
        provider.headers(make_call(api_key=None, azure_ad_token_provider=given))
    assert info.value.param == "azure_ad_token_provider"
    assert "bytes-token-value" not in str(info.value)


def test_async_token_provider_is_refused_without_a_warning(
    recwarn: pytest.WarningsRecorder,
) -> None:
    async def token_provider() -> str:
        return TOKEN

    with pytest.raises(InvalidRequestError, match="returned an awaitable"):
        provider.headers(make_call(api_key=None, azure_ad_token_provider=token_provider))
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_extra_headers_may_not_carry_a_credential() -> None:
    call = make_call()
    call.extra_headers = {"X-Trace": "t1"}
    assert provider.headers(call) == {"X-Trace": "t1", "api-key": KEY}
    for name in ("api-key", "Authorization"):
        call.extra_headers = {name: "sneaky-value-123"}
        with pytest.raises(InvalidRequestError, match="extra_headers may not set") as info:
            provider.headers(call)
        assert "sneaky-value-123" not in str(info.value)


def test_settings_are_not_body_options() -> None:
    """api_version and the credential options shape the request; the body never holds them, and
    an unknown option still lists the supported ones."""
    from llmrouter.pipeline import ChatPrompt

    call = make_call(api_version="2024-10-21", azure_ad_token=TOKEN, api_key=None, temperature=0.5)
    request = provider.llmrouter_build_request(call, ChatPrompt(call.messages or []))
    assert request.json == {
        "model": "my-gpt",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.5,
    }
    assert TOKEN not in repr(request)
    with pytest.raises(InvalidRequestError, match="data_sources"):
        provider.llmrouter_build_request(
            make_call(api_version="v1", temprature=1), ChatPrompt(call.messages or [])
        )


# --- content filter: errors and stream annotations -------------------------------------------------

FILTER_RESULT = {
    "hate": {"filtered": True, "severity": "high"},
    "jailbreak": {"filtered": False, "detected": False},
}
FILTER_400 = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": FILTER_RESULT,
        },
    }
}


def _response(status: int, body: Any, **headers: str) -> HTTPResponse:
    return HTTPResponse(
        status_code=status,
        headers=headers,
        content=json.dumps(body).encode(),
        request_id_headers=("apim-request-id", "x-request-id"),
    )


def test_content_filter_400_is_a_typed_error_keeping_the_result() -> None:
    err = provider.llmrouter_map_error(
        make_call(), _response(400, FILTER_400, **{"apim-request-id": "apim-1"})
    )
    assert type(err) is aw.ContentPolicyViolationError
    assert isinstance(err, BadRequestError) and not err.retryable
    assert err.code == "content_filter" and err.request_id == "apim-1"
    assert err.content_filter_result == FILTER_RESULT
    plain = provider.llmrouter_map_error(
        make_call(), _response(400, {"error": {"message": "bad", "code": "BadRequest"}})
    )
    assert type(plain) is BadRequestError


def test_content_filter_result_absent() -> None:
    body = {"error": {"message": "filtered", "code": "content_filter"}}
    err = provider.llmrouter_map_error(make_call(), _response(400, body))
    assert isinstance(err, aw.ContentPolicyViolationError)
    assert err.content_filter_result is None


def test_a_code_never_leaves_its_status_family() -> None:
    body = {"error": {"message": "oops", "code": "content_filter"}}
    err = provider.llmrouter_map_error(make_call(), _response(500, body))
    assert not isinstance(err, aw.ContentPolicyViolationError)


PROMPT_RESULTS = [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False}}}]
PROMPT_ANNOTATION = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": PROMPT_RESULTS,
}


def test_annotations_are_recognised() -> None:
    assert aw.is_annotation(PROMPT_ANNOTATION)
    assert aw.is_annotation({"object": "", "choices": [{"index": 0}]})
    assert not aw.is_annotation({"object": "chat.completion.chunk", "choices": [{"index": 0}]})
    assert not aw.is_annotation({"prompt_filter_results": [], "choices": [{"index": 0}]})


def _chunk_event(choice: dict[str, Any]) -> str:
    """One ordinary chunk of Azure's stream, as its SSE data."""
    envelope = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1}
    return json.dumps({**envelope, "model": "gpt-4o", "choices": [{"index": 0, **choice}]})


def _parsed(data: str, state: StreamState) -> ModelResponseStream:
    chunk = provider.llmrouter_parse_stream_event(make_call(), None, data, state)
    assert isinstance(chunk, ModelResponseStream)
    return chunk


def test_prompt_results_wait_for_the_first_chunk() -> None:
    state = StreamState()
    assert aw.annotation_chunk(make_call(), dict(PROMPT_ANNOTATION), state) is None
    role = {"delta": {"role": "assistant"}, "content_filter_results": {}}
    chunk = _parsed(_chunk_event(role), state)
    assert chunk["prompt_filter_results"] == PROMPT_RESULTS
    assert chunk.choices[0]["content_filter_results"] == {}
    later = _parsed(_chunk_event({"delta": {"content": "x"}}), state)
    assert "prompt_filter_results" not in later  # once only


def test_the_annotation_event_itself_is_not_shown() -> None:
    state = StreamState()
    shown = provider.llmrouter_parse_stream_event(
        make_call(), None, json.dumps(PROMPT_ANNOTATION), state
    )
    assert shown is None
    first = _parsed(_chunk_event({"delta": {"role": "assistant"}}), state)
    assert first.prompt_filter_results == PROMPT_RESULTS


def test_asynchronous_filter_annotation_becomes_an_empty_chunk() -> None:
    state = StreamState(response_id="chatcmpl-9", model="gpt-4o")
    offsets = {"check_offset": 44, "start_offset": 44, "end_offset": 198}
    event = {
        "choices": [
            {
                "index": 0,
                "finish_reason": None,
                "content_filter_offsets": offsets,
                "content_filter_results": {"violence": {"filtered": False, "severity": "safe"}},
            }
        ],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
    }
    chunk = _parsed(json.dumps(event), state)
    assert chunk.id == "chatcmpl-9" and chunk.model == "gpt-4o"
    choice = chunk.choices[0]
    assert choice.delta.content is None and choice["content_filter_offsets"] == offsets


def test_a_chunk_whose_text_mentions_the_field_is_still_a_chunk() -> None:
    text = 'the "prompt_filter_results" field'
    chunk = _parsed(_chunk_event({"delta": {"content": text}}), StreamState())
    assert chunk.choices[0].delta.content == text


def test_litellm_token_variable_comes_after_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """AZURE_AD_TOKEN (LiteLLM's name) is used only when no key variable is set."""
    monkeypatch.setenv("AZURE_AD_TOKEN", "litellm-token-0123456789")
    assert provider.headers(make_call(api_key=None)) == {
        "authorization": "Bearer litellm-token-0123456789"
    }
    monkeypatch.setenv("AZURE_API_KEY", KEY)
    assert provider.headers(make_call(api_key=None)) == {"api-key": KEY}
