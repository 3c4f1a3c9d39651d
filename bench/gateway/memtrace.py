"""The gateway under tracemalloc: what the memory a soak adds is made of.

    python bench/gateway/memtrace.py --port P --out DIR     (config: $LLMROUTER_CONFIG)

Serves ``llmrouter_gateway.app:create_app_from_env`` with uvicorn as ``llmrouter serve`` does
(uvloop, httptools, one process). The first SIGUSR1 turns tracemalloc on; each one takes a
snapshot, after a full garbage collection, and writes ``DIR/snapshot-N.txt``: the live traced
total, then the allocation sites that grew most since the previous snapshot (by line, and by
traceback for the top ones). bench/bench_gateway.py's ``--memtrace`` drives it through a soak. tracemalloc makes
every allocation slower, so this server's speed means nothing; only the sizes do.
"""

from __future__ import annotations

import argparse
import gc
import linecache
import signal
import tracemalloc
from pathlib import Path
from typing import Any

FRAMES = 12


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"n": 0, "last": None}

    def snapshot(signum: int, frame: object) -> None:
        # Tracing starts at the first snapshot, once the server is up: under tracemalloc the
        # start-up (the price database's big data module) takes minutes, and the growth a
        # soak causes is what this is for.
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
        gc.collect()
        # formatting tracebacks fills linecache: this script's own doing, not the gateway's
        snap = tracemalloc.take_snapshot().filter_traces(
            [
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, linecache.__file__),
            ]
        )
        current, peak = tracemalloc.get_traced_memory()
        lines = [f"traced now {current / 1e6:.3f} MB, peak {peak / 1e6:.3f} MB"]
        last = state["last"]
        if last is not None:
            lines.append("\n## grew most since the previous snapshot, by line")
            for stat in snap.compare_to(last, "lineno")[:30]:
                lines.append(str(stat))
            lines.append("\n## grew most, by traceback")
            for stat in snap.compare_to(last, "traceback")[:8]:
                lines.append(f"\n{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks:")
                lines.extend("    " + line for line in stat.traceback.format())
        state["n"] += 1
        state["last"] = snap
        (args.out / f"snapshot-{state['n']}.txt").write_text("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, snapshot)
    import uvicorn

    uvicorn.run(
        "llmrouter_gateway.app:create_app_from_env",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
