"""One benchmark client in one fresh process (started by ``bench/run.py``, pinned to a core).

    python bench/worker.py run CLIENT BASE_URL CONFIG_JSON

Measures sequential calls, async throughput at each concurrency, and a long stream, then the
process's peak RSS, and prints one JSON object on its last stdout line. (Import time and the
first call are measured by small ``python -c`` probes in ``run.py``, so that nothing this module
imports is already loaded.) Every loop is bounded in count and
in time, and the only address ever used is the emulator's (the runner passes a 127.0.0.1 URL).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
ROUTE = "together_ai/" + MODEL
MESSAGES = [{"role": "user", "content": "Say hello"}]
KEY = "bench-key"
EXPECT = "deterministic reply"
STREAM_HEADER = "x-emulator-tokens"
#: Sent with every stream request besides the token count: bench_native.py sets the emulator's
#: pacing here for its paced streams (``{"x-emulator-fault": "chunk_delay=0.001"}``).
STREAM_EXTRA: dict[str, str] = {}


def stream_headers(tokens: int) -> dict[str, str]:
    """The headers of a benchmark stream of ``tokens`` chunks."""
    return {STREAM_HEADER: str(tokens), **STREAM_EXTRA}


#: Connection limits for every pooled client, matching llmrouter's default (1000 / 200).
MAX_CONNECTIONS = 1000
MAX_KEEPALIVE = 200

CLIENTS = (
    "httpx",
    "aiohttp",
    "llmrouter",
    "llmrouter-httpx-stock",
    "llmrouter-aiohttp",
    "openai",
    "litellm",
)


def _check(content: Any) -> None:
    if not isinstance(content, str) or EXPECT not in content:
        raise RuntimeError(f"unexpected reply (not from the emulator?): {content!r:.200}")


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


class Client:
    """Adapter over one library; ``is_async`` clients have no sync API."""

    name = ""
    is_async = False

    def __init__(self, url: str) -> None:
        self.url = url

    # sync API
    def setup(self) -> None:
        pass

    def call(self) -> None:
        raise NotImplementedError

    def stream(self, tokens: int) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # async API (inside a running loop)
    async def asetup(self) -> None:
        pass

    async def acall(self) -> None:
        raise NotImplementedError

    async def astream(self, tokens: int) -> int:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


class HttpxClient(Client):
    name = "httpx"

    def setup(self) -> None:
        import httpx

        self.httpx = httpx
        self.sync = httpx.Client(headers={"authorization": f"Bearer {KEY}"})
        self.body = {"model": MODEL, "messages": MESSAGES}
        self.endpoint = self.url + "/chat/completions"

    def call(self) -> None:
        response = self.sync.post(self.endpoint, json=self.body)
        response.raise_for_status()
        _check(json.loads(response.content)["choices"][0]["message"]["content"])

    def stream(self, tokens: int) -> int:
        n = 0
        body = {**self.body, "stream": True}
        with self.sync.stream(
            "POST", self.endpoint, json=body, headers=stream_headers(tokens)
        ) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk["choices"][0]["delta"].get("content"):
                    n += 1
        return n

    def close(self) -> None:
        self.sync.close()

    async def asetup(self) -> None:
        self.setup()
        limits = self.httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE
        )
        self.async_ = self.httpx.AsyncClient(
            headers={"authorization": f"Bearer {KEY}"}, limits=limits
        )

    async def acall(self) -> None:
        response = await self.async_.post(self.endpoint, json=self.body)
        response.raise_for_status()
        _check(json.loads(response.content)["choices"][0]["message"]["content"])

    async def aclose(self) -> None:
        await self.async_.aclose()
        self.sync.close()


class AiohttpClient(Client):
    name = "aiohttp"
    is_async = True

    async def asetup(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            headers={"authorization": f"Bearer {KEY}"},
        )
        self.body = {"model": MODEL, "messages": MESSAGES}
        self.endpoint = self.url + "/chat/completions"

    async def acall(self) -> None:
        async with self.session.post(self.endpoint, json=self.body) as response:
            response.raise_for_status()
            payload = json.loads(await response.read())
        _check(payload["choices"][0]["message"]["content"])

    async def astream(self, tokens: int) -> int:
        n = 0
        body = {**self.body, "stream": True}
        async with self.session.post(
            self.endpoint, json=body, headers=stream_headers(tokens)
        ) as response:
            response.raise_for_status()
            async for raw in response.content:
                line = raw.rstrip(b"\r\n")
                if not line.startswith(b"data: "):
                    continue
                data = line[6:]
                if data == b"[DONE]":
                    break
                chunk = json.loads(data)
                if chunk["choices"][0]["delta"].get("content"):
                    n += 1
        return n

    async def aclose(self) -> None:
        await self.session.close()


class LLMRouterClient(Client):
    name = "llmrouter"
    engine: str | None = None

    def setup(self) -> None:
        import llmrouter

        self.llmrouter = llmrouter
        self.router = llmrouter.Router()

    def call(self) -> None:
        response = self.router.completion(ROUTE, MESSAGES, api_base=self.url, api_key=KEY)
        _check(response.choices[0].message.content)

    def stream(self, tokens: int) -> int:
        n = 0
        with self.router.completion(
            ROUTE,
            MESSAGES,
            stream=True,
            api_base=self.url,
            api_key=KEY,
            extra_headers=stream_headers(tokens),
        ) as stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    n += 1
        return n

    def close(self) -> None:
        self.router.close()

    async def asetup(self) -> None:
        import llmrouter

        self.llmrouter = llmrouter
        if self.engine is None:
            self.arouter = llmrouter.AsyncRouter()
        else:
            self.arouter = llmrouter.AsyncRouter(engine=self.engine)

    async def acall(self) -> None:
        response = await self.arouter.completion(ROUTE, MESSAGES, api_base=self.url, api_key=KEY)
        _check(response.choices[0].message.content)

    async def astream(self, tokens: int) -> int:
        n = 0
        stream = await self.arouter.completion(
            ROUTE,
            MESSAGES,
            stream=True,
            api_base=self.url,
            api_key=KEY,
            extra_headers=stream_headers(tokens),
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    n += 1
        return n

    async def aclose(self) -> None:
        await self.arouter.aclose()


class LLMRouterStockClient(LLMRouterClient):
    """llmrouter's AsyncRouter on httpx exactly as httpx builds it (async only): the same
    transport as the raw httpx client, so the ratio is llmrouter's own cost."""

    name = "llmrouter-httpx-stock"
    engine = "httpx-stock"
    is_async = True


