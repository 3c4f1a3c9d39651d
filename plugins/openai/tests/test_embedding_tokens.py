"""Embeddings of token ids, over the wire: OpenAI's API takes ``input`` as a list of ints or a
list of such lists. Before issue 14 ``Call.input`` promised ``list[list[int]]`` but the core
refused anything but strings; now the core accepts token ids and each provider says whether its
API does (``Preset.embedding_token_ids``): ``openai`` and ``openai_compatible`` (vLLM) do, the
others refuse them before sending.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI

import llmrouter
from llmrouter.testing import OpenAIEmulator
from llmrouter_openai.presets import PRESETS

EMBED = "text-embedding-3-small"


@pytest.fixture
def sdk(oai: OpenAIEmulator, at_oai: dict[str, Any]) -> Iterator[OpenAI]:
    with OpenAI(base_url=oai.base_url, api_key=at_oai["api_key"], max_retries=0) as client:
        yield client


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ([15339, 1917], [[15339, 1917]]),  # one token list is one input
        ([[15339, 1917], [0], [1, 2, 3]], [[15339, 1917], [0], [1, 2, 3]]),
    ],
)
def test_openai_token_ids_reach_the_server(
    oai: OpenAIEmulator, at_oai: dict[str, Any], sdk: OpenAI, given: Any, sent: Any
) -> None:
    ours = llmrouter.embedding(
        model="openai/" + EMBED, input=given, encoding_format="float", **at_oai
    )
    assert oai.requests[-1].body == {"model": EMBED, "input": sent, "encoding_format": "float"}
    assert oai.requests[-1].status == 200
    assert len(ours.data) == len(sent)
    # the official SDK, sending the same ids, gets the same vectors
    theirs = sdk.embeddings.create(model=EMBED, input=given, encoding_format="float")
    assert oai.requests[-1].body["input"] == given
    assert [d.embedding for d in theirs.data] == [d.embedding for d in ours.data]


@pytest.mark.asyncio
async def test_openai_compatible_takes_token_ids_async(compat: OpenAIEmulator) -> None:
    async with llmrouter.AsyncRouter() as router:
        response = await router.embedding(
            "openai_compatible/nomic-embed-text", [[1, 2], [3]], api_base=compat.base_url
        )
    assert len(response.data) == 2
    assert compat.requests[-1].body["input"] == [[1, 2], [3]]


@pytest.mark.parametrize(
    "name",
    sorted(
        n for n, p in PRESETS.items() if not p.embedding_token_ids and "embeddings" in p.endpoints
    ),
)
def test_providers_without_token_ids_refuse_them_before_sending(
    compat: OpenAIEmulator, name: str
) -> None:
    base = compat.base_url_for(name)
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        llmrouter.embedding(
            model=f"{name}/nomic-embed-text", input=[1, 2], api_base=base, api_key="k-123456"
        )
    err = info.value
    assert err.param == "input" and err.provider == name
    assert "text only" in str(err) and "openai and openai_compatible" in str(err)
    assert compat.requests == []
    # text still goes through
    llmrouter.embedding(model=f"{name}/nomic-embed-text", input="a", api_base=base, api_key="k")
    assert [r.status for r in compat.requests] == [200]


def test_which_presets_take_token_ids() -> None:
    assert {n for n, p in PRESETS.items() if p.embedding_token_ids} == {
        "openai",
        "openai_compatible",
        "vllm",
        "hosted_vllm",
    }
