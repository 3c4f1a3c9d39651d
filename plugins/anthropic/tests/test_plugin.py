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
from llmrouter_anthropic import plugin

KEY = "sk-ant-api03-TestKeyDoNotLeak0123456789"
MODEL = "claude-sonnet-4-6"
USER = [{"role": "user", "content": "Hello"}]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


def chat(params: dict[str, Any] | None = None, **fields: Any) -> Call:
    fields.setdefault("api_key", Secret(KEY))
    return Call(
        operation="chat",
        provider="anthropic",
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
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.endpoint == "/v1/messages"
    assert request.request_id_headers == ("request-id",)
    assert request.headers == {
        "content-type": "application/json",
        "anthropic-version": "2026-10-21",
        "authorization": f"Bearer {KEY}",
    }
    assert request.json["model"] == MODEL


@pytest.mark.parametrize(
    "base",
    ["https://gw.test/anthropic", "https://gw.test/anthropic/", "https://gw.test/anthropic/v1"],
)
def test_base_url_with_or_without_v1(base: str) -> None:
    assert build(chat(api_base=base)).url == "https://gw.test/anthropic/v1/messages"


def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/v1/")
    assert build(chat()).url == "http://127.0.0.1:9/v1/messages"
    assert build(chat(api_base="http://other:1")).url == "http://other:1/v1/messages"


def test_bad_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "api.anthropic.com")
    with pytest.raises(errors.InvalidRequestError) as info:
        build(chat())
    assert info.value.param == "api_base"


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key-0123")
    assert build(chat(api_key=None)).headers["authorization"] == "Bearer env-key-0123"


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(errors.MissingAPIKeyError) as info:
        build(chat(api_key=None))
    assert info.value.env_vars == ["ANTHROPIC_API_KEY"]


def test_pinned_old_version_uses_x_api_key() -> None:
    headers = build(chat({"anthropic_version": "2023-06-01"})).headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["x-api-key"] == KEY
    assert "authorization" not in headers


def test_beta_header() -> None:
    assert build(chat({"anthropic_beta": ["a-1", "b-2"]})).headers["anthropic-beta"] == "a-1,b-2"
    assert build(chat({"anthropic_beta": "a-1"})).headers["anthropic-beta"] == "a-1"
    assert "anthropic-beta" not in build(chat()).headers


def test_extra_headers_are_sent_but_never_replace_the_key() -> None:
    extra = {"authorization": "Bearer other", "x-api-key": "other", "x-trace": "1"}
    headers = build(chat(extra_headers=extra)).headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in headers and headers["x-trace"] == "1"


def test_extra_headers_may_not_set_the_version_and_merge_by_lower_case_name() -> None:
    with pytest.raises(InvalidRequestError, match="anthropic_version=") as info:
        build(chat(extra_headers={"Anthropic-Version": "2023-06-01"}))
    assert info.value.param == "extra_headers.Anthropic-Version"
    headers = build(
        chat({"anthropic_beta": "a-1"}, extra_headers={"Anthropic-Beta": "b-2"})
    ).headers
    assert headers["anthropic-beta"] == "b-2" and "Anthropic-Beta" not in headers


def test_no_key_in_the_request_repr() -> None:
    assert KEY not in repr(build(chat()))
    assert KEY not in repr(build(chat({"anthropic_version": "2023-06-01"})))
    assert KEY not in repr(chat())


def test_list_models_request() -> None:
    call = Call(operation="list_models", provider="anthropic", model="", api_key=Secret(KEY))
    request = plugin.llmrouter_build_request(call=call, prompt=None)
    assert request.method == "GET" and request.json is None
    assert request.url == "https://api.anthropic.com/v1/models?limit=1000"
    assert request.headers["authorization"] == f"Bearer {KEY}"


# --- refused before sending ------------------------------------------------------------------------


def test_prompt_template_is_refused() -> None:
    call = chat(prompt_template="llama-2")
    with pytest.raises(errors.InvalidRequestError) as info:
        plugin.llmrouter_format_prompt(call=call)
    assert info.value.param == "prompt_template"
    assert "no text-completion endpoint" in info.value.message


def test_format_prompt_is_always_the_chat_prompt() -> None:
    assert plugin.llmrouter_format_prompt(call=chat()) == ChatPrompt(USER)


