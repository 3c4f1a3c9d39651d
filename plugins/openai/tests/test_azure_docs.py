"""docs/providers/azure.md says what the ``azure`` provider does, and its samples run.

Every ```python block runs, in order, in one namespace, in a fresh interpreter whose
``AZURE_OPENAI_ENDPOINT``, ``AZURE_OPENAI_API_KEY`` and ``OPENAI_API_VERSION`` point at the Azure
emulator (deployments ``my-gpt-4o`` and ``my-embeddings``), so the samples are written as users
write them. A block preceded by ``<!-- docs-test: skip (why) -->`` is not run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from llmrouter.testing.azure_emulator import AzureOpenAIEmulator
from llmrouter.testing.docs import python_blocks, run_python_blocks
from llmrouter_openai import azure

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "providers" / "azure.md"
TEXT = PAGE.read_text(encoding="utf-8")

#: Until the installed metadata of llmrouter-openai holds the ``azure`` entry point (a re-sync
#: of the workspace), the fresh interpreter registers the same object in code.
REGISTER = (
    "import llmrouter\n"
    "from llmrouter_openai.azure import provider\n"
    "if 'azure' not in llmrouter.providers():\n"
    "    llmrouter.register_provider('azure', provider)\n"
)


def test_python_blocks_run(tmp_path: Path) -> None:
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 6
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE", "OPENAI", "LLMROUTER_", "MY_ENTRA"))
    }
    deployments = {"my-gpt-4o": "gpt-4o", "my-embeddings": "text-embedding-3-small"}
    with AzureOpenAIEmulator(api_key="docs-key-0123456789", deployments=deployments) as emulator:
        env["AZURE_OPENAI_ENDPOINT"] = emulator.endpoint
        env["AZURE_OPENAI_API_KEY"] = "docs-key-0123456789"
        env["OPENAI_API_VERSION"] = "2024-10-21"
        proc = run_python_blocks([("register", REGISTER), *blocks], env, tmp_path)
        assert proc.returncode == 0, proc.stderr[-6000:]
        paths = {r.path for r in emulator.requests}
        assert all(r.status == 200 for r in emulator.requests), proc.stdout
    assert "/openai/deployments/my-gpt-4o/chat/completions" in paths
    assert "/openai/v1/chat/completions" in paths
    assert "/openai/deployments/my-embeddings/embeddings" in paths


def test_every_variable_and_setting_is_documented() -> None:
    table = TEXT.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    for name in (
        *azure.API_KEY_ENV,
        *azure.ENDPOINT_ENV,
        *azure.API_VERSION_ENV,
        *azure.AD_TOKEN_ENV,
    ):
        assert f"`{name}`" in table, name
    options = TEXT.split("## Options", 1)[1].split("\n## ", 1)[0]
    for name in (*sorted(azure.AZURE_SETTINGS), "data_sources", "user_security_context"):
        assert f"`{name}`" in options, name


def test_listed_in_the_providers_index_and_the_nav() -> None:
    index = (ROOT / "docs" / "providers" / "index.md").read_text(encoding="utf-8")
    row = next(line for line in index.splitlines() if line.startswith("| `azure` "))
    assert "`AZURE_OPENAI_API_KEY`" in row and "`AZURE_OPENAI_ENDPOINT`" in row
    assert "[Azure OpenAI](azure.md)" in index
    assert "providers/azure.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_entry_point_is_declared() -> None:
    """``llmrouter providers`` lists what the entry points name: the distribution declares
    ``azure``, and its target is this provider."""
    pyproject = (ROOT / "plugins" / "openai" / "pyproject.toml").read_text(encoding="utf-8")
    group = pyproject.split('[project.entry-points."llmrouter.providers"]', 1)[1].split("\n[", 1)[0]
    (target,) = re.findall(r'^azure = "([^"]+)"$', group, re.M)
    module, _, name = target.partition(":")
    assert module == azure.__name__ and getattr(azure, name) is azure.provider
