"""Routing decisions, shared by :class:`~llmrouter._client.Router` and ``AsyncRouter``.

Everything here is pure bookkeeping: no sockets, no sleeping. The clients drive a
:class:`CallPlan` in a loop::

    plan = routing.plan("chat")
    while True:
        step = plan.next()        # Attempt(target) | Wait(seconds) | GiveUp(error)
        ...send (sync or async), then plan.failed(step, exc) or plan.succeeded(step)

so the only things that differ between sync and async are the I/O and ``time.sleep`` versus
``asyncio.sleep``. A clock and a random generator are injected, so every rule (backoff, budget,
cooldown, rpm, strategies) is unit-tested without sleeping.

What happens after a failed attempt (the decision table, also in docs/routing.md):

===================================================  =========  ===========================
error                                                same dep.  next deployment / fallback
===================================================  =========  ===========================
APIConnectionError, APITimeoutError (incl. a stream  retry      yes, once retries run out
cut, or a deadline before the first chunk), 408,
409, 429, 5xx
401, 402, 403, 404, other 4xx without a class,       no         yes (this deployment is
StreamError or StreamDecodeError before the first               misconfigured or broken;
chunk, unreadable body, ResponseTooLargeError                   another may work)
MissingAPIKeyError, UnknownProviderError,            no         yes (deployment config,
PluginLoadError unless strict (incl. its subclass                or a broken/ambiguous plugin)
AmbiguousProviderError)
ContextWindowExceededError                           no         yes (another model may have a
                                                                larger window)
BadRequestError (other 400), 422,                    no         no: raised at once, unwrapped
InvalidRequestError (bad arguments/options),                    (the request itself is wrong,
PromptTemplateError, ConfigError, PluginLoadError                it would fail everywhere)
with strict=True (LLMROUTER_STRICT_PLUGINS=1)
anything not an LLMRouterError (bugs, cancellation)  no         no: propagates untouched
===================================================  =========  ===========================

When every deployment of the alias and of its fallbacks has failed, the call raises
:class:`~llmrouter.errors.AllDeploymentsFailedError` whose ``attempts`` lists every
``(deployment, error)`` and whose ``__cause__`` is the last error.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from llmrouter.config import (
    CooldownSettings,
    Deployment,
    RouterConfig,
    RouterSettings,
    price_of,
)
from llmrouter.errors import (
    AllDeploymentsFailedError,
    APIError,
    BadRequestError,
    ConflictError,
    ContextWindowExceededError,
    InvalidRequestError,
    LLMRouterError,
    MissingAPIKeyError,
    PluginLoadError,
    RateLimitError,
    UnknownProviderError,
    UnprocessableEntityError,
)
from llmrouter.pipeline import AttemptRecord
from llmrouter.provider import parse_retry_after
from llmrouter.secrets import Secret

if TYPE_CHECKING:
    from llmrouter.pipeline import Call

__all__ = [
    "Attempt",
    "CallPlan",
    "Disposition",
    "GiveUp",
    "Lease",
    "Routing",
    "Target",
    "Wait",
    "backoff_delay",
    "classify",
    "counts_against_deployment",
    "deployment_call",
    "log_attempt",
    "retry_after_of",
]

Clock = Callable[[], float]

#: Weight of the newest sample in the latency moving average.
EWMA_ALPHA = 0.3
#: Share of picks the lowest-latency strategy spends on a random deployment, so a deployment
#: that was slow once is measured again instead of being starved forever.
EXPLORE_RATE = 0.05
#: The rpm window, in seconds.
RPM_WINDOW = 60.0


# --- classification -------------------------------------------------------------------------------


class Disposition(str, Enum):
    """What a failed attempt allows."""

    #: Worth repeating on the same deployment (after a backoff), then on the next one.
    RETRY = "retry"
    #: Not on this deployment again, but another deployment or a fallback may succeed.
    NEXT = "next"
    #: The request itself is wrong: raise now, try nothing else.
    STOP = "stop"


def classify(exc: BaseException) -> Disposition:
    """The decision table of the module docstring."""
    if not isinstance(exc, LLMRouterError):
        return Disposition.STOP
    if isinstance(exc, PluginLoadError):
        # The deployment's provider plugin is broken or ambiguous: like an unknown provider, a
        # deployment on another provider may work. Strict mode asked for the failure to stop.
        return Disposition.STOP if exc.strict else Disposition.NEXT
    if isinstance(exc, (MissingAPIKeyError, UnknownProviderError, ContextWindowExceededError)):
        return Disposition.NEXT
    if isinstance(exc, (InvalidRequestError, BadRequestError, UnprocessableEntityError)):
        return Disposition.STOP
    if exc.retryable:
        return Disposition.RETRY
    # Every other provider fault, ResponseTooLargeError and StreamDecodeError included (not
    # retryable: the same deployment would likely send the same bytes again): the next one.
    if isinstance(exc, APIError):
        return Disposition.NEXT
    return Disposition.STOP


def counts_against_deployment(exc: BaseException) -> bool:
    """Whether a failure says something about the deployment's health (for the breaker).

    A malformed request, a conflict or an oversized prompt is the caller's problem and must not
    cool down a healthy deployment; an outage, a rate limit or a missing key is the deployment's.
    """
    if isinstance(exc, PluginLoadError):
        # strict mode raises it on every call for any broken plugin: not this deployment's fault
        return not exc.strict
    if isinstance(exc, (MissingAPIKeyError, UnknownProviderError)):
        return True
    if isinstance(exc, (InvalidRequestError, BadRequestError, UnprocessableEntityError)):
        return False
    if isinstance(exc, ConflictError):
        return False
    return isinstance(exc, APIError)


def backoff_delay(retry: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in ``[0, min(cap, base * 2**retry)]``.

    Random rather than fixed so that many clients failing together do not retry together.
    """
    ceiling = min(cap, base * math.pow(2.0, min(retry, 62)))
    return rng.random() * ceiling


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (``retry_after`` of a 429, else the
    ``retry-after-ms`` / ``retry-after`` headers kept on any status error)."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0.0, float(value))
    headers = getattr(exc, "headers", None)
    if headers:
        return parse_retry_after({str(k).lower(): str(v) for k, v in headers.items()})
    return None


