"""What a request body may ask of the gateway, and OpenAI's legacy shapes built from ours.

Pure functions, tested directly: the app (``app.py``) only moves bytes between them and the
router.

A request names an alias of the config and the OpenAI parameters of its call. It may not name
where or how the call is sent: the deployment's base URL, key, headers and deadline belong to
the gateway's operator. LiteLLM's proxy let requests set ``api_base`` and friends and had SSRF
advisories for it; here such a key is a 400 that names it, before anything is sent.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Mapping
from typing import Any

from llmrouter.templates.base import PromptTemplate

__all__ = [
    "FORBIDDEN_KEYS",
    "RAW_PROMPT",
    "RequestProblem",
    "call_params",
    "encode_base64_embeddings",
    "text_completion_body",
    "text_completion_chunk",
    "text_prompt_messages",
]

_CREDENTIAL = (
    "a deployment's credentials are held by the gateway (send yours in the Authorization header)"
)
_ENDPOINT = "a deployment's endpoint is set in the gateway's config"

#: Body keys a request may not set, and why (each one would let a caller choose the endpoint,
#: the credentials, the headers or the deadline of a deployment, or bypass its template).
FORBIDDEN_KEYS: Mapping[str, str] = {
    "api_base": _ENDPOINT,
    "base_url": _ENDPOINT,
    "api_version": "a deployment's API version is set in the gateway's config",
    "anthropic_version": "a deployment's API version (and so its auth header) is set in the "
    "gateway's config",
    "api_key": "a deployment's key is held by the gateway (send yours in the Authorization header)",
    "extra_headers": "upstream headers are set by the gateway",
    "headers": "upstream headers are set by the gateway",
    "extra_query": "upstream URLs are set by the gateway",
    "extra_body": "send extra parameters at the top level of the body",
    "timeout": "a deployment's deadline is set in the gateway's config",
    "request_timeout": "a deployment's deadline is set in the gateway's config",
    "prompt_template": "prompt templates are set per deployment in the gateway's config",
    "custom_llm_provider": "the provider is the alias's deployment, set in the gateway's config",
    "http_client": "not a request parameter",
    "engine": "not a request parameter",
    # Azure OpenAI (llmrouter-openai's azure provider): a token would replace the deployment's
    # credential; a token provider is code, which a JSON body cannot carry anyway.
    "azure_ad_token": _CREDENTIAL,
    "azure_ad_token_provider": _CREDENTIAL,
    # "On your data": names a search service and how to authenticate to it, possibly as the
    # Azure resource's own managed identity, so a caller could make the deployment read
    # (and quote back) an index it chose.
    "data_sources": "Azure's data sources reach services with the deployment's identity; "
    "set them in the gateway's config (a deployment's options)",
    # AWS Bedrock (llmrouter-bedrock), under LiteLLM's names: keys and a profile pick the AWS
    # account the call is signed for, the region picks the endpoint it is sent to.
    "aws_access_key_id": _CREDENTIAL,
    "aws_secret_access_key": _CREDENTIAL,
    "aws_session_token": _CREDENTIAL,
    "aws_profile_name": _CREDENTIAL,
    "aws_region_name": "a deployment's region (and so its endpoint) is set in the gateway's config",
    # LiteLLM's other credential and endpoint parameters for the same clouds. No llmrouter
    # provider takes them today; refusing them here keeps it so for any plugin that might.
    "aws_role_name": _CREDENTIAL,
    "aws_session_name": _CREDENTIAL,
    "aws_web_identity_token": _CREDENTIAL,
    "aws_external_id": _CREDENTIAL,
    "aws_sts_endpoint": _ENDPOINT,
    "aws_bedrock_runtime_endpoint": _ENDPOINT,
    "tenant_id": _CREDENTIAL,
    "client_id": _CREDENTIAL,
    "client_secret": _CREDENTIAL,
    "azure_username": _CREDENTIAL,
    "azure_password": _CREDENTIAL,
    "azure_scope": _CREDENTIAL,
}

#: Longest ``model`` accepted (aliases are short; this only bounds what an error echoes).
MAX_MODEL_CHARS = 256


class RequestProblem(Exception):
    """A request the gateway refuses itself: a 400 (or 404 for an unknown model)."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


