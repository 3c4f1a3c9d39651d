"""The ``gemini`` provider's hooks: thin adapters over the pure modules of this package.

Registered through the ``llmrouter.providers`` entry point as this module, so
``model="gemini/gemini-2.5-flash"`` reaches it; the core imports it on the first such call.
Public llmrouter API only, as a third-party plugin would be written.

- :mod:`.options` checks the caller's options, :mod:`.request` builds the bodies,
  :mod:`.response` reads answers, errors, embeddings and the model list, :mod:`.stream` reads
  stream events.
- Where: ``POST {base}/{version}/models/{model}:generateContent``, streamed
  ``:streamGenerateContent?alt=sse``, embeddings ``:batchEmbedContents``, the model list
  ``GET {base}/{version}/models?pageSize=1000``. The base is ``api_base=``, else
  ``GEMINI_API_BASE``, else ``GOOGLE_GEMINI_BASE_URL`` (the variable the official SDK reads),
  else ``https://generativelanguage.googleapis.com``. The version is ``api_version=``, else the
  one a base given with a trailing ``/v1`` or ``/v1beta`` names (not doubled), else ``v1`` (the
  official SDK's default).
- Who: the key is ``api_key=``, else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``, sent in the
  ``x-goog-api-key`` header, never in the URL (so it never lands in a logged URL).
- Gemini has no text-completion endpoint here: a prompt template is an InvalidRequestError.
- Gemini sends no request-id header that we know of: the core's default (``x-request-id``)
  is looked for.
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
    require_text_input,
    resolve_api_base,
    resolve_api_key,
)
from llmrouter.types import EmbeddingResponse, ModelInfo, ModelResponse, ModelResponseStream
from llmrouter_gemini import request as _request
from llmrouter_gemini import response as _response
from llmrouter_gemini import stream as _stream
from llmrouter_gemini.options import (
    API_VERSION,
    API_VERSIONS,
    parse_embedding_options,
    parse_options,
)

__all__ = [
    "API_BASE_ENV",
    "API_KEY_ENV",
    "API_KEY_HEADER",
    "DEFAULT_API_BASE",
    "base_url",
    "headers",
]

DEFAULT_API_BASE: Final = "https://generativelanguage.googleapis.com"
API_KEY_ENV: Final = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
API_BASE_ENV: Final = ("GEMINI_API_BASE", "GOOGLE_GEMINI_BASE_URL")
API_KEY_HEADER: Final = "x-goog-api-key"
#: One page of up to 1000 models; see response.parse_models.
MODELS_QUERY: Final = "?pageSize=1000"

#: Base URLs as given -> (base without a version, the version it named).
_BASES: dict[str, tuple[str, str | None]] = {}


def base_url(call: Call) -> tuple[str, str | None]:
    """The server root (``api_base=``, else the variables, else the default) without a
    trailing slash or version, and the version a trailing ``/v1`` or ``/v1beta`` named."""
    given = call.api_base
    if given is not None:
        known = _BASES.get(given)
        if known is not None:
            return known
    base = resolve_api_base(call, API_BASE_ENV, DEFAULT_API_BASE)
    version: str | None = None
    for candidate in API_VERSIONS:
        if base.endswith("/" + candidate):
            base, version = base[: -len(candidate) - 1], candidate
            break
    if given is not None:
        if len(_BASES) >= 64:
            _BASES.clear()
        _BASES[given] = (base, version)
    return base, version


def headers(call: Call) -> dict[str, str]:
    """``content-type``, the caller's ``extra_headers`` (which may not replace the key), then
    the key in ``x-goog-api-key``."""
    key = resolve_api_key(call, API_KEY_ENV)
    assert key is not None  # required=True raises instead
    out: dict[str, str] = {"content-type": "application/json"}
    if call.extra_headers:
        for name, value in call.extra_headers.items():
            lower = name.lower()
            if lower != API_KEY_HEADER:
                out[lower] = value  # one header per name, whatever the caller's case
    out[API_KEY_HEADER] = key.get_secret_value()
    return out


def _root(call: Call, version: str | None) -> str:
    base, from_base = base_url(call)
    return f"{base}/{version or from_base or API_VERSION}"


# --- hooks ----------------------------------------------------------------------------------------


@hookimpl
def llmrouter_format_prompt(call: Call) -> Prompt:
    """Always the messages as they are: Gemini formats the conversation itself."""
    return chat_prompt_only(call, "Gemini")


@hookimpl
def llmrouter_build_request(call: Call, prompt: Prompt | None) -> HTTPRequest:
    op = call.operation
    if op == "chat":
        messages = require_chat_prompt(call, prompt).messages
        options = parse_options(call.params, provider=call.provider, model=call.model)
        body = _request.generate_body(call, options, messages)
        method = ":streamGenerateContent?alt=sse" if call.stream else ":generateContent"
        path = "/" + _request.model_path(call.model) + method
        return HTTPRequest(
            method="POST",
            url=_root(call, options.api_version) + path,
            headers=headers(call),
            json=body,
            endpoint=path.partition("?")[0],
        )
    if op == "embedding":
        require_text_input(call)
        emb = parse_embedding_options(call.params, provider=call.provider)
        path = "/" + _request.model_path(call.model) + ":batchEmbedContents"
        return HTTPRequest(
            method="POST",
            url=_root(call, emb.api_version) + path,
            headers=headers(call),
            json=_request.embed_body(call, emb),
            endpoint=path,
        )
    if op == "list_models":
        return HTTPRequest(
            method="GET",
            url=_root(call, None) + "/models" + MODELS_QUERY,
            headers=headers(call),
            endpoint="/models",
        )
    raise InvalidRequestError(
        f"{call.provider} has no {op!r} operation: Gemini's API serves generateContent, "
        "embeddings and the model list (use chat messages instead of a text prompt)",
        param="model",
        provider=call.provider,
        model=call.model,
    )


@hookimpl
def llmrouter_parse_response(
    call: Call, prompt: Prompt | None, response: HTTPResponse
) -> ModelResponse | EmbeddingResponse | list[ModelInfo]:
    if call.operation == "list_models":
        return _response.parse_models(call, response)
    if call.operation == "embedding":
        return _response.parse_embeddings(call, response)
    return _response.parse_generate(call, response)


@hookimpl
def llmrouter_parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    return _stream.parse_stream_event(call, data, state)


@hookimpl
def llmrouter_map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    return _response.map_error(call, response)
