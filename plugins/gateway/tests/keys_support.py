"""Gateways with virtual keys on, as real processes: on a SQLite file, on a fresh PostgreSQL
database, and with Redis for the limits. PostgreSQL and Redis skip when they do not answer,
unless ``LLMROUTER_REQUIRE_SERVICES=1`` (then their absence fails the test)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from llmrouter.testing.services import unavailable

from .conftest import (
    ANTHROPIC_KEY,
    MASTER_KEY,
    TOGETHER_KEY,
    GatewayProcess,
    config_toml,
    start_gateway,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/{name}"
REDIS_URL = "redis://127.0.0.1:6379/0"
#: The cache TTL of the test gateways: short, so revocations show quickly.
CACHE_TTL = 1.0


async def pg(query: str, dsn: str = PG_ADMIN) -> Any:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        return await connection.execute(query)
    finally:
        await connection.close()


def postgres_database() -> str:
    """A fresh database's name (the caller drops it), after checking the server answers."""
    try:
        asyncio.run(pg("SELECT 1"))
    except Exception as exc:
        unavailable(f"PostgreSQL not reachable at 127.0.0.1:5432: {type(exc).__name__}: {exc}")
    name = f"llmrouter_keys_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg(f'CREATE DATABASE "{name}"'))
    return name


def drop_database(name: str) -> None:
    asyncio.run(pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Keyed:
    """A gateway with virtual keys and an admin client on it."""

    gateway: GatewayProcess
    database_url: str
    kind: str
    redis: bool
    config: Path
    env: dict[str, str]

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(MASTER_KEY, method, path, **kwargs)

    def call(self, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.gateway.root}{path}",
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
            **kwargs,
        )

    def generate(self, **body: Any) -> tuple[str, str]:
        """A new key and its id, through the admin API."""
        response = self.admin("POST", "/key/generate", json=body)
        assert response.status_code == 200, response.text
        data = response.json()
        return data["key"], data["token"]

    def info(self, key_id: str) -> dict[str, Any]:
        response = self.admin("GET", "/key/info", params={"key": key_id})
        assert response.status_code == 200, response.text
        return response.json()["info"]  # type: ignore[no-any-return]

    def spend_logs(self, key_id: str) -> list[dict[str, Any]]:
        response = self.admin("GET", "/spend/logs", params={"key_id": key_id, "limit": 1000})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_for(self, check: Callable[[], bool], what: str, seconds: float = 20) -> None:
        """Poll until ``check()`` (the spend writer is asynchronous by design)."""
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"never happened: {what}")
            time.sleep(0.1)


def keyed_config(
    tmp: Path, together: str, claude: str, *, redis: bool, name: str = "llmrouter.toml"
) -> Path:
    extra = f'database_url_env = "GW_DATABASE_URL"\nkey_cache_ttl = {CACHE_TTL}\n'
    if redis:
        extra += 'redis_url_env = "GW_REDIS_URL"\n'
    path = tmp / name
    path.write_text(
        config_toml(together, claude, master_key_env="GW_MASTER_KEY", extra=extra),
        encoding="utf-8",
    )
    return path


def keyed_env(database_url: str) -> dict[str, str]:
    return {
        "GW_MASTER_KEY": MASTER_KEY,
        "GW_TOGETHER_KEY": TOGETHER_KEY,
        "GW_ANTHROPIC_KEY": ANTHROPIC_KEY,
        "GW_DATABASE_URL": database_url,
        "GW_REDIS_URL": REDIS_URL,
    }


def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'keys.db'}"
        return
    name = postgres_database()
    try:
        yield PG_DSN.format(name=name)
    finally:
        drop_database(name)


def start_keyed(
    tmp: Path, together: str, claude: str, database_url: str, *, kind: str, redis: bool
) -> Keyed:
    config = keyed_config(tmp, together, claude, redis=redis)
    env = keyed_env(database_url)
    return Keyed(start_gateway(config, env=env), database_url, kind, redis, config, env)
