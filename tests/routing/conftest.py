"""Fixtures for the routing tests; helpers live in routing_support.py (importable by tests)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from routing_support import KEY, KEY_ENV, Client


@pytest.fixture(autouse=True)
def _routing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(mode: str) -> Iterator[Callable[[Any], Client]]:
    """``make_client(config)`` -> a Router or AsyncRouter (per ``mode``), closed afterwards."""
    made: list[Client] = []

    def make(cfg: Any) -> Client:
        client = Client(mode, cfg)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog, recording llmrouter's INFO events (one per attempt and one per call)."""
    caplog.set_level(logging.INFO, logger="llmrouter")
    return caplog
