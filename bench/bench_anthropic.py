"""The Anthropic path: llmrouter on Anthropic's wire, against its Together path and the peers.

    python3 bench/bench_anthropic.py            # 5 rounds (about 3 minutes on 2 cores)
    python3 bench/bench_anthropic.py --quick    # 1 round, smaller counts (a smoke test)

Issue 15 asks that llmrouter's Anthropic path cost no more than 1.3x its Together path per call
and per streamed chunk, and be at least 5x cheaper per chunk than the official ``anthropic`` SDK.
Both paths share the core (pool, pipeline, SSE reader); what differs is the plugin (the body
built, the answer read, one stream event -> one chunk) and the wire (Anthropic's streams carry
``event:`` lines and a few bookkeeping events). So the clients, all synchronous:

- ``llmrouter-together``: the reference, exactly ``bench/run.py``'s ``llmrouter`` client
  (``together_ai/...`` on the Together emulator);
- ``llmrouter-anthropic``: ``anthropic/claude-sonnet-4-6`` on the Anthropic emulator;
- ``anthropic-sdk``: ``messages.create``, and ``stream=True`` iterating the raw events;
- ``anthropic-sdk-helper``: ``messages.stream()``'s ``text_stream`` (stream only: the helper
  that also accumulates the message, what the SDK's docs show first);
- ``litellm-anthropic``: ``litellm.completion(model="anthropic/...", api_base=<emulator root>)``
  (LiteLLM posts to ``{api_base}/v1/messages``: the root, not ``.../v1``, which it would double);
- ``httpx-together`` / ``httpx-anthropic``: raw httpx + ``json.loads`` on each wire, the floor:
  their ratio is what the wire itself costs, before any library.

Same method as ``bench/run.py``, whose venv and helpers this reuses: peers in ``bench/.venv``
(``anthropic==2.17.0`` and the plugin are added to it when missing), each emulator a
subprocess pinned to core 0, each client a fresh process pinned to core 1 that talks only to
127.0.0.1, medians over rounds (client order rotated each round), ratios within this one run,
and every client checked against both emulators' request counters (its own must have served
exactly what it sent, the other nothing). Every Anthropic client sends ``max_tokens=4096``: the
SDK requires it, and LiteLLM would otherwise send its cost map's 128000, which the API refuses
for this model. Cost = client CPU (``time.process_time`` in the client's process): the wall
time also holds the emulators' own work, which differs between the two emulators.

The tables go to stdout and ``bench/results/anthropic.md`` (raw numbers: ``anthropic.json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import worker  # bench/worker.py (stdlib-only at import)

if TYPE_CHECKING:
    from anthropic.types import MessageParam

BENCH = Path(__file__).resolve().parent
MODEL = "claude-sonnet-4-6"
ROUTE = "anthropic/" + MODEL
MAX_TOKENS = 4096
#: The wire version the raw httpx client sends (as LiteLLM does; llmrouter and the SDK send
#: the current one with their own headers).
RAW_VERSION = "2023-06-01"
#: worker.MESSAGES typed as the SDK's parameter (so its overloads resolve for a type checker).
SDK_MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say hello"}]
#: client -> the emulator it talks to; in the order the report lists them.
CLIENTS: dict[str, str] = {
    "httpx-together": "together",
    "httpx-anthropic": "anthropic",
    "llmrouter-together": "together",
    "llmrouter-anthropic": "anthropic",
    "anthropic-sdk": "anthropic",
    "anthropic-sdk-helper": "anthropic",
    "litellm-anthropic": "anthropic",
}
#: What must be importable in bench/.venv, and what installs it (a venv made before these
#: joined run.py's PEERS lacks them).
NEEDS = {"anthropic": "anthropic==2.17.0", "llmrouter_anthropic": "plugins/anthropic"}
VERSIONS = [
    "httpx",
    "pydantic",
    "pydantic-core",
    "llmrouter",
    "llmrouter-anthropic",
    "anthropic",
    "litellm",
]


# --- clients (run in the worker process, inside bench/.venv) ------------------------------------


class HttpxAnthropicClient(worker.Client):
    """Raw httpx on Anthropic's wire: the floor for that wire."""

    name = "httpx-anthropic"

    def setup(self) -> None:
        import httpx

        self.sync = httpx.Client(
            headers={"x-api-key": worker.KEY, "anthropic-version": RAW_VERSION}
        )
        self.body = {"model": MODEL, "max_tokens": MAX_TOKENS, "messages": worker.MESSAGES}
        self.endpoint = self.url + "/v1/messages"

    def call(self) -> None:
        response = self.sync.post(self.endpoint, json=self.body)
        response.raise_for_status()
        worker._check(json.loads(response.content)["content"][0]["text"])

    def stream(self, tokens: int) -> int:
        n = 0
        body = {**self.body, "stream": True}
        headers = {worker.STREAM_HEADER: str(tokens)}
        with self.sync.stream("POST", self.endpoint, json=body, headers=headers) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue  # event: lines and blank separators
                event = json.loads(line[6:])
                kind = event["type"]
                if kind == "content_block_delta":
                    delta = event["delta"]
                    if delta["type"] == "text_delta" and delta["text"]:
                        n += 1
                elif kind == "message_stop":
                    break
        return n

    def close(self) -> None:
        self.sync.close()


