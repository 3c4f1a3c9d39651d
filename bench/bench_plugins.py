"""What cost, tracing and caching add to a call: the bare library against the library with them.

    python bench/bench_plugins.py            # 5 rounds of 2,000 calls per configuration
    python bench/bench_plugins.py --quick    # 2 rounds of 500 (a smoke test)

Every configuration is a sync ``Router`` with its own plugin host, calling the Together
emulator (a subprocess on core 0; this process runs on core 1) with non-streamed chat calls
whose prompts are all different, so the cache never hits: what is measured is the price of
having the plugins, not the saving of a hit. Configurations run in turns within each round, in
an order that rotates every round, and the client CPU time per call (``time.process_time``) is
reported as the median over rounds and as a ratio to ``bare`` from the same round. Within a
round the configurations take turns every 50 calls, so noise from the shared machine moves
them all alike. The issue's goal (cost + tracing without exporter + an
in-memory cache with zero hits: at most 15% over bare) is checked at the end.

- ``bare``: no plugin beyond the built-in log plugin (INFO off).
- ``bare-again``: a second Router exactly like ``bare``: its ratio to ``bare`` is the noise of
  the machine in this run (any other row's ratio is only known to within that).
- ``cost``: bare, and every answer's ``response.llmrouter.cost`` is read.
- ``tracing-noop``: ``llmrouter_otel.instrument()`` while the application configured no
  OpenTelemetry SDK (the global provider is the API's no-op): nothing is exported.
- ``tracing-sdk``: the plugin on an SDK ``TracerProvider`` that has no span processor: spans
  are built and recorded, then dropped (no exporter).
- ``cache``: ``llmrouter.cache.enable_cache("memory")`` (a miss and a store per call).
- ``all-noop``, ``all-sdk``: the three together, with either tracing.
- ``hook-floor``: a ``llmrouter_call_end`` plugin that does nothing (:class:`_HookFloor`)
  and, having no ``call_end_idle``, makes the core build each call's outcome and call the hook:
  what any observer on that hook pays before doing anything.
- ``sdk-floor``: not llmrouter-otel but the least a tracing plugin on the same hook can do
  with a recording SDK: one span per call with no attribute (:class:`_FloorTracer`), on a
  ``TracerProvider`` without a span processor. ``all-sdk-floor``: that, with cost and cache.
  ``sdk-floor`` minus ``hook-floor`` is the SDK's empty span; ``all-sdk-floor`` is what the
  goal would come to with a recording SDK whatever the plugin did.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from llmrouter.hookspecs import hookimpl

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = (
    "bare",
    "bare-again",
    "cost",
    "tracing-noop",
    "tracing-sdk",
    "cache",
    "all-noop",
    "all-sdk",
    "hook-floor",
    "sdk-floor",
    "all-sdk-floor",
)
GOAL = 1.15


class _HookFloor:
    """An observer of ``llmrouter_call_end`` that does nothing with the outcome."""

    @hookimpl
    def llmrouter_call_end(self, outcome: Any) -> None:
        del outcome


class _FloorTracer:
    """One empty span per call, drawn from the outcome as llmrouter-otel draws its call span
    (explicit start and end, kind CLIENT): the outcome, the hook call and the SDK's span, with
    nothing of the plugin's own work."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.trace import SpanKind

        self.tracer = TracerProvider().get_tracer("bench-floor")
        self.kind = SpanKind.CLIENT

    @hookimpl
    def llmrouter_call_end(self, outcome: Any) -> None:
        end = outcome.end_ns
        span = self.tracer.start_span(
            "chat", kind=self.kind, start_time=end - int(outcome.latency_s * 1e9)
        )
        span.end(end_time=end)


def _router(name: str) -> tuple[Any, bool]:
    """A Router for configuration ``name`` and whether calls read their cost."""
    import llmrouter
    from llmrouter._plugins import PluginHost

    host = PluginHost()
    if name in ("tracing-sdk", "all-sdk"):
        from opentelemetry.sdk.trace import TracerProvider

        import llmrouter_otel

        llmrouter_otel.instrument(tracer_provider=TracerProvider(), host=host)
    if name in ("tracing-noop", "all-noop"):
        import llmrouter_otel

        llmrouter_otel.instrument(host=host)
    if name == "hook-floor":
        host.register_plugin(_HookFloor(), name="bench.hook-floor")
    if name in ("sdk-floor", "all-sdk-floor"):
        host.register_plugin(_FloorTracer(), name="bench.floor")
    if name in ("cache", "all-noop", "all-sdk", "all-sdk-floor"):
        from llmrouter.cache import enable_cache

        enable_cache("memory", host=host)
    return llmrouter.Router(plugin_host=host), name in (
        "cost",
        "all-noop",
        "all-sdk",
        "all-sdk-floor",
    )


