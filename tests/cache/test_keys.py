"""Cache keys: what makes two calls share an entry, and what never reaches a key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest

from llmrouter.cache import KEY_VERSION, cache_key, key_document
from llmrouter.pipeline import Call, ChatPrompt, HTTPRequest
from llmrouter.secrets import Secret

KEY = "tgp_v1_CacheKeyMustNotSeeThis_0123456789"
MESSAGES = [{"role": "user", "content": "Héllo"}]


def _call(**changes: Any) -> Call:
    base: dict[str, Any] = {
        "operation": "chat",
        "provider": "together_ai",
        "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "messages": MESSAGES,
        "api_key": Secret(KEY),
    }
    base.update(changes)
    return Call(**base)


def _request(**changes: Any) -> HTTPRequest:
    base: dict[str, Any] = {
        "method": "POST",
        "url": "https://api.together.xyz/v1/chat/completions",
        "headers": {"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        "json": {"model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "messages": MESSAGES},
        "endpoint": "/chat/completions",
    }
    base.update(changes)
    return HTTPRequest(**base)


def test_key_is_sha256_hex_of_the_canonical_document() -> None:
    import hashlib

    key = cache_key(_call(), _request())
    document = key_document(_call(), _request())
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert key == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert document["v"] == KEY_VERSION and document["origin"] == "https://api.together.xyz:443"


def test_same_request_same_key() -> None:
    assert cache_key(_call(), _request()) == cache_key(_call(), _request())
    # Key order in the body does not matter (canonical JSON).
    reordered = _request(json={"messages": MESSAGES, "model": _request().json["model"]})
    assert cache_key(_call(), reordered) == cache_key(_call(), _request())


@pytest.mark.parametrize(
    ("call_changes", "request_changes"),
    [
        ({}, {"json": {"model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "messages": []}}),
        ({}, {"json": {**_request().json, "temperature": 0.5}}),
        ({"model": "other/model"}, {}),
        ({"provider": "openai_compatible"}, {}),
        ({"operation": "text_completion"}, {}),
        ({}, {"url": "https://eu.api.together.xyz/v1/chat/completions"}),
        ({}, {"url": "https://api.together.xyz:8443/v1/chat/completions"}),
        ({}, {"url": "http://api.together.xyz/v1/chat/completions"}),
        ({}, {"method": "PUT"}),
    ],
)
def test_what_differs_changes_the_key(
    call_changes: dict[str, Any], request_changes: dict[str, Any]
) -> None:
    assert cache_key(_call(**call_changes), _request(**request_changes)) != cache_key(
        _call(), _request()
    )


def test_namespace_separates_entries() -> None:
    call, request = _call(), _request()
    keys = {cache_key(call, request), cache_key(call, request, "a"), cache_key(call, request, "b")}
    assert len(keys) == 3
    assert cache_key(call, request, "a") == cache_key(call, request, "a")


def test_stream_flags_are_ignored() -> None:
    plain = _request()
    streamed = _request(
        json={**plain.json, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert cache_key(_call(stream=True), streamed) == cache_key(_call(), plain)
    # Only at the top level: a nested "stream" is content.
    nested = _request(json={**plain.json, "metadata": {"stream": True}})
    assert cache_key(_call(), nested) != cache_key(_call(), plain)


def test_key_never_depends_on_key_or_headers() -> None:
    base = cache_key(_call(), _request())
    other_key = _call(api_key=Secret("tgp_v1_SomeoneElse_abcdefabcdef"))
    other_headers = _request(
        headers={"authorization": "Bearer tgp_v1_SomeoneElse_abcdefabcdef", "x-trace": "1"}
    )
    assert cache_key(other_key, other_headers) == base
    assert cache_key(_call(api_key=None), _request(headers={})) == base
    # Credentials in the URL never count either (nor appear in the document).
    with_user = _request(url=f"https://user:{KEY}@api.together.xyz/v1/chat/completions")
    assert cache_key(_call(), with_user) == base
    assert KEY not in json.dumps(key_document(_call(), with_user))


def test_path_and_query_are_not_in_the_key() -> None:
    gemini = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash"
    a = _request(url=gemini + ":generateContent")
    b = _request(url=gemini + ":streamGenerateContent?alt=sse")
    assert cache_key(_call(), a) == cache_key(_call(), b)


def test_gemini_stream_and_plain_requests_share_a_key() -> None:
    """Built by the real Gemini provider: its stream differs from the plain call only in the
    URL's path (the body is the same; ``stream_options`` is accepted and not sent)."""
    plugin = pytest.importorskip("llmrouter_gemini.plugin")
    params = {"temperature": 0.2, "max_tokens": 20, "stream_options": {"include_usage": True}}
    calls = [
        Call(
            operation="chat",
            provider="gemini",
            model="gemini-2.0-flash",
            messages=MESSAGES,
            params=dict(params),
            stream=stream,
            api_key=Secret("AIzaSyCacheTestKeyNotReal0123456789abcd"),
        )
        for stream in (False, True)
    ]
    plain, streamed = (
        plugin.llmrouter_build_request(call=c, prompt=ChatPrompt(MESSAGES)) for c in calls
    )
    assert plain.url != streamed.url  # the path names the method
    assert cache_key(calls[0], plain) == cache_key(calls[1], streamed)


