"""The limiter layer: per-key rpm/tpm windows, budgets, in-flight leases and cooldowns, in
process and on the real Redis at 127.0.0.1:6379.

Most tests run against both implementations with a clock moved by hand (the Redis limiter takes
the same clock in place of the server's ``TIME``), so the Lua scripts are held to the same
numbers as the Python. The concurrency tests use the real clocks, as a gateway does.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from llmrouter.errors import InvalidRequestError
from llmrouter.testing.services import require_redis
from llmrouter_gateway.limits import (
    DEFAULT_PREFIX,
    Decision,
    Limiter,
    LimiterUnavailableError,
    MemoryLimiter,
    RedisLimiter,
    make_limiter,
    track,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
WORKER = Path(__file__).with_name("limits_worker.py")
START = 1_000_000.2  # 0.2 s into bucket 1_000_000 (1-second buckets)


class FakeClock:
    """A clock the test moves by hand: windows and periods are tested without sleeping."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redis_url() -> str:
    """The Redis URL, after checking the server answers."""
    require_redis()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own, whose keys are deleted afterwards."""
    import redis

    prefix = f"{DEFAULT_PREFIX}test-limits-{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        names = list(client.scan_iter(match=prefix + "*"))
        if names:
            client.delete(*names)
    finally:
        client.close()


def redis_keys(prefix: str) -> dict[str, int]:
    """Every key under ``prefix`` with its PTTL (ms; -1 = no TTL)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return {
            name.decode(): int(client.pttl(name)) for name in client.scan_iter(match=prefix + "*")
        }
    finally:
        client.close()


Build = Callable[..., Limiter]


@pytest_asyncio.fixture(params=["memory", "redis"])
async def build(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Build]:
    """Makes limiters of one kind; Redis ones share this test's prefix (so two of them are two
    gateway processes on one server) and are closed afterwards. ``clock=None`` is the real
    clock (the server's ``TIME`` for Redis)."""
    made: list[Limiter] = []
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else ""

    def make(**options: Any) -> Limiter:
        chosen = options.pop("clock", clock)
        limiter: Limiter
        if request.param == "memory":
            limiter = (
                MemoryLimiter(**options)
                if chosen is None
                else MemoryLimiter(clock=chosen, **options)
            )
        else:
            limiter = RedisLimiter(REDIS_URL, prefix=prefix, clock=chosen, **options)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


# --- concurrency --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_500_concurrent_acquires_admit_exactly_the_rpm(build: Build) -> None:
    limiter = build(clock=None)
    decisions = await asyncio.gather(*(limiter.acquire("key-a", rpm=100) for _ in range(500)))
    allowed = [d for d in decisions if d.allowed]
    denied = [d for d in decisions if not d.allowed]
    assert len(allowed) == 100
    assert len(denied) == 400
    # every denial names the limit and a wait inside the window (plus at most one bucket)
    assert {d.limit for d in denied} == {"rpm"}
    assert all(d.retry_after is not None and 0 < d.retry_after <= 61 for d in denied)


@pytest.mark.asyncio
async def test_500_concurrent_acquires_hold_rpm_and_tpm_together(build: Build) -> None:
    limiter = build(clock=None)
    # 100 requests fit the rpm, but only 40 estimates of 25 tokens fit the tpm
    decisions = await asyncio.gather(
        *(limiter.acquire("key-b", rpm=100, tpm=1000, tokens_estimate=25) for _ in range(500))
    )
    assert sum(d.allowed for d in decisions) == 40
    assert {d.limit for d in decisions if not d.allowed} == {"tpm"}


@pytest.mark.asyncio
async def test_two_processes_on_one_redis_admit_exactly_the_rpm_in_total(
    redis_prefix: str,
) -> None:
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), REDIS_URL, redis_prefix, "shared", "100", "250"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        assert worker.stdout is not None and worker.stdin is not None
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(limiter.in_flight("warm-up") for _ in range(32)))
        ready = await asyncio.wait_for(loop.run_in_executor(None, worker.stdout.readline), 30)
        assert ready.strip() == "ready", worker.stderr.read() if worker.stderr else ready
        worker.stdin.write("go\n")
        worker.stdin.flush()
        mine = await asyncio.gather(*(limiter.acquire("shared", rpm=100) for _ in range(250)))
        line = await asyncio.wait_for(loop.run_in_executor(None, worker.stdout.readline), 30)
        theirs = json.loads(line)
    finally:
        await limiter.aclose()
        worker.kill()
        worker.wait()
    mine_allowed = sum(d.allowed for d in mine)
    assert theirs["allowed"] + theirs["denied"] == 250
    assert mine_allowed + theirs["allowed"] == 100, (mine_allowed, theirs)


