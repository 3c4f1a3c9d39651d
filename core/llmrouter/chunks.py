"""Rebuild one whole answer from the chunks of a stream: :func:`stream_chunk_builder`.

Why this exists: an app that streams (to show tokens as they come) usually still needs the
whole answer at the end, to log it, to count its cost, to append it to the conversation of a
tool loop, or to hand it to code written for non-streamed calls. Joining the pieces by hand is
easy to get subtly wrong (tool calls arrive in fragments and interleave, ``n>1`` streams
interleave their choices, the usage rides on a chunk of its own, provider extras such as
Anthropic's signed ``thinking_blocks`` must survive unchanged or the next turn is refused).
This does it once, the same way for every provider, with no I/O: the result is the
:class:`~llmrouter.types.ModelResponse` the call would have returned had it not been streamed,
and its ``model_dump()`` validates as the ``openai`` SDK's ``ChatCompletion``.

How the pieces are joined:

- ``id``, ``created``, ``model``, ``system_fingerprint``: from the first chunk that has them
  (an empty ``id``, which the OpenAI-compatible parser gives a chunk that came without one,
  counts as none). Chunks with two different non-empty ids are two streams mixed: refused.
- choices are grouped by ``index`` (``n>1`` streams interleave them) and sorted by it. For each:

  - ``message.content``: the ``delta.content`` pieces joined; ``None`` when no piece had
    content, and also when every piece was ``""`` and the choice called tools (a stream's
    first chunk says ``content: ""`` where the non-streamed answer says ``null``);
  - ``message.tool_calls``: the pieces grouped by their ``index`` within the choice, in index
    order; ``id``, ``type`` and ``function.name`` from the first piece that carries them (``""``
    when none did), ``function.arguments`` the fragments joined; ``None`` when there were none;
  - ``finish_reason``: the last non-``None`` one (``None`` if the stream never gave one);
  - ``logprobs``: the ``content`` lists of the chunks' logprobs joined into one
    ``{"content": [...]}`` (and likewise OpenAI's ``refusal`` list when one is sent);
    ``None`` when no chunk carried such a list;
  - fields our types do not declare (``reasoning_content``, ``thinking_blocks``, ``refusal``,
    any provider's own) on a delta, on a tool-call piece or its ``function``, or on the
    choice itself are never dropped: a string is joined piece by piece, a list is extended
    (so ``thinking_blocks`` lists are concatenated), any other value keeps the last one sent;
    ``None`` never replaces a value (a field only ever sent as ``None`` stays, as ``None``).
    They land on the message, the tool call, its function or the choice respectively.

- ``usage``: the last non-``None`` one (OpenAI sends it on a last chunk with no choices, Gemini a
  cumulative one on every chunk, Anthropic on the last), copied with its extras
  (``prompt_tokens_details``...).
- undeclared top-level fields of the chunks (Anthropic's ``stop_reason``, Gemini's
  ``prompt_feedback``) describe the whole answer, not a piece of it: the last non-``None`` value
  is kept. OpenAI's ``obfuscation`` (random padding of each chunk) means nothing once the
  stream is over and is left out.
- ``response.llmrouter``: the call info of the last chunk that holds one, shared as it is (a
  pending one stays pending); none is made up otherwise.

Only :class:`~llmrouter.types.ModelResponseStream` chunks are accepted (not plain dicts: validate
those with ``ModelResponseStream.model_validate`` first), so a chunk of another shape fails here,
by position, rather than as a half-built answer later.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from llmrouter.errors import InvalidRequestError
from llmrouter.types import (
    CallInfo,
    ChatCompletionMessageToolCall,
    Choice,
    Delta,
    DeltaToolCall,
    Function,
    Message,
    ModelResponse,
    ModelResponseStream,
    PendingCallInfo,
    StreamChoice,
    Usage,
)

__all__ = ["stream_chunk_builder"]

#: Top-level chunk fields that describe one chunk only, not the answer (see the module docstring).
_CHUNK_ONLY = frozenset({"obfuscation"})


class _Text:
    """A string extra being joined: its pieces, joined once at the end."""

    __slots__ = ("parts",)

    def __init__(self, first: str) -> None:
        self.parts = [first]


class _Pieces:
    """The undeclared fields of one kind of piece (delta, tool call, function, choice), merged:
    strings joined, lists extended, anything else the last value, ``None`` never overriding."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, extra: dict[str, Any] | None) -> None:
        if not extra:
            return
        values = self.values
        for key, value in extra.items():
            have = values.get(key)
            if value is None:
                if key not in values:
                    values[key] = None
            elif isinstance(value, str):
                if isinstance(have, _Text):
                    have.parts.append(value)
                else:
                    values[key] = _Text(value)
            elif isinstance(value, list):
                if type(have) is list:
                    have.extend(copy.deepcopy(value))
                else:
                    values[key] = copy.deepcopy(value)
            else:
                values[key] = copy.deepcopy(value)

    def result(self, declared: Mapping[str, Any]) -> dict[str, Any]:
        """The merged fields, leaving out any name the target model declares itself."""
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            if key in declared:
                continue
            out[key] = "".join(value.parts) if isinstance(value, _Text) else value
        return out


