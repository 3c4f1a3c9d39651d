"""The OpenAI-compatible request checks of the emulators, and the data a flavour declares for them.

Together and OpenAI accept nearly the same request bodies and reject bad ones at the same
points, in different words. So the checks are written once, here, and read a :class:`Dialect`:
each flavour's wire module (:mod:`~llmrouter.testing.together_wire`,
:mod:`~llmrouter.testing.openai_wire`) declares one, with its rejection texts
(:class:`Complaint`), its accepted roles and values, and the few rules only one API has (each an
optional complaint or a flag). Pure functions: no I/O, no state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmrouter.testing.wire import is_int

__all__ = ["Complaint", "Dialect", "Invalid", "check_common"]


class Invalid(Exception):
    """A request the real service would reject: the status and the error's fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param


@dataclass(frozen=True, slots=True)
class Complaint:
    """How an API words one kind of rejection. ``message`` and ``param`` are ``str.format``
    templates filled with the check's values (``i``, ``name``, ``model``, ...)."""

    message: str
    param: str | None = None
    status: int = 400
    code: str | None = None

    def __call__(self, **values: object) -> Invalid:
        return Invalid(
            self.status,
            self.message.format(**values),
            code=self.code,
            param=None if self.param is None else self.param.format(**values),
        )


@dataclass(frozen=True)
class Dialect:
    """What one OpenAI-compatible API accepts and how it says no: declared data only.

    ``complaints`` maps each check (see :meth:`complaint`) to its wording; a check whose name
    is missing is one this API does not make. The ``*_fields`` sets and ``max_stops`` apply
    only to a strict emulator (an API that rejects what it does not know).
    """

    complaints: Mapping[str, Complaint]
    #: message roles accepted
    roles: frozenset[str]
    #: ``reasoning_effort`` values accepted
    efforts: frozenset[str]
    #: the finish reason of a reply that ended by itself
    natural_finish: str
    #: model types each endpoint serves
    chat_model_types: tuple[str, ...]
    completion_model_types: tuple[str, ...]
    #: ... and ``/completions`` on a lenient (not strict) emulator, if that differs
    lenient_completion_model_types: tuple[str, ...] | None = None
    #: string ``tool_choice`` values accepted (None: any string, e.g. a bare tool name)
    tool_choices: frozenset[str] | None = None
    #: a message without content must be an assistant's tool call (else any assistant message)
    assistant_content_needs_tool_calls: bool = False
    #: the fields whose value bounds the reply, the first one present wins
    max_tokens_fields: tuple[str, ...] = ("max_tokens",)
    #: ``context_length_exceeded_behavior: "truncate"`` lets a long prompt through
    honours_truncate: bool = False
    #: JSON mode (``response_format``) also shapes ``/completions`` replies
    json_mode_in_completions: bool = False
    #: in ``json_object`` mode a reply that already is a JSON object is sent as it is
    keep_json_objects: bool = False
    #: ``/embeddings`` takes token ids (OpenAI's four input forms), not only text
    token_id_embeddings: bool = False
    #: strict mode: the top-level fields each endpoint accepts, and the most stop sequences
    chat_fields: frozenset[str] | None = None
    completion_fields: frozenset[str] | None = None
    embedding_fields: frozenset[str] | None = None
    max_stops: int | None = None
    _sorted_roles: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sorted_roles", ", ".join(sorted(self.roles)))

    def complaint(self, check: str, /, **values: object) -> Invalid:
        """The rejection of ``check``, worded for this API (a ``KeyError`` if it makes none)."""
        return self.complaints[check](**values)

    def makes(self, name: str) -> bool:
        return name in self.complaints

    def max_tokens(self, body: Mapping[str, Any]) -> object:
        """The reply bound the request set (the first of ``max_tokens_fields`` present)."""
        for name in self.max_tokens_fields:
            if name in body:
                return body[name]
        return None

    def completion_types(self, strict: bool) -> tuple[str, ...]:
        if not strict and self.lenient_completion_model_types is not None:
            return self.lenient_completion_model_types
        return self.completion_model_types

    # -- checks ----------------------------------------------------------------------------

    def check_fields(self, body: Mapping[str, Any], allowed: frozenset[str] | None) -> None:
        """Strict mode: reject a top-level field the endpoint does not know."""
        if allowed is None:
            return
        for name in body:
            if name not in allowed:
                raise self.complaint("unknown_field", name=name)

    def check_stop(self, body: Mapping[str, Any]) -> None:
        """Strict mode: no more than ``max_stops`` stop sequences."""
        stop = body.get("stop")
        if self.max_stops is not None and isinstance(stop, list) and len(stop) > self.max_stops:
            raise self.complaint("stop_count", count=len(stop))

    def check_chat(self, body: Mapping[str, Any], *, strict: bool) -> None:
        """The chat-specific checks, in the order the APIs make them (then :func:`check_common`)."""
        messages = body.get("messages")
        if messages is None:
            raise self.complaint("messages_missing")
        if not isinstance(messages, list) or not messages:
            raise self.complaint("messages_empty")
        for i, message in enumerate(messages):
            self._check_message(i, message)
        if self.makes("logprobs_type"):
            logprobs = body.get("logprobs")
            if logprobs is not None and not isinstance(logprobs, bool):
                raise self.complaint("logprobs_type")
            if body.get("top_logprobs") is not None and logprobs is not True:
                raise self.complaint("top_logprobs")
        if self.makes("max_tokens_value"):
            for name in ("max_tokens", "max_completion_tokens"):
                value = body.get(name)
                if value is not None and (not is_int(value) or value < 1):
                    raise self.complaint("max_tokens_value", name=name)
        tools = body.get("tools")
        if tools is not None:
            if not isinstance(tools, list):
                raise self.complaint("tools_type")
            for i, tool in enumerate(tools):
                function = tool.get("function") if isinstance(tool, dict) else None
                if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                    raise self.complaint("tool_name", i=i)
        choice = body.get("tool_choice")
        if choice is not None:
            if not isinstance(choice, (str, dict)) or (
                isinstance(choice, str)
                and self.tool_choices is not None
                and choice not in self.tool_choices
            ):
                raise self.complaint("tool_choice")
            if self.makes("tool_choice_without_tools") and choice != "none" and not tools:
                raise self.complaint("tool_choice_without_tools")
        response_format = body.get("response_format")
        if response_format is not None and (
            not isinstance(response_format, dict)
            or response_format.get("type") not in ("text", "json_object", "json_schema")
        ):
            raise self.complaint("response_format")
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in self.efforts:
            raise self.complaint("reasoning_effort")
        if strict:
            self.check_stop(body)

    def _check_message(self, i: int, message: object) -> None:
        if not isinstance(message, dict):
            raise self.complaint("message_object", i=i, roles=self._sorted_roles)
        role = message.get("role")
        if role not in self.roles:
            raise self.complaint("message_role", i=i, roles=self._sorted_roles)
        content = message.get("content")
        if content is None:
            if role != "assistant" or (
                self.assistant_content_needs_tool_calls and not message.get("tool_calls")
            ):
                raise self.complaint("content_missing", i=i)
        elif not isinstance(content, (str, list)):
            raise self.complaint("content_type", i=i)
        if (
            role == "tool"
            and self.makes("tool_call_id")
            and not isinstance(message.get("tool_call_id"), str)
        ):
            raise self.complaint("tool_call_id", i=i)

    def check_prompt(self, body: Mapping[str, Any]) -> str:
        """A ``/completions`` body's ``prompt``: a string (returned), else a rejection."""
        prompt = body.get("prompt")
        if prompt is None:
            raise self.complaint("prompt_missing")
        if not isinstance(prompt, str):
            raise self.complaint("prompt_type")
        return prompt

    def check_context(
        self, entry: Mapping[str, Any], body: Mapping[str, Any], prompt_tokens: int
    ) -> None:
        """The prompt plus the reply bound must fit the model's ``context_length``."""
        context = entry.get("context_length")
        wanted = self.max_tokens(body)
        wanted = wanted if is_int(wanted) else 0
        if (
            is_int(context)
            and prompt_tokens + wanted > context
            and not (
                self.honours_truncate and body.get("context_length_exceeded_behavior") == "truncate"
            )
        ):
            raise self.complaint(
                "context_length",
                context=context,
                prompt_tokens=prompt_tokens,
                wanted=wanted,
                total=prompt_tokens + wanted,
            )

    def model_entry(
        self,
        models: Mapping[str, dict[str, Any]],
        body: Mapping[str, Any],
        allowed: tuple[str, ...] | None,
    ) -> dict[str, Any]:
        """The catalogue entry of the request's ``model`` (matched case-insensitively), if it
        exists and serves an endpoint of ``allowed`` types."""
        model = body.get("model")
        if model is None:
            raise self.complaint("model_missing")
        if not isinstance(model, str) or not model:
            raise self.complaint("model_type")
        entry = models.get(model.lower())
        if entry is None:
            raise self.complaint("model_unknown", model=model)
        if allowed is not None and entry.get("type") not in allowed:
            raise self.complaint("model_endpoint", id=entry["id"], type=entry.get("type"))
        return entry


