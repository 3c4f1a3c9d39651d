"""Argument checks that run before any request: model strings, messages, option sets, HTTP
headers, base URLs, timeouts and tool definitions.

Each error names the argument, what was wrong and what to do instead, and is raised before a
byte goes on the wire. The checks are plain Python (not pydantic) because they run on every call.

Why the transport-level checks (headers, URLs, timeouts) live here rather than being left to the
HTTP engine: each engine fails differently on the same bad value (httpx raises
``UnicodeEncodeError``/``TypeError``/``InvalidURL``, h11 a protocol error that looks like a
connection failure, aiohttp sends some of them as given), and a failure that looks like a
connection error is retried by the router and cools down a healthy deployment. Checking first
gives one typed, never-retried :class:`InvalidRequestError` whatever the engine.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from llmrouter.errors import InvalidRequestError
from llmrouter.secrets import CREDENTIAL_HEADERS

if TYPE_CHECKING:
    from llmrouter.pipeline import Call, HTTPRequest

__all__ = [
    "KNOWN_ROLES",
    "MAX_TIMEOUT",
    "RESERVED_HEADERS",
    "TOOL_CHOICE_MODES",
    "check_request",
    "header_value_problem",
    "split_model",
    "validate_api_base",
    "validate_api_key",
    "validate_headers",
    "validate_messages",
    "validate_options",
    "validate_response_format",
    "validate_stop",
    "validate_timeout",
    "validate_tool_choice",
    "validate_tools",
    "warn_caller",
]

KNOWN_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

M = TypeVar("M", bound=BaseModel)


#: Split model strings, by text: a process names a handful of models, and splitting is on every
#: call's path. Bounded so odd callers cannot grow it.
_SPLIT: dict[str, tuple[str, str]] = {}
_SPLIT_MAX = 1024
#: Longer names are split every time rather than kept (a proxy may forward untrusted names).
_SPLIT_MAX_LEN = 512


def split_model(model: object) -> tuple[str, str]:
    """Split ``provider/provider_model`` at the FIRST ``/``; the rest may contain more slashes."""
    if type(model) is str:
        known = _SPLIT.get(model)
        if known is not None:
            return known
    if not isinstance(model, str):
        raise InvalidRequestError(
            "model must be a string of the form '<provider>/<model>', e.g. "
            "'together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo', "
            f"got {type(model).__name__}",
            param="model",
        )
    provider, sep, rest = model.partition("/")
    provider = provider.strip()
    rest = rest.strip()
    if not sep or not provider or not rest:
        raise InvalidRequestError(
            f"model {model!r} is not of the form '<provider>/<model>', e.g. "
            "'together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo' (or a routing alias from your config)",
            param="model",
        )
    if type(model) is str and len(model) <= _SPLIT_MAX_LEN:
        if len(_SPLIT) >= _SPLIT_MAX:
            _SPLIT.clear()
        _SPLIT[model] = (provider, rest)
    return provider, rest


def validate_messages(messages: object) -> list[dict[str, Any]]:
    """Check that ``messages`` is a non-empty list of ``{role, content}`` dicts with known roles.

    Returns the caller's list itself when it holds plain dicts (nothing is copied: the hot path
    stays cheap); otherwise a new list, with objects that have ``model_dump`` (pydantic
    messages) and other mappings converted to dicts.
    """
    # ``type(...) is`` first: isinstance against an ABC costs far more, and lists of dicts are
    # what nearly every caller passes.
    if type(messages) is not list and (
        isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(
            "messages must be a list of {'role': ..., 'content': ...} dicts, "
            f"got {type(messages).__name__}; e.g. messages=[{{'role': 'user', 'content': 'Hello'}}]",
            param="messages",
        )
    if not messages:
        raise InvalidRequestError(
            "messages is empty; pass at least one message, e.g. [{'role': 'user', 'content': 'Hello'}]",
            param="messages",
        )
    # The caller's own list is returned when nothing had to be converted (no copy on the hot
    # path); a converted message or a non-list sequence gets a new list.
    out: list[dict[str, Any]] | None = None if type(messages) is list else []
    for i, msg in enumerate(messages):
        if type(msg) is not dict:
            if not isinstance(msg, Mapping):
                dump = getattr(msg, "model_dump", None)
                if dump is None:
                    raise InvalidRequestError(
                        f"messages[{i}] must be a dict with 'role' and 'content', got {type(msg).__name__}",
                        param=f"messages[{i}]",
                    )
                msg = dump(exclude_none=True)
            if not isinstance(msg, dict):
                msg = dict(msg)
            if out is None:  # the first converted message: copy the ones before it
                out = list(messages[:i])
        role = msg.get("role")
        try:
            known = role in KNOWN_ROLES
        except TypeError:  # an unhashable role (a list, a dict): unknown, not a crash
            known = False
        if not known:
            problem = "has no 'role'" if role is None else f"has unknown role {_short(role)}"
            raise InvalidRequestError(
                f"messages[{i}] {problem}; use one of {', '.join(sorted(KNOWN_ROLES))}",
                param=f"messages[{i}].role",
            )
        if "content" not in msg:
            if role == "assistant" and (msg.get("tool_calls") or msg.get("function_call")):
                pass
            else:
                raise InvalidRequestError(
                    f"messages[{i}] (role {role!r}) has no 'content'; add 'content': '<text>'",
                    param=f"messages[{i}].content",
                )
        else:
            content = msg["content"]
            if type(content) is str:
                pass
            elif content is None:
                if not (
                    role == "assistant" and (msg.get("tool_calls") or msg.get("function_call"))
                ):
                    raise InvalidRequestError(
                        f"messages[{i}].content is None; only an assistant message with tool_calls "
                        "may omit its content",
                        param=f"messages[{i}].content",
                    )
            elif not isinstance(content, (str, list)):
                raise InvalidRequestError(
                    f"messages[{i}].content must be a string or a list of content parts, "
                    f"got {type(content).__name__}",
                    param=f"messages[{i}].content",
                )
            elif isinstance(content, list):
                for j, part in enumerate(content):
                    if not isinstance(part, Mapping) or "type" not in part:
                        raise InvalidRequestError(
                            f"messages[{i}].content[{j}] must be a content part dict with a 'type' "
                            "(e.g. {'type': 'text', 'text': '...'})",
                            param=f"messages[{i}].content[{j}]",
                        )
        if role == "tool" and not msg.get("tool_call_id"):
            raise InvalidRequestError(
                f"messages[{i}] has role 'tool' but no 'tool_call_id'; set it to the id of the "
                "assistant tool call it answers",
                param=f"messages[{i}].tool_call_id",
            )
        if out is not None:
            out.append(msg)
    return messages if out is None else out  # type: ignore[return-value]


def validate_options(
    model_cls: type[M], params: Mapping[str, Any], *, provider: str, what: str
) -> M:
    """Validate caller options against a provider's pydantic option model (``extra="forbid"``).

    Turns pydantic's error list into one :class:`InvalidRequestError` that names each bad option,
    says why, and for an unknown option lists the supported ones and the ``extra_body`` escape
    hatch.

    No option given (the common case) and a frozen option model: the empty model is validated
    once per class and shared, since nobody can change it (saves about 1.5 us per call).
    """
    if not params:
        empty = _EMPTY_OPTIONS.get(model_cls)
        if empty is not None:
            return empty  # type: ignore[return-value]
    try:
        options = model_cls.model_validate(params)
    except ValidationError as exc:
        problems: list[str] = []
        unknown: list[str] = []
        first_param: str | None = None
        for err in exc.errors():
            # A check that raised our own error (the tool checks below) already names the
            # exact field (``tools[1].function.name``) and says how to fix it: keep both.
            own = err.get("ctx", {}).get("error")
            if isinstance(own, InvalidRequestError):
                first_param = first_param or own.param
                problems.append(own.message)
                continue
            loc = _loc(err["loc"]) or "options"
            first_param = first_param or loc
            if err["type"] == "extra_forbidden":
                unknown.append(loc)
                continue
            value = err.get("input")
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            problems.append(f"{loc}={shown}: {err['msg']}")
        parts: list[str] = []
        if problems:
            parts.append(
                "invalid option value(s) for " + f"{provider} {what}: " + "; ".join(problems)
            )
        if unknown:
            supported = ", ".join(sorted(model_cls.model_fields))
            parts.append(
                f"unknown option(s) {', '.join(repr(u) for u in unknown)} for {provider} {what}. "
                f"Supported: {supported}. Send provider-specific fields explicitly with "
                "extra_body={...}"
            )
        raise InvalidRequestError(". ".join(parts), param=first_param, provider=provider) from None
    if (
        not params
        and model_cls.model_config.get("frozen")
        and all(isinstance(v, _IMMUTABLE) for v in options.__dict__.values())
    ):
        _EMPTY_OPTIONS[model_cls] = options
    return options


def _loc(loc: Sequence[int | str]) -> str:
    """A pydantic error location as the caller would write it: ``tools[0].function``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_IMMUTABLE = (type(None), str, bytes, int, float, bool, tuple, frozenset)
