"""The ``bedrock`` provider's hooks: thin adapters over the pure modules of this package.

Registered through the ``llmrouter.providers`` entry point as this module, so
``model="bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"`` (or an inference profile such as
``bedrock/us.anthropic.claude-...``, or an ARN) reaches it; the core imports it on the first such
call. Public llmrouter API only, as a third-party plugin would be written. Importing it imports
no botocore: :mod:`.auth` does on the first call that signs or reads the credential chain, and
:mod:`.stream` on the first stream.

- :mod:`.options` checks the caller's options, :mod:`.request` builds the Converse body,
  :mod:`.auth` finds the credentials, region and endpoint and signs, :mod:`.response` reads
  answers and errors, :mod:`.stream` decodes the event stream and reads its events.
- Where: ``POST {endpoint}/model/{modelId}/converse``, streamed ``.../converse-stream``, the
  model id percent-encoded as one path segment (see :func:`converse_path`: an ARN's ``/`` is
  ``%2F``). ``bedrock/converse/<model-id>`` (LiteLLM's route) is the same as
  ``bedrock/<model-id>``; ``bedrock/invoke/...`` (InvokeModel) is refused.
- Who: see :mod:`.auth` (a Bedrock API key as a bearer token, or SigV4 over the final body).
- Bedrock has no text-completion endpoint here (so no prompt templates), and embeddings
  (InvokeModel) and the model list (the control plane) are not offered: each is an
  InvalidRequestError before anything is sent.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Final
from urllib.parse import quote

from llmrouter import hookimpl
from llmrouter.cost import PRICE_PROVIDER_IDS
from llmrouter.errors import InvalidRequestError, LLMRouterError
from llmrouter.pipeline import (
    Call,
    HTTPRequest,
    HTTPResponse,
    Prompt,
    StreamDone,
    StreamState,
)
from llmrouter.provider import chat_prompt_only, require_chat_prompt
from llmrouter.secrets import Secret
from llmrouter.types import ModelResponse, ModelResponseStream
from llmrouter_bedrock import auth as _auth
from llmrouter_bedrock import request as _request
from llmrouter_bedrock import response as _response
from llmrouter_bedrock import stream as _stream
from llmrouter_bedrock.options import parse_options

__all__ = ["PATH_SAFE", "SIGNED_AWAY", "converse_path", "headers", "model_id"]

#: Headers the caller's ``extra_headers`` may not set: the request's authentication.
SIGNED_AWAY: Final = frozenset({"authorization", "x-amz-date", "x-amz-security-token", "host"})

# genai-prices lists Bedrock's models (ids, inference profiles and ARNs alike) under "aws".
PRICE_PROVIDER_IDS.setdefault("bedrock", "aws")


def model_id(call: Call) -> str:
    """The Bedrock model id of ``call``: its model, without LiteLLM's ``converse/`` route
    (``invoke/``, an empty id, ``.`` and ``..`` refused)."""
    model = call.model
    if model.startswith("converse/"):
        model = model[len("converse/") :]
    elif model.startswith("invoke/"):
        raise InvalidRequestError(
            f"{call.route} names Bedrock's InvokeModel API, which this plugin does not speak; "
            f"it calls the Converse API: use bedrock/{model[len('invoke/') :]}",
            param="model",
            provider=call.provider,
            model=call.model,
        )
    if not model:
        raise InvalidRequestError(
            "no Bedrock model id: use bedrock/<model-id>, e.g. "
            "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
            param="model",
            provider=call.provider,
            model=call.model,
        )
    if model in (".", ".."):
        # As a path segment, "." and ".." are removed by URL normalisation (httpx, yarl and
        # proxies do it): the request would reach another path than the one signed.
        raise InvalidRequestError(
            f"{model!r} is not a Bedrock model id: use bedrock/<model-id>, e.g. "
            "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
            param="model",
            provider=call.provider,
            model=call.model,
        )
    return model


#: What stays unencoded in the model id's path segment: RFC 3986's unreserved characters, its
#: sub-delimiters but ``+``, and ``:`` and ``@``. Exactly what the aiohttp engine (yarl) would
#: decode again if it came encoded: the path on the wire is then the same byte for byte on every
#: engine, as a signature over it needs. (botocore encodes ``:`` as ``%3A`` too; AWS signs and
#: routes the path as received, so ``:`` and ``%3A`` name the same model.)
PATH_SAFE: Final = "-._~!$&'()*,;=:@"


def converse_path(model: str, stream: bool) -> str:
    """``/model/{modelId}/converse`` (or ``converse-stream``), the id one encoded path segment:
    ``/`` (an ARN's) and every character outside :data:`PATH_SAFE` percent-encoded."""
    operation = "converse-stream" if stream else "converse"
    return f"/model/{quote(model, safe=PATH_SAFE)}/{operation}"


def headers(call: Call) -> dict[str, str]:
    """``content-type`` then the caller's ``extra_headers`` (which may not set the request's
    authentication: an InvalidRequestError names the header)."""
    out: dict[str, str] = {"content-type": "application/json"}
    if call.extra_headers:
        for name, value in call.extra_headers.items():
            lower = name.lower()
            if lower in SIGNED_AWAY:
                raise InvalidRequestError(
                    f"extra_headers may not set {name!r}: the plugin authenticates the request "
                    "(pass credentials as options, or api_key= for a Bedrock API key)",
                    param=f"extra_headers.{name}",
                    provider=call.provider,
                    model=call.model,
                )
            out[lower] = value  # one header per name, whatever the caller's case
    return out


# --- hooks ----------------------------------------------------------------------------------------


@hookimpl
def llmrouter_format_prompt(call: Call) -> Prompt:
    """Always the messages as they are: the Converse API formats the conversation itself."""
    return chat_prompt_only(call, "Bedrock's Converse API")


@hookimpl
def llmrouter_build_request(call: Call, prompt: Prompt | None) -> HTTPRequest:
    if call.operation != "chat":
        what = (
            "embeddings" if call.operation == "embedding" else f"the {call.operation!r} operation"
        )
        raise InvalidRequestError(
            f"{call.provider} has no {what} in this plugin: it speaks Bedrock's Converse API "
            "(chat, streamed or not) only",
            param="model",
            provider=call.provider,
            model=call.model,
        )
    messages = require_chat_prompt(call, prompt).messages
    options, settings = parse_options(call.params, provider=call.provider, model=call.model)
    model = model_id(call)
    body = _request.converse_body(call, options, messages)
    out = headers(call)
    credentials = _auth.credentials(call, settings)
    bearer = isinstance(credentials, Secret)
    # A bearer token needs a region only to name Bedrock's own endpoint; a signature always.
    region = _auth.region(call, settings, required=not bearer or not _has_endpoint(call))
    path = converse_path(model, call.stream)
    url = _auth.endpoint(call, region) + path
    sign = None
    if isinstance(credentials, Secret):
        out["authorization"] = "Bearer " + credentials.get_secret_value()
    else:
        assert region is not None  # required for a signature
        if credentials.token:
            out["x-amz-security-token"] = credentials.token
        sign = _auth.SigV4Signer(credentials, region, "POST", url, out)
    return HTTPRequest(
        method="POST",
        url=url,
        headers=out,
        json=body,
        endpoint=path,
        request_id_headers=_response.REQUEST_ID_HEADERS,
        sign=sign,
        stream_decoder=partial(_stream.EventStreamDecoder, call) if call.stream else None,
    )


def _has_endpoint(call: Call) -> bool:
    return bool(call.api_base) or any(os.environ.get(name) for name in _auth.ENDPOINT_ENV)


@hookimpl
def llmrouter_parse_response(
    call: Call, prompt: Prompt | None, response: HTTPResponse
) -> ModelResponse:
    return _response.parse_converse(call, response)


@hookimpl
def llmrouter_parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    return _stream.parse_stream_event(call, data, state)


@hookimpl
def llmrouter_map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    return _response.map_error(call, response)
