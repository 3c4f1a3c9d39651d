"""Deployment cooldowns shared across gateway processes (``shared.py``).

First the bridge on its own: two routing tables on one in-process limiter stand for two
processes on one Redis. Then the real thing: two ``llmrouter serve`` processes on one Redis in
front of two emulators, one deployment failing; the process that did not see the failures
sends it nothing once the other ejected it, and (the control) does without Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmrouter._routing import Routing
from llmrouter.config import GatewaySettings, load_config
from llmrouter.errors import ConfigError
from llmrouter.testing import Fault, TogetherEmulator
from llmrouter.testing.services import require_redis
from llmrouter_gateway.limits import LimiterUnavailableError, MemoryLimiter
from llmrouter_gateway.shared import (
    ECHO_TOLERANCE,
    SharedCooldowns,
    cooldown_key,
    shared_redis_url,
)

from .conftest import TOGETHER_KEY, GatewayProcess, start_gateway, two_deployments_toml
from .keys_support import REDIS_URL

M = "together_ai/m"


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def routing(clock: Clock, duration: float = 30) -> Routing:
    cfg = load_config(
        {
            "router": {
                "num_retries": 0,
                "cooldown": {"min_requests": 2, "failure_rate": 0.5, "duration": duration},
            },
            "models": {
                "chat": {"deployments": [{"model": M, "name": "a"}, {"model": M, "name": "b"}]},
                "solo": {"deployments": [{"model": M, "name": "only"}]},
            },
        }
    )
    return Routing(cfg, clock=clock)


def trip(rt: Routing, name: str) -> None:
    target = next(t for t in rt.routes["chat"].targets if t.name == name)
    for _ in range(2):
        with rt._lock:
            rt._record(target, False, rt.clock())


def cooling(rt: Routing, name: str) -> bool:
    return bool(next(r["cooling"] for r in rt.snapshot()["chat"] if r["name"] == name))


def trips(rt: Routing, name: str) -> int:
    return int(next(r["trips"] for r in rt.snapshot()["chat"] if r["name"] == name))


async def started(bridge: SharedCooldowns) -> None:
    """Start the bridge and let its background loop finish its first read, so that the
    test's own reads (``sync_once``) are the only ones until the (long) interval passes."""
    bridge.start()
    while bridge.syncs == 0:
        await asyncio.sleep(0)


async def settle(bridge: SharedCooldowns) -> None:
    """Let the publishes scheduled by on_trip run and land."""
    for _ in range(5):
        await asyncio.sleep(0)
    if bridge._publishing:
        await asyncio.wait(set(bridge._publishing))


def test_a_trip_in_one_process_cools_the_deployment_in_the_other() -> None:
    async def run() -> None:
        clock = Clock()
        limiter = MemoryLimiter(clock=clock)
        first, second = routing(clock), routing(clock)
        one = SharedCooldowns(first, limiter, interval=3600, clock=clock)
        two = SharedCooldowns(second, limiter, interval=3600, clock=clock)
        await started(one)
        await started(two)
        try:
            assert await two.sync_once() == 0  # nothing cooling anywhere yet
            trip(first, "a")
            await settle(one)
            assert one.published == 1
            assert await limiter.cooling("4:chat/a") == pytest.approx(30)
            assert not cooling(second, "a")
            clock.now += 4
            assert await two.sync_once() == 1
            assert cooling(second, "a") and not cooling(second, "b")
            assert trips(second, "a") == 1
            # it cools for the time left on the flag, not a fresh full cooldown
            row = next(r for r in second.snapshot()["chat"] if r["name"] == "a")
            assert row["cooldown_until"] == pytest.approx(clock.now + 26)
            # the second process does not publish what it learnt (no echo back)
            await settle(two)
            assert two.published == 0
            # read again: already known, not applied twice, in either process
            assert await two.sync_once() == 0
            assert await one.sync_once() == 0
            assert trips(first, "a") == 1 and trips(second, "a") == 1
            # a single-deployment alias never cools: not even read
            assert all(alias == "chat" for alias, _, _ in one._watched)
        finally:
            await one.stop()
            await two.stop()
        assert first.on_trip is None and second.on_trip is None

    asyncio.run(run())


def test_the_end_of_a_cooldown_is_not_taken_for_a_new_one() -> None:
    """A process's own cooldown ends a moment before the flag it published: reading the flag
    then must not eject the deployment again (a spurious trip per cooldown)."""

    async def run() -> None:
        clock = Clock()
        limiter = MemoryLimiter(clock=clock)
        rt = routing(clock, duration=10)
        bridge = SharedCooldowns(rt, limiter, interval=3600, clock=clock)
        await started(bridge)
        try:
            trip(rt, "a")
            clock.now += ECHO_TOLERANCE / 4  # the publish lands a little later
            await settle(bridge)
            clock.now += 10 - ECHO_TOLERANCE / 4 + 0.05  # the local cooldown is over, the flag not
            assert not cooling(rt, "a")
            assert await limiter.cooling("4:chat/a") is not None
            assert await bridge.sync_once() == 0
            assert not cooling(rt, "a") and trips(rt, "a") == 1
        finally:
            await bridge.stop()

    asyncio.run(run())


