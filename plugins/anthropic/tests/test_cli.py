"""The ``llmrouter`` command with ``-m anthropic/...``: the real entry point in a subprocess,
against the Anthropic emulator, the key from ``ANTHROPIC_API_KEY`` and never echoed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from llmrouter_anthropic.testing import AnthropicEmulator

KEY = "sk-ant-api03-CliTestKeyDoNotLeak-5a4b3c2d1e"


@pytest.fixture
def claude() -> Iterator[AnthropicEmulator]:
    with AnthropicEmulator(api_key=KEY) as emu:
        yield emu


def run(emu: AnthropicEmulator, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LLMROUTER_"))}
    env.update(ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=emu.base_url)
    return subprocess.run(
        [sys.executable, "-m", "llmrouter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_chat_streams_claudes_answer(claude: AnthropicEmulator) -> None:
    result = run(claude, "chat", "-m", "anthropic/claude-sonnet-4-6", "Hello", "there")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("This is a deterministic reply from the Anthropic emulator")
    sent = claude.requests[-1]
    assert sent.path == "/v1/messages" and sent.body["stream"] is True
    assert sent.body["messages"] == [{"role": "user", "content": "Hello there"}]
    assert sent.key_matches(KEY)
    assert KEY not in result.stdout + result.stderr


def test_chat_error_is_one_line_without_the_key(claude: AnthropicEmulator) -> None:
    result = run(
        claude,
        "chat",
        "-m",
        "anthropic/claude-sonnet-4-6",
        "--api-key",
        "sk-ant-wrong-0123456789abcdef",
        "hi",
    )
    assert result.returncode != 0
    assert "AuthenticationError" in result.stderr or "authentication" in result.stderr.lower()
    assert "sk-ant-wrong-0123456789abcdef" not in result.stdout + result.stderr


def test_models_lists_claudes_models(claude: AnthropicEmulator) -> None:
    result = run(claude, "models", "anthropic")
    assert result.returncode == 0, result.stderr
    assert "claude-sonnet-4-6" in result.stdout
