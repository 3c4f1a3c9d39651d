"""Module-level plugin functions, acting on the process-wide plugin host."""

from __future__ import annotations

from llmrouter._plugins import PluginError, PluginHost, default_host

__all__ = [
    "default_plugin_host",
    "plugin_errors",
    "providers",
    "register_plugin",
    "register_provider",
    "unregister_plugin",
]


def register_provider(name: str, plugin: object) -> None:
    """Register ``plugin`` as provider ``name`` in code (no entry point needed).

    ``completion(model=f"{name}/...")`` then reaches it. Replaces an installed provider of the same
    name, which is handy for test doubles.
    """
    default_host().register_provider(name, plugin)


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a cross-cutting plugin (it sees every provider's calls)."""
    default_host().register_plugin(plugin, name=name)


def unregister_plugin(plugin: object | None = None, name: str | None = None) -> None:
    default_host().unregister_plugin(plugin, name=name)


def providers() -> list[str]:
    """Names of the installed providers (from entry points and code), without importing them."""
    return default_host().available_providers()


def plugin_errors() -> list[PluginError]:
    """Plugins that failed to load, with the error and traceback of each."""
    return default_host().plugin_errors()


def default_plugin_host() -> PluginHost:
    """The process-wide plugin host, which the module-level functions and every Router built
    without ``plugin_host=`` use (for plugins that register themselves, such as a cache)."""
    return default_host()
