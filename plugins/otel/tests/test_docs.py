"""The Python samples of docs/tracing.md run, each in a fresh interpreter (the console sample
sets the global tracer provider, which a process can do once) against the Together emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmrouter.testing import TogetherEmulator

PAGE = Path(__file__).resolve().parents[3] / "docs" / "tracing.md"
FENCE = re.compile(r"^```python\n(?P<body>.*?)^```$", re.M | re.S)


def samples() -> list[str]:
    return [m["body"] for m in FENCE.finditer(PAGE.read_text(encoding="utf-8"))]


def test_the_page_has_the_samples_this_test_expects() -> None:
    bodies = samples()
    assert len(bodies) == 4
    assert "llmrouter_otel.instrument()" in bodies[0]
    assert "ConsoleSpanExporter" in bodies[1] and "OTLPSpanExporter" in bodies[2]
    assert "InMemorySpanExporter" in bodies[3]


def test_otlp_sample_compiles() -> None:
    # Not run: it needs opentelemetry-exporter-otlp (not a dev dependency) and a collector.
    compile(samples()[0], f"{PAGE.name}[0]", "exec")
    compile(samples()[2], f"{PAGE.name}[2]", "exec")


@pytest.mark.parametrize("index", [1, 3], ids=["console", "own-provider"])
def test_sample_runs(emu: TogetherEmulator, index: int) -> None:
    source = samples()[index]
    env = {
        **os.environ,
        "TOGETHERAI_API_BASE": emu.base_url,
        "TOGETHERAI_API_KEY": "tgp_v1_DocsSampleKey_0123456789",
    }
    done = subprocess.run(
        [sys.executable, "-c", source], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    if index == 1:
        assert '"name": "chat meta-llama/Llama-3.3-70B-Instruct-Turbo"' in done.stdout
        assert "tgp_v1_DocsSampleKey" not in done.stdout
    if index == 3:
        assert "'chat meta-llama/Llama-3.3-70B-Instruct-Turbo'" in done.stdout
    assert len(emu.requests) == 1
