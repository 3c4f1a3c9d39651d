"""Alias kept for the docs and habits: ``python3 bench/bench_anthropic.py [args]`` runs
``python3 bench/bench_native.py --provider anthropic [args]`` (the Anthropic path, issue 15).
"""

from __future__ import annotations

import sys

import bench_native  # bench/bench_native.py, next to this file

if __name__ == "__main__":
    raise SystemExit(bench_native.main(["--provider", "anthropic", *sys.argv[1:]]))
