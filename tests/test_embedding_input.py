"""Embedding ``input``: text or token ids, checked before any I/O.

``Call.input`` promised ``list[list[int]]`` while the core refused everything but strings (issue
14). The core now accepts OpenAI's four forms (a string, strings, a list of token ids, a list of
such lists), refuses anything else with an ``InvalidRequestError`` saying where and why, and a
provider whose API takes text only (Together: its spec's ``input`` is a string or an array of
strings) refuses token ids itself, before sending. The OpenAI side, which takes them, is tested
over the wire in plugins/openai/tests/test_embedding_tokens.py.
"""

from __future__ import annotations

from typing import Any

import pytest

import llmrouter
from llmrouter._client import _validate_embedding_input
from llmrouter.pipeline import Call
from llmrouter.provider import require_text_input
from llmrouter.testing import TogetherEmulator

EMBED = "together_ai/BAAI/bge-base-en-v1.5"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("hi", ["hi"]),
        (["a", "b"], ["a", "b"]),
        ([0, 5, 100257], [[0, 5, 100257]]),
        ([[1, 2], [3]], [[1, 2], [3]]),
    ],
)
def test_the_four_forms(given: Any, expected: Any) -> None:
    assert _validate_embedding_input(given) == expected


@pytest.mark.parametrize(
    ("given", "where"),
    [
        ([], "input must be"),
        (None, "input must be"),
        (5, "input must be"),
        (("a", "b"), "input must be"),
        (["a", 1], "input[1] is of type int in a list of strings"),
        ([1, -2], "input[1] is -2, not a token id"),
        ([1, True], "input[1] is of type bool, not a token id"),
        ([1, 2.0], "input[1] is of type float, not a token id"),
        ([1, "2"], "input[1] is of type str, not a token id"),
        ([1, [2]], "input[1] is of type list, not a token id"),
        ([[1], []], "input[1] is an empty list"),
        ([[1], [2, -1]], "input[1][1] is -1, not a token id"),
        ([[1], "a"], "input[1] is of type str"),
    ],
)
def test_bad_input_says_where(given: Any, where: str) -> None:
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        _validate_embedding_input(given)
    assert info.value.param == "input"
    assert where in str(info.value)
    assert "token ids" in str(info.value)  # every message lists the accepted forms


@pytest.mark.parametrize(
    "given", [[1, 2], [[1, 2]], [[1], -1], [["a"]], [1.5], [[1, None]], [[]], [True]]
)
def test_bad_or_token_input_never_reaches_together(
    emu: TogetherEmulator, where: dict[str, Any], given: Any
) -> None:
    """Token ids are refused by the Together plugin (its API takes text only), malformed input
    by the core; either way nothing is sent."""
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        llmrouter.embedding(model=EMBED, input=given, **where)
    assert info.value.param == "input"
    assert emu.requests == []


def test_together_token_ids_error_names_the_provider(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        llmrouter.embedding(model=EMBED, input=[[1, 2]], **where)
    assert info.value.provider == "together_ai"
    assert "together_ai embeddings take text only" in str(info.value)
    assert emu.requests == []


@pytest.mark.asyncio
async def test_together_text_still_goes_through(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    async with llmrouter.AsyncRouter() as router:
        response = await router.embedding(EMBED, ["a", "b"], **where)
    assert len(response.data) == 2
    assert emu.requests[-1].body["input"] == ["a", "b"]


def test_require_text_input() -> None:
    call = Call(operation="embedding", provider="p", model="m", input=["a"])
    require_text_input(call)
    call.input = [[1]]
    with pytest.raises(llmrouter.InvalidRequestError, match=r"\(x and y take token ids\)"):
        require_text_input(call, accepted_by="x and y")
