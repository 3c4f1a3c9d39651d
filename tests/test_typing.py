"""The public API's types as a type checker sees them (mypy, run on a small client file).

``completion`` / ``acompletion`` and the routers' ``completion`` return a ``ModelResponse`` or a
stream depending on ``stream``; before issue 14 they were typed ``Any``, so a checker knew
neither. The overloads on ``stream: Literal[True] / Literal[False]`` make it exact.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

CLIENT = """
import llmrouter
from llmrouter import AsyncRouter, Router

M = "together_ai/x"
MSGS = [{"role": "user", "content": "hi"}]


def sync(flag: bool) -> None:
    reveal_type(llmrouter.completion(M, MSGS))
    reveal_type(llmrouter.completion(M, MSGS, stream=False, max_tokens=5))
    reveal_type(llmrouter.completion(M, MSGS, stream=True))
    reveal_type(llmrouter.completion(M, MSGS, stream=flag))
    router = Router()
    reveal_type(router.completion(M, MSGS))
    reveal_type(router.completion(M, MSGS, stream=True))
    reveal_type(router.completion(M, MSGS, stream=flag))
    # what users write, checked without casts
    text: str | None = llmrouter.completion(M, MSGS).choices[0].message.content
    for chunk in llmrouter.completion(M, MSGS, stream=True):
        delta: str | None = chunk.choices[0].delta.content


async def not_sync(flag: bool) -> None:
    reveal_type(await llmrouter.acompletion(M, MSGS))
    reveal_type(await llmrouter.acompletion(M, MSGS, stream=True))
    reveal_type(await llmrouter.acompletion(M, MSGS, stream=flag))
    arouter = AsyncRouter()
    reveal_type(await arouter.completion(M, MSGS))
    reveal_type(await arouter.completion(M, MSGS, stream=True))
    reveal_type(await arouter.completion(M, MSGS, stream=flag))
    async for chunk in await llmrouter.acompletion(M, MSGS, stream=True):
        delta: str | None = chunk.choices[0].delta.content
"""

RESPONSE = "llmrouter.types.ModelResponse"
STREAM = "llmrouter._streaming.CompletionStream"
ASTREAM = "llmrouter._streaming.AsyncCompletionStream"

EXPECTED = [
    RESPONSE,
    RESPONSE,
    STREAM,
    f"{RESPONSE} | {STREAM}",
    RESPONSE,
    STREAM,
    f"{RESPONSE} | {STREAM}",
    RESPONSE,
    ASTREAM,
    f"{RESPONSE} | {ASTREAM}",
    RESPONSE,
    ASTREAM,
    f"{RESPONSE} | {ASTREAM}",
]


def test_mypy_knows_what_completion_returns(tmp_path: Path) -> None:
    source = tmp_path / "client.py"
    source.write_text(textwrap.dedent(CLIENT), encoding="utf-8")
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\npython_version = 3.11\n", encoding="utf-8")
    out, err, status = mypy_api.run(
        [
            str(source),
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--strict",
            "--follow-imports=silent",
            "--no-error-summary",
            "--hide-error-context",
        ]
    )
    revealed = re.findall(r'note: Revealed type is "([^"]+)"', out)
    others = [line for line in out.splitlines() if "Revealed type" not in line]
    assert others == [], out + err
    assert revealed == EXPECTED, out
    assert status == 0, out + err  # notes only: the user code above type-checks as written