def test_a_longer_cooldown_from_elsewhere_is_applied_over_a_known_one() -> None:
    """The other process's half-open trial failed and it ejected the deployment again: this
    process applies that even though it already knew of the first cooldown."""

    async def run() -> None:
        clock = Clock()
        limiter = MemoryLimiter(clock=clock)
        rt = routing(clock, duration=10)
        bridge = SharedCooldowns(rt, limiter, interval=3600, clock=clock)
        await started(bridge)
        try:
            await limiter.set_cooldown("4:chat/a", 10)
            assert await bridge.sync_once() == 1
            clock.now += 10.1
            assert not cooling(rt, "a")  # half-open here
            await limiter.set_cooldown("4:chat/a", 10)  # ejected again elsewhere
            assert await bridge.sync_once() == 1
            assert cooling(rt, "a") and trips(rt, "a") == 2
        finally:
            await bridge.stop()

    asyncio.run(run())


class BrokenLimiter(MemoryLimiter):
    name = "redis"

    async def set_cooldown(self, deployment: str, seconds: float) -> float:
        raise LimiterUnavailableError("the rate limiter's Redis at redis://x failed: down")

    async def cooling(self, deployment: str) -> float | None:
        raise LimiterUnavailableError("the rate limiter's Redis at redis://x failed: down")


def test_an_unreachable_redis_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> SharedCooldowns:
        clock = Clock()
        rt = routing(clock)
        bridge = SharedCooldowns(rt, BrokenLimiter(), interval=0.01, clock=clock)
        bridge.start()
        try:
            trip(rt, "a")  # the breaker still works here
            await settle(bridge)
            assert cooling(rt, "a")
            assert await bridge.sync_once() == 0
            await asyncio.sleep(0.05)  # the background loop survives failing reads
            assert bridge._task is not None and not bridge._task.done()
        finally:
            await bridge.stop()
        return bridge

    caplog.set_level(logging.WARNING, logger="llmrouter.gateway")
    bridge = asyncio.run(run())
    assert bridge.publish_failures == 1 and bridge.published == 0
    warnings = [r for r in caplog.records if "shared_cooldown_unavailable" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited: one per _WARN_EVERY seconds
    assert "could not publish the cooldown of 4:chat/a" in warnings[0].getMessage()


def test_open_needs_redis_and_reuses_a_redis_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = routing(Clock())
    assert SharedCooldowns.open(rt, GatewaySettings()) is None
    keys_limiter = BrokenLimiter()
    settings = GatewaySettings(redis_url=REDIS_URL, cooldown_sync_interval=0.25)
    reused = SharedCooldowns.open(rt, settings, limiter=keys_limiter)
    assert reused is not None and reused.limiter is keys_limiter and reused.interval == 0.25
    own = SharedCooldowns.open(rt, settings, limiter=MemoryLimiter())
    assert own is not None and own.limiter.name == "redis" and own._owns_limiter
    monkeypatch.delenv("GW_SHARED_REDIS_UNSET", raising=False)
    with pytest.raises(ConfigError, match="GW_SHARED_REDIS_UNSET"):
        shared_redis_url(GatewaySettings(redis_url_env="GW_SHARED_REDIS_UNSET"))
    monkeypatch.setenv("GW_SHARED_REDIS_SET", "redis://:hunter2@127.0.0.1:6379/0")
    assert shared_redis_url(GatewaySettings(redis_url_env="GW_SHARED_REDIS_SET")) == (
        "redis://:hunter2@127.0.0.1:6379/0"
    )
    assert "hunter2" not in repr(
        SharedCooldowns.open(rt, GatewaySettings(redis_url_env="GW_SHARED_REDIS_SET"))
    )
    with pytest.raises(ConfigError, match="positive number of seconds"):
        SharedCooldowns(rt, MemoryLimiter(), interval=0)


def test_cooldown_sync_interval_is_validated() -> None:
    with pytest.raises(ConfigError, match="cooldown_sync_interval"):
        load_config({"gateway": {"cooldown_sync_interval": 0}})
    assert GatewaySettings().cooldown_sync_interval == 1.0


# --- two real gateway processes ---------------------------------------------------------------

#: Seconds a tripped deployment cools down in the process tests: long enough for the checks
#: that run inside it (the test verifies on Redis that it had not ended), short enough to wait.
DURATION = 8
SYNC = 0.1


def _config(path: Path, a: str, b: str, names: tuple[str, str], *, redis: bool) -> Path:
    shared = f'redis_url = "{REDIS_URL}"\ncooldown_sync_interval = {SYNC}\n' if redis else ""
    breaker = (
        "backoff_base = 0.0\n\n[router.cooldown]\nmin_requests = 2\nfailure_rate = 0.5\n"
        f"duration = {DURATION}\n"
    )
    return two_deployments_toml(path, a, b, names, gateway=shared, router=breaker)


def _chat(gateway: GatewayProcess) -> None:
    reply = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    # a failing deployment is retried on the other one: the caller always gets an answer
    assert reply.status_code == 200, reply.text


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL)


