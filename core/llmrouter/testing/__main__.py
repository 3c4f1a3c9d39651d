"""``python -m llmrouter.testing``: run the Together emulator in the foreground.

Prints the base URL (``http://127.0.0.1:PORT/v1``) as the first line of stdout once it is
listening, then serves until SIGTERM or SIGINT. Benchmarks start it this way, pinned to a core.
:func:`main` also runs another emulator class with the same options (``python -m
llmrouter_anthropic.testing`` runs the Anthropic one).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import Any

from llmrouter.testing.emulator import BaseEmulator, OpenAICompatibleEmulator, TogetherEmulator


def build_parser(
    prog: str = "python -m llmrouter.testing",
    description: str = "Serve a Together AI compatible API emulator on localhost.",
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--api-key", default=None, help="require exactly this bearer key (default: any non-empty)"
    )
    parser.add_argument("--reply", default=None, help="fixed reply text")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each response")
    parser.add_argument(
        "--reply-tokens", type=int, default=None, help="make every reply this many filler tokens"
    )
    parser.add_argument("--embedding-dim", type=int, default=8, help="embedding vector size")
    parser.add_argument(
        "--no-log", action="store_true", help="do not record requests (long benchmark runs)"
    )
    parser.add_argument(
        "--print-url",
        action="store_true",
        help="accepted for compatibility: the base URL is always printed first",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    emulator_class: type[BaseEmulator] = TogetherEmulator,
    parser: argparse.ArgumentParser | None = None,
) -> int:
    """Serve ``emulator_class`` (``--embedding-dim`` applies to the OpenAI-compatible ones)."""
    args = (parser or build_parser()).parse_args(argv)
    options: dict[str, Any] = {
        "api_key": args.api_key,
        "reply": args.reply,
        "latency": args.latency,
        "reply_tokens": args.reply_tokens,
        "record": not args.no_log,
    }
    if issubclass(emulator_class, OpenAICompatibleEmulator):
        options["embedding_dim"] = args.embedding_dim
    emulator = emulator_class(args.host, args.port, **options)

    def announce(emu: BaseEmulator) -> None:
        sys.stdout.write(emu.base_url + "\n")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C during shutdown
        emulator.serve_forever(on_ready=announce)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
