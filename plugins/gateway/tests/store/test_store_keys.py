"""Virtual keys: create, look up, list, update, revoke, expire; the key itself never stored."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from llmrouter.errors import InvalidRequestError
from llmrouter_gateway.store import (
    KEY_PREFIX,
    KeyNotFoundError,
    Store,
    StoreClosedError,
    hash_key,
)


@pytest.mark.asyncio
async def test_create_then_lookup_returns_the_same_record(store: Store, clock: Any) -> None:
    expires = clock.now + timedelta(days=90)
    key, record = await store.create_key(
        alias="search-app",
        models=["gpt-4o", "claude", "gpt-4o"],
        rpm=60,
        tpm=100_000,
        max_budget="25.50",
        budget_period="30d",
        expires_at=expires,
        metadata={"team": "search", "user": "ana@example.com", "tags": [1, 2]},
    )
    assert key.startswith(KEY_PREFIX) and len(key) == len(KEY_PREFIX) + 43
    assert record.key_prefix == key[: len(KEY_PREFIX) + 4] + "..."
    assert record.models == ("gpt-4o", "claude")
    assert (record.rpm, record.tpm) == (60, 100_000)
    assert record.max_budget == Decimal("25.50")
    assert record.budget_period == "30d"
    assert record.budget_reset_at == clock.now + timedelta(days=30)
    assert record.spend == 0
    assert record.expires_at == expires
    assert record.metadata == {"team": "search", "user": "ana@example.com", "tags": [1, 2]}
    assert record.created_at == clock.now and record.created_at.tzinfo is not None
    assert record.status(clock.now) == "active"

    assert await store.lookup(key) == record
    assert await store.get_key_by_hash(hashlib.sha256(key.encode()).hexdigest()) == record
    assert await store.get_key(record.id) == record
    assert record.allows_model("claude") and not record.allows_model("gpt-3.5")


@pytest.mark.asyncio
async def test_unknown_and_malformed_keys_are_not_found(store: Store) -> None:
    key, _ = await store.create_key()
    assert await store.lookup(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert await store.lookup(key.removeprefix(KEY_PREFIX)) is None
    assert await store.lookup("") is None
    assert await store.get_key("no-such-id") is None
    _, open_key = await store.create_key(models=[])
    assert open_key.allows_model("anything")


@pytest.mark.asyncio
async def test_two_keys_never_collide(store: Store) -> None:
    created = [await store.create_key() for _ in range(20)]
    assert len({key for key, _ in created}) == 20
    assert len({record.id for _, record in created}) == 20
    for key, record in created:
        found = await store.lookup(key)
        assert found is not None and found.id == record.id


@pytest.mark.asyncio
async def test_the_plaintext_is_never_stored(store: Store, raw: Any, backend: Any) -> None:
    key, record = await store.create_key(alias="a", metadata={"team": "t"})
    await store.update_key(record.id, rpm=5)
    secret_part = key[len(KEY_PREFIX) + 4 :]
    rows = await raw.query("SELECT * FROM llmrouter_keys")
    assert len(rows) == 1
    for value in rows[0].values():
        assert secret_part not in str(value)
    assert rows[0]["key_hash"] == hashlib.sha256(key.encode()).hexdigest() == hash_key(key)
    if backend.kind == "sqlite":
        # and not on disk anywhere: the database file and its write-ahead log, byte for byte
        files = [backend.path, backend.path.with_name(backend.path.name + "-wal")]
        for path in files:
            if path.exists():
                assert secret_part.encode() not in path.read_bytes()


@pytest.mark.asyncio
async def test_no_key_or_hash_in_any_repr(store: Store) -> None:
    key, record = await store.create_key(alias="a")
    digest = hash_key(key)
    secret_part = key[len(KEY_PREFIX) + 4 :]
    for shown in (repr(key), repr((key, record)), repr(record), str(record), repr(store)):
        assert secret_part not in shown
        assert digest not in shown
    assert repr(key) == f"PlaintextKey('{record.key_prefix}')"
    assert f"{key}" == str(key) == key  # still the key for every other use


@pytest.mark.asyncio
async def test_list_keys_oldest_first_without_revoked(store: Store, clock: Any) -> None:
    records = []
    for name in ("a", "b", "c", "d"):
        records.append((await store.create_key(alias=name))[1])
        clock.advance(seconds=1)
    await store.revoke_key(records[1].id)
    assert [r.alias for r in await store.list_keys()] == ["a", "c", "d"]
    assert [r.alias for r in await store.list_keys(include_revoked=True)] == ["a", "b", "c", "d"]
    assert [r.alias for r in await store.list_keys(limit=2, offset=1)] == ["c", "d"]
    with pytest.raises(InvalidRequestError, match="limit"):
        await store.list_keys(limit=0)


@pytest.mark.asyncio
async def test_update_changes_only_the_given_fields(store: Store, clock: Any) -> None:
    _, record = await store.create_key(
        alias="old", models=["a"], rpm=10, max_budget=5, metadata={"team": "x"}
    )
    clock.advance(hours=1)
    updated = await store.update_key(record.id, rpm=20, models=["a", "b"], alias=None)
    assert (updated.rpm, updated.models, updated.alias) == (20, ("a", "b"), None)
    assert updated.max_budget == 5 and updated.metadata == {"team": "x"}  # untouched
    assert updated.updated_at == clock.now and updated.created_at == record.created_at
    assert await store.get_key(record.id) == updated

    cleared = await store.update_key(record.id, rpm=None, max_budget=None, metadata={"user": "u"})
    assert cleared.rpm is None and cleared.max_budget is None
    assert cleared.metadata == {"user": "u"}  # replaced, not merged


@pytest.mark.asyncio
async def test_a_new_budget_period_starts_now(store: Store, clock: Any, raw: Any) -> None:
    from llmrouter_gateway.store import SpendRow

    _, record = await store.create_key(max_budget=10)
    assert record.budget_reset_at is None
    await store.add_spend([SpendRow(key_id=record.id, outcome="success", cost_usd=Decimal(3))])
    clock.advance(hours=5)
    updated = await store.update_key(record.id, budget_period="1d")
    assert updated.budget_reset_at == clock.now + timedelta(days=1)
    assert updated.spend == 3  # kept unless asked
    assert (await store.update_key(record.id, reset_spend=True)).spend == 0
    removed = await store.update_key(record.id, budget_period=None)
    assert removed.budget_period is None and removed.budget_reset_at is None


@pytest.mark.asyncio
async def test_update_or_revoke_an_unknown_key(store: Store) -> None:
    with pytest.raises(KeyNotFoundError, match="no-such"):
        await store.update_key("no-such", rpm=1)
    with pytest.raises(KeyNotFoundError):
        await store.revoke_key("no-such")


@pytest.mark.asyncio
async def test_revoke_is_final_and_idempotent(store: Store, clock: Any) -> None:
    key, record = await store.create_key(alias="x")
    revoked = await store.revoke_key(record.id)
    assert revoked.revoked_at == clock.now and revoked.status(clock.now) == "revoked"
    clock.advance(minutes=5)
    assert (await store.revoke_key(record.id)).revoked_at == revoked.revoked_at
    found = await store.lookup(key)
    assert found is not None and found.status(clock.now) == "revoked"
    with pytest.raises(InvalidRequestError, match="revoked"):
        await store.update_key(record.id, blocked=False)


@pytest.mark.asyncio
async def test_block_and_unblock(store: Store, clock: Any) -> None:
    key, record = await store.create_key()
    assert (await store.update_key(record.id, blocked=True)).status(clock.now) == "blocked"
    found = await store.lookup(key)
    assert found is not None and found.status(clock.now) == "blocked"
    assert (await store.update_key(record.id, blocked=False)).status(clock.now) == "active"


@pytest.mark.asyncio
async def test_expiry(store: Store, clock: Any) -> None:
    key, record = await store.create_key(expires_at=clock.now + timedelta(hours=1))
    assert record.status(clock.now) == "active"
    clock.advance(minutes=59, seconds=59)
    found = await store.lookup(key)
    assert found is not None and found.status(clock.now) == "active"
    clock.advance(seconds=1)
    found = await store.lookup(key)
    assert found is not None and found.status(clock.now) == "expired"
    # expired keys can be extended (an operator's renewal)
    renewed = await store.update_key(record.id, expires_at=clock.now + timedelta(days=1))
    assert renewed.status(clock.now) == "active"
    assert (await store.update_key(record.id, expires_at=None)).expires_at is None


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"models": "gpt-4o"}, "models"),
        ({"models": ["ok", ""]}, "models"),
        ({"rpm": 0}, "rpm"),
        ({"tpm": -5}, "tpm"),
        ({"rpm": True}, "rpm"),
        ({"rpm": 1.5}, "rpm"),
        ({"max_budget": 0}, "max_budget"),
        ({"max_budget": "lots"}, "max_budget"),
        ({"max_budget": float("nan")}, "max_budget"),
        ({"max_budget": 10**12}, "max_budget"),
        ({"budget_period": "1 fortnight"}, "budget_period"),
        ({"budget_period": 0}, "budget_period"),
        ({"metadata": {"when": object()}}, "metadata"),
        ({"metadata": ["team"]}, "metadata"),
        ({"alias": ""}, "alias"),
        ({"alias": "x" * 256}, "alias"),
    ],
)
@pytest.mark.asyncio
async def test_bad_arguments_name_the_argument(
    store: Store, arguments: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        await store.create_key(**arguments)
    assert raised.value.param == param
    assert param in str(raised.value)
    assert await store.list_keys(include_revoked=True) == []


@pytest.mark.asyncio
async def test_naive_datetimes_are_refused(store: Store, clock: Any) -> None:
    naive = clock.now.replace(tzinfo=None)
    with pytest.raises(InvalidRequestError, match="timezone-aware"):
        await store.create_key(expires_at=naive)
    with pytest.raises(InvalidRequestError, match="since"):
        await store.spend_logs(since=naive)


@pytest.mark.asyncio
async def test_a_closed_store_says_so(backend: Any, clock: Any) -> None:
    store = await Store.open(backend.url, clock=clock)
    await store.close()
    await store.close()
    with pytest.raises(StoreClosedError, match="closed"):
        await store.create_key()
    with pytest.raises(StoreClosedError):
        await store.list_keys()
