"""``GeminiEmulator``: Google's Gemini API (AI Studio keys) on 127.0.0.1, for tests and benchmarks.

    from google import genai
    from google.genai import types
    from llmrouter_gemini.testing import GeminiEmulator

    with GeminiEmulator() as emu:
        client = genai.Client(
            api_key="test-key", http_options=types.HttpOptions(base_url=emu.base_url)
        )
        client.models.generate_content(model="gemini-2.5-flash", contents="Hello")

It is the emulators' core (:class:`llmrouter.testing.emulator.BaseEmulator`: the HTTP server,
the request log with keys redacted, tenants, fault rules and the ``x-emulator-fault`` header,
stats, the ``reply``/``latency``/``reply_tokens`` knobs and the ``x-emulator-tokens`` header)
speaking the Gemini API as the official ``google-genai`` SDK (3.6) types state it, proven by
running that SDK against it (plugins/gemini/tests/test_sdk_emulator.py). Served under both
``/v1`` (the SDK's default) and ``/v1beta``:

- ``POST /{version}/models/{model}:generateContent``: a ``GenerateContentResponse``
  (``candidates`` with ``content.parts``, ``finishReason``, ``index``; ``usageMetadata``;
  ``modelVersion``; ``responseId``);
- ``POST /{version}/models/{model}:streamGenerateContent?alt=sse``: ``data:`` events, each a
  partial ``GenerateContentResponse``, with no end marker: the stream ends after the event that
  carries ``finishReason`` and the full ``usageMetadata`` (events are ``\\r\\n\\r\\n``-separated,
  as Google's servers send them). A ``functionCall`` part comes whole, in one event;
- ``POST /{version}/models/{model}:batchEmbedContents`` (what the SDK's ``embed_content`` calls)
  and ``:embedContent`` (one content); ``:countTokens``;
- ``GET /{version}/models`` (``pageSize``, ``pageToken``; answers ``models`` and
  ``nextPageToken`` while more remain) and ``GET /{version}/models/{model}``.

``base_url`` is the server root (``http://127.0.0.1:PORT``): the SDK's ``http_options.base_url``
is the host, and it adds the version. Auth: the ``x-goog-api-key`` header (what the SDK
sends), or ``?key=`` in the URL as the real API also takes it: the key is then taken out of the
recorded query and target, and the record's headers carry ``x-emulator-key-source: url`` so a
test can see that a client put its key in the URL. No key: 403 ``PERMISSION_DENIED``; a wrong
one (with ``api_key=``): 400 ``INVALID_ARGUMENT`` "API key not valid", with the
``API_KEY_INVALID`` ``ErrorInfo``, as Google answers them.

Errors are ``{"error": {"code", "message", "status", "details"?}}`` with Google's canonical
statuses (400 ``INVALID_ARGUMENT``, 401 ``UNAUTHENTICATED``, 403 ``PERMISSION_DENIED``,
404 ``NOT_FOUND``, 429 ``RESOURCE_EXHAUSTED`` with a ``google.rpc.RetryInfo`` detail whose
``retryDelay`` is the fault's ``retry_after`` (else ``ratelimit_reset``, else 1s), 500
``INTERNAL``, 503 ``UNAVAILABLE``, 504 ``DEADLINE_EXCEEDED``); a fault's ``type`` overrides the
status name and its ``code`` becomes an ``ErrorInfo`` ``reason``. An in-band stream error
(``stream_error_after``) is ``data: {"error": {...}}`` (503 ``UNAVAILABLE`` unless the fault sets
a status). The fault ``no_done`` ends the stream cleanly before the ``finishReason`` event (a
cut without an error: the client must call it incomplete); ``cut_after``/``stream_error_after``
count events. Fault rules match the endpoint with the model in it
(``path="/models/gemini-2.5-flash:generateContent"``) and ``model=`` matches the URL's model.

Replies are deterministic: the prompt-derived text of the other emulators (one word a token,
word counts for usage: ``promptTokenCount`` counts every text of the request, cached ones
included). ``stopSequences`` end the text before the first match (``finishReason: STOP``);
``maxOutputTokens`` cuts it (``MAX_TOKENS``; thinking counts toward it, as on the real 2.5
models). ``candidateCount`` gives that many (identical) candidates. A function call (a whole
``functionCall`` part with ``args`` filled in from the declaration's schema, ``finishReason:
STOP``) answers a request with ``functionDeclarations`` whose ``toolConfig`` forces one (mode
``ANY``: the first of ``allowedFunctionNames``, else the first declared) or whose last content
holds ``[[emulator:tool_call]]`` / ``[[emulator:tool_call:NAME]]``. A model that thinks
(``"thinking": true`` in the catalogue) thinks when ``thinkingConfig`` has ``includeThoughts``
or a non-zero ``thinkingBudget``/a ``thinkingLevel``: ``thoughtsTokenCount`` counts it, and with
``includeThoughts`` the reply starts with ``thought: true`` parts (the first part after them
carries a ``thoughtSignature``). ``responseMimeType: application/json`` makes the text JSON: a
sample instance of ``responseJsonSchema``/``responseSchema``, else ``{"reply": text}``.
Implicit caching is played: the contents before the last one, once seen for a model (at least
:attr:`GeminiEmulator.cache_min_tokens` words), are ``cachedContentTokenCount`` the next time
(``reset()`` forgets them).

Markers in the last content: ``[[emulator:blocked]]`` (or ``[[emulator:blocked:REASON]]``)
answers with ``promptFeedback.blockReason`` and no candidates; ``[[emulator:finish:REASON]]``
ends the candidate with that ``finishReason`` (``SAFETY``, ``RECITATION``, ... come without
content, as the real API sends them).

Field names are read as Google's proto JSON parser reads them: lowerCamelCase (the documented
form) or snake_case (google-genai 3.6 itself sends ``thinkingConfig``'s and
``functionDeclarations``' fields in snake_case); the request log keeps the body as sent.

``strict=True`` (the default) also rejects what the real API rejects beyond the shapes: unknown
fields at the top, in ``generationConfig``, ``thinkingConfig``, ``functionCallingConfig``,
contents and parts (Google answers ``Invalid JSON payload received. Unknown name "x": Cannot
find field.``), a part with two data fields (or none), roles other than ``user``/``model``,
empty ``contents`` or ``parts``, bad base64 in
``inlineData``, more than 5 stop sequences, ``candidateCount`` outside 1..8, ``temperature``
outside 0..2, ``topP`` outside 0..1, a schema without ``responseMimeType: application/json``,
both ``responseSchema`` and ``responseJsonSchema`` (or ``parameters`` and
``parametersJsonSchema``), ``allowedFunctionNames`` without mode ``ANY`` or naming an undeclared
function, bad function names, ``thinkingConfig`` on a model that does not think, a thinking
budget out of the model's range, and a prompt longer than the model's ``inputTokenLimit``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode

from llmrouter.testing import wire
from llmrouter.testing.dialect import Invalid
from llmrouter.testing.emulator import BaseEmulator, Call, Reply, marked_tool
from llmrouter.testing.faults import Fault
from llmrouter.testing.http11 import HTTPConnection, Request

__all__ = [
    "DEFAULT_MODELS",
    "VERSIONS",
    "GeminiEmulator",
    "model_info",
]

#: The API versions served (the SDK's default first).
VERSIONS: tuple[str, ...] = ("v1", "v1beta")

KEY_HEADER = "x-goog-api-key"
#: Put on the recorded headers of a request that carried its key in the URL (``?key=``).
KEY_SOURCE_HEADER = "x-emulator-key-source"

#: status -> (canonical status name, message): Google's codes and texts the API sends.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    499: ("CANCELLED", "The operation was cancelled."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    501: ("UNIMPLEMENTED", "Operation is not implemented, or supported, or enabled."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
_TYPE_PREFIX = "type.googleapis.com/google.rpc."

#: ``GenerateContentRequest``'s fields (the API reference, and what google-genai 3.6 sends).
_REQUEST_FIELDS = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "safetySettings",
        "generationConfig",
        "cachedContent",
        "labels",
        "serviceTier",
        "store",
    }
)
_GENERATION_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
        "audioTranscriptionConfig",
        "continuationToken",
    }
)
_THINKING_FIELDS = frozenset({"includeThoughts", "thinkingBudget", "thinkingLevel"})
_CALLING_FIELDS = frozenset({"mode", "allowedFunctionNames"})
_MODES = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")
_DATA_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_PART_FIELDS = frozenset(
    {
        *_DATA_FIELDS,
        "thought",
        "thoughtSignature",
        "videoMetadata",
        "mediaResolution",
        "partMetadata",
    }
)
_MIME_TYPES = ("text/plain", "application/json", "text/x.enum")
_FUNCTION_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}")
_BLOCK_MARKER = "[[emulator:blocked"
_FINISH_MARKER = "[[emulator:finish:"
_SIGNING_KEY = b"llmrouter-gemini-emulator"
#: Values whose keys are the user's (arguments, responses, schemas, labels): never renamed.
_OPAQUE = frozenset(
    {
        "args",
        "response",
        "parameters",
        "parametersJsonSchema",
        "responseSchema",
        "responseJsonSchema",
        "labels",
        "metadata",
    }
)


def _bad(message: str, status: int = 400) -> Invalid:
    return Invalid(status, message, type_=_ERRORS.get(status, ("UNKNOWN", ""))[0])


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _camelized(value: Any) -> Any:
    """``value`` with every field name in lowerCamelCase, as Google's proto JSON parser reads
    a body (it takes ``generation_config`` as well as ``generationConfig``; google-genai 3.6
    itself sends ``thinkingConfig``'s and ``functionDeclarations``' fields in snake_case).
    The values under :data:`_OPAQUE` names are left as sent. A copy: the log keeps the body as
    it came."""
    if isinstance(value, list):
        return [_camelized(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for name, item in value.items():
        key = _camel(name) if isinstance(name, str) and "_" in name.strip("_") else name
        out[key] = item if key in _OPAQUE else _camelized(item)
    return out


def _check_fields(obj: Mapping[str, Any], allowed: frozenset[str], where: str | None) -> None:
    """Google's answer to an unknown field."""
    at = f" at '{where}'" if where else ""
    for name in obj:
        if name not in allowed:
            raise _bad(
                f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
            )


