"""Each provider's documented option set, validated before any request is sent."""

from __future__ import annotations

from typing import Any

import pytest

import llmrouter
from llmrouter.pipeline import Call, ChatPrompt, HTTPRequest
from llmrouter.secrets import Secret
from llmrouter_openai import providers
from llmrouter_openai.options import KNOWN_OPTIONS, ChatOptions, EmbeddingOptions
from llmrouter_openai.presets import PRESETS

MESSAGES = [{"role": "user", "content": "Hello"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def build(name: str, *, stream: bool = False, **params: Any) -> HTTPRequest:
    extra_body = params.pop("extra_body", None)
    call = Call(
        operation="chat",
        provider=name,
        model="m",
        messages=MESSAGES,
        params=params,
        stream=stream,
        api_key=Secret("k-12345678"),
        api_base="http://127.0.0.1:9/v1",
        extra_body=extra_body,
    )
    plugin = getattr(providers, name)
    request: HTTPRequest = plugin.llmrouter_build_request(call, ChatPrompt(MESSAGES))
    return request


def body(name: str, **params: Any) -> dict[str, Any]:
    sent = build(name, **params).json
    assert isinstance(sent, dict)
    return sent


def rejected(name: str, **params: Any) -> llmrouter.InvalidRequestError:
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        build(name, **params)
    return info.value


# --- OpenAI's own set -----------------------------------------------------------------------------

GOOD_OPENAI: list[dict[str, Any]] = [
    {"temperature": 0},
    {"temperature": 2.0, "top_p": 1},
    {"n": 128, "seed": 7},
    {"stop": "END"},
    {"stop": ["a", "b", "c", "d"]},
    {"presence_penalty": -2.0, "frequency_penalty": 2},
    {"logit_bias": {"50256": -100, "13": 5.5}},
    {"logprobs": True, "top_logprobs": 20},
    {"top_logprobs": 0},
    {"response_format": {"type": "json_object"}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
    {"tools": TOOLS, "tool_choice": "required", "parallel_tool_calls": False},
    {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    {"tool_choice": "none"},
    {"user": "u1", "service_tier": "flex", "reasoning_effort": "minimal", "verbosity": "low"},
    {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}},
    {"store": True, "prompt_cache_key": "k", "safety_identifier": "h"},
    {"prediction": {"type": "content", "content": "x"}, "web_search_options": {}},
    {"max_completion_tokens": 5},
]

BAD_OPENAI: list[tuple[dict[str, Any], str]] = [
    ({"temperature": 2.1}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": "0.5"}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"n": 0}, "n"),
    ({"n": 129}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
    ({"stop": ""}, "non-empty"),
    ({"stop": ["ok", ""]}, "non-empty"),
    ({"presence_penalty": 2.5}, "presence_penalty"),
    ({"logit_bias": {"50256": -101}}, "-100..100"),
    ({"logit_bias": {"hello": 1}}, "token ids"),
    ({"logprobs": 3}, "logprobs"),
    ({"top_logprobs": 21}, "top_logprobs"),
    ({"logprobs": False, "top_logprobs": 2}, "logprobs=True"),
    ({"response_format": {"type": "yaml"}}, "response_format"),
    ({"response_format": {"type": "json_schema"}}, "json_schema"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0]"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "custom tools"),
    ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "1-64"),
    ({"tool_choice": "always"}, "tool_choice"),
    ({"tool_choice": "required"}, "needs tools"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "nope"),
    ({"max_tokens": 5, "max_completion_tokens": 5}, "not both"),
    ({"service_tier": "turbo"}, "service_tier"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"modalities": ["video"]}, "modalities"),
]


@pytest.mark.parametrize("params", GOOD_OPENAI)
def test_openai_accepts(params: dict[str, Any]) -> None:
    """Each accepted option reaches the body under its own name with the value given (a float
    given as an int is sent as that number), next to the model and the messages."""
    sent = body("openai", **params)
    for name, value in params.items():
        assert name in sent, f"{name} was accepted but not sent"
        assert sent[name] == value and type(sent[name]) in (type(value), float), name
    assert sent["model"] == "m" and sent["messages"] == MESSAGES
    added = {k: v for k, v in sent.items() if k not in params and k not in ("model", "messages")}
    # the one option the plugin adds: top_logprobs alone implies logprobs=True (OpenAI rejects
    # top_logprobs without it)
    implied = {"logprobs": True} if "top_logprobs" in params and "logprobs" not in params else {}
    assert added == implied


@pytest.mark.parametrize(("params", "needle"), BAD_OPENAI)
def test_openai_rejects(params: dict[str, Any], needle: str) -> None:
    assert needle in str(rejected("openai", **params))


def test_unknown_option_lists_the_supported_ones_and_the_escape_hatch() -> None:
    error = rejected("openai", temprature=0.5)
    text = str(error)
    assert "'temprature'" in text and "Supported:" in text and "temperature" in text
    assert "extra_body" in text and error.param == "temprature"


def test_family_option_not_supported_here_says_so() -> None:
    error = rejected("openai", top_k=40)
    assert "does not support" in str(error) and "'top_k'" in str(error)
    assert error.param == "top_k"


def test_extra_body_is_the_escape_hatch() -> None:
    sent = body("openai", extra_body={"top_k": 40, "metadata": {"run": "1"}})
    assert sent["top_k"] == 40 and sent["metadata"] == {"run": "1"}
    with pytest.raises(llmrouter.InvalidRequestError, match="extra_body"):
        build("openai", extra_body={"model": "other"})


def test_openai_sends_max_tokens_as_max_completion_tokens() -> None:
    sent = body("openai", max_tokens=7)
    assert sent["max_completion_tokens"] == 7 and "max_tokens" not in sent


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "openai"])
def test_others_send_max_tokens_as_given(name: str) -> None:
    assert body(name, max_tokens=7)["max_tokens"] == 7


def test_top_logprobs_implies_logprobs() -> None:
    sent = body("openai", top_logprobs=3)
    assert sent["logprobs"] is True and sent["top_logprobs"] == 3


def test_stream_asks_for_usage_and_keeps_other_stream_options() -> None:
    sent = build("openai", stream=True, stream_options={"include_obfuscation": False}).json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}


