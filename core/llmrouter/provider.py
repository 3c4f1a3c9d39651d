"""A toolkit for provider plugins: keys, base URLs, headers and OpenAI-style error bodies.

Everything here is public API that first-party and third-party provider plugins share, so each
plugin stays small: its ``plugin.py`` adapts the hooks to these functions and to its own pure
format module.
"""

from __future__ import annotations

import email.utils
import functools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmrouter.errors import (
    APIError,
    APIStatusError,
    InvalidRequestError,
    LLMRouterError,
    MissingAPIKeyError,
    RateLimitError,
    StreamError,
    status_error_class,
)
from llmrouter.pipeline import Call, ChatPrompt, HTTPResponse
from llmrouter.secrets import Secret, redact_text
from llmrouter.types import ModelInfo
from llmrouter.validation import validate_messages, validate_options

if TYPE_CHECKING:
    from llmrouter.templates import PromptTemplate

__all__ = [
    "RESERVED_BODY_KEYS",
    "auth_headers",
    "chat_prompt_only",
    "error_from_response",
    "error_in_band",
    "merge_extra_body",
    "parse_model_list",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "require_chat_prompt",
    "require_text_input",
    "resolve_api_base",
    "resolve_api_key",
    "unreadable_response",
    "validate_messages",
    "validate_options",
]


def resolve_api_key(call: Call, env_vars: Sequence[str], *, required: bool = True) -> Secret | None:
    """The key for ``call``: ``api_key=`` if given, else the first non-empty variable of
    ``env_vars`` (in order). Missing or empty and ``required`` -> :class:`MissingAPIKeyError`
    naming the variables, raised before any request."""
    key = call.api_key
    if key is not None and key.get_secret_value().strip():
        return key
    for name in env_vars:
        value = os.environ.get(name, "").strip()
        if value:
            # Kept on the call: the key this call uses is then known to whatever ends it (the
            # log event scrubs it per call, not only while it is in the bounded known list).
            call.api_key = secret = Secret(value)
            return secret
    if not required:
        return None
    given = " (api_key= was given but empty)" if key is not None else ""
    names = ", ".join(env_vars)
    raise MissingAPIKeyError(
        f"no API key for {call.provider}{given}: pass api_key=... or set one of {names}",
        env_vars=list(env_vars),
        provider=call.provider,
        model=call.model,
    )


def resolve_api_base(
    call: Call, env_vars: Sequence[str], default: str, *, ensure_suffix: str = ""
) -> str:
    """``api_base=`` if given, else the first set variable of ``env_vars``, else ``default``.

    Trailing slashes are removed; with ``ensure_suffix="/v1"`` a base given without it gets it
    (so both ``https://host`` and ``https://host/v1`` work). A base that is not an http(s) URL
    (a variable holding a bare host name, say) is an :class:`InvalidRequestError` naming where it
    came from, before anything is sent; ``""`` (no base anywhere) is returned as is.
    """
    base = call.api_base
    source = "api_base="
    if not base:
        for name in env_vars:
            value = os.environ.get(name, "").strip()
            if value:
                base, source = value, name
                break
    if not base:
        base, source = default, "the default"
    base = base.rstrip("/")
    if base and not base.startswith(("http://", "https://")):
        raise InvalidRequestError(
            f"the base URL for {call.provider} must be an http(s) URL such as "
            f"'https://host/v1', got {base!r} (from {source})",
            param="api_base",
            provider=call.provider,
            model=call.model,
        )
    if ensure_suffix and not base.endswith(ensure_suffix):
        base += ensure_suffix
    return base


