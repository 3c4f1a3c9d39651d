"""The hook implementations, once for the whole family: :class:`OpenAIFamilyProvider`.

An entry point must resolve to an object with hook implementations, and the seven providers
differ only in data, so each entry point names a module-level instance of this class
(``llmrouter_openai.providers:groq``) built from its :class:`~llmrouter_openai.presets.Preset`.
The methods adapt llmrouter's stages to :mod:`llmrouter_openai.wire`; they use llmrouter's
public API only, exactly like a third-party plugin.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from llmrouter import hookimpl
from llmrouter.errors import InvalidRequestError, LLMRouterError
from llmrouter.pipeline import (
    Call,
    ChatPrompt,
    HTTPRequest,
    HTTPResponse,
    Prompt,
    StreamDone,
    StreamState,
    TextPrompt,
)
from llmrouter.provider import (
    auth_headers,
    require_text_input,
    resolve_api_base,
    resolve_api_key,
)
from llmrouter.templates import explicit_template
from llmrouter.types import ModelResponseStream
from llmrouter.validation import validate_options
from llmrouter_openai import wire
from llmrouter_openai.options import (
    chat_options_model,
    check_supported,
    embedding_options_model,
)
from llmrouter_openai.presets import PRESETS, Preset

__all__ = ["OpenAIFamilyProvider"]

#: Named in the error when a provider without token-id input is given token ids.
_TOKEN_ID_PROVIDERS = " and ".join(p.name for p in PRESETS.values() if p.embedding_token_ids)


class OpenAIFamilyProvider:
    """One provider of the OpenAI family: the hooks, parameterised by a :class:`Preset`."""

    def __init__(self, preset: Preset) -> None:
        self.preset = preset
        self._chat_options: type[BaseModel] | None = None
        self._embedding_options: type[BaseModel] | None = None

    def __repr__(self) -> str:
        return f"OpenAIFamilyProvider({self.preset.name!r})"

    # --- option models, built on first use ------------------------------------------------

    @property
    def chat_options(self) -> type[BaseModel]:
        model = self._chat_options
        if model is None:
            model = self._chat_options = chat_options_model(self.preset)
        return model

    @property
    def embedding_options(self) -> type[BaseModel]:
        model = self._embedding_options
        if model is None:
            model = self._embedding_options = embedding_options_model(self.preset)
        return model

    def _options(self, model: type[BaseModel], call: Call, what: str) -> BaseModel:
        check_supported(
            call.params, model, provider=call.provider, title=self.preset.title, what=what
        )
        return validate_options(model, call.params, provider=call.provider, what=what)

    def _require(self, call: Call, endpoint: str, what: str) -> None:
        if endpoint not in self.preset.endpoints:
            raise InvalidRequestError(
                f"{call.provider} ({self.preset.title}) has no /{endpoint} endpoint, so it "
                f"cannot serve {what}",
                provider=call.provider,
                model=call.model,
            )

    # --- where and who ----------------------------------------------------------------------

    def _base(self, call: Call) -> str:
        preset = self.preset
        base = resolve_api_base(
            call, preset.api_base_env, preset.default_api_base or "", ensure_suffix=""
        )
        if not base:
            names = " or ".join(preset.api_base_env) or "a variable"
            raise InvalidRequestError(
                f"{call.provider} needs the server's base URL: pass api_base='http://host:port/v1' "
                f"or set {names}",
                param="api_base",
                provider=call.provider,
                model=call.model,
            )
        if not base.startswith(("http://", "https://")):
            raise InvalidRequestError(
                f"the base URL for {call.provider} must be an http(s) URL such as "
                f"'http://localhost:8000/v1', got {base!r}",
                param="api_base",
                provider=call.provider,
                model=call.model,
            )
        suffix = preset.base_suffix
        if suffix and not base.endswith(suffix):
            base += suffix
        return base

    def _headers(self, call: Call) -> dict[str, str]:
        preset = self.preset
        key = resolve_api_key(call, preset.api_key_env, required=preset.key_required)
        extra: dict[str, str] = {}
        for header, names in preset.header_env:
            for name in names:
                value = os.environ.get(name, "").strip()
                if value:
                    extra[header] = value
                    break
        if call.extra_headers:
            given = {k.lower() for k in call.extra_headers}
            extra = {k: v for k, v in extra.items() if k.lower() not in given}
            extra.update(call.extra_headers)
        return auth_headers(key, extra)

    # --- hooks ------------------------------------------------------------------------------

    @hookimpl
    def llmrouter_format_prompt(self, call: Call) -> Prompt:
        assert call.messages is not None
        template = explicit_template(call.model, call.prompt_template)
        if template is None:
            return ChatPrompt(call.messages)
        self._require(call, "completions", f"a prompt rendered by the template {template.name!r}")
        return TextPrompt(
            template.render(call.messages), template=template.name, stop=tuple(template.stop)
        )

    @hookimpl
    def llmrouter_build_request(self, call: Call, prompt: Prompt | None) -> HTTPRequest:
        preset = self.preset
        op = call.operation
        body: Any = None
        method = "POST"
        if op == "chat":
            if isinstance(prompt, TextPrompt):
                self._require(call, "completions", "a templated prompt")
                what = "completions (templated chat)"
                options = self._options(self.chat_options, call, what)
                body = wire.completion_body(call, options, prompt, preset)
                endpoint = "/completions"
            elif isinstance(prompt, ChatPrompt):
                options = self._options(self.chat_options, call, "chat completions")
                wire.check_messages(call, preset)
                body = wire.chat_body(call, options, prompt, preset)
                endpoint = "/chat/completions"
            else:
                raise InvalidRequestError(
                    f"{call.provider} cannot send a prompt of type {type(prompt).__name__}",
                    provider=call.provider,
                )
        elif op == "embedding":
            self._require(call, "embeddings", "embeddings")
            if not preset.embedding_token_ids:
                require_text_input(call, accepted_by=_TOKEN_ID_PROVIDERS)
            options = self._options(self.embedding_options, call, "embeddings")
            body = wire.embedding_body(call, options)
            endpoint = "/embeddings"
        elif op == "list_models":
            self._require(call, "models", "a model list")
            method, endpoint = "GET", "/models"
        else:
            raise InvalidRequestError(
                f"{call.provider} does not support the {op!r} operation", provider=call.provider
            )
        base = self._base(call)
        return HTTPRequest(
            method=method,
            url=base + endpoint,
            headers=self._headers(call),
            json=body,
            endpoint=endpoint,
        )

    @hookimpl
    def llmrouter_parse_response(
        self, call: Call, prompt: Prompt | None, response: HTTPResponse
    ) -> Any:
        op = call.operation
        if op == "chat":
            if isinstance(prompt, TextPrompt):
                return wire.parse_completion_as_chat(call, response)
            return wire.parse_chat(call, response)
        if op == "embedding":
            return wire.parse_embeddings(call, response)
        return wire.parse_models(call, response)

    @hookimpl
    def llmrouter_parse_stream_event(
        self, call: Call, prompt: Prompt | None, data: str, state: StreamState
    ) -> ModelResponseStream | StreamDone | None:
        return wire.parse_stream_event(call, prompt, data, state)

    @hookimpl
    def llmrouter_map_error(self, call: Call, response: HTTPResponse) -> LLMRouterError:
        return wire.map_error(call, response)
