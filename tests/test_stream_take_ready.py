"""``take_ready()`` on a stream: the chunks already decoded from what arrived, without waiting,
consumed as iteration would consume them (the gateway writes them in one write)."""

from __future__ import annotations

import asyncio

import pytest

import llmrouter
from llmrouter.testing import Fault, TogetherEmulator

KEY = "tgp_v1_TakeReadyKey_0123456789abcdef"
MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "one two three four five six seven eight"}]


@pytest.fixture(scope="module")
def emu() -> TogetherEmulator:
    with TogetherEmulator() as emulator:
        yield emulator  # type: ignore[misc]


def _kwargs(emu: TogetherEmulator) -> dict[str, object]:
    return {"model": MODEL, "messages": MESSAGES, "api_key": KEY, "api_base": emu.base_url}


def _text(chunks: list[llmrouter.ModelResponseStream]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_sync_take_ready_returns_what_iteration_would_without_waiting(
    emu: TogetherEmulator,
) -> None:
    expected = list(llmrouter.completion(stream=True, **_kwargs(emu)))
    with llmrouter.completion(stream=True, **_kwargs(emu)) as stream:
        assert stream.take_ready() == []  # nothing decoded yet: nothing ready, no read done
        got: list[llmrouter.ModelResponseStream] = []
        for chunk in stream:
            got += [chunk, *stream.take_ready()]
        assert stream.take_ready() == []
    assert len(got) == len(expected) and _text(got) == _text(expected)
    assert [c.choices[0].finish_reason for c in got if c.choices] == [
        c.choices[0].finish_reason for c in expected if c.choices
    ]


def test_chunks_that_arrived_together_are_taken_together(emu: TogetherEmulator) -> None:
    """The aiohttp engine (the gateway's) hands over all the bytes buffered: after a pause,
    one read holds the rest of the stream, and take_ready() returns it without waiting."""

    async def run() -> tuple[list[int], str, str]:
        async with llmrouter.AsyncRouter(engine="aiohttp") as router:
            expected = [c async for c in await router.completion(stream=True, **_kwargs(emu))]
            stream = await router.completion(stream=True, **_kwargs(emu))
            got = [await stream.__anext__()]
            await asyncio.sleep(0.3)  # the server has written the rest meanwhile
            batches = []
            async for chunk in stream:
                ready = stream.take_ready()
                batches.append(1 + len(ready))
                got += [chunk, *ready]
            return batches, _text(got), _text(expected)

    batches, got, expected = asyncio.run(run())
    assert got == expected
    assert max(batches) > 1, batches


def test_async_take_ready_and_the_end_checks_still_run(emu: TogetherEmulator) -> None:
    async def run() -> tuple[int, BaseException | None]:
        async with llmrouter.AsyncRouter(engine="aiohttp") as router:
            stream = await router.completion(stream=True, **_kwargs(emu))
            count = 0
            try:
                async for _ in stream:
                    count += 1 + len(stream.take_ready())
            except llmrouter.LLMRouterError as exc:
                return count, exc
            return count, None

    whole, error = asyncio.run(run())
    assert error is None and whole > 2
    emu.add_fault(Fault(no_done=True), times=1)  # ends cleanly but without its end marker
    count, error = asyncio.run(run())
    assert isinstance(error, llmrouter.LLMRouterError), "a short stream ended quietly"
    assert count == whole  # every chunk was delivered, then the missing end was an error
