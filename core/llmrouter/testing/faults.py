"""Fault descriptions for the Together emulator, and the compact spec string that carries them.

A fault is a plain value: *what goes wrong* with one response. Which requests it hits is decided
elsewhere (a :class:`FaultRule` in the emulator, or the ``x-emulator-fault`` request header), so
the same ``Fault`` can be installed programmatically or sent over the wire as text.

Spec grammar (the header value, also accepted by :func:`parse_fault`)::

    spec   := item (";" item)*
    item   := key ["=" value]          # a bare key means "=true" for the flag keys
    key    := status | code | type | message | param | retry_after | retry_after_ms
            | delay | stream_error_after | error_in_chunk | cut_after | chunk_delay | no_done
            | malformed
            | ratelimit_limit | ratelimit_remaining | ratelimit_reset

Values are percent-decoded (``message=rate%3B%20limited``) so they may contain ``;``. Whitespace
around keys and values is ignored. Examples: ``status=429;retry_after=2``,
``stream_error_after=3;message=overloaded``, ``cut_after=5``, ``delay=0.2;status=503``, ``no_done``.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

__all__ = ["Fault", "FaultRule", "FaultSpecError", "parse_fault"]


class FaultSpecError(ValueError):
    """A fault spec string (or a ``Fault``) that makes no sense; the text says which part."""


_FLAG_TRUE = {"", "1", "true", "yes", "on"}
_FLAG_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one response. Every field is optional; combine them freely.

    - ``status``: answer with this HTTP error status and a Together error body
      (``{"id", "error": {"message", "type", "param", "code"}}``); ``code``/``type``/``message``/
      ``param`` override the defaults the emulator picks for that status. With
      ``stream_error_after`` it only chooses the in-band error's defaults instead.
    - ``retry_after`` (seconds) -> ``retry-after`` header; ``retry_after_ms`` -> ``retry-after-ms``.
      A 429 also carries ``x-ratelimit-limit/remaining/reset`` (override with ``ratelimit_*``).
    - ``delay``: seconds to wait before anything is sent (before the status line).
    - ``stream_error_after=N``: stream N content chunks, then a ``data: {"error": {...}}`` event,
      then end the stream without ``[DONE]``. No effect on non-streaming requests.
    - ``error_in_chunk``: with ``stream_error_after``, the error event is also a well-formed
      chunk (``id``, ``object``, ``created``, ``model``, ``choices`` beside ``error``), as some
      OpenAI-compatible servers send it. A parser that reads the event as a chunk first must
      still see the error.
    - ``cut_after=N``: stream N content chunks, then close the socket mid-response (no ``[DONE]``,
      no final HTTP chunk). For a non-streaming request: close the socket without any response.
    - ``chunk_delay``: seconds between stream chunks (stream-idle timeout tests).
    - ``no_done``: finish the stream cleanly but leave out ``data: [DONE]``.
    - ``malformed``: status 200 with a body that is not valid JSON (a stream sends one invalid
      ``data:`` event first).
    """

    status: int | None = None
    code: str | None = None
    type: str | None = None
    message: str | None = None
    param: str | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    delay: float = 0.0
    stream_error_after: int | None = None
    error_in_chunk: bool = False
    cut_after: int | None = None
    chunk_delay: float = 0.0
    no_done: bool = False
    malformed: bool = False
    ratelimit_limit: int | None = None
    ratelimit_remaining: int | None = None
    ratelimit_reset: float | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 100 <= self.status <= 599:
            raise FaultSpecError(f"status must be an HTTP status 100..599, got {self.status}")
        for name in ("delay", "chunk_delay"):
            if getattr(self, name) < 0:
                raise FaultSpecError(f"{name} must be >= 0")
        for name in ("stream_error_after", "cut_after", "retry_after_ms"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise FaultSpecError(f"{name} must be >= 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise FaultSpecError("retry_after must be >= 0")
        if self.error_in_chunk and self.stream_error_after is None:
            raise FaultSpecError("error_in_chunk needs stream_error_after (it shapes that event)")

    @property
    def is_noop(self) -> bool:
        """True when the fault changes nothing (lets the hot path skip fault handling)."""
        return self == _NOOP

    def to_spec(self) -> str:
        """The header form of this fault, so tests can send it: ``x-emulator-fault: <spec>``."""
        parts: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if isinstance(value, bool):
                parts.append(f.name)
            elif isinstance(value, str):
                parts.append(f"{f.name}={quote(value, safe='')}")
            else:
                parts.append(f"{f.name}={value}")
        return ";".join(parts)


_NOOP = Fault()

_INT_KEYS = {
    "status",
    "retry_after_ms",
    "stream_error_after",
    "cut_after",
    "ratelimit_limit",
    "ratelimit_remaining",
}
_FLOAT_KEYS = {"retry_after", "delay", "chunk_delay", "ratelimit_reset"}
_STR_KEYS = {"code", "type", "message", "param"}
_BOOL_KEYS = {"no_done", "malformed", "error_in_chunk"}
_ALL_KEYS = _INT_KEYS | _FLOAT_KEYS | _STR_KEYS | _BOOL_KEYS


def parse_fault(spec: str) -> Fault:
    """Parse a compact fault spec (see the module docstring) into a :class:`Fault`.

    Raises :class:`FaultSpecError` naming the offending item, so a typo in a test header fails
    loudly (the emulator answers it with a 400) instead of silently injecting nothing.
    """
    values: dict[str, object] = {}
    for raw_item in spec.split(";"):
        item = raw_item.strip()
        if not item:
            continue
        key, sep, raw_value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        value = unquote(raw_value.strip())
        if key not in _ALL_KEYS:
            raise FaultSpecError(
                f"unknown fault key {key!r} in {spec!r}; known keys: {', '.join(sorted(_ALL_KEYS))}"
            )
        try:
            if key in _BOOL_KEYS:
                lowered = value.lower()
                if lowered in _FLAG_TRUE:
                    values[key] = True
                elif lowered in _FLAG_FALSE:
                    values[key] = False
                else:
                    raise ValueError(value)
            elif not sep:
                raise FaultSpecError(f"fault key {key!r} needs a value (e.g. {key}=1)")
            elif key in _INT_KEYS:
                values[key] = int(value)
            elif key in _FLOAT_KEYS:
                values[key] = float(value)
            else:
                values[key] = value
        except ValueError:
            raise FaultSpecError(f"bad value {value!r} for fault key {key!r}") from None
    return Fault(**values)  # type: ignore[arg-type]


def _normalise_endpoint(path: str | None) -> str | None:
    """Reduce ``/v1/chat/completions``, ``chat/completions`` etc. to ``/chat/completions``."""
    if path is None:
        return None
    p = "/" + path.strip("/")
    if p.startswith("/v1/") or p == "/v1":
        p = p[3:] or "/"
    return p


@dataclass(eq=False)
class FaultRule:
    """One programmatic fault rule: *which* requests a :class:`Fault` hits, and how often.

    ``path`` matches the API endpoint (``"/chat/completions"``, with or without ``/v1``);
    ``model`` the request body's model (case-insensitive); ``tenant`` the ``/t/<tenant>`` prefix
    (``""`` matches only requests without a tenant). ``None`` matches anything. ``times=K``
    hits the next K matching requests and then retires the rule; ``None`` hits forever.
    ``hits`` counts how many requests the rule has hit, for assertions.
    """

    fault: Fault
    path: str | None = None
    model: str | None = None
    tenant: str | None = None
    times: int | None = None
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.path = _normalise_endpoint(self.path)
        if self.times is not None and self.times < 0:
            raise FaultSpecError("times must be >= 0")

    @property
    def remaining(self) -> int | None:
        """How many more requests this rule will hit (``None`` = unlimited)."""
        if self.times is None:
            return None
        return max(self.times - self.hits, 0)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, endpoint: str, model: str | None, tenant: str) -> bool:
        if self.path is not None and self.path != endpoint:
            return False
        if self.tenant is not None and self.tenant != tenant:
            return False
        return self.model is None or (
            model is not None and self.model.lower() == str(model).lower()
        )

    def try_consume(self) -> bool:
        """Claim one hit; False when the rule is already used up (thread-safe)."""
        with self._lock:
            if self.times is not None and self.hits >= self.times:
                return False
            self.hits += 1
            return True
