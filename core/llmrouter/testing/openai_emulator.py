"""``OpenAIEmulator``: the emulator, OpenAI-flavoured, for OpenAI and OpenAI-compatible clients.

It is a :class:`~llmrouter.testing.TogetherEmulator` that answers in OpenAI's shapes (see
:mod:`llmrouter.testing.openai_wire`), so everything else is the same: the HTTP/1.1 server, the
request log with keys redacted, tenants (``base_url_for``), fault rules and the
``x-emulator-fault`` / ``x-emulator-tokens`` headers, stats, ``reply``/``latency`` knobs, and the
``[[emulator:tool_call]]`` marker. What differs:

- responses: no ``prompt``/``seed`` extras; ``finish_reason`` ``"stop"``; ``system_fingerprint``,
  ``message.refusal``; usage details; ``x-request-id`` header on non-streamed answers;
- streams: a role chunk, content deltas, a finish chunk per choice, and with
  ``stream_options.include_usage`` a final ``choices: []`` chunk holding the usage;
- ``/models``: ``{"object": "list", "data": [{id, object, created, owned_by}]}``;
- errors: ``{"error": {"message", "type", "param", "code"}}`` with OpenAI's codes
  (``invalid_api_key``, ``model_not_found``, ``context_length_exceeded``,
  ``rate_limit_exceeded``; ``insufficient_quota`` via a fault) and a 429 carrying
  ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``;
- JSON mode: with ``response_format`` ``json_object`` the reply is ``{"reply": "..."}``, with
  ``json_schema`` a sample instance of the schema;
- ``strict=True`` (the default) behaves like api.openai.com: unknown request fields and more than
  4 stop sequences are a 400. ``strict=False`` accepts extra fields, as vLLM and friends do;
- ``require_key=False`` accepts requests without a key (a local server);
- ``/embeddings`` takes token ids as OpenAI does (``input`` a list of ints or a list of such
  lists), where the Together emulator takes text only, as Together does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from llmrouter.testing import openai_wire as ow
from llmrouter.testing import together_wire as tw
from llmrouter.testing.emulator import (
    TogetherEmulator,
    _Call,
    _check_common,
    _format_seconds,
    _Invalid,
    _is_int,
    _Reply,
)
from llmrouter.testing.faults import Fault

__all__ = ["OpenAIEmulator"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


def _unknown_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in body:
        if name not in allowed:
            raise _Invalid(400, f"Unrecognized request argument supplied: {name}", param=name)


def _check_chat(body: Mapping[str, Any], strict: bool) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid(
            400,
            "Invalid 'messages': expected a non-empty array of message objects.",
            param="messages",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise _Invalid(
                400,
                f"Invalid value for 'messages[{i}].role': expected one of "
                f"{', '.join(sorted(_ROLES))}.",
                param=f"messages[{i}].role",
            )
        content = message.get("content")
        if content is None and not (message["role"] == "assistant" and message.get("tool_calls")):
            raise _Invalid(
                400,
                f"Invalid value for 'messages[{i}].content': expected a string or an array.",
                param=f"messages[{i}].content",
            )
        if content is not None and not isinstance(content, (str, list)):
            raise _Invalid(
                400,
                f"Invalid type for 'messages[{i}].content': expected a string or an array.",
                param=f"messages[{i}].content",
            )
        if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise _Invalid(
                400,
                f"Missing required parameter: 'messages[{i}].tool_call_id'.",
                param=f"messages[{i}].tool_call_id",
            )
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise _Invalid(400, "Invalid type for 'logprobs': expected a boolean.", param="logprobs")
    if body.get("top_logprobs") is not None and logprobs is not True:
        raise _Invalid(
            400,
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true.",
            param="top_logprobs",
        )
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not _is_int(value) or value < 1):
            raise _Invalid(400, f"Invalid '{name}': expected an integer >= 1.", param=name)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _Invalid(400, "Invalid type for 'tools': expected an array.", param="tools")
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise _Invalid(
                    400,
                    f"Missing required parameter: 'tools[{i}].function.name'.",
                    param=f"tools[{i}].function.name",
                )
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, (str, dict)) or (
            isinstance(choice, str) and choice not in ("none", "auto", "required")
        ):
            raise _Invalid(400, "Invalid value for 'tool_choice'.", param="tool_choice")
        if choice != "none" and not tools:
            raise _Invalid(
                400,
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.",
                param="tool_choice",
            )
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict)
        or response_format.get("type") not in ("text", "json_object", "json_schema")
    ):
        raise _Invalid(
            400,
            "Invalid value for 'response_format.type': expected one of text, json_object, "
            "json_schema.",
            param="response_format",
        )
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in _EFFORTS:
        raise _Invalid(400, "Invalid value for 'reasoning_effort'.", param="reasoning_effort")
    _check_stop(body, strict)


def _check_stop(body: Mapping[str, Any], strict: bool) -> None:
    stop = body.get("stop")
    if strict and isinstance(stop, list) and len(stop) > 4:
        raise _Invalid(
            400,
            f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got "
            f"an array with length {len(stop)} instead.",
            param="stop",
        )


def _token_ids(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_int(t) and t >= 0 for t in value)


def _embedding_inputs(raw: object) -> list[str] | None:
    """The inputs of an ``/embeddings`` body in OpenAI's four forms (a string, strings, token ids,
    lists of token ids), each token list as its ids joined by spaces (so the vector is stable
    and the token count is its length); ``None`` when the shape is none of them."""
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not raw:
        return None
    if all(isinstance(s, str) for s in raw):
        return list(raw)
    if _token_ids(raw):
        return [" ".join(map(str, raw))]
    if all(_token_ids(tokens) for tokens in raw):
        return [" ".join(map(str, tokens)) for tokens in raw]
    return None


class OpenAIEmulator(TogetherEmulator):
    """An OpenAI-compatible HTTP server on localhost; see the module docstring.

    Takes every :class:`TogetherEmulator` argument, plus ``strict`` (reject what api.openai.com
    rejects: unknown fields, more than 4 stops) and ``require_key`` (``False``: a request without
    a key is fine, like a local vLLM or Ollama; a key that is sent must still match ``api_key``
    when that is set). ``models`` entries given as ids are typed by name (``*embed*``:
    embeddings; ``gpt-3.5-turbo-instruct``, ``davinci-002``, ``babbage-002``: ``/completions``
    only; anything else: chat).
    """

    default_reply = "This is a deterministic reply from the OpenAI emulator."
    _default_error = staticmethod(ow.default_error)

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        strict: bool = True,
        require_key: bool = True,
        api_key: str | None = None,
        models: Sequence[str | Mapping[str, Any]] | None = None,
        reply: str | Callable[[dict[str, Any]], str] | None = None,
        latency: float = 0.0,
        reply_tokens: int | None = None,
        embedding_dim: int = 8,
        record: bool = True,
        log_limit: int | None = 10_000,
    ) -> None:
        self.strict = strict
        self.require_key = require_key
        super().__init__(
            host,
            port,
            api_key=api_key,
            models=ow.DEFAULT_MODELS if models is None else models,
            reply=reply,
            latency=latency,
            reply_tokens=reply_tokens,
            embedding_dim=embedding_dim,
            record=record,
            log_limit=log_limit,
        )

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.port is not None else "not started"
        return f"<OpenAIEmulator {where}>"

    # -- models ----------------------------------------------------------------------------

    def set_models(self, models: Sequence[str | Mapping[str, Any]]) -> None:
        """Replace the catalogue; ids get an OpenAI-style entry typed by name."""
        entries: list[Mapping[str, Any]] = []
        for item in models:
            if isinstance(item, str):
                entries.append(ow.model_entry(item, ow.guess_type(item)))
            else:
                entry = dict(item)
                entry.setdefault("owned_by", "system")
                entries.append(entry)
        super().set_models(entries)

    def add_model(
        self, model_id: str, type: str = "chat", *, context_length: int = 8192, **extra: Any
    ) -> None:
        entry = ow.model_entry(model_id, type, context_length=context_length)
        entry.update(extra)
        self.set_models([*self.models, entry])

    def _model(self, body: Mapping[str, Any], *, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Invalid(400, "you must provide a model parameter", param="model")
        entry = self._models.get(model.lower())
        if entry is None:
            raise _Invalid(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        if allowed is not None and entry.get("type") not in allowed:
            raise _Invalid(
                404,
                f"This model ({entry['id']}) is not supported by this endpoint.",
                param="model",
            )
        return entry

    # -- auth, errors ----------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        if not header:
            return not self.require_key
        return super()._authorised(header)

    def _error(
        self,
        call: _Call,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> _Reply:
        body = ow.error_body(message, type_, code, param)
        request_id = ow.new_id("req_", 32)
        self._send(call, status, tw.dumps(body).encode(), (*headers, ("x-request-id", request_id)))
        return None

    def _fault_status(self, call: _Call, fault: Fault) -> _Reply:
        status = fault.status
        assert status is not None
        message, type_, code = self._default_error(status)
        if fault.code == "insufficient_quota":
            message, type_ = _QUOTA_MESSAGE, "insufficient_quota"
        headers: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            headers.append(("retry-after", _format_seconds(fault.retry_after)))
        if fault.retry_after_ms is not None:
            headers.append(("retry-after-ms", str(fault.retry_after_ms)))
        if status == 429 or fault.ratelimit_limit is not None:
            reset = fault.ratelimit_reset
            if reset is None:
                reset = fault.retry_after if fault.retry_after is not None else 1.0
            # the limit that was hit is the requests one, unless the error type says tokens
            hit = "tokens" if (fault.type or type_) == "tokens" else "requests"
            other = "requests" if hit == "tokens" else "tokens"
            limit = fault.ratelimit_limit or (500 if hit == "requests" else 200_000)
            headers += [
                (f"x-ratelimit-limit-{hit}", str(limit)),
                (f"x-ratelimit-remaining-{hit}", str(fault.ratelimit_remaining or 0)),
                (f"x-ratelimit-reset-{hit}", ow.go_duration(reset)),
                (f"x-ratelimit-limit-{other}", "200000" if other == "tokens" else "500"),
                (f"x-ratelimit-remaining-{other}", "199000" if other == "tokens" else "499"),
                (f"x-ratelimit-reset-{other}", "300ms"),
            ]
        return self._error(
            call,
            status,
            fault.message if fault.message is not None else message,
            type_=fault.type if fault.type is not None else type_,
            code=fault.code if fault.code is not None else code,
            param=fault.param,
            headers=headers,
        )

    @staticmethod
    def _check_context(
        entry: Mapping[str, Any], body: Mapping[str, Any], prompt_tokens: int
    ) -> None:
        context = entry.get("context_length")
        wanted = body.get("max_completion_tokens", body.get("max_tokens"))
        wanted = wanted if _is_int(wanted) else 0
        if _is_int(context) and prompt_tokens + wanted > context:
            raise _Invalid(
                400,
                f"This model's maximum context length is {context} tokens. However, you "
                f"requested {prompt_tokens + wanted} tokens ({prompt_tokens} in the messages, "
                f"{wanted} in the completion). Please reduce the length of the messages or "
                "completion.",
                code="context_length_exceeded",
                param="messages",
            )

    # -- replies ---------------------------------------------------------------------------

    def _reply_tokens(self, call: _Call, body: Mapping[str, Any]) -> list[str]:
        tokens = super()._reply_tokens(call, body)
        as_json = ow.json_reply(body, "".join(tokens))
        return tw.split_tokens(as_json) if as_json is not None else tokens

    def _finish(self, call: _Call, body: Mapping[str, Any]) -> tuple[list[str], str]:
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        tokens, finish = self._limit(self._reply_tokens(call, body), {**body, "max_tokens": limit})
        return tokens, "stop" if finish == "eos" else finish

    def _send_json(self, call: _Call, response: Mapping[str, Any]) -> None:
        headers = (("x-request-id", ow.new_id("req_", 32)),)
        self._send(call, 200, tw.dumps(response).encode(), headers)

    def _encoder(self, kind: str, body: Mapping[str, Any], model: str) -> ow.OpenAIStreamEncoder:
        options = body.get("stream_options")
        include = isinstance(options, dict) and options.get("include_usage") is True
        prefix = "chatcmpl-" if kind == "chat" else "cmpl-"
        return ow.OpenAIStreamEncoder(
            kind=kind,
            request_id=ow.new_id(prefix),
            created=tw.now(),
            model=model,
            include_usage=include,
        )

    # -- endpoints -------------------------------------------------------------------------

    def _chat(self, call: _Call) -> _Reply:
        body = call.body
        if self.strict:
            _unknown_fields(body, ow.CHAT_FIELDS)
        _check_chat(body, self.strict)
        _check_common(body)
        entry = self._model(body, allowed=("chat",))
        prompt_tokens = tw.count_prompt_tokens(body)
        self._check_context(entry, body, prompt_tokens)
        tool_calls = self._tool_calls(body)
        n = body.get("n") or 1
        if tool_calls:
            for tool_call in tool_calls:
                tool_call["id"] = ow.new_id("call_", 24)
            tokens, finish = tw.split_tokens(tool_calls[0]["function"]["arguments"]), "tool_calls"
        else:
            tokens, finish = self._finish(call, body)
        usage_data = ow.usage(prompt_tokens, len(tokens) * n)
        model = str(entry["id"])
        if call.fault.malformed and body.get("stream") is not True:
            return self._malformed(call)
        if body.get("stream") is True:
            encoder = self._encoder("chat", body, model)
            return self._stream(call, encoder, tokens, n, finish, 0, usage_data, tool_calls)
        top = body.get("top_logprobs") or 0
        response = ow.chat_response(
            request_id=ow.new_id("chatcmpl-"),
            created=tw.now(),
            model=model,
            contents=["".join(tokens)] * n,
            finish_reason=finish,
            usage_data=usage_data,
            tool_calls=tool_calls,
            logprobs=ow.chat_logprobs(tokens, top) if body.get("logprobs") is True else None,
            service_tier=body.get("service_tier") or "default",
        )
        self._send_json(call, response)
        return None

    def _completion(self, call: _Call) -> _Reply:
        body = call.body
        if self.strict:
            _unknown_fields(body, ow.COMPLETION_FIELDS)
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise _Invalid(400, "Invalid 'prompt': expected a string.", param="prompt")
        _check_common(body)
        _check_stop(body, self.strict)
        entry = self._model(
            body, allowed=("language", "chat") if not self.strict else ("language",)
        )
        prompt_tokens = tw.count_prompt_tokens(body)
        self._check_context(entry, body, prompt_tokens)
        n = body.get("n") or 1
        tokens, finish = self._finish(call, body)
        usage_data = ow.usage(prompt_tokens, len(tokens) * n)
        model = str(entry["id"])
        if call.fault.malformed and body.get("stream") is not True:
            return self._malformed(call)
        if body.get("stream") is True:
            encoder = self._encoder("completion", body, model)
            return self._stream(call, encoder, tokens, n, finish, 0, usage_data, None)
        logprobs = body.get("logprobs")
        text = "".join(tokens)
        response = ow.completion_response(
            request_id=ow.new_id("cmpl-"),
            created=tw.now(),
            model=model,
            texts=[prompt + text if body.get("echo") is True else text] * n,
            finish_reason=finish,
            usage_data=usage_data,
            logprobs=ow.completion_logprobs(tokens, logprobs) if _is_int(logprobs) else None,
        )
        self._send_json(call, response)
        return None

    def _embeddings(self, call: _Call) -> _Reply:
        body = call.body
        if self.strict:
            _unknown_fields(body, ow.EMBEDDING_FIELDS)
        entry = self._model(body, allowed=("embedding",))
        inputs = _embedding_inputs(body.get("input"))
        if inputs is None:
            raise _Invalid(
                400,
                "Invalid 'input': expected a string, an array of strings, an array of token "
                "ids or an array of token-id arrays.",
                param="input",
            )
        dimensions = body.get("dimensions")
        if dimensions is not None and (not _is_int(dimensions) or dimensions < 1):
            raise _Invalid(
                400, "Invalid 'dimensions': expected an integer >= 1.", param="dimensions"
            )
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise _Invalid(
                400,
                "Invalid 'encoding_format': expected 'float' or 'base64'.",
                param="encoding_format",
            )
        if call.fault.malformed:
            return self._malformed(call)
        response = ow.embedding_response(
            model=str(entry["id"]),
            inputs=inputs,
            dim=dimensions or self.embedding_dim,
            base64_floats=encoding == "base64",
        )
        self._send_json(call, response)
        return None

    def _list_models(self, call: _Call) -> _Reply:
        if call.fault.malformed:
            return self._malformed(call)
        self._send_json(call, ow.models_body(self.models))
        return None

    # -- streaming -------------------------------------------------------------------------

    def _stream_events(
        self,
        encoder: tw.StreamEncoder,
        tokens: list[str],
        n: int,
        finish: str,
        seed: int,
        usage_data: Mapping[str, Any],
        tool_calls: list[dict[str, Any]] | None,
    ) -> Iterator[bytes]:
        assert isinstance(encoder, ow.OpenAIStreamEncoder)
        if tool_calls:
            yield from encoder.tool_events(tool_calls)
            yield encoder.finish_event(finish)
        else:
            if encoder.kind == "chat":
                for index in range(n):
                    yield encoder.role_event(index)
            content_event = encoder.content_event
            for token in tokens:
                for index in range(n):
                    yield content_event(token, index)
            for index in range(n):
                yield encoder.finish_event(finish, index)
        if encoder.include_usage:
            yield encoder.usage_event(usage_data)
