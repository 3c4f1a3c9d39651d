"""The routing configuration: aliases, deployments, retries, cooldowns.

A config maps *aliases* (names a caller uses as ``model=``) to *deployments* (concrete
``provider/model`` routes with their own base URL, key variable, weight and limits), and says how
hard the router tries before giving up. It is usually a TOML file::

    [router]
    num_retries = 2
    [models.chat]
    fallbacks = ["backup"]
    [[models.chat.deployments]]
    model = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
    api_key_env = "TOGETHER_API_KEY"

The models are pydantic with ``extra="forbid"`` because a misspelt key that is silently ignored
is a retry policy that silently does not apply. Every problem becomes one
:class:`~llmrouter.errors.ConfigError` that names the file, the key path and what is allowed.

Keys never live in the file: a deployment names the environment variable that holds its key
(``api_key_env``) and the router reads it when a request is built. Nothing in the file is ever
evaluated.

The reference in ``docs/configuration.md`` is generated from these models by
:func:`render_schema_markdown` (a test fails when the two differ), so it cannot drift.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# CONFIG_ENV and DEFAULT_CONFIG_FILE: where the file is looked up lives apart, light to import.
from llmrouter._configfile import CONFIG_ENV, DEFAULT_CONFIG_FILE
from llmrouter.errors import ConfigError
from llmrouter.secrets import looks_like_credential
from llmrouter.validation import MAX_TIMEOUT

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "SCHEMA_BEGIN",
    "SCHEMA_END",
    "CooldownSettings",
    "Deployment",
    "GatewaySettings",
    "ModelGroup",
    "RouterConfig",
    "RouterSettings",
    "Strategy",
    "load_config",
    "load_config_file",
    "render_schema_markdown",
    "write_schema_docs",
]

Strategy = Literal["weighted", "least-busy", "lowest-latency"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$")
# Options the router itself owns: a deployment setting them in ``options`` would be ambiguous.
_RESERVED_OPTIONS = frozenset(
    {
        "model",
        "messages",
        "input",
        "stream",
        "api_key",
        "api_base",
        "timeout",
        "prompt_template",
        "metadata",
        "extra_body",
        "extra_headers",
    }
)
# Keys whose values are never echoed into an error message (they may hold something secret).
_SENSITIVE_KEYS = frozenset({"api_key", "api_key_env", "key", "token", "secret", "password"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data: Any, info: ValidationInfo) -> Any:
        """Refuse any key-shaped string (value or key name) before field validation, which
        would otherwise accept it (``api_key_env = "tgp_v1_..."`` is a valid variable name) or
        echo it in a type error. Raised as ConfigError, which pydantic lets through."""
        found = _credential_at(data, ())
        if found is not None:
            path = (info.context or {}).get("path") if info is not None else None
            raise _credential_error(path, *found)
        return data


class CooldownSettings(_Strict):
    """When a failing deployment is taken out of rotation, and for how long."""

    min_requests: int = Field(
        5,
        ge=1,
        description="Minimum attempts on a deployment within `window` before it can be cooled "
        "down: a single unlucky failure never ejects anything.",
    )
    failure_rate: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Fraction of those attempts that must have failed (0 < rate <= 1).",
    )
    window: float = Field(
        60.0,
        gt=0,
        description="Seconds of history the failure rate is computed over (counted in "
        "60ths of it, so an outcome leaves up to 1/60th of the window late; the memory this "
        "takes does not grow with the request rate).",
    )
    duration: float = Field(
        30.0,
        gt=0,
        description="Seconds a tripped deployment is skipped. Afterwards one trial attempt "
        "decides: success closes the breaker, failure trips it again.",
    )


class RouterSettings(_Strict):
    """How hard the router tries, for every alias."""

    num_retries: int = Field(
        2,
        ge=0,
        le=20,
        description="Retries on the same deployment for a retryable failure (connection "
        "error, timeout, 408, 409, 429, 5xx) before moving on to the next deployment.",
    )
    timeout: float = Field(
        600.0,
        gt=0,
        le=MAX_TIMEOUT,
        allow_inf_nan=False,
        description="Seconds for one attempt, a deadline: a response must be complete "
        "within it (connect to last byte), a stream must send its first event within it and "
        "then each next event within it of the one before (connect is also limited to "
        "min(timeout, 10)). It is the default timeout of the HTTP client the router builds, "
        "so it also applies to calls that name a provider/model directly; "
        "`Router(timeout=...)` overrides it. A client passed as `http_client=` keeps its own.",
    )
    retry_budget: float = Field(
        60.0,
        gt=0,
        description="Seconds after the start of a call during which retries and fallbacks may "
        "begin; a backoff that would end later is not taken. Bounds a call to about "
        "retry_budget + one attempt's timeout.",
    )
    backoff_base: float = Field(
        0.5,
        ge=0,
        description="Seconds; the n-th retry waits a random time in [0, min(backoff_max, "
        "backoff_base * 2**n)] (full jitter).",
    )
    backoff_max: float = Field(8.0, ge=0, description="Seconds; the cap of one backoff wait.")
    retry_after_max: float = Field(
        30.0,
        ge=0,
        description="Longest Retry-After / retry-after-ms (seconds) the router waits for; a "
        "longer one moves on to the next deployment instead of waiting.",
    )
    # 128 MiB: llmrouter._http.DEFAULT_MAX_RESPONSE_BYTES (not imported: it would load httpx).
    max_response_bytes: int = Field(
        134_217_728,
        gt=0,
        description="Largest response body, or single stream event, read (bytes; default "
        "128 MiB). A Content-Length above it fails before the body is read; a body or event "
        "growing past it fails as soon as it does (ResponseTooLargeError, and a routed call "
        "moves on to the next deployment). `Router(max_response_bytes=...)` overrides it.",
    )
    engine: Literal["httpx", "native"] = Field(
        "httpx",
        description="The HTTP engine of a sync Router built from this config (the module-level "
        "`llmrouter.completion()` included): `httpx` (httpx as httpx builds it) or `native` "
        "(httpx over llmrouter's HTTP/1.1 transport, which reads with httptools: about a third "
        "of the CPU per streamed chunk, `pip install 'llmrouter[native]'`). "
        "`Router(engine=...)` overrides it; a Router given `http_client=` keeps that client.",
    )
    async_engine: Literal["httpx", "httpx-stock", "aiohttp", "native"] = Field(
        "httpx",
        description="The HTTP engine of an AsyncRouter built from this config (the module-level "
        "`llmrouter.acompletion()` included): `httpx` (httpx with llmrouter's connection pool), "
        "`httpx-stock`, `aiohttp` or `native` (both `pip install 'llmrouter[aiohttp]'`). "
        "`AsyncRouter(engine=...)` overrides it; one given `http_client=` keeps that client. "
        "`llmrouter serve` uses `[gateway] engine` instead.",
    )
    cooldown: CooldownSettings = Field(
        default_factory=CooldownSettings,
        description="The circuit breaker: see `[router.cooldown]`.",
    )
    max_budget: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="USD this router may spend per `budget_period`; once reached, calls raise "
        "BudgetExceededError before anything is sent (docs/cost.md). Unset: no cap. "
        "`Router(max_budget=...)` overrides it.",
    )
    budget_period: str | float | None = Field(
        None,
        description="How often the spend resets: a count and unit such as '30m', '12h', '1d', "
        "'7d' (s, m, h, d, w), or seconds. Unset: the cap never resets.",
    )

    @model_validator(mode="after")
    def _period_needs_budget(self) -> RouterSettings:
        if self.budget_period is not None and self.max_budget is None:
            raise ValueError("budget_period needs max_budget (the USD to spend per period)")
        return self

    @field_validator("budget_period")
    @classmethod
    def _period(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            from llmrouter.budget import parse_period

            try:
                parse_period(value)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return value


class _Priced(_Strict):
    """Prices set by hand, in USD per million tokens, over genai-prices' (docs/cost.md): on a
    deployment, or on an alias for each of its deployments that sets none."""

    input_cost_per_mtok: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="USD per million prompt tokens, over genai-prices' price (private "
        "deployments, negotiated rates); set with output_cost_per_mtok. On an alias: for each "
        "deployment that sets no price of its own.",
    )
    output_cost_per_mtok: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="USD per million completion tokens; set with input_cost_per_mtok.",
    )
    cached_input_cost_per_mtok: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="USD per million prompt tokens read from the provider's prompt cache; "
        "the input price when unset.",
    )

    @model_validator(mode="after")
    def _prices(self) -> _Priced:
        _check_price_pair(self)
        return self


class Deployment(_Priced):
    """One concrete route an alias can be served by."""

    model: str = Field(
        description="The route, `<provider>/<model>`, e.g. "
        "`together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo`."
    )
    name: str | None = Field(
        None,
        description="A label for logs, CallInfo and errors; defaults to `model` (with "
        "`#<index>` added when an alias lists the same model twice).",
    )
    api_base: str | None = Field(
        None, description="Base URL of this deployment (http or https); provider default if unset."
    )
    api_key_env: str | None = Field(
        None,
        description="Name of the environment variable holding this deployment's key, read at "
        "call time. Keys never sit in the file. Unset: the provider's own variables.",
    )
    weight: float = Field(
        1.0, gt=0, description="Relative share of traffic under the 'weighted' strategy."
    )
    rpm: int | None = Field(
        None,
        gt=0,
        description="Requests per minute this deployment may receive (attempts "
        "included); a deployment at its limit is skipped.",
    )
    timeout: float | None = Field(
        None,
        gt=0,
        le=MAX_TIMEOUT,
        allow_inf_nan=False,
        description="Seconds for one attempt on this deployment; overrides `[router] timeout`.",
    )
    prompt_template: str | None = Field(
        None,
        description="Prompt template to render chat messages with (e.g. 'llama-2'); sends "
        "them to the text-completion endpoint.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Default provider options (temperature, max_tokens, ...); the caller's "
        "options win.",
    )

    @field_validator("model")
    @classmethod
    def _route(cls, value: str) -> str:
        provider, sep, rest = value.partition("/")
        if not sep or not provider.strip() or not rest.strip():
            raise ValueError(
                "must be '<provider>/<model>', e.g. "
                "'together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo'"
            )
        return value.strip()

    @field_validator("api_base")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as 'https://api.together.xyz/v1'")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            # Never echo the value: a key pasted here by mistake must not end up in a log.
            raise ValueError(
                "must be the NAME of an environment variable (letters, digits, '_'), e.g. "
                "'TOGETHER_API_KEY'; put the key itself in that variable"
            )
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(_RESERVED_OPTIONS.intersection(value))
        if reserved:
            raise ValueError(
                f"{', '.join(reserved)} cannot be a default option; use the deployment's own "
                "keys (model, api_base, api_key_env, timeout, prompt_template)"
            )
        return value

    @property
    def provider(self) -> str:
        return self.model.partition("/")[0].strip()

    @property
    def provider_model(self) -> str:
        return self.model.partition("/")[2].strip()


class ModelGroup(_Priced):
    """An alias: the deployments that serve it, how to choose one, and where to go next."""

    strategy: Strategy = Field(
        "weighted",
        description="How a deployment is chosen: 'weighted' (random by weight), 'least-busy' "
        "(fewest requests in flight), 'lowest-latency' (lowest moving average of the time to "
        "the response or first chunk).",
    )
    fallbacks: list[str] = Field(
        default_factory=list,
        description="Other aliases tried in order when every deployment of this one failed "
        "(not followed transitively).",
    )
    deployments: list[Deployment] = Field(
        min_length=1,
        description="Where this alias can be served (`[[models.<alias>.deployments]]`).",
    )


def _check_price_pair(model: _Priced) -> None:
    """Input and output prices come together: half a price would price the other half at 0."""
    given = model.input_cost_per_mtok is not None, model.output_cost_per_mtok is not None
    if given[0] != given[1]:
        raise ValueError(
            "set input_cost_per_mtok and output_cost_per_mtok together (a missing one would "
            "count those tokens as free)"
        )
    if model.cached_input_cost_per_mtok is not None and not given[0]:
        raise ValueError(
            "cached_input_cost_per_mtok needs input_cost_per_mtok and output_cost_per_mtok"
        )


def price_of(group: ModelGroup, deployment: Deployment) -> Any:
    """The :class:`llmrouter.cost.ModelPrice` set in the config for ``deployment`` of
    ``group`` (its own, else the alias's), or ``None``: then genai-prices prices it."""
    for source in (deployment, group):
        if source.input_cost_per_mtok is not None and source.output_cost_per_mtok is not None:
            from llmrouter.cost import ModelPrice

            return ModelPrice.of(
                source.input_cost_per_mtok,
                source.output_cost_per_mtok,
                source.cached_input_cost_per_mtok,
            )
    return None


class GatewaySettings(_Strict):
    """How ``llmrouter serve`` (the ``llmrouter-gateway`` package) listens and whom it admits."""

    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address to listen on. Without a master key the gateway serves only "
        "127.0.0.1 (or ::1), whatever this says.",
    )
    port: int = Field(4000, ge=0, le=65535, description="Port to listen on (0: any free port).")
    workers: int = Field(
        1, ge=1, le=256, description="Worker processes (each its own router and event loop)."
    )
    master_key_env: str | None = Field(
        None,
        description="Name of the environment variable that holds the master key, the one "
        "credential the gateway accepts (`Authorization: Bearer <key>` or `x-api-key`). "
        "Unset: no key is asked for and only 127.0.0.1 is served.",
    )
    max_body_bytes: int = Field(
        16_777_216,
        gt=0,
        description="Largest request body accepted (bytes; default 16 MiB); a larger one gets "
        "a 400 before it is read.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins a browser may call the gateway from (`*` for any); empty: CORS off.",
    )
    engine: Literal["native", "aiohttp"] = Field(
        "native",
        description="How the gateway calls providers: `native` (non-streamed calls over "
        "llmrouter's own HTTP/1.1 client, streams over aiohttp; the least CPU per request) or "
        "`aiohttp` (everything over aiohttp). See the async engines in the quickstart.",
    )

    database_url: str | None = Field(
        None,
        repr=False,
        description="Virtual keys, limits, budgets and spend logs: the store's database, "
        "`sqlite:///path/to/keys.db` or `postgresql://user@host:5432/db`. Unset (and "
        "`database_url_env` unset): no virtual keys, only the master key. Needs a master key. "
        "A URL with a password belongs in `database_url_env`, not in this file.",
    )
    database_url_env: str | None = Field(
        None,
        description="Name of the environment variable that holds `database_url` (used instead "
        "of it); an unset or empty variable stops the gateway from starting.",
    )
    redis_url: str | None = Field(
        None,
        repr=False,
        description="Redis for the per-key rate-limit and budget counters and the deployment "
        "cooldowns, so several gateway processes count as one (`redis://host:6379/0`). Unset: "
        "counted in each process.",
    )
    redis_url_env: str | None = Field(
        None,
        description="Name of the environment variable that holds `redis_url` (used instead of it).",
    )
    cooldown_sync_interval: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="With `redis_url`: seconds between two reads of the cooldowns the other "
        "gateway processes published, so a deployment one process ejects is skipped by the "
        "others within this time (each process publishes its own ejections at once).",
    )
    inflight_sync_interval: float = Field(
        0.25,
        gt=0,
        le=60,
        description="With `redis_url`: seconds between two exchanges of the calls in flight "
        "per deployment with the other gateway processes, for `least-busy` aliases (one Redis "
        "round trip per exchange, none per request); the others' counts are this old at most.",
    )
    key_cache_ttl: float = Field(
        30.0,
        ge=0,
        le=86_400,
        description="Seconds a virtual key's record is cached in each process: a revoked, "
        "blocked or changed key takes effect within this time; 0 reads the database on every "
        "request.",
    )

    @field_validator("master_key_env", "database_url_env", "redis_url_env")
    @classmethod
    def _key_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            # Never echo the value: a key pasted here by mistake must not end up in a log.
            raise ValueError(
                "must be the NAME of an environment variable (letters, digits, '_'), e.g. "
                "'LLMROUTER_MASTER_KEY'; put the key itself in that variable"
            )
        return value


