"""Virtual keys end to end: a real ``llmrouter serve`` process with a key store, the official
``openai`` SDK as the client, keys created over the admin API.

Every test runs three times: on a SQLite file, on a fresh PostgreSQL database, and on SQLite
with Redis holding the limits. PostgreSQL and Redis skip when they are not reachable, unless
``LLMROUTER_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import openai
import pytest

from llmrouter.testing import TogetherEmulator
from llmrouter.testing.services import require_redis
from llmrouter_anthropic.testing import AnthropicEmulator

from .conftest import MASTER_KEY, TOGETHER_KEY
from .keys_support import CACHE_TTL, Keyed, database, start_keyed

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "sqlite+redis"])
def keyed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Keyed]:
    kind, _, redis = str(request.param).partition("+")
    if redis:
        require_redis()
    tmp = tmp_path_factory.mktemp(f"keys-{kind}{'-redis' if redis else ''}")
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        for url in database(kind, tmp):
            gw = start_keyed(
                tmp, together.base_url, claude.base_url, url, kind=kind, redis=bool(redis)
            )
            try:
                yield gw
            finally:
                gw.gateway.stop()


def client(keyed: Keyed, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=keyed.gateway.base_url, api_key=key, max_retries=0)


def chat(keyed: Keyed, key: str, model: str = "chat", **extra: object) -> object:
    return client(keyed, key).chat.completions.create(
        model=model,
        messages=MESSAGES,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def test_generate_use_and_read_back_the_spend(keyed: Keyed) -> None:
    key, key_id = keyed.generate(key_alias="search-app", metadata={"team": "search"})
    assert key.startswith("sk-llmr-") and key_id and key_id not in key
    answers = [chat(keyed, key) for _ in range(3)]
    assert all(a.choices[0].message.content for a in answers)  # type: ignore[attr-defined]
    # the spend writer is asynchronous: poll until the three rows are written
    keyed.wait_for(lambda: len(keyed.spend_logs(key_id)) == 3, "3 spend rows")
    rows = keyed.spend_logs(key_id)
    assert {r["outcome"] for r in rows} == {"success"}
    assert {r["alias"] for r in rows} == {"chat"}
    assert all(r["deployment"] and r["prompt_tokens"] > 0 and r["spend"] > 0 for r in rows)
    assert all(r["latency_ms"] is not None and r["status_code"] == 200 for r in rows)
    expected = sum(Decimal(str(r["spend"])) for r in rows)
    info = keyed.info(key_id)
    assert info["key_alias"] == "search-app" and info["metadata"] == {"team": "search"}
    assert Decimal(str(info["spend"])) == expected > 0
    assert key not in str(info) and "key" not in info
    # the key itself names the key too, and is not echoed back
    by_key = keyed.admin("GET", "/key/info", params={"key": key})
    assert by_key.status_code == 200 and by_key.json()["key"] == key_id
    assert key not in by_key.text


def test_streams_and_embeddings_are_logged_too(keyed: Keyed) -> None:
    key, key_id = keyed.generate()
    stream = client(keyed, key).chat.completions.create(
        model="chat",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    client(keyed, key).embeddings.create(model="embed", input="text")
    keyed.wait_for(lambda: len(keyed.spend_logs(key_id)) == 2, "2 spend rows")
    assert {r["alias"] for r in keyed.spend_logs(key_id)} == {"chat", "embed"}


def test_unknown_revoked_expired_blocked_are_401(keyed: Keyed) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(keyed, "sk-llmr-" + "x" * 43)
    assert caught.value.code == "invalid_api_key"

    key, key_id = keyed.generate()
    assert keyed.admin("POST", "/key/delete", json={"keys": [key_id]}).json() == {
        "deleted_keys": [key_id]
    }
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(keyed, key)
    assert caught.value.code == "key_revoked"
    assert key not in str(caught.value)

    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    key, _ = keyed.generate(expires=past)
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(keyed, key)
    assert caught.value.code == "key_expired"

    key, key_id = keyed.generate()
    assert keyed.admin("POST", "/key/update", json={"key": key_id, "blocked": True}).is_success
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(keyed, key)
    assert caught.value.code == "key_blocked"


def test_models_restrict_a_key(keyed: Keyed) -> None:
    key, _ = keyed.generate(models=["chat", "embed"])
    chat(keyed, key)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(keyed, key, model="claude")
    assert caught.value.code == "model_not_allowed"
    listed = [m.id for m in client(keyed, key).models.list()]
    assert listed == ["chat", "embed"]
    everything = [m.id for m in client(keyed, MASTER_KEY).models.list()]
    assert set(everything) > set(listed)


def test_rpm_is_exact_and_429_says_which_limit(keyed: Keyed) -> None:
    key, key_id = keyed.generate(rpm_limit=5)
    outcomes = []
    for _ in range(8):
        try:
            chat(keyed, key)
            outcomes.append("ok")
        except openai.RateLimitError as exc:
            outcomes.append("limited")
            last = exc
    assert outcomes == ["ok"] * 5 + ["limited"] * 3
    assert last.code == "rate_limit_exceeded"
    assert "rpm limit (5 requests per minute)" in last.message
    retry = int(last.response.headers["retry-after"])
    assert 1 <= retry <= 61
    # another key is not affected
    other, _ = keyed.generate(rpm_limit=5)
    chat(keyed, other)
    # the denied requests are logged as errors, the admitted ones as successes
    keyed.wait_for(lambda: len(keyed.spend_logs(key_id)) == 8, "8 spend rows")
    statuses = sorted(r["status_code"] for r in keyed.spend_logs(key_id))
    assert statuses == [200] * 5 + [429] * 3


def test_rpm_holds_under_concurrency(keyed: Keyed) -> None:
    """The issue's figure: 500 concurrent requests on one key with rpm=100 let exactly 100
    through, with the in-process limiter and with Redis's (the ``+redis`` parameter)."""
    key, _ = keyed.generate(rpm_limit=100)

    async def run() -> list[bool]:
        sdk = openai.AsyncOpenAI(base_url=keyed.gateway.base_url, api_key=key, max_retries=0)

        async def one() -> bool:
            try:
                await sdk.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
            except openai.RateLimitError:
                return False
            return True

        try:
            return list(await asyncio.gather(*(one() for _ in range(500))))
        finally:
            await sdk.close()

    assert sum(asyncio.run(run())) == 100