class LLMRouterAiohttpClient(LLMRouterClient):
    """llmrouter's AsyncRouter on the aiohttp engine (async only)."""

    name = "llmrouter-aiohttp"
    engine = "aiohttp"
    is_async = True


class OpenAIClient(Client):
    name = "openai"

    def setup(self) -> None:
        import openai

        self.sync = openai.OpenAI(base_url=self.url, api_key=KEY, max_retries=0)

    def call(self) -> None:
        response = self.sync.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        _check(response.choices[0].message.content)

    def stream(self, tokens: int) -> int:
        n = 0
        stream = self.sync.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            extra_headers=stream_headers(tokens),
        )
        with stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    n += 1
        return n

    def close(self) -> None:
        self.sync.close()

    async def asetup(self) -> None:
        import openai

        self.async_ = openai.AsyncOpenAI(base_url=self.url, api_key=KEY, max_retries=0)

    async def acall(self) -> None:
        response = await self.async_.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        _check(response.choices[0].message.content)

    async def aclose(self) -> None:
        await self.async_.close()


class LiteLLMClient(Client):
    name = "litellm"

    def setup(self) -> None:
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        import litellm

        litellm.telemetry = False
        self.litellm = litellm

    def call(self) -> None:
        response = self.litellm.completion(
            model=ROUTE, messages=MESSAGES, api_base=self.url, api_key=KEY, num_retries=0
        )
        _check(response.choices[0].message.content)

    def stream(self, tokens: int) -> int:
        n = 0
        stream = self.litellm.completion(
            model=ROUTE,
            messages=MESSAGES,
            api_base=self.url,
            api_key=KEY,
            num_retries=0,
            stream=True,
            extra_headers=stream_headers(tokens),
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                n += 1
        return n

    async def asetup(self) -> None:
        self.setup()

    async def acall(self) -> None:
        response = await self.litellm.acompletion(
            model=ROUTE, messages=MESSAGES, api_base=self.url, api_key=KEY, num_retries=0
        )
        _check(response.choices[0].message.content)


ADAPTERS: dict[str, type[Client]] = {
    cls.name: cls
    for cls in (
        HttpxClient,
        AiohttpClient,
        LLMRouterClient,
        LLMRouterStockClient,
        LLMRouterAiohttpClient,
        OpenAIClient,
        LiteLLMClient,
    )
}


# --- scenarios ------------------------------------------------------------------------------


def _sequential_sync(client: Client, warmup: int, count: int, budget_s: float) -> dict[str, Any]:
    for _ in range(warmup):
        client.call()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    cpu0 = time.process_time()
    for _ in range(count):
        t0 = time.perf_counter()
        client.call()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if t1 > deadline:
            break
    cpu = time.process_time() - cpu0
    return _latency_summary(times, cpu, warmup)


async def _sequential_async(
    client: Client, warmup: int, count: int, budget_s: float
) -> dict[str, Any]:
    for _ in range(warmup):
        await client.acall()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    cpu0 = time.process_time()
    for _ in range(count):
        t0 = time.perf_counter()
        await client.acall()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if t1 > deadline:
            break
    cpu = time.process_time() - cpu0
    return _latency_summary(times, cpu, warmup)


def _latency_summary(times: list[float], cpu: float, warmup: int) -> dict[str, Any]:
    n = len(times)
    ordered = sorted(times)
    return {
        "calls": n,
        "requests": n + warmup,
        "median_ms": _percentile(ordered, 0.5) * 1e3,
        "p99_ms": _percentile(ordered, 0.99) * 1e3,
        "cpu_ms_per_call": cpu / n * 1e3 if n else float("nan"),
    }


async def _throughput(
    client: Client, concurrency: int, total: int, budget_s: float
) -> dict[str, Any]:
    """``concurrency`` workers share ``total`` requests; no new request after ``budget_s``."""
    latencies: list[float] = []
    errors: list[str] = []
    issued = 0
    deadline = time.perf_counter() + budget_s

    async def worker() -> None:
        nonlocal issued
        while issued < total and time.perf_counter() < deadline:
            issued += 1
            t0 = time.perf_counter()
            try:
                await client.acall()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    timed_out = False
    try:
        # Grace period for the requests in flight at the deadline.
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=budget_s + 30)
    except asyncio.TimeoutError:
        timed_out = True
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "concurrency": concurrency,
        "completed": len(latencies),
        "issued": issued,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "finished": len(latencies) == total and not timed_out,
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": _percentile(ordered, 0.5) * 1e3,
        "p99_ms": _percentile(ordered, 0.99) * 1e3,
    }


