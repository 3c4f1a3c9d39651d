"""llmrouter's non-OpenAI paths (Anthropic's wire, Gemini's) against its Together path and peers.

    python3 bench/bench_native.py --provider anthropic   # 5 rounds (about 3 minutes on 2 cores)
    python3 bench/bench_native.py --provider gemini      # likewise
    python3 bench/bench_native.py --provider all         # one after the other
    python3 bench/bench_native.py --provider gemini --quick    # 1 round (a smoke test)

(``python3 bench/bench_anthropic.py [args]`` is ``--provider anthropic``.)

Issues 15 and 16 ask that llmrouter's Anthropic and Gemini paths cost no more than 1.3x its
Together path per call and per streamed chunk, and be at least 5x cheaper per chunk than the
provider's official SDK. The paths share the core (pool, pipeline, SSE reader); what differs is
the plugin (the body built, the answer read, one stream event -> one chunk) and the wire
(Anthropic's streams carry ``event:`` lines and bookkeeping events; Gemini's events are whole
partial responses, ``\\r\\n\\r\\n``-separated, with no end marker). So the clients, all synchronous:

- ``llmrouter-together``: the reference, exactly ``bench/run.py``'s ``llmrouter`` client
  (``together_ai/...`` on the Together emulator);
- ``llmrouter-anthropic``: ``anthropic/claude-sonnet-4-6`` on the Anthropic emulator;
  ``llmrouter-gemini``: ``gemini/gemini-2.5-flash`` on the Gemini emulator;
- ``llmrouter-together-native`` / ``llmrouter-anthropic-native``: the same two on
  ``Router(engine="native")`` (httpx over llmrouter's HTTP/1.1 transport), each goal checked
  for that engine too;
- ``anthropic-sdk``: ``messages.create``, and ``stream=True`` iterating the raw events;
  ``anthropic-sdk-helper``: ``messages.stream()``'s ``text_stream`` (stream only: the helper
  that also accumulates the message, what the SDK's docs show first);
- ``gemini-sdk``: ``google-genai``'s ``models.generate_content`` and
  ``generate_content_stream`` (each chunk's ``.text``, as its docs show);
- ``litellm-anthropic``: ``litellm.completion(model="anthropic/...", api_base=<emulator root>)``
  (LiteLLM posts to ``{api_base}/v1/messages``: the root, not ``.../v1``, which it would double);
  ``litellm-gemini``: ``litellm.completion(model="gemini/...", api_base=<root>/v1beta)``
  (LiteLLM posts to ``{api_base}/models/{model}:generateContent``, adding no version);
- ``httpx-together`` / ``httpx-anthropic`` / ``httpx-gemini``: raw httpx + ``json.loads`` on
  each wire, the floor: their ratio is what the wire itself costs, before any library.

Same method as ``bench/run.py``, whose venv and helpers this reuses: peers in ``bench/.venv``
(``anthropic==2.17.0``, ``google-genai==3.6.1`` and the plugins are added to it when missing),
each emulator a subprocess pinned to core 0, each client a fresh process pinned to core 1 that
talks only to 127.0.0.1, medians over rounds (client order rotated each round), ratios within
this one run, and every client checked against both emulators' request counters (its own must
have served exactly what it sent, the other nothing). Every Anthropic client sends
``max_tokens=4096``: the SDK requires it, and LiteLLM would otherwise send its cost map's
128000, which the API refuses for this model. Cost = client CPU (``time.process_time`` in the
client's process): the wall time also holds the emulators' own work, which differs between them.

Each client also reads a short stream whose events the emulator paces 1 ms apart
(``x-emulator-fault: chunk_delay=0.001``), as a service sends tokens: its CPU per chunk is a
column of the report, and SDK / llmrouter on it a ratio without a goal (waking up for each
event is most of that cost, and no parsing saves it).

The tables go to stdout and ``bench/results/{provider}.md`` (raw numbers: ``{provider}.json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import worker  # bench/worker.py (stdlib-only at import)

if TYPE_CHECKING:
    from anthropic.types import MessageParam

BENCH = Path(__file__).resolve().parent
ANTHROPIC_MODEL = "claude-sonnet-4-6"
GEMINI_MODEL = "gemini-2.5-flash"
MAX_TOKENS = 4096
#: The wire version the raw httpx client sends (as LiteLLM does; llmrouter and the SDK send
#: the current one with their own headers).
RAW_VERSION = "2023-06-01"
#: worker.MESSAGES typed as the SDK's parameter (so its overloads resolve for a type checker).
SDK_MESSAGES: list[MessageParam] = [{"role": "user", "content": "Say hello"}]
#: worker.MESSAGES on Gemini's wire.
GEMINI_CONTENTS = [{"role": "user", "parts": [{"text": "Say hello"}]}]


# --- clients (run in the worker process, inside bench/.venv) ------------------------------------


class HttpxAnthropicClient(worker.Client):
    """Raw httpx on Anthropic's wire: the floor for that wire."""

    name = "httpx-anthropic"

    def setup(self) -> None:
        import httpx

        self.sync = httpx.Client(
            headers={"x-api-key": worker.KEY, "anthropic-version": RAW_VERSION}
        )
        self.body = {
            "model": ANTHROPIC_MODEL,
            "max_tokens": MAX_TOKENS,
            "messages": worker.MESSAGES,
        }
        self.endpoint = self.url + "/v1/messages"

    def call(self) -> None:
        response = self.sync.post(self.endpoint, json=self.body)
        response.raise_for_status()
        worker._check(json.loads(response.content)["content"][0]["text"])

    def stream(self, tokens: int) -> int:
        n = 0
        body = {**self.body, "stream": True}
        headers = worker.stream_headers(tokens)
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


