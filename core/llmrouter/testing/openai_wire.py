"""OpenAI wire shapes for the OpenAI-flavoured emulator, as pure functions (no I/O, no state).

The shapes follow OpenAI's API reference (and what its SDK's types accept): a ``chat.completion``
without Together's ``prompt``/``seed`` extras, ``finish_reason`` ``"stop"``, ``message.refusal``
and ``annotations``, usage with ``prompt_tokens_details``/``completion_tokens_details``;
``text_completion`` objects for ``/completions``; stream chunks that open with a role delta, carry
``{"content": token}`` deltas, close each choice with an empty delta and its finish reason, and,
when ``stream_options.include_usage`` is set, end with a chunk whose ``choices`` is ``[]`` and
which holds the usage (every earlier chunk then has ``"usage": null``); ``/models`` as
``{"object": "list", "data": [...]}``; errors as ``{"error": {"message", "type", "param",
"code"}}``; rate-limit headers ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with
resets written as Go durations (``1s``, ``6m0s``, ``20ms``).

Token handling, JSON encoding and reply derivation are shared with the Together shapes
(:mod:`llmrouter.testing.together_wire`).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llmrouter.testing import together_wire as tw
from llmrouter.testing.together_wire import dumps, sse_event

__all__ = [
    "CHAT_FIELDS",
    "COMPLETION_FIELDS",
    "DEFAULT_MODELS",
    "EMBEDDING_FIELDS",
    "SYSTEM_FINGERPRINT",
    "OpenAIStreamEncoder",
    "chat_logprobs",
    "chat_response",
    "completion_logprobs",
    "completion_response",
    "default_error",
    "embedding_response",
    "error_body",
    "go_duration",
    "json_reply",
    "model_entry",
    "models_body",
    "new_id",
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

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 29) -> str:
    """``chatcmpl-…``, ``cmpl-…``, ``call_…``: a prefix and random alphanumerics."""
    return prefix + "".join(_ALNUM[b % 62] for b in os.urandom(length))


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
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
    """The reply in JSON mode: ``{"reply": text}`` for ``json_object``, a sample instance of
    the schema for ``json_schema``; ``None`` when the request did not ask for JSON."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return json.dumps({"reply": text})
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return tw.tool_call_arguments({"function": {"parameters": schema}})
    return None


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


def chat_response(
    *,
    request_id: str,
    created: int,
    model: str,
    contents: Sequence[str],
    finish_reason: str,
    usage_data: Mapping[str, Any],
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    logprobs: Mapping[str, Any] | None = None,
    service_tier: str | None = "default",
) -> dict[str, Any]:
    """A ``chat.completion``; one choice per entry of ``contents``. Tool calls carry no
    ``index`` (that is a stream-delta field)."""
    calls = [{k: v for k, v in tc.items() if k != "index"} for tc in tool_calls or ()]
    choices = []
    for index, content in enumerate(contents):
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
                "finish_reason": finish_reason,
            }
        )
    response: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": dict(usage_data),
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if service_tier is not None:
        response["service_tier"] = service_tier
    return response


def completion_response(
    *,
    request_id: str,
    created: int,
    model: str,
    texts: Sequence[str],
    finish_reason: str,
    usage_data: Mapping[str, Any],
    logprobs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``text_completion`` (the legacy ``/completions`` endpoint)."""
    return {
        "id": request_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "text": text,
                "index": index,
                "logprobs": dict(logprobs) if logprobs is not None else None,
                "finish_reason": finish_reason,
            }
            for index, text in enumerate(texts)
        ],
        "usage": {k: v for k, v in usage_data.items() if not k.endswith("_details")},
    }


def embedding_response(
    *, model: str, inputs: Sequence[str], dim: int, base64_floats: bool = False
) -> dict[str, Any]:
    """A ``CreateEmbeddingResponse``; with ``base64_floats`` each vector is packed little-endian
    float32, base64-encoded (``encoding_format="base64"``)."""
    data = []
    for i, text in enumerate(inputs):
        vector = tw.embedding_vector(text, dim)
        embedding: list[float] | str = vector
        if base64_floats:
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


def models_body(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
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


def default_error(status: int) -> tuple[str, str, str | None]:
    """OpenAI-like (message, type, code) for an HTTP error status."""
    if status in _DEFAULT_ERRORS:
        return _DEFAULT_ERRORS[status]
    if status >= 500:
        return ("The server had an error while processing your request.", "server_error", None)
    return ("Request failed.", "invalid_request_error", None)


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` (no top-level ``id``, unlike Together)."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# ---------------------------------------------------------------------------------------------
# streaming

_TEXT_MARK = "\x00TEXT\x00"


class OpenAIStreamEncoder(tw.StreamEncoder):
    """Encodes the SSE events of one OpenAI-style stream (``chat`` or ``completion``).

    Shares the Together encoder's interface (the emulator's stream loop only needs
    ``request_id``), so the fault machinery (cuts, in-band errors, delays) works unchanged.
    """

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
        tid: int | None = None,
        finish_reason: str | None = None,
        seed: int | None = None,
        usage_data: Mapping[str, Any] | None = None,
        logprobs: Any = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
        content: object = ...,
    ) -> dict[str, Any]:
        """One chunk as a dict (``tid`` and ``seed`` are Together's and ignored here)."""
        choice: dict[str, Any]
        if self.kind == "chat":
            delta: dict[str, Any] = {}
            if content is not ...:
                delta["content"] = content
            elif text:
                delta["content"] = text
            if tool_calls is not None:
                delta["tool_calls"] = [dict(tc) for tc in tool_calls]
            choice = {"index": index, "delta": delta, "logprobs": logprobs}
        else:
            choice = {"text": text, "index": index, "logprobs": logprobs}
        choice["finish_reason"] = finish_reason
        chunk = self._envelope([choice])
        if usage_data is not None:
            chunk["usage"] = dict(usage_data)
        return chunk

    def _template(self, index: int) -> list[str]:
        parts = self._templates.get(index)
        if parts is None:
            raw = dumps(self.chunk_dict(_TEXT_MARK, index=index))
            before, after = raw.split(dumps(_TEXT_MARK))
            parts = ["data: " + before, after + "\n\n"]
            self._templates[index] = parts
        return parts

    def content_event(self, token: str, index: int = 0) -> bytes:
        p = self._template(index)
        return (p[0] + dumps(token) + p[1]).encode()

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

    def final_event(
        self,
        *,
        finish_reason: str,
        seed: int,
        usage_data: Mapping[str, Any],
        token: str = "",
        index: int = 0,
        tid: int | None = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
    ) -> bytes:
        """The end of a choice: its finish chunk, then (with include_usage) the usage chunk."""
        out = self.finish_event(finish_reason, index)
        if self.include_usage:
            out += self.usage_event(usage_data)
        return out

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
            for piece in tw.split_tokens(function["arguments"]):
                part = {"index": n, "function": {"arguments": piece}}
                yield sse_event(self.chunk_dict("", index=index, tool_calls=[part]))