def _signature(text: str) -> str:
    """The ``thoughtSignature`` the emulator gives a reply whose thinking had this text."""
    digest = hmac.new(_SIGNING_KEY, text.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"EmUl" + digest).decode()


def _retry_info(seconds: float) -> dict[str, Any]:
    return {"@type": _TYPE_PREFIX + "RetryInfo", "retryDelay": wire.format_seconds(seconds) + "s"}


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": _TYPE_PREFIX + "ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }


def _error_body(
    status: int, message: str, status_name: str, details: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name}
    if details:
        error["details"] = list(details)
    return {"error": error}


# ---------------------------------------------------------------------------------------------
# models


def _display_name(model_id: str) -> str:
    """``gemini-2.5-flash-lite`` -> ``Gemini 2.5 Flash-Lite``."""
    words = model_id.split("-")
    out: list[str] = []
    for word in words:
        if out and word == "lite":
            out[-1] += "-Lite"
        else:
            out.append(word if word[:1].isdigit() else word.capitalize())
    return " ".join(out)


_CHAT_METHODS = ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")
_EMBED_METHODS = ("embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent")


def model_info(
    model_id: str,
    *,
    display_name: str | None = None,
    version: str = "001",
    description: str | None = None,
    input_token_limit: int = 1_048_576,
    output_token_limit: int = 65_536,
    methods: Sequence[str] = _CHAT_METHODS,
    thinking: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``Model`` as ``GET /v1/models`` lists it (``name`` is ``models/<id>``); ``thinking``
    is None for a model without the flag (an embedding model). ``extra``: more fields, in the
    API's camelCase."""
    entry: dict[str, Any] = {
        "name": f"models/{model_id}",
        "version": version,
        "displayName": display_name or _display_name(model_id),
        "description": description or f"{_display_name(model_id)} (emulated)",
        "inputTokenLimit": input_token_limit,
        "outputTokenLimit": output_token_limit,
        "supportedGenerationMethods": list(methods),
    }
    if "generateContent" in methods:
        entry.update({"temperature": 1.0, "topP": 0.95, "topK": 64, "maxTemperature": 2.0})
    if thinking is not None:
        entry["thinking"] = thinking
    entry.update(extra)
    return entry


#: The catalogue ``GET /v1/models`` lists, in the API's order.
DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    model_info("gemini-2.5-pro", thinking=True),
    model_info("gemini-2.5-flash", thinking=True),
    model_info("gemini-2.5-flash-lite", thinking=True),
    model_info("gemini-2.0-flash", output_token_limit=8192, thinking=False),
    model_info("gemini-2.0-flash-lite", output_token_limit=8192, thinking=False),
    model_info(
        "gemini-embedding-001",
        input_token_limit=2048,
        output_token_limit=1,
        methods=_EMBED_METHODS,
        embeddingDimension=3072,
    ),
    model_info(
        "text-embedding-004",
        version="004",
        input_token_limit=2048,
        output_token_limit=1,
        methods=_EMBED_METHODS,
        embeddingDimension=768,
    ),
)
#: Catalogue fields the emulator reads but the real API does not list (taken out of answers).
_PRIVATE_FIELDS = ("embeddingDimension",)


