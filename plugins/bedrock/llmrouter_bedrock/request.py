"""An OpenAI-shaped chat call -> the body of Bedrock's Converse request, as pure functions.

The same body serves ``POST /model/{modelId}/converse`` and ``.../converse-stream``. Each rule
below has a before/after example in docs/providers/bedrock.md:

- ``system`` (and ``developer``) messages -> the top-level ``system`` list, one ``{"text"}``
  block per string or text part, in order, wherever they stood;
- user content -> content blocks: a string or a ``text`` part -> ``{"text"}``; ``image_url``
  -> ``{"image": {"format", "source": {"bytes"}}}`` from a ``data:`` URL (the base64 data as
  it is: JSON carries Converse's blobs as base64), or ``{"s3Location": {"uri"}}`` from an
  ``s3://`` URL (Converse fetches no http(s) URL); ``file`` -> ``{"document": {"format",
  "name", "source": {"bytes"}}}``; a part with ``cache_control`` (Anthropic's
  ``{"type": "ephemeral"}``, with ``"ttl": "5m"`` or ``"1h"``) is followed by a
  ``{"cachePoint": {"type": "default"}}`` block (with the ``ttl``); a part that carries one of
  Converse's own
  blocks, ``{"type": <block key>, <block key>: {...}}`` (``{"type": "video", "video": ...}``),
  becomes that block;
- assistant messages -> their ``thinking_blocks`` (an earlier llmrouter answer's, Anthropic's
  shape) back as ``reasoningContent`` blocks first, then text, then ``tool_calls`` as
  ``{"toolUse": {"toolUseId", "name", "input"}}`` (the JSON arguments parsed: an object);
- ``tool`` messages -> ``{"toolResult": {"toolUseId", "content": [{"text"}]}}`` in a user
  turn (a tool result holds no cache point: one marked with ``cache_control`` is followed by
  the cache point, in the turn); consecutive turns of one role are merged into one (Converse requires the roles to
  alternate, starting with the user), so consecutive tool results share one user turn;
- ``tools`` -> ``toolConfig.tools[].toolSpec {name, description, inputSchema: {json}}``;
  ``tool_choice`` ``auto``/``required``/a function -> ``{"auto": {}}``/``{"any": {}}``/
  ``{"tool": {"name"}}``; ``none`` -> no ``toolConfig`` at all (see :func:`tool_config`);
- ``max_tokens``/``temperature``/``top_p``/``stop`` -> ``inferenceConfig {maxTokens,
  temperature, topP, stopSequences}``; ``top_k`` and ``thinking`` ->
  ``additionalModelRequestFields`` (``additional_model_request_fields`` merged over them);
  ``response_format`` json_schema -> ``outputConfig.textFormat`` (the schema as JSON text);
  ``reasoning_effort`` -> ``outputConfig.effort``; Bedrock's own options to their fields.

Every problem is an :class:`~llmrouter.errors.InvalidRequestError` whose ``param`` names the
place (``messages[3].tool_calls[0].function.arguments``), raised before any I/O. The caller's
messages are never changed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Final

from llmrouter.errors import InvalidRequestError
from llmrouter.pipeline import Call
from llmrouter.provider import merge_extra_body
from llmrouter.translation import (
    RequestErrors,
    parse_data_url,
    parse_tool_calls,
    part_text,
    system_text_parts,
)
from llmrouter_bedrock.options import BedrockOptions

__all__ = [
    "BLOCK_KEYS",
    "CACHE_POINT",
    "CACHE_TTLS",
    "DOCUMENT_FORMATS",
    "IMAGE_FORMATS",
    "RESERVED_BODY_KEYS",
    "cache_point",
    "converse_body",
    "convert_messages",
    "has_tool_blocks",
    "tool_config",
    "top_k_fields",
]

#: Converse's content block keys (``ContentBlock``): a part ``{"type": key, key: {...}}`` is sent
#: as the block ``{key: {...}}``.
BLOCK_KEYS: Final = frozenset(
    {
        "text",
        "image",
        "document",
        "video",
        "audio",
        "toolUse",
        "toolResult",
        "guardContent",
        "cachePoint",
        "reasoningContent",
        "citationsContent",
        "searchResult",
    }
)
#: The block that marks the end of a cached prefix (what ``cache_control`` becomes).
CACHE_POINT: Final[Mapping[str, Any]] = {"cachePoint": {"type": "default"}}
#: ``cache_control.ttl`` values Converse's ``CachePointBlock.ttl`` takes (``CacheTTL``).
CACHE_TTLS: Final = ("5m", "1h")
#: Media type -> Converse's ``ImageFormat``.
IMAGE_FORMATS: Final[Mapping[str, str]] = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
#: Media type -> Converse's ``DocumentFormat``.
DOCUMENT_FORMATS: Final[Mapping[str, str]] = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
#: Body fields the call's own arguments own; ``extra_body`` may not set them (the model id is
#: in the URL, the stream in the path).
RESERVED_BODY_KEYS: Final = frozenset({"messages", "modelId", "stream"})

_EMPTY_SCHEMA: Final = {"type": "object", "properties": {}}
_USER_PARTS = (
    "'text', 'image_url', 'file' or a Converse block as {'type': <block key>, <block key>: {...}}"
)


# --- content ------------------------------------------------------------------------------------


def _data_url(url: str, where: str, fail: RequestErrors) -> tuple[str, str]:
    """``data:<media type>;base64,<data>`` -> (media type, base64 data), the data checked."""
    media, data = parse_data_url(
        url, where, fail, hint="Converse takes the bytes with their format"
    )
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise fail(f"{where} holds data that is not valid base64", where) from None
    if not data:
        raise fail(f"{where} holds no data", where)
    return media, data


def cache_point(control: object, where: str, fail: RequestErrors) -> dict[str, Any] | None:
    """Anthropic's ``cache_control`` -> Converse's cache point block (``None``: not marked).

    ``{"type": "ephemeral"}`` is ``{"cachePoint": {"type": "default"}}``; a ``ttl`` of
    :data:`CACHE_TTLS` is kept (``CachePointBlock.ttl``). Anything else is refused, never
    turned into a cache point with another lifetime than the one asked for."""
    if control is None:
        return None
    at = f"{where}.cache_control"
    if not isinstance(control, Mapping):
        raise fail(
            f"{at} must be {{'type': 'ephemeral'}} (optionally with 'ttl': '5m' or '1h'), got "
            f"{type(control).__name__}",
            at,
        )
    unknown = sorted(str(k) for k in control if k not in ("type", "ttl"))
    if control.get("type") != "ephemeral" or unknown:
        raise fail(
            f"{at} must be {{'type': 'ephemeral'}} (optionally with 'ttl': '5m' or '1h'): "
            "Converse's cache point has no other type"
            + (f" and no field {', '.join(map(repr, unknown))}" if unknown else ""),
            at,
        )
    point: dict[str, Any] = {"type": "default"}
    ttl = control.get("ttl")
    if ttl is not None:
        if ttl not in CACHE_TTLS:
            raise fail(
                f"{at}.ttl must be '5m' or '1h' (the lifetimes Converse's cache points take), "
                f"got {str(ttl)[:20]!r}",
                f"{at}.ttl",
            )
        point["ttl"] = ttl
    return {"cachePoint": point}


def _with_cache_point(
    block: dict[str, Any], part: Mapping[str, Any], where: str, fail: RequestErrors
) -> list[dict[str, Any]]:
    """``block``, then a cache point when the part carried ``cache_control``."""
    point = cache_point(part.get("cache_control"), where, fail)
    return [block] if point is None else [block, point]


def _image_block(part: Mapping[str, Any], where: str, fail: RequestErrors) -> dict[str, Any]:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, Mapping) else spec
    detail = spec.get("detail") if isinstance(spec, Mapping) else None
    if detail not in (None, "auto") and not fail.drop:
        at = f"{where}.image_url.detail"
        raise fail(
            f"{at} is {str(detail)[:20]!r}: Converse has no image detail setting (the model "
            "reads the image as sent); leave detail out (or 'auto'), resize the image "
            "yourself, or pass drop_params=True to send it without the setting",
            at,
        )
    at = f"{where}.image_url.url"
    if not isinstance(url, str):
        raise fail(f"{at} must be a URL string, got {type(url).__name__}", at)
    if url.startswith("data:"):
        media, data = _data_url(url, at, fail)
        fmt = IMAGE_FORMATS.get(media)
        if fmt is None:
            raise fail(
                f"{at} has media type {media!r}; Converse takes images of type "
                + ", ".join(sorted(set(IMAGE_FORMATS) - {"image/jpg"})),
                at,
            )
        return {"image": {"format": fmt, "source": {"bytes": data}}}
    if url.startswith("s3://"):
        fmt = IMAGE_FORMATS.get("image/" + url.rpartition(".")[2].lower())
        if fmt is None:
            raise fail(
                f"{at} is an S3 object whose name does not end in .png, .jpeg, .jpg, .gif or "
                ".webp; Converse needs the image format",
                at,
            )
        return {"image": {"format": fmt, "source": {"s3Location": {"uri": url}}}}
    raise fail(
        f"{at} must be a data: URL with base64 image data or an s3:// URL: Converse does not "
        "fetch http(s) URLs (download the image and send it as a data: URL)",
        at,
    )


def _document_block(
    part: Mapping[str, Any], where: str, n: int, fail: RequestErrors
) -> dict[str, Any]:
    """OpenAI's ``file`` part (``file_data``, a data: URL) -> a document; ``filename`` (else
    ``document-<n>``) is its name, which Converse requires."""
    spec = part.get("file")
    file_data = spec.get("file_data") if isinstance(spec, Mapping) else None
    if not isinstance(file_data, str) or not file_data.startswith("data:"):
        raise fail(
            f"{where}.file must be {{'file_data': 'data:<media type>;base64,...', 'filename': "
            "...}} (Converse takes the document's bytes; file ids are OpenAI's)",
            where,
        )
    at = f"{where}.file.file_data"
    media, data = _data_url(file_data, at, fail)
    fmt = DOCUMENT_FORMATS.get(media)
    if fmt is None:
        raise fail(
            f"{at} has media type {media!r}; Converse takes documents of type "
            + ", ".join(sorted(DOCUMENT_FORMATS)),
            at,
        )
    name = spec.get("filename") if isinstance(spec, Mapping) else None
    if not isinstance(name, str) or not name.strip():
        name = f"document-{n}"
    else:
        # Converse's document names: letters, digits, single spaces, - ( ) [ ]; no extension.
        stem = name.rsplit(".", 1)[0] if "." in name else name
        name = (
            " ".join("".join(c if c.isalnum() or c in "-()[]" else " " for c in stem).split())
            or f"document-{n}"
        )
    return {"document": {"format": fmt, "name": name[:200], "source": {"bytes": data}}}


def _text_block(part: Mapping[str, Any], where: str, fail: RequestErrors) -> dict[str, Any]:
    return {"text": part_text(part, where, fail)}


def _native(part: Mapping[str, Any]) -> dict[str, Any] | None:
    """A part that carries a Converse block: ``{"type": <block key>, <block key>: {...}}``
    (``{"type": "video", "video": {...}}``) -> ``{<block key>: {...}}``; else ``None``."""
    kind = part.get("type")
    if kind in BLOCK_KEYS and kind != "text" and isinstance(part.get(kind), Mapping):
        return {kind: part[kind]}
    return None


def _user_blocks(content: list[Any], where: str, fail: RequestErrors) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    documents = 0
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(part, Mapping):
            raise fail(f"{at} must be a content part object, got {type(part).__name__}", at)
        kind = part.get("type")
        if kind == "text":
            blocks += _with_cache_point(_text_block(part, at, fail), part, at, fail)
        elif kind == "image_url":
            blocks += _with_cache_point(_image_block(part, at, fail), part, at, fail)
        elif kind == "file":
            documents += 1
            blocks += _with_cache_point(_document_block(part, at, documents, fail), part, at, fail)
        elif (native := _native(part)) is not None:
            blocks.append(native)
        elif kind == "input_audio":
            raise fail(
                f"{at} is OpenAI's input_audio; send Converse's own audio block as "
                "{'type': 'audio', 'audio': {'format': ..., 'source': {'bytes': ...}}} instead",
                at,
            )
        else:
            raise fail(f"{at} has type {kind!r}; a content part here is {_USER_PARTS}", at)
    return blocks


def _reasoning_blocks(thinking: object, i: int, fail: RequestErrors) -> list[dict[str, Any]]:
    """An earlier answer's ``thinking_blocks`` -> ``reasoningContent`` blocks."""
    at = f"messages[{i}].thinking_blocks"
    if not isinstance(thinking, list):
        raise fail(f"{at} must be the list of thinking blocks of an earlier answer", at)
    out: list[dict[str, Any]] = []
    for block in thinking:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "thinking" and isinstance(block.get("thinking"), str):
            text: dict[str, Any] = {"text": block["thinking"]}
            if isinstance(block.get("signature"), str) and block["signature"]:
                text["signature"] = block["signature"]
            out.append({"reasoningContent": {"reasoningText": text}})
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            out.append({"reasoningContent": {"redactedContent": block["data"]}})
        else:
            raise fail(
                f"{at} must hold the thinking/redacted_thinking blocks of an earlier answer "
                "(message.thinking_blocks), sent back unchanged",
                at,
            )
    return out


