"""Bad input never reaches the wire, whatever the engine (issue 13, items 4-6).

Every case is a value that used to escape as an engine-specific crash (``UnicodeEncodeError``,
``TypeError``, ``httpx.InvalidURL``, ``OverflowError``, h11's ``LocalProtocolError``), as a
*retryable* ``APIConnectionError`` (h11 refusing a header after the connection was opened: the
router retried it and cooled down healthy deployments), or was sent as given by one engine only
(aiohttp). Now each one is an :class:`InvalidRequestError` naming the parameter, raised before
any connection is opened, for the sync client and each async engine alike; under a routing
config it is neither retried nor counted against a deployment.

What the server saw is the proof: a private emulator on 127.0.0.1 counts the connections it
accepted and the requests it parsed, and both must stay at zero.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import llmrouter
from llmrouter import InvalidRequestError
from llmrouter.testing import TogetherEmulator
from llmrouter.validation import (
    MAX_TIMEOUT,
    check_request,
    header_value_problem,
    validate_api_base,
    validate_headers,
    validate_messages,
    validate_options,
    validate_timeout,
    validate_tool_choice,
    validate_tools,
)

pytest.importorskip("httpx_aiohttp")

#: "sync" is a Router on httpx's own transport, "sync-native" a Router(engine="native").
ENGINES = ("sync", "sync-native", "httpx", "httpx-stock", "aiohttp", "native")


def _sync_engine(engine: str) -> str | None:
    return "native" if engine == "sync-native" else None


MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello"}]
KEY = "tgp_v1_HardeningKeyDoNotLeak_0123456789"
KEY_ENV = "LLMROUTER_TEST_HARDENING_KEY"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@dataclass(frozen=True)
class Case:
    """One bad argument: ``make(base_url)`` -> the keyword arguments that carry it."""

    id: str
    make: Callable[[str], dict[str, Any]]
    param: str
    #: A substring that must never show in the error (the bad key itself).
    secret: str | None = None


def _port(base: str) -> str:
    return base.split("//", 1)[1].split("/", 1)[0]


def headers(value: Any) -> Callable[[str], dict[str, Any]]:
    return lambda base: {"extra_headers": value}


def api_key(value: str) -> Callable[[str], dict[str, Any]]:
    return lambda base: {"api_key": value}


BAD_KEYS = {
    "api-key-non-ascii": "tgp_v1_cl\u00e9_0123456789abcdef",
    "api-key-crlf": "tgp_v1_0123456789abcdef\r\nX-Injected: 1",
    "api-key-lf": "tgp_v1_0123456789abcdef\nX",
    "api-key-nul": "tgp_v1_0123456789\x00abcdef",
    "api-key-trailing-space": "tgp_v1_0123456789abcdef ",
    "api-key-leading-tab": "\ttgp_v1_0123456789abcdef",
}

#: Item 4, every case. ``param`` is what the error's ``param`` must be (and its message names).
CASES: list[Case] = [
    # extra_headers: CR/LF (header injection), control characters, non-ASCII, non-str, reserved
    Case("header-name-crlf", headers({"X-Test\r\nX-Injected": "1"}), "extra_headers"),
    Case("header-value-crlf", headers({"X-Test": "1\r\nX-Injected: 1"}), "extra_headers"),
    Case("header-value-lf", headers({"X-Test": "1\nX-Injected: 1"}), "extra_headers"),
    Case("header-value-cr", headers({"X-Test": "1\rX"}), "extra_headers"),
    Case("header-value-nul", headers({"X-Test": "a\x00b"}), "extra_headers"),
    Case("header-value-del", headers({"X-Test": "a\x7fb"}), "extra_headers"),
    Case("header-value-non-ascii", headers({"X-Test": "caf\u00e9"}), "extra_headers"),
    Case("header-name-non-ascii", headers({"X-T\u00e9st": "1"}), "extra_headers"),
    Case("header-name-space", headers({"X Test": "1"}), "extra_headers"),
    Case("header-name-colon", headers({"X-Test:": "1"}), "extra_headers"),
    Case("header-name-empty", headers({"": "1"}), "extra_headers"),
    Case("header-name-not-str", headers({5: "1"}), "extra_headers"),
    Case("header-value-int", headers({"X-Test": 5}), "extra_headers"),
    Case("header-value-none", headers({"X-Test": None}), "extra_headers"),
    Case("header-value-bytes", headers({"X-Test": b"1"}), "extra_headers"),
    Case("header-value-padded", headers({"X-Test": " 1"}), "extra_headers"),
    Case("header-content-length", headers({"Content-Length": "5"}), "extra_headers"),
    Case("header-host", headers({"Host": "example.com"}), "extra_headers"),
    Case("header-transfer-encoding", headers({"Transfer-Encoding": "chunked"}), "extra_headers"),
    Case("header-connection", headers({"connection": "close"}), "extra_headers"),
    Case("headers-not-a-dict", headers([("X-Test", "1")]), "extra_headers"),
    # api_key: travels as "Authorization: Bearer <key>"
    *(Case(name, api_key(key), "api_key", secret=key) for name, key in BAD_KEYS.items()),
    # api_base: whitespace, control characters, no host, query, bad port
    Case("api-base-trailing-space", lambda b: {"api_base": b + " "}, "api_base"),
    Case("api-base-inner-space", lambda b: {"api_base": b + "/v 1"}, "api_base"),
    Case("api-base-tab", lambda b: {"api_base": b + "\t"}, "api_base"),
    Case("api-base-newline", lambda b: {"api_base": b + "\n"}, "api_base"),
    Case("api-base-crlf", lambda b: {"api_base": b + "\r\nX: 1"}, "api_base"),
    Case("api-base-control", lambda b: {"api_base": b + "\x01"}, "api_base"),
    Case("api-base-no-host", lambda b: {"api_base": "http://"}, "api_base"),
    Case(
        "api-base-only-port",
        lambda b: {"api_base": "http://:" + _port(b).split(":")[1]},
        "api_base",
    ),
    Case(
        "api-base-port-out-of-range",
        lambda b: {"api_base": "http://127.0.0.1:99999/v1"},
        "api_base",
    ),
    Case("api-base-query", lambda b: {"api_base": b + "?x=1"}, "api_base"),
    Case("api-base-fragment", lambda b: {"api_base": b + "#x"}, "api_base"),
    # timeout: not finite, overflowing, not positive
    Case("timeout-inf", lambda b: {"timeout": float("inf")}, "timeout"),
    Case("timeout-minus-inf", lambda b: {"timeout": float("-inf")}, "timeout"),
    Case("timeout-nan", lambda b: {"timeout": float("nan")}, "timeout"),
    Case("timeout-huge", lambda b: {"timeout": 1e300}, "timeout"),
    Case("timeout-huge-int", lambda b: {"timeout": 10**400}, "timeout"),
    Case("timeout-zero", lambda b: {"timeout": 0}, "timeout"),
    # an unhashable role
    Case(
        "role-list",
        lambda b: {"messages": [{"role": ["user"], "content": "hi"}]},
        "messages[0].role",
    ),
    Case("role-dict", lambda b: {"messages": [{"role": {}, "content": "hi"}]}, "messages[0].role"),
]
IDS = [c.id for c in CASES]


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[TogetherEmulator]:
    """A private emulator, so its connection counter sees this module's clients only."""
    with TogetherEmulator() as emu:
        yield emu


