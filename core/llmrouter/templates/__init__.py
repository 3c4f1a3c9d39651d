"""Prompt templates: chat messages -> the exact text a text-completion endpoint expects.

Providers send chat models' messages as-is to chat endpoints, where the server applies the
model's template. This package is for the cases where the text is built client-side: the user
registered a template for the model, named one on the call, or configured one. Built-in
templates reproduce each family's official Hugging Face chat template byte for byte (tested
against the originals rendered with jinja2) but are plain Python, so importing this package does
not import jinja2 and rendering takes microseconds.

See docs/prompt-templates.md for the families, the aliases and the registration semantics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmrouter.errors import PromptTemplateError
from llmrouter.templates import registry as _registry
from llmrouter.templates.base import PromptTemplate
from llmrouter.templates.builtin import BUILTINS

__all__ = [
    "PromptTemplate",
    "explicit_template",
    "get_template",
    "prompt_templates",
    "register_prompt_template",
    "registered_prompt_templates",
    "render_prompt",
    "resolve_template",
    "unregister_prompt_template",
]


def prompt_templates() -> list[str]:
    """Every built-in name, families and aliases, sorted; ``get_template`` accepts each."""
    return _registry.builtin_names()


def get_template(name: str) -> PromptTemplate:
    """A built-in template by name (case-insensitive), else the registration for model ``name``.

    Raises PromptTemplateError listing what exists rather than KeyError, because the name usually
    comes from a call argument or a config file and the fix is to pick one of those.
    """
    if not isinstance(name, str):
        raise _registry.unknown_template_error(repr(name))
    template = BUILTINS.get(name.strip().lower())
    if template is None and name.strip():
        template = _registry.find_registration(name)
    if template is None:
        raise _registry.unknown_template_error(name)
    return template


def resolve_template(
    model: str | None = None, template: str | PromptTemplate | None = None
) -> PromptTemplate:
    """The template for a call: ``template`` if given, else resolved from ``model``.

    For a model: the user's registration, then the table of known model ids, then family rules.
    """
    if isinstance(template, PromptTemplate):
        return template
    if template is not None:
        return get_template(template)
    if model is None:
        raise PromptTemplateError(
            "pass model= (a model id such as 'meta-llama/Llama-2-70b-chat-hf') or template= "
            "(a built-in name such as 'llama-2', see prompt_templates()) to choose a prompt "
            "template"
        )
    if not isinstance(model, str) or not model.strip():
        raise PromptTemplateError(f"model must be a non-empty model name, got {model!r}")
    found = _registry.find_registration(model) or _registry.known_model_template(model)
    if found is None:
        raise PromptTemplateError(
            f"no prompt template known for model {model!r}: pass template= with one of "
            f"{', '.join(prompt_templates())}, or register one with "
            "register_prompt_template(model, roles=... or chat_template=...)",
            model=model,
        )
    return found


def render_prompt(
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str | None = None,
    template: str | PromptTemplate | None = None,
    add_generation_prompt: bool = True,
) -> str:
    """The exact text that would be sent for ``messages``: the way to debug a template."""
    return resolve_template(model, template).render(
        messages, add_generation_prompt=add_generation_prompt
    )


def explicit_template(
    model: str, template: str | PromptTemplate | None = None
) -> PromptTemplate | None:
    """The template the user asked for, if any: what a provider uses to pick its endpoint.

    Only an explicit choice counts (a template named on the call or in config, or a registration
    for the model, with or without the provider prefix). The known-model table and family rules
    are not consulted, because providers such as Together apply the official template
    server-side on their chat endpoint; formatting client-side is opt-in.
    """
    if isinstance(template, PromptTemplate):
        return template
    if template is not None:
        return get_template(template)
    if not isinstance(model, str) or not model.strip():
        return None
    return _registry.find_registration(model)


def register_prompt_template(
    model: str,
    roles: Mapping[str, str | Mapping[str, str]] | None = None,
    pre_message_sep: str = "",
    post_message_sep: str = "",
    initial_prompt_value: str = "",
    final_prompt_value: str = "",
    bos_token: str = "",
    eos_token: str = "",
    chat_template: str | None = None,
) -> PromptTemplate:
    """Register how to format prompts for ``model`` (replacing an earlier registration).

    Either ``roles`` (each role -> a prefix string, rendered ``prefix + pre_message_sep + content
    + post_message_sep``, or -> ``{"pre_message", "post_message"}``, rendered ``pre_message +
    content + post_message``) or ``chat_template`` (a Hugging Face Jinja template, compiled now
    and rendered in a sandbox). With ``roles`` the prompt is ``bos_token + initial_prompt_value +
    messages + final_prompt_value``; ``eos_token`` follows each assistant message; and
    ``final_prompt_value`` is left out when rendering with ``add_generation_prompt=False``.
    The model name matches case-insensitively, with or without a ``provider/`` prefix.
    """
    return _registry.register(
        model,
        roles,
        pre_message_sep=pre_message_sep,
        post_message_sep=post_message_sep,
        initial_prompt_value=initial_prompt_value,
        final_prompt_value=final_prompt_value,
        bos_token=bos_token,
        eos_token=eos_token,
        chat_template=chat_template,
    )


def unregister_prompt_template(model: str) -> bool:
    """Remove the registration made under this name (case-insensitive); False if none."""
    return _registry.unregister(model)


def registered_prompt_templates() -> dict[str, PromptTemplate]:
    """A copy of the registrations, keyed by the model name as registered."""
    return _registry.registered()
