"""The Together emulator as a benchmark subprocess that can report its request counts.

    python bench/emulator_server.py [--host 127.0.0.1] [--provider together|anthropic|gemini]

Like ``python -m llmrouter.testing`` it prints the base URL as its first stdout line, but it
also answers commands on stdin, one per line, with one JSON line on stdout:

``stats``  -> the emulator's counters (``total``, ``by_path``, ``by_status``, ``streams``...)
``reset``  -> zero the counters; answers ``{"ok": true}``

End of stdin (the runner closing the pipe) or ``quit`` stops the server. The runner uses the
counters to prove that every client really sent its requests to the emulator.
``--provider anthropic`` serves ``AnthropicEmulator`` (plugins/anthropic) and ``--provider gemini``
``GeminiEmulator`` (plugins/gemini) instead of Together's, for ``bench/bench_native.py``.
"""

from __future__ import annotations

import argparse
import json
import sys

from llmrouter.testing.emulator import BaseEmulator, TogetherEmulator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--provider", choices=("together", "anthropic", "gemini"), default="together"
    )
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark emulator only listens on loopback")
    emulator: BaseEmulator
    if args.provider == "anthropic":
        from llmrouter_anthropic.testing import AnthropicEmulator

        emulator = AnthropicEmulator(args.host, 0, record=False)
    elif args.provider == "gemini":
        from llmrouter_gemini.testing import GeminiEmulator

        emulator = GeminiEmulator(args.host, 0, record=False)
    else:
        emulator = TogetherEmulator(args.host, 0, record=False)
    emulator.start()
    try:
        sys.stdout.write(emulator.base_url + "\n")
        sys.stdout.flush()
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                answer: object = emulator.stats
            elif command == "reset":
                emulator.reset_stats()
                answer = {"ok": True}
            elif command == "quit":
                break
            else:
                answer = {"error": f"unknown command {command!r}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