#: Option model class -> its validated empty instance (frozen models whose defaults are all
#: immutable values only).
_EMPTY_OPTIONS: dict[type[BaseModel], BaseModel] = {}


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (error messages stay one readable line)."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# --- HTTP headers -------------------------------------------------------------------------------

#: Headers the HTTP client owns, refused in ``extra_headers``: the message framing
#: (``Content-Length``, ``Transfer-Encoding``: a caller's value disagrees with the body actually
#: sent, which h11 refuses and aiohttp sends, desynchronising the connection), the connection
#: itself (``Connection`` and the other hop-by-hop headers of RFC 9110 section 7.6.1, which the
#: pool manages) and the target (``Host``, which must agree with the URL: set ``api_base``).
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)

_RESERVED_WHY = {
    "host": "the URL decides the host; to reach another server set api_base",
    "content-length": "the HTTP client frames the body it sends itself",
    "transfer-encoding": "the HTTP client frames the body it sends itself",
}

#: RFC 9110 ``token``: the characters a header name may hold.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_INJECTION = "contains a line break (CR or LF), which would end the header line (header injection)"


def header_name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as an HTTP header name, or ``None`` when it is fine."""
    if not isinstance(name, str):
        return f"must be a string, got {type(name).__name__}"
    if _TOKEN.fullmatch(name):
        return None
    if not name:
        return "is empty"
    if "\r" in name or "\n" in name:
        return _INJECTION
    if not name.isascii():
        return "contains a non-ASCII character; header names are ASCII"
    return (
        "is not a valid HTTP header name: use letters, digits and !#$%&'*+-.^_`|~ "
        "(no spaces, no ':')"
    )


def header_value_problem(value: object) -> str | None:
    """What is wrong with ``value`` as an HTTP header value, or ``None`` when it is fine.

    The rules every engine can honour the same way: a ``str`` of printable ASCII (tabs allowed
    inside), no line break, no leading or trailing whitespace. The answer never quotes the value:
    header values are often credentials.
    """
    if (
        type(value) is str
        and value.isascii()
        and value.isprintable()
        and (not value or (value[0] != " " and value[-1] != " "))
    ):
        return None
    if not isinstance(value, str):
        if value is None:
            return "is None; leave the header out instead"
        return f"must be a string, got {type(value).__name__}; convert it yourself"
    if "\r" in value or "\n" in value:
        return _INJECTION
    for i, ch in enumerate(value):
        if ch != "\t" and (ch < " " or ch == "\x7f"):
            return f"contains the control character {ch!r} at position {i}"
    for i, ch in enumerate(value):
        if ch > "\x7f":
            return (
                f"contains a non-ASCII character at position {i}; HTTP header values must be "
                "ASCII (percent-encode or base64 the value)"
            )
    if value != value.strip(" \t"):
        return (
            "has leading or trailing whitespace, which HTTP does not allow in a header value; "
            "strip it"
        )
    return None


def validate_headers(headers: object, *, param: str = "extra_headers") -> dict[str, str]:
    """Check the caller's ``extra_headers``: a dict of valid header names to valid values, none
    of them a header the HTTP client owns (:data:`RESERVED_HEADERS`). Returns the dict itself."""
    if not isinstance(headers, dict):
        raise InvalidRequestError(
            f"{param} must be a dict of header name -> value (both strings), "
            f"got {type(headers).__name__}",
            param=param,
        )
    for name, value in headers.items():
        problem = header_name_problem(name)
        if problem is not None:
            raise InvalidRequestError(
                f"{param}: the header name {_short(name)} {problem}", param=param
            )
        lower = name.lower()
        if lower in RESERVED_HEADERS:
            why = _RESERVED_WHY.get(lower, "the HTTP client manages the connection itself")
            raise InvalidRequestError(
                f"{param} may not set {name!r}: {why}; remove it from {param}", param=param
            )
        problem = header_value_problem(value)
        if problem is not None:
            raise InvalidRequestError(f"{param}[{name!r}] {problem}", param=param)
    return headers


def validate_api_key(key: str, *, param: str = "api_key") -> str:
    """Check a key that will travel as ``Authorization: Bearer <key>``. An empty key is left to
    the provider's ``resolve_api_key`` (which raises :class:`MissingAPIKeyError`). The message
    never quotes the key."""
    if type(key) is str and hash(key) in _GOOD_VALUES:
        return key
    if key.isascii() and key.isprintable() and key == key.strip():
        _remember_good(key)
        return key
    if not key.strip():
        return key
    problem = header_value_problem(key)
    if problem is None and key != key.strip():
        problem = "has leading or trailing whitespace"
    if problem is not None:
        raise InvalidRequestError(
            f"{param} {problem}; the key is sent in the Authorization header (a copy-paste slip?)",
            param=param,
        )
    return key


# --- base URLs ----------------------------------------------------------------------------------


def _shown_url(url: str) -> str:
    """``url`` for an error message: without user info or query (either may hold a secret)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _short(url.partition("@")[2] or url, 80)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else url.partition("?")[0]
    if parts.query:
        shown += "?..."
    return _short(shown, 120)