class LLMRouterAnthropicClient(worker.LLMRouterClient):
    """run.py's llmrouter client (its ``Router`` set-up and close) on the Anthropic route."""

    name = "llmrouter-anthropic"

    def call(self) -> None:
        response = self.router.completion(
            ROUTE, worker.MESSAGES, api_base=self.url, api_key=worker.KEY, max_tokens=MAX_TOKENS
        )
        worker._check(response.choices[0].message.content)

    def stream(self, tokens: int) -> int:
        n = 0
        with self.router.completion(
            ROUTE,
            worker.MESSAGES,
            stream=True,
            api_base=self.url,
            api_key=worker.KEY,
            max_tokens=MAX_TOKENS,
            extra_headers={worker.STREAM_HEADER: str(tokens)},
        ) as stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    n += 1
        return n


class AnthropicSDKClient(worker.Client):
    """The official SDK; ``stream`` iterates the raw events of ``create(stream=True)``."""

    name = "anthropic-sdk"

    def setup(self) -> None:
        import anthropic

        self.sync = anthropic.Anthropic(base_url=self.url, api_key=worker.KEY, max_retries=0)

    def call(self) -> None:
        response = self.sync.messages.create(
            model=MODEL,
            max_tokens=MAX_TOKENS,
            messages=SDK_MESSAGES,
        )
        block = response.content[0]
        worker._check(getattr(block, "text", None))

    def stream(self, tokens: int) -> int:
        n = 0
        stream = self.sync.messages.create(
            model=MODEL,
            max_tokens=MAX_TOKENS,
            messages=SDK_MESSAGES,
            stream=True,
            extra_headers={worker.STREAM_HEADER: str(tokens)},
        )
        with stream:
            for event in stream:
                if (
                    event.type == "content_block_delta"
                    and event.delta.type == "text_delta"
                    and event.delta.text
                ):
                    n += 1
        return n

    def close(self) -> None:
        self.sync.close()


class AnthropicSDKHelperClient(AnthropicSDKClient):
    """The SDK's ``messages.stream()`` helper (it also builds the message as it goes)."""

    name = "anthropic-sdk-helper"
    stream_only = True

    def stream(self, tokens: int) -> int:
        n = 0
        with self.sync.messages.stream(
            model=MODEL,
            max_tokens=MAX_TOKENS,
            messages=SDK_MESSAGES,
            extra_headers={worker.STREAM_HEADER: str(tokens)},
        ) as stream:
            for text in stream.text_stream:
                if text:
                    n += 1
        return n