# --- state ----------------------------------------------------------------------------------------


#: How finely the breaker's window is counted (see ``_Health.buckets``).
_BUCKETS_PER_WINDOW = 60


@dataclass(slots=True, eq=False)
class _Health:
    """Per-deployment state shared by every call through one Routing (guarded by its lock)."""

    #: The breaker's window: ``[bucket, attempts, failures]`` per 1/60th of ``window``, oldest
    #: first, with their sums in ``total`` and ``failures``. Memory is bounded by the bucket
    #: count whatever the request rate: one entry per outcome held window x rate of them
    #: (120,000 at 2,000 requests/s over 60 s, about 8 MB per deployment, which a gateway's
    #: soak showed as RSS growing for a minute: docs/performance.md).
    buckets: deque[list[int]] = field(default_factory=deque)
    total: int = 0
    failures: int = 0
    cooldown_until: float | None = None
    half_open: bool = False
    trips: int = 0
    in_flight: int = 0
    #: Calls other processes have in flight on this deployment, as last told through
    #: :meth:`Routing.set_in_flight_elsewhere` (``least-busy`` adds it to ``in_flight``).
    elsewhere: int = 0
    latency: float | None = None
    starts: deque[float] = field(default_factory=deque)


@dataclass(slots=True, eq=False)
class Target:
    """One deployment of one alias, with its health. ``name`` labels it in logs and errors."""

    alias: str
    index: int
    name: str
    deployment: Deployment
    health: _Health = field(default_factory=_Health)
    #: The price the config sets for this deployment (its own or its alias's), or ``None``.
    price: Any = None

    def __repr__(self) -> str:
        return f"<Target {self.alias}[{self.index}] {self.name}>"


@dataclass(slots=True, frozen=True)
class _Route:
    alias: str
    strategy: str
    fallbacks: tuple[str, ...]
    targets: tuple[Target, ...]