def _assistant_blocks(msg: Mapping[str, Any], i: int, fail: RequestErrors) -> list[dict[str, Any]]:
    """An assistant message: its thinking blocks first, then its text, then its tool calls."""
    blocks: list[dict[str, Any]] = []
    thinking = msg.get("thinking_blocks")
    if thinking:
        blocks += _reasoning_blocks(thinking, i, fail)
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            blocks.append({"text": content})
    elif isinstance(content, list):
        where = f"messages[{i}].content"
        for j, part in enumerate(content):
            at = f"{where}[{j}]"
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "text":
                if part.get("text") != "":
                    blocks += _with_cache_point(_text_block(part, at, fail), part, at, fail)
            elif kind == "refusal":
                blocks.append({"text": str(part.get("refusal") or "")})
            elif isinstance(part, Mapping) and (native := _native(part)) is not None:
                blocks.append(native)
            else:
                raise fail(
                    f"{at} has type {kind!r}; an assistant content part is 'text', 'refusal' "
                    "or a Converse content block",
                    at,
                )
    for tool_call in parse_tool_calls(
        msg,
        i,
        fail,
        takes="Converse takes a tool call's input",
        field="Converse's tool input",
    ):
        use = {"toolUseId": tool_call.id, "name": tool_call.name, "input": tool_call.arguments}
        blocks.append({"toolUse": use})
    return blocks


