"""Every store test runs twice: on a real SQLite file in ``tmp_path`` and on the real PostgreSQL
at 127.0.0.1:5432 (trust auth), in a database of its own that is created for the test and
dropped after it. PostgreSQL's tests skip when it does not answer, unless
``LLMROUTER_REQUIRE_SERVICES=1`` makes its absence a failure (as CI does)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from llmrouter.testing.services import unavailable
from llmrouter_gateway.store import Store

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/{name}"


class FakeClock:
    """An aware UTC clock moved by hand: expiry and budget periods are tested without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Backend:
    """One database the test owns: its kind, the URL a user would write, and a raw DSN."""

    kind: str
    url: str
    path: Path | None = None
    pg_name: str | None = None


async def _pg(query: str, dsn: str = PG_ADMIN) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        await connection.execute(query)
    finally:
        await connection.close()


def _postgres_database() -> str:
    """A new empty database's name, after checking the server answers."""
    try:
        import asyncpg  # noqa: F401

        asyncio.run(_pg("SELECT 1"))
    except Exception as exc:
        unavailable(f"PostgreSQL not reachable at 127.0.0.1:5432: {type(exc).__name__}: {exc}")
    name = f"llmrouter_store_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "keys.db"
        yield Backend("sqlite", f"sqlite:///{path}", path=path)
        return
    name = _postgres_database()
    try:
        yield Backend("postgresql", PG_DSN.format(name=name), pg_name=name)
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def store(backend: Backend, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await Store.open(backend.url, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


class Raw:
    """Reads the test's database with the bare driver, past SQLAlchemy and the store."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def query(self, query: str) -> list[dict[str, Any]]:
        if self.backend.kind == "sqlite":
            import sqlite3

            assert self.backend.path is not None
            connection = sqlite3.connect(self.backend.path)
            connection.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in connection.execute(query)]
            finally:
                connection.close()
        import asyncpg

        connection = await asyncpg.connect(PG_DSN.format(name=self.backend.pg_name), timeout=3)
        try:
            return [dict(row) for row in await connection.fetch(query)]
        finally:
            await connection.close()

    async def scalar(self, query: str) -> Any:
        rows = await self.query(query)
        return next(iter(rows[0].values()))


@pytest.fixture
def raw(backend: Backend) -> Raw:
    return Raw(backend)