# --- the window ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_retry_after_is_when_the_oldest_bucket_leaves(build: Build, clock: FakeClock) -> None:
    limiter = build()
    for gap in (0.0, 10.3, 10.2):  # at 1_000_000.2, 1_000_010.5, 1_000_020.7
        clock.advance(gap)
        assert (await limiter.acquire("k", rpm=3)).allowed
    clock.advance(9.5)  # 1_000_030.2
    denied = await limiter.acquire("k", rpm=3)
    # the first request's bucket [1_000_000, 1_000_001) counts until 1_000_061.0
    assert denied == Decision(False, 30.8, "rpm")
    clock.advance(30.799)
    assert await limiter.acquire("k", rpm=3) == Decision(False, 0.001, "rpm")
    clock.advance(0.001)
    assert (await limiter.acquire("k", rpm=3)).allowed
    # one slot freed, one taken: the next is when the second request's bucket leaves
    assert await limiter.acquire("k", rpm=3) == Decision(False, 10.0, "rpm")


@pytest.mark.asyncio
async def test_tpm_retry_after_waits_for_enough_tokens_to_leave(
    build: Build, clock: FakeClock
) -> None:
    limiter = build()
    assert (await limiter.acquire("k", tpm=100, tokens_estimate=30)).allowed  # bucket +0
    clock.advance(5)
    assert (await limiter.acquire("k", tpm=100, tokens_estimate=30)).allowed  # bucket +5
    clock.advance(5)
    assert (await limiter.acquire("k", tpm=100, tokens_estimate=30)).allowed  # bucket +10
    # 90 used: 50 more needs the first two buckets gone (+5 leaves at +66, 55.8 s from +10.2), not just the first
    assert await limiter.acquire("k", tpm=100, tokens_estimate=50) == Decision(False, 55.8, "tpm")
    # 10 more fits now
    assert (await limiter.acquire("k", tpm=100, tokens_estimate=10)).allowed


@pytest.mark.asyncio
async def test_no_60_second_interval_sees_more_than_the_limit(
    build: Build, clock: FakeClock
) -> None:
    """Random arrivals for 5 minutes: every admission leaves at most rpm admissions in the 60 s
    up to it, and every denial had rpm admissions within 61 s (at most one bucket stricter than
    a perfect sliding log)."""
    limiter = build()
    rng = random.Random(1904)
    admitted: list[float] = []
    denials = 0
    while clock.now < START + 300:
        clock.advance(rng.expovariate(1.0))
        now = clock.now
        decision = await limiter.acquire("k", rpm=20)
        if decision.allowed:
            admitted.append(now)
            assert sum(1 for t in admitted if t > now - 60) <= 20
        else:
            denials += 1
            assert sum(1 for t in admitted if t > now - 61) >= 20
    assert denials > 50 and len(admitted) > 80  # the limit was actually reached, repeatedly


@pytest.mark.asyncio
async def test_memory_and_redis_make_the_same_decisions(redis_prefix: str) -> None:
    memory_clock, redis_clock = FakeClock(), FakeClock()
    memory = MemoryLimiter(clock=memory_clock)
    shared = RedisLimiter(REDIS_URL, prefix=redis_prefix, clock=redis_clock)
    rng = random.Random(77)
    try:
        seen: list[tuple[Decision, Decision]] = []
        for i in range(1, 401):
            # now and then the key idles for more than a window
            gap = 70.0 if i % 100 == 0 else rng.choice([0.0, 0.05, 0.4, 1.0, 3.0])
            memory_clock.advance(gap)
            redis_clock.advance(gap)
            estimate = rng.choice([0, 5, 50, 400])
            pair = (
                await memory.acquire("k", rpm=15, tpm=1500, tokens_estimate=estimate),
                await shared.acquire("k", rpm=15, tpm=1500, tokens_estimate=estimate),
            )
            seen.append(pair)
            if pair[0].allowed and rng.random() < 0.5:
                actual = rng.randint(0, 200)
                await memory.record_tokens("k", actual, reservation=pair[0])
                await shared.record_tokens("k", actual, reservation=pair[1])
        assert [m for m, _ in seen] == [r for _, r in seen]
        # the script's running totals still equal the sums of its buckets
        import redis

        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            fields = client.hgetall(f"{redis_prefix}rl:k")
        finally:
            client.close()
        buckets = {f: int(v) for f, v in fields.items() if f not in {"R", "T", "o"}}
        assert int(fields["R"]) == sum(v for f, v in buckets.items() if f[0] == "r") > 0
        assert int(fields["T"]) == sum(v for f, v in buckets.items() if f[0] == "t")
        assert {d.limit for d, _ in seen} == {None, "rpm", "tpm"}
    finally:
        await shared.aclose()


