"""llmrouter's gateway: an OpenAI-compatible HTTP server in front of the router (``llmrouter serve``)."""

from __future__ import annotations

__version__ = "0.1.0"
