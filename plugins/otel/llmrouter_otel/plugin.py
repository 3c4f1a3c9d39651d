"""The tracing plugin: spans drawn after the fact from each finished call's outcome.

Built on one public hook, ``llmrouter_call_end``: the core calls it exactly once per user call
(after retries and fallbacks; for a stream, when the stream ends) with a
:class:`~llmrouter.pipeline.CallOutcome`. Everything a span needs is in it: when the call ended
(``end_ns``) and how long it took (``latency_s``), each attempt of a routed call with its own
start and end (``attempt_log``), the answer, usage, cost and the error. So the spans are created
retrospectively, with explicit start and end times, and this plugin needs no wrapper around any
stage, no context carried between hooks and nothing private of the core.

One span per call (kind CLIENT, named ``"{gen_ai.operation.name} {gen_ai.request.model}"``)
and, for a routed call, one span under it per attempt (``attempt_log``). A direct call is its
own single attempt: its span carries the attempt's status and request id, and no child repeats
it (a second span would double tracing's cost for nothing, docs/performance.md). A cache hit
sent nothing: it has no attempt span.

The plugin never fails a call: anything it raises is caught and logged as
``llmrouter.otel_error``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmrouter.hookspecs import hookimpl
from llmrouter.logs import get_logger
from llmrouter.secrets import call_secret_values, redact_text, scrub_values
from llmrouter_otel import attributes as A
from llmrouter_otel.content import input_messages, output_messages

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue

    from llmrouter import PluginHost
    from llmrouter.pipeline import AttemptRecord, Call, CallOutcome

__all__ = ["CAPTURE_CONTENT_ENV", "PLUGIN_NAME", "OTelPlugin", "instrument", "uninstrument"]

#: The standard switch of the OpenTelemetry GenAI instrumentations for recording message content.
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

#: The instrumentation scope of every span (the tracer's name).
SCOPE_NAME = "llmrouter_otel"
_VERSION = "0.1.0"

_DEFAULT_PORTS = {"https": 443, "http": 80}
#: The OpenTelemetry API's variable naming a TracerProvider class to load on first use.
_PROVIDER_ENV = "OTEL_PYTHON_TRACER_PROVIDER"
_UNKNOWN = object()


def _env_capture() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class OTelPlugin:
    """Writes an OpenTelemetry trace of every llmrouter call.

    ``tracer_provider``: where spans go; ``None`` (the default) is the global provider, a no-op
    until the application configures the SDK, and followed when it does so later.
    ``capture_content``: record the messages sent and received (``gen_ai.input.messages``,
    ``gen_ai.output.messages``); ``None`` reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    at each call. Off by default: prompts and answers are often personal data. An API key or a
    header is never recorded, with or without it.

    :func:`instrument` registers one; ``llmrouter.register_plugin(OTelPlugin(...))`` (or a
    plugin host's ``register_plugin``) does the same by hand.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        capture_content: bool | None = None,
    ) -> None:
        if capture_content is not None and not isinstance(capture_content, bool):
            from llmrouter.errors import InvalidRequestError

            raise InvalidRequestError(
                f"OTelPlugin(capture_content=...) takes True, False or None (read "
                f"{CAPTURE_CONTENT_ENV}), not {type(capture_content).__name__}"
            )
        self._capture_content = capture_content
        self._tracer_provider = tracer_provider
        self._env_provider = _PROVIDER_ENV in os.environ
        #: Whether the last span was recorded (see _record); a plain flag, any thread may flip it.
        self._recording = True
        # With the global provider this is a proxy tracer: it follows a provider set later.
        self._tracer: Tracer = trace.get_tracer(
            SCOPE_NAME, _VERSION, tracer_provider=tracer_provider
        )

    def __repr__(self) -> str:
        return f"OTelPlugin(capture_content={self._capture_content!r})"

    @property
    def capture_content(self) -> bool:
        """Whether message content is recorded now (the argument, else the variable)."""
        if self._capture_content is not None:
            return self._capture_content
        return _env_capture()

    @hookimpl
    def llmrouter_call_end(self, outcome: CallOutcome) -> None:
        """Draw the call's spans. Never raises: tracing must not fail the call it describes."""
        try:
            self._record(outcome)
        except Exception as exc:
            try:
                secrets = call_secret_values(outcome.call.api_key)
                message = redact_text(str(exc))
                if secrets:
                    message = scrub_values(message, secrets)
                get_logger().warning(
                    "llmrouter.otel_error", error_type=type(exc).__name__, error=message
                )
            except Exception:  # pragma: no cover - logging itself failed; nothing is left to do
                pass

    def call_end_idle(self) -> bool:
        """Whether a successful call would draw nothing (no provider given, none configured):
        the core then does not even build the call's outcome (see ``hookspecs``)."""
        return self._tracing_off()

    # --- spans ----------------------------------------------------------------------------------

    def _tracing_off(self) -> bool:
        """No provider was given and the application configured none: every span would be a
        no-op, so the outcome is not even read (its cost, for one, is computed when read).

        Asked on every call. ``trace.get_tracer_provider()`` looks up
        ``OTEL_PYTHON_TRACER_PROVIDER`` in ``os.environ`` each time no global provider is set,
        about half of what this plugin cost a call with tracing off (docs/performance.md). So
        the API's global is read first: while it is unset and the variable was not set when the
        plugin was made, no provider can be in use. A variable set later is seen as soon as
        anything asks the API for its provider (an application's own ``trace.get_tracer``)."""
        if self._tracer_provider is not None:
            return False
        if not self._env_provider and getattr(trace, "_TRACER_PROVIDER", _UNKNOWN) is None:
            return True
        return isinstance(
            trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        )

    def _record(self, outcome: CallOutcome) -> None:
        if self._tracing_off():
            return
        tracer = self._tracer
        call = outcome.call
        end_ns = outcome.end_ns
        start_ns = end_ns - max(0, int(outcome.latency_s * 1e9))
        log = outcome.attempt_log
        if log:
            # The call's times come from a monotonic clock, the attempts' from the wall clock
            # (what spans take): keep every attempt inside its call whatever the two drifted.
            start_ns = min(start_ns, log[0].start_ns)
            end_ns = max(end_ns, log[-1].end_ns)
        # What a sampler may decide on (the conventions' "sampling-relevant" attributes) is
        # known at the start. The rest is built only for a span that will be recorded: handed
        # to start_span with them when the last span was recorded (one attribute set built by
        # the SDK instead of two: a fifth of a recorded span's cost, docs/performance.md), set
        # once the span says it records otherwise (a sampler dropping most spans then costs no
        # attribute building for the dropped ones).
        attrs = _sampling_attributes(call.operation, call.provider, call.model, call.api_base)
        upfront = self._recording
        if upfront:
            attrs.update(_call_attributes(outcome))
        span = tracer.start_span(
            _span_name(call.operation, call.model),
            kind=SpanKind.CLIENT,
            start_time=start_ns,
            attributes=attrs,
        )
        recording = span.is_recording()
        if recording is not upfront:
            self._recording = recording
        if not recording:
            span.end(end_time=end_ns)
            return
        try:
            later = {} if upfront else _call_attributes(outcome)
            error = outcome.error
            capture = self.capture_content
            secrets: Sequence[str] = ()
            if log or error is not None or capture:
                secrets = call_secret_values(call.api_key)
            if capture:
                later.update(_content_attributes(outcome, secrets))
            if later:
                span.set_attributes(later)
            if log and not outcome.cache_hit:
                parent = trace.set_span_in_context(span)
                for record in log:
                    if record is log[-1] and record.error is None and error is None:
                        # The attempt that answered: the outcome's status and request id are
                        # its own (its record only carries them for a failure).
                        record = _answered(record, outcome)
                    self._attempt_span(parent, call, record, secrets)
            if error is not None:
                _set_error(span, error, secrets)
        finally:
            span.end(end_time=end_ns)

    def _attempt_span(
        self, parent: Any, call: Call, record: AttemptRecord, secrets: Sequence[str]
    ) -> None:
        attrs = _sampling_attributes(call.operation, record.provider, record.model, None)
        attrs[A.LLMROUTER_DEPLOYMENT] = record.deployment
        attrs[A.LLMROUTER_ATTEMPT] = record.number
        alias = call.metadata.get("alias")
        if isinstance(alias, str):
            attrs[A.LLMROUTER_ALIAS] = alias
        if record.status_code is not None:
            attrs[A.HTTP_RESPONSE_STATUS_CODE] = record.status_code
        if record.request_id:
            attrs[A.LLMROUTER_REQUEST_ID] = _clean(record.request_id, secrets)
        if record.decision:
            attrs[A.LLMROUTER_DECISION] = record.decision
        span = self._tracer.start_span(
            _span_name(call.operation, record.model),
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=record.start_ns,
            attributes=attrs,
        )
        if record.error is not None:
            _set_error(span, record.error, secrets)
        span.end(end_time=max(record.end_ns, record.start_ns))


