"""The pinned API version, ``anthropic_version="2023-06-01"``, against the SDK line that spoke it.

Anthropic's 0.x SDK (last release 0.125) sent ``anthropic-version: 2023-06-01`` with the key in
``x-api-key`` and still had ``temperature``, ``top_p`` and ``top_k``: it is the machine-readable
statement of that version. The project's lock holds the current SDK (2.x), so this module runs
in ``.ci/run``'s throwaway environment, which installs ``anthropic==0.125.0``
(``LLMROUTER_ANTHROPIC_LEGACY_SDK=1`` there makes a wrong SDK version a failure, not a skip).
Under the 2.x SDK of the normal test run it is skipped, with that reason.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anthropic
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anthropic_capture import KEY, capture, sent_by_llmrouter, sent_by_sdk

LEGACY = anthropic.__version__.startswith("0.")
if not LEGACY:
    if os.environ.get("LLMROUTER_ANTHROPIC_LEGACY_SDK") == "1":
        raise RuntimeError(f"the legacy step needs anthropic 0.x, found {anthropic.__version__}")
    pytest.skip(
        f"needs the 0.x anthropic SDK (found {anthropic.__version__}); .ci/run's legacy step "
        "installs anthropic==0.125.0 and runs this module",
        allow_module_level=True,
    )

MODEL = "claude-sonnet-4-6"
HI = [{"role": "user", "content": "Weather in Paris?"}]


def test_the_old_sdk_sends_what_llmrouter_sends_for_the_pinned_version() -> None:
    with capture(strict=True) as emu:
        sdk = sent_by_sdk(
            emu,
            model=MODEL,
            system="Be brief.",
            messages=HI,
            max_tokens=64,
            temperature=0.2,
            top_p=0.9,
            top_k=5,
            stop_sequences=["END"],
        )
        ours = sent_by_llmrouter(
            emu,
            model=MODEL,
            messages=[{"role": "system", "content": "Be brief."}, *HI],
            max_tokens=64,
            temperature=0.2,
            top_p=0.9,
            top_k=5,
            stop="END",
            anthropic_version="2023-06-01",
        )
    assert sdk.headers["anthropic-version"] == "2023-06-01"  # what the 0.x line sends
    assert sdk.status == 200 and ours.status == 200
    assert ours.body == sdk.body
    assert ours.headers["anthropic-version"] == sdk.headers["anthropic-version"]
    assert "x-api-key" in sdk.headers and "x-api-key" in ours.headers
    assert "authorization" not in ours.headers
    assert sdk.key_matches(KEY) and ours.key_matches(KEY)


def test_the_old_sdk_reads_the_emulators_old_version_answers_strictly() -> None:
    with capture(strict=True) as emu:
        client = anthropic.Anthropic(
            base_url=emu.base_url, api_key=KEY, max_retries=0, _strict_response_validation=True
        )
        message = client.messages.create(model=MODEL, max_tokens=64, messages=HI, temperature=0.5)
        assert message.content[0].type == "text" and message.stop_reason == "end_turn"
        with client.messages.stream(model=MODEL, max_tokens=64, messages=HI) as stream:
            text = "".join(stream.text_stream)
        assert text == message.content[0].text
        client.close()
