"""``AzureOpenAIEmulator``: the OpenAI emulator as an Azure OpenAI resource, for the ``azure`` provider.

Azure OpenAI serves OpenAI's wire format under its own paths, with its own key header, a
required ``api-version`` and content-filter annotations. This flavour is
:class:`~llmrouter.testing.OpenAIEmulator` (request checks, replies, streams, faults, the request
log) with those differences, from Microsoft's REST reference and real answers:

- paths: ``{endpoint}/openai/deployments/{deployment}/chat/completions`` (also
  ``/completions`` and ``/embeddings``) and ``{endpoint}/openai/models`` need
  ``?api-version=YYYY-MM-DD[-preview]``: without one the answer is Azure's 404 ``Resource not
  found``, with a value of another shape a 400 ``API version not supported``. The v1 API,
  ``{endpoint}/openai/v1/chat/completions`` (and ``/completions``, ``/embeddings``, ``/models``),
  takes the deployment as the body's ``model`` and no ``api-version`` (or ``preview``, for
  its preview features). Anything else under ``/openai`` is a 404;
- deployments: a deployment name maps to a model of the catalogue (``deployments=``; every
  catalogue id is also a deployment of itself). An unknown one is Azure's 404
  ``DeploymentNotFound``. Answers name the model, not the deployment, as Azure's do;
- auth: ``api-key: <key>`` (checked against ``api_key`` when set), or ``Authorization: Bearer
  <token>`` (a Microsoft Entra ID token: any non-empty one, or exactly ``ad_token`` when that is
  set; then a bearer holding the api key is accepted too, as the v1 API accepts it from
  OpenAI's own client). A failure is Azure's 401 ``{"error": {"code": "401", "message":
  ...}}``;
- content filtering: every chat and completion answer carries ``prompt_filter_results`` and
  ``choices[].content_filter_results``; a stream opens with an annotation chunk (``choices:
  []``, empty ``id``/``model``/``object``, ``created: 0``) holding the prompt's results, and
  each choice of each chunk carries ``content_filter_results``. The last user message
  containing ``[[emulator:filter_prompt]]`` is refused as Azure refuses a filtered prompt (400,
  ``code: "content_filter"``, ``innererror.content_filter_result``), and one containing
  ``[[emulator:filter_completion]]`` is answered with ``finish_reason: "content_filter"`` after
  a few tokens. A fault with ``code="content_filter"`` sends the same 400 body;
- errors Azure's platform raises (401, 404, 429, 5xx) are ``{"error": {"code", "message"}}``;
  the OpenAI layer's (a bad parameter) keep OpenAI's shape; a 429 carries
  ``x-ratelimit-remaining-{requests,tokens}``; answers carry ``apim-request-id`` and
  ``x-request-id``.

``endpoint`` is what a client takes as its Azure endpoint (``api_base=`` for llmrouter,
``azure_endpoint=`` for ``openai.AzureOpenAI``); ``base_url`` is the v1 API's base
(``{endpoint}/openai/v1``, for ``openai.OpenAI``). Tenants (``endpoint_for``) work as for every
emulator.
"""

from __future__ import annotations

import copy
import hmac
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import parse_qs

from llmrouter.testing import openai_wire as ow
from llmrouter.testing import wire
from llmrouter.testing.dialect import Invalid
from llmrouter.testing.emulator import Call, Reply, WireFormat, bearer_key
from llmrouter.testing.openai_emulator import OpenAIEmulator

__all__ = [
    "AZURE_WIRE",
    "COMPLETION_FILTER_MARKER",
    "PROMPT_FILTER_MARKER",
    "AzureOpenAIEmulator",
    "AzureStreamEncoder",
    "AzureWire",
    "completion_filter_results",
    "prompt_filter_results",
]

PROMPT_FILTER_MARKER = "[[emulator:filter_prompt]]"
COMPLETION_FILTER_MARKER = "[[emulator:filter_completion]]"

#: ``api-version`` values of the dated API (``2024-10-21``, ``2025-04-01-preview``).
_DATED_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
#: ``api-version`` values the v1 API takes (none at all is the usual case).
_V1_VERSIONS = frozenset({"preview"})
_DEPLOYMENT_PATH = re.compile(r"^/openai/deployments/([^/]+)(/.*)$")

_SAFE = {"filtered": False, "severity": "safe"}
_NOT_DETECTED = {"filtered": False, "detected": False}

_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management "
    "policy. Please modify your prompt and retry. To learn more about our content filtering "
    "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)
_KEY_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
    "a valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)
_TOKEN_401 = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)
_DEPLOYMENT_404 = (
    "The API deployment for this resource does not exist. If you created the deployment within "
    "the last 5 minutes, please wait a moment and try again."
)


