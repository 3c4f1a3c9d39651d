"""The ``llmrouter`` command line: chat, list models, inspect plugins, templates and config.

    llmrouter chat -m together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo "Hello"
    echo "Summarise this" | llmrouter chat -m MODEL
    llmrouter chat -m MODEL                      # interactive, multi-turn (on a terminal)
    llmrouter models together_ai
    llmrouter plugins
    llmrouter templates list
    llmrouter templates render -m together_ai/togethercomputer/llama-2-70b-chat --user Hi --show-special
    llmrouter config check llmrouter.toml

Everything goes through the public API, so options are validated exactly as
``llmrouter.completion`` validates them (before any request). Errors print one line,
``error: <ErrorClass>: message``, and exit 2 for usage and invalid requests, 1 for API and other
errors, 130 when interrupted; ``--debug`` adds the traceback and llmrouter's log events.

Built on argparse only: the CLI adds no dependency, and importing this module imports nothing
beyond ``llmrouter``'s error tree until a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, TextIO

from llmrouter import __version__
from llmrouter._configfile import CONFIG_ENV, DEFAULT_CONFIG_FILE, config_file
from llmrouter.errors import (
    ConfigError,
    InvalidRequestError,
    LLMRouterError,
    PromptTemplateError,
)

__all__ = ["COMMAND_GROUP", "Commands", "build_parser", "main", "parse_option"]

#: Exit codes (documented in docs/cli.md).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_ROLES = ("system", "user", "assistant")

#: Keywords of ``completion`` that the command line sets itself.
_RESERVED_OPTIONS = {
    "model": "use -m MODEL",
    "messages": "give the prompt as an argument, on stdin, or with --system",
    "stream": "the answer streams unless --no-stream is given",
}


class UsageError(Exception):
    """A command line that cannot work (exit 2), reported like an InvalidRequestError."""


# --- small helpers ------------------------------------------------------------------------------


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` -> ``(key, value)``; the value is JSON when it parses as JSON, else a string.

    So ``max_tokens=20`` is the int 20, ``stop=["\\n"]`` a list, ``temperature=0.5`` a float,
    ``user=alice`` the string ``"alice"`` and ``user='"42"'`` the string ``"42"``.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"option {text!r} is not of the form key=value (e.g. -o max_tokens=100)")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text).strip()


def _error_line(exc: BaseException) -> str:
    return f"error: {type(exc).__name__}: {_one_line(str(exc))}"


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, (UsageError, InvalidRequestError, ConfigError)):
        return EXIT_USAGE
    return EXIT_ERROR


def _write(stream: IO[str], text: str) -> None:
    stream.write(text)
    stream.flush()


def _dump_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    out.flush()


def _stdin_is_tty() -> bool:
    stdin = sys.stdin
    return stdin is not None and stdin.isatty()


def _read_stdin() -> str:
    stdin = sys.stdin
    if stdin is None:
        return ""
    return stdin.read()


# --- chat ---------------------------------------------------------------------------------------


def _chat_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for text in args.option or []:
        key, value = parse_option(text)
        if key in _RESERVED_OPTIONS:
            raise UsageError(f"-o {key}=... is not an option; {_RESERVED_OPTIONS[key]}")
        params[key] = value
    if args.template is not None:
        params["prompt_template"] = args.template
    if args.api_base is not None:
        params["api_base"] = args.api_base
    if args.api_key is not None:
        params["api_key"] = args.api_key
    if args.timeout is not None:
        params["timeout"] = args.timeout
    return params


def _print_usage(usage: Any, err: TextIO) -> None:
    if usage is None:
        return
    err.write(
        f"usage: prompt_tokens={usage.prompt_tokens} completion_tokens={usage.completion_tokens} "
        f"total_tokens={usage.total_tokens}\n"
    )
    err.flush()


def _stream_reply(
    model: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    out: TextIO,
    err: TextIO,
    show_usage: bool,
) -> str:
    """Stream one answer to ``out`` as it arrives; returns the full text.

    On KeyboardInterrupt the stream is closed (its connection released) before re-raising.
    """
    import llmrouter

    stream = llmrouter.completion(model=model, messages=messages, stream=True, **params)
    parts: list[str] = []
    try:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                delta = choice.delta
                if delta.content:
                    parts.append(delta.content)
                    _write(out, delta.content)
                if delta.tool_calls:
                    for call in delta.tool_calls:
                        _write(out, json.dumps(call.model_dump(exclude_none=True)) + "\n")
    finally:
        stream.close()
    text = "".join(parts)
    if text and not text.endswith("\n"):
        _write(out, "\n")
    if show_usage:
        _print_usage(stream.usage, err)
    return text


def _whole_reply(
    model: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    show_usage: bool,
) -> str:
    import llmrouter

    response = llmrouter.completion(model=model, messages=messages, **params)
    if as_json:
        _dump_json(response.model_dump(), out)
    else:
        message = response.choices[0].message if response.choices else None
        content = message.content if message is not None else None
        if content:
            _write(out, content if content.endswith("\n") else content + "\n")
        elif message is not None and message.tool_calls:
            for call in message.tool_calls:
                _write(out, json.dumps(call.model_dump(exclude_none=True)) + "\n")
    if show_usage:
        _print_usage(response.usage, err)
    message = response.choices[0].message if response.choices else None
    return (message.content or "") if message is not None else ""


def _reply(
    args: argparse.Namespace,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    out: TextIO,
    err: TextIO,
) -> str:
    if args.no_stream or args.json:
        return _whole_reply(
            args.model,
            messages,
            params,
            as_json=args.json,
            out=out,
            err=err,
            show_usage=args.usage,
        )
    return _stream_reply(args.model, messages, params, out=out, err=err, show_usage=args.usage)


def _system_messages(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [{"role": "system", "content": args.system}] if args.system else []


def cmd_chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    params = _chat_params(args)
    prompt = " ".join(args.prompt) if args.prompt else None
    if args.interactive or (prompt is None and _stdin_is_tty()):
        return _interactive(args, params, out, err)
    if prompt is None or prompt == "-":
        prompt = _read_stdin()
        if not prompt.strip():
            raise UsageError(
                "no prompt: pass it as an argument, pipe it on stdin, or run on a terminal "
                "for an interactive chat"
            )
    messages = [*_system_messages(args), {"role": "user", "content": prompt}]
    _reply(args, messages, params, out, err)
    return EXIT_OK


_INTERACTIVE_HELP = "Type a message and press Enter. /reset forgets the conversation, /exit (or Ctrl-D) quits; Ctrl-C stops an answer."


def _fatal_in_session(exc: LLMRouterError) -> bool:
    """Errors that the next turn would hit again (no key, bad option, unknown provider)."""
    return isinstance(exc, (InvalidRequestError, ConfigError)) and not isinstance(
        exc, PromptTemplateError
    )


def _interactive(args: argparse.Namespace, params: dict[str, Any], out: TextIO, err: TextIO) -> int:
    tty = _stdin_is_tty()
    if tty:
        with contextlib.suppress(ImportError):  # line editing and history, where available
            import readline  # noqa: F401
    err.write(f"llmrouter chat with {args.model}. {_INTERACTIVE_HELP}\n")
    err.flush()
    history: list[dict[str, Any]] = _system_messages(args)
    while True:
        try:
            if tty:
                line = input("> ")
            else:
                raw = sys.stdin.readline() if sys.stdin is not None else ""
                if not raw:
                    raise EOFError
                line = raw.rstrip("\n")
        except EOFError:
            if tty:
                _write(out, "\n")
            return EXIT_OK
        except KeyboardInterrupt:
            _write(out, "\n")
            return EXIT_INTERRUPTED
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return EXIT_OK
        if text == "/reset":
            history = _system_messages(args)
            _write(err, "(conversation reset)\n")
            continue
        if text in ("/help", "/?"):
            _write(err, _INTERACTIVE_HELP + "\n")
            continue
        turn = [*history, {"role": "user", "content": line}]
        try:
            answer = _reply(args, turn, params, out, err)
        except KeyboardInterrupt:
            _write(out, "\n")
            _write(err, "(answer interrupted; that turn is forgotten)\n")
            continue
        except LLMRouterError as exc:
            _write(err, _error_line(exc) + "\n")
            if args.debug:
                traceback.print_exception(exc, file=err)
            if _fatal_in_session(exc):
                return _exit_code(exc)
            continue
        history = [*turn, {"role": "assistant", "content": answer}]


# --- models -------------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import llmrouter

    provider = args.provider
    if provider is None:
        installed = llmrouter.providers()
        if len(installed) != 1:
            names = ", ".join(installed) if installed else "none installed"
            raise UsageError(f"name a provider: llmrouter models PROVIDER (providers: {names})")
        provider = installed[0]
    models = llmrouter.list_models(
        provider, api_base=args.api_base, api_key=args.api_key, timeout=args.timeout
    )
    if args.json:
        _dump_json([m.model_dump() for m in models], out)
        return EXIT_OK
    for info in sorted(models, key=lambda m: m.id.lower()):
        if args.long:
            kind = info.get("type") or "-"
            context = info.get("context_length") or "-"
            _write(out, f"{info.id}\t{kind}\t{context}\n")
        else:
            _write(out, info.id + "\n")
    return EXIT_OK


# --- plugins ------------------------------------------------------------------------------------


def _entry_point_rows(group: str, *, every_distribution: bool = False) -> list[dict[str, Any]]:
    """One row per entry-point name, or per (name, distribution) with ``every_distribution``:
    two distributions that register one provider name are both shown."""
    from importlib.metadata import entry_points

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for ep in entry_points(group=group):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        key = (ep.name, str(dist_name).lower() if every_distribution else "")
        if key in rows:
            continue
        rows[key] = {
            "name": ep.name,
            "target": ep.value,
            "distribution": dist_name,
            "version": dist.version if dist is not None else None,
        }
    return [rows[key] for key in sorted(rows)]


def _plugin_report() -> dict[str, Any]:
    """Load every installed provider and cross-cutting plugin, and say what happened."""
    from llmrouter._plugins import BUILTIN_PLUGINS, PLUGIN_GROUP, PROVIDER_GROUP, default_host
    from llmrouter.errors import AmbiguousProviderError

    host = default_host()
    rows = _entry_point_rows(PROVIDER_GROUP, every_distribution=True)
    listed = {row["name"] for row in rows}
    for name in host.available_providers():
        if name not in listed:
            rows.append({"name": name, "target": None, "distribution": None, "version": None})
    status: dict[str, str] = {}
    for name in sorted({row["name"] for row in rows}):
        try:
            host.provider_hooks(name)
        except AmbiguousProviderError:
            status[name] = "ambiguous"
        except LLMRouterError:
            status[name] = "failed"
        else:
            status[name] = "ok"
    for row in rows:
        row["status"] = status[row["name"]]
        chosen = host.provider_distribution(row["name"])
        if row["status"] == "ok" and chosen is not None and chosen != row["distribution"]:
            # Several distributions register this name and the user chose another one.
            row["status"] = "not chosen"
    all_errors = host.plugin_errors()
    errors = {e.name for e in all_errors}
    plugins: list[dict[str, Any]] = []
    for name, module in BUILTIN_PLUGINS.items():
        plugins.append(
            {
                "name": name,
                "target": module,
                "distribution": "llmrouter (built-in)",
                "version": __version__,
                "status": "failed" if name in errors else "ok",
            }
        )
    for row in _entry_point_rows(PLUGIN_GROUP):
        row["status"] = "failed" if row["name"] in errors else "ok"
        plugins.append(row)
    failed_commands = {name: problem for name, _, problem in _COMMAND_ERRORS}
    commands = _entry_point_rows(COMMAND_GROUP)
    for row in commands:
        row["status"] = "failed" if row["name"] in failed_commands else "ok"
    return {
        "llmrouter": __version__,
        "providers": sorted(rows, key=lambda r: (r["name"], str(r["distribution"]))),
        "plugins": plugins,
        "commands": commands,
        "errors": [
            {"name": e.name, "source": e.source, "error": e.error, "traceback": e.traceback}
            for e in all_errors
        ]
        + [
            {"name": name, "source": COMMAND_GROUP, "error": problem, "traceback": ""}
            for name, _, problem in _COMMAND_ERRORS
        ],
    }


def _table(rows: Iterable[Sequence[str]]) -> list[str]:
    rows = [list(r) for r in rows]
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def _describe(row: dict[str, Any]) -> list[str]:
    dist = row.get("distribution") or "(registered in code)"
    version = row.get("version") or ""
    return [row["name"], f"{dist} {version}".strip(), row.get("target") or "", row["status"]]


def cmd_plugins(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    report = _plugin_report()
    if args.json:
        _dump_json(report, out)
        return EXIT_ERROR if report["errors"] else EXIT_OK
    lines = [
        f"llmrouter {report['llmrouter']}",
        "",
        "providers (entry points: llmrouter.providers):",
    ]
    lines += _table(_describe(r) for r in report["providers"]) or ["  (none installed)"]
    lines += ["", "plugins (entry points: llmrouter.plugins, and built-ins):"]
    lines += _table(_describe(r) for r in report["plugins"]) or ["  (none)"]
    lines += ["", f"commands (entry points: {COMMAND_GROUP}):"]
    lines += _table(_describe(r) for r in report["commands"]) or ["  (none)"]
    if report["errors"]:
        lines += ["", "load errors:"]
        for e in report["errors"]:
            lines.append(f"  {e['name']} ({e['source']}): {_one_line(e['error'])}")
            if args.debug and e["traceback"]:
                lines += ["    " + t for t in e["traceback"].rstrip().splitlines()]
        if not args.debug:
            lines.append("  (run with --debug for the tracebacks)")
    _write(out, "\n".join(lines) + "\n")
    return EXIT_ERROR if report["errors"] else EXIT_OK


# --- templates ----------------------------------------------------------------------------------


def cmd_templates_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from llmrouter.templates import get_template, prompt_templates

    families: dict[str, dict[str, Any]] = {}
    for name in prompt_templates():
        template = get_template(name)
        entry = families.setdefault(
            template.name, {"name": template.name, "aliases": [], "stop": list(template.stop)}
        )
        if name != template.name:
            entry["aliases"].append(name)
    rows = [families[k] for k in sorted(families)]
    if args.json:
        _dump_json(rows, out)
        return EXIT_OK
    table = [["TEMPLATE", "ALIASES", "STOP"]]
    for row in rows:
        table.append(
            [
                row["name"],
                ", ".join(row["aliases"]) or "-",
                " ".join(repr(s) for s in row["stop"]) or "-",
            ]
        )
    _write(out, "\n".join(line[2:] for line in _table(table)) + "\n")
    return EXIT_OK


class _AppendMessage(argparse.Action):
    """``--user/--system/--assistant TEXT`` append to one ordered list of messages."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        messages = list(getattr(namespace, self.dest, None) or [])
        messages.append({"role": self.metavar_role, "content": values})
        setattr(namespace, self.dest, messages)

    @property
    def metavar_role(self) -> str:
        return str(self.const)