def _tool_result(msg: Mapping[str, Any], i: int, fail: RequestErrors) -> list[dict[str, Any]]:
    """A ``tool`` message -> its ``toolResult`` block, then the cache point of its parts'
    ``cache_control`` (a tool result's content holds no cache point; the turn does: the
    prefix cached ends after the result). The last marked part's lifetime is the point's."""
    content = msg.get("content")
    result: list[dict[str, Any]] = []
    point: dict[str, Any] | None = None
    if isinstance(content, list):
        for block in _user_blocks(content, f"messages[{i}].content", fail):
            if "cachePoint" in block:
                point = block
            else:
                result.append(block)
    elif content is None:
        result = [{"text": ""}]
    else:
        result = [{"text": content}]
    blocks = [{"toolResult": {"toolUseId": msg["tool_call_id"], "content": result}}]
    return blocks if point is None else [*blocks, point]


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add a turn, merged into the previous one when it has the same role."""
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def convert_messages(
    messages: list[dict[str, Any]], call: Call
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI's messages -> (Converse's ``system`` blocks, Converse's ``messages``)."""
    fail = RequestErrors(call)
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role == "user":
            content = msg.get("content")
            if isinstance(content, list):
                blocks = _user_blocks(content, f"messages[{i}].content", fail)
            else:
                blocks = [{"text": content if content is not None else ""}]
            _append(turns, "user", blocks)
        elif role == "assistant":
            blocks = _assistant_blocks(msg, i, fail)
            if blocks:  # an empty assistant turn carries nothing (and Converse refuses it)
                _append(turns, "assistant", blocks)
        elif role == "tool":
            _append(turns, "user", _tool_result(msg, i, fail))
        elif role in ("system", "developer"):
            content = msg.get("content")
            if isinstance(content, str):
                system.append({"text": content})
            else:
                parts = system_text_parts(content or (), i, fail, prompt="Converse's system prompt")
                for at, part in parts:
                    system += _with_cache_point({"text": part["text"]}, part, at, fail)
        else:
            raise fail.unknown_role(i, role, "Converse")
    if not turns:
        raise fail.no_user_message("Converse")
    if turns[0]["role"] != "user":
        raise fail(
            "the conversation starts with an assistant message; Converse needs the first "
            "message (after the system messages) to be a user message",
            "messages",
        )
    return system, turns