def _url_problem(url: str, *, whole: bool) -> str | None:
    """What is wrong with ``url`` for every engine, or ``None``. ``whole``: it is a base URL
    given by the caller, to which an endpoint path will be appended (so no query, no fragment).
    """
    if not url.isprintable() or " " in url:
        i, ch = next((i, c) for i, c in enumerate(url) if c == " " or not c.isprintable())
        return f"contains whitespace or a control character ({ch!r} at position {i}); remove it"
    if not url.startswith(("http://", "https://")):
        return None  # a relative URL for a client with base_url=, or another scheme: not ours
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing it is the check (a port out of range raises)
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if not parts.hostname:
        return "has no host; e.g. 'https://api.together.xyz/v1'"
    if whole and (parts.query or parts.fragment or "?" in url or "#" in url):
        return (
            "may not contain a query ('?') or a fragment ('#'): the endpoint path "
            "(/chat/completions...) is appended to it"
        )
    return None


def validate_api_base(api_base: object, *, param: str = "api_base") -> str:
    """Check a caller's base URL (``http(s)://host[:port][/path]``); returns it without its
    trailing slashes."""
    if not isinstance(api_base, str) or not api_base.startswith(("http://", "https://")):
        shown = _shown_url(api_base) if isinstance(api_base, str) else _short(api_base)
        raise InvalidRequestError(
            f"{param} must be an http(s) URL such as 'https://api.together.xyz/v1', got {shown}",
            param=param,
        )
    problem = _url_problem(api_base, whole=True)
    if problem is not None:
        raise InvalidRequestError(f"{param} {_shown_url(api_base)} {problem}", param=param)
    return api_base.rstrip("/")


