"""The plugin host: finds, loads and isolates plugins, and hands out per-provider hook callers.

Providers are discovered from the ``llmrouter.providers`` entry-point group by *name only*; a
provider's module is imported the first time a call names it, so ``import llmrouter`` imports no
provider. Cross-cutting plugins (group ``llmrouter.plugins``) and the built-in ones are loaded at
the same moment, on the first call, through the same function.

A plugin that fails to import or register is recorded (see :func:`plugin_errors`), logged as a
structured warning and skipped; it never breaks another provider: only a call to *that* provider
raises :class:`~llmrouter.errors.PluginLoadError` (and a routed call moves on to its next
deployment). Two installed distributions that register the same provider name are not a
load order to guess from: the provider's key would go to whichever came first on ``sys.path``.
Both are recorded, and calls to that provider raise
:class:`~llmrouter.errors.AmbiguousProviderError` until one is chosen. Environment switches:

``LLMROUTER_DISABLE_PLUGIN_AUTOLOAD=1``
    Do not read entry points at all; only plugins registered in code (and the built-ins) exist.
``LLMROUTER_STRICT_PLUGINS=1``
    Raise :class:`~llmrouter.errors.PluginLoadError` on a load failure instead of only recording
    it, on every call while a cross-cutting plugin is broken (for CI).
``LLMROUTER_PROVIDER_<NAME>=<distribution>``
    Which distribution provides provider ``<name>`` (upper-cased, each character other than a
    letter or digit replaced by ``_``) when several register it; also a pin when only one does.
    ``PluginHost(distributions={name: distribution})`` says the same in code and wins.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from llmrouter import hookspecs
from llmrouter.errors import AmbiguousProviderError, PluginLoadError, UnknownProviderError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from pluggy import HookCaller

__all__ = ["PluginError", "PluginHost", "ProviderHooks"]

PROVIDER_GROUP = "llmrouter.providers"
PLUGIN_GROUP = "llmrouter.plugins"

#: Plugins that ship inside llmrouter, loaded exactly like entry-point plugins.
BUILTIN_PLUGINS: dict[str, str] = {"llmrouter.log": "llmrouter.logs"}

_STAGES = (
    "llmrouter_format_prompt",
    "llmrouter_build_request",
    "llmrouter_parse_response",
    "llmrouter_parse_stream_event",
    "llmrouter_map_error",
    "llmrouter_response_received",
    "llmrouter_call_end",
    "llmrouter_cache_lookup",
    "llmrouter_cache_store",
)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class PluginError:
    """A plugin that failed to load: its name, where it came from, and why."""

    name: str
    source: str
    error: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.name} ({self.source}): {self.error}"


def provider_env_var(name: str) -> str:
    """The variable that chooses the distribution of provider ``name``:
    ``LLMROUTER_PROVIDER_`` + the name upper-cased, anything but letters and digits as ``_``."""
    return "LLMROUTER_PROVIDER_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _normalize_dist(name: str) -> str:
    # PEP 503 normalization: "Acme_LLM", "acme.llm" and "acme-llm" are one distribution.
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_label(ep: EntryPoint) -> tuple[str, str]:
    """``(distribution name, version)`` of an entry point, ``("?", "")`` when unknown."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "?", ""
    name = dist.metadata["Name"] or "?"
    return str(name), str(dist.version or "")


def _describe_candidate(ep: EntryPoint) -> str:
    dist, version = _dist_label(ep)
    return f"{dist} {version} ({ep.value})" if version else f"{dist} ({ep.value})"


@dataclass(frozen=True, slots=True)
class _Unresolved:
    """A provider name whose entry point llmrouter will not pick on its own.

    Either several distributions register it and none was chosen, or the choice names a
    distribution that does not register it. ``error`` is the message every call gets.
    """

    candidates: tuple[EntryPoint, ...]
    error: str

    def reports(self, name: str) -> list[PluginError]:
        """One record per candidate distribution, so every listing shows each of them."""
        rows = []
        for ep in self.candidates:
            dist, version = _dist_label(ep)
            rows.append(
                PluginError(
                    name=name,
                    source=f"entry point {ep.value} in {dist} {version}".rstrip(),
                    error=f"AmbiguousProviderError: {self.error}",
                    traceback="",
                )
            )
        return rows


