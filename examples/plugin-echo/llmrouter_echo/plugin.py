"""The ``echo`` provider for llmrouter: hook implementations for the Echo API.

Installed, this module is registered through the ``llmrouter.providers`` entry point under the
name ``echo``, so ``llmrouter.completion(model="echo/parrot", ...)`` reaches it; the core imports
it on the first such call, never before. It uses llmrouter's public API only.

Every hook is a pure, synchronous data transform: llmrouter does the I/O (sync or async, retries,
timeouts) and calls these functions on either side of it. The core calls them only for ``echo/``
models, so no hook ever asks "is this call mine?".
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmrouter import hookimpl
from llmrouter.errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    ContextWindowExceededError,
    InvalidRequestError,
    LLMRouterError,
    NotFoundError,
    RateLimitError,
    StreamError,
    status_error_class,
)
from llmrouter.pipeline import (
    STREAM_DONE,
    Call,
    ChatPrompt,
    HTTPRequest,
    HTTPResponse,
    Prompt,
    StreamDone,
    StreamState,
    TextPrompt,
)
from llmrouter.provider import auth_headers, parse_retry_after, resolve_api_base, resolve_api_key
from llmrouter.templates import explicit_template
from llmrouter.types import (
    Choice,
    Delta,
    Message,
    ModelInfo,
    ModelResponse,
    ModelResponseStream,
    StreamChoice,
    Usage,
)
from llmrouter.validation import validate_options

# --8<-- [start:settings]
PROVIDER = "echo"
#: Where the Echo API listens when neither ``api_base=`` nor ``ECHO_API_BASE`` says otherwise.
DEFAULT_API_BASE = "http://127.0.0.1:8642/v1"
#: The key is optional (a local Echo server needs none); the first non-empty variable wins.
API_KEY_ENV = ("ECHO_API_KEY",)
API_BASE_ENV = ("ECHO_API_BASE",)
# --8<-- [end:settings]


# --8<-- [start:options]
class EchoOptions(BaseModel):
    """Every option ``completion(model="echo/...", **options)`` accepts; anything else is an
    error that lists these (and the ``extra_body`` escape hatch) before a request is sent."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    max_tokens: int | None = Field(None, ge=1, description="At most this many words (max_words).")
    repeat: int | None = Field(None, ge=1, le=5, description="Echo the text this many times.")


# --8<-- [end:options]


# --8<-- [start:format_prompt]
@hookimpl
def llmrouter_format_prompt(call: Call) -> Prompt:
    """Chat messages go as turns, unless the caller chose a prompt template: then as text."""
    assert call.messages is not None
    template = explicit_template(call.model, call.prompt_template)
    if template is None:
        return ChatPrompt(call.messages)
    return TextPrompt(template.render(call.messages), template=template.name)


# --8<-- [end:format_prompt]


# --8<-- [start:build_request]
_SPEAKERS = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def _turns(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    turns = []
    for i, message in enumerate(messages):
        speaker = _SPEAKERS.get(message["role"])
        if speaker is None:
            raise InvalidRequestError(
                f"messages[{i}]: the echo provider has no {message['role']!r} role "
                f"(it knows {', '.join(_SPEAKERS)})",
                param=f"messages[{i}].role",
                provider=PROVIDER,
            )
        content = message.get("content") or ""
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if p.get("type") == "text")
        turns.append({"speaker": speaker, "text": content})
    return turns


def _echo_body(call: Call, prompt: Prompt | None) -> dict[str, Any]:
    """The JSON body of ``POST /echo``: validated options, renamed the Echo API's way."""
    options = validate_options(EchoOptions, call.params, provider=PROVIDER, what="chat completions")
    body: dict[str, Any] = {"voice": call.model}
    if isinstance(prompt, TextPrompt):
        body["text"] = prompt.text
    else:
        assert isinstance(prompt, ChatPrompt)
        body["turns"] = _turns(prompt.messages)
    if options.max_tokens is not None:
        body["max_words"] = options.max_tokens  # OpenAI's name -> the Echo API's
    if options.repeat is not None:
        body["repeat"] = options.repeat
    if call.stream:
        body["stream"] = True
    body.update(call.extra_body or {})  # the caller's escape hatch, sent as given
    return body


@hookimpl
def llmrouter_build_request(call: Call, prompt: Prompt | None) -> HTTPRequest:
    body: dict[str, Any] | None
    if call.operation == "chat":
        endpoint, method, body = "/echo", "POST", _echo_body(call, prompt)
    elif call.operation == "list_models":
        endpoint, method, body = "/voices", "GET", None
    else:
        raise InvalidRequestError(
            f"the echo provider does not support {call.operation}", provider=PROVIDER
        )
    key = resolve_api_key(call, API_KEY_ENV, required=False)
    base = resolve_api_base(call, API_BASE_ENV, DEFAULT_API_BASE, ensure_suffix="/v1")
    return HTTPRequest(
        method=method,
        url=base + endpoint,
        headers=auth_headers(key, call.extra_headers),
        json=body,
        endpoint=endpoint,
    )


