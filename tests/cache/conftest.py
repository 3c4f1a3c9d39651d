"""Fixtures for the response cache tests: a controllable clock, a private plugin host with the
Together provider, and the real Redis at 127.0.0.1:6379 (skipped when absent, unless
``LLMROUTER_REQUIRE_SERVICES=1`` makes its absence a failure)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from llmrouter._plugins import PluginHost
from llmrouter.testing.services import require_redis

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    """A clock the test moves by hand: expiry is tested without sleeping."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def host() -> PluginHost:
    """A private host (no entry points read) that knows the Together provider."""
    from llmrouter_together.plugin import provider

    plugin_host = PluginHost(autoload=False)
    plugin_host.register_provider("together_ai", provider)
    return plugin_host


@pytest.fixture
def redis_url() -> str:
    """The Redis URL, after checking the server answers."""
    require_redis()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own, whose keys are deleted afterwards."""
    import redis

    prefix = f"llmrouter:cache:test-{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        names = list(client.scan_iter(match=prefix + "*"))
        if names:
            client.delete(*names)
    finally:
        client.close()
