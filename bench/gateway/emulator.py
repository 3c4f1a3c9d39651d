"""The Together emulator for bench/bench_gateway.py, with a knob a gateway cannot hide.

    python bench/gateway/emulator.py

It speaks bench/emulator_server.py's stdin protocol (the base URL on the first stdout line, then
one JSON line per command: ``stats``, ``reset``, ``quit``) plus ``tokens N``, which makes every
following reply N filler tokens long (``tokens 0``: back to the default reply). The streaming
benchmark needs 2,000-chunk streams, and bench/run.py asks for them with the
``x-emulator-tokens`` request header; a gateway (ours or LiteLLM's proxy) does not pass a
client's headers upstream, so the length is set here, between phases, instead.
"""

from __future__ import annotations

import json
import sys

from llmrouter.testing.emulator import TogetherEmulator


def main() -> int:
    emulator = TogetherEmulator("127.0.0.1", 0, record=False)
    emulator.start()
    try:
        sys.stdout.write(emulator.base_url + "\n")
        sys.stdout.flush()
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            answer: object
            if command == "stats":
                answer = emulator.stats
            elif command == "reset":
                emulator.reset_stats()
                answer = {"ok": True}
            elif command == "tokens" and arg.isdigit():
                emulator.reply_tokens = int(arg) or None
                answer = {"ok": True, "reply_tokens": emulator.reply_tokens}
            elif command == "quit":
                break
            else:
                answer = {
                    "error": f"unknown command {line.strip()!r} (stats, reset, tokens N, quit)"
                }
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
