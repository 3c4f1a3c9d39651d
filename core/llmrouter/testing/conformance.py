"""One conformance suite for every provider: the same tests, run against each provider's emulator.

A provider (first-party or a stranger's plugin) describes itself once, as data, in a
:class:`ProviderCase`: its name, a model, how to start its emulator and how to point calls at it,
and what it offers (streaming, tools, embeddings, a model list). A pytest module then subclasses
:class:`ConformanceSuite` and names the case; pytest collects the suite's tests for it::

    from llmrouter.testing.conformance import Connection, ConformanceSuite, ProviderCase
    from my_plugin.testing import MyEmulator

    class TestMyProvider(ConformanceSuite):
        case = ProviderCase(
            provider="my_provider",
            model="my-model",
            emulator=MyEmulator,                      # started with ``with MyEmulator() as emu``
            connect=lambda emu: Connection(kwargs={"api_base": emu.base_url, "api_key": "k-123"}),
            embedding_model=None,                     # no embeddings: the suite checks the refusal
        )

Several cases in one class: override the ``conformance_case`` fixture with ``params=`` (see
tests/conformance/test_providers.py). docs/write-a-provider.md ("Run the conformance suite")
and docs/testing.md say more.

What the suite checks, for every case, over a real socket: plain chat (sync and async), streaming
(the assembled content equals the non-streamed answer, one finish reason, usage when the provider
gives it), a tool-use loop (tool call, tool result, final answer, in OpenAI's shapes; and a
streamed tool call), embeddings, the model list, an unknown option refused before sending, and
the failures: a 429 with ``Retry-After`` (a typed :class:`~llmrouter.errors.RateLimitError` that
exposes it, not retried with ``num_retries = 0``, waited for with a retry), a 5xx (typed, retried
once, then the answer), a rejected key (typed, the key nowhere in the error), a stream cut after a few
events and a response cut before its status line (typed errors within the timeout, never a hang
or a short answer), and an error event inside a stream. A capability a case does not offer is
checked the other way: the call must be refused with
:class:`~llmrouter.errors.InvalidRequestError` before anything is sent.

The suite has no provider-specific branch: every difference is a field of the case. Faults reach
the emulator through ``add_fault(Fault(...), times=1)``, the method of every emulator built on
:class:`llmrouter.testing.emulator.BaseEmulator` (see :class:`ConformanceEmulator` for the whole
contract). This module imports pytest; nothing in llmrouter imports it.

Why this shape: a case is a frozen dataclass so that a provider's differences are visible, in
one place, as values a reviewer can read (and that a test can check, such as "every installed
provider has a case"); the suite is a class to subclass, not a pytest plugin to install, so that
a plugin's own test run picks it up with one import and nothing to configure. One emulator and
one set of clients serve all the tests of a case (class-scoped fixtures): a client's first
request costs tens of milliseconds, which would be most of the suite's time if every test paid it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import pytest

import llmrouter
from llmrouter.errors import (
    AllDeploymentsFailedError,
    APIConnectionError,
    AuthenticationError,
    InternalServerError,
    InvalidRequestError,
    LLMRouterError,
    RateLimitError,
    ServiceUnavailableError,
)
from llmrouter.testing.faults import Fault
from llmrouter.types import ModelResponse, ModelResponseStream

__all__ = [
    "CALL_TIMEOUT",
    "TOOL_PROMPT",
    "UNAUTHORIZED",
    "WEATHER_TOOL",
    "Conformance",
    "ConformanceEmulator",
    "ConformanceSuite",
    "Connection",
    "ProviderCase",
]

#: Seconds every call of the suite may take (its ``timeout=``): a hang fails the test, fast.
CALL_TIMEOUT = 10.0
#: The emulators' convention for "answer this with a tool call" (the last user message).
TOOL_PROMPT = "What is the weather in Paris? [[emulator:tool_call]]"
#: The tool of the tool-use tests, in OpenAI's shape.
WEATHER_TOOL: Mapping[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name"}},
            "required": ["city"],
        },
    },
}
#: What the tool answers; the suite looks for it in the request that carries it.
TOOL_RESULT = "sunny, 21 C"
#: The default of :attr:`ProviderCase.auth_failure`: what most APIs answer to a bad key.
UNAUTHORIZED = Fault(status=401)
USER = [{"role": "user", "content": "Tell me about rivers and the sea"}]
EMBED_INPUT = ["the first text to embed", "and a second one"]
ALIAS = "conformance"


class ConformanceEmulator(Protocol):
    """What the suite needs of a running emulator: fault rules and a request log.

    Every emulator built on :class:`llmrouter.testing.emulator.BaseEmulator` has these. Another
    server needs four members: ``add_fault(fault, times=K)`` applies ``fault`` to the next ``K``
    requests (the suite uses ``status``, with ``retry_after`` and ``type``, ``cut_after`` and
    ``stream_error_after``); ``clear_faults()``; ``requests``, one entry per request received,
    oldest first, JSON-serialisable or dataclasses; ``clear()`` forgets them.
    """

    def add_fault(self, fault: Fault, *, times: int | None = None) -> object: ...

    def clear_faults(self) -> None: ...

    def clear(self) -> None: ...

    @property
    def requests(self) -> Sequence[object]: ...


E = TypeVar("E", bound=ConformanceEmulator)
T = TypeVar("T")


@dataclass(frozen=True)
class Connection:
    """How the calls of one test reach the emulator.

    ``kwargs`` go to every call (``api_base``, ``api_key``, a provider option such as Azure's
    ``api_version``); ``env`` is set around every test (``None`` removes a variable, so a
    developer's own key or base URL never leaks in). ``secrets`` are strings that must never
    appear in an error's message, repr, headers or body; ``kwargs["api_key"]`` is always one.
    """

    kwargs: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str | None] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    @property
    def all_secrets(self) -> tuple[str, ...]:
        key = self.kwargs.get("api_key")
        return (*self.secrets, key) if isinstance(key, str) and key else self.secrets


@dataclass(frozen=True)
class ProviderCase(Generic[E]):
    """One provider, as the suite sees it. Plain data: no test code reads a provider's name.

    ``emulator`` makes a stopped emulator (a class, or a function taking no arguments) that is
    started by entering it (``with emulator() as emu``); one runs for all the tests of a case.
    ``connect`` gets the running emulator and says how calls reach it.

    Capabilities: ``streaming``, ``tools``, ``list_models`` and ``embedding_model`` (``None``:
    no embeddings). Each offered one is exercised; each one not offered must be refused with
    ``InvalidRequestError`` before any request. ``stream_usage``: a stream reports usage, equal to
    the non-streamed call's. ``listed_model``: an id the model list must contain (default:
    ``model``). ``tool_prompt``: the user message that makes the emulator answer with a tool call.
    ``auth_failure``: the fault that plays the API's answer to a bad key (an AWS API says it with
    a 403 ``UnrecognizedClientException``, not a 401); it must raise ``AuthenticationError``.
    """

    provider: str
    model: str
    emulator: Callable[[], AbstractContextManager[E]]
    connect: Callable[[E], Connection]
    streaming: bool = True
    stream_usage: bool = True
    tools: bool = True
    embedding_model: str | None = None
    list_models: bool = True
    listed_model: str | None = None
    tool_prompt: str = TOOL_PROMPT
    auth_failure: Fault = UNAUTHORIZED

    def __post_init__(self) -> None:
        if not self.provider or "/" in self.provider:
            raise InvalidRequestError(
                f"provider must be an entry-point name without '/', got {self.provider!r}",
                param="provider",
            )
        if not self.model:
            raise InvalidRequestError("model must name one of the emulator's models", param="model")

    def __str__(self) -> str:
        """The pytest id of the case (``ids=str``)."""
        return self.provider


def _config(model: str, num_retries: int) -> dict[str, Any]:
    """A routing config with one alias, :data:`ALIAS`, on ``model``: retries without backoff
    (so a wait measured is the ``Retry-After`` the provider reported), a ``Retry-After`` of up
    to 5 s honoured."""
    return {
        "router": {
            "num_retries": num_retries,
            "backoff_base": 0.0,
            "backoff_max": 0.0,
            "retry_after_max": 5.0,
            "timeout": CALL_TIMEOUT,
        },
        "models": {ALIAS: {"deployments": [{"model": model}]}},
    }


class _Clients:
    """The clients of one case, shared by its tests: a client's first request costs tens of
    milliseconds (its TLS context, its pool), which over a few hundred tests would be most of
    the suite's time. Async calls run on one event loop of the case's own, the one its async
    clients are bound to."""

    def __init__(self, model: str) -> None:
        self.direct = llmrouter.Router(timeout=CALL_TIMEOUT)
        self.routed = {n: llmrouter.Router(config=_config(model, n)) for n in (0, 1)}
        self.loop = asyncio.new_event_loop()
        self.adirect = llmrouter.AsyncRouter(timeout=CALL_TIMEOUT)
        self.arouted = llmrouter.AsyncRouter(config=_config(model, 1))

    def close(self) -> None:
        for router in (self.direct, *self.routed.values()):
            router.close()
        try:
            self.loop.run_until_complete(self.adirect.aclose())
            self.loop.run_until_complete(self.arouted.aclose())
        finally:
            self.loop.close()


@dataclass
class Conformance:
    """What each test of the suite gets: the case, its running emulator, and call helpers."""

    case: ProviderCase[Any]
    emulator: ConformanceEmulator
    connection: Connection
    clients: _Clients

    @property
    def model(self) -> str:
        return f"{self.case.provider}/{self.case.model}"

    def kwargs(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for one call: the timeout, the connection's, then ``extra``."""
        return {"timeout": CALL_TIMEOUT, **self.connection.kwargs, **extra}

    @property
    def sent(self) -> int:
        """How many requests the emulator received in this test."""
        return len(self.emulator.requests)

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        self.emulator.add_fault(fault, times=times)

    def completion(self, messages: list[dict[str, Any]] = USER, **extra: Any) -> ModelResponse:
        response: ModelResponse = self.clients.direct.completion(
            self.model, messages, stream=False, **self.kwargs(**extra)
        )
        return response

    def stream(
        self, messages: list[dict[str, Any]] = USER, **extra: Any
    ) -> llmrouter.CompletionStream:
        stream: llmrouter.CompletionStream = self.clients.direct.completion(
            self.model, messages, stream=True, **self.kwargs(**extra)
        )
        return stream

    def routed(self, num_retries: int) -> llmrouter.Router:
        """The client whose alias :data:`ALIAS` retries ``num_retries`` (0 or 1) times."""
        return self.clients.routed[num_retries]

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the case's event loop (where ``adirect``/``arouted`` live)."""
        return self.clients.loop.run_until_complete(coroutine)

    async def astream(self, messages: list[dict[str, Any]] = USER, **extra: Any) -> Any:
        """Every chunk of an async stream, and its usage."""
        stream = await self.clients.adirect.completion(
            self.model, messages, stream=True, **self.kwargs(**extra)
        )
        return [chunk async for chunk in stream], stream.usage

    def wire_text(self) -> str:
        """Everything the last request carried, as text (for "did X reach the wire?")."""
        requests = self.emulator.requests
        assert requests, "the emulator received no request"
        return json.dumps(requests[-1], default=_plain)

    def assert_no_secret(self, error: BaseException) -> None:
        seen = " ".join(
            (
                str(error),
                repr(error),
                repr(getattr(error, "headers", None)),
                repr(getattr(error, "body", None)),
            )
        )
        for secret in self.connection.all_secrets:
            assert secret not in seen, f"{type(error).__name__} shows a secret"


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _text(response: ModelResponse) -> str:
    content = response.choices[0].message.content
    assert isinstance(content, str), f"message.content is {content!r}, not text"
    return content


