"""One version source: ``llmrouter.__version__`` feeds the package metadata and the User-Agent.

Before issue 14 pyproject.toml, ``__version__`` ("0.1.0") and the User-Agent (``llmrouter/0.1``)
each carried their own version. Now hatch reads ``__version__`` ([tool.hatch.version]) and
``_http.py`` builds the User-Agent from it; the server is the witness.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import llmrouter
from llmrouter.testing import TogetherEmulator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello"}]
ENGINES = ["sync", "httpx", "httpx-stock", "aiohttp", "native"]


async def _call(engine: str, where: dict[str, Any]) -> None:
    if engine == "sync":
        with llmrouter.Router() as router:
            router.completion(MODEL, MESSAGES, max_tokens=2, **where)
        return
    if engine in ("aiohttp", "native"):
        pytest.importorskip("httpx_aiohttp")
    async with llmrouter.AsyncRouter(engine=engine) as arouter:
        await arouter.completion(MODEL, MESSAGES, max_tokens=2, **where)


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ENGINES)
async def test_user_agent_carries_the_package_version(
    emu: TogetherEmulator, where: dict[str, Any], engine: str
) -> None:
    await _call(engine, where)
    (request,) = emu.requests
    assert request.headers["user-agent"] == f"llmrouter/{llmrouter.__version__}"
    assert llmrouter.__version__ == importlib.metadata.version("llmrouter")


def test_version_is_read_from_one_place() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "core/llmrouter/__init__.py"
    init = (ROOT / "core" / "llmrouter" / "__init__.py").read_text(encoding="utf-8")
    assert re.findall(r'^__version__ = "([^"]+)"$', init, flags=re.M) == [llmrouter.__version__]
    # no other hard-coded version of llmrouter in the core
    for path in (ROOT / "core" / "llmrouter").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"llmrouter/\d", text), path


def test_version_costs_no_metadata_lookup_at_import() -> None:
    """``import llmrouter`` stays light: the version is a literal, not importlib.metadata."""
    code = (
        "import sys, llmrouter; print(llmrouter.__version__, 'importlib.metadata' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split() == [llmrouter.__version__, "False"]
