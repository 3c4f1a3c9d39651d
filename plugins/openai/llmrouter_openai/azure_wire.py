"""Azure OpenAI's departures from OpenAI's wire format, as pure functions and data.

Azure OpenAI speaks OpenAI's request and response bodies; what differs is where a request goes,
how it authenticates and what Azure adds about content filtering. The ``azure`` provider
(:mod:`llmrouter_openai.azure`) reads the call and the environment, then hands plain values to
these functions, which the tests check one rule at a time:

- **where** (:func:`request_url`): the ``api_version`` decides the URL form. A dated version
  (``2024-10-21``, ``2025-04-01-preview``) selects the deployments form,
  ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21``
  (``/models`` is ``{endpoint}/openai/models?api-version=...``: it lists the resource's models,
  not a deployment's). ``v1`` selects the v1 API, ``{endpoint}/openai/v1/chat/completions``, with
  the deployment as the body's ``model`` and no ``api-version``; ``preview`` is the v1 API with
  ``?api-version=preview`` (its preview features). An endpoint given with a trailing ``/openai``
  or ``/openai/v1`` is the same resource (:func:`split_endpoint`); the latter also says ``v1``
  when no version is given anywhere;
- **who** (:func:`credential_header`): an API key travels as ``api-key: <key>``, a Microsoft
  Entra ID token as ``Authorization: Bearer <token>``, in both URL forms;
- **content filtering**: answers keep ``prompt_filter_results`` and
  ``choices[].content_filter_results`` (llmrouter's response types keep unknown fields);
  ``finish_reason: "content_filter"`` passes through; a 400 whose ``error.code`` is
  ``content_filter`` is a :class:`ContentPolicyViolationError`, which keeps Azure's
  ``innererror.content_filter_result``. A stream opens with an annotation chunk (no choices;
  empty ``id``, ``model`` and ``object``) holding the prompt's results: :func:`annotation_chunk`
  keeps them for the first real chunk, and turns the asynchronous filter's annotations (a choice
  with ``content_filter_offsets`` and no ``delta``) into chunks with an empty delta.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from llmrouter.errors import BadRequestError
from llmrouter.pipeline import Call, StreamState
from llmrouter.types import ModelResponseStream

__all__ = [
    "PROMPT_FILTER_RESULTS",
    "STREAM_OPTIONS_SINCE",
    "V1_VERSIONS",
    "ContentPolicyViolationError",
    "annotation_chunk",
    "api_version_problem",
    "attach_prompt_results",
    "base_path",
    "credential_header",
    "deployment_problem",
    "is_annotation",
    "is_v1",
    "request_url",
    "split_endpoint",
    "takes_stream_options",
    "version_query",
]

#: ``api_version`` values that select the v1 API (``{endpoint}/openai/v1/...``).
V1_VERSIONS: Final = frozenset({"v1", "preview"})
#: The first dated version whose chat API takes ``stream_options`` (and so reports a stream's
#: usage); older ones answer a 400 for the unknown field.
STREAM_OPTIONS_SINCE: Final = "2024-09-01"
#: Where a stream's prompt filter results wait for the first chunk (``StreamState.data`` key),
#: and the field that holds them on that chunk.
PROMPT_FILTER_RESULTS: Final = "prompt_filter_results"
_PENDING: Final = "azure.prompt_filter_results"

_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}(?:-preview)?$")
#: What Azure allows in a deployment name (letters, digits, ``-``, ``_``, ``.``; at most 64),
#: which is also what may stand in a URL path unescaped.
_DEPLOYMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ContentPolicyViolationError(BadRequestError):
    """400 whose ``error.code`` is ``content_filter``: Azure's content filter refused the prompt.

    Not retryable: the same prompt is refused again. ``content_filter_result`` holds what Azure
    says about each category (``{"hate": {"filtered": True, "severity": "high"}, "jailbreak":
    {"filtered": False, "detected": False}, ...}``), read from the error body's
    ``innererror``; ``None`` when the body has none. ``except BadRequestError`` still catches it.
    """

    @property
    def content_filter_result(self) -> dict[str, Any] | None:
        body = self.body
        error = body.get("error") if isinstance(body, dict) else None
        inner = error.get("innererror") if isinstance(error, dict) else None
        result = inner.get("content_filter_result") if isinstance(inner, dict) else None
        return result if isinstance(result, dict) else None


# --- where ----------------------------------------------------------------------------------------


def is_v1(version: str) -> bool:
    """Whether ``version`` selects the v1 API (else it is a dated version)."""
    return version in V1_VERSIONS


def api_version_problem(value: object) -> str | None:
    """What is wrong with an ``api_version`` value, or ``None``."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if value in V1_VERSIONS or _DATED.match(value):
        return None
    shown = value if len(value) <= 40 else value[:37] + "..."
    return (
        f"{shown!r} is not an Azure OpenAI API version: use a dated one such as '2024-10-21' or "
        "'2025-04-01-preview' (the deployments URL), or 'v1' / 'preview' (the v1 API)"
    )


