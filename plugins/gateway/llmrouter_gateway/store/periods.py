"""Budget periods of a key: when the current one ends, and what the next one is.

A key with ``budget_period="30d"`` gets its first reset time at creation (created + 30 days).
Periods stay aligned to that start: a key last used 75 days after creation resets at day 90,
not at day 105, so an operator can tell in advance when every key's budget comes back, however
irregular its traffic. The store resets the spend counter of a key whose period has ended in the
same transaction as the next spend for that key (:meth:`Store.add_spend`), and for every key at
once in :meth:`Store.reset_budgets`; until then :meth:`KeyRecord.spend_in_period` already reads
such a key's spend as 0.

The period syntax is the router's (:func:`llmrouter.budget.parse_period`): seconds, or ``30m``,
``12h``, ``1d``, ``7d``, ``2w``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from llmrouter.budget import parse_period
from llmrouter.errors import InvalidRequestError

__all__ = ["first_reset", "next_reset", "normalize_period"]


def normalize_period(value: str | float | int | None) -> str | None:
    """The text stored for a period, after checking it parses; numbers become ``"<n>s"``."""
    if value is None:
        return None
    seconds = parse_period(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 32:
            raise InvalidRequestError(
                f"budget_period is too long ({len(text)} characters); use a count and unit "
                f"such as '30d'",
                param="budget_period",
            )
        return text
    assert seconds is not None
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds!r}s"


def first_reset(start: datetime, budget_period: str | None) -> datetime | None:
    """When a period starting at ``start`` ends; ``None`` for a budget that never resets."""
    seconds = parse_period(budget_period)
    if seconds is None:
        return None
    return start + timedelta(seconds=seconds)


def next_reset(reset_at: datetime, budget_period: str, now: datetime) -> datetime:
    """The end of the period containing ``now``, for periods aligned on ``reset_at``: ``reset_at``
    itself while it is still ahead, else the first ``reset_at + n * period`` after ``now``."""
    seconds = parse_period(budget_period)
    if seconds is None:  # pragma: no cover - parse_period returns None only for None
        raise InvalidRequestError("budget_period is required", param="budget_period")
    if now < reset_at:
        return reset_at
    periods = math.floor((now - reset_at).total_seconds() / seconds) + 1
    end = reset_at + timedelta(seconds=periods * seconds)
    while end <= now:  # float rounding on very long gaps
        end += timedelta(seconds=seconds)
    return end
