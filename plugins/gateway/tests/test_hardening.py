"""What a review of the gateway found, each pinned by a test that crossed a socket."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from llmrouter.config import load_config
from llmrouter.testing import TogetherEmulator
from llmrouter_anthropic.testing import AnthropicEmulator
from llmrouter_gateway.app import create_app

from .conftest import (
    ANTHROPIC_KEY,
    MASTER_KEY,
    TOGETHER_KEY,
    TOGETHER_MODEL,
    Stack,
    config_toml,
    start_gateway,
)
from .test_process import metric, wait_for

MESSAGES = [{"role": "user", "content": "Hello through the gateway"}]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def _send_and_leave(gw: Stack, body: bytes, after: float) -> None:
    """Send a request on a raw socket, wait ``after`` seconds and close it unanswered."""
    port = int(gw.gateway.root.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {MASTER_KEY}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert wait_for(lambda: gw.together.stats["in_flight"] == 1)
        time.sleep(after)


def _closed_by_peer(port: int) -> int:
    """Sockets of the server on ``port`` whose peer has closed its end (TCP CLOSE_WAIT).

    The emulator, sleeping through a ``delay`` fault, reads nothing and so cannot count a
    disconnect until it writes; the kernel knows at once that the gateway closed its side."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "08":
                    count += 1
    return count


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")
@pytest.mark.parametrize("stream", [False, True])
def test_a_client_leaving_before_the_first_byte_cancels_the_upstream_call(
    gw: Stack, stream: bool
) -> None:
    gw.together.add_fault("delay=4", times=1)
    before = httpx.get(f"{gw.gateway.root}/metrics", headers=AUTH).text
    body = (
        b'{"model": "chat", "stream": ' + (b"true" if stream else b"false") + b', "messages": '
        b'[{"role": "user", "content": "slow"}]}'
    )
    emulator_port = int(gw.together.base_url.rsplit(":", 1)[1].split("/")[0])
    assert _closed_by_peer(emulator_port) == 0
    _send_and_leave(gw, body, after=0.3)
    # the gateway closed its upstream connection long before the 4 s answer was due
    assert wait_for(lambda: _closed_by_peer(emulator_port) == 1, timeout=2)
    assert gw.together.stats["in_flight"] == 1  # the emulator is still sleeping on it
    page = httpx.get(f"{gw.gateway.root}/metrics", headers=AUTH).text
    labels = {"endpoint": "chat", "alias": "chat", "status": "499"}
    assert (
        metric(page, "llmrouter_gateway_requests_total", **labels)
        - metric(before, "llmrouter_gateway_requests_total", **labels)
        == 1
    )
    assert metric(page, "llmrouter_gateway_in_flight_requests") == 0
    assert wait_for(lambda: gw.together.stats["in_flight"] == 0, timeout=10)


def test_the_in_flight_gauge(gw: Stack) -> None:
    gw.together.add_fault("delay=1", times=1)
    done = threading.Event()

    def slow() -> None:
        openai.OpenAI(base_url=gw.gateway.base_url, api_key=MASTER_KEY).chat.completions.create(
            model="chat",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
        done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    assert wait_for(lambda: gw.together.stats["in_flight"] == 1)
    page = httpx.get(f"{gw.gateway.root}/metrics", headers=AUTH).text
    assert metric(page, "llmrouter_gateway_in_flight_requests") == 1
    thread.join(10)
    assert done.is_set()
    page = httpx.get(f"{gw.gateway.root}/metrics", headers=AUTH).text
    assert metric(page, "llmrouter_gateway_in_flight_requests") == 0


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"messages": MESSAGES}, "messages"), ({"logprobs": 2}, "logprobs")],
)
def test_completions_refuse_what_they_cannot_honour(
    gw: Stack, extra: dict[str, object], param: str
) -> None:
    response = httpx.post(
        f"{gw.gateway.base_url}/completions",
        headers=AUTH,
        json={"model": "chat", "prompt": "Once", **extra},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert gw.together.stats["total"] == 0


@pytest.mark.parametrize("key", ["prices", "deployment"])
def test_metadata_cannot_pose_as_the_routers_own(gw: Stack, key: str) -> None:
    """A request's metadata once set the price the spend cap trusted (a review finding)."""
    with pytest.raises(openai.BadRequestError) as info:
        openai.OpenAI(base_url=gw.gateway.base_url, api_key=MASTER_KEY).chat.completions.create(
            model="chat",
            messages=MESSAGES,  # type: ignore[arg-type]
            metadata={key: "0"},
        )
    assert info.value.body["param"] == "metadata"  # type: ignore[index]
    assert gw.together.stats["total"] == 0


def test_a_trailing_slash_is_not_a_redirect(gw: Stack) -> None:
    response = httpx.post(
        f"{gw.gateway.base_url}/chat/completions/",
        headers={**AUTH, "host": "evil.example"},
        json={"model": "chat", "messages": MESSAGES},
    )
    assert response.status_code in (404, 405)
    assert "location" not in response.headers


def test_rpm_limited_deployments_answer_429_with_retry_after(tmp_path: Path) -> None:
    env = {"GW_MASTER_KEY": MASTER_KEY, "GW_TOGETHER_KEY": TOGETHER_KEY}
    with TogetherEmulator() as together:
        path = tmp_path / "llmrouter.toml"
        path.write_text(
            f"""
[router]
retry_after_max = 0
[gateway]
master_key_env = "GW_MASTER_KEY"
[models.chat]
[[models.chat.deployments]]
model = "together_ai/{TOGETHER_MODEL}"
api_base = "{together.base_url}"
api_key_env = "GW_TOGETHER_KEY"
rpm = 1
""",
            encoding="utf-8",
        )
        gateway = start_gateway(path, env=env)
        try:
            c = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0)
            c.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
            with pytest.raises(openai.RateLimitError) as info:
                c.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
            assert 55 <= int(info.value.response.headers["retry-after"]) <= 60
            assert together.stats["total"] == 1
        finally:
            gateway.stop()


