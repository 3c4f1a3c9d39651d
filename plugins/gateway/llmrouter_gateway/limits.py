"""Per-key rate limits and budgets, deployment in-flight counts and cooldowns: in one process, or
in Redis so that N gateway processes on N machines count as one.

Two implementations of one :class:`Limiter` protocol: :class:`MemoryLimiter` (plain dicts,
no await inside a decision, so one event loop cannot interleave two of them) and
:class:`RedisLimiter` (each operation is one Lua script run with ``EVALSHA``: one round trip,
and Redis runs a script alone, so concurrent gateways cannot race between the read and the
write). Both make the same decisions from the same clock; the tests check that.

The window: sub-bucketed sliding window
---------------------------------------
``rpm`` and ``tpm`` are limits per 60 seconds. The candidates were:

- a fixed window (one counter per minute): O(1), but lets 2x the limit through across a
  minute's edge (the limit at 12:00:59 and again at 12:01:00);
- a sliding log (one timestamp per request): exact, but holds ``rpm`` entries per key, and for
  ``tpm`` a sum over every entry on every check;
- a weighted two-window estimate: O(1), but an estimate, so it can let more than the limit
  through;
- a token bucket / GCRA: O(1) and exact, but a different contract (a full bucket plus its
  refill lets nearly 2x ``rpm`` through in one minute);
- **a sliding window of sub-buckets** (this module): the minute is cut into ``60 /
  bucket_seconds`` buckets (1 s by default), each holding a request count and a token count.
  A check sums the buckets of the last minute *plus the one the window's start falls in*.

Counting that extra bucket makes the limit a guarantee: a request admitted at ``t`` (in bucket
``b``) is counted until ``(b + 61) * bucket_seconds > t + 60``, so **no 60-second interval ever
sees more than the limit**. The price is that a slot frees up to one bucket (1 s) later than a
perfect sliding log would free it, i.e. sustained traffic gets at most 60/61 of the limit. Memory
is bounded by the bucket count (at most 2 x 61 small integers per key), whatever the traffic,
and the same structure serves ``rpm`` and ``tpm``. Both implementations keep running totals next
to the buckets, so an admission is O(1): expire the buckets that left since the last call (one,
under steady traffic), compare two totals, add to the newest bucket. Only a denial walks the
buckets, oldest first, to compute ``retry_after``. A smaller ``bucket_seconds`` trades memory and
a denial's walk for precision at the window edge.

``retry_after`` is exact for this algorithm: the time until enough of the oldest buckets leave
the window for the request to fit (for ``rpm`` one request; for ``tpm`` its estimate). A request
whose estimate alone exceeds ``tpm`` can never fit: it is denied with ``retry_after=None``.

An admitted request reserves its ``tokens_estimate`` at once (so 500 concurrent requests cannot
all pass a ``tpm`` check before any records its tokens); :meth:`Limiter.record_tokens` with the
:class:`Decision` as ``reservation`` then replaces the estimate by the answer's real count in the
bucket where it was reserved.

Budgets, in-flight counts, cooldowns
------------------------------------
Spend is kept as an integer count of **nano-dollars** (1e-9 USD): Redis's ``INCRBYFLOAT`` is a
binary double, whose sums drift (0.1 + 0.2), while ``INCRBY`` on an int64 is exact up to about
$9.2 billion per key and period. Amounts are rounded *up* to the next nano-dollar, so the
counter never under-reports; :meth:`Limiter.spend` turns it back into a ``Decimal``. A budget
period starts with the first spend after a reset and is the counter's TTL, so it resets by
itself in both implementations; ``period_seconds=None`` is a lifetime counter (no TTL: one key
per virtual key, which :meth:`Limiter.reset_spend` removes).

In-flight counts are leases, not a bare counter: :meth:`Limiter.inc` returns a :class:`Lease`
that :meth:`Limiter.dec` gives back, and a lease that is never given back (a process killed
mid-request) expires after ``lease_seconds`` instead of inflating the count forever.

A cooldown only ever grows: setting a shorter one while a longer one runs keeps the longer.

Redis layout and time
---------------------
Every key starts with ``prefix`` (``llmrouter:`` by default) and carries a TTL: the window hash
``{prefix}rl:{key_id}`` (two buckets past the window; fields ``R`` and ``T`` the totals, ``o``
the oldest bucket counted, ``r<bucket>`` and ``t<bucket>`` the buckets), the spend counter
``{prefix}spend:{key_id}`` (its period), ``{prefix}inflight:{deployment}`` (a sorted set of
leases, the longest lease), ``{prefix}cooldown:{deployment}`` (the cooldown),
``{prefix}inflight-shared`` (every gateway process's in-flight counts per deployment, for
``least-busy`` routing across processes: :meth:`RedisLimiter.share_in_flight`). Each script touches
one key, so the layout also works on Redis Cluster. Scripts read the time with Redis's ``TIME``,
so machines whose clocks disagree still share one window; a ``clock`` passed to
:class:`RedisLimiter` replaces it (tests).

The scripts asked for in one turn of the event loop (under load: the admissions and token
records of many requests) go out together in one pipeline, one round trip for all of them; each
script is still atomic on its own, and a lone one is sent as it is.

Commands are not retried (a script whose reply was lost may have run; running it again would
count twice) and a failure is a :class:`LimiterUnavailableError`: whether to fail open or answer
503 is the caller's choice.

``key_id`` ends up in Redis key names and in this module's state: pass the virtual key's id or
hash, never the key itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit

from llmrouter.errors import InvalidRequestError, LLMRouterError
from llmrouter.secrets import redact_url

if TYPE_CHECKING:
    import redis.asyncio

__all__ = [
    "DEFAULT_BUCKET_SECONDS",
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_PREFIX",
    "WINDOW_SECONDS",
    "BudgetStatus",
    "Decision",
    "Lease",
    "Limiter",
    "LimiterUnavailableError",
    "MemoryLimiter",
    "RedisLimiter",
    "make_limiter",
    "track",
]

#: ``rpm`` and ``tpm`` are per minute.
WINDOW_SECONDS = 60
#: The width of one sub-bucket of the window: a slot frees at most this much late.
DEFAULT_BUCKET_SECONDS = 1.0
#: How long an in-flight lease lives when it is never given back (a crashed process).
DEFAULT_LEASE_SECONDS = 600.0
DEFAULT_PREFIX = "llmrouter:"
#: Nano-dollars per dollar: spend counters are integers of this unit.
_NANOS = 10**9
_INT64_MAX = 2**63 - 1
_MAX_NAME = 512

Clock = Callable[[], float]
LimitName = Literal["rpm", "tpm"]


class LimiterUnavailableError(LLMRouterError):
    """The shared store (Redis) did not answer or refused an operation.

    The caller chooses the policy: fail open (admit without a limit, log it) or answer 503. The
    message names the server without its password.
    """


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to :meth:`Limiter.acquire`.

    ``retry_after`` is the seconds until the request would fit (``None`` when it was admitted,
    or when it never fits: an estimate larger than ``tpm``); ``limit`` names the limit that
    denied it (the one that frees last, when both do). ``bucket`` and ``reserved_tokens`` say
    where an admitted request's estimate was reserved, for :meth:`Limiter.record_tokens`.
    """

    allowed: bool
    retry_after: float | None = None
    limit: LimitName | None = None
    bucket: int | None = None
    reserved_tokens: int = 0


