"""docs/providers/bedrock.md says what the plugin does.

- Every translation example (a ``<!-- translation -->`` marker, then a ```json block with the
  arguments of ``llmrouter.completion`` and a ```json block with the Converse body) is checked
  against the plugin's own translation, so the page's before/after pairs are exact.
- Every option of the plugin is in the page's options table.
- Every ```python block runs, in order, in one namespace, in a fresh interpreter whose AWS
  variables point at the Bedrock emulator. A block preceded by ``<!-- docs-test: skip (why) -->``
  is not run. (The helpers: :mod:`llmrouter.testing.docs`.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from llmrouter.pipeline import Call
from llmrouter.testing.docs import python_blocks, run_python_blocks, translation_pairs
from llmrouter.validation import split_model, validate_messages
from llmrouter_bedrock.options import CREDENTIAL_OPTIONS, BedrockOptions, parse_options
from llmrouter_bedrock.request import converse_body
from llmrouter_bedrock.testing import BedrockEmulator

PAGE = Path(__file__).resolve().parents[3] / "docs" / "providers" / "bedrock.md"
TEXT = PAGE.read_text(encoding="utf-8")
PAIRS = translation_pairs(TEXT)


def test_the_page_has_a_translation_example_per_rule() -> None:
    assert len(PAIRS) >= 10
    assert TEXT.count("<!-- translation -->") == len(PAIRS)


@pytest.mark.parametrize(("where", "call", "expected"), PAIRS, ids=[p[0] for p in PAIRS])
def test_translation_examples_are_exact(
    where: str, call: dict[str, Any], expected: dict[str, Any]
) -> None:
    arguments = dict(call)
    provider, model = split_model(arguments.pop("model"))
    messages = validate_messages(arguments.pop("messages"))
    assert provider == "bedrock"
    options, _ = parse_options(arguments, provider=provider, model=model)
    built = converse_body(
        Call(operation="chat", provider=provider, model=model, messages=messages, params=arguments),
        options,
        messages,
    )
    assert built == expected


def test_every_option_is_in_the_options_table() -> None:
    table = TEXT.split("## Options", 1)[1].split("\n### ", 1)[0]
    for name in [*BedrockOptions.model_fields, *CREDENTIAL_OPTIONS]:
        assert f"`{name}`" in table, name


def test_python_blocks_run(tmp_path: Path) -> None:
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 5
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LLMROUTER_"))}
    with BedrockEmulator() as emulator:
        env.update(
            AWS_ENDPOINT_URL_BEDROCK_RUNTIME=emulator.url,
            AWS_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="AKIDDOCSTEST00000001",
            AWS_SECRET_ACCESS_KEY="docs-test-secret-0123456789",
            AWS_CONFIG_FILE=str(tmp_path / "no-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        proc = run_python_blocks(blocks, env, tmp_path)
        assert proc.returncode == 0, proc.stderr[-6000:]
        assert len(emulator.requests) >= 5, "the samples sent nothing to the emulator"
