"""OpenTelemetry tracing for llmrouter.

``llmrouter_otel.instrument()`` turns tracing on: it registers an :class:`OTelPlugin`, which
draws one span per call and one per attempt on the global tracer provider (or the one given),
following the OpenTelemetry GenAI semantic conventions. Spans go nowhere until the application
configures the OpenTelemetry SDK. See ``docs/tracing.md``.
"""

from __future__ import annotations

from llmrouter_otel.plugin import (
    CAPTURE_CONTENT_ENV,
    PLUGIN_NAME,
    OTelPlugin,
    instrument,
    uninstrument,
)

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "PLUGIN_NAME",
    "OTelPlugin",
    "__version__",
    "instrument",
    "uninstrument",
]

__version__ = "0.1.0"
