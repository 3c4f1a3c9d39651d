"""From the URL a user writes to a configured async engine.

Users write ``sqlite:///keys.db``, a bare path, ``postgresql://...`` or ``postgres://...``; the
store needs the async drivers (``sqlite+aiosqlite``, ``postgresql+asyncpg``), so the plain forms
are mapped onto them and any other driver is refused with the form to use instead.

SQLite is set up for several writers (a gateway's spend writer, an admin call, a second
process on the same file): WAL, so readers never wait for the writer; a 30 s busy timeout; and
SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN``, so a write transaction can say
``BEGIN IMMEDIATE`` and take the write lock up front instead of failing with "database is
locked" when it upgrades from a read midway (SQLAlchemy's documented recipe).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from llmrouter.errors import ConfigError

__all__ = ["WRITE", "create_engine", "database_url", "display_url"]

#: Execution option of a connection whose transaction writes (SQLite: ``BEGIN IMMEDIATE``).
WRITE = "llmrouter_write"
_SQLITE_BUSY_TIMEOUT_S = 30.0
#: asyncpg waits 60 s for a connection by default; a gateway should report a dead database
#: sooner than that.
_POSTGRES_CONNECT_TIMEOUT_S = 10.0
_FORMS = "sqlite:///path/to/keys.db (or a file path) or postgresql://user:password@host:5432/dbname"


def display_url(url: URL) -> str:
    """The URL with its password masked, for messages and reprs."""
    return url.render_as_string(hide_password=True)


def database_url(value: str | os.PathLike[str] | URL) -> URL:
    """The async-driver URL for what a user wrote."""
    if isinstance(value, URL):
        url = value
    else:
        text = os.fspath(value)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"database_url is empty; give {_FORMS}", key="database_url")
        text = text.strip()
        if "://" not in text:
            return _sqlite_file_url(Path(text))
        try:
            url = make_url(text)
        except (ArgumentError, ValueError):
            # the text is not repeated: it may hold a password
            raise ConfigError(
                f"database_url could not be parsed as a URL (not shown, it may hold a password); "
                f"give {_FORMS}",
                key="database_url",
            ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "aiosqlite"):
            raise ConfigError(
                f"database_url uses the SQLite driver {driver!r}; the store runs on aiosqlite: "
                f"write sqlite:///path/to/keys.db",
                key="database_url",
            )
        if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
            raise ConfigError(
                "database_url points at an in-memory SQLite database, which every connection "
                "sees empty and which is gone at exit; give a file: sqlite:///path/to/keys.db",
                key="database_url",
            )
        return _sqlite_file_url(Path(url.database), url)
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "asyncpg"):
            raise ConfigError(
                f"database_url uses the PostgreSQL driver {driver!r}; the store runs on asyncpg: "
                f"write postgresql://... (got {display_url(url)})",
                key="database_url",
            )
        if importlib.util.find_spec("asyncpg") is None:
            raise ConfigError(
                "database_url is a PostgreSQL URL but asyncpg is not installed; install it with "
                "pip install 'llmrouter-gateway[postgres]'",
                key="database_url",
            )
        return url.set(drivername="postgresql+asyncpg")
    raise ConfigError(f"database_url must be {_FORMS}; got {display_url(url)}", key="database_url")


def _sqlite_file_url(path: Path, url: URL | None = None) -> URL:
    folder = path.expanduser().absolute().parent
    if not folder.is_dir():
        raise ConfigError(
            f"the SQLite database's folder {str(folder)!r} does not exist; create it or point "
            f"database_url at a file in an existing folder",
            key="database_url",
        )
    base = url if url is not None else URL.create("sqlite")
    return base.set(drivername="sqlite+aiosqlite", database=str(path.expanduser()))


def create_engine(url: URL) -> AsyncEngine:
    """An engine for a URL from :func:`database_url`."""
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})
        _setup_sqlite(engine)
        return engine
    # pre-ping: a pooled connection that died with a database restart is replaced, not handed
    # to the spend writer to fail on
    return create_async_engine(
        url, pool_pre_ping=True, connect_args={"timeout": _POSTGRES_CONNECT_TIMEOUT_S}
    )


def _setup_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (below)
        cursor = dbapi_connection.cursor()
        try:
            # Switching a new file to WAL needs its lock for a moment; several gateways
            # starting together on one new file may find it taken (SQLite answers "database
            # is locked" at once, without the busy timeout), so try for up to the timeout.
            deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
            while True:
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")
