"""The hook implementations, once for the whole family: :class:`OpenAIFamilyProvider`.

An entry point must resolve to an object with hook implementations, and the providers differ
only in data, so each entry point names a module-level instance of this class
(``llmrouter_openai.providers:groq``) built from its :class:`~llmrouter_openai.presets.Preset`.
It is llmrouter's :class:`~llmrouter.openai_compat.OpenAICompatibleProvider` with the preset's
dialect and option models, plus what a preset's data asks beyond the toolkit's dialect: an option
of the family that this provider lacks is named as such; the vendor SDK's own base-URL variables
(a server root, Ollama's host forms) are read; the ``messages`` rules some services enforce
(Mistral's tool-call ids) are checked before sending; and ``stream_options`` is left out for
services whose schema has no such field. Public API only, exactly like a third-party plugin.
"""

from __future__ import annotations

import os
import re

from pydantic import BaseModel

from llmrouter.errors import InvalidRequestError
from llmrouter.hookspecs import hookimpl
from llmrouter.openai_compat import OpenAICompatibleProvider
from llmrouter.pipeline import Call, ChatPrompt, HTTPRequest, Prompt
from llmrouter_openai.options import (
    CHAT_ONLY,
    chat_options_model,
    check_supported,
    embedding_options_model,
)
from llmrouter_openai.presets import PRESETS, Preset, shown_url

__all__ = ["OpenAIFamilyProvider", "check_messages"]

#: Named in the error when a provider without token-id input is given token ids.
_TOKEN_ID_PROVIDERS = " and ".join(p.name for p in PRESETS.values() if p.embedding_token_ids)


class OpenAIFamilyProvider(OpenAICompatibleProvider):
    """One provider of the OpenAI family: the toolkit's hooks, parameterised by a :class:`Preset`."""

    token_id_hint = _TOKEN_ID_PROVIDERS

    def __init__(self, preset: Preset) -> None:
        super().__init__(preset.dialect, chat_only=CHAT_ONLY)
        self.preset = preset
        self._chat_model: type[BaseModel] | None = None
        self._embedding_model: type[BaseModel] | None = None

    def __repr__(self) -> str:
        return f"OpenAIFamilyProvider({self.preset.name!r})"

    # Option models are built on first use: importing the plugin stays cheap.
    @property
    def chat_options(self) -> type[BaseModel]:
        model = self._chat_model
        if model is None:
            model = self._chat_model = chat_options_model(self.preset)
        return model

    @property
    def embedding_options(self) -> type[BaseModel]:
        model = self._embedding_model
        if model is None:
            model = self._embedding_model = embedding_options_model(self.preset)
        return model

    def validate(self, model: type[BaseModel], call: Call, what: str) -> BaseModel:
        check_supported(
            call.params, model, provider=call.provider, title=self.preset.title, what=what
        )
        return super().validate(model, call, what)

    def base_url(self, call: Call) -> str:
        """``api_base=``, else the vendor SDK's own variables (read as that SDK reads them),
        else the toolkit's order: the preset's ``api_base_env``, then its default."""
        if not call.api_base:
            for variable in self.preset.sdk_base_env:
                value = os.environ.get(variable.name, "").strip()
                if not value:
                    continue
                try:
                    return variable.api_base(value)
                except ValueError as exc:
                    raise InvalidRequestError(
                        f"the base URL for {call.provider} from {variable.name} "
                        f"({shown_url(value)}) is unusable: {exc}",
                        param="api_base",
                        provider=call.provider,
                        model=call.model,
                    ) from None
        return super().base_url(call)

    @hookimpl
    def llmrouter_build_request(self, call: Call, prompt: Prompt | None) -> HTTPRequest:
        preset = self.preset
        if isinstance(prompt, ChatPrompt):
            check_messages(call, preset)
        request = super().llmrouter_build_request(call, prompt)
        body = request.json
        if (
            call.stream
            and not preset.sends_stream_options
            and isinstance(body, dict)
            and "stream_options" not in (call.extra_body or {})
        ):
            body.pop("stream_options", None)
        return request


def check_messages(call: Call, preset: Preset) -> None:
    """Refuse, before sending, ``messages`` the service is documented to reject: a ``name`` on
    a role that may not carry one, a tool-call id outside the service's rule (Mistral answers
    either with a 4xx; ids from another provider's history are the usual cause)."""
    roles = preset.message_name_roles
    pattern = preset.tool_call_id_pattern
    if roles is None and pattern is None:
        return
    title = preset.title
    for i, msg in enumerate(call.messages or ()):
        role = msg.get("role")
        if roles is not None and "name" in msg and role not in roles:
            raise InvalidRequestError(
                f"messages[{i}] ({role}) has a 'name'; {title} accepts a name only on "
                f"{' and '.join(sorted(roles))} messages: drop it (or fold it into the content)",
                param=f"messages[{i}].name",
                provider=call.provider,
                model=call.model,
            )
        if pattern is None:
            continue
        ids: list[tuple[str, object]] = []
        if role == "tool":
            ids.append((f"messages[{i}].tool_call_id", msg.get("tool_call_id")))
        for j, tool_call in enumerate(msg.get("tool_calls") or ()):
            if isinstance(tool_call, dict) and "id" in tool_call:
                ids.append((f"messages[{i}].tool_calls[{j}].id", tool_call["id"]))
        for where, value in ids:
            if value is not None and not (isinstance(value, str) and re.fullmatch(pattern, value)):
                shown = repr(value)[:60]
                raise InvalidRequestError(
                    f"{where} is {shown}, but {title} takes tool-call ids of "
                    f"{preset.tool_call_id_rule}: give the assistant's tool call and the "
                    "matching tool message an id of that form (ids from another provider's "
                    "answers usually are not)",
                    param=where,
                    provider=call.provider,
                    model=call.model,
                )
