"""The ``llmrouter`` command with ``-m gemini/...``: the real entry point in a subprocess, against
the Gemini emulator, the key from ``GEMINI_API_KEY`` and never echoed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from llmrouter_gemini.testing import GeminiEmulator

KEY = "AIza-CliTestKeyDoNotLeak-5a4b3c2d1e"


@pytest.fixture
def gemini() -> Iterator[GeminiEmulator]:
    with GeminiEmulator(api_key=KEY) as emu:
        yield emu


def run(emu: GeminiEmulator, *args: str) -> subprocess.CompletedProcess[str]:
    drop = ("GEMINI_", "GOOGLE_", "LLMROUTER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(GEMINI_API_KEY=KEY, GEMINI_API_BASE=emu.base_url)
    return subprocess.run(
        [sys.executable, "-m", "llmrouter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_chat_streams_geminis_answer(gemini: GeminiEmulator) -> None:
    result = run(gemini, "chat", "-m", "gemini/gemini-2.5-flash", "Hello", "there")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("This is a deterministic reply from the Gemini emulator")
    sent = gemini.requests[-1]
    assert ":streamGenerateContent" in sent.path
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "Hello there"}]}]
    assert sent.key_matches(KEY)
    assert KEY not in result.stdout + result.stderr


def test_models_lists_geminis_models(gemini: GeminiEmulator) -> None:
    result = run(gemini, "models", "gemini")
    assert result.returncode == 0, result.stderr
    assert "gemini-2.5-flash" in result.stdout and "models/" not in result.stdout