def test_together_stream_and_plain_requests_share_a_key() -> None:
    from llmrouter_together.plugin import provider

    calls = [
        dataclasses.replace(_call(), stream=s, params={"max_tokens": 5}) for s in (False, True)
    ]
    built = [provider.llmrouter_build_request(call=c, prompt=ChatPrompt(MESSAGES)) for c in calls]
    assert built[1].json.get("stream") is True  # the body does differ...
    assert cache_key(calls[0], built[0]) == cache_key(calls[1], built[1])  # ...the key does not


def test_body_that_is_not_json_is_an_error() -> None:
    with pytest.raises(ValueError):
        cache_key(_call(), _request(json={"x": float("nan")}))


@pytest.mark.parametrize("namespace", [None, "tenant-a"])
def test_the_key_is_the_sha256_of_the_documented_json(namespace: str | None) -> None:
    """cache_key encodes the fixed part once per route; the text it hashes must still be the
    canonical JSON of key_document, as docs/caching.md says."""
    call = Call(operation="chat", provider="together_ai", model="m/x")
    request = HTTPRequest(
        "post",
        "HTTPS://Example.com/v1/chat/completions",
        json={"z": 1, "messages": [{"role": "user", "content": "é 🙂"}], "stream": True, "a": None},
    )
    document = json.dumps(
        key_document(call, request, namespace),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    assert cache_key(call, request, namespace) == hashlib.sha256(document.encode()).hexdigest()


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": 'tab\t, quote ", é, 🙂, \u2028'}]},
        {"b": [1, 2.5, -0.0, 1e-7, 1e300, 10**30, True, False, None], "a": {"z": {}, "y": []}},
        {"nested": [[{"k": "v", "a": [{"c": 1, "b": 2}]}]], "n": 3},
        {"float": 0.1 + 0.2, "int-keyed": {"1": 1, "10": 2, "2": 3}},
    ],
)
def test_the_key_text_is_json_dumps_canonical_text(body: dict[str, Any]) -> None:
    """The key's encoder (CPython's C encoder, built once) and hash (the built-in SHA-256) give
    what json.dumps and hashlib give, for text, numbers and nesting of every kind."""
    call = _call()
    request = _request(json=body)
    document = json.dumps(
        key_document(call, request),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    assert cache_key(call, request) == hashlib.sha256(document.encode()).hexdigest()


def test_a_body_that_cannot_be_encoded_is_refused_by_the_key() -> None:
    circular: dict[str, Any] = {"messages": []}
    circular["messages"].append(circular)
    with pytest.raises((ValueError, RecursionError)):
        cache_key(_call(), _request(json=circular))
    with pytest.raises(TypeError, match="not JSON serializable"):
        cache_key(_call(), _request(json={"messages": [object()]}))
