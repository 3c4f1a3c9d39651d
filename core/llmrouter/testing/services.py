"""Tests that need a real PostgreSQL or Redis: skip with the reason when it is not there, or
fail instead when ``LLMROUTER_REQUIRE_SERVICES=1`` (CI sets it, so a service that should be
running can never turn its tests into silent skips).

    from llmrouter.testing.services import require_redis, unavailable

    def test_limits_on_redis() -> None:
        require_redis()            # skip (or fail under CI) when 127.0.0.1:6379 is silent
        ...

Only the standard library: the checks speak just enough of each protocol (Redis's ``PING``, a
PostgreSQL startup that expects any answer) to tell a live server from a closed port, so they
work before the test's own client library is imported, or where it is not installed.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import NoReturn

import pytest

__all__ = ["REQUIRE_ENV", "require_postgres", "require_redis", "services_required", "unavailable"]

#: Set to ``1`` to make a missing service a failure instead of a skip.
REQUIRE_ENV = "LLMROUTER_REQUIRE_SERVICES"


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def unavailable(message: str) -> NoReturn:
    """Skip the running test with ``message``, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1: required)")
    pytest.skip(message)


def require_redis(host: str = "127.0.0.1", port: int = 6379, timeout: float = 2.0) -> None:
    """Return when a Redis server answers ``PING`` at ``host:port``, else :func:`unavailable`."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
    except OSError as exc:
        unavailable(f"Redis not reachable at {host}:{port}: {type(exc).__name__}: {exc}")
    if not answer.startswith((b"+PONG", b"-NOAUTH")):
        unavailable(f"Redis not reachable at {host}:{port}: answered {answer[:40]!r} to PING")


def require_postgres(host: str = "127.0.0.1", port: int = 5432, timeout: float = 2.0) -> None:
    """Return when a PostgreSQL server answers a startup message at ``host:port`` (any
    authentication request or error counts as an answer), else :func:`unavailable`."""
    params = b"user\x00postgres\x00database\x00postgres\x00\x00"
    startup = struct.pack("!ii", 8 + len(params), 196608) + params  # protocol 3.0
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(startup)
            answer = sock.recv(1)
    except OSError as exc:
        unavailable(f"PostgreSQL not reachable at {host}:{port}: {type(exc).__name__}: {exc}")
    if answer not in (b"R", b"E"):  # an authentication request, or an error message
        unavailable(f"PostgreSQL not reachable at {host}:{port}: answered {answer!r}")
