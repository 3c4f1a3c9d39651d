"""Virtual keys in the gateway: who a bearer token is, what it may do, and what it spent.

Only loaded when ``[gateway] database_url`` (or ``database_url_env``) is set; a gateway without
a database never imports this module, SQLAlchemy or the limiter, and admits the master key only.

The request path never waits on the database when it can avoid it:

- a token's record is cached in this process for ``key_cache_ttl`` seconds (by its SHA-256),
  so a revoked, blocked or changed key takes effect within that time; when the database does
  not answer, a record already cached keeps serving (stale) rather than failing the request;
- spend rows go on an in-memory queue that :class:`SpendWriter` writes in batches from a
  background task, retried with backoff while the database is down, and flushed at shutdown;
- rate limits and budget counters live in the limiter (this process, or Redis), whose calls
  are one dict operation or one Redis round trip.

Budgets: the spend a request is checked against is the larger of two lower bounds of the truth:
the store's counter as cached (complete up to the last batch written, up to ``key_cache_ttl``
old) and the limiter's counter for the current period (live, but started only when this
process, or the Redis it shares, first saw the key spend). Neither ever over-counts, so a key is
never refused for money it did not spend; a key can overshoot its budget by the spend of the
requests in flight when it crosses it, and by what other processes spent in the last cache
period when there is no Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from llmrouter.config import GatewaySettings
from llmrouter.errors import ConfigError
from llmrouter_gateway.errors import ErrorReply, gateway_error
from llmrouter_gateway.limits import Decision, Limiter, LimiterUnavailableError, make_limiter
from llmrouter_gateway.store import KeyRecord, SpendRow, Store, hash_key

__all__ = [
    "DEFAULT_TOKENS_ESTIMATE",
    "KeyUse",
    "Keys",
    "SpendWriter",
    "database_url_from",
    "redis_url_from",
]

log = logging.getLogger("llmrouter.gateway")

#: Tokens reserved against a key's ``tpm`` for a request that sets no ``max_tokens``; the
#: answer's real count replaces it once known.
DEFAULT_TOKENS_ESTIMATE = 1000
#: Rows written per transaction by the spend writer.
SPEND_BATCH = 500
#: Rows held in memory while the database is down; beyond it the oldest are dropped (and
#: logged), so an outage cannot exhaust the gateway's memory.
SPEND_QUEUE_MAX = 200_000
#: Seconds the shutdown flush keeps retrying a database that does not answer.
FLUSH_SECONDS = 15.0
#: Cached records (valid and unknown tokens) per process; past it the cache starts over.
CACHE_MAX = 100_000
_BACKOFF_MAX = 30.0


def _env_or_value(value: str | None, env: str | None, name: str) -> str | None:
    if env:
        found = os.environ.get(env, "").strip()
        if not found:
            raise ConfigError(
                f"[gateway] {name}_env names the variable {env}, which is not set or is empty; "
                f"export the {name} in it",
                key=f"gateway.{name}_env",
            )
        return found
    return value.strip() if value and value.strip() else None


def database_url_from(settings: GatewaySettings) -> str | None:
    """The store's URL the config asks for (its ``_env`` variable wins), or ``None``."""
    return _env_or_value(settings.database_url, settings.database_url_env, "database_url")


def redis_url_from(settings: GatewaySettings) -> str | None:
    return _env_or_value(settings.redis_url, settings.redis_url_env, "redis_url")


@dataclass(slots=True)
class KeyUse:
    """One request made with a virtual key: its record and what the limiter reserved."""

    record: KeyRecord
    decision: Decision | None = None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01')) if value >= Decimal('0.01') else value.normalize()}"


