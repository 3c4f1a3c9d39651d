"""The hooks that let several processes share deployment health (``Routing.on_trip`` and
``Routing.cool_down``), on the routing core alone: a fake clock, no sockets, no sleeps."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from routing_support import FakeClock

from llmrouter import errors as E
from llmrouter._routing import Routing
from llmrouter.config import load_config

M = "together_ai/m"


def make(clock: FakeClock, *names: str, **cooldown: Any) -> Routing:
    settings: dict[str, Any] = {"min_requests": 2, "failure_rate": 0.5, "window": 60}
    settings.update({"duration": 30, **cooldown})
    cfg = load_config(
        {
            "router": {"num_retries": 0, "cooldown": settings},
            "models": {"chat": {"deployments": [{"model": M, "name": n} for n in names]}},
        }
    )
    return Routing(cfg, clock=clock, rng=random.Random(0))


def row(rt: Routing, name: str) -> dict[str, Any]:
    return next(r for r in rt.snapshot()["chat"] if r["name"] == name)


def fail(rt: Routing, name: str, times: int) -> None:
    target = next(t for t in rt.routes["chat"].targets if t.name == name)
    for _ in range(times):
        with rt._lock:
            rt._record(target, False, rt.clock())


def picks(rt: Routing, n: int) -> set[str]:
    """Deployments chosen by ``n`` fresh plans (each attempt then succeeds)."""
    chosen = set()
    for _ in range(n):
        plan = rt.plan("chat")
        step = plan.next()
        chosen.add(step.target.name)  # type: ignore[union-attr]
        plan.succeeded(step)  # type: ignore[arg-type]
    return chosen


def test_on_trip_reports_each_ejection_with_its_duration() -> None:
    clock = FakeClock()
    rt = make(clock, "a", "b", duration=30)
    heard: list[tuple[str, str, float]] = []
    rt.on_trip = lambda alias, name, seconds: heard.append((alias, name, seconds))
    fail(rt, "a", 1)
    assert heard == []  # below the minimum volume: no trip, nothing to tell
    fail(rt, "a", 1)
    assert heard == [("chat", "a", 30.0)]
    clock.advance(31)
    assert not row(rt, "a")["cooling"]  # over: half-open
    fail(rt, "a", 1)  # the trial fails: ejected again, told again
    assert heard == [("chat", "a", 30.0), ("chat", "a", 30.0)]
    assert row(rt, "a")["trips"] == 2


def test_on_trip_is_not_called_when_the_last_healthy_deployment_is_kept() -> None:
    clock = FakeClock()
    rt = make(clock, "a", "b")
    heard: list[str] = []
    rt.on_trip = lambda alias, name, seconds: heard.append(name)
    fail(rt, "a", 2)
    fail(rt, "b", 5)  # b is the last healthy one: never ejected
    assert heard == ["a"]
    assert not row(rt, "b")["cooling"]


def test_a_failing_hook_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    rt = make(clock, "a", "b")

    def broken(alias: str, name: str, seconds: float) -> None:
        raise RuntimeError("listener bug")

    rt.on_trip = broken
    fail(rt, "a", 2)
    assert row(rt, "a")["cooling"] and row(rt, "a")["trips"] == 1
    assert "on_trip hook failed" in caplog.text


def test_the_hook_may_hand_over_to_another_thread_under_the_lock() -> None:
    """Called with the lock held: a hook that only queues work (what the contract asks) lets
    the other thread take the lock afterwards."""
    clock = FakeClock()
    rt = make(clock, "a", "b")
    seen: list[bool] = []
    done = threading.Event()

    def reader() -> None:
        seen.append(row(rt, "a")["cooling"])
        done.set()

    rt.on_trip = lambda alias, name, seconds: threading.Thread(target=reader).start()
    fail(rt, "a", 2)
    assert done.wait(5)
    assert seen == [True]


def test_cool_down_ejects_like_a_trip_for_the_given_time() -> None:
    clock = FakeClock()
    rt = make(clock, "a", "b", duration=30)
    heard: list[str] = []
    rt.on_trip = lambda alias, name, seconds: heard.append(name)
    assert picks(rt, 40) == {"a", "b"}
    assert rt.cool_down("chat", "a", 12.5) is True
    assert heard == []  # a cooldown learnt from elsewhere is not passed on again
    a = row(rt, "a")
    assert a["cooling"] and a["trips"] == 1 and a["cooldown_until"] == clock.now + 12.5
    assert picks(rt, 40) == {"b"}
    clock.advance(12.4)
    assert picks(rt, 20) == {"b"}
    clock.advance(0.2)
    # over: half-open, so a single failure ejects it again for the configured duration
    assert not row(rt, "a")["cooling"]
    fail(rt, "a", 1)
    assert row(rt, "a")["cooldown_until"] == clock.now + 30 and heard == ["a"]


def test_cool_down_keeps_the_last_healthy_deployment() -> None:
    clock = FakeClock()
    rt = make(clock, "a", "b")
    assert rt.cool_down("chat", "a", 10) is True
    assert rt.cool_down("chat", "b", 10) is False
    assert not row(rt, "b")["cooling"] and row(rt, "b")["trips"] == 0
    solo = make(clock, "only")
    assert solo.cool_down("chat", "only", 10) is False
    assert picks(solo, 3) == {"only"}


def test_cool_down_of_a_cooling_deployment_only_lengthens_it() -> None:
    clock = FakeClock()
    rt = make(clock, "a", "b", duration=30)
    fail(rt, "a", 2)
    until = row(rt, "a")["cooldown_until"]
    assert rt.cool_down("chat", "a", 5) is True  # shorter: kept as it was
    assert row(rt, "a")["cooldown_until"] == until and row(rt, "a")["trips"] == 1
    assert rt.cool_down("chat", "a", 45) is True  # longer: lengthened, not a second trip
    assert row(rt, "a")["cooldown_until"] == clock.now + 45 and row(rt, "a")["trips"] == 1


def test_cool_down_clears_the_failure_window() -> None:
    """Like a local trip: failures seen before the cooldown do not count after it."""
    clock = FakeClock()
    rt = make(clock, "a", "b", min_requests=3)
    fail(rt, "a", 2)
    assert rt.cool_down("chat", "a", 5)
    assert row(rt, "a")["window"] == 0 and row(rt, "a")["failures"] == 0


@pytest.mark.parametrize(
    ("alias", "name", "seconds", "param", "says"),
    [
        ("nope", "a", 1.0, "alias", "unknown alias 'nope'; the aliases are chat"),
        ("chat", "zz", 1.0, "deployment", "deployments are a, b"),
        ("chat", "a", 0, "seconds", "positive finite number, got 0"),
        ("chat", "a", -3.0, "seconds", "got -3.0"),
        ("chat", "a", float("inf"), "seconds", "got inf"),
        ("chat", "a", float("nan"), "seconds", "got nan"),
        ("chat", "a", True, "seconds", "got True"),
        ("chat", "a", "5", "seconds", "got '5'"),
    ],
)
def test_cool_down_rejects_bad_arguments(
    alias: str, name: str, seconds: Any, param: str, says: str
) -> None:
    rt = make(FakeClock(), "a", "b")
    with pytest.raises(E.InvalidRequestError, match="cool_down") as caught:
        rt.cool_down(alias, name, seconds)
    assert caught.value.param == param and says in str(caught.value)
    assert not any(r["cooling"] for r in rt.snapshot()["chat"])


def make_least_busy(*names: str) -> Routing:
    cfg = load_config(
        {
            "router": {"num_retries": 0},
            "models": {
                "chat": {
                    "strategy": "least-busy",
                    "deployments": [{"model": M, "name": n} for n in names],
                }
            },
        }
    )
    return Routing(cfg, clock=FakeClock(), rng=random.Random(0))


def test_in_flight_reports_this_process_calls_per_deployment() -> None:
    rt = make_least_busy("a", "b")
    plan = rt.plan("chat")
    step = plan.next()
    busy = step.target.name  # type: ignore[union-attr]
    assert rt.in_flight("chat") == {"a": int(busy == "a"), "b": int(busy == "b")}
    plan.succeeded(step)  # type: ignore[arg-type]
    assert rt.in_flight("chat") == {"a": 0, "b": 0}


def test_least_busy_adds_the_calls_other_processes_have_in_flight() -> None:
    rt = make_least_busy("a", "b", "c")
    rt.set_in_flight_elsewhere("chat", {"a": 5, "b": 3})
    # c has none anywhere: chosen every time while these calls last (20 random ties would not).
    plans = [(p, p.next()) for p in (rt.plan("chat") for _ in range(3))]
    assert [s.target.name for _, s in plans] == ["c", "c", "c"]  # type: ignore[union-attr]
    # now c has 3 here: b (3 elsewhere) ties with c, a (5) never chosen
    assert picks(rt, 40) <= {"b", "c"}
    assert row(rt, "a")["in_flight_elsewhere"] == 5
    rt.set_in_flight_elsewhere("chat", {"a": 0})  # b keeps its last count
    assert row(rt, "b")["in_flight_elsewhere"] == 3
    assert rt.plan("chat").next().target.name == "a"  # type: ignore[union-attr]
    for plan, step in plans:
        plan.succeeded(step)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("alias", "counts", "says"),
    [
        ("nope", {"a": 1}, "unknown alias 'nope'"),
        ("chat", {"x": 1}, "no deployment named 'x'"),
        ("chat", {"a": -1}, "must be an integer >= 0"),
        ("chat", {"a": 1.5}, "must be an integer >= 0"),
        ("chat", {"a": True}, "must be an integer >= 0"),
    ],
)
def test_set_in_flight_elsewhere_refuses_bad_input(
    alias: str, counts: dict[str, Any], says: str
) -> None:
    rt = make_least_busy("a", "b")
    with pytest.raises(E.InvalidRequestError, match=says):
        rt.set_in_flight_elsewhere(alias, counts)
    assert [r["in_flight_elsewhere"] for r in rt.snapshot()["chat"]] == [0, 0]
    with pytest.raises(E.InvalidRequestError, match="unknown alias"):
        rt.in_flight("nope")