def prompt_filter_results(*, filtered: bool = False) -> list[dict[str, Any]]:
    """``prompt_filter_results`` of an answer (one prompt); ``filtered``: the ``hate`` category
    at ``high``, as in the 400 Azure sends for a filtered prompt (there it is the innererror's
    ``content_filter_result``, see :func:`AzureWire.error_response`)."""
    return [{"prompt_index": 0, "content_filter_results": _prompt_results(filtered)}]


def _prompt_results(filtered: bool) -> dict[str, Any]:
    hate = {"filtered": True, "severity": "high"} if filtered else dict(_SAFE)
    return {
        "hate": hate,
        "jailbreak": dict(_NOT_DETECTED),
        "self_harm": dict(_SAFE),
        "sexual": dict(_SAFE),
        "violence": dict(_SAFE),
    }


def completion_filter_results(*, filtered: bool = False) -> dict[str, Any]:
    """A choice's ``content_filter_results``; ``filtered``: ``violence`` at ``medium``, as on a
    choice that ended with ``finish_reason: "content_filter"``."""
    violence = {"filtered": True, "severity": "medium"} if filtered else dict(_SAFE)
    return {
        "hate": dict(_SAFE),
        "protected_material_code": dict(_NOT_DETECTED),
        "protected_material_text": dict(_NOT_DETECTED),
        "self_harm": dict(_SAFE),
        "sexual": dict(_SAFE),
        "violence": violence,
    }


_SAFE_COMPLETION = completion_filter_results()
_FILTERED_COMPLETION = completion_filter_results(filtered=True)


def _annotate(out: dict[str, Any], finish_key: str = "finish_reason") -> dict[str, Any]:
    """Add Azure's filter results to a chat or completion answer built by :mod:`openai_wire`."""
    out.pop("service_tier", None)  # Azure does not report a tier
    for choice in out["choices"]:
        filtered = choice.get(finish_key) == "content_filter"
        choice["content_filter_results"] = copy.deepcopy(
            _FILTERED_COMPLETION if filtered else _SAFE_COMPLETION
        )
    out["prompt_filter_results"] = prompt_filter_results()
    return out


class AzureStreamEncoder(ow.OpenAIStreamEncoder):
    """OpenAI's stream with Azure's annotations: an opening chunk with the prompt's filter
    results, and ``content_filter_results`` on each choice (``{}`` on the role and finish
    chunks, the results on content chunks, the filtered results on a ``content_filter`` finish)."""

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        for choice in choices:
            finish = choice.get("finish_reason")
            delta = choice.get("delta")
            if finish == "content_filter":
                choice["content_filter_results"] = copy.deepcopy(_FILTERED_COMPLETION)
            elif finish is not None or (isinstance(delta, dict) and "role" in delta):
                choice["content_filter_results"] = {}
            else:
                choice["content_filter_results"] = copy.deepcopy(_SAFE_COMPLETION)
        return super()._envelope(choices)

    def prompt_filter_event(self) -> bytes:
        """The annotation chunk Azure sends first: no choices, no id, model or object."""
        return wire.sse_event(
            {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": prompt_filter_results(),
            }
        )

    def events(self, answer: wire.Answer) -> Iterator[bytes]:
        yield self.prompt_filter_event()
        yield from super().events(answer)


# (message, type, code) per status; the type only matters for the OpenAI-shaped ones. Azure's
# platform (not its OpenAI layer) raises the ones
# whose code is in _PLATFORM_CODES: {"error": {"code", "message"}}, no type or param.
_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (_KEY_401, "invalid_request_error", "401"),
    403: (
        "Principal does not have access to API/Operation.",
        "invalid_request_error",
        "PermissionDenied",
    ),
    404: ("Resource not found", "invalid_request_error", "404"),
    408: ("Request timed out.", "invalid_request_error", "Timeout"),
    429: (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
        "Please retry after 1 second. Please go here: https://aka.ms/oai/quotaincrease if you "
        "would like to further increase the default rate limit.",
        "requests",
        "429",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        "InternalServerError",
    ),
    503: (
        "The service is temporarily unable to process your request. Please try again later.",
        "server_error",
        "ServiceUnavailable",
    ),
}

_PLATFORM_CODES = frozenset(
    {code for _, _, code in _DEFAULT_ERRORS.values() if code} | {"BadRequest", "DeploymentNotFound"}
)

#: Azure's own request fields beside OpenAI's (On Your Data, Defender for Cloud).
_AZURE_CHAT_FIELDS = frozenset({"data_sources", "user_security_context"})