def test_explicit_include_usage_false_is_honoured() -> None:
    sent = build("openai_compatible", stream=True, stream_options={"include_usage": False}).json
    assert sent["stream_options"] == {"include_usage": False}


def test_stream_options_dropped_without_stream() -> None:
    sent = body("openai", stream_options={"include_usage": True})
    assert "stream_options" not in sent and "stream" not in sent


def test_body_has_only_what_was_given() -> None:
    assert body("openai", temperature=0.2) == {
        "model": "m",
        "messages": MESSAGES,
        "temperature": 0.2,
    }


# --- presets: removed, bounded and added options --------------------------------------------------

#: (provider, options it must refuse as "not supported")
UNSUPPORTED = [
    ("groq", {"logprobs": True}),
    ("groq", {"top_logprobs": 2}),
    ("groq", {"logit_bias": {"1": 1}}),
    ("groq", {"store": True}),
    ("ollama", {"tool_choice": "auto"}),
    ("ollama", {"logit_bias": {"1": 1}}),
    ("ollama", {"user": "u"}),
    ("ollama", {"n": 2}),
    ("ollama", {"top_k": 40}),
    ("ollama", {"max_completion_tokens": 5}),
    ("openai_compatible", {"service_tier": "auto"}),
    ("openai_compatible", {"store": True}),
    ("deepinfra", {"modalities": ["text"]}),
    ("fireworks_ai", {"web_search_options": {}}),
    ("openrouter", {"prediction": {"type": "content", "content": "x"}}),
    ("openai", {"repetition_penalty": 1.1}),
    ("openai", {"transforms": ["middle-out"]}),
]


@pytest.mark.parametrize(("name", "params"), UNSUPPORTED)
def test_unsupported_options_are_refused_by_name(name: str, params: dict[str, Any]) -> None:
    error = rejected(name, **params)
    assert "does not support" in str(error)
    assert next(iter(params)) in str(error)


def test_groq_n_must_be_one() -> None:
    build("groq", n=1)
    assert "n" in str(rejected("groq", n=2))


def test_groq_rejects_message_names() -> None:
    call = Call(
        operation="chat",
        provider="groq",
        model="m",
        messages=[{"role": "user", "content": "hi", "name": "bob"}],
        api_key=Secret("gsk-12345678"),
    )
    with pytest.raises(llmrouter.InvalidRequestError, match="name"):
        providers.groq.llmrouter_build_request(call, ChatPrompt(call.messages or []))