def _load_messages(source: str) -> list[dict[str, Any]]:
    text = _read_stdin() if source == "-" else _read_file(source)
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = "stdin" if source == "-" else source
        raise UsageError(f"{where} is not JSON: {exc}") from None
    if isinstance(data, dict) and "messages" in data:
        data = data["messages"]
    if not isinstance(data, list):
        raise UsageError(
            'the messages JSON must be a list of {"role": ..., "content": ...} objects '
            '(or {"messages": [...]})'
        )
    return data


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


_VISIBLE = {" ": "·", "\t": "→", "\r": "␍\r"}


def show_special(text: str) -> str:
    """``text`` with whitespace made visible: space ``·``, tab ``→``, newline ``↵`` (then a real
    line break), and other control characters escaped as ``\\xNN``."""
    out: list[str] = []
    for ch in text:
        if ch == "\n":
            out.append("↵\n")
        elif ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    result = "".join(out)
    return result if result.endswith("\n") else result + "⊣\n"


def cmd_templates_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from llmrouter.templates import explicit_template, resolve_template

    if args.model is None and args.template is None:
        raise UsageError("pass -m MODEL, --template NAME, or both")
    messages: list[dict[str, Any]] = list(args.messages or [])
    if args.messages_file is not None:
        messages = _load_messages(args.messages_file) + messages
    elif not messages and not _stdin_is_tty():
        messages = _load_messages("-")
    if not messages:
        raise UsageError("no messages: use --user/--system/--assistant, or --file FILE.json")
    template = resolve_template(args.model, args.template)
    text = template.render(messages, add_generation_prompt=not args.no_generation_prompt)
    note = f"template: {template.name}"
    if args.template is None and args.model is not None:
        provider_model = args.model.split("/", 1)[1] if args.model.count("/") >= 2 else args.model
        if explicit_template(provider_model) is None:
            note += (
                " (from the model id; providers such as together_ai apply a client-side template "
                "only when one is chosen: prompt_template=..., a registration or the config; "
                "otherwise the messages go to the chat endpoint as-is)"
            )
    if template.stop:
        note += f"; stop: {', '.join(repr(s) for s in template.stop)}"
    if not args.quiet:
        _write(err, note + "\n")
    if args.repr:
        _write(out, repr(text) + "\n")
    elif args.show_special:
        _write(out, show_special(text))
    else:
        _write(out, text)
        if out.isatty() and not text.endswith("\n"):
            _write(out, "\n")
    return EXIT_OK


