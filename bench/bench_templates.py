"""Time built-in prompt templates against the official Jinja templates they reproduce.

    uv run python bench/bench_templates.py [iterations]

For every family: render a 6-message conversation with the built-in (pure Python) and with the
official chat_template compiled the transformers way (jinja2 sandbox), check the two outputs are
identical, and print microseconds per render (best of 5 runs, to damp scheduler noise).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmrouter.errors import PromptTemplateError
from llmrouter.templates.builtin import FAMILIES

DATA = Path(__file__).resolve().parents[1] / "tests" / "templates" / "data" / "templates.json"

WITH_SYSTEM = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Germany?\nOne word, please."},
    {"role": "assistant", "content": "Berlin."},
    {"role": "user", "content": "Thanks! Now Italy?"},
]
# For templates that reject a system message: still six messages.
WITHOUT_SYSTEM = [
    *WITH_SYSTEM[1:],
    {"role": "assistant", "content": "Rome."},
]


def _official_env() -> ImmutableSandboxedEnvironment:
    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def _per_call_us(fn: Callable[[], object], iterations: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / iterations)
    return best / 1000


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    env = _official_env()
    entries = {e["family"]: e for e in json.loads(DATA.read_text(encoding="utf-8"))}
    print(f"{'family':34} {'msgs':>4} {'built-in us':>12} {'jinja us':>10} {'speedup':>8}")
    builtin_times = []
    for family, template in FAMILIES.items():
        entry = entries[family]
        try:
            template.render(WITH_SYSTEM)
            messages = WITH_SYSTEM
        except PromptTemplateError:
            messages = WITHOUT_SYSTEM
        official = env.from_string(entry["template"])
        kwargs = {"bos_token": "", "eos_token": entry["eos_token"] or ""}

        def render_official(
            official: jinja2.Template = official,
            messages: list[dict[str, str]] = messages,
            kwargs: dict[str, str] = kwargs,
        ) -> str:
            return official.render(messages=messages, add_generation_prompt=True, **kwargs)

        def render_builtin(
            template: Any = template, messages: list[dict[str, str]] = messages
        ) -> str:
            return template.render(messages)

        assert render_builtin() == render_official(), family
        ours = _per_call_us(render_builtin, iterations)
        theirs = _per_call_us(render_official, max(iterations // 10, 1))
        builtin_times.append(ours)
        print(
            f"{family:34} {len(messages):>4} {ours:>12.2f} {theirs:>10.2f} {theirs / ours:>7.0f}x"
        )
    builtin_times.sort()
    low, mid, high = builtin_times[0], builtin_times[len(builtin_times) // 2], builtin_times[-1]
    print(
        f"built-in: min {low:.2f} us, median {mid:.2f} us, max {high:.2f} us per 6-message "
        f"render (Python {sys.version.split()[0]})"
    )


if __name__ == "__main__":
    main()
