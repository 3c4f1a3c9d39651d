"""The plugin host: finds, loads and isolates plugins, and hands out per-provider hook callers.

Providers are discovered from the ``llmrouter.providers`` entry-point group by *name only*; a
provider's module is imported the first time a call names it, so ``import llmrouter`` imports no
provider. Cross-cutting plugins (group ``llmrouter.plugins``) and the built-in ones are loaded at
the same moment, on the first call, through the same function.

A plugin that fails to import or register is recorded (see :func:`plugin_errors`), logged as a
structured warning and skipped; it never breaks another provider. Two environment switches:

``LLMROUTER_DISABLE_PLUGIN_AUTOLOAD=1``
    Do not read entry points at all; only plugins registered in code (and the built-ins) exist.
``LLMROUTER_STRICT_PLUGINS=1``
    Raise :class:`~llmrouter.errors.PluginLoadError` instead of recording the failure.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from llmrouter import hookspecs
from llmrouter.errors import PluginLoadError, UnknownProviderError

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
    #: ``True`` when the outcome of a *successful* call would reach no-one, so the core may skip
    #: building it: the built-in log plugin is ``call_end``'s only implementation and its logger
    #: is not enabled for INFO. Checked on every call (see :func:`_success_end_idle`).
    success_end_idle: Callable[[], bool] = lambda: False


def _success_end_idle(pm: pluggy.PluginManager, caller: HookCaller) -> Callable[[], bool]:
    """The ``success_end_idle`` check for ``caller`` (a provider's ``call_end`` caller).

    Building a :class:`~llmrouter.pipeline.CallOutcome` and calling the stage was about a tenth
    of llmrouter's own per-call cost, spent for the log plugin to return at once when INFO is
    off (the default). With any other implementation, a wrapper, hook monitoring, or a plugin
    registered later on ``host.pm`` directly (the live list is compared, as in
    :func:`_stage_caller`), the check answers ``False`` and the outcome is built as always.
    """
    from llmrouter import logs

    impls = caller.get_hookimpls()
    watch = _watch(pm, caller)
    if (
        len(impls) != 1
        or impls[0].function is not logs.llmrouter_call_end
        or impls[0].hookwrapper
        or impls[0].wrapper
        or watch is None
    ):
        return _never
    live, snapshot, default_exec = watch
    # The level test the log plugin starts with (the logger object never changes).
    enabled = logging.getLogger(logs.LOGGER_NAME).isEnabledFor
    info = logging.INFO

    def idle() -> bool:
        return pm._inner_hookexec is default_exec and live == snapshot and not enabled(info)

    return idle


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

    One host normally serves the whole process (:func:`llmrouter.plugins.default_host`), so that
    ``register_plugin`` in one place affects every Router; tests may build their own.
    """

    def __init__(self, *, autoload: bool | None = None, strict: bool | None = None) -> None:
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
        self._crosscutting_loaded = False
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
                    for ep in _entry_points(PROVIDER_GROUP):
                        if ep.name not in self._providers:
                            found.setdefault(ep.name, (f"entry point {ep.value}", ep))
                self._pending = found
            return self._pending

    def available_providers(self) -> list[str]:
        """Names of installed providers: loaded, registered in code, or found as entry points."""
        names = set(self._providers) | set(self._discover())
        return sorted(names)

    def plugin_errors(self) -> list[PluginError]:
        return list(self._errors.values())

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

    def _record_failure(self, name: str, source: str, exc: BaseException) -> None:
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
        if self._strict:
            raise PluginLoadError(
                f"plugin {name!r} from {source} failed to load: {err.error}", plugin=name
            ) from exc

    def _ensure_crosscutting(self) -> None:
        if self._crosscutting_loaded:
            return
        with self._lock:
            if self._crosscutting_loaded:
                return
            self._crosscutting_loaded = True
            for name, module in BUILTIN_PLUGINS.items():
                if self.pm.has_plugin(name):
                    continue
                try:
                    self.pm.register(importlib.import_module(module), name=name)
                except Exception as exc:
                    self._record_failure(name, f"built-in {module}", exc)
            if not self._autoload:
                return
            for ep in _entry_points(PLUGIN_GROUP):
                if self.pm.has_plugin(ep.name):
                    continue
                try:
                    self.pm.register(ep.load(), name=ep.name)
                except Exception as exc:
                    self._record_failure(ep.name, f"entry point {ep.value}", exc)
            self._hooks_cache.clear()

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
                    **callers,
                )
                self._hooks_cache[name] = hooks
            return hooks


def _entry_points(group: str) -> list[EntryPoint]:
    from importlib.metadata import entry_points

    # Deduplicate: an editable install next to a regular one can list a name twice.
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        seen.setdefault(ep.name, ep)
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
