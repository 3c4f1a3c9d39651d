"""The provider toolkit (llmrouter.provider): pure helpers every provider plugin shares."""

from __future__ import annotations

import email.utils
import json

import pytest

from llmrouter import errors
from llmrouter.pipeline import Call, HTTPResponse
from llmrouter.provider import (
    auth_headers,
    merge_extra_body,
    parse_model_list,
    parse_rate_limit_headers,
    parse_retry_after,
    resolve_api_base,
    resolve_api_key,
)
from llmrouter.secrets import Secret


def call(**kw: object) -> Call:
    return Call(operation="chat", provider="p", model="m", **kw)  # type: ignore[arg-type]


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_rate_limit_headers() -> None:
    got = parse_rate_limit_headers({"X-RateLimit-Remaining": "0", "other": "x"})
    assert got == {"remaining": "0"}


def test_base_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P_BASE", "https://host/")
    assert (
        resolve_api_base(call(), ["P_BASE"], "https://default/v1", ensure_suffix="/v1")
        == "https://host/v1"
    )
    assert (
        resolve_api_base(call(api_base="https://given/v1"), ["P_BASE"], "https://d")
        == "https://given/v1"
    )
    monkeypatch.delenv("P_BASE")
    assert resolve_api_base(call(), ["P_BASE"], "https://default/v1/") == "https://default/v1"


def test_key_resolution_and_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P_KEY_2", "second-key-value")
    key = resolve_api_key(call(), ["P_KEY_1", "P_KEY_2"])
    assert key is not None and key.get_secret_value() == "second-key-value"
    assert resolve_api_key(call(), ["NOPE"], required=False) is None
    with pytest.raises(errors.MissingAPIKeyError) as info:
        resolve_api_key(call(), ["NOPE_A", "NOPE_B"])
    assert info.value.env_vars == ["NOPE_A", "NOPE_B"] and "NOPE_A, NOPE_B" in str(info.value)
    headers = auth_headers(Secret("abc123456"), {"Authorization": "Bearer other", "x-trace": "1"})
    assert headers == {"authorization": "Bearer abc123456", "x-trace": "1"}


def test_extra_body_merge_refuses_reserved_fields() -> None:
    assert merge_extra_body({"a": 1}, call(extra_body={"b": 2})) == {"a": 1, "b": 2}
    with pytest.raises(errors.InvalidRequestError) as info:
        merge_extra_body({}, call(extra_body={"messages": []}))
    assert info.value.param == "extra_body.messages"


def test_model_list_shapes() -> None:
    entry = {"id": "m1", "object": "model", "type": "chat", "context_length": 8192}
    bare = HTTPResponse(200, {}, json.dumps([entry]).encode())
    wrapped = HTTPResponse(200, {}, json.dumps({"object": "list", "data": [entry]}).encode())
    for response in (bare, wrapped):
        (model,) = parse_model_list(call(), response)
        assert model.id == "m1" and model["context_length"] == 8192
    with pytest.raises(errors.APIError, match="model list"):
        parse_model_list(call(), HTTPResponse(200, {}, b'{"unexpected": true}'))


def test_a_base_that_is_not_http_is_refused_naming_its_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("P_BASE", "localhost:8000/v1")
    with pytest.raises(
        errors.InvalidRequestError, match=r"'localhost:8000/v1' \(from P_BASE\)"
    ) as info:
        resolve_api_base(call(), ["P_BASE"], "https://default/v1")
    assert info.value.param == "api_base"
    monkeypatch.delenv("P_BASE")
    assert resolve_api_base(call(), ["P_BASE"], "") == ""  # no base anywhere: the caller decides


def test_error_in_band_maps_a_known_status_and_keeps_an_unknown_one() -> None:
    from llmrouter.provider import error_from_response, error_in_band

    payload = {"error": {"message": "busy", "type": "overloaded"}}
    mapped = error_in_band(
        call(), payload, 503, "error event in the stream after 2 chunk(s)", error_from_response
    )
    assert isinstance(mapped, errors.ServiceUnavailableError) and mapped.retryable
    assert str(mapped).startswith("error event in the stream after 2 chunk(s): ")
    unknown = error_in_band(call(), payload, None, "error in a 200 response", error_from_response)
    assert type(unknown) is errors.StreamError and "busy" in str(unknown)
    assert unknown.body == payload
