"""docs/errors.md shows the error tree of errors.py, exactly, and names every public error."""

from __future__ import annotations

import re
from pathlib import Path

import llmrouter.errors as errors

PAGE = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _docstring_tree() -> str:
    doc = errors.__doc__ or ""
    start = doc.index("    LLMRouterError")
    end = doc.index("\n\n", start)
    return "\n".join(line[4:] for line in doc[start:end].splitlines())


def test_the_tree_matches_errors_py() -> None:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(r"```text\n(LLMRouterError\n.*?)\n```", text, re.S)
    assert match, "docs/errors.md lost its tree block"
    assert match.group(1) == _docstring_tree(), "copy the tree from core/llmrouter/errors.py"


def test_every_error_class_is_named() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for name in errors.__all__:
        if name[0].isupper():
            assert name in text, f"docs/errors.md does not mention {name}"