class HttpxGeminiClient(worker.Client):
    """Raw httpx on Gemini's wire (``v1beta``, ``x-goog-api-key``): the floor for that wire."""

    name = "httpx-gemini"

    def setup(self) -> None:
        import httpx

        self.sync = httpx.Client(headers={"x-goog-api-key": worker.KEY})
        self.body = {"contents": GEMINI_CONTENTS}
        self.endpoint = f"{self.url}/v1beta/models/{GEMINI_MODEL}"

    def call(self) -> None:
        response = self.sync.post(self.endpoint + ":generateContent", json=self.body)
        response.raise_for_status()
        data = json.loads(response.content)
        worker._check(data["candidates"][0]["content"]["parts"][0]["text"])

    def stream(self, tokens: int) -> int:
        n = 0
        url = self.endpoint + ":streamGenerateContent?alt=sse"
        headers = worker.stream_headers(tokens)
        with self.sync.stream("POST", url, json=self.body, headers=headers) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue  # blank separators
                candidate = json.loads(line[6:])["candidates"][0]
                for part in candidate.get("content", {}).get("parts", ()):
                    if part.get("text"):
                        n += 1
                        break
                if "finishReason" in candidate:
                    break  # no end marker: the finishing event is the last
        return n

    def close(self) -> None:
        self.sync.close()


def _content_chunks(stream: Any) -> int:
    """How many OpenAI-shaped chunks of ``stream`` carry text (llmrouter's and LiteLLM's)."""
    n = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
    return n


class _LLMRouterRouteClient(worker.LLMRouterClient):
    """run.py's llmrouter client (its ``Router`` set-up and close) on another route."""

    route = ""
    #: Extra keywords of every call (Anthropic needs ``max_tokens``).
    kwargs: dict[str, Any] = {}

    def call(self) -> None:
        response = self.router.completion(
            self.route, worker.MESSAGES, api_base=self.url, api_key=worker.KEY, **self.kwargs
        )
        worker._check(response.choices[0].message.content)

    def stream(self, tokens: int) -> int:
        with self.router.completion(
            self.route,
            worker.MESSAGES,
            stream=True,
            api_base=self.url,
            api_key=worker.KEY,
            extra_headers=worker.stream_headers(tokens),
            **self.kwargs,
        ) as stream:
            return _content_chunks(stream)