def split_endpoint(base: str) -> tuple[str, bool]:
    """``(endpoint, says_v1)``: the resource's endpoint without a trailing ``/openai`` or
    ``/openai/v1`` (or slash), and whether it ended with ``/openai/v1``."""
    root = base.rstrip("/")
    if root.endswith("/openai/v1"):
        return root[: -len("/openai/v1")], True
    if root.endswith("/openai"):
        return root[: -len("/openai")], False
    return root, False


def deployment_problem(name: str) -> str | None:
    """What is wrong with a deployment name for the deployments URL, or ``None``."""
    if _DEPLOYMENT.match(name):
        return None
    shown = name if len(name) <= 70 else name[:67] + "..."
    return (
        f"{shown!r} is not an Azure deployment name (letters, digits, '-', '_' and '.', at most "
        "64, starting with a letter or digit): write azure/<your deployment name>"
    )


def version_query(version: str) -> str:
    """The query string a request carries for ``version`` (``""``: none)."""
    if version == "v1":
        return ""
    return "?api-version=" + version


def request_url(endpoint: str, version: str, deployment: str, path: str) -> str:
    """The full URL of an OpenAI-shaped ``path`` (``/chat/completions``, ``/embeddings``,
    ``/completions``, ``/models``) for a deployment, in the form ``version`` selects."""
    return base_path(endpoint, version, deployment, path) + path + version_query(version)


def base_path(endpoint: str, version: str, deployment: str, path: str) -> str:
    """What ``path`` goes under: ``{endpoint}/openai/v1``, ``{endpoint}/openai`` (the dated
    model list) or ``{endpoint}/openai/deployments/{deployment}``."""
    if is_v1(version):
        return endpoint + "/openai/v1"
    if path == "/models":
        return endpoint + "/openai"
    return f"{endpoint}/openai/deployments/{deployment}"


def takes_stream_options(version: str) -> bool:
    """Whether the API ``version`` knows ``stream_options`` (dated versions compare as text)."""
    return is_v1(version) or version >= STREAM_OPTIONS_SINCE


# --- who ------------------------------------------------------------------------------------------


def credential_header(kind: str, value: str) -> tuple[str, str]:
    """``("api-key", key)`` for an API key, ``("authorization", "Bearer <token>")`` for an
    Entra ID token (``kind`` ``"key"`` or ``"token"``)."""
    if kind == "key":
        return "api-key", value
    return "authorization", "Bearer " + value


# --- content filter annotations in streams --------------------------------------------------------


def is_annotation(raw: Mapping[str, Any]) -> bool:
    """Whether a stream event is one of Azure's filter annotations rather than a chunk: the
    prompt's results (``prompt_filter_results``, no choices) or any event with an empty
    ``object`` (the asynchronous filter's, whose choices have no ``delta``)."""
    if raw.get("object") == "":
        return True
    return PROMPT_FILTER_RESULTS in raw and not raw.get("choices")


def annotation_chunk(call: Call, raw: dict[str, Any], state: StreamState) -> dict[str, Any] | None:
    """An annotation event as an ordinary chunk, or ``None`` when it has nothing to show.

    The prompt's results wait in ``state`` for the next chunk (:func:`attach_prompt_results`);
    choices (the asynchronous filter's, without a ``delta``) get an empty ``delta`` and keep
    their filter fields, under the stream's id and model.
    """
    prompt_results = raw.pop(PROMPT_FILTER_RESULTS, None)
    if prompt_results is not None:
        state.data[_PENDING] = prompt_results
    choices = raw.get("choices")
    if not choices:
        return None
    for choice in choices:
        if isinstance(choice, dict):
            choice.setdefault("delta", {})
    raw["object"] = "chat.completion.chunk"
    raw["id"] = raw.get("id") or state.response_id or ""
    raw["model"] = raw.get("model") or state.model or call.model
    if not raw.get("created"):
        raw.pop("created", None)
    return raw


def attach_prompt_results(chunk: ModelResponseStream, state: StreamState) -> None:
    """Put the prompt results an annotation left in ``state`` on ``chunk`` (once)."""
    pending = state.data.pop(_PENDING, None)
    if pending is not None:
        setattr(chunk, PROMPT_FILTER_RESULTS, pending)
