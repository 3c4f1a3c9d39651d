"""How fast the emulator answers, as the fastest clients see it: is it ever the bottleneck?

    python bench/emulator_throughput.py                    # the emulator of this tree
    python bench/emulator_throughput.py --compare old=/tmp/x/old_testing   # and another version

bench/run.py measures clients against the emulator; this measures the emulator itself, with the
two raw clients that go fastest there, so a change to the emulator's server can be checked
against the request rates bench/run.py reports (docs/performance.md). The emulator runs as
``python -m llmrouter.testing --no-log`` in a subprocess pinned to core 0 (``taskset``), as in
bench/run.py; the clients run in this process, pinned to core 1. Each round starts a fresh
server per version (versions alternate, so drift on a shared machine hits both alike) and runs:

- ``aiohttp chat``: raw ``aiohttp.ClientSession`` (``TCPConnector(limit=100)``), 100 tasks,
  non-streamed chat completions;
- ``aiohttp stream``: the same, streamed chat completions of ``--stream-tokens`` tokens each
  (requests/s and chunks/s);
- ``aiohttp long stream``: one client reading 20 streams of 2,000 chunks one after another (the
  streaming row of bench/run.py), reported as microseconds per chunk;
- ``httpx chat`` and ``httpx stream``: raw ``httpx.AsyncClient`` (100 connections), 100 tasks.

Every number is the median over ``--rounds`` rounds (3 by default), with the CPU time the server
process and this client spent per request: a server that needs more CPU per request than the
client is the bottleneck however many cores there are (on a shared machine the two may well
share one). ``--compare LABEL=PACKAGE_DIR`` (repeatable) also measures a copy of the
``llmrouter.testing`` package saved under another name: its parent directory goes on the
server's ``PYTHONPATH`` and ``python -m <its name>`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SERVER_CORE = "0"
CLIENT_CORE = 1
CONCURRENCY = 100
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Hello there, how are you?"}]}
HEADERS = {"authorization": "Bearer bench-key"}
TOKENS_HEADER = "x-emulator-tokens"
LONG_STREAM = 2000
#: Streams of LONG_STREAM chunks read one after another (enough for the server's CPU time,
#: counted in clock ticks of 10 ms, to mean something per chunk).
LONG_STREAMS = 20
#: No level runs longer than this (seconds); a cut level reports the rate it reached.
TIME_LIMIT = 30.0


@dataclass
class Server:
    """A version of the emulator to start: a label, a module to run and extra import paths."""

    label: str
    module: str
    pythonpath: str | None = None
    proc: subprocess.Popen[str] | None = field(default=None, repr=False)
    url: str = ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (self.pythonpath, env.get("PYTHONPATH")) if p
            )
        argv = [sys.executable, "-m", self.module, "--no-log"]
        if shutil.which("taskset"):
            argv = ["taskset", "-c", SERVER_CORE, *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise SystemExit(f"{self.label}: the emulator did not start (got {self.url!r})")

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self.proc = None


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (0 where there is none)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Level:
    """One measured level: rate, chunks, and the CPU time the server and this client spent."""

    requests: int
    seconds: float
    chunks: int
    cut: bool
    server_cpu: float
    client_cpu: float

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rps": self.requests / self.seconds,
            "cut": self.cut,
            "server_us": self.server_cpu / self.requests * 1e6,
            "client_us": self.client_cpu / self.requests * 1e6,
        }
        if self.chunks:
            out["chunks_s"] = self.chunks / self.seconds
        return out


async def _drive(total: int, one: Callable[[], Awaitable[int]], server_pid: int) -> Level:
    """``total`` calls of ``one`` over CONCURRENCY tasks, stopped at TIME_LIMIT."""
    left = total
    done = 0
    chunks = 0
    cpu0, server0 = time.process_time(), _cpu_seconds(server_pid)
    start = time.perf_counter()
    deadline = start + TIME_LIMIT
    cut = False

    async def worker() -> None:
        nonlocal left, done, chunks, cut
        while left > 0:
            if time.perf_counter() > deadline:
                cut = True
                return
            left -= 1
            got = await one()  # not ``chunks += await ...``: that reads chunks before awaiting
            chunks += got
            done += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    seconds = time.perf_counter() - start
    return Level(
        requests=done,
        seconds=seconds,
        chunks=chunks,
        cut=cut,
        server_cpu=_cpu_seconds(server_pid) - server0,
        client_cpu=time.process_time() - cpu0,
    )


def _count_events(raw_lines: Sequence[bytes]) -> int:
    n = 0
    for line in raw_lines:
        if line.startswith(b"data: {"):
            n += 1
    return n


async def aiohttp_levels(
    url: str, pid: int, requests: int, streams: int, tokens: int
) -> dict[str, Any]:
    import aiohttp

    out: dict[str, Any] = {}
    endpoint = url + "/chat/completions"
    stream_body = {**BODY, "stream": True}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CONCURRENCY), headers=HEADERS
    ) as session:

        async def chat() -> int:
            async with session.post(endpoint, json=BODY) as response:
                response.raise_for_status()
                payload = json.loads(await response.read())
            if not payload["choices"][0]["message"]["content"]:
                raise RuntimeError("empty reply")
            return 0

        async def stream(n_tokens: int) -> int:
            async with session.post(
                endpoint, json=stream_body, headers={TOKENS_HEADER: str(n_tokens)}
            ) as response:
                response.raise_for_status()
                lines = [raw async for raw in response.content]
            if not lines or lines[-2].rstrip() != b"data: [DONE]":
                raise RuntimeError("stream did not end with [DONE]")
            return _count_events(lines)

        # warm-up: one request, then one wave that opens the pool's connections
        await chat()
        await asyncio.gather(*(chat() for _ in range(CONCURRENCY)))
        out["aiohttp chat"] = (await _drive(requests, chat, pid)).row()
        out["aiohttp stream"] = (await _drive(streams, lambda: stream(tokens), pid)).row()
        # one client, long streams back to back (bench/run.py's streaming row)
        spent = []
        server0, total = _cpu_seconds(pid), 0
        for _ in range(LONG_STREAMS):
            start = time.perf_counter()
            got = await stream(LONG_STREAM)
            spent.append((time.perf_counter() - start) / got * 1e6)
            total += got
        out["aiohttp long stream"] = {
            "us_per_chunk": statistics.median(spent),
            "server_us": (_cpu_seconds(pid) - server0) / total * 1e6,
        }
    return out


async def httpx_levels(
    url: str, pid: int, requests: int, streams: int, tokens: int
) -> dict[str, Any]:
    import httpx

    out: dict[str, Any] = {}
    endpoint = url + "/chat/completions"
    stream_body = {**BODY, "stream": True}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(headers=HEADERS, limits=limits, timeout=60) as client:

        async def chat() -> int:
            response = await client.post(endpoint, json=BODY)
            response.raise_for_status()
            if not json.loads(response.content)["choices"][0]["message"]["content"]:
                raise RuntimeError("empty reply")
            return 0

        async def stream() -> int:
            async with client.stream(
                "POST", endpoint, json=stream_body, headers={TOKENS_HEADER: str(tokens)}
            ) as response:
                response.raise_for_status()
                lines = [line.encode() async for line in response.aiter_lines()]
            return _count_events(lines)

        await chat()
        await asyncio.gather(*(chat() for _ in range(CONCURRENCY)))
        out["httpx chat"] = (await _drive(requests, chat, pid)).row()
        out["httpx stream"] = (await _drive(streams, stream, pid)).row()
    return out


def _versions() -> dict[str, str]:
    out = {}
    for name in ("h11", "aiohttp", "httpx", "httpcore"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20_000, help="aiohttp chat requests")
    parser.add_argument("--streams", type=int, default=4_000, help="aiohttp streamed requests")
    parser.add_argument("--stream-tokens", type=int, default=20, help="tokens per stream")
    parser.add_argument("--httpx-requests", type=int, default=4_000)
    parser.add_argument("--httpx-streams", type=int, default=1_000)
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=PACKAGE_DIR",
        help="also measure this copy of llmrouter.testing (repeatable)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers here")
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity") and shutil.which("taskset"):
        os.sched_setaffinity(0, {CLIENT_CORE})
    servers = [Server("new", "llmrouter.testing")]
    for spec in args.compare:
        label, sep, package = spec.partition("=")
        if not sep or not os.path.isdir(package):
            parser.error(f"--compare wants LABEL=PACKAGE_DIR, got {spec!r}")
        package = os.path.abspath(package)
        servers.insert(-1, Server(label, os.path.basename(package), os.path.dirname(package)))

    rounds: dict[str, list[dict[str, Any]]] = {s.label: [] for s in servers}
    for n in range(args.rounds):
        order = servers if n % 2 == 0 else servers[::-1]
        for server in order:
            server.start()
            assert server.proc is not None
            pid = server.proc.pid
            try:
                result = asyncio.run(
                    aiohttp_levels(server.url, pid, args.requests, args.streams, args.stream_tokens)
                )
                result |= asyncio.run(
                    httpx_levels(
                        server.url, pid, args.httpx_requests, args.httpx_streams, args.stream_tokens
                    )
                )
            finally:
                server.stop()
            rounds[server.label].append(result)
            print(f"round {n + 1} {server.label}: {json.dumps(result)}", file=sys.stderr)

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {_versions()}")
    print(
        f"rounds: {args.rounds} (medians); c={CONCURRENCY}; aiohttp {args.requests} chat + "
        f"{args.streams} streams of {args.stream_tokens} tokens; httpx {args.httpx_requests} "
        f"chat + {args.httpx_streams} streams; long stream {LONG_STREAM} chunks"
    )
    rows = [
        ("aiohttp chat", "rps", "req/s"),
        ("aiohttp chat", "server_us", "server CPU us/req"),
        ("aiohttp chat", "client_us", "client CPU us/req"),
        ("aiohttp stream", "rps", "req/s"),
        ("aiohttp stream", "chunks_s", "chunks/s"),
        ("aiohttp stream", "server_us", "server CPU us/req"),
        ("aiohttp stream", "client_us", "client CPU us/req"),
        ("aiohttp long stream", "us_per_chunk", "wall us/chunk"),
        ("aiohttp long stream", "server_us", "server CPU us/chunk"),
        ("httpx chat", "rps", "req/s"),
        ("httpx chat", "server_us", "server CPU us/req"),
        ("httpx chat", "client_us", "client CPU us/req"),
        ("httpx stream", "rps", "req/s"),
        ("httpx stream", "server_us", "server CPU us/req"),
        ("httpx stream", "client_us", "client CPU us/req"),
    ]
    labels = [s.label for s in servers]
    ratios = [f"new/{label}" for label in labels[:-1]]
    print("| level | unit | " + " | ".join(labels + ratios) + " |")
    print("|---|---|" + "---:|" * (len(labels) + len(ratios)))
    summary: dict[str, dict[str, float]] = {}
    for level, key, unit in rows:
        cells = []
        values = []
        for label in labels:
            got = [r[level][key] for r in rounds[label] if r[level].get(key) is not None]
            value = statistics.median(got) if got else float("nan")
            cut = any(r[level].get("cut") for r in rounds[label])
            values.append(value)
            summary.setdefault(f"{level} {unit}", {})[label] = value
            cells.append(f"{value:,.1f}" + (" (cut)" if cut else ""))
        cells += [f"{values[-1] / value:.2f}x" for value in values[:-1]]
        print(f"| {level} | {unit} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rounds": rounds, "summary": summary, "versions": _versions()}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
