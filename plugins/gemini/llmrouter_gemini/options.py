"""The options ``completion(model="gemini/...", **options)`` accepts, checked before sending.

Callers write OpenAI's option names (an app written against OpenAI's shapes must run unchanged),
so the model holds OpenAI's names for what ``generateContent`` can do (``max_tokens``, ``n``,
``stop``, penalties, ``seed``, ``tools``, ``response_format``, ``reasoning_effort``...) plus
Gemini's own switches (``api_version``, ``thinking``, ``safety_settings``, ``cached_content``,
``drop_params``). :mod:`.request` turns them into Gemini's fields.

OpenAI options Gemini has no equivalent for (:data:`UNSUPPORTED`: ``logprobs``, ``logit_bias``,
``user``, ``parallel_tool_calls=False``...) are refused with a message that says why and lists
what is supported, before the model validates the rest; ``drop_params=True`` drops them instead,
as LiteLLM users know it. A value that asks for nothing (``None``, ``logprobs=False``,
``parallel_tool_calls=True``) is dropped silently: it changes nothing.

Everything is strict (``temperature="0.5"`` is an error, not a guess), frozen and
``extra="forbid"``: an unknown option lists the supported ones and the ``extra_body`` hatch.
Embedding calls have their own, smaller model (:class:`GeminiEmbeddingOptions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmrouter.translation import check_token_limit, check_tool_choice, drop_unsupported
from llmrouter.validation import (
    validate_options,
    validate_response_format,
    validate_stop,
    validate_tools,
)

__all__ = [
    "API_VERSION",
    "API_VERSIONS",
    "TASK_TYPES",
    "THINKING_KEYS",
    "UNSUPPORTED",
    "GeminiEmbeddingOptions",
    "GeminiOptions",
    "parse_embedding_options",
    "parse_options",
]

#: The API version the current official SDK (``google-genai`` 3.x) uses, and so ours by default.
API_VERSION: Final = "v1"
#: Every version a call may pin: ``v1beta`` carries the newest features first.
API_VERSIONS: Final = ("v1", "v1beta")

#: OpenAI options ``generateContent`` has no equivalent for -> why, for the error message.
UNSUPPORTED: Final[Mapping[str, str]] = {
    "logprobs": "log probabilities are not translated",
    "top_logprobs": "log probabilities are not translated",
    "logit_bias": "no logit bias",
    "user": "no end-user id field",
    "safety_identifier": "no end-user id field",
    "parallel_tool_calls": "parallel function calls cannot be turned off",
    "modalities": "text output only through this plugin",
    "audio": "no audio output through this plugin",
    "prediction": "no predicted outputs",
    "store": "no stored completions",
    "metadata": "no request metadata",
    "service_tier": "no service tier setting",
    "verbosity": "no verbosity setting",
    "web_search_options": "Google Search is a Gemini tool (send it with extra_body)",
    "prompt_cache_key": "use cached_content= (the name of a cachedContents entry)",
    "functions": "use tools=",
    "function_call": "use tool_choice=",
}

#: The keys of Gemini's ``thinkingConfig`` the ``thinking`` option takes (as Gemini spells them).
THINKING_KEYS: Final = ("thinkingBudget", "thinkingLevel", "includeThoughts")
_THINKING_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH")

#: Gemini's embedding task types (``task_type=``).
TASK_TYPES: Final = (
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
)


class GeminiOptions(BaseModel):
    """Every option of a ``gemini/...`` chat call (OpenAI's names where they exist)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    api_version: Literal["v1", "v1beta"] | None = Field(
        None,
        description="The API version in the URL. Default 'v1', the one the current official "
        "SDK uses; 'v1beta' carries the newest features.",
    )
    drop_params: bool | None = Field(
        None,
        description="Drop the OpenAI options Gemini lacks (logprobs, logit_bias, user, "
        "parallel_tool_calls=False...) instead of refusing them.",
    )
    max_tokens: int | None = Field(
        None, ge=1, description="Most tokens to generate; sent as generationConfig.maxOutputTokens."
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, description="OpenAI's newer name for max_tokens; sent as maxOutputTokens."
    )
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="0..2.")
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="Sent as topP.")
    top_k: int | None = Field(None, ge=1, description="Sent as topK.")
    n: int | None = Field(
        None, ge=1, description="Answers per call; sent as candidateCount (one choice each)."
    )
    stop: str | list[str] | None = Field(
        None, description="Sequence(s) that end the answer (up to 5); sent as stopSequences."
    )
    presence_penalty: float | None = Field(
        None, ge=-2.0, lt=2.0, description="Sent as presencePenalty."
    )
    frequency_penalty: float | None = Field(
        None, ge=-2.0, lt=2.0, description="Sent as frequencyPenalty."
    )
    seed: int | None = Field(None, description="Sent as seed.")
    response_format: dict[str, Any] | None = Field(
        None,
        description="{'type': 'json_object'} (responseMimeType application/json), "
        "{'type': 'json_schema', 'json_schema': {'schema': {...}}} (also responseJsonSchema) "
        "or {'type': 'text'}.",
    )
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = Field(
        None, description="Sent as thinkingConfig (see the documented mapping)."
    )
    thinking: dict[str, Any] | None = Field(
        None,
        description="Gemini's thinkingConfig, sent as given: {'thinkingBudget': int, "
        "'thinkingLevel': 'LOW'..., 'includeThoughts': bool}.",
    )
    safety_settings: list[dict[str, Any]] | None = Field(
        None,
        description="Gemini's safetySettings, sent as given: [{'category': "
        "'HARM_CATEGORY_...', 'threshold': 'BLOCK_...'}].",
    )
    cached_content: str | None = Field(
        None, description="The name of a cachedContents entry ('cachedContents/...')."
    )
    tools: list[dict[str, Any]] | None = Field(
        None, description="OpenAI function tools; sent as functionDeclarations."
    )
    tool_choice: str | dict[str, Any] | None = Field(
        None,
        description="'auto', 'required' (Gemini's ANY), 'none', or "
        "{'type': 'function', 'function': {'name': ...}} (ANY with allowedFunctionNames).",
    )
    stream_options: dict[str, Any] | None = Field(
        None,
        description="Accepted for OpenAI compatibility and not sent: a stream's last chunk "
        "always carries the usage.",
    )

    @field_validator("stop")
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> str | list[str] | None:
        validate_stop(v)
        if isinstance(v, list) and len(v) > 5:
            raise ValueError("Gemini takes at most 5 stop sequences")
        return v

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if v is not None:
            validate_tools(
                v,
                other_types=" (Gemini's own tools, such as Google Search or code execution, are "
                "not translated: send Gemini's whole tools list with extra_body={'tools': [...]})",
            )
        return v

    @field_validator("response_format")
    @classmethod
    def _response_format(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            validate_response_format(v, schema_required_by="Gemini's structured output")
        return v

    @field_validator("thinking")
    @classmethod
    def _thinking(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        unknown = [k for k in v if k not in THINKING_KEYS]
        if unknown or not v:
            raise ValueError(
                "thinking is Gemini's thinkingConfig: keys "
                + ", ".join(repr(k) for k in THINKING_KEYS)
                + (f" (got {', '.join(repr(k) for k in unknown)})" if unknown else "")
            )
        budget = v.get("thinkingBudget")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)):
            raise ValueError("thinking['thinkingBudget'] must be an integer (0 off, -1 dynamic)")
        level = v.get("thinkingLevel")
        # Google's REST examples write levels in lower case, the SDK's enum in upper case: the
        # API reads either, and the value is sent as given.
        if level is not None and (
            not isinstance(level, str) or level.upper() not in _THINKING_LEVELS
        ):
            raise ValueError(
                "thinking['thinkingLevel'] must be one of "
                + ", ".join(repr(x) for x in _THINKING_LEVELS)
            )
        include = v.get("includeThoughts")
        if include is not None and not isinstance(include, bool):
            raise ValueError("thinking['includeThoughts'] must be a bool")
        return v

    @field_validator("safety_settings")
    @classmethod
    def _safety(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for i, entry in enumerate(v or ()):
            if not isinstance(entry.get("category"), str) or not isinstance(
                entry.get("threshold"), str
            ):
                raise ValueError(
                    f"safety_settings[{i}] must be {{'category': 'HARM_CATEGORY_...', "
                    "'threshold': 'BLOCK_...'}"
                )
        return v

    @model_validator(mode="after")
    def _together(self) -> GeminiOptions:
        """Checks across fields: one token limit, one thinking setting, a tool choice that
        names a tool."""
        check_token_limit(self.max_tokens, self.max_completion_tokens)
        if self.reasoning_effort is not None and self.thinking is not None:
            raise ValueError(
                "pass reasoning_effort or thinking, not both (both set Gemini's thinkingConfig)"
            )
        check_tool_choice(self.tools, self.tool_choice)
        return self

    @property
    def version(self) -> str:
        """The API version this call speaks."""
        return self.api_version or API_VERSION

    @property
    def token_limit(self) -> int | None:
        """``max_tokens`` or ``max_completion_tokens``, whichever was given."""
        return self.max_tokens if self.max_tokens is not None else self.max_completion_tokens


class GeminiEmbeddingOptions(BaseModel):
    """Every option of a ``gemini/...`` embedding call."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    api_version: Literal["v1", "v1beta"] | None = Field(
        None, description="The API version in the URL (default 'v1')."
    )
    dimensions: int | None = Field(
        None, ge=1, description="Sent as outputDimensionality (truncated embeddings)."
    )
    task_type: Literal[TASK_TYPES] | None = Field(  # type: ignore[valid-type]
        None, description="Gemini's taskType: RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT..."
    )
    title: str | None = Field(
        None, description="A document title (with task_type='RETRIEVAL_DOCUMENT' only)."
    )
    encoding_format: Literal["float"] | None = Field(
        None, description="Only 'float': Gemini sends floats."
    )

    @model_validator(mode="after")
    def _title(self) -> GeminiEmbeddingOptions:
        if self.title is not None and self.task_type != "RETRIEVAL_DOCUMENT":
            raise ValueError("title is for task_type='RETRIEVAL_DOCUMENT' only (Gemini's rule)")
        return self

    @property
    def version(self) -> str:
        return self.api_version or API_VERSION


def parse_options(params: Mapping[str, Any], *, provider: str, model: str) -> GeminiOptions:
    """``params`` checked: unsupported options refused (or, with ``drop_params=True``,
    dropped), then the rest validated against :class:`GeminiOptions`.

    Every problem is an :class:`~llmrouter.errors.InvalidRequestError` naming the option.
    """
    kept = drop_unsupported(
        params,
        UNSUPPORTED,
        api="Gemini's generateContent",
        service="Gemini",
        supported=GeminiOptions.model_fields,
        provider=provider,
        model=model,
    )
    return validate_options(GeminiOptions, kept, provider=provider, what="chat")


def parse_embedding_options(params: Mapping[str, Any], *, provider: str) -> GeminiEmbeddingOptions:
    """``params`` of an embedding call validated against :class:`GeminiEmbeddingOptions`
    (``user`` is refused: Gemini has no such field)."""
    return validate_options(GeminiEmbeddingOptions, params, provider=provider, what="embedding")