def test_tpm_counts_max_tokens(keyed: Keyed) -> None:
    key, _ = keyed.generate(tpm_limit=100)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(keyed, key, max_tokens=500)
    assert "tpm limit (100 tokens per minute)" in caught.value.message
    assert "retry-after" not in caught.value.response.headers  # it can never fit
    chat(keyed, key, max_tokens=20)


def test_revoked_key_stops_within_the_cache_ttl(keyed: Keyed) -> None:
    key, key_id = keyed.generate()
    chat(keyed, key)  # cached now
    assert keyed.admin("POST", "/key/delete", json={"key": key_id}).is_success
    time.sleep(CACHE_TTL + 0.3)
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(keyed, key)
    assert caught.value.code == "key_revoked"


def test_budget_stops_a_key_and_says_which(keyed: Keyed) -> None:
    key, _ = keyed.generate(max_budget=0.000001, budget_duration="1d")
    chat(keyed, key)  # costs more than the budget: the next request is refused

    def refused() -> bool:
        try:
            chat(keyed, key)
        except openai.RateLimitError as exc:
            refused.error = exc  # type: ignore[attr-defined]
            return True
        return False

    keyed.wait_for(refused, "the budget to be enforced")
    error: openai.RateLimitError = refused.error  # type: ignore[attr-defined]
    assert error.code == "budget_exceeded"
    assert error.body["type"] == "insufficient_quota"  # type: ignore[index]
    assert "budget of $0.000001 per 1d is spent" in error.message
    wait = int(error.response.headers["retry-after"])
    assert 0 < wait <= math.ceil(timedelta(days=1).total_seconds())

    lifetime, _ = keyed.generate(max_budget=0.000001)
    chat(keyed, lifetime)
    keyed.wait_for(
        lambda: (
            keyed.call(
                lifetime,
                "POST",
                "/v1/chat/completions",
                json={"model": "chat", "messages": MESSAGES},
            ).status_code
            == 429
        ),
        "the lifetime budget to be enforced",
    )
    answer = keyed.call(
        lifetime, "POST", "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES}
    )
    assert "lifetime budget" in answer.json()["error"]["message"]
    assert "retry-after" not in answer.headers


def test_admin_endpoints_refuse_virtual_keys(keyed: Keyed) -> None:
    key, key_id = keyed.generate()
    other, other_id = keyed.generate()
    for method, path, kwargs in [
        ("POST", "/key/generate", {"json": {}}),
        ("GET", "/key/info", {"params": {"key": other_id}}),
        ("GET", "/key/info", {"params": {"key": key_id}}),
        ("GET", "/key/list", {}),
        ("POST", "/key/update", {"json": {"key": other_id, "rpm_limit": 1}}),
        ("POST", "/key/delete", {"json": {"keys": [other_id]}}),
        ("GET", "/spend/logs", {}),
        ("GET", "/metrics", {}),
    ]:
        response = keyed.call(key, method, path, **kwargs)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "admin_only"
    # nothing changed
    assert keyed.info(other_id)["rpm_limit"] is None
    assert keyed.info(other_id)["status"] == "active"
    chat(keyed, other)
    # and without any key, 401
    assert httpx.get(f"{keyed.gateway.root}/key/list").status_code == 401


def test_admin_validation(keyed: Keyed) -> None:
    bad = keyed.admin("POST", "/key/generate", json={"team_id": "x"})
    assert bad.status_code == 400 and "team_id" in bad.json()["error"]["message"]
    bad = keyed.admin("POST", "/key/generate", json={"rpm_limit": -1})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "rpm"
    missing = keyed.admin("GET", "/key/info", params={"key": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "key_not_found"
    listed = keyed.admin("GET", "/key/list").json()
    assert listed["total_count"] == len(listed["keys"]) > 0


def test_key_never_in_output_or_metrics_and_metrics_by_key_id(keyed: Keyed) -> None:
    key, key_id = keyed.generate(models=["chat"])
    chat(keyed, key)
    with pytest.raises(openai.PermissionDeniedError):
        chat(keyed, key, model="claude")
    with pytest.raises(openai.AuthenticationError):
        chat(keyed, key[:-2] + "zz")
    metrics = keyed.admin("GET", "/metrics").text
    assert f'key="{key_id}"' in metrics
    assert key not in metrics and key[8:] not in metrics
    output = keyed.gateway.output()
    for secret in (key, MASTER_KEY, TOGETHER_KEY):
        assert secret not in output
    readiness = httpx.get(f"{keyed.gateway.root}/health/readiness").json()
    assert readiness["database"] == "ok"
    assert readiness.get("redis") == ("ok" if keyed.redis else None)


def test_master_key_is_unlimited_and_logged_without_a_key(keyed: Keyed) -> None:
    chat(keyed, MASTER_KEY)
    keyed.wait_for(
        lambda: any(
            r["key_id"] is None
            for r in keyed.admin("GET", "/spend/logs", params={"limit": 1000}).json()
        ),
        "a spend row of the master key",
    )
