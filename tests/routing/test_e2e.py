"""Routing end to end: real requests to the Together emulator, one tenant per deployment so
deployments fail independently. Every test runs with Router and with AsyncRouter (``mode``).

Nothing here asserts on wall-clock time: tests count requests, attempts and log events.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable
from typing import Any

import pytest
from openai.types.chat import ChatCompletion
from routing_support import (
    KEY,
    KEY_ENV,
    MODEL,
    Client,
    attempt_events,
    call_events,
    config,
    deployment,
    tenant_requests,
)

import llmrouter
from llmrouter._routing import Routing
from llmrouter.config import load_config
from llmrouter.testing import Fault, TogetherEmulator

MakeClient = Callable[[Any], Client]


def with_backup(
    emu: TogetherEmulator, *, primary: dict[str, Any] | None = None, **router: Any
) -> dict[str, Any]:
    """Alias "chat" on tenant a, falling back to alias "backup" on tenant b."""
    return config(
        {
            "chat": {"fallbacks": ["backup"], "deployments": [primary or deployment(emu, "a")]},
            "backup": {"deployments": [deployment(emu, "b")]},
        },
        **router,
    )


def in_flight(client: Client) -> int:
    return sum(row["in_flight"] for rows in client.routing.snapshot().values() for row in rows)


# --- retries ----------------------------------------------------------------------------------


def test_fail_the_first_k_then_succeed(
    emu: TogetherEmulator, make_client: MakeClient, events: pytest.LogCaptureFixture
) -> None:
    client = make_client(config({"chat": {"deployments": [deployment(emu, "a")]}}, num_retries=2))
    emu.add_fault(Fault(status=500), tenant="a", times=2)
    r = client.complete("chat")
    assert r.choices[0].message.content
    assert (r.llmrouter.alias, r.llmrouter.deployment, r.llmrouter.attempts) == ("chat", "a", 3)
    dumped = r.model_dump()
    ChatCompletion.model_validate(dumped)
    assert "llmrouter" not in dumped and "_llmrouter" not in dumped
    assert tenant_requests(emu, "a") == 3
    attempts = attempt_events(events)
    assert [(e["outcome"], e.get("decision")) for e in attempts] == [
        ("error", "retry"),
        ("error", "retry"),
        ("ok", None),
    ]
    assert [e["attempt"] for e in attempts] == [1, 2, 3]
    assert all(e["deployment"] == "a" and e["alias"] == "chat" for e in attempts)
    calls = call_events(events)
    assert len(calls) == 1 and calls[0]["attempts"] == 3 and calls[0]["alias"] == "chat"


@pytest.mark.parametrize(
    ("fault", "expected_delay"),
    [(Fault(status=429, retry_after=0.05), 0.05), (Fault(status=429, retry_after_ms=30), 0.03)],
    ids=["retry-after", "retry-after-ms"],
)
def test_429_retry_after_is_honoured(
    emu: TogetherEmulator,
    make_client: MakeClient,
    events: pytest.LogCaptureFixture,
    fault: Fault,
    expected_delay: float,
) -> None:
    client = make_client(config({"chat": {"deployments": [deployment(emu, "a")]}}))
    emu.add_fault(fault, tenant="a", times=1)
    r = client.complete("chat")
    assert r.llmrouter.attempts == 2
    first = attempt_events(events)[0]
    assert first["error_type"] == "RateLimitError" and first["status"] == 429
    assert first["decision"] == "retry" and first["delay_s"] == expected_delay


@pytest.mark.parametrize(
    "fault",
    [Fault(status=429, retry_after=0.3), Fault(status=429, retry_after_ms=300)],
    ids=["retry-after", "retry-after-ms"],
)
def test_retry_after_gap_is_on_the_wire(
    emu: TogetherEmulator, make_client: MakeClient, fault: Fault
) -> None:
    """The router really waits: the emulator sees the retry at least the advertised 0.3 s after
    the first attempt (a lower bound only; a router that skipped its sleep retries within a few
    milliseconds)."""
    client = make_client(config({"chat": {"deployments": [deployment(emu, "a")]}}))
    emu.add_fault(fault, tenant="a", times=1)
    r = client.complete("chat")
    assert r.llmrouter.attempts == 2
    first, second = [req for req in emu.requests if req.tenant == "a"]
    assert first.status == 429 and second.status == 200
    # 1 ms of slack for the wall clock the emulator stamps with (the router sleeps on the
    # monotonic one)
    assert second.timestamp - first.timestamp >= 0.3 - 0.001


def test_retry_after_beyond_the_cap_falls_back_without_waiting(
    emu: TogetherEmulator, make_client: MakeClient, events: pytest.LogCaptureFixture
) -> None:
    client = make_client(with_backup(emu, retry_after_max=1))
    emu.add_fault(Fault(status=429, retry_after=120), tenant="a")
    r = client.complete("chat")
    assert r.llmrouter.deployment == "b"
    assert tenant_requests(emu, "a") == 1
    assert attempt_events(events)[0]["decision"] == "next"


def test_connection_cut_is_retried(
    emu: TogetherEmulator, make_client: MakeClient, events: pytest.LogCaptureFixture
) -> None:
    client = make_client(config({"chat": {"deployments": [deployment(emu, "a")]}}))
    emu.add_fault(Fault(cut_after=0), tenant="a", times=1)
    r = client.complete("chat")
    assert r.llmrouter.attempts == 2
    assert attempt_events(events)[0]["error_type"] == "APIConnectionError"


def test_refused_connection_falls_back(emu: TogetherEmulator, make_client: MakeClient) -> None:
    dead = deployment(emu, "a", api_base="http://127.0.0.1:9/v1")
    client = make_client(with_backup(emu, primary=dead, num_retries=1))
    r = client.complete("chat")
    assert r.llmrouter.deployment == "b" and r.llmrouter.attempts == 3


def test_slow_responses_hit_the_timeout_and_fall_back(
    emu: TogetherEmulator, make_client: MakeClient, events: pytest.LogCaptureFixture
) -> None:
    slow = deployment(emu, "a", timeout=0.2)
    client = make_client(with_backup(emu, primary=slow, num_retries=1))
    emu.add_fault(Fault(delay=2.0), tenant="a")
    r = client.complete("chat")
    assert r.llmrouter.deployment == "b" and r.llmrouter.attempts == 3
    errors = [e["error_type"] for e in attempt_events(events) if e["outcome"] == "error"]
    assert errors == ["APITimeoutError", "APITimeoutError"]


def test_the_router_timeout_applies_to_routed_calls(
    emu: TogetherEmulator, make_client: MakeClient, events: pytest.LogCaptureFixture
) -> None:
    client = make_client(with_backup(emu, num_retries=0, timeout=1.0))
    emu.add_fault(Fault(delay=5.0), tenant="a")
    r = client.complete("chat")
    assert r.llmrouter.deployment == "b"
    assert attempt_events(events)[0]["error_type"] == "APITimeoutError"


# --- fallbacks and errors that are not retried ---------------------------------------------------


def test_always_500_falls_back_to_the_backup_alias(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    client = make_client(with_backup(emu, num_retries=1))
    emu.add_fault(Fault(status=500), tenant="a")
    for _ in range(2):
        r = client.complete("chat")
        assert (r.llmrouter.alias, r.llmrouter.deployment, r.llmrouter.attempts) == ("chat", "b", 3)
    assert tenant_requests(emu, "a") == 4 and tenant_requests(emu, "b") == 2


def test_everything_down_is_one_typed_error_naming_every_attempt(
    emu: TogetherEmulator, make_client: MakeClient, events: pytest.LogCaptureFixture
) -> None:
    client = make_client(with_backup(emu, num_retries=1))
    emu.add_fault(Fault(status=500), tenant="a")
    emu.add_fault(Fault(status=503), tenant="b")
    with pytest.raises(llmrouter.AllDeploymentsFailedError) as info:
        client.complete("chat")
    err = info.value
    assert [name for name, _ in err.attempts] == ["a", "a", "b", "b"]
    assert [type(e).__name__ for _, e in err.attempts] == [
        "InternalServerError",
        "InternalServerError",
        "ServiceUnavailableError",
        "ServiceUnavailableError",
    ]
    assert isinstance(err.__cause__, llmrouter.ServiceUnavailableError)
    assert "'chat', 'backup'" in str(err) and "(x2)" in str(err)
    assert KEY not in str(err) and KEY not in events.text
    calls = call_events(events)
    assert len(calls) == 1 and calls[0]["error_type"] == "AllDeploymentsFailedError"
    assert calls[0]["attempts"] == 4


def test_400_is_not_retried_anywhere(emu: TogetherEmulator, make_client: MakeClient) -> None:
    client = make_client(with_backup(emu))
    emu.add_fault(Fault(status=400), tenant="a")
    with pytest.raises(llmrouter.BadRequestError):
        client.complete("chat")
    assert len(emu.requests) == 1


def test_a_bad_argument_fails_before_any_request(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    client = make_client(with_backup(emu))
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        client.complete("chat", temperature=9.0)
    assert info.value.param == "temperature"
    assert emu.requests == []


@pytest.mark.parametrize("status", [401, 403, 404])
def test_auth_and_not_found_move_on_without_retrying(
    emu: TogetherEmulator, make_client: MakeClient, status: int
) -> None:
    client = make_client(with_backup(emu))
    emu.add_fault(Fault(status=status), tenant="a")
    r = client.complete("chat")
    assert r.llmrouter.deployment == "b"
    assert tenant_requests(emu, "a") == 1 and tenant_requests(emu, "b") == 1


def test_a_missing_key_variable_moves_on(
    emu: TogetherEmulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNSET_ROUTING_KEY", raising=False)
    keyless = deployment(emu, "a", api_key_env="UNSET_ROUTING_KEY")
    client = make_client(with_backup(emu, primary=keyless))
    r = client.complete("chat")
    assert r.llmrouter.deployment == "b"
    assert tenant_requests(emu, "a") == 0


def test_a_model_that_is_not_an_alias_goes_direct_and_once(
    emu: TogetherEmulator, make_client: MakeClient, where: dict[str, Any]
) -> None:
    client = make_client(with_backup(emu))
    r = client.complete(MODEL, **where)
    assert r.llmrouter.alias is None and r.llmrouter.attempts == 1
    emu.add_fault(Fault(status=500), times=1)
    with pytest.raises(llmrouter.InternalServerError):
        client.complete(MODEL, **where)


# --- streams ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500),
        Fault(stream_error_after=0, status=503),
        Fault(stream_error_after=0),
        Fault(cut_after=0),
        Fault(malformed=True),
    ],
    ids=["status-500", "error-event-503", "error-event", "cut", "malformed"],
)
def test_a_stream_that_fails_before_its_first_chunk_is_retried(
    emu: TogetherEmulator, make_client: MakeClient, events: pytest.LogCaptureFixture, fault: Fault
) -> None:
    client = make_client(with_backup(emu))
    emu.add_fault(fault, tenant="a", times=1)
    stream, chunks, error = client.stream("chat")
    assert error is None
    assert chunks and chunks[-1].usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "deterministic reply" in text
    served = stream.llmrouter
    assert served.attempts == 2 and served.alias == "chat"
    assert len(emu.requests) == 2
    assert in_flight(client) == 0
    calls = call_events(events)
    assert len(calls) == 1 and calls[0]["outcome"] == "ok" and calls[0]["attempts"] == 2


def test_a_stream_that_always_fails_before_its_first_chunk_falls_back(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    client = make_client(with_backup(emu, num_retries=1))
    emu.add_fault(Fault(cut_after=0), tenant="a")
    stream, chunks, error = client.stream("chat")
    assert error is None and chunks
    assert stream.llmrouter.deployment == "b" and stream.llmrouter.attempts == 3


def test_a_mid_stream_error_is_raised_from_the_iterator_and_not_retried(
    emu: TogetherEmulator, make_client: MakeClient, events: pytest.LogCaptureFixture
) -> None:
    client = make_client(with_backup(emu))
    emu.add_fault(Fault(stream_error_after=2, status=500), tenant="a")
    _stream, chunks, error = client.stream("chat")
    assert len(chunks) == 2
    assert isinstance(error, (llmrouter.InternalServerError, llmrouter.StreamError))
    assert len(emu.requests) == 1
    assert in_flight(client) == 0
    a = client.routing.snapshot()["chat"][0]
    assert a["failures"] == 1  # the breaker heard about it
    calls = call_events(events)
    assert len(calls) == 1 and calls[0]["outcome"] == "error" and calls[0]["chunks"] == 2


def test_a_mid_stream_cut_is_a_typed_error(emu: TogetherEmulator, make_client: MakeClient) -> None:
    client = make_client(with_backup(emu))
    emu.add_fault(Fault(cut_after=3), tenant="a")
    _, chunks, error = client.stream("chat")
    assert len(chunks) == 3 and isinstance(error, llmrouter.APIConnectionError)
    assert len(emu.requests) == 1


def test_a_stream_going_idle_after_its_first_chunk_times_out(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    client = make_client(with_backup(emu, primary=deployment(emu, "a", timeout=1.0)))
    emu.add_fault(Fault(chunk_delay=5.0), tenant="a")
    _, chunks, error = client.stream("chat")
    assert len(chunks) == 1 and isinstance(error, llmrouter.APITimeoutError)
    assert len(emu.requests) == 1


def test_an_abandoned_stream_frees_its_deployment(
    emu: TogetherEmulator, make_client: MakeClient, mode: str
) -> None:
    client = make_client(config({"chat": {"deployments": [deployment(emu, "a")]}}))
    if mode == "sync":
        stream = client.router.completion("chat", [{"role": "user", "content": "x"}], stream=True)
    else:
        stream = client._run(
            client.router.completion("chat", [{"role": "user", "content": "x"}], stream=True)
        )
    assert in_flight(client) == 1
    del stream
    gc.collect()
    assert in_flight(client) == 0


# --- cooldowns, strategies, limits ----------------------------------------------------------


def test_cooldown_skips_a_failing_deployment(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    cfg = config(
        {
            "chat": {
                "deployments": [
                    deployment(emu, "a", weight=1000),
                    deployment(emu, "b", weight=0.001),
                ]
            }
        },
        num_retries=0,
        cooldown={"min_requests": 3, "failure_rate": 0.5, "duration": 600},
    )
    client = make_client(cfg)
    emu.add_fault(Fault(status=500), tenant="a")
    for _ in range(12):
        assert client.complete("chat").llmrouter.deployment == "b"
    assert tenant_requests(emu, "a") == 3
    rows = {row["name"]: row for row in client.routing.snapshot()["chat"]}
    assert rows["a"]["cooling"] and rows["a"]["trips"] == 1 and not rows["b"]["cooling"]


def test_the_last_deployment_is_never_ejected(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    cfg = config(
        {"chat": {"deployments": [deployment(emu, "a")]}},
        num_retries=0,
        cooldown={"min_requests": 1},
    )
    client = make_client(cfg)
    emu.add_fault(Fault(status=500), tenant="a")
    for _ in range(5):
        with pytest.raises(llmrouter.AllDeploymentsFailedError):
            client.complete("chat")
    assert tenant_requests(emu, "a") == 5


def test_weighted_distribution_follows_the_weights(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    cfg = load_config(
        config(
            {
                "chat": {
                    "deployments": [deployment(emu, "a", weight=3), deployment(emu, "b", weight=1)]
                }
            }
        )
    )
    client = make_client(Routing(cfg, rng=random.Random(2024)))
    served = [client.complete("chat").llmrouter.deployment for _ in range(200)]
    share = served.count("a") / len(served)
    assert 0.62 < share < 0.88
    assert tenant_requests(emu, "a") == served.count("a")


def test_rpm_is_respected(emu: TogetherEmulator, make_client: MakeClient) -> None:
    cfg = config(
        {
            "chat": {
                "deployments": [
                    deployment(emu, "a", weight=1000, rpm=3),
                    deployment(emu, "b", weight=0.001),
                ]
            }
        }
    )
    client = make_client(cfg)
    served = [client.complete("chat").llmrouter.deployment for _ in range(10)]
    assert served.count("a") == 3 and tenant_requests(emu, "a") == 3
    assert tenant_requests(emu, "b") == 7


def test_least_busy_and_lowest_latency_serve(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    cfg = config(
        {
            "busy": {
                "strategy": "least-busy",
                "deployments": [deployment(emu, "a"), deployment(emu, "b")],
            },
            "fast": {
                "strategy": "lowest-latency",
                "deployments": [deployment(emu, "c"), deployment(emu, "d")],
            },
        }
    )
    client = make_client(cfg)
    emu.add_fault(Fault(delay=0.2), tenant="c")
    assert {client.complete("busy").llmrouter.deployment for _ in range(20)} <= {"a", "b"}
    served = [client.complete("fast").llmrouter.deployment for _ in range(20)]
    # after measuring both, the 0.2 s-slower c is only chosen by exploration (5 %)
    assert served[2:].count("d") >= 14


# --- what a deployment adds to the call -------------------------------------------------------


def test_deployment_options_and_prompt_template(
    emu: TogetherEmulator, make_client: MakeClient
) -> None:
    cfg = config(
        {
            "chat": {
                "deployments": [deployment(emu, "a", options={"max_tokens": 7, "temperature": 0.1})]
            },
            "templated": {"deployments": [deployment(emu, "t", prompt_template="llama-2")]},
        }
    )
    client = make_client(cfg)
    client.complete("chat", temperature=0.5)
    body = emu.requests[-1].body
    assert body["max_tokens"] == 7 and body["temperature"] == 0.5
    r = client.complete("templated")
    sent = emu.requests[-1]
    assert sent.endpoint == "/completions" and "[INST]" in sent.body["prompt"]
    assert r.llmrouter.prompt is not None and r.choices[0].message.content


def test_the_key_is_read_at_call_time(
    emu: TogetherEmulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(config({"chat": {"deployments": [deployment(emu, "a")]}}))
    client.complete("chat")
    monkeypatch.setenv(KEY_ENV, "tgp_v1_RotatedKey_0000000000000000")
    client.complete("chat")
    first, second = emu.requests
    assert first.key_matches(KEY) and second.key_matches("tgp_v1_RotatedKey_0000000000000000")


def test_embeddings_are_routed(emu: TogetherEmulator, make_client: MakeClient) -> None:
    emb = deployment(emu, "e")
    emb["model"] = "together_ai/BAAI/bge-large-en-v1.5"
    client = make_client(config({"embed": {"deployments": [emb]}}))
    emu.add_fault(Fault(status=502), tenant="e", times=1)
    r = client.embed("embed", "hello")
    assert r.data and r.llmrouter.attempts == 2 and r.llmrouter.deployment == "e"