# --- rpm and tpm together -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_denied_request_counts_nowhere(build: Build) -> None:
    limiter = build()
    assert (await limiter.acquire("k", rpm=2, tpm=100, tokens_estimate=60)).allowed
    # denied by tpm: its request must not take an rpm slot
    assert await limiter.acquire("k", rpm=2, tpm=100, tokens_estimate=50) == Decision(
        False, 60.8, "tpm"
    )
    assert (await limiter.acquire("k", rpm=2, tpm=100, tokens_estimate=40)).allowed
    # both exhausted, both free at the same time: rpm is named
    assert (await limiter.acquire("k", rpm=2, tpm=100, tokens_estimate=1)).limit == "rpm"

    # denied by rpm: its estimate must not be reserved
    assert (await limiter.acquire("j", rpm=1, tpm=100, tokens_estimate=10)).allowed
    assert (await limiter.acquire("j", rpm=1, tpm=100, tokens_estimate=80)).limit == "rpm"
    assert (await limiter.acquire("j", tpm=100, tokens_estimate=90)).allowed


@pytest.mark.asyncio
async def test_an_estimate_above_the_tpm_never_fits(build: Build) -> None:
    limiter = build()
    assert await limiter.acquire("k", rpm=5, tpm=100, tokens_estimate=101) == Decision(
        False, None, "tpm"
    )
    assert (await limiter.acquire("k", rpm=5, tpm=100, tokens_estimate=100)).allowed
    # a full tpm turns away even a request with no estimate (it will use at least one token)
    assert (await limiter.acquire("k", tpm=100)).limit == "tpm"


@pytest.mark.asyncio
async def test_record_tokens_replaces_the_estimate_where_it_was_reserved(
    build: Build, clock: FakeClock
) -> None:
    limiter = build()
    reserved = await limiter.acquire("k", tpm=100, tokens_estimate=80)
    assert reserved.allowed and reserved.reserved_tokens == 80
    assert not (await limiter.acquire("k", tpm=100, tokens_estimate=30)).allowed
    clock.advance(5)  # the answer arrives in a later bucket
    await limiter.record_tokens("k", 10, reservation=reserved)
    assert (await limiter.acquire("k", tpm=100, tokens_estimate=90)).allowed  # 10 + 90
    assert not (await limiter.acquire("k", tpm=100)).allowed
    # the corrected 10 leave with the reservation's bucket (+61), the 90 with theirs (+66)
    clock.advance(56.0)
    assert (await limiter.acquire("k", tpm=100, tokens_estimate=10)).allowed
    # tokens recorded without a reservation count in the current bucket
    await limiter.record_tokens("k", 5)
    assert await limiter.acquire("k", tpm=100, tokens_estimate=1) == Decision(False, 4.8, "tpm")


@pytest.mark.asyncio
async def test_no_limits_means_no_state(build: Build) -> None:
    limiter = build()
    assert await limiter.acquire("k") == Decision(True)


# --- budgets ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_budget_counters_are_exact_decimals_under_concurrency(build: Build) -> None:
    limiter = build(clock=None)
    amount = Decimal("0.000123457")
    totals = await asyncio.gather(*(limiter.add_spend("k", amount, 3600) for _ in range(300)))
    expected = amount * 300
    assert await limiter.spend("k") == expected == Decimal("0.037037100")
    assert max(totals) == expected
    assert len(set(totals)) == 300  # each add saw its own total: no lost update
    status = await limiter.check_budget("k", expected)
    assert not status.ok and status.spent == expected
    assert status.resets_in is not None and 3590 < status.resets_in <= 3600
    assert (await limiter.check_budget("k", expected + Decimal("0.000000001"))).ok


@pytest.mark.asyncio
async def test_amounts_finer_than_a_nano_dollar_round_up(build: Build) -> None:
    limiter = build()
    assert await limiter.add_spend("k", Decimal("0.0000000001"), None) == Decimal("0.000000001")
    assert await limiter.add_spend("k", 2, None) == Decimal("2.000000001")
    await limiter.reset_spend("k")
    assert await limiter.check_budget("k", 1) == (True, Decimal(0), None)


