"""docs/prompt-templates.md shows real output: its examples are generated from the code.

Run ``uv run python tests/templates/test_docs.py`` to rewrite the generated section after a
change; the test fails while the page and the code disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from llmrouter.errors import PromptTemplateError
from llmrouter.templates import render_prompt
from llmrouter.templates.builtin import ALIASES, FAMILIES
from llmrouter.templates.registry import MODELS_BY_FAMILY

DOC = Path(__file__).resolve().parents[2] / "docs" / "prompt-templates.md"
BEGIN = "<!-- BEGIN GENERATED: built-in examples (tests/templates/test_docs.py) -->"
END = "<!-- END GENERATED: built-in examples -->"

EXAMPLE = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "2+2?"},
]


def generated_section() -> str:
    lines = [BEGIN, ""]
    for family, template in FAMILIES.items():
        aliases = sorted(a for a, f in ALIASES.items() if f == family)
        models = MODELS_BY_FAMILY[family]
        lines.append(f"#### `{family}`")
        lines.append("")
        if aliases:
            lines.append("Aliases: " + ", ".join(f"`{a}`" for a in aliases) + ".  ")
        lines.append("Known models: " + ", ".join(f"`{m}`" for m in models) + ".  ")
        lines.append("Stop sequences: " + ", ".join(f"`{s!r}`" for s in template.stop) + ".")
        lines.append("")
        try:
            text = template.render(EXAMPLE)
            lines.append("The example conversation renders as:")
        except PromptTemplateError as exc:
            text = template.render(EXAMPLE[1:])
            lines.append(
                f"Rejects a system message ({exc.message!r}); without it the example renders as:"
            )
        lines.extend(["", "```python", repr(text), "```", ""])
    lines.append(END)
    return "\n".join(lines)


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_generated_examples_match_the_code() -> None:
    doc = _doc()
    assert BEGIN in doc and END in doc
    current = doc[doc.index(BEGIN) : doc.index(END) + len(END)]
    assert current == generated_section(), "run: uv run python tests/templates/test_docs.py"


def test_alias_table_matches_the_code() -> None:
    doc = _doc()
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", doc, flags=re.M))
    assert rows == ALIASES


def test_inline_examples_are_true() -> None:
    # Every ">>> render_prompt(...)" example in the page is followed by its exact output.
    doc = _doc()
    examples = re.findall(r">>> (render_prompt\(.*?\))\n(.*?)\n", doc, flags=re.S)
    assert examples
    for call, output in examples:
        result = eval(call, {"__builtins__": {}, "render_prompt": render_prompt})
        assert repr(result) == output, call


if __name__ == "__main__":
    text = _doc()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + generated_section() + text[end:], encoding="utf-8")
    sys.stdout.write(f"rewrote {DOC}\n")
