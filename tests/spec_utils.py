"""Helpers to check JSON bodies against Together's official OpenAPI spec, and its SDK's types.

Shared by the emulator's tests (response bodies) and the Together plugin's contract tests
(request bodies and responses). The spec lives outside the repo (``../shared/together/openapi.yaml``,
or the path in ``LLMROUTER_TOGETHER_SPEC``); when it is absent, :func:`load_together_spec` returns
None and the spec checks skip with :data:`SPEC_MISSING_REASON`. The same bodies are then still
checked against the types of Together's official SDK (the ``together`` package, a dev dependency,
so every clone has it; its types are generated from the same spec): :func:`sdk_check_request`,
:func:`sdk_check_response`, :func:`sdk_check_chunk`.

The spec says OpenAPI 3.1 (JSON Schema 2020-12) but still marks nullable fields the 3.0 way,
with ``nullable: true``, which 2020-12 ignores. Real Together responses do send ``null`` there
(``logprobs: null``, ``usage: null`` in stream chunks), so :func:`validate_against` honours
``nullable`` as the spec's authors meant it: a nullable schema also accepts ``null``.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Collection, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SPEC_ENV",
    "SPEC_MISSING_REASON",
    "load_together_spec",
    "request_schema_for",
    "response_schema_for",
    "sdk_check_chunk",
    "sdk_check_request",
    "sdk_check_response",
    "spec_path",
    "validate_against",
]

SPEC_ENV = "LLMROUTER_TOGETHER_SPEC"
_SPEC_URI = "urn:together:openapi"


def spec_path() -> Path:
    """Where the spec is expected: ``$LLMROUTER_TOGETHER_SPEC``, else ``../shared/together``."""
    env = os.environ.get(SPEC_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared/together/openapi.yaml"


SPEC_MISSING_REASON = (
    f"Together OpenAPI spec not found at {spec_path()} (set {SPEC_ENV} to run the spec checks); "
    "the same bodies were checked against the together SDK's types instead"
)


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any] | None:
    p = Path(path)
    if not p.is_file():
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with p.open("rb") as fh:
        data = yaml.load(fh, Loader=loader)
    return data if isinstance(data, dict) else None


def load_together_spec() -> dict[str, Any] | None:
    """The parsed spec (cached), or None when the file is missing."""
    return _load(str(spec_path()))


def _nullable_to_2020(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable: true`` into JSON Schema 2020-12 terms."""
    if isinstance(node, list):
        return [_nullable_to_2020(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and any(
        isinstance(m, dict) and m.get("nullable") is True for m in all_of
    ):
        # ``allOf: [{nullable: true}, {$ref: X}]`` means "X or null"
        members = [
            {k: v for k, v in m.items() if k != "nullable"} if isinstance(m, dict) else m
            for m in all_of
        ]
        members = [m for m in members if m != {}]
        if members:
            node["allOf"] = members
        else:
            del node["allOf"]
        node["nullable"] = True
    nullable = node.get("nullable") is True
    if nullable:
        del node["nullable"]
    out = {key: _nullable_to_2020(value) for key, value in node.items()}
    if nullable:
        return {"anyOf": [{"type": "null"}, out]}
    return out


_registries: dict[int, tuple[dict[str, Any], Registry[Any]]] = {}


def _registry_for(spec: dict[str, Any]) -> Registry[Any]:
    """A registry holding the (nullable-converted) spec, built once per spec object."""
    cached = _registries.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    resource = Resource.from_contents(_nullable_to_2020(spec), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    _registries[id(spec)] = (spec, registry)
    return registry


def _schema_for(schema_ref_or_name: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema_ref_or_name, dict):
        schema = _nullable_to_2020(schema_ref_or_name)
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if isinstance(ref, str) and ref.startswith("#/"):
            return {**schema, "$ref": _SPEC_URI + ref}
        return dict(schema)
    name = schema_ref_or_name
    if name.startswith("#/"):
        return {"$ref": _SPEC_URI + name}
    return {"$ref": f"{_SPEC_URI}#/components/schemas/{name}"}


def validate_against(
    spec: dict[str, Any], schema_ref_or_name: str | dict[str, Any], instance: Any
) -> None:
    """Validate ``instance`` against a schema of the spec; raise ``jsonschema.ValidationError``.

    ``schema_ref_or_name`` is a component name (``"ChatCompletionResponse"``), a local ref
    (``"#/components/schemas/ChatCompletionResponse"``), or a schema dict such as
    :func:`request_schema_for` returns (its ``$ref`` s resolve into the spec).
    """
    registry = _registry_for(spec)
    validator = jsonschema.Draft202012Validator(_schema_for(schema_ref_or_name), registry=registry)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def _operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    key = "/" + path.strip("/")
    if key.startswith("/v1/"):
        key = key[3:]
    try:
        operation = spec["paths"][key][method.lower()]
    except KeyError:
        raise KeyError(f"the spec has no {method.upper()} {key}") from None
    if not isinstance(operation, dict):
        raise KeyError(f"the spec has no {method.upper()} {key}")
    return operation


def request_schema_for(spec: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    """The JSON request-body schema of an operation, e.g. ``"/chat/completions"``
    (``/v1`` prefix optional); usually ``{"$ref": "#/components/schemas/...Request"}``."""
    operation = _operation(spec, path, method)
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert isinstance(schema, dict)
    return schema


def response_schema_for(
    spec: dict[str, Any],
    path: str,
    method: str = "post",
    status: int | str = 200,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """The response schema of an operation for one status and content type."""
    operation = _operation(spec, path, method)
    schema = operation["responses"][str(status)]["content"][content_type]["schema"]
    assert isinstance(schema, dict)
    return schema


# --- the official SDK's types (always available: ``together`` is a dev dependency) ----------------


def _sdk_request_type(endpoint: str, stream: bool) -> Any:
    """The SDK's request-parameter TypedDict for an endpoint (``/chat/completions``...)."""
    from together.types import completion_create_params, embedding_create_params
    from together.types.chat import completion_create_params as chat_create_params

    endpoint = "/" + endpoint.strip("/").removeprefix("v1/")
    if endpoint == "/chat/completions":
        module: Any = chat_create_params
    elif endpoint == "/completions":
        module = completion_create_params
    elif endpoint == "/embeddings":
        return embedding_create_params.EmbeddingCreateParams
    else:
        raise KeyError(f"no SDK request type for {endpoint}")
    return (
        module.CompletionCreateParamsStreaming
        if stream
        else module.CompletionCreateParamsNonStreaming
    )


def _force(value: Any) -> Any:
    """Run pydantic's lazy validators: the SDK types ``messages``, ``tools`` ... as ``Iterable``,
    which pydantic validates only as the result is iterated."""
    if isinstance(value, dict):
        return {k: _force(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, Iterator)):
        return [_force(v) for v in value]
    return value


_ADAPTERS: dict[Any, Any] = {}


def sdk_check_request(
    endpoint: str, body: dict[str, Any], *, allowed_extra: Collection[str] = ()
) -> None:
    """Validate a request body against the SDK's parameter type for ``endpoint``.

    Strict types (``temperature="0.5"`` fails, ``stop`` must be a list), required fields, and no
    top-level field the SDK does not know except those in ``allowed_extra`` (the caller lists
    them with its reasons). Raises ``pydantic.ValidationError`` or ``AssertionError``.
    """
    from pydantic import TypeAdapter

    typed = _sdk_request_type(endpoint, body.get("stream") is True)
    known = set(typing.get_type_hints(typed))
    unknown = sorted(set(body) - known - set(allowed_extra))
    assert not unknown, f"fields the together SDK does not know for {endpoint}: {unknown}"
    # The adapter must outlive the lazy iterators it returns (pydantic-core panics otherwise).
    adapter = _ADAPTERS.get(typed)
    if adapter is None:
        adapter = _ADAPTERS[typed] = TypeAdapter(typed)
    _force(adapter.validate_python(body, strict=True))


def _sdk_model(endpoint: str, chunk: bool) -> Any:
    from together.types import Completion, CompletionChunk, Embedding
    from together.types.chat import ChatCompletion, ChatCompletionChunk

    endpoint = "/" + endpoint.strip("/").removeprefix("v1/")
    models: dict[tuple[str, bool], Any] = {
        ("/chat/completions", False): ChatCompletion,
        ("/chat/completions", True): ChatCompletionChunk,
        ("/completions", False): Completion,
        ("/completions", True): CompletionChunk,
        ("/embeddings", False): Embedding,
    }
    try:
        return models[(endpoint, chunk)]
    except KeyError:
        raise KeyError(f"no SDK {'chunk' if chunk else 'response'} type for {endpoint}") from None


def sdk_check_response(endpoint: str, body: Any) -> Any:
    """Validate a response body as the SDK does with ``_strict_response_validation=True``
    (pydantic validation of its generated model); returns the model."""
    return _sdk_model(endpoint, chunk=False).model_validate(body)


def sdk_check_chunk(endpoint: str, chunk: Any) -> Any:
    """Validate one stream event's JSON as the SDK's chunk type for ``endpoint``."""
    return _sdk_model(endpoint, chunk=True).model_validate(chunk)
