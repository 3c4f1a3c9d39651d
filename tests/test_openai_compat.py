"""llmrouter.openai_compat: each Dialect field changes what it says, and nothing else.

The Together and OpenAI-family plugin tests run the toolkit under their real dialects; these
tests take one made-up dialect at a time, so a field that stopped working (or started changing
something it should not) fails here by name. The request-id header is checked end to end, over a
socket, on every engine: it is the one dialect fact the core itself reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import llmrouter
from llmrouter import openai_compat as oc
from llmrouter.errors import InvalidRequestError, PaymentRequiredError
from llmrouter.pipeline import Call, ChatPrompt, HTTPResponse, StreamState, TextPrompt
from llmrouter.testing import OpenAIEmulator

MESSAGES = [{"role": "user", "content": "hi"}]
PLAIN = oc.Dialect(title="Plain")


class Opts(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    max_tokens: int | None = None
    stop: str | list[str] | None = None
    logprobs: bool | int | None = None
    top_logprobs: int | None = None
    legacy: bool | None = None
    tools: list[dict[str, Any]] | None = None
    stream_options: dict[str, Any] | None = None


def call(**kw: Any) -> Call:
    kw.setdefault("messages", MESSAGES)
    return Call(operation="chat", provider="p", model="m", **kw)


def with_(**changes: Any) -> oc.Dialect:
    return dataclasses.replace(PLAIN, **changes)


# --- request bodies -----------------------------------------------------------------------------


def test_defaults_send_options_as_openai_names_them() -> None:
    body = oc.chat_body(
        call(), Opts(max_tokens=3, stop="x", top_logprobs=2), ChatPrompt(MESSAGES), PLAIN
    )
    assert body == {
        "model": "m",
        "messages": MESSAGES,
        "max_tokens": 3,
        "stop": "x",
        "top_logprobs": 2,
        "logprobs": True,
    }


@pytest.mark.parametrize(
    ("dialect", "options", "expected"),
    [
        (
            with_(chat_renames={"max_tokens": "max_completion_tokens"}),
            Opts(max_tokens=3),
            {"max_completion_tokens": 3},
        ),
        (with_(stop_as_list=True), Opts(stop="x"), {"stop": ["x"]}),
        (with_(integer_logprobs=True), Opts(logprobs=True, top_logprobs=4), {"logprobs": 4}),
        (with_(integer_logprobs=True), Opts(logprobs=True), {"logprobs": 1}),
        (with_(integer_logprobs=True), Opts(logprobs=False), {}),
        (with_(unsent_options=frozenset({"legacy"})), Opts(legacy=True), {}),
    ],
)
def test_each_request_quirk(dialect: oc.Dialect, options: Opts, expected: dict[str, Any]) -> None:
    body = oc.chat_body(call(), options, ChatPrompt(MESSAGES), dialect)
    assert {k: v for k, v in body.items() if k not in ("model", "messages")} == expected


def test_tool_call_index_copies_only_what_it_changes() -> None:
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
    ]
    plain = oc.chat_body(call(messages=history), Opts(), ChatPrompt(history), PLAIN)
    assert plain["messages"] is history
    indexed = oc.chat_body(
        call(messages=history), Opts(), ChatPrompt(history), with_(tool_call_index=True)
    )
    assert [c["index"] for c in indexed["messages"][1]["tool_calls"]] == [0, 1]
    assert indexed["messages"][0] is history[0]
    assert "index" not in history[1]["tool_calls"][0]  # the caller's list is untouched


@pytest.mark.parametrize(("force", "expected"), [(False, False), (True, True)])
def test_force_include_usage(force: bool, expected: bool) -> None:
    options = Opts(stream_options={"include_usage": False})
    body = oc.chat_body(
        call(stream=True), options, ChatPrompt(MESSAGES), with_(force_include_usage=force)
    )
    assert body["stream_options"] == {"include_usage": expected} and body["stream"] is True


def test_rejects_message_name_and_max_stop() -> None:
    named = [{"role": "user", "content": "hi", "name": "ann"}]
    oc.check_messages(call(messages=named), PLAIN)
    with pytest.raises(InvalidRequestError, match="Strict rejects messages"):
        oc.check_messages(call(messages=named), with_(title="Strict", rejects_message_name=True))
    prompt = TextPrompt("[INST] hi [/INST]", template="t", stop=("</s>", "[INST]"))
    body = oc.completion_body(call(), Opts(stop=["a"]), prompt, PLAIN)
    assert body["stop"] == ["a", "</s>", "[INST]"]
    with pytest.raises(
        InvalidRequestError, match=r"at most 2 stop sequences.*adds 2 to the 1 given"
    ):
        oc.completion_body(call(), Opts(stop=["a"]), prompt, with_(max_stop=2))


def test_completion_body_refuses_chat_only_options_and_translates_logprobs() -> None:
    prompt = TextPrompt("x", template="t")
    with pytest.raises(InvalidRequestError, match="need the chat endpoint") as info:
        oc.completion_body(call(), Opts(tools=[]), prompt, PLAIN, chat_only={"tools"})
    assert info.value.param == "tools"
    assert oc.completion_body(call(), Opts(logprobs=True), prompt, PLAIN)["logprobs"] == 0
    integer = with_(integer_logprobs=True)
    assert oc.completion_body(call(), Opts(logprobs=True), prompt, integer)["logprobs"] == 1
    assert oc.completion_body(call(), Opts(logprobs=3), prompt, PLAIN)["logprobs"] == 3


# --- answers and errors -------------------------------------------------------------------------


def chat_answer(reason: str) -> HTTPResponse:
    body = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": reason}
        ],
    }
    return HTTPResponse(200, {}, json.dumps(body).encode())


def test_finish_reasons_come_from_the_dialect() -> None:
    assert oc.parse_chat(call(), chat_answer("eos"), PLAIN).choices[0].finish_reason == "stop"
    odd = with_(finish_reasons={"done": "stop"})
    assert oc.parse_chat(call(), chat_answer("done"), odd).choices[0].finish_reason == "stop"
    assert oc.parse_chat(call(), chat_answer("eos"), odd).choices[0].finish_reason == "eos"
    chunk = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"done"}]}'
    parsed = oc.parse_stream_event(
        call(stream=True), ChatPrompt(MESSAGES), chunk, StreamState(), odd
    )
    assert not isinstance(parsed, type(None)) and parsed.choices[0].finish_reason == "stop"  # type: ignore[union-attr]


def test_error_codes_and_status_classes_come_from_the_dialect() -> None:
    body = json.dumps({"error": {"message": "no", "code": "broke"}}).encode()
    assert type(oc.map_error(call(), HTTPResponse(402, {}, body), PLAIN)) is PaymentRequiredError

    class BrokeError(PaymentRequiredError):
        pass

    mine = with_(code_classes={**oc.CODE_CLASSES, "broke": BrokeError})
    assert type(oc.map_error(call(), HTTPResponse(402, {}, body), mine)) is BrokeError
    # a code never moves an error out of its status family
    assert not isinstance(oc.map_error(call(), HTTPResponse(500, {}, body), mine), BrokeError)


# --- the request-id header, end to end ----------------------------------------------------------

KEY = "sk-openai-compat-test-0123456789"


@pytest.fixture
def emu() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(api_key=KEY) as server:
        yield server


def provider(names: tuple[str, ...], base: str) -> oc.OpenAICompatibleProvider:
    class Chat(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
        max_tokens: int | None = None

    dialect = oc.Dialect(
        title="Ids", default_api_base=base, api_key_env=("IDS_KEY",), request_id_headers=names
    )
    return oc.OpenAICompatibleProvider(dialect, chat_options=Chat)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("names", "found"), [(("x-absent",), False), (("x-absent", "x-request-id"), True)]
)
@pytest.mark.parametrize("engine", ["sync", "httpx", "httpx-stock", "aiohttp"])
async def test_request_id_is_read_from_the_dialects_headers(
    emu: OpenAIEmulator,
    monkeypatch: pytest.MonkeyPatch,
    names: tuple[str, ...],
    found: bool,
    engine: str,
) -> None:
    if engine == "aiohttp":
        pytest.importorskip("httpx_aiohttp")
    monkeypatch.setenv("IDS_KEY", KEY)
    llmrouter.register_provider("ids", provider(names, emu.base_url))
    if engine == "sync":
        with llmrouter.Router() as router:
            answer = router.completion("ids/gpt-4o-mini", MESSAGES, max_tokens=2)
            with pytest.raises(llmrouter.NotFoundError) as info:
                router.completion("ids/no-such-model", MESSAGES)
    else:
        async with llmrouter.AsyncRouter(engine=engine) as arouter:
            answer = await arouter.completion("ids/gpt-4o-mini", MESSAGES, max_tokens=2)
            with pytest.raises(llmrouter.NotFoundError) as info:
                await arouter.completion("ids/no-such-model", MESSAGES)
    request_id = answer.llmrouter.request_id
    assert (request_id is not None and request_id.startswith("req_")) is found
    assert (info.value.request_id is not None and info.value.request_id.startswith("req_")) is found


def test_request_id_header_names_are_lower_cased() -> None:
    """HTTP names are case-insensitive; the core reads them lower-case, so the dialect does."""
    dialect = with_(request_id_headers=("X-Acme-Request-Id",))
    assert dialect.request_id_headers == ("x-acme-request-id",)
    from llmrouter.pipeline import ResponseHeaders

    headers = ResponseHeaders.from_raw([(b"X-Acme-Request-Id", b"abc")])
    assert HTTPResponse(200, headers, b"", dialect.request_id_headers).request_id == "abc"


def test_integer_logprobs_false_sends_no_logprobs_on_either_endpoint() -> None:
    integer = with_(integer_logprobs=True)
    options = Opts(logprobs=False, top_logprobs=3)
    chat = oc.chat_body(call(), options, ChatPrompt(MESSAGES), integer)
    completion = oc.completion_body(call(), options, TextPrompt("x", template="t"), integer)
    assert "logprobs" not in chat and "top_logprobs" not in chat
    assert "logprobs" not in completion and "top_logprobs" not in completion


def test_inband_status_comes_from_the_dialect() -> None:
    event = {"error": {"message": "out of credit", "code": "insufficient_quota"}}
    assert isinstance(
        oc.inband_error(call(), event, StreamState(), PLAIN), llmrouter.RateLimitError
    )
    paying = with_(inband_status={**oc.INBAND_STATUS, "insufficient_quota": 402})
    error = oc.inband_error(call(), event, StreamState(), paying)
    assert isinstance(error, PaymentRequiredError) and not error.retryable
