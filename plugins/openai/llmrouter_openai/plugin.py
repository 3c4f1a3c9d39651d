"""The hook implementations, once for the whole family: :class:`OpenAIFamilyProvider`.

An entry point must resolve to an object with hook implementations, and the seven providers
differ only in data, so each entry point names a module-level instance of this class
(``llmrouter_openai.providers:groq``) built from its :class:`~llmrouter_openai.presets.Preset`.
It is llmrouter's :class:`~llmrouter.openai_compat.OpenAICompatibleProvider` with the preset's
dialect and option models, plus one check: an option of the family that this provider lacks is
named as such. Public API only, exactly like a third-party plugin.
"""

from __future__ import annotations

from pydantic import BaseModel

from llmrouter.openai_compat import OpenAICompatibleProvider
from llmrouter.pipeline import Call
from llmrouter_openai.options import (
    CHAT_ONLY,
    chat_options_model,
    check_supported,
    embedding_options_model,
)
from llmrouter_openai.presets import PRESETS, Preset

__all__ = ["OpenAIFamilyProvider"]

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
