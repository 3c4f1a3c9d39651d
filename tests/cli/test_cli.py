"""The ``llmrouter`` CLI, run through its real entry point against the Together emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest

from llmrouter.templates import render_prompt
from llmrouter.testing import Fault, TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
LLAMA2 = "together_ai/togethercomputer/llama-2-70b-chat"
TEST_KEY = "tgp_v1_CliTestKeyDoNotLeak_5a4b3c2d1e"


def _assert_one_error_line(result: Any, cls: str) -> None:
    assert result.error_lines and result.error_lines[0].startswith(f"error: {cls}: "), result.stderr
    assert len(result.error_lines) == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- chat ---------------------------------------------------------------------------------------


def test_chat_streams_the_answer(cli: Any, emu: TogetherEmulator) -> None:
    result = cli("chat", "-m", MODEL, "Hello", "there")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "This is a deterministic reply from the Together emulator. You said: Hello there\n"
    )
    body = emu.last_request.body
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Hello there"}]
    assert emu.last_request.key_matches(TEST_KEY)


def test_chat_prints_chunks_as_they_arrive(cli: Any, emu: TogetherEmulator) -> None:
    emu.add_fault(Fault(chunk_delay=0.3), times=1)
    proc = subprocess.Popen(
        cli.argv("chat", "-m", MODEL, "one two three four"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env(),
        cwd=cli.cwd,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.read1(1024)  # type: ignore[attr-defined]
        assert first.startswith(b"This")
        assert proc.poll() is None, "the first words arrived only once the answer was complete"
        rest = proc.stdout.read()
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert (first + rest).decode().endswith("You said: one two three four\n")


def test_no_stream_and_system(cli: Any, emu: TogetherEmulator) -> None:
    result = cli("chat", "-m", MODEL, "--no-stream", "--system", "Be brief.", "Hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("You said: Hi\n")
    body = emu.last_request.body
    assert "stream" not in body or body["stream"] is False
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_json_prints_the_full_response(cli: Any) -> None:
    result = cli("chat", "-m", MODEL, "--json", "Hi")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"].endswith("You said: Hi")
    assert data["usage"]["total_tokens"] > 0


def test_options_are_parsed_as_json_when_possible(cli: Any, emu: TogetherEmulator) -> None:
    result = cli(
        "chat",
        "-m",
        MODEL,
        "-o",
        "max_tokens=3",
        "-o",
        "temperature=0.5",
        "-o",
        'stop=["zzz"]',
        "-o",
        "user=alice",
        "-o",
        "seed=7",
        "--usage",
        "Hi",
    )
    assert result.returncode == 0, result.stderr
    body = emu.last_request.body
    assert body["max_tokens"] == 3
    assert body["temperature"] == 0.5
    assert "zzz" in body["stop"]
    assert body["user"] == "alice"
    assert body["seed"] == 7
    assert result.stdout == "This is a\n"
    assert "usage: prompt_tokens=" in result.stderr


def test_bad_option_fails_before_any_request(cli: Any, emu: TogetherEmulator) -> None:
    for option, needle in (("bogus=1", "bogus"), ("temperature=9", "temperature")):
        result = cli("chat", "-m", MODEL, "-o", option, "Hi")
        assert result.returncode == 2
        _assert_one_error_line(result, "InvalidRequestError")
        assert needle in result.stderr
    assert emu.requests == []


def test_malformed_option_is_a_usage_error(cli: Any) -> None:
    for option in ("max_tokens", "stream=false", "model=x"):
        result = cli("chat", "-m", MODEL, "-o", option, "Hi")
        assert result.returncode == 2
        _assert_one_error_line(result, "UsageError")


def test_api_error_is_one_line_and_exit_1(cli: Any) -> None:
    result = cli("chat", "-m", "together_ai/no-such/model", "Hi")
    assert result.returncode == 1
    _assert_one_error_line(result, "NotFoundError")
    assert "status=404" in result.stderr


def test_debug_shows_the_traceback(cli: Any) -> None:
    result = cli("--debug", "chat", "-m", "together_ai/no-such/model", "Hi")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "error: NotFoundError" in result.stderr
    # --debug also works after the command
    result = cli("chat", "--debug", "-m", "together_ai/no-such/model", "Hi")
    assert "Traceback" in result.stderr


def test_missing_key_is_exit_2_with_no_request(cli: Any, emu: TogetherEmulator) -> None:
    result = cli("chat", "-m", MODEL, "Hi", key=None)
    assert result.returncode == 2
    _assert_one_error_line(result, "MissingAPIKeyError")
    assert "TOGETHERAI_API_KEY" in result.stderr
    assert emu.requests == []


def test_api_key_flag_and_api_base_flag(cli: Any, emu: TogetherEmulator) -> None:
    result = cli(
        "chat",
        "-m",
        MODEL,
        "--api-key",
        "flag-key-123456",
        "--api-base",
        emu.base_url,
        "Hi",
        key=None,
        env={"TOGETHERAI_API_BASE": "http://127.0.0.1:9/v1"},
    )
    assert result.returncode == 0, result.stderr
    assert emu.last_request.key_matches("flag-key-123456")


def test_a_rejected_key_never_appears_in_the_output(cli: Any) -> None:
    with TogetherEmulator(api_key="the-right-key-0000") as strict:
        wrong = "wrong-key-DoNotPrint-987654"
        result = cli("chat", "-m", MODEL, "--api-base", strict.base_url, "Hi", key=wrong)
    assert result.returncode == 1
    _assert_one_error_line(result, "AuthenticationError")
    assert wrong not in result.stderr + result.stdout


def test_connection_refused(cli: Any) -> None:
    result = cli("chat", "-m", MODEL, "--api-base", "http://127.0.0.1:9/v1", "Hi")
    assert result.returncode == 1
    _assert_one_error_line(result, "APIConnectionError")


def test_unknown_provider_is_exit_2(cli: Any) -> None:
    result = cli("chat", "-m", "nosuchprovider/x", "Hi")
    assert result.returncode == 2
    _assert_one_error_line(result, "UnknownProviderError")


def test_in_stream_error_is_reported(cli: Any, emu: TogetherEmulator) -> None:
    emu.add_fault(Fault(stream_error_after=2, status=503), times=1)
    result = cli("chat", "-m", MODEL, "Hi")
    assert result.returncode == 1
    assert result.stdout.startswith("This is")
    # an in-band error event is an error (exit 1), never a quietly short answer
    assert result.error_lines[0].split(":")[1].strip() in (
        "InternalServerError",
        "ServiceUnavailableError",
    )
    assert "in the stream" in result.error_lines[0]
    assert "Traceback" not in result.stderr


def test_prompt_from_stdin(cli: Any, emu: TogetherEmulator) -> None:
    result = cli("chat", "-m", MODEL, input="piped prompt\n")
    assert result.returncode == 0, result.stderr
    assert emu.last_request.body["messages"][-1]["content"] == "piped prompt\n"
    result = cli("chat", "-m", MODEL, "-", input="dash prompt")
    assert emu.last_request.body["messages"][-1]["content"] == "dash prompt"


def test_no_prompt_and_nothing_piped_is_a_usage_error(cli: Any, emu: TogetherEmulator) -> None:
    result = cli("chat", "-m", MODEL)  # stdin is /dev/null
    assert result.returncode == 2
    _assert_one_error_line(result, "UsageError")
    assert emu.requests == []


def test_interactive_keeps_the_conversation(cli: Any, emu: TogetherEmulator) -> None:
    result = cli("chat", "-m", MODEL, "-i", "-s", "sys", input="first\n\nsecond\n/reset\nthird\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("You said:") == 3
    chats = [r.body["messages"] for r in emu.requests]
    assert [m["role"] for m in chats[0]] == ["system", "user"]
    assert [m["role"] for m in chats[1]] == ["system", "user", "assistant", "user"]
    assert chats[1][2]["content"].endswith("You said: first")
    assert [m["role"] for m in chats[2]] == ["system", "user"]  # after /reset


def test_interactive_survives_an_api_error(cli: Any, emu: TogetherEmulator) -> None:
    emu.add_fault(Fault(status=503), times=1)
    result = cli("chat", "-m", MODEL, "-i", input="first\nsecond\n/exit\nignored\n")
    assert result.returncode == 0, result.stderr
    assert result.error_lines[0].startswith("error: ServiceUnavailableError: ")
    assert result.stdout.count("You said:") == 1
    assert len(emu.requests) == 2
    assert [m["role"] for m in emu.requests[1].body["messages"]] == ["user"]


def test_interactive_stops_on_an_error_every_turn_would_hit(
    cli: Any, emu: TogetherEmulator
) -> None:
    result = cli("chat", "-m", MODEL, "-i", input="first\nsecond\n", key=None)
    assert result.returncode == 2
    assert len(result.error_lines) == 1 and "MissingAPIKeyError" in result.error_lines[0]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_interactive_is_the_default_on_a_terminal(cli: Any, emu: TogetherEmulator) -> None:
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            cli.argv("chat", "-m", MODEL),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli.env(),
            cwd=cli.cwd,
        )
        os.write(master, b"hello from a tty\n")
        deadline = time.monotonic() + 30
        while not emu.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        os.write(master, b"/exit\n")
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    assert b"You said: hello from a tty" in out
    assert b"llmrouter chat with" in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_the_stream_cleanly(cli: Any, emu: TogetherEmulator) -> None:
    emu.add_fault(Fault(chunk_delay=0.5), times=1)
    proc = subprocess.Popen(
        cli.argv("chat", "-m", MODEL, "a long question to answer slowly"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env(),
        cwd=cli.cwd,
    )
    assert proc.stdout is not None
    first = proc.stdout.read1(1024)  # type: ignore[attr-defined]
    assert first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert b"Traceback" not in err
    assert b"interrupted" in err
    assert b"You said" not in first + out  # the answer was cut short


# --- models, plugins ------------------------------------------------------------------------------


def test_models_lists_ids(cli: Any, emu: TogetherEmulator) -> None:
    result = cli("models", "together_ai")
    assert result.returncode == 0, result.stderr
    ids = result.stdout.splitlines()
    assert "meta-llama/Llama-3.3-70B-Instruct-Turbo" in ids
    assert ids == sorted(ids, key=str.lower)
    assert emu.last_request.endpoint == "/models"

    long = cli("models", "together_ai", "--long")
    assert "meta-llama/Llama-3.3-70B-Instruct-Turbo\tchat\t" in long.stdout

    as_json = json.loads(cli("models", "together_ai", "--json").stdout)
    assert {m["id"] for m in as_json} == set(ids)


def test_models_without_a_provider(cli: Any) -> None:
    import llmrouter

    result = cli("models")
    if llmrouter.providers() == ["together_ai"]:
        assert result.returncode == 0, result.stderr
        assert "meta-llama/Llama-3.3-70B-Instruct-Turbo" in result.stdout.splitlines()
    else:  # another provider plugin is installed (e.g. examples/plugin-echo)
        assert result.returncode == 2
        _assert_one_error_line(result, "UsageError")
        assert "together_ai" in result.stderr


def test_plugins_lists_providers_and_versions(cli: Any) -> None:
    from importlib.metadata import version

    result = cli("plugins")
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("together_ai"))
    assert f"llmrouter-together {version('llmrouter-together')}" in line
    assert line.rstrip().endswith("ok")
    assert "llmrouter.log" in result.stdout
    as_json = cli("plugins", "--json")
    report = json.loads(as_json.stdout)
    # exit 1 exactly when some plugin failed to load (none should, but another engineer's
    # plugin being broken in this environment must not fail this test)
    assert as_json.returncode == (1 if report["errors"] else 0) == result.returncode
    assert "together_ai" not in {e["name"] for e in report["errors"]}
    together = next(p for p in report["providers"] if p["name"] == "together_ai")
    assert together["distribution"] == "llmrouter-together"
    assert together["status"] == "ok"


def _broken_plugin(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    dist = site / "llmrouter_broken-0.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: llmrouter-broken\nVersion: 0.3\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[llmrouter.providers]\nbroken = llmrouter_broken_mod\n", encoding="utf-8"
    )
    (site / "llmrouter_broken_mod.py").write_text(
        "raise ImportError('this plugin needs libfoo')\n", encoding="utf-8"
    )
    return site


def test_plugins_reports_load_errors(cli: Any, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(_broken_plugin(tmp_path))}
    result = cli("plugins", env=env)
    assert result.returncode == 1
    assert "broken" in result.stdout and "llmrouter-broken 0.3" in result.stdout
    assert "load errors:" in result.stdout
    assert "ImportError: this plugin needs libfoo" in result.stdout
    assert "Traceback" not in result.stdout
    assert "Traceback" in cli("plugins", "--debug", env=env).stdout
    # a broken plugin never breaks the others
    chat = cli("chat", "-m", MODEL, "Hi", env=env)
    assert chat.returncode == 0, chat.stderr
    broken = cli("chat", "-m", "broken/x", "Hi", env=env)
    assert broken.returncode == 1
    _assert_one_error_line(broken, "PluginLoadError")


# --- templates ------------------------------------------------------------------------------------


def test_templates_list(cli: Any) -> None:
    result = cli("templates", "list")
    assert result.returncode == 0
    line = next(x for x in result.stdout.splitlines() if x.startswith("llama-2-chat "))
    assert "llama-2" in line and "'</s>'" in line
    rows = json.loads(cli("templates", "list", "--json").stdout)
    assert {
        "name": "chatml-oasst-llama2-70b-sft-v10",
        "aliases": ["chatml", "oasst"],
        "stop": ["<|im_end|>"],
    } in rows


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "2+2?"},
]


def test_render_prints_the_exact_prompt(cli: Any) -> None:
    args = ["--system", "Be brief.", "--user", "Hi!", "--assistant", "Hello.", "--user", "2+2?"]
    result = cli("templates", "render", "-m", LLAMA2, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_prompt(MESSAGES, model=LLAMA2)
    assert "template: llama-2-chat" in result.stderr
    assert "chat endpoint" in result.stderr  # the model id alone does not make Together format

    as_repr = cli("templates", "render", "-m", LLAMA2, *args, "--repr")
    assert as_repr.stdout == repr(render_prompt(MESSAGES, model=LLAMA2)) + "\n"

    visible = cli("templates", "render", "-t", "chatml", "--user", "a b", "--show-special", "-q")
    assert visible.stdout == "<|im_start|>user↵\na·b<|im_end|>↵\n<|im_start|>assistant↵\n"
    assert visible.stderr == ""


def test_render_from_a_json_file_and_stdin(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "conversation.json"
    path.write_text(json.dumps({"messages": MESSAGES}), encoding="utf-8")
    expected = render_prompt(MESSAGES, template="mistral")
    assert cli("templates", "render", "-t", "mistral", "-f", str(path)).stdout == expected
    piped = cli("templates", "render", "-t", "mistral", input=json.dumps(MESSAGES))
    assert piped.stdout == expected
    no_gen = cli("templates", "render", "-t", "chatml", "--user", "x", "--no-generation-prompt")
    assert no_gen.stdout == "<|im_start|>user\nx<|im_end|>\n"


def test_render_errors(cli: Any) -> None:
    rejected = cli("templates", "render", "-t", "gemma", "--system", "s", "--user", "u")
    assert rejected.returncode == 2
    _assert_one_error_line(rejected, "PromptTemplateError")
    assert "System role not supported" in rejected.stderr
    unknown = cli("templates", "render", "-m", "acme/unknown-model", "--user", "u")
    assert unknown.returncode == 2
    _assert_one_error_line(unknown, "PromptTemplateError")
    neither = cli("templates", "render", "--user", "u")
    assert neither.returncode == 2
    _assert_one_error_line(neither, "UsageError")
    bad_json = cli("templates", "render", "-t", "chatml", input="not json")
    assert bad_json.returncode == 2
    _assert_one_error_line(bad_json, "UsageError")


# --- usage, version, the console script -----------------------------------------------------------


def test_usage_errors_exit_2(cli: Any) -> None:
    for argv in (["nosuchcommand"], ["chat", "hi"], []):
        result = cli(*argv)
        assert result.returncode == 2
        assert result.error_lines and result.error_lines[0].startswith("error: UsageError: ")
        assert "Traceback" not in result.stderr


def test_console_script_is_installed(cli: Any) -> None:
    import llmrouter

    script = Path(sysconfig.get_path("scripts")) / (
        "llmrouter.exe" if os.name == "nt" else "llmrouter"
    )
    assert script.exists(), script
    proc = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env=cli.env(), timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"llmrouter {llmrouter.__version__}"
    chat = subprocess.run(
        [str(script), "chat", "-m", MODEL, "via the script"],
        capture_output=True,
        text=True,
        env=cli.env(),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.endswith("You said: via the script\n")


# --- config check ---------------------------------------------------------------------------------

CONFIG = """\
[router]
num_retries = 1

