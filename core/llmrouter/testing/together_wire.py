"""Together AI wire shapes, as pure functions: no I/O, no state, easy to test on their own.

The shapes follow Together's official OpenAPI spec (``ChatCompletionResponse``,
``CompletionResponse``, ``ChatCompletionChunk``, ``CompletionChunk``, ``EmbeddingsResponse``,
``ModelInfo``, ``ErrorData``) plus what real traffic shows and the spec leaves out: the
``prompt: []`` array and ``choices[].seed`` on responses, a ``text`` field beside ``delta`` in
stream chunks, usage on the final chunk (``usage: null`` on the others), ``finish_reason: "eos"``,
a bare JSON array from ``/models`` and ``{"id", "error": {...}}`` error bodies.

Where the spec is stricter than OpenAI's conventions, the spec wins, because Together's own SDK
(generated from it) validates those shapes: every streamed tool-call piece carries ``id``,
``type`` and ``function.name`` (the spec's ``ToolChoice`` requires them; OpenAI sends them only in
the first piece), a chat chunk's ``delta.token_id`` is always an integer, and a text-completion
chunk carries the top-level ``token`` object and ``finish_reason`` of ``CompletionChunk``.

JSON is always compact (``separators=(",", ":")``) like the real service, and stream chunks are
produced from pre-split templates so a long stream costs one small string join per token, not a
``json.dumps`` of a nested dict.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = [
    "DEFAULT_MODELS",
    "SSE_DONE",
    "StreamEncoder",
    "chat_response",
    "completion_response",
    "count_prompt_tokens",
    "default_error",
    "dumps",
    "embedding_response",
    "embedding_vector",
    "error_body",
    "filler_tokens",
    "json_reply",
    "model_entry",
    "new_request_id",
    "new_tool_call_id",
    "seed_for",
    "split_tokens",
    "sse_event",
    "token_id",
    "tool_call_arguments",
    "usage",
]

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> str:
    """Compact JSON, like Together's own responses (and cheaper to write)."""
    return _encoder.encode(obj)


SSE_DONE = b"data: [DONE]\n\n"


def sse_event(obj: Any) -> bytes:
    """One server-sent event carrying ``obj`` as JSON: ``data: {...}\\n\\n``."""
    return b"data: " + dumps(obj).encode() + b"\n\n"


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
    raw = os.urandom(24)
    return "call_" + "".join(_ID_ALPHABET[b % 36] for b in raw).lower()


def seed_for(text: str, requested: object = None) -> int:
    """The ``choices[].seed`` value: the request's seed if it sent one, else a stable uint64.

    Real responses carry large unsigned 64-bit seeds; deriving it from the prompt keeps the
    emulator deterministic.
    """
    if isinstance(requested, int) and not isinstance(requested, bool):
        return requested
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int(struct.unpack(">Q", digest)[0])


# ---------------------------------------------------------------------------------------------
# tokens


_TOKEN_RE = re.compile(r"\s*\S+")


def split_tokens(text: str) -> list[str]:
    """Split a reply into word tokens whose concatenation is the (right-stripped) text."""
    return _TOKEN_RE.findall(text)


def token_id(token: str) -> int:
    """A stable fake vocabulary id for a token (Llama-3-sized vocabulary)."""
    return zlib.crc32(token.encode()) % 128000


# Filler vocabulary for long benchmark replies.
_FILLER_WORDS = (
    *("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed"),
    *("do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua"),
)


@lru_cache(maxsize=64)
def filler_tokens(n: int) -> tuple[str, ...]:
    """``n`` deterministic filler tokens, for long benchmark streams (``x-emulator-tokens``)."""
    words = _FILLER_WORDS
    return tuple(
        (words[i % len(words)] if i == 0 else " " + words[i % len(words)]) for i in range(n)
    )


def _content_text(content: object) -> str:
    """The text of a message ``content``: a string, or the text parts of a multimodal list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def count_prompt_tokens(body: Mapping[str, Any]) -> int:
    """Rough, deterministic prompt size: whitespace-separated words of the prompt or messages."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return len(prompt.split())
    messages = body.get("messages")
    total = 0
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += len(_content_text(message.get("content")).split())
    return total


def prompt_text(body: Mapping[str, Any]) -> str:
    """The text a deterministic reply is derived from: the prompt, or the last message."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        return _content_text(messages[-1].get("content"))
    return ""


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _logprobs(tokens: Sequence[str]) -> dict[str, Any]:
    return {
        "tokens": list(tokens),
        "token_ids": [token_id(t) for t in tokens],
        "token_logprobs": [-0.25 for _ in tokens],
    }


# ---------------------------------------------------------------------------------------------
# tool calls


_SAMPLE_BY_TYPE: dict[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def _sample_value(schema: object, name: str) -> Any:
    if not isinstance(schema, dict):
        return "example"
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "string")
    if typ == "object" and isinstance(schema.get("properties"), dict):
        return {k: _sample_value(v, k) for k, v in schema["properties"].items()}
    if typ == "string":
        return f"example {name}".strip()
    return _SAMPLE_BY_TYPE.get(str(typ), "example")


def tool_call_arguments(tool: Mapping[str, Any]) -> str:
    """Deterministic JSON arguments for a tool, filled in from its parameters schema."""
    function = tool.get("function") if isinstance(tool.get("function"), dict) else {}
    params = function.get("parameters") if isinstance(function, dict) else None
    props = params.get("properties") if isinstance(params, dict) else None
    if not isinstance(props, dict):
        return "{}"
    return json.dumps({k: _sample_value(v, k) for k, v in props.items()})


def json_reply(body: Mapping[str, Any], text: str) -> str | None:
    """The reply in JSON mode, or None when the request did not ask for JSON.

    ``response_format: {"type": "json_object"}`` gets ``{"reply": text}`` (a reply that already
    is a JSON object, e.g. a fixed ``reply=`` knob, is kept as it is); ``json_schema`` gets a
    sample instance of the schema. So a client's JSON mode is exercised with text that parses.
    """
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        try:
            if isinstance(json.loads(text), dict):
                return text
        except ValueError:
            pass
        return json.dumps({"reply": text})
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return tool_call_arguments({"function": {"parameters": schema}})
    return None


# ---------------------------------------------------------------------------------------------
# response bodies


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


def embedding_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector derived from a hash of ``text`` (same text, same vector)."""
    out: list[float] = []
    counter = 0
    while len(out) < dim:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        for i in range(0, len(block), 4):
            (value,) = struct.unpack(">I", block[i : i + 4])
            out.append(value / 2147483647.5 - 1.0)
        counter += 1
    out = out[:dim]
    norm = math.sqrt(sum(v * v for v in out)) or 1.0
    return [round(v / norm, 8) for v in out]


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


