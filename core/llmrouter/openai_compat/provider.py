"""The hooks of an OpenAI-compatible provider, once: :class:`OpenAICompatibleProvider`.

A provider plugin for a service that speaks OpenAI's wire format is an instance of this class
(or of a small subclass) named by its entry point: a :class:`~llmrouter.openai_compat.Dialect`
saying where the service lives and how it departs from OpenAI's format, plus the pydantic models
of its options. The methods only adapt llmrouter's stages to the pure functions of
:mod:`llmrouter.openai_compat`; docs/write-a-provider.md shows a complete plugin in a page.
"""

from __future__ import annotations

import os
from collections.abc import Set
from typing import Any

from pydantic import BaseModel

from llmrouter.errors import InvalidRequestError, LLMRouterError
from llmrouter.hookspecs import hookimpl
from llmrouter.openai_compat import bodies, responses, streams
from llmrouter.openai_compat.dialect import Dialect, Endpoint
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
from llmrouter.types import EmbeddingResponse, ModelInfo, ModelResponse, ModelResponseStream
from llmrouter.validation import validate_options

__all__ = ["NoOptions", "OpenAICompatibleProvider"]


class NoOptions(BaseModel):
    """An endpoint that takes no option besides ``model`` and ``input`` (extras go in
    ``extra_body``)."""

    model_config = {"extra": "forbid", "strict": True, "frozen": True}


class OpenAICompatibleProvider:
    """One OpenAI-compatible provider: the stage hooks, parameterised by data.

    ``chat_options`` validates the options of chat calls (and of templated calls sent to
    ``/completions``, where the ``chat_only`` ones are refused); ``embedding_options`` those of
    embedding calls. Override :meth:`validate` to check options another way first.
    """

    #: Named in the error when this provider is given token ids it cannot take.
    token_id_hint: str = ""

    def __init__(
        self,
        dialect: Dialect,
        *,
        chat_options: type[BaseModel] = NoOptions,
        embedding_options: type[BaseModel] = NoOptions,
        chat_only: Set[str] = frozenset(),
    ) -> None:
        self.dialect = dialect
        self._chat_options = chat_options
        self._embedding_options = embedding_options
        self.chat_only = chat_only

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dialect.title!r})"

    @property
    def chat_options(self) -> type[BaseModel]:
        return self._chat_options

    @property
    def embedding_options(self) -> type[BaseModel]:
        return self._embedding_options

    def validate(self, model: type[BaseModel], call: Call, what: str) -> BaseModel:
        """``call.params`` validated against ``model`` (an error names every problem)."""
        return validate_options(model, call.params, provider=call.provider, what=what)

    # --- where and who ----------------------------------------------------------------------

    def require(self, call: Call, endpoint: Endpoint, what: str) -> None:
        """Refuse, before sending, a call that needs an endpoint the service does not have."""
        if endpoint not in self.dialect.endpoints:
            raise InvalidRequestError(
                f"{call.provider} ({self.dialect.title}) has no /{endpoint} endpoint, so it "
                f"cannot serve {what}",
                provider=call.provider,
                model=call.model,
            )

    def base_url(self, call: Call) -> str:
        """``api_base=``, else the dialect's variables, else its default; plus its suffix."""
        dialect = self.dialect
        base = call.api_base
        suffix = dialect.base_suffix
        if base and (not suffix or base.endswith(suffix)):
            return base  # the usual case when given (validated: http(s), no trailing slash)
        base = resolve_api_base(call, dialect.api_base_env, dialect.default_api_base or "")
        if not base:
            names = " or ".join(dialect.api_base_env) or "a variable"
            raise InvalidRequestError(
                f"{call.provider} needs the server's base URL: pass api_base='http://host:port/v1' "
                f"or set {names}",
                param="api_base",
                provider=call.provider,
                model=call.model,
            )
        if suffix and not base.endswith(suffix):
            base += suffix
        return base

    def headers(self, call: Call) -> dict[str, str]:
        """The key's ``Authorization``, the dialect's variable-filled headers, the caller's."""
        dialect = self.dialect
        key = resolve_api_key(call, dialect.api_key_env, required=dialect.key_required)
        if not dialect.header_env:
            return auth_headers(key, call.extra_headers)
        extra: dict[str, str] = {}
        for header, names in dialect.header_env:
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
        self.require(call, "completions", f"a prompt rendered by the template {template.name!r}")
        return TextPrompt(
            template.render(call.messages), template=template.name, stop=tuple(template.stop)
        )

    @hookimpl
    def llmrouter_build_request(self, call: Call, prompt: Prompt | None) -> HTTPRequest:
        dialect = self.dialect
        op = call.operation
        body: Any = None
        method = "POST"
        endpoint: Endpoint
        if op == "chat":
            if isinstance(prompt, TextPrompt):
                endpoint = "completions"
                self.require(call, endpoint, "a templated prompt")
                options = self.validate(self.chat_options, call, "completions (templated chat)")
                body = bodies.completion_body(
                    call, options, prompt, dialect, chat_only=self.chat_only
                )
            elif isinstance(prompt, ChatPrompt):
                endpoint = "chat"
                options = self.validate(self.chat_options, call, "chat completions")
                bodies.check_messages(call, dialect)
                body = bodies.chat_body(call, options, prompt, dialect)
            else:
                raise InvalidRequestError(
                    f"{call.provider} cannot send a prompt of type {type(prompt).__name__}",
                    provider=call.provider,
                )
        elif op == "embedding":
            endpoint = "embeddings"
            self.require(call, endpoint, "embeddings")
            if not dialect.embedding_token_ids:
                require_text_input(call, accepted_by=self.token_id_hint)
            options = self.validate(self.embedding_options, call, "embeddings")
            body = bodies.embedding_body(call, options, dialect)
        elif op == "list_models":
            endpoint = "models"
            self.require(call, endpoint, "a model list")
            method = "GET"
        else:
            raise InvalidRequestError(
                f"{call.provider} does not support the {op!r} operation", provider=call.provider
            )
        path = dialect.paths[endpoint]
        return HTTPRequest(
            method=method,
            url=self.base_url(call) + path,
            headers=self.headers(call),
            json=body,
            endpoint=path,
            request_id_headers=dialect.request_id_headers,
        )

    @hookimpl
    def llmrouter_parse_response(
        self, call: Call, prompt: Prompt | None, response: HTTPResponse
    ) -> ModelResponse | EmbeddingResponse | list[ModelInfo]:
        op = call.operation
        if op == "chat":
            if isinstance(prompt, TextPrompt):
                return responses.parse_completion_as_chat(call, response, self.dialect)
            return responses.parse_chat(call, response, self.dialect)
        if op == "embedding":
            return responses.parse_embeddings(call, response, self.dialect)
        return responses.parse_models(call, response, self.dialect)

    @hookimpl
    def llmrouter_parse_stream_event(
        self, call: Call, prompt: Prompt | None, data: str, state: StreamState
    ) -> ModelResponseStream | StreamDone | None:
        return streams.parse_stream_event(call, prompt, data, state, self.dialect)

    @hookimpl
    def llmrouter_map_error(self, call: Call, response: HTTPResponse) -> LLMRouterError:
        return responses.map_error(call, response, self.dialect)