def test_the_gateways_own_problems_reach_its_log(tmp_path: Path) -> None:
    """A provider that is not installed: a warning in the log, and readiness says why."""
    env = {"GW_MASTER_KEY": MASTER_KEY, "GW_TOGETHER_KEY": TOGETHER_KEY}
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        path = tmp_path / "llmrouter.toml"
        path.write_text(
            config_toml(together.base_url, claude.base_url, master_key_env="GW_MASTER_KEY")
            + '\n[models.ghost]\n[[models.ghost.deployments]]\nmodel = "no_such_provider/m"\n',
            encoding="utf-8",
        )
        gateway = start_gateway(
            path, env={**env, "GW_ANTHROPIC_KEY": ANTHROPIC_KEY}, wait_ready=False
        )
        try:
            assert wait_for(lambda: "provider_unavailable" in gateway.output(), timeout=20)
            assert wait_for(lambda: "Uvicorn running" in gateway.output(), timeout=20)
            ready = httpx.get(f"{gateway.root}/health/readiness")
            assert ready.status_code == 503
            assert "no_such_provider" in str(ready.json()["providers"])
        finally:
            gateway.stop()


def test_without_a_key_only_local_clients_are_served() -> None:
    """Started by hand (``uvicorn --factory``) on a public address, a gateway with no master
    key still answers only requests from this machine."""
    config = load_config({"models": {"chat": {"deployments": [{"model": "together_ai/x"}]}}})
    app = create_app(config)

    async def ask(client: tuple[str, int]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            return await http.get("/v1/models")

    remote = asyncio.run(ask(("192.0.2.2", 5000)))
    assert remote.status_code == 403 and remote.json()["error"]["code"] == "local_only"
    local = asyncio.run(ask(("127.0.0.1", 5000)))
    assert local.status_code == 200 and [m["id"] for m in local.json()["data"]] == ["chat"]


def test_cors_lets_the_openai_js_sdk_in(tmp_path: Path) -> None:
    env = {
        "GW_MASTER_KEY": MASTER_KEY,
        "GW_TOGETHER_KEY": TOGETHER_KEY,
        "GW_ANTHROPIC_KEY": ANTHROPIC_KEY,
    }
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        path = tmp_path / "llmrouter.toml"
        path.write_text(
            config_toml(
                together.base_url,
                claude.base_url,
                master_key_env="GW_MASTER_KEY",
                extra='cors_origins = ["https://app.example.com"]',
            ),
            encoding="utf-8",
        )
        gateway = start_gateway(path, env=env)
        try:
            preflight = httpx.options(
                f"{gateway.base_url}/chat/completions",
                headers={
                    "origin": "https://app.example.com",
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "authorization,content-type,"
                    "x-stainless-os,x-stainless-lang,x-stainless-retry-count,openai-organization",
                },
            )
            assert preflight.status_code == 200, preflight.text
            answer = httpx.post(
                f"{gateway.base_url}/chat/completions",
                headers={**AUTH, "origin": "https://app.example.com"},
                json={"model": "chat", "messages": MESSAGES},
            )
            assert answer.status_code == 200
            assert answer.headers["access-control-allow-origin"] == "https://app.example.com"
            assert "retry-after" in answer.headers["access-control-expose-headers"]
            other = httpx.options(
                f"{gateway.base_url}/chat/completions",
                headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
            )
            assert other.status_code == 400
        finally:
            gateway.stop()