class LiteLLMAnthropicClient(worker.LiteLLMClient):
    name = "litellm-anthropic"

    def call(self) -> None:
        response = self.litellm.completion(
            model=ROUTE,
            messages=worker.MESSAGES,
            api_base=self.url,
            api_key=worker.KEY,
            max_tokens=MAX_TOKENS,
            num_retries=0,
        )
        worker._check(response.choices[0].message.content)

    def stream(self, tokens: int) -> int:
        n = 0
        stream = self.litellm.completion(
            model=ROUTE,
            messages=worker.MESSAGES,
            api_base=self.url,
            api_key=worker.KEY,
            max_tokens=MAX_TOKENS,
            num_retries=0,
            stream=True,
            extra_headers={worker.STREAM_HEADER: str(tokens)},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                n += 1
        return n


ADAPTERS: dict[str, type[worker.Client]] = {
    "httpx-together": worker.HttpxClient,
    "httpx-anthropic": HttpxAnthropicClient,
    "llmrouter-together": worker.LLMRouterClient,
    "llmrouter-anthropic": LLMRouterAnthropicClient,
    "anthropic-sdk": AnthropicSDKClient,
    "anthropic-sdk-helper": AnthropicSDKHelperClient,
    "litellm-anthropic": LiteLLMAnthropicClient,
}


def run_worker(name: str, url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """One client, sequential calls then the long stream (the worker's own loops)."""
    client = ADAPTERS[name](url)
    client.setup()
    out: dict[str, Any] = {"client": name}
    seq = cfg["sequential"]
    if getattr(client, "stream_only", False):
        out["sequential"] = None
    else:
        out["sequential"] = worker._sequential_sync(
            client, seq["warmup"], seq["count"], seq["budget_s"]
        )
    st = cfg["stream"]
    out["stream"] = worker._stream_runs(client.stream, st["tokens"], st["repeats"], st["budget_s"])
    client.close()
    out["peak_rss_mb"] = worker._peak_rss_mb()
    return out


# --- the runner (system python; stdlib + bench/run.py) ------------------------------------------


def config(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "rounds": 1,
            "sequential": {"warmup": 50, "count": 300, "budget_s": 5},
            "stream": {"tokens": 2000, "repeats": 3, "budget_s": 10},
        }
    return {
        "rounds": 5,
        "sequential": {"warmup": 100, "count": 1000, "budget_s": 8},
        "stream": {"tokens": 2000, "repeats": 5, "budget_s": 15},
    }


def ensure_peers(reinstall: bool) -> None:
    """bench/.venv as run.py makes it, plus the Anthropic SDK and plugin if it predates them."""
    import run

    run.ensure_venv(reinstall)
    probe = (
        "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(n) for n in {!r}) else 1)"
    )
    if subprocess.run([str(run.PY), "-c", probe.format(list(NEEDS))], check=False).returncode:
        uv = shutil.which("uv")
        assert uv is not None  # ensure_venv checked
        extras = []
        for target in NEEDS.values():
            extras += ["-e", str(run.ROOT / target)] if "/" in target else [target]
        install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(run.PY)]
        subprocess.run(
            [*install, *extras],
            check=True,
            cwd=run.ROOT,
        )


def versions() -> dict[str, str]:
    import run

    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        f"for n in {VERSIONS!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '-'\n"
        "print(json.dumps(out))"
    )
    out = subprocess.run([str(run.PY), "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def run_client(emus: dict[str, Any], name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    import run

    target = CLIENTS[name]
    before = {k: e.served() for k, e in emus.items()}
    started = time.perf_counter()
    worker_cfg = {k: cfg[k] for k in ("sequential", "stream")}
    argv = [str(run.PY), __file__, "worker", name, emus[target].url, json.dumps(worker_cfg)]
    out = subprocess.run(
        run.pinned(run.CLIENT_CORE, argv),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=run.ROOT,
        env=run.ENV,
    )
    if out.returncode != 0:
        raise RuntimeError(f"client {name} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    served = {k: e.served() - before[k] for k, e in emus.items()}
    sent = result["stream"]["requests"]
    if result["sequential"] is not None:
        sent += result["sequential"]["requests"]
    others = sum(n for k, n in served.items() if k != target)
    result["served"] = served
    result["sent"] = sent
    result["verified"] = served[target] == sent and others == 0
    result["wall_s"] = time.perf_counter() - started
    print(
        f"  {name:22} {result['wall_s']:5.1f} s  served {served} (client sent {sent})"
        f"{'' if result['verified'] else '  NOT VERIFIED'}",
        flush=True,
    )
    return result


def _median(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


def aggregate(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    agg: dict[str, Any] = {}
    for name in CLIENTS:
        runs = [r[name] for r in rounds if name in r]
        seqs = [r["sequential"] for r in runs if r["sequential"] is not None]
        agg[name] = {
            "verified": all(r["verified"] for r in runs),
            "seq_median_ms": _median([s["median_ms"] for s in seqs]),
            "seq_cpu_ms_per_call": _median([s["cpu_ms_per_call"] for s in seqs]),
            "stream_cpu_us_per_chunk": _median([r["stream"]["cpu_us_per_chunk"] for r in runs]),
            "stream_wall_us_per_chunk": _median([r["stream"]["wall_us_per_chunk"] for r in runs]),
            "peak_rss_mb": _median([r["peak_rss_mb"] for r in runs]),
        }
    return agg


def _per_round(
    rounds: list[dict[str, Any]], mine: str, base: str, part: str, key: str
) -> list[float]:
    """``mine`` over ``base`` round by round: the spread is the honest error bar of the ratio
    of medians on a shared machine."""
    out = []
    for r in rounds:
        a, b = r.get(mine, {}).get(part), r.get(base, {}).get(part)
        if a and b and b[key]:
            out.append(a[key] / b[key])
    return out


#: (label, numerator, denominator, metric, goal: ("<=" | ">=", bound) or None)
RATIOS: list[tuple[str, str, str, str, tuple[str, float] | None]] = [
    (
        "llmrouter anthropic / together, CPU per call",
        "llmrouter-anthropic",
        "llmrouter-together",
        "seq_cpu_ms_per_call",
        ("<=", 1.3),
    ),
    (
        "llmrouter anthropic / together, CPU per chunk",
        "llmrouter-anthropic",
        "llmrouter-together",
        "stream_cpu_us_per_chunk",
        ("<=", 1.3),
    ),
    (
        "official SDK (raw events) / llmrouter anthropic, CPU per chunk",
        "anthropic-sdk",
        "llmrouter-anthropic",
        "stream_cpu_us_per_chunk",
        (">=", 5.0),
    ),
    (
        "official SDK (messages.stream text_stream) / llmrouter anthropic, CPU per chunk",
        "anthropic-sdk-helper",
        "llmrouter-anthropic",
        "stream_cpu_us_per_chunk",
        (">=", 5.0),
    ),
    (
        "LiteLLM anthropic / llmrouter anthropic, CPU per chunk",
        "litellm-anthropic",
        "llmrouter-anthropic",
        "stream_cpu_us_per_chunk",
        (">=", 5.0),
    ),
    (
        "official SDK / llmrouter anthropic, CPU per call",
        "anthropic-sdk",
        "llmrouter-anthropic",
        "seq_cpu_ms_per_call",
        None,
    ),
    (
        "LiteLLM anthropic / llmrouter anthropic, CPU per call",
        "litellm-anthropic",
        "llmrouter-anthropic",
        "seq_cpu_ms_per_call",
        None,
    ),
    (
        "llmrouter anthropic / together, wall per call (holds each emulator's own time)",
        "llmrouter-anthropic",
        "llmrouter-together",
        "seq_median_ms",
        None,
    ),
    (
        "the wires alone: raw httpx anthropic / together, CPU per call",
        "httpx-anthropic",
        "httpx-together",
        "seq_cpu_ms_per_call",
        None,
    ),
    (
        "the wires alone: raw httpx anthropic / together, CPU per chunk",
        "httpx-anthropic",
        "httpx-together",
        "stream_cpu_us_per_chunk",
        None,
    ),
]
_PARTS = {
    "seq_cpu_ms_per_call": ("sequential", "cpu_ms_per_call"),
    "seq_median_ms": ("sequential", "median_ms"),
    "stream_cpu_us_per_chunk": ("stream", "cpu_us_per_chunk"),
}


def ratios(data: dict[str, Any]) -> list[dict[str, Any]]:
    agg = data["clients"]
    out = []
    for label, mine, base, metric, goal in RATIOS:
        value = agg[mine][metric] / agg[base][metric] if agg[base][metric] else float("nan")
        part, key = _PARTS[metric]
        met = None
        if goal is not None:
            met = value <= goal[1] if goal[0] == "<=" else value >= goal[1]
        out.append(
            {
                "label": label,
                "value": value,
                "per_round": _per_round(data["rounds"], mine, base, part, key),
                "goal": f"{goal[0]} {goal[1]}x" if goal else None,
                "met": met,
            }
        )
    return out


def report(data: dict[str, Any]) -> str:
    cfg = data["config"]
    agg = data["clients"]
    m = data["machine"]
    lines: list[str] = []
    add = lines.append
    add(f"Machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}, {m['os']}.")
    add("Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".")
    add(
        f"Run: {data['command']} ({cfg['rounds']} round(s), medians; {data['elapsed_s']:.0f} s). "
        "Emulators on core 0, each client in a fresh process on core 1."
    )
    add("")
    tokens = cfg["stream"]["tokens"]
    base = agg["llmrouter-anthropic"]
    add(
        f"| client | emulator | wall ms/call | client CPU ms/call | CPU/call vs llmrouter-anthropic "
        f"| client CPU us/chunk ({tokens:,}-chunk stream) | CPU/chunk vs llmrouter-anthropic "
        "| wall us/chunk | peak RSS MB | verified |"
    )
    add("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")

    def num(v: float, fmt: str) -> str:
        return "-" if v != v else format(v, fmt)

    def rel(v: float, b: float) -> str:
        return "-" if v != v or b != b or not b else f"{v / b:.2f}x"

    for name, r in agg.items():
        add(
            f"| {name} | {CLIENTS[name]} | {num(r['seq_median_ms'], '.3f')} "
            f"| {num(r['seq_cpu_ms_per_call'], '.3f')} "
            f"| {rel(r['seq_cpu_ms_per_call'], base['seq_cpu_ms_per_call'])} "
            f"| {num(r['stream_cpu_us_per_chunk'], '.2f')} "
            f"| {rel(r['stream_cpu_us_per_chunk'], base['stream_cpu_us_per_chunk'])} "
            f"| {num(r['stream_wall_us_per_chunk'], '.2f')} | {r['peak_rss_mb']:.1f} "
            f"| {'yes' if r['verified'] else 'NO'} |"
        )
    add("")
    add(
        "Ratios: of the medians of this run; in brackets the same ratio round by round (a round "
        "takes about half a minute, so a pair shares the machine's load), then their median:"
    )
    add("")
    for r in ratios(data):
        rounds = ", ".join(f"{v:.2f}" for v in r["per_round"]) or "-"
        paired = f"{_median(r['per_round']):.2f}x" if r["per_round"] else "-"
        if r["goal"] is None:
            add(f"- {r['label']}: {r['value']:.2f}x [{rounds}; median {paired}]")
        else:
            mark = "x" if r["met"] else " "
            add(
                f"- [{mark}] {r['label']}: {r['value']:.2f}x, goal {r['goal']} "
                f"[{rounds}; median {paired}]"
            )
    ok = all(r["verified"] for r in agg.values())
    add(f"- [{'x' if ok else ' '}] every client verified against both emulators' counters")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one round, smaller counts")
    parser.add_argument("--rounds", type=int, default=None, help="override the number of rounds")
    parser.add_argument("--reinstall", action="store_true", help="recreate bench/.venv")
    parser.add_argument("--only", default=None, help="comma-separated clients (debugging)")
    parser.add_argument("--report", default=None, help="print the report of a saved json")
    args = parser.parse_args()
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    import run

    cfg = config(args.quick)
    if args.rounds:
        cfg["rounds"] = args.rounds
    clients = list(CLIENTS)
    if args.only is not None:
        clients = [c for c in clients if c in args.only.split(",")]
    started = time.perf_counter()
    ensure_peers(args.reinstall)
    data: dict[str, Any] = {
        "command": "python3 bench/bench_anthropic.py" + (" --quick" if args.quick else ""),
        "config": cfg,
        "machine": run.machine(),
        "versions": versions(),
    }
    print(f"benchmark: {data['machine']}", flush=True)
    emus: dict[str, Any] = {}
    try:
        for provider in ("together", "anthropic"):
            emus[provider] = run.Emulator(provider)
            print(f"{provider} emulator at {emus[provider].url}", flush=True)
        rounds: list[dict[str, Any]] = []
        for i in range(cfg["rounds"]):
            print(f"round {i + 1}/{cfg['rounds']}", flush=True)
            order = clients[i % len(clients) :] + clients[: i % len(clients)]
            rounds.append({name: run_client(emus, name, cfg) for name in order})
    finally:
        for emu in emus.values():
            emu.close()
    data["rounds"] = rounds
    if args.only is not None:
        print(json.dumps(rounds, indent=1))
        return 0
    data["clients"] = aggregate(rounds)
    data["ratios"] = ratios(data)
    data["elapsed_s"] = time.perf_counter() - started
    text = report(data)
    run.RESULTS.mkdir(exist_ok=True)
    (run.RESULTS / "anthropic.json").write_text(json.dumps(data, indent=1) + "\n")
    (run.RESULTS / "anthropic.md").write_text(text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        _, _, client_name, base_url, worker_cfg = sys.argv
        if not base_url.startswith("http://127.0.0.1:"):
            raise SystemExit("the benchmark only talks to the emulators on 127.0.0.1")
        sys.stdout.write(json.dumps(run_worker(client_name, base_url, json.loads(worker_cfg))))
        sys.stdout.write("\n")
        raise SystemExit(0)
    raise SystemExit(main())
