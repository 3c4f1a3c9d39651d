"""OpenAI-shaped response types.

Every public response is a pydantic model whose ``model_dump()`` validates as the matching type of
the official ``openai`` SDK (a test checks it). They also behave as read-only mappings, because the
tutorial's users write ``response["choices"][0]["message"]["content"]``: ``[]``, ``get``, ``in``,
``keys``/``values``/``items`` and iteration over keys all work, and ``dict(response)`` gives the
top-level fields.

Unknown fields a provider sends (Together's ``prompt`` array, ``choices[].seed``) are kept
(``extra="allow"``), so nothing the provider said is silently dropped.

What llmrouter knows about the call itself (which provider and deployment served it, attempts,
latency) sits on ``response.llmrouter`` (:class:`CallInfo`), a private attribute that never appears
in ``model_dump()`` and so never breaks the OpenAI shape. It is built on first read
(:class:`PendingCallInfo` holds its values until then).
"""

from __future__ import annotations

import copy
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

__all__ = [
    "CallInfo",
    "ChatCompletionMessageToolCall",
    "Choice",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "Function",
    "Message",
    "ModelInfo",
    "ModelResponse",
    "ModelResponseStream",
    "StreamChoice",
    "Usage",
]


class _Mapping(BaseModel):
    """Dict-style read access over a pydantic model's fields (declared and extra)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def _field_names(self) -> list[str]:
        names = list(type(self).model_fields)
        extra = self.__pydantic_extra__
        if extra:
            names.extend(extra)
        return names

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str):
            raise TypeError(f"{type(self).__name__} keys are field names (str), got {key!r}")
        if key in type(self).model_fields:
            return getattr(self, key)
        extra = self.__pydantic_extra__
        if extra and key in extra:
            return extra[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in type(self).model_fields:
            return True
        extra = self.__pydantic_extra__
        return bool(extra) and key in extra  # type: ignore[operator]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return self._field_names()

    def values(self) -> list[Any]:
        return [self[k] for k in self._field_names()]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self._field_names()]

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        # Mapping semantics (iterate keys), not pydantic's (name, value) pairs.
        return iter(self._field_names())

    def __len__(self) -> int:
        return len(self._field_names())

    def json(self, **kwargs: Any) -> str:
        """JSON text of ``model_dump()`` (``indent`` etc. as for ``json.dumps``)."""
        return json.dumps(self.model_dump(), **kwargs)

    def __str__(self) -> str:
        # What the tutorial prints: the response as a plain dict.
        return str(self.model_dump())


class Function(_Mapping):
    name: str
    arguments: str = ""


class ChatCompletionMessageToolCall(_Mapping):
    id: str
    type: Literal["function"] = "function"
    function: Function


class DeltaFunction(_Mapping):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(_Mapping):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunction | None = None


class Message(_Mapping):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None


class Choice(_Mapping):
    index: int = 0
    message: Message
    finish_reason: str | None = "stop"
    logprobs: Any = None


class Usage(_Mapping):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class _Unset:
    """Not computed yet (``None`` is a value); one instance, kept through copies and pickles."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"

    def __reduce__(self) -> str:
        return "_UNSET"


_UNSET: Any = _Unset()


