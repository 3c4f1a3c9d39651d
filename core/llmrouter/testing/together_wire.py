"""Together AI's wire shapes for :class:`~llmrouter.testing.TogetherEmulator`, as pure functions.

Only what Together does differently lives here; the rest is :mod:`llmrouter.testing.wire`
(re-exported below, so ``together_wire.split_tokens`` and friends keep working). The shapes follow
Together's official OpenAPI spec (``ChatCompletionResponse``, ``CompletionResponse``,
``ChatCompletionChunk``, ``CompletionChunk``, ``EmbeddingsResponse``, ``ModelInfo``,
``ErrorData``) plus what real traffic shows and the spec leaves out: the ``prompt: []`` array and
``choices[].seed`` on responses, a ``text`` field beside ``delta`` in stream chunks, usage on the
final chunk (``usage: null`` on the others), ``finish_reason: "eos"``, a bare JSON array from
``/models`` and ``{"id", "error": {...}}`` error bodies.

Where the spec is stricter than OpenAI's conventions, the spec wins, because Together's own SDK
(generated from it) validates those shapes: every streamed tool-call piece carries ``id``,
``type`` and ``function.name`` (the spec's ``ToolChoice`` requires them; OpenAI sends them only in
the first piece), a chat chunk's ``delta.token_id`` is always an integer, and a text-completion
chunk carries the top-level ``token`` object and ``finish_reason`` of ``CompletionChunk``.

:data:`DIALECT` declares what the request checks (:mod:`llmrouter.testing.dialect`) need to know
about Together: the roles and values it accepts and the words of its rejections.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from llmrouter.testing import wire
from llmrouter.testing.dialect import Complaint, Dialect
from llmrouter.testing.wire import (
    SSE_DONE,
    count_prompt_tokens,
    dumps,
    embedding_vector,
    filler_tokens,
    format_seconds,
    now,
    prompt_text,
    split_tokens,
    sse_event,
    token_id,
    tool_call_arguments,
    usage,
)

__all__ = [
    "DEFAULT_MODELS",
    "DIALECT",
    "EOS_TOKEN_ID",
    "SSE_DONE",
    "StreamEncoder",
    "chat_body",
    "chat_response",
    "completion_body",
    "completion_response",
    "count_prompt_tokens",
    "default_error",
    "dumps",
    "embedding_body",
    "embedding_response",
    "embedding_vector",
    "error_body",
    "error_response",
    "filler_tokens",
    "guess_type",
    "json_reply",
    "model_entry",
    "models_body",
    "new_request_id",
    "new_tool_call_id",
    "now",
    "ok_headers",
    "prompt_text",
    "ratelimit_headers",
    "response_seed",
    "seed_for",
    "split_tokens",
    "sse_event",
    "stream_encoder",
    "token_id",
    "tool_call_arguments",
    "usage",
]


# ---------------------------------------------------------------------------------------------
# identifiers


_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_request_id() -> str:
    """An id shaped like Together's current ones (``oBUtQrM-62bZhn-9801a1ac2a5f9b29``)."""
    raw = os.urandom(15)
    a = "".join(_ID_ALPHABET[b % 62] for b in raw[:7])
    b = "".join(_ID_ALPHABET[c % 62] for c in raw[7:13])
    return f"{a}-{b}-{raw[13:].hex()}{os.urandom(6).hex()}"


def new_tool_call_id() -> str:
    """``call_`` + 24 lowercase alphanumerics, as Together returns them."""
    return "call_" + wire.random_alnum(24, lowercase=True)


def seed_for(text: str, requested: object = None) -> int:
    """The ``choices[].seed`` value: the request's seed if it sent one, else a stable uint64.

    Real responses carry large unsigned 64-bit seeds; deriving it from the prompt keeps the
    emulator deterministic.
    """
    if wire.is_int(requested):
        return requested
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int(struct.unpack(">Q", digest)[0])