@pytest.fixture
def two_emulators() -> Iterator[tuple[TogetherEmulator, TogetherEmulator]]:
    with TogetherEmulator() as a, TogetherEmulator() as b:
        yield a, b


def _run(
    tmp_path: Path, a: TogetherEmulator, b: TogetherEmulator, *, redis: bool
) -> dict[str, Any]:
    """Trip deployment A on gateway 1, then send 30 requests through gateway 2; returns what
    emulator A received from gateway 2 and (with Redis) what happened around the cooldown."""
    names = (f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}")
    flag = f"llmrouter:cooldown:4:chat/{names[0]}"
    env = {"GW_TOGETHER_KEY": TOGETHER_KEY}
    first = start_gateway(
        _config(tmp_path / "first.toml", a.base_url, b.base_url, names, redis=redis), env=env
    )
    second = start_gateway(
        _config(tmp_path / "second.toml", a.base_url, b.base_url, names, redis=redis), env=env
    )
    out: dict[str, Any] = {}
    try:
        a.add_fault(Fault(status=500))
        for _ in range(100):  # until gateway 1 has seen min_requests failures on A
            _chat(first)
            if len(a.requests) >= 2:
                break
        assert len(a.requests) == 2
        for _ in range(10):  # gateway 1 has ejected A: it sends it nothing more
            _chat(first)
        assert len(a.requests) == 2
        if redis:
            client = _redis()
            try:
                deadline = time.monotonic() + 10
                while client.pttl(flag) <= 0:  # published without waiting for a request
                    assert time.monotonic() < deadline, "gateway 1 never published the cooldown"
                    time.sleep(0.01)
            finally:
                client.close()
            deadline = time.monotonic() + 30
            while "shared_cooldown:" not in second.output():  # gateway 2 has read it
                assert time.monotonic() < deadline, second.output()
                time.sleep(0.01)
        before = len(a.requests)
        for _ in range(30):
            _chat(second)
        out["second_to_a"] = len(a.requests) - before
        out["second_to_b"] = sum(1 for _ in b.requests)
        if redis:
            client = _redis()
            try:
                # the checks above ran inside the cooldown, or they prove nothing
                out["left_after_checks"] = client.pttl(flag)
                a.clear_faults()  # A recovers; once the cooldown ends, gateway 2 uses it again
                while client.pttl(flag) > 0:
                    time.sleep(0.05)
            finally:
                client.close()
            time.sleep(SYNC * 5)
            before = len(a.requests)
            for _ in range(30):
                _chat(second)
            out["second_to_a_after"] = len(a.requests) - before
    finally:
        first.stop()
        second.stop()
        if redis:
            client = _redis()
            client.delete(flag, f"llmrouter:cooldown:4:chat/{names[1]}")
            client.close()
    return out


def test_a_cooldown_seen_by_one_gateway_is_honoured_by_the_other(
    two_emulators: tuple[TogetherEmulator, TogetherEmulator], tmp_path: Path
) -> None:
    require_redis()
    a, b = two_emulators
    out = _run(tmp_path, a, b, redis=True)
    assert out["left_after_checks"] > 0, "the cooldown ended before the checks: inconclusive"
    assert out["second_to_a"] == 0
    # a cooldown, not a ban: when it is over and A answers again, gateway 2 sends it traffic
    assert out["second_to_a_after"] > 0


def test_without_redis_the_other_gateway_finds_out_alone(
    two_emulators: tuple[TogetherEmulator, TogetherEmulator], tmp_path: Path
) -> None:
    """The control for the test above: same traffic, no Redis. Gateway 2 has to see A fail
    ``min_requests`` times itself before it ejects it."""
    a, b = two_emulators
    out = _run(tmp_path, a, b, redis=False)
    assert out["second_to_a"] == 2


def test_aliases_and_deployments_with_slashes_never_share_a_flag() -> None:
    assert cooldown_key("a/b", "c") != cooldown_key("a", "b/c")
    assert cooldown_key("openai/gpt-4o", "east") == "13:openai/gpt-4o/east"