def has_tool_blocks(turns: list[dict[str, Any]]) -> bool:
    """Whether the conversation holds tool calls or results (Converse then needs toolConfig)."""
    return any(
        "toolUse" in block or "toolResult" in block for turn in turns for block in turn["content"]
    )


# --- tools ----------------------------------------------------------------------------------------


def tool_config(
    options: BedrockOptions, turns: list[dict[str, Any]], call: Call
) -> dict[str, Any] | None:
    """OpenAI's ``tools`` and ``tool_choice`` -> Converse's ``toolConfig`` (``None``: none).

    Converse has no ``none`` choice. ``tool_choice="none"`` sends no ``toolConfig``, so the
    model cannot call a tool; but a conversation that holds tool calls or results needs one,
    and then ``none`` cannot be kept: an InvalidRequestError, or with ``drop_params=True`` the
    tools sent with the default choice (the model may call one).
    """
    tools = options.tools
    if not tools:
        return None
    choice = options.tool_choice
    if choice == "none":
        if not has_tool_blocks(turns):
            return None
        if not options.drop_params:
            raise InvalidRequestError(
                "tool_choice='none' cannot be kept here: Converse has no 'none' choice, and a "
                "conversation with tool calls or results must be sent with its tools, which "
                "lets the model call one. Leave tools out of this call only if it holds no "
                "tool turns, or pass drop_params=True to send the tools with the default "
                "('auto') choice",
                param="tool_choice",
                provider=call.provider,
                model=call.model,
            )
        choice = None
    specs = []
    fail = RequestErrors(call)
    for n, tool in enumerate(tools):
        fn = tool["function"]
        spec: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            spec["description"] = fn["description"]
        spec["inputSchema"] = {"json": fn.get("parameters") or _EMPTY_SCHEMA}
        if isinstance(fn.get("strict"), bool):
            spec["strict"] = fn["strict"]
        specs.append({"toolSpec": spec})
        point = cache_point(tool.get("cache_control"), f"tools[{n}]", fail)
        if point is not None:
            specs.append(point)
    config: dict[str, Any] = {"tools": specs}
    if isinstance(choice, str):
        if choice == "required":
            config["toolChoice"] = {"any": {}}
        elif choice == "auto":
            config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, Mapping):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    return config


