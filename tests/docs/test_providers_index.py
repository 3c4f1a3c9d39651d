"""docs/providers/index.md's table: one row per installed provider, with the columns issue 20
asks for (operations, streaming, tools, embeddings), and the OpenAI family's cells agreeing
with the presets they describe."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

INDEX = Path(__file__).resolve().parents[2] / "docs" / "providers" / "index.md"
HEADER = [
    "provider",
    "distribution",
    "key variables (first non-empty wins)",
    "base URL variables",
    "default base URL",
    "endpoints",
    "streaming",
    "tools",
    "notable options",
]


def rows() -> dict[str, dict[str, str]]:
    lines = INDEX.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| provider |"))
    header = [c.strip() for c in lines[start].strip("|").split(" | ")]
    assert header == HEADER
    out: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("| `"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == len(HEADER), line[:80]
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            out[name] = dict(zip(HEADER, cells, strict=True))
    return out


def test_every_installed_provider_has_a_row() -> None:
    installed = {ep.name for ep in importlib.metadata.entry_points(group="llmrouter.providers")}
    installed.discard("echo")  # the third-party example, when its tests install it
    assert installed <= set(rows()), sorted(installed - set(rows()))


def test_the_family_rows_match_the_presets() -> None:
    pytest.importorskip("llmrouter_openai")
    from llmrouter_openai import providers
    from llmrouter_openai.presets import PRESETS

    table = rows()
    for name, preset in PRESETS.items():
        row = table[name]
        assert row["distribution"] == "`llmrouter-openai`", name
        endpoints = row["endpoints"]
        assert ("embeddings" in endpoints) == ("embeddings" in preset.endpoints), name
        assert ("models" in endpoints) == ("models" in preset.endpoints), name
        offers_tools = "tools" in getattr(providers, name).chat_options.model_fields
        assert row["tools"] == ("yes" if offers_tools else "no"), name
        assert row["streaming"] == "yes", name
        for variable in preset.api_key_env:
            assert f"`{variable}`" in row["key variables (first non-empty wins)"], (name, variable)
