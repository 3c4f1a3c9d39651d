"""The one-page OpenAI-compatible plugin of docs/write-a-provider.md, run for real.

``examples/plugin-acme/llmrouter_acme.py`` is registered as provider ``acme`` and called
through llmrouter against the OpenAI emulator on 127.0.0.1 (a request that crosses a socket),
and its dialect's departures are checked on the toolkit's pure functions.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmrouter
from llmrouter import openai_compat as oc
from llmrouter.pipeline import Call, HTTPResponse
from llmrouter.testing import OpenAIEmulator
from llmrouter.testing.samples import TOOLS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "plugin-acme"))
import llmrouter_acme

KEY = "acme_test_key_0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(strict=False, api_key=KEY) as emu:
        monkeypatch.setenv("ACME_API_KEY", KEY)
        monkeypatch.setenv("ACME_API_BASE", emu.base_url)
        llmrouter.register_provider("acme", llmrouter_acme.provider)
        yield emu


def test_chat_stream_tools_and_embeddings_cross_the_socket(acme: OpenAIEmulator) -> None:
    answer = llmrouter.completion("acme/llama3.2", MESSAGES, max_tokens=5, top_k=3, stop="x")
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason in ("stop", "length")
    sent = acme.requests[-1]
    assert sent.path.endswith("/chat/completions")
    assert sent.body["top_k"] == 3 and sent.body["stop"] == "x"  # Acme takes OpenAI's forms

    chunks = list(llmrouter.completion("acme/llama3.2", MESSAGES, stream=True, max_tokens=5))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == answer.choices[0].message.content
    assert acme.requests[-1].body["stream_options"] == {"include_usage": True}

    forced = {"type": "function", "function": {"name": TOOLS[0]["function"]["name"]}}
    called = llmrouter.completion("acme/llama3.2", MESSAGES, tools=TOOLS, tool_choice=forced)
    calls = called.choices[0].message.tool_calls
    assert calls and calls[0].function.name == TOOLS[0]["function"]["name"]

    vectors = llmrouter.embedding("acme/nomic-embed-text", ["a", "b"])
    assert len(vectors.data) == 2


def test_options_and_endpoints_are_checked_before_sending(acme: OpenAIEmulator) -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match="top_p"):
        llmrouter.completion("acme/llama3.2", MESSAGES, top_p=0.5)
    with pytest.raises(llmrouter.InvalidRequestError, match="no /completions endpoint"):
        llmrouter.completion("acme/llama3.2", MESSAGES, prompt_template="llama-2")
    assert acme.requests == []


def test_missing_key_names_the_dialects_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    llmrouter.register_provider("acme", llmrouter_acme.provider)
    with pytest.raises(llmrouter.MissingAPIKeyError, match="ACME_API_KEY"):
        llmrouter.completion("acme/llama3.2", MESSAGES, api_base="http://127.0.0.1:9/v1")


def _call() -> Call:
    return Call(operation="chat", provider="acme", model="m", messages=MESSAGES)


def test_finish_reason_request_id_and_error_code_follow_the_dialect() -> None:
    body: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "end_turn",
            }
        ],
    }
    ok = HTTPResponse(200, {}, json.dumps(body).encode())
    assert oc.parse_chat(_call(), ok, llmrouter_acme.ACME).choices[0].finish_reason == "stop"

    error = HTTPResponse(
        402,
        {"x-acme-request-id": "acme-req-7", "x-request-id": "generic"},
        json.dumps({"error": {"message": "no credits", "code": "out_of_credits"}}).encode(),
        llmrouter_acme.ACME.request_id_headers,
    )
    mapped = oc.map_error(_call(), error, llmrouter_acme.ACME)
    assert isinstance(mapped, llmrouter.PaymentRequiredError)
    assert mapped.request_id == "acme-req-7"
