"""Together AI provider: hook implementations only, adapting llmrouter's stages to ``wire``.

Registered through the ``llmrouter.providers`` entry point under the name ``together_ai``, the
same road a third-party plugin takes. Uses llmrouter's public API only.
"""

from __future__ import annotations

from typing import Any

from llmrouter import hookimpl
from llmrouter.errors import InvalidRequestError, LLMRouterError
from llmrouter.pipeline import (
    Call,
    ChatPrompt,
    HTTPRequest,
    HTTPResponse,
    Prompt,
    StreamState,
    TextPrompt,
)
from llmrouter.provider import (
    auth_headers,
    require_text_input,
    resolve_api_base,
    resolve_api_key,
)
from llmrouter.templates import explicit_template
from llmrouter.validation import validate_options
from llmrouter_together import wire
from llmrouter_together.options import ChatOptions, CompletionOptions, EmbeddingOptions

DEFAULT_API_BASE = "https://api.together.xyz/v1"
#: Searched in this order; the first non-empty one wins (``api_key=`` beats them all).
API_KEY_ENV = ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_TOKEN")
#: ``api_base=`` beats these. Whichever base is used, one without a trailing ``/v1`` gets it.
API_BASE_ENV = ("TOGETHERAI_API_BASE", "TOGETHER_BASE_URL")


@hookimpl
def llmrouter_format_prompt(call: Call) -> Prompt:
    template = explicit_template(call.model, call.prompt_template)
    if template is None:
        assert call.messages is not None
        return ChatPrompt(call.messages)
    assert call.messages is not None
    return TextPrompt(
        template.render(call.messages), template=template.name, stop=tuple(template.stop)
    )


def _base(call: Call) -> str:
    """``api_base=``, else the variables, else the default; ``/v1`` added when missing.

    One rule for every source (docs/providers/together.md, "Base URL"): Together serves its
    whole API under ``/v1``, so ``https://host`` and ``https://host/v1`` name the same server,
    and a tenant or gateway path (``https://gw/t/a``) keeps its prefix before ``/v1``.
    """
    base = call.api_base
    if base and base.endswith("/v1"):  # the usual case (validated: no trailing slash)
        return base
    return resolve_api_base(call, API_BASE_ENV, DEFAULT_API_BASE, ensure_suffix="/v1")


@hookimpl
def llmrouter_build_request(call: Call, prompt: Prompt | None) -> HTTPRequest:
    op = call.operation
    body: Any
    if op == "chat":
        if isinstance(prompt, TextPrompt):
            options = validate_options(
                CompletionOptions,
                call.params,
                provider=call.provider,
                what="completions (templated chat)",
            )
            body, endpoint = wire.completion_body(call, options, prompt), "/completions"
        elif isinstance(prompt, ChatPrompt):
            options = validate_options(
                ChatOptions, call.params, provider=call.provider, what="chat completions"
            )
            body, endpoint = wire.chat_body(call, options, prompt), "/chat/completions"
        else:
            raise InvalidRequestError(
                f"together_ai cannot send a prompt of type {type(prompt).__name__}"
            )
        method = "POST"
    elif op == "embedding":
        # Together's spec: input is a string or a list of strings (no token ids).
        require_text_input(call)
        validate_options(EmbeddingOptions, call.params, provider=call.provider, what="embeddings")
        body, endpoint, method = wire.embedding_body(call), "/embeddings", "POST"
    elif op == "list_models":
        body, endpoint, method = None, "/models", "GET"
    else:
        raise InvalidRequestError(
            f"together_ai does not support the {op!r} operation", provider=call.provider
        )
    key = resolve_api_key(call, API_KEY_ENV)
    return HTTPRequest(
        method=method,
        url=_base(call) + endpoint,
        headers=auth_headers(key, call.extra_headers),
        json=body,
        endpoint=endpoint,
    )


@hookimpl
def llmrouter_parse_response(call: Call, prompt: Prompt | None, response: HTTPResponse) -> Any:
    op = call.operation
    if op == "chat":
        if isinstance(prompt, TextPrompt):
            return wire.parse_completion_as_chat(call, response)
        return wire.parse_chat(call, response)
    if op == "embedding":
        return wire.parse_embeddings(call, response)
    return wire.parse_models(call, response)


@hookimpl
def llmrouter_parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState
) -> Any:
    return wire.parse_stream_event(call, prompt, data, state)


@hookimpl
def llmrouter_map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    return wire.map_error(call, response)