class RouterConfig(_Strict):
    """The whole file: ``[router]`` settings, ``[models.<alias>]`` groups and ``[gateway]``."""

    router: RouterSettings = Field(
        default_factory=RouterSettings, description="Retry, timeout and cooldown settings."
    )
    gateway: GatewaySettings = Field(
        default_factory=GatewaySettings,
        description="The HTTP gateway (`llmrouter serve`): see `[gateway]`.",
    )
    models: dict[str, ModelGroup] = Field(
        default_factory=dict, description="Aliases, by name ([models.<alias>])."
    )

    @field_validator("models")
    @classmethod
    def _aliases(cls, value: dict[str, ModelGroup]) -> dict[str, ModelGroup]:
        for alias in value:
            if not _ALIAS.match(alias):
                raise ValueError(
                    f"alias {alias!r} must start with a letter or digit and contain no '/' or "
                    "spaces (a name with '/' is a provider/model route, not an alias)"
                )
        return value

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> RouterConfig:
        # Cross-references are checked here, after every field is known to be well-formed.
        # ConfigError is not a ValueError, so pydantic lets it through with our key path.
        path = (info.context or {}).get("path") if info is not None else None
        aliases = sorted(self.models)
        for alias, group in self.models.items():
            seen: set[str] = set()
            for i, target in enumerate(group.fallbacks):
                key = f"models.{_key(alias)}.fallbacks[{i}]"
                if target == alias:
                    raise _config_error(path, key, f"alias {alias!r} cannot fall back to itself")
                if target not in self.models:
                    raise _config_error(
                        path,
                        key,
                        f"unknown alias {target!r}{_suggest(target, aliases)}; allowed: "
                        f"{', '.join(repr(a) for a in aliases)}",
                    )
                if target in seen:
                    raise _config_error(path, key, f"alias {target!r} is listed twice")
                seen.add(target)
            names: set[str] = set()
            for i, dep in enumerate(group.deployments):
                if dep.name is None:
                    continue
                if dep.name in names:
                    raise _config_error(
                        path,
                        f"models.{_key(alias)}.deployments[{i}].name",
                        f"deployment name {dep.name!r} is used twice in alias {alias!r}; "
                        "names must be unique within an alias",
                    )
                names.add(dep.name)
        return self

    def deployment_names(self, alias: str) -> list[str]:
        """The label of each deployment of ``alias``: its ``name``, else its model (with
        ``#<index>`` when the alias lists that model more than once)."""
        deployments = self.models[alias].deployments
        counts: dict[str, int] = {}
        for dep in deployments:
            counts[dep.model] = counts.get(dep.model, 0) + 1
        out = []
        for i, dep in enumerate(deployments):
            if dep.name is not None:
                out.append(dep.name)
            elif counts[dep.model] > 1:
                out.append(f"{dep.model}#{i}")
            else:
                out.append(dep.model)
        return out


