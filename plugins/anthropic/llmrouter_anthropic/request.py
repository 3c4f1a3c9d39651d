"""An OpenAI-shaped chat call -> the body of Anthropic's ``POST /v1/messages``, as pure functions.

Each rule below has a before/after example in docs/providers/anthropic.md:

- ``system`` (and ``developer``) messages -> the top-level ``system``, in order, wherever they
  stood: all strings -> one string joined with a blank line; otherwise a list of text blocks,
  one per string or content part, each part kept whole (so its ``cache_control`` survives);
- user and assistant content -> content blocks: ``text`` parts as they are, ``image_url`` ->
  ``image`` (a ``data:`` URL -> a base64 source with its media type, http(s) -> a url source),
  ``file`` -> ``document`` (PDF or plain text data, or a Files API id), Anthropic's own block
  types passed through unchanged; a plain string stays a string;
- assistant ``tool_calls`` -> ``tool_use`` blocks (the JSON arguments parsed: they must be an
  object); the ``thinking_blocks`` of an earlier llmrouter answer go back first, unchanged;
- ``tool`` messages -> ``tool_result`` blocks in a user turn; consecutive turns of one role are
  merged into one (consecutive tool results become one user turn, as Anthropic requires);
- ``tools`` -> ``{name, description, input_schema}``; ``tool_choice`` ``auto``/``required``/
  ``none``/a function -> ``auto``/``any``/``none``/``{type: tool, name}``;
  ``parallel_tool_calls=False`` -> ``disable_parallel_tool_use``;
- ``max_tokens``/``max_completion_tokens`` -> ``max_tokens`` (required: else
  :func:`default_max_tokens`), ``stop`` -> ``stop_sequences``, ``user`` -> ``metadata.user_id``,
  ``reasoning_effort`` -> ``output_config.effort``, ``response_format`` json_schema ->
  ``output_config.format``, json_object -> :data:`JSON_OBJECT_INSTRUCTION` in ``system``.

Every problem is an :class:`~llmrouter.errors.InvalidRequestError` whose ``param`` names the
place (``messages[3].tool_calls[0].function.arguments``), raised before any I/O. The caller's
messages are never changed: blocks that need no translation are reused, not copied.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from llmrouter.errors import InvalidRequestError
from llmrouter.pipeline import Call
from llmrouter.provider import merge_extra_body
from llmrouter.translation import (
    MEDIA_ALIASES,
    RequestErrors,
    parse_data_url,
    parse_tool_calls,
    part_text,
    system_text_parts,
)
from llmrouter_anthropic.options import AnthropicOptions

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "FALLBACK_MAX_TOKENS",
    "JSON_OBJECT_INSTRUCTION",
    "PASSTHROUGH_BLOCKS",
    "convert_messages",
    "convert_tool_choice",
    "convert_tools",
    "default_max_tokens",
    "messages_body",
]

#: ``max_tokens`` sent when the caller gives none, by model id prefix (first match wins).
#: The models of Claude 3 and 3.5 get their own maximum output. Opus 4 and 4.1 get 8192: the
#: official SDK refuses more without streaming for them (MODEL_NONSTREAMING_TOKENS), as such a
#: call may outlast a connection's patience. Every other model gets :data:`FALLBACK_MAX_TOKENS`.
DEFAULT_MAX_TOKENS: Final[tuple[tuple[str, int], ...]] = (
    ("claude-3-haiku", 4096),
    ("claude-3-sonnet", 4096),
    ("claude-3-opus", 4096),
    ("claude-3-5-", 8192),
    ("claude-opus-4-0", 8192),
    ("claude-opus-4-1", 8192),
    ("claude-opus-4-2025", 8192),
    ("claude-4-opus", 8192),
)
#: For Claude 3.7 and every later family (Sonnet, Haiku, Opus 4.5+, 5.x...): far above what an
#: answer needs, inside every such model's maximum output, and low enough that a non-streamed
#: call finishes within the ten minutes the official SDK allows without streaming. Anthropic
#: counts ``max_tokens`` against the output-tokens-per-minute limit when a request starts, so
#: the model's whole maximum (up to 128k) would throttle a busy key for nothing.
FALLBACK_MAX_TOKENS: Final = 16384

#: What ``response_format={"type": "json_object"}`` adds to ``system``: the Messages API has
#: structured outputs for a given schema only (send ``json_schema`` for guaranteed JSON).
JSON_OBJECT_INSTRUCTION: Final = (
    "Respond with a single JSON object and nothing else: no prose, no code fences."
)

#: Anthropic's own content block types: sent as given, for callers who write them directly.
PASSTHROUGH_BLOCKS: Final = frozenset(
    {
        "image",
        "document",
        "search_result",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
    }
)

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_EMPTY_SCHEMA: Final = {"type": "object", "properties": {}}
_USER_PARTS = "'text', 'image_url', 'file' or one of Anthropic's block types"


def default_max_tokens(model: str) -> int:
    """The ``max_tokens`` sent for ``model`` when the caller gives none (see the table)."""
    for prefix, tokens in DEFAULT_MAX_TOKENS:
        if model.startswith(prefix):
            return tokens
    return FALLBACK_MAX_TOKENS


# --- content ------------------------------------------------------------------------------------


def _data_url(url: str, where: str, fail: RequestErrors) -> tuple[str, str]:
    """``data:<media type>;base64,<data>`` -> (media type, base64 data)."""
    return parse_data_url(
        url,
        where,
        fail,
        hint="Anthropic takes base64 data with its media type",
        aliases=MEDIA_ALIASES,
    )


def _image_source(url: object, where: str, fail: RequestErrors) -> dict[str, Any]:
    if not isinstance(url, str):
        raise fail(f"{where} must be a URL string, got {type(url).__name__}", where)
    if url.startswith("data:"):
        media, data = _data_url(url, where, fail)
        if media not in _IMAGE_TYPES:
            raise fail(
                f"{where} has media type {media!r}; Anthropic takes images of type "
                + ", ".join(sorted(_IMAGE_TYPES)),
                where,
            )
        return {"type": "base64", "media_type": media, "data": data}
    if url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    raise fail(f"{where} must be an http(s) URL or a data: URL with base64 image data", where)


def _image_block(part: Mapping[str, Any], where: str, fail: RequestErrors) -> dict[str, Any]:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, Mapping) else spec
    block: dict[str, Any] = {
        "type": "image",
        "source": _image_source(url, f"{where}.image_url.url", fail),
    }
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _document_block(part: Mapping[str, Any], where: str, fail: RequestErrors) -> dict[str, Any]:
    """OpenAI's ``file`` part: a PDF or plain text (``file_data``, a data: URL or bare base64
    taken as PDF), an image, or a Files API id (``file_id``). ``filename`` becomes the title."""
    spec = part.get("file")
    if not isinstance(spec, Mapping):
        raise fail(f"{where}.file must be {{'file_data': ...}} or {{'file_id': ...}}", where)
    source: dict[str, Any]
    file_id, file_data = spec.get("file_id"), spec.get("file_data")
    kind = "document"
    if isinstance(file_id, str) and file_id:
        source = {"type": "file", "file_id": file_id}
    elif isinstance(file_data, str) and file_data:
        at = f"{where}.file.file_data"
        media, data = (
            _data_url(file_data, at, fail)
            if file_data.startswith("data:")
            else ("application/pdf", file_data)
        )
        if media == "application/pdf":
            source = {"type": "base64", "media_type": media, "data": data}
        elif media == "text/plain":
            try:
                text = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise fail(f"{at} is not base64 of UTF-8 text", at) from None
            source = {"type": "text", "media_type": media, "data": text}
        elif media in _IMAGE_TYPES:
            kind, source = "image", {"type": "base64", "media_type": media, "data": data}
        else:
            raise fail(
                f"{at} has media type {media!r}; Anthropic takes documents of type "
                "application/pdf or text/plain, and images",
                at,
            )
    else:
        raise fail(f"{where}.file needs a non-empty 'file_data' or 'file_id'", where)
    block: dict[str, Any] = {"type": kind, "source": source}
    if kind == "document" and isinstance(spec.get("filename"), str):
        block["title"] = spec["filename"]
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _text_part(part: Mapping[str, Any], where: str, fail: RequestErrors) -> Mapping[str, Any]:
    part_text(part, where, fail)
    return part  # OpenAI's text part is Anthropic's text block (cache_control and all)


def _user_blocks(content: list[Any], where: str, fail: RequestErrors) -> list[Any]:
    blocks: list[Any] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type")
        if kind == "text":
            blocks.append(_text_part(part, at, fail))
        elif kind == "image_url":
            blocks.append(_image_block(part, at, fail))
        elif kind == "file":
            blocks.append(_document_block(part, at, fail))
        elif kind in PASSTHROUGH_BLOCKS:
            blocks.append(part)
        elif kind == "input_audio":
            raise fail(f"{at} is audio; Anthropic's Messages API takes no audio input", at)
        else:
            raise fail(f"{at} has type {kind!r}; a content part here is {_USER_PARTS}", at)
    return blocks


def _assistant_blocks(msg: Mapping[str, Any], i: int, fail: RequestErrors) -> str | list[Any]:
    """An assistant message: its thinking blocks first, then text, then its tool calls; or,
    when it carries ``anthropic_content`` (an earlier answer with blocks OpenAI's shape has no
    field for, such as a server tool's), exactly that content."""
    raw = msg.get("anthropic_content")
    if raw is not None:
        if not isinstance(raw, list) or not all(
            isinstance(b, Mapping) and isinstance(b.get("type"), str) for b in raw
        ):
            at = f"messages[{i}].anthropic_content"
            raise fail(
                f"{at} must be the content blocks of an earlier answer "
                "(message.anthropic_content), sent back unchanged",
                at,
            )
        return list(raw)
    blocks: list[Any] = []
    thinking = msg.get("thinking_blocks")
    if thinking:
        if not isinstance(thinking, list) or not all(
            isinstance(b, Mapping) and b.get("type") in ("thinking", "redacted_thinking")
            for b in thinking
        ):
            at = f"messages[{i}].thinking_blocks"
            raise fail(
                f"{at} must be the list of thinking/redacted_thinking blocks of an earlier "
                "answer (message.thinking_blocks), sent back unchanged",
                at,
            )
        blocks.extend(thinking)
    content = msg.get("content")
    calls = msg.get("tool_calls")
    if isinstance(content, str):
        if not blocks and not calls:
            return content
        if content:
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        where = f"messages[{i}].content"
        for j, part in enumerate(content):
            at = f"{where}[{j}]"
            kind = part.get("type")
            if kind == "text":
                if part.get("text") != "":
                    blocks.append(_text_part(part, at, fail))
            elif kind == "refusal":
                blocks.append({"type": "text", "text": str(part.get("refusal") or "")})
            elif kind in PASSTHROUGH_BLOCKS:
                blocks.append(part)
            else:
                raise fail(
                    f"{at} has type {kind!r}; an assistant content part is 'text', 'refusal' "
                    "or one of Anthropic's block types",
                    at,
                )
    for tool_call in parse_tool_calls(
        msg,
        i,
        fail,
        takes="Anthropic takes a tool call's input",
        field="Anthropic's tool input",
    ):
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_call.id,
                "name": tool_call.name,
                "input": tool_call.arguments,
            }
        )
    return blocks