# --- config -------------------------------------------------------------------------------------


def _check_references(config: Any, path: str) -> None:
    """What schema validation cannot know: that each deployment's provider is installed and each
    prompt template exists. Raises ConfigError naming the key path, like the loader does."""
    import llmrouter
    from llmrouter.templates import get_template

    installed = llmrouter.providers()
    for alias, group in config.models.items():
        for i, deployment in enumerate(group.deployments):
            key = f"models.{alias}.deployments[{i}]"
            if deployment.provider not in installed:
                raise ConfigError(
                    f"{path}: {key}.model: provider {deployment.provider!r} is not installed "
                    f"(installed: {', '.join(installed) or 'none'})",
                    path=path,
                    key=f"{key}.model",
                )
            if deployment.prompt_template is not None:
                try:
                    get_template(deployment.prompt_template)
                except PromptTemplateError as exc:
                    raise ConfigError(
                        f"{path}: {key}.prompt_template: {exc.message}",
                        path=path,
                        key=f"{key}.prompt_template",
                    ) from None


def _config_summary(config: Any, out: TextIO) -> None:
    for alias, group in sorted(config.models.items()):
        names = config.deployment_names(alias)
        shown = [
            name if name == dep.model else f"{name} = {dep.model}"
            for name, dep in zip(names, group.deployments, strict=True)
        ]
        line = f"  {alias} ({group.strategy}): {', '.join(shown)}"
        if group.fallbacks:
            line += f"; falls back to {', '.join(group.fallbacks)}"
        _write(out, line + "\n")
        for deployment in group.deployments:
            env = deployment.api_key_env
            if env and not os.environ.get(env, "").strip():
                _write(out, f"    note: {env} is not set here ({deployment.model})\n")


