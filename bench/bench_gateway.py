"""The gateway benchmark: ``llmrouter serve`` against LiteLLM's proxy, one worker on one core each.

    python3 bench/bench_gateway.py                  # full run (8-10 minutes on 2 cores)
    python3 bench/bench_gateway.py --quick          # smaller counts (a smoke test, ~4 minutes)
    python3 bench/bench_gateway.py --only direct,litellm      # some targets (debugging)
    python3 bench/bench_gateway.py --profile        # also py-spy our gateway (automatic on a miss)
    python3 bench/bench_gateway.py --memtrace 30000 # only: where a soak's memory goes
    python3 bench/bench_gateway.py --only direct,llmrouter-uvicorn --engine aiohttp
                                                    # our gateway on another upstream engine
                                                    # (results: gateway-aiohttp.md/.json)
    python3 bench/bench_gateway.py --report bench/results/gateway.json   # re-render, no run

The machine is shared: before each measured run the script waits (up to 90 s) for both cores to
go quiet, and it reports the CPU other tenants used on each core during every run.

Targets, each an OpenAI-compatible ``POST /v1/chat/completions`` in front of the same Together
emulator (bench/gateway/emulator.py):

- ``direct``: the emulator itself, no gateway: the baseline of the added latency, and the ceiling
  the emulator and the load generator reach together on core 0;
- ``llmrouter-uvicorn``: ``llmrouter serve --workers 1`` (uvicorn with uvloop and httptools, our
  default), from the project's environment (.venv);
- ``llmrouter-granian``: the same app under granian (``llmrouter_gateway.app:create_app_from_env``),
  same interpreter and packages plus granian, installed into bench/.venv/granian;
- ``litellm``: LiteLLM's proxy (``litellm[proxy]`` in bench/.venv, never in the project's lock)
  with a master key, no database, its documented production settings, offline cost map.

Each server runs pinned to core 1 (``taskset -c 1``); the emulator, the load generator (wrk, one
thread, a Lua script that checks every answer) and this script run on core 0. Server CPU is read
from /proc/<pid>/stat (utime + stime over the server's whole process tree), RSS from
/proc/<pid>/status, per-core busy time from /proc/stat (so CPU used by other tenants of this shared
machine shows up). Every wrk run is checked against the emulator's request counters, and every
answer must be a 200 holding the emulator's reply. Results: bench/results/gateway.md and
gateway.json (raw numbers).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run  # bench/run.py (sys.path[0] is bench/ when this runs as a script)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PROJECT_PY = ROOT / ".venv" / "bin" / "python"
LLMROUTER_CLI = ROOT / ".venv" / "bin" / "llmrouter"
BENCH_PY = run.PY
LITELLM_CLI = run.VENV / "bin" / "litellm"
#: granian, installed with ``uv pip install --target`` so that it runs on the project's own
#: interpreter and packages (the uvicorn/granian comparison changes nothing else).
GRANIAN_DIR = run.VENV / "granian"
EMULATOR = BENCH / "gateway" / "emulator.py"
WRK_SCRIPT = BENCH / "gateway" / "post.lua"

SERVER_CORE = "1"
LOAD_CORE = "0"
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
ALIAS = "chat"
PROMPT = "Hello there, how are you?"
EXPECT = "deterministic reply"  # in every answer of the emulator (its default reply)
#: Keys of this benchmark only: nothing real. They go to wrk and the servers through the
#: environment, never on a command line, and are never printed.
UPSTREAM_KEY = "bench-upstream-key-0000"
MASTER_KEY = "sk-bench-master-key-0000"  # LiteLLM wants its master key to start with sk-
STREAM_TOKENS = 2000
#: Longest wait for both cores to go quiet before a measured run (another tenant's benchmark).
QUIET_WAIT_S = 90.0
#: A run during which another tenant used more than this share of a core is run again, at most
#: RETRIES more times.
NOISY = 0.2
RETRIES = 2
#: The soak's time limit (seconds): it stops at its request count, or here.
SOAK_MAX_S = 600
SOAK_CONNECTIONS = 100

#: The issue's goals for our gateway (docs/performance.md states them with a run of this file).
GOAL_RPS_RATIO = 20.0
GOAL_ADDED_P50_US = 500.0
GOAL_STREAM_CPU_US = 20.0
GOAL_RSS_MB = 100.0
#: "Flat" memory over the soak: the growth the second half's least-squares slope projects over
#: 100,000 requests, in MB. 1 MB is 1% of the RSS goal, and 10 bytes a request.
FLAT_MB_PER_100K = 1.0

PROJECT_VERSIONS = [
    "llmrouter",
    "llmrouter-gateway",
    "llmrouter-together",
    "uvicorn",
    "uvloop",
    "httptools",
    "starlette",
    "aiohttp",
    "httpx-aiohttp",
    "httpx",
    "pydantic",
]
BENCH_VERSIONS = [
    "litellm",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "aiohttp",
    "httpx",
    "pydantic",
]


def config(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "latency_rounds": 1,
            "latency_s": 3,
            "warmup_s": 2,
            "c100_s": 5,
            "stream": {"max_streams": 6, "budget_s": 8},
            "soak": {"requests": 20_000, "every": 5_000},
        }
    return {
        "latency_rounds": 3,
        "latency_s": 5,
        "warmup_s": 3,
        "c100_s": 12,
        "stream": {"max_streams": 40, "budget_s": 20},
        "soak": {"requests": 100_000, "every": 5_000},
    }


# --- environment --------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    """The servers' environment: the runner's (bytecode caches on, LiteLLM offline), no database,
    no proxy variables that could send loopback traffic elsewhere."""
    drop = {"DATABASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"}
    return {k: v for k, v in run.ENV.items() if k not in drop}


def _has(python: Path, *modules: str) -> bool:
    """Whether these top-level modules are installed (found, not imported: importing litellm
    would fetch its cost map from the network)."""
    code = (
        "import importlib.util, sys\n"
        "sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)"
    )
    return subprocess.run([str(python), "-c", code, *modules], check=False).returncode == 0


def _uv_install(uv: str, python: Path) -> list[str]:
    return [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python)]


def ensure_tools(reinstall: bool) -> None:
    """bench/.venv with LiteLLM's proxy (and uvicorn's httptools parser, which our gateway uses
    too, so both servers parse HTTP alike), granian next to it, and wrk."""
    run.ensure_venv(reinstall)
    uv = shutil.which("uv")
    assert uv is not None  # ensure_venv checked
    if not _has(BENCH_PY, "litellm", "fastapi", "apscheduler", "backoff", "httptools"):
        subprocess.run(
            [*_uv_install(uv, BENCH_PY), "litellm[proxy]", "httptools"],
            check=True,
            cwd=ROOT,
        )
    if not (GRANIAN_DIR / "granian").is_dir():
        subprocess.run(
            [*_uv_install(uv, PROJECT_PY), "--target", str(GRANIAN_DIR), "granian"],
            check=True,
            cwd=ROOT,
        )
    if shutil.which("wrk") is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print("installing wrk (apt-get install -y wrk)", flush=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        if shutil.which("wrk") is None:
            raise SystemExit(
                "bench_gateway.py needs wrk on PATH (Debian/Ubuntu: apt-get install -y wrk)"
            )


def ensure_py_spy() -> Path:
    spy = run.VENV / "bin" / "py-spy"
    if not spy.exists():
        uv = shutil.which("uv")
        assert uv is not None
        subprocess.run(
            [uv, "pip", "install", "--quiet", "--python", str(BENCH_PY), "py-spy"],
            check=True,
            cwd=ROOT,
        )
    return spy


def _dist_versions(
    python: Path, names: list[str], extra_path: Path | None = None
) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '-'\n"
        "print(json.dumps(out))"
    )
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    out = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=True, env=env
    )
    return dict(json.loads(out.stdout))


def versions() -> dict[str, Any]:
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "project (.venv)": _dist_versions(PROJECT_PY, PROJECT_VERSIONS),
        "granian": _dist_versions(PROJECT_PY, ["granian"], GRANIAN_DIR)["granian"],
        "bench (bench/.venv)": _dist_versions(BENCH_PY, BENCH_VERSIONS),
        "wrk": (wrk.stdout or wrk.stderr).split("Copyright")[0].strip(),
    }


def machine() -> dict[str, str]:
    info = run.machine()
    info["python"] = subprocess.run(
        [str(PROJECT_PY), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    info["platform"] = platform.platform()
    return info


# --- /proc --------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a granian or uvicorn supervisor and its worker)."""
    seen = [pid]
    i = 0
    while i < len(seen):
        seen.extend(c for c in _children(seen[i]) if c not in seen)
        i += 1
    return seen


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads) so far, from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def core_busy() -> dict[str, float]:
    """Busy seconds of each core so far (all processes, ours or not), from /proc/stat."""
    out: dict[str, float] = {}
    with open("/proc/stat") as fh:
        for line in fh:
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                ticks = [int(v) for v in values]
                idle = ticks[3] + ticks[4]  # idle + iowait
                out[name[3:]] = (sum(ticks[:8]) - idle) / _TICK
    return out


