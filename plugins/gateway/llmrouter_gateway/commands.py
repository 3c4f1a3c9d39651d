"""The gateway's commands: ``llmrouter serve``, ``llmrouter keys ...`` and ``llmrouter config convert``.

Registered from the ``llmrouter.commands`` entry-point group (``llmrouter_add_commands`` in
``llmrouter.hookspecs``). This module imports only argparse-level things: building the CLI's
parser must stay cheap, so the server and the converter are imported inside the handlers.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from llmrouter.hookspecs import hookimpl

if TYPE_CHECKING:
    from llmrouter.cli import Commands


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from llmrouter_gateway.server import serve_command

    return serve_command(args, out, err)


def _convert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from llmrouter_gateway.litellm_config import convert_command

    return convert_command(args, out, err)


def _keys(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from llmrouter_gateway.keys_cli import keys_command

    return keys_command(args, out, err)


@hookimpl
def llmrouter_add_commands(commands: Commands) -> None:
    serve = commands.add(
        "serve",
        _serve,
        help="run the OpenAI-compatible gateway (llmrouter-gateway)",
        description="Serve the routing config's aliases over an OpenAI-compatible HTTP API "
        "(docs/gateway.md). The config is llmrouter's TOML or a LiteLLM proxy config.yaml.",
    )
    serve.add_argument(
        "--config",
        metavar="PATH",
        help="routing config: TOML, or LiteLLM's proxy YAML (default: $LLMROUTER_CONFIG, "
        "else ./llmrouter.toml)",
    )
    serve.add_argument("--host", help="address to listen on (default: [gateway] host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: [gateway] port)")
    serve.add_argument("--workers", type=int, help="worker processes (default: [gateway] workers)")
    convert = commands.add(
        "convert",
        _convert,
        group="config",
        help="convert a LiteLLM proxy config.yaml to llmrouter's TOML",
        description="Translate a LiteLLM proxy config (model_list, router_settings, "
        "general_settings, litellm_settings) to llmrouter's routing TOML. Every key that has "
        "no equivalent is reported by name on stderr.",
    )
    convert.add_argument("file", help="the LiteLLM config.yaml")
    keys = commands.add(
        "keys",
        _keys,
        help="create, list, change and revoke the gateway's virtual keys",
        description="Manage virtual keys in the store named by [gateway] database_url "
        "(docs/gateway.md, Virtual keys). 'create' prints the new key once.",
    )
    from llmrouter_gateway.keys_cli import add_keys_arguments

    add_keys_arguments(keys)
    convert.add_argument(
        "-o", "--output", metavar="PATH", help="write the TOML here (default: stdout)"
    )
