"""A toolkit for provider plugins whose wire is not OpenAI's: translating OpenAI-shaped calls.

A plugin for a service with its own request and answer shapes (Anthropic's Messages API,
Gemini's ``generateContent``, Bedrock's Converse API) turns OpenAI-shaped options, messages,
tool calls and content parts into that shape, and the service's answers and stream events
back. Much of that work is the same whatever the wire: which OpenAI options a service lacks
and when asking for one is harmless, what a tool call's JSON arguments must be, how a
``data:`` URL splits into a media type and base64 data, how a stream chunk is built. Those
pieces live here, once, so every such plugin refuses the same input with the same kind of
error and a fix in one place reaches all of them. What differs on purpose (the name of the
service in an error, a service's own rule) is a parameter, never a branch on the provider.

This is a sibling of :mod:`llmrouter.provider` rather than a part of it: that module holds
what every provider needs (keys, base URLs, OpenAI-style error bodies), this one what only
the translating plugins need, and each stays small enough to read whole. Everything here is
pure (no I/O) and public API; the emulators in ``llmrouter.testing`` and the plugins'
``testing`` modules do not use it, so a test against an emulator still checks this code
against an independent reading of the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple

from pydantic_core import from_json

from llmrouter.errors import APIError, InvalidRequestError
from llmrouter.pipeline import Call, HTTPResponse, StreamState
from llmrouter.provider import unreadable_response
from llmrouter.types import ModelResponseStream, trusted_content_chunk
from llmrouter.validation import validate_tool_choice

__all__ = [
    "MEDIA_ALIASES",
    "RequestErrors",
    "ToolCallParts",
    "asks_nothing",
    "assistant_message",
    "cached_prompt_usage",
    "check_token_limit",
    "check_tool_choice",
    "content_chunk",
    "drop_unsupported",
    "json_object_body",
    "one_page_error",
    "openai_tool_call",
    "parse_data_url",
    "parse_tool_call",
    "parse_tool_calls",
    "part_text",
    "stream_chunk",
    "system_text_parts",
    "tool_call_start",
    "unreadable_event",
]

#: Media types spelled another way by callers -> the registered spelling services take.
MEDIA_ALIASES: Final[Mapping[str, str]] = {"image/jpg": "image/jpeg"}

_validate_chunk = ModelResponseStream.__pydantic_validator__.validate_python


# --- errors ---------------------------------------------------------------------------------------


class RequestErrors:
    """Builds the call's :class:`~llmrouter.errors.InvalidRequestError`s while a request is
    translated: one object that knows the provider and model (so no helper needs the whole
    call), and whether the caller passed ``drop_params=True`` (so a helper can drop what the
    service cannot keep instead of refusing it). ``fail(message, param)`` returns the error;
    the caller raises it, so a type checker sees the ``raise``."""

    __slots__ = ("drop", "model", "provider")

    def __init__(self, call: Call) -> None:
        self.provider = call.provider
        self.model = call.model
        self.drop = call.params.get("drop_params") is True

    def __call__(self, message: str, param: str) -> InvalidRequestError:
        return InvalidRequestError(message, param=param, provider=self.provider, model=self.model)

    def unknown_role(self, index: int, role: object, service: str) -> InvalidRequestError:
        """``messages[index]`` has a role ``service`` does not take (``"Gemini"``)."""
        return self(
            f"messages[{index}] has role {role!r}; {service} takes system, developer, user, "
            "assistant and tool messages (the deprecated 'function' role: use tools)",
            f"messages[{index}].role",
        )

    def no_user_message(self, service: str) -> InvalidRequestError:
        """The conversation is only system messages, which ``service`` cannot answer."""
        return self(
            f"messages holds only system messages; {service} needs at least one user message",
            "messages",
        )


# --- options --------------------------------------------------------------------------------------


def asks_nothing(name: str, value: object) -> bool:
    """Whether an OpenAI option's value is OpenAI's own default, so that a service lacking the
    option loses nothing when it is dropped: ``None``, ``n=1``, ``logprobs=False``,
    ``parallel_tool_calls=True``. Such a value is dropped silently, never refused."""
    return (
        value is None
        or (name == "n" and value == 1 and not isinstance(value, bool))
        or (name == "logprobs" and value is False)
        or (name == "parallel_tool_calls" and value is True)
    )


def drop_unsupported(
    params: Mapping[str, Any],
    unsupported: Mapping[str, str],
    *,
    api: str,
    service: str,
    supported: Iterable[str],
    provider: str,
    model: str,
) -> Mapping[str, Any]:
    """``params`` without the options of ``unsupported`` (option -> why the service lacks
    it), or an :class:`~llmrouter.errors.InvalidRequestError` refusing them.

    An option whose value asks for nothing (:func:`asks_nothing`) is dropped silently; with
    ``drop_params=True`` every unsupported option is dropped (LiteLLM's switch). Otherwise the
    error names each refused option with its reason, lists ``supported`` and the two ways
    out. ``api`` names the service's API in that message (``"Gemini's generateContent"``),
    ``service`` what lacks the options and takes ``extra_body`` fields (``"Gemini"``).
    ``params`` itself is returned when nothing was dropped (no copy on the common path).
    """
    drop = params.get("drop_params") is True
    kept: dict[str, Any] | None = None
    refused: list[str] = []
    for name, value in params.items():
        if name not in unsupported:
            continue
        if not (drop or asks_nothing(name, value)):
            refused.append(name)
        if kept is None:
            kept = dict(params)
        del kept[name]
    if refused:
        reasons = "; ".join(f"{name}: {unsupported[name]}" for name in refused)
        listed = ", ".join(sorted(supported))
        raise InvalidRequestError(
            f"option(s) {', '.join(repr(n) for n in refused)} are not supported by {api} "
            f"({reasons}). Supported: {listed}. Pass drop_params=True to drop the options "
            f"{service} lacks, or send {service} fields with extra_body={{...}}",
            param=refused[0],
            provider=provider,
            model=model,
        )
    return params if kept is None else kept


def check_token_limit(max_tokens: int | None, max_completion_tokens: int | None) -> None:
    """One token limit, not both of OpenAI's names for it: a :class:`ValueError`, which the
    option model (calling this from its ``model_validator``) reports as an invalid option."""
    if max_tokens is not None and max_completion_tokens is not None:
        raise ValueError(
            "pass max_tokens or max_completion_tokens, not both (they mean the same limit)"
        )


def check_tool_choice(
    tools: Sequence[Mapping[str, Any]] | None, tool_choice: str | Mapping[str, Any] | None
) -> None:
    """A ``tool_choice`` that fits the call's ``tools`` (OpenAI function tools, already
    checked): :func:`~llmrouter.validation.validate_tool_choice` with their names."""
    validate_tool_choice(
        tool_choice, None if tools is None else [t["function"]["name"] for t in tools]
    )


# --- content --------------------------------------------------------------------------------------


def part_text(part: Mapping[str, Any], where: str, fail: RequestErrors) -> str:
    """A ``text`` content part's text; anything but a string is refused, naming ``where``."""
    text = part.get("text")
    if not isinstance(text, str):
        raise fail(f"{where}.text must be a string", f"{where}.text")
    return text