#: The name :func:`instrument` registers the plugin under.
PLUGIN_NAME = "llmrouter.otel"


def instrument(
    *,
    tracer_provider: TracerProvider | None = None,
    capture_content: bool | None = None,
    host: PluginHost | None = None,
) -> OTelPlugin:
    """Trace every llmrouter call from now on: registers an :class:`OTelPlugin` on the default
    plugin host (or ``host``), replacing one registered before, and returns it.

    Opt-in on purpose, like OpenTelemetry's own instrumentors: installing the distribution
    changes nothing until the application asks, so a process that never calls this (a test
    suite, a benchmark, a library that merely depends on it) keeps llmrouter's cheapest path.
    """
    plugin = OTelPlugin(tracer_provider=tracer_provider, capture_content=capture_content)
    target = _host(host)
    if target.pm.get_plugin(PLUGIN_NAME) is not None:
        target.unregister_plugin(name=PLUGIN_NAME)
    target.register_plugin(plugin, name=PLUGIN_NAME)
    return plugin


def uninstrument(*, host: PluginHost | None = None) -> None:
    """Stop tracing: unregisters what :func:`instrument` registered (nothing if it did not)."""
    target = _host(host)
    if target.pm.get_plugin(PLUGIN_NAME) is not None:
        target.unregister_plugin(name=PLUGIN_NAME)