def json_reply(body: Mapping[str, Any], text: str) -> str | None:
    """The reply in JSON mode (see :func:`llmrouter.testing.wire.json_reply`); a reply that
    already is a JSON object is kept as it is."""
    return wire.json_reply(body, text, keep_objects=True)


# ---------------------------------------------------------------------------------------------
# response bodies


def _logprobs(tokens: Sequence[str]) -> dict[str, Any]:
    return {
        "tokens": list(tokens),
        "token_ids": [token_id(t) for t in tokens],
        "token_logprobs": [-0.25 for _ in tokens],
    }


def chat_response(
    *,
    request_id: str,
    created: int,
    model: str,
    contents: Sequence[str],
    finish_reason: str,
    usage_data: Mapping[str, int],
    seed: int,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    logprob_tokens: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` body; one choice per entry of ``contents`` (the request's ``n``)."""
    choices = []
    for index, content in enumerate(contents):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if tool_calls else content,
            "tool_calls": [dict(tc) for tc in tool_calls] if tool_calls else [],
        }
        choices.append(
            {
                "index": index,
                "seed": seed,
                "finish_reason": finish_reason,
                "logprobs": _logprobs(logprob_tokens) if logprob_tokens is not None else None,
                "message": message,
            }
        )
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "prompt": [],
        "choices": choices,
        "usage": dict(usage_data),
    }


def completion_response(
    *,
    request_id: str,
    created: int,
    model: str,
    texts: Sequence[str],
    finish_reason: str,
    usage_data: Mapping[str, int],
    seed: int,
    echo_prompt: str | None = None,
    logprob_tokens: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A ``text.completion`` body; ``prompt`` holds the prompt only when ``echo`` was asked.

    A choice has ``logprobs`` only when they were asked for: the spec types the completion
    choice's ``logprobs`` as an object that, unlike the chat choice's, may not be null.
    """
    choices: list[dict[str, Any]] = []
    for index, text in enumerate(texts):
        choice: dict[str, Any] = {
            "index": index,
            "text": text,
            "seed": seed,
            "finish_reason": finish_reason,
        }
        if logprob_tokens is not None:
            choice["logprobs"] = _logprobs(logprob_tokens)
        choices.append(choice)
    return {
        "id": request_id,
        "object": "text.completion",
        "created": created,
        "model": model,
        "prompt": [] if echo_prompt is None else [{"text": echo_prompt, "logprobs": {}}],
        "choices": choices,
        "usage": dict(usage_data),
    }


def embedding_response(
    *, request_id: str, model: str, inputs: Sequence[str], dim: int
) -> dict[str, Any]:
    """An ``EmbeddingsResponse``: ``{"object": "list", "model", "data": [...]}`` plus ``id``."""
    return {
        "id": request_id,
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "embedding": embedding_vector(text, dim), "index": i}
            for i, text in enumerate(inputs)
        ],
    }


# ---------------------------------------------------------------------------------------------
# errors

# (message, type, code) per status. The 401, 404 and 429 texts are the ones Together sends.
_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Input validation error", "invalid_request_error", None),
    401: (
        "Invalid API key provided. You can find your API key at "
        "https://api.together.xyz/settings/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    402: (
        "Credit limit exceeded. Please navigate to https://api.together.xyz/settings/billing "
        "to add credit or upgrade your plan.",
        "credit_limit",
        "credit_limit_exceeded",
    ),
    403: ("You do not have access to this resource.", "invalid_request_error", "forbidden"),
    404: ("Not found", "invalid_request_error", "not_found"),
    408: ("Request timed out", "server_error", "request_timeout"),
    413: ("Request entity too large", "invalid_request_error", None),
    422: ("Input validation error", "invalid_request_error", None),
    429: (
        "You have been rate limited. Your rate limit is 60 queries per minute. Please navigate "
        "to https://api.together.xyz/settings/billing to upgrade to a paid plan.",
        "credit_limit",
        "rate_limit_exceeded",
    ),
    500: ("Internal server error", "server_error", None),
    502: ("Bad gateway", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", "service_unavailable"),
    504: ("Gateway timeout: the model took too long to respond.", "server_error", "timeout"),
    524: ("A timeout occurred (origin did not respond in time).", "server_error", "timeout"),
    529: ("The model is overloaded. Please try again later.", "server_error", "overloaded"),
}


def default_error(status: int, code: str | None = None) -> tuple[str, str, str | None]:
    """Together-like (message, type, code) for an HTTP error status (``code`` is not used)."""
    return wire.lookup_error(
        _DEFAULT_ERRORS,
        status,
        server_error="Internal server error",
        client_error="Request failed",
    )


def error_body(
    message: str,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """``{"id": ..., "error": {"message", "type", "param", "code"}}`` (``id`` omitted if None)."""
    body = wire.error_body(message, type_, code, param)
    return body if request_id is None else {"id": request_id, **body}


def ratelimit_headers(
    *, limit: int | None, remaining: int | None, reset: float, error_type: str
) -> list[tuple[str, str]]:
    """The headers of a 429: ``x-ratelimit-limit``, ``-remaining`` and ``-reset`` (seconds)."""
    return [
        ("x-ratelimit-limit", str(limit or 60)),
        ("x-ratelimit-remaining", str(remaining or 0)),
        ("x-ratelimit-reset", format_seconds(reset)),
    ]


# ---------------------------------------------------------------------------------------------
# models


def model_entry(
    model_id: str,
    type_: str = "chat",
    *,
    context_length: int = 8192,
    display_name: str | None = None,
    organization: str | None = None,
    license_: str = "other",
    created: int = 1692896905,
    pricing: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """One ``ModelInfo`` entry as ``/v1/models`` lists it."""
    org = organization or model_id.split("/", 1)[0]
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "type": type_,
        "running": False,
        "display_name": display_name or model_id.split("/", 1)[-1].replace("-", " "),
        "organization": org,
        "link": f"https://huggingface.co/{model_id}",
        "license": license_,
        "context_length": context_length,
        "config": {"chat_template": None, "stop": [], "bos_token": None, "eos_token": None},
        "pricing": dict(
            pricing or {"hourly": 0, "input": 0.88, "output": 0.88, "base": 0, "finetune": 0}
        ),
    }


DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    model_entry("meta-llama/Llama-3.3-70B-Instruct-Turbo", context_length=131072),
    model_entry("meta-llama/Llama-3.3-70B-Instruct-Turbo-Free", context_length=131072),
    model_entry("meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", context_length=131072),
    model_entry("meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", context_length=131072),
    model_entry("meta-llama/Llama-2-70b-chat-hf", context_length=4096, license_="llama2"),
    model_entry("meta-llama/Llama-2-7b-chat-hf", context_length=4096, license_="llama2"),
    model_entry("togethercomputer/llama-2-70b-chat", context_length=4096, license_="llama2"),
    model_entry("togethercomputer/llama-2-7b-chat", context_length=4096, license_="llama2"),
    model_entry("OpenAssistant/llama2-70b-oasst-sft-v10", context_length=4096, license_="llama2"),
    model_entry(
        "mistralai/Mixtral-8x7B-Instruct-v0.1", context_length=32768, license_="apache-2.0"
    ),
    model_entry("mistralai/Mistral-7B-Instruct-v0.2", context_length=32768, license_="apache-2.0"),
    model_entry("mistralai/Mistral-7B-Instruct-v0.3", context_length=32768, license_="apache-2.0"),
    model_entry("NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO", context_length=32768),
    model_entry("Qwen/Qwen2.5-72B-Instruct-Turbo", context_length=32768),
    model_entry("Qwen/Qwen3.5-9B", context_length=32768, license_="apache-2.0"),
    model_entry("deepseek-ai/DeepSeek-V3", context_length=131072, license_="mit"),
    model_entry("meta-llama/Llama-2-70b-hf", "language", context_length=4096, license_="llama2"),
    model_entry("togethercomputer/llama-2-70b", "language", context_length=4096, license_="llama2"),
    model_entry("togethercomputer/LLaMA-2-7B-32K", "language", context_length=32768),
    model_entry("mistralai/Mistral-7B-v0.1", "language", context_length=8192),
    model_entry("mistralai/Mixtral-8x7B-v0.1", "language", context_length=32768),
    model_entry("codellama/CodeLlama-34b-Python-hf", "code", context_length=16384),
    model_entry("Meta-Llama/Llama-Guard-7b", "moderation", context_length=4096),
    model_entry("togethercomputer/m2-bert-80M-8k-retrieval", "embedding", context_length=8192),
    model_entry("togethercomputer/m2-bert-80M-32k-retrieval", "embedding", context_length=32768),
    model_entry("BAAI/bge-large-en-v1.5", "embedding", context_length=512, license_="mit"),
    model_entry("BAAI/bge-base-en-v1.5", "embedding", context_length=512, license_="mit"),
    model_entry("WhereIsAI/UAE-Large-V1", "embedding", context_length=512, license_="mit"),
)


# ---------------------------------------------------------------------------------------------
# streaming


#: The logprob of every emulated token (as in ``_logprobs``).
_TOKEN_LOGPROB = -0.25
#: Together's end-of-sequence token id: the final chunk's ``token_id``.
EOS_TOKEN_ID = 2


class StreamEncoder(wire.StreamEncoder):
    """Encodes the SSE events of one Together stream (chat or text completion).

    A chat content chunk holds the token's text twice (``choices[].text``, ``delta.content``)
    and its id once (``delta.token_id``); a completion chunk also holds both in its top-level
    ``token``.
    """

    slots = {"chat": (0, 1, 0), "completion": (1, 0, 0, 1, 0)}

    @property
    def object_name(self) -> str:
        return "chat.completion.chunk" if self.kind == "chat" else "completion.chunk"

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
        """The chunk as a dict (the reference shape; events are normally built from templates).

        A completion chunk also has the spec's top-level ``token`` (``id``, ``text``,
        ``logprob``, ``special``: the end-of-sequence token is the special one) and
        ``finish_reason``, which ``CompletionChunk`` requires.
        """
        delta: dict[str, Any] = {
            "token_id": tid,
            "role": "assistant",
            "content": text if content is ... else content,
        }
        if tool_calls is not None:
            delta["tool_calls"] = [dict(tc) for tc in tool_calls]
        chunk: dict[str, Any] = {
            "id": self.request_id,
            "object": self.object_name,
            "created": self.created,
            "model": self.model,
        }
        if self.kind == "completion":
            chunk["token"] = {
                "id": tid if tid is not None else EOS_TOKEN_ID,
                "text": text,
                "logprob": _TOKEN_LOGPROB,
                "special": finish_reason is not None and not text,
            }
        chunk["choices"] = [
            {
                "index": index,
                "text": text,
                "logprobs": logprobs,
                "finish_reason": finish_reason,
                "seed": seed,
                "delta": delta,
            }
        ]
        chunk["usage"] = dict(usage_data) if usage_data is not None else None
        if self.kind == "completion":
            chunk["finish_reason"] = finish_reason
        return chunk

    def final_event(
        self,
        *,
        finish_reason: str,
        seed: int,
        usage_data: Mapping[str, Any] | None,
        token: str = "",
        index: int = 0,
        tid: int | None = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
    ) -> bytes:
        """The last chunk of a choice: carries ``finish_reason``, ``seed`` and the usage."""
        return sse_event(
            self.chunk_dict(
                token,
                index=index,
                tid=tid,
                finish_reason=finish_reason,
                seed=seed,
                usage_data=usage_data,
                tool_calls=tool_calls,
            )
        )

    def tool_events(self, calls: Sequence[Mapping[str, Any]], *, index: int = 0) -> Iterator[bytes]:
        """Tool-call deltas: one chunk naming each call, then its arguments a piece at a time.

        Every piece repeats the call's ``index``, ``id``, ``type`` and ``function.name``, as the
        spec's ``ToolChoice`` requires (and Together's SDK validates); only ``arguments`` is new
        in each piece. OpenAI-style clients, which concatenate string fields, need a parser that
        drops the repeats (the Together plugin's does).
        """
        for call in calls:
            function = call["function"]
            name = function["name"]
            head = {"index": call["index"], "id": call["id"], "type": "function"}
            first = {**head, "function": {"name": name, "arguments": ""}}
            yield sse_event(
                self.chunk_dict("", index=index, tid=token_id(name), tool_calls=[first])
            )
            for piece in split_tokens(function["arguments"]):
                part = {**head, "function": {"name": name, "arguments": piece}}
                yield sse_event(
                    self.chunk_dict("", index=index, tid=token_id(piece), tool_calls=[part])
                )

    def events(self, answer: wire.Answer) -> Iterator[bytes]:
        """Content chunks (each token once per choice), then per choice a last chunk with the
        finish reason: the last token itself when the reply was cut at ``max_tokens``, else an
        empty end-of-sequence token. The usage rides on the very last chunk."""
        tokens, n, finish, seed = answer.tokens, answer.n, answer.finish, answer.seed
        if answer.tool_calls:
            yield from self.tool_events(answer.tool_calls)
            yield self.final_event(
                finish_reason=finish, seed=seed, usage_data=answer.usage, tid=EOS_TOKEN_ID
            )
            return
        last_is_content = finish == "length" and tokens
        body_tokens = tokens[:-1] if last_is_content else tokens
        content_event = self.content_event
        if n == 1:
            for token in body_tokens:
                yield content_event(token)
        else:
            for token in body_tokens:
                for index in range(n):
                    yield content_event(token, index)
        for index in range(n):
            last = tokens[-1] if last_is_content else ""
            yield self.final_event(
                token=last,
                index=index,
                tid=token_id(last) if last_is_content else EOS_TOKEN_ID,
                finish_reason=finish,
                seed=seed,
                usage_data=answer.usage if index == n - 1 else None,
            )


# ---------------------------------------------------------------------------------------------
# request checks

_PREFIX = "Input validation error: "


def _says(text: str, param: str | None, **extra: Any) -> Complaint:
    return Complaint(_PREFIX + text, param, **extra)


DIALECT = Dialect(
    complaints={
        "messages_missing": _says("'messages' is required", "messages"),
        "messages_empty": _says("'messages' must be a non-empty list", "messages"),
        "message_object": _says("'messages[{i}]' must be an object", "messages"),
        "message_role": _says("'messages[{i}].role' must be one of {roles}", "messages"),
        "content_missing": _says("'messages[{i}].content' is required", "messages"),
        "content_type": _says("'messages[{i}].content' must be a string or a list", "messages"),
        "tools_type": _says("'tools' must be a list", "tools"),
        "tool_name": _says("'tools[{i}].function.name' is required", "tools"),
        "tool_choice": _says("'tool_choice' must be a string or an object", "tool_choice"),
        "response_format": _says(
            "'response_format.type' must be one of text, json_object, json_schema",
            "response_format",
        ),
        "reasoning_effort": _says(
            "'reasoning_effort' must be one of low, medium, high", "reasoning_effort"
        ),
        "prompt_missing": _says("'prompt' is required", "prompt"),
        "prompt_type": _says("'prompt' must be a string", "prompt"),
        "input_missing": _says("'input' is required", "input"),
        "input_shape": _says("'input' must be a string or a non-empty list of strings", "input"),
        "model_missing": _says("'model' is required", "model"),
        "model_type": _says("'model' must be a non-empty string", "model"),
        "model_unknown": Complaint(
            "Unable to access model {model}. Please visit https://api.together.ai/models to "
            "view the list of supported models.",
            "model",
            status=404,
            code="model_not_available",
        ),
        "model_endpoint": Complaint(
            "Model {id} is a {type} model and cannot serve this endpoint",
            "model",
            code="model_not_supported",
        ),
        "context_length": _says(
            "`inputs` tokens + `max_new_tokens` must be <= {context}. Given: {prompt_tokens} "
            "`inputs` tokens and {wanted} `max_new_tokens`",
            "max_tokens",
            code="context_length_exceeded",
        ),
    },
    roles=frozenset({"system", "user", "assistant", "tool", "function"}),
    efforts=frozenset({"low", "medium", "high"}),
    natural_finish="eos",
    chat_model_types=("chat", "language", "code", "moderation"),
    completion_model_types=("chat", "language", "code", "moderation"),
    honours_truncate=True,
    keep_json_objects=True,
)


# ---------------------------------------------------------------------------------------------
# what the emulator's core asks of a flavour (llmrouter.testing.emulator.WireFormat)


def guess_type(model_id: str) -> str:
    """A model named only by id is a chat model."""
    return "chat"


def models_body(entries: list[dict[str, Any]]) -> Any:
    """``GET /models``: the bare array of ``ModelInfo`` entries."""
    return entries


def response_seed(body: Mapping[str, Any]) -> int:
    """The seed a response reports: the request's, else one derived from the prompt."""
    return seed_for(prompt_text(body), body.get("seed"))


_NO_HEADERS: Final[tuple[tuple[str, str], ...]] = ()


def ok_headers() -> Sequence[tuple[str, str]]:
    return _NO_HEADERS


def error_response(
    message: str, type_: str, code: str | None, param: str | None
) -> tuple[dict[str, Any], Sequence[tuple[str, str]]]:
    """An error's body (with a request ``id``, as Together sends) and its extra headers (none)."""
    return error_body(message, type_, code, param, request_id=new_request_id()), _NO_HEADERS


def _logprob_tokens(body: Mapping[str, Any], tokens: list[str]) -> list[str] | None:
    return tokens if body.get("logprobs") not in (None, False, 0) else None


def _answered(answer: wire.Answer) -> dict[str, Any]:
    """The fields every Together completion body takes from the answer."""
    return {
        "request_id": new_request_id(),
        "created": now(),
        "model": answer.model,
        "finish_reason": answer.finish,
        "usage_data": answer.usage,
        "seed": answer.seed,
    }


def chat_body(body: Mapping[str, Any], answer: wire.Answer) -> dict[str, Any]:
    return chat_response(
        **_answered(answer),
        contents=["".join(answer.tokens)] * answer.n,
        tool_calls=answer.tool_calls,
        logprob_tokens=_logprob_tokens(body, answer.tokens),
    )


def completion_body(body: Mapping[str, Any], answer: wire.Answer) -> dict[str, Any]:
    return completion_response(
        **_answered(answer),
        texts=["".join(answer.tokens)] * answer.n,
        echo_prompt=body["prompt"] if body.get("echo") is True else None,
        logprob_tokens=_logprob_tokens(body, answer.tokens),
    )


def embedding_body(model: str, inputs: list[str], dim: int, as_base64: bool) -> dict[str, Any]:
    """Together sends float vectors only (``as_base64`` is OpenAI's)."""
    return embedding_response(request_id=new_request_id(), model=model, inputs=inputs, dim=dim)


def stream_encoder(kind: str, body: Mapping[str, Any], model: str) -> StreamEncoder:
    return StreamEncoder(kind=kind, request_id=new_request_id(), created=now(), model=model)