class SpendWriter:
    """Spend rows from the request path to the store, in batches, off the request path."""

    def __init__(self, store: Store, *, interval: float = 0.5) -> None:
        self._store = store
        self._queue: deque[SpendRow] = deque()
        self._interval = interval
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0
        self.dropped = 0
        self.failures = 0

    def put(self, row: SpendRow) -> None:
        queue = self._queue
        if len(queue) >= SPEND_QUEUE_MAX:
            queue.popleft()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error(
                    "llmrouter.gateway.spend_dropped: the spend queue is full (%d rows; is the "
                    "database down?); %d oldest rows dropped so far",
                    SPEND_QUEUE_MAX,
                    self.dropped,
                )
        queue.append(row)
        if len(queue) >= SPEND_BATCH:
            self._wake.set()

    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _write_batch(self) -> None:
        queue = self._queue
        batch = [queue[i] for i in range(min(len(queue), SPEND_BATCH))]
        await self._store.add_spend(batch)
        # add_spend is one transaction: on success every row of the batch is stored
        for _ in batch:
            queue.popleft()
        self.written += len(batch)

    async def _run(self) -> None:
        backoff = 0.0
        while not self._stopping:
            if backoff:
                # a stop interrupts the backoff; new rows do not (the database is down)
                with contextlib.suppress(asyncio.TimeoutError):  # the builtin only from 3.11
                    await asyncio.wait_for(self._stop.wait(), backoff)
            elif not self._queue:
                with contextlib.suppress(asyncio.TimeoutError):  # the builtin only from 3.11
                    await asyncio.wait_for(self._wake.wait(), self._interval)
                self._wake.clear()
            if self._stopping or not self._queue:
                continue
            try:
                await self._write_batch()
                backoff = 0.0
            except Exception as exc:
                self.failures += 1
                backoff = min(_BACKOFF_MAX, max(0.2, backoff * 2))
                log.warning(
                    "llmrouter.gateway.spend_write_failed: %s (%d rows waiting; retrying in "
                    "%.1f s)",
                    type(exc).__name__,
                    len(self._queue),
                    backoff,
                )

    async def stop(self) -> None:
        """Stop the loop (letting a batch being written finish) and write what is left,
        retrying for up to ``FLUSH_SECONDS``."""
        self._stopping = True
        self._stop.set()
        self._wake.set()
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=FLUSH_SECONDS)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._task = None
        deadline = time.monotonic() + FLUSH_SECONDS
        backoff = 0.1
        while self._queue:
            try:
                await self._write_batch()
            except Exception as exc:
                if time.monotonic() + backoff > deadline:
                    log.error(
                        "llmrouter.gateway.spend_lost: %d spend rows could not be written at "
                        "shutdown (%s)",
                        len(self._queue),
                        type(exc).__name__,
                    )
                    return
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)