def default_error(status: int) -> tuple[str, str, str | None]:
    """Together-like (message, type, code) for an HTTP error status."""
    if status in _DEFAULT_ERRORS:
        return _DEFAULT_ERRORS[status]
    if status >= 500:
        return ("Internal server error", "server_error", None)
    return ("Request failed", "invalid_request_error", None)


def error_body(
    message: str,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """``{"id": ..., "error": {"message", "type", "param", "code"}}`` (``id`` omitted if None)."""
    error = {"message": message, "type": type_, "param": param, "code": code}
    if request_id is None:
        return {"error": error}
    return {"id": request_id, "error": error}


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


_TEXT_MARK = "\x00TEXT\x00"
_TID_MARK = "\x00TID\x00"
#: A token id no real chunk holds: written into the template chunk, then replaced by a slot.
_TID_SENTINEL = 31415926535897
#: The logprob of every emulated token (as in ``_logprobs``).
_TOKEN_LOGPROB = -0.25
#: Together's end-of-sequence token id: the final chunk's ``token_id``.
EOS_TOKEN_ID = 2
#: Slot order of a content chunk (0: the token's JSON text, 1: its id) as chunk_dict lays it out:
#: a chat chunk has choices[].text, delta.token_id, delta.content; a completion chunk has
#: token.id and token.text first, then the same three.
_SLOTS = {"chat": (0, 1, 0), "completion": (1, 0, 0, 1, 0)}


class StreamEncoder:
    """Encodes the SSE events of one streamed response (chat or text completion).

    A content chunk is built from a template produced once per stream by ``json.dumps`` of the
    real chunk dict with marks where the token's text and id go (a chat chunk holds the text
    twice and the id once; a completion chunk also holds both in its top-level ``token``), so its
    shape cannot drift from :meth:`chunk_dict` (a test checks that they agree byte for byte), and
    a long stream costs one small string concatenation per token.
    """

    def __init__(self, *, kind: str, request_id: str, created: int, model: str) -> None:
        if kind not in ("chat", "completion"):
            raise ValueError(f"kind must be 'chat' or 'completion', not {kind!r}")
        self.kind = kind
        self.request_id = request_id
        self.created = created
        self.model = model
        self._templates: dict[int, list[str]] = {}

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
        usage_data: Mapping[str, int] | None = None,
        logprobs: float | None = None,
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

    def _template(self, index: int) -> list[str]:
        """The content chunk's event split at its slots: the literal parts, in order.

        Between two parts goes the token's JSON text or its id, in the order :data:`_SLOTS`
        gives for this kind of chunk (checked here, so a change of :meth:`chunk_dict`'s layout
        fails loudly instead of writing fields into the wrong places).
        """
        parts = self._templates.get(index)
        if parts is None:
            raw = dumps(self.chunk_dict(_TEXT_MARK, index=index, tid=_TID_SENTINEL))
            raw = raw.replace(f":{_TID_SENTINEL}", ":" + _TID_MARK)
            text_json = dumps(_TEXT_MARK)
            pieces = re.split(f"({re.escape(text_json)}|{re.escape(_TID_MARK)})", raw)
            slots = tuple(0 if piece == text_json else 1 for piece in pieces[1::2])
            if slots != _SLOTS[self.kind]:
                raise AssertionError(f"{self.kind} chunk template has slots {slots}")
            parts = pieces[0::2]
            parts[0] = "data: " + parts[0]
            parts[-1] += "\n\n"
            self._templates[index] = parts
        return parts

    def content_event(self, token: str, index: int = 0) -> bytes:
        """``data: {chunk}`` for one content token (no finish reason, ``usage: null``)."""
        p = self._template(index)
        text = dumps(token)
        tid = str(token_id(token))
        # Plain concatenation: about twice as fast as str.format or a join loop here.
        if self.kind == "chat":
            return (p[0] + text + p[1] + tid + p[2] + text + p[3]).encode()
        return (p[0] + tid + p[1] + text + p[2] + text + p[3] + tid + p[4] + text + p[5]).encode()

    def final_event(
        self,
        *,
        finish_reason: str,
        seed: int,
        usage_data: Mapping[str, int],
        token: str = "",
        index: int = 0,
        tid: int | None = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
    ) -> bytes:
        """The last chunk: carries ``finish_reason``, ``seed`` and the usage."""
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

    def tool_events(self, calls: Sequence[Mapping[str, Any]], *, index: int = 0) -> Iterable[bytes]:
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


def now() -> int:
    return int(time.time())