# --- the body -------------------------------------------------------------------------------------


def top_k_fields(model: str, top_k: int, call: Call) -> dict[str, Any]:
    """``top_k`` as the model family names it inside ``additionalModelRequestFields``."""
    family = model.rsplit("/", 1)[-1].split(".")
    # "anthropic.claude...", "us.anthropic.claude..." (inference profiles), ARNs ending in one
    names = set(family[:2])
    if names & {"anthropic", "mistral"}:
        return {"top_k": top_k}
    if "amazon" in names and any(part.startswith("nova") for part in family[1:3]):
        return {"inferenceConfig": {"topK": top_k}}
    raise InvalidRequestError(
        f"top_k has no Converse field, and llmrouter does not know what {model!r} calls it; "
        "pass it as the model documents it: additional_model_request_fields={...}",
        param="top_k",
        provider=call.provider,
        model=call.model,
    )


def converse_body(
    call: Call, options: BedrockOptions, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON body of a Converse (or ConverseStream) request for ``call``."""
    system, turns = convert_messages(messages, call)
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    if options.model_fields_set:
        _add_options(body, options, turns, call)
    return merge_extra_body(body, call, reserved=RESERVED_BODY_KEYS)


#: Options sent to ``inferenceConfig``: (option attribute, Converse field).
_INFERENCE: Final = (
    ("token_limit", "maxTokens"),
    ("temperature", "temperature"),
    ("top_p", "topP"),
)
#: Options sent as they are: (option attribute, Converse field).
_AS_GIVEN: Final = (
    ("additional_model_response_field_paths", "additionalModelResponseFieldPaths"),
    ("guardrail_config", "guardrailConfig"),
    ("performance_config", "performanceConfig"),
    ("request_metadata", "requestMetadata"),
)


def _add_options(
    body: dict[str, Any], options: BedrockOptions, turns: list[dict[str, Any]], call: Call
) -> None:
    inference: dict[str, Any] = {}
    for attribute, field in _INFERENCE:
        value = getattr(options, attribute)
        if value is not None:
            inference[field] = value
    stop = options.stop
    if stop is not None:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if inference:
        body["inferenceConfig"] = inference
    config = tool_config(options, turns, call)
    if config is not None:
        body["toolConfig"] = config
    extra: dict[str, Any] = {}
    if options.top_k is not None:
        extra.update(top_k_fields(call.model, options.top_k, call))
    if options.thinking is not None:
        extra["thinking"] = options.thinking
    if options.additional_model_request_fields:
        extra.update(options.additional_model_request_fields)
    if extra:
        body["additionalModelRequestFields"] = extra
    output: dict[str, Any] = {}
    fmt = options.response_format
    if fmt is not None and fmt["type"] == "json_schema":
        spec = fmt["json_schema"]
        schema: dict[str, Any] = {"schema": json.dumps(spec["schema"])}
        if isinstance(spec.get("name"), str):
            schema["name"] = spec["name"]
        if isinstance(spec.get("description"), str):
            schema["description"] = spec["description"]
        output["textFormat"] = {"type": "json_schema", "structure": {"jsonSchema": schema}}
    if options.reasoning_effort is not None:
        output["effort"] = options.reasoning_effort
    if output:
        body["outputConfig"] = output
    for attribute, field in _AS_GIVEN:
        value = getattr(options, attribute)
        if value is not None:
            body[field] = value
    if options.service_tier not in (None, "auto"):
        body["serviceTier"] = {"type": options.service_tier}