@pytest.fixture
def emu(server: TogetherEmulator) -> TogetherEmulator:
    server.clear()
    server.clear_faults()
    server.reset_stats()
    return server


def assert_nothing_sent(emu: TogetherEmulator) -> None:
    """Not a request, not even a connection reached the server."""
    stats = emu.stats
    assert emu.requests == []
    assert stats["total"] == 0
    assert stats["protocol_errors"] == 0
    assert stats["accepted_connections"] == 0, "a connection was opened for a bad request"


def run(engine: str, router_kwargs: dict[str, Any], **kwargs: Any) -> Any:
    """One completion through the sync Router or an AsyncRouter on ``engine``; a stream is read
    to its end (so anything that would fail on the wire does)."""
    kwargs.setdefault("messages", MESSAGES)
    if engine.startswith("sync"):
        with llmrouter.Router(**router_kwargs, engine=_sync_engine(engine)) as router:
            result = router.completion(**kwargs)
            if kwargs.get("stream"):
                result = list(result)
            return result

    async def go() -> Any:
        async with llmrouter.AsyncRouter(engine=engine, **router_kwargs) as router:
            result = await router.completion(**kwargs)
            if kwargs.get("stream"):
                result = [chunk async for chunk in result]
            return result

    return asyncio.run(go())


