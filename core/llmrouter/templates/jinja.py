"""Hugging Face ``chat_template`` strings, rendered the way transformers renders them.

This is the only module of the package that imports jinja2, and the registry imports it only when
someone registers a ``chat_template``: built-in templates never pay for jinja2.

A chat template is code from a model repository or a config file, so it runs in jinja2's
immutable sandbox (no attribute starting with ``_``, no mutation of ``messages``). Two choices go
beyond transformers, both only ever turn a would-be silent problem into an error:

- access to an unsafe attribute raises at once instead of rendering as an empty string;
- ``raise_exception(reason)`` raises PromptTemplateError with exactly ``reason``, never text in
  the prompt (LiteLLM once rendered the error text into the prompt and sent it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import jinja2
import jinja2.ext
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmrouter.errors import PromptTemplateError
from llmrouter.templates.base import PromptTemplate, Renderer, check_messages

__all__ = ["build_chat_template"]


class _TemplateRaised(jinja2.TemplateError):
    """Raised by the template's own ``raise_exception``; carries its reason unchanged."""


def _raise_exception(message: object) -> NoReturn:
    raise _TemplateRaised(str(message))


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # transformers' tojson: no HTML escaping (jinja2's own filter would turn < into \u003c).
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class _StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, but an unsafe attribute is an error rather than an empty string."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )


_ENV: _StrictSandbox | None = None


def _environment() -> _StrictSandbox:
    # Built on first use; a duplicate built by a racing thread is harmless (both are identical).
    global _ENV
    if _ENV is None:
        env = _StrictSandbox(
            trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
        )
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        _ENV = env
    return _ENV


def build_chat_template(
    name: str, source: str, *, bos_token: str, eos_token: str
) -> PromptTemplate:
    """Compile ``source`` now, so that a syntax error surfaces at registration, not mid-request."""
    try:
        compiled = _environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        error = PromptTemplateError(
            f"chat_template for {name!r} is not valid Jinja: {exc.message} (line {exc.lineno})",
            template=name,
        )
        error.param = "chat_template"
        raise error from None

    def render(messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool) -> str:
        checked = check_messages(messages, name)
        try:
            return compiled.render(
                messages=list(checked),
                add_generation_prompt=add_generation_prompt,
                bos_token=bos_token,
                eos_token=eos_token,
            )
        except _TemplateRaised as exc:
            raise PromptTemplateError(exc.message or "", template=name) from None
        except SecurityError as exc:
            raise PromptTemplateError(
                f"chat_template for {name!r} tried an operation the sandbox forbids: {exc}",
                template=name,
            ) from exc
        except Exception as exc:
            raise PromptTemplateError(
                f"chat_template for {name!r} failed on these messages: {type(exc).__name__}: {exc}",
                template=name,
            ) from exc

    renderer: Renderer = render
    return PromptTemplate(
        name=name,
        stop=(eos_token,) if eos_token else (),
        bos_token=bos_token,
        eos_token=eos_token,
        kind="chat_template",
        _renderer=renderer,
    )