class AzureWire:
    """Azure OpenAI's shapes, as the emulator core asks for them (it satisfies
    :class:`~llmrouter.testing.emulator.WireFormat`): OpenAI's, plus filter results, Azure's
    platform errors and headers."""

    DIALECT = replace(ow.DIALECT, chat_fields=ow.CHAT_FIELDS | _AZURE_CHAT_FIELDS)
    DEFAULT_MODELS: Sequence[Mapping[str, Any]] = ow.DEFAULT_MODELS
    model_entry = staticmethod(ow.model_entry)
    guess_type = staticmethod(ow.guess_type)
    new_tool_call_id = staticmethod(ow.new_tool_call_id)
    usage = staticmethod(ow.usage)
    response_seed = staticmethod(ow.response_seed)
    embedding_body = staticmethod(ow.embedding_body)

    @staticmethod
    def models_body(entries: list[dict[str, Any]]) -> Any:
        """``GET /openai/models``: Azure's entries (``created_at``, ``capabilities``,
        ``lifecycle_status``, ``status``), not OpenAI's ``created``/``owned_by``."""
        data = []
        for e in entries:
            kind = e.get("type", "chat")
            data.append(
                {
                    "id": e["id"],
                    "object": "model",
                    "created_at": e.get("created", 0),
                    "status": "succeeded",
                    "lifecycle_status": "generally-available",
                    "capabilities": {
                        "chat_completion": kind == "chat",
                        "completion": kind == "language",
                        "embeddings": kind == "embedding",
                        "fine_tune": False,
                        "inference": True,
                    },
                }
            )
        return {"data": data, "object": "list"}

    @staticmethod
    def default_error(status: int, code: str | None = None) -> tuple[str, str, str | None]:
        if code == "content_filter":
            return _FILTER_MESSAGE, "invalid_request_error", "content_filter"
        return wire.lookup_error(
            _DEFAULT_ERRORS,
            status,
            server_error="The server had an error while processing your request.",
            client_error="Request failed.",
        )

    @staticmethod
    def ratelimit_headers(
        *, limit: int | None, remaining: int | None, reset: float, error_type: str
    ) -> list[tuple[str, str]]:
        """Azure reports what is left, per minute, of requests and tokens (no reset times)."""
        return [
            ("x-ratelimit-limit-requests", str(limit or 60)),
            ("x-ratelimit-remaining-requests", str(remaining or 0)),
            ("x-ratelimit-remaining-tokens", "0"),
        ]

    @staticmethod
    def ok_headers() -> Sequence[tuple[str, str]]:
        return (
            ("apim-request-id", str(uuid.uuid4())),
            ("x-request-id", str(uuid.uuid4())),
            ("x-ms-region", "East US"),
        )

    @staticmethod
    def error_response(
        message: str, type_: str, code: str | None, param: str | None
    ) -> tuple[dict[str, Any], Sequence[tuple[str, str]]]:
        """Azure's three error shapes: the content filter's 400 (with ``innererror``), the
        platform's ``{"error": {"code", "message"}}`` (no type), OpenAI's otherwise."""
        headers = AzureWire.ok_headers()
        if code == "content_filter":
            error = {
                "message": message,
                "type": None,
                "param": param or "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": _prompt_results(filtered=True),
                },
            }
            return {"error": error}, headers
        if code in _PLATFORM_CODES:
            return {"error": {"code": code, "message": message}}, headers
        return wire.error_body(message, type_, code, param), headers

    @staticmethod
    def chat_body(body: Mapping[str, Any], answer: wire.Answer) -> dict[str, Any]:
        return _annotate(ow.chat_body(body, answer))

    @staticmethod
    def completion_body(body: Mapping[str, Any], answer: wire.Answer) -> dict[str, Any]:
        return _annotate(ow.completion_body(body, answer))

    @staticmethod
    def stream_encoder(kind: str, body: Mapping[str, Any], model: str) -> AzureStreamEncoder:
        options = body.get("stream_options")
        return AzureStreamEncoder(
            kind=kind,
            request_id=ow.new_id("chatcmpl-" if kind == "chat" else "cmpl-"),
            created=wire.now(),
            model=model,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        )


AZURE_WIRE = AzureWire()