class LLMRouterAnthropicClient(_LLMRouterRouteClient):
    name = "llmrouter-anthropic"
    route = "anthropic/" + ANTHROPIC_MODEL
    kwargs = {"max_tokens": MAX_TOKENS}


class _NativeEngine:
    """The same client on ``Router(engine="native")`` (httpx over llmrouter's transport)."""

    def setup(self) -> None:
        import llmrouter

        self.llmrouter = llmrouter
        self.router = llmrouter.Router(engine="native")


class LLMRouterTogetherNativeClient(_NativeEngine, worker.LLMRouterClient):
    name = "llmrouter-together-native"


class LLMRouterAnthropicNativeClient(_NativeEngine, LLMRouterAnthropicClient):
    name = "llmrouter-anthropic-native"


class LLMRouterGeminiClient(_LLMRouterRouteClient):
    name = "llmrouter-gemini"
    route = "gemini/" + GEMINI_MODEL


class AnthropicSDKClient(worker.Client):
    """The official SDK; ``stream`` iterates the raw events of ``create(stream=True)``."""

    name = "anthropic-sdk"

    def setup(self) -> None:
        import anthropic

        self.sync = anthropic.Anthropic(base_url=self.url, api_key=worker.KEY, max_retries=0)

    def call(self) -> None:
        response = self.sync.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=MAX_TOKENS,
            messages=SDK_MESSAGES,
        )
        block = response.content[0]
        worker._check(getattr(block, "text", None))

    def stream(self, tokens: int) -> int:
        n = 0
        stream = self.sync.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=MAX_TOKENS,
            messages=SDK_MESSAGES,
            stream=True,
            extra_headers=worker.stream_headers(tokens),
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
            model=ANTHROPIC_MODEL,
            max_tokens=MAX_TOKENS,
            messages=SDK_MESSAGES,
            extra_headers=worker.stream_headers(tokens),
        ) as stream:
            for text in stream.text_stream:
                if text:
                    n += 1
        return n


class GeminiSDKClient(worker.Client):
    """``google-genai``: ``generate_content`` and ``generate_content_stream`` (its default
    retry options: none)."""

    name = "gemini-sdk"

    def setup(self) -> None:
        from google import genai
        from google.genai import types

        self.types = types
        self.sync = genai.Client(
            api_key=worker.KEY, http_options=types.HttpOptions(base_url=self.url)
        )

    def call(self) -> None:
        response = self.sync.models.generate_content(model=GEMINI_MODEL, contents="Say hello")
        worker._check(response.text)

    def stream(self, tokens: int) -> int:
        n = 0
        config = self.types.GenerateContentConfig(
            http_options=self.types.HttpOptions(headers=worker.stream_headers(tokens))
        )
        for chunk in self.sync.models.generate_content_stream(
            model=GEMINI_MODEL, contents="Say hello", config=config
        ):
            if chunk.text:
                n += 1
        return n

    def close(self) -> None:
        self.sync.close()


class _LiteLLMRouteClient(worker.LiteLLMClient):
    route = ""
    #: appended to the emulator root to make LiteLLM's ``api_base``.
    base_suffix = ""
    kwargs: dict[str, Any] = {}

    def _completion(self, **extra: Any) -> Any:
        return self.litellm.completion(
            model=self.route,
            messages=worker.MESSAGES,
            api_base=self.url + self.base_suffix,
            api_key=worker.KEY,
            num_retries=0,
            **self.kwargs,
            **extra,
        )

    def call(self) -> None:
        worker._check(self._completion().choices[0].message.content)

    def stream(self, tokens: int) -> int:
        headers = worker.stream_headers(tokens)
        return _content_chunks(self._completion(stream=True, extra_headers=headers))