def cmd_config_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from llmrouter import config as config_module  # the routing config loader, only when needed

    path = args.file if args.file is not None else config_file()
    if path is None:
        raise ConfigError(
            f"no config to check: pass FILE, set {CONFIG_ENV}, or create ./{DEFAULT_CONFIG_FILE}"
        )
    config = config_module.load_config_file(path)
    _check_references(config, path)
    deployments = sum(len(g.deployments) for g in config.models.values())
    _write(out, f"ok: {path}: {len(config.models)} alias(es), {deployments} deployment(s)\n")
    _config_summary(config, out)
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error format (and exit code 2, as argparse uses)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"error: UsageError: {message}\n")


def _add_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--api-base",
        metavar="URL",
        help="the provider's base URL (default: the provider's, or its *_API_BASE variable)",
    )
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key; prefer the provider's environment variable (e.g. TOGETHERAI_API_KEY): "
        "a key on the command line lands in shell history and process lists",
    )
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="request timeout in seconds")


#: Entry-point group of command plugins (``llmrouter_add_commands`` in ``hookspecs.py``).
COMMAND_GROUP = "llmrouter.commands"

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


class Commands:
    """What a command plugin's ``llmrouter_add_commands(commands)`` adds its subcommands to."""

    def __init__(
        self,
        groups: dict[str, argparse._SubParsersAction[_Parser]],
        common: _Parser,
        err: TextIO,
    ) -> None:
        self._groups = groups
        self._common = common
        self._err = err
        #: Name of the plugin whose hook is running (set by :func:`_add_plugin_commands`).
        self.plugin = ""

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        help: str,
        description: str | None = None,
        group: str | None = None,
    ) -> argparse.ArgumentParser:
        """A new subcommand ``llmrouter [group] name`` run by ``handler(args, out, err)``.

        ``group`` is ``None`` (top level) or ``"config"``. A name already taken is not added:
        the returned parser is then a detached one, so the plugin's own code still runs."""
        key = group or ""
        if key not in self._groups:
            raise ValueError(f"unknown command group {group!r}; allowed: None, 'config'")
        action = self._groups[key]
        full = f"{group} {name}" if group else name
        if name in action.choices:
            _write(
                self._err,
                f"warning: command plugin {self.plugin!r} adds 'llmrouter {full}', which "
                "already exists; the first one is kept\n",
            )
            return _Parser(prog=f"llmrouter {full}", add_help=False)
        parser: argparse.ArgumentParser = action.add_parser(
            name, parents=[self._common], help=help, description=description or help
        )
        parser.set_defaults(func=handler)
        return parser


