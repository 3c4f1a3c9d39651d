"""A second gateway process, as far as the limiter can tell: runs concurrent acquires on one key
through its own :class:`RedisLimiter` and prints how many were admitted.

Usage: ``python limits_worker.py URL PREFIX KEY_ID RPM COUNT``. It prints ``ready`` once its
connections are open, waits for a line on stdin (so the parent can start both bursts at once)
and prints ``{"allowed": N, "denied": M}``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from llmrouter_gateway.limits import RedisLimiter


async def main(url: str, prefix: str, key_id: str, rpm: int, count: int) -> None:
    limiter = RedisLimiter(url, prefix=prefix)
    # open the pool's connections before the start signal, so the burst is not a connect storm
    await asyncio.gather(*(limiter.in_flight("warm-up") for _ in range(32)))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    decisions = await asyncio.gather(*(limiter.acquire(key_id, rpm=rpm) for _ in range(count)))
    allowed = sum(1 for d in decisions if d.allowed)
    print(json.dumps({"allowed": allowed, "denied": count - allowed}), flush=True)
    await limiter.aclose()


if __name__ == "__main__":
    url, prefix, key_id, rpm, count = sys.argv[1:6]
    asyncio.run(main(url, prefix, key_id, int(rpm), int(count)))
