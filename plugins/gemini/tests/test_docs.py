"""docs/providers/gemini.md says what the plugin does.

- Every translation example (a ``<!-- translation -->`` marker, then a ```json block with the
  arguments of ``llmrouter.completion`` and a ```json block with the body) is checked against
  the plugin's own translation, so the page's before/after pairs are exact.
- Every ```python block runs, in order, in one namespace, in a fresh interpreter whose
  ``GEMINI_API_BASE`` points at the Gemini emulator (skipped while the emulator is not
  there). A block preceded by ``<!-- docs-test: skip (why) -->`` is not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmrouter.pipeline import Call
from llmrouter.validation import split_model, validate_messages
from llmrouter_gemini.options import GeminiOptions, parse_options
from llmrouter_gemini.request import generate_body

PAGE = Path(__file__).resolve().parents[3] / "docs" / "providers" / "gemini.md"
TEXT = PAGE.read_text(encoding="utf-8")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b")
FENCE = re.compile(r"^```(?P<lang>[^\s`]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
PAIR = re.compile(
    r"<!-- translation -->\s*```json\n(?P<call>.*?)^```\s*```json\n(?P<body>.*?)^```", re.M | re.S
)
RUNNER = r"""
import json, sys, traceback
namespace = {"__name__": "__main__"}
for name, source in json.load(sys.stdin):
    try:
        exec(compile(source, name, "exec"), namespace)
    except BaseException:
        sys.stderr.write(f"\n--- the block at {name} failed:\n{source}\n")
        traceback.print_exc()
        sys.exit(1)
"""


def translation_pairs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    pairs = []
    for match in PAIR.finditer(TEXT):
        line = TEXT.count("\n", 0, match.start()) + 1
        pairs.append((f"line {line}", json.loads(match["call"]), json.loads(match["body"])))
    return pairs


PAIRS = translation_pairs()


def test_the_page_has_a_translation_example_per_rule() -> None:
    assert len(PAIRS) >= 10
    assert TEXT.count("<!-- translation -->") == len(PAIRS)


@pytest.mark.parametrize(("where", "call", "expected"), PAIRS, ids=[p[0] for p in PAIRS])
def test_translation_examples_are_exact(
    where: str, call: dict[str, Any], expected: dict[str, Any]
) -> None:
    arguments = dict(call)
    provider, model = split_model(arguments.pop("model"))
    messages = validate_messages(arguments.pop("messages"))
    assert provider == "gemini"
    options = parse_options(arguments, provider=provider, model=model)
    built = generate_body(
        Call(operation="chat", provider=provider, model=model, messages=messages, params=arguments),
        options,
        messages,
    )
    assert built == expected


def test_every_option_is_in_the_options_table() -> None:
    table = TEXT.split("## Options", 1)[1].split("\n### ", 1)[0]
    for name in GeminiOptions.model_fields:
        assert f"`{name}`" in table, name


def python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for match in FENCE.finditer(TEXT):
        if match["lang"] != "python":
            continue
        before = TEXT[: match.start()].rstrip().rsplit("\n", 1)[-1]
        if SKIP.search(before):
            continue
        line = TEXT.count("\n", 0, match.start()) + 2
        blocks.append((f"{PAGE.name}:{line}", match["body"]))
    return blocks


def test_python_blocks_run(tmp_path: Path) -> None:
    testing = pytest.importorskip(
        "llmrouter_gemini.testing", reason="the Gemini emulator is not there yet"
    )
    blocks = python_blocks()
    assert len(blocks) >= 4
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "LLMROUTER_"))
    }
    with testing.GeminiEmulator() as emulator:
        env["GEMINI_API_BASE"] = emulator.base_url
        env["GEMINI_API_KEY"] = "AIzaSyDocsTest0123456789"
        proc = subprocess.run(
            [sys.executable, "-c", RUNNER],
            input=json.dumps(blocks),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-6000:]
        assert emulator.requests, "the samples sent nothing to the emulator"
