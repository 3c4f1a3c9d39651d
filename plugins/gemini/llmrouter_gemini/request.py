"""An OpenAI-shaped call -> the body of Gemini's ``generateContent`` (or ``batchEmbedContents``),
as pure functions.

Each rule below has a before/after example in docs/providers/gemini.md:

- ``system`` (and ``developer``) messages -> ``systemInstruction`` (one text part per string or
  text part, in order, wherever they stood);
- ``user`` -> ``role: user``, ``assistant`` -> ``role: model``; a string -> one ``text`` part;
  ``text`` parts -> ``text``, ``image_url`` -> ``inlineData`` (a ``data:`` URL: its media type
  and base64 data) or ``fileData`` (any other URL: ``fileUri``, with a media type guessed from
  the file name when it has a known extension); ``file`` -> ``inlineData`` (``file_data``) or
  ``fileData`` (``file_id``, a Files API URI); ``input_audio`` -> ``inlineData`` (audio/<format>);
- assistant ``tool_calls`` -> ``functionCall`` parts ``{name, args}`` (the JSON arguments
  parsed: they must be an object), with the call's ``thought_signature`` (kept on the tool
  calls of an earlier llmrouter answer) sent back as the part's ``thoughtSignature``;
- ``tool`` messages -> ``functionResponse`` parts ``{name, response: {"output": <the tool's
  text>}}`` (Gemini's documented response object), the name looked up from the assistant tool
  call with the same id; consecutive tool messages -> one ``user`` turn;
- ``tools`` -> one tool of ``functionDeclarations`` ``{name, description,
  parametersJsonSchema}`` (the JSON Schema as given: Gemini takes JSON Schema there);
  ``tool_choice`` ``auto``/``required``/``none``/a function ->
  ``toolConfig.functionCallingConfig`` ``AUTO``/``ANY``/``NONE``/``ANY`` with
  ``allowedFunctionNames``;
- the sampling options -> ``generationConfig`` (:func:`generation_config`); ``reasoning_effort``
  -> ``thinkingConfig`` through :func:`thinking_config`; ``safety_settings`` ->
  ``safetySettings``; ``cached_content`` -> ``cachedContent``.

``extra_body`` is merged last; a dict given for ``generationConfig`` or ``toolConfig`` is
merged into ours key by key (so ``extra_body={"generationConfig": {"responseModalities":
[...]}}`` adds a field instead of dropping the rest).

Every problem is an :class:`~llmrouter.errors.InvalidRequestError` whose ``param`` names the
place (``messages[3].tool_calls[0].function.arguments``), raised before any I/O. The caller's
messages are never changed.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any, Final

from llmrouter.errors import InvalidRequestError
from llmrouter.pipeline import Call
from llmrouter.provider import RESERVED_BODY_KEYS
from llmrouter.translation import (
    MEDIA_ALIASES,
    RequestErrors,
    ToolCallParts,
    parse_data_url,
    parse_tool_calls,
    part_text,
    system_text_parts,
)
from llmrouter_gemini.options import GeminiEmbeddingOptions, GeminiOptions

__all__ = [
    "BUDGETS",
    "LEVELS",
    "RESERVED",
    "convert_messages",
    "convert_tool_choice",
    "convert_tools",
    "embed_body",
    "generate_body",
    "generation_config",
    "model_path",
    "thinking_config",
]

#: ``reasoning_effort`` -> ``thinkingConfig.thinkingBudget`` (tokens) for Gemini 2.x models.
#: ``none`` switches thinking off (where the model allows it: 2.5 Pro does not, and answers
#: a 400); the others span the range of 2.5 Flash (up to 24576).
BUDGETS: Final[Mapping[str, int]] = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
}
#: ``reasoning_effort`` -> ``thinkingConfig.thinkingLevel`` for Gemini 3 models (whose
#: thinking cannot be switched off: ``none`` is the least there is).
LEVELS: Final[Mapping[str, str]] = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
}
#: Model id prefixes that take ``thinkingLevel`` rather than ``thinkingBudget``.
LEVEL_MODELS: Final = ("gemini-3",)

#: Body fields the call's own arguments own; ``extra_body`` may not set them.
RESERVED: Final = RESERVED_BODY_KEYS | {"contents", "requests"}
_MERGED: Final = ("generationConfig", "toolConfig")

_CHOICE_MODES: Final[Mapping[str, str]] = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
_USER_PARTS = "'text', 'image_url', 'file' or 'input_audio'"


def model_path(model: str) -> str:
    """``models/<id>`` for the URL (a model given as ``models/<id>`` is not doubled)."""
    return model if model.startswith("models/") else "models/" + model


# --- content ------------------------------------------------------------------------------------


def _data_url(url: str, where: str, fail: RequestErrors) -> dict[str, Any]:
    """``data:<media type>;base64,<data>`` -> ``{"inlineData": {mimeType, data}}``."""
    media, data = parse_data_url(
        url,
        where,
        fail,
        hint="Gemini takes inline data as base64 with its media type",
        aliases=MEDIA_ALIASES,
        require_data=True,
    )
    return {"inlineData": {"mimeType": media, "data": data}}


def _file_uri(uri: str) -> dict[str, Any]:
    """A URL or Files API URI -> ``{"fileData": {fileUri[, mimeType]}}``."""
    data: dict[str, Any] = {"fileUri": uri}
    media = mimetypes.guess_type(uri.partition("?")[0])[0]
    if media:
        data["mimeType"] = MEDIA_ALIASES.get(media, media)
    return {"fileData": data}


def _url_part(url: object, where: str, fail: RequestErrors) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise fail(f"{where} must be a URL string, got {type(url).__name__}", where)
    if url.startswith("data:"):
        return _data_url(url, where, fail)
    if url.startswith(("https://", "http://", "gs://")):
        return _file_uri(url)
    raise fail(f"{where} must be an http(s) URL, a gs:// URI or a data: URL", where)


def _file_part(part: Mapping[str, Any], where: str, fail: RequestErrors) -> dict[str, Any]:
    spec = part.get("file")
    if not isinstance(spec, Mapping):
        raise fail(f"{where}.file must be {{'file_data': ...}} or {{'file_id': ...}}", where)
    file_id, file_data = spec.get("file_id"), spec.get("file_data")
    if isinstance(file_data, str) and file_data:
        at = f"{where}.file.file_data"
        if not file_data.startswith("data:"):
            raise fail(f"{at} must be a data: URL ('data:<media type>;base64,<data>')", at)
        return _data_url(file_data, at, fail)
    if isinstance(file_id, str) and file_id:
        return _file_uri(file_id)
    raise fail(f"{where}.file needs a non-empty 'file_data' or 'file_id'", where)


def _audio_part(part: Mapping[str, Any], where: str, fail: RequestErrors) -> dict[str, Any]:
    spec = part.get("input_audio")
    data = spec.get("data") if isinstance(spec, Mapping) else None
    fmt = spec.get("format") if isinstance(spec, Mapping) else None
    if not isinstance(data, str) or not data or not isinstance(fmt, str) or not fmt:
        raise fail(f"{where}.input_audio must be {{'data': <base64>, 'format': 'wav'...}}", where)
    return {"inlineData": {"mimeType": f"audio/{fmt}", "data": data}}


def _user_parts(content: Any, where: str, fail: RequestErrors) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type")
        if kind == "text":
            parts.append({"text": part_text(part, at, fail)})
        elif kind == "image_url":
            spec = part.get("image_url")
            url = spec.get("url") if isinstance(spec, Mapping) else spec
            parts.append(_url_part(url, f"{at}.image_url.url", fail))
        elif kind == "file":
            parts.append(_file_part(part, at, fail))
        elif kind == "input_audio":
            parts.append(_audio_part(part, at, fail))
        else:
            raise fail(f"{at} has type {kind!r}; a content part here is {_USER_PARTS}", at)
    return parts


def _function_call(tool_call: ToolCallParts) -> dict[str, Any]:
    """A checked tool call -> a ``functionCall`` part (with Gemini's own id and the call's
    ``thought_signature`` when it has them)."""
    call: dict[str, Any] = {"name": tool_call.name, "args": tool_call.arguments}
    if _gemini_id(tool_call.id):
        call["id"] = tool_call.id
    part: dict[str, Any] = {"functionCall": call}
    signature = tool_call.source.get("thought_signature")
    if isinstance(signature, str) and signature:
        part["thoughtSignature"] = signature
    return part


def _model_parts(
    msg: Mapping[str, Any], i: int, names: dict[str, str], fail: RequestErrors
) -> list[dict[str, Any]]:
    """An assistant message -> its text then its function calls (call ids noted in ``names``)."""
    parts: list[dict[str, Any]] = []
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            parts.append({"text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            at = f"messages[{i}].content[{j}]"
            kind = part.get("type")
            if kind == "text":
                text = part_text(part, at, fail)
                if text:
                    parts.append({"text": text})
            elif kind == "refusal":
                parts.append({"text": str(part.get("refusal") or "")})
            else:
                raise fail(
                    f"{at} has type {kind!r}; an assistant content part is 'text' or 'refusal'",
                    at,
                )
    for tool_call in parse_tool_calls(
        msg,
        i,
        fail,
        takes="Gemini takes a function call's args",
        field="Gemini's functionCall.args",
        require_id=False,
    ):
        parts.append(_function_call(tool_call))
        if tool_call.id is not None:
            names[tool_call.id] = tool_call.name
    return parts


def _tool_text(content: Any, i: int, fail: RequestErrors) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        at = f"messages[{i}].content[{j}]"
        if not isinstance(part, Mapping) or part.get("type") != "text":
            raise fail(
                f"{at}: a tool message holds text (Gemini's functionResponse carries a JSON "
                "object), got type "
                f"{part.get('type') if isinstance(part, Mapping) else type(part).__name__!r}",
                at,
            )
        texts.append(part_text(part, at, fail))
    return "".join(texts)


def _function_response(
    msg: Mapping[str, Any], i: int, names: Mapping[str, str], fail: RequestErrors
) -> dict[str, Any]:
    call_id = msg["tool_call_id"]
    name = names.get(call_id)
    if name is None:
        raise fail(
            f"messages[{i}] answers tool call {call_id!r}, but no earlier assistant message "
            "has a tool call with that id; Gemini's functionResponse needs the function's "
            "name, taken from that call",
            f"messages[{i}].tool_call_id",
        )
    text = _tool_text(msg.get("content"), i, fail)
    response: dict[str, Any] = {"name": name, "response": {"output": text}}
    if _gemini_id(call_id):
        response["id"] = call_id  # matches the call among parallel calls of one function
    return {"functionResponse": response}


def _gemini_id(call_id: object) -> bool:
    """Whether a tool call's id is one Gemini gave (its ``functionCall.id``), which goes back
    on the call and on its result. Ids of the form ``call_...`` are the ones llmrouter makes
    up when Gemini gives none (and OpenAI's): Gemini never saw them, so they stay here."""
    return isinstance(call_id, str) and bool(call_id) and not call_id.startswith("call_")


def convert_messages(
    messages: list[dict[str, Any]], call: Call
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """OpenAI's messages -> (Gemini's ``systemInstruction`` or ``None``, ``contents``)."""
    fail = RequestErrors(call)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name
    last_tool = False
    for i, msg in enumerate(messages):
        role = msg.get("role")
        is_tool = False
        if role == "user":
            contents.append(
                {
                    "role": "user",
                    "parts": _user_parts(msg.get("content"), f"messages[{i}].content", fail),
                }
            )
        elif role == "assistant":
            parts = _model_parts(msg, i, names, fail)
            if parts:  # an empty assistant turn carries nothing (and Gemini refuses it)
                contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            is_tool = True
            part = _function_response(msg, i, names, fail)
            if last_tool:
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        elif role in ("system", "developer"):
            is_tool = last_tool  # instructions between tool results do not split their turn
            content = msg.get("content")
            if isinstance(content, str):
                system.append({"text": content})
            else:
                texts = system_text_parts(
                    content or (), i, fail, prompt="Gemini's systemInstruction"
                )
                system.extend({"text": part["text"]} for _, part in texts)
        else:
            raise fail.unknown_role(i, role, "Gemini")
        last_tool = is_tool
    if not contents:
        raise fail.no_user_message("Gemini")
    return ({"parts": system} if system else None), contents


# --- tools ----------------------------------------------------------------------------------------


def convert_tools(tools: list[dict[str, Any]], call: Call) -> list[dict[str, Any]]:
    """OpenAI function tools -> one Gemini tool of ``functionDeclarations`` (the parameters'
    JSON Schema sent as ``parametersJsonSchema``; none -> no parameters)."""
    fail = RequestErrors(call)
    declarations = []
    for i, tool in enumerate(tools):
        fn = tool["function"]
        entry: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description") is not None:
            entry["description"] = fn["description"]
        params = fn.get("parameters")
        if params:
            kind = params.get("type")
            if kind is not None and kind != "object":
                at = f"tools[{i}].function.parameters"
                raise fail(
                    f"{at} has type {kind!r}; Gemini takes a function's parameters as a JSON "
                    "Schema of type 'object' (its properties are the parameters)",
                    at,
                )
            entry["parametersJsonSchema"] = params
        declarations.append(entry)
    return [{"functionDeclarations": declarations}]


def convert_tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    """OpenAI's ``tool_choice`` -> Gemini's ``toolConfig``."""
    if isinstance(choice, str):
        return {"functionCallingConfig": {"mode": _CHOICE_MODES[choice]}}
    return {
        "functionCallingConfig": {
            "mode": "ANY",
            "allowedFunctionNames": [choice["function"]["name"]],
        }
    }


# --- generation config --------------------------------------------------------------------------


def thinking_config(options: GeminiOptions, model: str) -> dict[str, Any] | None:
    """``thinking`` as given, or ``reasoning_effort`` through :data:`LEVELS` (Gemini 3) or
    :data:`BUDGETS` (earlier models), with ``includeThoughts`` on unless the effort is
    ``none`` (so the thoughts come back as ``reasoning_content``)."""
    if options.thinking is not None:
        return dict(options.thinking)
    effort = options.reasoning_effort
    if effort is None:
        return None
    bare = model.removeprefix("models/")
    if bare.startswith(LEVEL_MODELS):
        return {"thinkingLevel": LEVELS[effort], "includeThoughts": effort != "none"}
    if effort == "none":
        return {"thinkingBudget": 0}
    return {"thinkingBudget": BUDGETS[effort], "includeThoughts": True}


def generation_config(options: GeminiOptions, model: str) -> dict[str, Any]:
    """The sampling options -> ``generationConfig`` (empty when none was given)."""
    config: dict[str, Any] = {}
    limit = options.token_limit
    if limit is not None:
        config["maxOutputTokens"] = limit
    for name, field in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ):
        value = getattr(options, name)
        if value is not None:
            config[field] = value
    stop = options.stop
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    fmt = options.response_format
    if fmt is not None and fmt["type"] != "text":
        config["responseMimeType"] = "application/json"
        if fmt["type"] == "json_schema":
            config["responseJsonSchema"] = fmt["json_schema"]["schema"]
    thinking = thinking_config(options, model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


# --- bodies ---------------------------------------------------------------------------------------


def _merge_extra_body(body: dict[str, Any], call: Call) -> dict[str, Any]:
    if call.extra_body:
        for key, value in call.extra_body.items():
            if key in RESERVED:
                raise InvalidRequestError(
                    f"extra_body may not set {key!r}; pass it as the call's own argument",
                    param=f"extra_body.{key}",
                    provider=call.provider,
                    model=call.model,
                )
            mine = body.get(key)
            if key in _MERGED and isinstance(mine, dict) and isinstance(value, Mapping):
                body[key] = {**mine, **value}
            else:
                body[key] = value
    return body


def generate_body(
    call: Call, options: GeminiOptions, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON body of ``generateContent`` / ``streamGenerateContent`` for ``call``."""
    system, contents = convert_messages(messages, call)
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = system
    if options.model_fields_set:
        if options.tools:
            body["tools"] = convert_tools(options.tools, call)
        if options.tool_choice is not None and (options.tools or options.tool_choice != "none"):
            body["toolConfig"] = convert_tool_choice(options.tool_choice)
        if options.safety_settings is not None:
            body["safetySettings"] = options.safety_settings
        if options.cached_content is not None:
            body["cachedContent"] = options.cached_content
        config = generation_config(options, call.model)
        if config:
            body["generationConfig"] = config
    return _merge_extra_body(body, call)


#: The most texts one ``batchEmbedContents`` request takes.
MAX_EMBED_BATCH = 100


def embed_body(call: Call, options: GeminiEmbeddingOptions) -> dict[str, Any]:
    """The JSON body of ``batchEmbedContents``: one request per input text."""
    assert call.input is not None
    if len(call.input) > MAX_EMBED_BATCH:
        raise InvalidRequestError(
            f"Gemini embeds at most {MAX_EMBED_BATCH} texts per call (batchEmbedContents), got "
            f"{len(call.input)}: split the input into several calls",
            param="input",
            provider=call.provider,
            model=call.model,
        )
    model = model_path(call.model)
    extra: dict[str, Any] = {}
    if options.task_type is not None:
        extra["taskType"] = options.task_type
    if options.title is not None:
        extra["title"] = options.title
    if options.dimensions is not None:
        extra["outputDimensionality"] = options.dimensions
    requests = [
        {"model": model, "content": {"parts": [{"text": text}]}, **extra} for text in call.input
    ]
    return _merge_extra_body({"requests": requests}, call)
