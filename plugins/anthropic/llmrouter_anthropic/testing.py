"""``AnthropicEmulator``: Anthropic's Messages API on 127.0.0.1, for tests and benchmarks.

    from llmrouter_anthropic.testing import AnthropicEmulator

    with AnthropicEmulator() as emu:
        client = anthropic.Anthropic(base_url=emu.base_url, api_key="sk-ant-test")
        client.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=[...])

It is the emulators' core (:class:`llmrouter.testing.emulator.BaseEmulator`: the HTTP server,
the request log with keys redacted, tenants, fault rules and the ``x-emulator-fault`` header,
stats, the ``reply``/``latency``/``reply_tokens`` knobs and the ``x-emulator-tokens`` header)
speaking Anthropic's wire as the official ``anthropic`` SDK (2.17) types state it, proven by
running that SDK against it with strict response validation (plugins/anthropic/tests):

- ``POST /v1/messages``: a ``Message`` (``content`` blocks, ``stop_reason``, ``usage`` with
  cache counts), or with ``"stream": true`` server-sent events with ``event:`` lines:
  ``message_start``, ``content_block_start``, a ``ping``, ``content_block_delta``
  (``text_delta``, ``input_json_delta``, ``thinking_delta``, ``signature_delta``),
  ``content_block_stop``, ``message_delta`` (stop reason, cumulative usage), ``message_stop``;
- ``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``;
- ``GET /v1/models`` (pages: ``limit``, ``after_id``/``before_id``, ``lifecycle[]``; answers
  ``data``, ``has_more``, ``first_id``, ``last_id``) and ``GET /v1/models/{id}``.

``base_url`` is the server root (``http://127.0.0.1:PORT``, no ``/v1``): the SDK's base URL is
the host. Every answer carries a ``request-id`` header; errors are
``{"type": "error", "error": {"type", "message"}, "request_id"}`` with Anthropic's types
(400 ``invalid_request_error``, 401 ``authentication_error``, 402 ``billing_error``,
403 ``permission_error``, 404 ``not_found_error``, 413 ``request_too_large``,
429 ``rate_limit_error`` with ``anthropic-ratelimit-*`` headers, 500 ``api_error``,
504 ``timeout_error``, 529 ``overloaded_error``; a fault's ``code`` becomes
``error.details.error_code``, which the SDK maps to its finer classes). An in-band stream error
is ``event: error`` with ``data: {"type": "error", "error": {...}}`` (default
``overloaded_error``, as the real service sends it). The fault ``no_done`` leaves out
``message_stop``; ``cut_after``/``stream_error_after`` count every event, ``message_start``
included.

Auth: ``x-api-key: <key>`` or ``Authorization: Bearer <key>``. The ``anthropic-version`` header
is required (a 400 without it) and recorded with the request. ``2026-10-21`` (what SDK 2.17
sends) has no ``temperature``/``top_p``/``top_k`` and takes ``system`` messages;
``2023-06-01`` takes the sampling fields (``temperature`` 0..1) and only a top-level ``system``.

Replies are deterministic: the prompt-derived text of the other emulators (one word a token,
word counts for usage), ``stop_sequences`` honoured (``stop_reason: stop_sequence`` and the
matched ``stop_sequence``), ``max_tokens`` honoured (``stop_reason: max_tokens``; thinking counts
toward it). A tool call (a ``tool_use`` block, ``stop_reason: tool_use``, the input filled in
from the tool's ``input_schema``) answers a request with ``tools`` whose ``tool_choice`` forces
one (``{"type": "any"}``, ``{"type": "tool", "name": ...}``) or whose last message holds
``[[emulator:tool_call]]`` / ``[[emulator:tool_call:NAME]]``. ``thinking`` ``enabled`` or
``adaptive`` adds a thinking block first, signed: the signature is an HMAC of the thinking text,
and a strict emulator rejects a thinking block sent back altered. ``output_config.format``
(``json_schema``) makes the reply a sample instance of the schema. Prompt caching is played:
the words up to the last ``cache_control`` breakpoint (all of them with a top-level
``cache_control``) are ``cache_creation_input_tokens`` the first time the emulator sees that
prefix and ``cache_read_input_tokens`` after (``reset()`` forgets them).

``strict=True`` (the default) also rejects what the real API rejects beyond the shapes: unknown
top-level fields (``temperature`` on 2026-10-21 among them; any field passes when an
``anthropic-beta`` header is sent), unknown versions, a ``thinking.budget_tokens`` under 1024 or
not under ``max_tokens``, thinking with a forcing ``tool_choice``, a ``tool_use`` without its
``tool_result`` in the next message (or a ``tool_result`` without its ``tool_use``), a tool loop
with thinking whose last assistant turn does not start with its thinking block, a bad
signature, whitespace-only stop sequences, tool names outside ``[a-zA-Z0-9_-]{1,128}`` and
image sources Anthropic does not take.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs

from llmrouter.testing import wire
from llmrouter.testing.dialect import Invalid
from llmrouter.testing.emulator import BaseEmulator, Call, Reply, bearer_key, marked_tool
from llmrouter.testing.faults import Fault

__all__ = [
    "DEFAULT_MODELS",
    "LATEST_VERSION",
    "VERSIONS",
    "AnthropicEmulator",
    "ApiVersion",
    "model_info",
    "sign",
]


@dataclass(frozen=True)
class ApiVersion:
    """What one ``anthropic-version`` of the Messages API accepts where versions differ."""

    #: ``temperature`` (0..1), ``top_p`` and ``top_k`` are request fields
    sampling: bool
    #: ``messages`` may hold ``{"role": "system", ...}`` turns
    system_messages: bool


#: The versions the emulator knows. 2023-06-01 is the one the 0.x SDKs sent; 2026-10-21 is the
#: one the 2.x SDKs send (their ``messages.create`` has no sampling fields and takes
#: ``SystemMessageParam`` turns).
VERSIONS: Mapping[str, ApiVersion] = {
    "2023-06-01": ApiVersion(sampling=True, system_messages=False),
    "2026-10-21": ApiVersion(sampling=False, system_messages=True),
}
LATEST_VERSION = "2026-10-21"

#: The top-level fields of ``messages.create`` in SDK 2.17 (``MessageCreateParams``).
_MESSAGE_FIELDS = frozenset(
    {
        "max_tokens",
        "messages",
        "model",
        "cache_control",
        "container",
        "diagnostics",
        "inference_geo",
        "metadata",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "stream",
        "system",
        "thinking",
        "tool_choice",
        "tools",
    }
)
#: ... of ``messages.count_tokens`` (``MessageCountTokensParams``).
_COUNT_FIELDS = frozenset(
    {
        "messages",
        "model",
        "cache_control",
        "output_config",
        "speed",
        "system",
        "thinking",
        "tool_choice",
        "tools",
    }
)
_SAMPLING_FIELDS = frozenset({"temperature", "top_p", "top_k"})
_BLOCK_TYPES = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "container_upload",
    }
)
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
_CHOICES = ("auto", "any", "tool", "none")

#: status -> (type, message): Anthropic's error types and the texts its docs give them.
_ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "invalid_request_error",
        "There was an issue with the format or content of your request.",
    ),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "There is an issue with your account's billing."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Your account has hit a rate limit."),
    500: ("api_error", "An unexpected error has occurred internal to Anthropic's systems."),
    504: ("timeout_error", "Request timed out."),
    529: ("overloaded_error", "Overloaded"),
}
#: codes the core puts on its own errors (unknown URL, wrong method): not Anthropic's
_CORE_CODES = frozenset({"not_found", "method_not_allowed"})

#: Signs thinking blocks (deterministic, so a recorded conversation replays).
_SIGNING_KEY = b"llmrouter-anthropic-emulator"


def _new_id(prefix: str) -> str:
    """``msg_01…``, ``toolu_01…``, ``req_011…``: Anthropic's id shapes."""
    return prefix + wire.random_alnum(22)


