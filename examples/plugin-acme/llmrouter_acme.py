"""llmrouter-acme: a complete provider plugin for an OpenAI-compatible service, in one module.

"Acme AI" is a made-up service that speaks OpenAI's wire format with three departures of its
own: its key is in ``ACME_API_KEY``, its request id comes as ``x-acme-request-id``, and it
ends turns with ``finish_reason: "end_turn"``. It also takes one option OpenAI does not have,
``top_k``. Everything else (bodies, streams, tool calls, errors, retries, sync and async) is
llmrouter's OpenAI-compatible toolkit. docs/write-a-provider.md walks through it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmrouter.errors import PaymentRequiredError
from llmrouter.openai_compat import (
    CODE_CLASSES,
    FINISH_REASONS,
    Dialect,
    OpenAICompatibleProvider,
)

# --8<-- [start:dialect]
ACME = Dialect(
    title="Acme AI",
    default_api_base="https://api.acme.example/v1",
    api_base_env=("ACME_API_BASE",),
    api_key_env=("ACME_API_KEY",),
    endpoints=frozenset({"chat", "embeddings", "models"}),  # no /completions
    request_id_headers=("x-acme-request-id", "x-request-id"),
    finish_reasons={**FINISH_REASONS, "end_turn": "stop"},
    code_classes={**CODE_CLASSES, "out_of_credits": PaymentRequiredError},
)
# --8<-- [end:dialect]


# --8<-- [start:options]
class ChatOptions(BaseModel):
    """The options Acme's chat endpoint takes; anything else is refused before sending."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    max_tokens: int | None = Field(None, ge=1, description="Most tokens to generate.")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature.")
    stop: str | list[str] | None = Field(None, description="Sequences that end the answer.")
    tools: list[dict[str, Any]] | None = Field(None, description="Functions the model may call.")
    tool_choice: str | dict[str, Any] | None = Field(None, description="OpenAI's forms.")
    top_k: int | None = Field(None, ge=1, description="Acme's own: the k likeliest tokens only.")
    stream_options: dict[str, Any] | None = Field(None, description="include_usage is set.")


# --8<-- [end:options]


# --8<-- [start:provider]
#: The entry point names this object:
#: [project.entry-points."llmrouter.providers"] acme = "llmrouter_acme:provider"
provider = OpenAICompatibleProvider(ACME, chat_options=ChatOptions)
# --8<-- [end:provider]
