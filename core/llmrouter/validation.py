"""Argument checks that run before any request: model strings, messages, option sets.

Each error names the argument, what was wrong and what to do instead, and is raised before a
byte goes on the wire. The checks are plain Python (not pydantic) because they run on every call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from llmrouter.errors import InvalidRequestError

__all__ = ["KNOWN_ROLES", "split_model", "validate_messages", "validate_options"]

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
        if role not in KNOWN_ROLES:
            problem = "has no 'role'" if role is None else f"has unknown role {role!r}"
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
            loc = ".".join(str(p) for p in err["loc"]) or "options"
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


_IMMUTABLE = (type(None), str, bytes, int, float, bool, tuple, frozenset)
#: Option model class -> its validated empty instance (frozen models whose defaults are all
#: immutable values only).
_EMPTY_OPTIONS: dict[type[BaseModel], BaseModel] = {}