def require_text_input(call: Call, *, accepted_by: str = "") -> None:
    """For a provider whose embeddings endpoint takes text only: refuse token ids before sending.

    The core accepts embedding ``input`` as text or as token ids (lists of ints, as OpenAI's API
    does) and hands ``call.input`` over as ``list[str]`` or ``list[list[int]]``. A provider
    whose API has no token-id input calls this, so the caller gets an
    :class:`~llmrouter.errors.InvalidRequestError` naming the provider instead of a 400 from
    the server. ``accepted_by`` may name providers that do take token ids.
    """
    if call.input and not isinstance(call.input[0], str):
        hint = f" ({accepted_by} take token ids)" if accepted_by else ""
        raise InvalidRequestError(
            f"{call.provider} embeddings take text only: pass input as a string or a list of "
            f"strings, not token ids{hint}",
            param="input",
            provider=call.provider,
            model=call.model,
        )


def auth_headers(key: Secret | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``Authorization: Bearer`` plus the caller's ``extra_headers``; the only place the clear
    text key leaves its :class:`Secret`."""
    headers: dict[str, str] = {}
    if key is not None:
        headers["authorization"] = "Bearer " + key.get_secret_value()
    if extra:
        for k, v in extra.items():
            if k.lower() == "authorization" and key is not None:
                continue
            headers[k] = v
    return headers


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers, keyed without the prefix (``limit``, ``remaining``...)."""
    out = {}
    for key, value in headers.items():
        lower = key.lower()
        if lower.startswith("x-ratelimit-"):
            out[lower[len("x-ratelimit-") :]] = value
    return out


def error_from_response(
    call: Call,
    response: HTTPResponse,
    *,
    code_classes: Mapping[str, type[APIStatusError]] | None = None,
    status_classes: Mapping[int, type[APIStatusError]] | None = None,
) -> LLMRouterError:
    """Build the typed error for an OpenAI-style error body ``{"error": {message, type, param, code}}``.

    The class comes from the HTTP status (``status_classes`` overrides, then the core table), then
    is refined by the structured ``code`` or ``type`` through ``code_classes``: never by matching
    message text. A body that is not JSON is kept as text.
    """
    status = response.status_code
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.content.decode("utf-8", "replace")[:4000]
    err = body.get("error") if isinstance(body, dict) else None
    message = code = etype = param = None
    if isinstance(err, dict):
        message = err.get("message")
        code = err.get("code")
        etype = err.get("type")
        param = err.get("param")
    elif isinstance(err, str):
        message = err
    elif isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    cls: type[APIStatusError] = (status_classes or {}).get(status) or status_error_class(status)
    if code_classes:
        for key in (code, etype):
            if isinstance(key, str) and key in code_classes:
                refined = code_classes[key]
                # Only refine within the status family (a code never turns a 500 into a 400).
                if issubclass(refined, cls) or status in (0,):
                    cls = refined
                break
    text = f"{call.provider} returned HTTP {status}"
    if message:
        text += f": {redact_text(str(message))}"
    if code:
        text += f" (code={code})"
    kwargs: dict[str, Any] = {
        "provider": call.provider,
        "model": call.model,
        "status_code": status,
        "request_id": response.request_id or (body.get("id") if isinstance(body, dict) else None),
        "body": body,
        "headers": response.headers,
        "code": str(code) if code is not None else None,
        "error_type": str(etype) if etype is not None else None,
        "param": str(param) if param is not None else None,
    }
    if issubclass(cls, RateLimitError):
        kwargs["retry_after"] = parse_retry_after(response.headers)
        kwargs["rate_limit"] = parse_rate_limit_headers(response.headers)
    return cls(text, **kwargs)


#: Body fields a call sets through its own arguments; ``extra_body`` may not override them.
RESERVED_BODY_KEYS = frozenset({"model", "messages", "prompt", "input", "stream"})


def merge_extra_body(
    body: dict[str, Any], call: Call, *, reserved: frozenset[str] = RESERVED_BODY_KEYS
) -> dict[str, Any]:
    """Add the caller's ``extra_body`` to ``body`` (the explicit escape hatch for fields the
    option model does not know), refusing the fields the call's own arguments own."""
    if call.extra_body:
        for key, value in call.extra_body.items():
            if key in reserved:
                raise InvalidRequestError(
                    f"extra_body may not set {key!r}; pass it as the call's own argument",
                    param=f"extra_body.{key}",
                    provider=call.provider,
                )
            body[key] = value
    return body


def unreadable_response(call: Call, response: HTTPResponse, what: str, exc: Exception) -> APIError:
    """The error for a 2xx body that does not have the shape the provider promises."""
    return APIError(
        f"{call.provider} sent a {what} that llmrouter cannot read: {exc}",
        provider=call.provider,
        model=call.model,
        status_code=response.status_code,
        request_id=response.request_id,
        body=response.content[:2000].decode("utf-8", "replace"),
    )


def parse_model_list(call: Call, response: HTTPResponse) -> list[ModelInfo]:
    """A ``/models`` answer: a bare JSON array (Together) or ``{"object": "list", "data": [...]}``
    (OpenAI), each entry kept whole with its provider-specific fields."""
    from pydantic import ValidationError

    try:
        raw = response.json()
        items = raw["data"] if isinstance(raw, dict) else raw
        return [ModelInfo.model_validate(item) for item in items]
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise unreadable_response(call, response, "model list", exc) from None


@functools.cache
def _explicit_template() -> Callable[[str, str | PromptTemplate | None], PromptTemplate | None]:
    """``templates.explicit_template``, imported when a chat call is first formatted (not with
    this module) and kept: an ``import`` statement per call costs more than the lookup."""
    from llmrouter.templates import explicit_template

    return explicit_template


def chat_prompt_only(call: Call, service: str) -> ChatPrompt:
    """``llmrouter_format_prompt`` for a provider with no text-completion endpoint (Anthropic,
    Gemini): the messages as they are, and a clear error, before sending, when a prompt template
    was given or registered for the model, since the service formats the conversation itself."""
    assert call.messages is not None
    template = _explicit_template()(call.model, call.prompt_template)
    if template is not None:
        raise InvalidRequestError(
            f"{call.provider} has no text-completion endpoint, so a prompt template "
            f"({template.name!r}) cannot apply to {call.route}: {service} formats the "
            "conversation itself. Drop prompt_template= (or the template registered for this "
            "model)",
            param="prompt_template",
            provider=call.provider,
            model=call.model,
        )
    return ChatPrompt(call.messages)


def require_chat_prompt(call: Call, prompt: object) -> ChatPrompt:
    """``prompt`` as the :class:`~llmrouter.pipeline.ChatPrompt` a chat-only provider's
    ``llmrouter_build_request`` sends; any other prompt (a text prompt some other plugin's
    ``llmrouter_format_prompt`` made) is an :class:`InvalidRequestError`, never sent."""
    if not isinstance(prompt, ChatPrompt):
        raise InvalidRequestError(
            f"{call.provider} cannot send a prompt of type {type(prompt).__name__}",
            provider=call.provider,
            model=call.model,
        )
    return prompt


def error_in_band(
    call: Call,
    payload: Mapping[str, Any],
    status: int | None,
    where: str,
    map_error: Callable[[Call, HTTPResponse], LLMRouterError],
) -> LLMRouterError:
    """The typed error for an error object that came without an error status (an event inside a
    stream, or an error body in a 200), once the provider has read from it the status it stands
    for: ``map_error`` of that status, its message prefixed with ``where`` (``"error event in the
    stream after 3 chunk(s)"``); without a status, a :class:`StreamError` keeping the payload."""
    if status:
        error = map_error(call, HTTPResponse(status, {}, json.dumps(payload).encode()))
        error.message = f"{where}: {error.message}"
        error.args = (error.message,)
        return error
    err = payload.get("error")
    message = err.get("message") if isinstance(err, Mapping) else err
    return StreamError(
        f"{call.provider} sent an {where}: {message or payload}",
        provider=call.provider,
        model=call.model,
        body=dict(payload),
    )
