"""What virtual keys and their limits cost the gateway: req/s at c=100, next to the bare gateway.

    python3 bench/bench_gateway_keys.py              # 5 rounds of 10 s per target (~4 minutes)
    python3 bench/bench_gateway_keys.py --rounds 3 --seconds 6      # quicker
    python3 bench/bench_gateway_keys.py --report bench/results/gateway_keys.json   # re-render

Three ``llmrouter serve --workers 1`` processes in front of the same Together emulator
(bench/gateway/emulator.py), each pinned to core 1 while the emulator and wrk share core 0, as in
bench/bench_gateway.py (whose machinery this reuses):

- ``bare``: the master key, no database: what bench_gateway.py measures;
- ``keys``: a SQLite key store; the load carries a virtual key with an rpm and a tpm limit (set
  high enough never to refuse: the cost measured is the check, not a refusal), so every request
  pays the key lookup (cached), the in-process limiter's admission, the token count's record,
  the spend counter and a spend row queued for the batch writer;
- ``keys-redis``: the same with ``redis_url``: the admission, the token record and the spend
  counter become Redis scripts (one round trip each, on loopback; Redis itself is not pinned).

Rounds alternate the order of the targets, so a drift of the shared machine hits all alike; the
table gives each target's median req/s and its ratio to ``bare`` in the same round. Every run is
verified against the emulator's counters (bench_gateway.wrk). Results:
bench/results/gateway_keys.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_gateway as bg  # bench/ is sys.path[0] when this runs as a script

RESULTS = bg.RESULTS
NAMES = ("bare", "keys", "keys-redis")
REDIS_URL = "redis://127.0.0.1:6379/0"
#: Limits the load never reaches (100 connections answer far below them).
RPM_LIMIT = 100_000_000
TPM_LIMIT = 2_000_000_000


def _machine() -> dict[str, str]:
    """The machine, without bench/run.py's (which asks the LiteLLM venv for its Python)."""
    import os
    import platform

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    import subprocess

    python = subprocess.run(
        [str(bg.PROJECT_PY), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": python,
    }


def _redis_version() -> str:
    import subprocess

    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split(" sha=")[0].replace("Redis server ", "").strip() or "?"


def _config(tmp: Path, emu: bg.Emulator, name: str) -> Path:
    path = tmp / f"{name}.toml"
    extra = ""
    if name != "bare":
        extra += f'database_url = "sqlite:///{tmp / (name + ".db")}"\n'
    if name == "keys-redis":
        extra += f'redis_url = "{REDIS_URL}"\n'
    path.write_text(
        f"[models.{bg.ALIAS}]\n"
        f"[[models.{bg.ALIAS}.deployments]]\n"
        f'model = "together_ai/{bg.MODEL}"\n'
        f'api_base = "{emu.base}"\n'
        'api_key_env = "BENCH_UPSTREAM_KEY"\n'
        "\n[gateway]\n"
        'master_key_env = "BENCH_MASTER_KEY"\n' + extra
    )
    return path


def _admin(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            json.dumps(body),
            {"authorization": f"Bearer {bg.MASTER_KEY}", "content-type": "application/json"},
        )
        reply = conn.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"{path} answered {reply.status}: {data[:300]!r}")
        return dict(json.loads(data))
    finally:
        conn.close()


def launch(name: str, emu: bg.Emulator, tmp: Path) -> bg.Target:
    """Start one gateway on core 1; for the keyed ones, create the virtual key the load uses."""
    files = {"toml": _config(tmp, emu, name)}
    target = bg.launch("llmrouter-uvicorn", emu, files, tmp)  # answers a chat with the master key
    target.name = name
    if name != "bare":
        created = _admin(
            target.port,
            "/key/generate",
            {"key_alias": f"bench-{name}", "rpm_limit": RPM_LIMIT, "tpm_limit": TPM_LIMIT},
        )
        target.key = created["key"]  # kept in memory only, never printed
        status, body = bg.post(target, stream=False)
        if status != 200 or bg.EXPECT.encode() not in body:
            raise RuntimeError(f"{name}: the virtual key's first call answered {status}")
    return target


