"""LiteLLM proxy configs (``config.yaml``) read as llmrouter routing configs.

A LiteLLM proxy user should be able to point ``llmrouter serve --config`` at the file they
already have, and ``llmrouter config convert`` turns it into llmrouter's TOML for good. The
translation is deliberately loud: llmrouter's own config refuses unknown keys because a setting
that is silently ignored is a policy that silently does not apply, and a converted file must not
be the way around that. So every LiteLLM key either maps to an llmrouter key with the same
meaning, or is returned as an :class:`Unsupported` entry (its dotted LiteLLM key path and one
line on why, and what to do instead). Approximations that do map (``allowed_fails``, weights
taken from ``rpm``, ``drop_params``) are returned as notes.

A key means what LiteLLM does with it, not what its name suggests: a deployment's ``rpm`` is a
limit only where LiteLLM enforces it (pre-call checks, or a strategy that filters by usage), and
is otherwise just a weight; ``drop_params`` reaches only the providers whose llmrouter plugin
can drop options.

Keys stay out of files: ``api_key: os.environ/NAME`` becomes ``api_key_env = "NAME"``, a literal
``api_key`` is a :class:`~llmrouter.errors.ConfigError` (without the value), and a literal
``general_settings.master_key`` is kept in memory only (:attr:`Conversion.master_key`,
:attr:`LoadedConfig.master_key`: the gateway serves with it). A file cannot carry it, so the TOML
that :func:`to_toml` writes names ``LLMROUTER_MASTER_KEY`` instead, for the user to export.

Azure OpenAI and Bedrock deployments sign in with more than a key. Their settings (API version,
region, profile, endpoint) become the deployment's options; their credentials can only be the
variables llmrouter's provider reads itself, since a deployment names no variable but
``api_key_env``: ``os.environ/`` one of those writes nothing, a literal one is a ConfigError, and
anything else (another variable, a service principal, an assumed role) leaves the deployment out,
reported, rather than calling it as whatever identity the gateway's environment holds.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TextIO

import tomli_w
import yaml

from llmrouter.config import RouterConfig, load_config, load_config_file
from llmrouter.errors import ConfigError
from llmrouter.secrets import looks_like_credential, remember_secret

__all__ = [
    "LITELLM_SECTIONS",
    "MASTER_KEY_ENV",
    "PROVIDERS",
    "Conversion",
    "LoadedConfig",
    "Unsupported",
    "convert_command",
    "convert_litellm",
    "is_litellm_config",
    "load_gateway_config",
    "read_litellm_file",
    "to_toml",
    "validate_conversion",
]

#: LiteLLM's top-level sections (``include`` splits a config over several files).
LITELLM_SECTIONS: tuple[str, ...] = (
    "model_list",
    "router_settings",
    "litellm_settings",
    "general_settings",
    "environment_variables",
    "include",
)
#: llmrouter's own top-level tables: a file with any of them is not a LiteLLM config.
_OUR_SECTIONS = frozenset({"router", "models", "gateway"})

#: The variable a converted config names for a master key that was written in the YAML itself.
MASTER_KEY_ENV = "LLMROUTER_MASTER_KEY"

#: LiteLLM provider prefix -> llmrouter provider. Only providers whose llmrouter plugin speaks
#: the same API: a prefix that is not here is reported, never mapped to a look-alike.
PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "together_ai": "together_ai",
    "groq": "groq",
    "fireworks_ai": "fireworks_ai",
    "deepinfra": "deepinfra",
    "openrouter": "openrouter",
    # LiteLLM's two Ollama clients (/api/generate and /api/chat); llmrouter's uses Ollama's
    # OpenAI-compatible /v1, which serves the same models.
    "ollama": "ollama",
    "ollama_chat": "ollama",
    # Azure OpenAI and AWS Bedrock (the Converse API; see _Converter.route for the model forms).
    "azure": "azure",
    "bedrock": "bedrock",
    # OpenAI-compatible services llmrouter-openai has a dialect of, under LiteLLM's own names.
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    "cerebras": "cerebras",
    "perplexity": "perplexity",
    "sambanova": "sambanova",
    "nebius": "nebius",
    "hyperbolic": "hyperbolic",
    "novita": "novita",
    # Self-hosted servers that speak OpenAI's API. hosted_vllm is llmrouter's vllm provider
    # under LiteLLM's name (the same preset); llamafile and custom_openai have no dialect.
    "lm_studio": "lm_studio",
    "hosted_vllm": "hosted_vllm",
    "custom_openai": "openai_compatible",
    "llamafile": "openai_compatible",
}

#: LiteLLM prefixes that look like a mapped provider and are not: why each is left out.
_LOOK_ALIKES: Mapping[str, str] = {
    "vllm": "LiteLLM's 'vllm/' runs vLLM inside the proxy process; llmrouter talks to a vLLM "
    "server: start one (vllm serve) and write hosted_vllm/<model> with its api_base",
    "azure_ai": "Azure AI Foundry's model inference API is not Azure OpenAI's; an Azure OpenAI "
    "deployment is azure/<deployment>",
    "azure_text": "Azure's text-completion deployments have no llmrouter provider; a chat "
    "deployment is azure/<deployment>",
}

#: Servers without a default address: a deployment of one needs api_base or this variable.
_BASE_VARIABLES: Mapping[str, str] = {
    "openai_compatible": "OPENAI_COMPATIBLE_API_BASE",
    "hosted_vllm": "HOSTED_VLLM_API_BASE",
}

_ENV_PREFIX = "os.environ/"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# llmrouter's alias rule (llmrouter.config): no '/', since a name with '/' is a route.
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$")
_OPENAI_HOSTS = frozenset({"api.openai.com"})

#: litellm_params that are request options: they become the deployment's default ``options``.
_OPTION_KEYS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "seed",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "response_format",
        "reasoning_effort",
        "parallel_tool_calls",
        "user",
        "thinking",
        "service_tier",
    }
)

#: Keys of a converted deployment, in the order the TOML lists them.
_DEPLOYMENT_ORDER = (
    "model",
    "name",
    "api_base",
    "api_key_env",
    "weight",
    "rpm",
    "timeout",
    "input_cost_per_mtok",
    "output_cost_per_mtok",
    "cached_input_cost_per_mtok",
    "options",
)

_STRATEGIES: Mapping[str, str] = {
    "simple-shuffle": "weighted",
    "least-busy": "least-busy",
    "latency-based-routing": "lowest-latency",
}

#: LiteLLM strategies whose deployment filter skips a deployment at its rpm (usage-based v1/v2,
#: latency- and cost-based); simple-shuffle and least-busy only do so with pre-call checks.
_RPM_ENFORCING_STRATEGIES = frozenset(
    {"usage-based-routing", "usage-based-routing-v2", "latency-based-routing", "cost-based-routing"}
)
_RPM_RULE = (
    "LiteLLM skips a deployment at its rpm only with router_settings.enable_pre_call_checks: "
    "true or a usage-, latency- or cost-based routing_strategy"
)

#: llmrouter providers whose plugin takes a ``drop_params`` option (llmrouter-anthropic,
#: llmrouter-gemini and llmrouter-bedrock): the others refuse an option they do not know,
#: ``drop_params`` included, so it must not be put on their deployments.
_DROP_PARAMS_PROVIDERS = frozenset({"anthropic", "gemini", "bedrock"})
_DROPPERS = "anthropic, gemini and bedrock"
_NO_TPM = (
    "llmrouter limits requests per minute (rpm), not tokens; set rpm on the deployment instead"
)

#: Reasons for keys of ``litellm_params`` (and the entry itself) that have no equivalent.
_PARAM_REASONS: Mapping[str, str] = {
    "tpm": _NO_TPM,
    "stream_timeout": "no separate stream timeout: a deployment's timeout also bounds a "
    "stream's first event and each gap between events",
    "max_retries": "no per-deployment retry count: [router] num_retries applies to every "
    "deployment",
    "order": "no deployment priority order: use weight, or move lower-priority deployments to "
    "an alias listed in fallbacks",
    "api_version": "api_version is an Azure OpenAI setting (azure/ deployments); this "
    "provider takes none",
    "additional_drop_params": "no list of options to drop: an option a provider does not "
    f"take is an error before anything is sent; remove these options from the requests ({_DROPPERS} "
    "deployments can drop every option their API lacks: drop_params: true)",
    "extra_headers": "no per-deployment headers; send them with the request",
    "headers": "no per-deployment headers; send them with the request",
    "extra_body": "no per-deployment extra body; send it with the request",
    "organization": "no OpenAI organization setting; the key's default organization is used",
    "input_cost_per_second": "llmrouter prices tokens, not seconds: set input_cost_per_token "
    "and output_cost_per_token",
    "output_cost_per_second": "llmrouter prices tokens, not seconds: set input_cost_per_token "
    "and output_cost_per_token",
    "mock_response": "no mock responses in a routing config; use llmrouter.testing's emulators",
    "litellm_credential_name": "no shared credential list: name the key's environment "
    "variable with api_key: os.environ/NAME",
    "tags": "no tag-based routing",
}

# --- Azure OpenAI and AWS Bedrock deployments -----------------------------------------------------

#: What LiteLLM sends to Azure when neither the deployment nor ``AZURE_API_VERSION`` names a
#: version (``litellm.AZURE_DEFAULT_API_VERSION``, LiteLLM 1.110). llmrouter's azure provider
#: has no default (a call without a version is refused), so a converted deployment is given it.
LITELLM_AZURE_API_VERSION = "2025-02-01-preview"

#: ``azure/<marker>/<deployment>``: LiteLLM's markers that only pick its parameter handling for
#: reasoning deployments; the deployment is what follows.
_AZURE_MARKERS = ("o_series/", "gpt5_series/")
# Azure's rule for deployment names (letters, digits, '-', '_', '.'; at most 64).
_AZURE_DEPLOYMENT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BEDROCK_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:bedrock:([a-z0-9-]+):")

#: Credential parameters llmrouter's provider reads from one variable of its own: ``os.environ/``
#: that variable is what the provider does anyway, so nothing is written. A deployment cannot
#: name another variable for them (only ``api_key_env``), so one that does is left out rather
#: than called with whatever credentials the gateway's environment holds.
_CREDENTIAL_VARIABLES: Mapping[str, Mapping[str, str]] = {
    "azure": {"azure_ad_token": "AZURE_OPENAI_AD_TOKEN"},
    "bedrock": {
        "aws_access_key_id": "AWS_ACCESS_KEY_ID",
        "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "aws_session_token": "AWS_SESSION_TOKEN",
    },
}
_OTHER_VARIABLE = {
    "azure": "or give the deployment a key instead (api_key: os.environ/NAME)",
    "bedrock": "or put each account's keys in an AWS profile and name it with aws_profile_name",
}

#: Parameters that make LiteLLM sign in as another identity (an Entra ID service principal or
#: user, an assumed AWS role). Without them the calls would go out as the gateway's own
#: identity, so such a deployment is left out.
_OTHER_IDENTITY: Mapping[str, tuple[frozenset[str], str]] = {
    "azure": (
        frozenset({"tenant_id", "client_id", "client_secret", "azure_username", "azure_password"}),
        "llmrouter's config cannot sign in to Entra ID: give the deployment a key (api_key: "
        "os.environ/NAME) or export a token as AZURE_OPENAI_AD_TOKEN (or, in Python, pass "
        "azure_ad_token_provider=llmrouter_openai.azure.entra_id_token_provider())",
    ),
    "bedrock": (
        frozenset({"aws_role_name", "aws_web_identity_token"}),
        "llmrouter's config cannot assume a role itself: describe it as an AWS profile "
        "(role_arn with source_profile, or web_identity_token_file, in ~/.aws/config) and name "
        "that profile with aws_profile_name; AWS's credential chain assumes the role",
    ),
}
#: Parameters that only refine such a sign-in: nothing without it, reported.
_IDENTITY_DETAILS: Mapping[str, frozenset[str]] = {
    "azure": frozenset({"azure_scope"}),
    "bedrock": frozenset(
        {"aws_session_name", "aws_external_id", "aws_sts_endpoint", "aws_session_tags"}
    ),
}

#: (provider, llmrouter setting) -> the variable LiteLLM falls back to when the deployment does
#: not set it. llmrouter's provider reads other variables (or that one after another), so the
#: value is read when the config is translated and written into the deployment.
_LITELLM_VARIABLES: Mapping[tuple[str, str], str] = {
    ("azure", "api_base"): "AZURE_API_BASE",
    ("azure", "options.api_version"): "AZURE_API_VERSION",
    ("bedrock", "options.aws_region_name"): "AWS_REGION_NAME",
    ("bedrock", "options.aws_profile_name"): "AWS_PROFILE_NAME",
    ("bedrock", "api_base"): "AWS_BEDROCK_RUNTIME_ENDPOINT",
}

_SECTION_REASONS: Mapping[str, str] = {
    "environment_variables": "llmrouter's config does not set environment variables; export "
    "this one in the gateway's environment instead",
    "general_settings": "the gateway has one master key and no database, virtual keys, spend "
    "tracking or alerting; nothing else of general_settings applies",
    "litellm_settings": "no llmrouter equivalent",
    "router_settings": "no llmrouter equivalent",
    "model_info": "model metadata llmrouter does not read (capabilities come from the provider "
    "plugin, prices from genai-prices or input/output_cost_per_token)",
    "include": "llmrouter reads one file: paste the included files' model_list and settings "
    "into this one",
}

_SETTING_REASONS: Mapping[str, str] = {
    "retry_after": "no fixed wait before a retry: llmrouter waits a random full-jitter backoff "
    "([router] backoff_base, backoff_max) or exactly what the provider's Retry-After asks "
    "(up to retry_after_max)",
    "routing_strategy_args": "the strategies take no arguments (lowest-latency keeps an EWMA "
    "with alpha 0.3)",
    "context_window_fallbacks": "no per-error fallback lists: a context-window error already "
    "moves on to the alias's fallbacks; add these aliases to fallbacks if wanted",
    "content_policy_fallbacks": "no per-error fallback lists; add these aliases to fallbacks "
    "if every failure may use them",
    "disable_cooldowns": "the circuit breaker cannot be switched off; raise "
    "[router.cooldown] min_requests to make it trip rarely",
    "allowed_fails_policy": "no per-error failure thresholds: [router.cooldown] applies to "
    "every failure that says something about the deployment",
    "retry_policy": "no per-error retry counts: which errors are retried is fixed "
    "(docs/routing.md), and num_retries applies to all of them",
    "model_group_alias": "an alias cannot point to another alias; list the deployments under "
    "each name",
    "max_fallbacks": "every alias in fallbacks is tried, in order",
    "stream_timeout": "no separate stream timeout: [router] timeout also bounds a stream's "
    "first event and each gap between events",
    "redis_host": "routing state is per gateway process; there is no shared Redis state",
    "redis_port": "routing state is per gateway process; there is no shared Redis state",
    "redis_password": "routing state is per gateway process; there is no shared Redis state",
    "redis_url": "routing state is per gateway process; there is no shared Redis state",
    "redis_db": "routing state is per gateway process; there is no shared Redis state",
    "cache": "no response cache in the gateway (see docs/caching.md for the library's)",
    "cache_params": "no response cache in the gateway (see docs/caching.md for the library's)",
    "default_litellm_params": "set the options on each deployment (options table)",
    "success_callback": "no callbacks: use llmrouter's log events (docs/logging.md) or the "
    "OpenTelemetry plugin (docs/tracing.md)",
    "failure_callback": "no callbacks: use llmrouter's log events (docs/logging.md) or the "
    "OpenTelemetry plugin (docs/tracing.md)",
    "callbacks": "no callbacks: use llmrouter's log events (docs/logging.md) or the "
    "OpenTelemetry plugin (docs/tracing.md)",
    "set_verbose": "use llmrouter serve --debug, or docs/logging.md",
    "json_logs": "llmrouter's log events are structured already (docs/logging.md)",
}


@dataclass(frozen=True)
class Unsupported:
    """A LiteLLM key that was not translated: its dotted path in the YAML and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class Conversion:
    """The result of :func:`convert_litellm`.

    ``data`` has the shape of llmrouter's TOML (loadable by :func:`llmrouter.config.load_config`).
    ``master_key`` is a master key that was written in the YAML itself: kept in memory only,
    never in ``data`` nor in a repr. ``origins`` maps llmrouter key paths to the LiteLLM key
    they came from, so that a validation error can name the key the user wrote.
    """

    data: dict[str, Any]
    unsupported: tuple[Unsupported, ...] = ()
    master_key: str | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class LoadedConfig:
    """A gateway config as :func:`load_gateway_config` read it.

    ``master_key`` is a master key written in a LiteLLM YAML (``config.gateway.master_key_env``
    is then unset); a key from the environment is named by ``master_key_env`` instead.
    """

    config: RouterConfig
    unsupported: tuple[Unsupported, ...] = ()
    master_key: str | None = field(default=None, repr=False)
    source: Literal["toml", "litellm"] = "toml"
    notes: tuple[str, ...] = ()


