"""Where the aiohttp engine's time goes at concurrency 100: a ladder from raw aiohttp to llmrouter.

    python3 bench/ablate.py                    # every step, 6 alternating runs each
    python3 bench/ablate.py --runs 8 --requests 20000 raw full

Each step is the same c=100 loop (100 workers sharing ``--requests`` requests, after one warm-up
wave) in a fresh process pinned to core 1, against the benchmark's emulator on core 0; the
steps run alternately, ``--runs`` times each, and the medians are printed with every run's
value, because on a shared machine only a comparison made in one sitting means anything.

Steps (each adds one thing to the one before):

``raw``        raw aiohttp as the suite's client uses it (``session.post(json=...)``)
``shape``      raw aiohttp sending exactly llmrouter's request: its merged headers, a bytes body
               from ``encode_json``, its per-request ``ClientTimeout``, ``allow_redirects=False``
``parse``      ``shape`` plus llmrouter's response side: ``ResponseHeaders`` and the Together
               plugin's ``parse_chat`` instead of ``json.loads``
``full``       ``AsyncRouter(engine="aiohttp").completion(...)``
``probes``     ``full``'s steps inlined, each timed with ``perf_counter_ns`` inside the loop
               (prints what ``_make_call``, ``_prepare``, ``open_call`` and the parse cost there)

The client CPU per request (``time.process_time``) is the number to compare; requests/s also
moves with the emulator's core. docs/performance.md ("fourth round") has a reading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import time
from typing import Any

import run  # bench/run.py: the benchmark's virtualenv, core pinning and emulator

STEPS = ("raw", "shape", "parse", "full", "probes")
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Say hello"}]
KEY = "bench-key"
CONCURRENCY = 100


async def _loop(url: str, step: str, total: int) -> str:
    import aiohttp

    import llmrouter
    from llmrouter._http import encode_json
    from llmrouter.openai_compat import parse_chat
    from llmrouter.pipeline import HTTPResponse, ResponseHeaders
    from llmrouter_together.dialect import DIALECT

    router = llmrouter.AsyncRouter(engine="aiohttp")
    client: Any = router.http_client
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1000),
        headers={"authorization": f"Bearer {KEY}"},
    )
    endpoint = url + "/chat/completions"
    route = "together_ai/" + MODEL
    probes = [0, 0, 0, 0]
    template = router._make_call("chat", route, messages=MESSAGES, api_key=KEY, params={})

    async def raw() -> str:
        async with session.post(endpoint, json={"model": MODEL, "messages": MESSAGES}) as r:
            r.raise_for_status()
            payload = json.loads(await r.read())
        return str(payload["choices"][0]["message"]["content"])

    async def shape(parse: bool) -> str:
        body = encode_json({"model": MODEL, "messages": MESSAGES})
        headers = client._request_headers({"authorization": f"Bearer {KEY}"}, True)
        timeout = client._client_timeout(client.timeout)
        async with client.session().request(
            "POST", endpoint, data=body, headers=headers, timeout=timeout, allow_redirects=False
        ) as r:
            r.raise_for_status()
            content = await r.read()
            if parse:
                response = HTTPResponse(r.status, ResponseHeaders.from_raw(r.raw_headers), content)
        if parse:
            return str(parse_chat(template, response, DIALECT).choices[0].message.content)
        return str(json.loads(content)["choices"][0]["message"]["content"])

    async def full() -> str:
        r = await router.completion(route, MESSAGES, api_base=url, api_key=KEY)
        return str(r.choices[0].message.content)

    async def probed() -> str:
        pc = time.perf_counter_ns
        started = time.perf_counter()
        t0 = pc()
        call = router._make_call(
            "chat", route, messages=MESSAGES, api_base=url, api_key=KEY, params={}
        )
        t1 = pc()
        hooks, prompt, request = router._prepare(call)
        t2 = pc()
        opened = client.open_call(request, call)
        t3 = pc()
        async with opened as r:
            response = client.read_response(r, await r.read())
        t4 = pc()
        result = router._finish(hooks, call, prompt, request, response, started)
        t5 = pc()
        for i, ns in enumerate((t1 - t0, t2 - t1, t3 - t2, t5 - t4)):
            probes[i] += ns
        return str(result.choices[0].message.content)

    one = {
        "raw": raw,
        "shape": lambda: shape(False),
        "parse": lambda: shape(True),
        "full": full,
        "probes": probed,
    }[step]
    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))  # warm-up wave
    probes[:] = [0, 0, 0, 0]
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < total:
            issued += 1
            if "deterministic" not in await one():
                raise RuntimeError("unexpected reply")

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await session.close()
    await router.aclose()
    line = f"{total / wall:.0f} req/s, {cpu / total * 1e6:.1f} us client CPU per request"
    if step == "probes":
        names = ("_make_call", "_prepare", "open_call", "_finish (parse, info, call_end)")
        line += "; in the loop: " + ", ".join(
            f"{n} {ns / total / 1e3:.2f} us" for n, ns in zip(names, probes, strict=True)
        )
    return line


def _one_run(url: str, step: str, total: int) -> str:
    out = subprocess.run(
        run.pinned(
            run.CLIENT_CORE,
            [str(run.PY), __file__, "--worker", step, "--url", url, "--requests", str(total)],
        ),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=run.ROOT,
        env=run.ENV,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("steps", nargs="*", help=f"some of {', '.join(STEPS)} (default: all)")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--worker", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(asyncio.run(_loop(args.url, args.worker, args.requests)))
        return 0
    steps = args.steps or list(STEPS)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    run.ensure_venv(reinstall=False)
    emu = run.Emulator()
    lines: dict[str, list[str]] = {step: [] for step in steps}
    try:
        for i in range(args.runs):
            for step in steps:
                lines[step].append(_one_run(emu.url, step, args.requests))
                print(f"run {i + 1}/{args.runs} {step}: {lines[step][-1]}", flush=True)
    finally:
        emu.close()
    print(f"\nc={CONCURRENCY}, {args.requests} requests per run, medians of {args.runs} runs:")
    for step, outs in lines.items():
        cpu = [float(re.search(r"([\d.]+) us client CPU", o)[1]) for o in outs]  # type: ignore[index]
        rps = [float(o.split(" req/s")[0]) for o in outs]
        print(
            f"  {step:7s} {statistics.median(cpu):6.1f} us/request  "
            f"{statistics.median(rps):7.0f} req/s   (CPU per run: {sorted(cpu)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