#: Command plugins that failed to load while the parser was built: ``(name, target, error)``,
#: for ``llmrouter plugins``.
_COMMAND_ERRORS: list[tuple[str, str, str]] = []


def _add_plugin_commands(commands: Commands, err: TextIO) -> None:
    """Load the ``llmrouter.commands`` entry points and let each add its subcommands."""
    _COMMAND_ERRORS.clear()
    if os.environ.get("LLMROUTER_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    ):
        return
    from importlib.metadata import entry_points

    import pluggy

    from llmrouter import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name):
        try:
            module = ep.load()
            if pm.is_registered(module):
                continue
            pm.register(module, name=f"{COMMAND_GROUP}:{ep.name}")
            commands.plugin = ep.name
            for impl in pm.hook.llmrouter_add_commands.get_hookimpls():
                if impl.plugin is module:
                    impl.function(commands=commands)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit at import included: one plugin, not the CLI
            problem = f"{type(exc).__name__}: {_one_line(str(exc))}"
            _COMMAND_ERRORS.append((ep.name, ep.value, problem))
            _write(
                err, f"warning: command plugin {ep.name!r} ({ep.value}) failed to load: {problem}\n"
            )


#: Commands that need no command plugin loaded: ``llmrouter chat ...`` does not pay for
#: importing every installed command plugin (``plugins`` and ``--help`` do, to list them).
_BUILT_IN_ONLY = frozenset({"chat", "models", "templates"})


