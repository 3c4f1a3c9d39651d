"""docs/caching.md's code runs: each ```python block (unless marked
``<!-- docs-test: skip (why) -->``) is executed in order, in one fresh interpreter, against
the Together emulator, written exactly as a user would (the key and base URL in the
environment), with the shared runner of :mod:`llmrouter.testing.docs`."""

from __future__ import annotations

import os
from pathlib import Path

from llmrouter.testing import TogetherEmulator
from llmrouter.testing.docs import python_blocks, run_python_blocks

PAGE = Path(__file__).resolve().parents[2] / "docs" / "caching.md"


def test_caching_page_code_runs(emulator: TogetherEmulator, tmp_path: Path) -> None:
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 2
    assert PAGE.read_text(encoding="utf-8").count("docs-test: skip") == 1
    emulator.clear()
    env = {
        **os.environ,
        "TOGETHERAI_API_BASE": emulator.base_url,
        "TOGETHERAI_API_KEY": "tgp_v1_DocsTestKey_0123456789",
    }
    done = run_python_blocks(blocks, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "CacheStats(hits=1, misses=1, stores=1, errors=0)" in done.stdout
    # The first block sends one request for two calls. In the second, no-cache is sent; the
    # no-store and s-maxage calls are answered by the entry it refreshed; the namespace misses.
    assert len(emulator.requests) == 3