def _tool_result(msg: Mapping[str, Any], i: int, fail: RequestErrors) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": msg["tool_call_id"]}
    content = msg.get("content")
    if isinstance(content, list):
        block["content"] = _user_blocks(content, f"messages[{i}].content", fail)
    elif content is not None:
        block["content"] = content
    return block


def _as_blocks(content: str | list[Any]) -> list[Any]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


def _append(turns: list[dict[str, Any]], role: str, content: str | list[Any]) -> None:
    """Add a turn, merged into the previous one when it has the same role."""
    if turns and turns[-1]["role"] == role:
        last = turns[-1]
        last["content"] = [*_as_blocks(last["content"]), *_as_blocks(content)]
    else:
        turns.append({"role": role, "content": content})


def convert_messages(
    messages: list[dict[str, Any]], call: Call
) -> tuple[str | list[Any] | None, list[dict[str, Any]]]:
    """OpenAI's messages -> (Anthropic's ``system``, Anthropic's ``messages``)."""
    fail = RequestErrors(call)
    system: list[Any] = []
    system_strings = True
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role == "user":
            content = msg.get("content")
            if isinstance(content, list):
                content = _user_blocks(content, f"messages[{i}].content", fail)
            _append(turns, "user", content if content is not None else "")
        elif role == "assistant":
            blocks = _assistant_blocks(msg, i, fail)
            if blocks:  # an empty assistant turn carries nothing (and Anthropic refuses it)
                _append(turns, "assistant", blocks)
        elif role == "tool":
            _append(turns, "user", [_tool_result(msg, i, fail)])
        elif role in ("system", "developer"):
            content = msg.get("content")
            if isinstance(content, str):
                system.append(content)
            else:
                system_strings = False
                # each part kept whole (its cache_control is Anthropic's own)
                parts = system_text_parts(
                    content or (), i, fail, prompt="Anthropic's system prompt"
                )
                system.extend(part for _, part in parts)
        else:
            raise fail.unknown_role(i, role, "Anthropic")
    if not turns:
        raise fail.no_user_message("Anthropic")
    if not system:
        return None, turns
    if system_strings:
        return "\n\n".join(system), turns
    return [{"type": "text", "text": s} if isinstance(s, str) else s for s in system], turns


