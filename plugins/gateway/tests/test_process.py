"""The gateway as a process: disconnects, shutdown, health, metrics, keys and workers."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from llmrouter.testing import TogetherEmulator
from llmrouter_anthropic.testing import AnthropicEmulator

from .conftest import (
    ANTHROPIC_KEY,
    MASTER_KEY,
    TOGETHER_KEY,
    Stack,
    config_toml,
    start_gateway,
)

MESSAGES = [{"role": "user", "content": "Hello through the gateway"}]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        sample, _, rest = key.partition("{")
        got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if sample == name and got == want:
            return float(value)
    return 0.0


def test_client_disconnect_cancels_the_upstream_stream(gw: Stack) -> None:
    """A client that leaves mid-stream closes the upstream stream at once (not at its end)."""
    # 200 tokens, 50 ms apart: about 10 s if nothing cancelled it.
    gw.together.add_fault("chunk_delay=0.05", times=1)
    with socket.create_connection(("127.0.0.1", int(gw.gateway.root.rsplit(":", 1)[1]))) as sock:
        body = (
            b'{"model": "chat", "stream": true, "max_tokens": 200, '
            b'"messages": [{"role": "user", "content": "long"}]}'
        )
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {MASTER_KEY}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        assert wait_for(lambda: gw.together.stats["in_flight"] == 1)
    started = time.monotonic()
    assert wait_for(lambda: gw.together.stats["in_flight"] == 0, timeout=5)
    assert time.monotonic() - started < 5  # the stream had about 10 s to go
    stats = gw.together.stats
    assert stats["disconnects"] >= 1
    assert stats["open_connections"] == 0 or wait_for(
        lambda: gw.together.stats["open_connections"] == 0
    )
    page = httpx.get(f"{gw.gateway.root}/metrics", headers=AUTH).text
    assert (
        metric(
            page, "llmrouter_gateway_requests_total", endpoint="chat", alias="chat", status="499"
        )
        >= 1
    )


def test_health(gw: Stack) -> None:
    live = httpx.get(f"{gw.gateway.root}/health/liveliness")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = httpx.get(f"{gw.gateway.root}/health/readiness")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["aliases"] == 4


def test_metrics_count_requests_tokens_and_errors(gw: Stack) -> None:
    before = httpx.get(f"{gw.gateway.root}/metrics", headers=AUTH).text
    c = openai.OpenAI(base_url=gw.gateway.base_url, api_key=MASTER_KEY, max_retries=0)
    response = c.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    gw.together.add_fault("status=500", times=1)
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    after = httpx.get(f"{gw.gateway.root}/metrics", headers=AUTH).text

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert (
        delta("llmrouter_gateway_requests_total", endpoint="chat", alias="chat", status="200") == 1
    )
    assert (
        delta("llmrouter_gateway_requests_total", endpoint="chat", alias="chat", status="500") == 1
    )
    errors = sum(
        float(line.rpartition(" ")[2])
        for line in after.splitlines()
        if line.startswith("llmrouter_gateway_errors_total{") and 'alias="chat"' in line
    ) - sum(
        float(line.rpartition(" ")[2])
        for line in before.splitlines()
        if line.startswith("llmrouter_gateway_errors_total{") and 'alias="chat"' in line
    )
    assert errors == 1
    usage = response.usage
    assert usage is not None
    assert (
        delta("llmrouter_gateway_tokens_total", alias="chat", deployment="together", kind="prompt")
        == usage.prompt_tokens
    )
    assert (
        delta(
            "llmrouter_gateway_tokens_total", alias="chat", deployment="together", kind="completion"
        )
        == usage.completion_tokens
    )
    assert delta("llmrouter_gateway_cost_usd_total", alias="chat", deployment="together") > 0
    assert (
        delta("llmrouter_gateway_request_duration_seconds_count", endpoint="chat", alias="chat")
        == 2
    )
    # /metrics needs the key when the gateway has one
    assert httpx.get(f"{gw.gateway.root}/metrics").status_code == 401


def test_graceful_shutdown_finishes_requests_in_flight(tmp_path: Path) -> None:
    env = {
        "GW_MASTER_KEY": MASTER_KEY,
        "GW_TOGETHER_KEY": TOGETHER_KEY,
        "GW_ANTHROPIC_KEY": ANTHROPIC_KEY,
    }
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        path = tmp_path / "llmrouter.toml"
        path.write_text(
            config_toml(together.base_url, claude.base_url, master_key_env="GW_MASTER_KEY")
        )
        gateway = start_gateway(path, env=env)
        together.add_fault("delay=1.5", times=1)
        result: dict[str, object] = {}

        def slow_call() -> None:
            c = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0)
            try:
                result["text"] = (
                    c.chat.completions.create(model="chat", messages=MESSAGES)
                    .choices[0]
                    .message.content
                )  # type: ignore[arg-type]
            except Exception as exc:  # the assertion below reports it
                result["error"] = exc

        thread = threading.Thread(target=slow_call)
        thread.start()
        assert wait_for(lambda: together.stats["in_flight"] == 1)
        gateway.proc.send_signal(signal.SIGTERM)
        thread.join(20)
        code = gateway.proc.wait(20)
        assert "error" not in result, result
        assert "Hello through the gateway" in str(result["text"])
        # uvicorn re-raises the signal once drained, so the exit tells the parent why
        assert code in (0, -signal.SIGTERM)
        # and it no longer accepts connections
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{gateway.root}/health/liveliness")


def test_without_a_master_key_it_serves_only_loopback(tmp_path: Path) -> None:
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        path = tmp_path / "llmrouter.toml"
        path.write_text(config_toml(together.base_url, claude.base_url, master_key_env=None))
        gateway = start_gateway(
            path,
            env={"GW_TOGETHER_KEY": TOGETHER_KEY, "GW_ANTHROPIC_KEY": ANTHROPIC_KEY},
            args=("--host", "0.0.0.0"),
        )
        try:
            response = httpx.post(
                f"{gateway.base_url}/chat/completions", json={"model": "chat", "messages": MESSAGES}
            )
            assert response.status_code == 200
            out = gateway.output()
            assert "serves only 127.0.0.1, not 0.0.0.0" in out
            assert "no master key: local only" in out
        finally:
            gateway.stop()


def test_a_named_but_unset_master_key_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text(
        config_toml("http://127.0.0.1:9", "http://127.0.0.1:9", master_key_env="GW_UNSET_KEY")
    )
    gateway = start_gateway(path, env={"GW_UNSET_KEY": ""}, wait_ready=False)
    assert gateway.proc.wait(30) == 2  # the CLI's exit code for a ConfigError
    out = gateway.output()
    assert "ConfigError" in out and "GW_UNSET_KEY" in out and "not set or is empty" in out


def test_two_workers_share_the_metrics(tmp_path: Path) -> None:
    env = {
        "GW_MASTER_KEY": MASTER_KEY,
        "GW_TOGETHER_KEY": TOGETHER_KEY,
        "GW_ANTHROPIC_KEY": ANTHROPIC_KEY,
    }
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        path = tmp_path / "llmrouter.toml"
        path.write_text(
            config_toml(together.base_url, claude.base_url, master_key_env="GW_MASTER_KEY")
        )
        gateway = start_gateway(path, env=env, args=("--workers", "2"))
        try:
            c = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0)
            for _ in range(12):
                c.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
            assert together.stats["total"] == 12
            page = httpx.get(f"{gateway.root}/metrics", headers=AUTH).text
            assert (
                metric(
                    page,
                    "llmrouter_gateway_requests_total",
                    endpoint="chat",
                    alias="chat",
                    status="200",
                )
                == 12
            )
        finally:
            assert gateway.stop() in (0, -signal.SIGTERM)


def test_serves_a_litellm_proxy_config(tmp_path: Path) -> None:
    """A LiteLLM user starts the gateway with the config.yaml they have."""
    with TogetherEmulator() as together:
        path = tmp_path / "config.yaml"
        path.write_text(
            f"""
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo
      api_base: {together.base_url}
      api_key: os.environ/GW_TOGETHER_KEY
router_settings:
  num_retries: 0
litellm_settings:
  drop_params: true
general_settings:
  master_key: os.environ/GW_MASTER_KEY
""",
            encoding="utf-8",
        )
        gateway = start_gateway(
            path, env={"GW_MASTER_KEY": MASTER_KEY, "GW_TOGETHER_KEY": TOGETHER_KEY}
        )
        try:
            c = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0)
            response = c.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
            assert "Hello through the gateway" in (response.choices[0].message.content or "")
            # the emulator logs keys redacted to their last four characters
            assert together.requests[-1].headers["authorization"].endswith(TOGETHER_KEY[-4:] + ">")
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(
                    base_url=gateway.base_url, api_key="sk-no", max_retries=0
                ).models.list()
            out = gateway.output()
            assert "warning: litellm_settings.drop_params:" in out
            assert MASTER_KEY not in out and TOGETHER_KEY not in out
        finally:
            gateway.stop()
