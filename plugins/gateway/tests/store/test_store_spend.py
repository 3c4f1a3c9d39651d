"""Spend: batches, the per-key counters, budget periods, exact Decimal amounts, concurrency."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from llmrouter.errors import InvalidRequestError
from llmrouter_gateway.store import SpendRow, Store, next_reset


def row(key_id: str | None, cost: Decimal | float | str | None, **extra: Any) -> SpendRow:
    return SpendRow(key_id=key_id, outcome="success", cost_usd=cost, **extra)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_a_batch_of_1000_rows_in_one_call(store: Store, raw: Any) -> None:
    _, a = await store.create_key(alias="a")
    _, b = await store.create_key(alias="b")
    rng = random.Random(7)
    rows = []
    for i in range(1000):
        key_id = (a.id, b.id, None)[i % 3]
        cost = None if i % 7 == 0 else Decimal(rng.randrange(1, 10**9)).scaleb(-10)
        rows.append(
            SpendRow(
                key_id=key_id,
                alias="a" if key_id == a.id else "b",
                deployment=f"dep-{i % 4}",
                provider="together_ai",
                model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
                prompt_tokens=i,
                completion_tokens=2 * i,
                cost_usd=cost,
                latency_ms=i / 3,
                status_code=200,
                outcome="success",
                request_id=f"req-{i}",
            )
        )
    assert await store.add_spend(rows) == 1000

    assert await raw.scalar("SELECT COUNT(*) FROM llmrouter_spend_logs") == 1000
    for record in (a, b):
        expected = sum(
            (r.cost_usd for r in rows if r.key_id == record.id and r.cost_usd is not None),
            Decimal(0),
        )
        stored = await store.get_key(record.id)
        assert stored is not None and stored.spend == expected
        logs = await store.spend_logs(key_id=record.id, limit=1000)
        assert len(logs) == sum(1 for r in rows if r.key_id == record.id)
        assert sum((log.cost_usd or Decimal(0) for log in logs), Decimal(0)) == expected
    one = next(log for log in await store.spend_logs(limit=1000) if log.request_id == "req-500")
    assert (one.prompt_tokens, one.completion_tokens, one.deployment) == (500, 1000, "dep-0")
    assert one.latency_ms == pytest.approx(500 / 3)
    assert one.key_id == rows[500].key_id and one.cost_usd == rows[500].cost_usd


@pytest.mark.asyncio
async def test_rows_and_counters_commit_together(
    store: Store, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, record = await store.create_key()
    await store.add_spend([row(record.id, "1")])
    original = Store._count_spend

    async def count_then_fail(self: Store, *args: Any) -> None:
        await original(self, *args)  # the rows are inserted and the counter moved: now fail
        raise RuntimeError("database went away before commit")

    monkeypatch.setattr(Store, "_count_spend", count_then_fail)
    with pytest.raises(RuntimeError, match="went away"):
        await store.add_spend([row(record.id, "2"), row(record.id, "3")])
    monkeypatch.undo()

    assert await raw.scalar("SELECT COUNT(*) FROM llmrouter_spend_logs") == 1
    stored = await store.get_key(record.id)
    assert stored is not None and stored.spend == 1
    await store.add_spend([row(record.id, "2")])
    stored = await store.get_key(record.id)
    assert stored is not None and stored.spend == 3


@pytest.mark.asyncio
async def test_concurrent_batches_keep_the_total_exact(store: Store) -> None:
    ids = [(await store.create_key(alias=f"k{i}"))[1].id for i in range(3)]
    rng = random.Random(11)
    batches = []
    for _ in range(48):
        batch = []
        for _ in range(rng.randrange(1, 12)):
            batch.append(row(rng.choice(ids), Decimal(rng.randrange(1, 10**6)).scaleb(-9)))
        rng.shuffle(batch)  # keys in a different order in every batch: no deadlock
        batches.append(batch)

    async def writer(mine: list[list[SpendRow]]) -> None:
        for batch in mine:
            await store.add_spend(batch)

    await asyncio.gather(*(writer(batches[i::8]) for i in range(8)))

    for key_id in ids:
        expected = sum(
            (r.cost_usd for b in batches for r in b if r.key_id == key_id and r.cost_usd),
            Decimal(0),
        )
        stored = await store.get_key(key_id)
        assert stored is not None and stored.spend == expected
    total_rows = sum(len(b) for b in batches)
    assert len(await store.spend_logs(limit=10_000)) == total_rows


@pytest.mark.asyncio
async def test_unknown_prices_and_unknown_keys(store: Store) -> None:
    _, record = await store.create_key()
    await store.add_spend([row(record.id, None), row("gone-key", "5"), row(None, "7")])
    stored = await store.get_key(record.id)
    assert stored is not None and stored.spend == 0
    logs = await store.spend_logs(limit=10)
    assert {log.key_id: log.cost_usd for log in logs} == {
        None: Decimal(7),
        "gone-key": Decimal(5),
        record.id: None,
    }
    assert await store.add_spend([]) == 0


@pytest.mark.asyncio
async def test_costs_keep_their_decimal_places(store: Store, raw: Any, backend: Any) -> None:
    _, record = await store.create_key(max_budget="0.0000000003")
    costs = [
        Decimal("0.1"),
        Decimal("0.2"),
        Decimal("0.0000000001"),  # the smallest stored amount
        Decimal("123456.7890123456"),
        Decimal("0.000000375"),  # 1 token at 0.375 USD per million
        Decimal("0.00000000015"),  # beyond ten places: half-even to 0.0000000002
        Decimal("0.00000000025"),  # and this one to 0.0000000002 too
    ]
    await store.add_spend([row(record.id, cost) for cost in costs])
    await store.add_spend([row(record.id, 0.1)])  # a float is read as its shortest text
    stored = await store.get_key(record.id)
    assert stored is not None
    assert stored.max_budget == Decimal("0.0000000003")
    expected = Decimal("0.1") + Decimal("0.2") + Decimal("0.0000000001")
    expected += Decimal("123456.7890123456") + Decimal("0.000000375")
    expected += Decimal("0.0000000002") * 2 + Decimal("0.1")
    assert stored.spend == expected == Decimal("123457.1890127211")
    logs = await store.spend_logs(key_id=record.id)
    assert sorted(log.cost_usd for log in logs if log.cost_usd is not None) == sorted(
        [*costs[:5], Decimal("0.0000000002"), Decimal("0.0000000002"), Decimal("0.1")]
    )
    # 1000 of the smallest amount add up exactly, which binary floats would not
    _, tiny = await store.create_key()
    await store.add_spend([row(tiny.id, "0.0000000001")] * 1000)
    stored = await store.get_key(tiny.id)
    assert stored is not None and stored.spend == Decimal("0.0000001")
    # and the database holds exact values, not floats
    value = await raw.scalar(f"SELECT spend FROM llmrouter_keys WHERE id = '{tiny.id}'")
    assert value == (1000 if backend.kind == "sqlite" else Decimal("0.0000001"))


@pytest.mark.asyncio
async def test_a_period_that_ended_resets_with_the_next_spend(store: Store, clock: Any) -> None:
    _, record = await store.create_key(max_budget=5, budget_period="1d")
    created = clock.now
    await store.add_spend([row(record.id, "1.5")])
    clock.advance(days=1, hours=1)
    stored = await store.get_key(record.id)
    assert stored is not None
    assert stored.spend == Decimal("1.5")  # not yet written...
    assert stored.spend_in_period(clock.now) == 0  # ...but already read as a new period
    await store.add_spend([row(record.id, "0.25")])
    stored = await store.get_key(record.id)
    assert stored is not None and stored.spend == Decimal("0.25")
    assert stored.budget_reset_at == created + timedelta(days=2)  # aligned on creation
    assert stored.spend_in_period(clock.now) == Decimal("0.25")

    clock.advance(days=3, hours=12)  # day 4.5 plus an hour: the period ending on day 5
    assert await store.reset_budgets() == 1
    stored = await store.get_key(record.id)
    assert stored is not None and stored.spend == 0
    assert stored.budget_reset_at == created + timedelta(days=5)
    assert await store.reset_budgets() == 0


@pytest.mark.asyncio
async def test_concurrent_batches_after_a_period_ended_reset_once(store: Store, clock: Any) -> None:
    _, record = await store.create_key(max_budget=100, budget_period="1h")
    await store.add_spend([row(record.id, "50")])
    clock.advance(hours=1)
    await asyncio.gather(*(store.add_spend([row(record.id, "0.01")]) for _ in range(20)))
    stored = await store.get_key(record.id)
    assert stored is not None
    assert stored.spend == Decimal("0.20")  # every batch of the new period counted, 50 gone


@pytest.mark.asyncio
async def test_keys_without_a_period_never_reset(store: Store, clock: Any) -> None:
    _, record = await store.create_key(max_budget=5)
    await store.add_spend([row(record.id, "1")])
    clock.advance(days=400)
    await store.add_spend([row(record.id, "1")])
    assert await store.reset_budgets() == 0
    stored = await store.get_key(record.id)
    assert stored is not None and stored.spend == 2 and stored.spend_in_period(clock.now) == 2


@pytest.mark.asyncio
async def test_spend_logs_filters_and_order(store: Store, clock: Any) -> None:
    _, a = await store.create_key()
    _, b = await store.create_key()
    start = clock.now
    for minute in range(6):
        await store.add_spend([row(a.id, "1", request_id=f"a{minute}")])
        await store.add_spend([row(b.id, "1", request_id=f"b{minute}")])
        clock.advance(minutes=1)
    newest_first = [log.request_id for log in await store.spend_logs(key_id=a.id)]
    assert newest_first == ["a5", "a4", "a3", "a2", "a1", "a0"]
    window = await store.spend_logs(
        key_id=a.id, since=start + timedelta(minutes=2), until=start + timedelta(minutes=4)
    )
    assert [log.request_id for log in window] == ["a3", "a2"]
    assert len(await store.spend_logs(limit=3)) == 3
    assert len(await store.spend_logs(since=start + timedelta(minutes=5))) == 2
    explicit = start - timedelta(days=1)
    await store.add_spend([row(a.id, "1", request_id="old", created_at=explicit)])
    oldest = (await store.spend_logs(key_id=a.id))[-1]
    assert oldest.request_id == "old" and oldest.created_at == explicit
    with pytest.raises(InvalidRequestError, match="limit"):
        await store.spend_logs(limit=10_001)


def test_next_reset_stays_aligned(clock: Any) -> None:
    start = clock.now
    assert next_reset(start, "1d", start - timedelta(hours=1)) == start
    assert next_reset(start, "1d", start) == start + timedelta(days=1)
    assert next_reset(start, "1d", start + timedelta(days=9, hours=23)) == start + timedelta(
        days=10
    )
    assert next_reset(start, "90m", start + timedelta(hours=3)) == start + timedelta(hours=4.5)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"cost_usd": -1}, "cost_usd"),
        ({"cost_usd": float("inf")}, "cost_usd"),
        ({"cost_usd": "one cent"}, "cost_usd"),
        ({"cost_usd": [1]}, "cost_usd"),
        ({"prompt_tokens": -1}, "prompt_tokens"),
        ({"completion_tokens": 1.0}, "completion_tokens"),
        ({"latency_ms": float("nan")}, "latency_ms"),
        ({"outcome": ""}, "outcome"),
    ],
)
def test_bad_spend_rows_name_the_field(fields: dict[str, Any], param: str) -> None:
    values: dict[str, Any] = {"key_id": "k", "outcome": "success", **fields}
    with pytest.raises(InvalidRequestError) as raised:
        SpendRow(**values)
    assert raised.value.param == param and param in str(raised.value)


@pytest.mark.asyncio
async def test_add_spend_wants_a_list_of_rows(store: Store) -> None:
    with pytest.raises(InvalidRequestError, match=r"pass \[row\]"):
        await store.add_spend(row("k", "1"))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="item 1"):
        await store.add_spend([row("k", "1"), {"key_id": "k"}])  # type: ignore[list-item]
    assert await store.spend_logs() == []
