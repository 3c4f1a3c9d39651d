"""Virtual keys and spend logs.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

The DDL is written out here rather than taken from ``schema.py``, so that this revision stays
what it was when later ones change the tables. Money is ``NUMERIC(20, 10)`` on PostgreSQL and
an integer count of 1e-10 USD on SQLite (see ``_types.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_MONEY = sa.Numeric(20, 10).with_variant(sa.BigInteger(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "llmrouter_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(255), nullable=True),
        sa.Column("models", _JSON, nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.BigInteger(), nullable=True),
        sa.Column("max_budget", _MONEY, nullable=True),
        sa.Column("budget_period", sa.String(32), nullable=True),
        sa.Column("budget_reset_at", _TIME, nullable=True),
        sa.Column("spend", _MONEY, nullable=False),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
    )
    op.create_index("ix_llmrouter_keys_key_hash", "llmrouter_keys", ["key_hash"], unique=True)
    op.create_index("ix_llmrouter_keys_budget_reset_at", "llmrouter_keys", ["budget_reset_at"])
    op.create_table(
        "llmrouter_spend_logs",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("alias", sa.String(255), nullable=True),
        sa.Column("deployment", sa.String(255), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", _MONEY, nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error_type", sa.String(128), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_index(
        "ix_llmrouter_spend_logs_key_id_created_at",
        "llmrouter_spend_logs",
        ["key_id", "created_at"],
    )
    op.create_index("ix_llmrouter_spend_logs_created_at", "llmrouter_spend_logs", ["created_at"])


def downgrade() -> None:
    op.drop_table("llmrouter_spend_logs")
    op.drop_table("llmrouter_keys")
