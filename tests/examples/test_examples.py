"""Every script in examples/ runs with one command against the emulator and says what it should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_PROVIDER_ENV = {
    "TOGETHERAI_API_KEY",
    "TOGETHER_API_KEY",
    "TOGETHER_AI_TOKEN",
    "TOGETHERAI_API_BASE",
    "TOGETHER_BASE_URL",
    "LLMROUTER_CONFIG",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_API_BASE",
    "GOOGLE_GEMINI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
}


def run(script: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROVIDER_ENV}
    env["PYTHONWARNINGS"] = "default::ResourceWarning"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "ResourceWarning" not in result.stderr  # connections and servers are closed
    return result


def test_quickstart() -> None:
    result = run("quickstart.py")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "using llmrouter's Together emulator" in out
    assert "content: This is a deterministic reply" in out
    assert "async chunk:" in out


def test_together_tutorial() -> None:
    result = run("together_tutorial.py")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # 1. the completion, printed as the tutorial prints it, through the chat endpoint
    assert "## Calling Llama2 on TogetherAI" in out
    assert "'model': 'togethercomputer/llama-2-70b-chat'" in out
    assert "You said: Hello, whats the weather in San Francisco??" in out
    assert "endpoint: /chat/completions" in out
    # 2. streaming with the legacy flag: a warning, then deltas
    assert "DeprecationWarning: together_ai=True is a legacy tutorial flag" in out
    assert "{'role': 'assistant', 'content': ' whats'" in out
    # 3. the custom template: the exact prompt, sent to /completions
    exact = repr("<|im_start|>user\nWrite me a poem about the blue sky\n")
    assert f"the exact prompt: {exact}" in out
    assert f"prompt sent: {exact}" in out
    assert "endpoint: /completions" in out
    assert "'model': 'OpenAssistant/llama2-70b-oasst-sft-v10'" in out
    # 4. the model card's full ChatML format
    chatml = repr(
        "<|im_start|>user\nWrite me a poem about the blue sky<|im_end|>\n<|im_start|>assistant\n"
    )
    assert f"prompt sent: {chatml}" in out


def test_streaming_async() -> None:
    result = run("streaming_async.py")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "acompletion stream: This is a deterministic reply" in out
    assert "3 concurrent streams in" in out
    # overlap as the server saw it (not by time: a sequential run can look fast enough)
    assert "the emulator answered 3 requests at once" in out, out
    assert "Name a planet. -> This is a deterministic reply" in out
    assert "stopped after two chunks: ['This', ' is']" in out
    assert "cut stream -> APIConnectionError" in out


def test_custom_template() -> None:
    result = run("custom_template.py")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "llama-2: '[INST] <<SYS>>\\nBe brief.\\n<</SYS>>\\n\\nHi! [/INST] Hello. </s>" in out
    assert "rejected: no system messages, please" in out
    assert "no template -> /chat/completions" in out
    assert "registration -> /completions '[INST] 2+2? [/INST]'" in out
    assert "stop sequences sent: ['</s>']" in out
    assert "prompt_template='llama-3' -> /completions" in out


def test_routing_config_fallback() -> None:
    result = run("routing_config/fallback.py")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "healthy: alias='chat' deployment='llama-3.3' attempts=1" in out
    assert (
        "direct: alias=None deployment='together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo'" in out
    )
    balanced = out.split("balanced, 40 calls: ")[1].splitlines()[0]
    assert "'llama-3.1'" in balanced and "'llama-3.3'" in balanced
    assert "one 503: alias='chat' deployment='llama-3.3' attempts=2" in out
    assert "statuses the emulator sent: [503, 200]" in out
    assert "chat down: alias='chat' deployment='mixtral' attempts=3 endpoint=/completions" in out
    assert "prompt sent to the fallback: ' [INST] Hello, whats the weather" in out
    assert "streamed from 'mixtral': 'This is a deterministic reply from the Together'" in out
    assert "all down: AllDeploymentsFailedError after 4 attempts:" in out
    assert "  mixtral: ServiceUnavailableError (HTTP 503)" in out
    assert "bad request: BadRequestError (HTTP 400), 1 request" in out


def test_routing_config_passes_config_check() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmrouter",
            "config",
            "check",
            "examples/routing_config/llmrouter.toml",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 alias(es), 4 deployment(s)" in proc.stdout
    assert "falls back to backup" in proc.stdout


@pytest.mark.parametrize(
    "script",
    ["quickstart.py", "together_tutorial.py", "streaming_async.py", "routing_config/fallback.py"],
)
def test_live_needs_a_key(script: str) -> None:
    result = run(script, "--live")
    assert result.returncode != 0
    assert "TOGETHERAI_API_KEY" in result.stderr


def test_tools_anthropic_runs_one_loop_on_four_providers() -> None:
    result = run("tools_anthropic.py")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for model, who in [
        ("anthropic/claude-sonnet-4-6", "Anthropic"),
        ("gemini/gemini-2.5-flash", "Gemini"),
        ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "Together"),
        ("openai/gpt-4o-mini", "OpenAI"),
    ]:
        # one tool round, then the text answer that only comes after the tool's result
        assert out.count(f"{model}: the model calls ['get_weather']") == 1
        assert f"{model}: answer: This is a deterministic reply from the {who} emulator" in out


def test_gateway_quickstart() -> None:
    """``llmrouter serve`` as a process, called with the official OpenAI SDK."""
    result = run("gateway/quickstart.py")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "chat: This is a deterministic reply from the Together emulator" in out
    assert "stream: This is a deterministic reply from the Together emulator" in out
    assert "claude: This is a deterministic reply from the Anthropic emulator" in out
    assert "models: ['chat', 'claude']" in out
    assert "wrong key -> AuthenticationError 401" in out
    assert "requests the emulators served: 3" in out  # the wrong key never reached one


def test_gateway_live_needs_keys() -> None:
    result = run("gateway/quickstart.py", "--live")
    assert result.returncode == 2
    assert "TOGETHERAI_API_KEY" in result.stderr and "ANTHROPIC_API_KEY" in result.stderr


def test_gateway_config_passes_config_check() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llmrouter", "config", "check", "examples/gateway/llmrouter.toml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 alias(es), 2 deployment(s)" in proc.stdout
