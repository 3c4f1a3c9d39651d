"""Migrations: applied at open, idempotent, safe to race, and in step with ``schema.py``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from llmrouter.errors import ConfigError
from llmrouter_gateway.store import HEAD, Store, migrate
from llmrouter_gateway.store._engine import create_engine, database_url
from llmrouter_gateway.store.schema import VERSION_TABLE, metadata

TABLES = {"llmrouter_keys", "llmrouter_spend_logs", VERSION_TABLE}


async def _tables(raw: Any) -> set[str]:
    if raw.backend.kind == "sqlite":
        rows = await raw.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await raw.query(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        )
    return {row["name"] for row in rows}


@pytest.mark.asyncio
async def test_migrate_twice_changes_nothing(backend: Any, raw: Any, clock: Any) -> None:
    assert await migrate(backend.url) == HEAD
    assert await _tables(raw) == TABLES
    async with await Store.open(backend.url, clock=clock) as store:
        _, record = await store.create_key(alias="kept")
    assert await migrate(backend.url) == HEAD
    assert await _tables(raw) == TABLES
    assert await raw.query(f"SELECT version_num FROM {VERSION_TABLE}") == [{"version_num": HEAD}]
    async with await Store.open(backend.url, clock=clock) as store:
        assert [r.id for r in await store.list_keys()] == [record.id]


@pytest.mark.asyncio
async def test_gateways_starting_together_migrate_once(backend: Any, raw: Any) -> None:
    assert await asyncio.gather(*(migrate(backend.url) for _ in range(4))) == [HEAD] * 4
    assert await raw.query(f"SELECT version_num FROM {VERSION_TABLE}") == [{"version_num": HEAD}]


@pytest.mark.asyncio
async def test_open_without_migrating_leaves_the_database_alone(backend: Any, raw: Any) -> None:
    store = await Store.open(backend.url, migrate=False)
    await store.close()
    assert await _tables(raw) == set()


@pytest.mark.asyncio
async def test_migrated_database_matches_the_schema(backend: Any) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    await migrate(backend.url)
    engine = create_engine(database_url(backend.url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "version_table": VERSION_TABLE}
                    ),
                    metadata,
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


def test_urls_users_write(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    for written in (str(path), f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"):
        url = database_url(written)
        assert url.drivername == "sqlite+aiosqlite" and url.database == str(path)
    assert database_url(path).database == str(path)
    for written in ("postgresql://u:pw@db:5432/app", "postgres://u:pw@db/app"):
        url = database_url(written)
        assert url.drivername == "postgresql+asyncpg" and url.password == "pw"


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("mysql://admin:hunter2-secret@db/app", "sqlite:///"),
        ("postgresql+psycopg://admin:hunter2-secret@db/app", "asyncpg"),
        ("sqlite+pysqlite:///x.db", "aiosqlite"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("   ", "empty"),
        ("/no/such/folder/keys.db", "does not exist"),
        ("postgresql://admin:hunter2-secret@db:port/app", "could not be parsed"),
    ],
)
def test_bad_urls_say_what_to_write_and_hide_passwords(written: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        database_url(written)
    assert says in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert raised.value.key == "database_url"


@pytest.mark.asyncio
async def test_store_repr_hides_the_password() -> None:
    from llmrouter_gateway.store._engine import display_url

    shown = display_url(database_url("postgresql://u:hunter2-secret@127.0.0.1:1/x"))
    assert "hunter2" not in shown and "***" in shown


def test_importing_the_gateway_does_not_load_the_store() -> None:
    import subprocess
    import sys

    code = (
        "import sys, llmrouter_gateway, llmrouter_gateway.app; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'aiosqlite', 'asyncpg', "
        "'llmrouter_gateway.store') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.asyncio
async def test_an_unreachable_database_fails_without_the_password() -> None:
    from sqlalchemy.exc import SQLAlchemyError

    url = "postgresql://postgres:hunter2-secret@127.0.0.1:1/nothing"
    with pytest.raises((SQLAlchemyError, OSError)) as raised:
        await Store.open(url)
    assert "hunter2" not in str(raised.value)
    assert "hunter2" not in repr(raised.value)
