"""What every OpenAI-compatible wire format shares, as pure functions: no I/O, no state.

The emulators' two flavours (:mod:`llmrouter.testing.together_wire`,
:mod:`llmrouter.testing.openai_wire`) build their bodies from these pieces and keep only what
really differs: response fields, stream chunk layouts, error texts, the model catalogue. Here:
compact JSON and server-sent events, word tokens and their fake ids, the deterministic reply
material (prompt text, filler tokens, tool-call arguments and JSON-mode text filled in from a
schema, embedding vectors), the ``{"error": {...}}`` envelope, and the base of the stream
encoders (a content chunk built from a template made once per stream, so a long stream costs
one small string concatenation per token rather than a ``json.dumps`` of a nested dict).
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeGuard

__all__ = [
    "SSE_DONE",
    "Answer",
    "StreamEncoder",
    "count_prompt_tokens",
    "dumps",
    "embedding_inputs",
    "embedding_vector",
    "error_body",
    "filler_tokens",
    "format_seconds",
    "is_int",
    "json_reply",
    "lookup_error",
    "now",
    "prompt_text",
    "random_alnum",
    "split_tokens",
    "sse_event",
    "token_id",
    "tool_call_arguments",
    "usage",
]

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> str:
    """Compact JSON, like the real services' responses (and cheaper to write)."""
    return _encoder.encode(obj)


SSE_DONE = b"data: [DONE]\n\n"


def sse_event(obj: Any) -> bytes:
    """One server-sent event carrying ``obj`` as JSON: ``data: {...}\\n\\n``."""
    return b"data: " + dumps(obj).encode() + b"\n\n"


def now() -> int:
    return int(time.time())