#: A stage caller: keyword arguments as in the hookspec, result as pluggy would return it.
StageCaller = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ProviderHooks:
    """Hook callers that reach one provider plugin plus every cross-cutting plugin.

    Each field is called like a pluggy hook caller (keyword arguments) and returns what pluggy
    would return; see :func:`_stage_caller` for the shortcut taken when a stage has a single
    plain implementation.
    """

    provider: str
    format_prompt: StageCaller
    build_request: StageCaller
    parse_response: StageCaller
    parse_stream_event: StageCaller
    map_error: StageCaller
    response_received: StageCaller
    call_end: StageCaller
    cache_lookup: StageCaller
    cache_store: StageCaller
    #: Whether a cache plugin is registered (either cache hook has an implementation): without
    #: one the core skips both cache hooks, and a call's ``cache=`` controls are an error.
    caching: bool = False
    #: The single plain ``parse_stream_event`` implementation, to be called by position in
    #: the hookspec's argument order, while pluggy is unchanged; ``None`` otherwise (then call
    #: ``parse_stream_event``). Asked once per batch of events (see :func:`_direct`).
    parse_stream_event_direct: Callable[[], Callable[..., Any] | None] = lambda: None
    #: ``True`` when the outcome of a *successful* call would reach no-one, so the core may skip
    #: building it: every ``call_end`` implementation says it is idle (the built-in log plugin
    #: while INFO is off). Checked on every call (see :func:`_success_end_idle`).
    success_end_idle: Callable[[], bool] = lambda: False


def _success_end_idle(pm: pluggy.PluginManager, caller: HookCaller) -> Callable[[], bool]:
    """The ``success_end_idle`` check for ``caller`` (a provider's ``call_end`` caller).

    Building a :class:`~llmrouter.pipeline.CallOutcome` and calling the stage was about a tenth
    of llmrouter's own per-call cost, spent for listeners that return at once: the log plugin
    when INFO is off (the default), a tracing plugin with no tracer configured. A plugin says so
    with a ``call_end_idle()`` method (a module-level function for a module plugin) answering
    ``True`` while its ``llmrouter_call_end`` would do nothing; the outcome of a *successful*
    call is skipped while every implementation answers ``True``. An implementation without one,
    a wrapper, hook monitoring, or a plugin registered later on ``host.pm`` directly (the live
    list is compared, as in :func:`_stage_caller`) makes the check answer ``False``, and the
    outcome is built as always. Failures are always told: their outcome is always built.
    """
    from llmrouter import logs

    impls = caller.get_hookimpls()
    watch = _watch(pm, caller)
    if not impls or watch is None or any(i.hookwrapper or i.wrapper for i in impls):
        return _never
    checks = []
    for impl in impls:
        check = getattr(impl.plugin, "call_end_idle", None)
        if not callable(check):
            return _never
        checks.append(check)
    live, snapshot, default_exec = watch
    if len(impls) == 1 and impls[0].function is logs.llmrouter_call_end:
        # The default: the log plugin alone, its level test inlined (the logger never changes).
        enabled = logging.getLogger(logs.LOGGER_NAME).isEnabledFor
        info = logging.INFO

        def idle() -> bool:
            return pm._inner_hookexec is default_exec and live == snapshot and not enabled(info)

        return idle
    checks_t = tuple(checks)

    def all_idle() -> bool:
        if pm._inner_hookexec is not default_exec or live != snapshot:
            return False
        return all(check() for check in checks_t)

    return all_idle


def _watch(pm: pluggy.PluginManager, caller: HookCaller) -> tuple[list[Any], list[Any], Any] | None:
    """What a shortcut around ``caller`` compares on every call to know pluggy is unchanged:
    the hook's live implementation list (pluggy edits it in place on (un)registration, so it
    is compared without copying), a snapshot of it, and the manager's hook executor (replaced
    by ``add_hookcall_monitoring``/``enable_tracing``). ``None`` if pluggy's internals are not
    the ones these shortcuts were written for: then callers use pluggy as is."""
    full: HookCaller = getattr(pm.hook, caller.name)
    live: list[Any] | None = getattr(full, "_hookimpls", None)
    default_exec = getattr(pm, "_inner_hookexec", None)
    if not isinstance(live, list) or default_exec is None:
        return None
    return live, list(live), default_exec


def _never() -> bool:
    return False