#: (provider, options it adds to OpenAI's set)
ADDED = [
    ("openai_compatible", {"top_k": -1, "min_p": 0.05, "repetition_penalty": 1.1}),
    ("openai_compatible", {"min_tokens": 2, "ignore_eos": True}),
    ("openai_compatible", {"chat_template_kwargs": {"enable_thinking": False}}),
    ("openai_compatible", {"stop": ["1", "2", "3", "4", "5", "6"]}),
    ("groq", {"reasoning_format": "parsed", "include_reasoning": False}),
    ("groq", {"service_tier": "on_demand", "reasoning_effort": "default"}),
    ("fireworks_ai", {"top_k": 40, "mirostat_target": 3.0, "mirostat_lr": 0.1}),
    ("fireworks_ai", {"context_length_exceeded_behavior": "truncate"}),
    ("deepinfra", {"top_k": 40, "min_p": 0.1, "repetition_penalty": 1.2}),
    ("openrouter", {"top_k": 0, "top_a": 0.5, "transforms": ["middle-out"]}),
    ("openrouter", {"models": ["a/b", "c/d"], "route": "fallback"}),
    ("openrouter", {"provider": {"order": ["x"]}, "reasoning": {"effort": "low"}}),
    ("openrouter", {"usage": {"include": True}}),
    ("ollama", {"reasoning_effort": "none", "reasoning": {"effort": "low"}}),
    ("ollama", {"logprobs": True, "top_logprobs": 2, "seed": 1, "stop": ["x"] * 6}),
]


@pytest.mark.parametrize(("name", "params"), ADDED)
def test_preset_options_are_sent(name: str, params: dict[str, Any]) -> None:
    sent = body(name, **params)
    for key, value in params.items():
        assert sent[key] == value


BAD_ADDED = [
    ("openai_compatible", {"top_k": -2}),
    ("openai_compatible", {"min_p": 1.5}),
    ("openai_compatible", {"repetition_penalty": 0}),
    ("groq", {"service_tier": "flex-ish"}),
    ("groq", {"reasoning_effort": "minimal"}),
    ("groq", {"stop": ["1", "2", "3", "4", "5"]}),
    ("openrouter", {"route": "cheapest"}),
    ("openrouter", {"top_k": -1}),
    ("fireworks_ai", {"context_length_exceeded_behavior": "ignore"}),
    ("ollama", {"reasoning_effort": "minimal"}),
]


@pytest.mark.parametrize(("name", "params"), BAD_ADDED)
def test_preset_bounds(name: str, params: dict[str, Any]) -> None:
    error = rejected(name, **params)
    assert next(iter(params)) in str(error)


def test_known_options_cover_every_model() -> None:
    for name in PRESETS:
        plugin = getattr(providers, name)
        assert set(plugin.chat_options.model_fields) <= KNOWN_OPTIONS
        assert set(plugin.embedding_options.model_fields) <= KNOWN_OPTIONS


def test_openai_uses_the_static_models() -> None:
    assert providers.openai.chat_options is ChatOptions
    assert providers.openai.embedding_options is EmbeddingOptions


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_option_models_are_strict_and_frozen(name: str) -> None:
    model = getattr(providers, name).chat_options
    assert model.model_config.get("extra") == "forbid"
    assert model.model_config.get("strict") is True
    assert model.model_config.get("frozen") is True


# --- embeddings -----------------------------------------------------------------------------------


def embed(name: str, **params: Any) -> HTTPRequest:
    call = Call(
        operation="embedding",
        provider=name,
        model="e",
        input=["a", "b"],
        params=params,
        api_key=Secret("k-12345678"),
        api_base="http://127.0.0.1:9/v1",
    )
    request: HTTPRequest = getattr(providers, name).llmrouter_build_request(call, None)
    return request


def test_embedding_options() -> None:
    sent = embed("openai", dimensions=256, encoding_format="base64", user="u").json
    assert sent == {
        "model": "e",
        "input": ["a", "b"],
        "dimensions": 256,
        "encoding_format": "base64",
        "user": "u",
    }
    with pytest.raises(llmrouter.InvalidRequestError, match="dimensions"):
        embed("openai", dimensions=0)
    with pytest.raises(llmrouter.InvalidRequestError, match="encoding_format"):
        embed("openai", encoding_format="int8")
    with pytest.raises(llmrouter.InvalidRequestError, match="does not support"):
        embed("ollama", user="u")


def test_groq_has_no_embeddings_or_completions() -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match="/embeddings"):
        embed("groq")
