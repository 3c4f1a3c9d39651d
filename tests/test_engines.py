"""The async engines and the hot-path shortcuts behave exactly like the plain paths.

The aiohttp engine (``AsyncRouter(engine="aiohttp")``, extra ``llmrouter[aiohttp]``) makes real
calls against the emulator here: same request on the wire, same results, same errors as the
default httpx engine. The shortcuts of docs/performance.md (direct stage calls, direct request
building, dict response headers) are checked against what pluggy and httpx would do.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import llmrouter
from llmrouter import _http, hookimpl
from llmrouter._plugins import PluginHost
from llmrouter.pipeline import Call, ChatPrompt, HTTPRequest
from llmrouter.testing import Fault, TogetherEmulator

pytest.importorskip("httpx_aiohttp")

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello there"}]
WIRE_HEADERS = ("content-type", "user-agent", "accept", "accept-encoding", "authorization")


def _wire(emu: TogetherEmulator) -> tuple[dict[str, str], Any]:
    last = emu.last_request
    assert last is not None
    return {k: last.headers.get(k, "") for k in WIRE_HEADERS}, last.body


# --- the aiohttp engine ----------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["aiohttp", "native"])
@pytest.mark.asyncio
async def test_aiohttp_engine_real_call(
    engine: str, emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    async with llmrouter.AsyncRouter() as plain:
        expected = await plain.completion(model=MODEL, messages=MESSAGES, max_tokens=20, **where)
    plain_wire = _wire(emu)
    async with llmrouter.AsyncRouter(engine=engine) as router:
        assert isinstance(router.http_client, _http.AiohttpAsyncClient)
        assert (type(router.http_client) is _http.NativeAsyncClient) == (engine == "native")
        assert isinstance(router.http_client, httpx.AsyncClient)  # the httpx API is kept
        response = await router.completion(model=MODEL, messages=MESSAGES, max_tokens=20, **where)
    assert _wire(emu) == plain_wire  # same headers and body on the wire
    assert emu.last_request is not None and emu.last_request.key_matches(where["api_key"])
    assert response.choices[0].message.content == expected.choices[0].message.content
    assert "deterministic reply" in response["choices"][0]["message"]["content"]
    assert response.model_dump().keys() == expected.model_dump().keys()
    assert response.llmrouter.provider == "together_ai"
    assert response.llmrouter.endpoint == "/chat/completions"


@pytest.mark.parametrize("engine", ["aiohttp", "native"])
@pytest.mark.asyncio
async def test_aiohttp_engine_header_merge_matches_httpx(
    engine: str, emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    """The direct path caches which client defaults a request keeps, by the names of its own
    headers; the wire must still match httpx's merge, call after call and after the client's
    headers change."""
    names = (*WIRE_HEADERS, "x-extra")

    async def wire(engine: str | None, extra: dict[str, str], default: str | None) -> Any:
        async with llmrouter.AsyncRouter(engine=engine) as router:
            if default is not None:
                router.http_client.headers["x-extra"] = default
            seen = []
            for _ in range(2):
                await router.completion(
                    model=MODEL, messages=MESSAGES, extra_headers=extra, **where
                )
                last = emu.last_request
                assert last is not None
                seen.append({k: last.headers.get(k, "") for k in names})
            if default is not None:  # a change of the client's defaults is seen at once
                router.http_client.headers["x-extra"] = default + "-changed"
                await router.completion(model=MODEL, messages=MESSAGES, **where)
                last = emu.last_request
                assert last is not None
                seen.append({k: last.headers.get(k, "") for k in names})
            return seen

    cases = [
        ({"User-Agent": "mine/1.0"}, None),
        ({"ACCEPT": "text/plain", "X-Extra": "own"}, "default"),
        ({}, "default"),
    ]
    for extra, default in cases:
        expected = await wire(None, extra, default)
        got = await wire(engine, extra, default)
        assert got == expected, (extra, default)
        assert got[0]["user-agent"] == extra.get("User-Agent", f"llmrouter/{llmrouter.__version__}")


@pytest.mark.parametrize("engine", ["aiohttp", "native"])
@pytest.mark.asyncio
async def test_aiohttp_engine_stream_and_httpx_api(
    engine: str, emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    client = _http.make_async_client(30.0, engine)
    async with llmrouter.AsyncRouter(http_client=client) as router:
        stream = await router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "deterministic reply" in text
        assert stream.usage is not None
        # Plain httpx calls share the same aiohttp session.
        models = await router.http_client.get(
            emu.base_url + "/models", headers={"authorization": "Bearer " + where["api_key"]}
        )
        assert models.status_code == 200 and isinstance(models.json(), list)
    # The router did not own the client, but leaving its block closes nothing it must not.


@pytest.mark.parametrize("engine", ["aiohttp", "native"])
@pytest.mark.asyncio
async def test_aiohttp_engine_errors_match_default(
    engine: str, emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    errors: list[llmrouter.RateLimitError] = []
    for name in (None, engine):
        emu.add_fault(Fault(status=429, retry_after=2), times=1)
        async with llmrouter.AsyncRouter(engine=name) as router:
            with pytest.raises(llmrouter.RateLimitError) as info:
                await router.completion(model=MODEL, messages=MESSAGES, **where)
        errors.append(info.value)
    plain, fast = errors
    assert (fast.status_code, fast.retry_after, fast.rate_limit, fast.code) == (
        plain.status_code,
        plain.retry_after,
        plain.rate_limit,
        plain.code,
    )
    assert fast.headers["retry-after"] == "2"


@pytest.mark.parametrize("engine", ["aiohttp", "native"])
@pytest.mark.asyncio
async def test_aiohttp_engine_transport_errors(engine: str, emu: TogetherEmulator) -> None:
    async with llmrouter.AsyncRouter(engine=engine) as router:
        with pytest.raises(llmrouter.APIConnectionError):
            await router.completion(
                model=MODEL, messages=MESSAGES, api_base="http://127.0.0.1:9/v1", api_key="k"
            )
        emu.add_fault(Fault(delay=2.0), times=1)
        with pytest.raises(llmrouter.APITimeoutError):
            await router.completion(
                model=MODEL, messages=MESSAGES, api_base=emu.base_url, api_key="k", timeout=0.3
            )
        emu.add_fault(Fault(cut_after=0), times=1)
        with pytest.raises(llmrouter.APIConnectionError):
            await router.completion(
                model=MODEL, messages=MESSAGES, api_base=emu.base_url, api_key="k"
            )


@pytest.mark.parametrize("engine", ["aiohttp", "native"])
@pytest.mark.asyncio
async def test_aiohttp_engine_routed_calls_take_send_call(
    engine: str, emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routed calls reach the aiohttp session through ``send_call`` (the one-coroutine form of
    the direct path): same results and the same error mapping."""
    config = {
        "models": {
            "chat": {
                "deployments": [
                    {"model": MODEL, "api_base": emu.base_url, "api_key_env": "POOL_TEST_KEY"}
                ]
            },
            "dead": {
                "deployments": [
                    {
                        "model": MODEL,
                        "api_base": "http://127.0.0.1:9/v1",
                        "api_key_env": "POOL_TEST_KEY",
                    }
                ]
            },
        },
        "router": {"num_retries": 0},
    }
    monkeypatch.setenv("POOL_TEST_KEY", "k")
    async with llmrouter.AsyncRouter(engine=engine, config=config) as router:
        client = router.http_client
        assert isinstance(client, _http.AiohttpAsyncClient)
        sent: list[int] = []
        original = client.send_call

        async def counting(request: HTTPRequest, call: Call, *rest: Any) -> Any:
            sent.append(1)
            return await original(request, call, *rest)

        monkeypatch.setattr(client, "send_call", counting)
        response = await router.completion(model="chat", messages=MESSAGES)
        assert "deterministic reply" in response.choices[0].message.content
        assert response.llmrouter.alias == "chat"
        with pytest.raises(llmrouter.AllDeploymentsFailedError, match="APIConnectionError"):
            await router.completion(model="dead", messages=MESSAGES)
        assert len(sent) == 2