# --- detection and reading ------------------------------------------------------------------------


def is_litellm_config(data: Mapping[str, Any]) -> bool:
    """Whether a parsed file is LiteLLM's proxy config rather than llmrouter's own."""
    if not isinstance(data, Mapping):
        return False
    keys = {k for k in data if isinstance(k, str)}
    return bool(keys.intersection(LITELLM_SECTIONS)) and not keys.intersection(_OUR_SECTIONS)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: PyYAML keeps the last one
    silently, which is exactly the kind of ignored setting this module exists to prevent."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        if key_node.value in seen:
            raise _DuplicateKey(str(key_node.value), key_node.start_mark.line + 1)
        seen.add(key_node.value)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


def read_litellm_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a LiteLLM YAML file; anything that is not one is a ConfigError naming the file."""
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {name!r} does not exist; check the path", path=name
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"config file {name!r} cannot be read: {exc.strerror or exc}", path=name
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: config file is not UTF-8 text", path=name) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except _DuplicateKey as exc:
        key = _seg(exc.key)
        raise ConfigError(
            f"{name}: line {exc.line}: key {key} is given twice in the same mapping; YAML "
            "keeps only the last one, so delete the other",
            path=name,
            key=key,
        ) from None
    except yaml.YAMLError as exc:
        # Only the problem and the position: PyYAML's own message quotes the offending line,
        # which may hold a key.
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{name}: not valid YAML{where}: {problem}", path=name) from None
    if data is None:
        raise ConfigError(
            f"{name}: the file is empty; a LiteLLM proxy config has a model_list", path=name
        )
    if not isinstance(data, Mapping) or not is_litellm_config(data):
        found = (
            ", ".join(sorted(_seg(k) for k in data))
            if isinstance(data, Mapping)
            else "not a mapping"
        )
        raise ConfigError(
            f"{name}: expected a LiteLLM proxy config (top-level model_list, router_settings, "
            f"litellm_settings or general_settings) but found: {found}; llmrouter's own format "
            "is TOML (a .toml file)",
            path=name,
        )
    return dict(data)


# --- conversion -----------------------------------------------------------------------------------


def convert_litellm(
    data: Mapping[str, Any],
    *,
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Conversion:
    """Translate a parsed LiteLLM proxy config to llmrouter's config shape.

    ``environ`` (default ``os.environ``) resolves ``os.environ/NAME`` where llmrouter needs a
    literal (``api_base``, numbers); keys are never resolved, only named. Raises ConfigError for
    what cannot be translated safely: a literal ``api_key``, a missing variable, a malformed
    section. The result is not validated: :func:`load_gateway_config` does that.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'config'}: a LiteLLM config must be a mapping", path=path)
    return _Converter(path, os.environ if environ is None else environ).run(data)


