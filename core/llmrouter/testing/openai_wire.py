"""OpenAI's wire shapes for :class:`~llmrouter.testing.OpenAIEmulator`, as pure functions.

Only what OpenAI does differently lives here; the rest is :mod:`llmrouter.testing.wire`. The
shapes follow OpenAI's API reference (and what its SDK's types accept): a ``chat.completion``
without Together's ``prompt``/``seed`` extras, ``finish_reason`` ``"stop"``, ``message.refusal``
and ``annotations``, usage with ``prompt_tokens_details``/``completion_tokens_details``;
``text_completion`` objects for ``/completions``; stream chunks that open with a role delta, carry
``{"content": token}`` deltas, close each choice with an empty delta and its finish reason, and,
when ``stream_options.include_usage`` is set, end with a chunk whose ``choices`` is ``[]`` and
which holds the usage (every earlier chunk then has ``"usage": null``); ``/models`` as
``{"object": "list", "data": [...]}``; errors as ``{"error": {"message", "type", "param",
"code"}}``; rate-limit headers ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with
resets written as Go durations (``1s``, ``6m0s``, ``20ms``).

:data:`DIALECT` declares what the request checks (:mod:`llmrouter.testing.dialect`) need to know
about OpenAI: the fields, roles and values it accepts and the words of its rejections.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from llmrouter.testing import wire
from llmrouter.testing.dialect import Complaint, Dialect
from llmrouter.testing.wire import error_body, sse_event

__all__ = [
    "CHAT_FIELDS",
    "COMPLETION_FIELDS",
    "DEFAULT_MODELS",
    "DIALECT",
    "EMBEDDING_FIELDS",
    "SYSTEM_FINGERPRINT",
    "OpenAIStreamEncoder",
    "chat_body",
    "chat_logprobs",
    "completion_body",
    "completion_logprobs",
    "default_error",
    "embedding_body",
    "error_body",
    "error_response",
    "go_duration",
    "guess_type",
    "json_reply",
    "model_entry",
    "models_body",
    "new_id",
    "new_tool_call_id",
    "ok_headers",
    "ratelimit_headers",
    "response_seed",
    "stream_encoder",
    "usage",
]

SYSTEM_FINGERPRINT = "fp_emulator"

#: Top-level fields each endpoint accepts (a strict emulator answers anything else like OpenAI:
#: 400 "Unrecognized request argument supplied").
CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
COMPLETION_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "stream",
        "stream_options",
        "best_of",
        "echo",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "n",
        "presence_penalty",
        "seed",
        "stop",
        "suffix",
        "temperature",
        "top_p",
        "user",
    }
)
EMBEDDING_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def new_id(prefix: str, length: int = 29) -> str:
    """``chatcmpl-…``, ``cmpl-…``, ``call_…``: a prefix and random alphanumerics."""
    return prefix + wire.random_alnum(length)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The plain counts plus the (always zero) token details OpenAI adds."""
    return {
        **wire.usage(prompt_tokens, completion_tokens),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def go_duration(seconds: float) -> str:
    """``seconds`` as a Go duration the way OpenAI writes resets: ``20ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:g}s"
    if minutes:
        hours, minutes = divmod(int(minutes), 60)
        text = f"{minutes}m{text}"
        if hours:
            text = f"{hours}h{text}"
    return text


# ---------------------------------------------------------------------------------------------
# replies


def json_reply(body: Mapping[str, Any], text: str) -> str | None:
    """The reply in JSON mode (see :func:`llmrouter.testing.wire.json_reply`): always
    ``{"reply": text}`` for ``json_object``."""
    return wire.json_reply(body, text, keep_objects=False)


def _top(token: str, k: int) -> list[tuple[str, float]]:
    alternatives = [(token, -0.25), *((f"{token}_{i}", -1.5 - i) for i in range(1, k))]
    return alternatives[:k]


def chat_logprobs(tokens: Sequence[str], top: int) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": t,
                "logprob": -0.25,
                "bytes": list(t.encode()),
                "top_logprobs": [
                    {"token": a, "logprob": lp, "bytes": list(a.encode())} for a, lp in _top(t, top)
                ],
            }
            for t in tokens
        ],
        "refusal": None,
    }


def completion_logprobs(tokens: Sequence[str], top: int) -> dict[str, Any]:
    offsets, at = [], 0
    for t in tokens:
        offsets.append(at)
        at += len(t)
    return {
        "tokens": list(tokens),
        "token_logprobs": [-0.25 for _ in tokens],
        "top_logprobs": [dict(_top(t, top)) for t in tokens] if top else None,
        "text_offset": offsets,
    }


# ---------------------------------------------------------------------------------------------
# response bodies


def chat_body(body: Mapping[str, Any], answer: wire.Answer) -> dict[str, Any]:
    """A ``chat.completion``: ``n`` choices of the reply, or the tool calls (which carry no
    ``index`` here: that is a stream-delta field); logprobs and ``service_tier`` as asked."""
    calls = [{k: v for k, v in tc.items() if k != "index"} for tc in answer.tool_calls or ()]
    content = "".join(answer.tokens)
    logprobs = None
    if body.get("logprobs") is True:
        logprobs = chat_logprobs(answer.tokens, body.get("top_logprobs") or 0)
    choices = []
    for index in range(answer.n):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if calls else content,
            "refusal": None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": dict(logprobs) if logprobs is not None else None,
                "finish_reason": answer.finish,
            }
        )
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": wire.now(),
        "model": answer.model,
        "choices": choices,
        "usage": dict(answer.usage),
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "service_tier": body.get("service_tier") or "default",
    }


def completion_body(body: Mapping[str, Any], answer: wire.Answer) -> dict[str, Any]:
    """A ``text_completion`` (the legacy ``/completions`` endpoint); ``echo`` puts the prompt
    before the text, an integer ``logprobs`` adds that many alternatives per token."""
    text = "".join(answer.tokens)
    if body.get("echo") is True:
        text = body["prompt"] + text
    top = body.get("logprobs")
    logprobs = completion_logprobs(answer.tokens, top) if wire.is_int(top) else None
    return {
        "id": new_id("cmpl-"),
        "object": "text_completion",
        "created": wire.now(),
        "model": answer.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "text": text,
                "index": index,
                "logprobs": dict(logprobs) if logprobs is not None else None,
                "finish_reason": answer.finish,
            }
            for index in range(answer.n)
        ],
        "usage": {k: v for k, v in answer.usage.items() if not k.endswith("_details")},
    }


def embedding_body(model: str, inputs: list[str], dim: int, as_base64: bool) -> dict[str, Any]:
    """A ``CreateEmbeddingResponse``; with ``as_base64`` each vector is packed little-endian
    float32, base64-encoded (``encoding_format="base64"``)."""
    data = []
    for i, text in enumerate(inputs):
        vector = wire.embedding_vector(text, dim)
        embedding: list[float] | str = vector
        if as_base64:
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = sum(len(text.split()) for text in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def model_entry(
    model_id: str,
    type_: str = "chat",
    *,
    context_length: int = 8192,
    owned_by: str = "system",
    created: int = 1715367049,
) -> dict[str, Any]:
    """A catalogue entry. ``type`` and ``context_length`` are the emulator's own bookkeeping
    (which endpoint may serve the model, when a prompt is too long); ``/models`` leaves them out."""
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": owned_by,
        "type": type_,
        "context_length": context_length,
    }


def guess_type(model_id: str) -> str:
    """The endpoint family of a model named only by id: embedding, language (``/completions``
    only) or chat."""
    lowered = model_id.lower()
    if "embed" in lowered or "bge-" in lowered:
        return "embedding"
    if (lowered.startswith("gpt-3.5") and lowered.endswith("-instruct")) or lowered in (
        "davinci-002",
        "babbage-002",
    ):
        return "language"
    return "chat"


DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    model_entry("gpt-4o-mini", context_length=128000, owned_by="system"),
    model_entry("gpt-4o", context_length=128000, owned_by="system"),
    model_entry("gpt-4.1-mini", context_length=1047576, owned_by="system"),
    model_entry("o3-mini", context_length=200000, owned_by="system"),
    model_entry("gpt-3.5-turbo", context_length=16385, owned_by="openai"),
    model_entry("gpt-3.5-turbo-instruct", "language", context_length=4096, owned_by="system"),
    model_entry("text-embedding-3-small", "embedding", context_length=8191, owned_by="system"),
    model_entry("text-embedding-3-large", "embedding", context_length=8191, owned_by="system"),
    # open models, so the same emulator can stand in for vLLM, Ollama or a hosted provider
    model_entry("meta-llama/Llama-3.1-8B-Instruct", context_length=8192, owned_by="vllm"),
    model_entry("llama3.2", context_length=8192, owned_by="library"),
    model_entry("nomic-embed-text", "embedding", context_length=2048, owned_by="library"),
)


def models_body(entries: list[dict[str, Any]]) -> Any:
    """``GET /models``: ``{"object": "list", "data": [{id, object, created, owned_by}]}``."""
    return {
        "object": "list",
        "data": [
            {
                "id": e["id"],
                "object": "model",
                "created": e.get("created", 0),
                "owned_by": e.get("owned_by") or e.get("organization") or "system",
            }
            for e in entries
        ],
    }


# ---------------------------------------------------------------------------------------------
# errors

# (message, type, code) per status, worded like OpenAI's.
_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
    404: ("The requested resource does not exist.", "invalid_request_error", None),
    409: ("Conflict.", "invalid_request_error", None),
    429: (
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


_QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)


def default_error(status: int, code: str | None = None) -> tuple[str, str, str | None]:
    """OpenAI-like (message, type, code) for an HTTP error status; ``code``
    ``insufficient_quota`` (a 429 that is not a rate limit) gets OpenAI's quota text and type."""
    message, type_, default_code = wire.lookup_error(
        _DEFAULT_ERRORS,
        status,
        server_error="The server had an error while processing your request.",
        client_error="Request failed.",
    )
    if code == "insufficient_quota":
        return _QUOTA_MESSAGE, "insufficient_quota", default_code
    return message, type_, default_code


def ratelimit_headers(
    *, limit: int | None, remaining: int | None, reset: float, error_type: str
) -> list[tuple[str, str]]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``: the limit that was hit is the
    requests one, unless the error type says tokens; the other one looks untouched."""
    hit = "tokens" if error_type == "tokens" else "requests"
    other = "requests" if hit == "tokens" else "tokens"
    return [
        (f"x-ratelimit-limit-{hit}", str(limit or (500 if hit == "requests" else 200_000))),
        (f"x-ratelimit-remaining-{hit}", str(remaining or 0)),
        (f"x-ratelimit-reset-{hit}", go_duration(reset)),
        (f"x-ratelimit-limit-{other}", "200000" if other == "tokens" else "500"),
        (f"x-ratelimit-remaining-{other}", "199000" if other == "tokens" else "499"),
        (f"x-ratelimit-reset-{other}", "300ms"),
    ]


# ---------------------------------------------------------------------------------------------
# streaming


class OpenAIStreamEncoder(wire.StreamEncoder):
    """Encodes the SSE events of one OpenAI-style stream (``chat`` or ``completion``); with
    ``include_usage`` every chunk has ``usage: null`` and a last chunk holds the usage."""

    slots = {"chat": (0,), "completion": (0,)}

    def __init__(
        self, *, kind: str, request_id: str, created: int, model: str, include_usage: bool
    ) -> None:
        super().__init__(kind=kind, request_id=request_id, created=created, model=model)
        self.include_usage = include_usage

    @property
    def object_name(self) -> str:
        return "chat.completion.chunk" if self.kind == "chat" else "text_completion"

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.request_id,
            "object": self.object_name,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage:
            out["usage"] = None
        return out

    def chunk_dict(
        self,
        text: str,
        *,
        index: int = 0,
        finish_reason: str | None = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
        **_together: Any,
    ) -> dict[str, Any]:
        """One chunk as a dict; Together's extra fields (``tid``, ``seed``) are ignored."""
        choice: dict[str, Any]
        if self.kind == "chat":
            delta: dict[str, Any] = {"content": text} if text else {}
            if tool_calls is not None:
                delta["tool_calls"] = [dict(tc) for tc in tool_calls]
            choice = {"index": index, "delta": delta, "logprobs": None}
        else:
            choice = {"text": text, "index": index, "logprobs": None}
        choice["finish_reason"] = finish_reason
        return self._envelope([choice])

    def role_event(self, index: int = 0) -> bytes:
        """The opening chunk of a chat choice: ``delta: {role, content: "", refusal: null}``."""
        delta = {"role": "assistant", "content": "", "refusal": None}
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
        return sse_event(self._envelope([choice]))

    def finish_event(self, finish_reason: str, index: int = 0) -> bytes:
        """The closing chunk of a choice: an empty delta (or text) and the finish reason."""
        return sse_event(self.chunk_dict("", index=index, finish_reason=finish_reason))

    def usage_event(self, usage_data: Mapping[str, Any]) -> bytes:
        """The last chunk with ``include_usage``: no choices, just the usage."""
        chunk = self._envelope([])
        chunk["usage"] = dict(usage_data)
        return sse_event(chunk)

    def tool_events(self, calls: Sequence[Mapping[str, Any]], *, index: int = 0) -> Iterable[bytes]:
        """The first chunk opens the message and names each call; then arguments piece by piece."""
        for n, call in enumerate(calls):
            function = call["function"]
            head = {
                "index": n,
                "id": call["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": ""},
            }
            delta: dict[str, Any] = {"tool_calls": [head]}
            if n == 0:
                delta = {"role": "assistant", "content": None, **delta, "refusal": None}
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}
            yield sse_event(self._envelope([choice]))
            for piece in wire.split_tokens(function["arguments"]):
                part = {"index": n, "function": {"arguments": piece}}
                yield sse_event(self.chunk_dict("", index=index, tool_calls=[part]))

    def events(self, answer: wire.Answer) -> Iterator[bytes]:
        """A role chunk per chat choice, the content (each token once per choice), a finish
        chunk per choice, then the usage chunk if asked for."""
        n = answer.n
        if answer.tool_calls:
            yield from self.tool_events(answer.tool_calls)
            yield self.finish_event(answer.finish)
        else:
            if self.kind == "chat":
                for index in range(n):
                    yield self.role_event(index)
            content_event = self.content_event
            for token in answer.tokens:
                for index in range(n):
                    yield content_event(token, index)
            for index in range(n):
                yield self.finish_event(answer.finish, index)
        if self.include_usage:
            yield self.usage_event(answer.usage)


