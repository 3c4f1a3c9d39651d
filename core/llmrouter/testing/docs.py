"""Check a provider's documentation page against the provider: helpers for plugin tests.

A provider page (docs/providers/<name>.md) shows translation examples and runnable samples. Two
conventions make them testable:

- a translation example is a ``<!-- translation -->`` marker followed by two ```json blocks, the
  arguments of ``llmrouter.completion`` and the body the provider sends for them
  (:func:`translation_pairs` reads them; the plugin's test rebuilds each body and compares);
- every ```python block runs, in order, in one namespace, in a fresh interpreter pointed at the
  provider's emulator (:func:`python_blocks`, :func:`run_python_blocks`); a block preceded by
  ``<!-- docs-test: skip (why) -->`` is left out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["python_blocks", "run_python_blocks", "translation_pairs"]

_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b")
_FENCE = re.compile(r"^```(?P<lang>[^\s`]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
_PAIR = re.compile(
    r"<!-- translation -->\s*```json\n(?P<call>.*?)^```\s*```json\n(?P<body>.*?)^```", re.M | re.S
)
_RUNNER = r"""
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


def translation_pairs(text: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(where, call arguments, body)`` for each translation example of a page's ``text``."""
    pairs = []
    for match in _PAIR.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        pairs.append((f"line {line}", json.loads(match["call"]), json.loads(match["body"])))
    return pairs


def python_blocks(page: Path) -> list[tuple[str, str]]:
    """``(page:line, source)`` of each ```python block of ``page`` that is not marked skip."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        if match["lang"] != "python":
            continue
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        if _SKIP.search(before):
            continue
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((f"{page.name}:{line}", match["body"]))
    return blocks


def run_python_blocks(
    blocks: list[tuple[str, str]], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``blocks`` in order, in one namespace, in a fresh interpreter with ``env``; the
    failing block is named on stderr."""
    return subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=120,
    )