def wait_quiet(max_wait: float, threshold: float = 0.12, window: float = 0.5) -> float:
    """Wait (up to ``max_wait`` seconds) until both cores are nearly idle, so a run does not
    start in the middle of another tenant's load on this shared machine; returns the wait."""
    started = time.perf_counter()
    while True:
        b0 = core_busy()
        time.sleep(window)
        b1 = core_busy()
        waited = time.perf_counter() - started
        if all((b1[c] - b0[c]) / window < threshold for c in (LOAD_CORE, SERVER_CORE)):
            return waited
        if waited >= max_wait:
            return waited


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv] if shutil.which("taskset") else argv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the emulator -------------------------------------------------------------------------------


class Emulator:
    """bench/gateway/emulator.py on core 0, and its stdin/stdout command channel."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            pinned(LOAD_CORE, [str(PROJECT_PY), str(EMULATOR)]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=_env(),
        )
        assert self.proc.stdout is not None
        self.base = self.proc.stdout.readline().strip()  # http://127.0.0.1:PORT/v1
        if not self.base.startswith("http://127.0.0.1:"):
            self.close()
            raise SystemExit(f"the emulator did not start (got {self.base!r})")
        self.port = int(self.base.split(":")[2].split("/")[0])

    def command(self, text: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def stats(self) -> dict[str, Any]:
        return dict(self.command("stats"))

    def served(self) -> int:
        return int(self.stats()["total"])

    def settle(self, timeout: float = 60.0) -> dict[str, Any]:
        """The counters once nothing is in flight and the count has stopped moving for 0.3 s
        (a server may still be answering, one by one, requests whose client has gone)."""
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            again = self.stats()
            if not again["in_flight"] and again["total"] == stats["total"]:
                return again
            stats = again
        return stats

    def cpu(self) -> float:
        return cpu_seconds([self.proc.pid])

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=5)


# --- the targets --------------------------------------------------------------------------------


@dataclass
class Target:
    """One OpenAI-compatible endpoint to load: ``port``, the model name to send, the key."""

    name: str
    port: int
    model: str
    key: str
    path: str = "/v1/chat/completions"
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    started_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc is not None else []

    def serving_pid(self) -> int | None:
        """The process that answers requests: the deepest one of the tree (granian's worker,
        uvicorn's single process)."""
        pids = self.pids()
        return pids[-1] if pids else None

    def body(self, stream: bool = False) -> str:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        if stream:
            payload["stream"] = True
        return json.dumps(payload)

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        proc.terminate()  # uvicorn, granian and LiteLLM all shut down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in reversed(process_tree(proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            proc.wait(timeout=5)
        self.proc = None


def _write_configs(tmp: Path, emu: Emulator, engine: str = "native") -> dict[str, Path]:
    toml = tmp / "llmrouter.toml"
    toml.write_text(
        f"[models.{ALIAS}]\n"
        f"[[models.{ALIAS}.deployments]]\n"
        f'model = "together_ai/{MODEL}"\n'
        f'api_base = "{emu.base}"\n'
        'api_key_env = "BENCH_UPSTREAM_KEY"\n'
        "\n[gateway]\n"
        'master_key_env = "BENCH_MASTER_KEY"\n'
        f'engine = "{engine}"\n'
    )
    # LiteLLM's "Production Best Practices" (docs.litellm.ai/docs/proxy/prod): a master key,
    # request_timeout 600, set_verbose False, LITELLM_LOG=ERROR in the environment. No database
    # (so no spend logs, batch writes or connection pool to set), no Slack alerting; json_logs off
    # (the page shows it on, for log shipping: it only changes the format of lines at ERROR
    # level, and a clean run logs none).
    yaml = tmp / "litellm.yaml"
    yaml.write_text(
        "model_list:\n"
        f"  - model_name: {ALIAS}\n"
        "    litellm_params:\n"
        f"      model: together_ai/{MODEL}\n"
        "      api_base: os.environ/BENCH_UPSTREAM_BASE\n"
        "      api_key: os.environ/BENCH_UPSTREAM_KEY\n"
        "general_settings:\n"
        "  master_key: os.environ/LITELLM_MASTER_KEY\n"
        "litellm_settings:\n"
        "  request_timeout: 600\n"
        "  set_verbose: False\n"
        "  json_logs: False\n"
    )
    return {"toml": toml, "yaml": yaml}


def launch(name: str, emu: Emulator, files: dict[str, Path], tmp: Path) -> Target:
    """Start one server on core 1 and wait until it answers a chat completion."""
    port = free_port()
    env = _env()
    env["BENCH_UPSTREAM_KEY"] = UPSTREAM_KEY
    env["BENCH_MASTER_KEY"] = MASTER_KEY
    host = ["--host", "127.0.0.1", "--port", str(port)]
    if name == "llmrouter-uvicorn":
        argv = [str(LLMROUTER_CLI), "serve", "--config", str(files["toml"]), *host]
        argv += ["--workers", "1"]
    elif name == "llmrouter-granian":
        env["PYTHONPATH"] = str(GRANIAN_DIR)
        env["LLMROUTER_CONFIG"] = str(files["toml"])
        argv = [str(PROJECT_PY), "-m", "granian", "--interface", "asgi", "--factory", *host]
        argv += ["--workers", "1", "--runtime-threads", "1", "--loop", "uvloop", "--no-ws"]
        argv += ["--http", "1", "--log-level", "error"]
        argv += ["llmrouter_gateway.app:create_app_from_env"]
    elif name == "litellm":
        env["BENCH_UPSTREAM_BASE"] = emu.base
        env["LITELLM_MASTER_KEY"] = MASTER_KEY
        env["LITELLM_LOG"] = "ERROR"
        argv = [str(LITELLM_CLI), "--config", str(files["yaml"]), *host, "--num_workers", "1"]
    else:
        raise ValueError(f"unknown server {name!r}")
    log = tmp / f"{name}.log"
    target = Target(name, port, ALIAS, MASTER_KEY, log=log)
    started = time.perf_counter()
    with open(log, "wb") as fh:
        target.proc = subprocess.Popen(
            pinned(SERVER_CORE, argv), stdout=fh, stderr=subprocess.STDOUT, cwd=tmp, env=env
        )
    deadline = time.monotonic() + 180
    last = ""
    while time.monotonic() < deadline:
        if target.proc.poll() is not None:
            break
        try:
            status, _ = post(target, stream=False, timeout=5)
            if status == 200:
                target.started_s = time.perf_counter() - started
                return target
            last = f"HTTP {status}"
        except OSError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-2500:]
    target.stop()
    raise RuntimeError(f"{name} did not come up ({last}); its output ends with:\n{tail}")