def format_seconds(value: float) -> str:
    """Seconds as a header value: ``2`` for a whole number, else ``2.5``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def is_int(value: object) -> TypeGuard[int]:
    """An integer that is not a bool (JSON ``true`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_alnum(length: int, *, lowercase: bool = False) -> str:
    """``length`` random letters and digits (only lowercase ones with ``lowercase``)."""
    if lowercase:
        return "".join(_ALNUM[b % 36] for b in os.urandom(length)).lower()
    return "".join(_ALNUM[b % 62] for b in os.urandom(length))


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


# ---------------------------------------------------------------------------------------------
# tool calls and JSON mode


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


def json_reply(body: Mapping[str, Any], text: str, *, keep_objects: bool) -> str | None:
    """The reply in JSON mode, or None when the request did not ask for JSON.

    ``response_format: {"type": "json_object"}`` gets ``{"reply": text}`` (with
    ``keep_objects``, a reply that already is a JSON object, e.g. a fixed ``reply=`` knob, is
    kept as it is); ``json_schema`` gets a sample instance of the schema. So a client's JSON
    mode is exercised with text that parses.
    """
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        if keep_objects:
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
# embeddings


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


def _token_ids(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(is_int(t) and t >= 0 for t in value)


def embedding_inputs(raw: object, *, token_ids: bool) -> list[str] | None:
    """The inputs of an ``/embeddings`` body, or ``None`` when the shape is not accepted.

    A string or a non-empty list of strings; with ``token_ids`` also OpenAI's other two forms (a
    list of token ids, a list of such lists), each token list as its ids joined by spaces (so the
    vector is stable and the token count is its length).
    """
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not raw:
        return None
    if all(isinstance(s, str) for s in raw):
        return list(raw)
    if not token_ids:
        return None
    if _token_ids(raw):
        return [" ".join(map(str, raw))]
    if all(_token_ids(tokens) for tokens in raw):
        return [" ".join(map(str, tokens)) for tokens in raw]
    return None


# ---------------------------------------------------------------------------------------------
# errors


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``, the envelope both APIs use."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def lookup_error(
    table: Mapping[int, tuple[str, str, str | None]],
    status: int,
    *,
    server_error: str,
    client_error: str,
) -> tuple[str, str, str | None]:
    """(message, type, code) for an HTTP error status from an API's ``table``, else a generic
    ``server_error`` (5xx) or ``invalid_request_error`` (4xx) with the given message."""
    if status in table:
        return table[status]
    if status >= 500:
        return (server_error, "server_error", None)
    return (client_error, "invalid_request_error", None)


# ---------------------------------------------------------------------------------------------
# streaming


_TEXT_MARK = "\x00TEXT\x00"
_TID_MARK = "\x00TID\x00"
#: A token id no real chunk holds: written into the template chunk, then replaced by a slot.
_TID_SENTINEL = 31415926535897


@dataclass(frozen=True, slots=True)
class Answer:
    """What one chat or text completion answers, in no wire shape: the emulator decides it once,
    a flavour's response builder or stream encoder writes it."""

    model: str
    #: the reply's tokens (for a tool call: its arguments, a piece per token)
    tokens: list[str]
    #: choices (the request's ``n``), each the same reply
    n: int
    finish: str
    usage: Mapping[str, Any]
    #: the seed a response reports (Together's; 0 for an API that reports none)
    seed: int
    tool_calls: list[dict[str, Any]] | None = None


class StreamEncoder:
    """The base of a flavour's stream encoder: one streamed response (chat or text completion).

    A flavour defines :attr:`chunk_dict` (the reference shape of a chunk), :meth:`events` (the
    whole stream) and :attr:`slots`. A content chunk is built from a template produced once per
    stream by ``json.dumps`` of the real chunk dict with marks where the token's JSON text (slot
    0) and its id (slot 1) go, so its shape cannot drift from :attr:`chunk_dict` (tests check
    that they agree byte for byte).
    """

    #: Per kind, the order in which the token's text (0) and id (1) appear in a content chunk;
    #: checked when the template is made, so a layout change fails loudly instead of writing
    #: fields into the wrong places.
    slots: dict[str, tuple[int, ...]] = {}
    #: ``chunk_dict(text, *, index=0, tid=None, ...)``: one chunk as a dict, holding ``text``
    #: (and the token id ``tid`` where the API sends one). The emulator's own calls pass
    #: ``index``, ``tid`` and nothing else, so each flavour takes the keywords its shape needs.
    chunk_dict: Callable[..., dict[str, Any]]

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
        raise NotImplementedError

    def events(self, answer: Answer) -> Iterator[bytes]:
        """Every event of the stream before ``[DONE]``, in order."""
        raise NotImplementedError

    def _template(self, index: int) -> list[str]:
        """The content chunk's event split at its slots: the literal parts, in order."""
        parts = self._templates.get(index)
        if parts is None:
            raw = dumps(self.chunk_dict(_TEXT_MARK, index=index, tid=_TID_SENTINEL))
            raw = raw.replace(f":{_TID_SENTINEL}", ":" + _TID_MARK)
            text_json = dumps(_TEXT_MARK)
            pieces = re.split(f"({re.escape(text_json)}|{re.escape(_TID_MARK)})", raw)
            slots = tuple(0 if piece == text_json else 1 for piece in pieces[1::2])
            if slots != self.slots[self.kind]:
                raise AssertionError(f"{self.kind} chunk template has slots {slots}")
            parts = pieces[0::2]
            parts[0] = "data: " + parts[0]
            parts[-1] += "\n\n"
            self._templates[index] = parts
        return parts

    def content_event(self, token: str, index: int = 0) -> bytes:
        """``data: {chunk}`` for one content token (no finish reason, no usage)."""
        p = self._template(index)
        slots = self.slots[self.kind]
        text = dumps(token)
        # Plain concatenation, unrolled for the common layouts: about twice as fast as
        # str.format or a join loop, and this runs once per token of every stream.
        if slots == (0,):
            return (p[0] + text + p[1]).encode()
        tid = str(token_id(token))
        if slots == (0, 1, 0):
            return (p[0] + text + p[1] + tid + p[2] + text + p[3]).encode()
        values = (text, tid)
        out = p[0]
        for slot, part in zip(slots, p[1:], strict=True):
            out += values[slot] + part
        return out.encode()
