"""Run the real ``llmrouter`` entry point in a subprocess, pointed at the session's emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmrouter.testing import TogetherEmulator

TEST_KEY = "tgp_v1_CliTestKeyDoNotLeak_5a4b3c2d1e"
MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"

_PROVIDER_ENV = (
    "TOGETHERAI_API_KEY",
    "TOGETHER_API_KEY",
    "TOGETHER_AI_TOKEN",
    "TOGETHERAI_API_BASE",
    "TOGETHER_BASE_URL",
    "LLMROUTER_CONFIG",
)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error: ")]


class CLI:
    """``cli("chat", "-m", MODEL, "hi")`` runs ``python -m llmrouter`` and returns a Result."""

    def __init__(self, emulator: TogetherEmulator, cwd: Path) -> None:
        self.emulator = emulator
        self.cwd = cwd

    def env(
        self, *, key: str | None = TEST_KEY, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _PROVIDER_ENV}
        env["TOGETHERAI_API_BASE"] = self.emulator.base_url
        if key is not None:
            env["TOGETHERAI_API_KEY"] = key
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "llmrouter", *args]

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        key: str | None = TEST_KEY,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        proc = subprocess.run(
            self.argv(*args),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=self.env(key=key, extra=env),
            cwd=self.cwd,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(emu: TogetherEmulator, tmp_path: Path) -> CLI:
    return CLI(emu, tmp_path)