class BudgetStatus(NamedTuple):
    """:meth:`Limiter.check_budget`: whether more may be spent, what was spent this period,
    and the seconds until the period resets (``None``: nothing spent yet, or no period)."""

    ok: bool
    spent: Decimal
    resets_in: float | None


@dataclass(frozen=True, slots=True)
class Lease:
    """One in-flight request on a deployment, from :meth:`Limiter.inc`; ``in_flight`` is the
    deployment's count including it."""

    deployment: str
    token: str
    in_flight: int


@runtime_checkable
class Limiter(Protocol):
    """What the gateway needs to enforce per-key limits and budgets and to share deployment
    state; every method is a coroutine because the shared implementation is across a network."""

    name: str

    async def acquire(
        self,
        key_id: str,
        rpm: int | None = None,
        tpm: int | None = None,
        tokens_estimate: int = 0,
    ) -> Decision:
        """Admit one request if both limits have room (then count it and reserve its token
        estimate), or deny it and count nothing."""
        ...

    async def record_tokens(
        self, key_id: str, tokens: int, *, reservation: Decision | None = None
    ) -> None:
        """Count an answer's real tokens; with the admitting ``reservation``, in place of its
        estimate."""
        ...

    async def add_spend(
        self, key_id: str, usd: Decimal | int, period_seconds: float | None
    ) -> Decimal:
        """Add ``usd`` to the key's spend this period and return the new total."""
        ...

    async def spend(self, key_id: str) -> Decimal:
        """The key's spend this period."""
        ...

    async def check_budget(self, key_id: str, max_budget: Decimal | int) -> BudgetStatus:
        """Whether the key's spend this period is still below ``max_budget``."""
        ...

    async def reset_spend(self, key_id: str) -> None:
        """Forget the key's spend (a budget reset or a deleted key)."""
        ...

    async def inc(self, deployment: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Lease:
        """Count one more request in flight on ``deployment``."""
        ...

    async def dec(self, lease: Lease) -> int:
        """Give a lease back; returns the deployment's remaining count."""
        ...

    async def in_flight(self, deployment: str) -> int:
        """Requests in flight on ``deployment`` (expired leases not counted)."""
        ...

    async def set_cooldown(self, deployment: str, seconds: float) -> float:
        """Cool ``deployment`` for ``seconds`` (a longer running cooldown is kept); returns the
        seconds it now cools for."""
        ...

    async def cooling(self, deployment: str) -> float | None:
        """Seconds of cooldown left on ``deployment``, or ``None``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@asynccontextmanager
async def track(
    limiter: Limiter, deployment: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> AsyncIterator[Lease]:
    """Hold an in-flight lease on ``deployment`` for the duration of a block (given back on
    errors and cancellation too)."""
    lease = await limiter.inc(deployment, lease_seconds=lease_seconds)
    try:
        yield lease
    finally:
        await limiter.dec(lease)


def make_limiter(
    redis_url: str | None = None, *, prefix: str = DEFAULT_PREFIX, **options: Any
) -> Limiter:
    """The limiter a gateway config asks for: Redis when ``redis_url`` is set, else in-process."""
    if redis_url:
        return RedisLimiter(redis_url, prefix=prefix, **options)
    return MemoryLimiter(**options)


# --- validation ---------------------------------------------------------------------------------


def _name(value: object, param: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_NAME:
        raise InvalidRequestError(
            f"{param} must be a non-empty string of at most {_MAX_NAME} characters (a key's id "
            f"or hash, or a deployment name), got {type(value).__name__}"
            + (f" of length {len(value)}" if isinstance(value, str) else ""),
            param=param,
        )
    return value


def _limit(value: object, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(
            f"{param} must be a positive integer or None (no limit), got {value!r}", param=param
        )
    return value


def _count(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequestError(
            f"{param} must be a non-negative integer (a token count), got {value!r}",
            param=param,
        )
    return value


def _seconds(value: object, param: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        extra = " or None" if allow_none else ""
        raise InvalidRequestError(
            f"{param} must be a positive finite number of seconds{extra}, got {value!r}",
            param=param,
        )
    return float(value)


def _usd(value: object, param: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        hint = (
            " (pass Decimal(str(x)): a float is not an exact amount)"
            if isinstance(value, float)
            else ""
        )
        raise InvalidRequestError(
            f"{param} must be a Decimal or an int of US dollars, got {type(value).__name__}{hint}",
            param=param,
        )
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise InvalidRequestError(
            f"{param} must be a finite amount >= 0 US dollars, got {value!r}", param=param
        )
    return amount


def _to_nanos(usd: Decimal, param: str) -> int:
    with localcontext() as ctx:
        ctx.prec = 60
        nanos = int((usd * _NANOS).to_integral_value(rounding=ROUND_CEILING))
    if nanos > _INT64_MAX:
        raise InvalidRequestError(
            f"{param} is too large: spend counters hold at most {Decimal(_INT64_MAX) / _NANOS} "
            "US dollars per key and period",
            param=param,
        )
    return nanos


def _from_nanos(nanos: int) -> Decimal:
    return Decimal(nanos).scaleb(-9)


def _bucket_ms(bucket_seconds: object) -> int:
    seconds = _seconds(bucket_seconds, "bucket_seconds")
    assert seconds is not None
    width = round(seconds * 1000)
    if width < 1 or (WINDOW_SECONDS * 1000) % width or abs(width - seconds * 1000) > 1e-6:
        raise InvalidRequestError(
            "bucket_seconds must divide the 60-second window into whole milliseconds "
            f"(1.0, 0.5, 0.25, 2.0, ...), got {bucket_seconds!r}",
            param="bucket_seconds",
        )
    return width


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


# --- in process ---------------------------------------------------------------------------------


class _Window:
    """One key's buckets, oldest first: ``[bucket, requests, tokens]``, with running totals."""

    __slots__ = ("buckets", "requests", "tokens")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.requests = 0
        self.tokens = 0

    def prune(self, oldest: int) -> None:
        buckets = self.buckets
        while buckets and buckets[0][0] < oldest:
            _, requests, tokens = buckets.popleft()
            self.requests -= requests
            self.tokens -= tokens

    def add(self, bucket: int, requests: int, tokens: int) -> None:
        buckets = self.buckets
        if buckets and buckets[-1][0] >= bucket:
            # the newest bucket, or (with a clock that went back) the newest there is
            entry = buckets[-1]
            if entry[0] != bucket:
                for candidate in reversed(buckets):
                    if candidate[0] == bucket:
                        entry = candidate
                        break
            entry[1] += requests
            entry[2] += tokens
        else:
            buckets.append([bucket, requests, tokens])
        self.requests += requests
        self.tokens += tokens

    def find(self, bucket: int) -> list[int] | None:
        for entry in reversed(self.buckets):
            if entry[0] == bucket:
                return entry
            if entry[0] < bucket:
                break
        return None


def _wait_ms(
    window: _Window, index: int, need: int, limit: int, n: int, width: int, now: int
) -> int:
    """Milliseconds until enough of the oldest buckets leave the window for ``need`` more to
    fit under ``limit`` (``index`` 1: requests, 2: tokens). Bucket ``b`` stops counting at
    ``(b + n + 1) * width``."""
    total = window.requests if index == 1 else window.tokens
    freed = 0
    for entry in window.buckets:
        freed += entry[index]
        if total - freed + need <= limit:
            return (entry[0] + n + 1) * width - now
    return (now // width + n + 1) * width - now


class MemoryLimiter:
    """Limits, budgets, in-flight counts and cooldowns in this process's memory.

    Right for one gateway process; with several, each counts alone (N processes let N x the
    limit through): configure Redis. ``clock`` is any seconds counter (``time.monotonic`` by
    default; tests pass a clock they move by hand). State of idle keys is swept once per window,
    so memory follows the keys in use, not every key ever seen.
    """

    name = "memory"

    def __init__(
        self, *, bucket_seconds: float = DEFAULT_BUCKET_SECONDS, clock: Clock = time.monotonic
    ) -> None:
        self._width = _bucket_ms(bucket_seconds)
        self._n = WINDOW_SECONDS * 1000 // self._width
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._spend: dict[str, tuple[int, float | None]] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._cooldowns: dict[str, float] = {}
        self._next_sweep = clock() + WINDOW_SECONDS

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    def _sweep(self, now: float) -> None:
        """Drop whatever has expired; called with the lock held, at most once per window."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + WINDOW_SECONDS
        oldest = round(now * 1000) // self._width - self._n
        for key_id in [
            k for k, w in self._windows.items() if not w.buckets or w.buckets[-1][0] < oldest
        ]:
            del self._windows[key_id]
        for key_id in [k for k, (_, end) in self._spend.items() if end is not None and end <= now]:
            del self._spend[key_id]
        for deployment in [d for d, end in self._cooldowns.items() if end <= now]:
            del self._cooldowns[deployment]
        for deployment, leases in list(self._leases.items()):
            for token in [t for t, end in leases.items() if end <= now]:
                del leases[token]
            if not leases:
                del self._leases[deployment]

    def tracked(self) -> int:
        """How many keys and deployments hold state (for tests of the sweep, and metrics)."""
        with self._lock:
            return len(self._windows) + len(self._spend) + len(self._leases) + len(self._cooldowns)

    async def acquire(
        self,
        key_id: str,
        rpm: int | None = None,
        tpm: int | None = None,
        tokens_estimate: int = 0,
    ) -> Decision:
        key_id = _name(key_id, "key_id")
        rpm = _limit(rpm, "rpm")
        tpm = _limit(tpm, "tpm")
        estimate = _count(tokens_estimate, "tokens_estimate")
        if rpm is None and tpm is None:
            return Decision(True)
        width, n = self._width, self._n
        with self._lock:
            now_ms = self._now_ms()
            self._sweep(now_ms / 1000)
            current = now_ms // width
            window = self._windows.get(key_id)
            if window is None:
                window = self._windows[key_id] = _Window()
            window.prune(current - n)
            need = max(estimate, 1)
            wait_r = wait_t = 0
            if rpm is not None and window.requests + 1 > rpm:
                wait_r = _wait_ms(window, 1, 1, rpm, n, width, now_ms)
            if tpm is not None and window.tokens + need > tpm:
                wait_t = -1 if need > tpm else _wait_ms(window, 2, need, tpm, n, width, now_ms)
            if wait_r == 0 and wait_t == 0:
                window.add(current, 1, estimate)
                return Decision(True, bucket=current, reserved_tokens=estimate)
        return _denied(wait_r, wait_t)

    async def record_tokens(
        self, key_id: str, tokens: int, *, reservation: Decision | None = None
    ) -> None:
        key_id = _name(key_id, "key_id")
        tokens = _count(tokens, "tokens")
        with self._lock:
            current = self._now_ms() // self._width
            window = self._windows.get(key_id)
            if window is None:
                window = self._windows[key_id] = _Window()
            window.prune(current - self._n)
            if reservation is not None and reservation.bucket is not None:
                entry = window.find(reservation.bucket)
                if entry is not None:
                    delta = max(tokens - reservation.reserved_tokens, -entry[2])
                    entry[2] += delta
                    window.tokens += delta
                    return
            if tokens:
                window.add(current, 0, tokens)

    async def add_spend(
        self, key_id: str, usd: Decimal | int, period_seconds: float | None
    ) -> Decimal:
        key_id = _name(key_id, "key_id")
        nanos = _to_nanos(_usd(usd, "usd"), "usd")
        period = _seconds(period_seconds, "period_seconds", allow_none=True)
        with self._lock:
            now = self._clock()
            total, end = self._live_spend(key_id, now)
            if end is None and period is not None:
                # a new counter, or a lifetime one that now has a period (as in Redis)
                end = now + period
            total += nanos
            if total > _INT64_MAX:
                raise InvalidRequestError(
                    "the spend counter would overflow its int64 of nano-dollars", param="usd"
                )
            self._spend[key_id] = (total, end)
        return _from_nanos(total)

    def _live_spend(self, key_id: str, now: float) -> tuple[int, float | None]:
        entry = self._spend.get(key_id)
        if entry is None:
            return 0, None
        if entry[1] is not None and entry[1] <= now:
            del self._spend[key_id]
            return 0, None
        return entry

    async def spend(self, key_id: str) -> Decimal:
        key_id = _name(key_id, "key_id")
        with self._lock:
            return _from_nanos(self._live_spend(key_id, self._clock())[0])

    async def check_budget(self, key_id: str, max_budget: Decimal | int) -> BudgetStatus:
        key_id = _name(key_id, "key_id")
        limit = _usd(max_budget, "max_budget")
        with self._lock:
            now = self._clock()
            total, end = self._live_spend(key_id, now)
        spent = _from_nanos(total)
        return BudgetStatus(spent < limit, spent, None if end is None or not total else end - now)

    async def reset_spend(self, key_id: str) -> None:
        key_id = _name(key_id, "key_id")
        with self._lock:
            self._spend.pop(key_id, None)

    async def inc(self, deployment: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Lease:
        deployment = _name(deployment, "deployment")
        lease = _seconds(lease_seconds, "lease_seconds")
        assert lease is not None
        token = secrets.token_hex(8)
        with self._lock:
            now = self._clock()
            self._sweep(now)
            leases = self._leases.setdefault(deployment, {})
            leases[token] = now + lease
            count = self._count_live(leases, now)
        return Lease(deployment, token, count)

    @staticmethod
    def _count_live(leases: dict[str, float], now: float) -> int:
        return sum(1 for end in leases.values() if end > now)

    async def dec(self, lease: Lease) -> int:
        if not isinstance(lease, Lease):
            raise InvalidRequestError(
                f"dec(lease): lease must be the Lease that inc() returned, got {type(lease).__name__}",
                param="lease",
            )
        with self._lock:
            leases = self._leases.get(lease.deployment)
            if leases is None:
                return 0
            leases.pop(lease.token, None)
            count = self._count_live(leases, self._clock())
            if not leases:
                del self._leases[lease.deployment]
        return count

    async def in_flight(self, deployment: str) -> int:
        deployment = _name(deployment, "deployment")
        with self._lock:
            leases = self._leases.get(deployment)
            return 0 if leases is None else self._count_live(leases, self._clock())

    async def set_cooldown(self, deployment: str, seconds: float) -> float:
        deployment = _name(deployment, "deployment")
        length = _seconds(seconds, "seconds")
        assert length is not None
        with self._lock:
            now = self._clock()
            self._sweep(now)
            end = max(self._cooldowns.get(deployment, now), now + length)
            self._cooldowns[deployment] = end
        return end - now

    async def cooling(self, deployment: str) -> float | None:
        deployment = _name(deployment, "deployment")
        with self._lock:
            end = self._cooldowns.get(deployment)
            if end is None:
                return None
            left = end - self._clock()
            if left <= 0:
                del self._cooldowns[deployment]
                return None
            return left

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"MemoryLimiter(bucket_seconds={self._width / 1000})"


def _denied(wait_r: int, wait_t: int) -> Decision:
    if wait_t < 0:
        return Decision(False, None, "tpm")
    if wait_r >= wait_t:
        return Decision(False, wait_r / 1000, "rpm")
    return Decision(False, wait_t / 1000, "tpm")


# --- redis --------------------------------------------------------------------------------------

# Every script starts with the time: the caller's (ARGV[1], tests) or the server's, so that all
# gateways share one clock whatever their machines' clocks say.
_NOW = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
"""

# The window hash: running totals 'R' (requests) and 'T' (tokens), 'o' the oldest bucket still
# counted, and one field per live bucket, 'r<bucket>' and 't<bucket>'. The totals make an
# admission O(1): expiring buckets reads only those that left since the last call (one bucket
# under steady traffic), never the whole window. A key idle for a whole window is dropped.
# Invariant: R and T are the sums of the bucket fields >= o, and every bucket field is <= o + n.
_WINDOW = (
    _NOW
    + """
local key = KEYS[1]
local width = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local current = math.floor(now / width)
local state = redis.call('HMGET', key, 'R', 'T', 'o')
local total_r = tonumber(state[1]) or 0
local total_t = tonumber(state[2]) or 0
local first = tonumber(state[3])
if first == nil then
  total_r, total_t = 0, 0
  first = current - n
elseif current < first then
  current = first  -- the clock went back by more than a window: count in the oldest bucket
end
local oldest = current - n
local moved = oldest > first
if moved then
  if oldest - first > n then
    redis.call('DEL', key)
    total_r, total_t = 0, 0
  else
    local fields = {}
    for bucket = first, oldest - 1 do
      fields[#fields + 1] = 'r' .. bucket
      fields[#fields + 1] = 't' .. bucket
    end
    local values = redis.call('HMGET', key, unpack(fields))
    for i = 1, #fields, 2 do
      total_r = total_r - (tonumber(values[i]) or 0)
      total_t = total_t - (tonumber(values[i + 1]) or 0)
    end
    redis.call('HDEL', key, unpack(fields))
  end
  first = oldest
end
local function save()
  redis.call('HSET', key, 'R', total_r, 'T', total_t, 'o', first)
  redis.call('PEXPIRE', key, ARGV[7])
end
"""
)

# ARGV: now_ms, bucket_ms, buckets per window, rpm (-1: none), tpm (-1: none), estimate, ttl_ms.
# Returns {allowed, wait_ms of rpm, wait_ms of tpm (-1: never fits), bucket}.
_ACQUIRE = (
    _WINDOW
    + """
local rpm = tonumber(ARGV[4])
local tpm = tonumber(ARGV[5])
local estimate = tonumber(ARGV[6])
-- Milliseconds until enough of the oldest buckets leave for `need` more to fit under `limit`;
-- bucket b stops counting at (b + n + 1) * width. Only on a denial.
local function wait(kind, total, need, limit)
  local freed = 0
  for bucket = first, current do
    local value = redis.call('HGET', key, kind .. bucket)
    if value then
      freed = freed + tonumber(value)
      if total - freed + need <= limit then
        return (bucket + n + 1) * width - now
      end
    end
  end
  return (current + n + 1) * width - now
end
local need = math.max(estimate, 1)
local wait_r, wait_t = 0, 0
if rpm >= 0 and total_r + 1 > rpm then
  wait_r = wait('r', total_r, 1, rpm)
end
if tpm >= 0 and total_t + need > tpm then
  if need > tpm then
    wait_t = -1
  else
    wait_t = wait('t', total_t, need, tpm)
  end
end
if wait_r == 0 and wait_t == 0 then
  redis.call('HINCRBY', key, 'r' .. current, 1)
  total_r = total_r + 1
  if estimate > 0 then
    redis.call('HINCRBY', key, 't' .. current, estimate)
    total_t = total_t + estimate
  end
  save()
  return {1, 0, 0, current}
end
if moved and redis.call('EXISTS', key) == 1 then
  save()
end
return {0, wait_r, wait_t, current}
"""
)

# ARGV: now_ms, bucket_ms, buckets per window, tokens, reserved bucket ('' : none), reserved
# tokens, ttl_ms. A reservation still in the window is corrected in its bucket (never below 0);
# otherwise the tokens count in the current bucket.
_RECORD = (
    _WINDOW
    + """
local tokens = tonumber(ARGV[4])
local field, delta = 't' .. current, tokens
if ARGV[5] ~= '' then
  local bucket = tonumber(ARGV[5])
  if bucket >= first and bucket <= current then
    field = 't' .. bucket
    delta = tokens - tonumber(ARGV[6])
  end
end
if delta ~= 0 then
  local value = redis.call('HINCRBY', key, field, delta)
  if value < 0 then
    redis.call('HSET', key, field, 0)
    delta = delta - value
  end
  total_t = total_t + delta
end
save()
return delta
"""
)

# KEYS[1]: the spend counter (integer nano-dollars). ARGV: nanos, period_ms ('' : none).
# Returns {total as a string (exact: a Lua number is a double), ms to the reset or -1}.
_ADD_SPEND = """
redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ARGV[2] ~= '' and ttl == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {redis.call('GET', KEYS[1]), ttl}
"""

_GET_SPEND = """
local value = redis.call('GET', KEYS[1])
return {value or '0', redis.call('PTTL', KEYS[1])}
"""

# KEYS[1]: the cooldown flag. ARGV: ms. A running longer cooldown is kept.
_SET_COOLDOWN = """
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  return ms
end
return left
"""

# KEYS[1]: the deployment's leases, scored by expiry. ARGV: now_ms, lease_ms, token.
_INC = (
    _NOW
    + """
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
if redis.call('PTTL', KEYS[1]) < lease then
  redis.call('PEXPIRE', KEYS[1], lease)
end
return redis.call('ZCARD', KEYS[1])
"""
)

# ARGV: now_ms, token ('' : none, only count).
_DEC = (
    _NOW
    + """
if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
)


# KEYS[1]: one hash for every process's in-flight counts, field '<deployment>|<process>', value
# '<count>:<expiry ms>'. ARGV: now_ms, ttl_ms, process, then deployment, count pairs. Writes this
# process's counts, drops every expired field (a process that stopped reporting), and returns
# the other live processes' sums as {deployment, sum, ...} (deployments with none left out).
_SHARE_IN_FLIGHT = (
    _NOW
    + """
local ttl = tonumber(ARGV[2])
local me = ARGV[3]
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i] .. '|' .. me, ARGV[i + 1] .. ':' .. (now + ttl))
end
local all = redis.call('HGETALL', KEYS[1])
local sums = {}
for i = 1, #all, 2 do
  local count, expiry = string.match(all[i + 1], '^(%d+):(%d+)$')
  local deployment, process = string.match(all[i], '^(.*)|([^|]*)$')
  if count == nil or deployment == nil or tonumber(expiry) <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif process ~= me then
    sums[deployment] = (sums[deployment] or 0) + tonumber(count)
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
local out = {}
for deployment, total in pairs(sums) do
  out[#out + 1] = deployment
  out[#out + 1] = total
end
return out
"""
)


class _Script:
    """A Lua script run by its SHA1 (``EVALSHA``, one round trip); loaded on the first
    ``NOSCRIPT`` (a new or flushed server) and run again."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    async def __call__(self, client: redis.asyncio.Redis, key: str, *args: str | int) -> Any:
        from redis.exceptions import NoScriptError

        try:
            return await client.evalsha(self.sha, 1, key, *args)
        except NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, 1, key, *args)


#: One script run waiting for its batch: the script, its key, its arguments, the caller's future.
_Pending = tuple["_Script", str, tuple[Any, ...], "asyncio.Future[Any]"]

_SCRIPTS = {
    name: _Script(source)
    for name, source in {
        "acquire": _ACQUIRE,
        "record": _RECORD,
        "add_spend": _ADD_SPEND,
        "get_spend": _GET_SPEND,
        "cooldown": _SET_COOLDOWN,
        "inc": _INC,
        "dec": _DEC,
        "share_in_flight": _SHARE_IN_FLIGHT,
    }.items()
}


def _int(value: Any) -> int:
    return int(value.decode() if isinstance(value, bytes) else value)


def _url_passwords(url: str) -> list[str]:
    """The passwords a Redis URL holds: its user part's and a ``?password=`` (redis-py reads
    both), longest first, so an error text can be scrubbed of them."""
    from urllib.parse import parse_qs

    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        for name, values in parse_qs(parts.query).items():
            if name.lower() == "password":
                found += [v for v in values if v]
    except ValueError:
        pass
    return sorted(set(found), key=len, reverse=True)


class RedisLimiter:
    """Limits, budgets, in-flight counts and cooldowns in Redis, shared by every gateway process
    that uses the same server and ``prefix``.

    One ``redis.asyncio`` client per event loop (a connection belongs to the loop that opened
    it), each on a pool of at most ``max_connections`` connections: beyond that, calls wait for
    a connection up to ``pool_timeout`` rather than open hundreds under a burst. Commands are
    never retried: a script whose reply was lost may have run, and running it again would count
    a request or a spend twice. Any Redis failure is a :class:`LimiterUnavailableError`.
    """

    name = "redis"

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = DEFAULT_PREFIX,
        bucket_seconds: float = DEFAULT_BUCKET_SECONDS,
        clock: Clock | None = None,
        max_connections: int = 64,
        socket_timeout: float = 1.0,
        connect_timeout: float = 1.0,
        pool_timeout: float = 5.0,
    ) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
            raise InvalidRequestError(
                "the Redis limiter needs url='redis://host:port/db' (or rediss:// or unix://), "
                f"got {redact_url(url) if isinstance(url, str) else type(url).__name__}",
                param="redis_url",
            )
        if not isinstance(prefix, str):
            raise InvalidRequestError(
                f"prefix must be a string such as 'llmrouter:', got {type(prefix).__name__}",
                param="prefix",
            )
        if (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or max_connections < 1
        ):
            raise InvalidRequestError(
                f"max_connections must be a positive integer, got {max_connections!r}",
                param="max_connections",
            )
        try:
            import redis.asyncio  # noqa: F401
        except ImportError as exc:  # pragma: no cover - redis is in the dev environment
            raise InvalidRequestError(
                "the Redis limiter needs the redis package: pip install 'llmrouter-gateway[redis]'",
                param="redis_url",
            ) from exc
        self._url = url
        self.prefix = prefix
        self._width = _bucket_ms(bucket_seconds)
        self._n = WINDOW_SECONDS * 1000 // self._width
        self._ttl_ms = (self._n + 2) * self._width
        self._clock = clock
        self._options: dict[str, Any] = {
            "max_connections": max_connections,
            "timeout": _seconds(pool_timeout, "pool_timeout"),
            "socket_timeout": _seconds(socket_timeout, "socket_timeout"),
            "socket_connect_timeout": _seconds(connect_timeout, "connect_timeout"),
        }
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )
        #: Scripts asked for in this turn of each loop, sent together at its end.
        self._batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_Pending]] = (
            weakref.WeakKeyDictionary()
        )
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The server's URL with any user name and password removed."""
        return redact_url(self._url)

    def _client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                import redis.asyncio
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff

                pool = redis.asyncio.BlockingConnectionPool.from_url(
                    self._url, retry=Retry(NoBackoff(), 0), **self._options
                )
                client = redis.asyncio.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
                self._clients[loop] = client
        return client

    def _now(self) -> str:
        return "" if self._clock is None else str(round(self._clock() * 1000))

    def _unavailable(self, exc: Exception) -> LimiterUnavailableError:
        detail = str(exc)
        for password in _url_passwords(self._url):
            detail = detail.replace(password, "<redacted>")
        return LimiterUnavailableError(
            f"the rate limiter's Redis at {self.url} failed: {type(exc).__name__}: {detail}"
        )

    async def _run(self, script: str, key: str, *args: str | int) -> Any:
        """Run one script; the runs asked for in one turn of the event loop share one round
        trip (see :meth:`_send_batch`)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:  # one limiter may serve event loops in several threads
            batch = self._batches.get(loop)
            if batch is None:
                batch = self._batches[loop] = []
                loop.call_soon(self._flush, loop)
            batch.append((_SCRIPTS[script], key, args, future))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch = self._batches.pop(loop, None)
        if batch:
            task = loop.create_task(self._send_batch(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send_batch(self, batch: list[_Pending]) -> None:
        """Send the scripts asked for in one loop turn, in one pipeline (no transaction: each
        script is atomic on its own, and they touch unrelated keys).

        Under load, the admissions and token records of many requests land in the same turn:
        one connection checkout, one write and one read for all of them instead of one each,
        which is most of what a script costs the gateway (bench/bench_gateway_keys.py). A lone
        script is sent as before. Nothing waits longer than the turn it was asked in.
        """
        from redis.exceptions import NoScriptError, RedisError

        live = [item for item in batch if not item[3].done()]  # a cancelled caller: skip
        if not live:
            return
        try:
            if len(live) == 1:
                script, key, args, future = live[0]
                results: list[Any] = [await script(self._client(), key, *args)]
            else:
                results = await self._pipeline(live)
                for i, result in enumerate(results):
                    if isinstance(result, NoScriptError):  # a new or flushed server: load, rerun
                        script, key, args, _ = live[i]
                        try:
                            results[i] = await script(self._client(), key, *args)
                        except RedisError as exc:  # this one only: the others ran, and count
                            results[i] = exc
        except RedisError as exc:
            error = self._unavailable(exc)
            for *_, future in live:
                if not future.done():
                    future.set_exception(error)
            return
        except BaseException as exc:  # cancelled (shutdown) or a bug: no caller hangs
            for *_, future in live:
                if not future.done():
                    future.set_exception(exc)
            raise
        for (*_, future), result in zip(live, results, strict=True):
            if future.done():
                continue
            if isinstance(result, RedisError):
                future.set_exception(self._unavailable(result))
            else:
                future.set_result(result)

    async def _pipeline(self, items: list[_Pending]) -> list[Any]:
        async with self._client().pipeline(transaction=False) as pipe:
            for script, key, args, _ in items:
                pipe.evalsha(script.sha, 1, key, *args)
            return list(await pipe.execute(raise_on_error=False))

    async def acquire(
        self,
        key_id: str,
        rpm: int | None = None,
        tpm: int | None = None,
        tokens_estimate: int = 0,
    ) -> Decision:
        key_id = _name(key_id, "key_id")
        rpm = _limit(rpm, "rpm")
        tpm = _limit(tpm, "tpm")
        estimate = _count(tokens_estimate, "tokens_estimate")
        if rpm is None and tpm is None:
            return Decision(True)
        allowed, wait_r, wait_t, bucket = await self._run(
            "acquire",
            f"{self.prefix}rl:{key_id}",
            self._now(),
            self._width,
            self._n,
            -1 if rpm is None else rpm,
            -1 if tpm is None else tpm,
            estimate,
            self._ttl_ms,
        )
        if allowed:
            return Decision(True, bucket=int(bucket), reserved_tokens=estimate)
        return _denied(int(wait_r), int(wait_t))

    async def record_tokens(
        self, key_id: str, tokens: int, *, reservation: Decision | None = None
    ) -> None:
        key_id = _name(key_id, "key_id")
        tokens = _count(tokens, "tokens")
        bucket = (
            "" if reservation is None or reservation.bucket is None else str(reservation.bucket)
        )
        reserved = 0 if reservation is None else reservation.reserved_tokens
        await self._run(
            "record",
            f"{self.prefix}rl:{key_id}",
            self._now(),
            self._width,
            self._n,
            tokens,
            bucket,
            reserved,
            self._ttl_ms,
        )

    async def add_spend(
        self, key_id: str, usd: Decimal | int, period_seconds: float | None
    ) -> Decimal:
        key_id = _name(key_id, "key_id")
        nanos = _to_nanos(_usd(usd, "usd"), "usd")
        period = _seconds(period_seconds, "period_seconds", allow_none=True)
        total, _ = await self._run(
            "add_spend",
            f"{self.prefix}spend:{key_id}",
            nanos,
            "" if period is None else _ms(period),
        )
        return _from_nanos(_int(total))

    async def _get_spend(self, key_id: str) -> tuple[int, float | None]:
        total, ttl = await self._run("get_spend", f"{self.prefix}spend:{_name(key_id, 'key_id')}")
        ttl = int(ttl)
        return _int(total), (ttl / 1000 if ttl > 0 else None)

    async def spend(self, key_id: str) -> Decimal:
        return _from_nanos((await self._get_spend(key_id))[0])

    async def check_budget(self, key_id: str, max_budget: Decimal | int) -> BudgetStatus:
        limit = _usd(max_budget, "max_budget")
        total, resets_in = await self._get_spend(key_id)
        spent = _from_nanos(total)
        return BudgetStatus(spent < limit, spent, resets_in if total else None)

    async def reset_spend(self, key_id: str) -> None:
        from redis.exceptions import RedisError

        key = f"{self.prefix}spend:{_name(key_id, 'key_id')}"
        try:
            await self._client().delete(key)
        except RedisError as exc:
            raise self._unavailable(exc) from None

    async def inc(self, deployment: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Lease:
        deployment = _name(deployment, "deployment")
        lease = _seconds(lease_seconds, "lease_seconds")
        assert lease is not None
        token = secrets.token_hex(8)
        count = await self._run(
            "inc", f"{self.prefix}inflight:{deployment}", self._now(), _ms(lease), token
        )
        return Lease(deployment, token, int(count))

    async def dec(self, lease: Lease) -> int:
        if not isinstance(lease, Lease):
            raise InvalidRequestError(
                f"dec(lease): lease must be the Lease that inc() returned, got {type(lease).__name__}",
                param="lease",
            )
        return int(
            await self._run(
                "dec", f"{self.prefix}inflight:{lease.deployment}", self._now(), lease.token
            )
        )

    async def in_flight(self, deployment: str) -> int:
        deployment = _name(deployment, "deployment")
        return int(await self._run("dec", f"{self.prefix}inflight:{deployment}", self._now(), ""))

    async def share_in_flight(
        self, process: str, counts: dict[str, int], *, ttl_seconds: float
    ) -> dict[str, int]:
        """Publish ``process``'s calls in flight per deployment and return the sums of every
        *other* process that published within its ``ttl_seconds`` (one round trip, one hash).

        Unlike :meth:`inc`/:meth:`dec`, nothing happens per request: a gateway calls this every
        few hundred milliseconds with what :meth:`llmrouter.Routing.in_flight` says, so the
        counts are that old at most and the request path never waits on Redis. A process that
        stops calling (crashed, or stopped: see :meth:`withdraw_in_flight`) drops out after
        its ``ttl_seconds``.
        """
        process = _name(process, "process")
        if "|" in process:
            raise InvalidRequestError(
                f"process must not contain '|', got {process!r}", param="process"
            )
        ttl = _seconds(ttl_seconds, "ttl_seconds")
        assert ttl is not None
        args: list[str | int] = [self._now(), _ms(ttl), process]
        for deployment, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidRequestError(
                    f"the in-flight count of {deployment!r} must be an integer >= 0, got {count!r}",
                    param="counts",
                )
            args += [_name(deployment, "deployment"), count]
        reply = await self._run("share_in_flight", f"{self.prefix}inflight-shared", *args)
        return {
            (k.decode() if isinstance(k, bytes) else str(k)): _int(v)
            for k, v in zip(reply[::2], reply[1::2], strict=True)
        }

    async def withdraw_in_flight(self, process: str, deployments: list[str]) -> None:
        """Remove ``process``'s counts at once (a clean stop), instead of after their TTL."""
        from redis.exceptions import RedisError

        process = _name(process, "process")
        fields = [f"{_name(d, 'deployment')}|{process}" for d in deployments]
        if not fields:
            return
        try:
            await self._client().hdel(f"{self.prefix}inflight-shared", *fields)
        except RedisError as exc:
            raise self._unavailable(exc) from None

    async def set_cooldown(self, deployment: str, seconds: float) -> float:
        deployment = _name(deployment, "deployment")
        length = _seconds(seconds, "seconds")
        assert length is not None
        left = await self._run("cooldown", f"{self.prefix}cooldown:{deployment}", _ms(length))
        return int(left) / 1000

    async def cooling(self, deployment: str) -> float | None:
        from redis.exceptions import RedisError

        key = f"{self.prefix}cooldown:{_name(deployment, 'deployment')}"
        try:
            left = int(await self._client().pttl(key))
        except RedisError as exc:
            raise self._unavailable(exc) from None
        return left / 1000 if left > 0 else None

    async def aclose(self) -> None:
        """Send what this event loop still has queued, wait for its batches in flight, then
        close its client and its pool (a call after this opens a new one)."""
        loop = asyncio.get_running_loop()
        self._flush(loop)
        sending = [t for t in self._sending if t.get_loop() is loop]
        if sending:
            await asyncio.gather(*sending, return_exceptions=True)
        with self._lock:
            client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose(close_connection_pool=True)

    def __repr__(self) -> str:
        return f"RedisLimiter(url={self.url!r}, prefix={self.prefix!r})"