def parse_data_url(
    url: str,
    where: str,
    fail: RequestErrors,
    *,
    hint: str,
    aliases: Mapping[str, str] | None = None,
    require_data: bool = False,
) -> tuple[str, str]:
    """``data:<media type>;base64,<data>`` -> (media type, lower-cased, then through
    ``aliases`` such as :data:`MEDIA_ALIASES`; the base64 data as given).

    Services take inline data only as base64 with its media type, so a URL without either
    (or, with ``require_data``, with no data) is refused; the message names ``where`` and
    ends with ``hint``, the service's own words (``"Anthropic takes base64 data with its
    media type"``). The data is not decoded here: a service that wants it checked does so."""
    header, sep, data = url[5:].partition(",")
    fields = header.split(";")
    media = fields[0].strip().lower()
    if not sep or "base64" not in fields[1:] or not media or (require_data and not data):
        raise fail(
            f"{where} is a data: URL that is not 'data:<media type>;base64,<data>'; {hint}",
            where,
        )
    return (aliases.get(media, media) if aliases else media), data


def system_text_parts(
    content: Iterable[Any], index: int, fail: RequestErrors, *, prompt: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The parts of system message ``messages[index]``'s list ``content`` as (where, part),
    each checked, as it comes, to be a ``text`` part with a string ``text``: a service's
    system prompt is text, which ``prompt`` names in the error (``"Anthropic's system
    prompt"``). A generator, so a caller's own checks of a part run before the next part's."""
    for j, part in enumerate(content):
        at = f"messages[{index}].content[{j}]"
        if not isinstance(part, Mapping) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, Mapping) else None
            raise fail(
                f"{at}: a system message holds text parts only ({prompt} is text), got type "
                f"{kind!r}",
                at,
            )
        part_text(part, at, fail)
        yield at, part


# --- tool calls -----------------------------------------------------------------------------------


class ToolCallParts(NamedTuple):
    """An OpenAI tool call of an assistant message, checked: its id (``None`` when it had no
    non-empty string id and none was required), function name and parsed arguments, and the
    tool call as given (``source``: for a service's own fields on it, such as Gemini's
    ``thought_signature``)."""

    id: str | None
    name: str
    arguments: dict[str, Any]
    source: Mapping[str, Any]


def parse_tool_call(
    tool_call: object,
    where: str,
    index: int,
    fail: RequestErrors,
    *,
    takes: str,
    field: str,
    require_id: bool = True,
) -> ToolCallParts:
    """An assistant message's tool call (``messages[index]``, at ``where``) -> its parts.

    OpenAI sends the arguments as JSON text; every service here takes a JSON object, so the
    text is parsed (an empty or missing one is ``{}``, a dict given as is is kept) and
    anything else is an error naming the place. ``takes`` and ``field`` put the service's
    words in those errors: ``"<takes> as a JSON object"`` (``"Anthropic takes a tool call's
    input"``) and ``"(<field> is one)"`` (``"Anthropic's tool input"``). With
    ``require_id`` a tool call without a non-empty string id is refused (services that
    match results to calls by id need it)."""
    fn = tool_call.get("function") if isinstance(tool_call, Mapping) else None
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        raise fail(
            f"{where} must be {{'id': ..., 'type': 'function', 'function': {{'name': ..., "
            "'arguments': '<JSON object>'}}",
            where,
        )
    assert isinstance(tool_call, Mapping)  # (fn came from it)
    call_id = tool_call.get("id")
    if not isinstance(call_id, str) or not call_id:
        if require_id:
            raise fail(f"{where}.id must be the tool call's id (a non-empty string)", f"{where}.id")
        call_id = None
    arguments = fn.get("arguments")
    at = f"{where}.function.arguments"
    if arguments is None or arguments == "":
        parsed: Any = {}
    elif isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError as exc:
            raise fail(
                f"messages[{index}]: {at} is not valid JSON ({exc}); {takes} as a JSON object",
                at,
            ) from None
    else:
        parsed = arguments
    if not isinstance(parsed, dict):
        raise fail(
            f"messages[{index}]: {at} must be a JSON object ({field} is one), got "
            f"{type(parsed).__name__}",
            at,
        )
    return ToolCallParts(call_id, fn["name"], parsed, tool_call)


def parse_tool_calls(
    message: Mapping[str, Any],
    index: int,
    fail: RequestErrors,
    *,
    takes: str,
    field: str,
    require_id: bool = True,
) -> list[ToolCallParts]:
    """The ``tool_calls`` of assistant message ``messages[index]``, each through
    :func:`parse_tool_call` (same keywords), in order; none (absent, ``None`` or empty) is
    ``[]``, and anything but a list is refused."""
    calls = message.get("tool_calls")
    if not calls:
        return []
    if not isinstance(calls, list):
        raise fail(f"messages[{index}].tool_calls must be a list", f"messages[{index}].tool_calls")
    return [
        parse_tool_call(
            tool_call,
            f"messages[{index}].tool_calls[{j}]",
            index,
            fail,
            takes=takes,
            field=field,
            require_id=require_id,
        )
        for j, tool_call in enumerate(calls)
    ]


def openai_tool_call(call_id: str, name: str, arguments: object) -> dict[str, Any]:
    """A service's tool call -> OpenAI's ``{"id", "type": "function", "function": {"name",
    "arguments"}}``, the arguments serialised as the JSON text OpenAI's shape carries."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


# --- answers --------------------------------------------------------------------------------------


def json_object_body(call: Call, response: HTTPResponse, what: str) -> dict[str, Any]:
    """A 2xx body as a JSON object, or the :class:`~llmrouter.errors.APIError` of
    :func:`~llmrouter.provider.unreadable_response` naming ``what`` (``"message"``) for a body
    that is not JSON or not an object. Parsed with pydantic-core's ``from_json`` (a third of
    ``json.loads``'s time on a typical answer)."""
    try:
        raw = from_json(response.content)
    except ValueError as exc:
        raise unreadable_response(call, response, what, exc) from None
    if not isinstance(raw, dict):
        raise unreadable_response(call, response, what, TypeError("not a JSON object"))
    return raw


def assistant_message(
    texts: Sequence[str],
    calls: Sequence[dict[str, Any]],
    thoughts: Sequence[str] = (),
    thinking_blocks: Sequence[Any] = (),
) -> dict[str, Any]:
    """The fields of an answer's OpenAI message: the ``texts`` joined (``None`` when the
    answer is only tool calls, as OpenAI sends it), ``tool_calls`` when there are any, and
    the reasoning: with ``thinking_blocks`` (blocks to send back unchanged) they are kept and
    ``reasoning_content`` is the ``thoughts`` joined (``None`` when all are redacted);
    without, ``reasoning_content`` when there are ``thoughts``."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if calls:
        message["tool_calls"] = list(calls)
    if thinking_blocks:
        message["reasoning_content"] = "".join(thoughts) if thoughts else None
        message["thinking_blocks"] = list(thinking_blocks)
    elif thoughts:
        message["reasoning_content"] = "".join(thoughts)
    return message


def cached_prompt_usage(
    uncached: int, cache_read: int, cache_written: int, completion: int
) -> dict[str, Any]:
    """OpenAI's usage for a service whose input count leaves out the prompt tokens read from
    or written to its cache (Anthropic's, and Converse's): ``prompt_tokens`` is the sum of
    all three (OpenAI's meaning: every prompt token), with the cache reads as
    ``prompt_tokens_details.cached_tokens``, the writes as ``cache_creation_tokens``, and
    both also under Anthropic's names (``cache_read_input_tokens``...)."""
    prompt = uncached + cache_read + cache_written
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": cache_read,
            "cache_creation_tokens": cache_written,
        },
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_written,
    }