class Keys:
    """The gateway's virtual keys: the store, a record cache, the limiter, the spend writer."""

    def __init__(self, store: Store, limiter: Limiter, *, cache_ttl: float) -> None:
        self.store = store
        self.limiter = limiter
        self.cache_ttl = cache_ttl
        self.spend = SpendWriter(store)
        #: SHA-256 of a token -> (its record or None for an unknown token, monotonic expiry)
        self._cache: dict[str, tuple[KeyRecord | None, float]] = {}
        self._last_limiter_warning = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, settings: GatewaySettings) -> Keys | None:
        url = database_url_from(settings)
        if url is None:
            return None
        store = await Store.open(url)
        try:
            limiter = make_limiter(redis_url_from(settings))
        except BaseException:
            await store.close()
            raise
        keys = cls(store, limiter, cache_ttl=settings.key_cache_ttl)
        keys.spend.start()
        return keys

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.spend.stop()
        await self.limiter.aclose()
        await self.store.close()

    def __repr__(self) -> str:
        return f"Keys(store={self.store.url!r}, limiter={self.limiter.name!r})"

    # -- who is it --------------------------------------------------------------------------

    def forget(self, record: KeyRecord) -> None:
        """Drop a key from this process's cache (after an admin change made here)."""
        for digest, (cached, _) in list(self._cache.items()):
            if cached is not None and cached.id == record.id:
                del self._cache[digest]

    async def identify(self, token: str) -> KeyRecord | ErrorReply:
        """The active record of ``token``, or the 401/503 to answer."""
        digest = hash_key(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            record = cached[0]
        else:
            try:
                record = await self.store.get_key_by_hash(digest)
            except Exception as exc:
                if cached is None:
                    log.warning("llmrouter.gateway.key_store_unavailable: %s", type(exc).__name__)
                    return gateway_error(
                        503,
                        "the gateway cannot check this key now (its key database does not "
                        "answer); retry shortly",
                        code="key_store_unavailable",
                    )
                record = cached[0]  # stale, but the database is down: keep serving it
            else:
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[digest] = (record, now + self.cache_ttl)
        if record is None:
            return gateway_error(
                401, "the key is not valid for this gateway", code="invalid_api_key"
            )
        status = record.status(_utcnow())
        if status == "active":
            return record
        if status == "revoked":
            return gateway_error(401, "this key has been revoked", code="key_revoked")
        if status == "expired":
            assert record.expires_at is not None
            return gateway_error(
                401,
                f"this key expired at {record.expires_at.isoformat()}",
                code="key_expired",
            )
        return gateway_error(
            401, "this key is blocked; ask the gateway's operator to unblock it", code="key_blocked"
        )

    # -- may it --------------------------------------------------------------------------------

    def _limiter_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_limiter_warning > 10:
            self._last_limiter_warning = now
            log.warning(
                "llmrouter.gateway.limiter_unavailable: %s; requests are admitted without "
                "their key's limits until it answers",
                exc,
            )

    async def admit(self, use: KeyUse, alias: str, params: Mapping[str, Any]) -> ErrorReply | None:
        """The 403/429 for a request of ``use``'s key on ``alias``, or ``None`` (admitted, its
        rpm/tpm counted)."""
        record = use.record
        if record.models and alias not in record.models:
            return gateway_error(
                403,
                f"this key may not use the model {alias[:256]!r}; it may use: "
                f"{', '.join(record.models)}",
                param="model",
                code="model_not_allowed",
            )
        if record.max_budget is not None:
            denied = await self._budget(record)
            if denied is not None:
                return denied
        if record.rpm is not None or record.tpm is not None:
            estimate = 0
            if record.tpm is not None:
                estimate = _estimate(params)
            try:
                decision = await self.limiter.acquire(
                    record.id, rpm=record.rpm, tpm=record.tpm, tokens_estimate=estimate
                )
            except LimiterUnavailableError as exc:
                self._limiter_failed(exc)
                return None
            if not decision.allowed:
                return _limited(record, decision, estimate)
            use.decision = decision
        return None

    async def _budget(self, record: KeyRecord) -> ErrorReply | None:
        assert record.max_budget is not None
        now = _utcnow()
        spent = record.spend_in_period(now)
        try:
            live = await self.limiter.spend(record.id)
        except LimiterUnavailableError as exc:
            self._limiter_failed(exc)
            live = Decimal(0)
        spent = max(spent, live)
        if spent < record.max_budget:
            return None
        headers: dict[str, str] = {}
        if record.budget_period is not None:
            reset = record.budget_reset_at
            if reset is not None and reset <= now:  # an ended period the store has not rolled
                from llmrouter_gateway.store import next_reset

                reset = next_reset(reset, record.budget_period, now)
            assert reset is not None
            wait = max(1, math.ceil((reset - now).total_seconds()))
            headers["retry-after"] = str(wait)
            which = (
                f"its budget of {_money(record.max_budget)} per {record.budget_period} is spent "
                f"({_money(spent)}); it resets at {reset.isoformat(timespec='seconds')}"
            )
        else:
            which = (
                f"its lifetime budget of {_money(record.max_budget)} is spent ({_money(spent)}); "
                "the gateway's operator can raise max_budget"
            )
        return ErrorReply(
            429,
            f"this key cannot spend more: {which}",
            "insufficient_quota",
            code="budget_exceeded",
            headers=headers,
        )

    # -- what it did -----------------------------------------------------------------------

    def _period_seconds(self, record: KeyRecord) -> float | None:
        if record.budget_period is None or record.budget_reset_at is None:
            return None
        now = _utcnow()
        reset = record.budget_reset_at
        if reset <= now:
            from llmrouter_gateway.store import next_reset

            reset = next_reset(reset, record.budget_period, now)
        return max(1.0, (reset - now).total_seconds())

    def account(
        self,
        use: KeyUse | None,
        *,
        alias: str,
        status: int,
        info: Any,
        usage: Any,
        seconds: float,
        code: str | None = None,
    ) -> None:
        """Queue the spend row of a finished request and settle its key's counters. Called after
        the answer is sent; never waits."""
        deployment = provider = model = request_id = None
        cost: Decimal | None = None
        if info is not None:
            deployment = getattr(info, "deployment", None)
            provider = getattr(info, "provider", None)
            request_id = getattr(info, "request_id", None)
            if status == 200:
                found = getattr(info, "cost", None)
                cost = found if isinstance(found, Decimal) else None
        prompt = completion = 0
        if usage is not None:
            prompt = getattr(usage, "prompt_tokens", None) or 0
            completion = getattr(usage, "completion_tokens", None) or 0
        if model is None and deployment and "/" in deployment:
            model = deployment.split("/", 1)[1]
        record = use.record if use is not None else None
        try:
            row = SpendRow(
                key_id=record.id if record is not None else None,
                outcome="success" if status == 200 else ("cancelled" if status == 499 else "error"),
                alias=alias or None,
                deployment=deployment,
                provider=provider,
                model=model,
                prompt_tokens=int(prompt),
                completion_tokens=int(completion),
                cost_usd=cost,
                latency_ms=seconds * 1000,
                status_code=status,
                error_type=code,
                request_id=request_id,
            )
        except Exception as exc:  # a malformed usage must not break the answer's bookkeeping
            log.warning("llmrouter.gateway.spend_row_invalid: %s", exc)
            return
        self.spend.put(row)
        if record is None:
            return
        decision = use.decision if use is not None else None
        settle_tokens = decision is not None and record.tpm is not None
        settle_money = record.max_budget is not None and cost is not None and cost > 0
        if settle_tokens or settle_money:
            task = asyncio.get_running_loop().create_task(
                self._settle(
                    record,
                    decision if settle_tokens else None,
                    int(prompt) + int(completion),
                    cost if settle_money else None,
                )
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _settle(
        self, record: KeyRecord, decision: Decision | None, tokens: int, cost: Decimal | None
    ) -> None:
        try:
            if decision is not None:
                await self.limiter.record_tokens(record.id, tokens, reservation=decision)
            if cost is not None:
                await self.limiter.add_spend(record.id, cost, self._period_seconds(record))
        except LimiterUnavailableError as exc:
            self._limiter_failed(exc)
        except Exception:
            log.exception("llmrouter.gateway.settle_failed")

    # -- health --------------------------------------------------------------------------------

    async def check(self) -> dict[str, str]:
        """``/health/readiness``'s view of the database and Redis: ``"ok"`` or why not."""
        out: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.store.get_key("readiness-probe"), 3)
            out["database"] = "ok"
        except Exception as exc:
            out["database"] = f"unreachable: {type(exc).__name__}"
        if self.limiter.name != "memory":
            try:
                await asyncio.wait_for(self.limiter.spend("readiness-probe"), 3)
                out["redis"] = "ok"
            except Exception as exc:
                out["redis"] = f"unreachable: {type(exc).__name__}"
        return out


def _estimate(params: Mapping[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_TOKENS_ESTIMATE


def _limited(record: KeyRecord, decision: Decision, estimate: int) -> ErrorReply:
    headers: dict[str, str] = {}
    if decision.limit == "tpm":
        if decision.retry_after is None:
            return gateway_error(
                429,
                f"this request may use {estimate} tokens (max_tokens, else "
                f"{DEFAULT_TOKENS_ESTIMATE}), more than this key's tpm limit "
                f"({record.tpm} tokens per minute) allows at all; lower max_tokens",
                code="rate_limit_exceeded",
            )
        what = f"tpm limit ({record.tpm} tokens per minute)"
    else:
        what = f"rpm limit ({record.rpm} requests per minute)"
    wait = max(1, math.ceil(decision.retry_after or 0))
    headers["retry-after"] = str(wait)
    reply = gateway_error(
        429, f"this key's {what} is reached; retry in {wait} s", code="rate_limit_exceeded"
    )
    return ErrorReply(
        reply.status, reply.message, reply.type, code=reply.code, param=None, headers=headers
    )