@dataclass
class _Alias:
    first_index: int
    deployments: list[dict[str, Any]] = field(default_factory=list)
    #: Per deployment: its model_list index and the raw weight, rpm and tpm it gave.
    sources: list[tuple[int, float | None, float | None, float | None]] = field(
        default_factory=list
    )
    #: Per deployment: llmrouter field -> LiteLLM key path.
    fields: list[dict[str, str]] = field(default_factory=list)


class _Converter:
    def __init__(self, path: str | None, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        self.yaml_env: dict[str, str] = {}
        self.unsupported: list[Unsupported] = []
        self.notes: list[str] = []
        self.origins: dict[str, str] = {}
        self.aliases: dict[str, _Alias] = {}
        # llmrouter setting -> (value, LiteLLM key path); router_settings overrides
        # litellm_settings, as in LiteLLM.
        self.settings: dict[str, tuple[Any, str]] = {}
        self.fallbacks: list[tuple[str, list[str], str]] = []  # (source, targets, key path)
        self.fallbacks_key: str | None = None
        #: model_names whose deployments were left out (for the reason a fallback is dropped).
        self.left_out: set[str] = set()
        self.default_fallbacks: tuple[list[str], str] | None = None
        self.master_key: str | None = None
        self.master_key_env: str | None = None
        #: routing_strategy as LiteLLM names it (whether it enforces rpm depends on it).
        self.litellm_strategy: str | None = None
        #: router_settings.enable_pre_call_checks and litellm_settings.drop_params: (value, key).
        self.pre_call_checks: tuple[bool, str] | None = None
        self.drop_params: tuple[bool, str] | None = None

    # -- helpers --

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path or 'config'}: {key}: {problem}", path=self.path, key=key)

    def skip(self, key: str, reason: str) -> None:
        self.unsupported.append(Unsupported(key, _one_line(reason)))

    def literal(self, value: Any, key: str) -> Any:
        """``value``, or the variable an ``os.environ/NAME`` names (LiteLLM's own lookup order:
        the file's environment_variables, then the environment)."""
        name = self.env_ref(value, key)
        if name is None:
            return value
        if name in self.yaml_env:
            return self.yaml_env[name]
        if name not in self.environ:
            raise self.error(
                key,
                f"{_ENV_PREFIX}{name} is not set, and llmrouter needs this value written into "
                f"its config: export {name} before converting, or write the value here",
            )
        return self.environ[name]

    def env_ref(self, value: Any, key: str) -> str | None:
        if not isinstance(value, str) or not value.startswith(_ENV_PREFIX):
            return None
        name = value[len(_ENV_PREFIX) :].strip()
        if not _ENV_NAME.match(name):
            raise self.error(
                key,
                f"{_ENV_PREFIX}<NAME> must name an environment variable (letters, digits, '_'), "
                "e.g. os.environ/OPENAI_API_KEY",
            )
        return name

    def number(self, value: Any, key: str, *, integer: bool = False) -> float | int:
        value = self.literal(value, key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value) if integer else float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "an integer" if integer else "a number"
            raise self.error(key, f"must be {kind}, got {_type_name(value)}")
        result: float | int = value
        if isinstance(result, float) and not math.isfinite(result):
            raise self.error(key, "must be a finite number")
        if integer and isinstance(result, float):
            if not result.is_integer():
                raise self.error(key, "must be a whole number")
            result = int(result)
        return result

    def boolean(self, value: Any, key: str) -> bool:
        value = self.literal(value, key)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {_type_name(value)}")
        return value

    def requests_per_minute(self, value: Any, key: str) -> int:
        rpm = int(self.number(value, key, integer=True))
        if rpm < 0:
            raise self.error(key, "must be 0 or more (requests per minute)")
        return rpm

    def mapping(self, value: Any, key: str) -> Mapping[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a mapping (key: value lines), got {_type_name(value)}")
        return value

    # -- the sections --

    def run(self, data: Mapping[str, Any]) -> Conversion:
        env = data.get("environment_variables")
        if isinstance(env, Mapping):
            self.yaml_env = {str(k): str(v) for k, v in env.items() if v is not None}
        for section, value in data.items():
            key = _seg(section)
            if section == "model_list":
                continue
            if section == "litellm_settings":
                self.settings_section(value, key, router=False)
            elif section == "router_settings":
                continue  # after litellm_settings, whatever the order in the file
            elif section == "general_settings":
                self.general_settings(value, key)
            elif section == "environment_variables":
                for name in self.mapping(value, key):
                    self.skip(f"{key}.{_seg(name)}", _SECTION_REASONS["environment_variables"])
            elif section in _SECTION_REASONS:
                self.skip(key, _SECTION_REASONS[section])
            else:
                self.skip(key, "not a LiteLLM proxy config section llmrouter knows")
        if "router_settings" in data:
            self.settings_section(data["router_settings"], "router_settings", router=True)
        model_list = data.get("model_list")
        if model_list is None:
            model_list = []
        if not isinstance(model_list, list):
            raise self.error(
                "model_list", f"must be a list of models, got {_type_name(model_list)}"
            )
        strategy = self.settings.get("strategy")
        for i, entry in enumerate(model_list):
            self.model_entry(i, entry)
        if model_list and not self.aliases:
            raise self.error(
                "model_list",
                "no model could be converted (see the unsupported keys above); llmrouter would "
                "serve nothing",
            )
        self.derive_weights(strategy[0] if strategy else "weighted")
        self.apply_rpm()
        self.apply_drop_params()
        return self.build(strategy)

    def settings_section(self, value: Any, section: str, *, router: bool) -> None:
        for name, item in self.mapping(value, section).items():
            key = f"{section}.{_seg(name)}"
            if name == "num_retries":
                self.setting("num_retries", self.number(item, key, integer=True), key)
            elif name == ("timeout" if router else "request_timeout"):
                self.setting("timeout", self.number(item, key), key)
            elif name == "cooldown_time":
                self.setting("duration", self.number(item, key), key)
            elif name == "allowed_fails":
                self.setting("allowed_fails", self.number(item, key, integer=True), key)
            elif name == "routing_strategy" and router:
                self.routing_strategy(self.literal(item, key), key)
            elif name == "fallbacks":
                self.fallback_list(item, key)
            elif name == "default_fallbacks":
                targets = self.literal(item, key)
                if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                    raise self.error(key, "must be a list of model names")
                if self.default_fallbacks is not None:
                    self.notes.append(f"{key} overrides {self.default_fallbacks[1]}, as in LiteLLM")
                self.default_fallbacks = (list(targets), key)
            elif name == "enable_pre_call_checks" and router:
                self.pre_call_checks = (self.boolean(item, key), key)
            elif name == "enable_pre_call_checks":
                self.skip(
                    key,
                    "LiteLLM's router takes enable_pre_call_checks from router_settings only, so "
                    "here it checks nothing (and deployments' rpm stay weights, not limits); "
                    "move it to router_settings",
                )
            elif name == "drop_params" and not router:
                self.drop_params = (self.boolean(item, key), key)
            elif name == "drop_params":
                self.skip(
                    key,
                    "LiteLLM reads drop_params from litellm_settings or a deployment's "
                    "litellm_params, not from router_settings, so it drops nothing here; move it "
                    "to litellm_settings",
                )
            elif name in _SETTING_REASONS:
                self.skip(key, _SETTING_REASONS[name])
            else:
                self.skip(key, _SECTION_REASONS[section.partition(".")[0]])

    def setting(self, name: str, value: Any, key: str) -> None:
        if name in self.settings:
            self.notes.append(f"{key} overrides {self.settings[name][1]}, as in LiteLLM")
        self.settings[name] = (value, key)

    def routing_strategy(self, value: Any, key: str) -> None:
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {_type_name(value)}")
        ours = _STRATEGIES.get(value)
        if ours is None:
            self.skip(
                key,
                f"llmrouter has no {value!r} strategy (it has weighted, least-busy and "
                "lowest-latency); the aliases use 'weighted', by weight (or rpm, as LiteLLM's "
                "simple-shuffle does)",
            )
            ours = "weighted"
        self.litellm_strategy = value
        self.setting("strategy", ours, key)

    def fallback_list(self, value: Any, key: str) -> None:
        value = self.literal(value, key)
        if not isinstance(value, list):
            raise self.error(
                key,
                'must be a list of {model_name: [fallback, ...]} mappings, e.g. [{"gpt-4o": '
                '["claude-sonnet"]}]',
            )
        parsed: list[tuple[str, list[str], str]] = []
        for n, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self.error(f"{key}[{n}]", "must be a mapping {model_name: [fallback, ...]}")
            for source, targets in item.items():
                item_key = f"{key}[{n}].{_seg(source)}"
                if isinstance(targets, str):
                    targets = [targets]
                if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                    raise self.error(item_key, "must be a list of model names")
                parsed.append((str(source), list(targets), item_key))
        if self.fallbacks_key is not None:
            # LiteLLM takes the router's list instead of litellm_settings', not both.
            self.notes.append(f"{key} overrides {self.fallbacks_key}, as in LiteLLM")
        self.fallbacks, self.fallbacks_key = parsed, key

    def general_settings(self, value: Any, section: str) -> None:
        for name, item in self.mapping(value, section).items():
            key = f"{section}.{_seg(name)}"
            if name != "master_key":
                self.skip(key, _SECTION_REASONS["general_settings"])
                continue
            if item is None:
                continue
            env = self.env_ref(item, key)
            if env is not None:
                self.master_key_env = env
                self.origins["gateway.master_key_env"] = key
            elif isinstance(item, str) and item.strip():
                self.master_key = item
                remember_secret(item)  # scrubbed from any log line from now on
            else:
                raise self.error(key, "must be a key (a string) or os.environ/NAME")

    def model_entry(self, i: int, entry: Any) -> None:
        base = f"model_list[{i}]"
        if not isinstance(entry, Mapping):
            raise self.error(base, "must be a mapping with model_name and litellm_params")
        alias = entry.get("model_name")
        if not isinstance(alias, str) or not alias.strip():
            raise self.error(
                f"{base}.model_name", "required, a string: the name callers use as model="
            )
        params = entry.get("litellm_params")
        if not isinstance(params, Mapping):
            raise self.error(
                f"{base}.litellm_params",
                "required: a mapping with at least model: <provider>/<model>",
            )
        if not _ALIAS.match(alias):
            if "*" in alias:
                reason = (
                    "wildcard model names are not aliases: llmrouter already sends a "
                    "'<provider>/<model>' name that is not an alias straight to that provider"
                )
            elif "/" in alias:
                reason = (
                    "an llmrouter alias cannot contain '/' (a name with '/' is a "
                    "'<provider>/<model>' route, sent as is): rename it, e.g. "
                    f"{alias.replace('/', '-')!r}, and have callers use the new name; "
                    "this deployment is left out"
                )
            else:
                reason = (
                    "not a valid llmrouter alias (starts with a letter or digit; letters, digits "
                    "and _ . : @ + - only): rename it; this deployment is left out"
                )
            self.skip(f"{base}.model_name", reason)
            self.left_out.add(alias)
            return
        dep: dict[str, Any] = {}
        fields: dict[str, str] = {}
        options: dict[str, Any] = {}
        prices: dict[str, tuple[float, str]] = {}
        pkey = f"{base}.litellm_params"
        route = self.route(params, pkey)
        if route is None:
            self.left_out.add(alias)
            return
        dep["model"], fields["model"] = route, f"{pkey}.model"
        provider = route.partition("/")[0]
        taken = self.cloud_params(provider, params, pkey, dep, fields, options)
        if taken is None:
            self.left_out.add(alias)
            return
        weight = rpm = tpm = None
        for name, value in params.items():
            key = f"{pkey}.{_seg(name)}"
            if name in ("model", "custom_llm_provider") or name in taken:
                continue
            if name == "api_key":
                env = self.env_ref(value, key)
                if value is None:
                    continue
                if env is None:
                    raise self.error(
                        key,
                        "a key written in the config: llmrouter never keeps keys in its config. "
                        "Move it to an environment variable and write api_key: os.environ/NAME "
                        "(or delete the line if the server needs no key); the value is not shown",
                    )
                dep["api_key_env"], fields["api_key_env"] = env, key
            elif name == "api_base":
                base_url = self.literal(value, key)
                if not isinstance(base_url, str):
                    raise self.error(key, f"must be a URL, got {_type_name(base_url)}")
                dep["api_base"], fields["api_base"] = base_url, key
            elif name == "rpm":
                # Kept as a limit for now; apply_rpm() takes it back where LiteLLM would not
                # enforce it.
                rpm = self.requests_per_minute(value, key)
                dep["rpm"], fields["rpm"] = rpm, key
            elif name == "tpm":
                tpm = self.number(value, key)
                self.skip(key, _NO_TPM)
            elif name == "timeout":
                dep["timeout"], fields["timeout"] = self.number(value, key), key
            elif name == "weight":
                weight = self.number(value, key)
                dep["weight"], fields["weight"] = weight, key
            elif name in (
                "input_cost_per_token",
                "output_cost_per_token",
                "cache_read_input_token_cost",
            ):
                prices[name] = (self.number(value, key), key)
            elif name in _OPTION_KEYS:
                options[name] = self.literal(value, key)
                fields[f"options.{name}"] = key
            elif name == "drop_params":
                # false is LiteLLM's default, and does not undo litellm_settings.drop_params
                # (LiteLLM drops when either says true): nothing to carry over.
                if not self.boolean(value, key):
                    continue
                if provider in _DROP_PARAMS_PROVIDERS:
                    options["drop_params"] = True
                    fields["options.drop_params"] = key
                else:
                    self.skip(
                        key,
                        f"llmrouter's {provider} provider takes no drop_params: an option its "
                        "API lacks is an error before anything is sent, never dropped; remove "
                        f"such options from the requests (only {_DROPPERS} deployments take "
                        "drop_params)",
                    )
            elif name in _PARAM_REASONS:
                self.skip(key, _PARAM_REASONS[name])
            else:
                self.skip(
                    key,
                    "not a litellm_params key llmrouter maps; if it is a provider option, add it "
                    "to the deployment's options in the TOML",
                )
        for name, value in entry.items():
            key = f"{base}.{_seg(name)}"
            if name in ("model_name", "litellm_params"):
                continue
            if name == "model_info":
                self.model_info(value, key, prices, dep, fields)
            elif name == "rpm" and "rpm" not in dep:
                # LiteLLM's older place for the limit, next to litellm_params.
                rpm = self.requests_per_minute(value, key)
                dep["rpm"], fields["rpm"] = rpm, key
            elif name == "tpm":
                tpm = tpm if tpm is not None else self.number(value, key)
                self.skip(key, _NO_TPM)
            elif name == "rpm":
                self.skip(key, f"{pkey}.rpm is set too, and wins")
            else:
                self.skip(key, "not a model_list key llmrouter knows")
        self.prices(prices, dep, fields)
        self.litellm_variables(provider, pkey, dep, fields, options)
        if options:
            dep["options"] = options
        group = self.aliases.setdefault(alias, _Alias(first_index=i))
        group.deployments.append(dep)
        group.sources.append((i, weight, rpm, tpm))
        group.fields.append({"": base, **fields})
        if provider in _BASE_VARIABLES and "api_base" not in dep:
            self.notes.append(
                f"{pkey}: a {provider} server without api_base: set api_base in the TOML or "
                f"{_BASE_VARIABLES[provider]} in the environment"
            )

    def cloud_params(
        self,
        provider: str,
        params: Mapping[Any, Any],
        pkey: str,
        dep: dict[str, Any],
        fields: dict[str, str],
        options: dict[str, Any],
    ) -> frozenset[str] | None:
        """Azure's and Bedrock's own litellm_params (credentials, API version, region, profile,
        endpoint) into the deployment. Returns the names it took, or ``None`` when the
        deployment is left out (reported): llmrouter could not call it as the same identity."""
        if provider not in _CREDENTIAL_VARIABLES:
            return frozenset()
        identity, why = _OTHER_IDENTITY[provider]
        details = _IDENTITY_DETAILS[provider]
        for name in params:
            if name in identity and params[name] is not None:
                self.skip(f"{pkey}.{_seg(name)}", f"{why}; this deployment is left out")
                return None
        standard: list[str] = []
        for name, variable in _CREDENTIAL_VARIABLES[provider].items():
            value = params.get(name)
            if value is None:
                continue
            key = f"{pkey}.{name}"
            if isinstance(value, str) and value.startswith("oidc/"):
                self.skip(
                    key,
                    "LiteLLM's oidc/ token exchange has no llmrouter equivalent: "
                    f"{_OTHER_VARIABLE[provider][3:]}; this deployment is left out",
                )
                return None
            env = self.env_ref(value, key)
            if env is None:
                raise self.error(
                    key,
                    "a credential written in the config: llmrouter never keeps credentials in "
                    f"its config. Export it as {variable} and write {name}: "
                    f"os.environ/{variable}; the value is not shown",
                )
            if env != variable:
                self.skip(
                    key,
                    f"llmrouter's {provider} provider reads {name} from {variable} only (a "
                    f"deployment cannot name another variable for it): export it as {variable} "
                    f"and write os.environ/{variable}, {_OTHER_VARIABLE[provider]}; this "
                    "deployment is left out",
                )
                return None
            standard.append(key)
        if standard:
            caveat = (
                " (a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK would win over them: leave it "
                "unset)"
                if provider == "bedrock"
                else " (when the deployment has no api_key)"
            )
            self.notes.append(
                f"{', '.join(standard)}: these are the variables llmrouter's {provider} "
                f"provider reads anyway{caveat}; nothing is written"
            )
        for name in params:
            if name in details and params[name] is not None:
                self.skip(
                    f"{pkey}.{_seg(name)}",
                    f"only refines a sign-in with {' or '.join(sorted(identity))}, which "
                    "this deployment does not use",
                )
        settings: tuple[str, ...] = (
            ("api_version",) if provider == "azure" else ("aws_region_name", "aws_profile_name")
        )
        for name in settings:
            if params.get(name) is not None:
                key = f"{pkey}.{name}"
                options[name], fields[f"options.{name}"] = self.setting_text(params[name], key), key
        if provider == "bedrock":
            region = _BEDROCK_ARN_REGION.match(dep["model"].partition("/")[2])
            if region and "aws_region_name" not in options:
                # LiteLLM takes an ARN's region before any variable; llmrouter's provider does not
                options["aws_region_name"] = region.group(1)
                fields["options.aws_region_name"] = f"{pkey}.model"
            endpoint = params.get("aws_bedrock_runtime_endpoint")
            if endpoint is not None:
                key = f"{pkey}.aws_bedrock_runtime_endpoint"
                if params.get("api_base") is not None:
                    self.skip(key, f"{pkey}.api_base is set too, and wins (as in LiteLLM)")
                else:
                    dep["api_base"], fields["api_base"] = self.setting_text(endpoint, key), key
            settings += ("aws_bedrock_runtime_endpoint",)
        return frozenset(
            {*identity, *details, *_CREDENTIAL_VARIABLES[provider], *settings}
        ).intersection(params)

    def setting_text(self, value: Any, key: str) -> str:
        """A string setting (an API version, a region, a profile, a URL), ``os.environ/``
        resolved. An unquoted date in YAML (``api_version: 2024-10-21``) is a date: its text."""
        value = self.literal(value, key)
        if isinstance(value, datetime.date):
            value = value.isoformat()
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, got {_type_name(value)}")
        return value.strip()

    def variable(self, name: str) -> str | None:
        """A variable as LiteLLM would read it (the file's environment_variables first)."""
        value = self.yaml_env.get(name, self.environ.get(name, "")).strip()
        return value or None

    def litellm_variables(
        self,
        provider: str,
        pkey: str,
        dep: dict[str, Any],
        fields: dict[str, str],
        options: dict[str, Any],
    ) -> None:
        """The settings LiteLLM reads from its own variables when a deployment does not set
        them, written in (see :data:`_LITELLM_VARIABLES`); and Azure's default API version."""

        def v1() -> bool:
            # the v1 API (an endpoint ending with /openai/v1) takes no dated version
            return str(dep.get("api_base", "")).rstrip("/").endswith("/openai/v1")

        for (owner, setting), variable in _LITELLM_VARIABLES.items():
            holder, name = (
                (options, setting[8:]) if setting.startswith("options.") else (dep, setting)
            )
            if owner != provider or name in holder or (name == "api_version" and v1()):
                continue
            value = self.variable(variable)
            if value is not None:
                holder[name], fields[setting] = value, f"{variable} (for {pkey})"
                self.notes.append(
                    f"{pkey}: {setting} = {value!r} from {variable}, which LiteLLM reads for a "
                    f"{provider} deployment that does not set it and llmrouter does not (or not "
                    "first)"
                )
        if provider == "azure" and "api_version" not in options and not v1():
            options["api_version"] = LITELLM_AZURE_API_VERSION
            fields["options.api_version"] = f"{pkey} (LiteLLM's default api_version)"
            self.notes.append(
                f"{pkey}: no api_version (nor AZURE_API_VERSION): LiteLLM sends its default, "
                f"{LITELLM_AZURE_API_VERSION!r} (LiteLLM 1.110); llmrouter's azure provider has "
                "no default, so options.api_version is set to it"
            )

    def route(self, params: Mapping[Any, Any], pkey: str) -> str | None:
        model = self.literal(params.get("model"), f"{pkey}.model")
        if not isinstance(model, str) or not model.strip():
            raise self.error(
                f"{pkey}.model", "required: '<provider>/<model>', e.g. 'openai/gpt-4o'"
            )
        model = model.strip()
        custom = params.get("custom_llm_provider")
        if custom is not None:
            if not isinstance(custom, str):
                raise self.error(f"{pkey}.custom_llm_provider", "must be a provider name")
            provider, rest, key = custom.strip(), model, f"{pkey}.custom_llm_provider"
        else:
            provider, sep, rest = model.partition("/")
            key = f"{pkey}.model"
            if not sep:
                self.skip(
                    key,
                    "no provider prefix (LiteLLM guesses one from the model name; llmrouter does "
                    "not): write '<provider>/<model>', e.g. 'openai/gpt-4o'; this deployment is "
                    "left out",
                )
                return None
        ours = PROVIDERS.get(provider)
        rest = rest.strip()
        if ours is None or not rest:
            known = ", ".join(sorted(PROVIDERS))
            why = _LOOK_ALIKES.get(provider) or f"llmrouter has no such provider (mapped: {known})"
            self.skip(key, f"LiteLLM provider {provider!r}: {why}; this deployment is left out")
            return None
        model_id: str | None = rest
        if ours == "azure":
            model_id = self.azure_deployment(rest, key, pkey)
        elif ours == "bedrock":
            model_id = self.bedrock_model_id(rest, key)
        if model_id is None:
            return None
        if ours == "openai" and "api_base" in params:
            base = self.literal(params["api_base"], f"{pkey}.api_base")
            host = _host(base)
            if host is not None and host not in _OPENAI_HOSTS:
                # LiteLLM's documented way to reach any OpenAI-compatible server. llmrouter's
                # 'openai' provider would send OpenAI's own options and variable to it.
                self.notes.append(
                    f"{pkey}.model: 'openai/' with an api_base that is not OpenAI's is an "
                    "OpenAI-compatible server: it becomes 'openai_compatible/'"
                )
                ours = "openai_compatible"
        return f"{ours}/{model_id}"

    def azure_deployment(self, rest: str, key: str, pkey: str) -> str | None:
        """The deployment of ``azure/<rest>``, without LiteLLM's reasoning markers; ``None``
        (reported) for LiteLLM's other routes, which are no deployment name."""
        for marker in _AZURE_MARKERS:
            if rest.startswith(marker):
                rest = rest[len(marker) :]
                self.notes.append(
                    f"{pkey}.model: LiteLLM's {marker} marker only picks its handling of "
                    f"reasoning models' parameters; the deployment is {rest!r}, and llmrouter's "
                    "azure provider sends options as given: use max_completion_tokens (not "
                    "max_tokens) with it, and no sampling options it does not take"
                )
                break
        if _AZURE_DEPLOYMENT.match(rest):
            return rest
        if rest.startswith("responses/"):
            why = "LiteLLM's responses/ route calls the Responses API, which llmrouter has not"
        else:
            why = (
                "not an Azure deployment name (letters, digits, '-', '_' and '.', at most 64): "
                "write azure/<deployment>"
            )
        self.skip(key, f"{why}; this deployment is left out")
        return None

    def bedrock_model_id(self, rest: str, key: str) -> str | None:
        """The Bedrock model id of ``bedrock/<rest>``, as llmrouter's bedrock provider (the
        Converse API) takes it; ``None`` (reported) for LiteLLM's other routes."""
        if rest.startswith("converse/"):
            rest = rest[len("converse/") :]  # LiteLLM's explicit Converse route: the same API
        if rest and ("/" not in rest or rest.startswith("arn:")):
            return rest
        route = rest.partition("/")[0]
        if not rest:
            why = "no model id after converse/: write bedrock/<model-id>"
        elif route == "invoke":
            why = (
                "LiteLLM's invoke/ route calls the InvokeModel API with each model family's own "
                f"body; llmrouter's bedrock provider calls Converse: write bedrock/{rest[7:]} "
                "for the same model through Converse"
            )
        else:
            why = (
                f"{route + '/'!r} is a LiteLLM route (or region path) llmrouter's bedrock "
                "provider has not: it calls the Converse API with one model id or ARN "
                "(bedrock/<model-id>; converse/ is accepted)"
            )
        self.skip(key, f"{why}; this deployment is left out")
        return None

    def model_info(
        self,
        value: Any,
        key: str,
        prices: dict[str, tuple[float, str]],
        dep: dict[str, Any],
        fields: dict[str, str],
    ) -> None:
        for name, item in self.mapping(value, key).items():
            item_key = f"{key}.{_seg(name)}"
            if name == "id":
                if not isinstance(item, (str, int)) or isinstance(item, bool):
                    raise self.error(item_key, "must be a string")
                dep["name"], fields["name"] = str(item), item_key
            elif name in (
                "input_cost_per_token",
                "output_cost_per_token",
                "cache_read_input_token_cost",
            ):
                if name in prices:
                    self.skip(item_key, f"litellm_params.{name} is set too, and wins")
                else:
                    prices[name] = (self.number(item, item_key), item_key)
            else:
                self.skip(item_key, _SECTION_REASONS["model_info"])

    def prices(
        self, prices: dict[str, tuple[float, str]], dep: dict[str, Any], fields: dict[str, str]
    ) -> None:
        given_in, given_out = "input_cost_per_token" in prices, "output_cost_per_token" in prices
        if given_in != given_out:
            for _, key in prices.values():
                self.skip(
                    key,
                    "llmrouter needs input_cost_per_token and output_cost_per_token together (a "
                    "missing one would count those tokens as free); set both, or neither to use "
                    "genai-prices' price",
                )
            return
        ours = {
            "input_cost_per_token": "input_cost_per_mtok",
            "output_cost_per_token": "output_cost_per_mtok",
            "cache_read_input_token_cost": "cached_input_cost_per_mtok",
        }
        if not given_in and "cache_read_input_token_cost" in prices:
            self.skip(
                prices["cache_read_input_token_cost"][1],
                "a cached-input price needs input_cost_per_token and output_cost_per_token",
            )
            return
        for name, (value, key) in prices.items():
            dep[ours[name]], fields[ours[name]] = _per_million(value), key

    def derive_weights(self, strategy: str) -> None:
        """LiteLLM's simple-shuffle picks by ``weight`` if any deployment of the group has one,
        else by ``rpm``, else by ``tpm``; llmrouter's 'weighted' only by ``weight``. So a group
        without weights gets its rpm (or tpm) as weights, to split traffic the same way."""
        if strategy != "weighted":
            return
        for alias, group in self.aliases.items():
            for slot, metric in ((1, "weight"), (2, "rpm"), (3, "tpm")):
                values = [src[slot] for src in group.sources]
                if not any(v is not None and v > 0 for v in values):
                    continue
                missing = [
                    src[0]
                    for src, v in zip(group.sources, values, strict=True)
                    if v is None or v <= 0
                ]
                if missing:
                    self.notes.append(
                        f"alias {alias!r}: LiteLLM would send nothing to model_list"
                        f"{missing} (no {metric}) while the others are healthy; llmrouter "
                        "cannot express a standby deployment, so they get weight 1 (or move "
                        "them to a fallback alias)"
                    )
                if metric != "weight":
                    for dep, fields, src, v in zip(
                        group.deployments, group.fields, group.sources, values, strict=True
                    ):
                        if v is not None and v > 0:
                            dep["weight"] = v
                            fields["weight"] = f"model_list[{src[0]}].litellm_params.{metric}"
                    self.notes.append(
                        f"alias {alias!r}: weights taken from {metric}, as LiteLLM's "
                        "simple-shuffle does when no deployment has a weight"
                    )
                break

    def apply_rpm(self) -> None:
        """llmrouter's rpm is a hard limit (a deployment at it is skipped). LiteLLM skips a
        deployment at its rpm only with pre-call checks or a strategy that filters by usage;
        anywhere else the same number is at most a weight, and carrying it over as a limit
        would turn away requests LiteLLM serves."""
        if self.pre_call_checks is not None and self.pre_call_checks[0]:
            self.notes.append(
                f"{self.pre_call_checks[1]}: true: each deployment's rpm is an llmrouter rpm "
                "limit (a deployment at its limit is skipped), as in LiteLLM's pre-call checks; "
                "their context-window and region filters have no equivalent: a request too "
                "long for a deployment fails there and moves on to the next deployment or "
                "fallback"
            )
            return
        if self.litellm_strategy in _RPM_ENFORCING_STRATEGIES:
            return
        taken: list[str] = []
        for group in self.aliases.values():
            for dep, fields in zip(group.deployments, group.fields, strict=True):
                if "rpm" in dep:
                    del dep["rpm"]
                    taken.append(fields.pop("rpm"))
        if not taken:
            return
        strategy = self.litellm_strategy or "simple-shuffle"
        if strategy == "simple-shuffle":
            use = "simple-shuffle picks by it when no deployment of the group has a weight"
        elif strategy == "least-busy":
            use = "least-busy picks by requests in flight and does not read it"
        else:
            use = f"{strategy!r} is not one of them"
        self.notes.append(f"{', '.join(taken)}: not an rpm limit here, because {_RPM_RULE}; {use}")

    def apply_drop_params(self) -> None:
        """``litellm_settings.drop_params: true`` as ``options.drop_params`` on the deployments
        whose plugin can drop options; the others refuse an unknown option, so they are named
        in the report instead."""
        if self.drop_params is not None and self.drop_params[0]:
            key = self.drop_params[1]
            refused: dict[str, list[str]] = {}
            for group in self.aliases.values():
                for dep, fields in zip(group.deployments, group.fields, strict=True):
                    provider = dep["model"].partition("/")[0]
                    if provider not in _DROP_PARAMS_PROVIDERS:
                        refused.setdefault(provider, []).append(fields[""])
                        continue
                    options = dep.setdefault("options", {})
                    if "drop_params" not in options:
                        options["drop_params"] = True
                        fields["options.drop_params"] = key
            if refused:
                where = ", ".join(
                    f"{provider} ({', '.join(bases)})" for provider, bases in refused.items()
                )
                self.skip(
                    key,
                    f"only {_DROPPERS} deployments take drop_params, so it is not "
                    f"applied to {where}: there an option the API lacks is an error before "
                    "anything is sent, never dropped; remove such options from the requests",
                )
        dropping = [
            (fields[""], dep["model"].partition("/")[0])
            for group in self.aliases.values()
            for dep, fields in zip(group.deployments, group.fields, strict=True)
            if dep.get("options", {}).get("drop_params") is True
        ]
        if dropping:
            note = (
                f"{', '.join(base for base, _ in dropping)}: options.drop_params = true: the "
                "provider drops the OpenAI options its API lacks instead of refusing them, "
                "without a warning, as LiteLLM does"
            )
            if any(provider == "anthropic" for _, provider in dropping):
                note += (
                    "; on anthropic that includes temperature, top_p and top_k (which LiteLLM "
                    'sends) unless options.anthropic_version = "2023-06-01" is set'
                )
            self.notes.append(note)

    def build(self, strategy: tuple[Any, str] | None) -> Conversion:
        router: dict[str, Any] = {}
        cooldown: dict[str, Any] = {}
        if "num_retries" in self.settings:
            value, key = self.settings["num_retries"]
            router["num_retries"] = value
            self.origins["router.num_retries"] = key
        if "timeout" in self.settings:
            value, key = self.settings["timeout"]
            router["timeout"] = value
            self.origins["router.timeout"] = key
        if "allowed_fails" in self.settings:
            value, key = self.settings["allowed_fails"]
            if value < 0:
                raise self.error(key, "must be 0 or more")
            cooldown["min_requests"] = value + 1
            cooldown["window"] = 60.0
            self.origins["router.cooldown.min_requests"] = key
            self.origins["router.cooldown.window"] = key
            self.notes.append(
                f"{key} = {value} is approximated: LiteLLM cools a deployment down after more "
                f"than {value} failures within a minute; llmrouter's breaker after at least "
                f"{value + 1} attempts within 60 s of which at least half failed "
                "(min_requests, window, failure_rate): the same for a deployment that fails "
                "every call, but it also counts successes"
            )
        if "duration" in self.settings:
            value, key = self.settings["duration"]
            cooldown["duration"] = value
            self.origins["router.cooldown.duration"] = key
        if cooldown:
            router["cooldown"] = cooldown
        models: dict[str, Any] = {}
        for alias, group in self.aliases.items():
            a = _key(alias)
            table: dict[str, Any] = {}
            if strategy is not None:
                table["strategy"] = strategy[0]
                self.origins[f"models.{a}.strategy"] = strategy[1]
            table["deployments"] = [
                {k: dep[k] for k in _DEPLOYMENT_ORDER if k in dep} for dep in group.deployments
            ]
            models[alias] = table
            self.origins[f"models.{a}"] = f"model_list[{group.first_index}].model_name"
            for j, fields in enumerate(group.fields):
                for ours, theirs in fields.items():
                    suffix = f".{ours}" if ours else ""
                    self.origins[f"models.{a}.deployments[{j}]{suffix}"] = theirs
        self.apply_fallbacks(models)
        data: dict[str, Any] = {}
        if router:
            data["router"] = router
        if self.master_key_env is not None:
            data["gateway"] = {"master_key_env": self.master_key_env}
        if models:
            data["models"] = models
        return Conversion(
            data=data,
            unsupported=tuple(self.unsupported),
            master_key=self.master_key,
            notes=tuple(self.notes),
            origins=dict(self.origins),
        )

    def apply_fallbacks(self, models: dict[str, Any]) -> None:
        chains: dict[str, list[str]] = {}
        wildcard: tuple[list[str], str] | None = None
        for source, targets, key in self.fallbacks:
            if source == "*":
                # LiteLLM's catch-all entry: like default_fallbacks.
                wildcard = (targets, key)
                continue
            if source not in models:
                self.skip(key, self.missing_alias(source))
                continue
            chain = chains.setdefault(source, [])
            for m, target in enumerate(targets):
                self.add_fallback(models, source, chain, target, f"{key}[{m}]")
        default = wildcard or self.default_fallbacks
        if default is not None:
            targets, key = default
            for alias in models:
                if alias in chains:
                    continue
                chain = chains.setdefault(alias, [])
                for m, target in enumerate(targets):
                    if target != alias:
                        self.add_fallback(models, alias, chain, target, f"{key}[{m}]", quiet=True)
        for alias, chain in chains.items():
            if chain:
                models[alias]["fallbacks"] = chain

    def add_fallback(
        self,
        models: Mapping[str, Any],
        source: str,
        chain: list[str],
        target: str,
        key: str,
        *,
        quiet: bool = False,
    ) -> None:
        if target == source:
            self.skip(key, "an alias cannot fall back to itself; its deployments already are")
        elif target not in models:
            if not quiet or not any(u.key == key for u in self.unsupported):
                self.skip(key, self.missing_alias(target))
        elif target not in chain:
            self.origins[f"models.{_key(source)}.fallbacks[{len(chain)}]"] = key
            chain.append(target)

    def missing_alias(self, name: str) -> str:
        if name in self.left_out:
            return (
                f"every deployment of {name!r} was left out (see above); this fallback is dropped"
            )
        return f"{name!r} is not a model_name in model_list; this fallback is dropped"


# --- loading and writing --------------------------------------------------------------------------


def load_gateway_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read the gateway's config: llmrouter's TOML, or a LiteLLM proxy YAML translated.

    Raises ConfigError naming the file and the key (the LiteLLM key for a YAML).
    """
    name = os.fspath(path)
    suffix = Path(name).suffix.lower()
    if suffix == ".toml":
        return LoadedConfig(config=load_config_file(name), source="toml")
    if suffix not in (".yaml", ".yml"):
        raise ConfigError(
            f"{name}: unknown config format {suffix or '(no extension)'!r}: expected llmrouter's "
            "TOML (.toml) or a LiteLLM proxy config (.yaml or .yml)",
            path=name,
        )
    conversion = convert_litellm(read_litellm_file(name), path=name, environ=environ)
    return LoadedConfig(
        config=validate_conversion(conversion, path=name),
        unsupported=conversion.unsupported,
        master_key=conversion.master_key,
        source="litellm",
        notes=conversion.notes,
    )


def validate_conversion(conversion: Conversion, *, path: str | None = None) -> RouterConfig:
    """``load_config`` of the converted data, with errors naming the LiteLLM key as well."""
    try:
        return load_config(conversion.data, path=path)
    except ConfigError as exc:
        raise _translate_error(exc, conversion.origins, path) from None


def to_toml(conversion: Conversion) -> str:
    """The converted config as llmrouter's TOML, headed by what was not converted and why.

    It is ``conversion.data``, plus ``[gateway] master_key_env = "LLMROUTER_MASTER_KEY"`` when
    the YAML held a literal master key (which is not written)."""
    lines = [
        "# llmrouter routing config, converted from a LiteLLM proxy config by",
        "# `llmrouter config convert`. Keys are not in this file: each deployment names the",
        "# environment variable that holds its key (api_key_env).",
    ]
    if conversion.master_key is not None:
        lines.append(
            f"# The master key written in the LiteLLM file is not copied: export {MASTER_KEY_ENV}."
        )
    if conversion.unsupported:
        lines += ["#", "# Not converted (no llmrouter equivalent):"]
        lines += [f"#   {_comment(u.key)}: {_comment(u.reason)}" for u in conversion.unsupported]
    if conversion.notes:
        lines += ["#", "# Notes:"]
        lines += [f"#   {_comment(n)}" for n in conversion.notes]
    data = conversion.data
    if conversion.master_key is not None and "master_key_env" not in data.get("gateway", {}):
        data = {**data, "gateway": {**data.get("gateway", {}), "master_key_env": MASTER_KEY_ENV}}
    body = tomli_w.dumps(data)
    return "\n".join(lines) + "\n\n" + body


def convert_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``llmrouter config convert FILE [-o PATH]``: the TOML on stdout or in PATH, and one
    ``warning:`` line on stderr per key that was not converted."""
    source = os.fspath(args.file)
    output = getattr(args, "output", None)
    if output and Path(output).exists() and Path(output).resolve() == Path(source).resolve():
        raise ConfigError(
            f"{output}: is the LiteLLM file being converted; write the TOML elsewhere",
            path=output,
        )
    conversion = convert_litellm(read_litellm_file(source), path=source)
    validate_conversion(conversion, path=source)  # never write a file that llmrouter would refuse
    text = to_toml(conversion)
    for item in conversion.unsupported:
        err.write(f"warning: {item.key}: {item.reason}\n")
    for note in conversion.notes:
        err.write(f"note: {note}\n")
    if conversion.master_key is not None:
        err.write(
            f"note: general_settings.master_key is written in {source}; the TOML names "
            f"{MASTER_KEY_ENV} instead: export {MASTER_KEY_ENV} with that key before "
            "llmrouter serve (the key is not shown)\n"
        )
    if output:
        target = Path(output)
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"{output}: cannot be written: {exc.strerror or exc}", path=output
            ) from None
        err.write(f"wrote {output}\n")
    else:
        out.write(text)
    err.flush()
    out.flush()
    return 0


