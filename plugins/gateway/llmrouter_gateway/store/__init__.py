"""The gateway's store of virtual keys and spend logs, on SQLite (default) or PostgreSQL.

Usage::

    from llmrouter_gateway.store import SpendRow, Store

    store = await Store.open("sqlite:///var/lib/llmrouter/keys.db")  # migrates at open
    key, record = await store.create_key(alias="search-app", models=["gpt-4o"], rpm=60,
                                         max_budget="25", budget_period="30d")
    record = await store.lookup(key)  # what a request's bearer token resolves to
    await store.add_spend([SpendRow(key_id=record.id, outcome="success", cost_usd=cost)])
    await store.close()

Nothing here is imported by ``import llmrouter_gateway``: SQLAlchemy and the drivers load only
when a gateway configured with keys opens its store.

Why this stack. SQLAlchemy 2's async engine lets one set of queries and one table definition
run on both databases, with the dialect differences (``RETURNING``, ``FOR UPDATE``, JSON types,
bind casts for asyncpg) handled by a library that has handled them for years; the two drivers
are the established asyncio ones (aiosqlite runs ``sqlite3`` on a thread, asyncpg speaks
PostgreSQL's protocol natively). Alembic is SQLAlchemy's own migration tool: revisions are
plain Python, it runs them inside the caller's transaction (so the store can hold a lock
across a migration, see ``migrate.py``), and its batch mode copes with SQLite's limited
``ALTER TABLE`` when a later revision needs it. Hand-written SQL on two raw drivers would be
lighter to import but would mean two dialects of every statement and a home-made migration
runner; the store is off the request path (keys are cached, spend is batched), so an ORM
layer's per-statement cost does not show in the gateway's latency. Only SQLAlchemy Core is used,
no ORM sessions: every method is one explicit transaction.

Why SHA-256 for keys. A key is 256 random bits (``secrets.token_urlsafe(32)``), so nobody can
guess one from its hash by trying candidates: the slow, salted hashes used for passwords exist
because passwords are guessable, and would only make every uncached request pay tens of
milliseconds. A plain hash also lets the store find a key by an index lookup of its hash.

Money is exact on both databases (``Decimal``, ten places; see ``_types.py``); times are
timezone-aware UTC.
"""

from __future__ import annotations

from llmrouter_gateway.store.migrate import HEAD, migrate
from llmrouter_gateway.store.periods import first_reset, next_reset
from llmrouter_gateway.store.records import (
    KEY_PREFIX,
    KeyRecord,
    KeyStatus,
    PlaintextKey,
    SpendLog,
    SpendRow,
    hash_key,
)
from llmrouter_gateway.store.store import UNSET, KeyNotFoundError, Store, StoreClosedError

__all__ = [
    "HEAD",
    "KEY_PREFIX",
    "UNSET",
    "KeyNotFoundError",
    "KeyRecord",
    "KeyStatus",
    "PlaintextKey",
    "SpendLog",
    "SpendRow",
    "Store",
    "StoreClosedError",
    "first_reset",
    "hash_key",
    "migrate",
    "next_reset",
]
