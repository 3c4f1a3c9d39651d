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
from llmrouter import hookimpl
from llmrouter._plugins import PluginHost, default_host
from llmrouter._streaming import PARSE_BATCH
from llmrouter.errors import APIError, StreamDecodeError
from llmrouter.pipeline import Call, ChatPrompt, StreamState
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


# --- the per-batch dispatch: the plugin's function called directly, while pluggy is unchanged ---


class _Counter:
    """Sees every event pluggy passes to ``parse_stream_event`` (a wrapper: the provider's
    own implementation still answers)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl(wrapper=True)
    def llmrouter_parse_stream_event(self, data: str) -> Any:
        self.events.append(data)
        return (yield)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_plugin_registered_mid_stream_sees_the_events_after_the_batch(
    engine: str | None, server: Any
) -> None:
    """The stream calls the provider's function itself, checking pluggy once per batch: a
    wrapper registered on ``pm`` behind the host's back sees every event from the next batch
    on, as it would through pluggy's caller."""
    texts = [f"t{i} " for i in range(100)]
    body = sse(texts)
    router, stream = _stream(engine, server(body))
    counter = _Counter()
    pm = default_host().pm
    with router, stream:
        first = next(stream)  # parses the first batch
        pm.register(counter)
        try:
            rest = [c.choices[0].delta.content for c in stream]
        finally:
            pm.unregister(counter)
    assert [first.choices[0].delta.content, *rest] == texts
    every = [line[6:].decode() for line in body.split(b"\n") if line.startswith(b"data: ")]
    assert counter.events == every[PARSE_BATCH:]  # [DONE] included


def test_direct_dispatch_only_while_pluggy_would_call_just_that_function() -> None:
    host = PluginHost(autoload=False)
    parser = _Parser()
    host.register_provider("alpha", parser)
    hooks = host.provider_hooks("alpha")
    assert hooks.parse_stream_event_direct() == parser.llmrouter_parse_stream_event
    # hook monitoring on: pluggy must see the call
    undo = host.pm.add_hookcall_monitoring(lambda *a: None, lambda *a: None)
    assert hooks.parse_stream_event_direct() is None
    undo()
    assert hooks.parse_stream_event_direct() is not None
    # another implementation registered behind the host's back
    counter = _Counter()
    host.pm.register(counter)
    assert hooks.parse_stream_event_direct() is None
    host.pm.unregister(counter)
    assert hooks.parse_stream_event_direct() is not None
    # registered through the host: the new callers go through pluggy
    host.register_plugin(_Counter())
    assert host.provider_hooks("alpha").parse_stream_event_direct() is None


def test_no_direct_dispatch_for_an_implementation_taking_some_of_the_arguments() -> None:
    host = PluginHost(autoload=False)
    host.register_provider("beta", _SubsetParser())
    hooks = host.provider_hooks("beta")
    assert hooks.parse_stream_event_direct() is None  # pluggy passes it only ``data``
    state = StreamState()
    call = Call(operation="chat", provider="beta", model="m", messages=MESSAGES)
    assert hooks.parse_stream_event(call=call, prompt=None, data="x", state=state) == "x!"


def test_a_defaulted_parameter_naming_a_hook_argument_is_passed_as_pluggy_passes_it() -> None:
    """pluggy 1.6 and later pass such a parameter (as a keyword), older ones do not: the stage
    caller leaves it to pluggy, so the answer is pluggy's whichever version is installed."""
    host = PluginHost(autoload=False)
    host.register_provider("gamma", _DefaultedParser())
    hooks = host.provider_hooks("gamma")
    assert hooks.parse_stream_event_direct() is None
    call = Call(operation="chat", provider="gamma", model="m", messages=MESSAGES)
    kwargs = {"call": call, "prompt": None, "data": "ev", "state": StreamState()}
    expected = host.pm.hook.llmrouter_parse_stream_event(**kwargs)
    assert hooks.parse_stream_event(**kwargs) == expected


class _DefaultedParser:
    @hookimpl
    def llmrouter_format_prompt(self, call: Any) -> Any:
        return ChatPrompt(call.messages)

    @hookimpl
    def llmrouter_parse_stream_event(self, data: str, state: Any = None) -> Any:
        return f"{data}: state {'passed' if state is not None else 'not passed'}"


class _Parser:
    @hookimpl
    def llmrouter_format_prompt(self, call: Any) -> Any:
        return ChatPrompt(call.messages)

    @hookimpl
    def llmrouter_parse_stream_event(self, call: Any, prompt: Any, data: str, state: Any) -> Any:
        return data


class _SubsetParser:
    @hookimpl
    def llmrouter_format_prompt(self, call: Any) -> Any:
        return ChatPrompt(call.messages)

    @hookimpl
    def llmrouter_parse_stream_event(self, data: str) -> Any:
        return data + "!"
