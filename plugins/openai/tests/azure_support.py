"""What the Azure tests share: a clean environment, the key, and the provider's registration.

``azure = "llmrouter_openai.azure:provider"`` is an entry point of ``llmrouter-openai``; until the
installed distribution's metadata holds it (the workspace is re-synced), :func:`ensure_provider`
registers the same object in code, so the tests run either way.
"""

from __future__ import annotations

import pytest

import llmrouter
from llmrouter_openai.azure import (
    AD_TOKEN_ENV,
    API_KEY_ENV,
    API_VERSION_ENV,
    ENDPOINT_ENV,
    provider,
)

KEY = "azure-TestKeyDoNotLeak-0123456789abcdef"
VERSION = "2024-10-21"
AZURE_ENV = (*API_KEY_ENV, *ENDPOINT_ENV, *API_VERSION_ENV, *AD_TOKEN_ENV, "AZURE_AD_TOKEN")


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a developer's real Azure key, token, endpoint or version."""
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)


def ensure_provider() -> None:
    if "azure" not in llmrouter.providers():
        llmrouter.register_provider("azure", provider)
