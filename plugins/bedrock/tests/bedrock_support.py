"""Constants and small helpers shared by the Bedrock plugin's tests (imported by path: the
tests run in pytest's importlib mode)."""

from __future__ import annotations

from typing import Any

from llmrouter.pipeline import Call, ChatPrompt, HTTPRequest
from llmrouter.validation import validate_messages
from llmrouter_bedrock import plugin
from llmrouter_bedrock.options import parse_options
from llmrouter_bedrock.request import converse_body

KEY_ID = "AKIDEXAMPLE7Q3ZT5NB"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN+sQ2jF8vR0c9Lw3pZ"
REGION = "us-east-1"
MODEL_ID = "anthropic.claude-3-5-haiku-20241022-v1:0"
MODEL = "bedrock/" + MODEL_ID
HI = [{"role": "user", "content": "Hello"}]
#: A 1x1 PNG, base64.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def make_call(
    messages: list[dict[str, Any]] | None = None,
    *,
    model: str = MODEL_ID,
    stream: bool = False,
    extra_body: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
    api_base: str | None = None,
    **params: Any,
) -> Call:
    return Call(
        operation="chat",
        provider="bedrock",
        model=model,
        messages=validate_messages(messages or HI),
        params=params,
        stream=stream,
        extra_body=extra_body,
        extra_headers=extra_headers,
        api_base=api_base,
    )


def body_of(messages: list[dict[str, Any]] | None = None, **params: Any) -> dict[str, Any]:
    """The Converse body the plugin builds for ``messages`` and ``params``."""
    call = make_call(messages, **params)
    options, _ = parse_options(call.params, provider=call.provider, model=call.model)
    assert call.messages is not None
    return converse_body(call, options, call.messages)


def build(call: Call) -> HTTPRequest:
    """The plugin's whole request for ``call`` (options, credentials, region, signature)."""
    assert call.messages is not None
    request = plugin.llmrouter_build_request(call=call, prompt=ChatPrompt(call.messages))
    assert isinstance(request, HTTPRequest)
    return request