def _model(body: Mapping[str, Any], aliases: Mapping[str, object]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestProblem(
            "'model' is required: the name of one of this gateway's models "
            "(GET /v1/models lists them)",
            param="model",
        )
    if model not in aliases:
        shown = model if len(model) <= MAX_MODEL_CHARS else model[:MAX_MODEL_CHARS] + "..."
        raise RequestProblem(
            f"the model {shown!r} does not exist on this gateway; GET /v1/models lists the "
            "models it serves",
            param="model",
            status=404,
        )
    return model


def call_params(
    body: object, aliases: Mapping[str, object], *, required: str
) -> tuple[str, dict[str, Any]]:
    """``(alias, params)`` for a router call from a decoded JSON body.

    ``required`` is the body key the endpoint needs (``messages``, ``prompt`` or ``input``);
    ``params`` is every other key but ``model``, for the router and the provider to validate.
    """
    if not isinstance(body, dict):
        raise RequestProblem(f"the request body must be a JSON object, got {type(body).__name__}")
    forbidden = sorted(k for k in body if k in FORBIDDEN_KEYS)
    if forbidden:
        key = forbidden[0]
        raise RequestProblem(
            f"the gateway does not let a request set {', '.join(map(repr, forbidden))}: "
            f"{FORBIDDEN_KEYS[key]}",
            param=key,
        )
    model = _model(body, aliases)
    if required not in body:
        raise RequestProblem(f"{required!r} is required", param=required)
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise RequestProblem(f"'stream' must be true or false, got {stream!r}", param="stream")
    params = {k: v for k, v in body.items() if k != "model"}
    if stream is None:
        params.pop("stream")
    return model, params


# --- /v1/completions over a chat call -------------------------------------------------------------


def _raw(messages: Any, add_generation_prompt: bool) -> str:
    return str(messages[0]["content"])


#: Sends the prompt exactly as given to the deployment's text-completion endpoint: a legacy
#: completion has no chat turns, so no template may add any.
RAW_PROMPT = PromptTemplate(name="gateway-raw-prompt", kind="custom", _renderer=_raw)


def text_prompt_messages(prompt: object) -> list[dict[str, Any]]:
    """The one user message that carries a legacy ``prompt`` (a string, or a list of one)."""
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise RequestProblem(
            "'prompt' must be a string (or a list of one string); several prompts in one "
            "request and token-id prompts are not supported: send one request per prompt",
            param="prompt",
        )
    return [{"role": "user", "content": prompt}]


def _choice_text(choice: Any, part: str) -> str:
    holder = getattr(choice, part, None)
    content = getattr(holder, "content", None)
    return content if isinstance(content, str) else ""


def _usage(usage: Any) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def text_completion_body(response: Any) -> dict[str, Any]:
    """OpenAI's ``text_completion`` object from a chat-shaped :class:`ModelResponse`."""
    return {
        "id": response.id,
        "object": "text_completion",
        "created": response.created,
        "model": response.model,
        "choices": [
            {
                "index": choice.index,
                "text": _choice_text(choice, "message"),
                "finish_reason": choice.finish_reason,
                "logprobs": None,
            }
            for choice in response.choices
        ],
        "usage": _usage(response.usage),
    }


def text_completion_chunk(chunk: Any) -> dict[str, Any]:
    """A streamed ``text_completion`` event from a chat-shaped stream chunk."""
    out: dict[str, Any] = {
        "id": chunk.id,
        "object": "text_completion",
        "created": chunk.created,
        "model": chunk.model,
        "choices": [
            {
                "index": choice.index,
                "text": _choice_text(choice, "delta"),
                "finish_reason": choice.finish_reason,
                "logprobs": None,
            }
            for choice in chunk.choices
        ],
    }
    usage = _usage(getattr(chunk, "usage", None))
    if usage is not None:
        out["usage"] = usage
    return out


# --- embeddings ------------------------------------------------------------------------------------


def encode_base64_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """``encoding_format="base64"``: each vector as little-endian float32 bytes in base64.

    The official SDKs ask for base64 by default and decode it themselves; providers differ in
    whether they can send it, so the gateway asks for floats and encodes here.
    """
    for item in body.get("data", ()):
        vector = item.get("embedding")
        if isinstance(vector, list):
            packed = array("f", vector)
            if sys.byteorder != "little":
                packed.byteswap()
            item["embedding"] = base64.b64encode(packed.tobytes()).decode("ascii")
    return body
