"""Request options as pydantic models: OpenAI's documented set, and each preset's variant of it.

:class:`ChatOptions` is OpenAI's Chat Completions option set with the bounds OpenAI documents
(``temperature`` 0..2, ``top_p`` 0..1, ``n`` 1..128, ``stop`` up to 4, penalties -2..2,
``logit_bias`` -100..100, ``top_logprobs`` 0..20). Every other provider of the family gets a model
*built from it* by :func:`chat_options_model`, following its :class:`~llmrouter_openai.presets.Preset`:
options it does not support are removed (``unsupported``, or everything outside ``allowed``),
``n`` and ``stop`` get the preset's limits, and the preset's :class:`ExtraOption` s are added
(``top_k``, ``min_p``, ``repetition_penalty`` ...). So each provider's supported set is exact and
an unknown option is an error before any request, with the ``extra_body`` escape hatch.

All models are strict (``temperature="0.5"`` is an error, not a guess), frozen and
``extra="forbid"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from llmrouter.errors import InvalidRequestError
from llmrouter.validation import (
    validate_response_format,
    validate_stop,
    validate_tool_choice,
    validate_tools,
)

if TYPE_CHECKING:
    from llmrouter_openai.presets import Preset

__all__ = [
    "CHAT_ONLY",
    "PLATFORM_ONLY",
    "ChatOptions",
    "EmbeddingOptions",
    "ExtraOption",
    "chat_options_model",
    "check_supported",
    "embedding_options_model",
    "extra",
]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _stop_limit(limit: int) -> Callable[[Any, Any], Any]:
    def check(cls: Any, v: Any) -> Any:
        if isinstance(v, list) and len(v) > limit:
            raise ValueError(f"at most {limit} stop sequences are allowed, got {len(v)}")
        return v

    return check


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _ChatChecks(_Options):
    """Cross-field and shape checks shared by every chat option model (fields may be absent)."""

    @field_validator("stop", check_fields=False)
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> str | list[str] | None:
        validate_stop(v)
        return v

    @field_validator("logit_bias", check_fields=False)
    @classmethod
    def _logit_bias(cls, v: dict[str, int | float] | None) -> dict[str, int | float] | None:
        for token, bias in (v or {}).items():
            if not token.isdigit():
                raise ValueError(f"logit_bias keys are token ids (digits), got {token!r}")
            if not -100 <= bias <= 100:
                raise ValueError(f"logit_bias[{token!r}]={bias} is outside -100..100")
        return v

    @field_validator("response_format", check_fields=False)
    @classmethod
    def _response_format(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            validate_response_format(v, schema_name_required=True)
        return v

    @field_validator("tools", check_fields=False)
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if v is not None:
            validate_tools(
                v,
                name_pattern=_TOOL_NAME,
                name_rule="must be 1-64 letters, digits, '_' or '-' (OpenAI's rule)",
                other_types=" (custom tools are not supported: llmrouter's response types model "
                "function calls)",
            )
        return v

    @model_validator(mode="after")
    def _cross_field_checks(self) -> _ChatChecks:
        """Checks that look at several fields at once (max_tokens with max_completion_tokens,
        top_logprobs with logprobs, tool_choice with tools)."""
        get = self.__dict__.get
        if get("max_tokens") is not None and get("max_completion_tokens") is not None:
            raise ValueError(
                "pass max_tokens or max_completion_tokens, not both (they mean the same limit)"
            )
        if get("top_logprobs") is not None and get("logprobs") is False:
            raise ValueError("top_logprobs needs logprobs=True (or leave logprobs unset)")
        if get("seed") is not None and get("random_seed") is not None:
            raise ValueError(
                "pass seed or random_seed, not both (Mistral's name for the same seed)"
            )
        tools = get("tools")
        # OpenAI's documented forms, allowed_tools included (it restricts the function tools
        # in `tools`; custom tools, and so a custom tool_choice, are not supported).
        validate_tool_choice(
            get("tool_choice"),
            None if tools is None else [t["function"]["name"] for t in tools],
            allowed_tools=True,
        )
        return self


class ChatOptions(_ChatChecks):
    """OpenAI's Chat Completions options (``/chat/completions``), with OpenAI's bounds.

    Not here: ``metadata`` (the name is taken by llmrouter's own call metadata; send OpenAI's with
    ``extra_body={"metadata": {...}}``), the deprecated ``functions``/``function_call``, and
    custom tools (llmrouter's response types model function calls). ``tool_choice`` takes every
    form OpenAI documents for function tools, ``allowed_tools`` included.
    """

    max_completion_tokens: int | None = Field(
        None, ge=1, description="Upper bound on generated tokens, reasoning tokens included."
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="Maximum number of tokens to generate (OpenAI: sent as "
        "max_completion_tokens, which every current chat model accepts).",
    )
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="Nucleus sampling threshold.")
    n: int | None = Field(None, ge=1, le=128, description="Number of choices to generate.")
    stop: str | list[str] | None = Field(
        None, description="Up to 4 sequences where generation stops."
    )
    presence_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description="Penalise tokens already present."
    )
    frequency_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description="Penalise tokens by their frequency so far."
    )
    logit_bias: dict[str, int | float] | None = Field(
        None, description="Token id (a string of digits) -> bias in -100..100."
    )
    logprobs: bool | None = Field(None, description="Return the log probability of each token.")
    top_logprobs: int | None = Field(
        None,
        ge=0,
        le=20,
        description="Most likely alternatives per position, 0-20 (implies logprobs=True).",
    )
    seed: int | None = Field(None, description="Best-effort deterministic sampling.")
    response_format: dict[str, Any] | None = Field(
        None,
        description="{'type': 'json_object'} (JSON mode), {'type': 'json_schema', "
        "'json_schema': {'name', 'schema', 'strict'}} (structured outputs) or {'type': 'text'}.",
    )
    tools: list[dict[str, Any]] | None = Field(None, description="Functions the model may call.")
    tool_choice: str | dict[str, Any] | None = Field(
        None,
        description="'none', 'auto', 'required', or {'type': 'function', 'function': {'name'}}.",
    )
    parallel_tool_calls: bool | None = Field(
        None, description="Allow several tool calls in one turn."
    )
    user: str | None = Field(None, description="An end-user id, for abuse monitoring.")
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = Field(
        None, description="Reasoning models only: how much to think."
    )
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = Field(
        None, description="Processing tier."
    )
    modalities: list[Literal["text", "audio"]] | None = Field(
        None, description="Output types, e.g. ['text', 'audio'] for audio models."
    )
    audio: dict[str, Any] | None = Field(
        None, description="Audio output settings (voice, format); needs modalities=['audio']."
    )
    prediction: dict[str, Any] | None = Field(
        None, description="Predicted output: {'type': 'content', 'content': ...}."
    )
    store: bool | None = Field(None, description="Store the completion (evals, distillation).")
    verbosity: Literal["low", "medium", "high"] | None = Field(
        None, description="How long the answer should be."
    )
    web_search_options: dict[str, Any] | None = Field(
        None, description="Search models only: web search settings."
    )
    prompt_cache_key: str | None = Field(None, description="Groups requests for prompt caching.")
    safety_identifier: str | None = Field(
        None, description="A stable, hashed end-user id for safety monitoring."
    )
    stream_options: dict[str, Any] | None = Field(
        None,
        description="Stream settings; include_usage defaults to true (usage arrives at the "
        "end of the stream). Ignored without stream=True.",
    )

    _four_stops = field_validator("stop")(_stop_limit(4))


class EmbeddingOptions(_Options):
    """OpenAI's ``/embeddings`` options."""

    encoding_format: Literal["float", "base64"] | None = Field(
        None,
        description="'base64' transfers packed float32 (smaller); llmrouter decodes it, so "
        "the response holds floats either way.",
    )
    dimensions: int | None = Field(
        None, ge=1, description="Output size, for models that can shorten their vectors."
    )
    user: str | None = Field(None, description="An end-user id, for abuse monitoring.")


# --- extras: options some OpenAI-compatible providers add -----------------------------------------


@dataclass(frozen=True, slots=True)
class ExtraOption:
    """One option a preset adds to (or redefines in) OpenAI's set: plain data."""

    name: str
    annotation: Any
    field: FieldInfo


def extra(name: str, annotation: Any, description: str, **constraints: Any) -> ExtraOption:
    """An optional option (default ``None``) with pydantic constraints (``ge``, ``le`` ...)."""
    return ExtraOption(name, annotation, Field(None, description=description, **constraints))


TOP_K = extra("top_k", int | None, "Sample from the k most likely tokens.", ge=0)
TOP_K_VLLM = extra(
    "top_k", int | None, "Sample from the k most likely tokens (-1 or 0: all).", ge=-1
)
MIN_P = extra(
    "min_p", float | None, "Minimum probability relative to the top token.", ge=0.0, le=1.0
)
REPETITION_PENALTY = extra(
    "repetition_penalty", float | None, "Penalty (>1) or bonus (<1) for repeats.", gt=0.0
)
MIN_TOKENS = extra("min_tokens", int | None, "Generate at least this many tokens.", ge=0)
IGNORE_EOS = extra("ignore_eos", bool | None, "Keep generating past the end-of-sequence token.")
CHAT_TEMPLATE_KWARGS = extra(
    "chat_template_kwargs",
    dict[str, Any] | None,
    "Variables for the server-side chat template (e.g. {'enable_thinking': False}).",
)
TOP_A = extra("top_a", float | None, "Top-a sampling (relative to the top token).", ge=0.0, le=1.0)
TRANSFORMS = extra("transforms", list[str] | None, "Prompt transforms, e.g. ['middle-out'].")
MODELS = extra("models", list[str] | None, "Models OpenRouter may fall back to, in order.")
ROUTE = extra("route", Literal["fallback"] | None, "OpenRouter routing mode.")
PROVIDER_PREFS = extra(
    "provider", dict[str, Any] | None, "Upstream provider preferences (order, allow_fallbacks ...)."
)
REASONING = extra("reasoning", dict[str, Any] | None, "Reasoning settings, e.g. {'effort': 'low'}.")
USAGE_ACCOUNTING = extra(
    "usage", dict[str, Any] | None, "Usage accounting, e.g. {'include': True}."
)
REASONING_FORMAT = extra(
    "reasoning_format",
    Literal["hidden", "raw", "parsed"] | None,
    "How reasoning models return their reasoning.",
)
INCLUDE_REASONING = extra("include_reasoning", bool | None, "Return the reasoning text.")
GROQ_SERVICE_TIER = extra(
    "service_tier",
    Literal["auto", "on_demand", "flex", "performance"] | None,
    "Groq's processing tier.",
)
GROQ_REASONING_EFFORT = extra(
    "reasoning_effort",
    Literal["none", "default", "low", "medium", "high"] | None,
    "Reasoning models only.",
)
OLLAMA_REASONING_EFFORT = extra(
    "reasoning_effort",
    Literal["none", "low", "medium", "high"] | None,
    "Thinking models only.",
)
MIROSTAT_TARGET = extra("mirostat_target", float | None, "Mirostat target perplexity.", ge=0.0)
MIROSTAT_LR = extra("mirostat_lr", float | None, "Mirostat learning rate.", ge=0.0, le=1.0)
CONTEXT_LENGTH_EXCEEDED_BEHAVIOR = extra(
    "context_length_exceeded_behavior",
    Literal["truncate", "error"] | None,
    "What to do when prompt + max_tokens exceed the context.",
)

# Mistral (its SDK's ChatCompletionRequest)
RANDOM_SEED = extra(
    "random_seed", int | None, "Mistral's seed for deterministic sampling (OpenAI's seed)."
)
SAFE_PROMPT = extra("safe_prompt", bool | None, "Prepend Mistral's safety system prompt.")
PROMPT_MODE = extra(
    "prompt_mode",
    Literal["reasoning"] | None,
    "Reasoning models: 'reasoning' uses Mistral's reasoning system prompt.",
)
MISTRAL_REASONING_EFFORT = extra(
    "reasoning_effort",
    Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None,
    "Reasoning models only: how much to think.",
)
MISTRAL_SERVICE_TIER = extra(
    "service_tier", Literal["auto", "standard_only"] | None, "Mistral's capacity tier."
)
# DeepSeek
DEEPSEEK_THINKING = extra(
    "thinking", dict[str, Any] | None, "Thinking mode, e.g. {'type': 'enabled'} (DeepSeek)."
)
# xAI
XAI_REASONING_EFFORT = extra(
    "reasoning_effort", Literal["low", "high"] | None, "Grok reasoning models only."
)
# Cerebras (its SDK's CompletionCreateParams)
NONE_TO_HIGH_REASONING_EFFORT = extra(
    "reasoning_effort",
    Literal["none", "low", "medium", "high"] | None,
    "Reasoning models only: how much to think.",
)
CEREBRAS_REASONING_FORMAT = extra(
    "reasoning_format",
    Literal["none", "parsed", "text_parsed", "raw", "hidden"] | None,
    "How reasoning models return their reasoning.",
)
DISABLE_REASONING = extra(
    "disable_reasoning", bool | None, "Turn a reasoning model's thinking off."
)
CEREBRAS_SERVICE_TIER = extra(
    "service_tier", Literal["auto", "default", "flex", "priority"] | None, "Cerebras' tier."
)
# SambaNova (its SDK's CompletionCreateParams)
LOW_TO_HIGH_REASONING_EFFORT = extra(
    "reasoning_effort", Literal["low", "medium", "high"] | None, "Reasoning models only."
)
DO_SAMPLE = extra("do_sample", bool | None, "Sample (True) or decode greedily (False).")
# Perplexity (its SDK's chat CompletionCreateParams)
PERPLEXITY_REASONING_EFFORT = extra(
    "reasoning_effort",
    Literal["minimal", "low", "medium", "high"] | None,
    "Reasoning (sonar-reasoning, deep research) models only.",
)
SEARCH_MODE = extra("search_mode", Literal["web", "academic", "sec"] | None, "Where to search.")
SEARCH_DOMAIN_FILTER = extra(
    "search_domain_filter", list[str] | None, "Domains to search ('-example.com' excludes)."
)
SEARCH_RECENCY_FILTER = extra(
    "search_recency_filter",
    Literal["hour", "day", "week", "month", "year"] | None,
    "Only sources published within this period.",
)
SEARCH_AFTER_DATE_FILTER = extra(
    "search_after_date_filter", str | None, "Only sources published after this date (m/d/yyyy)."
)
SEARCH_BEFORE_DATE_FILTER = extra(
    "search_before_date_filter", str | None, "Only sources published before this date."
)
LAST_UPDATED_AFTER_FILTER = extra(
    "last_updated_after_filter", str | None, "Only sources updated after this date."
)
LAST_UPDATED_BEFORE_FILTER = extra(
    "last_updated_before_filter", str | None, "Only sources updated before this date."
)
RETURN_IMAGES = extra("return_images", bool | None, "Return images found by the search.")
RETURN_RELATED_QUESTIONS = extra(
    "return_related_questions", bool | None, "Return related questions."
)
DISABLE_SEARCH = extra("disable_search", bool | None, "Answer from the model alone, no search.")
ENABLE_SEARCH_CLASSIFIER = extra(
    "enable_search_classifier", bool | None, "Let a classifier decide whether to search."
)
# LM Studio, llama.cpp
REPEAT_PENALTY = extra(
    "repeat_penalty",
    float | None,
    "Penalty (>1) or bonus (<1) for repeats (llama.cpp's name).",
    gt=0.0,
)
TTL = extra("ttl", int | None, "Seconds a model loaded for this request stays loaded idle.", ge=0)
DRAFT_MODEL = extra("draft_model", str | None, "A smaller model for speculative decoding.")

#: OpenAI platform features no other provider of the family implements.
PLATFORM_ONLY = frozenset(
    {
        "service_tier",
        "modalities",
        "audio",
        "prediction",
        "store",
        "verbosity",
        "web_search_options",
        "prompt_cache_key",
        "safety_identifier",
    }
)

#: Chat options that have no meaning on ``/completions`` (used when a prompt template sends a
#: chat call there); anything else is translated (max_completion_tokens, logprobs) or sent as is.
CHAT_ONLY = frozenset(
    {
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "modalities",
        "audio",
        "prediction",
        "store",
        "verbosity",
        "web_search_options",
        "prompt_cache_key",
        "safety_identifier",
        "service_tier",
        "chat_template_kwargs",
        "reasoning",
        "reasoning_format",
        "include_reasoning",
        "disable_reasoning",
    }
)

_ALL_EXTRAS = (
    TOP_K,
    MIN_P,
    REPETITION_PENALTY,
    MIN_TOKENS,
    IGNORE_EOS,
    CHAT_TEMPLATE_KWARGS,
    TOP_A,
    TRANSFORMS,
    MODELS,
    ROUTE,
    PROVIDER_PREFS,
    REASONING,
    USAGE_ACCOUNTING,
    REASONING_FORMAT,
    INCLUDE_REASONING,
    MIROSTAT_TARGET,
    MIROSTAT_LR,
    CONTEXT_LENGTH_EXCEEDED_BEHAVIOR,
    RANDOM_SEED,
    SAFE_PROMPT,
    PROMPT_MODE,
    DEEPSEEK_THINKING,
    CEREBRAS_REASONING_FORMAT,
    DISABLE_REASONING,
    DO_SAMPLE,
    SEARCH_MODE,
    SEARCH_DOMAIN_FILTER,
    SEARCH_RECENCY_FILTER,
    SEARCH_AFTER_DATE_FILTER,
    SEARCH_BEFORE_DATE_FILTER,
    LAST_UPDATED_AFTER_FILTER,
    LAST_UPDATED_BEFORE_FILTER,
    RETURN_IMAGES,
    RETURN_RELATED_QUESTIONS,
    DISABLE_SEARCH,
    ENABLE_SEARCH_CLASSIFIER,
    REPEAT_PENALTY,
    TTL,
    DRAFT_MODEL,
)

#: Every option name some provider of the family knows: used to tell "not supported by this
#: provider" apart from "not an option at all" in error messages.
KNOWN_OPTIONS = frozenset(
    set(ChatOptions.model_fields)
    | set(EmbeddingOptions.model_fields)
    | {e.name for e in _ALL_EXTRAS}
)


# --- building a preset's models -------------------------------------------------------------------


def _keep(name: str, preset: Preset) -> bool:
    if preset.allowed is not None:
        return name in preset.allowed
    return name not in preset.unsupported


def _build(
    name: str,
    base: type[_Options],
    fields: Mapping[str, FieldInfo],
    preset: Preset,
    extras: Iterable[ExtraOption],
    validators: dict[str, Any] | None = None,
) -> type[BaseModel]:
    definitions: dict[str, Any] = {
        key: (info.annotation, info) for key, info in fields.items() if _keep(key, preset)
    }
    if "n" in definitions and preset.max_n != 128:
        definitions["n"] = (
            int | None,
            Field(None, ge=1, le=preset.max_n, description=f"Choices, at most {preset.max_n}."),
        )
    for option in extras:
        definitions[option.name] = (option.annotation, option.field)
    # the model's docstring says whose option set it is (shows in errors and reprs)
    model: type[BaseModel] = create_model(
        name,
        __base__=base,
        __doc__=f"{preset.title} options ({preset.name}).",
        __validators__=validators or {},
        **definitions,
    )
    return model


def chat_options_model(preset: Preset) -> type[BaseModel]:
    """The chat option model for ``preset`` (OpenAI's set, adjusted as the preset says)."""
    if (
        preset.allowed is None
        and not preset.unsupported
        and not preset.extra_options
        and preset.max_n == 128
        and preset.max_stop == 4
    ):
        return ChatOptions
    validators: dict[str, Any] = {}
    if preset.max_stop is not None:
        validators["_stop_limit"] = field_validator("stop", check_fields=False)(
            _stop_limit(preset.max_stop)
        )
    name = f"{preset.name.title().replace('_', '')}ChatOptions"
    return _build(
        name, _ChatChecks, ChatOptions.model_fields, preset, preset.extra_options, validators
    )


def embedding_options_model(preset: Preset) -> type[BaseModel]:
    """The embedding option model for ``preset``."""
    if preset.allowed is None and not (preset.unsupported & set(EmbeddingOptions.model_fields)):
        return EmbeddingOptions
    name = f"{preset.name.title().replace('_', '')}EmbeddingOptions"
    return _build(name, _Options, EmbeddingOptions.model_fields, preset, ())


def check_supported(
    params: Mapping[str, Any], model: type[BaseModel], *, provider: str, title: str, what: str
) -> None:
    """Reject options that exist in the family but not for this provider, saying so plainly
    (an option that exists nowhere is left to :func:`llmrouter.validation.validate_options`)."""
    fields = model.model_fields
    refused = sorted(k for k in params if k not in fields and k in KNOWN_OPTIONS)
    if not refused:
        return
    names = ", ".join(repr(k) for k in refused)
    raise InvalidRequestError(
        f"{provider} ({title}) does not support the option(s) {names} for {what}. "
        f"Supported: {', '.join(sorted(fields))}. To send a field anyway, pass "
        "extra_body={...}",
        param=refused[0],
        provider=provider,
    )