def _joined(chunks: Sequence[ModelResponseStream]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _tokens(usage: Any) -> tuple[int, int, int]:
    assert usage is not None, "no usage"
    return (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


def _check_stream(chunks: Sequence[ModelResponseStream], finish: str) -> None:
    """One id, OpenAI's chunk object, the role first, one finish reason, nothing said after it
    (a usage-only chunk may follow, with an empty delta)."""
    assert chunks, "the stream had no chunk"
    assert len({c.id for c in chunks}) == 1, "chunks of one stream carry different ids"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices, "no chunk has a choice"
    assert with_choices[0].choices[0].delta.role == "assistant"
    finishes = [(i, c.choices[0].finish_reason) for i, c in enumerate(with_choices)]
    finishes = [(i, reason) for i, reason in finishes if reason]
    assert [r for _, r in finishes] == [finish], f"finish reasons {finishes}, expected {finish!r}"
    for late in with_choices[finishes[0][0] + 1 :]:
        delta = late.choices[0].delta
        assert not delta.content and not delta.tool_calls, "a chunk after the finish reason"


def _assistant_turn(response: ModelResponse) -> dict[str, Any]:
    """The assistant's message as the next request's history (what an OpenAI client sends)."""
    message = response.choices[0].message
    turn: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        turn["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in message.tool_calls
        ]
    return turn


class ConformanceSuite:
    """The tests. Subclass it in a module named ``test_*.py``, in a class named ``Test*``, and
    set :attr:`case` (or override the ``conformance_case`` fixture, e.g. with ``params=``).

    The emulator runs once per case (a class-scoped fixture); each test starts with no faults
    and an empty request log, with the case's environment set.
    """

    #: The provider under test (or override the ``conformance_case`` fixture).
    case: ClassVar[ProviderCase[Any] | None] = None

    # -- fixtures ------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_case(cls) -> ProviderCase[Any]:
        if cls.case is None:
            raise TypeError(
                f"{cls.__name__} runs the conformance suite but names no provider: set "
                "`case = ProviderCase(...)` in the class, or override the `conformance_case` "
                "fixture"
            )
        return cls.case

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_emulator(cls, conformance_case: ProviderCase[Any]) -> Iterator[Any]:
        with conformance_case.emulator() as emulator:
            yield emulator

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_clients(cls, conformance_case: ProviderCase[Any]) -> Iterator[_Clients]:
        clients = _Clients(f"{conformance_case.provider}/{conformance_case.model}")
        try:
            yield clients
        finally:
            clients.close()

    @pytest.fixture
    def conformance(
        self,
        conformance_case: ProviderCase[Any],
        conformance_emulator: ConformanceEmulator,
        conformance_clients: _Clients,
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[Conformance]:
        emulator = conformance_emulator
        emulator.clear_faults()
        emulator.clear()
        connection = conformance_case.connect(emulator)
        for name, value in connection.env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        yield Conformance(conformance_case, emulator, connection, conformance_clients)
        emulator.clear_faults()
        llmrouter.reset_default_routers()

    # -- chat ----------------------------------------------------------------------------------

    def test_chat(self, conformance: Conformance) -> None:
        """Through ``llmrouter.completion``, the function the tutorials call."""
        c = conformance
        response = llmrouter.completion(c.model, USER, **c.kwargs())
        assert isinstance(response, ModelResponse)
        assert response.object == "chat.completion"
        assert isinstance(response.id, str) and response.id
        assert isinstance(response.created, int) and response.created > 0
        assert isinstance(response.model, str) and response.model
        assert len(response.choices) == 1 and response.choices[0].index == 0
        choice = response.choices[0]
        assert choice.message.role == "assistant"
        assert _text(response).strip(), "the answer is empty"
        assert choice.finish_reason == "stop"
        assert response["choices"][0]["message"]["content"] == choice.message.content
        prompt, completion, total = _tokens(response.usage)
        assert prompt > 0 and completion > 0 and total == prompt + completion
        assert response.llmrouter.provider == c.case.provider
        assert c.sent == 1

    def test_async_chat(self, conformance: Conformance) -> None:
        """Through ``llmrouter.acompletion``: the same answer as the sync call."""
        c = conformance
        expected = _text(c.completion())

        async def main() -> ModelResponse:
            response: ModelResponse = await llmrouter.acompletion(c.model, USER, **c.kwargs())
            return response

        response = asyncio.run(main())
        assert _text(response) == expected, "async and sync answers differ"
        assert response.choices[0].finish_reason == "stop"
        assert _tokens(response.usage) == _tokens(c.completion().usage)
        assert response.llmrouter.provider == c.case.provider
        assert c.sent == 3

    def test_openai_sdk_accepts_the_shapes(self, conformance: Conformance) -> None:
        """The official ``openai`` types validate the response and every chunk (skipped
        without the ``openai`` package)."""
        types = pytest.importorskip("openai.types.chat")
        c = conformance
        types.ChatCompletion.model_validate(c.completion().model_dump())
        if c.case.streaming:
            for chunk in c.stream():
                types.ChatCompletionChunk.model_validate(chunk.model_dump())

    def test_unknown_option_is_refused_before_sending(self, conformance: Conformance) -> None:
        c = conformance
        with pytest.raises(InvalidRequestError) as info:
            c.completion(surely_not_an_option_of_any_provider=1)
        assert "surely_not_an_option_of_any_provider" in str(info.value)
        assert c.sent == 0

    # -- streaming -----------------------------------------------------------------------------

    def test_stream(self, conformance: Conformance) -> None:
        c = conformance
        if not c.case.streaming:
            with pytest.raises(InvalidRequestError):
                list(c.stream())
            assert c.sent == 0
            return
        whole = c.completion()
        stream = c.stream()
        chunks = list(stream)
        _check_stream(chunks, "stop")
        assert _joined(chunks) == _text(whole), "the stream says something else"
        if c.case.stream_usage:
            assert _tokens(stream.usage) == _tokens(whole.usage)
            assert _tokens(llmrouter.stream_chunk_builder(chunks).usage) == _tokens(whole.usage)
        assert c.sent == 2

    def test_async_stream(self, conformance: Conformance) -> None:
        c = conformance
        if not c.case.streaming:
            pytest.skip("no streaming: test_stream checks that it is refused")
        whole = c.completion()
        chunks, usage = c.run(c.astream())
        _check_stream(chunks, "stop")
        assert _joined(chunks) == _text(whole)
        if c.case.stream_usage:
            assert _tokens(usage) == _tokens(whole.usage)
        assert c.sent == 2

    # -- tools ---------------------------------------------------------------------------------

    def test_tool_loop(self, conformance: Conformance) -> None:
        """Tool call -> tool result -> final answer, in OpenAI's shapes throughout."""
        c = conformance
        tools = [dict(WEATHER_TOOL)]
        messages: list[dict[str, Any]] = [{"role": "user", "content": c.case.tool_prompt}]
        if not c.case.tools:
            with pytest.raises(InvalidRequestError):
                c.completion(messages, tools=tools)
            assert c.sent == 0
            return
        first = c.completion(messages, tools=tools)
        assert first.choices[0].finish_reason == "tool_calls"
        calls = first.choices[0].message.tool_calls
        assert calls is not None and len(calls) == 1, f"expected one tool call, got {calls!r}"
        call = calls[0]
        assert isinstance(call.id, str) and call.id
        assert call.type == "function"
        assert call.function.name == "get_weather"
        arguments = json.loads(call.function.arguments)
        assert isinstance(arguments, dict) and isinstance(arguments.get("city"), str)

        messages += [
            _assistant_turn(first),
            {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
        ]
        final = c.completion(messages, tools=tools)
        assert TOOL_RESULT in c.wire_text(), "the tool result did not reach the wire"
        assert final.choices[0].finish_reason == "stop"
        assert _text(final).strip()
        assert not final.choices[0].message.tool_calls
        assert c.sent == 2

    def test_streamed_tool_call(self, conformance: Conformance) -> None:
        """A streamed tool call, put back together, is the non-streamed one."""
        c = conformance
        if not (c.case.tools and c.case.streaming):
            pytest.skip("no streamed tools: test_tool_loop / test_stream check the refusals")
        messages = [{"role": "user", "content": c.case.tool_prompt}]
        tools = [dict(WEATHER_TOOL)]
        whole = c.completion(messages, tools=tools)
        chunks = list(c.stream(messages, tools=tools))
        _check_stream(chunks, "tool_calls")
        built = llmrouter.stream_chunk_builder(chunks)
        calls = whole.choices[0].message.tool_calls
        assert calls is not None and len(calls) == 1
        expected = calls[0]
        got = built.choices[0].message.tool_calls
        assert got is not None and len(got) == 1, f"the stream built {got!r}"
        assert got[0].id, "the streamed tool call has no id"
        assert got[0].function.name == expected.function.name
        assert json.loads(got[0].function.arguments) == json.loads(expected.function.arguments)

    # -- embeddings, model list ----------------------------------------------------------------

    def test_embeddings(self, conformance: Conformance) -> None:
        c = conformance
        model = c.case.embedding_model
        if model is None:
            with pytest.raises(InvalidRequestError):
                c.clients.direct.embedding(c.model, EMBED_INPUT, **c.kwargs())
            assert c.sent == 0
            return
        name = f"{c.case.provider}/{model}"
        response = c.clients.direct.embedding(name, EMBED_INPUT, **c.kwargs())
        assert response.object == "list"
        assert [d.index for d in response.data] == [0, 1]
        vectors = [d.embedding for d in response.data]
        assert all(isinstance(v, list) and v for v in vectors), "an embedding is empty"
        assert all(isinstance(x, float) for v in vectors for x in v), "not a vector of floats"
        assert len(vectors[0]) == len(vectors[1]), "vectors of one model differ in size"
        assert vectors[0] != vectors[1], "two texts got the same vector"
        again = c.run(c.clients.adirect.embedding(name, EMBED_INPUT[0], **c.kwargs()))
        assert again.data[0].embedding == vectors[0], "the same text got another vector"
        assert c.sent == 2

    def test_list_models(self, conformance: Conformance) -> None:
        """``llmrouter.list_models(provider)``; it takes ``api_base``/``api_key``/``timeout``
        of the connection's keyword arguments (other options come from the environment)."""
        c = conformance
        kwargs = {k: v for k, v in c.kwargs().items() if k in ("api_base", "api_key", "timeout")}
        if not c.case.list_models:
            with pytest.raises(InvalidRequestError):
                c.clients.direct.list_models(c.case.provider, **kwargs)
            assert c.sent == 0
            return
        models = c.clients.direct.list_models(c.case.provider, **kwargs)
        ids = [m.id for m in models]
        assert all(isinstance(i, str) and i for i in ids)
        assert (c.case.listed_model or c.case.model) in ids, f"{c.case.model!r} not in {ids}"
        assert len(set(ids)) == len(ids), "the list repeats a model"
        assert c.sent >= 1

    # -- failures ------------------------------------------------------------------------------

    def test_rate_limit_is_typed_and_exposes_retry_after(self, conformance: Conformance) -> None:
        c = conformance
        c.fail_next(Fault(status=429, retry_after=2))
        with pytest.raises(RateLimitError) as info:
            c.completion()
        error = info.value
        assert error.status_code == 429
        assert error.retry_after == 2.0, "Retry-After was not read"
        assert error.provider == c.case.provider
        c.assert_no_secret(error)
        assert c.sent == 1
        assert _text(c.completion()), "the next call (no fault) failed"

    def test_rate_limit_without_retries(self, conformance: Conformance) -> None:
        """``num_retries = 0``: one attempt, no wait, the RateLimitError kept as the cause."""
        c = conformance
        c.fail_next(Fault(status=429, retry_after=60))
        started = time.monotonic()
        with pytest.raises(AllDeploymentsFailedError) as info:
            c.routed(num_retries=0).completion(ALIAS, USER, **c.kwargs())
        # not a speed bound: a call that honoured the 60 s Retry-After would take 60 s
        assert time.monotonic() - started < 30, "waited although no retry was allowed"
        (attempt,) = info.value.attempts
        assert isinstance(attempt[1], RateLimitError)
        assert isinstance(info.value.__cause__, RateLimitError)
        c.assert_no_secret(info.value)
        assert c.sent == 1

    def test_rate_limit_retry_honours_retry_after(self, conformance: Conformance) -> None:
        c = conformance
        wait = 0.1
        c.fail_next(Fault(status=429, retry_after=wait))
        started = time.monotonic()
        response = c.routed(num_retries=1).completion(ALIAS, USER, **c.kwargs())
        assert time.monotonic() - started >= wait - 0.005, "Retry-After was not waited for"
        assert _text(response)
        assert response.llmrouter.attempts == 2
        assert c.sent == 2

    @pytest.mark.parametrize(
        ("status", "error_class"),
        [(500, InternalServerError), (503, ServiceUnavailableError)],
    )
    def test_server_error_is_typed(
        self, conformance: Conformance, status: int, error_class: type[Exception]
    ) -> None:
        c = conformance
        c.fail_next(Fault(status=status))
        with pytest.raises(error_class) as info:
            c.completion()
        assert getattr(info.value, "status_code", None) == status
        assert getattr(info.value, "provider", None) == c.case.provider
        c.assert_no_secret(info.value)
        assert c.sent == 1

    def test_server_error_is_retried_once(self, conformance: Conformance) -> None:
        """A 500, retried by the async client: the second attempt's answer."""
        c = conformance
        c.fail_next(Fault(status=500))
        response = c.run(c.clients.arouted.completion(ALIAS, USER, **c.kwargs()))
        assert _text(response)
        assert response.llmrouter.attempts == 2
        assert c.sent == 2

    def test_auth_failure_is_typed_and_keeps_the_key_secret(self, conformance: Conformance) -> None:
        c = conformance
        fault = c.case.auth_failure
        c.fail_next(fault)
        with pytest.raises(AuthenticationError) as info:
            c.completion()
        assert info.value.status_code == fault.status
        c.assert_no_secret(info.value)
        assert c.sent == 1

    def test_cut_stream_raises(self, conformance: Conformance) -> None:
        """The connection closes a few events into the stream: a typed error, soon, never a
        quietly short answer (sync and async)."""
        c = conformance
        if not c.case.streaming:
            pytest.skip("no streaming: test_stream checks that it is refused")
        for use_async in (False, True):
            c.fail_next(Fault(cut_after=2))
            started = time.monotonic()
            with pytest.raises(APIConnectionError) as info:
                if use_async:
                    c.run(c.astream())
                else:
                    list(c.stream())
            assert time.monotonic() - started < CALL_TIMEOUT / 2, "the cut took too long to see"
            assert info.value.provider == c.case.provider
        assert c.sent == 2

    def test_cut_response_raises_and_is_retried(self, conformance: Conformance) -> None:
        """The connection closes before the status line: a typed error; retried, the answer."""
        c = conformance
        c.fail_next(Fault(cut_after=0))
        with pytest.raises(APIConnectionError):
            c.completion()
        c.fail_next(Fault(cut_after=0))
        response = c.routed(num_retries=1).completion(ALIAS, USER, **c.kwargs())
        assert _text(response) and response.llmrouter.attempts == 2
        assert c.sent == 3

    def test_error_inside_a_stream_raises(self, conformance: Conformance) -> None:
        c = conformance
        if not c.case.streaming:
            pytest.skip("no streaming: test_stream checks that it is refused")
        c.fail_next(Fault(stream_error_after=2, status=503))
        with pytest.raises(LLMRouterError) as info:
            list(c.stream())
        assert not isinstance(info.value, InvalidRequestError)
        c.assert_no_secret(info.value)
        assert c.sent == 1