def one_page_error(call: Call, response: HTTPResponse, count: int, why: str) -> APIError:
    """The error for a model list with more pages than the one read (``why``: what said so):
    llmrouter sends one request per call, and a short list must not pass for the whole one."""
    return APIError(
        f"{call.provider} has more models than the {count} of one page ({why}); llmrouter "
        "reads one page per call, and will not return a short list as the whole one",
        provider=call.provider,
        model=call.model,
        status_code=response.status_code,
        request_id=response.request_id,
    )


# --- streams --------------------------------------------------------------------------------------


def stream_chunk(state: StreamState, delta: dict[str, Any], **fields: Any) -> ModelResponseStream:
    """A one-choice chunk of the stream ``state`` describes (its id, creation time and
    model): choice 0 with ``delta`` and any other choice ``fields`` (``finish_reason``)."""
    return _validate_chunk(  # type: ignore[no-any-return]
        {
            "id": state.response_id,
            "created": state.created,
            "model": state.model,
            "choices": [{"index": 0, "delta": delta, **fields}],
        }
    )


def content_chunk(state: StreamState, text: Any) -> ModelResponseStream:
    """``stream_chunk(state, {"content": text})``, the chunk of a text delta, the commonest
    event of every stream: built without validation when ``text`` and the stream's id, creation
    time and model are of exactly the types the chunk declares (the same objects, about a third
    cheaper; :func:`llmrouter.types.trusted_content_chunk`), validated otherwise, so a malformed
    event fails exactly as it would through :func:`stream_chunk`."""
    response_id = state.response_id
    created = state.created
    model = state.model
    if (
        type(text) is str
        and type(response_id) is str
        and type(created) is int
        and type(model) is str
    ):
        return trusted_content_chunk(response_id, created, model, text)
    return stream_chunk(state, {"content": text})


def tool_call_start(index: int, call_id: str, name: str) -> dict[str, Any]:
    """The delta that opens a streamed tool call: ``tool_calls[0]`` with its ``index``
    (counting the answer's tool calls, not the service's content blocks), id, type, name and
    empty ``arguments``; the argument pieces follow with the ``index`` only."""
    return {
        "tool_calls": [
            {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
        ]
    }


def unreadable_event(call: Call, data: str, exc: object) -> APIError:
    """The error for a stream event that does not have the shape the service promises (its
    first 200 characters quoted, to find it in a capture)."""
    return APIError(
        f"{call.provider} sent a stream event llmrouter cannot read ({exc}): {data[:200]!r}",
        provider=call.provider,
        model=call.model,
    )
