"""Virtual keys beyond one process and through outages: two gateways on one Redis share a
key's rpm; a PostgreSQL outage does not stop cached keys and loses no spend row; the spend
writer retries a broken SQLite engine until every row is stored; ``llmrouter keys`` works on
the store directly; a database without a master key refuses to start."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from llmrouter.config import GatewaySettings
from llmrouter.errors import ConfigError
from llmrouter.testing import TogetherEmulator
from llmrouter.testing.services import require_redis
from llmrouter_anthropic.testing import AnthropicEmulator

from .conftest import config_toml, start_gateway
from .keys_support import (
    CACHE_TTL,
    PG_DSN,
    Keyed,
    drop_database,
    keyed_config,
    keyed_env,
    pg,
    postgres_database,
    start_keyed,
)

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[str, str]]:
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        yield together.base_url, claude.base_url


def _chat(base_url: str, key: str) -> bool:
    """True when answered, False when refused with a 429."""
    sdk = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    try:
        sdk.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    except openai.RateLimitError:
        return False
    return True


def test_rpm_holds_across_two_gateways_on_one_redis(
    emulators: tuple[str, str], tmp_path: Path
) -> None:
    require_redis()
    together, claude = emulators
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    first = start_keyed(tmp_path, together, claude, url, kind="sqlite", redis=True)
    second_config = keyed_config(tmp_path, together, claude, redis=True, name="second.toml")
    second = start_gateway(second_config, env=keyed_env(url))
    try:
        key, _ = first.generate(rpm_limit=5)
        answered = []
        for i in range(12):  # alternating: each process alone would admit 5 of its 6
            gateway = first.gateway if i % 2 == 0 else second
            answered.append(_chat(gateway.base_url, key))
        assert sum(answered) == 5
        assert answered[:5] == [True] * 5
    finally:
        first.gateway.stop()
        second.stop()


def test_without_redis_each_process_counts_alone(
    emulators: tuple[str, str], tmp_path: Path
) -> None:
    """The control for the test above: the same traffic without Redis admits 5 per process."""
    together, claude = emulators
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    first = start_keyed(tmp_path, together, claude, url, kind="sqlite", redis=False)
    second_config = keyed_config(tmp_path, together, claude, redis=False, name="second.toml")
    second = start_gateway(second_config, env=keyed_env(url))
    try:
        key, _ = first.generate(rpm_limit=5)
        answered = [
            _chat((first.gateway if i % 2 == 0 else second).base_url, key) for i in range(12)
        ]
        assert sum(answered) == 10
    finally:
        first.gateway.stop()
        second.stop()


@pytest.fixture
def pg_keyed(emulators: tuple[str, str], tmp_path: Path) -> Iterator[tuple[Keyed, str]]:
    name = postgres_database()
    together, claude = emulators
    gw = start_keyed(
        tmp_path, together, claude, PG_DSN.format(name=name), kind="postgresql", redis=False
    )
    try:
        yield gw, name
    finally:
        gw.gateway.stop()
        asyncio.run(pg(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        drop_database(name)


def test_postgres_outage_keeps_cached_keys_and_loses_no_spend(
    pg_keyed: tuple[Keyed, str],
) -> None:
    keyed, name = pg_keyed
    key, key_id = keyed.generate()
    fresh, _ = keyed.generate()  # never used before the outage: not cached
    assert _chat(keyed.gateway.base_url, key)
    # the outage: nobody may connect, and every open connection is killed
    asyncio.run(pg(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
    asyncio.run(
        pg(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    )
    during = 0
    for _ in range(6):
        assert _chat(keyed.gateway.base_url, key)  # served from the (stale) cache
        during += 1
    time.sleep(CACHE_TTL + 0.2)  # past the TTL: the lookup fails and the stale record serves
    for _ in range(4):
        assert _chat(keyed.gateway.base_url, key)
        during += 1
    refused = keyed.call(
        fresh, "POST", "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES}
    )
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "key_store_unavailable"
    assert keyed.admin("GET", "/key/list").status_code == 503
    assert httpx.get(f"{keyed.gateway.root}/health/readiness").status_code == 503
    # restored: every row written during the outage arrives
    asyncio.run(pg(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    keyed.wait_for(
        lambda: len(keyed.spend_logs(key_id)) == 1 + during, "every spend row", seconds=60
    )
    assert "spend_write_failed" in keyed.gateway.output()
    assert key not in keyed.gateway.output()


def test_spend_writer_retries_a_broken_engine_and_flushes_at_close(tmp_path: Path) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from llmrouter_gateway.keys import Keys, KeyUse
    from llmrouter_gateway.limits import MemoryLimiter
    from llmrouter_gateway.store import Store

    async def run() -> tuple[int, int, int]:
        url = f"sqlite:///{tmp_path / 'keys.db'}"
        store = await Store.open(url)
        keys = Keys(store, MemoryLimiter(), cache_ttl=30)
        keys.spend.start()
        _, record = await store.create_key(alias="k")
        working = store._engine
        # a database that cannot be opened: a file in a folder that does not exist
        broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'x.db'}")
        store._engine = broken
        total = 0
        for _ in range(1200):  # more than two batches
            keys.account(
                KeyUse(record), alias="chat", status=200, info=None, usage=None, seconds=0.01
            )
            total += 1
        await asyncio.sleep(1.0)
        failures = keys.spend.failures
        assert keys.spend.pending() == total  # nothing written, nothing dropped
        store._engine = working  # the database is back
        for _ in range(300):
            keys.account(
                KeyUse(record), alias="chat", status=200, info=None, usage=None, seconds=0.01
            )
            total += 1
        await keys.close()  # clean shutdown: flushes whatever the writer has not written
        await broken.dispose()
        check = await Store.open(url)
        try:
            rows = await check.spend_logs(key_id=record.id, limit=10_000)
        finally:
            await check.close()
        return failures, total, len(rows)

    failures, total, stored = asyncio.run(run())
    assert failures >= 1
    assert stored == total == 1500


def test_keys_cli(tmp_path: Path) -> None:
    config = tmp_path / "llmrouter.toml"
    config.write_text(
        config_toml(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            master_key_env="GW_MASTER_KEY",
            extra=f'database_url = "sqlite:///{tmp_path / "keys.db"}"',
        ),
        encoding="utf-8",
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmrouter", "keys", "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = cli("create", "--alias", "cli-app", "--rpm", "7", "--models", "chat,embed")
    assert created.returncode == 0, created.stderr
    key = created.stdout.splitlines()[0]
    assert key.startswith("sk-llmr-")
    record = json.loads(created.stdout.split("\n", 1)[1])
    key_id = record["token"]
    assert record["rpm_limit"] == 7 and record["models"] == ["chat", "embed"]
    listed = cli("list")
    assert key_id in listed.stdout and key not in listed.stdout
    info = cli("info", key_id)
    assert json.loads(info.stdout)["key_alias"] == "cli-app" and key not in info.stdout
    assert json.loads(cli("info", key).stdout)["token"] == key_id  # by the key itself
    updated = cli("update", key_id, "--tpm", "1000", "--block")
    assert json.loads(updated.stdout)["tpm_limit"] == 1000
    assert json.loads(updated.stdout)["status"] == "blocked"
    revoked = cli("revoke", key_id)
    assert json.loads(revoked.stdout)["status"] == "revoked"
    assert key_id not in cli("list").stdout and key_id in cli("list", "--all").stdout
    for out in (listed, info, updated, revoked):
        assert key not in out.stdout + out.stderr
    missing = cli("info", "nope")
    assert missing.returncode != 0 and "nope" in missing.stderr


def test_a_database_needs_a_master_key(tmp_path: Path) -> None:
    config = tmp_path / "llmrouter.toml"
    config.write_text(
        config_toml(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            master_key_env=None,
            extra=f'database_url = "sqlite:///{tmp_path / "keys.db"}"',
        ),
        encoding="utf-8",
    )
    from llmrouter_gateway.server import load_for_serving

    with pytest.raises(ConfigError, match="need a master key"):
        load_for_serving(str(config))
    started = subprocess.run(
        [sys.executable, "-m", "llmrouter", "serve", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0 and "master_key_env" in started.stderr


def test_database_url_is_not_echoed() -> None:
    settings = GatewaySettings(database_url="postgresql://u:hunter2-secret@db:5432/x")
    assert "hunter2" not in repr(settings)
    from llmrouter_gateway.store._engine import database_url

    with pytest.raises(ConfigError) as caught:
        database_url("mysql://u:hunter2-secret@db/x")
    assert "hunter2" not in str(caught.value)


def test_database_url_env_must_be_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmrouter_gateway.keys import database_url_from

    monkeypatch.delenv("GW_UNSET_DATABASE", raising=False)
    with pytest.raises(ConfigError, match="GW_UNSET_DATABASE"):
        database_url_from(GatewaySettings(database_url_env="GW_UNSET_DATABASE"))
    monkeypatch.setenv("GW_UNSET_DATABASE", "sqlite:///x.db")
    assert database_url_from(GatewaySettings(database_url_env="GW_UNSET_DATABASE")) == (
        "sqlite:///x.db"
    )
