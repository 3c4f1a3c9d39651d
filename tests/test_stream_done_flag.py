"""``StreamState.done``: a provider whose stream has no end marker says, from an event, that the
stream is complete (Gemini's last chunk carries the finish reason and nothing follows).

A test provider reads Together's wire but treats the chunk with a finish reason as the end, the
way such a provider would; the Together emulator's ``no_done`` fault then plays a server without
an end marker. A clean end after that chunk is success; a cut before it stays an error, on the
sync and the async reader alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import llmrouter
from llmrouter import hookimpl
from llmrouter import openai_compat as oc
from llmrouter.pipeline import Call, Prompt, StreamDone, StreamState
from llmrouter.testing import Fault, TogetherEmulator
from llmrouter.types import ModelResponseStream
from llmrouter_together.dialect import DIALECT
from llmrouter_together.options import ChatOptions

KEY = "tgp_v1_StreamDoneFlagKey_0123456789"
MESSAGES = [{"role": "user", "content": "one two three four five"}]


class EndsOnFinish(oc.OpenAICompatibleProvider):
    """Together's wire, with the finish reason as the end of the stream (no [DONE] needed)."""

    @hookimpl
    def llmrouter_parse_stream_event(
        self, call: Call, prompt: Prompt | None, data: str, state: StreamState
    ) -> ModelResponseStream | StreamDone | None:
        chunk = oc.parse_stream_event(call, prompt, data, state, self.dialect)
        if isinstance(chunk, ModelResponseStream) and chunk.usage is not None:
            state.done = True  # Together's last chunk carries the usage with the finish reason
        return chunk


@pytest.fixture
def emu() -> Iterator[TogetherEmulator]:
    with TogetherEmulator(api_key=KEY) as server:
        llmrouter.register_provider(
            "ends_on_finish", EndsOnFinish(DIALECT, chat_options=ChatOptions)
        )
        yield server


def read(mode: str, emu: TogetherEmulator) -> tuple[str, Any]:
    kw: dict[str, Any] = {"stream": True, "api_base": emu.base_url, "api_key": KEY}
    model = "ends_on_finish/meta-llama/Llama-3.3-70B-Instruct-Turbo"
    if mode == "sync":
        chunks = list(llmrouter.completion(model, MESSAGES, **kw))
    else:

        async def collect() -> list[Any]:
            async with llmrouter.AsyncRouter() as router:
                return [c async for c in await router.completion(model, MESSAGES, **kw)]

        chunks = asyncio.run(collect())
    return "".join(c.choices[0].delta.content or "" for c in chunks), chunks[-1]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_stream_complete_by_its_last_chunk_needs_no_end_marker(
    emu: TogetherEmulator, mode: str
) -> None:
    emu.add_fault(Fault(no_done=True))
    text, last = read(mode, emu)
    assert text.startswith("This is a deterministic reply from the Together emulator")
    assert last.usage is not None and last.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_cut_before_the_last_chunk_is_still_an_error(emu: TogetherEmulator, mode: str) -> None:
    emu.add_fault(Fault(cut_after=2))
    with pytest.raises(llmrouter.APIConnectionError):
        read(mode, emu)