def test_embeddings_are_refused() -> None:
    call = Call(operation="embedding", provider="anthropic", model=MODEL, input=["x"])
    with pytest.raises(errors.InvalidRequestError, match="no embeddings"):
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
                        f"event: {e['type']}\ndata: {json.dumps(e, separators=(',', ':'))}\n\n"
                        for e in reply.events
                    ).encode()
                    kind = "text/event-stream"
                else:
                    payload = json.dumps(reply.body).encode()
                    kind = "application/json"
                self.send_response(reply.status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                self.send_header("request-id", "req_stub_1")
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


def answer(content: list[dict[str, Any]], stop_reason: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }


def stream_events(*deltas: dict[str, Any], stop: bool = True) -> list[dict[str, Any]]:
    start = answer([], stop_reason="")
    start["stop_reason"] = None
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *deltas,
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
    ]
    return [*events, {"type": "message_stop"}] if stop else events


def text_delta(text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }


def test_completion_through_llmrouter(stub: Stub) -> None:
    stub.replies.append(Reply(body=answer([{"type": "text", "text": "Hi there"}])))
    response = llmrouter.completion(
        model=f"anthropic/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, max_tokens=50
    )
    assert response.choices[0].message.content == "Hi there"
    assert response.llmrouter.request_id == "req_stub_1"
    assert response.llmrouter.endpoint == "/v1/messages"
    seen = stub.seen[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["anthropic-version"] == "2026-10-21"
    assert seen.body == {"model": MODEL, "max_tokens": 50, "messages": USER}


@pytest.mark.asyncio
async def test_acompletion_stream_through_llmrouter(stub: Stub) -> None:
    stub.replies.append(Reply(events=stream_events(text_delta("Hel"), text_delta("lo"))))
    stream = await llmrouter.acompletion(
        model=f"anthropic/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
    assert stub.seen[0].body["stream"] is True


def test_stream_without_message_stop_is_an_error(stub: Stub) -> None:
    stub.replies.append(Reply(events=stream_events(text_delta("Hel"), stop=False)))
    stream = llmrouter.completion(
        model=f"anthropic/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, stream=True
    )
    with pytest.raises(errors.APIConnectionError, match="incomplete"):
        list(stream)


def test_inband_overloaded_error_mid_stream(stub: Stub) -> None:
    events = stream_events(text_delta("Hel"))[:3]
    events.append({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    stub.replies.append(Reply(events=events))
    stream = llmrouter.completion(
        model=f"anthropic/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, stream=True
    )
    got: list[Any] = []
    with pytest.raises(errors.ServiceUnavailableError) as info:
        for chunk in stream:
            got.append(chunk)
    assert info.value.retryable
    assert [c.choices[0].delta.content for c in got] == ["", "Hel"]


def test_error_status_through_llmrouter(stub: Stub) -> None:
    body = {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down"},
        "request_id": "req_body",
    }
    stub.replies.append(
        Reply(
            status=429,
            body=body,
            headers={"retry-after": "0", "anthropic-ratelimit-requests-remaining": "0"},
        )
    )
    with pytest.raises(errors.RateLimitError) as info:
        llmrouter.completion(
            model=f"anthropic/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY
        )
    error = info.value
    assert error.request_id == "req_stub_1"
    assert error.retry_after == 0
    assert error.rate_limit == {"requests-remaining": "0"}
    assert KEY not in str(error) and KEY not in repr(error.headers)


def test_list_models_through_llmrouter(stub: Stub) -> None:
    models = {
        "data": [
            {
                "type": "model",
                "id": MODEL,
                "display_name": "Sonnet",
                "created_at": "2026-01-01T00:00:00Z",
            }
        ],
        "has_more": False,
        "first_id": MODEL,
        "last_id": MODEL,
    }
    stub.replies.append(Reply(body=models))
    found = llmrouter.list_models("anthropic", api_base=stub.url, api_key=KEY)
    assert [m.id for m in found] == [MODEL]
    assert stub.seen[0].path == "/v1/models?limit=1000"


def test_options_are_checked_before_any_request(stub: Stub) -> None:
    with pytest.raises(errors.InvalidRequestError, match="drop_params"):
        llmrouter.completion(
            model=f"anthropic/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, seed=1
        )
    with pytest.raises(errors.InvalidRequestError, match="2023-06-01"):
        llmrouter.completion(
            model=f"anthropic/{MODEL}", messages=USER, api_base=stub.url, api_key=KEY, temperature=0
        )
    assert stub.seen == []
