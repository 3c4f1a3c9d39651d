"""The ``azure`` provider: Azure OpenAI deployments, ``model="azure/<deployment>"``.

Azure OpenAI is OpenAI's wire format at another address, so this is the family's provider
(:class:`~llmrouter_openai.plugin.OpenAIFamilyProvider`, itself llmrouter's
:class:`~llmrouter.openai_compat.OpenAICompatibleProvider`) with three things of its own, read
from the call and the environment here and turned into a request by the pure functions of
:mod:`llmrouter_openai.azure_wire`:

- **the endpoint and the API version** decide the URL. The endpoint is ``api_base=``, else
  ``AZURE_OPENAI_ENDPOINT`` (the official SDK's variable), else ``AZURE_API_BASE`` (LiteLLM's).
  The version is ``api_version=`` (per call, or in a routing deployment's ``options``), else
  ``OPENAI_API_VERSION`` (the SDK's), else ``AZURE_API_VERSION`` (LiteLLM's), else ``v1`` when
  the endpoint ends with ``/openai/v1``. Neither has a default: a missing one is an
  :class:`~llmrouter.errors.InvalidRequestError` naming the option and the variable, before
  anything is sent;
- **the credential**, as ``openai.AzureOpenAI`` picks it: exactly one of ``api_key=``,
  ``azure_ad_token=`` or ``azure_ad_token_provider=`` (a callable returning a Microsoft Entra ID
  token, called each time a request is built, since tokens expire); with none given,
  ``AZURE_OPENAI_AD_TOKEN``, then ``AZURE_OPENAI_API_KEY`` (then LiteLLM's ``AZURE_API_KEY``,
  then its token variable ``AZURE_AD_TOKEN``). A key is
  sent as ``api-key``, a token as ``Authorization: Bearer``;
- **content filtering**: Azure's 400 ``content_filter`` is a
  :class:`~llmrouter_openai.azure_wire.ContentPolicyViolationError`, and a stream's opening
  annotation (the prompt's filter results) is carried on its first chunk.

:func:`entra_id_token_provider` builds the token callable from ``azure-identity`` (an optional
dependency, imported only when that function is called). Options are OpenAI's, plus Azure's
``data_sources`` and ``user_security_context``; ``max_tokens`` is sent as given (older API
versions know no ``max_completion_tokens``).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Final

from pydantic import BaseModel

from llmrouter.errors import (
    AuthenticationError,
    InvalidRequestError,
    MissingAPIKeyError,
    NotFoundError,
)
from llmrouter.hookspecs import hookimpl
from llmrouter.openai_compat import Dialect
from llmrouter.pipeline import Call, HTTPRequest, Prompt, StreamDone, StreamState
from llmrouter.provider import resolve_api_base, resolve_api_key
from llmrouter.types import ModelResponseStream
from llmrouter.validation import validate_options
from llmrouter_openai import azure_wire as aw
from llmrouter_openai import options as o
from llmrouter_openai.options import check_supported
from llmrouter_openai.plugin import OpenAIFamilyProvider
from llmrouter_openai.presets import FAMILY_CODE_CLASSES, Preset

__all__ = [
    "AD_TOKEN_ENV",
    "API_KEY_ENV",
    "API_VERSION_ENV",
    "AZURE",
    "AZURE_DIALECT",
    "AZURE_SETTINGS",
    "COGNITIVE_SERVICES_SCOPE",
    "ENDPOINT_ENV",
    "LITELLM_AD_TOKEN_ENV",
    "AzureOpenAIProvider",
    "entra_id_token_provider",
    "provider",
]

#: The official SDK's variable first, then LiteLLM's.
API_KEY_ENV: Final = ("AZURE_OPENAI_API_KEY", "AZURE_API_KEY")
ENDPOINT_ENV: Final = ("AZURE_OPENAI_ENDPOINT", "AZURE_API_BASE")
API_VERSION_ENV: Final = ("OPENAI_API_VERSION", "AZURE_API_VERSION")
#: A static Entra ID token; the SDK prefers it to the key variable when no credential is given.
AD_TOKEN_ENV: Final = ("AZURE_OPENAI_AD_TOKEN",)
#: LiteLLM's token variable: read last, after every key variable (LiteLLM uses a key first).
LITELLM_AD_TOKEN_ENV: Final = ("AZURE_AD_TOKEN",)
#: The scope Azure OpenAI's Entra ID tokens are issued for.
COGNITIVE_SERVICES_SCOPE: Final = "https://cognitiveservices.azure.com/.default"

#: Call options that configure the request rather than the body; never sent as fields.
AZURE_SETTINGS: Final = frozenset({"api_version", "azure_ad_token", "azure_ad_token_provider"})
_CREDENTIAL_HEADERS: Final = frozenset({"api-key", "authorization"})

DATA_SOURCES = o.extra(
    "data_sources",
    list[dict[str, Any]] | None,
    "Azure OpenAI On Your Data: the sources to ground answers in (Azure AI Search, ...).",
)
USER_SECURITY_CONTEXT = o.extra(
    "user_security_context",
    dict[str, Any] | None,
    "End-user context for Microsoft Defender for Cloud (application_name, end_user_id, ...).",
)

AZURE = Preset(
    name="azure",
    title="Azure OpenAI",
    default_api_base=None,
    api_key_env=API_KEY_ENV,
    api_base_env=ENDPOINT_ENV,
    extra_options=(DATA_SOURCES, USER_SECURITY_CONTEXT),
    embedding_token_ids=True,
    docs_url="https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference",
)

#: The family's dialect with Azure's error codes and request-id headers.
AZURE_DIALECT: Final[Dialect] = replace(
    AZURE.dialect,
    code_classes=MappingProxyType(
        {
            **FAMILY_CODE_CLASSES,
            "content_filter": aw.ContentPolicyViolationError,
            "DeploymentNotFound": NotFoundError,
        }
    ),
    request_id_headers=("apim-request-id", "x-request-id"),
)

#: Base URLs as given -> (endpoint, says_v1); a handful per process, bounded all the same.
_ENDPOINTS: dict[str, tuple[str, bool]] = {}


class AzureOpenAIProvider(OpenAIFamilyProvider):
    """The ``azure`` provider: the family's hooks with Azure's URL, credential and filter
    annotations (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(AZURE)
        self.dialect = AZURE_DIALECT

    def __repr__(self) -> str:
        return "AzureOpenAIProvider('azure')"

    def validate(self, model: type[BaseModel], call: Call, what: str) -> BaseModel:
        """The body's options, without the settings that shape the request (api_version and
        the credential options, checked where they are used)."""
        params = call.params
        if not AZURE_SETTINGS.isdisjoint(params):
            params = {k: v for k, v in params.items() if k not in AZURE_SETTINGS}
        check_supported(params, model, provider=call.provider, title=AZURE.title, what=what)
        return validate_options(model, params, provider=call.provider, what=what)

    # --- where and who ----------------------------------------------------------------------

    def endpoint(self, call: Call) -> tuple[str, bool]:
        """``(endpoint, says_v1)`` of the resource this call goes to (see :mod:`.azure_wire`)."""
        given = call.api_base
        if given is not None:
            known = _ENDPOINTS.get(given)
            if known is not None:
                return known
        base = resolve_api_base(call, ENDPOINT_ENV, "")
        if not base:
            raise _invalid(
                call,
                "api_base",
                f"{call.provider} needs your Azure OpenAI resource's endpoint: pass "
                "api_base='https://<resource>.openai.azure.com' (or set it as a routing "
                f"deployment's api_base), or set {' or '.join(ENDPOINT_ENV)}",
            )
        found = aw.split_endpoint(base)
        if given is not None:
            if len(_ENDPOINTS) >= 64:
                _ENDPOINTS.clear()
            _ENDPOINTS[given] = found
        return found

    def api_version(self, call: Call, says_v1: bool) -> str:
        """``api_version=``, else the variables, else ``v1`` when the endpoint says so.

        An endpoint ending with ``/openai/v1`` is the v1 API: there a dated version from the
        variables is left for the dated clients it was set for (``OPENAI_API_VERSION`` is
        typically exported for ``openai.AzureOpenAI``), while a dated ``api_version=``, which
        was asked for this call, is an error.
        """
        source = "api_version="
        value: object = call.params.get("api_version")
        if value is None:
            for name in API_VERSION_ENV:
                text = os.environ.get(name, "").strip()
                if text and not (says_v1 and not aw.is_v1(text)):
                    value, source = text, name
                    break
        if value is None:
            if says_v1:
                return "v1"
            raise _invalid(
                call,
                "api_version",
                f"{call.provider} needs an API version: pass api_version='2024-10-21' (a dated "
                "version: the deployments URL) or api_version='v1' (the v1 API), per call or in "
                f"a routing deployment's options, or set {' or '.join(API_VERSION_ENV)}",
            )
        problem = aw.api_version_problem(value)
        if problem is None and says_v1 and not aw.is_v1(str(value)):
            problem = (
                f"{value!r} is a dated version, but the endpoint ends with /openai/v1 (the v1 "
                "API): drop the /openai/v1 from the endpoint or use api_version='v1'"
            )
        if problem is not None:
            raise _invalid(
                call, "api_version", f"{call.provider}: api_version {problem} (from {source})"
            )
        return str(value)

    def base_url(self, call: Call) -> str:
        """What the OpenAI-shaped paths go under, for this call's endpoint, version and
        deployment (the ``api-version`` query is added in ``build_request``)."""
        endpoint, says_v1 = self.endpoint(call)
        version = self.api_version(call, says_v1)
        if not aw.is_v1(version) and call.operation != "list_models":
            problem = aw.deployment_problem(call.model)
            if problem is not None:
                raise _invalid(call, "model", f"{call.provider}: {problem}")
        path = "/models" if call.operation == "list_models" else ""
        return aw.base_path(endpoint, version, call.model, path)

    def headers(self, call: Call) -> dict[str, str]:
        """The credential's header, then the caller's ``extra_headers`` (which may not carry a
        credential of their own: that is what the credential options are for)."""
        name, value = aw.credential_header(*_credential(call))
        out: dict[str, str] = {}
        for header, text in (call.extra_headers or {}).items():
            if header.lower() in _CREDENTIAL_HEADERS:
                raise _invalid(
                    call,
                    f"extra_headers.{header}",
                    f"extra_headers may not set {header!r}: pass api_key=, azure_ad_token= or "
                    "azure_ad_token_provider= instead",
                )
            out[header] = text
        out[name] = value
        return out

    # --- hooks ------------------------------------------------------------------------------

    @hookimpl
    def llmrouter_build_request(self, call: Call, prompt: Prompt | None) -> HTTPRequest:
        request = super().llmrouter_build_request(call, prompt)
        _, says_v1 = self.endpoint(call)
        version = self.api_version(call, says_v1)
        request.url += aw.version_query(version)
        body = request.json
        if (
            call.stream
            and isinstance(body, dict)
            and not aw.takes_stream_options(version)
            and "stream_options" not in call.params
        ):
            # an older API version answers 400 to a field it does not know
            body.pop("stream_options", None)
        return request

    @hookimpl
    def llmrouter_parse_stream_event(
        self, call: Call, prompt: Prompt | None, data: str, state: StreamState
    ) -> ModelResponseStream | StreamDone | None:
        # Every chunk of Azure's carries "content_filter_results"; only annotations carry these
        # (a substring test per chunk; the JSON is parsed only when one matches).
        if "prompt_filter_results" in data or "content_filter_offsets" in data:
            raw = _annotation(data)
            if raw is not None:
                as_chunk = aw.annotation_chunk(call, raw, state)
                if as_chunk is None:
                    return None
                data = json.dumps(as_chunk)  # rare: read by the toolkit like any chunk
        chunk = super().llmrouter_parse_stream_event(call, prompt, data, state)
        if state.data and isinstance(chunk, ModelResponseStream):
            aw.attach_prompt_results(chunk, state)
        return chunk


def _invalid(call: Call, param: str, message: str) -> InvalidRequestError:
    """The error for a setting of this call that cannot work, naming the option (``param``)."""
    return InvalidRequestError(message, param=param, provider=call.provider, model=call.model)


def _annotation(data: str) -> dict[str, Any] | None:
    """The event as a dict when it is one of Azure's filter annotations (see
    :func:`~llmrouter_openai.azure_wire.is_annotation`), else ``None``: the toolkit reads it."""
    try:
        raw = json.loads(data)
    except ValueError:
        return None
    return raw if isinstance(raw, dict) and aw.is_annotation(raw) else None


def _credential(call: Call) -> tuple[str, str]:
    """``(kind, value)``: ``"key"`` or ``"token"``, chosen as ``openai.AzureOpenAI`` chooses.

    Never shows a credential: messages name the option or variable and the type only.
    """
    params = call.params
    token = params.get("azure_ad_token")
    token_provider = params.get("azure_ad_token_provider")
    key = call.api_key if call.api_key is not None and call.api_key.get_secret_value() else None
    given = [
        name
        for name, value in (
            ("api_key", key),
            ("azure_ad_token", token),
            ("azure_ad_token_provider", token_provider),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise _invalid(
            call,
            given[1],
            f"{call.provider} takes one credential, got {' and '.join(given)}: pass api_key=, "
            "azure_ad_token= or azure_ad_token_provider= (a routing deployment's api_key_env "
            "counts as api_key=)",
        )
    if token_provider is not None:
        return "token", _token_from(call, token_provider)
    if token is not None:
        return "token", _checked_token(call, token, "azure_ad_token")
    if key is not None:
        return "key", key.get_secret_value()
    for name in AD_TOKEN_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return "token", value
    found = resolve_api_key(call, API_KEY_ENV, required=False)
    if found is not None:
        return "key", found.get_secret_value()
    for name in LITELLM_AD_TOKEN_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return "token", value
    names = [*API_KEY_ENV, *AD_TOKEN_ENV, *LITELLM_AD_TOKEN_ENV]
    raise MissingAPIKeyError(
        f"no credential for {call.provider}: pass api_key=..., azure_ad_token=... or "
        f"azure_ad_token_provider=..., or set one of {', '.join(names)}",
        env_vars=names,
        provider=call.provider,
        model=call.model,
    )


def _token_from(call: Call, token_provider: object) -> str:
    """Call the caller's token provider (once per request: tokens expire).

    It runs synchronously while the request is built, on the caller's thread (the event loop's,
    for an async call): a provider should cache its tokens, as azure-identity's do. An
    exception it raises is an :class:`AuthenticationError` naming only its type (its message
    may hold a token or a credential), built outside the ``except`` block so that nothing
    chains the original to it; a router then fails over as for a refused credential."""
    if not callable(token_provider):
        raise _invalid(
            call,
            "azure_ad_token_provider",
            "azure_ad_token_provider must be a callable that returns an Entra ID token, got "
            f"{type(token_provider).__name__}",
        )
    failed: str | None = None
    try:
        token = token_provider()
    except Exception as exc:  # the caller's code: anything, told by its type only
        failed = type(exc).__name__
    if failed is not None:
        raise AuthenticationError(
            f"azure_ad_token_provider raised {failed} (its message is not shown: it may hold a "
            f"credential), so {call.provider} has no Entra ID token for this request; check the "
            "credential behind the provider (az login, the managed identity, its environment "
            "variables)",
            provider=call.provider,
            model=call.model,
        )
    if inspect.isawaitable(token):
        close = getattr(token, "close", None)
        if callable(close):
            close()  # a coroutine that is never awaited would warn
        raise _invalid(
            call,
            "azure_ad_token_provider",
            "azure_ad_token_provider returned an awaitable: llmrouter calls it synchronously "
            "when it builds each request (async calls too), so pass a plain function, e.g. "
            "azure.identity.get_bearer_token_provider(DefaultAzureCredential(), scope)",
        )
    return _checked_token(call, token, "azure_ad_token_provider")


def _checked_token(call: Call, token: object, source: str) -> str:
    what = "returned" if source == "azure_ad_token_provider" else "is"
    if not isinstance(token, str) or not token.strip():
        got = "an empty string" if isinstance(token, str) else type(token).__name__
        raise _invalid(
            call,
            source,
            f"{source} {what} {got}; an Entra ID token is a non-empty string",
        )
    return str.__str__(token).strip()


def entra_id_token_provider(
    credential: Any = None, *, scope: str = COGNITIVE_SERVICES_SCOPE
) -> Callable[[], str]:
    """A token callable for ``azure_ad_token_provider=``, from ``azure-identity``.

    ``credential`` is any azure-identity credential (``DefaultAzureCredential()`` when
    ``None``: environment, workload identity, managed identity, Azure CLI, ...); tokens are
    cached and refreshed by azure-identity. Needs the ``azure-identity`` package, imported only
    here: without it, an :class:`~llmrouter.errors.InvalidRequestError` says how to install it.
    """
    try:
        from azure.identity import (  # type: ignore[import-not-found,unused-ignore]
            DefaultAzureCredential,
            get_bearer_token_provider,
        )
    except ImportError:
        raise InvalidRequestError(
            "entra_id_token_provider() needs the azure-identity package: pip install "
            "'llmrouter-openai[azure]' (or azure-identity)",
            param="azure_ad_token_provider",
            provider="azure",
        ) from None
    if credential is None:
        credential = DefaultAzureCredential()
    token_provider: Callable[[], str] = get_bearer_token_provider(credential, scope)
    return token_provider


#: The entry-point target (``azure = "llmrouter_openai.azure:provider"``).
provider = AzureOpenAIProvider()
