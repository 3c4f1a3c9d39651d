"""The providers of the OpenAI family, as data.

Each provider is a :class:`Preset`: where it lives, which variables hold its key and base URL,
whether a key is required, which of OpenAI's options it supports and which it adds, which
endpoints it serves, and a few named quirks. The code that speaks the wire format is llmrouter's
OpenAI-compatible toolkit (:mod:`llmrouter.openai_compat`), to which a preset hands its
:attr:`Preset.dialect`; a new OpenAI-compatible service is a new ``Preset`` plus an entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from llmrouter.errors import APIStatusError, BadRequestError
from llmrouter.openai_compat import ALL_ENDPOINTS, CODE_CLASSES, PATHS, Dialect, Endpoint
from llmrouter.secrets import redact_url
from llmrouter_openai import options as o
from llmrouter_openai.errors import InsufficientQuotaError

__all__ = [
    "CEREBRAS",
    "DEEPINFRA",
    "DEEPSEEK",
    "FIREWORKS_AI",
    "GROQ",
    "HOSTED_VLLM",
    "HYPERBOLIC",
    "LLAMACPP",
    "LM_STUDIO",
    "MISTRAL",
    "NEBIUS",
    "NOVITA",
    "OLLAMA",
    "OPENAI",
    "OPENAI_COMPATIBLE",
    "OPENROUTER",
    "PERPLEXITY",
    "PRESETS",
    "SAMBANOVA",
    "VLLM",
    "XAI",
    "Endpoint",
    "Preset",
    "SDKBaseVariable",
    "shown_url",
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
class SDKBaseVariable:
    """A base-URL variable in the form the vendor's own SDK reads it: the server's *root*.

    ``GROQ_BASE_URL`` is ``https://api.groq.com`` (the groq SDK adds ``/openai/v1`` to every
    path) and ``OLLAMA_HOST`` may be a bare ``host``, ``host:port`` or ``:port`` (the ollama SDK
    adds ``http://`` and port 11434). Honouring such a variable as its SDK does means a user's
    existing setup just works; it is read after ``api_base=`` and before the preset's
    ``api_base_env`` (the vendor's name first, LiteLLM's after).
    """

    name: str
    #: The API's path below the root, appended unless the value already ends with it.
    path: str
    #: Set: the value is a host in the forms the ollama SDK accepts, and this is its port when
    #: none is given and there is no scheme (``http://h`` means port 80, as in that SDK).
    default_port: int | None = None

    def api_base(self, value: str) -> str:
        """The API base ``value`` stands for; :class:`ValueError` if it is not http(s) (its
        message does not quote ``value``: :func:`shown_url` shows it without credentials)."""
        base = _sdk_host(value, self.default_port) if self.default_port else value.strip()
        base = base.rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as 'https://host'")
        return base if base.endswith(self.path) else base + self.path


def shown_url(value: str) -> str:
    """A base URL from the environment, fit for an error message: its user and password never
    shown (:func:`llmrouter.secrets.redact_url`, which also covers values without a scheme or
    too malformed to parse) and no query (which may hold a key)."""
    base, query, _ = redact_url(value.strip()).partition("?")
    return repr(base[:120] + ("?..." if query else ""))


def _sdk_host(value: str, default_port: int) -> str:
    """``value`` read the way the ollama Python SDK's ``_parse_host`` reads ``OLLAMA_HOST``:
    scheme ``http`` and ``default_port`` when absent; an explicit ``http://``/``https://``
    without a port means 80/443; host ``127.0.0.1`` when only ``:port`` is given; IPv6 hosts
    keep their brackets; a path is kept without its slashes at either end."""
    import ipaddress
    from urllib.parse import urlsplit

    port = default_port
    scheme, sep, hostport = value.strip().partition("://")
    if not sep:
        scheme, hostport = "http", value.strip()
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urlsplit(f"{scheme}://{hostport}")
    host = split.hostname or "127.0.0.1"
    port = split.port or port  # ValueError for a port that is not a number in range
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    except ValueError:
        pass  # a name, not an address
    path = split.path.strip("/")
    return f"{scheme}://{host}:{port}" + (f"/{path}" if path else "")


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
    #: Base-URL variables as the vendor's SDK reads them (a server root, or Ollama's host
    #: forms): read after ``api_base=`` and before ``api_base_env``.
    sdk_base_env: tuple[SDKBaseVariable, ...] = ()
    #: Endpoint paths below the base URL, where they are not OpenAI's (Perplexity serves chat
    #: at the root but its model list under ``/v1``).
    paths: Mapping[Endpoint, str] = field(default_factory=lambda: PATHS)
    #: Chat options sent under another name: ``(("seed", "random_seed"),)`` (Mistral).
    chat_renames: tuple[tuple[str, str], ...] = ()
    #: ``False``: a stream never carries ``stream_options`` (the service's schema has no such
    #: field and it reports usage in the stream unasked: Mistral, Perplexity).
    sends_stream_options: bool = True
    #: A regular expression every tool-call id in ``messages`` must match (Mistral: 9 letters
    #: or digits), with the rule in words for the error; refused before sending.
    tool_call_id_pattern: str | None = None
    tool_call_id_rule: str = ""
    #: Roles whose messages may carry a ``name`` (Mistral: ``tool`` only); ``None``: any.
    message_name_roles: frozenset[str] | None = None
    #: The wire-format facts above, as the toolkit reads them (derived, not given).
    dialect: Dialect = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        renames = dict(self.chat_renames)
        if self.max_tokens_as_max_completion_tokens:
            renames["max_tokens"] = "max_completion_tokens"
        dialect = Dialect(
            title=self.title,
            default_api_base=self.default_api_base,
            api_base_env=self.api_base_env,
            base_suffix=self.base_suffix,
            api_key_env=self.api_key_env,
            key_required=self.key_required,
            header_env=self.header_env,
            endpoints=self.endpoints,
            paths=self.paths,
            chat_renames=renames,
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
    # the groq SDK's variable holds the server root (https://api.groq.com)
    sdk_base_env=(SDKBaseVariable("GROQ_BASE_URL", "/openai/v1"),),
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
    # the ollama SDK's variable: "host", "host:port", ":port", with or without a scheme
    sdk_base_env=(SDKBaseVariable("OLLAMA_HOST", "/v1", default_port=11434),),
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

# --- the OpenAI-compatible dialects: facts from each vendor's SDK or API reference ---------------

#: The sampling, format and tool options every dialect below with an ``allowed`` list takes.
_CORE_OPTIONS = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
    }
)

#: Mistral AI. Its SDK's ChatCompletionRequest is the schema: OpenAI's ``seed`` is
#: ``random_seed`` there (either is accepted here and sent as ``random_seed``); no
#: ``stream_options`` field (the last chunk carries the usage unasked); ``name`` on tool messages
#: only; tool-call ids of exactly 9 letters or digits (its own ids look like ``D681PevKs``), so
#: an id from another provider's history is refused before sending instead of a 400 there.
MISTRAL = Preset(
    name="mistral",
    title="Mistral AI",
    default_api_base="https://api.mistral.ai/v1",
    api_key_env=("MISTRAL_API_KEY",),
    api_base_env=("MISTRAL_API_BASE",),
    base_suffix="/v1",
    allowed=_CORE_OPTIONS
    | {
        "n",
        "logprobs",
        "top_logprobs",
        "seed",
        "parallel_tool_calls",
        "prediction",
        "prompt_cache_key",
        "encoding_format",
    },
    extra_options=(
        o.RANDOM_SEED,
        o.SAFE_PROMPT,
        o.PROMPT_MODE,
        o.MISTRAL_REASONING_EFFORT,
        o.MISTRAL_SERVICE_TIER,
        o.TOP_K,
        o.MIN_TOKENS,
        o.REPETITION_PENALTY,
    ),
    max_stop=None,
    endpoints=frozenset({"chat", "embeddings", "models"}),
    chat_renames=(("seed", "random_seed"),),
    sends_stream_options=False,
    tool_call_id_pattern=r"[A-Za-z0-9]{9}",
    tool_call_id_rule="exactly 9 letters or digits",
    message_name_roles=frozenset({"tool"}),
    docs_url="https://docs.mistral.ai/api/",
)

#: DeepSeek: a small option set (no n, seed, logit_bias, user), up to 16 stop sequences;
#: reasoning models answer with ``message.reasoning_content`` (and ``delta.reasoning_content``
#: in streams), kept on the response as an extra field.
DEEPSEEK = Preset(
    name="deepseek",
    title="DeepSeek",
    default_api_base="https://api.deepseek.com",
    api_key_env=("DEEPSEEK_API_KEY",),
    api_base_env=("DEEPSEEK_API_BASE",),
    allowed=_CORE_OPTIONS | {"logprobs", "top_logprobs", "stream_options"},
    extra_options=(o.DEEPSEEK_THINKING,),
    max_stop=16,
    endpoints=frozenset({"chat", "models"}),
    docs_url="https://api-docs.deepseek.com/api/create-chat-completion",
)

XAI = Preset(
    name="xai",
    title="xAI",
    default_api_base="https://api.x.ai/v1",
    api_key_env=("XAI_API_KEY",),
    api_base_env=("XAI_API_BASE",),
    unsupported=o.PLATFORM_ONLY,
    extra_options=(o.XAI_REASONING_EFFORT,),
    max_stop=None,
    endpoints=frozenset({"chat", "models"}),
    docs_url="https://docs.x.ai/docs/api-reference",
)

#: Cerebras. Its SDK's variable CEREBRAS_BASE_URL holds the root (``https://api.cerebras.ai``).
CEREBRAS = Preset(
    name="cerebras",
    title="Cerebras",
    default_api_base="https://api.cerebras.ai/v1",
    api_key_env=("CEREBRAS_API_KEY",),
    api_base_env=("CEREBRAS_API_BASE",),
    sdk_base_env=(SDKBaseVariable("CEREBRAS_BASE_URL", "/v1"),),
    unsupported=frozenset(
        {"audio", "modalities", "store", "verbosity", "web_search_options", "safety_identifier"}
    ),
    extra_options=(
        o.NONE_TO_HIGH_REASONING_EFFORT,
        o.CEREBRAS_REASONING_FORMAT,
        o.DISABLE_REASONING,
        o.CEREBRAS_SERVICE_TIER,
        o.MIN_TOKENS,
    ),
    max_stop=None,
    endpoints=frozenset({"chat", "completions", "models"}),
    docs_url="https://inference-docs.cerebras.ai/api-reference/chat-completions",
)

#: Perplexity's Sonar API: chat at the root (``/chat/completions``), the model list under
#: ``/v1``; answers carry ``citations`` and ``search_results`` at the top level, kept on the
#: response (and on each stream chunk). Its embeddings are int8 or binary, not floats, so
#: ``/embeddings`` is not offered here.
PERPLEXITY = Preset(
    name="perplexity",
    title="Perplexity",
    default_api_base="https://api.perplexity.ai",
    api_key_env=("PERPLEXITY_API_KEY", "PERPLEXITYAI_API_KEY"),
    api_base_env=("PERPLEXITY_BASE_URL", "PERPLEXITY_API_BASE"),
    allowed=_CORE_OPTIONS
    | {"n", "logprobs", "top_logprobs", "parallel_tool_calls", "web_search_options"},
    extra_options=(
        o.PERPLEXITY_REASONING_EFFORT,
        o.SEARCH_MODE,
        o.SEARCH_DOMAIN_FILTER,
        o.SEARCH_RECENCY_FILTER,
        o.SEARCH_AFTER_DATE_FILTER,
        o.SEARCH_BEFORE_DATE_FILTER,
        o.LAST_UPDATED_AFTER_FILTER,
        o.LAST_UPDATED_BEFORE_FILTER,
        o.RETURN_IMAGES,
        o.RETURN_RELATED_QUESTIONS,
        o.DISABLE_SEARCH,
        o.ENABLE_SEARCH_CLASSIFIER,
        o.TOP_K,
    ),
    max_stop=None,
    endpoints=frozenset({"chat", "models"}),
    paths=MappingProxyType({**PATHS, "models": "/v1/models"}),
    sends_stream_options=False,
    docs_url="https://docs.perplexity.ai/api-reference/chat-completions-post",
)

SAMBANOVA = Preset(
    name="sambanova",
    title="SambaNova Cloud",
    default_api_base="https://api.sambanova.ai/v1",
    api_key_env=("SAMBANOVA_API_KEY",),
    api_base_env=("SAMBA_NOVA_BASE_URL", "SAMBANOVA_API_BASE"),
    unsupported=o.PLATFORM_ONLY | {"user", "dimensions"},
    extra_options=(
        o.LOW_TO_HIGH_REASONING_EFFORT,
        o.TOP_K,
        o.REPETITION_PENALTY,
        o.CHAT_TEMPLATE_KWARGS,
        o.DO_SAMPLE,
    ),
    max_stop=None,
    docs_url="https://docs.sambanova.ai/cloud/api-reference",
)

NEBIUS = Preset(
    name="nebius",
    title="Nebius AI Studio",
    default_api_base="https://api.studio.nebius.com/v1",
    api_key_env=("NEBIUS_API_KEY",),
    api_base_env=("NEBIUS_API_BASE",),
    unsupported=o.PLATFORM_ONLY,
    max_stop=None,
    docs_url="https://docs.nebius.com/studio/inference/api",
)

HYPERBOLIC = Preset(
    name="hyperbolic",
    title="Hyperbolic",
    default_api_base="https://api.hyperbolic.xyz/v1",
    api_key_env=("HYPERBOLIC_API_KEY",),
    api_base_env=("HYPERBOLIC_API_BASE",),
    allowed=_CORE_OPTIONS | {"n", "seed", "user", "stream_options"},
    max_stop=None,
    endpoints=frozenset({"chat", "completions", "models"}),
    docs_url="https://docs.hyperbolic.xyz/docs/rest-api",
)

NOVITA = Preset(
    name="novita",
    title="Novita AI",
    default_api_base="https://api.novita.ai/v3/openai",
    api_key_env=("NOVITA_API_KEY",),
    api_base_env=("NOVITA_API_BASE",),
    unsupported=o.PLATFORM_ONLY,
    extra_options=(o.TOP_K, o.MIN_P, o.REPETITION_PENALTY),
    max_stop=None,
    docs_url="https://novita.ai/docs/guides/llm-api",
)

#: LM Studio's local server: exactly the fields its OpenAI-compatibility page lists, plus its
#: own ``ttl`` (just-in-time loading) and ``draft_model`` (speculative decoding).
LM_STUDIO = Preset(
    name="lm_studio",
    title="LM Studio",
    default_api_base="http://localhost:1234/v1",
    api_key_env=("LM_STUDIO_API_KEY",),
    api_base_env=("LM_STUDIO_API_BASE",),
    key_required=False,
    allowed=_CORE_OPTIONS | {"logit_bias", "seed", "stream_options"},
    extra_options=(o.TOP_K, o.REPEAT_PENALTY, o.TTL, o.DRAFT_MODEL),
    max_stop=None,
    docs_url="https://lmstudio.ai/docs/app/api/endpoints/openai",
)

#: llama.cpp's ``llama-server``. The key variable is llmrouter's own: the server's
#: ``LLAMA_API_KEY`` is also the name Meta's hosted Llama API uses, whose key must never go to
#: a local server. The server refuses ``n`` other than 1.
LLAMACPP = Preset(
    name="llamacpp",
    title="llama.cpp server",
    default_api_base="http://localhost:8080/v1",
    api_key_env=("LLAMACPP_API_KEY",),
    api_base_env=("LLAMACPP_API_BASE",),
    key_required=False,
    unsupported=o.PLATFORM_ONLY,
    extra_options=(o.TOP_K, o.MIN_P, o.REPEAT_PENALTY, o.CHAT_TEMPLATE_KWARGS),
    max_n=1,
    max_stop=None,
    docs_url="https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
)

#: A vLLM server (``vllm serve``): no default base URL, no key required (``VLLM_API_KEY`` is
#: the variable the server itself reads for ``--api-key``). ``hosted_vllm`` is the same provider
#: under LiteLLM's name.
VLLM = Preset(
    name="vllm",
    title="vLLM server",
    default_api_base=None,
    api_key_env=("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"),
    api_base_env=("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"),
    key_required=False,
    unsupported=o.PLATFORM_ONLY,
    extra_options=OPENAI_COMPATIBLE.extra_options,
    max_stop=None,
    embedding_token_ids=True,
    docs_url=OPENAI_COMPATIBLE.docs_url,
)
HOSTED_VLLM = replace(VLLM, name="hosted_vllm")

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        OPENAI,
        OPENAI_COMPATIBLE,
        GROQ,
        FIREWORKS_AI,
        DEEPINFRA,
        OPENROUTER,
        OLLAMA,
        MISTRAL,
        DEEPSEEK,
        XAI,
        CEREBRAS,
        PERPLEXITY,
        SAMBANOVA,
        NEBIUS,
        HYPERBOLIC,
        NOVITA,
        LM_STUDIO,
        LLAMACPP,
        VLLM,
        HOSTED_VLLM,
    )
}
