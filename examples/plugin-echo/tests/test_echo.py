"""The echo provider, installed as a package, discovered through its entry point and routed to
by ``completion(model="echo/...")`` with no change to llmrouter."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import llmrouter
from llmrouter_echo.server import EchoServer

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent / "llmrouter_echo"
HI = [{"role": "user", "content": "Hello echo world"}]


# --- discovery ------------------------------------------------------------------------------------


def test_declared_through_the_entry_point() -> None:
    (ep,) = [ep for ep in entry_points(group="llmrouter.providers") if ep.name == "echo"]
    assert ep.value == "llmrouter_echo.plugin"
    assert ep.dist is not None and ep.dist.metadata["Name"] == "llmrouter-echo"
    assert "echo" in llmrouter.providers()


def test_discovered_lazily_in_a_fresh_process(server: EchoServer) -> None:
    code = (
        "import sys, llmrouter\n"
        "assert 'llmrouter_echo.plugin' not in sys.modules\n"
        "assert 'echo' in llmrouter.providers()\n"
        "assert 'llmrouter_echo.plugin' not in sys.modules  # listed by name, not imported\n"
        "r = llmrouter.completion(model='echo/parrot', messages=[{'role': 'user', 'content': 'hi there'}])\n"
        "assert 'llmrouter_echo.plugin' in sys.modules\n"
        "print(r.choices[0].message.content)\n"
    )
    env = {**os.environ, "ECHO_API_BASE": server.base_url}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi there\n"


def test_uses_only_llmrouters_public_api() -> None:
    allowed = {
        "llmrouter",
        "llmrouter.errors",
        "llmrouter.pipeline",
        "llmrouter.provider",
        "llmrouter.templates",
        "llmrouter.types",
        "llmrouter.validation",
    }
    tree = ast.parse((PACKAGE / "plugin.py").read_text(encoding="utf-8"))
    used = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llmrouter")
    }
    assert used <= allowed, used - allowed


# --- calls ----------------------------------------------------------------------------------------


def test_completion(server: EchoServer) -> None:
    response = llmrouter.completion(model="echo/parrot", messages=HI)
    assert response.choices[0].message.content == "Hello echo world"
    assert response["choices"][0]["message"]["content"] == "Hello echo world"  # dict access
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "parrot"
    assert response.usage is not None
    assert response.usage.prompt_tokens == 3 and response.usage.total_tokens == 6
    assert response.llmrouter.provider == "echo"
    assert response.llmrouter.endpoint == "/echo"
    body = server.requests[-1]["body"]
    assert body == {"voice": "parrot", "turns": [{"speaker": "user", "text": "Hello echo world"}]}


def test_openai_shape_survives(server: EchoServer) -> None:
    openai_types = pytest.importorskip("openai.types.chat")
    response = llmrouter.completion(model="echo/parrot", messages=HI)
    openai_types.ChatCompletion.model_validate(response.model_dump())


def test_voices_and_options(server: EchoServer) -> None:
    loud = llmrouter.completion(model="echo/loud", messages=HI, repeat=2)
    assert loud.choices[0].message.content == "HELLO ECHO WORLD HELLO ECHO WORLD"
    short = llmrouter.completion(model="echo/backwards", messages=HI, max_tokens=2)
    assert short.choices[0].message.content == "world echo"
    assert short.choices[0].finish_reason == "length"
    assert server.requests[-1]["body"]["max_words"] == 2


def test_system_and_history_become_turns(server: EchoServer) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "be an echo"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
    ]
    response = llmrouter.completion(model="echo/parrot", messages=messages)
    assert response.choices[0].message.content == "two"
    speakers = [t["speaker"] for t in server.requests[-1]["body"]["turns"]]
    assert speakers == ["system", "user", "assistant", "user"]


def test_streaming(server: EchoServer) -> None:
    chunks = list(llmrouter.completion(model="echo/parrot", messages=HI, stream=True))
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks)
    assert text == "Hello echo world"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 3
    assert len({c.id for c in chunks}) == 1


def test_async_and_async_streaming(server: EchoServer) -> None:
    async def main() -> tuple[str | None, str]:
        response = await llmrouter.acompletion(model="echo/loud", messages=HI)
        stream = await llmrouter.acompletion(model="echo/loud", messages=HI, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
        return response.choices[0].message.content, text

    assert asyncio.run(main()) == ("HELLO ECHO WORLD", "HELLO ECHO WORLD")


def test_list_models(server: EchoServer) -> None:
    models = llmrouter.list_models("echo")
    assert [m.id for m in models] == ["parrot", "loud", "backwards"]
    assert models[0].owned_by == "echo"


def test_prompt_template_sends_text(server: EchoServer) -> None:
    response = llmrouter.completion(model="echo/parrot", messages=HI, prompt_template="chatml")
    expected = "<|im_start|>user\nHello echo world<|im_end|>\n<|im_start|>assistant\n"
    assert server.requests[-1]["body"]["text"] == expected
    assert response.llmrouter.prompt == expected
    assert response.choices[0].message.content == " ".join(expected.split())


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_option_fails_before_any_request(server: EchoServer) -> None:
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        llmrouter.completion(model="echo/parrot", messages=HI, temperature=0.2)
    assert "temperature" in str(info.value) and "max_tokens" in str(info.value)
    with pytest.raises(llmrouter.InvalidRequestError):
        llmrouter.completion(model="echo/parrot", messages=HI, repeat=9)
    with pytest.raises(llmrouter.InvalidRequestError):
        llmrouter.completion(
            model="echo/parrot", messages=[{"role": "tool", "content": "x", "tool_call_id": "1"}]
        )
    assert server.requests == []


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, llmrouter.BadRequestError),
        (401, llmrouter.AuthenticationError),
        (429, llmrouter.RateLimitError),
        (500, llmrouter.InternalServerError),
        (503, llmrouter.ServiceUnavailableError),
    ],
)
def test_errors_are_typed(server: EchoServer, status: int, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        llmrouter.completion(
            model="echo/parrot", messages=[{"role": "user", "content": f"!status {status}"}]
        )
    error = info.value
    assert error.status_code == status  # type: ignore[attr-defined]
    assert error.provider == "echo"  # type: ignore[attr-defined]
    assert error.request_id  # type: ignore[attr-defined]
    if status == 429:
        assert error.retry_after == 1.0  # type: ignore[attr-defined]


def test_structured_kinds_refine_the_class(server: EchoServer) -> None:
    with pytest.raises(llmrouter.NotFoundError):
        llmrouter.completion(model="echo/whisper", messages=HI)
    with pytest.raises(llmrouter.ContextWindowExceededError):
        llmrouter.completion(
            model="echo/parrot", messages=[{"role": "user", "content": "w " * 300}]
        )


def test_error_inside_a_stream_is_raised(server: EchoServer) -> None:
    stream = llmrouter.completion(
        model="echo/parrot", messages=[{"role": "user", "content": "!problem"}], stream=True
    )
    with pytest.raises(llmrouter.ServiceUnavailableError) as info:
        for _chunk in stream:
            pass
    assert info.value.status_code == 503
    assert "went quiet" in str(info.value)


def test_key_from_the_environment_and_never_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with EchoServer(key="right-key-123456") as guarded:
        monkeypatch.setenv("ECHO_API_BASE", guarded.base_url)
        monkeypatch.setenv("ECHO_API_KEY", "right-key-123456")
        assert llmrouter.completion(model="echo/parrot", messages=HI).choices[0].message.content
        monkeypatch.setenv("ECHO_API_KEY", "wrong-key-DoNotLeak-42")
        with pytest.raises(llmrouter.AuthenticationError) as info:
            llmrouter.completion(model="echo/parrot", messages=HI)
        assert "wrong-key-DoNotLeak-42" not in str(info.value) + repr(info.value.headers)
        monkeypatch.delenv("ECHO_API_KEY")
        with pytest.raises(llmrouter.AuthenticationError):
            llmrouter.completion(model="echo/parrot", messages=HI, api_base=guarded.base_url)
    llmrouter.reset_default_routers()


def test_connection_refused_is_typed() -> None:
    with pytest.raises(llmrouter.APIConnectionError):
        llmrouter.completion(model="echo/parrot", messages=HI, api_base="http://127.0.0.1:9")


# --- through the llmrouter CLI --------------------------------------------------------------------


def _cli(server: EchoServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ECHO_API_BASE": server.base_url}
    return subprocess.run(
        [sys.executable, "-m", "llmrouter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_the_cli_sees_and_uses_the_plugin(server: EchoServer) -> None:
    plugins = _cli(server, "plugins")  # exit 1 if some *other* plugin fails to load
    line = next(x for x in plugins.stdout.splitlines() if x.strip().startswith("echo "))
    assert "llmrouter-echo 0.1.0" in line and "llmrouter_echo.plugin" in line
    assert line.rstrip().endswith("ok")

    chat = _cli(server, "chat", "-m", "echo/loud", "hello from the cli")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == "HELLO FROM THE CLI\n"

    models = _cli(server, "models", "echo", "--json")
    assert [m["id"] for m in json.loads(models.stdout)] == ["parrot", "loud", "backwards"]

    bad = _cli(server, "chat", "-m", "echo/parrot", "-o", "temperature=1", "hi")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: InvalidRequestError: ")
