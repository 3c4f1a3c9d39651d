"""_routing.py on its own: a fake clock and seeded or scripted randomness, no sockets, no sleeps."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from routing_support import KEY, KEY_ENV, FakeClock

from llmrouter import errors as E
from llmrouter._routing import (
    Attempt,
    CallPlan,
    Disposition,
    GiveUp,
    Routing,
    Wait,
    backoff_delay,
    classify,
    counts_against_deployment,
    deployment_call,
    retry_after_of,
)
from llmrouter.config import load_config
from llmrouter.pipeline import Call

M = "together_ai/m"


def dep(name: str, **extra: Any) -> dict[str, Any]:
    return {"model": M, "name": name, **extra}


def routing(
    models: dict[str, Any],
    clock: FakeClock | None = None,
    rng: random.Random | None = None,
    **router: Any,
) -> Routing:
    settings: dict[str, Any] = {"backoff_base": 1.0, "backoff_max": 8.0, "num_retries": 2}
    settings.update(router)
    cfg = load_config({"router": settings, "models": models})
    return Routing(cfg, clock=clock or FakeClock(), rng=rng or random.Random(0))


Outcome = BaseException | None


def drive(
    plan: CallPlan,
    clock: FakeClock,
    outcome: Callable[[Attempt], Outcome],
    *,
    cost: float = 0.0,
) -> tuple[BaseException | str, list[Any]]:
    """Run a plan like a client would, sleeping on the fake clock. Returns (the error given up
    with, or the name of the deployment that succeeded) and the trace of steps."""
    trace: list[Any] = []
    for _ in range(1000):
        step = plan.next()
        if isinstance(step, Wait):
            trace.append(("wait", round(step.seconds, 6)))
            clock.advance(step.seconds)
            continue
        if isinstance(step, GiveUp):
            trace.append(("give_up", type(step.error).__name__))
            return step.error, trace
        trace.append(("try", step.target.name))
        clock.advance(cost)
        result = outcome(step)
        if result is None:
            plan.succeeded(step)
            return step.target.name, trace
        plan.failed(step, result)
    raise AssertionError("the plan never ended")


def server_error() -> E.InternalServerError:
    return E.InternalServerError("boom", status_code=500, provider="p")


class ScriptedRandom(random.Random):
    """``random()`` returns the scripted values in turn (then repeats the last)."""

    def __init__(self, *values: float) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        if len(self.values) > 1:
            return self.values.pop(0)
        return self.values[0]


# --- classification -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (E.APIConnectionError("x"), Disposition.RETRY),
        (E.APITimeoutError("x"), Disposition.RETRY),
        (E.RequestTimeoutStatusError("x", status_code=408), Disposition.RETRY),
        (E.ConflictError("x", status_code=409), Disposition.RETRY),
        (E.RateLimitError("x", status_code=429), Disposition.RETRY),
        (E.InternalServerError("x", status_code=500), Disposition.RETRY),
        (E.ServiceUnavailableError("x", status_code=503), Disposition.RETRY),
        (E.GatewayTimeoutError("x", status_code=504), Disposition.RETRY),
        (E.AuthenticationError("x", status_code=401), Disposition.NEXT),
        (E.PaymentRequiredError("x", status_code=402), Disposition.NEXT),
        (E.PermissionDeniedError("x", status_code=403), Disposition.NEXT),
        (E.NotFoundError("x", status_code=404), Disposition.NEXT),
        (E.APIStatusError("x", status_code=418), Disposition.NEXT),
        (E.StreamError("x"), Disposition.NEXT),
        (E.APIError("unreadable body"), Disposition.NEXT),
        (E.MissingAPIKeyError("x"), Disposition.NEXT),
        (E.UnknownProviderError("x"), Disposition.NEXT),
        (E.ContextWindowExceededError("x", status_code=400), Disposition.NEXT),
        (E.BadRequestError("x", status_code=400), Disposition.STOP),
        (E.UnprocessableEntityError("x", status_code=422), Disposition.STOP),
        (E.InvalidRequestError("x"), Disposition.STOP),
        (E.PromptTemplateError("x"), Disposition.STOP),
        (E.ConfigError("x"), Disposition.STOP),
        (ValueError("a bug"), Disposition.STOP),
    ],
)
def test_decision_table(error: BaseException, expected: Disposition) -> None:
    assert classify(error) is expected


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (E.InternalServerError("x"), True),
        (E.RateLimitError("x"), True),
        (E.APITimeoutError("x"), True),
        (E.AuthenticationError("x"), True),
        (E.MissingAPIKeyError("x"), True),
        (E.BadRequestError("x"), False),
        (E.ContextWindowExceededError("x"), False),
        (E.UnprocessableEntityError("x"), False),
        (E.ConflictError("x"), False),
        (E.InvalidRequestError("x"), False),
    ],
)
def test_what_counts_against_a_deployment(error: BaseException, counts: bool) -> None:
    assert counts_against_deployment(error) is counts


def test_backoff_is_full_jitter_growing_to_a_cap() -> None:
    top = ScriptedRandom(0.999999)
    assert backoff_delay(0, base=0.5, cap=8, rng=top) == pytest.approx(0.5, rel=1e-5)
    assert backoff_delay(3, base=0.5, cap=8, rng=top) == pytest.approx(4.0, rel=1e-5)
    assert backoff_delay(10, base=0.5, cap=8, rng=top) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(10_000, base=0.5, cap=8, rng=top) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(5, base=0.5, cap=8, rng=ScriptedRandom(0.0)) == 0.0
    rng = random.Random(1)
    samples = [backoff_delay(2, base=1, cap=100, rng=rng) for _ in range(2000)]
    assert all(0 <= s <= 4 for s in samples)
    # spread over the whole interval, not bunched at the top (that would be "equal jitter")
    assert sum(s < 1 for s in samples) > 300 and sum(s > 3 for s in samples) > 300


def test_retry_after_sources() -> None:
    assert retry_after_of(E.RateLimitError("x", retry_after=2.5)) == 2.5
    assert retry_after_of(E.ServiceUnavailableError("x", headers={"Retry-After-Ms": "1500"})) == 1.5
    assert retry_after_of(E.ServiceUnavailableError("x", headers={"retry-after": "3"})) == 3.0
    assert retry_after_of(E.InternalServerError("x")) is None
    assert retry_after_of(E.APIConnectionError("x")) is None


# --- retries, budget, fallbacks ----------------------------------------------------------------


def test_fail_first_k_then_success_on_the_same_deployment() -> None:
    clock = FakeClock()
    r = routing({"chat": {"deployments": [dep("a")]}}, clock, ScriptedRandom(0.5))
    failures = [server_error(), server_error()]
    plan = r.plan("chat")
    result, trace = drive(plan, clock, lambda a: failures.pop(0) if failures else None)
    assert result == "a"
    # backoff 0.5 * min(8, 1 * 2**n): 0.5 then 1.0
    assert trace == [("try", "a"), ("wait", 0.5), ("try", "a"), ("wait", 1.0), ("try", "a")]
    assert plan.number == 3


def test_retries_are_bounded_by_num_retries_then_next_deployment() -> None:
    clock = FakeClock()
    r = routing(
        {"chat": {"strategy": "least-busy", "deployments": [dep("a"), dep("b")]}},
        clock,
        num_retries=1,
    )
    plan = r.plan("chat")
    result, trace = drive(plan, clock, lambda a: server_error())
    assert isinstance(result, E.AllDeploymentsFailedError)
    tries = [name for kind, name in trace if kind == "try"]
    assert sorted(Counter(tries).values()) == [2, 2]
    assert tries[0] == tries[1] and tries[2] == tries[3]


def test_retry_after_is_honoured_exactly() -> None:
    clock = FakeClock()
    r = routing({"chat": {"deployments": [dep("a")]}}, clock)
    errors = [E.RateLimitError("slow down", retry_after=2.5, status_code=429)]
    result, trace = drive(r.plan("chat"), clock, lambda a: errors.pop() if errors else None)
    assert result == "a"
    assert trace == [("try", "a"), ("wait", 2.5), ("try", "a")]


def test_retry_after_beyond_the_cap_moves_on_instead_of_waiting() -> None:
    clock = FakeClock()
    r = routing(
        {
            "chat": {"fallbacks": ["backup"], "deployments": [dep("a")]},
            "backup": {"deployments": [dep("b")]},
        },
        clock,
        retry_after_max=10,
    )
    result, trace = drive(
        r.plan("chat"),
        clock,
        lambda a: E.RateLimitError("x", retry_after=60) if a.target.name == "a" else None,
    )
    assert result == "b"
    assert trace == [("try", "a"), ("try", "b")]


def test_a_backoff_that_would_overrun_the_budget_is_not_taken() -> None:
    clock = FakeClock()
    r = routing(
        {
            "chat": {"fallbacks": ["backup"], "deployments": [dep("a")]},
            "backup": {"deployments": [dep("b")]},
        },
        clock,
        ScriptedRandom(0.99),
        retry_budget=5,
        backoff_base=4,
    )
    result, trace = drive(
        r.plan("chat"),
        clock,
        lambda a: server_error() if a.target.name == "a" else None,
        cost=2.0,
    )
    # a fails at t=2, backoff ~3.96 would end at ~5.96 > 5: no wait, straight to the fallback
    assert result == "b"
    assert trace == [("try", "a"), ("try", "b")]


def test_the_budget_stops_new_attempts() -> None:
    clock = FakeClock()
    r = routing(
        {"chat": {"deployments": [dep("a"), dep("b"), dep("c")]}},
        clock,
        retry_budget=5,
        num_retries=0,
    )
    result, trace = drive(r.plan("chat"), clock, lambda a: server_error(), cost=3.0)
    assert isinstance(result, E.AllDeploymentsFailedError)
    assert [k for k, _ in trace].count("try") == 2  # the third would start after 6 s > 5 s
    assert "retry budget of 5s is spent" in str(result)


def test_fallbacks_in_order_and_the_final_error_lists_every_attempt() -> None:
    clock = FakeClock()
    r = routing(
        {
            "chat": {"fallbacks": ["b1", "b2"], "deployments": [dep("a")]},
            "b1": {"deployments": [dep("x")]},
            "b2": {"deployments": [dep("y")]},
        },
        clock,
        num_retries=2,
    )
    plan = r.plan("chat")
    errors = {
        "a": lambda: server_error(),
        "x": lambda: E.AuthenticationError("bad key", status_code=401),
        "y": lambda: E.APIConnectionError("refused"),
    }
    result, trace = drive(plan, clock, lambda a: errors[a.target.name]())
    assert isinstance(result, E.AllDeploymentsFailedError)
    assert [n for k, n in trace if k == "try"] == ["a", "a", "a", "x", "y", "y", "y"]
    assert [name for name, _ in result.attempts] == ["a", "a", "a", "x", "y", "y", "y"]
    assert isinstance(result.__cause__, E.APIConnectionError)
    text = str(result)
    assert "'chat', 'b1', 'b2'" in text and "7 attempt(s)" in text
    assert "a: InternalServerError: boom (x3)" in text
    assert "x: AuthenticationError: bad key;" in text
    assert "y: APIConnectionError: refused (x3)" in text


def test_a_bad_request_stops_everything() -> None:
    clock = FakeClock()
    r = routing(
        {
            "chat": {"fallbacks": ["b"], "deployments": [dep("a"), dep("a2")]},
            "b": {"deployments": [dep("x")]},
        },
        clock,
    )
    bad = E.BadRequestError("no", status_code=400)
    plan = r.plan("chat")
    result, trace = drive(plan, clock, lambda a: bad)
    assert result is bad
    assert [k for k, _ in trace] == ["try", "give_up"]


def test_no_retry_on_auth_errors_but_the_next_deployment_is_tried() -> None:
    clock = FakeClock()
    r = routing({"chat": {"deployments": [dep("a"), dep("b")]}}, clock, ScriptedRandom(0.0))
    result, trace = drive(
        r.plan("chat"),
        clock,
        lambda a: E.NotFoundError("no model", status_code=404) if a.target.name == "a" else None,
    )
    assert result == "b"
    assert trace == [("try", "a"), ("try", "b")]


# --- cooldown / circuit breaker ------------------------------------------------------------


def breaker(clock: FakeClock, **cooldown: Any) -> Routing:
    settings = {"min_requests": 3, "failure_rate": 0.5, "window": 60, "duration": 30}
    settings.update(cooldown)
    # random() == 0 makes "weighted" pick the first usable deployment: a, unless it is cooling
    return routing(
        {"chat": {"deployments": [dep("a"), dep("b")]}},
        clock,
        ScriptedRandom(0.0),
        num_retries=0,
        cooldown=settings,
    )


def fail_on(rt: Routing, name: str, error: BaseException | None = None) -> None:
    """One call in which deployment ``name`` fails (if chosen) and any other succeeds."""
    plan = rt.plan("chat")
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    drive(plan, clock, lambda a: (error or server_error()) if a.target.name == name else None)


def cooling(rt: Routing, name: str) -> bool:
    return next(row["cooling"] for row in rt.snapshot()["chat"] if row["name"] == name)


def test_no_cooldown_below_the_minimum_volume() -> None:
    clock = FakeClock()
    rt = breaker(clock, min_requests=3)
    target = rt.routes["chat"].targets[0]
    with rt._lock:
        rt._record(target, False, clock())
        rt._record(target, False, clock())
    assert not cooling(rt, "a")
    with rt._lock:
        rt._record(target, False, clock())
    assert cooling(rt, "a")


def test_failure_rate_below_the_threshold_does_not_trip() -> None:
    clock = FakeClock()
    rt = breaker(clock, min_requests=4, failure_rate=0.75)
    target = rt.routes["chat"].targets[0]
    with rt._lock:
        for ok in (False, True, False, True, False, True):
            rt._record(target, ok, clock())
    assert not cooling(rt, "a")


def test_old_failures_leave_the_window() -> None:
    clock = FakeClock()
    rt = breaker(clock, min_requests=3, window=10)
    target = rt.routes["chat"].targets[0]
    with rt._lock:
        rt._record(target, False, clock())
        rt._record(target, False, clock())
    clock.advance(11)
    with rt._lock:
        rt._record(target, False, clock())
    assert not cooling(rt, "a")


def test_a_cooling_deployment_is_skipped_then_half_open() -> None:
    clock = FakeClock()
    rt = breaker(clock)
    tries = []
    for _ in range(10):
        result, trace = drive(
            rt.plan("chat"), clock, lambda a: server_error() if a.target.name == "a" else None
        )
        assert result == "b"
        tries.append([n for k, n in trace if k == "try"])
    # a is tried until the minimum volume (3) is reached, then skipped
    assert tries == [["a", "b"]] * 3 + [["b"]] * 7
    assert cooling(rt, "a") and not cooling(rt, "b")
    assert rt.snapshot()["chat"][0]["trips"] == 1
    clock.advance(31)
    # half-open: a single failure trips it again at once (no minimum volume this time)
    fail_on(rt, "a")
    assert cooling(rt, "a") and rt.snapshot()["chat"][0]["trips"] == 2
    clock.advance(31)
    # half-open again; a success closes the breaker and a is used again
    for _ in range(3):
        result, trace = drive(rt.plan("chat"), clock, lambda a: None)
        assert result == "a" and not cooling(rt, "a")


def test_the_last_healthy_deployment_is_never_ejected() -> None:
    clock = FakeClock()
    rt = breaker(clock)
    for _ in range(30):
        drive(rt.plan("chat"), clock, lambda a: server_error())
    rows = rt.snapshot()["chat"]
    assert sum(row["cooling"] for row in rows) == 1
    # and a single-deployment alias never cools at all
    solo = routing(
        {"chat": {"deployments": [dep("a")]}}, clock, num_retries=0, cooldown={"min_requests": 1}
    )
    for _ in range(10):
        _result, trace = drive(solo.plan("chat"), clock, lambda a: server_error())
        assert trace[0] == ("try", "a")
    assert not solo.snapshot()["chat"][0]["cooling"]


def test_request_errors_do_not_cool_a_deployment_down() -> None:
    clock = FakeClock()
    rt = breaker(clock, min_requests=1)
    for _ in range(10):
        fail_on(rt, "a", E.BadRequestError("bad", status_code=400))
    assert not cooling(rt, "a")


def test_a_deployment_that_trips_is_not_retried() -> None:
    clock = FakeClock()
    rt = routing(
        {"chat": {"deployments": [dep("a"), dep("b")]}},
        clock,
        ScriptedRandom(0.0),
        num_retries=5,
        cooldown={"min_requests": 2, "failure_rate": 1.0},
    )
    result, trace = drive(
        rt.plan("chat"), clock, lambda a: server_error() if a.target.name == "a" else None
    )
    assert result == "b"
    assert [n for k, n in trace if k == "try"] == ["a", "a", "b"]


# --- strategies and limits -----------------------------------------------------------------


def test_weighted_picks_follow_the_weights() -> None:
    clock = FakeClock()
    rt = routing(
        {"chat": {"deployments": [dep("a", weight=3), dep("b", weight=1), dep("c", weight=6)]}},
        clock,
        random.Random(42),
    )
    counts = Counter(drive(rt.plan("chat"), clock, lambda a: None)[0] for _ in range(10_000))
    assert 2700 < counts["a"] < 3300
    assert 800 < counts["b"] < 1200
    assert 5700 < counts["c"] < 6300


def test_least_busy_picks_the_fewest_in_flight() -> None:
    clock = FakeClock()
    rt = routing(
        {"chat": {"strategy": "least-busy", "deployments": [dep("a"), dep("b"), dep("c")]}},
        clock,
    )
    held = []
    for _ in range(3):
        step = rt.plan("chat").next()
        assert isinstance(step, Attempt)
        held.append(step)
    assert sorted(s.target.name for s in held) == ["a", "b", "c"]
    # release b: the next pick must be b
    plan_b = next(s for s in held if s.target.name == "b")
    CallPlan(rt, "chat").succeeded(plan_b)
    step = rt.plan("chat").next()
    assert isinstance(step, Attempt) and step.target.name == "b"


def test_lowest_latency_measures_then_prefers_the_fastest() -> None:
    clock = FakeClock()
    rt = routing(
        {"chat": {"strategy": "lowest-latency", "deployments": [dep("a"), dep("b")]}},
        clock,
        ScriptedRandom(0.9),  # never explore
    )
    cost = {"a": 0.5, "b": 0.1}
    order = []
    for _ in range(10):
        plan = rt.plan("chat")
        step = plan.next()
        assert isinstance(step, Attempt)
        order.append(step.target.name)
        clock.advance(cost[step.target.name])
        plan.succeeded(step)
    # both measured once (unmeasured first), then always the faster b
    assert sorted(order[:2]) == ["a", "b"]
    assert order[2:] == ["b"] * 8


def test_lowest_latency_ewma() -> None:
    clock = FakeClock()
    rt = routing({"chat": {"strategy": "lowest-latency", "deployments": [dep("a")]}}, clock)
    for cost in (1.0, 2.0):
        plan = rt.plan("chat")
        step = plan.next()
        assert isinstance(step, Attempt)
        clock.advance(cost)
        plan.succeeded(step)
    assert rt.snapshot()["chat"][0]["latency"] == pytest.approx(1.0 + 0.3 * (2.0 - 1.0))


def test_rpm_limit_sends_the_rest_elsewhere() -> None:
    clock = FakeClock()
    rt = routing(
        {"chat": {"deployments": [dep("a", rpm=3, weight=1000), dep("b", weight=0.001)]}},
        clock,
        random.Random(3),
    )
    served = Counter(drive(rt.plan("chat"), clock, lambda a: None)[0] for _ in range(10))
    assert served == {"a": 3, "b": 7}
    clock.advance(61)
    assert drive(rt.plan("chat"), clock, lambda a: None)[0] == "a"


def test_rpm_full_everywhere_waits_for_a_slot_or_gives_up() -> None:
    clock = FakeClock()
    rt = routing({"chat": {"deployments": [dep("a", rpm=2)]}}, clock, retry_after_max=30)
    for _ in range(2):
        assert drive(rt.plan("chat"), clock, lambda a: None)[0] == "a"
    clock.advance(40)
    result, trace = drive(rt.plan("chat"), clock, lambda a: None)
    assert result == "a"
    assert trace[0][0] == "wait" and trace[0][1] == pytest.approx(20.001)
    # now the slot is 60 s away, beyond the 30 s cap: give up at once, typed
    rt2 = routing({"chat": {"deployments": [dep("a", rpm=1)]}}, clock, retry_after_max=30)
    drive(rt2.plan("chat"), clock, lambda a: None)
    result, trace = drive(rt2.plan("chat"), clock, lambda a: None)
    assert isinstance(result, E.AllDeploymentsFailedError)
    assert trace == [("give_up", "AllDeploymentsFailedError")]
    assert "rpm limit" in str(result)
    assert isinstance(result.attempts[0][1], E.RateLimitError)
    # and it says when a slot frees up (the gateway's retry-after)
    assert result.attempts[0][1].retry_after == pytest.approx(60.0)


def test_a_retry_never_breaks_the_rpm_limit() -> None:
    clock = FakeClock()
    rt = routing(
        {
            "chat": {"fallbacks": ["b"], "deployments": [dep("a", rpm=2)]},
            "b": {"deployments": [dep("x")]},
        },
        clock,
        num_retries=5,
    )
    result, trace = drive(
        rt.plan("chat"), clock, lambda a: server_error() if a.target.name == "a" else None
    )
    assert result == "x"
    assert [n for k, n in trace if k == "try"] == ["a", "a", "x"]


def test_a_held_stream_stays_in_flight_until_released() -> None:
    clock = FakeClock()
    rt = routing({"chat": {"deployments": [dep("a")]}}, clock, cooldown={"min_requests": 1})
    plan = rt.plan("chat")
    step = plan.next()
    assert isinstance(step, Attempt)
    release = plan.succeeded(step, hold=True)
    assert rt.snapshot()["chat"][0]["in_flight"] == 1
    release(E.StreamError("cut mid-stream"))
    release(None)  # idempotent
    row = rt.snapshot()["chat"][0]
    assert row["in_flight"] == 0 and row["failures"] == 1


def test_a_release_from_the_garbage_collector_never_takes_the_lock() -> None:
    rt = routing({"chat": {"deployments": [dep("a")]}})
    plan = rt.plan("chat")
    step = plan.next()
    assert isinstance(step, Attempt)
    lease = plan.succeeded(step, hold=True)
    with rt._lock:  # GC may fire while this thread holds the lock: must not deadlock
        lease.later()
        assert step.target.health.in_flight == 1
    assert rt.snapshot()["chat"][0]["in_flight"] == 0  # applied by the next lock holder
    lease.later()
    lease(None)
    assert rt.snapshot()["chat"][0]["in_flight"] == 0


def test_abandon_frees_the_deployment() -> None:
    rt = routing({"chat": {"deployments": [dep("a")]}})
    plan = rt.plan("chat")
    step = plan.next()
    assert isinstance(step, Attempt)
    plan.abandon(step)
    assert rt.snapshot()["chat"][0]["in_flight"] == 0


# --- the per-attempt call ---------------------------------------------------------------------


def base_call(**kwargs: Any) -> Call:
    return Call(operation="chat", provider="together_ai", model="m", messages=[], **kwargs)


def test_deployment_call_merges_defaults_with_the_caller_winning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    rt = routing(
        {
            "chat": {
                "deployments": [
                    {
                        "model": "together_ai/org/model-x",
                        "name": "x",
                        "api_base": "https://example.test/v1/",
                        "api_key_env": KEY_ENV,
                        "timeout": 7,
                        "prompt_template": "llama-2",
                        "options": {"temperature": 0.1, "max_tokens": 5},
                    }
                ]
            }
        }
    )
    plan = rt.plan("chat")
    step = plan.next()
    assert isinstance(step, Attempt)
    call = deployment_call(base_call(params={"temperature": 0.9}), plan, step)
    assert (call.provider, call.model) == ("together_ai", "org/model-x")
    assert call.params == {"temperature": 0.9, "max_tokens": 5}
    assert call.api_base == "https://example.test/v1"
    assert call.timeout == 7 and call.prompt_template == "llama-2"
    assert call.api_key is not None and call.api_key.get_secret_value() == KEY
    assert call.metadata == {"alias": "chat", "deployment": "x", "attempts": 1}
    # the caller's explicit arguments win
    mine = deployment_call(
        base_call(api_base="https://mine.test", timeout=1.0, prompt_template="chatml"), plan, step
    )
    assert mine.api_base == "https://mine.test" and mine.timeout == 1.0
    assert mine.prompt_template == "chatml"


def test_the_key_is_read_at_call_time_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = routing({"chat": {"deployments": [dep("a", api_key_env="MY_ROUTED_KEY")]}})
    plan = rt.plan("chat")
    step = plan.next()
    assert isinstance(step, Attempt)
    monkeypatch.delenv("MY_ROUTED_KEY", raising=False)
    with pytest.raises(E.MissingAPIKeyError) as info:
        deployment_call(base_call(), plan, step)
    assert "$MY_ROUTED_KEY" in str(info.value) and info.value.env_vars == ["MY_ROUTED_KEY"]
    monkeypatch.setenv("MY_ROUTED_KEY", "sk-first-key-123456789")
    first = deployment_call(base_call(), plan, step)
    monkeypatch.setenv("MY_ROUTED_KEY", "sk-second-key-123456789")
    second = deployment_call(base_call(), plan, step)
    assert first.api_key is not None and second.api_key is not None
    assert first.api_key.get_secret_value() == "sk-first-key-123456789"
    assert second.api_key.get_secret_value() == "sk-second-key-123456789"
    assert "sk-second" not in repr(second)


def test_default_deployment_names_are_unique_within_an_alias() -> None:
    cfg = load_config(
        {"models": {"chat": {"deployments": [{"model": M}, {"model": M}, {"model": "p/other"}]}}}
    )
    assert cfg.deployment_names("chat") == [f"{M}#0", f"{M}#1", "p/other"]


def test_the_breaker_window_is_bounded_whatever_the_rate() -> None:
    """100,000 outcomes in one minute keep at most 61 buckets, and the counts stay exact: the
    window was one entry per outcome, 8 MB a deployment at a gateway's 2,000 requests/s."""
    clock = FakeClock()
    rt = breaker(clock, min_requests=10**9, window=60)
    target = rt.routes["chat"].targets[0]
    with rt._lock:
        for i in range(100_000):
            rt._record(target, i % 10 != 0, clock())
            clock.advance(0.0006)
    health = target.health
    assert len(health.buckets) <= 61
    assert health.total == 100_000 and health.failures == 10_000
    clock.advance(61.1)  # every bucket is now older than the window
    with rt._lock:
        rt._record(target, True, clock())
    assert (health.total, health.failures, len(health.buckets)) == (1, 0, 1)
