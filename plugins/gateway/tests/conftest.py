"""A real gateway process (``llmrouter serve``) on 127.0.0.1, in front of the emulators.

The emulators run in this process (threads); the gateway is a subprocess started with the
CLI exactly as a user starts it, so every test request crosses two sockets: the official
``openai`` SDK to the gateway, the gateway's router to the emulator.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from llmrouter.testing import TogetherEmulator
from llmrouter_anthropic.testing import AnthropicEmulator

MASTER_KEY = "sk-gateway-master-7f3a9c2e"
TOGETHER_KEY = "tg-upstream-key-0b1c2d3e"
ANTHROPIC_KEY = "ant-upstream-key-4f5a6b7c"
TOGETHER_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
CLAUDE_MODEL = "claude-sonnet-4-6"
EMBED_MODEL = "BAAI/bge-base-en-v1.5"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_toml(together: str, claude: str, *, master_key_env: str | None, extra: str = "") -> str:
    gateway = f'master_key_env = "{master_key_env}"\n' if master_key_env else ""
    return f"""
[router]
num_retries = 0
backoff_base = 0.0

[gateway]
{gateway}max_body_bytes = 200000
{extra}

[models.chat]
[[models.chat.deployments]]
name = "together"
model = "together_ai/{TOGETHER_MODEL}"
api_base = "{together}"
api_key_env = "GW_TOGETHER_KEY"

[models.claude]
[[models.claude.deployments]]
name = "claude"
model = "anthropic/{CLAUDE_MODEL}"
api_base = "{claude}"
api_key_env = "GW_ANTHROPIC_KEY"
options = {{ max_tokens = 256 }}

[models.fallback]
fallbacks = ["claude"]
[[models.fallback.deployments]]
name = "dead"
model = "together_ai/{TOGETHER_MODEL}"
api_base = "http://127.0.0.1:9"
api_key_env = "GW_TOGETHER_KEY"

[models.embed]
[[models.embed.deployments]]
model = "together_ai/{EMBED_MODEL}"
api_base = "{together}"
api_key_env = "GW_TOGETHER_KEY"
"""


def two_deployments_toml(
    path: Path,
    a: str,
    b: str,
    names: tuple[str, str],
    *,
    gateway: str = "",
    router: str = "",
    strategy: str | None = None,
) -> Path:
    """A config whose alias ``chat`` has two Together deployments named ``names``, at the
    emulators ``a`` and ``b`` (key in ``GW_TOGETHER_KEY``), with extra ``[router]`` and
    ``[gateway]`` lines: the shape of every test that runs several gateways on one Redis."""
    chosen = f'strategy = "{strategy}"\n' if strategy else ""
    deployments = "".join(
        f"""
[[models.chat.deployments]]
name = "{name}"
model = "together_ai/{TOGETHER_MODEL}"
api_base = "{base}"
api_key_env = "GW_TOGETHER_KEY"
"""
        for name, base in zip(names, (a, b), strict=True)
    )
    path.write_text(
        f"[router]\nnum_retries = 0\n{router}\n[gateway]\n{gateway}\n[models.chat]\n{chosen}"
        + deployments,
        encoding="utf-8",
    )
    return path


@dataclass
class GatewayProcess:
    """One ``llmrouter serve`` subprocess and what it printed."""

    proc: subprocess.Popen[str]
    base_url: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_gateway(
    config: Path,
    *,
    env: dict[str, str],
    args: tuple[str, ...] = (),
    port: int | None = None,
    wait_ready: bool = True,
) -> GatewayProcess:
    port = free_port() if port is None else port
    log = config.with_suffix(f".{port}.log")
    handle = log.open("w", encoding="utf-8")
    full_env = {**os.environ, **env}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmrouter",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            *args,
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=full_env,
        text=True,
    )
    gateway = GatewayProcess(proc, f"http://127.0.0.1:{port}/v1", log, env)
    if wait_ready:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"the gateway exited with {proc.returncode}:\n{gateway.output()}"
                )
            try:
                if httpx.get(f"{gateway.root}/health/readiness", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                gateway.stop()
                raise AssertionError(f"the gateway did not become ready:\n{gateway.output()}")
            time.sleep(0.05)
    return gateway


@dataclass
class Stack:
    together: TogetherEmulator
    claude: AnthropicEmulator
    gateway: GatewayProcess


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("gateway")
    with TogetherEmulator() as together, AnthropicEmulator() as claude:
        path = tmp / "llmrouter.toml"
        path.write_text(
            config_toml(together.base_url, claude.base_url, master_key_env="GW_MASTER_KEY"),
            encoding="utf-8",
        )
        env = {
            "GW_MASTER_KEY": MASTER_KEY,
            "GW_TOGETHER_KEY": TOGETHER_KEY,
            "GW_ANTHROPIC_KEY": ANTHROPIC_KEY,
        }
        gateway = start_gateway(path, env=env)
        try:
            yield Stack(together, claude, gateway)
        finally:
            gateway.stop()


@pytest.fixture
def gw(stack: Stack) -> Iterator[Stack]:
    """The module's stack with clean fault rules and counters for each test."""
    stack.together.clear_faults()
    stack.claude.clear_faults()
    stack.together.reset_stats()
    stack.claude.reset_stats()
    yield stack
    stack.together.clear_faults()
    stack.claude.clear_faults()
