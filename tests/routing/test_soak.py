"""A bounded soak: thousands of concurrent routed async requests over a mix of faults.

What must hold: no request hangs (one overall ``asyncio.wait_for`` bound), every request either
returns or raises a typed :class:`llmrouter.LLMRouterError` (nothing untyped, nothing lost:
returned + typed errors == sent), no stream ends quietly short, and afterwards no deployment is
left counted "in flight". Counts only; nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from typing import Any

import httpx
import pytest
from routing_support import MESSAGES, config, deployment

import llmrouter
from llmrouter._pool import AsyncPool
from llmrouter.testing import Fault, TogetherEmulator

# Scale and hang bound can be changed for a longer local run: SOAK_TOTAL=20000 SOAK_BOUND=900.
TOTAL = int(os.environ.get("SOAK_TOTAL", "2000"))
CONCURRENCY = 200
BOUND_S = float(os.environ.get("SOAK_BOUND", "90"))


def soak_config(emu: TogetherEmulator) -> dict[str, Any]:
    return config(
        {
            "soak": {
                "strategy": "least-busy",
                "fallbacks": ["spare"],
                "deployments": [
                    deployment(emu, "s1"),
                    deployment(emu, "s2", timeout=0.5),
                    deployment(emu, "s3"),
                ],
            },
            "spare": {"deployments": [deployment(emu, "s4")]},
        },
        num_retries=1,
        timeout=5,
        retry_budget=10,
        cooldown={"min_requests": 20, "failure_rate": 0.6, "duration": 0.5, "window": 5},
    )


def install_faults(emu: TogetherEmulator) -> None:
    emu.add_fault(Fault(status=503), tenant="s1", times=250)
    emu.add_fault(Fault(stream_error_after=1, status=500), tenant="s1", times=60)
    emu.add_fault(Fault(status=429, retry_after_ms=5), tenant="s2", times=200)
    emu.add_fault(Fault(delay=1.5), tenant="s2", times=20)
    emu.add_fault(Fault(cut_after=0), tenant="s3", times=120)
    emu.add_fault(Fault(cut_after=2), tenant="s3", times=40)
    emu.add_fault(Fault(malformed=True), tenant="s4", times=20)


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ["default", "stock-64"])
async def test_soak_no_hangs_no_untyped_errors_no_lost_responses(
    emu: TogetherEmulator, engine: str
) -> None:
    """``default``: the client the router builds, over llmrouter's connection pool
    (``llmrouter/_pool.py``) with its default limits; ``stock-64``: httpx's own pool, capped at 64
    connections (httpx's pool degrades badly with hundreds of open connections,
    docs/performance.md)."""
    install_faults(emu)
    rng = random.Random(7)
    plans = []
    for i in range(TOTAL):
        roll = rng.random()
        headers = None
        if roll < 0.04:
            headers = {"x-emulator-fault": "status=400"}  # the request itself is bad
        elif roll < 0.07:
            headers = {"x-emulator-fault": "status=500"}  # down everywhere
        plans.append((i, rng.random() < 0.3, headers))

    outcomes: Counter[str] = Counter()
    untyped: list[BaseException] = []
    short_streams: list[int] = []
    semaphore = asyncio.Semaphore(CONCURRENCY)

    if engine == "stock-64":
        pool = httpx.AsyncClient(limits=httpx.Limits(max_connections=64))
        router = llmrouter.AsyncRouter(config=soak_config(emu), http_client=pool)
    else:
        router = llmrouter.AsyncRouter(config=soak_config(emu))
        pool = router.http_client
        assert isinstance(pool._transport._pool, AsyncPool)  # type: ignore[attr-defined]
    async with pool, router:

        async def one(index: int, stream: bool, headers: dict[str, str] | None) -> None:
            async with semaphore:
                extra = {"extra_headers": headers} if headers else {}
                try:
                    if stream:
                        s = await router.completion("soak", MESSAGES, stream=True, **extra)
                        chunks = [c async for c in s]
                        if not chunks or chunks[-1].usage is None:
                            short_streams.append(index)
                    else:
                        r = await router.completion("soak", MESSAGES, **extra)
                        assert r.choices[0].message.content
                    outcomes["ok"] += 1
                except llmrouter.LLMRouterError as exc:
                    outcomes[type(exc).__name__] += 1
                except Exception as exc:  # anything else is a bug this test exists to catch
                    untyped.append(exc)

        await asyncio.wait_for(
            asyncio.gather(*(one(i, s, h) for i, s, h in plans)), timeout=BOUND_S
        )
        routing = router.routing
        assert routing is not None
        leftover = {
            row["name"]: row["in_flight"]
            for rows in routing.snapshot().values()
            for row in rows
            if row["in_flight"]
        }
        connections = pool._transport._pool  # type: ignore[attr-defined]
        if isinstance(connections, AsyncPool):
            # Every connection came back: none busy, none waited for, within the limits.
            assert len(connections._owned) == connections._idle_count <= 200
            assert not [w for *_, w in connections._waiters if not w.done()]

    hits = [(r.fault.to_spec(), r.tenant, r.hits) for r in emu.faults]
    print(
        f"\nsoak outcomes: {dict(outcomes)}; emulator: {emu.stats['by_status']}; rules left: {hits}"
    )
    assert untyped == []
    assert sum(outcomes.values()) == TOTAL
    assert short_streams == []
    assert leftover == {}
    # the mix really was exercised: successes, request errors and exhausted routes all occurred
    assert outcomes["ok"] > TOTAL // 2
    assert outcomes["BadRequestError"] > 0
    assert outcomes["AllDeploymentsFailedError"] > 0
    # a mid-stream failure reaches the caller as a typed error rather than a short answer
    mid_stream = outcomes["InternalServerError"] + outcomes["APIConnectionError"]
    assert mid_stream > 0
