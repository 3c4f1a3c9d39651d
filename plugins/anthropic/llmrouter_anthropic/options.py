"""The options ``completion(model="anthropic/...", **options)`` accepts, checked before sending.

Callers write OpenAI's option names (an app written against OpenAI's shapes must run unchanged),
so the model holds OpenAI's names for what the Messages API can do (``max_tokens``, ``stop``,
``tools``, ``response_format``, ``reasoning_effort``...) plus Anthropic's own switches
(``anthropic_version``, ``anthropic_beta``, ``thinking``, ``drop_params``). :mod:`.request`
turns them into Anthropic's fields.

Two kinds of option are refused with a message that says why, before the model validates the
rest (``drop_params=True`` drops them instead, as LiteLLM users know it):

- OpenAI options the Messages API has no equivalent for (:data:`UNSUPPORTED`: ``n`` > 1,
  ``logprobs``, penalties, ``seed``...). A value that asks for nothing (``None``, ``n=1``,
  ``logprobs=False``) is dropped silently: it changes nothing.
- ``temperature``, ``top_p`` and ``top_k``, which API version :data:`API_VERSION` (the one the
  current official SDK sends) no longer has: only a call pinned to :data:`LEGACY_VERSION` takes
  them (:data:`VERSIONED`).

Everything is strict (``temperature="0.5"`` is an error, not a guess), frozen and
``extra="forbid"``: an unknown option lists the supported ones and the ``extra_body`` hatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmrouter.errors import InvalidRequestError
from llmrouter.translation import check_token_limit, check_tool_choice, drop_unsupported
from llmrouter.validation import (
    validate_options,
    validate_response_format,
    validate_stop,
    validate_tools,
)

__all__ = [
    "API_VERSION",
    "LEGACY_VERSION",
    "UNSUPPORTED",
    "VERSIONED",
    "AnthropicOptions",
    "parse_options",
]

#: The API version the current official SDK (``anthropic`` 2.17) sends, and so ours by default.
API_VERSION: Final = "2026-10-21"
#: The version the 0.x SDK line sent: ``x-api-key`` auth, and ``temperature``/``top_p``/``top_k``.
LEGACY_VERSION: Final = "2023-06-01"

#: OpenAI options the Messages API has no equivalent for -> why, for the error message.
UNSUPPORTED: Final[Mapping[str, str]] = {
    "n": "one answer per call (n must be 1)",
    "logprobs": "no log probabilities",
    "top_logprobs": "no log probabilities",
    "presence_penalty": "no penalties",
    "frequency_penalty": "no penalties",
    "seed": "no seed",
    "logit_bias": "no logit bias",
    "modalities": "text output only",
    "audio": "no audio output",
    "prediction": "no predicted outputs",
    "store": "no stored completions",
    "verbosity": "no verbosity setting",
    "web_search_options": "web search is a server tool (send it with extra_body)",
    "prompt_cache_key": "caching is marked with cache_control on content blocks",
    "safety_identifier": "use user= (sent as metadata.user_id)",
    "functions": "use tools=",
    "function_call": "use tool_choice=",
}

#: Options only :data:`LEGACY_VERSION` takes (API version :data:`API_VERSION` has none of them).
VERSIONED: Final = ("temperature", "top_p", "top_k")

_THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")


class AnthropicOptions(BaseModel):
    """Every option of an ``anthropic/...`` chat call (OpenAI's names where they exist)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    anthropic_version: Literal["2026-10-21", "2023-06-01"] | None = Field(
        None,
        description="The API version (the anthropic-version header). Default 2026-10-21, the "
        "one the current official SDK sends; '2023-06-01' pins the old version: x-api-key auth, "
        "and temperature/top_p/top_k accepted.",
    )
    anthropic_beta: str | list[str] | None = Field(
        None,
        description="Beta feature name(s), sent as the anthropic-beta header (a list is "
        "comma-joined).",
    )
    drop_params: bool | None = Field(
        None,
        description="Drop the OpenAI options Anthropic lacks (n>1, logprobs, penalties, seed, "
        "logit_bias...; and temperature/top_p/top_k unless the old version is pinned) instead "
        "of refusing them.",
    )
    max_tokens: int | None = Field(
        None,
        ge=0,
        description="Most tokens to generate (Anthropic requires it: a documented default per "
        "model family is sent when absent; 0 only warms the prompt cache).",
    )
    max_completion_tokens: int | None = Field(
        None, ge=0, description="OpenAI's newer name for max_tokens; sent as max_tokens."
    )
    stop: str | list[str] | None = Field(
        None, description="Sequence(s) that end the answer; sent as stop_sequences."
    )
    user: str | None = Field(None, description="An end-user id; sent as metadata.user_id.")
    tools: list[dict[str, Any]] | None = Field(
        None, description="OpenAI function tools; sent as {name, description, input_schema}."
    )
    tool_choice: str | dict[str, Any] | None = Field(
        None,
        description="'auto', 'required' (Anthropic's 'any'), 'none', or "
        "{'type': 'function', 'function': {'name': ...}} (Anthropic's {'type': 'tool', ...}).",
    )
    parallel_tool_calls: bool | None = Field(
        None, description="False sends tool_choice.disable_parallel_tool_use=true."
    )
    response_format: dict[str, Any] | None = Field(
        None,
        description="{'type': 'json_schema', 'json_schema': {'schema': {...}}} (sent as "
        "output_config.format), {'type': 'json_object'} (an instruction in the system prompt) "
        "or {'type': 'text'}.",
    )
    reasoning_effort: Literal["low", "medium", "high", "xhigh", "max"] | None = Field(
        None, description="Sent as output_config.effort."
    )
    thinking: dict[str, Any] | None = Field(
        None,
        description="Anthropic's thinking config, sent as given: {'type': 'adaptive'}, "
        "{'type': 'enabled', 'budget_tokens': >=1024}, {'type': 'disabled'} ...",
    )
    service_tier: Literal["auto", "standard_only"] | None = Field(
        None, description="Anthropic's service tier: 'auto' or 'standard_only'."
    )
    stream_options: dict[str, Any] | None = Field(
        None,
        description="Accepted for OpenAI compatibility and not sent: a stream's last chunk "
        "always carries the usage.",
    )
    temperature: float | None = Field(
        None, ge=0.0, le=1.0, description="Only with anthropic_version='2023-06-01': 0..1."
    )
    top_p: float | None = Field(
        None, ge=0.0, le=1.0, description="Only with anthropic_version='2023-06-01'."
    )
    top_k: int | None = Field(None, ge=0, description="Only with anthropic_version='2023-06-01'.")

    @field_validator("anthropic_beta")
    @classmethod
    def _beta(cls, v: str | list[str] | None) -> str | list[str] | None:
        names = [v] if isinstance(v, str) else (v or [])
        if not all(isinstance(n, str) and n.strip() for n in names):
            raise ValueError("every beta name must be a non-empty string")
        return v

    @field_validator("stop")
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> str | list[str] | None:
        validate_stop(v)
        return v

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if v is not None:
            validate_tools(
                v,
                other_types=" (Anthropic's server tools, such as web search, are not "
                "translated: send Anthropic's whole tools list with extra_body={'tools': [...]})",
            )
        return v

    @field_validator("response_format")
    @classmethod
    def _response_format(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            validate_response_format(v, schema_required_by="Anthropic's structured outputs")
        return v

    @field_validator("thinking")
    @classmethod
    def _thinking(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        kind = v.get("type")
        if kind not in _THINKING_TYPES:
            raise ValueError(
                "thinking['type'] must be one of " + ", ".join(repr(t) for t in _THINKING_TYPES)
            )
        if kind == "enabled":
            budget = v.get("budget_tokens")
            if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1024:
                raise ValueError(
                    "thinking of type 'enabled' needs 'budget_tokens': an integer of at least "
                    "1024, below max_tokens"
                )
        return v

    @model_validator(mode="after")
    def _together(self) -> AnthropicOptions:
        """Checks across fields: one token limit, a tool choice that names a tool."""
        check_token_limit(self.max_tokens, self.max_completion_tokens)
        check_tool_choice(self.tools, self.tool_choice)
        return self

    @property
    def version(self) -> str:
        """The API version this call speaks."""
        return self.anthropic_version or API_VERSION

    @property
    def token_limit(self) -> int | None:
        """``max_tokens`` or ``max_completion_tokens``, whichever was given."""
        return self.max_tokens if self.max_tokens is not None else self.max_completion_tokens


def parse_options(params: Mapping[str, Any], *, provider: str, model: str) -> AnthropicOptions:
    """``params`` checked: version-bound and unsupported options refused (or, with
    ``drop_params=True``, dropped), then the rest validated against :class:`AnthropicOptions`.

    Every problem is an :class:`~llmrouter.errors.InvalidRequestError` naming the option.
    """
    if not params:
        return validate_options(AnthropicOptions, params, provider=provider, what="chat")
    drop = params.get("drop_params") is True
    version = params.get("anthropic_version")
    # (an unknown version is left to the model's own error about anthropic_version)
    if version in (None, API_VERSION) and any(name in params for name in VERSIONED):
        for name, value in params.items():
            if name in VERSIONED and value is not None and not drop:
                raise InvalidRequestError(
                    f"{name} is accepted only with anthropic_version={LEGACY_VERSION!r}: "
                    f"Anthropic's API version {version or API_VERSION} has no temperature, "
                    f"top_p or top_k. Pin the old version with "
                    f"anthropic_version={LEGACY_VERSION!r}, or pass drop_params=True to drop "
                    "them",
                    param=name,
                    provider=provider,
                    model=model,
                )
        params = {name: value for name, value in params.items() if name not in VERSIONED}
    kept = drop_unsupported(
        params,
        UNSUPPORTED,
        api="Anthropic's Messages API",
        service="Anthropic",
        supported=AnthropicOptions.model_fields,
        provider=provider,
        model=model,
    )
    return validate_options(AnthropicOptions, kept, provider=provider, what="chat")