def sign(thinking: str) -> str:
    """The signature the emulator gives a thinking block with this text."""
    digest = hmac.new(_SIGNING_KEY, thinking.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"EmUl" + digest).decode()


def _bad(message: str, status: int = 400, type_: str = "invalid_request_error") -> Invalid:
    return Invalid(status, message, type_=type_)


def _tagged(value: object, where: str, tags: Sequence[str]) -> dict[str, Any]:
    """``value`` when it is an object whose ``type`` is one of ``tags``, else the API's 400."""
    if isinstance(value, dict) and value.get("type") in tags:
        return value
    expected = ", ".join(f"'{tag}'" for tag in tags)
    raise _bad(
        f"{where}: Input tag found using 'type' does not match any of the expected tags: "
        + expected
    )


# ---------------------------------------------------------------------------------------------
# models


def _display_name(model_id: str) -> str:
    """``claude-sonnet-4-6`` -> ``Claude Sonnet 4.6`` (a dated id keeps its date out)."""
    words = [w for w in model_id.split("-") if not (w.isdigit() and len(w) == 8)]
    names = [w.capitalize() for w in words if not w.isdigit()]
    version = ".".join(w for w in words if w.isdigit())
    return " ".join([*names, version]).strip()


def model_info(
    model_id: str,
    *,
    display_name: str | None = None,
    created_at: str = "2025-01-01T00:00:00Z",
    max_input_tokens: int = 200_000,
    max_tokens: int = 64_000,
    lifecycle: str = "active",
) -> dict[str, Any]:
    """One ``ModelInfo`` as ``/v1/models`` lists it."""
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name or _display_name(model_id),
        "created_at": created_at,
        "lifecycle": lifecycle,
        "max_input_tokens": max_input_tokens,
        "max_tokens": max_tokens,
    }


#: Newest first, as the API lists them.
DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    model_info("claude-opus-4-7", created_at="2026-09-24T00:00:00Z", max_tokens=128_000),
    model_info("claude-sonnet-4-6", created_at="2026-02-17T00:00:00Z"),
    model_info("claude-opus-4-6", created_at="2026-02-05T00:00:00Z", max_tokens=128_000),
    model_info("claude-opus-4-5", created_at="2025-11-24T00:00:00Z"),
    model_info("claude-opus-4-5-20251101", created_at="2025-11-24T00:00:00Z"),
    model_info("claude-haiku-4-5", created_at="2025-10-15T00:00:00Z"),
    model_info("claude-haiku-4-5-20251001", created_at="2025-10-15T00:00:00Z"),
    model_info("claude-sonnet-4-5", created_at="2025-09-29T00:00:00Z"),
    model_info(
        "claude-3-haiku-20240307",
        created_at="2024-03-07T00:00:00Z",
        max_tokens=4096,
        lifecycle="deprecated",
    ),
)