@pytest.mark.asyncio
async def test_memory_budget_period_resets(clock: FakeClock) -> None:
    limiter = MemoryLimiter(clock=clock)
    await limiter.add_spend("k", Decimal("1.5"), 3600)
    clock.advance(3000)
    # a later add does not move the period's end
    await limiter.add_spend("k", Decimal("0.5"), 3600)
    ok, spent, resets_in = await limiter.check_budget("k", 2)
    assert (ok, spent) == (False, Decimal(2)) and resets_in == pytest.approx(600)
    clock.advance(599.9)
    assert await limiter.spend("k") == Decimal(2)
    clock.now = START + 3600
    assert await limiter.check_budget("k", 2) == (True, Decimal(0), None)
    await limiter.add_spend("k", Decimal("0.25"), 3600)
    ok, spent, resets_in = await limiter.check_budget("k", 2)
    assert (ok, spent) == (True, Decimal("0.25")) and resets_in == pytest.approx(3600)


@pytest.mark.asyncio
async def test_redis_budget_period_resets(redis_prefix: str) -> None:
    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        await limiter.add_spend("k", Decimal("1.5"), 0.3)
        await limiter.add_spend("k", Decimal("0.5"), 3600)  # does not move the period's end
        status = await limiter.check_budget("k", 2)
        assert status.spent == Decimal(2) and not status.ok
        assert status.resets_in is not None and 0 < status.resets_in <= 0.3
        await asyncio.sleep(0.4)
        assert await limiter.check_budget("k", 2) == (True, Decimal(0), None)
        await limiter.add_spend("k", Decimal("0.25"), 3600)
        assert redis_keys(redis_prefix)[f"{redis_prefix}spend:k"] > 3_590_000
    finally:
        await limiter.aclose()


# --- in flight and cooldowns --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_in_flight_leases_count_and_expire(build: Build, clock: FakeClock) -> None:
    one, other = build(), build()
    first = await one.inc("dep")
    second = await one.inc("dep", lease_seconds=10)
    assert (first.in_flight, second.in_flight) == (1, 2)
    if isinstance(one, RedisLimiter):  # shared: the other process sees them
        assert await other.in_flight("dep") == 2
    assert await one.dec(first) == 1
    assert await one.dec(first) == 1  # giving a lease back twice changes nothing
    # the second holder "crashed": its lease runs out instead of counting forever
    clock.advance(10)
    assert await one.in_flight("dep") == 0
    assert await one.in_flight("other-dep") == 0


@pytest.mark.asyncio
async def test_track_gives_the_lease_back_on_errors(build: Build) -> None:
    limiter = build()
    with pytest.raises(RuntimeError):
        async with track(limiter, "dep") as lease:
            assert lease.in_flight == 1 and await limiter.in_flight("dep") == 1
            raise RuntimeError("upstream failed")
    assert await limiter.in_flight("dep") == 0


@pytest.mark.asyncio
async def test_cooldown_is_shared_between_redis_limiters(redis_prefix: str) -> None:
    one = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    other = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        assert await other.cooling("dep") is None
        assert await one.set_cooldown("dep", 5) == 5.0
        left = await other.cooling("dep")
        assert left is not None and 4 < left <= 5
        # a shorter cooldown does not cut a longer one short
        assert 4 < await other.set_cooldown("dep", 0.1) <= 5
        left = await one.cooling("dep")
        assert left is not None and left > 4
        assert await one.cooling("elsewhere") is None
    finally:
        await one.aclose()
        await other.aclose()


@pytest.mark.asyncio
async def test_memory_cooldown_expires_and_keeps_the_longer(clock: FakeClock) -> None:
    limiter = MemoryLimiter(clock=clock)
    await limiter.set_cooldown("dep", 30)
    assert await limiter.set_cooldown("dep", 5) == 30
    clock.advance(29)
    assert await limiter.cooling("dep") == pytest.approx(1)
    assert await MemoryLimiter(clock=clock).cooling("dep") is None  # not shared: one process
    clock.advance(1)
    assert await limiter.cooling("dep") is None


