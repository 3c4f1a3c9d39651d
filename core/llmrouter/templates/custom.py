"""Templates registered as role prefixes and separators (the tutorial's form and LiteLLM's).

Every role is compiled at registration time into one ``(before, after)`` pair so that rendering
is a dictionary lookup and a concatenation per message::

    string form  roles[role] = "prefix"   ->  prefix + pre_message_sep + content + post_message_sep
    dict form    roles[role] = {"pre_message": p, "post_message": q}  ->  p + content + q

The separators belong to the string form only (as in LiteLLM): a dict states its own
surroundings completely. ``eos_token`` follows each assistant message, after its closing part.
The prompt is ``bos_token + initial_prompt_value + messages + final_prompt_value``, and
``final_prompt_value`` is dropped when ``add_generation_prompt=False`` because it is where the
assistant's opening belongs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmrouter.errors import PromptTemplateError
from llmrouter.templates.base import PromptTemplate, text_turns

__all__ = ["argument_error", "build_custom"]

_ROLE_KEYS = frozenset({"pre_message", "post_message"})


def argument_error(message: str, param: str, template: str) -> PromptTemplateError:
    """A PromptTemplateError that names the registration argument at fault.

    PromptTemplateError always says ``param="messages"``; for a bad registration the argument is
    the useful part, so it is overwritten here.
    """
    error = PromptTemplateError(message, template=template)
    error.param = param
    return error


def _compile_roles(
    roles: object, pre_sep: str, post_sep: str, eos: str, name: str
) -> dict[str, tuple[str, str]]:
    if not isinstance(roles, Mapping) or not roles:
        raise argument_error(
            "roles must be a non-empty dict mapping each role to a prefix string or to "
            f"{{'pre_message': ..., 'post_message': ...}}, got {roles!r}",
            "roles",
            name,
        )
    compiled: dict[str, tuple[str, str]] = {}
    string_form = False
    for role, spec in roles.items():
        if not isinstance(role, str):
            raise argument_error(
                f"roles keys must be role names (str), got {role!r}", "roles", name
            )
        if isinstance(spec, str):
            string_form = True
            before, after = spec + pre_sep, post_sep
        elif isinstance(spec, Mapping):
            unknown = sorted(str(k) for k in spec if k not in _ROLE_KEYS)
            if unknown:
                raise argument_error(
                    f"roles[{role!r}] has unknown keys {unknown}; allowed: "
                    "'pre_message', 'post_message'",
                    "roles",
                    name,
                )
            before = spec.get("pre_message", "")
            after = spec.get("post_message", "")
            for key, value in (("pre_message", before), ("post_message", after)):
                if not isinstance(value, str):
                    raise argument_error(
                        f"roles[{role!r}][{key!r}] must be a string, got {type(value).__name__}",
                        "roles",
                        name,
                    )
        else:
            raise argument_error(
                f"roles[{role!r}] must be a prefix string or a dict with 'pre_message'/"
                f"'post_message', got {type(spec).__name__}",
                "roles",
                name,
            )
        if role == "assistant":
            after += eos
        compiled[role] = (before, after)
    if not string_form:
        # A separator that no role can use is a mistake the user would otherwise never notice.
        for param, value in (("pre_message_sep", pre_sep), ("post_message_sep", post_sep)):
            if value:
                raise argument_error(
                    f"{param} applies only to roles given as prefix strings; every role here "
                    "is a {'pre_message', 'post_message'} dict, so put it there",
                    param,
                    name,
                )
    return compiled


def build_custom(
    name: str,
    roles: object,
    *,
    pre_message_sep: str,
    post_message_sep: str,
    initial_prompt_value: str,
    final_prompt_value: str,
    bos_token: str,
    eos_token: str,
) -> PromptTemplate:
    """Compile a roles/separators registration into a template named ``name``."""
    compiled = _compile_roles(roles, pre_message_sep, post_message_sep, eos_token, name)
    head = bos_token + initial_prompt_value
    covered = ", ".join(repr(r) for r in compiled)

    def render(messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool) -> str:
        out = [head]
        for i, (role, content, _) in enumerate(text_turns(messages, name)):
            parts = compiled.get(role)
            if parts is None:
                raise PromptTemplateError(
                    f"messages[{i}] has role {role!r}, which the prompt template registered for "
                    f"{name!r} does not cover (covered roles: {covered})",
                    template=name,
                )
            out.append(parts[0] + content + parts[1])
        if add_generation_prompt:
            out.append(final_prompt_value)
        return "".join(out)

    return PromptTemplate(
        name=name,
        stop=(eos_token,) if eos_token else (),
        bos_token=bos_token,
        eos_token=eos_token,
        kind="custom",
        _renderer=render,
    )
