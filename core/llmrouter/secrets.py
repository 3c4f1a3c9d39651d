"""Keeping keys out of logs, errors and reprs.

A key travels inside :class:`Secret` from the moment llmrouter reads it until the one place that
needs the clear text (the ``Authorization`` header handed to httpx). ``repr``/``str`` of a Secret
never show it, and :func:`redact_text` scrubs anything that looks like a bearer token or a known
key from free text (provider error messages sometimes echo the header back).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "Secret",
    "redact_headers",
    "redact_obj",
    "redact_text",
    "remember_secret",
    "secret_for",
]

REDACTED = "[REDACTED]"

_SECRET_HEADER_NAMES = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)

# Bearer tokens and the common "sk-..." / long hex key shapes. Deliberately broad: a false
# positive costs a few characters of an error message, a false negative leaks a credential.
_TOKEN_RE = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}|\bsk-[A-Za-z0-9_-]{8,}|\b[a-f0-9]{48,}\b"
)

# Exact values seen by Secret, so that keys of any shape are scrubbed from text. Bounded so a
# long-running process that rotates keys does not grow without limit.
_KNOWN: list[str] = []
_KNOWN_MAX = 64


#: Secrets handed out by :func:`secret_for`, by clear text. A value leaves this cache when it
#: leaves ``_KNOWN``, so a reused Secret is always one whose text is still scrubbed.
_INTERNED: dict[str, Secret] = {}


#: Shorter values are not scrubbed from text (too likely to be ordinary words).
_MIN_REMEMBERED = 6
_INTERN_MAX_LEN = 4096


def remember_secret(value: str) -> None:
    """Add a clear-text secret to the set scrubbed by :func:`redact_text`."""
    if len(value) >= _MIN_REMEMBERED and value not in _KNOWN:
        _KNOWN.append(value)
        if len(_KNOWN) > _KNOWN_MAX:
            _INTERNED.pop(_KNOWN.pop(0), None)


def secret_for(value: str) -> Secret:
    """``Secret(value)``, reused across calls that pass the same key.

    Routers call this once per call with the caller's ``api_key=``; building a Secret (and
    checking the scrub list) every time was measurable on the hot path.
    """
    if type(value) is not str or len(value) > _INTERN_MAX_LEN:
        return Secret(value)  # str subclasses may not hash like str; huge values are not kept
    secret = _INTERNED.get(value)
    if secret is None:
        secret = Secret(value)
        if len(_INTERNED) >= _KNOWN_MAX:
            _INTERNED.clear()
        _INTERNED[value] = secret
        # Stored first, checked second: if another thread pushed the value out of the scrub
        # list while this Secret was being built, its eviction found nothing to drop here, so
        # drop it now; a later call builds (and remembers) a new one.
        if len(value) >= _MIN_REMEMBERED and value not in _KNOWN:
            _INTERNED.pop(value, None)
    return secret


def redact_text(text: str) -> str:
    """Return ``text`` with bearer tokens, key-shaped strings and known secrets replaced."""
    if not text:
        return text
    for value in _KNOWN:
        if value in text:
            text = text.replace(value, REDACTED)
    return _TOKEN_RE.sub(lambda m: (m.group(1) or "") + REDACTED, text)


def redact_obj(value: Any) -> Any:
    """:func:`redact_text` applied to every string inside nested dicts/lists (error bodies)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_obj(v) for v in value]
    return value


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential headers replaced, safe to log."""
    return {k: (REDACTED if k.lower() in _SECRET_HEADER_NAMES else v) for k, v in headers.items()}


class Secret:
    """A string that does not show itself.

    Equality compares the clear text (so config reloads can tell a key changed) but hashing and
    printing never expose it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"Secret takes a str, got {type(value).__name__}")
        self._value = value
        remember_secret(value)

    def get_secret_value(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, len(self._value)))

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not picklable; pass the key again where it is needed")
