"""The options ``completion(model="bedrock/...", **options)`` accepts, checked before sending.

Callers write OpenAI's option names (an app written against OpenAI's shapes must run unchanged),
so :class:`BedrockOptions` holds OpenAI's names for what the Converse API can do (``max_tokens``,
``temperature``, ``top_p``, ``stop``, ``tools``, ``response_format``, ``reasoning_effort``...)
plus Bedrock's own fields under snake_case names (``additional_model_request_fields``,
``guardrail_config``, ``performance_config``, ``request_metadata``...). :mod:`.request` turns
them into Converse's fields.

The AWS credential and region options (LiteLLM's names: ``aws_access_key_id``,
``aws_secret_access_key``, ``aws_session_token``, ``aws_profile_name``, ``aws_region_name``) are
taken out first and checked here by hand into :class:`AwsSettings`, never by pydantic: a
validation error quotes the value it refused, and these values are secrets. The secret ones are
kept as :class:`~llmrouter.secrets.Secret` (so their text is also scrubbed from any error text).

OpenAI options Converse has no equivalent for (:data:`UNSUPPORTED`: ``n`` > 1, ``logprobs``,
penalties, ``seed``, ``user``...) are refused with a message that says why and lists what is
supported, before the rest is validated; ``drop_params=True`` drops them instead, as LiteLLM
users know it. A value that asks for nothing (``None``, ``n=1``, ``logprobs=False``,
``parallel_tool_calls=True``) is dropped silently: it changes nothing.

Everything is strict (``temperature="0.5"`` is an error, not a guess), frozen and
``extra="forbid"``: an unknown option lists the supported ones and the ``extra_body`` hatch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmrouter.errors import InvalidRequestError
from llmrouter.secrets import Secret
from llmrouter.translation import check_token_limit, check_tool_choice, drop_unsupported
from llmrouter.validation import (
    validate_options,
    validate_response_format,
    validate_stop,
    validate_tools,
)

__all__ = [
    "CREDENTIAL_OPTIONS",
    "TOOL_NAME",
    "UNSUPPORTED",
    "AwsSettings",
    "BedrockOptions",
    "parse_options",
]

#: OpenAI options the Converse API has no equivalent for -> why, for the error message.
UNSUPPORTED: Final[Mapping[str, str]] = {
    "n": "one answer per call (n must be 1)",
    "logprobs": "no log probabilities",
    "top_logprobs": "no log probabilities",
    "presence_penalty": "no penalties",
    "frequency_penalty": "no penalties",
    "seed": "no seed",
    "logit_bias": "no logit bias",
    "user": "no end-user id (request_metadata={'user': ...} tags the invocation log instead)",
    "safety_identifier": "no end-user id",
    "parallel_tool_calls": "parallel tool calls cannot be turned off",
    "modalities": "text output only",
    "audio": "no audio output",
    "prediction": "no predicted outputs",
    "store": "no stored completions",
    "metadata": "no OpenAI metadata (request_metadata= is Bedrock's)",
    "verbosity": "no verbosity setting",
    "web_search_options": "no web search option",
    "prompt_cache_key": "caching is marked with cache_control on content parts (cache points)",
    "functions": "use tools=",
    "function_call": "use tool_choice=",
}

#: The credential and region options, taken out before the option model sees the rest.
CREDENTIAL_OPTIONS: Final = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_profile_name",
    "aws_region_name",
)

#: Converse's tool name rule (``ToolName`` in the service model).
TOOL_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# A region ends up in the host name of the default endpoint: letters, digits and dashes only.
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PROFILE = re.compile(r"[^\s\[\]]+")


class BedrockOptions(BaseModel):
    """Every option of a ``bedrock/...`` chat call (OpenAI's names where they exist)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    drop_params: bool | None = Field(
        None,
        description="Drop the OpenAI options Converse lacks (n>1, logprobs, penalties, seed, "
        "user...) instead of refusing them; tool_choice='none' with tool turns in the "
        "conversation is then sent as 'auto'.",
    )
    max_tokens: int | None = Field(
        None, ge=1, description="Most tokens to generate; sent as inferenceConfig.maxTokens."
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, description="OpenAI's newer name for max_tokens; sent as maxTokens."
    )
    temperature: float | None = Field(
        None, ge=0.0, le=1.0, description="0..1; sent as inferenceConfig.temperature."
    )
    top_p: float | None = Field(
        None, ge=0.0, le=1.0, description="0..1; sent as inferenceConfig.topP."
    )
    top_k: int | None = Field(
        None,
        ge=1,
        description="Not a Converse field: sent in additionalModelRequestFields as the model "
        "family names it (Anthropic and Mistral models: top_k; Amazon Nova: "
        "inferenceConfig.topK). Other families: pass additional_model_request_fields.",
    )
    stop: str | list[str] | None = Field(
        None, description="Sequence(s) that end the answer; sent as stopSequences."
    )
    tools: list[dict[str, Any]] | None = Field(
        None, description="OpenAI function tools; sent as toolConfig.tools[].toolSpec."
    )
    tool_choice: str | dict[str, Any] | None = Field(
        None,
        description="'auto', 'required' (Converse's any), a function "
        "({'type': 'function', 'function': {'name': ...}}, Converse's tool), or 'none' "
        "(no toolConfig is sent; see the docs when the conversation holds tool turns).",
    )
    response_format: dict[str, Any] | None = Field(
        None,
        description="{'type': 'json_schema', 'json_schema': {'schema': {...}}} (sent as "
        "outputConfig.textFormat) or {'type': 'text'}.",
    )
    reasoning_effort: Literal["low", "medium", "high", "xhigh", "max"] | None = Field(
        None, description="Sent as outputConfig.effort."
    )
    thinking: dict[str, Any] | None = Field(
        None,
        description="A Claude model's thinking config (Anthropic's shape, e.g. {'type': "
        "'enabled', 'budget_tokens': 2048}), sent in additionalModelRequestFields.thinking.",
    )
    service_tier: Literal["auto", "default", "flex", "priority", "reserved"] | None = Field(
        None,
        description="Bedrock's serviceTier.type; 'auto' sends nothing (the account's default).",
    )
    stream_options: dict[str, Any] | None = Field(
        None,
        description="OpenAI's {'include_usage': bool}: a stream ends with the usage chunk "
        "unless include_usage is False (then no usage chunk, as with OpenAI: no usage, "
        "metrics or trace, and no cost, for the stream). Nothing is sent.",
    )
    additional_model_request_fields: dict[str, Any] | None = Field(
        None,
        description="Model-specific fields, sent as additionalModelRequestFields (merged with "
        "what top_k and thinking add; a key given here wins).",
    )
    additional_model_response_field_paths: list[str] | None = Field(
        None,
        description="JSON pointers of model-specific response fields to return "
        "(additionalModelResponseFieldPaths); they come back on the response.",
    )
    guardrail_config: dict[str, Any] | None = Field(
        None,
        description="Bedrock's guardrailConfig, sent as given: {'guardrailIdentifier': ..., "
        "'guardrailVersion': ..., 'trace': 'enabled'}.",
    )
    performance_config: dict[str, Any] | None = Field(
        None, description="Bedrock's performanceConfig, e.g. {'latency': 'optimized'}."
    )
    request_metadata: dict[str, str] | None = Field(
        None, description="Bedrock's requestMetadata: string tags for the invocation log."
    )

    @field_validator("stop")
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> str | list[str] | None:
        validate_stop(v)
        return v

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if v is not None:
            if not v:
                raise ValueError(
                    "tools must hold at least one function (Converse's toolConfig needs one); "
                    "leave tools out for a call without tools"
                )
            validate_tools(
                v,
                name_pattern=TOOL_NAME,
                name_rule="must be 1 to 64 letters, digits, '_' or '-' (Converse's tool names)",
                other_types=" (Bedrock's system tools are not translated: send the whole "
                "toolConfig with extra_body={'toolConfig': {...}})",
            )
        return v

    @field_validator("stream_options")
    @classmethod
    def _stream_options(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        unknown = sorted(set(v) - {"include_usage", "include_obfuscation"})
        if unknown:
            raise ValueError(
                f"stream_options takes include_usage (and OpenAI's include_obfuscation, which "
                f"changes nothing here), not {', '.join(map(repr, unknown))}"
            )
        for name in ("include_usage", "include_obfuscation"):
            if name in v and not isinstance(v[name], bool):
                raise ValueError(f"stream_options.{name} must be true or false")
        return v

    @field_validator("response_format")
    @classmethod
    def _response_format(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        validate_response_format(v, schema_required_by="Bedrock's structured output")
        if v["type"] == "json_object":
            raise ValueError(
                "{'type': 'json_object'} has no Converse equivalent: pass {'type': "
                "'json_schema', 'json_schema': {'schema': {...}}} (sent as "
                "outputConfig.textFormat) for guaranteed JSON"
            )
        return v

    @field_validator("thinking")
    @classmethod
    def _thinking(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None and not isinstance(v.get("type"), str):
            raise ValueError("thinking needs a 'type' ('enabled', 'adaptive' or 'disabled')")
        return v

    @field_validator("additional_model_response_field_paths")
    @classmethod
    def _paths(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not all(p.startswith("/") for p in v):
            raise ValueError(
                "each path is a JSON pointer starting with '/' (e.g. '/stop_sequence')"
            )
        return v

    @model_validator(mode="after")
    def _together(self) -> BedrockOptions:
        """Checks across fields: one token limit, a tool choice that names a tool."""
        check_token_limit(self.max_tokens, self.max_completion_tokens)
        check_tool_choice(self.tools, self.tool_choice)
        return self

    @property
    def token_limit(self) -> int | None:
        """``max_tokens`` or ``max_completion_tokens``, whichever was given."""
        return self.max_tokens if self.max_tokens is not None else self.max_completion_tokens


@dataclass(frozen=True, slots=True, repr=False)
class AwsSettings:
    """The call's AWS credential and region options, checked; ``None`` where not given."""

    access_key_id: str | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    profile_name: str | None = None
    region_name: str | None = None

    @property
    def explicit(self) -> bool:
        """Whether the call names its credentials (keys or a profile) itself."""
        return self.access_key_id is not None or self.profile_name is not None

    def __repr__(self) -> str:
        key = "set" if self.secret_access_key else "unset"
        return (
            f"AwsSettings(access_key_id={'set' if self.access_key_id else 'unset'}, "
            f"secret_access_key=<{key}>, profile_name={self.profile_name!r}, "
            f"region_name={self.region_name!r})"
        )


_NO_SETTINGS = AwsSettings()


def _credential_text(name: str, value: object, *, provider: str, model: str) -> str:
    """A credential option's value, checked without ever quoting it."""
    if not isinstance(value, str) or not value.strip():
        shown = "an empty string" if isinstance(value, str) else f"a {type(value).__name__}"
        raise InvalidRequestError(
            f"{name} must be a non-empty string, got {shown}",
            param=name,
            provider=provider,
            model=model,
        )
    return value.strip()


def _aws_settings(values: Mapping[str, Any], *, provider: str, model: str) -> AwsSettings:
    """The credential options of a call, checked: keys come in pairs, a profile or keys (not
    both), a region fit for a host name."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return _NO_SETTINGS
    text = {k: _credential_text(k, v, provider=provider, model=model) for k, v in given.items()}
    key_id, secret = text.get("aws_access_key_id"), text.get("aws_secret_access_key")
    token, profile = text.get("aws_session_token"), text.get("aws_profile_name")
    region = text.get("aws_region_name")
    if (key_id is None) != (secret is None) or (token is not None and key_id is None):
        missing = "aws_access_key_id" if key_id is None else "aws_secret_access_key"
        raise InvalidRequestError(
            f"{missing} is missing: explicit AWS credentials are aws_access_key_id and "
            "aws_secret_access_key together (plus aws_session_token for temporary ones)",
            param=missing,
            provider=provider,
            model=model,
        )
    if profile is not None and key_id is not None:
        raise InvalidRequestError(
            "pass aws_profile_name or explicit keys (aws_access_key_id/aws_secret_access_key), "
            "not both: they name two different sets of credentials",
            param="aws_profile_name",
            provider=provider,
            model=model,
        )
    if profile is not None and not _PROFILE.fullmatch(profile):
        raise InvalidRequestError(
            "aws_profile_name must be a profile name from your AWS config (no spaces or brackets)",
            param="aws_profile_name",
            provider=provider,
            model=model,
        )
    if region is not None and not _REGION.fullmatch(region):
        raise InvalidRequestError(
            f"aws_region_name {region[:40]!r} is not an AWS region name such as 'us-east-1' "
            "(lower-case letters, digits and dashes)",
            param="aws_region_name",
            provider=provider,
            model=model,
        )
    return AwsSettings(
        access_key_id=key_id,
        secret_access_key=None if secret is None else Secret(secret),
        session_token=None if token is None else Secret(token),
        profile_name=profile,
        region_name=region,
    )


def parse_options(
    params: Mapping[str, Any], *, provider: str, model: str
) -> tuple[BedrockOptions, AwsSettings]:
    """``params`` checked: the credential options taken out (:class:`AwsSettings`),
    unsupported options refused (or, with ``drop_params=True``, dropped), then the rest
    validated against :class:`BedrockOptions`.

    Every problem is an :class:`~llmrouter.errors.InvalidRequestError` naming the option.
    """
    if not params:
        return (
            validate_options(BedrockOptions, params, provider=provider, what="chat"),
            _NO_SETTINGS,
        )
    credentials = {name: value for name, value in params.items() if name in CREDENTIAL_OPTIONS}
    if credentials:
        params = {name: value for name, value in params.items() if name not in credentials}
    kept = drop_unsupported(
        params,
        UNSUPPORTED,
        api="Bedrock's Converse API",
        service="Converse",
        supported=[*BedrockOptions.model_fields, *CREDENTIAL_OPTIONS],
        provider=provider,
        model=model,
    )
    settings = _aws_settings(credentials, provider=provider, model=model)
    options = validate_options(BedrockOptions, kept, provider=provider, what="chat")
    return options, settings
