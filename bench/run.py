"""llmrouter's benchmark suite: llmrouter against raw httpx/aiohttp, the openai SDK and LiteLLM.

    python3 bench/run.py              # full run (about 10-15 minutes on 2 cores)
    python3 bench/run.py --quick      # smaller counts, one round (a smoke test, 2-3 minutes)

Peers live in the benchmark's own virtualenv, ``bench/.venv`` (created on first use with
``uv venv`` + ``uv pip install``; ``--reinstall`` recreates it), so LiteLLM never enters the
project's lock. The Together emulator runs as a subprocess pinned to core 0 (``taskset``); every
client runs in its own fresh process pinned to core 1, talks only to 127.0.0.1, and is checked
against the emulator's request counters. Results are medians over rounds (the clients' order
rotates every round) and are reported as ratios to raw httpx measured in the same run. The
tables go to stdout and to ``bench/results/latest.md`` (raw numbers: ``latest.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import worker  # bench/worker.py, next to this file (sys.path[0] when run as a script)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".venv"
PY = VENV / "bin" / "python"
RESULTS = BENCH / "results"
#: ``anthropic`` and ``google-genai`` are for bench/bench_native.py (pinned: the versions their
#: emulators are proven against). ``litellm[proxy]`` (the proxy server's extras) is for
#: bench/bench_gateway.py, which runs LiteLLM's proxy as the peer of ``llmrouter serve``.
PEERS = [
    "litellm[proxy]",
    "openai",
    "aiohttp",
    "httpx-aiohttp",
    "httptools",
    "anthropic==2.17.0",
    "google-genai==3.6.1",
]
#: The clients, in the order the report lists them: the worker's (stdlib-only at import).
CLIENTS = list(worker.CLIENTS)
VERSIONS = [
    "httpx",
    "httpcore",
    "aiohttp",
    "httpx-aiohttp",
    "pydantic",
    "pydantic-core",
    "pluggy",
    "structlog",
    "openai",
    "httpx2",
    "litellm",
]
SERVER_CORE = "0"
CLIENT_CORE = "1"
# Bytecode caches ON (a PYTHONDONTWRITEBYTECODE=1 in the caller's environment would make every
# import compile from source, tripling import times): a warm-up probe writes them first.
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "PYTHONHASHSEED": "0",
}

# --- probes: tiny programs run with ``python -c`` so that nothing is imported beforehand ------

_RSS = (
    "def _rss():\n"
    "    for _l in open('/proc/self/status'):\n"
    "        if _l.startswith('VmRSS:'):\n"
    "            return int(_l.split()[1]) / 1024\n"
)
# An audit hook counts socket activity during the import (a network fetch at import shows up).
_IMPORT_PROBE = (
    "import sys, time\n" + _RSS + "_net = []\n"
    "sys.addaudithook(lambda e, a: _net.append(e) if e in ('socket.connect', 'socket.getaddrinfo') else None)\n"
    "_r0 = _rss()\n"
    "_t0 = time.perf_counter()\n"
    "{stmt}\n"
    "_t = time.perf_counter() - _t0\n"
    "_m = sorted(m for m in ('httpx', 'pydantic', 'pluggy', 'structlog', 'jinja2', 'llmrouter_together', 'aiohttp') if m in sys.modules)\n"
    "print(repr((_t, _rss(), _rss() - _r0, len(_net), _m)))\n"
)
IMPORTS = {
    "httpx": "import httpx",
    "httpx+pydantic": "import httpx, pydantic",
    "aiohttp": "import aiohttp",
    "llmrouter": "import llmrouter",
    "openai": "import openai",
    "litellm": "import litellm",
}
_FIRST_PROBE = (
    "import sys, time\n" + _RSS + "_t0 = time.perf_counter()\n"
    "{code}\n"
    "_t = time.perf_counter() - _t0\n"
    "assert 'deterministic reply' in _content, _content\n"
    "print(repr((_t, _rss())))\n"
)
_MSG = "[{'role': 'user', 'content': 'Say hello'}]"
_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
FIRST_CALLS = {
    "httpx": (
        "import httpx, json\n"
        "_c = httpx.Client(headers={'authorization': 'Bearer k'})\n"
        "_content = json.loads(_c.post('{url}/chat/completions', json={'model': '"
        + _MODEL
        + "', 'messages': "
        + _MSG
        + "}).content)['choices'][0]['message']['content']"
    ),
    "aiohttp": (
        "import aiohttp, asyncio, json\n"
        "async def _go():\n"
        "    async with aiohttp.ClientSession(headers={'authorization': 'Bearer k'}) as s:\n"
        "        async with s.post('{url}/chat/completions', json={'model': '"
        + _MODEL
        + "', 'messages': "
        + _MSG
        + "}) as r:\n"
        "            return json.loads(await r.read())['choices'][0]['message']['content']\n"
        "_content = asyncio.run(_go())"
    ),
    "llmrouter": (
        "import llmrouter\n"
        "_content = llmrouter.completion('together_ai/"
        + _MODEL
        + "', "
        + _MSG
        + ", api_base='{url}', api_key='k').choices[0].message.content"
    ),
    "openai": (
        "import openai\n"
        "_c = openai.OpenAI(base_url='{url}', api_key='k', max_retries=0)\n"
        "_content = _c.chat.completions.create(model='"
        + _MODEL
        + "', messages="
        + _MSG
        + ").choices[0].message.content"
    ),
    "litellm": (
        "import litellm\n"
        "_content = litellm.completion(model='together_ai/"
        + _MODEL
        + "', messages="
        + _MSG
        + ", api_base='{url}', api_key='k', num_retries=0).choices[0].message.content"
    ),
}


def config(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "rounds": 1,
            "import_runs": 3,
            "sequential": {"warmup": 50, "count": 300, "budget_s": 10},
            "async": [
                {"concurrency": 100, "total": 1000, "budget_s": 15},
                {"concurrency": 1000, "total": 2000, "budget_s": 15},
            ],
            "stream": {"tokens": 2000, "repeats": 3, "budget_s": 20},
        }
    return {
        "rounds": 3,
        "import_runs": 7,
        "sequential": {"warmup": 200, "count": 2000, "budget_s": 20},
        "async": [
            {"concurrency": 100, "total": 20000, "budget_s": 12},
            {"concurrency": 1000, "total": 5000, "budget_s": 25},
        ],
        "stream": {"tokens": 2000, "repeats": 7, "budget_s": 25},
    }


# --- environment ------------------------------------------------------------------------------


def ensure_venv(reinstall: bool) -> None:
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("bench/run.py needs uv (https://docs.astral.sh/uv/) on PATH")
    if reinstall and VENV.exists():
        shutil.rmtree(VENV)
    if not PY.exists():
        subprocess.run(
            [uv, "venv", "--quiet", "--python", sys.executable, str(VENV)], check=True, cwd=ROOT
        )
    marker = VENV / ".bench-installed"
    if not marker.exists():
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(PY),
                *PEERS,
                "-e",
                str(ROOT),
                "-e",
                str(ROOT / "plugins" / "together"),
                "-e",
                str(ROOT / "plugins" / "anthropic"),
                "-e",
                str(ROOT / "plugins" / "gemini"),
            ],
            check=True,
            cwd=ROOT,
        )
        marker.write_text("ok\n")


def pinned(core: str, argv: list[str]) -> list[str]:
    if shutil.which("taskset"):
        return ["taskset", "-c", core, *argv]
    return argv


def versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        f"names = {VERSIONS!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '-'\n"
        "print(json.dumps(out))"
    )
    out = subprocess.run([str(PY), "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "python": subprocess.run(
            [str(PY), "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "os": f"{platform.system()} {platform.release()}",
    }


class Emulator:
    """The emulator subprocess (core 0) and its stdin/stdout command channel; ``provider``
    is emulator_server.py's ``--provider`` (Together's unless told)."""

    def __init__(self, provider: str = "together") -> None:
        argv = [str(PY), str(BENCH / "emulator_server.py"), "--provider", provider]
        self.proc = subprocess.Popen(
            pinned(SERVER_CORE, argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=ENV,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise SystemExit(f"the emulator did not start (got {self.url!r})")

    def command(self, text: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def served(self) -> int:
        return int(self.command("stats")["total"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=5)


def run_probe(code: str, timeout: float = 120) -> Any:
    out = subprocess.run(
        pinned(CLIENT_CORE, [str(PY), "-c", code]),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=ENV,
    )
    if out.returncode != 0:
        raise RuntimeError(f"probe failed:\n{code}\n{out.stderr[-3000:]}")
    return eval(out.stdout.strip().splitlines()[-1], {"__builtins__": {}})  # our own repr


def measure_imports(runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, stmt in IMPORTS.items():
        code = _IMPORT_PROBE.replace("{stmt}", stmt)
        run_probe(code)  # warm the bytecode and page caches; not counted
        samples = [run_probe(code) for _ in range(runs)]
        results[name] = {
            "import_s": statistics.median(s[0] for s in samples),
            "rss_mb": statistics.median(s[1] for s in samples),
            "rss_delta_mb": statistics.median(s[2] for s in samples),
            "network_events": max(s[3] for s in samples),
            "modules": samples[-1][4],
        }
        print(f"  import {name:16} {results[name]['import_s'] * 1e3:8.1f} ms", flush=True)
    return results


def measure_first_calls(emu: Emulator, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, template in FIRST_CALLS.items():
        code = _FIRST_PROBE.replace("{code}", template.replace("{url}", emu.url))
        before = emu.served()
        run_probe(code)
        samples = [run_probe(code) for _ in range(runs)]
        served = emu.served() - before
        results[name] = {
            "first_call_s": statistics.median(s[0] for s in samples),
            "rss_mb": statistics.median(s[1] for s in samples),
            "verified": served == runs + 1,
            "served": served,
        }
        print(f"  first call {name:12} {results[name]['first_call_s'] * 1e3:8.1f} ms", flush=True)
    return results


def run_client(emu: Emulator, name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    worker_cfg = {k: cfg[k] for k in ("sequential", "async", "stream")}
    before = emu.served()
    started = time.perf_counter()
    out = subprocess.run(
        pinned(
            CLIENT_CORE,
            [str(PY), str(BENCH / "worker.py"), "run", name, emu.url, json.dumps(worker_cfg)],
        ),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=ENV,
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    served = emu.served() - before
    sent = result["sequential"]["requests"] + result["stream"]["requests"]
    clean = True
    for level in cfg["async"]:
        part = result[f"async_{level['concurrency']}"]
        sent += part["completed"] + part["warmup"]
        clean = clean and part["issued"] == part["completed"]
    # Every completed request must have been served by the emulator (and, when nothing was
    # abandoned at a deadline, exactly those).
    result["served"] = served
    result["sent"] = sent
    result["verified"] = served == sent if clean else served >= sent
    result["wall_s"] = time.perf_counter() - started
    print(
        f"  {name:18} {result['wall_s']:6.1f} s  served {served} (client completed {sent})"
        f"{'' if result['verified'] else '  NOT VERIFIED'}",
        flush=True,
    )
    return result


def run_micro() -> dict[str, Any]:
    out = subprocess.run(
        pinned(CLIENT_CORE, [str(PY), str(BENCH / "bench_parsing.py"), "--json"]),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=ENV,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench_parsing failed:\n{out.stderr[-3000:]}")
    parsing = json.loads(out.stdout.strip().splitlines()[-1])
    tmpl = subprocess.run(
        pinned(CLIENT_CORE, [str(PY), str(BENCH / "bench_templates.py"), "5000"]),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=ENV,
    )
    if tmpl.returncode != 0:
        raise RuntimeError(f"bench_templates failed:\n{tmpl.stderr[-3000:]}")
    return {"parsing": parsing, "templates": tmpl.stdout.strip().splitlines()}


# --- aggregation and report --------------------------------------------------------------------


def _median(values: list[float]) -> float:
    clean = [v for v in values if v == v]  # drop NaN
    return statistics.median(clean) if clean else float("nan")


def aggregate(rounds: list[dict[str, dict[str, Any]]], cfg: dict[str, Any]) -> dict[str, Any]:
    agg: dict[str, Any] = {}
    for name in CLIENTS:
        runs = [r[name] for r in rounds if name in r]
        entry: dict[str, Any] = {"verified": all(r["verified"] for r in runs)}
        for key in ("median_ms", "p99_ms", "cpu_ms_per_call"):
            entry[f"seq_{key}"] = _median([r["sequential"][key] for r in runs])
        for key in ("wall_us_per_chunk", "cpu_us_per_chunk"):
            entry[f"stream_{key}"] = _median([r["stream"][key] for r in runs])
        for level in cfg["async"]:
            c = level["concurrency"]
            parts = [r[f"async_{c}"] for r in runs]
            entry[f"c{c}_rps"] = _median([p["rps"] for p in parts])
            entry[f"c{c}_p50_ms"] = _median([p["p50_ms"] for p in parts])
            entry[f"c{c}_p99_ms"] = _median([p["p99_ms"] for p in parts])
            entry[f"c{c}_finished"] = all(p["finished"] for p in parts)
            entry[f"c{c}_errors"] = sum(p["errors"] for p in parts)
            entry[f"c{c}_first_error"] = next(
                (p["first_error"] for p in parts if p["first_error"]), None
            )
        entry["peak_rss_mb"] = _median([r["peak_rss_mb"] for r in runs])
        agg[name] = entry
    return agg


def _x(value: float, base: float) -> str:
    if not base or value != value or base != base:
        return "-"
    return f"{value / base:.2f}x"


def report(data: dict[str, Any]) -> str:
    cfg = data["config"]
    imp = data["imports"]
    first = data["first_calls"]
    agg = data["clients"]
    lines: list[str] = []
    add = lines.append
    m = data["machine"]
    add(f"Machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}, {m['os']}.")
    add("Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".")
    add(
        f"Run: {data['command']} ({cfg['rounds']} round(s), medians; {data['elapsed_s']:.0f} s). "
        "Server on core 0, each client in a fresh process on core 1."
    )
    add("")
    add(f"### 1. Import (fresh process, median of {cfg['import_runs']})")
    add("")
    add(
        "| import | time ms | vs httpx+pydantic | RSS after MB | RSS added MB | network | heavy modules loaded |"
    )
    add("|---|---:|---:|---:|---:|---:|---|")
    base = imp["httpx+pydantic"]
    for name, r in imp.items():
        add(
            f"| `{IMPORTS[name]}` | {r['import_s'] * 1e3:.1f} | {_x(r['import_s'], base['import_s'])} "
            f"| {r['rss_mb']:.1f} | {r['rss_delta_mb']:+.1f} | {r['network_events']} "
            f"| {', '.join(r['modules']) or '-'} |"
        )
    add("")
    add("Import + client setup + first call (fresh process, median):")
    add("")
    add("| client | first call ms | vs httpx | RSS MB | served by emulator |")
    add("|---|---:|---:|---:|---|")
    fb = first["httpx"]["first_call_s"]
    for name, r in first.items():
        add(
            f"| {name} | {r['first_call_s'] * 1e3:.1f} | {_x(r['first_call_s'], fb)} "
            f"| {r['rss_mb']:.1f} | {'yes' if r['verified'] else 'NO'} ({r['served']}) |"
        )
    add("")
    h = agg["httpx"]
    a = agg["aiohttp"]
    add("### 2. Sequential non-streaming calls (per call)")
    add("")
    add("| client | median ms | vs httpx | p99 ms | client CPU ms/call | CPU vs httpx |")
    add("|---|---:|---:|---:|---:|---:|")
    for name, r in agg.items():
        add(
            f"| {name} | {r['seq_median_ms']:.3f} | {_x(r['seq_median_ms'], h['seq_median_ms'])} "
            f"| {r['seq_p99_ms']:.3f} | {r['seq_cpu_ms_per_call']:.3f} "
            f"| {_x(r['seq_cpu_ms_per_call'], h['seq_cpu_ms_per_call'])} |"
        )
    add("")
    add(
        "aiohttp, llmrouter-httpx-stock and llmrouter-aiohttp are measured async only: they "
        "await one call at a time here."
    )
    add("")
    add("### 3. Async throughput")
    add("")
    head = "| client |"
    rule = "|---|"
    for level in cfg["async"]:
        c = level["concurrency"]
        head += f" c={c} req/s | vs httpx | vs aiohttp | p50 ms | p99 ms |"
        rule += "---:|---:|---:|---:|---:|"
    add(head)
    add(rule)
    for name, r in agg.items():
        row = f"| {name} |"
        for level in cfg["async"]:
            c = level["concurrency"]
            mark = "" if r[f"c{c}_finished"] else " (cut at time limit)"
            if r[f"c{c}_errors"]:
                mark += f" ({r[f'c{c}_errors']} errors)"
            row += (
                f" {r[f'c{c}_rps']:,.0f}{mark} | {_x(r[f'c{c}_rps'], h[f'c{c}_rps'])} "
                f"| {_x(r[f'c{c}_rps'], a[f'c{c}_rps'])} | {r[f'c{c}_p50_ms']:.1f} "
                f"| {r[f'c{c}_p99_ms']:.1f} |"
            )
        add(row)
    totals = ", ".join(f"c={lv['concurrency']}: {lv['total']} requests" for lv in cfg["async"])
    add("")
    add(f"Requests per level: {totals} (no new request after the level's time limit).")
    add(
        "llmrouter = the default engine (httpx with llmrouter's pool); llmrouter-httpx-stock = "
        "httpx exactly as httpx builds it, i.e. the raw httpx client's transport."
    )
    add("")
    add(f"### 4. Streaming ({cfg['stream']['tokens']:,}-chunk stream, per chunk)")
    add("")
    add("| client | client CPU us/chunk | vs httpx | wall us/chunk |")
    add("|---|---:|---:|---:|")
    for name, r in agg.items():
        add(
            f"| {name} | {r['stream_cpu_us_per_chunk']:.2f} "
            f"| {_x(r['stream_cpu_us_per_chunk'], h['stream_cpu_us_per_chunk'])} "
            f"| {r['stream_wall_us_per_chunk']:.2f} |"
        )
    add("")
    add("### 5. Peak RSS after all runs of one client process")
    add("")
    add("| client | peak RSS MB | vs httpx | requests verified at the emulator |")
    add("|---|---:|---:|---|")
    for name, r in agg.items():
        add(
            f"| {name} | {r['peak_rss_mb']:.1f} | {_x(r['peak_rss_mb'], h['peak_rss_mb'])} "
            f"| {'yes' if r['verified'] else 'NO'} |"
        )
    add("")
    micro = data.get("micro")
    if micro:
        add("### 6. Micro-benchmarks (us per operation, best of 5)")
        add("")
        add("| operation | us | vs json.loads |")
        add("|---|---:|---:|")
        for group in micro["parsing"]["groups"]:
            base_us = group["rows"][0]["us"]
            for row in group["rows"]:
                add(
                    f"| {group['name']}: {row['name']} | {row['us']:.2f} | {_x(row['us'], base_us)} |"
                )
        add("")
        add("Prompt rendering (bench/bench_templates.py, built-in vs the official Jinja template):")
        add("")
        add("```")
        lines.extend(micro["templates"])
        add("```")
        add("")
    add("### Targets")
    add("")
    for text, ok in targets(data):
        add(f"- [{'x' if ok else ' '}] {text}")
    return "\n".join(lines) + "\n"


def paired_ratios(data: dict[str, Any], mine: str, base: str, concurrency: int) -> list[float]:
    """``mine``'s throughput over ``base``'s, round by round: on a shared machine the load
    drifts between rounds, and a ratio within one round cancels part of that drift, so the
    spread of these is the honest error bar of the median ratio."""
    key = f"async_{concurrency}"
    out = []
    for r in data.get("rounds", []):
        if mine in r and base in r and key in r[mine] and key in r[base] and r[base][key]["rps"]:
            out.append(r[mine][key]["rps"] / r[base][key]["rps"])
    return out


def targets(data: dict[str, Any]) -> list[tuple[str, bool]]:
    imp = data["imports"]
    agg = data["clients"]
    h, a, lr, la = agg["httpx"], agg["aiohttp"], agg["llmrouter"], agg["llmrouter-aiohttp"]
    o, ll = agg["openai"], agg["litellm"]
    base = imp["httpx+pydantic"]
    mine = imp["llmrouter"]
    out: list[tuple[str, bool]] = []
    t = mine["import_s"] / base["import_s"]
    out.append((f"import llmrouter <= 1.3x import httpx, pydantic: {t:.2f}x", t <= 1.3))
    d = mine["rss_mb"] - base["rss_mb"]
    out.append((f"import llmrouter RSS <= httpx+pydantic + 8 MB: {d:+.1f} MB", d <= 8))
    heavy = [m for m in mine["modules"] if m in ("llmrouter_together", "jinja2")]
    out.append(
        (
            f"no provider, no jinja2, no network at import: modules {heavy or 'none'}, "
            f"{mine['network_events']} socket events",
            not heavy and mine["network_events"] == 0,
        )
    )
    s = lr["seq_median_ms"] / h["seq_median_ms"]
    out.append((f"sequential sync <= 1.15x raw httpx per call: {s:.2f}x", s <= 1.15))
    c100 = lr["c100_rps"] / h["c100_rps"]
    out.append((f"async c=100 >= 0.9x raw httpx (default engine): {c100:.2f}x", c100 >= 0.9))
    if "c1000_rps" in lr:
        c1000 = lr["c1000_rps"] / h["c1000_rps"]
        out.append((f"async c=1000 >= 0.9x raw httpx (default engine): {c1000:.2f}x", c1000 >= 0.9))
    ca = la["c100_rps"] / a["c100_rps"]
    paired = ", ".join(f"{r:.2f}" for r in paired_ratios(data, "llmrouter-aiohttp", "aiohttp", 100))
    out.append(
        (
            f"async c=100 >= 0.7x raw aiohttp (aiohttp engine): {ca:.2f}x "
            f"(each round, the two clients of the same round: {paired or '-'})",
            ca >= 0.7,
        )
    )
    st = lr["stream_cpu_us_per_chunk"] / h["stream_cpu_us_per_chunk"]
    out.append((f"streaming <= 1.3x raw httpx per chunk (client CPU): {st:.2f}x", st <= 1.3))
    for label, mine_async in (("default engine", lr), ("aiohttp engine", la)):
        ahead = (
            mine["import_s"] < imp["openai"]["import_s"]
            and lr["seq_median_ms"] < o["seq_median_ms"]
            and mine_async["c100_rps"] > o["c100_rps"]
            and mine_async["c1000_rps"] > o["c1000_rps"]
            and lr["stream_cpu_us_per_chunk"] < o["stream_cpu_us_per_chunk"]
            and lr["peak_rss_mb"] < o["peak_rss_mb"]
        )
        out.append(
            (
                f"ahead of the openai SDK on every row (async with the {label}: "
                f"c=100 {mine_async['c100_rps'] / o['c100_rps']:.2f}x, "
                f"c=1000 {mine_async['c1000_rps'] / o['c1000_rps']:.2f}x)",
                ahead,
            )
        )
        far = (
            mine["import_s"] * 5 < imp["litellm"]["import_s"]
            and lr["seq_median_ms"] * 2 < ll["seq_median_ms"]
            and mine_async["c100_rps"] > 2 * ll["c100_rps"]
            and mine_async["c1000_rps"] > 2 * ll["c1000_rps"]
            and lr["stream_cpu_us_per_chunk"] * 5 < ll["stream_cpu_us_per_chunk"]
        )
        out.append(
            (
                f"far ahead of LiteLLM (>=5x import and per chunk, >=2x per call and async; "
                f"async with the {label}: c=100 {mine_async['c100_rps'] / ll['c100_rps']:.2f}x, "
                f"c=1000 {mine_async['c1000_rps'] / ll['c1000_rps']:.2f}x)",
                far,
            )
        )
    out.append(
        (
            "every client verified against the emulator's counters",
            all(r["verified"] for r in agg.values()),
        )
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts, one round")
    parser.add_argument("--reinstall", action="store_true", help="recreate bench/.venv")
    parser.add_argument("--rounds", type=int, default=None, help="override the number of rounds")
    parser.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    parser.add_argument("--only", default=None, help="comma-separated clients (debugging)")
    parser.add_argument(
        "--report", default=None, help="print the report of a saved latest.json (no run)"
    )
    args = parser.parse_args()
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    cfg = config(args.quick)
    if args.rounds:
        cfg["rounds"] = args.rounds
    clients = CLIENTS if args.only is None else [c for c in CLIENTS if c in args.only.split(",")]
    started = time.perf_counter()
    ensure_venv(args.reinstall)
    data: dict[str, Any] = {
        "command": "python3 bench/run.py" + (" --quick" if args.quick else ""),
        "config": cfg,
        "machine": machine(),
        "versions": versions(),
    }
    print(f"benchmark: {data['machine']}", flush=True)
    emu = Emulator()
    try:
        print(f"emulator at {emu.url}", flush=True)
        data["imports"] = measure_imports(cfg["import_runs"])
        data["first_calls"] = measure_first_calls(emu, max(3, cfg["import_runs"] // 2))
        rounds: list[dict[str, dict[str, Any]]] = []
        for i in range(cfg["rounds"]):
            print(f"round {i + 1}/{cfg['rounds']}", flush=True)
            order = clients[i % len(clients) :] + clients[: i % len(clients)]
            rounds.append({name: run_client(emu, name, cfg) for name in order})
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "rounds.tmp").write_text(json.dumps(rounds) + "\n")  # survives a crash
        data["rounds"] = rounds
    finally:
        emu.close()
    if args.only is not None:
        print(json.dumps(rounds, indent=1))
        return 0
    data["clients"] = aggregate(rounds, cfg)
    if not args.no_micro:
        print("micro-benchmarks", flush=True)
        try:
            data["micro"] = run_micro()
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"micro-benchmarks failed (reported without them): {exc}", flush=True)
    data["elapsed_s"] = time.perf_counter() - started
    text = report(data)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=1) + "\n")
    (RESULTS / "latest.md").write_text(text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
