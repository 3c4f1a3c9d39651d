"""``import llmrouter`` imports no provider plugin, with every plugin installed (issue 20).

The plugins are found by name, through their entry points, and imported on the first call that
names one; importing llmrouter, or listing the providers, must import none of them. The time this
keeps ``import llmrouter`` at is measured in docs/performance.md ("import llmrouter with every
plugin installed").
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

GROUPS = ("llmrouter.providers", "llmrouter.plugins", "llmrouter.commands")
PROBE = """
import json, sys
import llmrouter
after_import = sorted(sys.modules)
names = llmrouter.providers()
print(json.dumps({"after_import": after_import, "after_listing": sorted(sys.modules),
                  "providers": names}))
"""


def _plugin_packages() -> set[str]:
    """The top-level packages of every installed plugin (``llmrouter_openai`` for
    ``llmrouter_openai.providers:openai``), llmrouter's own built-ins left out."""
    packages = set()
    for group in GROUPS:
        for ep in entry_points(group=group):
            top = ep.value.split(":", 1)[0].split(".", 1)[0]
            if top != "llmrouter":
                packages.add(top)
    return packages


def test_import_llmrouter_imports_no_plugin() -> None:
    packages = _plugin_packages()
    assert {"llmrouter_together", "llmrouter_openai", "llmrouter_anthropic"} <= packages
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    seen = json.loads(out.stdout)
    for moment in ("after_import", "after_listing"):
        loaded = {m.split(".", 1)[0] for m in seen[moment]} & packages
        assert not loaded, f"{moment.replace('_', ' ')}: {sorted(loaded)} imported"
    installed = {ep.name for ep in entry_points(group="llmrouter.providers")}
    assert set(seen["providers"]) == installed
