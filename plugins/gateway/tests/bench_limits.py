"""Micro-benchmark of the limiter: microseconds per ``acquire``, in process and on Redis.

Not a test (no thresholds: the numbers depend on the machine). Run it with
``python plugins/gateway/tests/bench_limits.py [redis_url]``. "one at a time" is one caller's
latency (for Redis: one round trip plus the script); "100 concurrent" is the cost per acquire
when a gateway's requests overlap (Redis pipelines them over the pool's connections).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

from llmrouter_gateway.limits import Limiter, MemoryLimiter, RedisLimiter


async def per_acquire_us(limiter: Limiter, *, total: int, concurrency: int, denied: bool) -> float:
    key = f"bench-{uuid.uuid4().hex}"
    rpm = 1 if denied else 10**9
    if denied:
        await limiter.acquire(key, rpm=rpm)
    rounds = total // concurrency
    start = time.perf_counter()
    for _ in range(rounds):
        if concurrency == 1:
            await limiter.acquire(key, rpm=rpm, tpm=10**12, tokens_estimate=100)
        else:
            await asyncio.gather(
                *(
                    limiter.acquire(key, rpm=rpm, tpm=10**12, tokens_estimate=100)
                    for _ in range(concurrency)
                )
            )
    return (time.perf_counter() - start) / (rounds * concurrency) * 1e6


async def main(url: str) -> None:
    prefix = f"llmrouter:bench-{uuid.uuid4().hex}:"
    limiters: list[tuple[str, Limiter, int]] = [
        ("memory", MemoryLimiter(), 200_000),
        ("redis", RedisLimiter(url, prefix=prefix), 20_000),
    ]
    # the floor: one bare PING round trip through redis-py's asyncio client
    import redis.asyncio

    bare = redis.asyncio.Redis.from_url(url)
    for _ in range(1000):
        await bare.ping()
    start = time.perf_counter()
    for _ in range(10_000):
        await bare.ping()
    ping_us = (time.perf_counter() - start) / 10_000 * 1e6
    await bare.aclose()
    print(f"redis  {'bare PING, one at a time':26} {ping_us:8.1f} us/call")
    for name, limiter, total in limiters:
        await per_acquire_us(limiter, total=1000, concurrency=1, denied=False)  # warm up
        for label, concurrency, denied in [
            ("admitted, one at a time", 1, False),
            ("denied, one at a time", 1, True),
            ("admitted, 100 concurrent", 100, False),
        ]:
            us = await per_acquire_us(limiter, total=total, concurrency=concurrency, denied=denied)
            print(f"{name:6} {label:26} {us:8.1f} us/acquire")
        await limiter.aclose()
    import redis

    client = redis.Redis.from_url(url)
    names = list(client.scan_iter(match=prefix + "*"))
    if names:
        client.delete(*names)
    client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0"))