def _stream_runs(
    fn: Callable[[int], int], tokens: int, repeats: int, budget_s: float
) -> dict[str, Any]:
    fn(50)  # warm-up
    wall: list[float] = []
    cpu: list[float] = []
    chunks = 0
    deadline = time.perf_counter() + budget_s
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        chunks = fn(tokens)
        wall.append((time.perf_counter() - t0) / max(chunks, 1))
        cpu.append((time.process_time() - c0) / max(chunks, 1))
        if chunks < tokens:
            raise RuntimeError(f"stream gave {chunks} content chunks, expected {tokens}")
        if time.perf_counter() > deadline:
            break
    wall.sort()
    cpu.sort()
    return {
        "streams": len(wall),
        "requests": len(wall) + 1,
        "chunks": chunks,
        "wall_us_per_chunk": _percentile(wall, 0.5) * 1e6,
        "cpu_us_per_chunk": _percentile(cpu, 0.5) * 1e6,
    }


async def _astream_runs(
    fn: Callable[[int], Awaitable[int]], tokens: int, repeats: int, budget_s: float
) -> dict[str, Any]:
    await fn(50)
    wall: list[float] = []
    cpu: list[float] = []
    chunks = 0
    deadline = time.perf_counter() + budget_s
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        chunks = await fn(tokens)
        wall.append((time.perf_counter() - t0) / max(chunks, 1))
        cpu.append((time.process_time() - c0) / max(chunks, 1))
        if chunks < tokens:
            raise RuntimeError(f"stream gave {chunks} content chunks, expected {tokens}")
        if time.perf_counter() > deadline:
            break
    wall.sort()
    cpu.sort()
    return {
        "streams": len(wall),
        "requests": len(wall) + 1,
        "chunks": chunks,
        "wall_us_per_chunk": _percentile(wall, 0.5) * 1e6,
        "cpu_us_per_chunk": _percentile(cpu, 0.5) * 1e6,
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(name: str, url: str, config: dict[str, Any]) -> dict[str, Any]:
    client = ADAPTERS[name](url)
    out: dict[str, Any] = {"client": name}
    seq = config["sequential"]
    if not client.is_async:
        client.setup()
        out["sequential"] = _sequential_sync(client, seq["warmup"], seq["count"], seq["budget_s"])
        st = config["stream"]
        out["stream"] = _stream_runs(client.stream, st["tokens"], st["repeats"], st["budget_s"])
        client.close()

    async def async_part() -> None:
        await client.asetup()
        try:
            if client.is_async:
                out["sequential"] = await _sequential_async(
                    client, seq["warmup"], seq["count"], seq["budget_s"]
                )
                st = config["stream"]
                out["stream"] = await _astream_runs(
                    client.astream, st["tokens"], st["repeats"], st["budget_s"]
                )
            for level in config["async"]:
                # Warm the pool the same way for every client: one wave of ``concurrency``
                # concurrent requests, so the timed level measures a pool that already holds its
                # connections (steady state) rather than mostly connection set-up: at c=100 a
                # fast client finishes the level's 4,000 requests in about 0.3 s.
                await client.acall()
                warmup = 1 + level["concurrency"]
                await asyncio.gather(*(client.acall() for _ in range(warmup - 1)))
                out[f"async_{level['concurrency']}"] = await _throughput(
                    client, level["concurrency"], level["total"], level["budget_s"]
                )
                out[f"async_{level['concurrency']}"]["warmup"] = warmup
        finally:
            await client.aclose()

    asyncio.run(async_part())
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def main(argv: list[str]) -> int:
    mode, name, url = argv[0], argv[1], argv[2]
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit("the benchmark only talks to the emulator on 127.0.0.1")
    if mode == "run":
        result = run(name, url, json.loads(argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