# bounds from Together's OpenAPI spec (and the OpenAI-compatible fields Together accepts)
_NUMBER_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "min_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
    "repetition_penalty": (0.0, None),
}
_INT_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "max_tokens": (1, None),
    "n": (1, 128),
    "top_k": (-1, None),
    "seed": (None, None),
    "top_logprobs": (0, 20),
}
#: (field, low, high, integer?): the numbers first, then the integers
_BOUNDED: tuple[tuple[str, float | None, float | None, bool], ...] = (
    *((name, lo, hi, False) for name, (lo, hi) in _NUMBER_BOUNDS.items()),
    *((name, lo, hi, True) for name, (lo, hi) in _INT_BOUNDS.items()),
)
_BOOL_FIELDS = ("stream", "echo")
_STR_FIELDS = ("safety_model", "user")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bad(name: str, what: str) -> Invalid:
    return Invalid(400, f"Input validation error: '{name}' {what}", param=name)


def check_common(body: Mapping[str, Any]) -> None:
    """Type and range checks of the sampling fields, shared by chat and text completions (and
    by both flavours, in Together's words: the first API the emulator spoke)."""
    for name, lo, hi, integer in _BOUNDED:
        value = body.get(name)
        if value is None:
            continue
        if not (is_int(value) if integer else _is_number(value)):
            raise _bad(name, "must be an integer" if integer else "must be a number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bound = f">= {lo}" if integer and hi is None else f"between {lo} and {hi}"
            raise _bad(name, f"must be {bound}, got {value}")
    for name in _BOOL_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise _bad(name, "must be a boolean")
    for name in _STR_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise _bad(name, "must be a string")
    logprobs = body.get("logprobs")
    if (
        logprobs is not None
        and not isinstance(logprobs, bool)
        and (not is_int(logprobs) or not 0 <= logprobs <= 20)
    ):
        raise _bad("logprobs", "must be an integer between 0 and 20")
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop))
    ):
        raise _bad("stop", "must be a list of strings")
    logit_bias = body.get("logit_bias")
    if logit_bias is not None and (
        not isinstance(logit_bias, dict) or not all(_is_number(v) for v in logit_bias.values())
    ):
        raise _bad("logit_bias", "must map tokens to numbers")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise _bad("stream_options", "must be an object")
    behaviour = body.get("context_length_exceeded_behavior")
    if behaviour is not None and behaviour not in ("truncate", "error"):
        raise _bad("context_length_exceeded_behavior", "must be 'truncate' or 'error'")
