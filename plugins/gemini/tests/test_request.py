"""Request translation, rule by rule, each with its before (OpenAI's shape) and after (the body
Gemini gets); errors name the place."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from llmrouter.errors import InvalidRequestError
from llmrouter.pipeline import Call
from llmrouter_gemini.options import parse_embedding_options, parse_options
from llmrouter_gemini.request import (
    BUDGETS,
    convert_messages,
    embed_body,
    generate_body,
    model_path,
)

MODEL = "gemini-2.5-flash"
USER = [{"role": "user", "content": "Hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def body(
    messages: list[dict[str, Any]] | None = None, model: str = MODEL, **params: Any
) -> dict[str, Any]:
    extra = params.pop("extra_body", None)
    call = Call(operation="chat", provider="gemini", model=model, params=params, extra_body=extra)
    options = parse_options(params, provider="gemini", model=model)
    return generate_body(call, options, messages if messages is not None else USER)


def convert(messages: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    return convert_messages(messages, Call(operation="chat", provider="gemini", model=MODEL))


# --- messages -------------------------------------------------------------------------------------


def test_plain_user_message() -> None:
    assert body() == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def test_system_and_developer_messages_become_system_instruction() -> None:
    system, contents = convert(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
        ]
    )
    assert system == {"parts": [{"text": "Be brief."}, {"text": "Use French."}]}
    assert contents == [{"role": "user", "parts": [{"text": "Hi"}]}]


def test_assistant_is_model() -> None:
    _, contents = convert(
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ]
    )
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [{"text": "Hello!"}]


def test_empty_assistant_turn_is_left_out() -> None:
    _, contents = convert([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}])
    assert len(contents) == 1


def test_image_parts() -> None:
    _, contents = convert(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}},
                    {"type": "image_url", "image_url": "https://x.test/noext"},
                ],
            }
        ]
    )
    assert contents[0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
        {"fileData": {"fileUri": "https://x.test/cat.jpg", "mimeType": "image/jpeg"}},
        {"fileData": {"fileUri": "https://x.test/noext"}},
    ]


def test_file_and_audio_parts() -> None:
    _, contents = convert(
        [
            {
                "role": "user",
                "content": [
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},
                    {"type": "file", "file": {"file_id": "https://g.test/v1beta/files/abc"}},
                    {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                ],
            }
        ]
    )
    assert contents[0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
        {"fileData": {"fileUri": "https://g.test/v1beta/files/abc"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (
            {"type": "image_url", "image_url": {"url": "data:image/png,raw"}},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"type": "image_url", "image_url": {"url": "ftp://x"}},
            "messages[0].content[0].image_url.url",
        ),
        ({"type": "file", "file": {}}, "messages[0].content[0]"),
        ({"type": "video", "video": {}}, "messages[0].content[0]"),
        ({"type": "text", "text": 3}, "messages[0].content[0].text"),
    ],
)
def test_bad_parts_name_the_place(part: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        convert([{"role": "user", "content": [part]}])
    assert caught.value.param is not None and caught.value.param.startswith(param)


def test_only_system_messages_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="at least one user message"):
        convert([{"role": "system", "content": "x"}])


def test_unknown_role_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="role 'function'"):
        convert([{"role": "function", "content": "x"}])


# --- tool calls and results -----------------------------------------------------------------------

LOOP: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                "thought_signature": "c2ln",
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_time", "arguments": ""},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
    {"role": "user", "content": "Thanks"},
]


def test_tool_loop_translation() -> None:
    original = copy.deepcopy(LOOP)
    _, contents = convert(LOOP)
    assert original == LOOP  # the caller's messages are never changed
    assert contents == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2ln",
                },
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}},
                {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}},
            ],
        },
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]


def test_invalid_arguments_json_names_the_message() -> None:
    messages = copy.deepcopy(LOOP[:2])
    messages[1]["tool_calls"][0]["function"]["arguments"] = "{city"
    with pytest.raises(InvalidRequestError, match=r"messages\[1\]") as caught:
        convert(messages)
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


def test_arguments_must_be_an_object() -> None:
    messages = copy.deepcopy(LOOP[:2])
    messages[1]["tool_calls"][0]["function"]["arguments"] = "[1]"
    with pytest.raises(InvalidRequestError, match="JSON object"):
        convert(messages)


def test_tool_result_for_an_unknown_call_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="call_9") as caught:
        convert([*LOOP[:2], {"role": "tool", "tool_call_id": "call_9", "content": "x"}])
    assert caught.value.param == "messages[2].tool_call_id"


# --- tools and options ----------------------------------------------------------------------------


def test_tools_and_tool_choice() -> None:
    out = body(tools=[WEATHER], tool_choice="auto")
    assert out["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parametersJsonSchema": WEATHER["function"]["parameters"],  # type: ignore[index]
                }
            ]
        }
    ]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice_forms(choice: Any, config: dict[str, Any]) -> None:
    assert body(tools=[WEATHER], tool_choice=choice)["toolConfig"] == {
        "functionCallingConfig": config
    }


def test_tool_without_parameters_and_none_choice_without_tools() -> None:
    out = body(tools=[{"type": "function", "function": {"name": "ping"}}])
    assert out["tools"] == [{"functionDeclarations": [{"name": "ping"}]}]
    assert "toolConfig" not in body(tool_choice="none")


def test_parameters_that_are_not_an_object_are_refused() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}
    with pytest.raises(InvalidRequestError, match="'object'") as caught:
        body(tools=[tool])
    assert caught.value.param == "tools[0].function.parameters"


def test_generation_config() -> None:
    out = body(
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        top_k=20,
        n=2,
        stop="END",
        presence_penalty=0.5,
        frequency_penalty=0.25,
        seed=7,
    )
    assert out["generationConfig"] == {
        "maxOutputTokens": 100,
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 20,
        "candidateCount": 2,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.25,
        "seed": 7,
        "stopSequences": ["END"],
    }
    assert body(max_completion_tokens=9)["generationConfig"] == {"maxOutputTokens": 9}


def test_response_formats() -> None:
    assert body(response_format={"type": "json_object"})["generationConfig"] == {
        "responseMimeType": "application/json"
    }
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert body(response_format=fmt)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert "generationConfig" not in body(response_format={"type": "text"})


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high"])
def test_reasoning_effort_on_gemini_2(effort: str) -> None:
    config = body(reasoning_effort=effort)["generationConfig"]["thinkingConfig"]
    assert config["thinkingBudget"] == BUDGETS[effort]
    assert config.get("includeThoughts", False) is (effort != "none")


def test_reasoning_effort_on_gemini_3_is_a_level() -> None:
    out = body(model="gemini-3-pro-preview", reasoning_effort="high")
    assert out["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "HIGH",
        "includeThoughts": True,
    }


def test_thinking_is_sent_as_given() -> None:
    thinking = {"thinkingBudget": -1, "includeThoughts": True}
    assert body(thinking=thinking)["generationConfig"]["thinkingConfig"] == thinking


def test_safety_settings_and_cached_content() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    out = body(safety_settings=safety, cached_content="cachedContents/abc")
    assert out["safetySettings"] == safety
    assert out["cachedContent"] == "cachedContents/abc"


def test_extra_body_merges_generation_config_and_refuses_contents() -> None:
    out = body(max_tokens=5, extra_body={"generationConfig": {"responseModalities": ["TEXT"]}})
    assert out["generationConfig"] == {"maxOutputTokens": 5, "responseModalities": ["TEXT"]}
    with pytest.raises(InvalidRequestError, match="contents"):
        body(extra_body={"contents": []})


def test_body_is_json() -> None:
    json.dumps(body(messages=LOOP, tools=[WEATHER]))


# --- embeddings -----------------------------------------------------------------------------------


def test_embedding_body() -> None:
    call = Call(
        operation="embedding",
        provider="gemini",
        model="gemini-embedding-001",
        input=["a", "b"],
        params={"task_type": "RETRIEVAL_QUERY", "dimensions": 768},
    )
    options = parse_embedding_options(call.params, provider="gemini")
    assert embed_body(call, options) == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": text}]},
                "taskType": "RETRIEVAL_QUERY",
                "outputDimensionality": 768,
            }
            for text in ("a", "b")
        ]
    }


def test_model_path_is_not_doubled() -> None:
    assert model_path("gemini-2.5-flash") == "models/gemini-2.5-flash"
    assert model_path("models/gemini-2.5-flash") == "models/gemini-2.5-flash"