def _run(router: Any, read_cost: bool, base: str, start: int, n: int) -> float:
    """CPU seconds per call over ``n`` calls with prompts ``start``..``start+n``."""
    model = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
    key = "tgp_v1_benchmarkKey0000000000"
    cpu0 = time.process_time()
    for i in range(start, start + n):
        r = router.completion(
            model=model,
            messages=[{"role": "user", "content": f"Hello number {i}"}],
            api_base=base,
            api_key=key,
        )
        if read_cost:
            cost = r.llmrouter.cost
            assert cost is not None and cost > 0
    return (time.process_time() - cpu0) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--calls", type=int)
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    calls = args.calls or (500 if args.quick else 2000)

    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, str(ROOT / "bench" / "emulator_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        base = server.stdout.readline().strip()
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {1})
        routers = {name: _router(name) for name in CONFIGS}
        counter = 0
        for router, read_cost in routers.values():  # warm-up: imports, price tables
            _run(router, read_cost, base, counter, 200)
            counter += 200
        per_call: dict[str, list[float]] = {name: [] for name in CONFIGS}
        ratios: dict[str, list[float]] = {name: [] for name in CONFIGS}
        started = time.perf_counter()
        block = 50
        for r in range(rounds):
            # Configurations take turns every ``block`` calls, so a slow spell of the shared
            # machine falls on all of them alike.
            this_round = dict.fromkeys(CONFIGS, 0.0)
            for b in range(calls // block):
                shift = (r + b) % len(CONFIGS)
                for name in CONFIGS[shift:] + CONFIGS[:shift]:
                    router, read_cost = routers[name]
                    this_round[name] += _run(router, read_cost, base, counter, block) / (
                        calls // block
                    )
                    counter += block
            for name in CONFIGS:
                per_call[name].append(this_round[name])
                ratios[name].append(this_round[name] / this_round["bare"])
        server.stdin.write("stats\n")
        server.stdin.flush()
        stats = json.loads(server.stdout.readline())
        elapsed = time.perf_counter() - started
    finally:
        server.kill()
    expected = counter
    served = stats.get("total")
    lines = [
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}.",
        "Versions: "
        + ", ".join(
            f"{d} {version(d)}"
            for d in (
                "llmrouter",
                "httpx",
                "pydantic",
                "pluggy",
                "genai-prices",
                "opentelemetry-sdk",
            )
        )
        + ".",
        f"Run: python bench/bench_plugins.py{' --quick' if args.quick else ''} ({rounds} "
        f"round(s) of {calls} calls per configuration, {elapsed:.0f} s; the emulator served "
        f"{served} of {expected} calls).",
        "",
        "| configuration | client CPU us/call (median) | vs bare (median of rounds) | each round |",
        "|---|---:|---:|---|",
    ]
    for name in CONFIGS:
        each = ", ".join(f"{x:.3f}" for x in ratios[name])
        lines.append(
            f"| {name} | {statistics.median(per_call[name]) * 1e6:.1f} | "
            f"{statistics.median(ratios[name]):.3f}x | {each} |"
        )
    lines.append("")
    for name, what in (
        ("all-noop", "no SDK configured"),
        ("all-sdk", "SDK recording spans"),
        ("all-sdk-floor", "an empty SDK span per call in place of the plugin"),
    ):
        overhead = statistics.median(ratios[name])
        verdict = "met" if overhead <= GOAL else "NOT met"
        rounds_met = sum(r <= GOAL for r in ratios[name])
        lines.append(
            f"Goal: cost + tracing ({what}, no exporter) + in-memory cache (zero hits) <= "
            f"{GOAL:.2f}x bare per call: {overhead:.3f}x, {verdict} (in {rounds_met} of "
            f"{len(ratios[name])} rounds; worst {max(ratios[name]):.3f}x)."
        )
    noise = [abs(r - 1) for r in ratios["bare-again"]]
    lines.append(
        f"Noise: bare-again, the same Router as bare, was within {max(noise) * 100:.1f}% of it "
        "in every round."
    )
    print("\n".join(lines))
    return 0 if served == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
