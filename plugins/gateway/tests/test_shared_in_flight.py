"""In-flight counts shared across gateway processes for ``least-busy`` (``shared.py``'s
:class:`SharedInFlight` over :meth:`RedisLimiter.share_in_flight`).

First the exchange script on a real Redis (each test on its own key prefix), then two routing
tables exchanging through it, then the real thing: two ``llmrouter serve`` processes on one
Redis, one holding a slow call on deployment A; the other, which has nothing in flight itself,
sends everything to B while that call lasts.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmrouter._routing import Routing
from llmrouter.config import GatewaySettings, load_config
from llmrouter.errors import ConfigError, InvalidRequestError
from llmrouter.testing import Fault, TogetherEmulator
from llmrouter.testing.services import require_redis
from llmrouter_gateway.limits import MemoryLimiter, RedisLimiter
from llmrouter_gateway.shared import SharedInFlight

from .conftest import TOGETHER_KEY, start_gateway, two_deployments_toml
from .keys_support import REDIS_URL

M = "together_ai/m"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limiter() -> Iterator[RedisLimiter]:
    """A Redis limiter on a prefix of its own, its keys removed afterwards."""
    require_redis()
    prefix = f"llmrouter-test:{uuid.uuid4().hex[:8]}:"
    yield RedisLimiter(REDIS_URL, prefix=prefix)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


def test_each_process_reads_the_sum_of_the_others(limiter: RedisLimiter) -> None:
    async def run() -> None:
        try:
            assert (
                await limiter.share_in_flight("p1", {"chat/a": 3, "chat/b": 0}, ttl_seconds=5) == {}
            )
            two = await limiter.share_in_flight("p2", {"chat/a": 1, "chat/b": 2}, ttl_seconds=5)
            assert two == {"chat/a": 3, "chat/b": 0}
            three = await limiter.share_in_flight("p3", {"chat/a": 0}, ttl_seconds=5)
            assert three == {"chat/a": 4, "chat/b": 2}
            # a process's own counts are never in its own sums, and a new report replaces its last
            one = await limiter.share_in_flight("p1", {"chat/a": 7}, ttl_seconds=5)
            assert one == {"chat/a": 1, "chat/b": 2}
            assert (await limiter.share_in_flight("p2", {}, ttl_seconds=5))["chat/a"] == 7
            # a clean stop withdraws at once
            await limiter.withdraw_in_flight("p1", ["chat/a", "chat/b"])
            assert await limiter.share_in_flight("p3", {}, ttl_seconds=5) == {
                "chat/a": 1,
                "chat/b": 2,
            }
        finally:
            await limiter.aclose()

    asyncio.run(run())


def test_a_process_that_stops_reporting_drops_out_after_its_ttl() -> None:
    require_redis()
    clock = Clock()
    prefix = f"llmrouter-test:{uuid.uuid4().hex[:8]}:"
    limiter = RedisLimiter(REDIS_URL, prefix=prefix, clock=clock)

    async def run() -> None:
        try:
            await limiter.share_in_flight("dead", {"chat/a": 9}, ttl_seconds=2)
            clock.now += 1.9
            assert await limiter.share_in_flight("live", {}, ttl_seconds=2) == {"chat/a": 9}
            clock.now += 0.2  # 2.1 s after its last report
            assert await limiter.share_in_flight("live", {}, ttl_seconds=2) == {}
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(REDIS_URL)
            try:  # and its field is gone, not only ignored
                fields = await client.hkeys(f"{prefix}inflight-shared")
                assert sorted(fields) == []  # "live" reported nothing
                await client.delete(f"{prefix}inflight-shared")
            finally:
                await client.aclose()
        finally:
            await limiter.aclose()

    asyncio.run(run())


@pytest.mark.parametrize(
    ("process", "counts", "says"),
    [
        ("a|b", {"x": 1}, "must not contain '|'"),
        ("p", {"x": -1}, "must be an integer >= 0"),
        ("p", {"x": True}, "must be an integer >= 0"),
        ("", {"x": 1}, "process"),
    ],
)
def test_share_in_flight_refuses_bad_input(
    limiter: RedisLimiter, process: str, counts: dict[str, Any], says: str
) -> None:
    async def run() -> None:
        with pytest.raises(InvalidRequestError, match=says):
            await limiter.share_in_flight(process, counts, ttl_seconds=1)

    asyncio.run(run())


def _routing() -> Routing:
    cfg = load_config(
        {
            "router": {"num_retries": 0},
            "models": {
                "chat": {
                    "strategy": "least-busy",
                    "deployments": [{"model": M, "name": "a"}, {"model": M, "name": "b"}],
                },
                "weighted": {
                    "deployments": [{"model": M, "name": "x"}, {"model": M, "name": "y"}],
                },
            },
        }
    )
    return Routing(cfg, rng=random.Random(7))


def test_two_routing_tables_balance_over_each_others_calls(limiter: RedisLimiter) -> None:
    async def run() -> None:
        first, second = _routing(), _routing()
        one = SharedInFlight(first, limiter, interval=3600)
        two = SharedInFlight(second, limiter, interval=3600)
        try:
            # only least-busy aliases with several deployments are exchanged
            assert one._aliases == ["chat"]
            held = []
            for _ in range(4):  # four calls in flight in the first process, all on "a"
                plan = first.plan("chat")
                first.set_in_flight_elsewhere("chat", {"b": 100})  # steer them to "a"
                held.append((plan, plan.next()))
            assert first.in_flight("chat") == {"a": 4, "b": 0}
            await one.exchange_once()
            assert await two.exchange_once() == {"chat": {"a": 4, "b": 0}}
            # the second process, idle itself, sends its next calls to "b" until it has 4 there
            chosen = []
            for _ in range(4):
                plan = second.plan("chat")
                step = plan.next()
                chosen.append(step.target.name)  # type: ignore[union-attr]
            assert chosen == ["b", "b", "b", "b"]
            await two.exchange_once()
            assert await one.exchange_once() == {"chat": {"a": 0, "b": 4}}
            for plan, step in held:
                plan.succeeded(step)  # type: ignore[arg-type]
            await one.exchange_once()
            assert await two.exchange_once() == {"chat": {"a": 0, "b": 0}}
        finally:
            await one.stop()
            await two.stop()
            await limiter.aclose()

    asyncio.run(run())


def test_open_shares_only_what_least_busy_reads() -> None:
    settings = GatewaySettings(redis_url=REDIS_URL, inflight_sync_interval=0.1)
    rt = _routing()
    # no Redis limiter: one process, nothing to exchange
    assert SharedInFlight.open(rt, settings, MemoryLimiter()) is None
    redis_limiter = RedisLimiter(REDIS_URL)
    shared = SharedInFlight.open(rt, settings, redis_limiter)
    assert shared is not None and shared.interval == 0.1 and shared.ttl == 1.0
    cfg = load_config({"models": {"w": {"deployments": [{"model": M}, {"model": M}]}}})
    assert SharedInFlight.open(Routing(cfg), settings, redis_limiter) is None
    with pytest.raises(ConfigError, match="inflight_sync_interval must be a positive"):
        SharedInFlight(rt, redis_limiter, interval=0)


def _config(path: Path, a: str, b: str, names: tuple[str, str]) -> Path:
    shared = f'redis_url = "{REDIS_URL}"\ninflight_sync_interval = 0.05\n'
    return two_deployments_toml(path, a, b, names, gateway=shared, strategy="least-busy")


def _chat(base_url: str) -> int:
    reply = httpx.post(
        f"{base_url}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    return reply.status_code


def test_least_busy_counts_the_other_gateways_calls(tmp_path: Path) -> None:
    require_redis()
    names = (f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}")
    env = {"GW_TOGETHER_KEY": TOGETHER_KEY}
    with TogetherEmulator() as a, TogetherEmulator() as b:
        a.add_fault(Fault(delay=6.0))  # every call to A hangs for 6 s
        first = start_gateway(_config(tmp_path / "1.toml", a.base_url, b.base_url, names), env=env)
        second = start_gateway(_config(tmp_path / "2.toml", a.base_url, b.base_url, names), env=env)
        background: list[threading.Thread] = []
        try:
            # gateway 1 sends one call at a time until one hangs on A (least-busy ties at
            # random): a call that went to B ends at once and the next one starts
            deadline = time.monotonic() + 10
            while not a.requests:
                assert time.monotonic() < deadline, "no call of gateway 1 ever reached A"
                call = threading.Thread(target=_chat, args=(first.base_url,), daemon=True)
                call.start()
                background.append(call)
                while call.is_alive() and not a.requests:
                    time.sleep(0.005)
            time.sleep(0.5)  # ten exchange intervals: gateway 2 knows of A's call
            to_b_before = len(b.requests)
            assert len(a.requests) == 1, "gateway 1 sent A more than one call"
            codes = [_chat(second.base_url) for _ in range(20)]
            assert codes == [200] * 20
            # idle itself, gateway 2 sees A busy elsewhere and B free: all 20 go to B (with
            # ties broken at random, as without the exchange, about 10 would hang on A)
            assert len(a.requests) == 1
            assert len(b.requests) - to_b_before == 20
        finally:
            first.stop()
            second.stop()
            for call in background:
                call.join(timeout=10)


def test_an_unreachable_redis_keeps_the_last_counts_for_a_ttl_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> None:
        clock = Clock()
        rt = _routing()
        dead = RedisLimiter("redis://127.0.0.1:1/0", connect_timeout=0.2)
        shared = SharedInFlight(rt, dead, interval=0.2, clock=clock)  # ttl 1 s, never started
        rt.set_in_flight_elsewhere("chat", {"a": 3})
        try:
            for _ in range(3):
                with pytest.raises(Exception):  # noqa: B017 - the limiter's typed error
                    await shared.exchange_once()
                shared._failed(RuntimeError("down"))
            assert shared.exchanges == 0 and shared.failures == 3
            assert rt.snapshot()["chat"][0]["in_flight_elsewhere"] == 3  # the last news kept
            clock.now += shared.ttl + 0.1  # as old as Redis would let them get: forgotten
            shared._failed(RuntimeError("still down"))
            assert rt.snapshot()["chat"][0]["in_flight_elsewhere"] == 0
        finally:
            await shared.stop()
            await dead.aclose()

    with caplog.at_level("WARNING", logger="llmrouter.gateway"):
        asyncio.run(run())
    warnings = [r.getMessage() for r in caplog.records if "shared_in_flight" in r.getMessage()]
    # several failures and a failed withdrawal, but one warning per ten seconds
    assert len(warnings) == 1, warnings
    assert "least-busy keeps the other processes' last counts meanwhile" in warnings[0]