def _direct(
    pm: pluggy.PluginManager, caller: HookCaller, argnames: tuple[str, ...]
) -> Callable[[], Callable[..., Any] | None]:
    """A check returning ``caller``'s implementation function while calling it directly, by
    position in the order ``argnames`` (which the caller will use, and which must be the
    hookspec's), is what pluggy would do; ``None`` when it is not (several implementations, a
    wrapper, an implementation taking other arguments, monitoring switched on, or the
    implementation list changed since).

    For the one stage that runs per stream event: even :func:`_stage_caller`'s shortcut (a
    closure taking keyword arguments, checking pluggy on every call) was about 0.3 us of a
    streamed chunk's 4 us. The stream asks this once per batch of events and then calls the
    function itself (docs/performance.md)."""
    impls = caller.get_hookimpls()
    spec = caller.spec
    watch = _watch(pm, caller)
    if (
        len(impls) != 1
        or impls[0].hookwrapper
        or impls[0].wrapper
        or spec is None
        or not spec.opts.get("firstresult", False)
        or tuple(spec.argnames) != argnames
        or tuple(impls[0].argnames) != argnames
        or watch is None
    ):
        return _no_direct
    function = impls[0].function
    live, snapshot, default_exec = watch

    def current() -> Callable[..., Any] | None:
        if pm._inner_hookexec is default_exec and live == snapshot:
            return function
        return None

    return current


def _no_direct() -> None:
    return None


def _stage_caller(pm: pluggy.PluginManager, caller: HookCaller) -> StageCaller:
    """``caller`` itself, or an equivalent direct call when pluggy's machinery has nothing to do.

    Measured (docs/performance.md): a call through a subset hook caller costs several
    microseconds (it re-filters the implementation list, then runs ``_multicall``), which was
    most of llmrouter's own per-call and per-stream-chunk overhead. When a stage has no
    implementation, or exactly one that is neither a wrapper nor an old-style hookwrapper, the
    result is fully determined: ``firstresult`` hooks return the implementation's result, the
    others a list holding it unless it is ``None``; exceptions propagate unchanged. Anything
    else (two implementations, wrappers) goes through pluggy.

    The host rebuilds these callers whenever plugins change through it; each call also checks,
    cheaply, that the hook's implementation list is still the one the shortcut was built for
    (so a plugin registered on ``host.pm`` directly is seen at once) and that no hook call
    monitoring or tracing was switched on (``pm.add_hookcall_monitoring``/``enable_tracing``);
    otherwise it defers to pluggy.
    """
    impls = caller.get_hookimpls()
    if len(impls) > 1 or any(impl.hookwrapper or impl.wrapper for impl in impls):
        return caller
    spec = caller.spec
    firstresult = bool(spec is not None and spec.opts.get("firstresult", False))
    watch = _watch(pm, caller)
    if watch is None:
        return caller
    live, snapshot, default_exec = watch

    if not impls:

        def call_none(**kwargs: Any) -> Any:
            if pm._inner_hookexec is default_exec and live == snapshot:
                return None if firstresult else []
            return caller(**kwargs)

        return call_none

    impl = impls[0]
    function = impl.function
    argnames = tuple(impl.argnames)
    spec_args = tuple(spec.argnames) if spec is not None else argnames
    if set(getattr(impl, "kwargnames", ())) & set(spec_args):
        # A parameter with a default that names a hook argument: pluggy 1.6 and later pass it
        # (as a keyword), older ones do not. Left to pluggy, whichever it is.
        return caller
    if argnames != spec_args:
        # The implementation takes a subset of the arguments: pass only those, by position,
        # as pluggy does.
        def function_subset(**kwargs: Any) -> Any:
            return impl.function(*[kwargs[name] for name in argnames])

        function = function_subset

    if firstresult:

        def call_first(**kwargs: Any) -> Any:
            if pm._inner_hookexec is default_exec and live == snapshot:
                return function(**kwargs)
            return caller(**kwargs)

        return call_first

    def call_all(**kwargs: Any) -> Any:
        if pm._inner_hookexec is default_exec and live == snapshot:
            result = function(**kwargs)
            return [] if result is None else [result]
        return caller(**kwargs)

    return call_all