# ---------------------------------------------------------------------------------------------
# request checks


def _text_of(content: object) -> str:
    """The words a content value holds: a string, or its blocks' text, tool inputs and
    results, and thinking."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "tool_result":
            parts.append(_text_of(block.get("content")))
        elif kind == "tool_use":
            parts.append(json.dumps(block.get("input")))
        elif kind == "thinking":
            parts.append(str(block.get("thinking", "")))
    return " ".join(parts)


class _Checker:
    """The request checks of one request: what every version of the API rejects, then (when
    ``strict``) the rules beyond the shapes. Messages name the offending place the way the API
    does (``messages.1.content.0.type: ...``)."""

    def __init__(self, body: Mapping[str, Any], version: ApiVersion, *, strict: bool) -> None:
        self.body = body
        self.version = version
        self.strict = strict

    def run(self, fields: frozenset[str], *, beta: bool) -> None:
        body = self.body
        if self.strict and not beta:
            allowed = fields | _SAMPLING_FIELDS if self.version.sampling else fields
            for name in body:
                if name not in allowed:
                    raise _bad(f"{name}: Extra inputs are not permitted")
        for name in ("model", "messages", *(("max_tokens",) if "max_tokens" in fields else ())):
            if name not in body:
                raise _bad(f"{name}: Field required")
        if not isinstance(body["model"], str) or not body["model"]:
            raise _bad("model: Input should be a valid string")
        max_tokens = body.get("max_tokens")
        if "max_tokens" in fields and (not wire.is_int(max_tokens) or max_tokens < 0):
            raise _bad("max_tokens: Input should be a valid integer greater than or equal to 0")
        self.system()
        self.messages()
        self.tools()
        self.options()
        if self.version.sampling:
            self.sampling()

    def system(self) -> None:
        system = self.body.get("system")
        if system is None or isinstance(system, str):
            return
        if not isinstance(system, list):
            raise _bad("system: Input should be a valid string or a list of text blocks")
        for j, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise _bad(f"system.{j}.type: Input should be 'text'")
            if not isinstance(block.get("text"), str):
                raise _bad(f"system.{j}.text: Field required")

    def messages(self) -> None:
        messages = self.body["messages"]
        if not isinstance(messages, list):
            raise _bad("messages: Input should be a valid list")
        if not messages:
            raise _bad("messages: at least one message is required")
        roles = ("user", "assistant", "system") if self.version.system_messages else None
        last = len(messages) - 1
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise _bad(f"messages.{i}: Input should be a valid dictionary")
            role = message.get("role")
            if role == "system" and roles is None:
                raise _bad(
                    'messages: Unexpected role "system". The Messages API accepts a top-level '
                    '`system` parameter, not "system" as an input message role.'
                )
            if role not in (roles or ("user", "assistant")):
                allowed = " or ".join(f"'{r}'" for r in roles or ("user", "assistant"))
                raise _bad(f"messages.{i}.role: Input should be {allowed}")
            content = message.get("content")
            if not isinstance(content, (str, list)):
                raise _bad(f"messages.{i}.content: Input should be a valid string or list")
            if not content and not (i == last and role == "assistant"):
                raise _bad(
                    f"messages.{i}: all messages must have non-empty content except for the "
                    "optional final assistant message"
                )
            if isinstance(content, list):
                for j, block in enumerate(content):
                    self.block(f"messages.{i}.content.{j}", block)
        if self.strict:
            self.tool_pairs(messages)
            self.signatures(messages)

    def block(self, where: str, block: object) -> None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _bad(f"{where}.type: Field required")
        kind = block["type"]
        if self.strict and kind not in _BLOCK_TYPES:
            raise _bad(
                f"{where}.type: Input tag '{kind}' found using 'type' does not match any of the expected tags"
            )
        required = {
            "text": ("text", str),
            "tool_use": ("input", dict),
            "tool_result": ("tool_use_id", str),
            "thinking": ("signature", str),
            "image": ("source", dict),
        }.get(kind)
        if required is not None and not isinstance(block.get(required[0]), required[1]):
            raise _bad(f"{where}.{kind}.{required[0]}: Field required")
        if kind == "tool_use" and not isinstance(block.get("id"), str):
            raise _bad(f"{where}.tool_use.id: Field required")
        if kind == "image" and self.strict:
            self.image_source(f"{where}.image.source", block["source"])

    def image_source(self, where: str, source: Mapping[str, Any]) -> None:
        kind = _tagged(source, where, ("base64", "url", "file"))["type"]
        if kind == "base64":
            if source.get("media_type") not in _IMAGE_TYPES:
                allowed = ", ".join(f"'{t}'" for t in _IMAGE_TYPES)
                raise _bad(f"{where}.base64.media_type: Input should be {allowed}")
            if not isinstance(source.get("data"), str):
                raise _bad(f"{where}.base64.data: Field required")
        elif kind == "url":
            url = source.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise _bad(f"{where}.url.url: Input should be an http(s) URL")

    def tool_pairs(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Each ``tool_use`` is answered by a ``tool_result`` in the very next message, and each
        ``tool_result`` answers a ``tool_use`` of the message before."""
        asked: list[str] = []
        for i, message in enumerate(messages):
            content = message["content"] if isinstance(message["content"], list) else []
            answered = [b.get("tool_use_id") for b in content if b.get("type") == "tool_result"]
            stray = [str(a) for a in answered if a not in asked]
            missing = [a for a in asked if a not in answered]
            if stray:
                raise _bad(
                    f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {stray[0]}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
            if missing:
                where, ids = f"messages.{i}", ", ".join(missing)
                raise _bad(
                    f"{where}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {ids}. Each `tool_use` block must have a corresponding `tool_result` "
                    "block in the next message."
                )
            asked = [b["id"] for b in content if b.get("type") == "tool_use"]
            if asked and message.get("role") != "assistant":
                raise _bad(f"messages.{i}: `tool_use` blocks may only appear in assistant messages")

    def signatures(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """A thinking block sent back must be unchanged, and a tool loop with thinking must
        start the last assistant turn with its thinking block."""
        last_assistant: tuple[int, list[Any]] | None = None
        for i, message in enumerate(messages):
            content = message["content"]
            if message.get("role") != "assistant" or not isinstance(content, list):
                continue
            last_assistant = (i, content)
            for j, block in enumerate(content):
                if block.get("type") == "thinking" and not hmac.compare_digest(
                    str(block["signature"]), sign(str(block.get("thinking", "")))
                ):
                    raise _bad(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
        thinking = self.body.get("thinking")
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
            return
        if last_assistant is None:
            return
        i, content = last_assistant
        uses_tools = any(b.get("type") == "tool_use" for b in content)
        if uses_tools and content[0].get("type") not in ("thinking", "redacted_thinking"):
            raise _bad(
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                f"found `{content[0].get('type')}`. When `thinking` is enabled, a final "
                "`assistant` message must start with a thinking block (preceeding the "
                "lastmost set of `tool_use` and `tool_result` blocks)."
            )

    def tools(self) -> None:
        body = self.body
        tools = body.get("tools")
        names: list[str] = []
        if tools is not None:
            if not isinstance(tools, list):
                raise _bad("tools: Input should be a valid list")
            for i, tool in enumerate(tools):
                if not isinstance(tool, dict):
                    raise _bad(f"tools.{i}: Input should be a valid dictionary")
                if tool.get("type") not in (None, "custom"):
                    continue  # a server tool (web search, code execution, ...)
                name = tool.get("name")
                if not isinstance(name, str):
                    raise _bad(f"tools.{i}.custom.name: Field required")
                if self.strict and not _TOOL_NAME.fullmatch(name):
                    raise _bad(
                        f"tools.{i}.custom.name: String should match pattern "
                        f"'^{_TOOL_NAME.pattern}$'"
                    )
                schema = tool.get("input_schema")
                if not isinstance(schema, dict) or schema.get("type") != "object":
                    raise _bad(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
                names.append(name)
        choice = body.get("tool_choice")
        if choice is None:
            return
        choice = _tagged(choice, "tool_choice", _CHOICES)
        if choice["type"] != "none" and not tools:
            raise _bad("tool_choice: tool_choice may only be specified while providing tools")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise _bad(f"tool_choice.name: no tool named {choice.get('name')!r} in `tools`")

    def options(self) -> None:
        body = self.body
        stops = body.get("stop_sequences")
        if stops is not None:
            if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
                raise _bad("stop_sequences: Input should be a valid list of strings")
            if self.strict and any(not s.strip() for s in stops):
                raise _bad("stop_sequences: each stop sequence must contain non-whitespace")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise _bad("stream: Input should be a valid boolean")
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("user_id", ""), (str, type(None)))
        ):
            raise _bad("metadata.user_id: Input should be a valid string")
        config = body.get("output_config")
        if config is not None:
            if not isinstance(config, dict):
                raise _bad("output_config: Input should be a valid dictionary")
            if config.get("effort") not in (None, *_EFFORTS):
                raise _bad(
                    "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or "
                    "'max'"
                )
            fmt = config.get("format")
            if fmt is not None and (
                not isinstance(fmt, dict)
                or fmt.get("type") != "json_schema"
                or not isinstance(fmt.get("schema"), dict)
            ):
                raise _bad(
                    "output_config.format: expected {'type': 'json_schema', 'schema': {...}}"
                )
        self.thinking()

    def thinking(self) -> None:
        body = self.body
        thinking = body.get("thinking")
        if thinking is None:
            return
        thinking = _tagged(thinking, "thinking", _THINKING_TYPES)
        if thinking["type"] == "enabled":
            budget = thinking.get("budget_tokens")
            if not wire.is_int(budget):
                raise _bad("thinking.enabled.budget_tokens: Field required")
            if self.strict and budget < 1024:
                raise _bad(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                )
            max_tokens = body.get("max_tokens")
            if self.strict and wire.is_int(max_tokens) and budget >= max_tokens:
                raise _bad("`max_tokens` must be greater than `thinking.budget_tokens`")
        choice = body.get("tool_choice")
        if (
            self.strict
            and thinking["type"] in ("enabled", "adaptive")
            and isinstance(choice, dict)
            and choice.get("type") in ("any", "tool")
        ):
            raise _bad("Thinking may not be enabled when tool_choice forces tool use.")

    def sampling(self) -> None:
        body = self.body
        for name, high in (("temperature", 1.0), ("top_p", 1.0)):
            value = body.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _bad(f"{name}: Input should be a valid number")
            if not 0.0 <= value <= high:
                raise _bad(f"{name}: Input should be between 0 and {high:g}")
        top_k = body.get("top_k")
        if top_k is not None and (not wire.is_int(top_k) or top_k < 0):
            raise _bad("top_k: Input should be a valid integer greater than or equal to 0")


# ---------------------------------------------------------------------------------------------
# the answer


@dataclass(frozen=True, slots=True)
class _Usage:
    input_tokens: int
    output_tokens: int
    cache_creation: int = 0
    cache_read: int = 0
    cache_ttl: str = "5m"

    def counts(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
        }

    def message_usage(self, output_tokens: int) -> dict[str, Any]:
        """The ``Usage`` of a message (``output_tokens`` so far, in a stream's first event)."""
        return {
            **self.counts(),
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation if self.cache_ttl != "1h" else 0,
                "ephemeral_1h_input_tokens": self.cache_creation if self.cache_ttl == "1h" else 0,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }


@dataclass(frozen=True, slots=True)
class _Turn:
    """What one ``/v1/messages`` call answers, in no wire shape."""

    model: str
    #: (block type, pieces): "thinking" (its text in pieces), "text", "tool_use" (its input
    #: JSON in pieces); a block's first piece may be "" for tool input, as the API sends it
    blocks: list[tuple[str, list[str]]]
    stop_reason: str
    stop_sequence: str | None
    usage: _Usage
    tool_id: str = ""
    tool_name: str = ""

    def content(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind, pieces in self.blocks:
            text = "".join(pieces)
            if kind == "thinking":
                out.append({"type": "thinking", "thinking": text, "signature": sign(text)})
            elif kind == "tool_use":
                out.append(
                    {
                        "type": "tool_use",
                        "id": self.tool_id,
                        "name": self.tool_name,
                        "input": json.loads(text),
                    }
                )
            else:
                out.append({"type": "text", "text": text})
        return out

    def message(self, message_id: str, *, opening: bool = False) -> dict[str, Any]:
        """The ``Message``; ``opening``: as a stream's ``message_start`` holds it (no content
        and no stop reason yet, the output tokens so far)."""
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [] if opening else self.content(),
            "stop_reason": None if opening else self.stop_reason,
            "stop_sequence": None if opening else self.stop_sequence,
            "stop_details": None,
            "usage": self.usage.message_usage(
                min(1, self.usage.output_tokens) if opening else self.usage.output_tokens
            ),
        }


def _sse(kind: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + wire.dumps(data).encode() + b"\n\n"


def _delta_writer(index: int, delta: str, field: str) -> Callable[[str], bytes]:
    """Writes the ``content_block_delta`` event of one piece: the event's bytes around the
    piece are made once per block, by encoding the real event with a probe in its place."""
    probe = "\x00piece\x00"
    whole = _sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": delta, field: probe}},
    )
    head, tail = whole.split(wire.dumps(probe).encode())

    def write(piece: str) -> bytes:
        return head + wire.dumps(piece).encode() + tail

    return write


_STARTS: dict[str, tuple[str, str]] = {
    "text": ("text_delta", "text"),
    "thinking": ("thinking_delta", "thinking"),
    "tool_use": ("input_json_delta", "partial_json"),
}
_MESSAGE_STOP = _sse("message_stop", {"type": "message_stop"})
_PING = _sse("ping", {"type": "ping"})


def _events(turn: _Turn, message_id: str) -> Iterator[bytes]:
    """Every event of a streamed answer before ``message_stop``."""
    opening = turn.message(message_id, opening=True)
    yield _sse("message_start", {"type": "message_start", "message": opening})
    for index, ((kind, pieces), block) in enumerate(zip(turn.blocks, turn.content(), strict=True)):
        empty: dict[str, Any] = {"input": {}} if kind == "tool_use" else {kind: ""}
        if kind == "thinking":
            empty["signature"] = ""
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {**block, **empty}},
        )
        if index == 0:
            yield _PING
        write = _delta_writer(index, *_STARTS[kind])
        for piece in pieces:
            yield write(piece)
        if kind == "thinking":
            yield _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": block["signature"]},
                },
            )
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": turn.stop_reason, "stop_sequence": turn.stop_sequence},
            "usage": {**turn.usage.counts(), "output_tokens": turn.usage.output_tokens},
        },
    )