# ---------------------------------------------------------------------------------------------
# what the emulator's core asks of a flavour (llmrouter.testing.emulator.WireFormat)


def new_tool_call_id() -> str:
    return new_id("call_", 24)


def response_seed(body: Mapping[str, Any]) -> int:
    """OpenAI reports no seed."""
    return 0


def ok_headers() -> Sequence[tuple[str, str]]:
    """Every answer carries a request id header."""
    return (("x-request-id", new_id("req_", 32)),)


def error_response(
    message: str, type_: str, code: str | None, param: str | None
) -> tuple[dict[str, Any], Sequence[tuple[str, str]]]:
    """An error's body (no top-level ``id``) and its ``x-request-id`` header."""
    return error_body(message, type_, code, param), ok_headers()


def stream_encoder(kind: str, body: Mapping[str, Any], model: str) -> OpenAIStreamEncoder:
    """With ``stream_options.include_usage`` the stream ends with a usage chunk."""
    options = body.get("stream_options")
    return OpenAIStreamEncoder(
        kind=kind,
        request_id=new_id("chatcmpl-" if kind == "chat" else "cmpl-"),
        created=wire.now(),
        model=model,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
    )


# ---------------------------------------------------------------------------------------------
# request checks


def _invalid(what: str, param: str) -> Complaint:
    return Complaint(f"Invalid {what}", param)