# --- small helpers --------------------------------------------------------------------------------


def _per_million(value: float) -> float:
    """USD per token to USD per million tokens, in decimal: a price the user wrote as 4e-07
    should read 0.4 in the TOML, not the float product 0.39999999999999997."""
    try:
        return float(Decimal(repr(value)) * 1_000_000)
    except InvalidOperation:  # pragma: no cover - repr of a finite float is always a decimal
        return value * 1_000_000


def _host(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)", url.strip())
    return match.group(1).lower() if match else None


def _seg(name: Any) -> str:
    """One segment of a LiteLLM key path, as shown to the user: bare when plain, quoted
    otherwise, and never a key name that looks like a credential."""
    text = str(name)
    if looks_like_credential(text):
        return "<a key name that looks like a credential, not shown>"
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else '"' + _comment(text) + '"'


def _key(alias: str) -> str:
    """An alias as llmrouter's error messages spell it in a key path (llmrouter.config)."""
    return alias if re.fullmatch(r"[A-Za-z0-9_-]+", alias) else f'"{alias}"'


def _type_name(value: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true/false"}
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "a list"
    return names.get(type(value), type(value).__name__)


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text).strip()


def _comment(text: str) -> str:
    """Text safe inside a one-line comment or a quoted key segment."""
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


_LINE_KEY = re.compile(r'^(\s+)((?:"[^"]*"|[^\s:"])+): ')


def _translate_error(exc: ConfigError, origins: Mapping[str, str], path: str | None) -> ConfigError:
    """Rewrite llmrouter key paths in a validation error to the LiteLLM keys they came from."""

    def theirs(ours: str) -> str | None:
        probe = ours
        while probe:
            if probe in origins:
                return origins[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return None

    def both(ours: str) -> str:
        found = theirs(ours)
        return f"{found} (llmrouter key {ours})" if found else ours

    where = path or "config"
    lines = str(exc).split("\n")
    head = f"{where}: {exc.key}: " if exc.key else None
    if head and lines[0].startswith(head):
        lines[0] = f"{where}: {both(exc.key or '')}: " + lines[0][len(head) :]
    for n in range(1, len(lines)):
        match = _LINE_KEY.match(lines[n])
        if match:
            lines[n] = f"{match.group(1)}{both(match.group(2))}: " + lines[n][match.end() :]
    key = theirs(exc.key) if exc.key else None
    return ConfigError("\n".join(lines), path=path, key=key or exc.key)