def check_error(exc: InvalidRequestError, param: str | None, secret: str | None = None) -> None:
    assert type(exc) is InvalidRequestError, type(exc)
    if param is not None:
        assert exc.param == param
        assert param.split("[")[0] in str(exc), "the message must name the parameter"
    for text in (str(exc), repr(exc), exc.message):
        assert KEY not in text
        if secret is not None:
            assert secret not in text and secret.strip() not in text


def routed_config(emu: TogetherEmulator, **deployment: Any) -> dict[str, Any]:
    """Alias "chat" over two deployments (emulator tenants "a" and "b", ``deployment`` added to
    both), with a breaker that trips on one failure, so any failure counted against a
    deployment would show."""
    return {
        "router": {
            "num_retries": 2,
            "backoff_base": 0.001,
            "backoff_max": 0.002,
            "cooldown": {"min_requests": 1, "failure_rate": 0.01},
        },
        "models": {
            "chat": {
                "deployments": [
                    {
                        "model": MODEL,
                        "name": tenant,
                        "api_base": emu.base_url_for(tenant),
                        "api_key_env": KEY_ENV,
                        **{
                            k: v.format(base=emu.base_url_for(tenant))
                            for k, v in deployment.items()
                        },
                    }
                    for tenant in ("a", "b")
                ]
            }
        },
    }


def attempts(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.llmrouter  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "llmrouter", {}).get("event") == "llmrouter.attempt"
    ]


def assert_healthy(routing: Any) -> None:
    for row in routing.snapshot()["chat"]:
        assert (row["cooling"], row["trips"], row["failures"], row["window"]) == (False, 0, 0, 0)
        assert row["in_flight"] == 0


class RoutedRun:
    """Routed calls to alias "chat" through one router (sync, or async on ``engine`` with its own
    event loop), whose ``routing`` health stays inspectable afterwards."""

    def __init__(self, engine: str, config: dict[str, Any]) -> None:
        self.engine = engine
        self.loop: asyncio.AbstractEventLoop | None = None
        if engine.startswith("sync"):
            self.router: Any = llmrouter.Router(config=config, engine=_sync_engine(engine))
        else:
            self.loop = asyncio.new_event_loop()
            self.router = llmrouter.AsyncRouter(engine=engine, config=config)
        self.routing = self.router.routing

    def __call__(self, **kwargs: Any) -> Any:
        kwargs.setdefault("messages", MESSAGES)
        if self.loop is None:
            return self.router.completion("chat", **kwargs)
        return self.loop.run_until_complete(self.router.completion("chat", **kwargs))

    def close(self) -> None:
        if self.loop is None:
            self.router.close()
        else:
            self.loop.run_until_complete(self.router.aclose())
            self.loop.close()


@pytest.fixture
def routed() -> Iterator[Callable[[str, dict[str, Any]], RoutedRun]]:
    made: list[RoutedRun] = []

    def make(engine: str, config: dict[str, Any]) -> RoutedRun:
        made.append(RoutedRun(engine, config))
        return made[-1]

    yield make
    for run_ in made:
        run_.close()


