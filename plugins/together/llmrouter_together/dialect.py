"""Together AI as a dialect of OpenAI's wire format: plain data, read by llmrouter.openai_compat.

Together's OpenAPI spec is the source of truth for fields and shapes. Where Together departs
from OpenAI's format, the dialect says so: the spec requires ``index`` on each tool call of an
assistant message; ``stop`` is a list; chat ``logprobs`` is an integer (the number of
alternatives, 0-20), not OpenAI's boolean; ``finish_reason`` may be ``eos``; the request id may
come as ``x-together-request-id`` (Together's SDK reads it after ``x-request-id``); error codes
include ``model_not_available`` and ``credit_limit``.

Seen in real traffic and relied on too, though not in the spec: chat and completion responses
carry ``prompt: []`` and ``choices[].seed``; streams end with ``data: [DONE]`` and carry usage
on the last content chunk only when ``stream_options.include_usage`` is true (so it is always
sent); an error inside a stream is a ``data: {"error": {...}}`` event; ``/models`` returns a
bare JSON array; a streamed tool call repeats its id and name in every piece (the spec's
``ToolChoice`` schema). docs/providers/together.md ("Responses") tells users the same.
"""

from __future__ import annotations

from llmrouter.errors import NotFoundError, PaymentRequiredError
from llmrouter.openai_compat import CODE_CLASSES, INBAND_STATUS, Dialect

__all__ = ["API_BASE_ENV", "API_KEY_ENV", "DEFAULT_API_BASE", "DIALECT"]

DEFAULT_API_BASE = "https://api.together.xyz/v1"
#: Searched in this order; the first non-empty one wins (``api_key=`` beats them all).
API_KEY_ENV = ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_TOKEN")
#: ``api_base=`` beats these. Whichever base is used, one without a trailing ``/v1`` gets it:
#: Together serves its whole API under ``/v1``, so ``https://host`` and ``https://host/v1`` name
#: the same server, and a gateway path (``https://gw/t/a``) keeps its prefix before ``/v1``.
API_BASE_ENV = ("TOGETHERAI_API_BASE", "TOGETHER_BASE_URL")

DIALECT = Dialect(
    title="Together AI",
    default_api_base=DEFAULT_API_BASE,
    api_base_env=API_BASE_ENV,
    base_suffix="/v1",
    api_key_env=API_KEY_ENV,
    request_id_headers=("x-request-id", "x-together-request-id"),
    stop_as_list=True,
    integer_logprobs=True,
    tool_call_index=True,
    force_include_usage=True,
    # Together's spec: embedding input is a string or a list of strings, no token ids.
    embedding_token_ids=False,
    unsent_options=frozenset({"together_ai"}),
    code_classes={
        **CODE_CLASSES,
        "model_not_available": NotFoundError,
        "credit_limit": PaymentRequiredError,
        "insufficient_quota": PaymentRequiredError,
    },
    # Together's quota and credit errors mean payment (402, not retryable), also in a stream.
    inband_status={**INBAND_STATUS, "insufficient_quota": 402, "credit_limit": 402},
)
