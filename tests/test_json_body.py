"""Request bodies: encoded exactly as ``json.dumps`` would, and a body JSON cannot carry is a
typed error before anything is sent (it used to escape as a bare TypeError or ValueError, or
as ``NaN`` on the wire)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmrouter
from llmrouter._http import encode_json
from llmrouter.testing import TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello there"}]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_encoding_is_json_dumps_compact_utf8(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert encode_json(value) == expected


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


BAD = [
    pytest.param(object(), "value JSON cannot represent", id="object"),
    pytest.param(b"bytes", "value JSON cannot represent", id="bytes"),
    pytest.param({1, 2}, "value JSON cannot represent", id="set"),
    pytest.param({(1, 2): 3}, "keys must be", id="tuple-key"),
    pytest.param(math.nan, "NaN or infinity", id="nan"),
    pytest.param(-math.inf, "NaN or infinity", id="inf"),
    pytest.param(_circular(), "circular reference", id="circular"),
]


@pytest.mark.parametrize(("value", "problem"), BAD)
def test_unencodable_body_is_a_typed_error_before_sending(
    emu: TogetherEmulator, where: dict[str, Any], value: Any, problem: str
) -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match=problem) as caught:
        llmrouter.completion(model=MODEL, messages=MESSAGES, extra_body={"custom": value}, **where)
    assert "'custom' field" in str(caught.value)
    assert caught.value.provider == "together_ai"
    assert emu.requests == []  # nothing left the client


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ["httpx", "httpx-stock", "aiohttp", "native"])
async def test_unencodable_body_in_every_async_engine(
    emu: TogetherEmulator, where: dict[str, Any], engine: str
) -> None:
    if engine in ("aiohttp", "native"):
        pytest.importorskip("httpx_aiohttp")
    async with llmrouter.AsyncRouter(engine=engine) as router:
        for value, problem in ((math.nan, "NaN"), (object(), "cannot represent")):
            with pytest.raises(llmrouter.InvalidRequestError, match=problem):
                await router.completion(
                    model=MODEL, messages=MESSAGES, extra_body={"custom": value}, **where
                )
        # A message whose content part holds a non-JSON value is named too.
        parts = [{"type": "text", "text": "hi", "meta": {1, 2}}]
        with pytest.raises(llmrouter.InvalidRequestError, match="'messages' field"):
            await router.completion(
                model=MODEL, messages=[{"role": "user", "content": parts}], **where
            )
    assert emu.requests == []
