"""The code in docs/providers/openai.md runs, against the OpenAI emulators.

Every ```python block of the page runs in order, in one namespace, in a fresh interpreter with
``OPENAI_BASE_URL``/``OPENAI_API_KEY`` pointing at the strict emulator and
``OPENAI_COMPATIBLE_API_BASE`` at the lenient one, so the samples are written exactly as users
write them. A block preceded by ``<!-- docs-test: skip (why) -->`` is not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmrouter.testing import OpenAIEmulator

PAGE = Path(__file__).resolve().parents[3] / "docs" / "providers" / "openai.md"
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b")
FENCE = re.compile(r"^```(?P<lang>[^\s`]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
RUNNER = r"""
import json, sys
namespace = {"__name__": "__main__"}
for name, source in json.load(sys.stdin):
    exec(compile(source, name, "exec"), namespace)
"""


def python_blocks(text: str) -> list[tuple[str, str]]:
    blocks = []
    for match in FENCE.finditer(text):
        if match.group("lang") != "python":
            continue
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        if SKIP.search(before):
            continue
        line = text.count("\n", 0, match.start()) + 1
        blocks.append((f"{PAGE.name}:{line}", match.group("body")))
    return blocks


def test_page_has_runnable_samples() -> None:
    assert len(python_blocks(PAGE.read_text(encoding="utf-8"))) >= 5


def test_samples_run(oai: OpenAIEmulator, compat: OpenAIEmulator, tmp_path: Path) -> None:
    blocks = python_blocks(PAGE.read_text(encoding="utf-8"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI", "LLMROUTER_CONFIG", "TOGETHER"))
    }
    env.update(
        OPENAI_BASE_URL=oai.base_url,
        OPENAI_API_KEY="sk-docs-test-0123456789",
        OPENAI_COMPATIBLE_API_BASE=compat.base_url,
    )
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    if result.returncode != 0:
        pytest.fail(f"a docs sample failed:\n{result.stderr[-4000:]}")
    out = result.stdout
    assert "get_weather" in out and "'city'" in out
    assert "temperature" in out  # the InvalidRequestError sample
    paths = {r.path for r in oai.requests}
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/models"} <= paths
    assert compat.requests and compat.requests[0].body["top_k"] == 20
