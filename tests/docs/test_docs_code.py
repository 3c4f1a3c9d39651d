"""The code in the docs runs: every ```python block of the pages below is executed against the
Together emulator, so a sample cannot rot.

Rules for writers:

- Blocks of one page run in order, in one namespace, in a fresh interpreter whose working
  directory is a temporary folder. ``TOGETHERAI_API_BASE`` points at the emulator and
  ``TOGETHERAI_API_KEY`` is set, so samples are written exactly as users would write them.
- A block that must not run (it calls the live API, shows a signature, needs a server you do not
  have) is preceded by ``<!-- docs-test: skip (why) -->`` on the line before its fence.
- A block that only includes a file (``--8<-- "examples/..."``) is not run here: the included
  file is tested where it lives.
- ``write-a-provider.md`` also gets the example echo provider: ``examples/plugin-echo`` on the
  path with its entry point declared (a throw-away ``.dist-info``, so discovery is the real
  entry-point road) and an Echo API server behind ``ECHO_API_BASE``.

Pages written by other tests' owners (prompt-templates.md has tests/templates/test_docs.py) are
not listed here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from llmrouter.testing import TogetherEmulator

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [
    "index.md",
    "quickstart.md",
    "providers/together.md",
    "errors.md",
    "logging.md",
    "cli.md",
    "architecture.md",
    "write-a-provider.md",
    "cost.md",
]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[^\s`]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)

RUNNER = r"""
import json, sys, traceback
blocks = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
for name, source in blocks:
    try:
        exec(compile(source, name, "exec"), namespace)
    except BaseException:
        sys.stderr.write(f"\n--- the block at {name} failed:\n{source}\n")
        traceback.print_exc()
        sys.exit(1)
"""

ECHO_SETUP = """
import atexit, os
from llmrouter_echo.server import EchoServer
_echo_server = EchoServer().start()
atexit.register(_echo_server.stop)
os.environ["ECHO_API_BASE"] = _echo_server.base_url
"""


def code_blocks(page: str, lang: str = "python") -> list[tuple[str, str]]:
    """``(page:line, source)`` of the blocks to run, in order."""
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if match["lang"] != lang:
            continue
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        body = match["body"]
        if SKIP.search(before) or "--8<--" in body:
            continue
        indent = match["indent"]
        lines = [
            line[len(indent) :] if line.startswith(indent) else line for line in body.splitlines()
        ]
        line_no = text.count("\n", 0, match.start()) + 2
        blocks.append((f"docs/{page}:{line_no}", "\n".join(lines) + "\n"))
    return blocks


def _echo_on_path(tmp_path: Path) -> str:
    """examples/plugin-echo importable, with its entry point declared, without installing it."""
    site = tmp_path / "echo-site"
    dist = site / "llmrouter_echo-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: llmrouter-echo\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[llmrouter.providers]\necho = llmrouter_echo.plugin\n", encoding="utf-8"
    )
    return os.pathsep.join([str(site), str(ROOT / "examples" / "plugin-echo")])


def _pages_with_code() -> list[str]:
    return [p for p in PAGES if (DOCS / p).is_file() and code_blocks(p)]


@pytest.mark.parametrize("page", _pages_with_code())
def test_python_blocks_run(page: str, emulator: TogetherEmulator, tmp_path: Path) -> None:
    blocks = code_blocks(page)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOGETHER", "LLMROUTER_"))}
    env["TOGETHERAI_API_BASE"] = emulator.base_url
    env["TOGETHERAI_API_KEY"] = "docs-test-key-0123456789"
    if page == "write-a-provider.md":
        env["PYTHONPATH"] = _echo_on_path(tmp_path)
        blocks.insert(0, ("<echo setup>", ECHO_SETUP))
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


def test_every_page_exists_and_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        assert (DOCS / page).is_file(), page
        assert f" {page}" in nav, f"{page} is missing from the nav in mkdocs.yml"


def test_cli_examples_parse() -> None:
    """Every ``$ llmrouter ...`` line in the CLI page is a command the parser accepts."""
    from llmrouter.cli import build_parser

    parser = build_parser()
    commands = []
    for page in PAGES:
        for _, block in code_blocks(page, "console"):
            commands += [line[2:] for line in block.splitlines() if line.startswith("$ llmrouter ")]
    assert len(commands) >= 8
    for command in commands:
        argv = shlex.split(command.split(" | ")[0].split(" > ")[0])[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version exit 0; a rejected command exits 2
            if exc.code not in (0, None):
                raise AssertionError(f"docs show a command the CLI rejects: {command}") from exc