# --- item 4 + item 5: every case, every engine ----------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_bad_input_is_refused_before_any_connection(
    emu: TogetherEmulator, engine: str, case: Case, stream: bool
) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "api_base": emu.base_url, "api_key": KEY}
    kwargs.update(case.make(emu.base_url))
    with pytest.raises(InvalidRequestError) as info:
        run(engine, {}, stream=stream, **kwargs)
    check_error(info.value, case.param, case.secret)
    assert_nothing_sent(emu)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_routed_bad_input_is_not_retried_nor_counted(
    emu: TogetherEmulator,
    engine: str,
    case: Case,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    routed: Callable[[str, dict[str, Any]], RoutedRun],
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.INFO, logger="llmrouter")
    call = routed(engine, routed_config(emu))
    with pytest.raises(InvalidRequestError) as info:
        call(**case.make(emu.base_url))
    check_error(info.value, case.param, case.secret)
    assert attempts(caplog) == []  # refused before the first attempt: no retry, no fallback
    assert_nothing_sent(emu)
    assert_healthy(call.routing)
    if engine.startswith(
        "sync"
    ):  # (once per case: a router's first request builds its TLS context)
        # and the alias still works: nothing was left in cooldown or in flight
        assert "deterministic reply" in call().choices[0].message.content
        assert len(emu.requests) == 1 and attempts(caplog)[-1]["outcome"] == "ok"


# --- values that do not come from the call's arguments: the last check before sending ----------


ENV_CASES = [
    pytest.param(
        "TOGETHERAI_API_KEY", "tgp_v1_cl\u00e9_0123456789abcdef", "api_key", id="env-key-non-ascii"
    ),
    pytest.param(
        "TOGETHERAI_API_KEY", "tgp_v1_0123456789\r\nX-Injected: 1", "api_key", id="env-key-crlf"
    ),
    pytest.param("TOGETHERAI_API_BASE", "{base}\x01", "api_base", id="env-base-control"),
    pytest.param("TOGETHERAI_API_BASE", "{base}/v 1", "api_base", id="env-base-space"),
]