def _host(host: PluginHost | None) -> PluginHost:
    if host is not None:
        return host
    from llmrouter import default_plugin_host

    return default_plugin_host()


# --- attributes -------------------------------------------------------------------------------


def _answered(record: AttemptRecord, outcome: CallOutcome) -> AttemptRecord:
    if record.status_code is not None and record.request_id is not None:
        return record
    return dataclasses.replace(
        record,
        status_code=record.status_code if record.status_code is not None else outcome.status_code,
        request_id=record.request_id or outcome.request_id,
    )


def _span_name(operation: str, model: str) -> str:
    return f"{A.OPERATION_NAMES.get(operation, operation)} {model}"


def _clean(text: str, secrets: Sequence[str]) -> str:
    """Server-sent or error text, with the call's key and anything key-shaped removed."""
    text = redact_text(text)
    if secrets:
        text = scrub_values(text, secrets)
    return text


def _set_error(span: Span, error: BaseException, secrets: Sequence[str]) -> None:
    span.set_attribute(A.ERROR_TYPE, type(error).__name__)
    span.set_status(Status(StatusCode.ERROR, _clean(str(error), secrets)))


@functools.lru_cache(maxsize=64)
def _server(api_base: str) -> tuple[tuple[str, AttributeValue], ...]:
    """``_server_attributes`` of one base URL, parsed once (a process talks to few)."""
    return tuple(_server_attributes(api_base).items())


def _server_attributes(api_base: str | None) -> dict[str, AttributeValue]:
    """``server.address`` and ``server.port`` of an explicit base URL (the provider's default
    URL is the provider plugin's business, not in the outcome: then nothing is recorded). Only
    host and port are read, so credentials in a URL's user-info never reach a span."""
    if not api_base:
        return {}
    try:
        parts = urlsplit(api_base)
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return {}
    if not host:
        return {}
    out: dict[str, AttributeValue] = {A.SERVER_ADDRESS: host}
    if port is not None:
        out[A.SERVER_PORT] = port
    return out


