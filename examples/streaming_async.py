"""Async streaming: several answers streamed concurrently on one event loop.

    uv run --all-packages python examples/streaming_async.py          # against the emulator
    TOGETHERAI_API_KEY=... uv run --all-packages python examples/streaming_async.py --live

Shows ``acompletion(..., stream=True)`` (an async iterator of OpenAI-shaped chunks), an
``AsyncRouter`` shared by concurrent tasks (one connection pool), stopping a stream early with
``aclose()``, and that an error inside a stream is raised, never a quietly short answer.
Without --live it starts the Together emulator with a small per-response latency, so the
concurrency is visible in the timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import llmrouter

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
QUESTIONS = ["Name a colour.", "Name a planet.", "Name a river."]


@contextlib.contextmanager
def target(live: bool) -> Iterator[tuple[dict[str, Any], Any]]:
    """(where to send calls, the emulator or None when --live)."""
    if live:
        if not os.environ.get("TOGETHERAI_API_KEY"):
            raise SystemExit("--live needs TOGETHERAI_API_KEY to be set")
        print("Calling the real Together API.")
        yield {}, None
        return
    from llmrouter.testing import TogetherEmulator

    with TogetherEmulator(latency=0.3) as emulator:
        print(f"No --live: using the Together emulator at {emulator.base_url} (0.3 s latency).")
        yield {"api_base": emulator.base_url, "api_key": "emulator-key"}, emulator


async def stream_one(router: llmrouter.AsyncRouter, question: str, where: dict[str, Any]) -> str:
    """Stream one answer, collecting its text; the usage arrives with the last chunk."""
    stream = await router.completion(
        MODEL, [{"role": "user", "content": question}], stream=True, max_tokens=30, **where
    )
    parts = []
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
    print(f"  [{question}] {len(parts)} chunks, usage: {stream.usage.total_tokens} tokens")
    return "".join(parts)


async def main(where: dict[str, Any], emulator: Any = None) -> None:
    # 1. The module-level function: the simplest async stream.
    stream = await llmrouter.acompletion(
        model=MODEL, messages=[{"role": "user", "content": "Hi!"}], stream=True, **where
    )
    print("acompletion stream:", end=" ", flush=True)
    async for chunk in stream:
        print(chunk["choices"][0]["delta"]["content"], end="", flush=True)
    print()

    # 2. Concurrent streams over one AsyncRouter (one pooled client, closed on exit).
    async with llmrouter.AsyncRouter() as router:
        if emulator is not None:
            emulator.reset_stats()
        started = time.perf_counter()
        answers = await asyncio.gather(*(stream_one(router, q, where) for q in QUESTIONS))
        elapsed = time.perf_counter() - started
        print(f"{len(answers)} concurrent streams in {elapsed:.2f} s:")
        for question, answer in zip(QUESTIONS, answers, strict=True):
            print(f"  {question} -> {answer}")
        if emulator is not None:
            # what the server saw: all three requests were being answered at the same time
            print(f"the emulator answered {emulator.stats['peak_in_flight']} requests at once")

        # 3. Stop early: read two chunks, then release the connection.
        stream = await router.completion(
            MODEL, [{"role": "user", "content": "Count to ten."}], stream=True, **where
        )
        first = []
        async for chunk in stream:
            first.append(chunk.choices[0].delta.content)
            if len(first) == 2:
                break
        await stream.aclose()
        print("stopped after two chunks:", first)

        # 4. A broken stream raises a typed error (here the emulator cuts the connection).
        if "api_base" in where:
            try:
                stream = await router.completion(
                    MODEL,
                    [{"role": "user", "content": "Hi"}],
                    stream=True,
                    extra_headers={"x-emulator-fault": "cut_after=2"},
                    **where,
                )
                async for _ in stream:
                    pass
            except llmrouter.APIConnectionError as exc:
                print(f"cut stream -> {type(exc).__name__}: {exc.message}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live", action="store_true", help="call the real Together API")
    with target(parser.parse_args().live) as (where, emulator):
        asyncio.run(main(where, emulator))