@pytest.mark.parametrize(("env", "value", "param"), ENV_CASES)
@pytest.mark.parametrize("engine", ENGINES)
def test_bad_value_from_the_environment_is_refused_before_sending(
    emu: TogetherEmulator,
    engine: str,
    env: str,
    value: str,
    param: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key or base URL read from a provider variable is checked too (the plugin reads them
    while building the request, so the core checks the request as built)."""
    monkeypatch.setenv("TOGETHERAI_API_KEY", KEY)
    monkeypatch.setenv("TOGETHERAI_API_BASE", emu.base_url)
    monkeypatch.setenv(env, value.format(base=emu.base_url))
    with pytest.raises(InvalidRequestError) as info:
        run(engine, {}, model=MODEL)
    check_error(info.value, param, value if param == "api_key" else None)
    assert env in str(info.value) or "environment variable" in str(info.value)
    assert_nothing_sent(emu)


@pytest.mark.parametrize(
    ("deployment", "key", "param"),
    [
        pytest.param({}, "tgp_v1_cl\u00e9_0123456789abcdef", "api_key", id="api-key-env-non-ascii"),
        pytest.param({}, "tgp_v1_0123456789\nX: 1", "api_key", id="api-key-env-lf"),
        pytest.param({"api_base": "{base}/v 1"}, KEY, "api_base", id="deployment-api-base-space"),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_bad_deployment_value_stops_without_retry_or_cooldown(
    emu: TogetherEmulator,
    engine: str,
    deployment: dict[str, Any],
    key: str,
    param: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    routed: Callable[[str, dict[str, Any]], RoutedRun],
) -> None:
    """A deployment whose key variable or base URL cannot be sent: one attempt, stopped at once
    (the request cannot be sent, so retrying or moving on cannot help), nothing counted against
    any deployment, nothing sent."""
    monkeypatch.setenv(KEY_ENV, key)
    caplog.set_level(logging.INFO, logger="llmrouter")
    call = routed(engine, routed_config(emu, **deployment))  # both deployments are bad
    with pytest.raises(InvalidRequestError) as info:
        call()
    check_error(info.value, param, key if param == "api_key" else None)
    seen = attempts(caplog)
    assert len(seen) == 1 and seen[0]["decision"] == "stop"
    assert_nothing_sent(emu)
    assert_healthy(call.routing)


@pytest.mark.parametrize("engine", ENGINES)
def test_header_built_by_a_plugin_from_its_settings_is_checked(
    emu: TogetherEmulator, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenRouter's X-Title comes from OPENROUTER_APP_NAME: a non-ASCII app name is refused
    before sending, naming the header, on every engine."""
    pytest.importorskip("llmrouter_openai")
    monkeypatch.setenv("OPENROUTER_APP_NAME", "Caf\u00e9 bot")
    with pytest.raises(InvalidRequestError) as info:
        run(engine, {}, model="openrouter/some/model", api_base=emu.base_url, api_key=KEY)
    check_error(info.value, "headers")
    assert "X-Title" in str(info.value)
    assert_nothing_sent(emu)


class _KeyInItsOwnHeader:
    """A provider that sends its key, read from an environment variable, in a header of its own
    (Google's APIs take ``x-goog-api-key``, Together's older ones ``x-together-key``)."""

    def __init__(self, header: str, base: str) -> None:
        self.header = header
        self.base = base

    @llmrouter.hookimpl
    def llmrouter_build_request(self, call: Any, prompt: Any) -> Any:
        import os

        from llmrouter.pipeline import HTTPRequest

        return HTTPRequest(
            "POST",
            f"{self.base}/chat/completions",
            {self.header: os.environ[KEY_ENV], "content-type": "application/json"},
            json={"model": call.model, "messages": call.messages},
            endpoint="/chat/completions",
        )


@pytest.mark.parametrize("header", ["x-goog-api-key", "x-together-key"])
@pytest.mark.parametrize("engine", ENGINES)
def test_bad_key_in_a_provider_key_header_is_reported_as_api_key(
    emu: TogetherEmulator, engine: str, header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every credential header that carries the provider's key (the one list,
    ``secrets.CREDENTIAL_HEADERS``) names ``api_key`` and the key variable, not "headers", and
    never quotes the key."""
    from llmrouter._plugins import PluginHost

    key = BAD_KEYS["api-key-non-ascii"]
    monkeypatch.setenv(KEY_ENV, key)
    host = PluginHost(autoload=False)
    host.register_provider("keyhdr", _KeyInItsOwnHeader(header, emu.base_url))
    with pytest.raises(InvalidRequestError) as info:
        run(engine, {"plugin_host": host}, model="keyhdr/m")
    check_error(info.value, "api_key", key)
    assert "environment variable" in str(info.value)
    assert_nothing_sent(emu)


def test_router_timeout_is_checked_at_construction() -> None:
    for bad in (float("inf"), float("nan"), 0, -1, 1e300, True):
        with pytest.raises(InvalidRequestError) as info:
            llmrouter.Router(timeout=bad)
        assert info.value.param == "timeout"
        with pytest.raises(InvalidRequestError):
            llmrouter.AsyncRouter(timeout=bad)
    assert llmrouter.Router(timeout=MAX_TIMEOUT)._timeout == MAX_TIMEOUT


# --- item 6: tools and tool_choice ----------------------------------------------------------------


def _fn(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, **extra}}


BAD_TOOLS: list[Any] = [
    pytest.param({"tools": {"type": "function"}}, "tools", id="tools-not-a-list"),
    pytest.param({"tools": ["get_weather"]}, "tools[0]", id="entry-not-a-dict"),
    pytest.param({"tools": [{"function": {"name": "f"}}]}, "tools[0]", id="no-type"),
    pytest.param({"tools": [{"type": "retrieval"}]}, "tools[0]", id="other-type"),
    pytest.param({"tools": [{"type": "function"}]}, "tools[0].function", id="no-function"),
    pytest.param(
        {"tools": [{"type": "function", "function": "f"}]}, "tools[0].function", id="function-str"
    ),
    pytest.param({"tools": [_fn("")]}, "tools[0].function.name", id="empty-name"),
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": 3}}]},
        "tools[0].function.name",
        id="name-int",
    ),
    pytest.param(
        {"tools": [*TOOLS, _fn("g", parameters=[])]},
        "tools[1].function.parameters",
        id="parameters-list",
    ),
    pytest.param(
        {"tools": [_fn("g", parameters="{}")]}, "tools[0].function.parameters", id="parameters-str"
    ),
    pytest.param(
        {"tools": [_fn("g", parameters=None)]}, "tools[0].function.parameters", id="parameters-none"
    ),
    pytest.param(
        {"tools": [_fn("g", description=5)]}, "tools[0].function.description", id="description-int"
    ),
    pytest.param(
        {"tool_choice": "always", "tools": TOOLS}, "tool_choice", id="choice-unknown-string"
    ),
    pytest.param(
        {"tool_choice": "get_time", "tools": TOOLS}, "tool_choice", id="choice-unknown-name"
    ),
    pytest.param({"tool_choice": "auto"}, "tool_choice", id="choice-without-tools"),
    pytest.param({"tool_choice": "required"}, "tool_choice", id="required-without-tools"),
    pytest.param(
        {"tool_choice": {"type": "function"}, "tools": TOOLS},
        "tool_choice.function",
        id="choice-no-function",
    ),
    pytest.param(
        {"tool_choice": {"type": "function", "function": {"name": "nope"}}, "tools": TOOLS},
        "tool_choice.function.name",
        id="choice-names-missing-tool",
    ),
    pytest.param(
        {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        "tool_choice.function.name",
        id="choice-object-without-tools",
    ),
    pytest.param(
        {"tool_choice": {"type": "code_interpreter"}, "tools": TOOLS},
        "tool_choice",
        id="choice-other-type",
    ),
    pytest.param(
        {"tool_choice": {"function": {"name": "get_weather"}}, "tools": TOOLS},
        "tool_choice",
        id="choice-no-type",
    ),
]


@pytest.mark.parametrize(("options", "param"), BAD_TOOLS)
@pytest.mark.parametrize("engine", ["sync", "sync-native", "aiohttp", "native"])
def test_together_bad_tools_are_refused_before_sending(
    emu: TogetherEmulator, engine: str, options: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        run(engine, {}, model=MODEL, api_base=emu.base_url, api_key=KEY, **options)
    check_error(info.value, param)
    assert_nothing_sent(emu)


GOOD_TOGETHER_CHOICES = [
    pytest.param("auto", id="auto"),
    pytest.param("none", id="none"),
    pytest.param("required", id="required"),
    pytest.param("get_weather", id="bare-name"),  # the spec's string form: a tool's name
    pytest.param({"type": "function", "function": {"name": "get_weather"}}, id="openai-object"),
    pytest.param(  # the spec's ToolChoice object: a full tool call
        {
            "id": "c1",
            "index": 0,
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"},
        },
        id="spec-object",
    ),
]


@pytest.mark.parametrize("choice", GOOD_TOGETHER_CHOICES)
def test_together_documented_tool_choices_pass(emu: TogetherEmulator, choice: Any) -> None:
    tools = [*TOOLS, _fn("no_params"), _fn("dotted.name-ok")]  # no documented name pattern
    response = run(
        "sync", {}, model=MODEL, api_base=emu.base_url, api_key=KEY, tools=tools, tool_choice=choice
    )
    assert response.choices[0].message is not None
    assert len(emu.requests) == 1 and emu.requests[0].body["tools"] == tools


OPENAI_TOOL_NAME = "must be 1-64 letters, digits, '_' or '-'"


@pytest.mark.parametrize(
    ("options", "param", "needle"),
    [
        pytest.param(
            {"tools": [_fn("bad name")]}, "tools[0].function.name", OPENAI_TOOL_NAME, id="space"
        ),
        pytest.param(
            {"tools": [_fn("a" * 65)]}, "tools[0].function.name", OPENAI_TOOL_NAME, id="65-chars"
        ),
        pytest.param(
            {"tools": [_fn("dotted.name")]}, "tools[0].function.name", OPENAI_TOOL_NAME, id="dot"
        ),
        pytest.param(
            {"tools": [_fn("trailing_newline\n")]},
            "tools[0].function.name",
            OPENAI_TOOL_NAME,
            id="newline",
        ),
        pytest.param(
            {"tools": [{"type": "custom", "custom": {"name": "x"}}]},
            "tools[0]",
            "custom tools",
            id="custom",
        ),
        pytest.param(
            {"tools": [_fn("g", parameters=[])]},
            "tools[0].function.parameters",
            "JSON Schema object",
            id="parameters",
        ),
        pytest.param(
            {"tools": TOOLS, "tool_choice": "get_weather"},
            "tool_choice",
            "accepted forms",
            id="bare-name",
        ),
        pytest.param(
            {
                "tools": TOOLS,
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "any", "tools": [_fn("get_weather")]},
                },
            },
            "tool_choice.allowed_tools",
            "mode",
            id="allowed-tools-mode",
        ),
        pytest.param(
            {
                "tools": TOOLS,
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "auto", "tools": [_fn("nope")]},
                },
            },
            "tool_choice.allowed_tools.tools[0].function.name",
            "'nope'",
            id="allowed-tools-unknown",
        ),
        pytest.param(
            {
                "tools": TOOLS,
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "auto", "tools": []},
                },
            },
            "tool_choice.allowed_tools.tools",
            "non-empty",
            id="allowed-tools-empty",
        ),
        pytest.param(
            {"tools": TOOLS, "tool_choice": {"type": "custom", "custom": {"name": "x"}}},
            "tool_choice",
            "type 'custom'",
            id="custom-choice",
        ),
    ],
)
def test_openai_bad_tools_are_refused_before_sending(
    emu: TogetherEmulator, options: dict[str, Any], param: str, needle: str
) -> None:
    pytest.importorskip("llmrouter_openai")
    with pytest.raises(InvalidRequestError) as info:
        run("sync", {}, model="openai/gpt-4o-mini", api_base=emu.base_url, api_key=KEY, **options)
    check_error(info.value, param)
    assert needle in str(info.value)
    assert_nothing_sent(emu)


def test_openai_allowed_tools_choice_is_accepted() -> None:
    """OpenAI documents tool_choice={'type': 'allowed_tools', ...}: validated, not refused."""
    pytest.importorskip("llmrouter_openai")
    from llmrouter_openai.options import ChatOptions

    tools = [*TOOLS, _fn("get_time")]
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [_fn("get_time")]},
    }
    options = validate_options(
        ChatOptions, {"tools": tools, "tool_choice": choice}, provider="openai", what="chat"
    )
    assert options.tool_choice == choice


# --- pure unit tests of the checks ----------------------------------------------------------------


def test_header_values_accept_what_http_allows() -> None:
    for ok in ("", "1", "Bearer abc.def", "a\tb", "a b", "x" * 8000, "!#$%&'*+-.^_`|~"):
        assert header_value_problem(ok) is None, ok
    assert validate_headers({"X-Trace": "a b", "x-api-version": "2024-01-01"}) == {
        "X-Trace": "a b",
        "x-api-version": "2024-01-01",
    }


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("a\r\nb", "line break"),
        ("a\nb", "line break"),
        ("a\x00", "control character '\\x00' at position 1"),
        ("caf\u00e9", "non-ASCII character at position 3"),
        (" a", "leading or trailing whitespace"),
        ("a\t", "leading or trailing whitespace"),
        (None, "leave the header out"),
        (5, "must be a string, got int"),
    ],
)
def test_header_value_problems_say_what_and_never_quote_the_value(value: Any, needle: str) -> None:
    problem = header_value_problem(value)
    assert problem is not None and needle in problem
    if isinstance(value, str) and len(value) > 2:
        assert value not in problem


def test_reserved_header_names_are_case_insensitive_and_explained() -> None:
    for name, why in (
        ("HOST", "api_base"),
        ("Content-Length", "frames"),
        ("Upgrade", "connection"),
    ):
        with pytest.raises(InvalidRequestError, match=re.escape(why)):
            validate_headers({name: "x"})


def test_api_base_rules() -> None:
    assert validate_api_base("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    assert validate_api_base("https://[::1]:8443") == "https://[::1]:8443"
    assert validate_api_base("https://b\u00fccher.example/v1") == "https://b\u00fccher.example/v1"
    for bad, needle in (
        ("ftp://host", "http(s) URL"),
        ("http://", "no host"),
        ("https://host:0x50/v1", "not a valid URL"),
        ("https://host/v1 ", "whitespace"),
        ("https://host/v1\u00a0", "whitespace"),
        ("https://host/v1?key=secret123", "query"),
    ):
        with pytest.raises(InvalidRequestError, match=re.escape(needle)) as info:
            validate_api_base(bad)
        assert info.value.param == "api_base"
        assert "secret123" not in str(info.value)
    with pytest.raises(InvalidRequestError) as info:
        validate_api_base("https://user:hunter2pass@host/v 1")
    assert "hunter2pass" not in str(info.value) and "***@host" in str(info.value)


def test_timeout_rules() -> None:
    assert validate_timeout(1) == 1.0 and validate_timeout(MAX_TIMEOUT) == MAX_TIMEOUT
    for bad in (0, -1, float("nan"), float("inf"), MAX_TIMEOUT + 1, True, "5", None):
        with pytest.raises(InvalidRequestError) as info:
            validate_timeout(bad)
        assert info.value.param == "timeout"


def test_unhashable_role_is_an_unknown_role() -> None:
    with pytest.raises(InvalidRequestError, match="unknown role") as info:
        validate_messages([{"role": ["user"], "content": "x"}])
    assert info.value.param == "messages[0].role"


def test_check_request_passes_a_good_request_and_names_the_source_of_a_bad_one() -> None:
    from llmrouter.pipeline import Call, HTTPRequest

    call = Call(operation="chat", provider="p", model="m", extra_headers={"X-Mine": "1"})
    good = HTTPRequest("POST", "https://host/v1/chat", {"authorization": "Bearer k", "X-Mine": "1"})
    check_request(good, call)
    check_request(good, call)  # the second time from the caches
    relative = HTTPRequest("GET", "/models", {})  # for a client with base_url=: not ours to judge
    check_request(relative, call)
    for headers, param in (
        ({"authorization": "Bearer cl\u00e9"}, "api_key"),
        ({"X-Mine": "\u00e9"}, "extra_headers"),
        ({"X-Plugin": "a\nb"}, "headers"),
        ({"Bad Name": "1"}, "headers"),
    ):
        with pytest.raises(InvalidRequestError) as info:
            check_request(HTTPRequest("POST", "https://host/v1/chat", headers), call)
        assert info.value.param == param
    with pytest.raises(InvalidRequestError) as info:
        check_request(HTTPRequest("POST", "https://host/v1 /chat", {}), call)
    assert info.value.param == "api_base"


def test_tool_checks_unit() -> None:
    assert validate_tools([*TOOLS, _fn("x")]) == ["get_weather", "x"]
    validate_tool_choice(None, None)
    validate_tool_choice("none", None)  # "none" needs no tools
    validate_tool_choice("get_weather", ["get_weather"], bare_names=True)
    with pytest.raises(InvalidRequestError) as info:
        validate_tool_choice("get_weather", ["get_weather"])  # not without bare_names
    assert info.value.param == "tool_choice"
    with pytest.raises(InvalidRequestError) as info:
        validate_tool_choice({"type": "allowed_tools", "allowed_tools": {}}, ["f"])
    assert info.value.param == "tool_choice"  # allowed_tools only where the provider has it


def test_a_bad_tools_list_is_reported_alone_not_as_a_missing_one() -> None:
    """tool_choice is checked against tools only when tools itself passed."""
    from llmrouter_together.options import ChatOptions

    bad = {"tools": [_fn("")], "tool_choice": "auto"}
    with pytest.raises(InvalidRequestError) as info:
        validate_options(ChatOptions, bad, provider="together_ai", what="chat completions")
    assert info.value.param == "tools[0].function.name"
    assert "needs tools" not in str(info.value)
