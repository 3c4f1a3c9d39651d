"""Shared fixtures: a real Together emulator on 127.0.0.1 for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import llmrouter
from llmrouter.testing import TogetherEmulator

CHAT_MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
TEST_KEY = "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a"


@pytest.fixture(scope="session")
def emulator() -> Iterator[TogetherEmulator]:
    with TogetherEmulator() as emu:
        yield emu


@pytest.fixture
def emu(emulator: TogetherEmulator) -> Iterator[TogetherEmulator]:
    """The session emulator with a clean request log and no faults left over."""
    emulator.clear_faults()
    emulator.clear()
    yield emulator
    emulator.clear_faults()


@pytest.fixture
def where(emu: TogetherEmulator) -> dict[str, Any]:
    """Keyword arguments that point a call at the emulator."""
    return {"api_base": emu.base_url, "api_key": TEST_KEY}


@pytest.fixture(autouse=True)
def _no_together_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a developer's real key or base URL."""
    for name in (
        "TOGETHERAI_API_KEY",
        "TOGETHER_API_KEY",
        "TOGETHER_AI_TOKEN",
        "TOGETHERAI_API_BASE",
        "TOGETHER_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _fresh_default_routers() -> Iterator[None]:
    yield
    llmrouter.reset_default_routers()