# --- timeouts -----------------------------------------------------------------------------------

#: The largest timeout accepted, in seconds (one day). Larger values, and infinity, overflow the
#: engines' clocks in different ways (``OverflowError`` from the sync client's socket deadline,
#: from aiohttp's timer; httpx async waits forever), so they are refused with one message.
MAX_TIMEOUT = 86_400.0


def validate_timeout(timeout: object, *, param: str = "timeout") -> float:
    """A timeout in seconds: a number greater than 0 and at most :data:`MAX_TIMEOUT` (so not
    NaN, not infinity, not a bool)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidRequestError(
            f"{param} must be a positive number of seconds, got {type(timeout).__name__}",
            param=param,
        )
    if not 0 < timeout <= MAX_TIMEOUT:  # also false for NaN
        raise InvalidRequestError(
            f"{param} must be a positive number of seconds, at most {MAX_TIMEOUT:g} (one day), "
            f"got {timeout!r}",
            param=param,
        )
    return float(timeout)


# --- the request as built, just before it is sent -------------------------------------------------

#: URLs and header names :func:`check_request` has passed (bounded: a router sends to a handful).
_GOOD_URLS: set[str] = set()
_GOOD_NAMES: set[str] = set()
_GOOD_MAX = 256
#: ``hash()`` of header values (and keys) that passed, so the common call (the same key, the same
#: headers) costs a hash and a set lookup instead of scanning every character. Hashes, not the
#: strings: the values are mostly credentials, and this cache must not be one more copy of them.
#: (A different value with the same 64-bit hash would pass unchecked: a 1 in 2**56 chance with
#: a full cache, and the values come from the process itself, not from its remote peers.)
_GOOD_VALUES: set[int] = set()


def _remember_good(value: str) -> None:
    if type(value) is str:  # a str subclass may hash differently
        if len(_GOOD_VALUES) >= _GOOD_MAX:
            _GOOD_VALUES.clear()
        _GOOD_VALUES.add(hash(value))


#: The headers that carry the provider's key (a bad value there is reported as ``api_key``):
#: the one list of credential headers, less those that hold other credentials (a proxy's, a
#: session's cookies), which come from the caller's headers rather than from ``api_key=``.
_KEY_HEADERS = CREDENTIAL_HEADERS - {"proxy-authorization", "cookie", "set-cookie"}


def check_request(request: HTTPRequest, call: Call) -> None:
    """The last check before an engine sees ``request``: its URL and every header, whatever set
    them (the caller, a key from the environment, a deployment's config, the provider plugin).

    The caller's own arguments were checked when the call was made; this catches what comes from
    elsewhere (a key or base URL read from an environment variable, a header a plugin builds
    from its settings), so that every engine gets only values it can send, and a bad one is an
    :class:`InvalidRequestError` rather than an engine-specific crash or a "connection error"
    the router would retry. Cheap when all is well: a set lookup for the URL and per header
    name, and a hash plus a set lookup per header value (see ``_GOOD_VALUES``).
    """
    url = request.url
    if url not in _GOOD_URLS:
        problem = _url_problem(url, whole=False) if isinstance(url, str) else "is not a string"
        if problem is not None:
            raise InvalidRequestError(
                f"the request URL {_shown_url(url) if isinstance(url, str) else _short(url)} "
                f"for {call.provider} {problem}. It is built from api_base=, the deployment's "
                "api_base or the provider's base-URL environment variable",
                param="api_base",
                provider=call.provider,
                model=call.model,
            )
        if len(_GOOD_URLS) >= _GOOD_MAX:
            _GOOD_URLS.clear()
        _GOOD_URLS.add(url)
    for name, value in request.headers.items():
        if name not in _GOOD_NAMES:
            problem = header_name_problem(name)
            if problem is not None:
                _bad_header(call, name, problem, in_name=True)
            if len(_GOOD_NAMES) >= _GOOD_MAX:
                _GOOD_NAMES.clear()
            _GOOD_NAMES.add(name)
        if type(value) is not str or hash(value) not in _GOOD_VALUES:
            problem = header_value_problem(value)
            if problem is not None:
                _bad_header(call, name, problem)
            _remember_good(value)


def _bad_header(call: Call, name: str, problem: str, *, in_name: bool = False) -> None:
    """Raise for a bad header of the built request, naming where it came from."""
    what = f"the header {'name ' if in_name else ''}{_short(name)} {problem}"
    extra = call.extra_headers
    if extra and name in extra:
        message, param = f"extra_headers: {what}", "extra_headers"
    elif not in_name and name.lower() in _KEY_HEADERS:
        message = (
            f"the API key for {call.provider} {problem}. It comes from api_key= or the "
            "provider's key environment variable (or the deployment's api_key_env); check it "
            "for a copy-paste slip"
        )
        param = "api_key"
    else:
        message = (
            f"the request headers the {call.provider} provider built from its settings or "
            f"environment variables cannot be sent: {what}"
        )
        param = "headers"
    raise InvalidRequestError(message, param=param, provider=call.provider, model=call.model)


# --- tools ----------------------------------------------------------------------------------------

#: The string forms of ``tool_choice`` OpenAI documents (and Together accepts).
TOOL_CHOICE_MODES = ("none", "auto", "required")

_FUNCTION_TOOL = "{'type': 'function', 'function': {'name': ..., 'parameters': {...}}}"
_FUNCTION_CHOICE = "{'type': 'function', 'function': {'name': ...}}"


def validate_tools(
    tools: object,
    *,
    name_pattern: re.Pattern[str] | None = None,
    name_rule: str = "",
    other_types: str = "",
) -> list[str]:
    """Check ``tools`` entry by entry and return the function names, in order.

    Each entry must be ``{'type': 'function', 'function': {...}}`` whose ``name`` is a non-empty
    string (matching ``name_pattern`` when the provider documents one; ``name_rule`` says it in
    words) and whose ``description`` (a string) and ``parameters`` (a JSON Schema *object*, i.e.
    a dict) are optional. Other keys are left to the provider. ``other_types`` is added to the
    message of an entry of another type (e.g. why custom tools are not supported). Errors name
    the entry and the field: ``tools[1].function.parameters``.
    """
    if not isinstance(tools, list):
        raise InvalidRequestError(
            f"tools must be a list of {_FUNCTION_TOOL}, got {type(tools).__name__}", param="tools"
        )
    names: list[str] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, Mapping):
            raise InvalidRequestError(
                f"{where} must be {_FUNCTION_TOOL}, got {type(tool).__name__}", param=where
            )
        kind = tool.get("type")
        if kind != "function":
            raise InvalidRequestError(
                f"{where}.type must be 'function', got {_short(kind)}{other_types}", param=where
            )
        fn = tool.get("function")
        if not isinstance(fn, Mapping):
            raise InvalidRequestError(
                f"{where}.function must be an object {{'name': ..., 'parameters': {{...}}}}, "
                f"got {type(fn).__name__}",
                param=f"{where}.function",
            )
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(
                f"{where}.function.name must be a non-empty string, got {_short(name)}",
                param=f"{where}.function.name",
            )
        if name_pattern is not None and not name_pattern.fullmatch(name):
            raise InvalidRequestError(
                f"{where}.function.name {_short(name)} {name_rule or 'is not a valid name'}",
                param=f"{where}.function.name",
            )
        if "description" in fn and not isinstance(fn["description"], str):
            raise InvalidRequestError(
                f"{where}.function.description must be a string, got "
                f"{type(fn['description']).__name__}",
                param=f"{where}.function.description",
            )
        if "parameters" in fn and not isinstance(fn["parameters"], Mapping):
            raise InvalidRequestError(
                f"{where}.function.parameters must be a JSON Schema object (a dict such as "
                "{'type': 'object', 'properties': {...}}), got "
                f"{type(fn['parameters']).__name__}; leave it out for a function without "
                "parameters",
                param=f"{where}.function.parameters",
            )
        names.append(name)
    return names


def validate_tool_choice(
    choice: object,
    tool_names: Collection[str] | None,
    *,
    bare_names: bool = False,
    allowed_tools: bool = False,
) -> None:
    """Check ``tool_choice`` against the tools of the same call (``None``: no ``tools``).

    Accepted: ``None``; one of :data:`TOOL_CHOICE_MODES` (anything but ``"none"`` needs tools);
    ``{'type': 'function', 'function': {'name': <a name in tools>}}``; with ``bare_names`` a
    function's name as a bare string (Together's spec types ``tool_choice`` as a string such as
    ``'tool_name'``); with ``allowed_tools`` OpenAI's ``{'type': 'allowed_tools',
    'allowed_tools': {'mode': 'auto' | 'required', 'tools': [<function choices>]}}``.
    """
    if choice is None:
        return
    names = tool_names or ()
    shapes = [repr(m) for m in TOOL_CHOICE_MODES]
    if bare_names:
        shapes.append("a function name from tools")
    shapes.append(_FUNCTION_CHOICE)
    if allowed_tools:
        shapes.append("{'type': 'allowed_tools', 'allowed_tools': {...}}")
    accepted = ", ".join(shapes[:-1]) + " or " + shapes[-1]
    if isinstance(choice, str):
        if choice == "none":
            return
        if choice in TOOL_CHOICE_MODES or (bare_names and choice in names):
            if not names:
                raise InvalidRequestError(
                    f"tool_choice={choice!r} needs tools: pass the functions the model may call "
                    "in tools=[...]",
                    param="tool_choice",
                )
            return
        raise InvalidRequestError(
            f"tool_choice {_short(choice)} is not one of the accepted forms: {accepted}",
            param="tool_choice",
        )
    if not isinstance(choice, Mapping):
        raise InvalidRequestError(
            f"tool_choice must be {accepted}; got {type(choice).__name__}", param="tool_choice"
        )
    kind = choice.get("type")
    if kind == "function":
        _check_named_choice(choice, names, "tool_choice")
        return
    if kind == "allowed_tools" and allowed_tools:
        spec = choice.get("allowed_tools")
        if not isinstance(spec, Mapping) or spec.get("mode") not in ("auto", "required"):
            raise InvalidRequestError(
                "tool_choice.allowed_tools must be {'mode': 'auto' | 'required', 'tools': "
                f"[{_FUNCTION_CHOICE}, ...]}}",
                param="tool_choice.allowed_tools",
            )
        listed = spec.get("tools")
        if not isinstance(listed, list) or not listed:
            raise InvalidRequestError(
                f"tool_choice.allowed_tools.tools must be a non-empty list of {_FUNCTION_CHOICE}",
                param="tool_choice.allowed_tools.tools",
            )
        for i, entry in enumerate(listed):
            where = f"tool_choice.allowed_tools.tools[{i}]"
            if not isinstance(entry, Mapping) or entry.get("type") != "function":
                raise InvalidRequestError(f"{where} must be {_FUNCTION_CHOICE}", param=where)
            _check_named_choice(entry, names, where)
        return
    raise InvalidRequestError(
        f"tool_choice object has type {_short(kind)}; use {accepted}", param="tool_choice"
    )


def _check_named_choice(choice: Mapping[str, Any], names: Collection[str], where: str) -> None:
    fn = choice.get("function")
    name = fn.get("name") if isinstance(fn, Mapping) else None
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(
            f"{where}.function must be {{'name': <a function in tools>}}: the whole choice is "
            f"{_FUNCTION_CHOICE}",
            param=f"{where}.function",
        )
    if not names:
        raise InvalidRequestError(
            f"{where}.function.name is {name!r} but there are no tools: pass the functions the "
            "model may call in tools=[...]",
            param=f"{where}.function.name",
        )
    if name not in names:
        raise InvalidRequestError(
            f"{where}.function.name {name!r} is not a function in tools "
            f"(tools has {', '.join(repr(n) for n in list(names)[:10])}"
            f"{', ...' if len(names) > 10 else ''})",
            param=f"{where}.function.name",
        )


#: Top-level packages whose frames are llmrouter's machinery, not the caller's code (and
#: ``llmrouter_*``, the provider plugins).
_MACHINERY = frozenset({"llmrouter", "pluggy", "pydantic", "pydantic_core"})


def _is_machinery(module: str) -> bool:
    root = module.partition(".")[0]
    return root in _MACHINERY or root.startswith("llmrouter_")


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn, attributing the warning to the first frame outside llmrouter, its plugins, pluggy
    and pydantic: the user's call.

    So the warning names the line that passed the option, and Python's default filters (which
    show a ``DeprecationWarning`` only when it is attributed to ``__main__``) treat it as the
    caller's, however deep in the pipeline it was raised (an option validator, a hook).
    """
    frame = sys._getframe(1)
    level = 2  # stacklevel 2 is our caller
    while frame.f_back is not None and _is_machinery(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def validate_response_format(
    value: Mapping[str, Any],
    *,
    schema_name_required: bool = False,
    schema_required_by: str | None = None,
) -> None:
    """Check OpenAI's ``response_format`` shapes: ``{"type": "text"}``, ``{"type":
    "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}`` (with a ``name``
    where the service requires one, as OpenAI does). Raises ``ValueError`` (for a pydantic
    validator) saying what is wrong."""
    kind = value.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise ValueError("response_format['type'] must be 'text', 'json_object' or 'json_schema'")
    if kind != "json_schema":
        return
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise ValueError("response_format of type 'json_schema' needs a 'json_schema' object")
    if schema_required_by and not isinstance(spec.get("schema"), dict):
        # A service whose structured output is built from the schema itself (Anthropic, Gemini)
        raise ValueError(
            "response_format of type 'json_schema' needs 'json_schema': {'schema': {...}} "
            f"({schema_required_by} needs the schema)"
        )
    if schema_name_required and not isinstance(spec.get("name"), str):
        raise ValueError(
            "response_format of type 'json_schema' needs "
            "'json_schema': {'name': ..., 'schema': {...}}"
        )


def validate_stop(value: str | Sequence[str] | None) -> None:
    """Check ``stop``: a non-empty string or a list of them (``ValueError`` for a pydantic
    validator). An empty stop sequence would stop every answer at once, or be ignored, depending
    on the server: neither is what the caller meant."""
    if isinstance(value, str):
        if not value:
            raise ValueError("a stop sequence must be a non-empty string")
    elif value is not None and not all(isinstance(s, str) and s for s in value):
        raise ValueError("every stop sequence must be a non-empty string")
