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

In-flight counts (what ``least-busy`` compares) are shared by :class:`SharedInFlight`: every
``[gateway] inflight_sync_interval`` seconds each process writes its own counts
(:meth:`Routing.in_flight`) and reads the sum of the others' in one script run
(:meth:`~llmrouter_gateway.limits.RedisLimiter.share_in_flight`), which it hands to
:meth:`Routing.set_in_flight_elsewhere`. Counting each attempt in Redis instead would be exact,
but would put two round trips on every request (and a third, to read the candidates, before
choosing); the exchange costs one round trip per interval and process, and the counts are at
most one interval old. A process that stops exchanging (crashed) drops out of the sums after
:data:`INFLIGHT_TTL_INTERVALS` intervals; one that stops cleanly withdraws its counts at once.

Every process on one Redis must route the same aliases to the same deployments: the flags are
named by alias and deployment name only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmrouter.config import GatewaySettings
from llmrouter.errors import ConfigError
from llmrouter_gateway.limits import Limiter, RedisLimiter, make_limiter

if TYPE_CHECKING:
    from llmrouter import Routing

__all__ = [
    "ECHO_TOLERANCE",
    "INFLIGHT_TTL_INTERVALS",
    "SharedCooldowns",
    "SharedInFlight",
    "cooldown_key",
    "shared_redis_url",
]

log = logging.getLogger("llmrouter.gateway")

#: Seconds by which a flag's end may differ from a cooldown this process already knows of and
#: still be taken for that same cooldown (a publish's round trip, a read's).
ECHO_TOLERANCE = 0.5
#: A process's in-flight counts count for others this many exchange intervals (at least 1 s)
#: after its last exchange: a late tick or two is forgiven, a dead process soon forgotten.
INFLIGHT_TTL_INTERVALS = 5
#: Seconds a stopping gateway waits for its last publishes to reach Redis.
_STOP_SECONDS = 2.0
#: At most one warning about an unreachable Redis per this many seconds.
_WARN_EVERY = 10.0


def cooldown_key(alias: str, deployment: str) -> str:
    """The limiter's name for one deployment of one alias (deployment names are unique only
    within an alias): ``4:chat/primary``. The alias's length comes first because both names
    may hold a ``/`` (``openai/gpt-4o`` is a common alias): without it, alias ``a/b`` with
    deployment ``c`` and alias ``a`` with deployment ``b/c`` would share one flag."""
    return f"{len(alias)}:{alias}/{deployment}"


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