# ---------------------------------------------------------------------------------------------
# request checks


def _texts(content: object) -> list[str]:
    """The words of a ``Content``: text parts, function calls' args and responses."""
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return []
    out: list[str] = []
    for part in content["parts"]:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            out.append(part["text"])
        for name in ("functionCall", "functionResponse"):
            if isinstance(part.get(name), dict):
                out.append(wire.dumps(part[name]))
    return out


def _word_count(contents: Sequence[object]) -> int:
    return sum(len(text.split()) for content in contents for text in _texts(content))


def _user_text(content: object) -> str:
    """The text parts of a content (where the markers are looked for)."""
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return ""
    return " ".join(
        p["text"]
        for p in content["parts"]
        if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def _lower_types(schema: object) -> object:
    """Gemini's ``Schema`` (``"type": "OBJECT"``) as JSON Schema's lower-case types, so the
    sample instance of either form is made the same way."""
    if isinstance(schema, dict):
        return {
            k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _sample(schema: object) -> str:
    """A sample instance of a schema (either form), as JSON text."""
    schema = _lower_types(schema)
    if isinstance(schema, dict) and schema.get("type") not in (None, "object"):
        return json.dumps(
            json.loads(
                wire.tool_call_arguments(
                    {"function": {"parameters": {"type": "object", "properties": {"v": schema}}}}
                )
            )["v"]
        )
    return wire.tool_call_arguments({"function": {"parameters": schema}})


class _Checker:
    """The checks of one ``generateContent`` body (``strict``: also the rules beyond shapes).
    Messages name the place as Google's do (``contents[0].parts[1]``)."""

    def __init__(self, body: Mapping[str, Any], model: Mapping[str, Any], *, strict: bool) -> None:
        self.body = body
        self.model = model
        self.strict = strict

    def run(self) -> None:
        body = self.body
        if self.strict:
            _check_fields(body, _REQUEST_FIELDS, None)
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise _bad("* GenerateContentRequest.contents: contents is not specified\n")
        for i, content in enumerate(contents):
            self.content(content, f"contents[{i}]", roles=("user", "model"))
        system = body.get("systemInstruction")
        if system is not None:
            self.content(system, "system_instruction", roles=("user", "system", "model"))
        self.tools()
        self.config()

    def content(self, content: object, where: str, roles: Sequence[str]) -> None:
        if not isinstance(content, dict):
            raise _bad(f"Invalid value at '{where}': expected a Content object")
        if self.strict:
            _check_fields(content, frozenset({"role", "parts"}), where)
        role = content.get("role")
        if role is not None and (not isinstance(role, str) or (self.strict and role not in roles)):
            raise _bad(f"Please use a valid role: {', '.join(roles)}.")
        parts = content.get("parts")
        if not isinstance(parts, list) or (self.strict and not parts):
            raise _bad(
                f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n"
            )
        for j, part in enumerate(parts):
            self.part(part, f"{where}.parts[{j}]")

    def part(self, part: object, where: str) -> None:
        if not isinstance(part, dict):
            raise _bad(f"Invalid value at '{where}': expected a Part object")
        if self.strict:
            _check_fields(part, _PART_FIELDS, where)
        data = [name for name in _DATA_FIELDS if name in part]
        if len(data) > 1:
            raise _bad(
                f"Invalid value at '{where}.data' (oneof), oneof field 'data' is already set. "
                f"Cannot set '{data[1]}'"
            )
        if not data and self.strict:
            raise _bad(
                f"* GenerateContentRequest.{where}.data: required oneof field 'data' "
                "must have one initialized field\n"
            )
        if "text" in part and not isinstance(part["text"], str):
            raise _bad(f"Invalid value at '{where}.text' (TYPE_STRING)")
        inline = part.get("inlineData")
        if inline is not None:
            if not isinstance(inline, dict) or not isinstance(inline.get("mimeType"), str):
                raise _bad(
                    f"* GenerateContentRequest.{where}.inline_data.mime_type: "
                    "mime_type is not specified\n"
                )
            try:
                base64.b64decode(str(inline.get("data", "")), validate=True)
            except (binascii.Error, ValueError):
                raise _bad(
                    f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding "
                    "failed"
                ) from None
        file_data = part.get("fileData")
        if file_data is not None and (
            not isinstance(file_data, dict) or not isinstance(file_data.get("fileUri"), str)
        ):
            raise _bad(
                f"* GenerateContentRequest.{where}.file_data.file_uri: file_uri is not specified\n"
            )
        for name in ("functionCall", "functionResponse"):
            value = part.get(name)
            if value is not None and (
                not isinstance(value, dict) or not isinstance(value.get("name"), str)
            ):
                raise _bad(f"* GenerateContentRequest.{where}.{name}.name: Name is not set\n")

    def declarations(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for tool in self.body.get("tools") or ():
            if isinstance(tool, dict) and isinstance(tool.get("functionDeclarations"), list):
                out += [d for d in tool["functionDeclarations"] if isinstance(d, dict)]
        return out

    def tools(self) -> None:
        tools = self.body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise _bad("Invalid value at 'tools': expected a list")
        names: list[str] = []
        for i, declaration in enumerate(self.declarations()):
            name = declaration.get("name")
            where = f"tools[0].function_declarations[{i}]"
            if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
                raise _bad(
                    f"* GenerateContentRequest.{where}.name: Invalid function name. Must start "
                    "with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain "
                    "underscores, dots, colons and dashes, with a maximum length of 128.\n"
                )
            if (
                self.strict
                and "parameters" in declaration
                and "parametersJsonSchema" in declaration
            ):
                raise _bad(
                    f"* GenerateContentRequest.{where}: parameters and "
                    "parameters_json_schema cannot both be set\n"
                )
            names.append(name)
        config = self.body.get("toolConfig")
        if config is None:
            return
        calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
        if calling is None:
            return
        if not isinstance(calling, dict):
            raise _bad("Invalid value at 'tool_config.function_calling_config'")
        if self.strict:
            _check_fields(calling, _CALLING_FIELDS, "tool_config.function_calling_config")
        mode = calling.get("mode", "AUTO")
        if mode not in _MODES:
            raise _bad(
                f"Invalid value at 'tool_config.function_calling_config.mode' "
                f"(type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig."
                f'Mode), "{mode}"'
            )
        allowed = calling.get("allowedFunctionNames")
        if allowed and self.strict:
            if mode not in ("ANY", "VALIDATED"):
                raise _bad(
                    "* GenerateContentRequest.tool_config.function_calling_config."
                    "allowed_function_names: only allowed when mode is ANY or VALIDATED.\n"
                )
            for name in allowed:
                if name not in names:
                    raise _bad(
                        "* GenerateContentRequest.tool_config.function_calling_config."
                        f"allowed_function_names: function {name!r} is not declared.\n"
                    )

    def config(self) -> None:
        config = self.body.get("generationConfig")
        if config is None:
            return
        if not isinstance(config, dict):
            raise _bad("Invalid value at 'generation_config': expected an object")
        if self.strict:
            _check_fields(config, _GENERATION_FIELDS, "generation_config")
        where = "GenerateContentRequest.generation_config"
        for name, low, high in (("temperature", 0.0, 2.0), ("topP", 0.0, 1.0)):
            value = config.get(name)
            if value is not None and (
                not isinstance(value, (int, float)) or (self.strict and not low <= value <= high)
            ):
                raise _bad(f"* {where}.{name}: must be between {low} and {high}, inclusive\n")
        count = config.get("candidateCount")
        if count is not None and (not wire.is_int(count) or not 1 <= count <= 8):
            raise _bad(f"* {where}.candidate_count: must be between 1 and 8, inclusive\n")
        most = config.get("maxOutputTokens")
        if most is not None and (not wire.is_int(most) or most < 1):
            raise _bad(f"* {where}.max_output_tokens: must be a positive integer\n")
        stops = config.get("stopSequences")
        if stops is not None:
            if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
                raise _bad(f"Invalid value at '{where}.stop_sequences': expected strings")
            if self.strict and len(stops) > 5:
                raise _bad(f"* {where}.stop_sequences: at most 5 stop sequences are allowed\n")
        mime = config.get("responseMimeType")
        if mime is not None and mime not in _MIME_TYPES:
            raise _bad(
                f"* {where}.response_mime_type: allowed mimetypes are {', '.join(_MIME_TYPES)}.\n"
            )
        schemas = [n for n in ("responseSchema", "responseJsonSchema") if n in config]
        if self.strict and schemas:
            if len(schemas) > 1:
                raise _bad(
                    f"* {where}: response_schema and response_json_schema cannot both be set\n"
                )
            if mime not in ("application/json", "text/x.enum"):
                raise _bad(
                    f"* {where}.response_mime_type: response_mime_type must be one of "
                    "application/json, text/x.enum when response_schema is set.\n"
                )
        self.thinking(config.get("thinkingConfig"))

    def thinking(self, thinking: object) -> None:
        if thinking is None:
            return
        if not isinstance(thinking, dict):
            raise _bad("Invalid value at 'generation_config.thinking_config'")
        if not self.strict:
            return
        _check_fields(thinking, _THINKING_FIELDS, "generation_config.thinking_config")
        budget = thinking.get("thinkingBudget")
        if not self.model.get("thinking"):
            if thinking.get("includeThoughts") or budget not in (None, 0):
                raise _bad("Thinking is not enabled for models/" + _model_id(self.model))
            return
        if budget is None:
            return
        pro = "pro" in _model_id(self.model)
        low, high = (128, 32_768) if pro else (0, 24_576)
        if not wire.is_int(budget) or (budget != -1 and not low <= budget <= high):
            if budget == 0 and pro:
                raise _bad("Budget 0 is invalid. This model only works in thinking mode.")
            raise _bad(
                f"The thinking budget {budget} is invalid. Please choose a value between "
                f"{low} and {high}."
            )


def _model_id(entry: Mapping[str, Any]) -> str:
    return str(entry["name"]).removeprefix("models/")


# ---------------------------------------------------------------------------------------------
# the reply


@dataclass
class _Candidate:
    """One candidate's parts as pieces: (kind, pieces) with kind ``thought``/``text``/``call``."""

    parts: list[tuple[str, list[str]]]
    finish_reason: str
    call: dict[str, Any] | None = None
    signature: str | None = None

    def part_dicts(self, pieces: Mapping[int, Sequence[str]] | None = None) -> list[dict[str, Any]]:
        """The content's parts (``pieces``: the chosen pieces of each part, for a stream
        event; None: all of them)."""
        out: list[dict[str, Any]] = []
        signed = False
        for i, (kind, whole) in enumerate(self.parts):
            chosen = whole if pieces is None else pieces.get(i)
            if chosen is None:
                continue
            if kind == "call":
                part: dict[str, Any] = {"functionCall": self.call}
            else:
                part = {"text": "".join(chosen)}
                if kind == "thought":
                    part["thought"] = True
            if kind != "thought" and self.signature and not signed and i == self._first_answer():
                part["thoughtSignature"] = self.signature
                signed = True
            out.append(part)
        return out

    def _first_answer(self) -> int:
        return next((i for i, (kind, _) in enumerate(self.parts) if kind != "thought"), -1)

    def body(
        self, index: int, pieces: Mapping[int, Sequence[str]] | None = None, *, final: bool = True
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {}
        parts = self.part_dicts(pieces)
        if parts or (pieces is None and self.finish_reason in ("STOP", "MAX_TOKENS")):
            candidate["content"] = {"parts": parts, "role": "model"}
            if not parts:
                del candidate["content"]["parts"]
        if final:
            candidate["finishReason"] = self.finish_reason
        candidate["index"] = index
        return candidate


@dataclass
class _Turn:
    """The whole answer: its candidates, usage, and a block reason (then no candidates)."""

    model: str
    candidates: list[_Candidate]
    prompt_tokens: int
    cached_tokens: int
    thought_tokens: int
    output_tokens: int
    block_reason: str | None = None
    response_id: str = field(default_factory=lambda: wire.random_alnum(22))

    def usage(self, *, final: bool = True) -> dict[str, Any]:
        usage: dict[str, Any] = {"promptTokenCount": self.prompt_tokens}
        if not final:
            usage["totalTokenCount"] = self.prompt_tokens
            return usage
        if self.block_reason is None:
            usage["candidatesTokenCount"] = self.output_tokens
        usage["totalTokenCount"] = self.prompt_tokens + self.output_tokens + self.thought_tokens
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.prompt_tokens}]
        if self.cached_tokens:
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.cached_tokens}]
        if self.thought_tokens:
            usage["thoughtsTokenCount"] = self.thought_tokens
        return usage

    def response(self) -> dict[str, Any]:
        """The whole ``GenerateContentResponse``."""
        out: dict[str, Any] = {}
        if self.block_reason is not None:
            out["promptFeedback"] = {"blockReason": self.block_reason}
        else:
            out["candidates"] = [c.body(i) for i, c in enumerate(self.candidates)]
        return {**out, **self._tail()}

    def _tail(self, *, final: bool = True) -> dict[str, Any]:
        return {
            "usageMetadata": self.usage(final=final),
            "modelVersion": self.model,
            "responseId": self.response_id,
        }

    def events(self) -> tuple[list[bytes], bytes]:
        """The stream: every event before the finishing one, and the finishing one (the last
        piece of each candidate, ``finishReason`` and the full usage)."""
        if self.block_reason is not None:
            return [], _sse(self.response())
        steps: list[list[tuple[int, int, str]]] = []  # per event: (candidate, part, piece)
        for c, candidate in enumerate(self.candidates):
            step = 0
            for p, (kind, pieces) in enumerate(candidate.parts):
                # a function call comes whole, in one event
                for piece in ["".join(pieces)] if kind == "call" else pieces:
                    while len(steps) <= step:
                        steps.append([])
                    steps[step].append((c, p, piece))
                    step += 1
        events: list[bytes] = []
        for n, event_pieces in enumerate(steps):
            final = n == len(steps) - 1
            candidates = []
            for c, candidate in enumerate(self.candidates):
                chosen: dict[int, list[str]] = {}
                for cc, p, piece in event_pieces:
                    if cc == c:
                        chosen.setdefault(p, []).append(piece)
                if chosen or final:
                    candidates.append(candidate.body(c, chosen, final=final))
            events.append(_sse({"candidates": candidates, **self._tail(final=final)}))
        if not events:
            return [], _sse(self.response())
        return events[:-1], events[-1]