_MESSAGE_ROLE = _invalid(
    "value for 'messages[{i}].role': expected one of {roles}.", "messages[{i}].role"
)
_MESSAGES = _invalid("'messages': expected a non-empty array of message objects.", "messages")
_PROMPT = _invalid("'prompt': expected a string.", "prompt")
_INPUT = _invalid(
    "'input': expected a string, an array of strings, an array of token ids or an array of "
    "token-id arrays.",
    "input",
)
_NO_MODEL = Complaint("you must provide a model parameter", "model")

DIALECT = Dialect(
    complaints={
        "unknown_field": Complaint("Unrecognized request argument supplied: {name}", "{name}"),
        "messages_missing": _MESSAGES,
        "messages_empty": _MESSAGES,
        "message_object": _MESSAGE_ROLE,
        "message_role": _MESSAGE_ROLE,
        "content_missing": _invalid(
            "value for 'messages[{i}].content': expected a string or an array.",
            "messages[{i}].content",
        ),
        "content_type": _invalid(
            "type for 'messages[{i}].content': expected a string or an array.",
            "messages[{i}].content",
        ),
        "tool_call_id": Complaint(
            "Missing required parameter: 'messages[{i}].tool_call_id'.",
            "messages[{i}].tool_call_id",
        ),
        "logprobs_type": _invalid("type for 'logprobs': expected a boolean.", "logprobs"),
        "top_logprobs": _invalid(
            "value for 'top_logprobs': 'logprobs' must be set to true.", "top_logprobs"
        ),
        "max_tokens_value": _invalid("'{name}': expected an integer >= 1.", "{name}"),
        "tools_type": _invalid("type for 'tools': expected an array.", "tools"),
        "tool_name": Complaint(
            "Missing required parameter: 'tools[{i}].function.name'.", "tools[{i}].function.name"
        ),
        "tool_choice": _invalid("value for 'tool_choice'.", "tool_choice"),
        "tool_choice_without_tools": _invalid(
            "value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            "tool_choice",
        ),
        "response_format": _invalid(
            "value for 'response_format.type': expected one of text, json_object, json_schema.",
            "response_format",
        ),
        "reasoning_effort": _invalid("value for 'reasoning_effort'.", "reasoning_effort"),
        "stop_count": _invalid(
            "'stop': array too long. Expected an array with maximum length 4, but got an array "
            "with length {count} instead.",
            "stop",
        ),
        "prompt_missing": _PROMPT,
        "prompt_type": _PROMPT,
        "input_missing": _INPUT,
        "input_shape": _INPUT,
        "dimensions": _invalid("'dimensions': expected an integer >= 1.", "dimensions"),
        "encoding_format": _invalid(
            "'encoding_format': expected 'float' or 'base64'.", "encoding_format"
        ),
        "model_missing": _NO_MODEL,
        "model_type": _NO_MODEL,
        "model_unknown": Complaint(
            "The model `{model}` does not exist or you do not have access to it.",
            "model",
            status=404,
            code="model_not_found",
        ),
        "model_endpoint": Complaint(
            "This model ({id}) is not supported by this endpoint.", "model", status=404
        ),
        "context_length": Complaint(
            "This model's maximum context length is {context} tokens. However, you requested "
            "{total} tokens ({prompt_tokens} in the messages, {wanted} in the completion). "
            "Please reduce the length of the messages or completion.",
            "messages",
            code="context_length_exceeded",
        ),
    },
    roles=frozenset({"system", "developer", "user", "assistant", "tool", "function"}),
    efforts=frozenset({"none", "minimal", "low", "medium", "high", "xhigh"}),
    natural_finish="stop",
    chat_model_types=("chat",),
    completion_model_types=("language",),
    lenient_completion_model_types=("language", "chat"),
    tool_choices=frozenset({"none", "auto", "required"}),
    assistant_content_needs_tool_calls=True,
    max_tokens_fields=("max_completion_tokens", "max_tokens"),
    json_mode_in_completions=True,
    token_id_embeddings=True,
    chat_fields=CHAT_FIELDS,
    completion_fields=COMPLETION_FIELDS,
    embedding_fields=EMBEDDING_FIELDS,
    max_stops=4,
)