def run(rounds: int, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "machine": _machine(),
        "versions": {
            **bg._dist_versions(
                bg.PROJECT_PY, [*bg.PROJECT_VERSIONS, "redis", "sqlalchemy", "aiosqlite"]
            ),
            "redis-server": _redis_version(),
        },
        "rounds": rounds,
        "seconds": seconds,
        "connections": 100,
        "command": "python3 bench/bench_gateway_keys.py "
        + " ".join(sys.argv[1:] or [f"--rounds {rounds} --seconds {seconds:g}"]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    emu = bg.Emulator()
    targets: dict[str, bg.Target] = {}
    with tempfile.TemporaryDirectory(prefix="bench-keys-") as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            for name in NAMES:
                targets[name] = launch(name, emu, tmp)
                bg.wrk(targets[name], emu, 100, 3)  # warm up
                print(f"  {name}: up, warmed", flush=True)
            runs: list[dict[str, Any]] = []
            for i in range(rounds):
                order = NAMES if i % 2 == 0 else tuple(reversed(NAMES))
                row: dict[str, Any] = {}
                for name in order:
                    res = bg.measured(targets[name], emu, 100, seconds)
                    if not res["verified"]:
                        raise RuntimeError(f"{name}: run not verified: {res}")
                    row[name] = {
                        k: res[k]
                        for k in (
                            "rps",
                            "p50_us",
                            "p99_us",
                            "server_cpu_us_per_req",
                            "other_load",
                            "attempts",
                        )
                        if k in res
                    }
                runs.append(row)
                print(
                    f"  round {i + 1}: "
                    + ", ".join(f"{n} {row[n]['rps']:,.0f} req/s" for n in NAMES),
                    flush=True,
                )
            out["runs"] = runs
            out["rss_mb"] = {
                n: bg.rss_mb(t.serving_pid() or 0) if t.serving_pid() else None
                for n, t in targets.items()
            }
        finally:
            for target in targets.values():
                target.stop()
            emu.close()
    return out


def summary(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    runs = data["runs"]
    out: dict[str, dict[str, float]] = {}
    for name in NAMES:
        out[name] = {
            "rps": statistics.median(r[name]["rps"] for r in runs),
            "cpu_us": statistics.median(r[name]["server_cpu_us_per_req"] for r in runs),
            "p50_us": statistics.median(r[name]["p50_us"] for r in runs),
            "ratio": statistics.median(r[name]["rps"] / r["bare"]["rps"] for r in runs),
        }
    return out


def render(data: dict[str, Any]) -> str:
    s = summary(data)
    m = data["machine"]
    lines = [
        "# Gateway: the cost of virtual keys and limits",
        "",
        f"`{data['command']}` on {data['date']}: {m.get('cpu', '?')}, {m.get('kernel', '?')}, "
        f"Python {m.get('python', '?')}. c={data['connections']}, {data['rounds']} rounds of "
        f"{data['seconds']:g} s per target, order alternating; medians.",
        "",
        "| target | req/s | vs bare (same round) | server CPU/req | p50 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in NAMES:
        row = s[name]
        lines.append(
            f"| `{name}` | {row['rps']:,.0f} | {row['ratio']:.2f}x | {row['cpu_us']:,.0f} µs | "
            f"{row['p50_us'] / 1000:.1f} ms |"
        )
    lines += ["", "Every round:", ""]
    for i, r in enumerate(data["runs"], 1):
        lines.append(f"- round {i}: " + ", ".join(f"{n} {r[n]['rps']:,.0f}" for n in NAMES))
    versions = data.get("versions", {})
    if versions:
        lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--report", type=Path, help="re-render this JSON file; no run")
    args = parser.parse_args()
    if args.report:
        data = json.loads(args.report.read_text())
    else:
        data = run(args.rounds, args.seconds)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "gateway_keys.json").write_text(json.dumps(data, indent=1, default=str))
    text = render(data)
    (RESULTS / "gateway_keys.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