# --- loading --------------------------------------------------------------------------------------


def load_config(
    source: RouterConfig | Mapping[str, Any], *, path: str | None = None
) -> RouterConfig:
    """Validate a config given as a model or a plain mapping (e.g. parsed TOML).

    ``path`` names the file in error messages. Raises :class:`ConfigError`.
    """
    if isinstance(source, RouterConfig):
        return source
    if not isinstance(source, Mapping):
        raise ConfigError(
            f"config must be a RouterConfig or a dict (parsed TOML), got {type(source).__name__}; "
            "to read a file use Router.from_file(path)",
            path=path,
        )
    try:
        return RouterConfig.model_validate(dict(source), context={"path": path})
    except ValidationError as exc:
        raise _from_validation_error(exc, path) from None


def load_config_file(path: str | os.PathLike[str]) -> RouterConfig:
    """Read and validate a TOML config file. Raises :class:`ConfigError` naming the file."""
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {name!r} does not exist; check the path (or {CONFIG_ENV})", path=name
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"config file {name!r} cannot be read: {exc.strerror or exc}", path=name
        ) from None
    toml = _toml()
    try:
        data = toml.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: config file is not UTF-8 text", path=name) from None
    except toml.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}", path=name) from None
    return load_config(data, path=name)


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    else:  # pragma: no cover - Python 3.10 only
        import tomli

        return tomli


