"""A spend cap for one router: ``Router(max_budget=5, budget_period="1d")``.

The router checks the cap before each call and raises
:class:`~llmrouter.errors.BudgetExceededError` once what it spent in the current period has
reached it; each finished call adds its cost (``response.llmrouter.cost``). A call whose price is
unknown adds nothing (the ``llmrouter.cost_unknown`` event says so), a cache hit costs nothing.
Calls already in flight when the cap is reached finish and are counted, so the spend can end
slightly above the cap: the cap stops the *next* call, it cannot recall one that was sent.

In-process and per router; the gateway extends the same accounting to keys and to Redis.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal

from llmrouter.errors import BudgetExceededError, InvalidRequestError

__all__ = ["Budget", "parse_period"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_period(value: str | float | int | None) -> float | None:
    """Seconds in a budget period: a number of seconds, or text such as ``"30m"``, ``"12h"``,
    ``"1d"``, ``"7d"``, ``"2w"``; ``None`` for a cap that never resets."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequestError("budget_period must be seconds or text such as '1d'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PERIOD.match(value)):
        seconds = float(match[1]) * _UNITS[match[2]]
    else:
        raise InvalidRequestError(
            f"budget_period must be seconds (a number) or a count and unit such as '30m', '12h', "
            f"'1d', '7d', '2w' (s, m, h, d, w), got {value!r}",
            param="budget_period",
        )
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidRequestError(
            f"budget_period must be more than 0 seconds and finite, got {value!r}",
            param="budget_period",
        )
    return seconds


def _amount(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidRequestError(
            f"max_budget must be a number of USD, got {type(value).__name__}", param="max_budget"
        )
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else value)
    except ArithmeticError:
        raise InvalidRequestError(
            f"max_budget must be a number of USD, got {value!r}", param="max_budget"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidRequestError(
            f"max_budget must be a finite number of USD above 0, got {value!r}",
            param="max_budget",
        )
    return amount


class Budget:
    """``max_budget`` USD per ``period`` (seconds or text, see :func:`parse_period`; ``None``:
    never resets). Periods are fixed windows from the budget's creation. Thread-safe; one
    Budget may be shared by several routers, sync and async."""

    def __init__(
        self,
        max_budget: float | str | Decimal,
        period: str | float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_budget = _amount(max_budget)
        self.period = parse_period(period)
        self._clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._spent = Decimal(0)

    def _roll(self, now: float) -> None:
        period = self.period
        if period is not None and now >= self._start + period:
            self._start += period * ((now - self._start) // period)
            self._spent = Decimal(0)

    @property
    def spent(self) -> Decimal:
        """USD spent in the current period."""
        with self._lock:
            self._roll(self._clock())
            return self._spent

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.max_budget - self.spent)

    def resets_in(self) -> float | None:
        """Seconds until the current period ends (``None`` without a period)."""
        if self.period is None:
            return None
        with self._lock:
            now = self._clock()
            self._roll(now)
            return self._start + self.period - now

    def check(self) -> None:
        """Raise :class:`BudgetExceededError` when the period's spend has reached the cap."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            spent = self._spent
            if spent < self.max_budget:
                return
            resets = None if self.period is None else self._start + self.period - now
        when = (
            "it never resets (no budget_period)"
            if resets is None
            else f"it resets in {resets:.0f}s"
        )
        raise BudgetExceededError(
            f"the router's budget is spent: ${spent} of ${self.max_budget}; {when}. Raise "
            "max_budget, wait for the reset, or use another router",
            spent=spent,
            max_budget=self.max_budget,
            resets_in=resets,
        )

    def add(self, cost: Decimal | None) -> None:
        """Count a finished call's cost (``None``, an unknown price, counts nothing)."""
        if not cost:
            return
        with self._lock:
            self._roll(self._clock())
            self._spent += cost

    def reset(self) -> None:
        """Forget what was spent and start a new period now."""
        with self._lock:
            self._start = self._clock()
            self._spent = Decimal(0)

    def __repr__(self) -> str:
        period = "none" if self.period is None else f"{self.period:g}s"
        return f"Budget(max_budget={self.max_budget}, period={period}, spent={self.spent})"
