"""Structured logging, through the standard ``logging`` module by default.

llmrouter never configures structlog globally (that belongs to the application). It wraps the
stdlib logger ``"llmrouter"`` with its own small processor chain: redact secrets, then hand the
event to ``logging`` with the fields in ``extra`` (and a readable ``key=value`` message). So an
application that configured ``logging`` sees llmrouter's events with its handlers and levels, and
one that configured structlog's stdlib integration gets the fields as structured data.

This module is also the built-in plugin that writes one event per finished call
(``llmrouter.call``); it is registered exactly like an external plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from llmrouter.hookspecs import hookimpl
from llmrouter.secrets import (
    CREDENTIAL_HEADERS,
    REDACTED,
    Secret,
    call_secret_values,
    redact_text,
    scrub_values,
)

if TYPE_CHECKING:
    from llmrouter.pipeline import CallOutcome

__all__ = ["get_logger", "redact_event"]

LOGGER_NAME = "llmrouter"
_stdlib_logger = logging.getLogger(LOGGER_NAME)
# The library convention: without this, an application that configured no logging would get
# every WARNING event (a failed call, whose exception it already holds) printed by Python's
# last-resort handler. Applications opt in by configuring logging.
_stdlib_logger.addHandler(logging.NullHandler())

# Field names whose value is a credential: the credential headers (one list, in secrets.py)
# plus the names a caller or plugin may bind a key under.
_SECRET_KEYS = CREDENTIAL_HEADERS | {"api_key", "password", "token", "secret"}


def _redact_value(key: str, value: Any) -> Any:
    if key.lower() in _SECRET_KEYS:
        return REDACTED if value else value
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(key, v) for v in value]
    return value


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace secrets in every field (keys named like credentials, Secret
    values, bearer tokens and known keys inside strings)."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_value(key, value)
    return event_dict


def _to_stdlib(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    event = event_dict.pop("event", "")
    fields = " ".join(f"{k}={v!r}" for k, v in event_dict.items())
    # structlog's stdlib BoundLogger calls logger.<method>(*args, **kwargs) with what we return.
    return (f"{event} {fields}".strip(),), {"extra": {"llmrouter": dict(event_dict, event=event)}}


_logger: Any = None


def get_logger() -> Any:
    """llmrouter's structlog logger (bound to the stdlib logger ``"llmrouter"``)."""
    global _logger
    if _logger is None:
        import structlog

        _logger = structlog.wrap_logger(
            _stdlib_logger,
            processors=[structlog.stdlib.filter_by_level, redact_event, _to_stdlib],
            wrapper_class=structlog.stdlib.BoundLogger,
        )
    return _logger


def call_end_idle() -> bool:
    """Whether :func:`llmrouter_call_end` would do nothing for a successful call (INFO is off):
    the core then skips building its outcome (``_plugins._success_end_idle``)."""
    return not _stdlib_logger.isEnabledFor(logging.INFO)


@hookimpl(trylast=True)
def llmrouter_call_end(outcome: CallOutcome) -> None:
    """One structured event per finished call; skipped cheaply when INFO is not enabled.

    The core knows this function: while it is the hook's only implementation and INFO is off,
    successful calls do not reach it at all (``plugins._success_end_idle``)."""
    failed = outcome.error is not None
    level = logging.WARNING if failed else logging.INFO
    if not _stdlib_logger.isEnabledFor(level):
        return
    call = outcome.call
    fields: dict[str, Any] = {
        "provider": call.provider,
        "model": call.model,
        "operation": call.operation,
        "stream": call.stream,
        "status": outcome.status_code,
        "latency_ms": round(outcome.latency_s * 1000, 2),
        "attempts": outcome.attempts,
        "request_id": outcome.request_id,
    }
    alias = call.metadata.get("alias")
    if alias:
        fields["alias"] = alias
        fields["deployment"] = call.metadata.get("deployment")
    response = outcome.response
    if response is not None:
        fields["response_id"] = getattr(response, "id", None)
        fields["response_model"] = getattr(response, "model", None)
        choices = getattr(response, "choices", None)
        if choices:
            fields["finish_reasons"] = [c.finish_reason for c in choices]
    usage = outcome.usage
    if usage is not None:
        fields["prompt_tokens"] = getattr(usage, "prompt_tokens", None)
        fields["completion_tokens"] = getattr(usage, "completion_tokens", None)
        fields["total_tokens"] = getattr(usage, "total_tokens", None)
    if outcome.cache_hit:
        fields["cache_hit"] = True
    if usage is not None or outcome.cache_hit:
        cost = outcome.cost
        fields["cost_usd"] = None if cost is None else str(cost)
    if outcome.chunks is not None:
        fields["chunks"] = outcome.chunks
    if failed:
        err = outcome.error
        event: dict[str, Any] = {
            "outcome": "error",
            "error_type": type(err).__name__,
            "error": str(err),
            **fields,
        }
    else:
        event = {"outcome": "ok", **fields}
    # This call's own key, whatever the bounded process-wide list holds: the core scrubbed the
    # error already, but request_id and the error text come from the server.
    secrets = call_secret_values(call.api_key)
    if secrets:
        event = scrub_values(event, secrets)
    log = get_logger()
    if failed:
        log.warning("llmrouter.call", **event)
    else:
        log.info("llmrouter.call", **event)