[models.chat]
fallbacks = ["backup"]
[[models.chat.deployments]]
model = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
api_key_env = "CLI_TEST_UNSET_KEY"

[models.backup]
[[models.backup.deployments]]
model = "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1"
prompt_template = "mixtral"
"""


def test_config_check_ok(cli: Any, emu: TogetherEmulator) -> None:
    (cli.cwd / "llmrouter.toml").write_text(CONFIG, encoding="utf-8")
    result = cli("config", "check")  # ./llmrouter.toml
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: llmrouter.toml: 2 alias(es), 2 deployment(s)\n")
    assert (
        "chat (weighted): together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo; falls back to backup"
        in result.stdout
    )
    assert "note: CLI_TEST_UNSET_KEY is not set" in result.stdout
    other = cli.cwd / "other.toml"
    other.write_text(CONFIG, encoding="utf-8")
    assert cli("config", "check", str(other)).returncode == 0
    assert cli("config", "check", env={"LLMROUTER_CONFIG": str(other)}).stdout.startswith(
        f"ok: {other}:"
    )
    assert emu.requests == []  # checking sends nothing


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("num_retries", "num_retrys"), "router.num_retrys: unknown key"),
        (('fallbacks = ["backup"]', 'fallbacks = ["bakup"]'), "models.chat.fallbacks[0]"),
        (('"mixtral"', '"mixtrall"'), "models.backup.deployments[0].prompt_template"),
        (("together_ai/mistralai", "nosuch/mistralai"), "provider 'nosuch' is not installed"),
        (("[router]", "[router"), "not valid TOML"),
    ],
)
def test_config_check_errors(cli: Any, edit: tuple[str, str], needle: str) -> None:
    path = cli.cwd / "bad.toml"
    path.write_text(CONFIG.replace(*edit), encoding="utf-8")
    result = cli("config", "check", str(path))
    assert result.returncode == 2
    _assert_one_error_line(result, "ConfigError")
    assert needle in result.stderr


def test_config_check_without_a_config(cli: Any) -> None:
    result = cli("config", "check")
    assert result.returncode == 2
    _assert_one_error_line(result, "ConfigError")
    missing = cli("config", "check", "missing.toml")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
