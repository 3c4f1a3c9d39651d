"""Deployment cooldowns shared by every gateway process on one Redis.

The router's circuit breaker (``llmrouter.Routing``) is pure in-process bookkeeping and stays
that way; this module is the bridge between it and the limiter's cooldown flags
(:meth:`~llmrouter_gateway.limits.Limiter.set_cooldown` / ``cooling``):

- **publish**: when this process's breaker ejects a deployment, :attr:`Routing.on_trip` hands
  the news to the event loop (it is called under the routing lock, so it only schedules), and a
  fire-and-forget task sets ``{prefix}cooldown:{alias}/{deployment}`` in Redis for the same
  number of seconds. Nothing waits for it; a failure is logged and the request that tripped
  the breaker is unaffected.
- **apply**: a background task reads the flag of every deployment that can cool down (aliases
  with at least two deployments: the breaker never ejects an alias's last one) every
  ``[gateway] cooldown_sync_interval`` seconds, and calls :meth:`Routing.cool_down` for each one
  cooling in Redis for longer than this process already knows of. So a deployment one process
  ejects is skipped by the others within one interval plus a round trip, and for the time left
  on the flag, not for a fresh full cooldown.

A cooldown this process published or already applied comes back on every read until it ends;
it is recognised (its end matches, within :data:`ECHO_TOLERANCE`) and not applied again, else
every process would count a second, tiny trip as its own cooldown ended a few milliseconds
before the flag's. A longer cooldown another process set meanwhile (its half-open trial failed)
ends later than that and is applied.

Only cooldowns are shared here. In-flight counts (what ``least-busy`` compares) stay per
process: sharing them would put a Redis round trip before and after every attempt.

Every process on one Redis must route the same aliases to the same deployments: the flags are
named by alias and deployment name only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmrouter.config import GatewaySettings
from llmrouter.errors import ConfigError
from llmrouter_gateway.limits import Limiter, make_limiter

if TYPE_CHECKING:
    from llmrouter import Routing

__all__ = ["ECHO_TOLERANCE", "SharedCooldowns", "cooldown_key", "shared_redis_url"]

log = logging.getLogger("llmrouter.gateway")

#: Seconds by which a flag's end may differ from a cooldown this process already knows of and
#: still be taken for that same cooldown (a publish's round trip, a read's).
ECHO_TOLERANCE = 0.5
#: Seconds a stopping gateway waits for its last publishes to reach Redis.
_STOP_SECONDS = 2.0
#: At most one warning about an unreachable Redis per this many seconds.
_WARN_EVERY = 10.0


def cooldown_key(alias: str, deployment: str) -> str:
    """The limiter's name for one deployment of one alias (deployment names are unique only
    within an alias)."""
    return f"{alias}/{deployment}"


def shared_redis_url(settings: GatewaySettings) -> str | None:
    """The Redis URL the config names (``redis_url_env`` wins over ``redis_url``), or ``None``.

    Resolved here rather than through ``keys.py`` so that a gateway with Redis and no database
    does not import the key store.
    """
    env = settings.redis_url_env
    if env:
        found = os.environ.get(env, "").strip()
        if not found:
            raise ConfigError(
                f"[gateway] redis_url_env names the variable {env}, which is not set or is "
                "empty; export the redis_url in it",
                key="gateway.redis_url_env",
            )
        return found
    url = settings.redis_url
    return url.strip() if url and url.strip() else None


class SharedCooldowns:
    """Publishes this process's ejections to the limiter and applies the others'.

    Create it, :meth:`start` it in the gateway's event loop, :meth:`stop` it there. The limiter
    is closed at stop only when ``owns_limiter`` (the virtual keys close theirs).
    """

    def __init__(
        self,
        routing: Routing,
        limiter: Limiter,
        *,
        interval: float = 1.0,
        owns_limiter: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not (math.isfinite(interval) and interval > 0)
        ):
            raise ConfigError(
                f"cooldown_sync_interval must be a positive number of seconds, got {interval!r}",
                key="gateway.cooldown_sync_interval",
            )
        self.routing = routing
        self.limiter = limiter
        self.interval = float(interval)
        self._owns_limiter = owns_limiter
        self._clock = clock
        #: (alias, deployment name, limiter key) of every deployment that can cool down.
        self._watched = [
            (alias, t.name, cooldown_key(alias, t.name))
            for alias, route in routing.routes.items()
            if len(route.targets) > 1
            for t in route.targets
        ]
        #: limiter key -> when (this clock) the latest cooldown this process knows of ends.
        self._known: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._last_warning = -math.inf
        #: Ejections published, publishes that failed, cooldowns applied from elsewhere, reads
        #: of every flag done.
        self.published = 0
        self.publish_failures = 0
        self.applied = 0
        self.syncs = 0

    @classmethod
    def open(
        cls, routing: Routing, settings: GatewaySettings, *, limiter: Limiter | None = None
    ) -> SharedCooldowns | None:
        """The bridge a config asks for: ``None`` without Redis (one process's breaker is
        already all there is). ``limiter`` is a Redis limiter the gateway already holds (the
        virtual keys'), reused rather than opening a second pool."""
        url = shared_redis_url(settings)
        if url is None:
            return None
        owns = limiter is None or limiter.name != "redis"
        if owns:
            limiter = make_limiter(url)
        assert limiter is not None
        return cls(routing, limiter, interval=settings.cooldown_sync_interval, owns_limiter=owns)

    def __repr__(self) -> str:
        return (
            f"SharedCooldowns(limiter={self.limiter!r}, interval={self.interval:g}, "
            f"deployments={len(self._watched)})"
        )

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.routing.on_trip = self._on_trip
        self._task = self._loop.create_task(self._run())

    async def stop(self) -> None:
        """Stop reading, let the last publishes land (briefly), close an owned limiter."""
        if self.routing.on_trip == self._on_trip:
            self.routing.on_trip = None
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._publishing:
            await asyncio.wait(set(self._publishing), timeout=_STOP_SECONDS)
        for left in list(self._publishing):
            left.cancel()
        if self._owns_limiter:
            await self.limiter.aclose()

    # --- publish -------------------------------------------------------------------------

    def _on_trip(self, alias: str, deployment: str, seconds: float) -> None:
        # Under the routing lock, maybe from another thread: schedule and return.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._publish, alias, deployment, seconds)

    def _publish(self, alias: str, deployment: str, seconds: float) -> None:
        if self._stop.is_set():
            return
        key = cooldown_key(alias, deployment)
        end = self._clock() + seconds
        self._known[key] = max(self._known.get(key, end), end)
        task = asyncio.get_running_loop().create_task(self._set(key, seconds))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _set(self, key: str, seconds: float) -> None:
        try:
            await self.limiter.set_cooldown(key, seconds)
        except Exception as exc:
            self.publish_failures += 1
            self._warn(f"could not publish the cooldown of {key}", exc)
            return
        self.published += 1

    # --- apply ---------------------------------------------------------------------------

    async def sync_once(self) -> int:
        """Read every watched flag once and apply those news to this process; returns how many
        deployments were put into (or kept longer in) cooldown."""
        watched = self._watched
        if not watched:
            return 0
        # Before the reads: a slow read then makes a flag's end look earlier than it is, which
        # the echo check forgives, rather than later, which would look like news.
        now = self._clock()
        results = await asyncio.gather(
            *(self.limiter.cooling(key) for _, _, key in watched), return_exceptions=True
        )
        applied = 0
        failure: BaseException | None = None
        for (alias, name, key), left in zip(watched, results, strict=True):
            if isinstance(left, BaseException):
                failure = left
                continue
            if left is None or left <= 0:
                continue
            end = now + left
            if end <= self._known.get(key, -math.inf) + ECHO_TOLERANCE:
                continue  # our own publish, or one already applied
            if self.routing.cool_down(alias, name, left):
                self._known[key] = end
                applied += 1
                # A deployment leaving rotation is worth a line, as a local ejection is in
                # the attempt log; at most one per cooldown per process.
                log.warning(
                    "llmrouter.gateway.shared_cooldown: %s cooling for %.1f s as another "
                    "gateway process decided",
                    key,
                    left,
                )
        if failure is not None:
            if isinstance(failure, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                raise failure
            self._warn("could not read the shared cooldowns", failure)
        self.applied += applied
        self.syncs += 1
        return applied

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.sync_once()
            except Exception as exc:  # never let the loop die: the next tick may work
                self._warn("reading the shared cooldowns failed", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    def _warn(self, what: str, exc: BaseException) -> None:
        now = self._clock()
        if now - self._last_warning < _WARN_EVERY:
            return
        self._last_warning = now
        log.warning(
            "llmrouter.gateway.shared_cooldown_unavailable: %s: %s: %s (deployments keep "
            "cooling down per process meanwhile)",
            what,
            type(exc).__name__,
            exc,
        )