class AzureOpenAIEmulator(OpenAIEmulator):
    """An Azure OpenAI resource on localhost; see the module docstring.

    Takes every :class:`~llmrouter.testing.OpenAIEmulator` argument, plus ``deployments``
    (deployment name -> catalogue model id; every catalogue id is a deployment of itself too)
    and ``ad_token`` (the Entra ID bearer token to require; ``None``: any non-empty one).
    ``api_key`` is the ``api-key`` to require (``None``: any non-empty one).
    """

    api: ClassVar[WireFormat] = AZURE_WIRE
    api_versions: ClassVar[tuple[str, ...]] = ("openai/v1", "openai")
    default_reply = "This is a deterministic reply from the Azure OpenAI emulator."

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        deployments: Mapping[str, str] | None = None,
        ad_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.ad_token = ad_token
        self._deployments = {k.lower(): v for k, v in (deployments or {}).items()}
        super().__init__(host, port, **kwargs)

    # -- addresses -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The resource's endpoint, ``http://127.0.0.1:PORT`` (Azure's
        ``https://<resource>.openai.azure.com``)."""
        return self.url

    def endpoint_for(self, tenant: str) -> str:
        """The endpoint of a tenant (see ``base_url_for``)."""
        return self._tenant_root(tenant)

    @property
    def base_url(self) -> str:
        """The v1 API's base, ``{endpoint}/openai/v1`` (for ``openai.OpenAI(base_url=...)``)."""
        return self.url + "/openai/v1"

    def base_url_for(self, tenant: str) -> str:
        return self._tenant_root(tenant) + "/openai/v1"

    # -- deployments -----------------------------------------------------------------------

    def add_deployment(self, name: str, model: str) -> None:
        """Serve catalogue model ``model`` as deployment ``name``."""
        with self._lock:
            self._deployments[name.lower()] = model

    def _deployment_model(self, name: str) -> str | None:
        """The catalogue id a deployment serves, or None (no such deployment)."""
        with self._lock:
            model = self._deployments.get(name.lower())
            entry = self._models.get((model or name).lower())
        return str(entry["id"]) if entry is not None else model

    # -- the wire's part -------------------------------------------------------------------

    def _split_path(self, api_path: str) -> tuple[str, str]:
        match = _DEPLOYMENT_PATH.match(api_path)
        if match is not None:
            return f"openai/deployments/{match[1]}", match[2]
        return super()._split_path(api_path)

    def _sent_key(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("api-key", "").strip() or bearer_key(headers)

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        key = headers.get("api-key", "").strip()
        if key:
            return self.api_key is None or hmac.compare_digest(key, self.api_key)
        token = bearer_key(headers)
        if token is None:
            return not self.require_key and not headers.get("authorization")
        if self.ad_token is None:
            return True
        return any(hmac.compare_digest(token, t) for t in (self.ad_token, self.api_key) if t)

    def _auth_failure(self, call: Call) -> Reply:
        bearer = bool(call.request.headers.get("authorization"))
        message = _TOKEN_401 if bearer and not call.request.headers.get("api-key") else _KEY_401
        return self._error(call, 401, message, code="401")

    def _respond_to(self, call: Call) -> Reply:
        try:
            self._azure_checks(call)
        except Invalid as exc:
            return self._error(
                call, exc.status, exc.message, type_=exc.type, code=exc.code, param=exc.param
            )
        return super()._respond_to(call)

    def _azure_checks(self, call: Call) -> None:
        """What Azure checks before the OpenAI layer sees a request: the path's form, the
        ``api-version``, the deployment, and the prompt's content filter. The deployment's model
        replaces the body's ``model`` (in a copy: the request log keeps what was sent)."""
        path = call.stats_path
        versions = parse_qs(call.request.query).get("api-version")
        version = versions[-1] if versions else None
        body = call.body
        deployment: str | None
        if path.startswith("/openai/v1/"):
            if version is not None and version not in _V1_VERSIONS:
                raise Invalid(400, "API version not supported", code="BadRequest")
            model = body.get("model") if isinstance(body, dict) else None
            deployment = model if isinstance(model, str) and model else None
        else:
            if path.startswith("/openai/deployments/"):
                if call.endpoint == "/models":
                    raise Invalid(404, "Resource not found", code="404")
                deployment = path.split("/", 4)[3]
            elif path == "/openai/models":
                deployment = None
            else:
                raise Invalid(404, "Resource not found", code="404")
            if version is None:
                raise Invalid(404, "Resource not found", code="404")
            if not _DATED_VERSION.match(version):
                raise Invalid(400, "API version not supported", code="BadRequest")
        if deployment is None or not isinstance(body, dict):
            return
        model = self._deployment_model(deployment)
        if model is None:
            raise Invalid(404, _DEPLOYMENT_404, code="DeploymentNotFound")
        if call.endpoint != "/embeddings" and PROMPT_FILTER_MARKER in wire.prompt_text(body):
            raise Invalid(400, _FILTER_MESSAGE, code="content_filter", param="prompt")
        call.body = {**body, "model": model}

    def _limit(self, tokens: list[str], body: Mapping[str, Any]) -> tuple[list[str], str]:
        if COMPLETION_FILTER_MARKER in wire.prompt_text(body):
            return tokens[:3], "content_filter"
        return super()._limit(tokens, body)
