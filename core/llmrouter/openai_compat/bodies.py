"""Request bodies of OpenAI's wire format, as pure functions of the call and a :class:`Dialect`.

Options arrive validated (a pydantic model per provider, see :mod:`llmrouter.validation`);
these functions only reshape them into what the service's endpoint wants.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from pydantic import BaseModel

from llmrouter.errors import InvalidRequestError
from llmrouter.openai_compat.dialect import Dialect
from llmrouter.pipeline import Call, ChatPrompt, TextPrompt
from llmrouter.provider import merge_extra_body

__all__ = [
    "chat_body",
    "check_messages",
    "completion_body",
    "embedding_body",
    "option_values",
]


def option_values(options: BaseModel, dialect: Dialect) -> dict[str, Any]:
    """The options the caller set, as a dict, without the ones the dialect never sends."""
    if not options.model_fields_set:
        return {}  # the common case, without a model_dump
    values = options.model_dump(exclude_none=True)
    for name in dialect.unsent_options:
        values.pop(name, None)
    return values


def check_messages(call: Call, dialect: Dialect) -> None:
    """Refuse, before sending, what the service is documented to reject in ``messages``."""
    if dialect.rejects_message_name:
        for i, msg in enumerate(call.messages or ()):
            if "name" in msg:
                raise InvalidRequestError(
                    f"messages[{i}] has a 'name'; {dialect.title} rejects messages[].name with "
                    "a 400: drop it (or fold it into the content)",
                    param=f"messages[{i}].name",
                    provider=call.provider,
                    model=call.model,
                )


def _indexed_tool_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages whose assistant ``tool_calls`` carry their position as ``index``.

    Only the messages that need it are copied; the caller's list is never changed.
    """
    out = messages
    for i, msg in enumerate(messages):
        calls = msg.get("tool_calls")
        if not calls or all("index" in c for c in calls):
            continue
        if out is messages:
            out = list(messages)
        out[i] = {
            **msg,
            "tool_calls": [{**c, "index": c.get("index", n)} for n, c in enumerate(calls)],
        }
    return out


def _stream_fields(call: Call, body: dict[str, Any], dialect: Dialect) -> None:
    if call.stream:
        stream_options = dict(body.get("stream_options") or {})
        if dialect.force_include_usage:
            stream_options["include_usage"] = True
        else:
            stream_options.setdefault("include_usage", True)
        body["stream_options"] = stream_options
        body["stream"] = True
    else:
        body.pop("stream_options", None)


def chat_body(
    call: Call, options: BaseModel, prompt: ChatPrompt, dialect: Dialect
) -> dict[str, Any]:
    """The ``/chat/completions`` body: messages, validated options, stream settings.

    A forced ``tool_choice`` goes out in OpenAI's form, ``{"type": "function", "function":
    {"name": ...}}``, whatever the service's schema says: every compatible service documents
    and accepts that object.
    """
    messages = prompt.messages
    if dialect.tool_call_index:
        messages = _indexed_tool_calls(messages)
    body: dict[str, Any] = {"model": call.model, "messages": messages}
    opts = option_values(options, dialect)
    if opts:
        for old, new in dialect.chat_renames.items():
            if old in opts:
                opts[new] = opts.pop(old)
        if dialect.stop_as_list and isinstance(opts.get("stop"), str):
            opts["stop"] = [opts["stop"]]
        top = opts.get("top_logprobs")
        if dialect.integer_logprobs:
            # logprobs=N; OpenAI's logprobs=True (with top_logprobs=k) means N=k, else 1.
            del_top = opts.pop("top_logprobs", None)
            logprobs = opts.get("logprobs")
            if isinstance(logprobs, bool):
                if logprobs:
                    opts["logprobs"] = del_top if del_top is not None else 1
                else:
                    del opts["logprobs"]
            elif del_top is not None and logprobs is None:
                opts["logprobs"] = del_top
        elif top is not None and "logprobs" not in opts:
            opts["logprobs"] = True
        body.update(opts)
    _stream_fields(call, body, dialect)
    return merge_extra_body(body, call)


def completion_body(
    call: Call,
    options: BaseModel,
    prompt: TextPrompt,
    dialect: Dialect,
    *,
    chat_only: Set[str] = frozenset(),
) -> dict[str, Any]:
    """The ``/completions`` body for a chat call whose prompt a template rendered client-side.

    Chat-style options are translated (``max_completion_tokens`` -> ``max_tokens``,
    ``logprobs=True, top_logprobs=k`` -> ``logprobs=k``); the ``chat_only`` ones are refused
    with a message that names the template. The template's stop sequences (its end-of-turn
    token) are added to the caller's, so the model stops where the assistant turn ends instead
    of writing the user's next turn.
    """
    opts = option_values(options, dialect)
    used = sorted(k for k in opts if k in chat_only)
    if used:
        raise InvalidRequestError(
            f"option(s) {', '.join(used)} need the chat endpoint, but a prompt template "
            f"({prompt.template!r}) sends this call to /completions; drop the template "
            "registration for this model or the option(s)",
            param=used[0],
            provider=call.provider,
            model=call.model,
        )
    if "max_completion_tokens" in opts:
        opts["max_tokens"] = opts.pop("max_completion_tokens")
    top = opts.pop("top_logprobs", None)
    logprobs = opts.pop("logprobs", None)
    if not isinstance(logprobs, bool) and logprobs is not None:
        opts["logprobs"] = logprobs  # already the /completions form: a number
    elif logprobs is False:
        pass  # asked for none: top_logprobs goes too, as on the chat endpoint
    elif logprobs or top is not None:
        opts["logprobs"] = top if top is not None else (1 if dialect.integer_logprobs else 0)
    stop = opts.get("stop")
    if prompt.stop:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        given = len(stops)
        stops.extend(s for s in prompt.stop if s not in stops)
        if dialect.max_stop is not None and len(stops) > dialect.max_stop:
            raise InvalidRequestError(
                f"{dialect.title} takes at most {dialect.max_stop} stop sequences, but the "
                f"template {prompt.template!r} adds {len(stops) - given} to the {given} given; "
                "pass fewer",
                param="stop",
                provider=call.provider,
                model=call.model,
            )
        opts["stop"] = stops
    elif dialect.stop_as_list and isinstance(stop, str):
        opts["stop"] = [stop]
    body: dict[str, Any] = {"model": call.model, "prompt": prompt.text}
    body.update(opts)
    _stream_fields(call, body, dialect)
    return merge_extra_body(body, call)


def embedding_body(call: Call, options: BaseModel, dialect: Dialect) -> dict[str, Any]:
    """The ``/embeddings`` body (``input`` is text, or token ids where the dialect takes them)."""
    body: dict[str, Any] = {"model": call.model, "input": call.input}
    body.update(option_values(options, dialect))
    return merge_extra_body(body, call)
