"""The providers of the OpenAI family, as data.

Each provider is a :class:`Preset`: where it lives, which variables hold its key and base URL,
whether a key is required, which of OpenAI's options it supports and which it adds, which
endpoints it serves, and a few named quirks. The code that speaks the wire format is llmrouter's
OpenAI-compatible toolkit (:mod:`llmrouter.openai_compat`), to which a preset hands its
:attr:`Preset.dialect`; a new OpenAI-compatible service is a new ``Preset`` plus an entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from llmrouter.errors import APIStatusError, BadRequestError
from llmrouter.openai_compat import ALL_ENDPOINTS, CODE_CLASSES, Dialect, Endpoint
from llmrouter_openai import options as o
from llmrouter_openai.errors import InsufficientQuotaError

__all__ = [
    "DEEPINFRA",
    "FIREWORKS_AI",
    "GROQ",
    "OLLAMA",
    "OPENAI",
    "OPENAI_COMPATIBLE",
    "OPENROUTER",
    "PRESETS",
    "Endpoint",
    "Preset",
]

#: The family's error codes: OpenAI's, plus a quota that waiting does not restore.
FAMILY_CODE_CLASSES: Mapping[str, type[APIStatusError]] = MappingProxyType(
    {**CODE_CLASSES, "insufficient_quota": InsufficientQuotaError}
)

#: Statuses the core has no class for. 413 (Groq: the request alone exceeds the tokens-per-minute
#: limit; others: body too large) is a client error that a retry cannot fix, and must not be
#: refined into a retryable RateLimitError by its ``rate_limit_exceeded`` code.
FAMILY_STATUS_CLASSES: Mapping[int, type[APIStatusError]] = MappingProxyType({413: BadRequestError})


@dataclass(frozen=True, slots=True)
class Preset:
    """One provider of the family. Plain data; see the module docstring."""

    #: The provider name: the entry point and the ``<provider>/`` prefix of a model string.
    name: str
    #: Human name for messages and docs.
    title: str
    #: ``None``: there is no default, a base URL must be given (``openai_compatible``).
    default_api_base: str | None
    #: Searched in order after ``api_key=``; the first non-empty one wins.
    api_key_env: tuple[str, ...] = ()
    #: Searched in order after ``api_base=``.
    api_base_env: tuple[str, ...] = ()
    #: ``False``: no key is fine (local servers); no ``Authorization`` header is sent then.
    key_required: bool = True
    #: Appended to a base URL that does not end with it (``ollama``: ``/v1``).
    base_suffix: str = ""
    #: OpenAI options this provider rejects or ignores (removed from its option set).
    unsupported: frozenset[str] = frozenset()
    #: If set, the provider supports exactly these of OpenAI's options (plus ``extra_options``).
    allowed: frozenset[str] | None = None
    #: Options the provider adds to OpenAI's set (or redefines, e.g. other enum values).
    extra_options: tuple[o.ExtraOption, ...] = ()
    #: Upper bound of ``n``.
    max_n: int = 128
    #: Upper bound on the number of ``stop`` sequences (``None``: no limit of its own).
    max_stop: int | None = 4
    endpoints: frozenset[Endpoint] = ALL_ENDPOINTS
    #: Headers filled from the environment when set, e.g. OpenRouter's attribution headers:
    #: ``(header, (variable, ...))``. The caller's ``extra_headers`` win.
    header_env: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Quirk: send the caller's ``max_tokens`` as ``max_completion_tokens`` on the chat endpoint
    #: (OpenAI deprecated ``max_tokens`` there, and its reasoning models reject it).
    max_tokens_as_max_completion_tokens: bool = False
    #: Quirk: the API answers 400 to a message carrying a ``name`` (Groq).
    rejects_message_name: bool = False
    #: ``/embeddings`` takes token ids (``input`` a list of ints or of such lists), as OpenAI's
    #: API and vLLM's server do; otherwise token ids are refused before sending.
    embedding_token_ids: bool = False
    #: Where the provider documents its API (for messages and docs).
    docs_url: str = ""
    #: The wire-format facts above, as the toolkit reads them (derived, not given).
    dialect: Dialect = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dialect = Dialect(
            title=self.title,
            default_api_base=self.default_api_base,
            api_base_env=self.api_base_env,
            base_suffix=self.base_suffix,
            api_key_env=self.api_key_env,
            key_required=self.key_required,
            header_env=self.header_env,
            endpoints=self.endpoints,
            chat_renames=(
                {"max_tokens": "max_completion_tokens"}
                if self.max_tokens_as_max_completion_tokens
                else {}
            ),
            rejects_message_name=self.rejects_message_name,
            max_stop=self.max_stop,
            embedding_token_ids=self.embedding_token_ids,
            code_classes=FAMILY_CODE_CLASSES,
            status_classes=FAMILY_STATUS_CLASSES,
        )
        object.__setattr__(self, "dialect", dialect)


OPENAI = Preset(
    name="openai",
    title="OpenAI",
    default_api_base="https://api.openai.com/v1",
    api_key_env=("OPENAI_API_KEY",),
    api_base_env=("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    max_tokens_as_max_completion_tokens=True,
    embedding_token_ids=True,
    docs_url="https://platform.openai.com/docs/api-reference/chat/create",
)

#: Any server that speaks OpenAI's API: vLLM, llama.cpp's server, LM Studio, Ollama, TGI, ...
#: The key variable is its own: an OpenAI key is never sent to an arbitrary server.
OPENAI_COMPATIBLE = Preset(
    name="openai_compatible",
    title="OpenAI-compatible server",
    default_api_base=None,
    api_key_env=("OPENAI_COMPATIBLE_API_KEY",),
    api_base_env=("OPENAI_COMPATIBLE_API_BASE",),
    key_required=False,
    unsupported=o.PLATFORM_ONLY,
    extra_options=(
        o.TOP_K_VLLM,
        o.MIN_P,
        o.REPETITION_PENALTY,
        o.MIN_TOKENS,
        o.IGNORE_EOS,
        o.CHAT_TEMPLATE_KWARGS,
    ),
    max_stop=None,
    embedding_token_ids=True,
    docs_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
)

GROQ = Preset(
    name="groq",
    title="Groq",
    default_api_base="https://api.groq.com/openai/v1",
    api_key_env=("GROQ_API_KEY",),
    api_base_env=("GROQ_API_BASE",),
    # Groq's OpenAI-compatibility page: logprobs, logit_bias, top_logprobs and messages[].name
    # are a 400, and n must be 1.
    unsupported=o.PLATFORM_ONLY | {"logprobs", "top_logprobs", "logit_bias"},
    extra_options=(
        o.GROQ_SERVICE_TIER,
        o.GROQ_REASONING_EFFORT,
        o.REASONING_FORMAT,
        o.INCLUDE_REASONING,
    ),
    max_n=1,
    endpoints=frozenset({"chat", "models"}),
    rejects_message_name=True,
    docs_url="https://console.groq.com/docs/openai",
)

FIREWORKS_AI = Preset(
    name="fireworks_ai",
    title="Fireworks AI",
    default_api_base="https://api.fireworks.ai/inference/v1",
    api_key_env=("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"),
    api_base_env=("FIREWORKS_API_BASE",),
    unsupported=o.PLATFORM_ONLY,
    extra_options=(
        o.TOP_K,
        o.MIN_P,
        o.REPETITION_PENALTY,
        o.MIROSTAT_TARGET,
        o.MIROSTAT_LR,
        o.CONTEXT_LENGTH_EXCEEDED_BEHAVIOR,
    ),
    max_stop=None,
    docs_url="https://docs.fireworks.ai/api-reference/post-chatcompletions",
)

DEEPINFRA = Preset(
    name="deepinfra",
    title="DeepInfra",
    default_api_base="https://api.deepinfra.com/v1/openai",
    api_key_env=("DEEPINFRA_API_KEY",),
    api_base_env=("DEEPINFRA_API_BASE",),
    unsupported=o.PLATFORM_ONLY,
    extra_options=(o.TOP_K, o.MIN_P, o.REPETITION_PENALTY),
    max_stop=None,
    docs_url="https://deepinfra.com/docs/openai_api",
)

OPENROUTER = Preset(
    name="openrouter",
    title="OpenRouter",
    default_api_base="https://openrouter.ai/api/v1",
    api_key_env=("OPENROUTER_API_KEY",),
    api_base_env=("OPENROUTER_API_BASE",),
    unsupported=o.PLATFORM_ONLY,
    extra_options=(
        o.TOP_K,
        o.MIN_P,
        o.TOP_A,
        o.REPETITION_PENALTY,
        o.TRANSFORMS,
        o.MODELS,
        o.ROUTE,
        o.PROVIDER_PREFS,
        o.REASONING,
        o.USAGE_ACCOUNTING,
    ),
    max_stop=None,
    header_env=(
        ("HTTP-Referer", ("OPENROUTER_SITE_URL", "OR_SITE_URL")),
        ("X-Title", ("OPENROUTER_APP_NAME", "OR_APP_NAME")),
    ),
    docs_url="https://openrouter.ai/docs/api-reference/parameters",
)

#: Ollama's OpenAI endpoint. Its compatibility page lists exactly which fields it reads; the
#: rest (tool_choice, logit_bias, user, n, and top_k & co, which live in a Modelfile) would be
#: ignored silently, so they are errors here.
OLLAMA = Preset(
    name="ollama",
    title="Ollama",
    default_api_base="http://localhost:11434/v1",
    api_key_env=("OLLAMA_API_KEY",),
    api_base_env=("OLLAMA_API_BASE",),
    key_required=False,
    base_suffix="/v1",
    allowed=frozenset(
        {
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "seed",
            "presence_penalty",
            "frequency_penalty",
            "response_format",
            "tools",
            "logprobs",
            "top_logprobs",
            "stream_options",
            "encoding_format",
            "dimensions",
        }
    ),
    extra_options=(o.OLLAMA_REASONING_EFFORT, o.REASONING),
    max_stop=None,
    docs_url="https://docs.ollama.com/api/openai-compatibility",
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (OPENAI, OPENAI_COMPATIBLE, GROQ, FIREWORKS_AI, DEEPINFRA, OPENROUTER, OLLAMA)
}