def test_engine_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        llmrouter.AsyncRouter(engine="curl")
    with pytest.raises(ValueError, match="not both"):
        llmrouter.AsyncRouter(engine="aiohttp", http_client=httpx.AsyncClient())


# --- request building, response headers -------------------------------------------------------


@pytest.mark.parametrize(
    "client",
    [
        _http.make_sync_client(),
        httpx.Client(headers={"X-Custom": "1", "Accept": "text/plain"}),
        httpx.AsyncClient(params={"q": "1"}),
    ],
)
@pytest.mark.parametrize("timeout", [None, 5.0])
def test_build_request_matches_httpx(
    client: httpx.Client | httpx.AsyncClient, timeout: Any
) -> None:
    call = Call(operation="chat", provider="p", model="m", timeout=timeout)
    headers = {"Accept": "x/y", "authorization": "Bearer k"}
    request = HTTPRequest("POST", "http://127.0.0.1:9/v1/chat/completions", headers, {"a": "é"})
    built = _http.build_httpx_request(client, request, call)
    expected = client.build_request(
        "POST",
        request.url,
        headers={"content-type": "application/json", **headers},
        content=_http.encode_json(request.json),
    )
    if timeout is not None:
        expected.extensions["timeout"] = _http.to_timeout(timeout).as_dict()
    assert built.headers.raw == expected.headers.raw
    assert (built.method, built.url, built.content) == (
        expected.method,
        expected.url,
        expected.content,
    )
    assert built.extensions == expected.extensions