class PluginHost:
    """Owns the pluggy PluginManager and every plugin decision.

    One host normally serves the whole process (:func:`llmrouter._plugins.default_host`), so that
    ``register_plugin`` in one place affects every Router; tests may build their own.

    ``distributions`` maps a provider name to the distribution that must provide it, for when
    several installed distributions register that name (it wins over the
    ``LLMROUTER_PROVIDER_<NAME>`` variable).
    """

    def __init__(
        self,
        *,
        autoload: bool | None = None,
        strict: bool | None = None,
        distributions: dict[str, str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._autoload = (
            (not _env_flag("LLMROUTER_DISABLE_PLUGIN_AUTOLOAD")) if autoload is None else autoload
        )
        self._strict = _env_flag("LLMROUTER_STRICT_PLUGINS") if strict is None else strict
        self._lock = threading.RLock()
        # provider name -> plugin object, once loaded
        self._providers: dict[str, object] = {}
        # provider name -> (source, loader) not yet loaded; loader returns the plugin object
        self._pending: dict[str, tuple[str, Any]] | None = None
        self._errors: dict[str, PluginError] = {}
        # provider name -> entry points llmrouter will not choose between (see _Unresolved)
        self._unresolved: dict[str, _Unresolved] = {}
        # provider name -> the distribution its (chosen) entry point comes from
        self._origins: dict[str, str] = {}
        self._distributions = dict(distributions or {})
        self._crosscutting_loaded = False
        # strict mode: the cross-cutting failure every call raises until it is fixed
        self._crosscutting_failure: PluginError | None = None
        self._hooks_cache: dict[str, ProviderHooks] = {}

    # --- discovery --------------------------------------------------------------------------

    def _discover(self) -> dict[str, tuple[str, Any]]:
        pending = self._pending
        if pending is not None:
            return pending
        with self._lock:
            if self._pending is None:
                found: dict[str, tuple[str, Any]] = {}
                if self._autoload:
                    by_name: dict[str, list[EntryPoint]] = {}
                    for ep in _entry_points(PROVIDER_GROUP, every_distribution=True):
                        if ep.name not in self._providers:
                            by_name.setdefault(ep.name, []).append(ep)
                    for name, candidates in by_name.items():
                        # Sorted: sys.path order is no preference, and messages stay stable.
                        candidates.sort(key=lambda ep: _normalize_dist(_dist_label(ep)[0]))
                        chosen = self._choose(name, candidates)
                        if chosen is not None:
                            found[name] = (f"entry point {chosen.value}", chosen)
                            self._origins[name] = _dist_label(chosen)[0]
                self._pending = found
            return self._pending

    def _choose(self, name: str, candidates: list[EntryPoint]) -> EntryPoint | None:
        """The entry point for provider ``name``, or ``None`` after recording why there is none.

        One distribution: its entry point, unless a choice names another distribution. Several:
        only the one the choice names. Never "the first on ``sys.path``": that one would receive
        the provider's keys without the user ever deciding it should.
        """
        env_var = provider_env_var(name)
        wanted = self._distributions.get(name)
        how = f"PluginHost(distributions={{{name!r}: {wanted!r}}})"
        if wanted is None:
            wanted = os.environ.get(env_var, "").strip() or None
            how = f"{env_var}={wanted}"
        if wanted is not None:
            for ep in candidates:
                if _normalize_dist(_dist_label(ep)[0]) == _normalize_dist(wanted):
                    self._unresolved.pop(name, None)
                    return ep
        elif len(candidates) == 1:
            self._unresolved.pop(name, None)
            return candidates[0]
        listed = ", ".join(_describe_candidate(ep) for ep in candidates)
        if wanted is not None:
            error = (
                f"{how} chooses distribution {wanted!r} for provider {name!r}, but {name!r} is "
                f"registered only by: {listed}. Set {env_var} to one of those distribution "
                "names, or unset it"
            )
        else:
            error = (
                f"provider {name!r} is registered by {len(candidates)} installed distributions: "
                f"{listed}. llmrouter will not guess which one receives your {name!r} calls and "
                f"keys: set {env_var}=<distribution> to one of those names, or uninstall the "
                "others"
            )
        first = name not in self._unresolved
        self._unresolved[name] = _Unresolved(tuple(candidates), error)
        if first:
            from llmrouter.logs import get_logger

            get_logger().warning(
                "llmrouter.plugin_ambiguous",
                plugin=name,
                distributions=[_dist_label(ep)[0] for ep in candidates],
                error=error,
            )
            warnings.warn(
                f"llmrouter plugin {name!r} was not loaded: {error}",
                RuntimeWarning,
                stacklevel=3,
            )
        return None

    def _ambiguous(self, name: str) -> AmbiguousProviderError:
        unresolved = self._unresolved[name]
        return AmbiguousProviderError(
            unresolved.error,
            plugin=name,
            provider=name,
            strict=self._strict,
            distributions=[_dist_label(ep)[0] for ep in unresolved.candidates],
            env_var=provider_env_var(name),
        )

    def provider_distribution(self, name: str) -> str | None:
        """The distribution whose entry point provides ``name``; ``None`` when the provider is
        registered in code, unknown, or waiting for a choice between distributions."""
        if name in self._providers and name not in self._origins:
            return None
        self._discover()
        return self._origins.get(name)

    def available_providers(self) -> list[str]:
        """Names of installed providers: loaded, registered in code, or found as entry points."""
        names = set(self._providers) | set(self._discover()) | set(self._unresolved)
        return sorted(names)

    def plugin_errors(self) -> list[PluginError]:
        """Load failures, then one record per distribution of each provider left unchosen.

        Reads the entry points (without importing anything) so that a name registered by two
        distributions shows up here before any call.
        """
        self._discover()
        errors = list(self._errors.values())
        for name, unresolved in self._unresolved.items():
            errors.extend(unresolved.reports(name))
        return errors

    # --- registration -----------------------------------------------------------------------

    def register_provider(self, name: str, plugin: object) -> None:
        """Register ``plugin`` (a module or object with hook implementations) as provider ``name``.

        Replaces a provider of the same name (the entry point is then never loaded).
        """
        if not name or "/" in name:
            raise ValueError(f"provider name must be non-empty and contain no '/', got {name!r}")
        with self._lock:
            old = self._providers.pop(name, None)
            if old is not None:
                self.pm.unregister(old)
            self._discover().pop(name, None)
            self._errors.pop(name, None)
            self._unresolved.pop(name, None)  # registering in code is a choice
            self._origins.pop(name, None)
            self.pm.register(plugin, name=f"provider:{name}")
            self._providers[name] = plugin
            self._hooks_cache.clear()

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register a cross-cutting plugin: it sees the calls of every provider."""
        with self._lock:
            self.pm.register(plugin, name=name)
            self._hooks_cache.clear()

    def unregister_plugin(self, plugin: object | None = None, name: str | None = None) -> None:
        with self._lock:
            removed = self.pm.unregister(plugin=plugin, name=name)
            for pname, obj in list(self._providers.items()):
                if obj is removed:
                    del self._providers[pname]
            self._hooks_cache.clear()

    # --- loading ----------------------------------------------------------------------------

    def _record_failure(
        self, name: str, source: str, exc: BaseException, *, raise_strict: bool = True
    ) -> PluginError:
        err = PluginError(
            name=name,
            source=source,
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
        )
        self._errors[name] = err
        from llmrouter.logs import get_logger

        get_logger().warning(
            "llmrouter.plugin_load_failed", plugin=name, source=source, error=err.error
        )
        # Also a Python warning: a broken plugin must be visible even where logging is not
        # configured (the log event above goes nowhere then).
        warnings.warn(
            f"llmrouter plugin {name!r} ({source}) failed to load and was skipped: {err.error}; "
            "see llmrouter.plugin_errors()",
            RuntimeWarning,
            stacklevel=2,
        )
        if self._strict and raise_strict:
            raise self._strict_error(err) from exc
        return err

    @staticmethod
    def _strict_error(err: PluginError) -> PluginLoadError:
        return PluginLoadError(
            f"plugin {err.name!r} from {err.source} failed to load: {err.error} "
            "(LLMROUTER_STRICT_PLUGINS is set, so this is an error rather than a warning)",
            plugin=err.name,
            strict=True,
        )

    def _ensure_crosscutting(self) -> None:
        if self._crosscutting_loaded:
            if self._crosscutting_failure is not None:
                raise self._strict_error(self._crosscutting_failure)
            return
        with self._lock:
            if self._crosscutting_loaded:
                if self._crosscutting_failure is not None:
                    raise self._strict_error(self._crosscutting_failure)
                return
            self._crosscutting_loaded = True
            # Every plugin is attempted before strict mode raises, so one broken plugin does not
            # leave the ones after it unloaded.
            failures: list[PluginError] = []
            for name, module in BUILTIN_PLUGINS.items():
                if self.pm.has_plugin(name):
                    continue
                try:
                    self.pm.register(importlib.import_module(module), name=name)
                except Exception as exc:
                    failures.append(
                        self._record_failure(name, f"built-in {module}", exc, raise_strict=False)
                    )
            if self._autoload:
                for ep in _entry_points(PLUGIN_GROUP):
                    if self.pm.has_plugin(ep.name):
                        continue
                    try:
                        self.pm.register(ep.load(), name=ep.name)
                    except Exception as exc:
                        failures.append(
                            self._record_failure(
                                ep.name, f"entry point {ep.value}", exc, raise_strict=False
                            )
                        )
            self._hooks_cache.clear()
            if self._strict and failures:
                self._crosscutting_failure = failures[0]
                raise self._strict_error(failures[0])

    def _load_provider(self, name: str) -> object:
        plugin = self._providers.get(name)
        if plugin is not None:
            return plugin
        with self._lock:
            plugin = self._providers.get(name)
            if plugin is not None:
                return plugin
            if name in self._errors:
                raise self._broken(name)
            pending = self._discover()
            if name not in pending and name in self._unresolved:
                # Asked again on every call, so that setting the variable takes effect at once.
                chosen = self._choose(name, list(self._unresolved[name].candidates))
                if chosen is None:
                    raise self._ambiguous(name)
                pending[name] = (f"entry point {chosen.value}", chosen)
                self._origins[name] = _dist_label(chosen)[0]
            if name not in pending:
                raise self._unknown(name)
            source, ep = pending[name]
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=f"provider:{name}")
            except Exception as exc:
                self._record_failure(name, source, exc)
                raise self._broken(name) from exc
            del pending[name]
            self._providers[name] = plugin
            self._hooks_cache.clear()
            return plugin

    def _broken(self, name: str) -> PluginLoadError:
        err = self._errors[name]
        return PluginLoadError(
            f"provider {name!r} is installed but failed to load ({err.error}); "
            "see llmrouter.plugin_errors() for the traceback",
            plugin=name,
            provider=name,
            strict=self._strict,
        )

    def _unknown(self, name: str) -> UnknownProviderError:
        available = self.available_providers()
        listed = ", ".join(available) if available else "none"
        hint = ""
        if not self._autoload:
            hint = " (entry-point autoloading is disabled by LLMROUTER_DISABLE_PLUGIN_AUTOLOAD)"
        return UnknownProviderError(
            f"unknown provider {name!r}; installed providers: {listed}{hint}. "
            "Use model='<provider>/<model>', e.g. 'together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo', "
            "or install the provider's plugin package",
            available=available,
            provider=name,
        )

    # --- dispatch ---------------------------------------------------------------------------

    def provider_hooks(self, name: str) -> ProviderHooks:
        """The cached hook callers for provider ``name``, loading it on first use."""
        hooks = self._hooks_cache.get(name)
        if hooks is not None:
            return hooks
        self._ensure_crosscutting()
        self._load_provider(name)
        with self._lock:
            hooks = self._hooks_cache.get(name)
            if hooks is None:
                own = self._providers[name]
                others = [p for n, p in self._providers.items() if n != name and p is not own]
                subsets = {stage: self.pm.subset_hook_caller(stage, others) for stage in _STAGES}
                callers = {
                    stage.removeprefix("llmrouter_"): _stage_caller(self.pm, caller)
                    for stage, caller in subsets.items()
                }
                hooks = ProviderHooks(
                    name,
                    success_end_idle=_success_end_idle(self.pm, subsets["llmrouter_call_end"]),
                    parse_stream_event_direct=_direct(
                        self.pm,
                        subsets["llmrouter_parse_stream_event"],
                        ("call", "prompt", "data", "state"),  # as StreamCore.more calls it
                    ),
                    caching=bool(
                        subsets["llmrouter_cache_lookup"].get_hookimpls()
                        or subsets["llmrouter_cache_store"].get_hookimpls()
                    ),
                    **callers,
                )
                self._hooks_cache[name] = hooks
            return hooks


def _entry_points(group: str, *, every_distribution: bool = False) -> list[EntryPoint]:
    """The group's entry points, one per name, or with ``every_distribution`` one per
    (name, distribution): two distributions registering one name are then both listed."""
    from importlib.metadata import entry_points

    # importlib.metadata already lists each distribution once (the first on sys.path, e.g. an
    # editable install shadowing a regular one); a distribution naming an entry point twice
    # still counts once.
    seen: dict[tuple[str, str], EntryPoint] = {}
    for ep in entry_points(group=group):
        dist = _normalize_dist(_dist_label(ep)[0]) if every_distribution else ""
        seen.setdefault((ep.name, dist), ep)
    return list(seen.values())


_default_host: PluginHost | None = None
_default_lock = threading.Lock()


def default_host() -> PluginHost:
    """The process-wide host used by the module-level API and by Routers without their own."""
    global _default_host
    host = _default_host
    if host is None:
        with _default_lock:
            if _default_host is None:
                _default_host = PluginHost()
            host = _default_host
    return host
