"""Where the routing config is: the one lookup the default routers and the CLI share.

Kept apart from :mod:`llmrouter.config` (its pydantic models take tens of milliseconds to
import) so that the first call of a process without a config never imports the config
machinery. :mod:`llmrouter.config` re-exports the two names.
"""

from __future__ import annotations

import os

__all__ = ["CONFIG_ENV", "DEFAULT_CONFIG_FILE", "config_file"]

#: Environment variable naming the config file the module-level functions use.
CONFIG_ENV = "LLMROUTER_CONFIG"
#: Read from the working directory when ``LLMROUTER_CONFIG`` is not set.
DEFAULT_CONFIG_FILE = "llmrouter.toml"


def config_file() -> str | None:
    """``$LLMROUTER_CONFIG`` when set, else ``./llmrouter.toml`` when it exists, else ``None``
    (no routing: plain ``provider/model`` calls).

    A set variable is returned even when its file does not exist, so that loading it raises a
    ``ConfigError`` rather than the process silently running without its config.
    """
    explicit = os.environ.get(CONFIG_ENV, "").strip()
    if explicit:
        return explicit
    if os.path.isfile(DEFAULT_CONFIG_FILE):
        return DEFAULT_CONFIG_FILE
    return None
