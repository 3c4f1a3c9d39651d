"""llmrouter.secrets.redact_url: no password survives, whatever shape the URL has."""

from __future__ import annotations

import pytest

from llmrouter.secrets import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cret@cache:6379/0", "redis://<redacted>@cache:6379/0"),
        ("redis://:s3cret@cache/0", "redis://<redacted>@cache/0"),
        ("postgresql://gw:s3cret@db/llmrouter", "postgresql://<redacted>@db/llmrouter"),
        ("https://api.example.com/v1", "https://api.example.com/v1"),
        ("https://api.example.com/path@v1", "https://api.example.com/path@v1"),
        # no scheme: nothing parses as a user, yet the part before '@' may be one
        ("user:s3cret@host:8080", "<redacted>@host:8080"),
        # a port that is not a number: urlsplit raises on .port
        ("http://user:s3cret@host:port/v1", "<redacted>@host:port/v1"),
        ("localhost:11434", "localhost:11434"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)