def _thinking_text(body: Mapping[str, Any]) -> list[str] | None:
    """The (deterministic) thinking of a request that enables it, as tokens (none when its
    display is ``omitted``: the block then holds only a signature); None without thinking."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    if thinking.get("display") == "omitted":
        return []
    asked = " ".join(wire.prompt_text(body).split()[:8])
    return wire.split_tokens(f"The user wrote: {asked}. A short, direct answer will do.")


def _stop_at(tokens: list[str], stops: object) -> tuple[list[str], str | None]:
    """The tokens before the earliest stop sequence, and that sequence (None: none matched)."""
    if not isinstance(stops, list) or not stops:
        return tokens, None
    text = "".join(tokens)
    found = [(text.find(s), s) for s in stops if isinstance(s, str) and s and s in text]
    if not found:
        return tokens, None
    cut, matched = min(found)
    return wire.split_tokens(text[:cut]), matched


_Segments = list[tuple[object, int, str | None]]


def _segments(body: Mapping[str, Any]) -> _Segments:
    """The prompt in caching order (tools, system, messages) as (piece, words, breakpoint
    TTL or None) items: the unit prompt caching counts in."""
    items: _Segments = []

    def add(piece: Any, text: str) -> None:
        control = piece.get("cache_control") if isinstance(piece, dict) else None
        ttl = str(control.get("ttl", "5m")) if isinstance(control, dict) else None
        items.append((piece, len(text.split()), ttl))

    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            add(tool, f"{tool.get('name', '')} {tool.get('description', '')}")
    system = body.get("system")
    for block in [system] if isinstance(system, str) else system or []:
        add(block, _text_of([block]) if isinstance(block, dict) else str(block))
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in [content] if isinstance(content, str) else content or []:
            add(block, _text_of([block]) if isinstance(block, dict) else str(block))
    return items


class AnthropicEmulator(BaseEmulator):
    """Anthropic's Messages API on localhost; see the module docstring.

    Takes every :class:`~llmrouter.testing.emulator.BaseEmulator` argument. ``strict`` (default
    True) adds the API's rules beyond the shapes; ``require_key`` (default True) asks for a key
    (``x-api-key`` or a bearer token; with ``api_key`` set, exactly that one). ``models``
    entries are ids or ``ModelInfo`` dicts (``model_info()`` fills one in).
    """

    routes: ClassVar[Mapping[str, tuple[str, str]]] = {
        "/messages": ("POST", "_messages"),
        "/messages/count_tokens": ("POST", "_count_tokens"),
        "/models": ("GET", "_list_models"),
    }
    stream_endpoints: ClassVar[frozenset[str]] = frozenset({"/messages"})
    stream_error_status: ClassVar[int] = 529
    default_reply: ClassVar[str] = "This is a deterministic reply from the Anthropic emulator."
    bad_json_message: ClassVar[str] = (
        "There was an issue with the format or content of your request: the body is not valid JSON."
    )
    not_object_message: ClassVar[str] = (
        "There was an issue with the format or content of your request: the body must be a JSON object."
    )
    strict: bool = True
    require_key: bool = True

    # -- addresses: the SDK's base URL is the host, it adds /v1 itself -----------------------

    @property
    def base_url(self) -> str:
        """What the ``anthropic`` SDK (or llmrouter's ``api_base``) takes: the server root."""
        return self.url

    def base_url_for(self, tenant: str) -> str:
        """The root of the same API under ``/t/<tenant>`` (see the core's ``base_url_for``)."""
        return self._tenant_root(tenant)

    # -- models ----------------------------------------------------------------------------

    def set_models(self, models: Sequence[str | Mapping[str, Any]]) -> None:
        """Replace the catalogue: ids (``model_info`` defaults) or ``ModelInfo`` dicts, in the
        order ``/v1/models`` lists them (the API lists the newest first)."""
        index: dict[str, dict[str, Any]] = {}
        for item in models:
            if isinstance(item, str):
                entry = model_info(item)
            elif isinstance(item.get("id"), str):
                entry = {**model_info(item["id"]), **item}
            else:
                raise ValueError(f"model entry without an 'id': {item!r}")
            index[entry["id"]] = entry
        with self._lock:
            self._models = index

    def add_model(self, model_id: str, **fields: Any) -> None:
        """Add (or replace) one model, listed first; ``fields`` go to :func:`model_info`."""
        entry = model_info(model_id, **fields)
        self.set_models([entry, *(m for m in self.models if m["id"] != model_id)])

    def _reset_state(self) -> None:
        # digests of the prompt prefixes seen with a cache breakpoint (for the cache counts);
        # replaced, never cleared in place, so the event-loop thread never sees it half-reset
        self._cached: set[str] = set()

    # -- the wire's part -------------------------------------------------------------------

    def _default_models(self) -> Sequence[str | Mapping[str, Any]]:
        return DEFAULT_MODELS

    def _route(self, endpoint: str) -> tuple[str, str] | None:
        if endpoint.startswith("/models/") and len(endpoint) > len("/models/"):
            return ("GET", "_get_model")
        return self.routes.get(endpoint)

    def _sent_key(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-api-key", "").strip() or bearer_key(headers)

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        key = self._sent_key(headers)
        if key is None:
            return not self.require_key and not headers.get("authorization")
        return self.api_key is None or key == self.api_key

    def _auth_failure(self, call: Call) -> Reply:
        headers = call.request.headers
        if headers.get("x-api-key"):
            message = "invalid x-api-key"
        elif headers.get("authorization"):
            message = "Invalid bearer token"
        else:
            message = "x-api-key header is required"
        return self._error(call, 401, message, type_="authentication_error")

    def _default_error(self, status: int, code: str | None) -> tuple[str, str, str | None]:
        type_, message = _ERRORS.get(status) or (self._error_type(status), f"Error {status}")
        return message, type_, None

    def _error_type(self, status: int) -> str:
        known = _ERRORS.get(status)
        if known is not None:
            return known[0]
        return "api_error" if status >= 500 else "invalid_request_error"

    def _error_response(
        self, status: int, message: str, type_: str, code: str | None, param: str | None
    ) -> tuple[Any, Sequence[tuple[str, str]]]:
        request_id = _new_id("req_011")
        error: dict[str, Any] = {"type": type_, "message": message}
        if code and code not in _CORE_CODES:
            error["details"] = {"error_code": code}
        return (
            {"type": "error", "error": error, "request_id": request_id},
            (("request-id", request_id),),
        )

    def _ratelimit_headers(
        self, *, limit: int | None, remaining: int | None, reset: float, error_type: str
    ) -> list[tuple[str, str]]:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + reset))
        requests = (limit if limit is not None else 50, remaining if remaining is not None else 0)
        headers = [
            ("anthropic-ratelimit-requests-limit", str(requests[0])),
            ("anthropic-ratelimit-requests-remaining", str(requests[1])),
            ("anthropic-ratelimit-requests-reset", at),
        ]
        for kind, size in (("tokens", 80_000), ("input-tokens", 50_000), ("output-tokens", 30_000)):
            headers += [
                (f"anthropic-ratelimit-{kind}-limit", str(size)),
                (f"anthropic-ratelimit-{kind}-remaining", str(size)),
                (f"anthropic-ratelimit-{kind}-reset", at),
            ]
        return headers

    def _ok_headers(self) -> Sequence[tuple[str, str]]:
        return (("request-id", _new_id("req_011")),)

    def _malformed_body(self) -> bytes:
        return b'{"id":"' + _new_id("msg_01").encode() + b'","type":"message","content":[{"ty'

    # -- endpoints -------------------------------------------------------------------------

    def _version(self, call: Call) -> ApiVersion:
        """The rules of the request's ``anthropic-version`` (required; an unknown one is a 400
        when strict, the latest version's rules otherwise)."""
        asked = call.request.headers.get("anthropic-version")
        if not asked:
            raise _bad("anthropic-version: header is required")
        rules = VERSIONS.get(asked.strip())
        if rules is not None:
            return rules
        if self.strict:
            known = ", ".join(VERSIONS)
            raise _bad(f"anthropic-version: {asked!r} is not a valid version (known: {known})")
        return VERSIONS[LATEST_VERSION]

    def _checked(self, call: Call, fields: frozenset[str]) -> tuple[dict[str, Any], _Segments]:
        """Check the request; returns the model's catalogue entry and the prompt's segments."""
        body: dict[str, Any] = call.body
        beta = bool(call.request.headers.get("anthropic-beta"))
        _Checker(body, self._version(call), strict=self.strict).run(fields, beta=beta)
        with self._lock:
            entry = self._models.get(body["model"])
        if entry is None or entry.get("lifecycle") == "retired":
            raise _bad(f"model: {body['model']}", 404, "not_found_error")
        segments = _segments(body)
        words = sum(n for _, n, _ in segments)
        limit = entry.get("max_input_tokens")
        if wire.is_int(limit) and words > limit:
            raise _bad(f"prompt is too long: {words} tokens > {limit} maximum")
        max_tokens = body.get("max_tokens")
        most = entry.get("max_tokens")
        if wire.is_int(max_tokens) and wire.is_int(most) and max_tokens > most:
            raise _bad(
                f"max_tokens: {max_tokens} > {most}, which is the maximum allowed number of "
                f"output tokens for {entry['id']}"
            )
        return entry, segments

    def _count_tokens(self, call: Call) -> Reply:
        _, segments = self._checked(call, _COUNT_FIELDS)
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, {"input_tokens": sum(n for _, n, _ in segments)})
        return None

    def _messages(self, call: Call) -> Reply:
        entry, segments = self._checked(call, _MESSAGE_FIELDS)
        turn = self._turn(call, str(entry["id"]), segments)
        message_id = _new_id("msg_01")
        if call.body.get("stream") is True:
            return self._stream(
                call,
                _events(turn, message_id),
                end=_MESSAGE_STOP,
                error_event=self._stream_error_event,
                broken=b'event: message_start\ndata: {"type":"message_start","message":{"id"\n\n',
                headers=self._ok_headers(),
            )
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, turn.message(message_id))
        return None

    def _stream_error_event(self, fault: Fault) -> bytes:
        message, type_, code = self._inband_error(fault)
        error: dict[str, Any] = {"type": type_, "message": message}
        if code:
            error["details"] = {"error_code": code}
        return _sse("error", {"type": "error", "error": error})

    def _list_models(self, call: Call) -> Reply:
        self._version(call)
        query = parse_qs(call.request.query)
        wanted = set(query.get("lifecycle[]", []) + query.get("lifecycle", [])) or {
            "active",
            "deprecated",
        }
        listed = [m for m in self.models if m.get("lifecycle", "active") in wanted]
        raw_limit = query.get("limit", ["20"])[-1]
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            raise _bad("limit: Input should be an integer between 1 and 1000")
        limit = int(raw_limit)
        after, before = query.get("after_id", [None])[-1], query.get("before_id", [None])[-1]
        if after and before:
            raise _bad("Only one of after_id and before_id may be given")
        ids = [m["id"] for m in listed]
        for name, cursor in (("after_id", after), ("before_id", before)):
            if cursor and cursor not in ids:
                raise _bad(f"{name}: no model with id {cursor!r} in this list")
        if before:
            end = ids.index(before)
            page, more = listed[max(end - limit, 0) : end], end > limit
        else:
            start = ids.index(after) + 1 if after else 0
            page, more = listed[start : start + limit], start + limit < len(listed)
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(
            call,
            {
                "data": page,
                "has_more": more,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            },
        )
        return None

    def _get_model(self, call: Call) -> Reply:
        self._version(call)
        model_id = call.endpoint[len("/models/") :]
        with self._lock:
            entry = self._models.get(model_id)
        if entry is None:
            raise _bad(f"model: {model_id}", 404, "not_found_error")
        self._send_json(call, dict(entry))
        return None

    # -- the reply -------------------------------------------------------------------------

    def _turn(self, call: Call, model: str, segments: _Segments) -> _Turn:
        """Decide the answer: thinking, then a tool call or text, within ``max_tokens``."""
        body = call.body
        max_tokens: int = body["max_tokens"]
        thinking = _thinking_text(body)
        blocks: list[tuple[str, list[str]]] = [] if thinking is None else [("thinking", thinking)]
        spent = len(thinking or ())
        tool = self._tool(body)
        stop_sequence = None
        if tool is not None:
            arguments = wire.tool_call_arguments({"function": {"parameters": tool["input_schema"]}})
            pieces = ["", *wire.split_tokens(arguments)]
            blocks.append(("tool_use", pieces))
            spent += len(pieces) - 1
            stop_reason = "tool_use"
        else:
            tokens = self._reply(call, body)
            tokens, stop_sequence = _stop_at(tokens, body.get("stop_sequences"))
            room = max(max_tokens - spent, 0)
            stop_reason = "stop_sequence" if stop_sequence is not None else "end_turn"
            if len(tokens) > room:
                tokens, stop_reason, stop_sequence = tokens[:room], "max_tokens", None
            if tokens:
                blocks.append(("text", tokens))
            spent += len(tokens)
        return _Turn(
            model=model,
            blocks=blocks,
            stop_reason=stop_reason,
            stop_sequence=stop_sequence,
            usage=self._usage(body, model, segments, spent),
            tool_id=_new_id("toolu_01") if tool is not None else "",
            tool_name=str(tool["name"]) if tool is not None else "",
        )

    def _reply(self, call: Call, body: Mapping[str, Any]) -> list[str]:
        """The reply text's tokens: the core's (knobs, headers, prompt-derived), or with
        ``output_config.format`` a sample instance of its schema."""
        config = body.get("output_config")
        fmt = config.get("format") if isinstance(config, dict) else None
        if isinstance(fmt, dict):
            schema = fmt.get("schema")
            return wire.split_tokens(wire.tool_call_arguments({"function": {"parameters": schema}}))
        return self._plain_reply_tokens(call, body)

    def _tool(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The custom tool this request makes the model call, if any."""
        custom: dict[str, dict[str, Any]] = {
            t["name"]: t for t in body.get("tools") or () if t.get("type") in (None, "custom")
        }
        choice = body.get("tool_choice") or {"type": "auto"}
        if not custom or choice["type"] == "none":
            return None
        first = next(iter(custom))
        if choice["type"] == "tool":
            return custom[choice["name"]]
        if choice["type"] == "any":
            return custom[first]
        named = marked_tool(_text_of(body["messages"][-1].get("content")))
        if named is None:
            return None
        if (named or first) not in custom:
            raise _bad(f"[[emulator:tool_call:{named}]] names no tool in `tools`")
        return custom[named or first]

    def _usage(
        self, body: Mapping[str, Any], model: str, segments: _Segments, output: int
    ) -> _Usage:
        """Input tokens split into uncached, cache-written and cache-read ones: the prefix up to
        the last breakpoint is written the first time it is seen, read after."""
        words = sum(n for _, n, _ in segments)
        marks = [i for i, (_, _, ttl) in enumerate(segments) if ttl is not None]
        if isinstance(body.get("cache_control"), dict) and segments:
            marks.append(len(segments) - 1)
        if not marks:
            return _Usage(input_tokens=words, output_tokens=output)
        last = max(marks)
        prefix = segments[: last + 1]
        cached = sum(n for _, n, _ in prefix)
        digest = hashlib.sha256(
            wire.dumps([model, [piece for piece, _, _ in prefix]]).encode()
        ).hexdigest()
        cached_prefixes = self._cached
        seen = digest in cached_prefixes
        if not seen:
            if len(cached_prefixes) > 100_000:
                self._cached = cached_prefixes = set()
            cached_prefixes.add(digest)
        ttl = segments[last][2] or "5m"
        return _Usage(
            input_tokens=words - cached,
            output_tokens=output,
            cache_creation=0 if seen else cached,
            cache_read=cached if seen else 0,
            cache_ttl=ttl,
        )


if __name__ == "__main__":  # python -m llmrouter_anthropic.testing: prints the base URL, serves
    from llmrouter.testing.__main__ import build_parser, main

    raise SystemExit(
        main(
            emulator_class=AnthropicEmulator,
            parser=build_parser(
                "python -m llmrouter_anthropic.testing",
                "Serve an Anthropic Messages API emulator on localhost.",
            ),
        )
    )
