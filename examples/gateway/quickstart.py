"""The gateway in one command: ``llmrouter serve`` in front of Together and Claude, called with
the official OpenAI SDK.

    uv run --all-packages --frozen python examples/gateway/quickstart.py

Without --live it starts llmrouter's Together and Anthropic emulators on 127.0.0.1, writes a
routing config whose aliases point at them (examples/gateway/llmrouter.toml is the same config
for the real services), starts the gateway as its own process with ``llmrouter serve``, and
uses ``openai.OpenAI(base_url=<gateway>/v1)`` as any app would: a completion, a stream, a call
to Claude through the same SDK, the models list, and the error a wrong key gets. With --live it
serves examples/gateway/llmrouter.toml (set TOGETHERAI_API_KEY and ANTHROPIC_API_KEY).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Hello, whats the weather in San Francisco??"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emulated_config(folder: Path, together: str, claude: str) -> Path:
    """The example config with its two base URLs pointed at the emulators."""
    text = (HERE / "llmrouter.toml").read_text(encoding="utf-8")
    text = text.replace("https://api.together.xyz/v1", together).replace(
        "https://api.anthropic.com", claude
    )
    path = folder / "llmrouter.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def gateway(config: Path, env: dict[str, str]) -> Iterator[str]:
    """``llmrouter serve`` as a subprocess; yields its /v1 URL once it is ready."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmrouter", "serve", "--config", str(config), "--port", str(port)],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(
                    f"the gateway did not start:\n{proc.stderr.read() if proc.stderr else ''}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{root}/health/readiness", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the gateway did not become ready in 30 s")
            time.sleep(0.05)
        yield f"{root}/v1"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def use_it(base_url: str, master_key: str) -> None:
    """What an app does: the OpenAI SDK, pointed at the gateway."""
    client = openai.OpenAI(base_url=base_url, api_key=master_key)
    response = client.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    print("chat:", response.choices[0].message.content)
    stream = client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    print("stream:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    claude = client.chat.completions.create(model="claude", messages=MESSAGES)  # type: ignore[arg-type]
    print("claude:", claude.choices[0].message.content)
    print("models:", sorted(m.id for m in client.models.list()))
    try:
        openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0).models.list()
    except openai.AuthenticationError as exc:
        print("wrong key ->", type(exc).__name__, exc.status_code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--live", action="store_true", help="serve the real providers")
    args = parser.parse_args()
    master_key = os.environ.get("LLMROUTER_MASTER_KEY") or "sk-" + secrets.token_hex(16)
    env = {"LLMROUTER_MASTER_KEY": master_key}
    if args.live:
        missing = [v for v in ("TOGETHERAI_API_KEY", "ANTHROPIC_API_KEY") if not os.environ.get(v)]
        if missing:
            print(f"--live needs {' and '.join(missing)} set", file=sys.stderr)
            return 2
        with gateway(HERE / "llmrouter.toml", env) as url:
            use_it(url, master_key)
        return 0
    from llmrouter.testing import TogetherEmulator
    from llmrouter_anthropic.testing import AnthropicEmulator

    print("using llmrouter's Together and Anthropic emulators on 127.0.0.1 (no key needed)")
    env.update({"TOGETHERAI_API_KEY": "emulator-key", "ANTHROPIC_API_KEY": "emulator-key"})
    with (
        TogetherEmulator() as together,
        AnthropicEmulator() as claude,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = emulated_config(Path(tmp), together.base_url, claude.base_url)
        with gateway(config, env) as url:
            print("gateway:", url)
            use_it(url, master_key)
        print("requests the emulators served:", together.stats["total"] + claude.stats["total"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
