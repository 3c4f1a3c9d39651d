"""What differs between services that speak OpenAI's wire format, as plain data.

A :class:`Dialect` is everything the pure functions of :mod:`llmrouter.openai_compat` need to
know about one service: where it lives, which variables hold its key, which endpoints it serves,
what its error codes mean and which small departures from OpenAI's format it makes. Together AI,
OpenAI, Groq, a local vLLM server and a stranger's plugin differ only here; the code that reads
and writes the format exists once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from llmrouter.errors import (
    APIStatusError,
    AuthenticationError,
    ContextWindowExceededError,
    NotFoundError,
    RateLimitError,
)

__all__ = [
    "ALL_ENDPOINTS",
    "CODE_CLASSES",
    "FINISH_REASONS",
    "INBAND_STATUS",
    "PATHS",
    "Dialect",
    "Endpoint",
]

Endpoint = Literal["chat", "completions", "embeddings", "models"]
ALL_ENDPOINTS: frozenset[Endpoint] = frozenset({"chat", "completions", "embeddings", "models"})
#: Each endpoint's path below the base URL, as OpenAI names them.
PATHS: Mapping[Endpoint, str] = MappingProxyType(
    {
        "chat": "/chat/completions",
        "completions": "/completions",
        "embeddings": "/embeddings",
        "models": "/models",
    }
)

#: Finish reasons compatible servers use -> OpenAI's. Unknown values pass through (not guessed).
FINISH_REASONS: Mapping[str, str] = MappingProxyType(
    {"eos": "stop", "eos_token": "stop", "stop_sequence": "stop", "max_tokens": "length"}
)

#: Structured error ``code`` (or ``type``) -> class, as OpenAI and most of its imitators use
#: them. A dialect adds its own on top (``{**CODE_CLASSES, ...}``). The class is refined within
#: the status family only: a code never turns a 500 into a 400.
CODE_CLASSES: Mapping[str, type[APIStatusError]] = MappingProxyType(
    {
        "context_length_exceeded": ContextWindowExceededError,
        "invalid_api_key": AuthenticationError,
        "model_not_found": NotFoundError,
        "rate_limit_exceeded": RateLimitError,
    }
)

#: Error ``code``/``type`` of an in-band error without a status -> the status it stands for.
INBAND_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "invalid_request_error": 400,
        "context_length_exceeded": 400,
        "authentication_error": 401,
        "invalid_api_key": 401,
        "permission_error": 403,
        "not_found_error": 404,
        "model_not_found": 404,
        "insufficient_quota": 429,
        "rate_limit_exceeded": 429,
        "rate_limit_error": 429,
        "requests": 429,
        "tokens": 429,
        "server_error": 500,
        "internal_server_error": 500,
        "service_unavailable": 503,
        "overloaded_error": 529,
    }
)

_NO_STATUS_CLASSES: Mapping[int, type[APIStatusError]] = MappingProxyType({})
_NO_RENAMES: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class Dialect:
    """One OpenAI-compatible service: plain data, read by the toolkit's functions.

    Only ``title`` is required; every other field defaults to what OpenAI's own API does.
    """

    #: Human name, for error messages ("Together AI", "Groq").
    title: str
    # --- where and who ------------------------------------------------------------------------
    #: ``None``: there is no default and a base URL must be given (a self-hosted server).
    default_api_base: str | None = None
    #: Searched in order after ``api_base=``; the first non-empty one wins.
    api_base_env: tuple[str, ...] = ()
    #: Appended to a base URL that does not already end with it (Together, Ollama: ``/v1``).
    base_suffix: str = ""
    #: Searched in order after ``api_key=``; the first non-empty one wins.
    api_key_env: tuple[str, ...] = ()
    #: ``False``: no key is fine (local servers), and no ``Authorization`` header is sent then.
    key_required: bool = True
    #: Headers filled from the environment when set: ``(header, (variable, ...))``. The
    #: caller's ``extra_headers`` win.
    header_env: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The endpoints the service serves; a call needing another fails before sending.
    endpoints: frozenset[Endpoint] = ALL_ENDPOINTS
    #: Each endpoint's path below the base URL.
    paths: Mapping[Endpoint, str] = field(default_factory=lambda: PATHS)
    #: Response headers holding the service's request id, tried in order.
    request_id_headers: tuple[str, ...] = ("x-request-id",)
    # --- request quirks -----------------------------------------------------------------------
    #: Chat option -> the name the chat endpoint wants (OpenAI: ``max_tokens`` ->
    #: ``max_completion_tokens``, which its reasoning models require).
    chat_renames: Mapping[str, str] = field(default_factory=lambda: _NO_RENAMES)
    #: Send ``stop="x"`` as ``["x"]`` (Together's schema has a list only).
    stop_as_list: bool = False
    #: Chat ``logprobs`` is an integer (the number of alternatives) instead of OpenAI's
    #: ``logprobs: bool`` + ``top_logprobs: int`` (Together).
    integer_logprobs: bool = False
    #: Assistant ``tool_calls`` in the history carry their ``index`` (Together's schema
    #: requires it; OpenAI's has none).
    tool_call_index: bool = False
    #: Streams always ask for usage (``stream_options.include_usage: true``), even when the
    #: caller said ``false``: the service documents usage only that way.
    force_include_usage: bool = False
    #: A message with a ``name`` is refused before sending (Groq answers it with a 400).
    rejects_message_name: bool = False
    #: Most ``stop`` sequences the service takes (``None``: no limit of its own).
    max_stop: int | None = None
    #: ``/embeddings`` takes token ids (OpenAI, vLLM); otherwise they are refused before sending.
    embedding_token_ids: bool = False
    #: Option names accepted for compatibility and never sent (Together's legacy
    #: ``together_ai=True``).
    unsent_options: frozenset[str] = frozenset()
    # --- responses and errors -----------------------------------------------------------------
    #: The service's finish reasons -> OpenAI's.
    finish_reasons: Mapping[str, str] = field(default_factory=lambda: FINISH_REASONS)
    #: Structured error code/type -> class (see :data:`CODE_CLASSES`).
    code_classes: Mapping[str, type[APIStatusError]] = field(default_factory=lambda: CODE_CLASSES)
    #: HTTP status -> class, where the core's table is wrong for this service.
    status_classes: Mapping[int, type[APIStatusError]] = field(
        default_factory=lambda: _NO_STATUS_CLASSES
    )

    #: Error code/type of an in-band error (a stream event, a 200 body) that carries no status
    #: -> the status it stands for (see :data:`INBAND_STATUS`).
    inband_status: Mapping[str, int] = field(default_factory=lambda: INBAND_STATUS)

    def __post_init__(self) -> None:
        # The core reads response headers by lower-case name (HTTP names are case-insensitive).
        names = tuple(name.lower() for name in self.request_id_headers)
        object.__setattr__(self, "request_id_headers", names)
