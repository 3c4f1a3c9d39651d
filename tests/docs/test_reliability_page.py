"""docs/reliability.md proves each guarantee with named tests: every test it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REF = re.compile(r"((?:tests|plugins)/[\w/]+\.py)::(\w+)")


def test_every_test_the_page_names_exists() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    refs = REF.findall(text)
    assert len(refs) > 50
    missing = []
    for path, name in refs:
        source = ROOT / path
        if not source.exists() or not re.search(rf"def {name}\b", source.read_text("utf-8")):
            missing.append(f"{path}::{name}")
    assert missing == []
