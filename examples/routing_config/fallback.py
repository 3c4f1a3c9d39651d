"""Routing with a config file: aliases, retries and a fallback, shown against the emulator.

    uv run --all-packages python examples/routing_config/fallback.py
    TOGETHERAI_API_KEY=... uv run --all-packages python examples/routing_config/fallback.py --live

The code calls ``model="chat"``; ``llmrouter.toml`` (next to this script) says that "chat" is
served by a Together deployment and falls back to the alias "backup", and "balanced"
spreads calls over two deployments. Without --live the
script starts llmrouter's Together emulator, points TOGETHERAI_API_BASE at it and then breaks
deployments on purpose (HTTP 503s, a 400) to show a retry, the fallback, the final error, and
what is never retried. With --live it makes the healthy calls only: nothing is broken on purpose.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import llmrouter
from llmrouter.testing import Fault, TogetherEmulator

CONFIG = Path(__file__).with_name("llmrouter.toml")
MESSAGES = [{"role": "user", "content": "Hello, whats the weather in San Francisco??"}]
PRIMARY = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
BACKUP = "mistralai/Mixtral-8x7B-Instruct-v0.1"


@contextlib.contextmanager
def together(live: bool) -> Iterator[TogetherEmulator | None]:
    if live:
        if not os.environ.get("TOGETHERAI_API_KEY"):
            raise SystemExit("--live needs TOGETHERAI_API_KEY to be set")
        yield None
        return
    with TogetherEmulator() as emulator:
        os.environ["TOGETHERAI_API_BASE"] = emulator.base_url
        os.environ["TOGETHERAI_API_KEY"] = "emulator-key"
        print(f"No --live: using the Together emulator at {emulator.base_url}.")
        try:
            yield emulator
        finally:
            del os.environ["TOGETHERAI_API_BASE"], os.environ["TOGETHERAI_API_KEY"]


def served(label: str, response: llmrouter.ModelResponse) -> None:
    info = response.llmrouter
    print(
        f"{label}: alias={info.alias!r} deployment={info.deployment!r} attempts={info.attempts} "
        f"endpoint={info.endpoint}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live", action="store_true", help="call the real Together API")
    args = parser.parse_args()

    with together(args.live) as emulator:
        # Each scenario gets a fresh Router: deployment health (cooldowns) lives in the router.
        with llmrouter.Router.from_file(CONFIG) as router:
            # 1. A healthy call: one attempt on the alias's deployment.
            served("healthy", router.completion("chat", MESSAGES, max_tokens=20))
            # A model string that is not an alias still goes straight to provider/model.
            direct = router.completion(f"together_ai/{PRIMARY}", MESSAGES, max_tokens=5)
            served("direct", direct)
            # Load spread 3:1 over two deployments.
            counts: dict[str | None, int] = {}
            for _ in range(40):
                name = router.completion("balanced", MESSAGES, max_tokens=1).llmrouter.deployment
                counts[name] = counts.get(name, 0) + 1
            print("balanced, 40 calls:", dict(sorted(counts.items())))
        if emulator is None:
            return

        # 2. A blip: the first request gets a 503, the retry on the same deployment succeeds.
        emulator.add_fault(Fault(status=503), model=PRIMARY, times=1)
        emulator.clear()
        with llmrouter.Router.from_file(CONFIG) as router:
            served("one 503", router.completion("chat", MESSAGES, max_tokens=20))
        print("  statuses the emulator sent:", [r.status for r in emulator.requests])

        # 3. "chat" is down: after its retry, the fallback alias "backup" serves the call,
        #    rendered client-side with its prompt template and sent to /completions.
        emulator.add_fault(Fault(status=503), model=PRIMARY)
        with llmrouter.Router.from_file(CONFIG) as router:
            response = router.completion("chat", MESSAGES, max_tokens=20)
            served("chat down", response)
            print("  prompt sent to the fallback:", repr(response.llmrouter.prompt))
            # Streams fail over too, as long as no chunk has reached the caller yet.
            stream = router.completion("chat", MESSAGES, stream=True, max_tokens=8)
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            print(f"  streamed from {stream.llmrouter.deployment!r}: {text!r}")

        # 4. Everything is down: one typed error that says what was tried and why each failed.
        emulator.add_fault(Fault(status=503), model=BACKUP)
        with llmrouter.Router.from_file(CONFIG) as router:
            try:
                router.completion("chat", MESSAGES, max_tokens=20)
            except llmrouter.AllDeploymentsFailedError as exc:
                print(f"all down: {type(exc).__name__} after {len(exc.attempts)} attempts:")
                for deployment, error in exc.attempts:
                    status = getattr(error, "status_code", None)
                    print(f"  {deployment}: {type(error).__name__} (HTTP {status})")
        emulator.clear_faults()

        # 5. A plain 400 is the request's own fault: not retried, no fallback, raised as is.
        emulator.add_fault(Fault(status=400), model=PRIMARY, times=1)
        emulator.clear()
        with llmrouter.Router.from_file(CONFIG) as router:
            try:
                router.completion("chat", MESSAGES, max_tokens=20)
            except llmrouter.BadRequestError as exc:
                sent = len(emulator.requests)
                print(f"bad request: {type(exc).__name__} (HTTP {exc.status_code}), {sent} request")


if __name__ == "__main__":
    main()
