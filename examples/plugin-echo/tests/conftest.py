"""Fixtures: one Echo API server for the session, and a clean environment per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmrouter
from llmrouter_echo.server import EchoServer


@pytest.fixture(scope="session")
def echo_server() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture
def server(echo_server: EchoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EchoServer]:
    """The session server, its request log cleared, and ECHO_API_BASE pointing at it."""
    monkeypatch.delenv("ECHO_API_KEY", raising=False)
    monkeypatch.setenv("ECHO_API_BASE", echo_server.base_url)
    echo_server.clear()
    yield echo_server
    llmrouter.reset_default_routers()
