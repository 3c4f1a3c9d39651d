"""A read holding many events: its chunks are parsed a few at a time, as they are iterated.

One socket read can bring hundreds of events (the native engine hands over whole reads; a
server may also send a stream as one HTTP chunk). Parsing them all at once kept hundreds of
chunk models alive for the garbage collector to walk; ``StreamCore`` now parses
``PARSE_BATCH`` at a time. What the caller sees must not change: every chunk in order, and an
error read in the same read as earlier events raised only after their chunks.
"""

from __future__ import annotations

from typing import Any

import pytest

import llmrouter
from llmrouter._streaming import PARSE_BATCH
from llmrouter.errors import APIError, StreamDecodeError
from tests.test_native import Scripted, chunked, sse

pytest.importorskip("httptools")

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello"}]
ENGINES = [None, "native"]


@pytest.fixture
def server() -> Any:
    made: list[Scripted] = []

    def make(body: bytes) -> Scripted:
        # the whole stream as one HTTP chunk: a single read on either engine
        server = Scripted([chunked(body, size=len(body), content_type="text/event-stream")])
        made.append(server)
        return server

    yield make
    for s in made:
        s.close()


def _stream(engine: str | None, server: Scripted) -> Any:
    router = llmrouter.Router(engine=engine)
    return router, router.completion(
        model=MODEL, messages=MESSAGES, stream=True, api_base=server.base, api_key="k" * 24
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_every_chunk_in_order_and_few_parsed_ahead(engine: str | None, server: Any) -> None:
    texts = [f"t{i} " for i in range(200)]
    router, stream = _stream(engine, server(sse(texts)))
    got, most_ahead = [], 0
    with router, stream:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
            most_ahead = max(most_ahead, len(stream._buffer) - stream._pos)
    assert got == texts
    assert 0 < most_ahead < PARSE_BATCH  # (all 200 would be ahead if parsed at once)
    assert stream.final_response().choices[0].message.content == "".join(texts)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_bad_event_is_raised_after_the_chunks_before_it(engine: str | None, server: Any) -> None:
    good = sse([f"t{i} " for i in range(40)]).split(b"data: [DONE]")[0]
    router, stream = _stream(engine, server(good + b"data: {not json\n\n" + sse(["late"])))
    got = []
    with router, pytest.raises(APIError, match="stream event that is not JSON") as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert len(got) == 40
    assert not isinstance(info.value, StreamDecodeError)


@pytest.mark.parametrize("engine", ENGINES)
def test_corrupt_bytes_are_raised_after_the_chunks_before_them(
    engine: str | None, server: Any
) -> None:
    good = sse([f"t{i} " for i in range(40)]).split(b"data: [DONE]")[0]
    router, stream = _stream(engine, server(good + b'data: {"x": "\xff\xfe"}\n\n'))
    got = []
    with router, pytest.raises(StreamDecodeError, match="not valid UTF-8"):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert len(got) == 40


@pytest.mark.parametrize("engine", ENGINES)
def test_take_ready_takes_every_event_read(engine: str | None, server: Any) -> None:
    texts = [f"t{i} " for i in range(100)]
    router, stream = _stream(engine, server(sse(texts)))
    with router, stream:
        first = next(stream)
        ready = stream.take_ready()
        rest = list(stream)
    assert [c.choices[0].delta.content for c in [first, *ready, *rest]] == texts
    assert len(ready) == len(texts) - 1 and rest == []
