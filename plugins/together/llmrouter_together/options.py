"""Together's request options as pydantic models, with bounds from Together's OpenAPI spec.

Every option a caller may pass to ``completion(model="together_ai/...", **options)`` is a field
here; anything else is rejected before a request is sent (with the list of supported options and
the ``extra_body`` escape hatch). Strict mode: ``temperature="0.5"`` is an error, not a guess.

Bounds: where Together's spec states one (``logprobs`` 0-20, ``n`` 1-128, penalties -2..2,
``min_p`` 0-1) it is used as is; where the spec only describes a range in prose
(``temperature``, ``top_p``) we use the OpenAI-compatible range Together accepts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from llmrouter.validation import (
    TOOL_CHOICE_MODES,
    validate_response_format,
    validate_stop,
    validate_tool_choice,
    validate_tools,
    warn_caller,
)

__all__ = ["ChatOptions", "CompletionOptions", "EmbeddingOptions"]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CompletionOptions(_Options):
    """Options of ``/v1/completions`` (also used for chat when a template renders the prompt)."""

    max_tokens: int | None = Field(None, ge=1, description="Maximum number of tokens to generate.")
    stop: str | list[str] | None = Field(
        None,
        description="Sequences that stop generation. A single string is sent as a one-item list.",
    )
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="Nucleus sampling threshold.")
    top_k: int | None = Field(None, ge=1, description="Consider only the k most likely tokens.")
    min_p: float | None = Field(
        None, ge=0.0, le=1.0, description="Minimum token probability, relative to the top token."
    )
    repetition_penalty: float | None = Field(
        None, gt=0.0, description="Penalty (>1) or bonus (<1) for repeated tokens."
    )
    presence_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description="Penalise tokens already present."
    )
    frequency_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description="Penalise tokens by their frequency."
    )
    logit_bias: dict[str, float] | None = Field(None, description="Token id (as a string) -> bias.")
    logprobs: int | bool | None = Field(
        None,
        description="Top log-probabilities per token, 0-20. True (OpenAI style) means 1, False means none.",
    )
    top_logprobs: int | None = Field(
        None, ge=0, le=20, description="OpenAI-style alias: sent to Together as logprobs=<n>."
    )
    echo: bool | None = Field(None, description="Return the prompt in the response too.")
    n: int | None = Field(None, ge=1, le=128, description="Number of completions to generate.")
    seed: int | None = Field(None, description="Seed for reproducible sampling.")
    safety_model: str | None = Field(
        None, description="Moderation model that checks the generated tokens."
    )
    user: str | None = Field(None, description="An end-user id, for abuse monitoring.")
    stream_options: dict[str, Any] | None = Field(
        None, description="Stream settings; include_usage is always set to true."
    )
    together_ai: bool | None = Field(
        None, description="Deprecated tutorial flag; accepted with a warning and never sent."
    )

    @field_validator("stop")
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> str | list[str] | None:
        validate_stop(v)
        return v

    @field_validator("together_ai")
    @classmethod
    def _together_ai(cls, v: bool | None) -> bool | None:
        if v is not None:
            warn_caller(
                "together_ai=True is a legacy tutorial flag; the 'together_ai/' model prefix "
                "already selects Together, so the flag is ignored and not sent",
                DeprecationWarning,
            )
        return v

    @field_validator("logprobs")
    @classmethod
    def _logprobs(cls, v: int | bool | None) -> int | bool | None:
        if isinstance(v, bool) or v is None:
            return v
        if not 0 <= v <= 20:
            raise ValueError("logprobs must be between 0 and 20")
        return v


class ChatOptions(CompletionOptions):
    """Options of ``/v1/chat/completions``."""

    response_format: dict[str, Any] | None = Field(
        None,
        description="{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {...}} or {'type': 'text'}.",
    )
    tools: list[dict[str, Any]] | None = Field(None, description="Functions the model may call.")
    tool_choice: str | dict[str, Any] | None = Field(
        None,
        description="'auto', 'none', 'required', or {'type': 'function', 'function': {'name': ...}}; "
        "a function's name alone (the spec's string form) is sent as that object.",
    )
    function_call: str | dict[str, Any] | None = Field(
        None, description="Legacy form of tool_choice."
    )
    parallel_tool_calls: bool | None = Field(
        None, description="Allow several tool calls in one turn."
    )
    context_length_exceeded_behavior: Literal["truncate", "error"] | None = Field(
        None, description="What Together does when max_tokens does not fit the context."
    )
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        None, description="Reasoning models only."
    )
    reasoning: dict[str, Any] | None = Field(
        None, description="e.g. {'enabled': False} for models that can toggle it."
    )
    chat_template_kwargs: dict[str, Any] | None = Field(
        None, description="Passed to the server-side chat template."
    )

    @field_validator("response_format")
    @classmethod
    def _response_format(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            validate_response_format(v)
        return v

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        # Together's spec documents no pattern for function names (OpenAI's is
        # ^[a-zA-Z0-9_-]{1,64}$), so any non-empty name is accepted here; "Currently, only
        # functions are supported as a tool" (the spec), hence type 'function'.
        if v is not None:
            validate_tools(v, other_types=" (Together supports function tools only)")
        return v

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice(
        cls, v: str | dict[str, Any] | None, info: ValidationInfo
    ) -> str | dict[str, Any] | None:
        # The shapes Together documents: 'auto' | 'none' | 'required', a function's name as a
        # bare string (the spec types tool_choice as a string, e.g. 'tool_name'), or OpenAI's
        # {'type': 'function', 'function': {'name': ...}} (the spec's object form is a full tool
        # call, which carries the same type and function.name; extra keys are left alone).
        # A field validator (run only when tool_choice is given) rather than a model validator
        # (run on every call with options). ``tools`` is validated first; absent from
        # ``info.data`` when it failed, and then its own error is the one to report.
        if "tools" not in info.data:
            return v
        tools = info.data["tools"]
        names = None if tools is None else [t["function"]["name"] for t in tools]
        validate_tool_choice(v, names, bare_names=True)
        if isinstance(v, str) and v not in TOOL_CHOICE_MODES:
            # a bare name forces that function: sent as the object Together's docs and SDK use
            return {"type": "function", "function": {"name": v}}
        return v


#: Options that only make sense on the chat endpoint (refused when a template sends a text prompt).
CHAT_ONLY = frozenset(set(ChatOptions.model_fields) - set(CompletionOptions.model_fields))


class EmbeddingOptions(_Options):
    """Options of ``/v1/embeddings``: Together's spec takes only ``model`` and ``input``, so any
    option is an error (send extras with ``extra_body``)."""
