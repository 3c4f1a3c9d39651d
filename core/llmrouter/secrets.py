"""Keeping keys out of logs, errors and reprs.

A key travels inside :class:`Secret` from the moment llmrouter reads it until the one place that
needs the clear text (the ``Authorization`` header handed to httpx). ``repr``/``str`` of a Secret
never show it, and :func:`redact_text` scrubs anything that looks like a bearer token or a known
key from free text (provider error messages sometimes echo the header back).

Two layers, because the second one alone cannot be complete:

* **Per call** (the guarantee): the core knows the key a call sent (``call.api_key`` and the
  credential headers of its request), so every error of that call is scrubbed of that exact text
  (:func:`scrub_call_error`): message, ``args``, ``body``, every header value, ``request_id``,
  any other string attribute, and the chained causes. It does not matter how many other keys
  the process used meanwhile.
* **Process-wide** (best effort): :func:`redact_text` replaces bearer tokens, key-shaped strings
  (:data:`KEY_PREFIXES`, long hex) and the last ``_KNOWN_MAX`` keys seen by :class:`Secret`.

:data:`CREDENTIAL_HEADERS` is the one list of header names whose whole value is a credential;
errors, logs, reprs and the test emulator all import it from here.
:func:`looks_like_credential` tells a key pasted where a name belongs (the config refuses it).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CREDENTIAL_HEADERS",
    "KEY_PREFIXES",
    "REDACTED",
    "Secret",
    "call_secret_values",
    "looks_like_credential",
    "redact_headers",
    "redact_obj",
    "redact_text",
    "remember_secret",
    "scrub_call_error",
    "scrub_error",
    "scrub_values",
    "secret_for",
]

REDACTED = "[REDACTED]"

#: Header names whose whole value is a credential (lower case). The one copy: errors
#: (``err.headers``), log fields, request reprs and the emulator's request log import it.
CREDENTIAL_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-together-key",
        "x-amz-security-token",
        "cookie",
        "set-cookie",
    }
)

#: How provider keys start (case-sensitive), for :func:`looks_like_credential` and
#: :func:`redact_text`: Together, OpenAI/Anthropic/OpenRouter/DeepSeek (``sk-``), Groq, xAI,
#: Perplexity, Fireworks, NVIDIA, Replicate, Hugging Face, Google, AWS, GitHub.
KEY_PREFIXES: tuple[str, ...] = (
    "tgp_v1_",
    "sk-",
    "gsk_",
    "xai-",
    "pplx-",
    "fw_",
    "nvapi-",
    "r8_",
    "hf_",
    "AIza",
    "AKIA",
    "ghp_",
    "github_pat_",
)

# Bearer tokens, "sk-..." and long hex (any case), and the other known prefixes (exact case,
# so an upper-case variable name such as HF_TOKEN_FOR_TESTS is not taken for a key).
# Deliberately broad: a false positive costs a few characters of an error message, a false
# negative leaks a credential.
_TOKEN_RE = re.compile(
    r"(?i:(bearer\s+)[A-Za-z0-9._~+/=-]{6,}|\bsk-[A-Za-z0-9_-]{8,}|\b[a-f0-9]{48,}\b)"
    r"|(?<![A-Za-z0-9_-])(?:"
    + "|".join(re.escape(p) for p in KEY_PREFIXES if p != "sk-")
    + r")[A-Za-z0-9_-]{16,}"
)

# Exact values seen by Secret, so that keys of any shape are scrubbed from text. Bounded so a
# long-running process that rotates keys does not grow without limit; so it is best effort
# only (a key whose Secret was made 64 keys ago is not in it): the guarantee for a call's own
# key is the per-call scrub (scrub_call_error), which does not use this list.
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


#: Query parameters that carry a password in the connection URLs redis-py and libpq read.
_SECRET_QUERY = frozenset({"password", "sslpassword", "passfile"})


def redact_url(url: str) -> str:
    """``url`` without its user name and password (``redis://<redacted>@host:6379/0``) and
    without the values of the query parameters that carry one (``password``, ``sslpassword``,
    ``passfile``, as redis-py and libpq read them), for reprs and messages about a connection
    URL that may carry credentials.

    Never raises, and errs on the side of hiding: when ``urlsplit`` finds no user but an ``@``
    stands before the query (no scheme; a password holding an unescaped ``/``, ``#`` or ``?``,
    which ends the parsed host early; a port that is not a number), everything from the start
    of the authority to the last such ``@`` is replaced."""
    from urllib.parse import urlsplit

    base, qmark, query = url.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        pairs = []
        for pair in query.split("&"):
            name, eq, _ = pair.partition("=")
            pairs.append(f"{name}=<redacted>" if eq and name.lower() in _SECRET_QUERY else pair)
        query = "?" + "&".join(pairs) + hash_ + fragment
    try:
        parts = urlsplit(base)
        user, port = parts.username or parts.password, parts.port
    except ValueError:
        parts, user, port = None, None, None
    if parts is not None and user is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # IPv6
        if port is not None:
            host = f"{host}:{port}"
        return parts._replace(netloc=f"<redacted>@{host}").geturl() + query
    if "@" in base:
        scheme, sep, rest = base.partition("://")
        if not sep:
            scheme, rest = "", base
        rest = "<redacted>@" + rest.rpartition("@")[2]
        return (f"{scheme}://{rest}" if sep else rest) + query
    return base + query


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential headers replaced, safe to log."""
    return {k: (REDACTED if k.lower() in CREDENTIAL_HEADERS else v) for k, v in headers.items()}


# --- per call: the exact key a call sent --------------------------------------------------------

#: Deeper nesting than this inside an error body is replaced whole rather than walked (a hostile
#: body must not turn scrubbing into a RecursionError, or into a way around it).
_MAX_DEPTH = 64
_TOO_DEEP = "[nested too deeply to scrub]"


def call_secret_values(
    api_key: Secret | None, headers: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The clear texts a call sent as credentials, longest first: ``api_key`` and the values of
    the :data:`CREDENTIAL_HEADERS` in its request ``headers`` (the token after an
    ``Authorization`` scheme, each cookie value). Reading the request catches a key a provider
    plugin found itself (environment variable, its own header name) as well as the caller's.
    Values shorter than ``_MIN_REMEMBERED`` are left out: no real key is that short, and
    scrubbing them would mangle ordinary words."""
    found: set[str] = set()
    if api_key is not None:
        found.add(api_key.get_secret_value().strip())
    if headers:
        for name, value in headers.items():
            lower = name.lower()
            if lower not in CREDENTIAL_HEADERS or not isinstance(value, str):
                continue
            value = value.strip()
            found.add(value)
            if lower in ("authorization", "proxy-authorization"):
                found.add(value.partition(" ")[2].strip())
            elif lower in ("cookie", "set-cookie"):
                for part in value.split(";"):
                    found.add(part.partition("=")[2].strip())
    return tuple(sorted((v for v in found if len(v) >= _MIN_REMEMBERED), key=len, reverse=True))


def scrub_values(value: Any, secrets: Sequence[str], _depth: int = 0) -> Any:
    """``value`` with every occurrence of each of ``secrets`` replaced by ``[REDACTED]``, inside
    strings, mapping keys and values, lists and tuples. Returns the same object when nothing
    changed (so untouched attributes keep their identity).

    A changed named tuple keeps its type; a changed mapping of another type than ``dict`` (a
    multidict, ``httpx.Headers``) comes back as a ``dict``. Engines' own errors hold such
    things: aiohttp's ``ClientResponseError`` keeps the request's headers, ``Authorization``
    included, in its ``request_info`` named tuple and prints them in its ``repr``."""
    if isinstance(value, str):
        if not any(s in value for s in secrets):
            return value
        for s in secrets:
            value = value.replace(s, REDACTED)
        return value
    if isinstance(value, (dict, list, tuple, Mapping)):
        if _depth >= _MAX_DEPTH:
            return _TOO_DEEP
        depth = _depth + 1
        if isinstance(value, Mapping):
            pairs = list(value.items())
            items = [
                (scrub_values(k, secrets, depth), scrub_values(v, secrets, depth)) for k, v in pairs
            ]
            if all(nk is k and nv is v for (nk, nv), (k, v) in zip(items, pairs, strict=True)):
                return value
            return dict(items)
        new = [scrub_values(v, secrets, depth) for v in value]
        if all(n is o for n, o in zip(new, value, strict=True)):
            return value
        if isinstance(value, tuple):
            make = getattr(type(value), "_make", None)
            if make is not None and hasattr(value, "_fields"):
                return make(new)
            return tuple(new)
        return new
    return value


def scrub_error(exc: BaseException, secrets: Sequence[str]) -> BaseException:
    """Remove each of ``secrets`` from ``exc`` in place and return it.

    Every string the exception holds is covered: ``args``, each attribute (``message``,
    ``body``, ``headers``, ``request_id``, ``rate_limit``, ``__notes__``...), and the same for
    every exception in its ``__cause__``/``__context__`` chain (a chained JSON error holds the
    whole response text in ``.doc``). Attributes that cannot be set are left alone.
    """
    if not secrets:
        return exc
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        args = scrub_values(current.args, secrets)
        if args is not current.args:
            current.args = args
        state = getattr(current, "__dict__", None)
        if isinstance(state, dict):
            for name, value in list(state.items()):
                new = scrub_values(value, secrets)
                if new is not value:
                    with contextlib.suppress(AttributeError, TypeError):  # read-only attribute
                        setattr(current, name, new)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return exc


def scrub_call_error(
    exc: BaseException, api_key: Secret | None, headers: Mapping[str, str] | None
) -> BaseException:
    """:func:`scrub_error` with the credentials of one call (:func:`call_secret_values`).

    The core calls this on every error of a call before anyone (the router, a log event, the
    caller) sees it, so redaction of the call's own key does not depend on the bounded
    process-wide list of known keys."""
    secrets = call_secret_values(api_key, headers)
    if secrets:
        scrub_error(exc, secrets)
    return exc


# --- a key where a name belongs -----------------------------------------------------------------

_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_KEY_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_UPPER_OR_LOWER_SNAKE = re.compile(r"[A-Z0-9]+(?:_[A-Z0-9]+)+|[a-z0-9]+(?:_[a-z0-9]+)+")
# One "word" of an identifier: Capitalised or lower-case letters, an acronym, or a number.
_SEGMENT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_DIGIT_GROUP = re.compile(r"[0-9]+")
_HEX_RUN = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_RANDOM_MIN_LEN = 20


def _random_run(run: str) -> bool:
    """Whether a run of letters and digits looks generated rather than written.

    Tuned on random keys (mixed-case, lower-case or upper-case alphanumerics, base64url, hex)
    against model names, URLs and variable names: identifiers are made of words (segments of
    several letters, few digit groups, repeated letters); generated tokens switch between
    letters, digits and case every character or two and repeat few characters."""
    n = len(run)
    if n < _RANDOM_MIN_LEN:
        return False
    has_digit = any(c.isdigit() for c in run)
    if not has_digit or run.isdigit():
        return False
    if n >= 32 and _HEX_RUN.fullmatch(run):
        return True
    counts: dict[str, int] = {}
    for c in run:
        counts[c] = counts.get(c, 0) + 1
    entropy = -sum(k / n * math.log2(k / n) for k in counts.values())
    if entropy < 3.3:
        return False
    segments = len(_SEGMENT.findall(run))
    digit_groups = len(_DIGIT_GROUP.findall(run))
    return n / segments <= 2.8 or (digit_groups >= 4 and digit_groups / n >= 0.1)


def _key_like_tail(tail: str) -> bool:
    """Whether what follows a known key prefix looks generated: 8+ characters with letters and
    digits, or letters whose case changes often (Hugging Face tokens are letters only). So
    ``sk-prod-deployment`` or ``hf_transfer_cache``, names that merely share a prefix, are not
    taken for keys."""
    chars = tail.replace("-", "").replace("_", "")
    if len(chars) < 8:
        return False
    if any(c.isdigit() for c in chars) and any(c.isalpha() for c in chars):
        return True
    switches = sum(1 for i in range(1, len(chars)) if chars[i - 1].isupper() != chars[i].isupper())
    return switches * 4 >= len(chars)


def looks_like_credential(value: str) -> bool:
    """Whether ``value`` looks like an API key or token rather than a name, route or URL.

    True for: a known key prefix (:data:`KEY_PREFIXES`) followed by 8 or more characters that
    look generated (:func:`_key_like_tail`);
    ``Bearer <token>``; or a generated-looking run of 20+ letters and digits (32+ hex digits,
    or letters and digits mixed the way random tokens mix them, see :func:`_random_run`),
    looked for between ``-``/``_`` and, where those are sparse, across them (base64url keys
    contain a few).
    Upper- or lower-case words joined by underscores (``TOGETHER_API_KEY``,
    ``MY_OPENAI_KEY_2``) are names and are only checked word by word, so they never match.
    A heuristic: the config refuses what it flags, and never prints it.
    """
    if not isinstance(value, str):
        return False
    text = value.strip()
    if len(text) < 8:
        return False
    if text[:7].lower() == "bearer " and len(text) > 13:
        return True
    for token in _KEY_TOKEN.findall(text):
        for prefix in KEY_PREFIXES:
            if token.startswith(prefix) and _key_like_tail(token[len(prefix) :]):
                return True
        if len(token) < _RANDOM_MIN_LEN:
            continue
        if any(_random_run(run) for run in _ALNUM_RUN.findall(token)):
            return True
        # Across separators only where they are as sparse as in base64url keys (about one in
        # 32 characters): hyphen-rich names such as Together's fine-tuned models
        # (``Meta-Llama-3.1-8B-Instruct-Reference-ft-a1b2c3d4``) read as random once joined.
        separators = token.count("-") + token.count("_")
        if (
            separators <= max(2, len(token) // 12)
            and not _UPPER_OR_LOWER_SNAKE.fullmatch(token)
            and _random_run(token.replace("_", "").replace("-", ""))
        ):
            return True
    return False


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
        if type(value) is not str:
            # The text of a str subclass, as a plain str: a subclass may not hash (its __eq__
            # overridden), and the scrub list would break when it is pushed out of it.
            value = str.__str__(value)
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
