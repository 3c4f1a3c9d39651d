"""Anthropic's ``request-id`` header reaches every error, including the two that are not built
from the answer's own headers: an error event inside a stream, and a body over
``max_response_bytes`` (raised while reading)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmrouter
from llmrouter.testing import Fault
from llmrouter_anthropic.testing import AnthropicEmulator

KEY = "sk-ant-api03-RequestIdTestKey-0123456789"
MODEL = "anthropic/claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "one two three four five six"}]


@pytest.fixture
def emu() -> Iterator[AnthropicEmulator]:
    with AnthropicEmulator(api_key=KEY) as server:
        yield server


def test_an_error_event_in_a_stream_carries_the_streams_request_id(emu: AnthropicEmulator) -> None:
    emu.add_fault(Fault(stream_error_after=3))
    with llmrouter.Router() as router:
        stream = router.completion(MODEL, MESSAGES, stream=True, api_base=emu.base_url, api_key=KEY)
        with pytest.raises(llmrouter.ServiceUnavailableError) as info:
            for _ in stream:
                pass
    expected = stream.llmrouter.request_id
    assert expected is not None and expected.startswith("req_")
    assert info.value.request_id == expected


async def _too_large(emu: AnthropicEmulator, engine: str) -> llmrouter.ResponseTooLargeError:
    with pytest.raises(llmrouter.ResponseTooLargeError) as info:
        if engine == "sync":
            with llmrouter.Router(max_response_bytes=200) as router:
                router.completion(MODEL, MESSAGES, api_base=emu.base_url, api_key=KEY)
        else:
            async with llmrouter.AsyncRouter(engine=engine, max_response_bytes=200) as arouter:
                await arouter.completion(MODEL, MESSAGES, api_base=emu.base_url, api_key=KEY)
    return info.value


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ["sync", "httpx", "aiohttp"])
async def test_a_body_over_the_limit_carries_the_request_id(
    emu: AnthropicEmulator, engine: str
) -> None:
    if engine == "aiohttp":
        pytest.importorskip("httpx_aiohttp")
    error = await _too_large(emu, engine)
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert error.request_id == error.headers.get("request-id")