# --- nothing grows forever ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_every_redis_key_has_a_ttl(redis_prefix: str) -> None:
    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        decision = await limiter.acquire("k", rpm=10, tpm=1000, tokens_estimate=5)
        await limiter.record_tokens("k", 7, reservation=decision)
        await limiter.add_spend("k", Decimal("0.01"), 86400)
        await limiter.inc("dep", lease_seconds=30)
        await limiter.set_cooldown("dep", 20)
        keys = redis_keys(redis_prefix)
        assert set(keys) == {
            f"{redis_prefix}rl:k",
            f"{redis_prefix}spend:k",
            f"{redis_prefix}inflight:dep",
            f"{redis_prefix}cooldown:dep",
        }
        assert 60_000 < keys[f"{redis_prefix}rl:k"] <= 62_000
        assert 86_000_000 < keys[f"{redis_prefix}spend:k"] <= 86_400_000
        assert 29_000 < keys[f"{redis_prefix}inflight:dep"] <= 30_000
        assert 19_000 < keys[f"{redis_prefix}cooldown:dep"] <= 20_000
        # a lifetime budget is the one key without a TTL: expiring it would forget money spent
        await limiter.add_spend("lifetime", Decimal(1), None)
        assert redis_keys(redis_prefix)[f"{redis_prefix}spend:lifetime"] == -1
    finally:
        await limiter.aclose()


@pytest.mark.asyncio
async def test_old_buckets_are_deleted_from_the_redis_hash(redis_prefix: str) -> None:
    import redis

    clock = FakeClock()
    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix, clock=clock)
    try:
        for _ in range(200):
            await limiter.acquire("k", rpm=1000, tokens_estimate=1)
            clock.advance(1)
        client = redis.Redis.from_url(REDIS_URL)
        try:
            fields = client.hlen(f"{redis_prefix}rl:k")
        finally:
            client.close()
        # 200 buckets written; kept: the window's 61 (a request and a token field each) and the
        # running totals R, T and the oldest bucket o
        assert fields == 2 * 61 + 3
    finally:
        await limiter.aclose()


@pytest.mark.asyncio
async def test_memory_limiter_forgets_idle_keys(clock: FakeClock) -> None:
    limiter = MemoryLimiter(clock=clock)
    for i in range(50):
        await limiter.acquire(f"key-{i}", rpm=10)
        await limiter.add_spend(f"key-{i}", Decimal("0.1"), 30)
        await limiter.set_cooldown(f"dep-{i}", 10)
        await limiter.inc(f"dep-{i}", lease_seconds=20)
    assert limiter.tracked() == 200
    clock.advance(120)
    await limiter.acquire("active", rpm=10)
    assert limiter.tracked() == 1


