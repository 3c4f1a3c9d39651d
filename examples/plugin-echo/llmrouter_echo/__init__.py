"""llmrouter-echo: an example third-party provider plugin for llmrouter.

``llmrouter_echo.plugin`` holds the hooks (registered through the ``llmrouter.providers`` entry
point as ``echo``); ``llmrouter_echo.server`` is a small Echo API server to talk to.
"""

__version__ = "0.1.0"