class LiteLLMAnthropicClient(_LiteLLMRouteClient):
    name = "litellm-anthropic"
    route = "anthropic/" + ANTHROPIC_MODEL
    kwargs = {"max_tokens": MAX_TOKENS}


class LiteLLMGeminiClient(_LiteLLMRouteClient):
    name = "litellm-gemini"
    route = "gemini/" + GEMINI_MODEL
    base_suffix = "/v1beta"


# --- the providers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """One non-OpenAI path: its clients (the emulator each talks to and its class), what
    bench/.venv must hold for them, and which of them are the official SDK's."""

    name: str
    adapters: dict[str, tuple[str, type[worker.Client]]]
    #: importable name -> what installs it (a venv made before these joined run.py's PEERS).
    needs: dict[str, str]
    versions: list[str]
    #: SDK client -> its label in the ratios.
    sdks: dict[str, str] = field(default_factory=dict)

    @property
    def clients(self) -> dict[str, str]:
        """client -> the emulator it talks to, in the order the report lists them."""
        return {name: emulator for name, (emulator, _) in self.adapters.items()}


_TOGETHER: dict[str, tuple[str, type[worker.Client]]] = {
    "httpx-together": ("together", worker.HttpxClient),
}
PROVIDERS: dict[str, Provider] = {
    "anthropic": Provider(
        name="anthropic",
        adapters={
            **_TOGETHER,
            "httpx-anthropic": ("anthropic", HttpxAnthropicClient),
            "llmrouter-together": ("together", worker.LLMRouterClient),
            "llmrouter-anthropic": ("anthropic", LLMRouterAnthropicClient),
            "llmrouter-together-native": ("together", LLMRouterTogetherNativeClient),
            "llmrouter-anthropic-native": ("anthropic", LLMRouterAnthropicNativeClient),
            "anthropic-sdk": ("anthropic", AnthropicSDKClient),
            "anthropic-sdk-helper": ("anthropic", AnthropicSDKHelperClient),
            "litellm-anthropic": ("anthropic", LiteLLMAnthropicClient),
        },
        needs={
            "anthropic": "anthropic==2.17.0",
            "llmrouter_anthropic": "plugins/anthropic",
            "httptools": "httptools",
        },
        versions=["llmrouter-anthropic", "anthropic"],
        sdks={
            "anthropic-sdk": "official SDK (raw events)",
            "anthropic-sdk-helper": "official SDK (messages.stream text_stream)",
        },
    ),
    "gemini": Provider(
        name="gemini",
        adapters={
            **_TOGETHER,
            "httpx-gemini": ("gemini", HttpxGeminiClient),
            "llmrouter-together": ("together", worker.LLMRouterClient),
            "llmrouter-gemini": ("gemini", LLMRouterGeminiClient),
            "gemini-sdk": ("gemini", GeminiSDKClient),
            "litellm-gemini": ("gemini", LiteLLMGeminiClient),
        },
        needs={"google.genai": "google-genai==3.6.1", "llmrouter_gemini": "plugins/gemini"},
        versions=["llmrouter-gemini", "google-genai"],
        sdks={"gemini-sdk": "official SDK (generate_content_stream)"},
    ),
}
COMMON_VERSIONS = ["httpx", "pydantic", "pydantic-core", "llmrouter", "litellm"]


def run_worker(provider: str, name: str, url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """One client, sequential calls then the long stream (the worker's own loops)."""
    client = PROVIDERS[provider].adapters[name][1](url)
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
    # The same stream paced as a service sends tokens (the emulator sleeps between events):
    # each event is then a read of its own, and waking up for it is part of the cost.
    paced = cfg.get("paced")
    if paced is not None:
        worker.STREAM_EXTRA.update({"x-emulator-fault": f"chunk_delay={paced['delay_s']}"})
        try:
            out["paced"] = worker._stream_runs(
                client.stream, paced["tokens"], paced["repeats"], paced["budget_s"]
            )
        finally:
            worker.STREAM_EXTRA.clear()
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
            "paced": {"tokens": 100, "repeats": 2, "budget_s": 5, "delay_s": 0.001},
        }
    return {
        "rounds": 5,
        "sequential": {"warmup": 100, "count": 1000, "budget_s": 8},
        "stream": {"tokens": 2000, "repeats": 5, "budget_s": 15},
        "paced": {"tokens": 300, "repeats": 3, "budget_s": 10, "delay_s": 0.001},
    }