# --- tools ----------------------------------------------------------------------------------------


def convert_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function tools -> Anthropic's ``{name, description, input_schema}`` (a tool's
    ``strict`` and ``cache_control`` kept; no parameters -> an empty object schema)."""
    out = []
    for tool in tools:
        fn = tool["function"]
        entry: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description") is not None:
            entry["description"] = fn["description"]
        entry["input_schema"] = fn.get("parameters") or _EMPTY_SCHEMA
        if isinstance(fn.get("strict"), bool):
            entry["strict"] = fn["strict"]
        if "cache_control" in tool:
            entry["cache_control"] = tool["cache_control"]
        out.append(entry)
    return out


def convert_tool_choice(choice: str | dict[str, Any] | None, parallel: bool | None) -> Any:
    """OpenAI's ``tool_choice`` (+ ``parallel_tool_calls``) -> Anthropic's, or ``None``."""
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif isinstance(choice, str):
        out = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    else:
        out = {"type": "tool", "name": choice["function"]["name"]}
    if parallel is False:
        if out is None:
            out = {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


# --- the body -------------------------------------------------------------------------------------


def _with_instruction(system: str | list[Any] | None, text: str) -> str | list[Any]:
    if system is None:
        return text
    if isinstance(system, str):
        return f"{system}\n\n{text}"
    return [*system, {"type": "text", "text": text}]


def messages_body(
    call: Call, options: AnthropicOptions, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` for ``call``."""
    system, turns = convert_messages(messages, call)
    limit = options.token_limit
    given = limit is not None
    if limit is None:
        limit = default_max_tokens(call.model)
    budget = (options.thinking or {}).get("budget_tokens")
    if isinstance(budget, int) and budget >= limit:
        which = f"is {limit}" if given else f"defaults to {limit} for {call.model}"
        raise InvalidRequestError(
            f"thinking.budget_tokens={budget} must be below max_tokens, which {which}: pass a "
            "max_tokens above the budget (Anthropic answers a 400 otherwise)",
            param="thinking.budget_tokens",
            provider=call.provider,
            model=call.model,
        )
    body: dict[str, Any] = {"model": call.model, "max_tokens": limit, "messages": turns}
    if call.stream:
        body["stream"] = True
    if options.model_fields_set:
        _add_options(body, options, system)
        system = body.pop("system", system)
    if system is not None:
        body["system"] = system
    return merge_extra_body(body, call)


def _add_options(
    body: dict[str, Any], options: AnthropicOptions, system: str | list[Any] | None
) -> None:
    stop = options.stop
    if stop is not None:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if options.user is not None:
        body["metadata"] = {"user_id": options.user}
    if options.tools:
        body["tools"] = convert_tools(options.tools)
    if options.tools or options.tool_choice not in (None, "none"):
        choice = convert_tool_choice(options.tool_choice, options.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
    output: dict[str, Any] = {}
    if options.reasoning_effort is not None:
        output["effort"] = options.reasoning_effort
    fmt = options.response_format
    if fmt is not None:
        if fmt["type"] == "json_schema":
            output["format"] = {"type": "json_schema", "schema": fmt["json_schema"]["schema"]}
        elif fmt["type"] == "json_object":
            body["system"] = _with_instruction(system, JSON_OBJECT_INSTRUCTION)
    if output:
        body["output_config"] = output
    if options.thinking is not None:
        body["thinking"] = options.thinking
    if options.service_tier is not None:
        body["service_tier"] = options.service_tier
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(options, name)
        if value is not None:
            body[name] = value