class _ToolCall:
    """One tool call of a choice, gathered from its pieces."""

    __slots__ = ("arguments", "extras", "function_extras", "id", "name", "type")

    def __init__(self) -> None:
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []
        self.extras = _Pieces()
        self.function_extras = _Pieces()

    def add(self, piece: DeltaToolCall) -> None:
        if self.id is None and piece.id is not None:
            self.id = piece.id
        if self.type is None and piece.type is not None:
            self.type = piece.type
        self.extras.add(piece.__pydantic_extra__)
        function = piece.function
        if function is not None:
            if self.name is None and function.name is not None:
                self.name = function.name
            if function.arguments is not None:
                self.arguments.append(function.arguments)
            self.function_extras.add(function.__pydantic_extra__)

    def build(self) -> ChatCompletionMessageToolCall:
        return ChatCompletionMessageToolCall(
            id=self.id or "",
            type="function",
            function=Function(
                name=self.name or "",
                arguments="".join(self.arguments),
                **self.function_extras.result(Function.model_fields),
            ),
            **self.extras.result(ChatCompletionMessageToolCall.model_fields),
        )


class _Choice:
    """One choice (one ``index``) of the stream, gathered from its deltas."""

    __slots__ = (
        "content",
        "extras",
        "finish_reason",
        "has_content",
        "index",
        "logprobs",
        "message_extras",
        "refusal_logprobs",
        "tool_calls",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.content: list[str] = []
        self.has_content = False
        self.tool_calls: dict[int, _ToolCall] = {}
        self.finish_reason: str | None = None
        self.logprobs: list[Any] | None = None
        self.refusal_logprobs: list[Any] | None = None
        self.message_extras = _Pieces()
        self.extras = _Pieces()

    def add(self, choice: StreamChoice) -> None:
        delta: Delta = choice.delta
        if delta.content is not None:
            self.has_content = True
            self.content.append(delta.content)
        if delta.tool_calls:
            calls = self.tool_calls
            for piece in delta.tool_calls:
                call = calls.get(piece.index)
                if call is None:
                    call = calls[piece.index] = _ToolCall()
                call.add(piece)
        self.message_extras.add(delta.__pydantic_extra__)
        if choice.finish_reason is not None:
            self.finish_reason = choice.finish_reason
        if choice.logprobs is not None:
            self._add_logprobs(choice.logprobs)
        self.extras.add(choice.__pydantic_extra__)

    def _add_logprobs(self, logprobs: Any) -> None:
        content = _list_field(logprobs, "content")
        if content is not None:
            if self.logprobs is None:
                self.logprobs = []
            self.logprobs.extend(copy.deepcopy(content))
        refusal = _list_field(logprobs, "refusal")
        if refusal is not None:
            if self.refusal_logprobs is None:
                self.refusal_logprobs = []
            self.refusal_logprobs.extend(copy.deepcopy(refusal))

    def build(self) -> Choice:
        tool_calls = (
            [self.tool_calls[i].build() for i in sorted(self.tool_calls)]
            if self.tool_calls
            else None
        )
        content: str | None = "".join(self.content) if self.has_content else None
        if content == "" and tool_calls:
            content = None  # as the non-streamed answer has it (see the module docstring)
        logprobs: dict[str, Any] | None = None
        if self.logprobs is not None or self.refusal_logprobs is not None:
            logprobs = {"content": self.logprobs if self.logprobs is not None else []}
            if self.refusal_logprobs is not None:
                logprobs["refusal"] = self.refusal_logprobs
        message = Message(
            role="assistant",
            content=content,
            tool_calls=tool_calls,
            **self.message_extras.result(Message.model_fields),
        )
        return Choice(
            index=self.index,
            message=message,
            finish_reason=self.finish_reason,
            logprobs=logprobs,
            **self.extras.result(Choice.model_fields),
        )


def _list_field(obj: Any, name: str) -> list[Any] | None:
    """``obj[name]`` (a mapping) or ``obj.name`` (an object) when it is a list, else ``None``."""
    value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return value if isinstance(value, list) else None


def _refuse_container(chunks: object) -> None:
    """Clear errors for the likely mistakes that are not a sequence of chunks."""
    if isinstance(chunks, ModelResponseStream):
        raise InvalidRequestError(
            "stream_chunk_builder(chunks) takes all the chunks of a stream, not one chunk: "
            "pass a list of them, e.g. stream_chunk_builder(list_of_chunks)",
            param="chunks",
        )
    if isinstance(chunks, (str, bytes, Mapping, BaseModel)):
        raise InvalidRequestError(
            f"stream_chunk_builder(chunks) takes an iterable of ModelResponseStream chunks, got "
            f"{type(chunks).__name__}; collect the chunks of one stream in a list and pass that",
            param="chunks",
        )
    if isinstance(chunks, AsyncIterable) and not isinstance(chunks, Iterable):
        raise InvalidRequestError(
            "stream_chunk_builder(chunks) takes the chunks themselves, not an async stream: "
            "collect them first (chunks = [c async for c in stream]) and pass the list",
            param="chunks",
        )
    if not isinstance(chunks, Iterable):
        raise InvalidRequestError(
            f"stream_chunk_builder(chunks) takes an iterable of ModelResponseStream chunks, got "
            f"{type(chunks).__name__}",
            param="chunks",
        )


def stream_chunk_builder(chunks: Iterable[ModelResponseStream]) -> ModelResponse:
    """The :class:`~llmrouter.types.ModelResponse` the streamed call would have returned, built
    from all the chunks of its stream (the module docstring says how each field is joined).

    ``chunks`` is read once, so a list, a generator or the (sync) stream itself all work; it
    must hold at least one chunk, every item a
    :class:`~llmrouter.types.ModelResponseStream` (plain dicts are refused), all from one
    stream. Raises :class:`~llmrouter.errors.InvalidRequestError` (a ``ValueError``) otherwise.
    Pure: no I/O, the chunks are left unchanged and share nothing with the result but its
    call info.
    """
    _refuse_container(chunks)
    first: ModelResponseStream | None = None
    response_id = ""
    model = ""
    fingerprint: str | None = None
    usage: Usage | None = None
    info: CallInfo | PendingCallInfo | None = None
    choices: dict[int, _Choice] = {}
    top: dict[str, Any] = {}
    for position, chunk in enumerate(chunks):
        if not isinstance(chunk, ModelResponseStream):
            hint = (
                " (plain dicts are not accepted: validate them with "
                "ModelResponseStream.model_validate(...) first)"
                if isinstance(chunk, Mapping)
                else ""
            )
            raise InvalidRequestError(
                f"stream_chunk_builder(chunks): the chunk at position {position} is a "
                f"{type(chunk).__name__}, not a ModelResponseStream{hint}",
                param="chunks",
            )
        if first is None:
            first = chunk
        if chunk.id:
            if not response_id:
                response_id = chunk.id
            elif chunk.id != response_id:
                raise InvalidRequestError(
                    f"stream_chunk_builder(chunks): the chunks come from more than one stream "
                    f"(id {response_id!r}, then id {chunk.id!r} at position {position}); pass "
                    "the chunks of one stream at a time",
                    param="chunks",
                )
        if not model and chunk.model:
            model = chunk.model
        if fingerprint is None and chunk.system_fingerprint is not None:
            fingerprint = chunk.system_fingerprint
        if chunk.usage is not None:
            usage = chunk.usage
        private = chunk.__pydantic_private__
        if private:
            held = private.get("_llmrouter")
            if held is not None:
                info = held
        for choice in chunk.choices:
            gathered = choices.get(choice.index)
            if gathered is None:
                gathered = choices[choice.index] = _Choice(choice.index)
            gathered.add(choice)
        extra = chunk.__pydantic_extra__
        if extra:
            for key, value in extra.items():
                if key in _CHUNK_ONLY:
                    continue
                if value is not None or key not in top:
                    top[key] = copy.deepcopy(value)
    if first is None:
        raise InvalidRequestError(
            "stream_chunk_builder(chunks) needs at least one chunk, got none; pass the chunks "
            "of a stream after iterating it (a stream can be iterated only once)",
            param="chunks",
        )
    declared = ModelResponse.model_fields
    response = ModelResponse(
        id=response_id,
        created=first.created,
        model=model,
        choices=[choices[i].build() for i in sorted(choices)],
        usage=usage.model_copy(deep=True) if usage is not None else None,
        system_fingerprint=fingerprint,
        **{k: v for k, v in top.items() if k not in declared},
    )
    if info is not None:
        response._set_call_info(info)
    return response
