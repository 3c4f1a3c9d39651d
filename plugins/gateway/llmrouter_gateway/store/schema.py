"""The store's tables, as the queries see them.

The migrations in ``migrations/versions`` create these tables with their own frozen copy of
the DDL (a migration must not change when this file does); a test compares the migrated
database with this metadata, so the two cannot drift apart unnoticed.

Table names carry an ``llmrouter_`` prefix, and Alembic's version table is
``llmrouter_alembic_version``, so the store can live in a database the operator already uses
for something else, even one with its own Alembic history.

``spend_logs.key_id`` has no foreign key on purpose: the log is an append-only record that must
outlive a key row and must never fail a whole batch because one key is gone.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB

from llmrouter_gateway.store._types import Money, UTCDateTime

__all__ = ["VERSION_TABLE", "keys", "metadata", "spend_logs"]

VERSION_TABLE = "llmrouter_alembic_version"

metadata = MetaData()

_JSON = JSON().with_variant(JSONB(), "postgresql")
#: A 64-bit id on PostgreSQL; SQLite's INTEGER PRIMARY KEY (its rowid) is already 64-bit.
_BIGID = BigInteger().with_variant(Integer(), "sqlite")

keys = Table(
    "llmrouter_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("key_prefix", String(32), nullable=False),
    Column("alias", String(255), nullable=True),
    Column("models", _JSON, nullable=False),
    Column("rpm", Integer, nullable=True),
    Column("tpm", BigInteger, nullable=True),
    Column("max_budget", Money, nullable=True),
    Column("budget_period", String(32), nullable=True),
    Column("budget_reset_at", UTCDateTime, nullable=True),
    Column("spend", Money, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("metadata", _JSON, nullable=False),
    Column("blocked", Boolean, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_llmrouter_keys_key_hash", "key_hash", unique=True),
    Index("ix_llmrouter_keys_budget_reset_at", "budget_reset_at"),
)

spend_logs = Table(
    "llmrouter_spend_logs",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("key_id", String(32), nullable=True),
    Column("alias", String(255), nullable=True),
    Column("deployment", String(255), nullable=True),
    Column("provider", String(64), nullable=True),
    Column("model", String(255), nullable=True),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cost_usd", Money, nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("error_type", String(128), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_llmrouter_spend_logs_key_id_created_at", "key_id", "created_at"),
    Index("ix_llmrouter_spend_logs_created_at", "created_at"),
)
