"""llmrouter-otel end to end: real calls over a socket to the Together emulator, spans caught by
an in-memory exporter on a private TracerProvider (the global one is never set: it can be set
once per process, and the installed default plugin writes to it).

Each test builds its own PluginHost without autoload, registers the Together provider and an
OTelPlugin in code, and reads the finished spans.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import llmrouter
import llmrouter_otel
from llmrouter import PluginHost
from llmrouter.hookspecs import hookimpl
from llmrouter.pipeline import Call, CallOutcome
from llmrouter.testing import Fault, TogetherEmulator
from llmrouter.types import Choice, Message, ModelResponse, Usage
from llmrouter_otel import CAPTURE_CONTENT_ENV, OTelPlugin
from llmrouter_otel import attributes as A

ROUTE = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello, whats the weather in San Francisco??"}]
KEY = "tgp_v1_OTelTestKey_DoNotLeak_5a4b3c2d1e0f"
KEY_ENV = "LLMROUTER_TEST_OTEL_KEY"


class Traced:
    """A plugin host with the Together provider and an OTelPlugin on a private provider."""

    def __init__(self, capture_content: bool | None = None) -> None:
        from llmrouter_together.plugin import provider

        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.host = PluginHost(autoload=False)
        self.host.register_provider("together_ai", provider)
        self.host.register_plugin(
            OTelPlugin(tracer_provider=self.provider, capture_content=capture_content)
        )

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def call_span(self) -> ReadableSpan:
        roots = [s for s in self.spans() if s.parent is None]
        assert len(roots) == 1, [s.name for s in self.spans()]
        return roots[0]

    def attempt_spans(self) -> list[ReadableSpan]:
        root = self.call_span()
        children = [s for s in self.spans() if s.parent is not None]
        for child in children:
            assert child.parent is not None
            assert child.parent.span_id == root.context.span_id
            assert child.context.trace_id == root.context.trace_id
        return sorted(children, key=lambda s: s.start_time or 0)


@pytest.fixture
def traced() -> Iterator[Traced]:
    t = Traced()
    yield t
    t.provider.shutdown()


@pytest.fixture
def where(emu: TogetherEmulator) -> dict[str, Any]:
    return {"api_base": emu.base_url, "api_key": KEY}


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def everything_recorded(spans: list[ReadableSpan]) -> str:
    """All the text the spans would export: names, attributes, statuses, events."""
    return json.dumps(
        [
            {
                "name": s.name,
                "attributes": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in attrs(s).items()
                },
                "status": s.status.description,
                "events": [(e.name, dict(e.attributes or {})) for e in s.events],
            }
            for s in spans
        ],
        default=str,
    )


def within(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.start_time is not None and child.end_time is not None
    assert parent.start_time is not None and parent.end_time is not None
    return parent.start_time <= child.start_time <= child.end_time <= parent.end_time


# --- a plain call -------------------------------------------------------------------------------


def test_plain_call_spans_and_attributes(
    emu: TogetherEmulator, where: dict[str, Any], traced: Traced
) -> None:
    with llmrouter.Router(plugin_host=traced.host) as router:
        r = router.completion(
            ROUTE,
            MESSAGES,
            max_tokens=30,
            temperature=0.5,
            top_p=0.9,
            stop=["\n\n"],
            seed=7,
            **where,
        )
    assert r.usage is not None
    call = traced.call_span()
    # a direct call is its own single attempt: one span, no child repeating it
    assert traced.attempt_spans() == []

    assert call.name == f"chat {MODEL}"
    assert call.kind is SpanKind.CLIENT
    assert call.status.status_code is StatusCode.UNSET
    assert call.instrumentation_scope is not None
    assert call.instrumentation_scope.name == "llmrouter_otel"

    a = attrs(call)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "together_ai" and a["gen_ai.system"] == "together_ai"
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.response.model"] == r.model
    assert a["gen_ai.response.id"] == r.id
    assert a["gen_ai.response.finish_reasons"] == tuple(c.finish_reason for c in r.choices)
    assert a["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == r.usage.completion_tokens
    assert a["gen_ai.request.max_tokens"] == 30
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.stop_sequences"] == ("\n\n",)
    assert a["gen_ai.request.seed"] == 7
    assert "gen_ai.request.top_k" not in a  # not set by the caller: not recorded
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == emu.port
    assert a["llmrouter.stream"] is False and a["llmrouter.cache_hit"] is False
    assert a["llmrouter.attempts"] == 1
    assert "llmrouter.alias" not in a  # a direct call has no alias
    if r.llmrouter.cost is None:
        assert "llmrouter.cost_usd" not in a
    else:
        assert a["llmrouter.cost_usd"] == pytest.approx(float(r.llmrouter.cost))
    # no content unless opted in
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a

    assert a["http.response.status_code"] == 200
    assert a.get("llmrouter.request_id") == r.llmrouter.request_id

    text = everything_recorded(traced.spans())
    assert KEY not in text and "authorization" not in text.lower()


def test_content_is_recorded_when_opted_in(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    traced = Traced(capture_content=True)
    with llmrouter.Router(plugin_host=traced.host) as router:
        r = router.completion(ROUTE, MESSAGES, **where)
    a = attrs(traced.call_span())
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": MESSAGES[0]["content"]}]}
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": r.choices[0].message.content}],
            "finish_reason": r.choices[0].finish_reason,
        }
    ]
    assert KEY not in everything_recorded(traced.spans())


def test_content_env_var_opts_in_and_the_argument_wins(
    emu: TogetherEmulator, where: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    by_env = Traced()
    refused = Traced(capture_content=False)
    for traced in (by_env, refused):
        with llmrouter.Router(plugin_host=traced.host) as router:
            router.completion(ROUTE, MESSAGES, **where)
    assert "gen_ai.input.messages" in attrs(by_env.call_span())
    assert "gen_ai.input.messages" not in attrs(refused.call_span())
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "false")
    with llmrouter.Router(plugin_host=by_env.host) as router:
        router.completion(ROUTE, MESSAGES, **where)
    last = max((s for s in by_env.spans() if s.parent is None), key=lambda s: s.start_time or 0)
    assert "gen_ai.input.messages" not in attrs(last)


def test_content_keeps_tool_calls_in_the_conventions_shape() -> None:
    """Input and output messages with tool calls, through the public hook with a built outcome."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    plugin = OTelPlugin(tracer_provider=provider, capture_content=True)
    call = Call(
        operation="chat",
        provider="together_ai",
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
        ],
    )
    response = ModelResponse(
        id="resp-1",
        model=MODEL,
        choices=[Choice(message=Message(content="Sunny."), finish_reason="stop")],
        usage=Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5),
    )
    plugin.llmrouter_call_end(CallOutcome(call=call, response=response, latency_s=0.01))
    (call_span,) = exporter.get_finished_spans()
    a = attrs(call_span)
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}],
        },
        {
            "role": "user",
            "parts": [{"type": "text", "content": "and this?"}, {"type": "image_url"}],
        },
    ]
    assert "base64" not in a["gen_ai.input.messages"]
    assert a["gen_ai.usage.input_tokens"] == 3 and a["gen_ai.usage.output_tokens"] == 2


