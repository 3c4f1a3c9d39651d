"""Attribute names and well-known values: the OpenTelemetry GenAI semantic conventions, plus
llmrouter's own ``llmrouter.*`` attributes.

The GenAI names are copied from ``opentelemetry-semantic-conventions`` (module
``opentelemetry.semconv._incubating.attributes.gen_ai_attributes``, checked against 0.66b2)
rather than imported: that package is incubating (its ``_incubating`` module may move or rename
at any release) and is not a dependency of this plugin, which needs ``opentelemetry-api`` only.
The strings are the stable part; a test compares them with the installed package.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "OPERATION_NAMES",
    "PROVIDER_NAMES",
    "REQUEST_PARAMS",
]

# --- GenAI semantic conventions ----------------------------------------------------------------

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
#: Deprecated by the conventions in favour of ``gen_ai.provider.name``; still set, because many
#: backends (and older instrumentations) group by it.
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"

# General conventions (stable): where the request went, and what failed.
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"

# --- llmrouter's own ----------------------------------------------------------------------------

LLMROUTER_ALIAS: Final = "llmrouter.alias"
LLMROUTER_DEPLOYMENT: Final = "llmrouter.deployment"
LLMROUTER_ATTEMPTS: Final = "llmrouter.attempts"
LLMROUTER_ATTEMPT: Final = "llmrouter.attempt"
LLMROUTER_DECISION: Final = "llmrouter.decision"
LLMROUTER_CACHE_HIT: Final = "llmrouter.cache_hit"
LLMROUTER_STREAM: Final = "llmrouter.stream"
LLMROUTER_CHUNKS: Final = "llmrouter.chunks"
LLMROUTER_REQUEST_ID: Final = "llmrouter.request_id"
LLMROUTER_COST_USD: Final = "llmrouter.cost_usd"
LLMROUTER_PROVIDER: Final = "llmrouter.provider"

# --- values ----------------------------------------------------------------------------------

#: llmrouter's operation -> ``gen_ai.operation.name``. ``list_models`` has no well-known value
#: and keeps its own name (the conventions allow values outside the list).
OPERATION_NAMES: Final[dict[str, str]] = {
    "chat": "chat",
    "text_completion": "text_completion",
    "embedding": "embeddings",
    "list_models": "list_models",
}

#: llmrouter's provider name -> the well-known ``gen_ai.provider.name`` (and ``gen_ai.system``)
#: value where the conventions list one. llmrouter's ``gemini`` speaks the Gemini API
#: (generativelanguage.googleapis.com), which the list names ``gcp.gemini`` (``gcp.vertex_ai``
#: is Vertex); ``azure`` is Azure OpenAI (``azure.ai.openai``, not the model-inference API),
#: ``bedrock`` the Bedrock runtime. Together AI has no well-known value: its provider name is
#: used as is, as is any other provider's (a third-party plugin's ``echo`` stays ``echo``; one
#: named like a well-known value, ``groq``, ``deepseek`` or ``perplexity``, matches it that way).
PROVIDER_NAMES: Final[dict[str, str]] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "together_ai": "together_ai",
}

#: A call's option -> the request attribute it fills, with the Python types accepted for it
#: (an option of another type, which the provider would have refused anyway, is not recorded).
REQUEST_PARAMS: Final[dict[str, tuple[str, tuple[type, ...]]]] = {
    "max_tokens": (GEN_AI_REQUEST_MAX_TOKENS, (int,)),
    "max_completion_tokens": (GEN_AI_REQUEST_MAX_TOKENS, (int,)),
    "temperature": (GEN_AI_REQUEST_TEMPERATURE, (int, float)),
    "top_p": (GEN_AI_REQUEST_TOP_P, (int, float)),
    "top_k": (GEN_AI_REQUEST_TOP_K, (int, float)),
    "frequency_penalty": (GEN_AI_REQUEST_FREQUENCY_PENALTY, (int, float)),
    "presence_penalty": (GEN_AI_REQUEST_PRESENCE_PENALTY, (int, float)),
    "seed": (GEN_AI_REQUEST_SEED, (int,)),
}
