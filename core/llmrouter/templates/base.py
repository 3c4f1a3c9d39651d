"""The template object and the message checks every renderer relies on.

Kept free of jinja2 and of the registry so that built-ins, custom registrations and Hugging Face
templates can all share it without import cycles (and without importing jinja2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from llmrouter.errors import PromptTemplateError

__all__ = ["PromptTemplate", "Rejected", "Renderer", "Turn", "check_messages", "text_turns"]

#: ``(role, content, original message)``: renderers read role and content positionally (fast) and
#: go back to the message only for rare extras such as ``tool_call_id``.
Turn = tuple[str, str, Mapping[str, Any]]

#: ``renderer(messages, add_generation_prompt) -> text``; raises PromptTemplateError.
Renderer = Callable[[Sequence[Mapping[str, Any]], bool], str]

Kind = Literal["builtin", "custom", "chat_template"]


class Rejected(Exception):  # internal signal, never escapes this package
    """A renderer's stand-in for the official template's ``raise_exception(reason)``.

    Renderers do not know under which name they are registered, so they raise this and the
    wrapper turns it into a :class:`PromptTemplateError` carrying the template's name.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, eq=False)
class PromptTemplate:
    """A named way of turning chat messages into the text a completion endpoint expects.

    Frozen so that a template handed to a provider cannot change under a running request;
    registrations replace the object instead of mutating it. Equality is identity: two
    registrations with the same name and tokens may still render differently.
    """

    name: str
    #: Stop sequences a text-completion request should add so generation ends with the turn.
    stop: tuple[str, ...] = ()
    #: The model's tokens, for reference. ``render`` never adds ``bos_token`` on its own for
    #: built-ins: the inference server prepends BOS when it tokenizes.
    bos_token: str = ""
    eos_token: str = ""
    kind: Kind = "builtin"
    _renderer: Renderer = field(repr=False, kw_only=True)

    def render(
        self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True
    ) -> str:
        """Render ``messages``; a conversation the template rejects raises PromptTemplateError."""
        return self._renderer(messages, add_generation_prompt)


def check_messages(messages: object, template: str) -> Sequence[Mapping[str, Any]]:
    """Reject a ``messages`` value that is not a list of mappings before any renderer indexes it.

    Renderers would otherwise fail with a bare TypeError or KeyError deep inside.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise PromptTemplateError(
            "messages must be a list of {'role': ..., 'content': ...} dicts, "
            f"got {type(messages).__name__}",
            template=template,
        )
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise PromptTemplateError(
                f"messages[{i}] must be a dict with 'role' and 'content', "
                f"got {type(message).__name__}",
                template=template,
            )
    return messages


def text_turns(messages: object, template: str) -> list[Turn]:
    """Check that every message is plain text and return it as turns.

    Text templates can only place strings; a list of content parts, ``None`` content or tool
    calls would make the official template crash or silently drop data, so they are refused here
    with a message that says which message and why.
    """
    checked = check_messages(messages, template)
    turns: list[Turn] = []
    append = turns.append
    for i, message in enumerate(checked):
        role = message.get("role")
        content = message.get("content")
        if type(role) is not str:
            if not isinstance(role, str):
                raise PromptTemplateError(
                    f"messages[{i}]['role'] must be a string, got {type(role).__name__}",
                    template=template,
                )
            role = str.__str__(role)  # a str subclass (an enum) compares by its value
        if type(content) is not str:
            if isinstance(content, str):
                content = str.__str__(content)
            else:
                raise PromptTemplateError(
                    f"messages[{i}]['content'] must be a string for the text template "
                    f"{template!r}, got {type(content).__name__}",
                    template=template,
                )
        if message.get("tool_calls") is not None:
            raise PromptTemplateError(
                f"messages[{i}] has tool_calls, which the text template {template!r} cannot "
                "render; send tool conversations to the provider's chat endpoint",
                template=template,
            )
        append((role, content, message))
    return turns
