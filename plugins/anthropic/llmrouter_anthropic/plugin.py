"""The ``anthropic`` provider's hooks: thin adapters over the pure modules of this package.

Registered through the ``llmrouter.providers`` entry point as this module, so
``model="anthropic/claude-sonnet-4-6"`` reaches it; the core imports it on the first such call.
Public llmrouter API only, as a third-party plugin would be written.

- :mod:`.options` checks the caller's options, :mod:`.request` builds the Messages API body,
  :mod:`.response` reads answers, errors and the model list, :mod:`.stream` reads stream events.
- Where and who: ``POST {base}/v1/messages``; the base is ``api_base=``, else
  ``ANTHROPIC_BASE_URL``, else ``https://api.anthropic.com``, and a base given with a trailing
  ``/v1`` (or ``/v1/``) is the same server (the ``/v1`` is not doubled). The key is ``api_key=``,
  else ``ANTHROPIC_API_KEY``: sent as ``Authorization: Bearer`` with the current API version,
  as ``x-api-key`` with a pinned ``2023-06-01``.
- Anthropic has no text-completion endpoint (so no prompt templates) and no embeddings: both
  are an InvalidRequestError before anything is sent.
"""

from __future__ import annotations

from typing import Final

from llmrouter import hookimpl
from llmrouter.errors import InvalidRequestError, LLMRouterError
from llmrouter.pipeline import (
    Call,
    HTTPRequest,
    HTTPResponse,
    Prompt,
    StreamDone,
    StreamState,
)
from llmrouter.provider import (
    chat_prompt_only,
    require_chat_prompt,
    resolve_api_base,
    resolve_api_key,
)
from llmrouter.types import ModelInfo, ModelResponse, ModelResponseStream
from llmrouter_anthropic import request as _request
from llmrouter_anthropic import response as _response
from llmrouter_anthropic import stream as _stream
from llmrouter_anthropic.options import API_VERSION, LEGACY_VERSION, AnthropicOptions, parse_options

__all__ = [
    "API_BASE_ENV",
    "API_KEY_ENV",
    "DEFAULT_API_BASE",
    "MESSAGES_PATH",
    "MODELS_PATH",
    "REQUEST_ID_HEADERS",
    "base_url",
    "headers",
]

DEFAULT_API_BASE: Final = "https://api.anthropic.com"
API_KEY_ENV: Final = ("ANTHROPIC_API_KEY",)
API_BASE_ENV: Final = ("ANTHROPIC_BASE_URL",)
MESSAGES_PATH: Final = "/v1/messages"
#: One page of up to 1000 models (Anthropic's largest page); see response.parse_models.
MODELS_PATH: Final = "/v1/models?limit=1000"
REQUEST_ID_HEADERS: Final = ("request-id",)

#: Base URLs as given -> as used (a handful per process; bounded all the same).
_BASES: dict[str, str] = {}


def base_url(call: Call) -> str:
    """The server root: ``api_base=``, else ``ANTHROPIC_BASE_URL``, else the default, without
    a trailing slash or ``/v1`` (the paths carry ``/v1``)."""
    given = call.api_base
    if given is not None:
        known = _BASES.get(given)
        if known is not None:
            return known
    base = resolve_api_base(call, API_BASE_ENV, DEFAULT_API_BASE)
    if base.endswith("/v1"):
        base = base[:-3]
    if given is not None:
        if len(_BASES) >= 64:
            _BASES.clear()
        _BASES[given] = base
    return base


def headers(call: Call, options: AnthropicOptions | None) -> dict[str, str]:
    """Auth for the API version, ``anthropic-version``, ``anthropic-beta`` when given,
    ``content-type``, then the caller's ``extra_headers`` (which may not replace the key)."""
    key = resolve_api_key(call, API_KEY_ENV)
    assert key is not None  # required=True raises instead
    version = options.version if options is not None else API_VERSION
    out: dict[str, str] = {"content-type": "application/json", "anthropic-version": version}
    auth = "x-api-key" if version == LEGACY_VERSION else "authorization"
    beta = options.anthropic_beta if options is not None else None
    if beta:
        out["anthropic-beta"] = beta if isinstance(beta, str) else ",".join(beta)
    if call.extra_headers:
        for name, value in call.extra_headers.items():
            lower = name.lower()
            if lower == "anthropic-version":
                # The version decides how the key travels and which options exist, so it is
                # an option, checked with them, not a header that could contradict them.
                raise InvalidRequestError(
                    f"extra_headers may not set {name!r}: pass anthropic_version=... instead "
                    f"(one of {API_VERSION!r}, {LEGACY_VERSION!r})",
                    param=f"extra_headers.{name}",
                    provider=call.provider,
                    model=call.model,
                )
            if lower not in ("authorization", "x-api-key"):
                out[lower] = value  # one header per name, whatever the caller's case
    out[auth] = (
        key.get_secret_value() if auth == "x-api-key" else "Bearer " + key.get_secret_value()
    )
    return out


# --- hooks ----------------------------------------------------------------------------------------


@hookimpl
def llmrouter_format_prompt(call: Call) -> Prompt:
    """Always the messages as they are: Anthropic has no text-completion endpoint."""
    return chat_prompt_only(call, "Anthropic")


@hookimpl
def llmrouter_build_request(call: Call, prompt: Prompt | None) -> HTTPRequest:
    op = call.operation
    if op == "chat":
        messages = require_chat_prompt(call, prompt).messages
        options = parse_options(call.params, provider=call.provider, model=call.model)
        body = _request.messages_body(call, options, messages)
        return HTTPRequest(
            method="POST",
            url=base_url(call) + MESSAGES_PATH,
            headers=headers(call, options),
            json=body,
            endpoint=MESSAGES_PATH,
            request_id_headers=REQUEST_ID_HEADERS,
        )
    if op == "list_models":
        return HTTPRequest(
            method="GET",
            url=base_url(call) + MODELS_PATH,
            headers=headers(call, None),
            endpoint="/v1/models",
            request_id_headers=REQUEST_ID_HEADERS,
        )
    what = "embeddings" if op == "embedding" else f"the {op!r} operation"
    raise InvalidRequestError(
        f"{call.provider} has no {what}: Anthropic's API serves messages and the model list "
        "only (use another provider for embeddings)",
        param="model",
        provider=call.provider,
        model=call.model,
    )


@hookimpl
def llmrouter_parse_response(
    call: Call, prompt: Prompt | None, response: HTTPResponse
) -> ModelResponse | list[ModelInfo]:
    if call.operation == "list_models":
        return _response.parse_models(call, response)
    return _response.parse_message(call, response)


@hookimpl
def llmrouter_parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    return _stream.parse_stream_event(call, data, state)


@hookimpl
def llmrouter_map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    return _response.map_error(call, response)