@dataclass(slots=True, frozen=True)
class Attempt:
    """Send one request to ``target``. ``number`` counts attempts in the call (1-based),
    ``retry`` the retries already made on this deployment."""

    target: Target
    number: int
    retry: int
    started: float


@dataclass(slots=True, frozen=True)
class Wait:
    """Sleep this long, then ask the plan again."""

    seconds: float


@dataclass(slots=True, frozen=True)
class GiveUp:
    """Raise ``error`` (its ``__cause__`` is already set)."""

    error: BaseException


Step = Attempt | Wait | GiveUp


class Routing:
    """The routing table and the health of every deployment, for one client.

    Thread-safe: a sync Router may be shared by threads, so every change of shared state happens
    under one lock (uncontended and cheap in the async case).

    Health stays in this process, but it can be shared through a few hooks, so that several
    processes in front of the same deployments (gateway workers on several machines) eject a
    failing one together, and balance ``least-busy`` over all their calls, without this module
    doing any I/O: :attr:`on_trip` tells of every deployment the breaker ejects here and
    :meth:`cool_down` applies an ejection decided elsewhere; :meth:`in_flight` reads this
    process's calls in flight and :meth:`set_in_flight_elsewhere` adds the others'.
    """

    #: Called as ``on_trip(alias, deployment_name, seconds)`` each time this process's breaker
    #: ejects a deployment (a trip, or a failed half-open trial), never for :meth:`cool_down`
    #: (what another process decided is not news to pass on). It runs with the routing lock
    #: held, in whatever thread recorded the failure, so it must be quick, must not block and
    #: must not call back into this object: hand the news to a queue or an event loop
    #: (``loop.call_soon_threadsafe``). An exception it raises is logged and swallowed.
    on_trip: Callable[[str, str, float], None] | None = None

    def __init__(
        self,
        config: RouterConfig,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.settings: RouterSettings = config.router
        self.cooldown: CooldownSettings = config.router.cooldown
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()
        # Releases queued by GC callbacks, applied under the lock (see Lease.later).
        self._deferred: deque[Callable[[], None]] = deque()
        routes: dict[str, _Route] = {}
        for alias, group in config.models.items():
            names = config.deployment_names(alias)
            targets = tuple(
                Target(alias, i, names[i], dep, price=price_of(group, dep))
                for i, dep in enumerate(group.deployments)
            )
            routes[alias] = _Route(alias, group.strategy, tuple(group.fallbacks), targets)
        self.routes = routes

    def __contains__(self, alias: object) -> bool:
        return alias in self.routes

    def _drain(self) -> None:
        """Apply queued releases; called with the lock held, first thing."""
        deferred = self._deferred
        while deferred:
            try:
                release = deferred.popleft()
            except IndexError:  # another thread emptied it meanwhile
                break
            release()

    def plan(self, alias: str) -> CallPlan:
        """A fresh plan for one call to ``alias`` (which must be in :attr:`routes`)."""
        return CallPlan(self, alias)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Health of every deployment, for debugging and tests (a copy)."""
        now = self.clock()
        with self._lock:
            self._drain()
            out: dict[str, list[dict[str, Any]]] = {}
            for alias, route in self.routes.items():
                rows = []
                for t in route.targets:
                    h = t.health
                    rows.append(
                        {
                            "name": t.name,
                            "cooling": self._cooling(t, now),
                            "cooldown_until": h.cooldown_until,
                            "trips": h.trips,
                            "in_flight": h.in_flight,
                            "in_flight_elsewhere": h.elsewhere,
                            "latency": h.latency,
                            "window": h.total,
                            "failures": h.failures,
                        }
                    )
                out[alias] = rows
            return out

    # --- health (lock held) ---------------------------------------------------------------

    def _cooling(self, target: Target, now: float) -> bool:
        h = target.health
        until = h.cooldown_until
        if until is None:
            return False
        if now < until:
            return True
        # Cool-off over: half-open. The next outcome alone decides (see _record).
        h.cooldown_until = None
        h.half_open = True
        h.buckets.clear()
        h.total = 0
        h.failures = 0
        return False

    def _record(self, target: Target, ok: bool, now: float) -> None:
        h = target.health
        settings = self.cooldown
        if h.half_open:
            h.half_open = False
            if ok:
                return
            self._trip(target, now)
            return
        width = settings.window / _BUCKETS_PER_WINDOW
        bucket = int(now // width)
        buckets = h.buckets
        failed = 0 if ok else 1
        if buckets and buckets[-1][0] == bucket:
            last = buckets[-1]
            last[1] += 1
            last[2] += failed
        else:
            buckets.append([bucket, 1, failed])
        h.total += 1
        h.failures += failed
        # A bucket leaves once all of it is older than the window (so the window is counted
        # up to one bucket, 1/60th of it, longer than `window`).
        oldest = int((now - settings.window) // width)
        while buckets and buckets[0][0] < oldest:
            _, attempts, failures = buckets.popleft()
            h.total -= attempts
            h.failures -= failures
        total = h.total
        if (
            not ok
            and total >= settings.min_requests
            and h.failures >= settings.failure_rate * total
        ):
            self._trip(target, now)

    def _trip(
        self, target: Target, now: float, duration: float | None = None, *, notify: bool = True
    ) -> bool:
        route = self.routes[target.alias]
        if not any(not self._cooling(o, now) for o in route.targets if o is not target):
            # Never eject the last healthy deployment: a degraded route beats no route.
            return False
        seconds = self.cooldown.duration if duration is None else duration
        h = target.health
        h.cooldown_until = now + seconds
        h.half_open = False
        h.trips += 1
        h.buckets.clear()
        h.total = 0
        h.failures = 0
        hook = self.on_trip
        if notify and hook is not None:
            try:
                hook(target.alias, target.name, seconds)
            except Exception:
                # A broken listener must not turn one deployment's failure into a failed call.
                _log.exception("llmrouter.on_trip hook failed for %s", target.name)
        return True

    def cool_down(self, alias: str, deployment: str, seconds: float) -> bool:
        """Skip the deployment named ``deployment`` of ``alias`` for ``seconds`` from now, as if
        its breaker had tripped here: for a cooldown decided by another process.

        The rules of a local trip hold: the last healthy deployment of an alias is never
        ejected, a trip is counted, and a half-open trial follows the cooldown. A deployment
        already cooling is not tripped again; its cooldown is only lengthened to ``seconds``
        from now if it would end sooner. :attr:`on_trip` is not called. Returns whether the
        deployment is cooling now.
        """
        route = self._route(alias, "cool_down")
        target = next((t for t in route.targets if t.name == deployment), None)
        if target is None:
            raise InvalidRequestError(
                f"cool_down: alias {alias!r} has no deployment named {deployment!r}; its "
                f"deployments are {', '.join(t.name for t in route.targets)}",
                param="deployment",
            )
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise InvalidRequestError(
                f"cool_down: seconds must be a positive finite number, got {seconds!r}",
                param="seconds",
            )
        seconds = float(seconds)
        with self._lock:
            self._drain()
            now = self.clock()
            if self._cooling(target, now):
                h = target.health
                h.cooldown_until = max(h.cooldown_until or now, now + seconds)
                return True
            return self._trip(target, now, seconds, notify=False)

    def in_flight(self, alias: str) -> dict[str, int]:
        """Calls this process has in flight on each deployment of ``alias``, by deployment
        name: what it tells other processes through a shared store (the gateway's Redis)."""
        route = self._route(alias, "in_flight")
        with self._lock:
            self._drain()
            return {t.name: t.health.in_flight for t in route.targets}

    def set_in_flight_elsewhere(self, alias: str, counts: Mapping[str, int]) -> None:
        """Tell this process how many calls *other* processes have in flight on deployments of
        ``alias`` (by deployment name; a name left out keeps its last count), so that
        ``least-busy`` compares every process's calls, not only its own. The counts are as
        fresh as the caller's last read; this module does no I/O."""
        route = self._route(alias, "set_in_flight_elsewhere")
        by_name = {t.name: t for t in route.targets}
        checked: list[tuple[Target, int]] = []
        for name, count in counts.items():
            target = by_name.get(name)
            if target is None:
                raise InvalidRequestError(
                    f"set_in_flight_elsewhere: alias {alias!r} has no deployment named "
                    f"{name!r}; its deployments are {', '.join(by_name)}",
                    param="counts",
                )
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidRequestError(
                    f"set_in_flight_elsewhere: the count of {name!r} must be an integer >= 0, "
                    f"got {count!r}",
                    param="counts",
                )
            checked.append((target, count))
        with self._lock:
            for target, count in checked:
                target.health.elsewhere = count

    def _route(self, alias: str, what: str) -> _Route:
        route = self.routes.get(alias) if isinstance(alias, str) else None
        if route is None:
            raise InvalidRequestError(
                f"{what}: unknown alias {alias!r}; the aliases are "
                f"{', '.join(sorted(self.routes)) or '(none)'}",
                param="alias",
            )
        return route

    def _rpm_wait(self, target: Target, now: float) -> float:
        rpm = target.deployment.rpm
        if rpm is None:
            return 0.0
        starts = target.health.starts
        horizon = now - RPM_WINDOW
        while starts and starts[0] <= horizon:
            starts.popleft()
        if len(starts) < rpm:
            return 0.0
        return starts[0] + RPM_WINDOW - now

    def _select(
        self, route: _Route, exclude: set[int], now: float, skipped: dict[str, str]
    ) -> tuple[Target | None, float | None]:
        """Choose among the usable deployments of ``route``; also the shortest rpm wait."""
        candidates: list[Target] = []
        rpm_wait: float | None = None
        for t in route.targets:
            if t.index in exclude:
                continue
            if self._cooling(t, now):
                until = t.health.cooldown_until or now
                skipped[t.name] = f"cooling down for {until - now:.1f}s more"
                continue
            wait = self._rpm_wait(t, now)
            if wait > 0:
                skipped[t.name] = f"at its rpm limit ({t.deployment.rpm}/min)"
                rpm_wait = wait if rpm_wait is None else min(rpm_wait, wait)
                continue
            candidates.append(t)
        if not candidates:
            return None, rpm_wait
        return self._pick(route.strategy, candidates), rpm_wait

    def _pick(self, strategy: str, candidates: list[Target]) -> Target:
        if len(candidates) == 1:
            return candidates[0]
        rng = self.rng
        if strategy == "least-busy":
            low = min(t.health.in_flight + t.health.elsewhere for t in candidates)
            return rng.choice(
                [t for t in candidates if t.health.in_flight + t.health.elsewhere == low]
            )
        if strategy == "lowest-latency":
            unmeasured = [t for t in candidates if t.health.latency is None]
            if unmeasured:
                return rng.choice(unmeasured)
            if rng.random() < EXPLORE_RATE:
                return rng.choice(candidates)
            best = min(t.health.latency or 0.0 for t in candidates)
            return rng.choice([t for t in candidates if t.health.latency == best])
        total = sum(t.deployment.weight for t in candidates)
        point = rng.random() * total
        for t in candidates:
            point -= t.deployment.weight
            if point < 0:
                return t
        return candidates[-1]


class CallPlan:
    """The attempt schedule of one routed call: which deployment next, how long to wait, when
    to give up. Created by :meth:`Routing.plan`; driven by the client (see the module docstring).
    """

    def __init__(self, routing: Routing, alias: str) -> None:
        self.routing = routing
        self.alias = alias
        route = routing.routes[alias]
        self.aliases: tuple[str, ...] = (alias, *route.fallbacks)
        #: The first deployment's route: what the caller's arguments are validated against.
        self.placeholder = route.targets[0].deployment.model
        self.started = routing.clock()
        self.number = 0
        #: ``(deployment, error)`` for every failed attempt, in order.
        self.attempts: list[tuple[str, BaseException]] = []
        #: Every finished attempt, for the ``call_end`` outcome's ``attempt_log``.
        self.records: list[AttemptRecord] = []
        self._alias_pos = 0
        self._tried: dict[str, set[int]] = {}
        self._current: Target | None = None
        self._retries = 0
        self._wait = 0.0
        self._stop: BaseException | None = None
        self._skipped: dict[str, str] = {}
        #: Seconds until an rpm-limited deployment frees a slot, when that is what stopped the call.
        self._rpm_free: float | None = None
        self._budget_spent = False

    def next(self) -> Step:
        routing = self.routing
        settings = routing.settings
        with routing._lock:
            routing._drain()
            if self._stop is not None:
                return GiveUp(self._stop)
            if self._wait > 0:
                wait, self._wait = self._wait, 0.0
                return Wait(wait)
            now = routing.clock()
            current = self._current
            if current is not None:
                if routing._rpm_wait(current, now) <= 0:
                    return self._begin(current, now)
                # The retry would break the deployment's rpm limit: move on instead.
                self._skipped[current.name] = f"at its rpm limit ({current.deployment.rpm}/min)"
                self._tried.setdefault(current.alias, set()).add(current.index)
                self._current = None
                self._retries = 0
            if self.number and now - self.started >= settings.retry_budget:
                self._budget_spent = True
                return GiveUp(self._final_error())
            rpm_wait: float | None = None
            while self._alias_pos < len(self.aliases):
                alias = self.aliases[self._alias_pos]
                tried = self._tried.setdefault(alias, set())
                target, slot = routing._select(routing.routes[alias], tried, now, self._skipped)
                if target is not None:
                    return self._begin(target, now)
                if slot is not None:
                    rpm_wait = slot if rpm_wait is None else min(rpm_wait, slot)
                self._alias_pos += 1
            self._rpm_free = rpm_wait
            if (
                rpm_wait is not None
                and rpm_wait <= settings.retry_after_max
                and now - self.started + rpm_wait <= settings.retry_budget
            ):
                # Only rpm limits stand in the way and a slot frees up soon: wait, then rescan.
                self._alias_pos = 0
                self._skipped.clear()
                return Wait(rpm_wait + 0.001)
            return GiveUp(self._final_error())

    def _begin(self, target: Target, now: float) -> Attempt:
        self._current = target
        self.number += 1
        h = target.health
        h.in_flight += 1
        if target.deployment.rpm is not None:
            h.starts.append(now)
        return Attempt(target, self.number, self._retries, now)

    def failed(self, attempt: Attempt, exc: BaseException) -> tuple[str, float]:
        """Record a failed attempt; returns the decision (``retry``, ``next`` or ``stop``) and
        the wait before the next step, for the attempt's log event."""
        routing = self.routing
        settings = routing.settings
        target = attempt.target
        with routing._lock:
            routing._drain()
            now = routing.clock()
            target.health.in_flight -= 1
            self.attempts.append((target.name, exc))
            disposition = classify(exc)
            if counts_against_deployment(exc):
                routing._record(target, False, now)
            if disposition is Disposition.STOP:
                self._stop = exc
                self._current = None
                return "stop", 0.0
            if (
                disposition is Disposition.RETRY
                and self._retries < settings.num_retries
                and not routing._cooling(target, now)
            ):
                asked = retry_after_of(exc)
                if asked is None:
                    delay = backoff_delay(
                        self._retries,
                        base=settings.backoff_base,
                        cap=settings.backoff_max,
                        rng=routing.rng,
                    )
                else:
                    delay = asked
                if (asked is None or asked <= settings.retry_after_max) and (
                    now - self.started + delay <= settings.retry_budget
                ):
                    self._retries += 1
                    self._wait = delay
                    return "retry", delay
            self._tried.setdefault(target.alias, set()).add(target.index)
            self._current = None
            self._retries = 0
            return "next", 0.0

    def succeeded(self, attempt: Attempt, *, hold: bool = False) -> Lease:
        """Record a successful attempt (its latency feeds lowest-latency).

        With ``hold`` (a stream whose first chunk arrived) the deployment stays "in flight" until
        the returned :class:`Lease` is called with the stream's final error or ``None``; the
        breaker hears about a mid-stream failure then.
        """
        routing = self.routing
        target = attempt.target
        with routing._lock:
            routing._drain()
            now = routing.clock()
            h = target.health
            sample = max(0.0, now - attempt.started)
            h.latency = (
                sample if h.latency is None else h.latency + EWMA_ALPHA * (sample - h.latency)
            )
            self._current = None
        lease = Lease(routing, target)
        if not hold:
            lease(None)
        return lease

    def abandon(self, attempt: Attempt) -> None:
        """The attempt ended in something that is not a routing matter (cancellation, a bug):
        free the deployment and record nothing."""
        with self.routing._lock:
            self.routing._drain()
            attempt.target.health.in_flight -= 1
            self._current = None

    def _final_error(self) -> BaseException:
        if self._stop is not None:
            return self._stop
        aliases = ", ".join(repr(a) for a in self.aliases)
        what = f"alias {self.alias!r}" if len(self.aliases) == 1 else f"aliases {aliases}"
        parts: list[str] = []
        last_key: tuple[str, str] | None = None
        for name, exc in self.attempts:
            key = (name, _short(exc))
            if key == last_key:
                parts[-1] = _count_up(parts[-1])
                continue
            last_key = key
            parts.append(f"{name}: {key[1]}")
        attempts = list(self.attempts)
        if parts:
            message = (
                f"every deployment of {what} failed after {self.number} attempt(s): "
                + "; ".join(parts)
            )
        else:
            message = f"no deployment of {what} could take the request"
        if self._skipped:
            skipped = "; ".join(f"{n}: {why}" for n, why in self._skipped.items())
            message += f". Skipped: {skipped}"
            if not attempts:
                # When an rpm slot frees up is known: a caller (the gateway's retry-after)
                # can wait that long instead of guessing.
                attempts = [
                    (
                        n,
                        RateLimitError(
                            f"deployment {n} skipped: {why}", retry_after=self._rpm_free
                        ),
                    )
                    for n, why in self._skipped.items()
                ]
        if self._budget_spent:
            message += (
                f". The retry budget of {self.routing.settings.retry_budget:g}s is spent; "
                "raise [router] retry_budget to keep trying longer"
            )
        last = attempts[-1][1] if attempts else None
        error = AllDeploymentsFailedError(
            message,
            attempts=attempts,
            provider=getattr(last, "provider", None),
            model=getattr(last, "model", None),
        )
        error.__cause__ = last
        return error


class Lease:
    """A deployment held by a successful attempt; calling it (once, idempotently) frees the
    deployment and tells the breaker how the response ended (``None`` = fine)."""

    __slots__ = ("_done", "_routing", "_target")

    def __init__(self, routing: Routing, target: Target) -> None:
        self._routing = routing
        self._target = target
        self._done = False

    def __call__(self, error: BaseException | None = None) -> None:
        if self._done:
            return
        routing = self._routing
        with routing._lock:
            routing._drain()
            self._release(error)

    def later(self) -> None:
        """Release from a garbage-collector callback (an abandoned stream). GC can run while
        this very thread holds the routing lock, so this must not take it: the release is
        queued and applied by whoever takes the lock next."""
        if not self._done:
            self._routing._deferred.append(self._release)

    def _release(self, error: BaseException | None = None) -> None:
        # lock held
        if self._done:
            return
        self._done = True
        routing = self._routing
        target = self._target
        target.health.in_flight -= 1
        if error is None:
            routing._record(target, True, routing.clock())
        elif counts_against_deployment(error):
            routing._record(target, False, routing.clock())


def _short(exc: BaseException) -> str:
    # The message without the per-request context (request ids), so repeats collapse to "(xN)".
    text = str(getattr(exc, "message", None) or exc)
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}"


def _count_up(part: str) -> str:
    # "name: Error: text" -> "name: Error: text (x2)" -> "(x3)" ...
    if part.endswith(")") and " (x" in part:
        head, _, n = part.rpartition(" (x")
        return f"{head} (x{int(n[:-1]) + 1})"
    return f"{part} (x2)"


# --- per-attempt call and log ---------------------------------------------------------------------


def deployment_call(base: Call, plan: CallPlan, attempt: Attempt) -> Call:
    """The :class:`~llmrouter.pipeline.Call` for one attempt: ``base`` (the caller's validated
    arguments) pointed at the attempt's deployment.

    The caller's explicit arguments win over the deployment's (``api_base``, ``api_key``,
    ``timeout``, ``prompt_template``, each option). Without either timeout the client's default
    applies: ``Router(timeout=...)`` if given, else ``[router] timeout``. The key is read from ``api_key_env`` now, at
    call time, so a rotated key is picked up without a restart and no key is held in the config.
    """
    target = attempt.target
    dep = target.deployment
    params = base.params
    if dep.options:
        params = {**dep.options, **params}
    call = dataclasses.replace(
        base,
        provider=dep.provider,
        model=dep.provider_model,
        params=params,
        metadata={
            **base.metadata,
            "alias": plan.alias,
            "deployment": target.name,
            "attempts": attempt.number,
        },
    )
    call.attempt_log = plan.records
    if target.price is not None:
        call.metadata["prices"] = target.price
    if call.api_base is None and dep.api_base is not None:
        call.api_base = dep.api_base
    if call.timeout is None and dep.timeout is not None:
        call.timeout = dep.timeout
    if call.prompt_template is None and dep.prompt_template is not None:
        call.prompt_template = dep.prompt_template
    if call.api_key is None and dep.api_key_env is not None:
        value = os.environ.get(dep.api_key_env, "").strip()
        if not value:
            raise MissingAPIKeyError(
                f"deployment {target.name!r} of alias {target.alias!r} reads its key from "
                f"${dep.api_key_env}, which is not set or empty; export it",
                env_vars=[dep.api_key_env],
                provider=call.provider,
                model=call.model,
            )
        call.api_key = Secret(value)
    return call


_log = logging.getLogger("llmrouter")


def log_attempt(
    plan: CallPlan,
    attempt: Attempt,
    *,
    error: BaseException | None = None,
    decision: str | None = None,
    delay: float = 0.0,
    answer: Any = None,
) -> None:
    """Record the attempt in ``plan.records`` (the ``call_end`` outcome's ``attempt_log``; the
    status and request id come from the error, or from ``answer``, whatever of the successful
    attempt's response carries them: an ``HTTPResponse`` or a ``PendingCallInfo``), and
    log one structured ``llmrouter.attempt`` event for it (INFO when it succeeded, WARNING when
    it failed), skipped cheaply when that level is off."""
    target = attempt.target
    elapsed = plan.routing.clock() - attempt.started
    end_ns = time.time_ns()
    dep = target.deployment
    plan.records.append(
        AttemptRecord(
            number=attempt.number,
            deployment=target.name,
            provider=dep.provider,
            model=dep.provider_model,
            start_ns=end_ns - int(max(elapsed, 0.0) * 1e9),
            end_ns=end_ns,
            error=error,
            status_code=getattr(error if answer is None else answer, "status_code", None),
            request_id=getattr(error if answer is None else answer, "request_id", None),
            decision=decision,
        )
    )
    level = logging.INFO if error is None else logging.WARNING
    if not _log.isEnabledFor(level):
        return
    from llmrouter.logs import get_logger

    fields: dict[str, Any] = {
        "alias": plan.alias,
        "route_alias": target.alias,
        "deployment": target.name,
        "provider": target.deployment.provider,
        "model": target.deployment.provider_model,
        "attempt": attempt.number,
        "retry": attempt.retry,
        "latency_ms": round(elapsed * 1000, 2),
    }
    log = get_logger()
    if error is None:
        log.info("llmrouter.attempt", outcome="ok", **fields)
        return
    log.warning(
        "llmrouter.attempt",
        outcome="error",
        error_type=type(error).__name__,
        error=str(error),
        status=getattr(error, "status_code", None),
        request_id=getattr(error, "request_id", None),
        decision=decision,
        delay_s=round(delay, 4),
        **fields,
    )