# --8<-- [end:build_request]


# --8<-- [start:parse_response]
#: The Echo API's ``ended`` -> OpenAI's ``finish_reason``.
FINISH_REASONS = {"complete": "stop", "max_words": "length"}


def _unreadable(call: Call, what: str, detail: object) -> APIError:
    return APIError(
        f"echo sent a {what} that llmrouter cannot read: {detail}",
        provider=PROVIDER,
        model=call.model,
    )


def _usage(payload: dict[str, Any]) -> Usage:
    words_in, words_out = int(payload["words_in"]), int(payload["words_out"])
    return Usage(
        prompt_tokens=words_in, completion_tokens=words_out, total_tokens=words_in + words_out
    )


@hookimpl
def llmrouter_parse_response(call: Call, prompt: Prompt | None, response: HTTPResponse) -> Any:
    try:
        payload = response.json()
        if call.operation == "list_models":
            return [
                ModelInfo(id=v["name"], owned_by=PROVIDER, description=v.get("description"))
                for v in payload["voices"]
            ]
        return ModelResponse(
            id=payload["echo_id"],
            created=int(payload["created_at"]),
            model=payload["voice"],
            choices=[
                Choice(
                    message=Message(content=payload["text"]),
                    finish_reason=FINISH_REASONS.get(payload["ended"], payload["ended"]),
                )
            ],
            usage=_usage(payload),
        )
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise _unreadable(call, "response", exc) from None


# --8<-- [end:parse_response]


# --8<-- [start:parse_stream_event]
@hookimpl
def llmrouter_parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    if data == "[END]":
        return STREAM_DONE
    try:
        event = json.loads(data)
        kind = event["type"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _unreadable(call, "stream event", exc) from None
    if state.response_id is None:  # one id for every chunk of the stream, like OpenAI's
        state.response_id = f"echo-stream-{id(state):x}"
    if kind == "word":
        delta = Delta(role="assistant" if state.chunks == 0 else None, content=event["text"])
        choice = StreamChoice(delta=delta)
        return ModelResponseStream(id=state.response_id, model=call.model, choices=[choice])
    if kind == "end":
        ended = event.get("ended")
        choice = StreamChoice(delta=Delta(), finish_reason=FINISH_REASONS.get(ended, ended))
        return ModelResponseStream(
            id=state.response_id, model=call.model, choices=[choice], usage=_usage(event)
        )
    if kind == "problem":  # an error inside the stream is an error, never a short answer
        raise _problem_error(call, int(event.get("status") or 0), {}, event)
    return None  # an event type this plugin does not know yet: skip it


# --8<-- [end:parse_stream_event]


# --8<-- [start:map_error]
#: The Echo API's structured ``problem.kind`` -> a more precise class within the status family.
PROBLEM_CLASSES: dict[str, type[APIStatusError]] = {
    "too_many_words": ContextWindowExceededError,
    "unknown_voice": NotFoundError,
    "unauthorized": AuthenticationError,
    "slow_down": RateLimitError,
}


def _problem_error(
    call: Call, status: int, headers: Any, body: Any, request_id: str | None = None
) -> LLMRouterError:
    problem = body.get("problem") if isinstance(body, dict) else None
    if not isinstance(problem, dict):
        problem = {"kind": None, "detail": str(body)[:200]}
    kind, detail = problem.get("kind"), problem.get("detail")
    if not status:
        return StreamError(f"echo reported a problem: {detail}", provider=PROVIDER, body=body)
    cls = status_error_class(status)  # first by HTTP status...
    refined = PROBLEM_CLASSES.get(str(kind))
    if refined is not None and issubclass(refined, cls):
        cls = refined  # ...then by the structured kind, never by the message text
    kwargs: dict[str, Any] = {}
    if issubclass(cls, RateLimitError):
        kwargs["retry_after"] = parse_retry_after(headers)
    return cls(
        f"echo returned HTTP {status}: {detail} (kind={kind})",
        provider=PROVIDER,
        model=call.model,
        status_code=status,
        request_id=request_id,
        body=body,
        headers=headers,
        code=kind,
        **kwargs,
    )


@hookimpl
def llmrouter_map_error(call: Call, response: HTTPResponse) -> LLMRouterError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.content.decode("utf-8", "replace")[:500]
    return _problem_error(call, response.status_code, response.headers, body, response.request_id)


# --8<-- [end:map_error]