def ensure_peers(reinstall: bool) -> None:
    """bench/.venv as run.py makes it, plus the SDKs and plugins if it predates them."""
    import run

    run.ensure_venv(reinstall)
    needs = {k: v for p in PROVIDERS.values() for k, v in p.needs.items()}
    probe = (
        "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(n) for n in {!r}) else 1)"
    )
    if subprocess.run([str(run.PY), "-c", probe.format(list(needs))], check=False).returncode:
        uv = shutil.which("uv")
        assert uv is not None  # ensure_venv checked
        extras = []
        for target in needs.values():
            extras += ["-e", str(run.ROOT / target)] if "/" in target else [target]
        install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(run.PY)]
        subprocess.run([*install, *extras], check=True, cwd=run.ROOT)


def versions(provider: Provider) -> dict[str, str]:
    import run

    names = COMMON_VERSIONS[:4] + provider.versions + COMMON_VERSIONS[4:]
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        f"for n in {names!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = '-'\n"
        "print(json.dumps(out))"
    )
    out = subprocess.run([str(run.PY), "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def run_client(
    provider: Provider, emus: dict[str, Any], name: str, cfg: dict[str, Any]
) -> dict[str, Any]:
    import run

    target = provider.clients[name]
    before = {k: e.served() for k, e in emus.items()}
    started = time.perf_counter()
    worker_cfg = {k: cfg[k] for k in ("sequential", "stream", "paced") if k in cfg}
    argv = [
        str(run.PY),
        __file__,
        "worker",
        provider.name,
        name,
        emus[target].url,
        json.dumps(worker_cfg),
    ]
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
    sent = result["stream"]["requests"] + result.get("paced", {}).get("requests", 0)
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


def aggregate(provider: Provider, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    agg: dict[str, Any] = {}
    for name in provider.clients:
        runs = [r[name] for r in rounds if name in r]
        seqs = [r["sequential"] for r in runs if r["sequential"] is not None]
        agg[name] = {
            "verified": all(r["verified"] for r in runs),
            "seq_median_ms": _median([s["median_ms"] for s in seqs]),
            "seq_cpu_ms_per_call": _median([s["cpu_ms_per_call"] for s in seqs]),
            "stream_cpu_us_per_chunk": _median([r["stream"]["cpu_us_per_chunk"] for r in runs]),
            "stream_wall_us_per_chunk": _median([r["stream"]["wall_us_per_chunk"] for r in runs]),
            "paced_cpu_us_per_chunk": _median(
                [r["paced"]["cpu_us_per_chunk"] for r in runs if "paced" in r]
            ),
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
Ratio = tuple[str, str, str, str, tuple[str, float] | None]


def ratio_specs(provider: Provider) -> list[Ratio]:
    """The goals of issues 15/16 and the context ratios, for one provider."""
    p = provider.name
    me = f"llmrouter-{p}"
    per_call = [n for n in provider.sdks if not getattr(provider.adapters[n][1], "stream_only", 0)]
    specs: list[Ratio] = []
    # Each goal for the default engine, and for Router(engine="native") where it is measured.
    for suffix, engine in (("", ""), ("-native", " (engine='native')")):
        mine, together = me + suffix, "llmrouter-together" + suffix
        if mine not in provider.adapters:
            continue
        specs += [
            (
                f"llmrouter {p} / together{engine}, CPU per call",
                mine,
                together,
                "seq_cpu_ms_per_call",
                ("<=", 1.3),
            ),
            (
                f"llmrouter {p} / together{engine}, CPU per chunk",
                mine,
                together,
                "stream_cpu_us_per_chunk",
                ("<=", 1.3),
            ),
        ]
        for sdk, label in provider.sdks.items():
            specs.append(
                (
                    f"{label} / llmrouter {p}{engine}, CPU per chunk",
                    sdk,
                    mine,
                    "stream_cpu_us_per_chunk",
                    (">=", 5.0),
                )
            )
        specs.append(
            (
                f"LiteLLM {p} / llmrouter {p}{engine}, CPU per chunk",
                f"litellm-{p}",
                mine,
                "stream_cpu_us_per_chunk",
                (">=", 5.0),
            )
        )
        for sdk, label in provider.sdks.items():
            specs.append(
                (
                    f"{label} / llmrouter {p}{engine}, CPU per chunk of a paced stream "
                    "(events 1 ms apart; no goal)",
                    sdk,
                    mine,
                    "paced_cpu_us_per_chunk",
                    None,
                )
            )
    for sdk in per_call:
        specs.append(
            (f"official SDK / llmrouter {p}, CPU per call", sdk, me, "seq_cpu_ms_per_call", None)
        )
    specs += [
        (
            f"LiteLLM {p} / llmrouter {p}, CPU per call",
            f"litellm-{p}",
            me,
            "seq_cpu_ms_per_call",
            None,
        ),
        (
            f"llmrouter {p} / together, wall per call (holds each emulator's own time)",
            me,
            "llmrouter-together",
            "seq_median_ms",
            None,
        ),
        (
            f"the wires alone: raw httpx {p} / together, CPU per call",
            f"httpx-{p}",
            "httpx-together",
            "seq_cpu_ms_per_call",
            None,
        ),
        (
            f"the wires alone: raw httpx {p} / together, CPU per chunk",
            f"httpx-{p}",
            "httpx-together",
            "stream_cpu_us_per_chunk",
            None,
        ),
    ]
    return specs


_PARTS = {
    "seq_cpu_ms_per_call": ("sequential", "cpu_ms_per_call"),
    "seq_median_ms": ("sequential", "median_ms"),
    "stream_cpu_us_per_chunk": ("stream", "cpu_us_per_chunk"),
    "paced_cpu_us_per_chunk": ("paced", "cpu_us_per_chunk"),
}


def ratios(provider: Provider, data: dict[str, Any]) -> list[dict[str, Any]]:
    agg = data["clients"]
    out = []
    for label, mine, base, metric, goal in ratio_specs(provider):
        a = agg[mine].get(metric, float("nan"))  # (a saved run may predate a metric)
        b = agg[base].get(metric, float("nan"))
        value = a / b if b else float("nan")
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


def report(provider: Provider, data: dict[str, Any]) -> str:
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
    paced = cfg.get("paced") or {}
    me = f"llmrouter-{provider.name}"
    base = agg[me]
    add(
        f"| client | emulator | wall ms/call | client CPU ms/call | CPU/call vs {me} "
        f"| client CPU us/chunk ({tokens:,}-chunk stream) | CPU/chunk vs {me} "
        f"| wall us/chunk | client CPU us/chunk, paced ({paced.get('tokens', 0):,} chunks, "
        f"{paced.get('delay_s', 0) * 1000:g} ms apart) | peak RSS MB | verified |"
    )
    add("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")

    def num(v: float, fmt: str) -> str:
        return "-" if v != v else format(v, fmt)

    def rel(v: float, b: float) -> str:
        return "-" if v != v or b != b or not b else f"{v / b:.2f}x"

    for name, r in agg.items():
        add(
            f"| {name} | {provider.clients[name]} | {num(r['seq_median_ms'], '.3f')} "
            f"| {num(r['seq_cpu_ms_per_call'], '.3f')} "
            f"| {rel(r['seq_cpu_ms_per_call'], base['seq_cpu_ms_per_call'])} "
            f"| {num(r['stream_cpu_us_per_chunk'], '.2f')} "
            f"| {rel(r['stream_cpu_us_per_chunk'], base['stream_cpu_us_per_chunk'])} "
            f"| {num(r['stream_wall_us_per_chunk'], '.2f')} "
            f"| {num(r.get('paced_cpu_us_per_chunk', float('nan')), '.1f')} "
            f"| {r['peak_rss_mb']:.1f} "
            f"| {'yes' if r['verified'] else 'NO'} |"
        )
    add("")
    add(
        "Ratios: of the medians of this run; in brackets the same ratio round by round (a round "
        "takes about half a minute, so a pair shares the machine's load), then their median:"
    )
    add("")
    for r in ratios(provider, data):
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


def bench(provider: Provider, args: argparse.Namespace, cfg: dict[str, Any]) -> None:
    """One provider's run: its two emulators, the rounds, the report and its files."""
    import run

    clients = list(provider.clients)
    if args.only is not None:
        clients = [c for c in clients if c in args.only.split(",")]
    started = time.perf_counter()
    data: dict[str, Any] = {
        "command": f"python3 bench/bench_native.py --provider {provider.name}"
        + (" --quick" if args.quick else ""),
        "config": cfg,
        "machine": run.machine(),
        "versions": versions(provider),
    }
    print(f"{provider.name} benchmark: {data['machine']}", flush=True)
    emus: dict[str, Any] = {}
    try:
        for name in ("together", provider.name):
            emus[name] = run.Emulator(name)
            print(f"{name} emulator at {emus[name].url}", flush=True)
        rounds: list[dict[str, Any]] = []
        for i in range(cfg["rounds"]):
            print(f"round {i + 1}/{cfg['rounds']}", flush=True)
            order = clients[i % len(clients) :] + clients[: i % len(clients)]
            rounds.append({name: run_client(provider, emus, name, cfg) for name in order})
    finally:
        for emu in emus.values():
            emu.close()
    data["rounds"] = rounds
    if args.only is not None:
        print(json.dumps(rounds, indent=1))
        return
    data["clients"] = aggregate(provider, rounds)
    data["ratios"] = ratios(provider, data)
    data["elapsed_s"] = time.perf_counter() - started
    text = report(provider, data)
    run.RESULTS.mkdir(exist_ok=True)
    (run.RESULTS / f"{provider.name}.json").write_text(json.dumps(data, indent=1) + "\n")
    (run.RESULTS / f"{provider.name}.md").write_text(text)
    print()
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--provider", choices=[*PROVIDERS, "all"], default="all", help="which path (default all)"
    )
    parser.add_argument("--quick", action="store_true", help="one round, smaller counts")
    parser.add_argument("--rounds", type=int, default=None, help="override the number of rounds")
    parser.add_argument("--reinstall", action="store_true", help="recreate bench/.venv")
    parser.add_argument("--only", default=None, help="comma-separated clients (debugging)")
    parser.add_argument("--report", default=None, help="print the report of a saved json")
    args = parser.parse_args(argv)
    chosen = list(PROVIDERS.values()) if args.provider == "all" else [PROVIDERS[args.provider]]
    if args.report:
        if len(chosen) != 1:
            parser.error("--report needs --provider anthropic|gemini")
        print(report(chosen[0], json.loads(Path(args.report).read_text())))
        return 0
    cfg = config(args.quick)
    if args.rounds:
        cfg["rounds"] = args.rounds
    ensure_peers(args.reinstall)
    for provider in chosen:
        bench(provider, args, cfg)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        _, _, provider_name, client_name, base_url, worker_cfg = sys.argv
        if not base_url.startswith("http://127.0.0.1:"):
            raise SystemExit("the benchmark only talks to the emulators on 127.0.0.1")
        result = run_worker(provider_name, client_name, base_url, json.loads(worker_cfg))
        sys.stdout.write(json.dumps(result) + "\n")
        raise SystemExit(0)
    raise SystemExit(main())