# --- bad input and failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda lim: lim.acquire("", rpm=1), "key_id"),
        (lambda lim: lim.acquire("k", rpm=0), "rpm"),
        (lambda lim: lim.acquire("k", rpm=True), "rpm"),
        (lambda lim: lim.acquire("k", tpm=-5), "tpm"),
        (lambda lim: lim.acquire("k", rpm=1, tokens_estimate=1.5), "tokens_estimate"),
        (lambda lim: lim.record_tokens("k", -1), "tokens"),
        (lambda lim: lim.add_spend("k", 0.1, 60), "usd"),
        (lambda lim: lim.add_spend("k", Decimal("-1"), 60), "usd"),
        (lambda lim: lim.add_spend("k", Decimal("NaN"), 60), "usd"),
        (lambda lim: lim.add_spend("k", Decimal("1e20"), 60), "usd"),
        (lambda lim: lim.add_spend("k", Decimal(1), 0), "period_seconds"),
        (lambda lim: lim.check_budget("k", "10"), "max_budget"),
        (lambda lim: lim.set_cooldown("dep", float("inf")), "seconds"),
        (lambda lim: lim.inc("dep", lease_seconds=-1), "lease_seconds"),
        (lambda lim: lim.dec("dep"), "lease"),
    ],
)
@pytest.mark.asyncio
async def test_bad_input_is_a_clear_typed_error(
    build: Build, call: Callable[[Limiter], Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await call(build())
    assert caught.value.param == param
    assert param in str(caught.value)


@pytest.mark.parametrize("bucket_seconds", [0.7, 0, 120, float("nan"), "1"])
def test_a_bucket_that_does_not_divide_the_minute_is_refused(bucket_seconds: Any) -> None:
    with pytest.raises(InvalidRequestError, match="bucket_seconds"):
        MemoryLimiter(bucket_seconds=bucket_seconds)


def test_a_bad_redis_url_is_refused_without_its_password() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        RedisLimiter("http://user:hunter2secret@127.0.0.1:6379/0")
    assert "hunter2secret" not in str(caught.value)
    assert "redis://" in str(caught.value)


@pytest.mark.asyncio
async def test_unreachable_redis_is_a_typed_error_without_the_password() -> None:
    limiter = RedisLimiter("redis://:hunter2secret@127.0.0.1:1/0", connect_timeout=0.5)
    try:
        with pytest.raises(LimiterUnavailableError) as caught:
            await limiter.acquire("k", rpm=1)
        with pytest.raises(LimiterUnavailableError):
            await limiter.cooling("dep")
    finally:
        await limiter.aclose()
    for text in (str(caught.value), repr(caught.value), repr(limiter), limiter.url):
        assert "hunter2secret" not in text
    assert "127.0.0.1:1" in str(caught.value)


def test_make_limiter_picks_redis_only_when_configured() -> None:
    assert isinstance(make_limiter(None), MemoryLimiter)
    shared = make_limiter("redis://127.0.0.1:6379/0", prefix="other:")
    assert isinstance(shared, RedisLimiter) and shared.prefix == "other:"
    assert isinstance(shared, Limiter) and isinstance(MemoryLimiter(), Limiter)


# --- one round trip per loop turn (RedisLimiter._send_batch) ------------------------------------


@pytest.mark.asyncio
async def test_redis_scripts_asked_in_one_turn_share_one_pipeline(redis_prefix: str) -> None:
    """300 admissions on one key with rpm=100, asked at once: exactly 100 admitted, as one
    script at a time would decide, in a handful of pipelines rather than 300 round trips."""
    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    pipelines: list[int] = []
    send = limiter._pipeline

    async def counted(items: list[Any]) -> list[Any]:
        pipelines.append(len(items))
        return await send(items)

    limiter._pipeline = counted  # type: ignore[method-assign]
    try:
        decisions = await asyncio.gather(*(limiter.acquire("k", rpm=100) for _ in range(300)))
        assert sum(d.allowed for d in decisions) == 100
        assert sum(pipelines) == 300 and len(pipelines) <= 3, pipelines
        # the denied ones carry the retry_after a lone script computes (read a moment later)
        lone = await limiter.acquire("k", rpm=100)
        assert not lone.allowed and lone.retry_after is not None
        waits = [d.retry_after for d in decisions if not d.allowed]
        assert all(w is not None and lone.retry_after <= w <= lone.retry_after + 1 for w in waits)
    finally:
        await limiter.aclose()


@pytest.mark.asyncio
async def test_a_pipeline_reloads_scripts_a_flushed_server_forgot(redis_prefix: str) -> None:
    import redis.asyncio

    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    admin = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        assert (await limiter.acquire("k", rpm=10)).allowed  # scripts loaded
        await admin.script_flush()
        decisions = await asyncio.gather(*(limiter.acquire("k", rpm=10) for _ in range(20)))
        assert sum(d.allowed for d in decisions) == 9  # 10 in all, the first one included
    finally:
        await admin.aclose()
        await limiter.aclose()


@pytest.mark.asyncio
async def test_a_batch_fails_as_a_whole_when_redis_does_not_answer() -> None:
    """Every caller of a batch gets the typed error, none hangs."""
    limiter = RedisLimiter("redis://127.0.0.1:1/0", connect_timeout=0.5)
    try:
        results = await asyncio.gather(
            *(limiter.acquire("k", rpm=10) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, LimiterUnavailableError) for r in results), results
    finally:
        await limiter.aclose()


def test_one_redis_limiter_serves_loops_in_several_threads(redis_prefix: str) -> None:
    """Each thread's loop batches its own scripts on its own client; the limit holds across."""
    import threading

    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    admitted: list[int] = []

    def worker() -> None:
        async def run() -> int:
            try:
                found = await asyncio.gather(*(limiter.acquire("k", rpm=60) for _ in range(50)))
                return sum(d.allowed for d in found)
            finally:
                await limiter.aclose()

        admitted.append(asyncio.run(run()))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(admitted) == 3 and sum(admitted) == 60


@pytest.mark.asyncio
async def test_aclose_sends_what_is_queued_and_leaves_no_client_open(redis_prefix: str) -> None:
    """Admissions asked for just before aclose() are sent and answered, and no client is
    opened again behind aclose's back."""
    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    calls = [asyncio.ensure_future(limiter.acquire("k", rpm=10)) for _ in range(3)]
    await asyncio.sleep(0)  # the callers have queued their scripts; the batch is not sent yet
    await limiter.aclose()
    decisions = await asyncio.gather(*calls)
    assert all(d.allowed for d in decisions)
    assert len(limiter._clients) == 0