class Pricing:
    """What a call's cost is computed from: route, usage and any price override. Computed
    by :func:`llmrouter.cost.cost_of` on first read of ``CallInfo.cost``."""

    __slots__ = ("model", "prices", "provider", "response_model", "usage")

    def __init__(
        self,
        provider: str,
        model: str,
        usage: Any,
        response_model: str | None = None,
        prices: Any = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.usage = usage
        self.response_model = response_model
        self.prices = prices

    def cost(self) -> Decimal | None:
        return _cost_of()(
            self.provider,
            self.model,
            self.usage,
            response_model=self.response_model,
            prices=self.prices,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pricing):
            return NotImplemented
        return (self.provider, self.model, self.usage, self.response_model, self.prices) == (
            other.provider,
            other.model,
            other.usage,
            other.response_model,
            other.prices,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Pricing({self.provider}/{self.model})"


class CallInfo(BaseModel):
    """How the call was served. Not part of the OpenAI shape; read it as ``response.llmrouter``."""

    model_config = ConfigDict(frozen=False)

    provider: str | None = None
    deployment: str | None = Field(
        None, description="The route that served the call, e.g. 'together_ai/<model>'."
    )
    alias: str | None = Field(None, description="The config alias the caller named, when routed.")
    attempts: int = Field(
        1, description="How many requests were sent, retries and fallbacks included."
    )
    latency_s: float | None = None
    request_id: str | None = None
    endpoint: str | None = Field(
        None, description="The provider endpoint path used, e.g. '/completions'."
    )
    prompt: str | None = Field(
        None, description="The rendered prompt, when a template was applied client-side."
    )
    cache_hit: bool = Field(
        False, description="The answer came from a response cache; no request was sent."
    )
    # What ``cost`` is computed from, and the cost once computed: prices are looked up only
    # when someone reads ``cost`` (the first lookup imports genai-prices' price table).
    _pricing: Pricing | None = PrivateAttr(None)
    _cost: Any = PrivateAttr(_UNSET)

    @computed_field(  # type: ignore[prop-decorator]
        description="What the call cost in USD (a Decimal), from its usage and the model's "
        "price; 0 for a cache hit; None when the price is unknown or there is no usage."
    )
    @property
    def cost(self) -> Decimal | None:
        private = self.__pydantic_private__
        if private is None:
            return None
        cost = private.get("_cost", _UNSET)
        if cost is _UNSET:
            pricing = private.get("_pricing")
            cost = None if pricing is None else pricing.cost()
            private["_cost"] = cost
        return cost  # type: ignore[no-any-return]

    @cost.setter
    def cost(self, value: Decimal | None) -> None:
        self._set_private("_cost", value)

    def _set_private(self, name: str, value: Any) -> None:
        private = self.__pydantic_private__
        if private is None:
            _set(self, "__pydantic_private__", {"_pricing": None, "_cost": _UNSET, name: value})
        else:
            private[name] = value

    def set_pricing(self, pricing: Pricing | None) -> None:
        """What :attr:`cost` will be computed from (its cached value is dropped)."""
        self._set_private("_pricing", pricing)
        self._set_private("_cost", _UNSET)

    def __eq__(self, other: object) -> bool:
        """Equal fields, extras and pricing, and equal costs. The cost is compared as a value,
        computed where it was not read yet: pydantic's own ``==`` compared the private cache,
        so two equal call infos stopped being equal once one of them had its cost read."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        if (
            type(other) is not type(self)
            or self.__dict__ != other.__dict__
            or self.__pydantic_extra__ != other.__pydantic_extra__
        ):
            return False
        mine = self.__pydantic_private__ or {}
        theirs = other.__pydantic_private__ or {}
        if mine.get("_pricing") != theirs.get("_pricing"):
            return False
        return bool(self.cost == other.cost)


def trusted_call_info(values: dict[str, Any], pricing: Pricing | None = None) -> CallInfo:
    """``CallInfo.model_construct(**values)`` for values already of the right types, given in
    field order: the same object (``__dict__``, fields set, no extra), built in a third of the
    time (docs/performance.md). ``pricing`` is what ``cost`` will be computed from."""
    info = _new(CallInfo)
    _slot_dict(info, values)
    _slot_fields_set(info, set(values))
    _slot_extra(info, None)
    _slot_private(info, {"_pricing": pricing, "_cost": _UNSET})
    return info


def trusted_content_chunk(
    response_id: str, created: int, model: str, content: str
) -> ModelResponseStream:
    """The chunk ``ModelResponseStream.model_validate({"id": response_id, "created": created,
    "model": model, "choices": [{"index": 0, "delta": {"content": content}}]})`` builds, for
    values already of those exact types: the same three objects (their ``__dict__`` in field
    order, the fields set, empty extras, no private values), built without validation.

    A text delta is nearly every chunk of a stream, and validating the three nested models was
    the largest single item of a streamed chunk's cost: this is about a third cheaper
    (docs/performance.md). :func:`llmrouter.translation.content_chunk` checks the types and
    falls back to validation for anything else; tests/test_trusted_chunks.py compares the two.
    """
    delta = _new(Delta)
    _slot_dict(delta, {"role": None, "content": content, "tool_calls": None})
    _slot_fields_set(delta, {"content"})
    _slot_extra(delta, {})
    _slot_private(delta, None)
    choice = _new(StreamChoice)
    _slot_dict(choice, {"index": 0, "delta": delta, "finish_reason": None, "logprobs": None})
    _slot_fields_set(choice, {"index", "delta"})
    _slot_extra(choice, {})
    _slot_private(choice, None)
    chunk = _new(ModelResponseStream)
    _slot_dict(
        chunk,
        {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": None,
            "system_fingerprint": None,
        },
    )
    _slot_fields_set(chunk, {"id", "created", "model", "choices"})
    _slot_extra(chunk, {})
    _slot_private(chunk, None)
    return chunk


_new = object.__new__
_set = object.__setattr__


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    """The setter of BaseModel's slot ``name`` (``__dict__``, ``__pydantic_fields_set__``...),
    the way ``model_construct`` fills it. Calling the slot's own descriptor skips the attribute
    lookup ``object.__setattr__`` makes through the model's class hierarchy: a third of the cost
    of a trusted chunk (docs/performance.md). Falls back to ``object.__setattr__`` if a future
    pydantic stores the attribute some other way."""
    descriptor = BaseModel.__dict__.get(name)
    setter = getattr(descriptor, "__set__", None)
    if setter is None:
        return lambda obj, value: _set(obj, name, value)
    return setter  # type: ignore[no-any-return]


_slot_dict = _slot_setter("__dict__")
_slot_fields_set = _slot_setter("__pydantic_fields_set__")
_slot_extra = _slot_setter("__pydantic_extra__")
_slot_private = _slot_setter("__pydantic_private__")


#: Taken only the first time a pending CallInfo is built (not on the hot path).
_BUILD_LOCK = threading.Lock()


# ``pipeline`` and ``cost`` import this module, so the functions below are imported on first use
# and kept, not by an ``import`` statement in the method that needs them: one of those costs
# about 0.6 us even when the module is loaded, and two to four times that inside a call, where a
# sampling profile put the one in ``PendingCallInfo._make`` at 0.7% of a whole non-streamed call
# (docs/performance.md). A cached call costs 0.06 us.


@functools.cache
def _request_id_of() -> Callable[[Mapping[str, str], tuple[str, ...]], str | None]:
    from llmrouter.pipeline import request_id_of

    return request_id_of


@functools.cache
def _cost_of() -> Callable[..., Decimal | None]:
    from llmrouter.cost import cost_of

    return cost_of


class PendingCallInfo:
    """A response's :class:`CallInfo` before anyone asked for it: the values it will be built from.

    Most callers never read ``response.llmrouter``, and building the model (its field dict, its
    fields-set, the deployment string, the request-id lookup in the headers) was one of the
    larger items of llmrouter's own per-call cost under concurrency (docs/performance.md). The
    core stores one of these instead; the first read of ``response.llmrouter`` builds the
    CallInfo and puts it in its place. For everything else it stands for that CallInfo: ``==``
    compares the built values, a pickle or a deep copy holds the built CallInfo, and shallow
    copies of a response share one instance, as they share a built CallInfo.

    ``metadata`` must be a snapshot (or ``None``), not a dict the caller may still change.
    """

    __slots__ = (
        "_built",
        "endpoint",
        "headers",
        "latency_s",
        "metadata",
        "model",
        "prompt",
        "provider",
        "request_id_headers",
        "response_model",
        "status_code",
        "usage",
    )

    def __init__(
        self,
        provider: str,
        model: str,
        metadata: dict[str, Any] | None,
        latency_s: float,
        headers: Mapping[str, str],
        endpoint: str | None,
        prompt: str | None,
        request_id_headers: tuple[str, ...] = ("x-request-id",),
        usage: Any = None,
        response_model: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.metadata = metadata
        self.latency_s = latency_s
        self.headers = headers
        self.endpoint = endpoint
        self.prompt = prompt
        self.request_id_headers = request_id_headers
        self.usage = usage
        self.response_model = response_model
        #: The answer's HTTP status (not a CallInfo field: for the routed call's attempt log).
        self.status_code = status_code
        self._built: CallInfo | None = None

    @property
    def request_id(self) -> str | None:
        return _request_id_of()(self.headers, self.request_id_headers)

    def build(self) -> CallInfo:
        """The CallInfo, built once: every caller (and every thread) gets the same object."""
        built = self._built
        if built is not None:
            return built
        with _BUILD_LOCK:
            if self._built is None:
                self._built = self._make()
            return self._built

    def _make(self) -> CallInfo:
        request_id_of = _request_id_of()
        metadata = self.metadata or {}
        provider = self.provider
        return trusted_call_info(
            {
                "provider": provider,
                "deployment": metadata.get("deployment", f"{provider}/{self.model}"),
                "alias": metadata.get("alias"),
                "attempts": metadata.get("attempts", 1),
                "latency_s": self.latency_s,
                "request_id": request_id_of(self.headers, self.request_id_headers),
                "endpoint": self.endpoint or None,
                "prompt": self.prompt,
                "cache_hit": False,
            },
            None
            if self.usage is None
            else Pricing(
                provider, self.model, self.usage, self.response_model, metadata.get("prices")
            ),
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PendingCallInfo):
            return self.build() == other.build()
        if isinstance(other, CallInfo):
            return self.build() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like the (mutable) CallInfo it stands for

    def __repr__(self) -> str:
        return repr(self.build())

    def __copy__(self) -> PendingCallInfo:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> CallInfo:
        return copy.deepcopy(self.build(), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_same, (self.build(),))


def _same(info: CallInfo) -> CallInfo:
    """Unpickles a :class:`PendingCallInfo` as the CallInfo it stood for."""
    return info


class _WithCallInfo(_Mapping):
    # The CallInfo lives in pydantic's private-attribute dict, like a ``PrivateAttr`` (so copies,
    # pickles and ``==`` treat it the same way), but without declaring one: a declared private
    # attribute makes pydantic run a Python ``model_post_init`` for every instance it validates,
    # about a third of the cost of parsing a stream chunk (docs/performance.md).
    @property
    def _llmrouter(self) -> CallInfo | None:
        private = self.__pydantic_private__
        if private is None:
            return None
        info = private.get("_llmrouter")
        if type(info) is PendingCallInfo:
            info = private["_llmrouter"] = info.build()
        return info

    @_llmrouter.setter
    def _llmrouter(self, value: CallInfo | None) -> None:
        self._set_call_info(value)

    def _set_call_info(self, value: CallInfo | PendingCallInfo | None) -> None:
        """The setter of ``_llmrouter``, callable without going through pydantic's
        ``__setattr__`` (which costs about 1.5 us per assignment on the hot path)."""
        private = self.__pydantic_private__
        if private is None:
            object.__setattr__(self, "__pydantic_private__", {"_llmrouter": value})
        else:
            private["_llmrouter"] = value

    @property
    def llmrouter(self) -> CallInfo:
        info = self._llmrouter
        if info is None:
            info = self._llmrouter = CallInfo()
        return info


class ModelResponse(_WithCallInfo):
    """A chat completion, shaped like OpenAI's ``ChatCompletion``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class Delta(_Mapping):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None


class StreamChoice(_Mapping):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: Any = None


class ModelResponseStream(_WithCallInfo):
    """One streamed chunk, shaped like OpenAI's ``ChatCompletionChunk``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[StreamChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class Embedding(_Mapping):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float]


class EmbeddingUsage(_Mapping):
    prompt_tokens: int = 0
    total_tokens: int = 0


class EmbeddingResponse(_WithCallInfo):
    """Shaped like OpenAI's ``CreateEmbeddingResponse``."""

    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage | None = None


class ModelInfo(_Mapping):
    """One entry of a provider's model list; provider-specific fields are kept as extras."""

    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None
