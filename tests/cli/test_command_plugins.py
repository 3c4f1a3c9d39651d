"""Command plugins: the ``llmrouter_add_commands`` hook and the ``llmrouter.commands`` group."""

from __future__ import annotations

import json
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from llmrouter import cli

GOOD = """
from llmrouter.hookspecs import hookimpl


def _hello(args, out, err):
    out.write(f"hello {args.name}\\n")
    return 3


def _nested(args, out, err):
    out.write("nested ok\\n")
    return 0


def _steal(args, out, err):
    out.write("stolen\\n")
    return 0


@hookimpl
def llmrouter_add_commands(commands):
    p = commands.add("hello", _hello, help="say hello")
    p.add_argument("name")
    commands.add("nested", _nested, group="config", help="a config subcommand")
    commands.add("chat", _steal, help="tries to replace a built-in")
"""

BROKEN = """
raise ImportError("this plugin needs a package that is not installed")
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two command plugins, one good and one broken, as installed entry points."""
    (tmp_path / "good_cmds.py").write_text(textwrap.dedent(GOOD), encoding="utf-8")
    (tmp_path / "broken_cmds.py").write_text(textwrap.dedent(BROKEN), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("good_cmds", "broken_cmds"):
        sys.modules.pop(name, None)
    real = metadata.entry_points

    def fake(**kwargs: Any) -> Any:
        if kwargs.get("group") == cli.COMMAND_GROUP:
            return [
                metadata.EntryPoint("good", "good_cmds", cli.COMMAND_GROUP),
                metadata.EntryPoint("broken", "broken_cmds", cli.COMMAND_GROUP),
            ]
        return real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", fake)
    monkeypatch.delenv("LLMROUTER_DISABLE_PLUGIN_AUTOLOAD", raising=False)


def test_a_plugin_command_runs_with_its_arguments(
    plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["hello", "world"]) == 3
    captured = capsys.readouterr()
    assert captured.out == "hello world\n"
    # the broken plugin is reported, and breaks nothing else
    assert "command plugin 'broken' (broken_cmds) failed to load: ImportError" in captured.err


def test_a_plugin_command_under_config(plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "nested"]) == 0
    assert capsys.readouterr().out == "nested ok\n"


def test_a_taken_name_keeps_the_built_in(plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    err = capsys.readouterr().err
    assert "command plugin 'good' adds 'llmrouter chat', which already exists" in err
    args = parser.parse_args(["chat", "-m", "together_ai/x", "hi"])
    assert args.func is cli.cmd_chat


def test_plugins_lists_command_plugins_and_their_failures(
    plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["plugins", "--json"]) == 1  # a plugin failed to load
    report = json.loads(capsys.readouterr().out)
    status = {row["name"]: row["status"] for row in report["commands"]}
    assert status == {"broken": "failed", "good": "ok"}
    assert any(
        e["name"] == "broken" and e["source"] == cli.COMMAND_GROUP and "ImportError" in e["error"]
        for e in report["errors"]
    )


def test_autoload_off_loads_no_command_plugin(
    plugins: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLMROUTER_DISABLE_PLUGIN_AUTOLOAD", "1")
    with pytest.raises(SystemExit) as info:
        cli.main(["hello", "world"])
    assert info.value.code == 2
    assert "invalid choice: 'hello'" in capsys.readouterr().err


def test_unknown_group_is_a_plugin_bug() -> None:
    commands = cli.Commands({}, cli._Parser(add_help=False), sys.stderr)
    with pytest.raises(ValueError, match="unknown command group 'models'"):
        commands.add("x", lambda a, o, e: 0, help="x", group="models")


def test_the_installed_gateway_adds_serve_and_convert(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("llmrouter_gateway", reason="llmrouter-gateway is not installed")
    parser = cli.build_parser()
    assert capsys.readouterr().err == ""
    assert parser.parse_args(["serve", "--port", "0"]).port == 0
    assert parser.parse_args(["config", "convert", "x.yaml"]).file == "x.yaml"


EXITING = """
import sys
sys.exit("this plugin exits at import")
"""


def test_a_plugin_that_exits_at_import_breaks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "exiting_cmds.py").write_text(textwrap.dedent(EXITING), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("exiting_cmds", None)
    real = metadata.entry_points

    def fake(**kwargs: Any) -> Any:
        if kwargs.get("group") == cli.COMMAND_GROUP:
            return [metadata.EntryPoint("exiting", "exiting_cmds", cli.COMMAND_GROUP)]
        return real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", fake)
    monkeypatch.delenv("LLMROUTER_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    assert cli.main(["plugins", "--json"]) == 1
    captured = capsys.readouterr()
    assert "failed to load: SystemExit: this plugin exits at import" in captured.err
    report = json.loads(captured.out)
    assert [r["status"] for r in report["commands"]] == ["failed"]


@pytest.mark.parametrize(
    ("argv", "loads"),
    [
        (["chat", "-m", "x", "hi"], False),
        (["--debug", "models", "together_ai"], False),
        (["templates", "list"], False),
        (["config", "check", "f.toml"], False),
        (["--version"], False),
        (["config", "convert", "c.yaml"], True),
        (["serve", "--port", "1"], True),
        (["plugins"], True),
        (["--help"], True),
        ([], True),
    ],
)
def test_only_commands_that_may_be_plugins_load_them(argv: list[str], loads: bool) -> None:
    assert cli._needs_command_plugins(argv) is loads


def test_a_built_in_command_does_not_import_command_plugins(
    plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """``llmrouter templates list`` never imports a command plugin (one that is slow or broken
    costs the built-in commands nothing)."""
    assert cli.main(["templates", "list", "--json"]) == 0
    captured = capsys.readouterr()
    assert "good_cmds" not in sys.modules and "broken" not in captured.err