def _needs_command_plugins(argv: Sequence[str]) -> bool:
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return "--version" not in argv
    if words[0] in _BUILT_IN_ONLY:
        return False
    return not (words[0] == "config" and words[1:2] == ["check"])


def build_parser(
    err: TextIO | None = None, *, load_plugins: bool = True
) -> argparse.ArgumentParser:
    """The whole command line: the built-in commands, then (``load_plugins``) those of command
    plugins."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and llmrouter's log events on stderr",
    )

    parser = _Parser(
        prog="llmrouter",
        description="One call to many LLM providers: chat, list models, inspect plugins, "
        "templates and routing config.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"llmrouter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    chat = sub.add_parser(
        "chat",
        parents=[common],
        help="send a prompt and print the answer as it streams",
        description="Send a prompt to MODEL and stream the answer. With no prompt, the prompt "
        "is read from stdin when it is piped, and an interactive multi-turn chat starts when "
        "stdin is a terminal.",
    )
    chat.add_argument("-m", "--model", required=True, help="provider/model, or a config alias")
    chat.add_argument("prompt", nargs="*", help="the prompt ('-' reads it from stdin)")
    chat.add_argument("-s", "--system", metavar="TEXT", help="a system message")
    chat.add_argument(
        "-o",
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a request option, e.g. -o max_tokens=200 -o temperature=0.2 -o stop='[\"\\n\"]' "
        "(the value is parsed as JSON when it can be, else taken as a string); repeatable",
    )
    chat.add_argument(
        "-t",
        "--template",
        metavar="NAME",
        help="format the prompt client-side with this template (same as -o prompt_template=NAME)",
    )
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    chat.add_argument(
        "--json", action="store_true", help="print the full response as JSON (implies --no-stream)"
    )
    chat.add_argument("-u", "--usage", action="store_true", help="print token usage to stderr")
    chat.add_argument(
        "-i",
        "--interactive",
        action="store_true",
        help="multi-turn chat, reading one message per line (the default on a terminal)",
    )
    _add_connection(chat)
    chat.set_defaults(func=cmd_chat)

    models = sub.add_parser(
        "models",
        parents=[common],
        help="list the models a provider serves",
        description="List the models PROVIDER serves (one id per line).",
    )
    models.add_argument("provider", nargs="?", help="e.g. together_ai (optional if only one)")
    models.add_argument("-l", "--long", action="store_true", help="add type and context length")
    models.add_argument("--json", action="store_true", help="print the full model entries")
    _add_connection(models)
    models.set_defaults(func=cmd_models)

    plugins = sub.add_parser(
        "plugins",
        parents=[common],
        help="list installed providers and plugins, their versions and load errors",
        description="Load every installed provider and plugin and report versions and failures "
        "(exit 1 when one failed to load).",
    )
    plugins.add_argument("--json", action="store_true", help="print the report as JSON")
    plugins.set_defaults(func=cmd_plugins)

    templates = sub.add_parser(
        "templates", parents=[common], help="list prompt templates, render a prompt"
    )
    tsub = templates.add_subparsers(
        dest="templates_command", metavar="COMMAND", parser_class=_Parser
    )
    tsub.required = True
    tlist = tsub.add_parser("list", parents=[common], help="list the built-in templates")
    tlist.add_argument("--json", action="store_true", help="print as JSON")
    tlist.set_defaults(func=cmd_templates_list)
    render = tsub.add_parser(
        "render",
        parents=[common],
        help="print the exact prompt a template makes of some messages",
        description="Print the exact text a template makes of the messages, for debugging. "
        "Messages come from --system/--user/--assistant (in the order given), from --file "
        "(a JSON list of messages, '-' for stdin), or from JSON piped on stdin. The template "
        "is --template, else the one the model id resolves to. The prompt goes to stdout "
        "byte for byte; the template's name and stop sequences go to stderr.",
    )
    render.add_argument("-m", "--model", help="model id (with or without the provider prefix)")
    render.add_argument("-t", "--template", metavar="NAME", help="a template name; wins over -m")
    for role in _ROLES:
        render.add_argument(
            f"--{role}",
            dest="messages",
            action=_AppendMessage,
            const=role,
            metavar="TEXT",
            help=f"add {'an' if role[0] in 'aeiou' else 'a'} {role} message",
        )
    render.add_argument(
        "-f", "--file", dest="messages_file", metavar="FILE", help="messages as JSON ('-': stdin)"
    )
    render.add_argument(
        "--no-generation-prompt",
        action="store_true",
        help="leave out the opening of the assistant's turn",
    )
    shown = render.add_mutually_exclusive_group()
    shown.add_argument(
        "--show-special",
        action="store_true",
        help="make whitespace visible (space ·, tab →, newline ↵) and escape control characters",
    )
    shown.add_argument("--repr", action="store_true", help="print the prompt as a Python literal")
    render.add_argument("-q", "--quiet", action="store_true", help="no template note on stderr")
    render.set_defaults(func=cmd_templates_render)

    config = sub.add_parser(
        "config", parents=[common], help="check (or convert) a routing config file"
    )
    csub = config.add_subparsers(dest="config_command", metavar="COMMAND", parser_class=_Parser)
    csub.required = True
    check = csub.add_parser(
        "check",
        parents=[common],
        help="validate a routing config",
        description="Load and validate a routing config (default: $LLMROUTER_CONFIG, else "
        "./llmrouter.toml) without sending any request.",
    )
    check.add_argument("file", nargs="?", help="the config file")
    check.set_defaults(func=cmd_config_check)
    if load_plugins:
        _add_plugin_commands(
            Commands({"": sub, "config": csub}, common, sys.stderr if err is None else err),
            sys.stderr if err is None else err,
        )
    return parser


def _enable_debug_logging(err: TextIO) -> None:
    import logging

    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("llmrouter")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _close_quietly() -> None:
    api = sys.modules.get("llmrouter._api")
    if api is not None:
        with contextlib.suppress(Exception):  # best effort on the way out
            api.reset_default_routers()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(err, load_plugins=_needs_command_plugins(words))
    args = parser.parse_args(words)
    if not hasattr(args, "debug"):
        args.debug = False
    if args.debug:
        _enable_debug_logging(err)
    else:
        # A broken plugin surfaces through our own one-line error (or `llmrouter plugins`); the
        # library's RuntimeWarning about it would only repeat that on extra lines.
        warnings.filterwarnings("ignore", message="llmrouter plugin ", category=RuntimeWarning)
    func: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.func
    try:
        return func(args, out, err)
    except KeyboardInterrupt:
        try:
            _write(out, "\n")
            _write(err, "interrupted\n")
        except (OSError, ValueError):
            pass
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``llmrouter models | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except (LLMRouterError, UsageError) as exc:
        err.write(_error_line(exc) + "\n")
        if args.debug:
            traceback.print_exception(exc, file=err)
        return _exit_code(exc)
    except Exception as exc:
        err.write(
            f"error: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(please report it; --debug shows the traceback)\n"
        )
        if args.debug:
            traceback.print_exception(exc, file=err)
        return EXIT_ERROR
    finally:
        _close_quietly()


def run() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