def test_response_headers_are_case_insensitive() -> None:
    raw = [(b"X-Request-ID", b"abc"), (b"Set-Thing", b"1"), (b"set-thing", b"2")]
    headers = _http.ResponseHeaders.from_raw(raw)
    assert headers["x-request-id"] == headers["X-Request-Id"] == "abc"
    assert headers.get("SET-THING") == httpx.Headers(raw).get("set-thing") == "1, 2"
    assert "X-REQUEST-ID" in headers and 3 not in headers
    assert dict(headers) == {"x-request-id": "abc", "set-thing": "1, 2"}


# --- stage callers ------------------------------------------------------------------------------


class _Provider:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def llmrouter_format_prompt(self, call: Any) -> Any:
        return ChatPrompt(call.messages)

    @hookimpl
    def llmrouter_build_request(self, call: Any, prompt: Any) -> Any:
        return None


class _Observer:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def llmrouter_format_prompt(self, call: Any) -> Any:
        self.seen.append(call.provider)
        return None


class _Wrapper:
    def __init__(self) -> None:
        self.wrapped = 0

    @hookimpl(wrapper=True)
    def llmrouter_format_prompt(self, call: Any) -> Any:
        self.wrapped += 1
        return (yield)


def test_stage_callers_follow_plugin_changes() -> None:
    host = PluginHost(autoload=False)
    host.register_provider("alpha", _Provider("alpha"))
    call = Call(operation="chat", provider="alpha", model="m", messages=MESSAGES)
    hooks = host.provider_hooks("alpha")
    assert isinstance(hooks.format_prompt(call=call), ChatPrompt)
    assert hooks.response_received(call=call, request=None, response=None) == []
    # Registered behind the host's back: the cached caller notices and defers to pluggy.
    observer = _Observer()
    host.pm.register(observer)
    assert isinstance(hooks.format_prompt(call=call), ChatPrompt)
    assert observer.seen == ["alpha"]
    host.pm.unregister(observer)
    # A wrapper goes through pluggy too.
    wrapper = _Wrapper()
    host.register_plugin(wrapper)
    assert isinstance(host.provider_hooks("alpha").format_prompt(call=call), ChatPrompt)
    assert wrapper.wrapped == 1


def test_stage_callers_respect_hook_monitoring() -> None:
    host = PluginHost(autoload=False)
    host.register_provider("alpha", _Provider("alpha"))
    call = Call(operation="chat", provider="alpha", model="m", messages=MESSAGES)
    hooks = host.provider_hooks("alpha")
    seen: list[str] = []
    undo = host.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append(name), lambda *args: None
    )
    try:
        hooks.format_prompt(call=call)
    finally:
        undo()
    assert seen == ["llmrouter_format_prompt"]
    hooks.format_prompt(call=call)
    assert seen == ["llmrouter_format_prompt"]


def test_call_info_survives_copies(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    import copy
    import pickle

    response = llmrouter.completion(model=MODEL, messages=MESSAGES, **where)
    for clone in (copy.deepcopy(response), pickle.loads(pickle.dumps(response))):
        assert clone.llmrouter == response.llmrouter
        assert clone == response
    assert "_llmrouter" not in response.model_dump()
    fresh = llmrouter.ModelResponse.model_validate(response.model_dump())
    assert fresh.llmrouter.provider is None  # no info until a router sets it


# --- the sync native engine ----------------------------------------------------------------------


def test_sync_native_engine_matches_httpx_on_the_wire(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    """``Router(engine="native")`` sends what the default sync Router sends (headers and body),
    and gives the same answers, streamed or not, and the same typed errors."""
    seen: dict[str | None, list[Any]] = {}
    for engine in (None, "native"):
        out: list[Any] = []
        with llmrouter.Router(engine=engine) as router:
            answer = router.completion(
                model=MODEL, messages=MESSAGES, extra_headers={"X-Trace": "t1"}, **where
            )
            out += [_wire(emu), emu.last_request.headers.get("x-trace")]  # type: ignore[union-attr]
            # (ids, seeds and request ids are the emulator's random picks)
            out.append((answer.choices[0].model_dump(exclude={"seed"}), answer.usage))
            stream = router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
            chunks = [(c.choices[0].delta, c.choices[0].finish_reason) for c in stream]
            out += [_wire(emu), chunks, stream.usage]
            emu.add_fault(Fault(status=429, retry_after=2), times=1)
            with pytest.raises(llmrouter.RateLimitError) as info:
                router.completion(model=MODEL, messages=MESSAGES, **where)
            err = info.value
            out.append((type(err), err.status_code, err.retry_after, err.rate_limit, err.code))
        seen[engine] = out
    assert seen["native"] == seen[None]
    assert len(seen[None][4]) > 3  # the stream had chunks to compare