# --- error messages -------------------------------------------------------------------------------


def _key(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'


def _key_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        text = _key(part)
        if isinstance(part, int):
            out += text
        else:
            out += ("." if out else "") + text
    return out or "(top level)"


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _credential_in(value: str) -> bool:
    """Whether a config string holds a key. In a URL the host is not looked at (host names are
    often generated: ``abc123xyz...lambda-url.us-east-1.on.aws``), nor path segments that are
    ids in hex (Cloudflare's AI gateway puts a 32-digit account id there); a password, a query
    value or another path segment that looks like a key is one."""
    if value[:8].lower().startswith(("http://", "https://")):
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            return looks_like_credential(value)
        if password:
            return True
        if any(looks_like_credential(v) for _, v in parse_qsl(parts.query)):
            return True
        return any(
            looks_like_credential(segment) and not _HEX_ID.fullmatch(segment)
            for segment in parts.path.split("/")
        )
    return looks_like_credential(value)


#: A hex id (up to 40 digits: UUIDs without dashes, account ids, SHA-1s), not a key.
_HEX_ID = re.compile(r"[0-9a-fA-F]{1,40}")


def _credential_at(
    value: Any, loc: tuple[str | int, ...], depth: int = 0
) -> tuple[tuple[str | int, ...], bool] | None:
    """Where the first key-shaped string in a raw config value is: its key path, and whether
    it is a key name (then the path is its parent's, since the name itself must not be shown).
    """
    if isinstance(value, str):
        return (loc, False) if _credential_in(value) else None
    if depth > 32:
        return None
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and looks_like_credential(k):
                return loc, True
            found = _credential_at(v, (*loc, k if isinstance(k, (str, int)) else str(k)), depth + 1)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _credential_at(v, (*loc, i), depth + 1)
            if found is not None:
                return found
    return None


def _credential_error(path: str | None, loc: tuple[str | int, ...], is_name: bool) -> ConfigError:
    key = _key_path(loc)
    if is_name:
        problem = (
            "a key name here looks like an API key or token, not a config key; keys never go "
            "in the config: put the key in an environment variable and name that variable with "
            "api_key_env (the value is not shown)"
        )
    elif loc and loc[-1] == "api_key_env":
        problem = (
            "this looks like a key, not the NAME of an environment variable: put the key in the "
            "environment (export TOGETHER_API_KEY=...) and the variable's name here "
            '(api_key_env = "TOGETHER_API_KEY"); the value is not shown'
        )
    else:
        problem = (
            "this value looks like an API key or token; keys never go in the config: put the "
            "key in an environment variable and name that variable with api_key_env (the value "
            "is not shown)"
        )
    return _config_error(path, key, problem)


def _config_error(path: str | None, key: str, problem: str) -> ConfigError:
    where = path or "config"
    return ConfigError(f"{where}: {key}: {problem}", path=path, key=key)


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so the model class behind a field can be found."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The config model class that owns the last key of ``loc`` (for 'allowed keys' lists)."""
    current: Any = RouterConfig
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = _unwrap(field.annotation)
        elif get_origin(current) is dict:
            current = _unwrap(get_args(current)[1])
        elif get_origin(current) is list:
            current = _unwrap(get_args(current)[0])
        else:
            return None
        # A dict/list level consumes the next key or index.
        while get_origin(current) in (dict, list) and parts:
            parts.pop(0)
            args = get_args(current)
            current = _unwrap(args[1] if get_origin(current) is dict else args[0])
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    loc: tuple[str | int, ...] = tuple(error.get("loc") or ())
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        bad = str(loc[-1]) if loc else "?"
        allowed = sorted(owner.model_fields) if owner is not None else []
        hint = ""
        if bad == "api_key":
            hint = "; keys never go in the config: set an environment variable and name it with api_key_env"
        elif allowed:
            hint = _suggest(bad, allowed)
        listing = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return _key_path(loc), f"unknown key {bad!r}{hint}{listing}"
    if kind == "missing":
        return _key_path(loc), "required key is missing"
    message = str(error.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    leaf = str(loc[-1]) if loc else ""
    value = error.get("input")
    shown = ""
    if (
        leaf not in _SENSITIVE_KEYS
        and not isinstance(value, (dict, list))
        and kind != "value_error"
        and not (isinstance(value, str) and looks_like_credential(value))
    ):
        shown = f" (got {value!r})"
    return _key_path(loc), f"{message}{shown}"


def _from_validation_error(exc: ValidationError, path: str | None) -> ConfigError:
    problems = [_describe(e) for e in exc.errors(include_url=False)]
    where = path or "config"
    first_key = problems[0][0] if problems else None
    if len(problems) == 1:
        key, problem = problems[0]
        return ConfigError(f"{where}: {key}: {problem}", path=path, key=key)
    lines = "\n".join(f"  {key}: {problem}" for key, problem in problems)
    return ConfigError(
        f"{where}: {len(problems)} problems in the config:\n{lines}", path=path, key=first_key
    )


# --- the generated reference ----------------------------------------------------------------------

#: Section headings (TOML table names) for each model, in the order the reference lists them.
_SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("[router]", RouterSettings),
    ("[router.cooldown]", CooldownSettings),
    ("[models.<alias>]", ModelGroup),
    ("[[models.<alias>.deployments]]", Deployment),
    ("[gateway]", GatewaySettings),
)


def _type_name(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f'`"{a}"`' for a in get_args(annotation))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        return "table"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_text(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
        return f"`{value!r}`" if value else ("`[]`" if isinstance(value, list) else "`{}`")
    if field.default is None:
        return "unset"
    value = field.default
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def render_schema_markdown() -> str:
    """The key-by-key reference of the config, generated from the models above.

    docs/configuration.md embeds this text between ``<!-- schema:begin -->`` and
    ``<!-- schema:end -->``; a test compares them, so regenerate with
    ``uv run python -c "from llmrouter.config import write_schema_docs; write_schema_docs()"``.
    """
    out: list[str] = []
    for title, model in _SECTIONS:
        doc = (model.__doc__ or "").strip().splitlines()[0]
        out.append(f"### `{title}`\n\n{doc}\n")
        out.append("| key | type | default | meaning |")
        out.append("| --- | --- | --- | --- |")
        for name, field in model.model_fields.items():
            description = (field.description or "").replace("|", "\\|")
            constraints = _constraints(field)
            if constraints:
                description += f" ({constraints})"
            out.append(
                f"| `{name}` | {_type_name(field.annotation)} | {_default_text(field)} | "
                f"{description} |"
            )
        out.append("")
    return "\n".join(out)


def _constraints(field: Any) -> str:
    parts = []
    for meta in field.metadata:
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
        min_length = getattr(meta, "min_length", None)
        if min_length:
            parts.append(f"at least {min_length}")
    return ", ".join(parts)


SCHEMA_BEGIN = "<!-- schema:begin (generated by llmrouter.config.render_schema_markdown) -->"
SCHEMA_END = "<!-- schema:end -->"


def write_schema_docs(path: str | os.PathLike[str] = "docs/configuration.md") -> bool:
    """Rewrite the generated block of ``path``; returns True when it changed."""
    doc = Path(path)
    text = doc.read_text(encoding="utf-8")
    start = text.index(SCHEMA_BEGIN) + len(SCHEMA_BEGIN)
    end = text.index(SCHEMA_END)
    new = text[:start] + "\n\n" + render_schema_markdown() + "\n" + text[end:]
    if new != text:
        doc.write_text(new, encoding="utf-8")
        return True
    return False
