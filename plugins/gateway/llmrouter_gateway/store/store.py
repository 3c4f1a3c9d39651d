"""The store: virtual keys and spend logs behind one async API, on SQLite or PostgreSQL.

Every method is one short transaction. Writes that must be exact under concurrency are done in
SQL, never read-modify-written in Python: :meth:`Store.add_spend` inserts its whole batch and
adds each key's share to that key's counter in the same transaction, with the touched key rows
locked in id order first (``SELECT ... FOR UPDATE`` on PostgreSQL, the database write lock on
SQLite), so concurrent batches neither lose an addition nor deadlock, and a period that ended
is reset exactly once.

Database failures are raised as the libraries raise them, so a caller such as the gateway's
spend writer can retry them: ``sqlalchemy.exc.SQLAlchemyError`` (``OperationalError``,
``InterfaceError``) once connected, ``OSError`` when no connection can be made at all; bad arguments are :class:`~llmrouter.errors.InvalidRequestError`
naming the argument.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import URL, bindparam, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from llmrouter.errors import InvalidRequestError, LLMRouterError
from llmrouter_gateway.store._engine import WRITE, create_engine, database_url, display_url
from llmrouter_gateway.store._types import Money, UTCDateTime, quantize_usd
from llmrouter_gateway.store.periods import first_reset, next_reset, normalize_period
from llmrouter_gateway.store.records import (
    KEY_PREFIX,
    KeyRecord,
    PlaintextKey,
    SpendLog,
    SpendRow,
    display_prefix,
    generate_key,
    hash_key,
)
from llmrouter_gateway.store.schema import keys, spend_logs

__all__ = ["UNSET", "KeyNotFoundError", "Store", "StoreClosedError"]

Clock = Callable[[], datetime]


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


#: "Leave this field as it is" in :meth:`Store.update_key` (``None`` clears a field).
UNSET: Final = _Unset()

#: The largest budget the store takes: SQLite's integer amounts end near 922 million USD.
_MAX_USD = Decimal(900_000_000)
_MAX_INT32 = 2**31 - 1
_MAX_METADATA_BYTES = 64 * 1024
_MAX_LIMIT = 10_000


class KeyNotFoundError(LLMRouterError, LookupError):
    """No key has this id."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"no virtual key has the id {key_id!r}; list the keys to find its id")


