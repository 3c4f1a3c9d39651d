"""The hooks: where requests go, with which headers, what is refused before sending; and the
whole road through ``llmrouter.completion`` against a scripted stand-in server (canned answers,
so these tests do not depend on the emulator; tests/test_e2e.py runs against the emulator)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import llmrouter
from llmrouter import errors
from llmrouter.errors import InvalidRequestError
from llmrouter.pipeline import Call, ChatPrompt
from llmrouter.secrets import Secret
from llmrouter_gemini import plugin

KEY = "AIzaSyTestKeyDoNotLeak0123456789abcdefg"
MODEL = "gemini-2.5-flash"
USER = [{"role": "user", "content": "Hello"}]
ROOT = "https://generativelanguage.googleapis.com"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*plugin.API_KEY_ENV, *plugin.API_BASE_ENV):
        monkeypatch.delenv(name, raising=False)


def chat(params: dict[str, Any] | None = None, **fields: Any) -> Call:
    fields.setdefault("api_key", Secret(KEY))
    return Call(
        operation="chat",
        provider="gemini",
        model=MODEL,
        messages=USER,
        params=params or {},
        **fields,
    )


def build(call: Call) -> Any:
    return plugin.llmrouter_build_request(call=call, prompt=plugin.llmrouter_format_prompt(call))


# --- where and who --------------------------------------------------------------------------------


def test_default_request() -> None:
    request = build(chat())
    assert request.method == "POST"
    assert request.url == f"{ROOT}/v1/models/{MODEL}:generateContent"
    assert request.endpoint == f"/models/{MODEL}:generateContent"
    assert request.headers == {"content-type": "application/json", "x-goog-api-key": KEY}
    assert KEY not in request.url
    assert request.json == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def test_stream_request() -> None:
    request = build(chat(stream=True))
    assert request.url == f"{ROOT}/v1/models/{MODEL}:streamGenerateContent?alt=sse"
    assert request.endpoint == f"/models/{MODEL}:streamGenerateContent"


def test_api_version_option() -> None:
    assert build(chat({"api_version": "v1beta"})).url.startswith(f"{ROOT}/v1beta/models/")


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://h:1", "http://h:1/v1/models"),
        ("http://h:1/", "http://h:1/v1/models"),
        ("http://h:1/v1", "http://h:1/v1/models"),
        ("http://h:1/v1beta", "http://h:1/v1beta/models"),
    ],
)
def test_base_url_with_or_without_version(base: str, url: str) -> None:
    assert build(chat(api_base=base)).url.startswith(url + f"/{MODEL}:")


def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://sdk:2")
    assert build(chat()).url.startswith("http://sdk:2/v1/")
    monkeypatch.setenv("GEMINI_API_BASE", "http://ours:3")
    assert build(chat()).url.startswith("http://ours:3/v1/")


def test_key_from_the_environment_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    assert build(chat(api_key=None)).headers["x-goog-api-key"] == "google-key"
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    assert build(chat(api_key=None)).headers["x-goog-api-key"] == "gemini-key"


def test_missing_key_names_the_variables() -> None:
    with pytest.raises(errors.MissingAPIKeyError, match="GEMINI_API_KEY, GOOGLE_API_KEY"):
        build(chat(api_key=None))


def test_extra_headers_never_replace_the_key() -> None:
    request = build(chat(extra_headers={"X-Goog-Api-Key": "other", "X-Trace": "t"}))
    assert request.headers["x-goog-api-key"] == KEY
    assert request.headers["x-trace"] == "t"


def test_no_key_in_the_request_repr() -> None:
    assert KEY not in repr(build(chat()))


def test_list_models_request() -> None:
    call = Call(operation="list_models", provider="gemini", model="", api_key=Secret(KEY))
    request = plugin.llmrouter_build_request(call=call, prompt=None)
    assert request.method == "GET"
    assert request.url == f"{ROOT}/v1/models?pageSize=1000"


def test_embedding_request() -> None:
    call = Call(
        operation="embedding",
        provider="gemini",
        model="gemini-embedding-001",
        input=["hi"],
        params={"dimensions": 8},
        api_key=Secret(KEY),
    )
    request = plugin.llmrouter_build_request(call=call, prompt=None)
    assert request.url == f"{ROOT}/v1/models/gemini-embedding-001:batchEmbedContents"
    assert request.json["requests"][0]["outputDimensionality"] == 8


def test_token_id_embedding_input_is_refused() -> None:
    call = Call(
        operation="embedding", provider="gemini", model="e", input=[[1, 2]], api_key=Secret(KEY)
    )
    with pytest.raises(InvalidRequestError, match="text only"):
        plugin.llmrouter_build_request(call=call, prompt=None)


def test_prompt_template_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="prompt template"):
        plugin.llmrouter_format_prompt(chat(prompt_template="chatml"))


def test_format_prompt_is_always_the_chat_prompt() -> None:
    assert plugin.llmrouter_format_prompt(chat()) == ChatPrompt(USER)


def test_text_completion_is_refused() -> None:
    call = Call(operation="text_completion", provider="gemini", model=MODEL, prompt="x")
    with pytest.raises(InvalidRequestError, match="text_completion"):
        plugin.llmrouter_build_request(call=call, prompt=None)


# --- through llmrouter, against a scripted server --------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    events: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class Stub:
    """Answers each request with the next scripted Reply, and records what it received."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                stub.seen.append(
                    Seen(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None,
                    )
                )
                reply = stub.replies.pop(0)
                if reply.events is not None:
                    payload = "".join(
                        f"data: {json.dumps(e, separators=(',', ':'))}\r\n\r\n"
                        for e in reply.events
                    ).encode()
                    kind = "text/event-stream"
                else:
                    payload = json.dumps(reply.body).encode()
                    kind = "application/json"
                self.send_response(reply.status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


def answer(parts: list[dict[str, Any]], reason: str | None = "STOP") -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if reason:
        candidate["finishReason"] = reason
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
        "modelVersion": MODEL,
        "responseId": "stub1",
    }