# --- failures ---------------------------------------------------------------------------------


def test_error_marks_the_spans(
    emu: TogetherEmulator, where: dict[str, Any], traced: Traced
) -> None:
    emu.add_fault(Fault(status=401), times=1)
    with (
        llmrouter.Router(plugin_host=traced.host) as router,
        pytest.raises(llmrouter.AuthenticationError) as info,
    ):
        router.completion(ROUTE, MESSAGES, **where)
    call = traced.call_span()
    assert traced.attempt_spans() == []
    for span in (call,):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs(span)["error.type"] == type(info.value).__name__ == "AuthenticationError"
        assert span.status.description
    assert attrs(call)["http.response.status_code"] == 401
    assert "gen_ai.response.id" not in attrs(call) and "llmrouter.cost_usd" not in attrs(call)
    assert KEY not in everything_recorded(traced.spans())


def test_the_plugin_never_fails_a_call(
    emu: TogetherEmulator, where: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            class Tracer:
                def start_span(self, *args: Any, **kwargs: Any) -> Any:
                    raise RuntimeError(f"exporter exploded near {KEY}")

            return Tracer()

    from llmrouter_together.plugin import provider

    host = PluginHost(autoload=False)
    host.register_provider("together_ai", provider)
    host.register_plugin(OTelPlugin(tracer_provider=Broken()))
    caplog.set_level(logging.WARNING, logger="llmrouter")
    with llmrouter.Router(plugin_host=host) as router:
        r = router.completion(ROUTE, MESSAGES, **where)
    assert r.choices[0].message.content
    events = [
        getattr(rec, "llmrouter", {})
        for rec in caplog.records
        if getattr(rec, "llmrouter", {}).get("event") == "llmrouter.otel_error"
    ]
    assert len(events) == 1 and events[0]["error_type"] == "RuntimeError"
    assert KEY not in caplog.text


# --- streams and async --------------------------------------------------------------------------


def test_stream_spans_come_from_the_rebuilt_answer(
    emu: TogetherEmulator, where: dict[str, Any], traced: Traced
) -> None:
    with llmrouter.Router(plugin_host=traced.host) as router:
        chunks = list(router.completion(ROUTE, MESSAGES, stream=True, max_tokens=5, **where))
    assert traced.spans()  # the span is written when the stream ends
    a = attrs(traced.call_span())
    assert traced.attempt_spans() == []
    assert a["llmrouter.stream"] is True
    assert a["llmrouter.chunks"] == len(chunks)
    assert a["gen_ai.response.id"] == chunks[0].id
    assert a["gen_ai.response.model"] == chunks[0].model
    finish = tuple(
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    )
    assert a["gen_ai.response.finish_reasons"] == finish == ("length",)
    usage = chunks[-1].usage
    assert usage is not None
    assert a["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == usage.completion_tokens


def test_async_call(emu: TogetherEmulator, where: dict[str, Any], traced: Traced) -> None:
    async def run() -> Any:
        async with llmrouter.AsyncRouter(plugin_host=traced.host) as router:
            return await router.completion(ROUTE, MESSAGES, **where)

    r = asyncio.run(run())
    a = attrs(traced.call_span())
    assert traced.attempt_spans() == []
    assert a["gen_ai.response.id"] == r.id and a["gen_ai.operation.name"] == "chat"
    assert r.usage is not None and a["gen_ai.usage.output_tokens"] == r.usage.completion_tokens


def test_embedding_call(emu: TogetherEmulator, where: dict[str, Any], traced: Traced) -> None:
    with llmrouter.Router(plugin_host=traced.host) as router:
        r = router.embedding("together_ai/BAAI/bge-large-en-v1.5", "hello", **where)
    call = traced.call_span()
    a = attrs(call)
    assert call.name == "embeddings BAAI/bge-large-en-v1.5"
    assert a["gen_ai.operation.name"] == "embeddings"
    if r.usage is None:  # the emulator's Together embeddings report no usage
        assert "gen_ai.usage.input_tokens" not in a
    else:
        assert a["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens
    assert "gen_ai.usage.output_tokens" not in a
    assert a["gen_ai.response.model"] == r.model


# --- routing ----------------------------------------------------------------------------------


def test_routed_fallback_has_one_span_per_attempt(
    emu: TogetherEmulator, traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)

    def deployment(tenant: str) -> dict[str, Any]:
        return {
            "model": ROUTE,
            "name": tenant,
            "api_base": emu.base_url_for(tenant),
            "api_key_env": KEY_ENV,
        }

    config = {
        "router": {"num_retries": 0, "backoff_base": 0.001, "backoff_max": 0.01},
        "models": {
            "chat": {"fallbacks": ["backup"], "deployments": [deployment("a")]},
            "backup": {"deployments": [deployment("b")]},
        },
    }
    emu.add_fault(Fault(status=500), tenant="a", times=1)
    with llmrouter.Router(plugin_host=traced.host, config=config) as router:
        r = router.completion("chat", MESSAGES)
    assert r.llmrouter.attempts == 2

    call = traced.call_span()
    first, second = traced.attempt_spans()
    a = attrs(call)
    assert a["llmrouter.attempts"] == 2
    assert a["llmrouter.deployment"] == "b"
    assert isinstance(a["llmrouter.alias"], str)
    assert a["gen_ai.response.id"] == r.id
    assert call.status.status_code is StatusCode.UNSET  # the call succeeded

    f, s = attrs(first), attrs(second)
    assert (f["llmrouter.deployment"], s["llmrouter.deployment"]) == ("a", "b")
    assert (f["llmrouter.attempt"], s["llmrouter.attempt"]) == (1, 2)
    assert first.status.status_code is StatusCode.ERROR
    assert f["error.type"] == "InternalServerError" and f["http.response.status_code"] == 500
    assert f["llmrouter.decision"] == "next"
    assert second.status.status_code is StatusCode.UNSET and "error.type" not in s
    assert s["http.response.status_code"] == 200 and "llmrouter.decision" not in s
    assert within(first, call) and within(second, call)
    assert first.end_time is not None and second.start_time is not None
    assert first.end_time <= second.start_time
    assert KEY not in everything_recorded(traced.spans())


# --- cache hits ---------------------------------------------------------------------------------


class AlwaysHit:
    """A response cache that answers every call: no request is sent."""

    @hookimpl
    def llmrouter_cache_lookup(self, call: Call) -> ModelResponse:
        return ModelResponse(
            id="cached-1",
            model=call.model,
            choices=[Choice(message=Message(content="from the cache"))],
            usage=Usage(prompt_tokens=4, completion_tokens=3, total_tokens=7),
        )


def test_cache_hit_has_no_attempt_span(
    emu: TogetherEmulator, where: dict[str, Any], traced: Traced
) -> None:
    traced.host.register_plugin(AlwaysHit())
    with llmrouter.Router(plugin_host=traced.host) as router:
        r = router.completion(ROUTE, MESSAGES, **where)
    assert r.id == "cached-1" and emu.requests == []
    call = traced.call_span()
    assert traced.attempt_spans() == []
    a = attrs(call)
    assert a["llmrouter.cache_hit"] is True
    assert a["gen_ai.response.id"] == "cached-1"


# --- conventions and packaging -------------------------------------------------------------------


def test_outcome_built_by_hand_maps_provider_params_and_server() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    plugin = OTelPlugin(tracer_provider=provider)
    call = Call(
        operation="text_completion",
        provider="gemini",
        model="gemini-2.0-flash",
        prompt="Once upon",
        params={"top_k": 40, "max_completion_tokens": 9, "stop": "END", "n": 2, "seed": True},
        api_base="https://user:hunter2secret@proxy.example:8443/v1beta",
        metadata={"alias": "story", "deployment": "g1"},
    )
    plugin.llmrouter_call_end(CallOutcome(call=call, latency_s=0.25, end_ns=10_000_000_000))
    (call_span,) = exporter.get_finished_spans()
    a = attrs(call_span)
    assert call_span.name == "text_completion gemini-2.0-flash"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "gcp.gemini"
    assert a["gen_ai.request.top_k"] == 40 and a["gen_ai.request.max_tokens"] == 9
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.request.choice.count"] == 2
    assert "gen_ai.request.seed" not in a  # a bool is no seed
    assert a["server.address"] == "proxy.example" and a["server.port"] == 8443
    assert a["llmrouter.alias"] == "story" and a["llmrouter.deployment"] == "g1"
    assert "hunter2secret" not in everything_recorded([call_span])
    assert (call_span.start_time, call_span.end_time) == (9_750_000_000, 10_000_000_000)


def test_attribute_names_match_the_semantic_conventions_package() -> None:
    semconv = pytest.importorskip(
        "opentelemetry.semconv._incubating.attributes.gen_ai_attributes",
        reason="opentelemetry-semantic-conventions comes with the SDK (a dev dependency)",
    )
    ours = {name: value for name, value in vars(A).items() if name.startswith("GEN_AI_")}
    assert ours
    for name, value in ours.items():
        assert getattr(semconv, name) == value, name
    well_known = {v.value for v in semconv.GenAiProviderNameValues}
    assert {"openai", "anthropic", "gcp.gemini"} <= well_known
    for ours_name, value in A.PROVIDER_NAMES.items():
        assert value in well_known or value == ours_name
    # every first-party provider the conventions name is mapped to that name
    import llmrouter

    installed = set(llmrouter.providers())
    for ours_name in ("openai", "anthropic", "gemini", "azure", "bedrock", "mistral", "xai"):
        if ours_name in installed:
            assert A.PROVIDER_NAMES[ours_name] in well_known, ours_name
    for same in ("groq", "deepseek", "perplexity"):
        assert same in well_known and same not in A.PROVIDER_NAMES
    operations = {v.value for v in semconv.GenAiOperationNameValues}
    assert {A.OPERATION_NAMES[o] for o in ("chat", "text_completion", "embedding")} <= operations


def test_tracing_is_opt_in_and_instrument_registers_one_plugin() -> None:
    """Installing the distribution changes nothing: no entry point loads it behind the
    application's back; ``instrument()`` turns it on, once, and ``uninstrument()`` off."""
    assert not [
        ep for ep in importlib.metadata.entry_points(group="llmrouter.plugins") if ep.name == "otel"
    ]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host = PluginHost(autoload=True)
    with TogetherEmulator() as emu, llmrouter.Router(plugin_host=host) as router:
        where: dict[str, Any] = {
            "api_base": emu.base_url,
            "api_key": "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a",
        }
        router.completion(f"together_ai/{MODEL}", MESSAGES, **where)
        assert exporter.get_finished_spans() == ()
        first = llmrouter_otel.instrument(tracer_provider=provider, host=host)
        second = llmrouter_otel.instrument(tracer_provider=provider, host=host)
        assert host.pm.get_plugin(llmrouter_otel.PLUGIN_NAME) is second is not first
        router.completion(f"together_ai/{MODEL}", MESSAGES, **where)
        assert len([s for s in exporter.get_finished_spans() if s.parent is None]) == 1
        llmrouter_otel.uninstrument(host=host)
        llmrouter_otel.uninstrument(host=host)  # twice is fine
        router.completion(f"together_ai/{MODEL}", MESSAGES, **where)
        assert len([s for s in exporter.get_finished_spans() if s.parent is None]) == 1


def test_capture_content_must_be_a_bool() -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match="capture_content"):
        OTelPlugin(capture_content="yes")  # type: ignore[arg-type]


def test_without_a_tracer_the_plugin_keeps_the_core_shortcut() -> None:
    """With no provider given and none configured (the API's no-op), a successful call's
    outcome is not even built; with a provider it is."""
    host = PluginHost()
    with TogetherEmulator() as emu, llmrouter.Router(plugin_host=host) as router:
        where: dict[str, Any] = {
            "api_base": emu.base_url,
            "api_key": "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a",
        }
        llmrouter_otel.instrument(host=host)
        router.completion(f"together_ai/{MODEL}", MESSAGES, **where)
        assert host.provider_hooks("together_ai").success_end_idle()
        llmrouter_otel.instrument(tracer_provider=TracerProvider(), host=host)
        assert not host.provider_hooks("together_ai").success_end_idle()


class _EveryOther:
    """A sampler that records every other span it is asked about, and remembers the attributes
    it was shown (what a sampler may decide on)."""

    def __init__(self) -> None:
        self.asked = 0
        self.shown: list[dict[str, Any]] = []

    def should_sample(self, *args: Any, **kwargs: Any) -> Any:
        from opentelemetry.sdk.trace.sampling import Decision, SamplingResult

        attributes = kwargs.get("attributes", args[4] if len(args) > 4 else None)
        self.shown.append(dict(attributes or {}))
        self.asked += 1
        record = self.asked % 2 == 1
        return SamplingResult(Decision.RECORD_AND_SAMPLE if record else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "every other span"


def test_attributes_are_the_same_whether_given_at_the_start_or_set_later(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    """After a recorded span the plugin hands every attribute to start_span; after a dropped
    one it starts with the sampling attributes only and sets the rest on a recorded span. A
    sampler that alternates exercises both: every recorded span carries the same set."""
    from llmrouter_together.plugin import provider as together

    sampler = _EveryOther()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=sampler)  # type: ignore[arg-type]
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    host = PluginHost(autoload=False)
    host.register_provider("together_ai", together)
    plugin = OTelPlugin(tracer_provider=tracer_provider)
    host.register_plugin(plugin)
    with llmrouter.Router(plugin_host=host) as router:
        for _ in range(5):
            router.completion(ROUTE, MESSAGES, max_tokens=5, **where)
    tracer_provider.shutdown()
    spans = list(exporter.get_finished_spans())
    assert sampler.asked == 5 and len(spans) == 3  # calls 1, 3 and 5 were recorded
    # Call 1 followed a recorded span (the initial guess): all attributes at the start. Call 2
    # was dropped with them; call 3 followed a drop: sampling attributes only, the rest set.
    assert "gen_ai.usage.input_tokens" in sampler.shown[0]
    assert "gen_ai.usage.input_tokens" not in sampler.shown[2]
    assert sampler.shown[2]["gen_ai.request.model"] == MODEL
    keys = [set(attrs(s)) for s in spans]
    assert keys[0] == keys[1] == keys[2]
    assert {"gen_ai.usage.input_tokens", "llmrouter.attempts", "server.port"} <= keys[1]
    assert [attrs(s)["gen_ai.request.max_tokens"] for s in spans] == [5, 5, 5]


def test_a_global_provider_set_later_turns_tracing_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The idle check reads the API's global provider before asking the API (which looks up an
    environment variable on each call): a provider the application sets after instrument()
    still turns tracing on at once. The global can be set only once per process, so the test
    puts a provider in the API's variable and takes it out again."""
    from opentelemetry import trace

    plugin = OTelPlugin()
    assert plugin.call_end_idle()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", tracer_provider)
    assert not plugin.call_end_idle()
    plugin.llmrouter_call_end(
        outcome=CallOutcome(Call(operation="chat", provider="together_ai", model="m"))
    )
    assert [s.name for s in exporter.get_finished_spans()] == ["chat m"]
    monkeypatch.undo()
    assert plugin.call_end_idle()


def test_the_environment_variable_of_a_provider_makes_the_plugin_ask_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With OTEL_PYTHON_TRACER_PROVIDER set, the API would load that provider on first use:
    the plugin then always asks the API rather than trusting the unset global."""
    from opentelemetry import trace

    asked: list[bool] = []

    def get_tracer_provider() -> Any:
        asked.append(True)
        return trace.NoOpTracerProvider()

    monkeypatch.setenv("OTEL_PYTHON_TRACER_PROVIDER", "sdk_tracer_provider")
    monkeypatch.setattr(trace, "get_tracer_provider", get_tracer_provider)
    plugin = OTelPlugin(tracer_provider=None)
    asked.clear()
    assert plugin.call_end_idle() and asked
    monkeypatch.delenv("OTEL_PYTHON_TRACER_PROVIDER")
    plugin = OTelPlugin()
    asked.clear()
    assert plugin.call_end_idle() and not asked
