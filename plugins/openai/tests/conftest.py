"""Fixtures for the OpenAI family: OpenAI-flavoured emulators on 127.0.0.1, a clean environment.

``oai`` is api.openai.com as the emulator plays it (strict: unknown fields are a 400, a key is
required). ``compat`` plays a local OpenAI-compatible server (vLLM, llama.cpp, Ollama): extra
fields accepted, no key needed. Both are session-wide and reset per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmrouter.testing import OpenAIEmulator
from llmrouter_openai.presets import PRESETS

OPENAI_KEY = "sk-proj-TestKeyDoNotLeak0123456789abcdef"

#: Every variable any preset reads: tests never see a developer's real keys or URLs.
PRESET_ENV = sorted(
    {
        name
        for preset in PRESETS.values()
        for name in (
            *preset.api_key_env,
            *preset.api_base_env,
            *(variable.name for variable in preset.sdk_base_env),
            *(n for _, names in preset.header_env for n in names),
        )
    }
)


@pytest.fixture(scope="session")
def openai_emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def compat_emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(strict=False, require_key=False) as emu:
        yield emu


def _clean(emu: OpenAIEmulator) -> None:
    emu.clear_faults()
    emu.clear()
    emu.reply = None
    emu.api_key = None


@pytest.fixture
def oai(openai_emulator: OpenAIEmulator) -> Iterator[OpenAIEmulator]:
    """The strict (api.openai.com-like) emulator, with a clean log and no faults."""
    _clean(openai_emulator)
    yield openai_emulator
    _clean(openai_emulator)


@pytest.fixture
def compat(compat_emulator: OpenAIEmulator) -> Iterator[OpenAIEmulator]:
    """The lenient, key-optional (local server-like) emulator, reset."""
    _clean(compat_emulator)
    yield compat_emulator
    _clean(compat_emulator)


@pytest.fixture
def at_oai(oai: OpenAIEmulator) -> dict[str, Any]:
    """Keyword arguments that point an ``openai/...`` call at the emulator."""
    return {"api_base": oai.base_url, "api_key": OPENAI_KEY}


@pytest.fixture(autouse=True)
def _no_family_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PRESET_ENV:
        monkeypatch.delenv(name, raising=False)