def _sse(data: Mapping[str, Any]) -> bytes:
    return b"data: " + wire.dumps(data).encode() + b"\r\n\r\n"


def _stop_at(tokens: list[str], stops: object) -> tuple[list[str], bool]:
    """The tokens up to the first stop sequence (the match left out), and whether one hit."""
    if not isinstance(stops, list) or not stops:
        return tokens, False
    text = "".join(tokens)
    cuts = [text.find(s) for s in stops if isinstance(s, str) and s and s in text]
    if not cuts:
        return tokens, False
    return wire.split_tokens(text[: min(cuts)]), True


# ---------------------------------------------------------------------------------------------
# the emulator


class GeminiEmulator(BaseEmulator):
    """The Gemini API (generateContent, its SSE stream, embeddings, models) on localhost.

    ``strict`` (default True) refuses what the real API refuses beyond the shapes (the module
    docstring lists it); ``require_key`` (default True) answers a request without a key with
    Google's 403. Everything else is :class:`BaseEmulator`'s.
    """

    api_versions: ClassVar[tuple[str, ...]] = VERSIONS
    stream_error_status: ClassVar[int] = 503
    default_reply: ClassVar[str] = "This is a deterministic reply from the Gemini emulator."
    bad_json_message: ClassVar[str] = "Invalid JSON payload received. Unexpected token."
    not_object_message: ClassVar[str] = (
        "Invalid JSON payload received. Expected an object at the top level."
    )
    strict: bool = True
    #: Contents before the last one are an implicit cache hit the next time they are seen, when
    #: they hold at least this many words (the real models' minimum is 1024 or 2048 tokens).
    cache_min_tokens: ClassVar[int] = 32

    @property
    def base_url(self) -> str:
        """The SDK's ``http_options.base_url``: the server root (the SDK adds ``/v1``)."""
        return self.url

    def base_url_for(self, tenant: str) -> str:
        return self._tenant_root(tenant)

    def set_models(self, models: Sequence[str | Mapping[str, Any]]) -> None:
        """Replace the catalogue: ids (``model_info`` defaults) or ``Model`` dicts (``name``
        with or without ``models/``), in the order ``/v1/models`` lists them."""
        index: dict[str, dict[str, Any]] = {}
        for item in models:
            if isinstance(item, str):
                entry = model_info(item)
            elif isinstance(item.get("name"), str):
                model_id = str(item["name"]).removeprefix("models/")
                entry = {**model_info(model_id), **item, "name": f"models/{model_id}"}
            else:
                raise ValueError(f"model entry without a 'name': {item!r}")
            index[_model_id(entry)] = entry
        with self._lock:
            self._models = index

    def add_model(self, model_id: str, **fields: Any) -> None:
        """Add (or replace) one model, listed first; ``fields`` go to :func:`model_info`."""
        entry = model_info(model_id, **fields)
        self.set_models([entry, *(m for m in self.models if _model_id(m) != model_id)])

    def _reset_state(self) -> None:
        # digests of the content prefixes seen (implicit caching); replaced, never cleared in
        # place, so the event-loop thread never sees it half-reset
        self._cached: set[str] = set()

    # -- requests: the key in the URL, the model in the path -------------------------------

    def _answer(self, request: Request, conn: HTTPConnection) -> Reply:
        """Take a ``?key=`` out of the URL before anything records it: it becomes the key
        header (unless one was sent) and the record says where it came from."""
        if "key=" in request.query:
            query = parse_qs(request.query, keep_blank_values=True)
            keys = query.pop("key", None)
            if keys is not None:
                request.query = urlencode(query, doseq=True)
                request.target = request.path + ("?" + request.query if request.query else "")
                headers = dict(request.headers)
                headers.setdefault(KEY_HEADER, keys[-1])
                headers[KEY_SOURCE_HEADER] = "url"
                request.headers = headers
        return super()._answer(request, conn)

    def _route(self, endpoint: str) -> tuple[str, str] | None:
        if endpoint == "/models":
            return ("GET", "_list_models")
        if not endpoint.startswith("/models/") or len(endpoint) == len("/models/"):
            return None
        model, sep, method = endpoint[len("/models/") :].partition(":")
        if not model or "/" in model:
            return None
        if not sep:
            return ("GET", "_get_model")
        handler = {
            "generateContent": "_generate",
            "streamGenerateContent": "_generate",
            "batchEmbedContents": "_batch_embed",
            "embedContent": "_embed",
            "countTokens": "_count_tokens",
        }.get(method)
        return ("POST", handler) if handler else None

    def _wants_stream(self, call: Call) -> bool:
        return call.endpoint.endswith(":streamGenerateContent")

    def _rule_fault(self, endpoint: str, model: object, tenant: str) -> Fault | None:
        """Rules' ``model=`` matches the model in the URL (a Gemini body names none)."""
        return BaseEmulator._rule_fault(self, endpoint, _url_model(endpoint), tenant)

    def _version(self, call: Call) -> str:
        path = call.request.path
        if path.startswith("/t/"):
            path = "/" + path[3:].partition("/")[2]
        return path[1:].partition("/")[0]

    # -- the wire's part -------------------------------------------------------------------

    def _default_models(self) -> Sequence[str | Mapping[str, Any]]:
        return DEFAULT_MODELS

    def _sent_key(self, headers: Mapping[str, str]) -> str | None:
        return headers.get(KEY_HEADER, "").strip() or None

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        key = self._sent_key(headers)
        if key is None:
            return not self.require_key
        return self.api_key is None or key == self.api_key

    def _auth_failure(self, call: Call) -> Reply:
        if self._sent_key(call.request.headers) is None:
            return self._google_error(
                call,
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        return self._google_error(
            call,
            400,
            "API key not valid. Please pass a valid API key.",
            details=[_error_info("API_KEY_INVALID")],
        )

    def _default_error(self, status: int, code: str | None) -> tuple[str, str, str | None]:
        name, message = _ERRORS.get(status) or (self._error_type(status), f"Error {status}")
        return message, name, code

    def _error_type(self, status: int) -> str:
        known = _ERRORS.get(status)
        if known is not None:
            return known[0]
        return "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"

    def _error_response(
        self, status: int, message: str, type_: str, code: str | None, param: str | None
    ) -> tuple[Any, Sequence[tuple[str, str]]]:
        details = [_error_info(code)] if code and code not in _CORE_CODES else []
        if status == 429:
            details.append(_retry_info(1.0))
        return _error_body(status, message, type_, details), ()

    def _google_error(
        self,
        call: Call,
        status: int,
        message: str,
        *,
        status_name: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        headers: Sequence[tuple[str, str]] = (),
    ) -> Reply:
        body = _error_body(status, message, status_name or self._error_type(status), details)
        self._send(call, status, wire.dumps(body).encode(), headers)
        return None

    def _fault_status(self, call: Call, fault: Fault) -> Reply:
        """A fault's error status: Google's body, a ``RetryInfo`` on a 429 (its delay: the
        fault's ``retry_after``, else ``ratelimit_reset``, else 1s), and the ``retry-after``
        headers only when the fault asks for them (Google's API sends none)."""
        status = fault.status
        assert status is not None
        message, name, _ = self._default_error(status, None)
        headers: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            headers.append(("retry-after", wire.format_seconds(fault.retry_after)))
        if fault.retry_after_ms is not None:
            headers.append(("retry-after-ms", str(fault.retry_after_ms)))
        details: list[dict[str, Any]] = []
        if fault.code:
            details.append(_error_info(fault.code))
        if status == 429:
            delay = fault.retry_after if fault.retry_after is not None else fault.ratelimit_reset
            details.append(_retry_info(1.0 if delay is None else delay))
        return self._google_error(
            call,
            status,
            fault.message if fault.message is not None else message,
            status_name=fault.type or name,
            details=details,
            headers=headers,
        )

    def _stream_error_event(self, fault: Fault) -> bytes:
        message, name, code = self._inband_error(fault)
        status = fault.status if fault.status is not None else self.stream_error_status
        details = [_error_info(code)] if code else []
        return _sse(_error_body(status, message, name, details))

    def _malformed_body(self) -> bytes:
        return b'{"candidates":[{"content":{"parts":[{"te'

    # -- endpoints -------------------------------------------------------------------------

    def _entry(self, call: Call, method: str) -> dict[str, Any]:
        """The catalogue entry of the URL's model, which must support ``method``."""
        model = _url_model(call.endpoint) or ""
        with self._lock:
            entry = self._models.get(model)
        if entry is None or method not in entry.get("supportedGenerationMethods", ()):
            raise _bad(
                f"models/{model} is not found for API version {self._version(call)}, or is not "
                f"supported for {method}. Call ListModels to see the list of available models "
                "and their supported methods.",
                404,
            )
        return entry

    def _generate(self, call: Call) -> Reply:
        entry = self._entry(call, "generateContent")
        body: dict[str, Any] = _camelized(call.body)
        checker = _Checker(body, entry, strict=self.strict)
        checker.run()
        turn = self._turn(call, body, entry, checker.declarations())
        if self._wants_stream(call):
            events, end = turn.events()
            return self._stream(
                call,
                events,
                end=end,
                error_event=self._stream_error_event,
                broken=b'data: {"candidates":[{"content":{"parts":[{"te\r\n\r\n',
            )
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, turn.response())
        return None

    def _count_tokens(self, call: Call) -> Reply:
        entry = self._entry(call, "countTokens")
        body: dict[str, Any] = _camelized(call.body)
        inner = body.get("generateContentRequest")
        if isinstance(inner, dict):
            _Checker(inner, entry, strict=self.strict).run()
            body = inner
        contents = body.get("contents")
        if not isinstance(contents, list):
            raise _bad("* CountTokensRequest.contents: contents is not specified\n")
        system = body.get("systemInstruction")
        total = _word_count([*contents, *([system] if system else [])])
        self._send_json(
            call,
            {
                "totalTokens": total,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}],
            },
        )
        return None

    def _embedding(self, entry: Mapping[str, Any], request: object, where: str) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("content"), dict):
            raise _bad(f"* {where}.content: content is not specified\n")
        if self.strict:
            _check_fields(
                request,
                frozenset(
                    {
                        "model",
                        "content",
                        "taskType",
                        "title",
                        "outputDimensionality",
                        "autoTruncate",
                    }
                ),
                where,
            )
            named = request.get("model")
            if named is not None and named != entry["name"]:
                raise _bad(
                    f"* {where}.model: the request's model {named!r} does not match "
                    f"{entry['name']!r} in the URL\n"
                )
        _Checker({}, entry, strict=self.strict).content(
            request["content"], where + ".content", roles=("user", "model")
        )
        text = " ".join(_texts(request["content"]))
        if len(text.split()) > entry.get("inputTokenLimit", 2048) and self.strict:
            raise _bad(f"* {where}: the input is longer than {entry['inputTokenLimit']} tokens\n")
        dim = request.get("outputDimensionality")
        if dim is None:
            dim = entry.get("embeddingDimension", 768)
        if not wire.is_int(dim) or not 1 <= dim <= 3072:
            raise _bad(f"* {where}.output_dimensionality: must be between 1 and 3072\n")
        return {"values": wire.embedding_vector(text, dim)}

    def _batch_embed(self, call: Call) -> Reply:
        entry = self._entry(call, "embedContent")
        body: dict[str, Any] = _camelized(call.body)
        if self.strict:
            _check_fields(body, frozenset({"requests"}), None)
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _bad("* BatchEmbedContentsRequest.requests: requests is not specified\n")
        if len(requests) > 100:
            raise _bad(
                "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"
            )
        embeddings = [
            self._embedding(entry, request, f"BatchEmbedContentsRequest.requests[{i}]")
            for i, request in enumerate(requests)
        ]
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, {"embeddings": embeddings})
        return None

    def _embed(self, call: Call) -> Reply:
        entry = self._entry(call, "embedContent")
        embedding = self._embedding(entry, _camelized(call.body), "EmbedContentRequest")
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, {"embedding": embedding})
        return None

    def _list_models(self, call: Call) -> Reply:
        query = parse_qs(call.request.query)
        raw_size = query.get("pageSize", ["50"])[-1]
        if not raw_size.isdigit():
            raise _bad(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size}\"")
        size = min(int(raw_size) or 50, 1000)
        token = query.get("pageToken", [""])[-1]
        start = _page_offset(token) if token else 0
        if start is None:
            raise _bad("Invalid page token.")
        listed = [_public(m) for m in self.models]
        page = listed[start : start + size]
        answer: dict[str, Any] = {"models": page}
        if start + size < len(listed):
            answer["nextPageToken"] = _page_token(start + size)
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, answer)
        return None

    def _get_model(self, call: Call) -> Reply:
        model = call.endpoint[len("/models/") :]
        with self._lock:
            entry = self._models.get(model)
        if entry is None:
            raise _bad(f"models/{model} is not found for API version {self._version(call)}", 404)
        self._send_json(call, _public(entry))
        return None

    # -- the reply -------------------------------------------------------------------------

    def _turn(
        self,
        call: Call,
        body: Mapping[str, Any],
        entry: Mapping[str, Any],
        declarations: list[dict[str, Any]],
    ) -> _Turn:
        """Decide the answer: a block, or each candidate's thinking then a call or text,
        within ``maxOutputTokens``."""
        model = _model_id(entry)
        contents: list[Any] = body["contents"]
        system = body.get("systemInstruction")
        prompt_tokens = _word_count([*([system] if system else []), *contents])
        limit = entry.get("inputTokenLimit")
        if self.strict and wire.is_int(limit) and prompt_tokens > limit:
            raise _bad(
                f"The input token count ({prompt_tokens}) exceeds the maximum number of tokens "
                f"allowed ({limit})."
            )
        cached = self._cached_tokens(model, system, contents[:-1])
        last = _user_text(contents[-1])
        if _BLOCK_MARKER in last:
            reason = last.split(_BLOCK_MARKER, 1)[1].split("]]", 1)[0].lstrip(":") or "OTHER"
            return _Turn(model, [], prompt_tokens, cached, 0, 0, block_reason=reason)
        config = body.get("generationConfig") or {}
        most = config.get("maxOutputTokens")
        thought = self._thought(entry, config, last)
        include = bool((config.get("thinkingConfig") or {}).get("includeThoughts"))
        candidates: list[_Candidate] = []
        thought_tokens = output_tokens = 0
        for _ in range(config.get("candidateCount") or 1):
            room = most if wire.is_int(most) else 1 << 30
            parts: list[tuple[str, list[str]]] = []
            spent = min(len(thought), room)
            if include and spent:
                parts.append(("thought", thought[:spent]))
            thought_tokens += spent
            room -= spent
            call_part = self._function_call(body, declarations, last)
            finish = "STOP"
            if call_part is not None:
                parts.append(("call", wire.split_tokens(json.dumps(call_part["args"]))))
            else:
                tokens = self._reply_tokens(call, config, last)
                tokens, _ = _stop_at(tokens, config.get("stopSequences"))
                if len(tokens) > room:
                    tokens, finish = tokens[:room], "MAX_TOKENS"
                if tokens:
                    parts.append(("text", tokens))
                output_tokens += len(tokens)
            if call_part is not None:
                output_tokens += len(parts[-1][1])
            if _FINISH_MARKER in last:
                finish = last.split(_FINISH_MARKER, 1)[1].split("]]", 1)[0] or finish
                if finish not in ("STOP", "MAX_TOKENS"):
                    parts = []
            signature = _signature("".join(thought)) if thought and parts else None
            candidates.append(_Candidate(parts, finish, call_part, signature))
        return _Turn(model, candidates, prompt_tokens, cached, thought_tokens, output_tokens)

    def _thought(self, entry: Mapping[str, Any], config: Mapping[str, Any], last: str) -> list[str]:
        """The thinking's tokens (none unless the model thinks and the request asks)."""
        thinking = config.get("thinkingConfig")
        if not entry.get("thinking") or not isinstance(thinking, dict):
            return []
        budget = thinking.get("thinkingBudget")
        if budget == 0 or not (
            thinking.get("includeThoughts") or budget is not None or thinking.get("thinkingLevel")
        ):
            return []
        snippet = " ".join(last.split()[:12])
        tokens = wire.split_tokens(f"**Thinking** The user said: {snippet}. I will answer plainly.")
        if wire.is_int(budget) and budget > 0:
            tokens = tokens[:budget]
        return tokens

    def _function_call(
        self, body: Mapping[str, Any], declarations: list[dict[str, Any]], last: str
    ) -> dict[str, Any] | None:
        """The ``functionCall`` this request makes the model send, if any."""
        if not declarations:
            return None
        by_name = {d["name"]: d for d in declarations}
        config = body.get("toolConfig") or {}
        calling = config.get("functionCallingConfig") or {}
        mode = calling.get("mode", "AUTO")
        if mode == "NONE":
            return None
        allowed = [n for n in calling.get("allowedFunctionNames") or () if n in by_name]
        if mode == "ANY":
            chosen = by_name[allowed[0]] if allowed else declarations[0]
        else:
            named = marked_tool(last)
            if named is None:
                return None
            if (named or declarations[0]["name"]) not in by_name:
                raise _bad(f"[[emulator:tool_call:{named}]] names no declared function")
            chosen = by_name[named or declarations[0]["name"]]
        schema = chosen.get("parametersJsonSchema", chosen.get("parameters"))
        return {"name": chosen["name"], "args": json.loads(_sample(schema))}

    def _reply_tokens(self, call: Call, config: Mapping[str, Any], last: str) -> list[str]:
        """The reply text's tokens: the core's (knobs, headers, derived from the last content),
        or JSON text under ``responseMimeType: application/json``."""
        shaped = {
            "messages": [{"role": "user", "content": last}],
            "max_tokens": config.get("maxOutputTokens"),
        }
        if config.get("responseMimeType") == "application/json":
            schema = config.get("responseJsonSchema", config.get("responseSchema"))
            if schema is not None:
                return wire.split_tokens(_sample(schema))
            text = "".join(self._plain_reply_tokens(call, shaped))
            return wire.split_tokens(json.dumps({"reply": text}))
        return self._plain_reply_tokens(call, shaped)

    def _cached_tokens(self, model: str, system: object, prefix: Sequence[object]) -> int:
        """Implicit caching: the words before the last content, when seen before for this
        model (and at least :attr:`cache_min_tokens`)."""
        words = _word_count([*([system] if system else []), *prefix])
        if words < max(self.cache_min_tokens, 1):
            return 0
        digest = hashlib.sha256(wire.dumps([model, system, list(prefix)]).encode()).hexdigest()
        seen = self._cached
        if digest in seen:
            return words
        if len(seen) > 100_000:
            self._cached = seen = set()
        seen.add(digest)
        return 0


#: codes the core puts on its own errors (unknown URL, wrong method): not Google's reasons
_CORE_CODES = frozenset({"not_found", "method_not_allowed"})


def _url_model(endpoint: str) -> str | None:
    """``/models/gemini-2.5-flash:generateContent`` -> ``gemini-2.5-flash``."""
    if not endpoint.startswith("/models/"):
        return None
    return endpoint[len("/models/") :].partition(":")[0] or None


def _public(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _PRIVATE_FIELDS}


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"emu:{offset}".encode()).decode().rstrip("=")


def _page_offset(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "emu" and number.isdigit() else None


if __name__ == "__main__":  # python -m llmrouter_gemini.testing: prints the base URL, serves
    from llmrouter.testing.__main__ import build_parser, main

    raise SystemExit(
        main(
            emulator_class=GeminiEmulator,
            parser=build_parser(
                "python -m llmrouter_gemini.testing",
                "Serve a Gemini API emulator on localhost.",
            ),
        )
    )
