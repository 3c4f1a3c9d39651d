"""``BedrockEmulator``: Bedrock Runtime's Converse API on 127.0.0.1, for tests and benchmarks.

    from llmrouter_bedrock.testing import BedrockEmulator

    with BedrockEmulator(credentials={"AKIDEXAMPLE": "secret"}) as emu:
        client = boto3.client("bedrock-runtime", region_name="us-east-1",
                              endpoint_url=emu.url, aws_access_key_id="AKIDEXAMPLE",
                              aws_secret_access_key="secret")
        client.converse(modelId="anthropic.claude-3-5-haiku-20241022-v1:0", messages=[...])

It is the emulators' core (:class:`llmrouter.testing.emulator.BaseEmulator`: the HTTP server,
the request log with credentials redacted, tenants, fault rules and the ``x-emulator-fault``
header, stats, the ``reply``/``latency``/``reply_tokens`` knobs and the ``x-emulator-tokens``
header) speaking Bedrock Runtime's wire as botocore's service model (``bedrock-runtime``
2023-09-30) states it, proven by running boto3 against it (plugins/bedrock/tests):

- ``POST /model/{modelId}/converse``: a ``ConverseResponse`` (``output.message.content``
  blocks, ``stopReason``, ``usage`` with cache counts when the request has cache points,
  ``metrics``);
- ``POST /model/{modelId}/converse-stream``: ``application/vnd.amazon.eventstream`` frames
  (``messageStart``, ``contentBlockStart`` for a tool use, ``contentBlockDelta`` with
  ``text``/``toolUse.input``/``reasoningContent`` pieces, ``contentBlockStop``,
  ``messageStop``, ``metadata`` last), each payload padded with a ``p`` field as the real
  service pads them. The frames are written here by hand (prelude, string headers, JSON
  payload, both CRC32s from :func:`zlib.crc32`), so botocore's parser on the client side is an
  independent check of them.

The model id is the URI label, percent-decoded (``:`` and ``%3A`` alike; an ARN's ``/`` must come
as ``%2F``: a raw ``/`` in it is an unknown operation, a 404, as on AWS). The signature is
checked against the path as received, as AWS checks it. Inference profiles
(``us.anthropic...``) and ARNs (``...:inference-profile/us.anthropic...``,
``...:foundation-model/anthropic...``) name the catalogue's models; an unknown id is a 400
``ValidationException``, as Bedrock answers it.

Auth: ``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/bedrock/
aws4_request, SignedHeaders=..., Signature=<64 hex>`` with ``x-amz-date`` (the shape is always
checked: scope date, region, service ``bedrock``, ``host`` and ``x-amz-date`` signed, a
session token signed when sent, the date within 15 minutes); with ``credentials`` (access key
id -> secret key) the key must be known and the signature is recomputed and compared, from the
SigV4 specification (canonical request, string to sign, derived key), not with botocore. Or
``Authorization: Bearer <Bedrock API key>`` (``api_key`` set: exactly that one). Failures are
403 ``UnrecognizedClientException``, ``InvalidSignatureException`` or
``MissingAuthenticationTokenException``, or 400 ``IncompleteSignatureException``. A signature
that does not match is answered as AWS answers it: the message quotes the canonical request
(the signed headers' values, a session token's among them) and the string to sign
(:func:`sigv4_canonical`), so a client's redaction of it is tested against the real thing.

Errors are ``{"message": ...}`` with the type in ``x-amzn-ErrorType`` (``<type>:http://...``)
and a request id in ``x-amzn-RequestId`` (so is every answer): 400 ``ValidationException``,
403 ``AccessDeniedException``, 404 ``ResourceNotFoundException``, 408
``ModelTimeoutException``, 424 ``ModelErrorException``, 429 ``ThrottlingException`` (a fault's
``type`` picks another, such as ``ModelNotReadyException``), 500 ``InternalServerException``,
503 ``ServiceUnavailableException`` (401 ``UnrecognizedClientException``, 409
``ConflictException``; any other status ``Http<status>Exception``). An in-band stream error is
an exception frame (``:message-type: exception``): ``throttlingException`` for a 429 fault,
``validationException`` (400), ``modelStreamErrorException`` (424),
``serviceUnavailableException`` (503), else ``internalServerException`` (the default).
``no_done`` leaves out ``metadata`` (the stream's last event); ``cut_after``/
``stream_error_after`` count every frame; ``malformed`` sends a frame whose checksum is wrong
first.

Replies are deterministic: the prompt-derived text of the other emulators, ``stopSequences``
and ``maxTokens`` honoured (``stop_sequence``/``max_tokens``). A ``toolUse`` answers a request
with ``toolConfig`` whose ``toolChoice`` is ``any`` or names a tool, or whose last message holds
``[[emulator:tool_call]]`` / ``[[emulator:tool_call:NAME]]`` (the input filled in from the
tool's schema). ``additionalModelRequestFields.thinking`` of type ``enabled`` or ``adaptive``
adds a reasoning block first, signed with an HMAC of its text (a strict emulator rejects a
reasoning block sent back altered). ``outputConfig.textFormat`` makes the reply a sample
instance of its schema. Prompt caching is played: the words up to the last ``cachePoint`` are
``cacheWriteInputTokens`` the first time that prefix is seen, ``cacheReadInputTokens`` after.

``strict=True`` (the default) also rejects what Converse rejects: unknown top-level fields,
roles that do not alternate from ``user``, blank text, content blocks of no known kind,
``toolUse`` without its ``toolResult`` in the next message (and the reverse), tool blocks
without ``toolConfig``, tool names outside ``[a-zA-Z0-9_-]{1,64}``, a tool choice naming no
tool, out-of-range inference values and blobs that are not base64.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import re
import struct
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from llmrouter.testing import wire
from llmrouter.testing.dialect import Invalid
from llmrouter.testing.emulator import BaseEmulator, Call, Reply, bearer_key, marked_tool
from llmrouter.testing.faults import Fault

__all__ = [
    "DEFAULT_MODELS",
    "ERROR_TYPE_SUFFIX",
    "BedrockEmulator",
    "Signature",
    "encode_frame",
    "sign_reasoning",
    "sigv4_canonical",
    "sigv4_signature",
]

DEFAULT_MODELS: Sequence[str] = (
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-sonnet-4-20250514-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-pro-v1:0",
    "meta.llama3-1-8b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
)
#: What follows the type in ``x-amzn-ErrorType`` (botocore cuts at the ``:``).
ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"

#: Status -> (error type, default message).
_ERRORS: Mapping[int, tuple[str, str]] = {
    400: (
        "ValidationException",
        "Malformed input request, please reformat your input and try again.",
    ),
    401: ("UnrecognizedClientException", "The security token included in the request is invalid."),
    403: (
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    ),
    404: ("ResourceNotFoundException", "The requested resource could not be found."),
    408: ("ModelTimeoutException", "Model has timed out in processing the request."),
    409: ("ConflictException", "The request conflicts with the resource's current state."),
    424: ("ModelErrorException", "The model returned an error while processing the request."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error."),
    503: ("ServiceUnavailableException", "The service is unavailable. Try again later."),
}
#: Status -> the exception type of an in-band stream error.
_STREAM_EXCEPTIONS: Mapping[int, str] = {
    400: "validationException",
    424: "modelStreamErrorException",
    429: "throttlingException",
    503: "serviceUnavailableException",
}
#: The top-level fields of ``ConverseRequest`` (``modelId`` is in the URI).
_CONVERSE_FIELDS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
        "projectIdentifier",
    }
)
#: ``ContentBlock``'s members, read from the service model; kept here rather than taken from the
#: plugin's own list, so that the emulator does not accept what the plugin wrongly sends.
_BLOCKS = frozenset(
    {
        "text",
        "image",
        "document",
        "video",
        "audio",
        "toolUse",
        "toolResult",
        "guardContent",
        "cachePoint",
        "reasoningContent",
        "citationsContent",
        "searchResult",
    }
)
_RESULT_BLOCKS = frozenset({"json", "text", "image", "document", "video", "searchResult"})
_IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
_DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
_GEO_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SKEW = 15 * 60
_SIGNING_KEY = b"llmrouter-bedrock-emulator"
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _bad(message: str, status: int = 400, type_: str = "ValidationException") -> Invalid:
    return Invalid(status, message, type_=type_)


def sign_reasoning(text: str) -> str:
    """The signature the emulator gives a reasoning text (checked when it comes back)."""
    return base64.b64encode(hmac.new(_SIGNING_KEY, text.encode(), hashlib.sha256).digest()).decode()


# --- SigV4, from the specification ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signature:
    """What a request's SigV4 ``Authorization`` header said (never the signature itself), and
    whether the emulator could check it (``verified``: ``None`` when no secret was known)."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    verified: bool | None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sigv4_canonical(
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
    amz_date: str,
    region: str,
    service: str,
) -> tuple[str, str]:
    """The SigV4 canonical request of a request as received (its path still percent-encoded,
    as sent: encoded once more, as non-S3 services sign it; the query pairs sorted; the signed
    headers lower-cased, trimmed and sorted, with their values; the body's SHA-256) and the
    string to sign. AWS quotes both back in the message of a signature mismatch."""
    pairs = sorted(tuple(p.partition("=")[::2]) for p in query.split("&")) if query else []
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers
    )
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join(
        [
            method.upper(),
            quote(raw_path or "/", safe="/~"),
            "&".join(f"{k}={v}" for k, v in pairs),
            canonical_headers,
            ";".join(signed_headers),
            payload,
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    return canonical, to_sign


def sigv4_signature(
    secret_key: str,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
    amz_date: str,
    region: str,
    service: str,
) -> str:
    """The SigV4 signature of a request as received: the HMAC chain over
    :func:`sigv4_canonical`'s string to sign, with the key derived from the secret, date,
    region and service."""
    _, to_sign = sigv4_canonical(
        method=method,
        raw_path=raw_path,
        query=query,
        headers=headers,
        signed_headers=signed_headers,
        body=body,
        amz_date=amz_date,
        region=region,
        service=service,
    )
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# --- the event-stream framing --------------------------------------------------------------------


def encode_frame(
    headers: Sequence[tuple[str, str]], payload: bytes, *, corrupt: bool = False
) -> bytes:
    """One ``application/vnd.amazon.eventstream`` message: the prelude (total length, headers
    length, their CRC32), the headers (name length, name, type 7 = string, value length, value),
    the payload and the CRC32 of everything before it (``corrupt``: a wrong one)."""
    encoded = b""
    for name, value in headers:
        raw_name, raw_value = name.encode(), value.encode()
        encoded += bytes([len(raw_name)]) + raw_name + b"\x07"
        encoded += struct.pack(">H", len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    crc = zlib.crc32(message) ^ (0xFFFFFFFF if corrupt else 0)
    return message + struct.pack(">I", crc)


def _event(kind: str, payload: Mapping[str, Any], *, pad: bool = True) -> bytes:
    body = dict(payload)
    if pad:  # the real service pads event payloads to hide their length
        body["p"] = _PADDING[: 1 + len(wire.dumps(payload)) % len(_PADDING)]
    return encode_frame(
        (
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ),
        wire.dumps(body).encode(),
    )


def _exception(kind: str, message: str) -> bytes:
    return encode_frame(
        (
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ),
        wire.dumps({"message": message}).encode(),
    )


# --- the answer --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Usage:
    input_tokens: int
    output_tokens: int
    cache_write: int = 0
    cache_read: int = 0
    caching: bool = False

    def body(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens
            + self.output_tokens
            + self.cache_read
            + self.cache_write,
        }
        if self.caching:
            usage["cacheReadInputTokens"] = self.cache_read
            usage["cacheWriteInputTokens"] = self.cache_write
        return usage


@dataclass(frozen=True, slots=True)
class _Turn:
    """What one Converse call answers, in no wire shape: (kind, pieces) blocks, kind one of
    ``reasoning``, ``text``, ``toolUse`` (its input JSON in pieces)."""

    blocks: list[tuple[str, list[str]]]
    stop_reason: str
    usage: _Usage
    tool_id: str = ""
    tool_name: str = ""

    def content(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind, pieces in self.blocks:
            text = "".join(pieces)
            if kind == "reasoning":
                out.append(
                    {
                        "reasoningContent": {
                            "reasoningText": {"text": text, "signature": sign_reasoning(text)}
                        }
                    }
                )
            elif kind == "toolUse":
                out.append(
                    {
                        "toolUse": {
                            "toolUseId": self.tool_id,
                            "name": self.tool_name,
                            "input": json.loads(text),
                        }
                    }
                )
            else:
                out.append({"text": text})
        return out

    def response(self, latency_ms: int) -> dict[str, Any]:
        return {
            "output": {"message": {"role": "assistant", "content": self.content()}},
            "stopReason": self.stop_reason,
            "usage": self.usage.body(),
            "metrics": {"latencyMs": latency_ms},
        }


def _events(turn: _Turn) -> Iterator[bytes]:
    """Every frame of a streamed answer before ``metadata``."""
    yield _event("messageStart", {"role": "assistant"})
    for index, (kind, pieces) in enumerate(turn.blocks):
        if kind == "toolUse":
            start = {"toolUse": {"toolUseId": turn.tool_id, "name": turn.tool_name}}
            yield _event("contentBlockStart", {"start": start, "contentBlockIndex": index})
        for piece in pieces:
            if kind == "reasoning":
                delta: dict[str, Any] = {"reasoningContent": {"text": piece}}
            elif kind == "toolUse":
                delta = {"toolUse": {"input": piece}}
            else:
                delta = {"text": piece}
            yield _event("contentBlockDelta", {"delta": delta, "contentBlockIndex": index})
        if kind == "reasoning":
            signature = {"reasoningContent": {"signature": sign_reasoning("".join(pieces))}}
            yield _event("contentBlockDelta", {"delta": signature, "contentBlockIndex": index})
        yield _event("contentBlockStop", {"contentBlockIndex": index})
    yield _event("messageStop", {"stopReason": turn.stop_reason})


def _text_of(blocks: object) -> str:
    """The text of a list of content blocks (tool results' text included)."""
    out: list[str] = []
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            out.append(block["text"])
        elif isinstance(block.get("toolResult"), dict):
            out.append(_text_of(block["toolResult"].get("content")))
    return " ".join(t for t in out if t)


def _stop_at(tokens: list[str], stops: object) -> tuple[list[str], bool]:
    """The tokens before the earliest stop sequence, and whether one matched."""
    if not isinstance(stops, list) or not stops:
        return tokens, False
    text = "".join(tokens)
    found = [text.find(s) for s in stops if isinstance(s, str) and s and s in text]
    if not found:
        return tokens, False
    return wire.split_tokens(text[: min(found)]), True


_Segments = list[tuple[str, bool]]  # (text, followed by a cache point)


def _segments(body: Mapping[str, Any]) -> _Segments:
    """The prompt in caching order (tools, system, messages) as (text, cache point after)."""
    items: _Segments = []

    def add(blocks: object) -> None:
        for block in blocks if isinstance(blocks, list) else ():
            if not isinstance(block, dict):
                continue
            if "cachePoint" in block:
                if items:
                    items[-1] = (items[-1][0], True)
                continue
            spec = block.get("toolSpec")
            if isinstance(spec, dict):
                text = f"{spec.get('name', '')} {spec.get('description', '')}"
            else:
                text = _text_of([block])
            items.append((text, False))

    config = body.get("toolConfig")
    add(config.get("tools") if isinstance(config, dict) else None)
    add(body.get("system"))
    for message in body.get("messages") or []:
        add(message.get("content") if isinstance(message, dict) else None)
    return items


# --- the request checks ------------------------------------------------------------------------


def _b64(value: object, where: str) -> None:
    if not isinstance(value, str) or not value:
        raise _bad(f"{where} must be a non-empty base64 string")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{where} is not valid base64") from None


def _cache_point(value: object, where: str) -> None:
    """``CachePointBlock``: ``type`` ``default``, and an optional ``ttl`` of ``CacheTTL``."""
    if (
        not isinstance(value, dict)
        or value.get("type") != "default"
        or set(value) - {"type", "ttl"}
        or value.get("ttl", "5m") not in ("5m", "1h")
    ):
        raise _bad(f"{where} must be {{'type': 'default'}}, with an optional ttl of '5m' or '1h'")


def _one_key(block: object, where: str, keys: frozenset[str]) -> str:
    if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in keys:
        raise _bad(f"{where} must be an object with exactly one of: {', '.join(sorted(keys))}")
    return str(next(iter(block)))


class _Checker:
    """Converse's request rules, each failure an :class:`Invalid` worded like Bedrock's."""

    def __init__(self, body: Mapping[str, Any], *, strict: bool) -> None:
        self.body = body
        self.strict = strict

    def run(self) -> None:
        body = self.body
        if self.strict:
            unknown = sorted(set(body) - _CONVERSE_FIELDS)
            if unknown:
                raise _bad(f"Unknown field(s) in the request: {', '.join(unknown)}")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _bad("messages: a non-empty list of messages is required")
        self.messages(messages)
        self.system(body.get("system"))
        self.inference(body.get("inferenceConfig"))
        self.tools(body.get("toolConfig"), messages)
        self.output(body.get("outputConfig"))
        self.small_fields()

    def messages(self, messages: list[Any]) -> None:
        expected = "user"
        for i, message in enumerate(messages):
            where = f"messages.{i}"
            if not isinstance(message, dict):
                raise _bad(f"{where} must be an object")
            role = message.get("role")
            if role not in ("user", "assistant"):
                raise _bad(f"{where}.role must be 'user' or 'assistant'")
            if self.strict and role != expected:
                raise _bad(
                    "A conversation must start with a user message and alternate between "
                    "user and assistant roles. Try again with a conversation that does."
                )
            expected = "assistant" if role == "user" else "user"
            content = message.get("content")
            if not isinstance(content, list) or not content:
                raise _bad(f"{where}.content must be a non-empty list of content blocks")
            for j, block in enumerate(content):
                self.block(block, f"{where}.content.{j}", role)
        if self.strict:
            self.tool_pairs(messages)
            self.signatures(messages)

    def block(self, block: object, where: str, role: str) -> None:
        kind = _one_key(block, where, _BLOCKS)
        assert isinstance(block, dict)
        value = block[kind]
        if kind == "text":
            if not isinstance(value, str):
                raise _bad(f"{where}.text must be a string")
            if self.strict and not value.strip():
                raise _bad(
                    f"The text field in the ContentBlock object at {where} is blank. Add text "
                    "to the text field, and try again."
                )
        elif kind == "image":
            self.image(value, f"{where}.image")
        elif kind == "document":
            if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                raise _bad(f"{where}.document needs a name and a source")
            if value.get("format") not in (None, *_DOCUMENT_FORMATS):
                raise _bad(f"{where}.document.format must be one of {', '.join(_DOCUMENT_FORMATS)}")
            source = value.get("source")
            if isinstance(source, dict) and "bytes" in source:
                _b64(source["bytes"], f"{where}.document.source.bytes")
        elif kind == "toolUse":
            if role != "assistant":
                raise _bad(f"{where}: a toolUse block belongs in an assistant message")
            self.tool_use(value, f"{where}.toolUse")
        elif kind == "toolResult":
            if role != "user":
                raise _bad(f"{where}: a toolResult block belongs in a user message")
            self.tool_result(value, f"{where}.toolResult")
        elif kind == "reasoningContent":
            inner = _one_key(
                value, f"{where}.reasoningContent", frozenset({"reasoningText", "redactedContent"})
            )
            if inner == "reasoningText" and not isinstance(value[inner].get("text"), str):
                raise _bad(f"{where}.reasoningContent.reasoningText.text must be a string")
            if inner == "redactedContent":
                _b64(value[inner], f"{where}.reasoningContent.redactedContent")
        elif kind == "cachePoint":
            _cache_point(value, f"{where}.cachePoint")

    def image(self, value: object, where: str) -> None:
        if not isinstance(value, dict) or value.get("format") not in _IMAGE_FORMATS:
            raise _bad(f"{where}.format must be one of {', '.join(_IMAGE_FORMATS)}")
        source = value.get("source")
        kind = _one_key(source, f"{where}.source", frozenset({"bytes", "s3Location"}))
        assert isinstance(source, dict)
        if kind == "bytes":
            _b64(source["bytes"], f"{where}.source.bytes")
        elif not isinstance(source["s3Location"], dict) or not str(
            source["s3Location"].get("uri", "")
        ).startswith("s3://"):
            raise _bad(f"{where}.source.s3Location.uri must be an s3:// URI")

    def tool_use(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise _bad(f"{where} must be an object")
        if not isinstance(value.get("toolUseId"), str) or not _TOOL_USE_ID.fullmatch(
            value["toolUseId"]
        ):
            raise _bad(f"{where}.toolUseId must match [a-zA-Z0-9_.:-]{{1,64}}")
        if not isinstance(value.get("name"), str) or not _TOOL_NAME.fullmatch(value["name"]):
            raise _bad(f"{where}.name must match [a-zA-Z0-9_-]{{1,64}}")
        if not isinstance(value.get("input"), dict):
            raise _bad(f"{where}.input must be a JSON object")

    def tool_result(self, value: object, where: str) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("toolUseId"), str):
            raise _bad(f"{where} needs a toolUseId")
        content = value.get("content")
        if not isinstance(content, list):
            raise _bad(f"{where}.content must be a list")
        for k, block in enumerate(content):
            kind = _one_key(block, f"{where}.content.{k}", _RESULT_BLOCKS)
            assert isinstance(block, dict)
            if kind == "text" and not isinstance(block["text"], str):
                raise _bad(f"{where}.content.{k}.text must be a string")
            if kind == "image":
                self.image(block["image"], f"{where}.content.{k}.image")
        if value.get("status") not in (None, "success", "error"):
            raise _bad(f"{where}.status must be 'success' or 'error'")

    def tool_pairs(self, messages: list[dict[str, Any]]) -> None:
        """Every toolUse answered by a toolResult in the next message, and no stray result."""
        for i, message in enumerate(messages):
            uses = {b["toolUse"]["toolUseId"] for b in message["content"] if "toolUse" in b}
            following = messages[i + 1]["content"] if i + 1 < len(messages) else None
            if uses and following is not None:
                answered = {b["toolResult"]["toolUseId"] for b in following if "toolResult" in b}
                missing = uses - answered
                if missing:
                    raise _bad(
                        f"Expected toolResult blocks at messages.{i + 1}.content for the "
                        f"following Ids: {', '.join(sorted(missing))}"
                    )
            if message["role"] == "user":
                results = {
                    b["toolResult"]["toolUseId"] for b in message["content"] if "toolResult" in b
                }
                previous = (
                    {
                        b["toolUse"]["toolUseId"]
                        for b in messages[i - 1]["content"]
                        if "toolUse" in b
                    }
                    if i
                    else set()
                )
                stray = results - previous
                if stray:
                    raise _bad(
                        f"messages.{i}: toolResult block(s) {', '.join(sorted(stray))} answer no "
                        "toolUse of the previous assistant message"
                    )

    def signatures(self, messages: list[dict[str, Any]]) -> None:
        for i, message in enumerate(messages):
            for block in message["content"]:
                text = block.get("reasoningContent", {}).get("reasoningText")
                if (
                    isinstance(text, dict)
                    and text.get("signature") is not None
                    and text["signature"] != sign_reasoning(str(text.get("text")))
                ):
                    raise _bad(
                        f"messages.{i}: the signature of a reasoning block does not match "
                        "its text; send reasoning blocks back unchanged"
                    )

    def system(self, system: object) -> None:
        if system is None:
            return
        if not isinstance(system, list):
            raise _bad("system must be a list of system content blocks")
        for j, block in enumerate(system):
            kind = _one_key(block, f"system.{j}", frozenset({"text", "guardContent", "cachePoint"}))
            assert isinstance(block, dict)
            if kind == "cachePoint":
                _cache_point(block[kind], f"system.{j}.cachePoint")
            if kind == "text" and (
                not isinstance(block["text"], str) or (self.strict and not block["text"])
            ):
                raise _bad(f"system.{j}.text must be a non-empty string")

    def inference(self, config: object) -> None:
        if config is None:
            return
        if not isinstance(config, dict):
            raise _bad("inferenceConfig must be an object")
        unknown = set(config) - {"maxTokens", "temperature", "topP", "stopSequences"}
        if unknown:
            raise _bad(f"inferenceConfig has unknown field(s): {', '.join(sorted(unknown))}")
        max_tokens = config.get("maxTokens")
        if max_tokens is not None and not (wire.is_int(max_tokens) and max_tokens >= 1):
            raise _bad("inferenceConfig.maxTokens must be an integer of at least 1")
        for name in ("temperature", "topP"):
            value = config.get(name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 1
            ):
                raise _bad(f"inferenceConfig.{name} must be a number between 0 and 1")
        stops = config.get("stopSequences")
        if stops is not None and (
            not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops)
        ):
            raise _bad("inferenceConfig.stopSequences must be a list of non-empty strings")

    def tools(self, config: object, messages: list[dict[str, Any]]) -> None:
        has_tool_blocks = any(
            "toolUse" in b or "toolResult" in b for m in messages for b in m["content"]
        )
        if config is None:
            if has_tool_blocks and self.strict:
                raise _bad(
                    "The toolConfig field must be defined when using toolUse and toolResult "
                    "content blocks."
                )
            return
        if (
            not isinstance(config, dict)
            or not isinstance(config.get("tools"), list)
            or not config["tools"]
        ):
            raise _bad("toolConfig.tools must be a non-empty list")
        names = []
        for k, tool in enumerate(config["tools"]):
            kind = _one_key(
                tool, f"toolConfig.tools.{k}", frozenset({"toolSpec", "cachePoint", "systemTool"})
            )
            if kind == "cachePoint":
                _cache_point(tool[kind], f"toolConfig.tools.{k}.cachePoint")
            if kind != "toolSpec":
                continue
            spec = tool["toolSpec"]
            name = spec.get("name") if isinstance(spec, dict) else None
            if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
                raise _bad(f"toolConfig.tools.{k}.toolSpec.name must match [a-zA-Z0-9_-]{{1,64}}")
            schema = spec.get("inputSchema")
            if not isinstance(schema, dict) or not isinstance(schema.get("json"), dict):
                raise _bad(f"toolConfig.tools.{k}.toolSpec.inputSchema must be {{'json': {{...}}}}")
            if "description" in spec and (
                not isinstance(spec["description"], str) or not spec["description"]
            ):
                raise _bad(f"toolConfig.tools.{k}.toolSpec.description must be a non-empty string")
            names.append(name)
        choice = config.get("toolChoice")
        if choice is not None:
            kind = _one_key(choice, "toolConfig.toolChoice", frozenset({"auto", "any", "tool"}))
            if kind == "tool" and choice["tool"].get("name") not in names:
                raise _bad("toolConfig.toolChoice.tool.name names no tool of toolConfig.tools")

    def output(self, config: object) -> None:
        if config is None:
            return
        if not isinstance(config, dict) or set(config) - {"textFormat", "effort"}:
            raise _bad("outputConfig takes textFormat and effort")
        effort = config.get("effort")
        if effort is not None and effort not in ("low", "medium", "high", "xhigh", "max"):
            raise _bad("outputConfig.effort must be low, medium, high, xhigh or max")
        fmt = config.get("textFormat")
        if fmt is None:
            return
        schema = None
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            spec = (
                fmt.get("structure", {}).get("jsonSchema")
                if isinstance(fmt.get("structure"), dict)
                else None
            )
            schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, str):
            raise _bad(
                "outputConfig.textFormat must be {'type': 'json_schema', 'structure': "
                "{'jsonSchema': {'schema': '<JSON schema text>'}}}"
            )
        try:
            json.loads(schema)
        except ValueError:
            raise _bad(
                "outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON"
            ) from None

    def small_fields(self) -> None:
        body = self.body
        tier = body.get("serviceTier")
        if tier is not None and (
            not isinstance(tier, dict)
            or tier.get("type") not in ("priority", "default", "flex", "reserved")
        ):
            raise _bad("serviceTier.type must be priority, default, flex or reserved")
        perf = body.get("performanceConfig")
        if perf is not None and (
            not isinstance(perf, dict) or perf.get("latency") not in ("standard", "optimized")
        ):
            raise _bad("performanceConfig.latency must be standard or optimized")
        meta = body.get("requestMetadata")
        if meta is not None and (
            not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())
        ):
            raise _bad("requestMetadata must map strings to strings")
        extra = body.get("additionalModelRequestFields")
        if extra is not None and not isinstance(extra, dict):
            raise _bad("additionalModelRequestFields must be an object")
        paths = body.get("additionalModelResponseFieldPaths")
        if paths is not None and (
            not isinstance(paths, list)
            or not all(isinstance(p, str) and p.startswith("/") for p in paths)
        ):
            raise _bad("additionalModelResponseFieldPaths must be JSON pointers")


# --- the emulator ------------------------------------------------------------------------------


class BedrockEmulator(BaseEmulator):
    """Bedrock Runtime's Converse API on localhost; see the module docstring.

    Takes every :class:`~llmrouter.testing.emulator.BaseEmulator` argument (``api_key``: the
    one Bedrock API key accepted as a bearer token; ``None``: any), and ``region`` (the region
    SigV4 scopes must name) and ``credentials`` (access key id -> secret key: only those keys
    are accepted, and their signatures are verified; ``None``: any key, shape checked only).
    ``models`` are model ids.
    """

    api_versions: ClassVar[tuple[str, ...]] = ("model",)
    stream_content_type: ClassVar[bytes] = b"application/vnd.amazon.eventstream"
    stream_error_status: ClassVar[int] = 500
    default_reply: ClassVar[str] = "This is a deterministic reply from the Bedrock emulator."
    bad_json_message: ClassVar[str] = "Malformed input request: the body is not valid JSON."
    not_object_message: ClassVar[str] = "Malformed input request: the body must be a JSON object."
    strict: bool = True
    require_key: bool = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        region: str = "us-east-1",
        credentials: Mapping[str, str] | None = None,
        api_key: str | None = None,
        models: Sequence[str | Mapping[str, Any]] | None = None,
        reply: Any = None,
        latency: float = 0.0,
        reply_tokens: int | None = None,
        record: bool = True,
        log_limit: int | None = 10_000,
        strict: bool | None = None,
        require_key: bool | None = None,
    ) -> None:
        self.region = region
        self.credentials = dict(credentials) if credentials is not None else None
        self._signatures: deque[Signature] = deque(maxlen=log_limit)
        super().__init__(
            host,
            port,
            api_key=api_key,
            models=models,
            reply=reply,
            latency=latency,
            reply_tokens=reply_tokens,
            record=record,
            log_limit=log_limit,
            strict=strict,
            require_key=require_key,
        )

    # -- addresses: the SDK's endpoint_url is the host -----------------------------------------

    @property
    def base_url(self) -> str:
        """What boto3's ``endpoint_url`` (or llmrouter's ``api_base``) takes: the server root."""
        return self.url

    def base_url_for(self, tenant: str) -> str:
        return self._tenant_root(tenant)

    # -- models and signatures -------------------------------------------------------------------

    def set_models(self, models: Sequence[str | Mapping[str, Any]]) -> None:
        """Replace the catalogue: model ids (or ``{"id": ...}`` entries)."""
        index: dict[str, dict[str, Any]] = {}
        for item in models:
            entry = {"id": item} if isinstance(item, str) else dict(item)
            if not isinstance(entry.get("id"), str):
                raise ValueError(f"model entry without an 'id': {item!r}")
            index[entry["id"]] = entry
        with self._lock:
            self._models = index

    @property
    def signatures(self) -> list[Signature]:
        """What each signed request's ``Authorization`` said, oldest first."""
        with self._lock:
            return list(self._signatures)

    def _reset_state(self) -> None:
        # digests of the prompt prefixes seen with a cache point; replaced, never cleared in place
        self._cached: set[str] = set()
        if hasattr(self, "_signatures"):
            with self._lock:
                self._signatures.clear()

    def _catalogue_id(self, model_id: str) -> str | None:
        """The catalogue's id for a model id, an inference profile or an ARN, or None."""
        name = model_id
        if name.startswith("arn:"):
            name = name.rsplit("/", 1)[-1]
        with self._lock:
            models = self._models
        if name in models:
            return name
        for prefix in _GEO_PREFIXES:
            if name.startswith(prefix) and name[len(prefix) :] in models:
                return name[len(prefix) :]
        return None

    # -- the wire's part -------------------------------------------------------------------------

    def _default_models(self) -> Sequence[str | Mapping[str, Any]]:
        return DEFAULT_MODELS

    def _route(self, endpoint: str) -> tuple[str, str] | None:
        model, _, operation = endpoint[1:].rpartition("/")
        if not model or "/" in model:
            return None
        if operation == "converse":
            return ("POST", "_converse")
        if operation == "converse-stream":
            return ("POST", "_converse_stream")
        return None

    def _wants_stream(self, call: Call) -> bool:
        return call.endpoint.endswith("/converse-stream")

    def _rule_fault(self, endpoint: str, model: object, tenant: str) -> Fault | None:
        # The model is in the path: fault rules with model= match its decoded id.
        if model is None and endpoint.startswith("/"):
            model = unquote(endpoint[1:].rpartition("/")[0])
        return super()._rule_fault(endpoint, model, tenant)

    def _sent_key(self, headers: Mapping[str, str]) -> str | None:
        match = _AUTH.fullmatch(headers.get("authorization", "").strip())
        if match is not None:
            return match["key"]
        return bearer_key(headers)

    def _auth_problem(self, headers: Mapping[str, str]) -> tuple[str, str] | None:
        """(error type, message) of a missing or malformed authentication, else None."""
        raw = headers.get("authorization", "").strip()
        if not raw:
            return (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )
        token = bearer_key(headers)
        if token is not None:
            if self.api_key is not None and token != self.api_key:
                return (
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                )
            return None
        match = _AUTH.fullmatch(raw)
        if match is None:
            return (
                "IncompleteSignatureException",
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                "parameters (AWS4-HMAC-SHA256).",
            )
        amz_date = headers.get("x-amz-date", "")
        signed = match["signed"].split(";")
        if not _AMZ_DATE.fullmatch(amz_date):
            return (
                "IncompleteSignatureException",
                "Authorization requires an X-Amz-Date header (YYYYMMDD'T'HHMMSS'Z').",
            )
        if match["date"] != amz_date[:8]:
            return (
                "InvalidSignatureException",
                "Credential should be scoped to a valid date (the X-Amz-Date's).",
            )
        if match["service"] != "bedrock":
            return (
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'bedrock', not "
                f"{match['service']!r}.",
            )
        if match["region"] != self.region:
            return (
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region: {self.region!r}, not "
                f"{match['region']!r}.",
            )
        if signed != sorted(signed) or "host" not in signed or "x-amz-date" not in signed:
            return (
                "IncompleteSignatureException",
                "SignedHeaders must be sorted and include host and x-amz-date.",
            )
        if "x-amz-security-token" in headers and "x-amz-security-token" not in signed:
            return (
                "IncompleteSignatureException",
                "The X-Amz-Security-Token header must be signed.",
            )
        missing = [name for name in signed if name not in headers]
        if missing:
            return (
                "IncompleteSignatureException",
                f"Signed header(s) not sent: {', '.join(missing)}.",
            )
        sent = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        if abs(sent - time.time()) > _SKEW:
            return (
                "InvalidSignatureException",
                f"Signature expired: {amz_date} is more than 15 minutes from now.",
            )
        if self.credentials is not None and match["key"] not in self.credentials:
            return (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        return None

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        if not headers.get("authorization"):
            return not self.require_key
        return self._auth_problem(headers) is None

    def _auth_failure(self, call: Call) -> Reply:
        type_, message = self._auth_problem(call.request.headers) or (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
        status = 400 if type_ == "IncompleteSignatureException" else 403
        return self._error(call, status, message, type_=type_)

    def _verify(self, call: Call) -> None:
        """Record the request's signature and, with a known secret, check it."""
        headers = call.request.headers
        match = _AUTH.fullmatch(headers.get("authorization", "").strip())
        if match is None:
            return  # a bearer token (or no key, when none is required)
        signed = tuple(match["signed"].split(";"))
        secret = (self.credentials or {}).get(match["key"])
        verified: bool | None = None
        request: dict[str, Any] = {
            "method": call.request.method,
            "raw_path": call.request.path,
            "query": call.request.query,
            "headers": headers,
            "signed_headers": signed,
            "body": call.request.body,
            "amz_date": headers["x-amz-date"],
            "region": match["region"],
            "service": match["service"],
        }
        if secret is not None:
            expected = sigv4_signature(secret, **request)
            verified = hmac.compare_digest(expected, match["signature"])
        with self._lock:
            self._signatures.append(
                Signature(
                    match["key"], match["date"], match["region"], match["service"], signed, verified
                )
            )
        if verified is False:
            # As AWS answers it: the canonical request (the signed headers' values, a session
            # token's among them) and the string to sign, quoted back.
            canonical, to_sign = sigv4_canonical(**request)
            raise _bad(
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method. Consult the "
                "service documentation for details.\n\nThe Canonical String for this request "
                f"should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n"
                f"'{to_sign}'\n",
                403,
                "InvalidSignatureException",
            )

    def _default_error(self, status: int, code: str | None) -> tuple[str, str, str | None]:
        type_, message = _ERRORS.get(status) or (self._error_type(status), f"Error {status}")
        return message, type_, None

    def _error_type(self, status: int) -> str:
        """The type of an error with ``status``: Bedrock's own for the statuses it answers
        with (:data:`_ERRORS`), else a generic ``Http<status>Exception`` that names no
        Bedrock type (a fault's status with no Bedrock meaning: clients map it by status)."""
        known = _ERRORS.get(status)
        if known is not None:
            return known[0]
        return f"Http{status}Exception"

    def _error_response(
        self, status: int, message: str, type_: str, code: str | None, param: str | None
    ) -> tuple[Any, Sequence[tuple[str, str]]]:
        return (
            {"message": message},
            (
                ("x-amzn-ErrorType", type_ + ERROR_TYPE_SUFFIX),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ),
        )

    def _ok_headers(self) -> Sequence[tuple[str, str]]:
        return (("x-amzn-RequestId", str(uuid.uuid4())),)

    def _malformed_body(self) -> bytes:
        return b'{"output":{"message":{"role":"assistant","content":[{"te'

    # -- endpoints -------------------------------------------------------------------------------

    def _respond_to(self, call: Call) -> Reply:
        # The signature is checked before anything else is decided, faults included, as AWS
        # authenticates a request before it throttles or fails it.
        try:
            self._verify(call)
        except Invalid as exc:
            return self._error(call, exc.status, exc.message, type_=exc.type)
        return super()._respond_to(call)

    def _checked(self, call: Call) -> str:
        """Check the request; returns the catalogue's model id."""
        model = unquote(call.endpoint[1:].rpartition("/")[0])
        _Checker(call.body, strict=self.strict).run()
        found = self._catalogue_id(model)
        if found is None:
            raise _bad("The provided model identifier is invalid.")
        return found

    def _converse(self, call: Call) -> Reply:
        self._checked(call)
        turn = self._turn(call)
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, turn.response(latency_ms=1 + len(turn.blocks)))
        return None

    def _converse_stream(self, call: Call) -> Reply:
        self._checked(call)
        turn = self._turn(call)
        metadata = {"usage": turn.usage.body(), "metrics": {"latencyMs": 1 + len(turn.blocks)}}
        return self._stream(
            call,
            _events(turn),
            end=_event("metadata", metadata),
            error_event=self._stream_error_event,
            broken=encode_frame(((":message-type", "event"),), b"{}", corrupt=True),
            headers=self._ok_headers(),
        )

    def _stream_error_event(self, fault: Fault) -> bytes:
        message, _, _ = self._inband_error(fault)
        status = fault.status if fault.status is not None else self.stream_error_status
        kind = fault.type or _STREAM_EXCEPTIONS.get(status, "internalServerException")
        return _exception(kind, message)

    # -- the reply -------------------------------------------------------------------------------

    def _turn(self, call: Call) -> _Turn:
        """Decide the answer: reasoning, then a tool use or text, within ``maxTokens``."""
        body: dict[str, Any] = call.body
        config = body.get("inferenceConfig") or {}
        max_tokens = config.get("maxTokens") or 4096
        blocks: list[tuple[str, list[str]]] = []
        last_text = _text_of(body["messages"][-1]["content"])
        thinking = (body.get("additionalModelRequestFields") or {}).get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
            asked = " ".join(last_text.split()[:8])
            blocks.append(
                (
                    "reasoning",
                    wire.split_tokens(f"The user wrote: {asked}. A short answer will do."),
                )
            )
        spent = sum(len(p) for _, p in blocks)
        tool = self._tool(body, last_text)
        tool_id = tool_name = ""
        if tool is not None:
            schema = tool["inputSchema"]["json"]
            arguments = wire.tool_call_arguments({"function": {"parameters": schema}})
            pieces = wire.split_tokens(arguments)
            blocks.append(("toolUse", pieces))
            spent += len(pieces)
            stop_reason = "tool_use"
            tool_id, tool_name = "tooluse_" + wire.random_alnum(22), str(tool["name"])
        else:
            tokens = self._reply(call, body, last_text, max_tokens)
            tokens, stopped = _stop_at(tokens, config.get("stopSequences"))
            room = max(max_tokens - spent, 0)
            stop_reason = "stop_sequence" if stopped else "end_turn"
            if len(tokens) > room:
                tokens, stop_reason = tokens[:room], "max_tokens"
            if tokens:
                blocks.append(("text", tokens))
            spent += len(tokens)
        return _Turn(
            blocks=blocks,
            stop_reason=stop_reason,
            usage=self._usage(body, spent),
            tool_id=tool_id,
            tool_name=tool_name,
        )

    def _reply(
        self, call: Call, body: Mapping[str, Any], last_text: str, max_tokens: int
    ) -> list[str]:
        """The reply's tokens: with ``outputConfig.textFormat`` a sample instance of its
        schema, else the core's (knobs, headers, derived from the last message's text)."""
        fmt = (body.get("outputConfig") or {}).get("textFormat")
        if isinstance(fmt, dict):
            schema = json.loads(fmt["structure"]["jsonSchema"]["schema"])
            return wire.split_tokens(wire.tool_call_arguments({"function": {"parameters": schema}}))
        return self._plain_reply_tokens(
            call, {**body, "prompt": last_text, "max_tokens": max_tokens}
        )

    def _tool(self, body: Mapping[str, Any], last_text: str) -> dict[str, Any] | None:
        """The tool this request makes the model call, if any."""
        config = body.get("toolConfig")
        if not isinstance(config, dict):
            return None
        specs: dict[str, dict[str, Any]] = {
            t["toolSpec"]["name"]: t["toolSpec"] for t in config["tools"] if "toolSpec" in t
        }
        if not specs:
            return None
        choice = config.get("toolChoice") or {"auto": {}}
        first = next(iter(specs))
        if "tool" in choice:
            return specs[choice["tool"]["name"]]
        if "any" in choice:
            return specs[first]
        named = marked_tool(last_text)
        if named is None:
            return None
        if (named or first) not in specs:
            raise _bad(f"[[emulator:tool_call:{named}]] names no tool in toolConfig.tools")
        return specs[named or first]

    def _usage(self, body: Mapping[str, Any], output: int) -> _Usage:
        """Input tokens split into uncached, cache-written and cache-read ones: the prefix up to
        the last cache point is written the first time it is seen, read after."""
        segments = _segments(body)
        words = sum(len(text.split()) for text, _ in segments)
        marks = [i for i, (_, point) in enumerate(segments) if point]
        if not marks:
            return _Usage(input_tokens=words, output_tokens=output)
        prefix = segments[: max(marks) + 1]
        cached = sum(len(text.split()) for text, _ in prefix)
        digest = hashlib.sha256(wire.dumps(prefix).encode()).hexdigest()
        seen = digest in self._cached
        if not seen:
            if len(self._cached) > 100_000:
                self._cached = set()
            self._cached.add(digest)
        return _Usage(
            input_tokens=words - cached,
            output_tokens=output,
            cache_write=0 if seen else cached,
            cache_read=cached if seen else 0,
            caching=True,
        )


if __name__ == "__main__":  # python -m llmrouter_bedrock.testing: prints the URL, serves
    from llmrouter.testing.__main__ import build_parser, main

    raise SystemExit(
        main(
            emulator_class=BedrockEmulator,
            parser=build_parser(
                "python -m llmrouter_bedrock.testing",
                "Serve a Bedrock Runtime (Converse) emulator on localhost.",
            ),
        )
    )