def _request_attributes(params: dict[str, Any]) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for name, (attribute, types) in A.REQUEST_PARAMS.items():
        value = params.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, types):
            continue
        if attribute not in out:  # max_tokens wins over max_completion_tokens
            out[attribute] = cast("int | float", value)
    stop = params.get("stop")
    if isinstance(stop, str):
        out[A.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)
    elif isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        out[A.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    n = params.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        out[A.GEN_AI_REQUEST_CHOICE_COUNT] = n
    return out


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sampling_attributes(
    operation: str, provider: str, model: str, api_base: str | None
) -> dict[str, AttributeValue]:
    """What every span of a call or attempt carries, known before anything else is read."""
    name = A.PROVIDER_NAMES.get(provider, provider)
    attrs: dict[str, AttributeValue] = {
        A.GEN_AI_OPERATION_NAME: A.OPERATION_NAMES.get(operation, operation),
        A.GEN_AI_PROVIDER_NAME: name,
        A.GEN_AI_SYSTEM: name,
        A.GEN_AI_REQUEST_MODEL: model,
        A.LLMROUTER_PROVIDER: provider,
    }
    if api_base:
        attrs.update(_server(api_base))
    return attrs


def _call_attributes(outcome: CallOutcome) -> dict[str, AttributeValue]:
    """The call span's attributes beyond the sampling ones: request, response, llmrouter's."""
    call = outcome.call
    attrs: dict[str, AttributeValue] = {
        A.LLMROUTER_STREAM: call.stream,
        A.LLMROUTER_ATTEMPTS: outcome.attempts,
        A.LLMROUTER_CACHE_HIT: outcome.cache_hit,
    }
    attrs.update(_request_attributes(call.params))
    metadata = call.metadata
    for key, attribute in (("alias", A.LLMROUTER_ALIAS), ("deployment", A.LLMROUTER_DEPLOYMENT)):
        value = metadata.get(key)
        if isinstance(value, str) and value:
            attrs[attribute] = value
    if outcome.status_code is not None:
        attrs[A.HTTP_RESPONSE_STATUS_CODE] = outcome.status_code
    if outcome.request_id:
        attrs[A.LLMROUTER_REQUEST_ID] = _clean(outcome.request_id, call_secret_values(call.api_key))
    if outcome.chunks is not None:
        attrs[A.LLMROUTER_CHUNKS] = outcome.chunks

    response = outcome.response
    if response is not None:
        model = getattr(response, "model", None)
        if isinstance(model, str) and model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = model
        response_id = getattr(response, "id", None)
        if isinstance(response_id, str) and response_id:
            attrs[A.GEN_AI_RESPONSE_ID] = response_id
        choices = getattr(response, "choices", None)
        if isinstance(choices, list):
            reasons = tuple(
                str(r) for r in (getattr(c, "finish_reason", None) for c in choices) if r
            )
            if reasons:
                attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = reasons

    usage = outcome.usage
    if usage is None and response is not None:
        usage = getattr(response, "usage", None)
    if usage is not None:
        input_tokens = _int_or_none(getattr(usage, "prompt_tokens", None))
        output_tokens = _int_or_none(getattr(usage, "completion_tokens", None))
        if input_tokens is not None:
            attrs[A.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        if output_tokens is not None and call.operation != "embedding":
            attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens

    try:
        cost = outcome.cost
    except Exception:  # a price table that cannot price this call must not cost the span
        cost = None
    if isinstance(cost, (Decimal, int, float)) and not isinstance(cost, bool):
        attrs[A.LLMROUTER_COST_USD] = float(cost)
    return attrs


def _content_attributes(outcome: CallOutcome, secrets: Sequence[str]) -> dict[str, AttributeValue]:
    """The messages, opted in. Scrubbed of the call's key in case a conversation quotes it."""
    call = outcome.call
    out: dict[str, AttributeValue] = {}
    sent = input_messages(call.messages, call.prompt)
    if sent is not None:
        out[A.GEN_AI_INPUT_MESSAGES] = _dumps(sent, secrets)
    if outcome.response is not None:
        received = output_messages(outcome.response)
        if received is not None:
            out[A.GEN_AI_OUTPUT_MESSAGES] = _dumps(received, secrets)
    return out


def _dumps(value: Any, secrets: Sequence[str]) -> str:
    if secrets:
        value = scrub_values(value, secrets)
    return json.dumps(value, ensure_ascii=False, default=str)
