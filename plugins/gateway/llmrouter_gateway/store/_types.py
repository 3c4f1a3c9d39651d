"""Column types that read back the same on SQLite and PostgreSQL.

Money: PostgreSQL's ``NUMERIC`` is exact, but SQLite has no decimal type at all: a ``NUMERIC``
column there turns ``0.1`` into the float 0.1000000000000000055..., and ``spend + cost`` adds
floats. So on SQLite an amount is stored as a 64-bit integer count of 1e-10 USD, where
``spend = spend + :cost`` is exact integer arithmetic inside the database (the counters must be
updated in SQL, not read-modify-written in Python, to stay exact under concurrent writers).
Both databases hold the same ten decimal places: prices are published per million tokens with
at most four decimals, so a token's cost is exact at 1e-10 USD; anything finer is rounded
half-even before it is written, identically on both. The integer range caps one amount at
about 922 million USD.

Time: PostgreSQL's ``timestamptz`` returns aware datetimes, SQLite stores text without a zone.
Every time is written as UTC and read back aware (UTC), so callers never compare naive and
aware values.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "MONEY_PLACES",
    "MONEY_PRECISION",
    "MONEY_QUANTUM",
    "Money",
    "UTCDateTime",
    "quantize_usd",
]

#: Decimal places every USD amount keeps, on both databases.
MONEY_PLACES = 10
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
#: Digits of a NUMERIC amount on PostgreSQL (10 before the point: far above the SQLite bound).
MONEY_PRECISION = 20
_SQLITE_MAX = 2**63 - 1


def quantize_usd(value: Decimal) -> Decimal:
    """``value`` rounded half-even to the stored ten places."""
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


class Money(TypeDecorator[Decimal]):
    """An exact USD amount: ``NUMERIC(20, 10)`` on PostgreSQL, integer 1e-10 USD on SQLite."""

    impl = Numeric(MONEY_PRECISION, MONEY_PLACES, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_PLACES, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = quantize_usd(Decimal(value))
        if dialect.name == "sqlite":
            units = int(amount.scaleb(MONEY_PLACES))
            if abs(units) > _SQLITE_MAX:
                raise OverflowError(f"USD amount {amount} is too large to store")
            return units
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_PLACES)
        return quantize_usd(Decimal(value))


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, always written as UTC and read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime reached the store; times must be timezone-aware")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
