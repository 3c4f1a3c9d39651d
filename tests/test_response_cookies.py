"""Cookies on the httpx paths: what a server sets is kept and sent back, and an answer that sets
none costs nothing.

httpx reads every response's cookies by building urllib stand-ins for the request and response
(about 12% of a non-streamed call); the clients llmrouter builds skip that when the answer has
no ``Set-Cookie``/``Set-Cookie2`` header (``llmrouter._http.quiet_cookies``), and otherwise do
exactly what httpx does. (The async aiohttp and native engines send non-streamed calls without
httpx, with aiohttp's cookie handling or none: docs/quickstart.md, "Cookies".) These tests run
against a scripted server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import llmrouter
from llmrouter import _http

# (Under --import-mode=importlib a test module can import another only once pytest has
# collected it: this file's name sorts after both.)
from tests.test_http1 import MESSAGES, MODEL, reply
from tests.test_native import Scripted

KEY = "k" * 24
SETS = reply(headers=("content-type: application/json", "set-cookie: session=abc; Path=/"))
SETS2 = reply(headers=("content-type: application/json", "set-cookie2: legacy=1"))
SETS_CASED = reply(headers=("Content-Type: application/json", "SET-Cookie: cased=1; Path=/"))


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Response]:
    """The responses httpx's own cookie reading is given from now on."""
    seen: list[httpx.Response] = []
    original = httpx.Cookies.extract_cookies

    def spy(self: httpx.Cookies, response: httpx.Response) -> None:
        seen.append(response)
        original(self, response)

    monkeypatch.setattr(httpx.Cookies, "extract_cookies", spy)
    return seen


def _cookie_lines(request: bytes) -> list[bytes]:
    head = request.split(b"\r\n\r\n", 1)[0].lower()
    return [line for line in head.split(b"\r\n") if line.startswith(b"cookie:")]


def _sync(engine: str | None, server: Scripted, calls: int) -> llmrouter.Router:
    router = llmrouter.Router(engine=engine)
    for _ in range(calls):
        router.completion(model=MODEL, messages=MESSAGES, api_base=server.base, api_key=KEY)
    return router


async def _async(engine: str, server: Scripted, calls: int) -> None:
    async with llmrouter.AsyncRouter(engine=engine) as router:
        assert type(router.http_client.cookies) is _http._Cookies
        for _ in range(calls):
            await router.completion(
                model=MODEL, messages=MESSAGES, api_base=server.base, api_key=KEY
            )


@pytest.mark.parametrize("engine", [None, "native"])
def test_a_cookie_the_server_sets_is_sent_back(engine: str | None) -> None:
    server = Scripted([SETS, reply(), reply()])
    router = _sync(engine, server, 3)
    router.close()
    assert type(router.http_client.cookies) is _http._Cookies
    assert _cookie_lines(server.requests[0]) == []
    assert _cookie_lines(server.requests[1]) == [b"cookie: session=abc"]
    assert _cookie_lines(server.requests[2]) == [b"cookie: session=abc"]


@pytest.mark.parametrize("engine", ["httpx", "httpx-stock"])
def test_a_cookie_the_server_sets_is_sent_back_async(engine: str) -> None:
    server = Scripted([SETS, reply()])
    asyncio.run(_async(engine, server, 2))
    assert _cookie_lines(server.requests[1]) == [b"cookie: session=abc"]


@pytest.mark.parametrize("engine", ["aiohttp", "native"])
def test_every_async_engine_has_the_quiet_store(engine: str) -> None:
    pytest.importorskip("httpx_aiohttp")
    server = Scripted([reply()])
    asyncio.run(_async(engine, server, 1))  # (asserts the store's type)
    assert len(server.requests) == 1


def test_a_cookie_header_in_any_case_is_read() -> None:
    server = Scripted([SETS_CASED, reply()])
    _sync(None, server, 2).close()
    assert _cookie_lines(server.requests[1]) == [b"cookie: cased=1"]


def test_only_an_answer_that_sets_a_cookie_is_read_for_cookies_async(
    read: list[httpx.Response],
) -> None:
    server = Scripted([reply(), reply(), SETS])
    asyncio.run(_async("httpx", server, 3))
    assert [r.headers.get("set-cookie") for r in read] == ["session=abc; Path=/"]


@pytest.mark.parametrize("engine", [None, "native"])
def test_only_an_answer_that_sets_a_cookie_is_read_for_cookies(
    engine: str | None, read: list[httpx.Response]
) -> None:
    server = Scripted([reply(), reply(), SETS, SETS2])
    _sync(engine, server, 4).close()
    assert [r.headers.get("set-cookie") or r.headers.get("set-cookie2") for r in read] == [
        "session=abc; Path=/",
        "legacy=1",
    ]


def test_cookies_given_to_the_store_are_kept() -> None:
    client = httpx.Client(cookies={"a": "1"})
    jar = client.cookies.jar
    _http.quiet_cookies(client)
    assert type(client.cookies) is _http._Cookies
    assert client.cookies.jar is jar  # the same jar, its policy and lock
    assert dict(client.cookies) == {"a": "1"}
    client.close()


def test_a_store_set_through_the_public_setter_still_works() -> None:
    server = Scripted([reply(), SETS, reply()])
    router = llmrouter.Router()
    router.http_client.cookies = {"mine": "x"}  # httpx's own store again
    calls: list[Any] = []
    for _ in range(3):
        calls.append(
            router.completion(model=MODEL, messages=MESSAGES, api_base=server.base, api_key=KEY)
        )
    router.close()
    assert _cookie_lines(server.requests[0]) == [b"cookie: mine=x"]
    assert sorted(_cookie_lines(server.requests[2])[0].split(b": ", 1)[1].split(b"; ")) == [
        b"mine=x",
        b"session=abc",
    ]
