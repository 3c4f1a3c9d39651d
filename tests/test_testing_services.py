"""llmrouter.testing.services: a silent port skips, or fails under LLMROUTER_REQUIRE_SERVICES=1;
a live server passes (the machines run Redis and PostgreSQL; where they do not, the live half
is itself skipped or failed by the same rule)."""

from __future__ import annotations

import socket

import pytest

from llmrouter.testing import services


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


@pytest.mark.parametrize("check", [services.require_redis, services.require_postgres])
def test_a_closed_port_skips_or_fails_as_asked(
    check: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.delenv(services.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"not reachable at 127.0.0.1:{port}"):
        check(port=port)  # type: ignore[operator]
    monkeypatch.setenv(services.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="LLMROUTER_REQUIRE_SERVICES=1"):
        check(port=port)  # type: ignore[operator]


def test_a_server_that_is_not_the_service_is_not_taken_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Something listens, but answers nothing Redis or PostgreSQL would: unavailable."""
    monkeypatch.delenv(services.REQUIRE_ENV, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(pytest.skip.Exception, match="not reachable"):
            services.require_redis(port=port, timeout=0.5)


def test_the_machines_services_answer() -> None:
    services.require_redis()
    services.require_postgres()
