"""Shared fixtures: the official templates and a reference renderer built the transformers way.

The reference follows the recipe in the shared chat_templates README (itself transformers'
``_compile_jinja_template``): an ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks
and loopcontrols, a raising ``raise_exception``, a ``tojson`` that does not HTML-escape and a
``strftime_now`` global. Built-ins are compared against it with ``bos_token=""``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

DATA = Path(__file__).parent / "data" / "templates.json"
TEMPLATES: list[dict[str, Any]] = json.loads(DATA.read_text(encoding="utf-8"))
BY_FAMILY: dict[str, dict[str, Any]] = {entry["family"]: entry for entry in TEMPLATES}


class OfficialRaised(Exception):
    """The official template called ``raise_exception(reason)``."""


def _raise_exception(message: str) -> None:
    raise OfficialRaised(message)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@cache
def compile_official(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


def render_official(
    family: str, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True
) -> str:
    """Render like transformers' apply_chat_template(tokenize=False), but with bos_token=""."""
    entry = BY_FAMILY[family]
    kwargs: dict[str, Any] = {"bos_token": ""}
    if entry["eos_token"] is not None:
        kwargs["eos_token"] = entry["eos_token"]
    return compile_official(entry["template"]).render(
        messages=messages, add_generation_prompt=add_generation_prompt, **kwargs
    )


class Reference:
    """What the tests need from this module, handed out as a fixture (conftest is not importable
    under pytest's importlib mode)."""

    raised = OfficialRaised
    by_family = BY_FAMILY
    templates = TEMPLATES

    def render(
        self, family: str, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool
    ) -> str:
        return render_official(family, messages, add_generation_prompt)


@pytest.fixture(scope="session")
def reference() -> Reference:
    return Reference()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Any test in this directory that takes ``family`` runs once per official template.
    already = any(
        m.name == "parametrize" and "family" in str(m.args[0])
        for m in metafunc.definition.iter_markers()
    )
    if "family" in metafunc.fixturenames and not already:
        metafunc.parametrize("family", list(BY_FAMILY))


@pytest.fixture(autouse=True)
def _isolated_registry() -> Any:
    """Each test starts and ends with the registrations it found (none, normally)."""
    from llmrouter.templates import registry

    saved = registry._state
    yield
    registry._state = saved
