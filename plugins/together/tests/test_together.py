"""The Together plugin end to end against the emulator: keys, base URLs, options, templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

import llmrouter
from llmrouter.testing import Fault, TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello, whats the weather in San Francisco??"}]
OASST = "OpenAssistant/llama2-70b-oasst-sft-v10"


def test_missing_key_raises_before_any_request(
    emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHERAI_API_KEY", "")  # the tutorial sets an empty key first
    with pytest.raises(llmrouter.MissingAPIKeyError) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=emu.base_url)
    text = str(info.value)
    for name in ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_TOKEN"):
        assert name in text
    assert emu.requests == []
    with pytest.raises(llmrouter.MissingAPIKeyError, match="empty"):
        llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=emu.base_url, api_key="  ")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TOGETHERAI_API_KEY": "k1", "TOGETHER_API_KEY": "k2", "TOGETHER_AI_TOKEN": "k3"}, "k1"),
        ({"TOGETHER_API_KEY": "k2", "TOGETHER_AI_TOKEN": "k3"}, "k2"),
        ({"TOGETHERAI_API_KEY": "", "TOGETHER_AI_TOKEN": "k3"}, "k3"),
    ],
)
def test_key_order(
    emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=emu.base_url)
    assert emu.requests[-1].key_matches(expected)


def test_api_key_argument_wins(emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHERAI_API_KEY", "from-env-aaaa")
    llmrouter.completion(
        model=MODEL, messages=MESSAGES, api_base=emu.base_url, api_key="from-arg-bbbb"
    )
    assert emu.requests[-1].key_matches("from-arg-bbbb")


@pytest.mark.parametrize("var", ["TOGETHERAI_API_BASE", "TOGETHER_BASE_URL"])
@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
def test_base_url_from_env_with_or_without_v1(
    emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch, var: str, suffix: str
) -> None:
    monkeypatch.setenv(var, emu.url.rstrip("/") + suffix)
    llmrouter.completion(model=MODEL, messages=MESSAGES, api_key="k")
    assert emu.requests[-1].path == "/v1/chat/completions"


def test_tutorial_streaming_with_legacy_flag(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    with pytest.warns(DeprecationWarning, match="together_ai"):
        response = llmrouter.completion(
            model="together_ai/togethercomputer/llama-2-70b-chat",
            messages=MESSAGES,
            together_ai=True,
            stream=True,
            **where,
        )
        deltas = [chunk["choices"][0]["delta"] for chunk in response]
    assert deltas and "together_ai" not in emu.requests[-1].body
    # Chat models go to the chat endpoint as-is: Together applies the official template.
    assert emu.requests[-1].path == "/v1/chat/completions"
    assert emu.requests[-1].body["messages"] == MESSAGES


def test_tutorial_custom_template_sends_exact_prompt(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    llmrouter.register_prompt_template(
        model=OASST,
        roles={
            "system": "<|im_start|>system",
            "assistant": "<|im_start|>assistant",
            "user": "<|im_start|>user",
        },
        pre_message_sep="\n",
        post_message_sep="\n",
    )
    try:
        messages = [{"role": "user", "content": "Write me a poem about the blue sky"}]
        r = llmrouter.completion(model=f"together_ai/{OASST}", messages=messages, **where)
        sent = emu.requests[-1]
        assert sent.path == "/v1/completions"
        assert sent.body["prompt"] == "<|im_start|>user\nWrite me a poem about the blue sky\n"
        assert r.choices[0].message.content and r.object == "chat.completion"
        assert r.llmrouter.endpoint == "/completions" and r.llmrouter.prompt == sent.body["prompt"]
        chunks = list(
            llmrouter.completion(
                model=f"together_ai/{OASST}", messages=messages, stream=True, **where
            )
        )
        assert emu.requests[-1].path == "/v1/completions"
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finally:
        llmrouter.unregister_prompt_template(OASST)


def test_prompt_template_per_call(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    llmrouter.completion(
        model="together_ai/togethercomputer/llama-2-70b-chat",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        prompt_template="llama-2",
        **where,
    )
    sent = emu.requests[-1]
    assert sent.path == "/v1/completions"
    assert sent.body["prompt"] == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]"
    assert "</s>" in sent.body["stop"]


def test_unknown_template_name_is_a_template_error(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    with pytest.raises(llmrouter.PromptTemplateError):
        llmrouter.completion(
            model=MODEL, messages=MESSAGES, prompt_template="no-such-template", **where
        )
    assert emu.requests == []


def test_tool_calls_come_back_openai_shaped(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    r = llmrouter.completion(
        model=MODEL,
        messages=MESSAGES,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        **where,
    )
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.type == "function" and call.id
    assert r.choices[0].finish_reason == "tool_calls"
    # the forced choice went out as OpenAI's object, as Together's docs and SDK send it
    sent = emu.requests[-1].body["tool_choice"]
    assert sent == {"type": "function", "function": {"name": "get_weather"}}


def test_streamed_tool_call_is_named_once(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    """The emulator streams tool calls in the spec's shape (id, type and name in every piece);
    llmrouter hands them on in OpenAI's (named in the first piece only), so OpenAI's own stream
    accumulator, which joins string fields, rebuilds the call correctly."""
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    stream = llmrouter.completion(
        model=MODEL, messages=MESSAGES, tools=tools, tool_choice="required", stream=True, **where
    )
    state = ChatCompletionStreamState()
    pieces = []
    for chunk in stream:
        pieces.extend(chunk.choices[0].delta.tool_calls or [])
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk.model_dump(exclude_unset=True)))
    assert len(pieces) > 2
    assert [p.function.name for p in pieces] == ["get_weather"] + [None] * (len(pieces) - 1)
    assert [p.id is not None for p in pieces] == [True] + [False] * (len(pieces) - 1)
    (joined,) = state.get_final_completion().choices[0].message.tool_calls or []
    assert joined.function.name == "get_weather" and joined.id == pieces[0].id
    assert json.loads(joined.function.arguments) == {"city": "example city"}


def test_json_mode_gets_json_text(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    r = llmrouter.completion(
        model=MODEL, messages=MESSAGES, response_format={"type": "json_object"}, **where
    )
    assert set(json.loads(r.choices[0].message.content)) == {"reply"}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, llmrouter.AuthenticationError),
        (402, llmrouter.PaymentRequiredError),
        (403, llmrouter.PermissionDeniedError),
        (404, llmrouter.NotFoundError),
        (422, llmrouter.UnprocessableEntityError),
        (429, llmrouter.RateLimitError),
        (500, llmrouter.InternalServerError),
        (503, llmrouter.ServiceUnavailableError),
        (504, llmrouter.GatewayTimeoutError),
        (524, llmrouter.GatewayTimeoutError),
        (529, llmrouter.ServiceUnavailableError),
    ],
)
def test_status_mapping_over_the_wire(
    emu: TogetherEmulator, where: dict[str, Any], status: int, cls: type
) -> None:
    emu.add_fault(Fault(status=status), times=1)
    with pytest.raises(cls) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, **where)
    assert type(info.value) is cls and info.value.status_code == status


def test_unknown_model_is_not_found(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    with pytest.raises(llmrouter.NotFoundError) as info:
        llmrouter.completion(model="together_ai/nobody/no-such-model", messages=MESSAGES, **where)
    assert info.value.code == "model_not_available"
