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
        # an '@' the parser does not see as a user's: hidden up to it, to be safe
        ("https://api.example.com/path@v1", "https://<redacted>@v1"),
        # a password of digits and an unescaped '/' or '#': the parser sees a host and a port
        ("redis://:1234/abcd@host:6379/0", "redis://<redacted>@host:6379/0"),
        ("redis://admin:2024#Secret@host:6379", "redis://<redacted>@host:6379"),
        # passwords in the query, as redis-py and libpq read them
        ("redis://host:6379/0?password=s3cret", "redis://host:6379/0?password=<redacted>"),
        (
            "postgresql://u:s3cret@db/x?sslpassword=s3cret&sslmode=require&PASSWORD=s3cret",
            "postgresql://<redacted>@db/x?sslpassword=<redacted>&sslmode=require"
            "&PASSWORD=<redacted>",
        ),
        ("unix:///tmp/r.sock?password=s3cret", "unix:///tmp/r.sock?password=<redacted>"),
        ("postgresql://u:s3cret@[::1]:5432/db", "postgresql://<redacted>@[::1]:5432/db"),
        # no scheme: nothing parses as a user, yet the part before '@' may be one
        ("user:s3cret@host:8080", "<redacted>@host:8080"),
        # a port that is not a number: urlsplit raises on .port
        ("http://user:s3cret@host:port/v1", "http://<redacted>@host:port/v1"),
        ("localhost:11434", "localhost:11434"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)
