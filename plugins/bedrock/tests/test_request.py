"""OpenAI-shaped calls -> Converse bodies and requests: one test per rule, pure (no I/O).

The before/after pairs follow Bedrock's Converse documentation (the shapes are botocore's
service model for ``bedrock-runtime``); docs/providers/bedrock.md shows the same rules, and
test_docs.py checks its examples against the plugin.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import yarl

from llmrouter.errors import InvalidRequestError
from llmrouter.testing import samples
from llmrouter_bedrock.plugin import converse_path, model_id

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedrock_support import HI, PIXEL, body_of, make_call


def error_of(messages: list[dict[str, Any]] | None = None, **params: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        body_of(messages, **params)
    return info.value


# --- messages -------------------------------------------------------------------------------------


def test_a_plain_message_is_one_text_block() -> None:
    assert body_of(HI) == {"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}


def test_system_and_developer_messages_become_system_blocks_in_order() -> None:
    body = body_of(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        ]
    )
    assert body["system"] == [{"text": "Be brief."}, {"text": "Answer in French."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "Hello"}]}]


def test_a_system_message_holds_text_only() -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    error = error_of([{"role": "system", "content": [image]}, *HI])
    assert error.param == "messages[0].content[0]"


def test_the_conversation_must_start_with_a_user_message() -> None:
    error = error_of([{"role": "assistant", "content": "Hi!"}, *HI])
    assert "start" in error.message and error.param == "messages"
    assert error_of([{"role": "system", "content": "x"}]).param == "messages"


def test_tool_results_are_grouped_into_one_user_turn_with_the_next_user_text() -> None:
    conversation = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rainy"},
        {"role": "user", "content": "Thanks"},
    ]
    turns = body_of(conversation, tools=samples.TOOLS)["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Rome"}}},
    ]
    assert turns[2]["content"] == [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
        {"toolResult": {"toolUseId": "call_2", "content": [{"text": "rainy"}]}},
        {"text": "Thanks"},
    ]


def test_a_tool_result_given_as_parts_keeps_them() -> None:
    conversation = [
        *samples.TOOL_CONVERSATION[1:3],
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": [
                {"type": "text", "text": "sunny", "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            ],
        },
    ]
    turn = body_of(conversation, tools=samples.TOOLS)["messages"][2]["content"]
    assert turn[0]["toolResult"]["content"] == [
        {"text": "sunny"},
        {"image": {"format": "png", "source": {"bytes": PIXEL}}},
    ]
    # A tool result holds no cache point: its cache_control marks the turn after it.
    assert turn[1:] == [{"cachePoint": {"type": "default"}}]


def test_a_cached_tool_result_is_followed_by_its_cache_point_in_the_turn() -> None:
    marked = {"type": "text", "text": "a long result", "cache_control": {"type": "ephemeral"}}
    conversation = [
        *samples.TOOL_CONVERSATION[1:3],
        {"role": "tool", "tool_call_id": "call_1", "content": [marked]},
        {"role": "user", "content": "And tomorrow?"},
    ]
    turn = body_of(conversation, tools=samples.TOOLS)["messages"][2]["content"]
    assert turn == [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "a long result"}]}},
        {"cachePoint": {"type": "default"}},
        {"text": "And tomorrow?"},
    ]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [("{not json", "not valid JSON"), ('["a list"]', "must be a JSON object")],
)
def test_tool_call_arguments_must_be_a_json_object(arguments: str, problem: str) -> None:
    bad = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        ],
    }
    error = error_of([*HI, bad])
    assert problem in error.message
    assert error.param == "messages[1].tool_calls[0].function.arguments"


def test_an_empty_assistant_turn_is_left_out() -> None:
    turns = body_of([*HI, {"role": "assistant", "content": ""}, *HI])["messages"]
    assert turns == [{"role": "user", "content": [{"text": "Hello"}, {"text": "Hello"}]}]


def test_thinking_blocks_go_back_as_reasoning_content_first() -> None:
    previous = {
        "role": "assistant",
        "content": "It is sunny.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "c2ln"},
            {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
        ],
    }
    turns = body_of([*HI, previous, *HI])["messages"]
    assert turns[1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "c2ln"}}},
        {"reasoningContent": {"redactedContent": "cmVkYWN0ZWQ="}},
        {"text": "It is sunny."},
    ]
    altered = {**previous, "thinking_blocks": [{"type": "thinking"}]}
    assert error_of([*HI, altered]).param == "messages[1].thinking_blocks"


# --- content parts --------------------------------------------------------------------------------


def part_body(part: dict[str, Any]) -> list[dict[str, Any]]:
    message = {"role": "user", "content": [part]}
    content: list[dict[str, Any]] = body_of([message])["messages"][0]["content"]
    return content


@pytest.mark.parametrize(
    ("media", "fmt"),
    [("image/png", "png"), ("image/jpeg", "jpeg"), ("image/jpg", "jpeg"), ("image/webp", "webp")],
)
def test_a_data_url_image_becomes_bytes_with_its_format(media: str, fmt: str) -> None:
    part = {"type": "image_url", "image_url": {"url": f"data:{media};base64,{PIXEL}"}}
    assert part_body(part) == [{"image": {"format": fmt, "source": {"bytes": PIXEL}}}]


def test_an_image_detail_converse_cannot_honour_is_refused_unless_dropped() -> None:
    def image(detail: str) -> dict[str, Any]:
        url = f"data:image/png;base64,{PIXEL}"
        return {"type": "image_url", "image_url": {"url": url, "detail": detail}}

    expected = [{"image": {"format": "png", "source": {"bytes": PIXEL}}}]
    assert part_body(image("auto")) == expected
    for detail in ("high", "low"):
        error = error_of([{"role": "user", "content": [image(detail)]}])
        assert error.param == "messages[0].content[0].image_url.detail"
        assert "no image detail setting" in error.message
        dropped = body_of([{"role": "user", "content": [image(detail)]}], drop_params=True)
        assert dropped["messages"][0]["content"] == expected


def test_an_s3_image_becomes_an_s3_location() -> None:
    part = {"type": "image_url", "image_url": {"url": "s3://bucket/cat.JPG"}}
    assert part_body(part) == [
        {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.JPG"}}}}
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://example.com/cat.png", "does not fetch http(s) URLs"),
        (f"data:image/bmp;base64,{PIXEL}", "media type 'image/bmp'"),
        ("data:image/png;base64,not base64!", "not valid base64"),
        ("data:image/png,rawdata", "not 'data:<media type>;base64,<data>'"),
        ("s3://bucket/cat", "format"),
    ],
)
def test_images_converse_cannot_take_are_refused(url: str, problem: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    error = error_of([{"role": "user", "content": [part]}])
    assert problem in error.message
    assert error.param == "messages[0].content[0].image_url.url"


def test_a_file_part_becomes_a_named_document() -> None:
    part = {
        "type": "file",
        "file": {"file_data": f"data:application/pdf;base64,{PIXEL}", "filename": "Q3 report.pdf"},
    }
    assert part_body(part) == [
        {"document": {"format": "pdf", "name": "Q3 report", "source": {"bytes": PIXEL}}}
    ]
    unnamed = {"type": "file", "file": {"file_data": f"data:text/csv;base64,{PIXEL}"}}
    assert part_body(unnamed)[0]["document"]["name"] == "document-1"
    by_id = {"type": "file", "file": {"file_id": "file-abc"}}
    assert "file ids are OpenAI's" in error_of([{"role": "user", "content": [by_id]}]).message


def test_cache_control_becomes_a_cache_point_after_the_block() -> None:
    marked = {"type": "text", "text": "<the long policy>", "cache_control": {"type": "ephemeral"}}
    body = body_of(
        [{"role": "system", "content": [marked]}, {"role": "user", "content": [marked]}],
        tools=[{**samples.WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}],
    )
    point = {"cachePoint": {"type": "default"}}
    assert body["system"] == [{"text": "<the long policy>"}, point]
    assert body["messages"][0]["content"] == [{"text": "<the long policy>"}, point]
    assert body["toolConfig"]["tools"][1] == point


def test_a_cache_lifetime_is_kept_on_the_cache_point() -> None:
    def marked(ttl: str) -> dict[str, Any]:
        return {
            "type": "text",
            "text": "policy",
            "cache_control": {"type": "ephemeral", "ttl": ttl},
        }

    body = body_of(
        [
            {"role": "system", "content": [marked("1h")]},
            {"role": "user", "content": [marked("5m")]},
        ],
        tools=[{**samples.WEATHER_TOOL, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    )
    assert body["system"][1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert body["messages"][0]["content"][1] == {"cachePoint": {"type": "default", "ttl": "5m"}}
    assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default", "ttl": "1h"}}


@pytest.mark.parametrize(
    ("control", "param", "problem"),
    [
        ({"type": "ephemeral", "ttl": "2h"}, "messages[0].content[0].cache_control.ttl", "'5m'"),
        ({"type": "ephemeral", "ttl": 3600}, "messages[0].content[0].cache_control.ttl", "'1h'"),
        ({"type": "persistent"}, "messages[0].content[0].cache_control", "no other type"),
        ({"type": "ephemeral", "scope": "x"}, "messages[0].content[0].cache_control", "'scope'"),
        ("ephemeral", "messages[0].content[0].cache_control", "got str"),
    ],
)
def test_a_cache_control_converse_cannot_keep_is_refused(
    control: object, param: str, problem: str
) -> None:
    part = {"type": "text", "text": "policy", "cache_control": control}
    error = error_of([{"role": "user", "content": [part]}])
    assert error.param == param and problem in error.message
    tool = {**samples.WEATHER_TOOL, "cache_control": control}
    assert error_of(HI, tools=[tool]).param.startswith("tools[0].cache_control")


def test_a_part_carrying_a_converse_block_is_sent_as_that_block() -> None:
    video = {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/clip.mp4"}}}
    assert part_body({"type": "video", "video": video}) == [{"video": video}]
    error = error_of([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}])
    assert "{'type': 'audio'" in error.message


# --- options --------------------------------------------------------------------------------------


def test_inference_options_go_to_inference_config() -> None:
    body = body_of(HI, max_tokens=100, temperature=0.2, top_p=0.9, stop="END")
    assert body["inferenceConfig"] == {
        "maxTokens": 100,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
    }
    assert body_of(HI, max_completion_tokens=7)["inferenceConfig"] == {"maxTokens": 7}
    assert "not both" in error_of(HI, max_tokens=1, max_completion_tokens=2).message


@pytest.mark.parametrize(
    ("option", "value"), [("temperature", 1.5), ("top_p", -0.1), ("max_tokens", 0)]
)
def test_out_of_range_options_are_refused(option: str, value: float) -> None:
    assert error_of(HI, **{option: value}).param == option


def test_tools_become_tool_specs_and_choices_map() -> None:
    tools = [*samples.TOOLS, {"type": "function", "function": {"name": "ping", "strict": True}}]
    config = body_of(HI, tools=tools)["toolConfig"]
    assert config == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {"json": samples.WEATHER_TOOL["function"]["parameters"]},
                }
            },
            {
                "toolSpec": {
                    "name": "ping",
                    "inputSchema": {"json": {"type": "object", "properties": {}}},
                    "strict": True,
                }
            },
        ]
    }
    choices = {
        "auto": {"auto": {}},
        "required": {"any": {}},
        json.dumps(samples.FORCED_TOOL_CHOICE): {"tool": {"name": "get_weather"}},
    }
    for given, expected in choices.items():
        choice = samples.FORCED_TOOL_CHOICE if given.startswith("{") else given
        assert body_of(HI, tools=tools, tool_choice=choice)["toolConfig"]["toolChoice"] == expected


def test_tool_choice_none_sends_no_tools_when_the_conversation_has_no_tool_turns() -> None:
    assert "toolConfig" not in body_of(HI, tools=samples.TOOLS, tool_choice="none")


def test_tool_choice_none_with_tool_turns_is_refused_unless_drop_params() -> None:
    conversation = samples.TOOL_CONVERSATION
    error = error_of(conversation, tools=samples.TOOLS, tool_choice="none")
    assert error.param == "tool_choice" and "drop_params=True" in error.message
    body = body_of(conversation, tools=samples.TOOLS, tool_choice="none", drop_params=True)
    assert "toolChoice" not in body["toolConfig"] and body["toolConfig"]["tools"]


def test_tool_names_follow_converse_rules() -> None:
    bad = [{"type": "function", "function": {"name": "get weather"}}]
    assert error_of(HI, tools=bad).param == "tools[0].function.name"
    assert "at least one" in error_of(HI, tools=[]).message


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("anthropic.claude-3-5-haiku-20241022-v1:0", {"top_k": 40}),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", {"top_k": 40}),
        ("mistral.mistral-large-2407-v1:0", {"top_k": 40}),
        ("amazon.nova-pro-v1:0", {"inferenceConfig": {"topK": 40}}),
        ("eu.amazon.nova-lite-v1:0", {"inferenceConfig": {"topK": 40}}),
    ],
)
def test_top_k_goes_where_the_model_family_reads_it(model: str, expected: dict[str, Any]) -> None:
    assert body_of(HI, model=model, top_k=40)["additionalModelRequestFields"] == expected


def test_top_k_for_an_unknown_family_says_where_to_put_it() -> None:
    error = error_of(HI, model="meta.llama3-1-8b-instruct-v1:0", top_k=40)
    assert "additional_model_request_fields" in error.message and error.param == "top_k"


def test_additional_fields_merge_over_top_k_and_thinking() -> None:
    body = body_of(
        HI,
        top_k=5,
        thinking={"type": "enabled", "budget_tokens": 2048},
        additional_model_request_fields={"top_k": 9, "anthropic_beta": ["x"]},
        additional_model_response_field_paths=["/stop_sequence"],
    )
    assert body["additionalModelRequestFields"] == {
        "top_k": 9,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "anthropic_beta": ["x"],
    }
    assert body["additionalModelResponseFieldPaths"] == ["/stop_sequence"]


def test_structured_output_and_effort_go_to_output_config() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}
    body = body_of(HI, response_format=fmt, reasoning_effort="high")
    assert body["outputConfig"] == {
        "textFormat": {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "place"}},
        },
        "effort": "high",
    }
    assert "outputConfig" not in body_of(HI, response_format={"type": "text"})
    assert "no Converse equivalent" in error_of(HI, response_format={"type": "json_object"}).message


def test_bedrock_options_go_to_their_fields() -> None:
    body = body_of(
        HI,
        guardrail_config={"guardrailIdentifier": "gr1", "guardrailVersion": "1"},
        performance_config={"latency": "optimized"},
        request_metadata={"team": "search"},
        service_tier="flex",
        stream_options={"include_usage": True},
    )
    assert body["guardrailConfig"] == {"guardrailIdentifier": "gr1", "guardrailVersion": "1"}
    assert body["performanceConfig"] == {"latency": "optimized"}
    assert body["requestMetadata"] == {"team": "search"}
    assert body["serviceTier"] == {"type": "flex"}
    assert "stream_options" not in body and "serviceTier" not in body_of(HI, service_tier="auto")


def test_unsupported_options_are_refused_with_the_supported_ones_listed() -> None:
    error = error_of(HI, n=2, presence_penalty=0.5)
    assert "'n', 'presence_penalty'" in error.message and "Supported:" in error.message
    assert "aws_region_name" in error.message and "drop_params=True" in error.message
    assert error.param == "n"


def test_drop_params_drops_them_and_values_that_ask_nothing_pass() -> None:
    assert body_of(HI, n=3, seed=1, user="u1", drop_params=True) == body_of(HI)
    assert body_of(HI, n=1, logprobs=False, parallel_tool_calls=True) == body_of(HI)


def test_an_unknown_option_lists_the_supported_ones() -> None:
    error = error_of(HI, temprature=0.1)
    assert "'temprature'" in error.message and "extra_body" in error.message


def test_extra_body_is_merged_but_may_not_replace_the_messages() -> None:
    assert body_of(HI, extra_body={"promptVariables": {"a": {"text": "b"}}})["promptVariables"]
    with pytest.raises(InvalidRequestError, match="extra_body may not set 'messages'"):
        body_of(HI, extra_body={"messages": []})


# --- the model id in the path ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse",
        ),
        (
            "converse/us.anthropic.claude-sonnet-4-20250514-v1:0",
            "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
            "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile"
            "%2Fus.amazon.nova-pro-v1:0/converse",
        ),
        ("odd id+with space/ok", "/model/odd%20id%2Bwith%20space%2Fok/converse"),
    ],
)
def test_the_model_id_is_one_encoded_path_segment(model: str, path: str) -> None:
    assert converse_path(model_id(make_call(HI, model=model)), stream=False) == path
    assert unquote(path.split("/")[2]) == model.removeprefix("converse/")
    assert converse_path("a:b", stream=True) == "/model/a:b/converse-stream"


@pytest.mark.parametrize(
    "model", ["us.anthropic.claude-3-5-haiku-20241022-v1:0", "a!$&'()*,;=:@~b/c+d"]
)
def test_every_engine_sends_the_path_byte_for_byte(model: str) -> None:
    """httpx keeps a path as given; aiohttp's yarl decodes the escapes of the characters it
    allows raw (%3A -> ':'). The signature covers the path on the wire, so the plugin's path
    must be the same after both."""
    url = "https://bedrock-runtime.us-east-1.amazonaws.com" + converse_path(model, stream=False)
    assert str(yarl.URL(url)) == url
    assert str(httpx.URL(url)) == url


@pytest.mark.parametrize("model", [".", "..", "converse/.."])
def test_a_model_id_that_url_normalisation_would_remove_is_refused(model: str) -> None:
    with pytest.raises(InvalidRequestError, match="is not a Bedrock model id") as info:
        model_id(make_call(HI, model=model))
    assert info.value.param == "model"


def test_stream_options_take_include_usage_only() -> None:
    body_of(HI, stream_options={"include_usage": False, "include_obfuscation": True})
    assert error_of(HI, stream_options={"include_usage": "no"}).param == "stream_options"
    assert "'chunk_size'" in error_of(HI, stream_options={"chunk_size": 3}).message


def test_the_invoke_route_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="InvokeModel"):
        model_id(make_call(HI, model="invoke/anthropic.claude-v2"))
