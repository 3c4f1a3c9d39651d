"""What the store hands out and takes in: frozen records, none of which holds a key or its hash.

A virtual key exists in plaintext exactly once, as the :class:`PlaintextKey` that
:meth:`Store.create_key <llmrouter_gateway.store.Store.create_key>` returns; the store keeps
only its SHA-256 and a short display prefix. :class:`PlaintextKey` is a ``str`` (it is sent to
the user as is) whose ``repr`` is masked, so a tuple or a record logged with ``%r`` does not
spill it.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from llmrouter.errors import InvalidRequestError

__all__ = [
    "KEY_PREFIX",
    "KeyRecord",
    "KeyStatus",
    "PlaintextKey",
    "SpendLog",
    "SpendRow",
    "display_prefix",
    "generate_key",
    "hash_key",
]

#: Every virtual key starts with this, so it is recognisable in a config or a leak scanner.
KEY_PREFIX = "sk-llmr-"
#: Random characters of a key kept for display (24 bits of 256: useless to an attacker).
_SHOWN = 4
#: ``secrets.token_urlsafe`` bytes: 256 bits, 43 characters.
_KEY_BYTES = 32

KeyStatus = Literal["active", "blocked", "revoked", "expired"]


class PlaintextKey(str):
    """A newly created key. A ``str`` for every use; only its ``repr`` hides it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"PlaintextKey('{display_prefix(self)}')"


def generate_key() -> PlaintextKey:
    return PlaintextKey(KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES))


def hash_key(plaintext: str) -> str:
    """The stored form of a key: SHA-256, hex."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def display_prefix(plaintext: str) -> str:
    """``sk-llmr-ab12...``: enough to tell keys apart in a list, nothing to guess from."""
    return plaintext[: len(KEY_PREFIX) + _SHOWN] + "..."


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A virtual key as stored, without the key.

    ``spend`` is the counter of the current budget period as last written; a period that has
    ended since reads as 0 through :meth:`spend_in_period` even before the store resets it.
    ``models`` empty means every model. ``blocked`` can be undone with ``update_key``;
    ``revoked_at`` cannot.
    """

    id: str
    key_prefix: str
    alias: str | None
    models: tuple[str, ...]
    rpm: int | None
    tpm: int | None
    max_budget: Decimal | None
    budget_period: str | None
    budget_reset_at: datetime | None
    spend: Decimal
    expires_at: datetime | None
    metadata: Mapping[str, Any] = field(hash=False)
    blocked: bool
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def status(self, now: datetime) -> KeyStatus:
        """Whether the key may be used at ``now``, and if not, why (revoked wins over blocked
        wins over expired, the order an operator would want to be told)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.blocked:
            return "blocked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def allows_model(self, model: str) -> bool:
        return not self.models or model in self.models

    def spend_in_period(self, now: datetime) -> Decimal:
        """What the key spent in the period that contains ``now``."""
        if self.budget_reset_at is not None and now >= self.budget_reset_at:
            return Decimal(0)
        return self.spend


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequestError(f"{name} must be an integer >= 0, got {value!r}", param=name)
    return value


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One finished request, as the gateway reports it to :meth:`Store.add_spend`.

    ``cost_usd`` is ``None`` when the price is unknown (the row is kept, the key's counter is
    not moved); a float is read through its shortest text, so 0.1 is 0.1. ``created_at`` is the
    store's clock when ``None``.
    """

    key_id: str | None
    outcome: str
    alias: str | None = None
    deployment: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal | None = None
    latency_ms: float | None = None
    status_code: int | None = None
    error_type: str | None = None
    request_id: str | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        _count(self.prompt_tokens, "prompt_tokens")
        _count(self.completion_tokens, "completion_tokens")
        if not isinstance(self.outcome, str) or not self.outcome:
            raise InvalidRequestError(
                f"outcome must be a non-empty string such as 'success' or 'error', "
                f"got {self.outcome!r}",
                param="outcome",
            )
        cost: object = self.cost_usd
        if cost is not None:
            if isinstance(cost, bool) or not isinstance(cost, (int, float, str, Decimal)):
                raise InvalidRequestError(
                    f"cost_usd must be a Decimal number of USD or None, got {type(cost).__name__}",
                    param="cost_usd",
                )
            try:
                amount = Decimal(repr(cost) if isinstance(cost, float) else cost)
            except ArithmeticError:
                raise InvalidRequestError(
                    f"cost_usd must be a number of USD, got {cost!r}", param="cost_usd"
                ) from None
            if not amount.is_finite() or amount < 0:
                raise InvalidRequestError(
                    f"cost_usd must be a finite number >= 0, got {cost!r}", param="cost_usd"
                )
            object.__setattr__(self, "cost_usd", amount)
        latency = self.latency_ms
        if latency is not None and (
            isinstance(latency, bool)
            or not isinstance(latency, (int, float))
            or not math.isfinite(latency)
            or latency < 0
        ):
            raise InvalidRequestError(
                f"latency_ms must be a finite number >= 0 or None, got {latency!r}",
                param="latency_ms",
            )
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise InvalidRequestError(
                "created_at must be timezone-aware, e.g. datetime.now(timezone.utc)",
                param="created_at",
            )


@dataclass(frozen=True, slots=True)
class SpendLog:
    """A stored spend row, as :meth:`Store.spend_logs` reads it back."""

    id: int
    key_id: str | None
    alias: str | None
    deployment: str | None
    provider: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None
    latency_ms: float | None
    status_code: int | None
    outcome: str
    error_type: str | None
    request_id: str | None
    created_at: datetime