def test_completion_through_llmrouter(stub: Stub) -> None:
    stub.replies.append(Reply(body=answer([{"text": "Hi there"}]), headers={"x-request-id": "rq"}))
    response = llmrouter.completion(
        model=f"gemini/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, max_tokens=50
    )
    assert response.choices[0].message.content == "Hi there"
    assert response.usage is not None and response.usage.total_tokens == 5
    assert response.llmrouter.request_id == "rq"
    seen = stub.seen[0]
    assert seen.path == f"/v1/models/{MODEL}:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY
    assert seen.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"maxOutputTokens": 50},
    }


@pytest.mark.asyncio
async def test_acompletion_stream_through_llmrouter(stub: Stub) -> None:
    events = [answer([{"text": "Hel"}], None), answer([{"text": "lo"}], "STOP")]
    stub.replies.append(Reply(events=events))
    stream = await llmrouter.acompletion(
        model=f"gemini/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 3
    assert stub.seen[0].path == f"/v1/models/{MODEL}:streamGenerateContent?alt=sse"


def test_stream_cut_before_the_finish_reason_is_an_error(stub: Stub) -> None:
    stub.replies.append(Reply(events=[answer([{"text": "Hel"}], None)]))
    stream = llmrouter.completion(
        model=f"gemini/{MODEL}",
        messages=USER,
        api_base=stub.url,
        api_key=KEY,
        stream=True,
    )
    with pytest.raises(errors.APIConnectionError):
        list(stream)


def test_inband_error_mid_stream(stub: Stub) -> None:
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    stub.replies.append(Reply(events=[answer([{"text": "Hel"}], None), error]))
    stream = llmrouter.completion(
        model=f"gemini/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, stream=True
    )
    got: list[Any] = []
    with pytest.raises(errors.ServiceUnavailableError) as info:
        for chunk in stream:
            got.append(chunk)
    assert info.value.retryable
    assert [c.choices[0].delta.content for c in got] == ["Hel"]


def test_error_status_through_llmrouter(stub: Stub) -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}],
        }
    }
    stub.replies.append(Reply(status=429, body=body))
    with pytest.raises(errors.RateLimitError) as caught:
        llmrouter.completion(model=f"gemini/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY)
    assert caught.value.retry_after == 2.0
    assert caught.value.error_type == "RESOURCE_EXHAUSTED"
    assert KEY not in str(caught.value)


def test_list_models_through_llmrouter(stub: Stub) -> None:
    stub.replies.append(Reply(body={"models": [{"name": "models/gemini-2.5-flash"}]}))
    models = llmrouter.list_models("gemini", api_base=stub.url, api_key=KEY)
    assert [m.id for m in models] == ["gemini-2.5-flash"]
    assert stub.seen[0].path == "/v1/models?pageSize=1000"


def test_embeddings_through_llmrouter(stub: Stub) -> None:
    stub.replies.append(Reply(body={"embeddings": [{"values": [0.5, 0.25]}]}))
    response = llmrouter.embedding(
        model="gemini/gemini-embedding-001", input="hi", api_base=stub.url, api_key=KEY
    )
    assert response.data[0].embedding == [0.5, 0.25]
    assert stub.seen[0].body["requests"][0]["content"] == {"parts": [{"text": "hi"}]}


def test_options_are_checked_before_any_request(stub: Stub) -> None:
    with pytest.raises(InvalidRequestError, match="logit_bias"):
        llmrouter.completion(
            model=f"gemini/{MODEL}",
            messages=USER,
            api_base=stub.url,
            api_key=KEY,
            logit_bias={"1": 2},
        )
    assert stub.seen == []