class StoreClosedError(LLMRouterError, RuntimeError):
    """The store was used after :meth:`Store.close`."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    """Keys and spend in one database. Open with :meth:`open`, close with :meth:`close` (or use
    ``async with``)."""

    def __init__(self, engine: AsyncEngine, url: URL, *, clock: Clock = _utcnow) -> None:
        self._engine = engine
        self._url = url
        self._clock = clock
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str | os.PathLike[str] | URL,
        *,
        migrate: bool = True,
        clock: Clock | None = None,
    ) -> Store:
        """Connect to ``url`` (``sqlite:///keys.db``, a file path, ``postgresql://...``) and
        bring its schema up to date unless ``migrate=False``.

        ``clock`` returns the current time as an aware datetime; tests move it by hand.
        """
        from llmrouter_gateway.store.migrate import migrate_engine

        resolved = database_url(url)
        engine = create_engine(resolved)
        try:
            if migrate:
                await migrate_engine(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, resolved, clock=clock or _utcnow)

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return display_url(self._url)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    async def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- keys ------------------------------------------------------------------------------

    async def create_key(
        self,
        *,
        alias: str | None = None,
        models: Iterable[str] = (),
        rpm: int | None = None,
        tpm: int | None = None,
        max_budget: Decimal | int | float | str | None = None,
        budget_period: str | float | int | None = None,
        expires_at: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> tuple[PlaintextKey, KeyRecord]:
        """A new key and its record. The plaintext exists only in this return value: store it
        or show it now, it cannot be read back."""
        now = self._now()
        period = normalize_period(budget_period)
        plaintext = generate_key()
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "key_hash": hash_key(plaintext),
            "key_prefix": display_prefix(plaintext),
            "alias": _alias(alias),
            "models": _models(models),
            "rpm": _limit(rpm, "rpm"),
            "tpm": _limit(tpm, "tpm"),
            "max_budget": _budget(max_budget),
            "budget_period": period,
            "budget_reset_at": first_reset(now, period),
            "spend": Decimal(0),
            "expires_at": _aware(expires_at, "expires_at"),
            "metadata": _metadata(metadata),
            "blocked": False,
            "revoked_at": None,
            "created_at": now,
            "updated_at": now,
        }
        async with self._write() as connection:
            row = (await connection.execute(insert(keys).values(values).returning(*keys.c))).one()
        return plaintext, _key_record(row)

    async def get_key(self, key_id: str) -> KeyRecord | None:
        return await self._one_key(keys.c.id == key_id)

    async def get_key_by_hash(self, key_hash: str) -> KeyRecord | None:
        """The key whose SHA-256 (hex, :func:`hash_key`) is ``key_hash``."""
        return await self._one_key(keys.c.key_hash == key_hash)

    async def lookup(self, plaintext: str) -> KeyRecord | None:
        """The record of a key as a client presents it, or ``None``; whatever its status, so
        the caller can say "expired" rather than "unknown".

        An indexed lookup of the hash is not constant-time, and needs not be: what its timing
        could reveal is where an attacker's *own* input's hash sorts, which says nothing about
        any stored key, since a SHA-256 cannot be steered toward a stored hash. The comparison
        that matters, the hash against the index, is of values the attacker cannot choose.
        """
        if not isinstance(plaintext, str) or not plaintext.startswith(KEY_PREFIX):
            return None
        return await self.get_key_by_hash(hash_key(plaintext))

    async def list_keys(
        self, *, include_revoked: bool = False, limit: int = 1000, offset: int = 0
    ) -> list[KeyRecord]:
        """Keys, oldest first."""
        limit = _page(limit, "limit")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidRequestError(
                f"offset must be an integer >= 0, got {offset!r}", param="offset"
            )
        query = select(keys).order_by(keys.c.created_at, keys.c.id).limit(limit).offset(offset)
        if not include_revoked:
            query = query.where(keys.c.revoked_at.is_(None))
        async with self._read() as connection:
            rows = (await connection.execute(query)).all()
        return [_key_record(row) for row in rows]

    async def update_key(
        self,
        key_id: str,
        *,
        alias: str | _Unset | None = UNSET,
        models: Iterable[str] | _Unset = UNSET,
        rpm: int | _Unset | None = UNSET,
        tpm: int | _Unset | None = UNSET,
        max_budget: Decimal | int | float | str | _Unset | None = UNSET,
        budget_period: str | float | int | _Unset | None = UNSET,
        expires_at: datetime | _Unset | None = UNSET,
        metadata: Mapping[str, Any] | _Unset = UNSET,
        blocked: bool | _Unset = UNSET,
        reset_spend: bool = False,
    ) -> KeyRecord:
        """Change the given fields (``None`` clears one) and return the new record.

        A new ``budget_period`` starts a new period now, keeping what was spent unless
        ``reset_spend``. ``metadata`` replaces the whole mapping. A revoked key cannot be
        changed: revoking is final, create a new key instead.
        """
        now = self._now()
        values: dict[str, Any] = {}
        if not isinstance(alias, _Unset):
            values["alias"] = _alias(alias)
        if not isinstance(models, _Unset):
            values["models"] = _models(models)
        if not isinstance(rpm, _Unset):
            values["rpm"] = _limit(rpm, "rpm")
        if not isinstance(tpm, _Unset):
            values["tpm"] = _limit(tpm, "tpm")
        if not isinstance(max_budget, _Unset):
            values["max_budget"] = _budget(max_budget)
        if not isinstance(budget_period, _Unset):
            period = normalize_period(budget_period)
            values["budget_period"] = period
            values["budget_reset_at"] = first_reset(now, period)
        if not isinstance(expires_at, _Unset):
            values["expires_at"] = _aware(expires_at, "expires_at")
        if not isinstance(metadata, _Unset):
            values["metadata"] = _metadata(metadata)
        if not isinstance(blocked, _Unset):
            if not isinstance(blocked, bool):
                raise InvalidRequestError(
                    f"blocked must be true or false, got {blocked!r}", param="blocked"
                )
            values["blocked"] = blocked
        if reset_spend:
            values["spend"] = Decimal(0)
        values["updated_at"] = now
        async with self._write() as connection:
            current = await self._locked_key(connection, key_id)
            if current.revoked_at is not None:
                raise InvalidRequestError(
                    f"the key {key_id!r} is revoked and cannot be changed; create a new key",
                    param="key",
                )
            row = (
                await connection.execute(
                    update(keys).where(keys.c.id == key_id).values(values).returning(*keys.c)
                )
            ).one()
        return _key_record(row)

    async def revoke_key(self, key_id: str) -> KeyRecord:
        """Revoke for good. Revoking a revoked key changes nothing and returns it."""
        now = self._now()
        async with self._write() as connection:
            current = await self._locked_key(connection, key_id)
            if current.revoked_at is not None:
                return current
            row = (
                await connection.execute(
                    update(keys)
                    .where(keys.c.id == key_id)
                    .values(revoked_at=now, updated_at=now)
                    .returning(*keys.c)
                )
            ).one()
        return _key_record(row)

    # -- spend -----------------------------------------------------------------------------

    async def add_spend(self, rows: Sequence[SpendRow]) -> int:
        """Write a batch of spend rows and add their costs to their keys' counters, all in one
        transaction: either every row is stored and counted, or none. Returns the row count.

        Costs are rounded to the stored ten places before they are summed, so a key's counter
        always equals the sum of its stored rows. A row with ``cost_usd=None`` is stored and
        adds nothing; a row whose key does not exist (anymore) is stored and counts nowhere.
        """
        if isinstance(rows, SpendRow):
            raise InvalidRequestError(
                "add_spend takes a list of SpendRow, got one SpendRow; pass [row]", param="rows"
            )
        batch = list(rows)
        if not batch:
            return 0
        now = self._now()
        values: list[dict[str, Any]] = []
        deltas: dict[str, Decimal] = {}
        for index, row in enumerate(batch):
            if not isinstance(row, SpendRow):
                raise InvalidRequestError(
                    f"add_spend takes SpendRow items; item {index} is {type(row).__name__}",
                    param="rows",
                )
            cost = None if row.cost_usd is None else quantize_usd(row.cost_usd)
            values.append(
                {
                    "key_id": row.key_id,
                    "alias": row.alias,
                    "deployment": row.deployment,
                    "provider": row.provider,
                    "model": row.model,
                    "prompt_tokens": row.prompt_tokens,
                    "completion_tokens": row.completion_tokens,
                    "cost_usd": cost,
                    "latency_ms": None if row.latency_ms is None else float(row.latency_ms),
                    "status_code": row.status_code,
                    "outcome": row.outcome,
                    "error_type": row.error_type,
                    "request_id": row.request_id,
                    "created_at": row.created_at or now,
                }
            )
            if row.key_id is not None and cost:
                deltas[row.key_id] = deltas.get(row.key_id, Decimal(0)) + cost
        async with self._write() as connection:
            await connection.execute(insert(spend_logs), values)
            if deltas:
                await self._count_spend(connection, deltas, now)
        return len(batch)

    async def spend_logs(
        self,
        *,
        key_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[SpendLog]:
        """Spend rows, newest first: of one key or all, from ``since`` (inclusive) to ``until``
        (exclusive)."""
        limit = _page(limit, "limit")
        query = select(spend_logs)
        if key_id is not None:
            query = query.where(spend_logs.c.key_id == key_id)
        if since is not None:
            query = query.where(spend_logs.c.created_at >= _aware(since, "since"))
        if until is not None:
            query = query.where(spend_logs.c.created_at < _aware(until, "until"))
        query = query.order_by(spend_logs.c.created_at.desc(), spend_logs.c.id.desc()).limit(limit)
        async with self._read() as connection:
            rows = (await connection.execute(query)).all()
        return [SpendLog(**row._asdict()) for row in rows]

    async def reset_budgets(self, now: datetime | None = None) -> int:
        """Reset the counter of every key whose budget period has ended and move its reset time
        to the end of the current period; returns how many keys were reset. Spending resets a
        key by itself, so this is only needed for counters read straight from the database."""
        moment = self._now() if now is None else _aware(now, "now")
        assert moment is not None
        async with self._write() as connection:
            rows = (
                await connection.execute(
                    select(keys.c.id, keys.c.budget_period, keys.c.budget_reset_at)
                    .where(keys.c.budget_reset_at <= moment, keys.c.budget_period.is_not(None))
                    .order_by(keys.c.id)
                    .with_for_update()
                )
            ).all()
            params = [
                {"kid": key_id, "delta": Decimal(0), "reset_at": next_reset(reset, period, moment)}
                for key_id, period, reset in rows
            ]
            if params:
                await connection.execute(_RESET, params)
        return len(params)

    # -- internals -------------------------------------------------------------------------

    def _now(self) -> datetime:
        if self._closed:
            raise StoreClosedError(f"the store {self.url} is closed")
        now = self._clock()
        if now.tzinfo is None:
            raise InvalidRequestError("the store's clock must return timezone-aware datetimes")
        return now

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        self._now()  # raises once closed
        async with self._engine.connect() as connection:
            connection = await connection.execution_options(**{WRITE: True})
            async with connection.begin():
                yield connection

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        self._now()  # raises once closed
        async with self._engine.connect() as connection:
            yield connection

    async def _one_key(self, condition: Any) -> KeyRecord | None:
        async with self._read() as connection:
            row = (await connection.execute(select(keys).where(condition))).one_or_none()
        return None if row is None else _key_record(row)

    async def _locked_key(self, connection: AsyncConnection, key_id: str) -> KeyRecord:
        row = (
            await connection.execute(select(keys).where(keys.c.id == key_id).with_for_update())
        ).one_or_none()
        if row is None:
            raise KeyNotFoundError(key_id)
        return _key_record(row)

    async def _count_spend(
        self, connection: AsyncConnection, deltas: Mapping[str, Decimal], now: datetime
    ) -> None:
        # Lock the rows in id order: two batches touching the same keys queue instead of
        # deadlocking, and a period that ended is reset by whichever batch gets there first.
        locked = (
            await connection.execute(
                select(keys.c.id, keys.c.budget_period, keys.c.budget_reset_at)
                .where(keys.c.id.in_(sorted(deltas)))
                .order_by(keys.c.id)
                .with_for_update()
            )
        ).all()
        resets: list[dict[str, Any]] = []
        adds: list[dict[str, Any]] = []
        for key_id, period, reset_at in locked:
            if period is not None and reset_at is not None and now >= reset_at:
                resets.append(
                    {
                        "kid": key_id,
                        "delta": deltas[key_id],
                        "reset_at": next_reset(reset_at, period, now),
                    }
                )
            else:
                adds.append({"kid": key_id, "delta": deltas[key_id]})
        if resets:
            await connection.execute(_RESET, resets)
        if adds:
            await connection.execute(_ADD, adds)


# A new period starts with the batch's own spend; an ongoing one adds to it (in SQL: exact, and
# serialised by the row lock).
_RESET = (
    update(keys)
    .where(keys.c.id == bindparam("kid"))
    .values(
        spend=bindparam("delta", type_=Money()),
        budget_reset_at=bindparam("reset_at", type_=UTCDateTime()),
    )
)
_ADD = (
    update(keys)
    .where(keys.c.id == bindparam("kid"))
    .values(spend=keys.c.spend + bindparam("delta", type_=Money()))
)


def _key_record(row: Row[Any]) -> KeyRecord:
    data = row._mapping
    return KeyRecord(
        id=data["id"],
        key_prefix=data["key_prefix"],
        alias=data["alias"],
        models=tuple(data["models"] or ()),
        rpm=data["rpm"],
        tpm=data["tpm"],
        max_budget=data["max_budget"],
        budget_period=data["budget_period"],
        budget_reset_at=data["budget_reset_at"],
        spend=data["spend"],
        expires_at=data["expires_at"],
        metadata=dict(data["metadata"] or {}),
        blocked=bool(data["blocked"]),
        revoked_at=data["revoked_at"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


# -- argument checks: each names the argument and the accepted form -------------------------


def _alias(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise InvalidRequestError(
            f"alias must be a non-empty string of at most 255 characters or None, got {value!r}",
            param="alias",
        )
    return value


def _models(value: object) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidRequestError(
            f"models must be a list of model or alias names (empty for all), got {value!r}",
            param="models",
        )
    names: list[str] = []
    for name in value:
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequestError(
                f"models must hold non-empty strings, got {name!r}", param="models"
            )
        if name not in names:
            names.append(name)
    return names


def _limit(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_INT32:
        raise InvalidRequestError(
            f"{name} must be a whole number above 0 (at most {_MAX_INT32}) or None for no "
            f"limit, got {value!r}",
            param=name,
        )
    return value


def _budget(value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidRequestError(
            f"max_budget must be a number of USD or None, got {type(value).__name__}",
            param="max_budget",
        )
    if isinstance(value, float) and not math.isfinite(value):
        amount = Decimal("NaN")
    else:
        try:
            amount = Decimal(repr(value) if isinstance(value, float) else value)
        except ArithmeticError:
            raise InvalidRequestError(
                f"max_budget must be a number of USD, got {value!r}", param="max_budget"
            ) from None
    if not amount.is_finite() or not 0 < amount <= _MAX_USD:
        raise InvalidRequestError(
            f"max_budget must be a number of USD above 0 and at most {_MAX_USD}, got {value!r}",
            param="max_budget",
        )
    return amount


def _aware(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRequestError(
            f"{name} must be a timezone-aware datetime such as "
            f"datetime.now(timezone.utc) + timedelta(days=30), got {value!r}",
            param=name,
        )
    return value


def _metadata(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidRequestError(
            f"metadata must be a mapping with string keys, such as {{'team': 'search'}}, "
            f"got {type(value).__name__}",
            param="metadata",
        )
    try:
        encoded = json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"metadata must be JSON (strings, numbers, booleans, lists, mappings): {exc}",
            param="metadata",
        ) from None
    if len(encoded) > _MAX_METADATA_BYTES:
        raise InvalidRequestError(
            f"metadata is {len(encoded)} bytes of JSON; at most {_MAX_METADATA_BYTES} are kept",
            param="metadata",
        )
    loaded: dict[str, Any] = json.loads(encoded)
    return loaded


def _page(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_LIMIT:
        raise InvalidRequestError(
            f"{name} must be a whole number from 1 to {_MAX_LIMIT}, got {value!r}", param=name
        )
    return value
