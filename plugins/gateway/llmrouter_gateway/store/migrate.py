"""Bringing a database to the store's schema, safely from several processes at once.

Alembic runs the revisions in ``migrations/versions`` inside one transaction that first takes a
lock: on PostgreSQL a transaction-scoped advisory lock, on SQLite ``BEGIN IMMEDIATE`` (the
database's write lock). Two gateways starting together on one database therefore migrate one
after the other, and the second finds nothing left to do. Both databases run DDL inside
transactions, so a migration that fails leaves the schema as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import URL, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from llmrouter_gateway.store._engine import WRITE, create_engine, database_url

__all__ = ["HEAD", "current_revision", "migrate", "migrate_engine"]

#: The newest revision this version of the store knows.
HEAD = "0001"
_MIGRATIONS = Path(__file__).parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating (the bytes of "llmrstor").
_LOCK = 0x6C6C6D72_73746F72


async def migrate(url: str | os.PathLike[str] | URL) -> str:
    """Apply every migration the database lacks; returns the revision it is now at.

    Run twice, the second call changes nothing. :meth:`Store.open` calls it unless told not to.
    """
    engine = create_engine(database_url(url))
    try:
        return await migrate_engine(engine)
    finally:
        await engine.dispose()


async def migrate_engine(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        connection = await connection.execution_options(**{WRITE: True})
        async with connection.begin():
            return await connection.run_sync(_upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, ``None`` before the first migration."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


def _upgrade(connection: Connection) -> str:
    from alembic import command
    from alembic.config import Config

    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    revision = _current(connection)
    if revision is None:  # pragma: no cover - upgrade to head always writes a revision
        raise RuntimeError("the store's migrations ran but recorded no revision")
    return revision


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from llmrouter_gateway.store.schema import VERSION_TABLE

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