class _Periodic:
    """A background loop over :meth:`tick` every ``interval`` seconds until :meth:`_halt`, that
    never dies of a failed tick and warns of failures at most once per ten seconds."""

    #: The log event and what goes on meanwhile, for the warning.
    _event = ""
    _meanwhile = ""
    interval: float
    _clock: Callable[[], float]
    _last_warning: float
    _stop: asyncio.Event
    _task: asyncio.Task[None] | None

    async def tick(self) -> object:
        raise NotImplementedError

    def _failed(self, exc: BaseException) -> None:
        """A tick raised ``exc`` (counted by subclasses that count)."""

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # never let the loop die: the next tick may work
                self._failed(exc)
            with contextlib.suppress(asyncio.TimeoutError):  # the builtin only from 3.11
                await asyncio.wait_for(self._stop.wait(), self.interval)

    async def _halt(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _warn(self, what: str, exc: BaseException) -> None:
        now = self._clock()
        if now - self._last_warning < _WARN_EVERY:
            return
        self._last_warning = now
        log.warning(
            "%s: %s: %s: %s (%s meanwhile)",
            self._event,
            what,
            type(exc).__name__,
            exc,
            self._meanwhile,
        )


class SharedCooldowns(_Periodic):
    """Publishes this process's ejections to the limiter and applies the others'.

    Create it, :meth:`start` it in the gateway's event loop, :meth:`stop` it there. The limiter
    is closed at stop only when ``owns_limiter`` (the virtual keys close theirs).
    """

    _event = "llmrouter.gateway.shared_cooldown_unavailable"
    _meanwhile = "deployments keep cooling down per process"

    def __init__(
        self,
        routing: Routing,
        limiter: Limiter,
        *,
        interval: float = 1.0,
        owns_limiter: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routing = routing
        self.limiter = limiter
        self.interval = _interval(interval, "gateway.cooldown_sync_interval")
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
        await self._halt()
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

    async def tick(self) -> int:
        return await self.sync_once()

    def _failed(self, exc: BaseException) -> None:
        self._warn("reading the shared cooldowns failed", exc)


def _interval(value: object, key: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(
            f"{key.split('.')[-1]} must be a positive number of seconds, got {value!r}", key=key
        )
    return float(value)


class SharedInFlight(_Periodic):
    """Exchanges in-flight counts with the other gateway processes on one Redis, for every
    ``least-busy`` alias with two or more deployments (the only ones whose choice reads them).

    :meth:`start` it in the gateway's event loop and :meth:`stop` it there; it never closes
    the limiter (its owner does). A failed exchange keeps the last counts (logged at most once
    per ten seconds): routing goes on with slightly older news, never stops; once they are as
    old as the TTL after which Redis forgets a silent process's counts, they are set to zero.
    """

    _event = "llmrouter.gateway.shared_in_flight_unavailable"
    _meanwhile = "least-busy keeps the other processes' last counts"

    def __init__(
        self,
        routing: Routing,
        limiter: RedisLimiter,
        *,
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routing = routing
        self.limiter = limiter
        self.interval = _interval(interval, "gateway.inflight_sync_interval")
        self.ttl = max(1.0, INFLIGHT_TTL_INTERVALS * self.interval)
        self._clock = clock
        #: Names this process's counts in Redis: unique per process and start.
        self.process = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._aliases = [
            alias
            for alias, route in routing.routes.items()
            if route.strategy == "least-busy" and len(route.targets) > 1
        ]
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._last_warning = -math.inf
        #: Exchanges done, exchanges that failed.
        self.exchanges = 0
        self.failures = 0
        #: When (this clock) the last exchange succeeded; None once the others' counts, too
        #: old to trust, were set back to zero.
        self._last_exchange: float | None = clock()

    @classmethod
    def open(
        cls, routing: Routing, settings: GatewaySettings, limiter: Limiter
    ) -> SharedInFlight | None:
        """The exchange a config asks for, on the gateway's Redis limiter: ``None`` when no
        alias routes ``least-busy`` over several deployments (nothing would read the counts)."""
        if not isinstance(limiter, RedisLimiter):
            return None
        shared = cls(routing, limiter, interval=settings.inflight_sync_interval)
        return shared if shared._aliases else None

    def __repr__(self) -> str:
        return (
            f"SharedInFlight(limiter={self.limiter!r}, interval={self.interval:g}, "
            f"aliases={self._aliases!r})"
        )

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop exchanging and withdraw this process's counts (best effort, briefly)."""
        await self._halt()
        names = [
            cooldown_key(alias, t.name)
            for alias in self._aliases
            for t in self.routing.routes[alias].targets
        ]
        try:
            await asyncio.wait_for(
                self.limiter.withdraw_in_flight(self.process, names), _STOP_SECONDS
            )
        except Exception as exc:  # their TTL removes them anyway
            self._warn("could not withdraw this process's in-flight counts", exc)

    async def exchange_once(self) -> dict[str, dict[str, int]]:
        """Publish this process's counts, apply the others'; returns what was applied, by
        alias and deployment name."""
        mine: dict[str, int] = {}
        for alias in self._aliases:
            for name, count in self.routing.in_flight(alias).items():
                mine[cooldown_key(alias, name)] = count
        others = await self.limiter.share_in_flight(self.process, mine, ttl_seconds=self.ttl)
        applied: dict[str, dict[str, int]] = {}
        for alias in self._aliases:
            counts = {
                t.name: others.get(cooldown_key(alias, t.name), 0)
                for t in self.routing.routes[alias].targets
            }
            self.routing.set_in_flight_elsewhere(alias, counts)
            applied[alias] = counts
        self.exchanges += 1
        self._last_exchange = self._clock()
        return applied

    async def tick(self) -> dict[str, dict[str, int]]:
        return await self.exchange_once()

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self._warn("exchanging the in-flight counts failed", exc)
        last = self._last_exchange
        if last is not None and self._clock() - last > self.ttl:
            # as old as the counts Redis itself forgets: stop steering by them
            for alias in self._aliases:
                self.routing.set_in_flight_elsewhere(
                    alias, {t.name: 0 for t in self.routing.routes[alias].targets}
                )
            self._last_exchange = None
