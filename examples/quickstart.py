"""First call with llmrouter: a completion, a stream, and an async call.

    uv run --all-packages python examples/quickstart.py          # against the bundled emulator
    TOGETHERAI_API_KEY=... uv run --all-packages python examples/quickstart.py --live

Without --live (or without a key) it starts llmrouter's Together emulator on 127.0.0.1, points
the calls at it, and stops it at the end, so it runs offline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Iterator
from typing import Any

import llmrouter

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"


@contextlib.contextmanager
def target(live: bool) -> Iterator[dict[str, Any]]:
    """Where calls go: the real Together API (live) or a local emulator."""
    if live:
        if not os.environ.get("TOGETHERAI_API_KEY"):
            raise SystemExit("--live needs TOGETHERAI_API_KEY to be set")
        print("Calling the real Together API.")
        yield {}
        return
    from llmrouter.testing import TogetherEmulator

    with TogetherEmulator() as emulator:
        print(f"No --live: using llmrouter's Together emulator at {emulator.base_url} (offline).")
        yield {"api_base": emulator.base_url, "api_key": "emulator-key"}


async def async_call(where: dict[str, Any], messages: list[dict[str, str]]) -> None:
    response = await llmrouter.acompletion(model=MODEL, messages=messages, max_tokens=20, **where)
    print("async:", response.choices[0].message.content)
    stream = await llmrouter.acompletion(
        model=MODEL, messages=messages, stream=True, max_tokens=8, **where
    )
    async for chunk in stream:
        print("async chunk:", chunk["choices"][0]["delta"]["content"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--live", action="store_true", help="call the real Together API (needs TOGETHERAI_API_KEY)"
    )
    args = parser.parse_args()
    messages = [{"role": "user", "content": "Hello, whats the weather in San Francisco??"}]

    with target(args.live) as where:
        response = llmrouter.completion(model=MODEL, messages=messages, max_tokens=40, **where)
        print(response)
        print("content:", response["choices"][0]["message"]["content"])
        print("usage:", response.usage)

        for chunk in llmrouter.completion(
            model=MODEL, messages=messages, stream=True, max_tokens=8, **where
        ):
            print(chunk["choices"][0]["delta"])

        asyncio.run(async_call(where, messages))


if __name__ == "__main__":
    main()
