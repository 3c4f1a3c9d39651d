"""``llmrouter serve``: load the config, decide where to listen, and run uvicorn.

uvicorn runs the app with uvloop and httptools (the fastest pair it has; docs/performance.md
has the gateway's numbers and granian's next to them). Each worker is its own process that
loads the config itself through :func:`llmrouter_gateway.app.create_app_from_env`, so the
command passes only the file's path to them (``$LLMROUTER_CONFIG``), never a key.

SIGTERM or Ctrl-C stops accepting connections and lets requests in flight finish (streams
included) for up to ``GRACEFUL_SECONDS`` before closing what is left.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, TextIO

from llmrouter.config import CONFIG_ENV, DEFAULT_CONFIG_FILE, RouterConfig
from llmrouter.errors import ConfigError

__all__ = ["GRACEFUL_SECONDS", "Serving", "load_for_serving", "serve_command"]

#: Seconds in-flight requests get to finish after SIGTERM.
GRACEFUL_SECONDS = 30


def _config_path(given: str | None) -> str:
    path = given or os.environ.get(CONFIG_ENV, "").strip() or None
    if path is None and os.path.isfile(DEFAULT_CONFIG_FILE):
        path = DEFAULT_CONFIG_FILE
    if path is None:
        raise ConfigError(
            "no config to serve: pass --config PATH (llmrouter's TOML or a LiteLLM proxy "
            "config.yaml), set $LLMROUTER_CONFIG, or put llmrouter.toml in this directory"
        )
    return path


@dataclass(frozen=True)
class Serving:
    """What ``llmrouter serve`` runs: the config, its file, and the one key it accepts."""

    path: str
    config: RouterConfig
    #: LiteLLM keys that have no equivalent (``litellm_config.Unsupported``), reported at start.
    unsupported: tuple[Any, ...] = ()
    #: Approximations a LiteLLM config's translation made (``litellm_config``), reported too.
    notes: tuple[str, ...] = ()
    master_key: str | None = field(default=None, repr=False)


def load_for_serving(path: str | None) -> Serving:
    """The config to serve and its master key (``None``: no key, local use only).

    A ``.yaml``/``.yml`` file is a LiteLLM proxy config, translated by
    :mod:`llmrouter_gateway.litellm_config`; anything else is llmrouter's TOML. The key comes
    from the variable ``[gateway] master_key_env`` names, else from a LiteLLM config's literal
    ``general_settings.master_key``. A named variable that is unset or empty is a ConfigError:
    a gateway meant to have a key never starts without one.
    """
    path = _config_path(path)
    literal: str | None = None
    unsupported: tuple[Any, ...] = ()
    notes: tuple[str, ...] = ()
    if path.lower().endswith((".yaml", ".yml")):
        from llmrouter_gateway.litellm_config import load_gateway_config

        loaded = load_gateway_config(path)
        config, literal = loaded.config, loaded.master_key
        unsupported, notes = tuple(loaded.unsupported), tuple(loaded.notes)
    else:
        from llmrouter.config import load_config_file

        config = load_config_file(path)
    env = config.gateway.master_key_env
    key: str | None = literal or None
    if env:
        key = os.environ.get(env, "").strip()
        if not key:
            raise ConfigError(
                f"[gateway] master_key_env names the variable {env}, which is not set or is "
                f"empty; export the master key in it (e.g. {env}=$(openssl rand -hex 32))"
            )
    settings = config.gateway
    if (settings.database_url or settings.database_url_env) and key is None:
        raise ConfigError(
            "[gateway] database_url turns on virtual keys, which need a master key to manage "
            "them: set [gateway] master_key_env to the name of a variable holding one"
        )
    if settings.database_url or settings.database_url_env:
        from llmrouter_gateway.keys import database_url_from, redis_url_from

        database_url_from(settings)  # a named variable that is unset stops the start here
        redis_url_from(settings)
    return Serving(path, config, unsupported, notes, key)


def serve_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Handler of ``llmrouter serve``."""
    loaded = load_for_serving(args.config)
    path, key = loaded.path, loaded.master_key
    for item in loaded.unsupported:
        err.write(f"warning: {item.key}: {item.reason}\n")
    for note in loaded.notes:
        err.write(f"note: {note}\n")
    settings = loaded.config.gateway
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    workers = settings.workers if args.workers is None else args.workers
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {port}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    from llmrouter_gateway.app import _is_loopback

    if key is None and not _is_loopback(host):
        err.write(
            f"warning: no master key is configured ([gateway] master_key_env), so the gateway "
            f"serves only 127.0.0.1, not {host}: anyone who can reach it could spend your "
            "providers' keys\n"
        )
        host = "127.0.0.1"
    os.environ[CONFIG_ENV] = os.path.abspath(path)
    metrics_dir: str | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="llmrouter-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    shown = f"[{host}]" if ":" in host else host
    err.write(
        f"llmrouter gateway: {len(loaded.config.models)} model(s) from {path} on "
        f"http://{shown}:{port} ({workers} worker(s); "
        f"{'master key required' if key else 'no master key: local only'}"
        f"{'; virtual keys on' if settings.database_url or settings.database_url_env else ''})\n"
    )
    err.flush()
    try:
        _run(host, port, workers)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _run(host: str, port: int, workers: int) -> None:
    import uvicorn

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # Windows, PyPy: uvicorn's asyncio loop
        loop = "asyncio"
    uvicorn.run(
        "llmrouter_gateway.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop=loop,
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="info",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
