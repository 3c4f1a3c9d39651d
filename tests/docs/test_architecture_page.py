"""docs/architecture.md is the map of the code: what it names must exist (issue 14).

It used to cite DESIGN.md (a file outside the repository), name ``_StreamCore`` (the class is
``StreamCore``) and claim that all httpx knowledge lived in _http.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "llmrouter"
PAGE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def _sources() -> list[Path]:
    found = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    for top in ("core", "plugins", "examples"):
        found += [p for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts]
        found += [p for p in (ROOT / top).rglob("*.md") if ".venv" not in p.parts]
    return found


def test_nothing_cites_a_file_that_is_not_in_the_repository() -> None:
    assert not (ROOT / "DESIGN.md").exists()
    citing = [p for p in _sources() if "DESIGN.md" in p.read_text(encoding="utf-8")]
    assert citing == []


def test_every_module_in_the_map_exists() -> None:
    section = PAGE.split("## Where the code is", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z0-9_/]+\.py|[a-z0-9_]+/)`", section))
    assert len(named) > 15
    missing = [name for name in sorted(named) if not (CORE / name.rstrip("/")).exists()]
    missing = [name for name in missing if not list((ROOT / "plugins").rglob(name.rstrip("/")))]
    assert missing == []
    listed = {name for name in named if name.endswith(".py")}
    on_disk = {p.name for p in CORE.glob("*.py")} - {"__main__.py"}
    # and every module of the OpenAI-compatible toolkit, by its path below the core
    on_disk |= {f"openai_compat/{p.name}" for p in (CORE / "openai_compat").glob("*.py")}
    on_disk.discard("openai_compat/__init__.py")
    assert on_disk <= listed, f"modules missing from the map: {sorted(on_disk - listed)}"


def test_named_classes_exist_and_httpx_users_are_named() -> None:
    streaming = ast.parse((CORE / "_streaming.py").read_text(encoding="utf-8"))
    classes = {n.name for n in ast.walk(streaming) if isinstance(n, ast.ClassDef)}
    assert "StreamCore" in classes and "_StreamCore" not in PAGE
    # every core module that imports httpx or httpcore is named where the page says so
    section = PAGE.split("### Small, swappable I/O", 1)[1].split("\n## ", 1)[0]
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        if imported & {"httpx", "httpcore"}:
            assert f"`{path.name}`" in section or f"`llmrouter/{path.name}`" in section, path.name


def test_plugins_and_examples_use_only_public_modules() -> None:
    """The page says the providers are built on the public toolkit only: no ``llmrouter._x``."""
    sources = [
        *(ROOT / "plugins").glob("*/llmrouter_*/*.py"),
        *(ROOT / "examples").glob("plugin-*/llmrouter_*/*.py"),
        *(ROOT / "examples").glob("plugin-*/llmrouter_*.py"),
    ]
    assert len(sources) > 10
    private = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if isinstance(node, ast.ImportFrom) and node.module == "llmrouter":
                names += [f"llmrouter.{a.name}" for a in node.names]
            private += [f"{path.name}: {n}" for n in names if n.startswith("llmrouter._")]
    assert private == []