# --- one request (smoke checks and streams), stdlib only ---------------------------------------


def post(target: Target, stream: bool, timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            target.path,
            target.body(stream),
            {"authorization": f"Bearer {target.key}", "content-type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _sse_events(raw: bytes) -> list[bytes]:
    return [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]


def smoke(target: Target) -> dict[str, Any]:
    """One plain and one streamed request, checked field by field: a 200, the emulator's reply
    as the message, and a stream of chunks that spells the same reply and ends with [DONE]."""
    status, raw = post(target, stream=False)
    if status != 200:
        raise RuntimeError(f"{target.name}: HTTP {status}: {raw[:300]!r}")
    body = json.loads(raw)
    content = body["choices"][0]["message"]["content"]
    if EXPECT not in content:
        raise RuntimeError(f"{target.name}: not the emulator's reply: {content!r}")
    status, raw = post(target, stream=True)
    events = _sse_events(raw)
    if status != 200 or not events or events[-1] != b"[DONE]":
        raise RuntimeError(f"{target.name}: bad stream (HTTP {status}): {raw[-300:]!r}")
    text = ""
    for event in events[:-1]:
        for choice in json.loads(event).get("choices") or []:
            text += (choice.get("delta") or {}).get("content") or ""
    if text != content:
        raise RuntimeError(f"{target.name}: the stream spelled {text!r}, not {content!r}")
    return {"content": content, "usage": body.get("usage"), "stream_events": len(events)}


# --- load ---------------------------------------------------------------------------------------


def wrk(
    target: Target,
    emu: Emulator,
    connections: int,
    seconds: float,
    on_start: Any = None,
) -> dict[str, Any]:
    """One wrk run (core 0), with the server's and the emulator's CPU, per-core busy time and
    the emulator's count of what it served."""
    env = dict(os.environ)
    env.update(BENCH_BODY=target.body(), BENCH_KEY=target.key, BENCH_EXPECT=EXPECT)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s"]
    argv += ["-s", str(WRK_SCRIPT), target.url]
    pids = target.pids()
    # quiet first (a slow server may still be draining the previous run's requests), then the
    # count this run is measured from
    waited = wait_quiet(QUIET_WAIT_S)
    before = emu.settle()["total"]
    server0, emu0, wrk0, busy0 = cpu_seconds(pids), emu.cpu(), children_cpu(), core_busy()
    started = time.perf_counter()
    proc = subprocess.Popen(
        pinned(LOAD_CORE, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    if on_start is not None:
        on_start(proc)
    out, err = proc.communicate(timeout=seconds + 600)
    wall = time.perf_counter() - started
    server1, emu1, wrk1, busy1 = cpu_seconds(pids), emu.cpu(), children_cpu(), core_busy()
    served = emu.settle()["total"] - before
    line = next((x for x in out.decode().splitlines() if x.startswith("BENCHJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()[-1000:]}")
    res: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
    duration = res["duration_us"] / 1e6
    done = res["requests"]
    res.update(
        concurrency=connections,
        wall_s=wall,
        rps=done / duration if duration else 0.0,
        served=served,
        server_cpu_s=server1 - server0,
        emulator_cpu_s=emu1 - emu0,
        wrk_cpu_s=wrk1 - wrk0,
        core_busy={k: (busy1[k] - busy0[k]) / duration for k in busy1 if k in busy0},
    )
    if done:
        res["server_cpu_us_per_req"] = res["server_cpu_s"] / done * 1e6
        res["emulator_cpu_us_per_req"] = res["emulator_cpu_s"] / done * 1e6
        res["wrk_cpu_us_per_req"] = res["wrk_cpu_s"] / done * 1e6
    res["server_util"] = res["server_cpu_s"] / duration if duration else 0.0
    res["load_core_util"] = (res["emulator_cpu_s"] + res["wrk_cpu_s"]) / duration if duration else 0
    # busy time of each core that none of the benchmark's processes spent: other tenants
    res["other_load"] = {
        SERVER_CORE: max(0.0, res["core_busy"].get(SERVER_CORE, 0.0) - res["server_util"]),
        LOAD_CORE: max(0.0, res["core_busy"].get(LOAD_CORE, 0.0) - res["load_core_util"]),
    }
    res["waited_for_quiet_s"] = waited
    errors = sum(res["errors"].values())
    # wrk counts finished answers; requests in flight when it stops may still reach the emulator
    # (at most one per connection), and a direct run has nothing in between.
    slack = served - done
    res["verified"] = bool(done) and errors == 0 and res["bad"] == 0 and 0 <= slack <= connections
    res["limit"] = limiting_factor(target, res)
    return res


def _noisy(target: Target, res: dict[str, Any]) -> bool:
    """Whether another tenant used more than NOISY of a core this run depends on (a direct run
    has no server on core 1)."""
    cores = [LOAD_CORE] if target.name == "direct" else [LOAD_CORE, SERVER_CORE]
    return any(res["other_load"].get(c, 0.0) > NOISY for c in cores)


def measured(target: Target, emu: Emulator, connections: int, seconds: float) -> dict[str, Any]:
    """A wrk run that is repeated (up to RETRIES times) while another tenant disturbed it;
    ``attempts`` says how many it took, and a run still noisy after them says so in the
    report."""
    for attempt in range(1, RETRIES + 2):
        res = wrk(target, emu, connections, seconds)
        res["attempts"] = attempt
        if not _noisy(target, res):
            break
    return res


def limiting_factor(target: Target, res: dict[str, Any]) -> str:
    """What stopped this run from going faster: a full core, and whose work filled it."""
    if res["concurrency"] == 1:
        return "round trip (one request at a time)"
    seconds = res["duration_us"] / 1e6
    busy, other = res["core_busy"], res["other_load"]
    parts = []
    for core in (SERVER_CORE, LOAD_CORE):
        if busy.get(core, 0.0) < 0.9:
            continue
        if core == SERVER_CORE:
            mine = f"server {res['server_util']:.0%}" if target.name != "direct" else "no server"
        else:
            emu, load = res["emulator_cpu_s"] / seconds, res["wrk_cpu_s"] / seconds
            mine = f"emulator {emu:.0%}, wrk {load:.0%}"
        parts.append(f"core {core} full ({mine}, other tenants {other[core]:.0%})")
    if not parts:
        return (
            f"neither core full (core {SERVER_CORE} {busy.get(SERVER_CORE, 0):.0%}, "
            f"core {LOAD_CORE} {busy.get(LOAD_CORE, 0):.0%}): latency-bound"
        )
    return "; ".join(parts)


def stream_run(target: Target, emu: Emulator, cfg: dict[str, Any]) -> dict[str, Any]:
    """Streams of STREAM_TOKENS chunks one after another; server CPU per chunk."""
    headers = {"authorization": f"Bearer {target.key}", "content-type": "application/json"}
    body = target.body(stream=True)

    def one() -> tuple[int, int, float]:
        # a connection per stream: a server's keep-alive timer may close an idle one while
        # wait_quiet() waits, and one connect is nothing next to 2,000 chunks
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
        try:
            return _read_stream(conn)
        finally:
            conn.close()

    def _read_stream(conn: http.client.HTTPConnection) -> tuple[int, int, float]:
        started = time.perf_counter()
        conn.request("POST", target.path, body, headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{target.name}: stream HTTP {response.status}")
        events = content = 0
        last = b""
        for line in response:
            if line.startswith(b"data: "):
                events += 1
                last = line
                if b'"content":"' in line and b'"content":""' not in line:
                    content += 1
        if last.strip() != b"data: [DONE]":
            raise RuntimeError(f"{target.name}: stream did not end with [DONE]: {last[:200]!r}")
        return events, content, time.perf_counter() - started

    try:
        one()  # warm-up (the short default reply), not counted
        emu.command(f"tokens {STREAM_TOKENS}")
        pids = target.pids()
        before = emu.settle()["streams"]
        waited = wait_quiet(QUIET_WAIT_S)
        busy0 = core_busy()
        started = time.perf_counter()
        server0 = cpu_seconds(pids)
        walls: list[float] = []
        events_total = content_total = 0
        deadline = time.perf_counter() + cfg["budget_s"]
        while len(walls) < cfg["max_streams"] and (not walls or time.perf_counter() < deadline):
            events, content, wall = one()
            if content < STREAM_TOKENS:
                raise RuntimeError(f"{target.name}: {content} content chunks, not {STREAM_TOKENS}")
            walls.append(wall)
            events_total += events
            content_total += content
        server_cpu = cpu_seconds(pids) - server0
        elapsed = time.perf_counter() - started
        busy1 = core_busy()
        streams = emu.settle()["streams"] - before
    finally:
        emu.command("tokens 0")
    upstream_chunks = len(walls) * STREAM_TOKENS
    return {
        "streams": len(walls),
        "upstream_chunks": upstream_chunks,
        "events_received": events_total,
        "content_chunks_received": content_total,
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_chunk": server_cpu / upstream_chunks * 1e6,
        "wall_us_per_chunk": statistics.median(walls) / STREAM_TOKENS * 1e6,
        "verified": streams == len(walls) and content_total >= upstream_chunks,
        "emulator_streams": streams,
        "waited_for_quiet_s": waited,
        "other_load": {
            SERVER_CORE: max(0.0, (busy1[SERVER_CORE] - busy0[SERVER_CORE] - server_cpu) / elapsed),
        },
    }


def soak(target: Target, emu: Emulator, cfg: dict[str, Any]) -> dict[str, Any]:
    """``requests`` non-streamed requests at c=100 in one wrk run; the serving process's RSS
    sampled each time the emulator's count crosses a multiple of ``every``."""
    total, every = cfg["requests"], cfg["every"]
    serving = target.serving_pid()
    assert serving is not None
    samples: list[dict[str, float]] = []
    stop = threading.Event()
    base = emu.settle()["total"]

    def sample(served: int) -> None:
        samples.append(
            {
                "requests": served,
                "rss_mb": rss_mb(serving),
                "tree_rss_mb": sum(rss_mb(p) for p in target.pids()),
            }
        )

    def sampler(load: subprocess.Popen[bytes]) -> None:
        sample(0)
        mark = every
        while not stop.is_set() and mark <= total:
            served = emu.served() - base
            if served >= mark:
                sample(served)
                mark += every
            else:
                time.sleep(0.01)
        # requests in flight when wrk stops are served but not counted as answered: go on
        # until wrk has surely answered ``total``
        while not stop.is_set() and emu.served() - base < total + SOAK_CONNECTIONS:
            time.sleep(0.01)
        # wrk ends a run early on SIGINT (and still prints its summary); a Lua
        # wrk.thread:stop() would not do: wrk's main thread sleeps out the whole -d anyway
        with contextlib.suppress(ProcessLookupError):
            load.send_signal(signal.SIGINT)

    def start(load: subprocess.Popen[bytes]) -> None:
        thread = threading.Thread(target=sampler, args=(load,), daemon=True)
        thread.start()
        threads.append(thread)

    threads: list[threading.Thread] = []
    res = wrk(target, emu, SOAK_CONNECTIONS, SOAK_MAX_S, on_start=start)
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    if samples[-1]["requests"] < total:  # cut by SOAK_MAX_S
        sample(emu.served() - base)
    res["samples"] = samples
    res["rss_mb_after"] = rss_mb(serving)
    res["tree_rss_mb_after"] = sum(rss_mb(p) for p in target.pids())
    res["peak_rss_mb"] = rss_mb(serving, "VmHWM")
    res["slope_all_kb_per_1k"] = _slope(samples, 0.1 * total)
    res["slope_second_half_kb_per_1k"] = _slope(samples, 0.5 * total)
    return res


def _slope(samples: list[dict[str, float]], start: float) -> float:
    """Least-squares slope of RSS over requests, from ``start`` on, in KB per 1,000 requests."""
    pts = [(s["requests"], s["rss_mb"]) for s in samples if s["requests"] >= start]
    if len(pts) < 2:
        return float("nan")
    mx = statistics.fmean(p[0] for p in pts)
    my = statistics.fmean(p[1] for p in pts)
    var = sum((p[0] - mx) ** 2 for p in pts)
    if not var:
        return float("nan")
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / var  # MB per request
    return slope * 1024 * 1000


# --- profiling ----------------------------------------------------------------------------------


def profile(target: Target, emu: Emulator, cfg: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """py-spy on the serving process during a c=1 run, a c=100 run and streams: where its CPU
    time goes. Sampling costs the server some speed, so these runs are not the reported ones."""
    spy = ensure_py_spy()
    pid = target.serving_pid()
    assert pid is not None
    result: dict[str, Any] = {}
    for phase in ("c1", "c100", "stream"):
        raw = out_dir / f"pyspy-{target.name}-{phase}.txt"
        wait_quiet(QUIET_WAIT_S)
        argv = [str(spy), "record", "--format", "raw", "--nonblocking", "--rate", "250"]
        argv += ["--pid", str(pid), "--output", str(raw)]
        spy_proc = subprocess.Popen(
            pinned(LOAD_CORE, argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(1.0)  # let py-spy attach
        try:
            if phase == "stream":
                stream_run(target, emu, {"max_streams": 1000, "budget_s": cfg["c100_s"]})
            else:
                load = wrk(target, emu, 1 if phase == "c1" else 100, cfg["c100_s"])
                result[f"{phase}_rps_while_sampled"] = load["rps"]
        finally:
            spy_proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            _, err = spy_proc.communicate(timeout=60)
        if not raw.exists():
            result[phase] = {"error": err.decode(errors="replace")[-500:]}
            continue
        result[phase] = summarize_profile(raw.read_text())
    return result


#: Frames above the event loop (the CLI, uvicorn's startup, asyncio.run): every sample has them.
_BOOT_END = "Runner.run (asyncio/runners.py"
_LOOP = "(event loop: uvloop's C code, under Runner.run)"


def summarize_profile(text: str, top: int = 20) -> dict[str, Any]:
    """py-spy's raw output (``frame;frame;... count``, a frame ``func (pkg/file.py:LINE)``) to
    the share of samples per package and per function: self (the leaf frame) and inclusive
    (anywhere in the stack, below the event loop)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f for f in stack.split(";") if f.strip()]
        cut = max((i for i, f in enumerate(frames) if f.startswith(_BOOT_END)), default=-1)
        if cut >= 0 and cut == len(frames) - 1:
            own[_LOOP] += count
            packages["event loop (uvloop, C)"] += count
            continue
        frames = frames[cut + 1 :]
        if not frames:
            own["(no Python frame)"] += count
            packages["(no Python frame)"] += count
            continue
        own[_frame_name(frames[-1])] += count
        packages[_frame_package(frames[-1])] += count
        for name in {_frame_name(f) for f in frames}:
            inclusive[name] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "self": [(n, c / total) for n, c in own.most_common(top)],
        "inclusive": [(n, c / total) for n, c in inclusive.most_common(top)],
        "self_by_package": [(n, c / total) for n, c in packages.most_common(top)],
    }


def _frame_name(frame: str) -> str:
    func, _, where = frame.partition(" (")
    return f"{func} ({where.rsplit(':', 1)[0]})"


def _frame_package(frame: str) -> str:
    """``aiohttp``, ``llmrouter``, ``llmrouter_gateway``...; a top-level stdlib module (no
    directory in py-spy's short path) is ``stdlib``, a stdlib package is e.g. ``asyncio``."""
    _, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    return path.split("/", 1)[0] if "/" in path else "stdlib"


def memtrace_run(emu: Emulator, files: dict[str, Path], tmp: Path, total: int) -> str:
    """Our gateway under tracemalloc (bench/gateway/memtrace.py) through a soak of ``total``
    requests at c=100, with a snapshot at 0, 10%, 30%, 60% and 100%: which allocation sites
    hold the memory a soak adds. Returns the snapshots' text."""
    port = free_port()
    out = tmp / "memtrace"
    env = _env()
    env.update(
        BENCH_UPSTREAM_KEY=UPSTREAM_KEY,
        BENCH_MASTER_KEY=MASTER_KEY,
        LLMROUTER_CONFIG=str(files["toml"]),
    )
    argv = [str(PROJECT_PY), str(BENCH / "gateway" / "memtrace.py"), "--port", str(port)]
    argv += ["--out", str(out)]
    proc = subprocess.Popen(pinned(SERVER_CORE, argv), env=env, cwd=tmp)
    target = Target("memtrace", port, ALIAS, MASTER_KEY, proc=proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if post(target, stream=False, timeout=5)[0] == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the memtrace server did not come up")
            time.sleep(0.25)
        base = emu.settle()["total"]
        marks = [total // 10, total * 3 // 10, total * 6 // 10, total]
        rss: list[tuple[int, float]] = []
        pid = target.serving_pid()
        assert pid is not None

        def sampler(load: subprocess.Popen[bytes]) -> None:
            proc.send_signal(signal.SIGUSR1)
            rss.append((0, rss_mb(pid)))
            for mark in marks:
                while emu.served() - base < mark and load.poll() is None:
                    time.sleep(0.02)
                proc.send_signal(signal.SIGUSR1)
                rss.append((mark, rss_mb(pid)))
            with contextlib.suppress(ProcessLookupError):
                load.send_signal(signal.SIGINT)

        threads: list[threading.Thread] = []

        def start(load: subprocess.Popen[bytes]) -> None:
            threads.append(threading.Thread(target=sampler, args=(load,), daemon=True))
            threads[-1].start()

        res = wrk(target, emu, 100, SOAK_MAX_S * 3, on_start=start)
        for thread in threads:
            thread.join(timeout=10)
        last = out / f"snapshot-{len(marks) + 1}.txt"
        deadline = time.monotonic() + 300  # a snapshot of a big heap takes a while
        while not last.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        time.sleep(0.5)  # written, not half-written
        parts = [
            f"memtrace: {res['requests']:,} requests at c=100 ({res['rps']:,.0f} req/s under "
            f"tracemalloc), verified {res['verified']}; RSS (tracemalloc's own tables included): "
            + ", ".join(f"{n:,}: {mb:.1f} MB" for n, mb in rss)
        ]
        for i, mark in enumerate([0, *marks], start=1):
            snap = out / f"snapshot-{i}.txt"
            if snap.exists():
                parts.append(f"\n=== snapshot {i}, after {mark:,} requests\n{snap.read_text()}")
        return "\n".join(parts)
    finally:
        target.stop()


# --- the run ------------------------------------------------------------------------------------

SERVERS = ["litellm", "llmrouter-uvicorn", "llmrouter-granian"]
TARGETS = ["direct", *SERVERS]


def bench_server(
    name: str, emu: Emulator, files: dict[str, Path], tmp: Path, cfg: dict[str, Any], do_soak: bool
) -> dict[str, Any]:
    direct = Target("direct", emu.port, MODEL, UPSTREAM_KEY)
    target = launch(name, emu, files, tmp)
    out: dict[str, Any] = {"startup_s": target.started_s}
    try:
        pid = target.serving_pid()
        out["processes"] = len(target.pids())
        out["rss_mb_idle"] = rss_mb(pid) if pid else float("nan")
        out["smoke"] = smoke(target)
        print(f"  {name}: up in {target.started_s:.1f} s, answers checked", flush=True)
        # c=1, paired with the emulator alone in alternating order, so drift hits both alike
        wrk(target, emu, 1, cfg["warmup_s"])
        rounds: list[dict[str, Any]] = []
        for i in range(cfg["latency_rounds"]):
            pair: dict[str, Any] = {}
            for who in (direct, target) if i % 2 == 0 else (target, direct):
                pair[who.name] = measured(who, emu, 1, cfg["latency_s"])
            pair["added_p50_us"] = pair[name]["p50_us"] - pair["direct"]["p50_us"]
            rounds.append(pair)
        out["c1_rounds"] = rounds
        out["c1_added_p50_us"] = statistics.median(r["added_p50_us"] for r in rounds)
        out["c1_p50_us"] = statistics.median(r[name]["p50_us"] for r in rounds)
        out["c1_direct_p50_us"] = statistics.median(r["direct"]["p50_us"] for r in rounds)
        print(f"  {name}: c=1 p50 +{out['c1_added_p50_us']:.0f} us over direct", flush=True)
        wrk(target, emu, 100, cfg["warmup_s"])
        out["c100"] = measured(target, emu, 100, cfg["c100_s"])
        print(
            f"  {name}: c=100 {out['c100']['rps']:,.0f} req/s, "
            f"{out['c100'].get('server_cpu_us_per_req', 0):,.0f} us CPU/req",
            flush=True,
        )
        for attempt in range(1, RETRIES + 2):
            out["stream"] = stream_run(target, emu, cfg["stream"])
            out["stream"]["attempts"] = attempt
            if out["stream"]["other_load"][SERVER_CORE] <= NOISY:
                break
        print(
            f"  {name}: stream {out['stream']['server_cpu_us_per_chunk']:.1f} us CPU/chunk",
            flush=True,
        )
        if do_soak:
            out["soak"] = soak(target, emu, cfg["soak"])
            s = out["soak"]
            print(
                f"  {name}: soak {s['requests']:,} requests, RSS {s['rss_mb_after']:.1f} MB, "
                f"slope {s['slope_second_half_kb_per_1k']:.2f} KB/1k",
                flush=True,
            )
        pid = target.serving_pid()
        out["rss_mb_after"] = rss_mb(pid) if pid else float("nan")
        out["tree_rss_mb_after"] = sum(rss_mb(p) for p in target.pids())
        out["peak_rss_mb"] = rss_mb(pid, "VmHWM") if pid else float("nan")
        out["target"] = target
    except BaseException:
        target.stop()
        raise
    return out


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends the run through the ``finally`` blocks, so no server is left behind."""
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke test)")
    parser.add_argument("--reinstall", action="store_true", help="recreate bench/.venv")
    parser.add_argument("--only", default=None, help=f"comma-separated targets of {TARGETS}")
    parser.add_argument("--profile", action="store_true", help="py-spy our gateway in any case")
    parser.add_argument("--no-profile", action="store_true", help="never run py-spy")
    parser.add_argument("--report", default=None, help="print the report of a saved gateway.json")
    parser.add_argument(
        "--memtrace",
        type=int,
        default=None,
        metavar="N",
        help="only: our gateway under tracemalloc through an N-request soak (what the memory "
        "it adds is made of); writes bench/results/gateway.memtrace.txt",
    )
    parser.add_argument(
        "--engine",
        choices=("native", "aiohttp"),
        default="native",
        help="our gateway's upstream engine ([gateway] engine); other than the default, the "
        "results go to bench/results/gateway-<engine>.md/.json",
    )
    args = parser.parse_args()
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    chosen = TARGETS if args.only is None else [t.strip() for t in args.only.split(",") if t]
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; choose from {TARGETS}")
    signal.signal(signal.SIGTERM, _terminated)
    cfg = config(args.quick)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(LOAD_CORE)})  # this script's own polling stays off core 1
    started = time.perf_counter()
    ensure_tools(args.reinstall)
    command = "python3 bench/bench_gateway.py" + (" --quick" if args.quick else "")
    if args.only:
        command += f" --only {args.only}"
    if args.engine != "native":
        command += f" --engine {args.engine}"
    stem = "gateway" if args.engine == "native" else f"gateway-{args.engine}"
    data: dict[str, Any] = {
        "command": command,
        "engine": args.engine,
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "config": cfg,
        "machine": machine(),
        "versions": versions(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "targets": {},
        "unavailable": {},
    }
    print(f"gateway benchmark: {data['machine']}", flush=True)
    emu = Emulator()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    try:
        files = _write_configs(tmp, emu, args.engine)
        if args.memtrace:
            text = memtrace_run(emu, files, tmp, args.memtrace)
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "gateway.memtrace.txt").write_text(text + "\n")
            print(text)
            return 0
        direct = Target("direct", emu.port, MODEL, UPSTREAM_KEY)
        if "direct" in chosen:
            smoke(direct)
            wrk(direct, emu, 100, cfg["warmup_s"])
            data["targets"]["direct"] = {
                "c100": measured(direct, emu, 100, cfg["c100_s"]),
                "c1": measured(direct, emu, 1, cfg["latency_s"]),
            }
            print(
                f"  direct: c=100 {data['targets']['direct']['c100']['rps']:,.0f} req/s", flush=True
            )
        for name in [s for s in SERVERS if s in chosen]:
            print(f"{name}", flush=True)
            try:
                res = bench_server(name, emu, files, tmp, cfg, do_soak=name != "litellm")
            except RuntimeError as exc:
                # a server that cannot start is reported, not fatal: the others still run
                print(f"  {name}: NOT MEASURED: {exc}", flush=True)
                data["unavailable"][name] = str(exc)[-1500:]
                continue
            target = res.pop("target")
            try:
                missed = name == "llmrouter-uvicorn" and not all(
                    ok for _, ok, _ in goals({**data, "targets": {**data["targets"], name: res}})
                )
                if (
                    not args.no_profile
                    and name.startswith("llmrouter")
                    and (args.profile or missed)
                ):
                    print(f"  {name}: profiling with py-spy", flush=True)
                    res["profile"] = profile(target, emu, cfg, tmp)
            finally:
                target.stop()
            data["targets"][name] = res
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / f"{stem}.tmp").write_text(json.dumps(data, indent=1, default=str) + "\n")
    finally:
        emu.close()
        if args.memtrace:
            shutil.rmtree(tmp, ignore_errors=True)
    data["elapsed_s"] = time.perf_counter() - started
    text = report(data)
    if args.only is None:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{stem}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
        (RESULTS / f"{stem}.md").write_text(text)
    else:
        (RESULTS / f"{stem}.tmp").write_text(json.dumps(data, indent=1, default=str) + "\n")
    print()
    print(text)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


# --- report -------------------------------------------------------------------------------------


def goals(data: dict[str, Any], name: str = "llmrouter-uvicorn") -> list[tuple[str, bool, str]]:
    """(goal, met, the numbers behind it) for one of our servers."""
    t = data["targets"]
    ours = t.get(name)
    lite = t.get("litellm")
    out: list[tuple[str, bool, str]] = []
    if ours is None:
        return out
    if lite is not None:
        ratio = ours["c100"]["rps"] / lite["c100"]["rps"]
        out.append(
            (
                f">= {GOAL_RPS_RATIO:.0f}x LiteLLM proxy's req/s at c=100",
                ratio >= GOAL_RPS_RATIO,
                f"{ratio:.1f}x ({ours['c100']['rps']:,.0f} vs {lite['c100']['rps']:,.0f} req/s)",
            )
        )
    added = ours["c1_added_p50_us"]
    out.append(
        (
            f"<= {GOAL_ADDED_P50_US / 1000:.1f} ms added median latency at c=1",
            added <= GOAL_ADDED_P50_US,
            f"+{added / 1000:.3f} ms (p50 {ours['c1_p50_us'] / 1000:.3f} ms vs direct "
            f"{ours['c1_direct_p50_us'] / 1000:.3f} ms)",
        )
    )
    per_chunk = ours["stream"]["server_cpu_us_per_chunk"]
    out.append(
        (
            f"<= {GOAL_STREAM_CPU_US:.0f} us gateway CPU per streamed chunk",
            per_chunk <= GOAL_STREAM_CPU_US,
            f"{per_chunk:.1f} us",
        )
    )
    s = ours.get("soak")
    if s is not None:
        out.append(
            (
                f"< {GOAL_RSS_MB:.0f} MB RSS after the soak",
                s["tree_rss_mb_after"] < GOAL_RSS_MB,
                f"{s['rss_mb_after']:.1f} MB (all processes {s['tree_rss_mb_after']:.1f} MB; "
                f"peak {s['peak_rss_mb']:.1f} MB)",
            )
        )
        growth = s["slope_second_half_kb_per_1k"] * 100 / 1024  # MB per 100k requests
        out.append(
            (
                f"flat memory over the {s['requests']:,}-request soak (second half's slope "
                f"projects < {FLAT_MB_PER_100K:g} MB per 100k requests)",
                growth < FLAT_MB_PER_100K,
                f"{growth:+.2f} MB per 100k (whole soak from 10%: "
                f"{s['slope_all_kb_per_1k'] * 100 / 1024:+.2f} MB per 100k)",
            )
        )
    verified = all(
        r["verified"]
        for tn, res in t.items()
        for r in _runs(res)
        if tn in ("direct", name, "litellm")
    )
    out.append(("every run verified against the emulator's counters", verified, ""))
    return out


def _runs(res: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("c100", "c1", "soak", "stream"):
        if key in res:
            yield res[key]
    for pair in res.get("c1_rounds", []):
        yield from (v for v in pair.values() if isinstance(v, dict))


def _f(value: Any, fmt: str = ",.0f") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, fmt)


def report(data: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    m, v, cfg, t = data["machine"], data["versions"], data["config"], data["targets"]
    add(f"Machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}, {m['os']}.")
    for group in ("project (.venv)", "bench (bench/.venv)"):
        add(f"Versions, {group}: " + ", ".join(f"{k} {x}" for k, x in v[group].items()) + ".")
    add(f"granian {v['granian']}; {v['wrk']}.")
    engine = data.get("engine", "aiohttp (runs before [gateway] engine existed)")
    add(f"Our gateway's upstream engine ([gateway] engine): {engine}.")
    add(
        f"Run: `{data['command']}` on {data.get('date_utc', '?')} ({data.get('elapsed_s', 0):.0f} s; "
        f"load average before: {' '.join(data.get('loadavg_before', []))}). Servers pinned to core "
        f"{SERVER_CORE}, one worker each; the emulator, wrk (1 thread) and the harness on core "
        f"{LOAD_CORE}."
    )
    add("")
    if data.get("unavailable"):
        for name, why in data["unavailable"].items():
            add(f"**{name} was not measured**: {why.splitlines()[0]}")
        add("")
    add("### Non-streamed chat at c=100 (wrk, one thread, 100 connections)")
    add("")
    add(
        "| target | req/s | vs LiteLLM | p50 ms | p99 ms | server CPU us/req | server core busy "
        "| emulator CPU us/req | wrk CPU us/req | other tenants core 0 / 1 | verified | limited by |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    lite_rps = t.get("litellm", {}).get("c100", {}).get("rps")
    for name in TARGETS:
        if name not in t:
            continue
        r = t[name]["c100"]
        ratio = f"{r['rps'] / lite_rps:.1f}x" if lite_rps else "-"
        cpu_req = r.get("server_cpu_us_per_req") if name != "direct" else None
        util = f"{r['server_util']:.0%}" if name != "direct" else "-"
        add(
            f"| {name} | {_f(r['rps'])} | {ratio} | {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} "
            f"| {_f(cpu_req)} | {util} | {_f(r.get('emulator_cpu_us_per_req'))} "
            f"| {_f(r.get('wrk_cpu_us_per_req'))} | {_other(r)} "
            f"| {_yes(r)} ({r['requests']:,} answers, "
            f"{r['served']:,} served) | {r['limit']} |"
        )
    add("")
    add(
        f"{cfg['c100_s']} s per target after a {cfg['warmup_s']} s warm-up. 'verified': no wrk "
        "error, every answer a 200 holding the emulator's reply, and the emulator served the "
        "answered requests (plus at most one per connection in flight when wrk stopped). A run "
        f"during which other tenants of this shared machine used more than {NOISY:.0%} of a core "
        f"it depends on is run again, up to {RETRIES} more times ('tries')."
    )
    add("")
    add("### Added latency at c=1 (wrk, one connection; median of rounds, paired with direct)")
    add("")
    add(
        "| target | p50 ms | direct p50 ms | added p50 ms | p99 ms | server CPU us/req "
        "| rounds (added us) | most other-tenant load, core 0 / 1 |"
    )
    add("|---|---:|---:|---:|---:|---:|---|---|")
    for name in SERVERS:
        if name not in t:
            continue
        r = t[name]
        p99 = statistics.median(x[name]["p99_us"] for x in r["c1_rounds"]) / 1000
        cpu = statistics.median(x[name]["server_cpu_us_per_req"] for x in r["c1_rounds"])
        add(
            f"| {name} | {r['c1_p50_us'] / 1000:.3f} | {r['c1_direct_p50_us'] / 1000:.3f} "
            f"| {r['c1_added_p50_us'] / 1000:+.3f} | {p99:.3f} | {_f(cpu)} "
            f"| {', '.join(format(x['added_p50_us'], '+.0f') for x in r['c1_rounds'])} "
            f"| {_worst_other(r['c1_rounds'])} |"
        )
    add("")
    add(
        f"{cfg['latency_rounds']} round(s) of {cfg['latency_s']} s per side; wrk's latency is "
        "client-side, from sending the request to the last byte of the answer."
    )
    add("")
    add(f"### Streaming ({STREAM_TOKENS:,}-chunk streams, one at a time)")
    add("")
    add(
        "| target | streams | server CPU us/chunk | vs LiteLLM | wall us/chunk | events received "
        "| verified | other tenants core 1 |"
    )
    add("|---|---:|---:|---:|---:|---:|---|---:|")
    lite_chunk = t.get("litellm", {}).get("stream", {}).get("server_cpu_us_per_chunk")
    for name in SERVERS:
        if name not in t:
            continue
        s = t[name]["stream"]
        ratio = f"{lite_chunk / s['server_cpu_us_per_chunk']:.0f}x less" if lite_chunk else "-"
        add(
            f"| {name} | {s['streams']} | {s['server_cpu_us_per_chunk']:.1f} | {ratio} "
            f"| {s['wall_us_per_chunk']:.1f} | {s['events_received']:,} | {_yes(s)} "
            f"| {s['other_load'][SERVER_CORE]:.0%} |"
        )
    add("")
    add(
        "Server CPU over the streams / chunks the emulator sent (the request's own cost is "
        "included, spread over its chunks)."
    )
    add("")
    add("### Memory")
    add("")
    add(
        "| target | processes | RSS idle MB | RSS after all runs MB | all processes MB | peak (VmHWM) MB | startup s |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|")
    for name in SERVERS:
        if name not in t:
            continue
        r = t[name]
        add(
            f"| {name} | {r['processes']} | {r['rss_mb_idle']:.1f} | {r['rss_mb_after']:.1f} "
            f"| {r['tree_rss_mb_after']:.1f} | {r['peak_rss_mb']:.1f} | {r['startup_s']:.1f} |"
        )
    add("")
    for name in SERVERS:
        s = t.get(name, {}).get("soak")
        if s is None:
            continue
        add(
            f"Soak of {name}: {s['requests']:,} requests at c=100 in {s['duration_us'] / 1e6:.0f} s "
            f"({s['rps']:,.0f} req/s, {_yes(s)}), RSS of the serving process sampled every "
            f"{cfg['soak']['every']:,} requests:"
        )
        add("")
        add("| requests | " + " | ".join(f"{x['requests'] // 1000}k" for x in s["samples"]) + " |")
        add("|---|" + "---:|" * len(s["samples"]))
        add("| RSS MB | " + " | ".join(f"{x['rss_mb']:.1f}" for x in s["samples"]) + " |")
        add("")
        add(
            f"Slope: {s['slope_second_half_kb_per_1k']:+.2f} KB per 1,000 requests over the second "
            f"half, {s['slope_all_kb_per_1k']:+.2f} KB per 1,000 from 10% on (least squares)."
        )
        add("")
    for name in SERVERS:
        prof = t.get(name, {}).get("profile")
        if not prof:
            continue
        add(f"### Where {name}'s time goes (py-spy, serving process, CPU samples)")
        add("")
        for phase, title in (
            ("c1", "non-streamed at c=1"),
            ("c100", "non-streamed at c=100"),
            ("stream", f"streaming ({STREAM_TOKENS:,}-chunk streams)"),
        ):
            p = prof.get(phase) or {}
            if not p.get("samples"):
                add(f"{title}: no samples ({p.get('error', '')})")
                continue
            add(f"{title} ({p['samples']:,} samples):")
            add("")
            add(
                "| by package (self) | share | function (inclusive) | share | function (self) | share |"
            )
            add("|---|---:|---|---:|---|---:|")
            for i in range(
                min(15, max(len(p[k]) for k in ("self_by_package", "inclusive", "self")))
            ):
                cells = []
                for key in ("self_by_package", "inclusive", "self"):
                    items = p[key]
                    if i < len(items):
                        cells += [f"`{items[i][0]}`", f"{items[i][1]:.1%}"]
                    else:
                        cells += ["", ""]
                add("| " + " | ".join(cells) + " |")
            add("")
    for name in ("llmrouter-uvicorn", "llmrouter-granian"):
        checks = goals(data, name)
        if not checks:
            continue
        add(f"### Goals ({name})")
        add("")
        for text, ok, numbers in checks:
            add(f"- [{'x' if ok else ' '}] {text}" + (f": {numbers}" if numbers else ""))
        add("")
    return "\n".join(lines).rstrip() + "\n"


def _worst_other(rounds: list[dict[str, Any]]) -> str:
    runs = [x for pair in rounds for x in pair.values() if isinstance(x, dict)]
    return " / ".join(
        f"{max(x['other_load'][c] for x in runs):.0%}" for c in (LOAD_CORE, SERVER_CORE)
    )


def _other(r: dict[str, Any]) -> str:
    """CPU that other tenants of the machine used on core 0 / core 1 during a run (and how many
    tries it took to get a run they left alone)."""
    other = r.get("other_load", {})
    text = " / ".join(f"{other[c]:.0%}" if c in other else "-" for c in (LOAD_CORE, SERVER_CORE))
    if r.get("attempts", 1) > 1:
        text += f" ({r['attempts']} tries)"
    return text


def _yes(r: dict[str, Any]) -> str:
    return "yes" if r.get("verified") else "NO"


if __name__ == "__main__":
    raise SystemExit(main())
