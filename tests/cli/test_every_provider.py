"""``llmrouter plugins`` and ``llmrouter models`` name every installed provider: each entry point
of the ``llmrouter.providers`` group, whichever distribution declares it (issue 20)."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from typing import Any

PROVIDERS = sorted({ep.name for ep in entry_points(group="llmrouter.providers")})


def test_there_is_more_than_one_provider_to_list() -> None:
    # the workspace installs every first-party plugin: a broken install would make the tests
    # below pass vacuously
    assert {"together_ai", "openai", "anthropic", "gemini", "azure", "bedrock"} <= set(PROVIDERS)


def test_plugins_lists_every_provider(cli: Any) -> None:
    text = cli("plugins")
    listed = {line.split()[0] for line in text.stdout.splitlines() if line.startswith("  ")}
    missing = [name for name in PROVIDERS if name not in listed]
    assert not missing, f"llmrouter plugins leaves out {missing}"

    report = json.loads(cli("plugins", "--json").stdout)
    rows = {row["name"]: row for row in report["providers"]}
    assert sorted(rows) == PROVIDERS
    broken = {name: row["status"] for name, row in rows.items() if row["status"] != "ok"}
    assert not broken, f"providers that failed to load: {broken}"


def test_models_without_a_provider_names_every_provider(cli: Any) -> None:
    """With several providers installed, ``llmrouter models`` asks which, listing them all."""
    result = cli("models")
    assert result.returncode == 2
    (line,) = result.error_lines
    named = line.split("(providers: ", 1)[1].rstrip(")").split(", ")
    assert named == PROVIDERS
