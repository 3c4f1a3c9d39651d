"""The wire proven with the official AWS SDK (``boto3``'s ``bedrock-runtime`` client, a dev
dependency), over real sockets, with a fake credential the emulator knows.

- **The emulator against boto3**: ``converse`` and ``converse_stream`` run through boto3, and
  every answer (each stream event too) is validated against botocore's service model with
  botocore's own validator (required members, types, ranges, enums): the strict check that
  the emulator speaks Bedrock's wire. boto3's signatures verify in the emulator (the emulator's
  SigV4 code and botocore's agree), and its errors parse into boto3's modeled exceptions.
- **llmrouter against boto3**: for each case, an OpenAI-shaped ``llmrouter.completion(...)``
  and the equivalent ``client.converse(...)`` go to one emulator, which records the path and the
  JSON body; both must be equal (the path decoded: boto3 sends ``:`` as ``%3A``, llmrouter as
  ``:``, see ``plugin.PATH_SAFE``). So each translation rule of docs/providers/bedrock.md is
  checked against the body AWS's own client builds, not against our reading of the API.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
from botocore.validate import ParamValidator

import llmrouter
from llmrouter.testing import Fault, samples
from llmrouter_bedrock.testing import BedrockEmulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedrock_support import KEY_ID, MODEL_ID, PIXEL, REGION, SECRET

HI = [{"role": "user", "content": "Weather in Paris?"}]
BOTO_HI = [{"role": "user", "content": [{"text": "Weather in Paris?"}]}]
TOOL = samples.WEATHER_TOOL["function"]
TOOL_SPEC = {
    "toolSpec": {
        "name": TOOL["name"],
        "description": TOOL["description"],
        "inputSchema": {"json": TOOL["parameters"]},
    }
}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def client(server: BedrockEmulator) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=server.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def emu(bedrock: BedrockEmulator) -> Iterator[BedrockEmulator]:
    yield bedrock


def valid(client: Any, operation: str, answer: dict[str, Any]) -> None:
    """``answer`` passes botocore's validator for the operation's output shape."""
    shape = client.meta.service_model.operation_model(operation).output_shape
    body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    if operation == "ConverseStream":
        events = list(body.pop("stream"))
        report = [ParamValidator().validate(e, shape.members["stream"]) for e in events]
        errors = [r.generate_report() for r in report if r.has_errors()]
        assert not errors, errors
        answer["events"] = events
    report = ParamValidator().validate(body, shape)
    assert not report.has_errors(), report.generate_report()


# --- the emulator against boto3 ------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["Converse", "ConverseStream"])
@pytest.mark.parametrize(
    "request_",
    [
        {"messages": BOTO_HI, "inferenceConfig": {"maxTokens": 5, "stopSequences": ["x"]}},
        {
            "messages": [{"role": "user", "content": [{"text": "[[emulator:tool_call]]"}]}],
            "toolConfig": {"tools": [TOOL_SPEC]},
        },
        {
            "messages": BOTO_HI,
            "system": [{"text": "Policy " * 10}, {"cachePoint": {"type": "default"}}],
            "additionalModelRequestFields": {
                "thinking": {"type": "enabled", "budget_tokens": 1024}
            },
        },
    ],
    ids=["text", "tool", "reasoning-cache"],
)
def test_boto3_reads_every_answer_of_the_emulator(
    emu: BedrockEmulator, client: Any, operation: str, request_: dict[str, Any]
) -> None:
    method = client.converse if operation == "Converse" else client.converse_stream
    answer = method(modelId=MODEL_ID, **request_)
    valid(client, operation, answer)
    assert emu.signatures[-1].verified  # botocore's signature, checked by the emulator


def test_boto3_sees_the_emulators_errors_as_its_modeled_exceptions(
    emu: BedrockEmulator, client: Any
) -> None:
    emu.add_fault(Fault(status=429), times=1)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=MODEL_ID, messages=BOTO_HI)
    emu.add_fault(Fault(status=429, type="ModelNotReadyException"), times=1)
    with pytest.raises(client.exceptions.ModelNotReadyException):
        client.converse(modelId=MODEL_ID, messages=BOTO_HI)
    with pytest.raises(ClientError) as info:
        client.converse(modelId="acme.unknown-v1:0", messages=BOTO_HI)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    emu.add_fault(Fault(stream_error_after=2, status=429))
    stream = client.converse_stream(modelId=MODEL_ID, messages=BOTO_HI)["stream"]
    with pytest.raises(EventStreamError) as event_error:
        list(stream)
    assert event_error.value.response["Error"]["Code"] == "throttlingException"


def test_a_wrong_secret_is_refused_for_boto3_too(emu: BedrockEmulator) -> None:
    wrong = boto3.client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=emu.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET + "x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as info:
        wrong.converse(modelId=MODEL_ID, messages=BOTO_HI)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_the_endpoint_variable_is_botocores_own(
    emu: BedrockEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` (set by the fixture) is the variable boto3 reads
    for this service: a client made without ``endpoint_url`` goes to the emulator too."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the service's one wins
    plain = boto3.client("bedrock-runtime", region_name=REGION)
    assert plain.meta.endpoint_url == emu.url
    plain.converse(modelId=MODEL_ID, messages=BOTO_HI)
    assert emu.signatures[-1].verified


# --- llmrouter's body against boto3's --------------------------------------------------------------

TOOL_TURNS_BOTO = [
    {"role": "user", "content": [{"text": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "content": [
            {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}
        ],
    },
    {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
            {"text": "And tomorrow?"},
        ],
    },
]

#: name -> (the llmrouter call's arguments, boto3's converse arguments); both for MODEL_ID.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "plain": ({"messages": HI}, {"messages": BOTO_HI}),
    "system": (
        {"messages": [{"role": "system", "content": "Be brief."}, *HI]},
        {"system": [{"text": "Be brief."}], "messages": BOTO_HI},
    ),
    "inference_config": (
        {"messages": HI, "max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop": ["END"]},
        {
            "messages": BOTO_HI,
            "inferenceConfig": {
                "maxTokens": 64,
                "temperature": 0.5,
                "topP": 0.9,
                "stopSequences": ["END"],
            },
        },
    ),
    "tools_forced": (
        {"messages": HI, "tools": samples.TOOLS, "tool_choice": samples.FORCED_TOOL_CHOICE},
        {
            "messages": BOTO_HI,
            "toolConfig": {"tools": [TOOL_SPEC], "toolChoice": {"tool": {"name": "get_weather"}}},
        },
    ),
    "tools_required": (
        {"messages": HI, "tools": samples.TOOLS, "tool_choice": "required"},
        {"messages": BOTO_HI, "toolConfig": {"tools": [TOOL_SPEC], "toolChoice": {"any": {}}}},
    ),
    "tool_conversation": (
        {"messages": samples.TOOL_CONVERSATION, "tools": samples.TOOLS},
        {
            "system": [{"text": "Be brief."}],
            "messages": TOOL_TURNS_BOTO,
            "toolConfig": {"tools": [TOOL_SPEC]},
        },
    ),
    "image": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PIXEL}"},
                        },
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "What is this?"},
                        {"image": {"format": "png", "source": {"bytes": base64.b64decode(PIXEL)}}},
                    ],
                }
            ]
        },
    ),
    "document": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Summarise"},
                        {
                            "type": "file",
                            "file": {
                                "file_data": f"data:application/pdf;base64,{PIXEL}",
                                "filename": "report.pdf",
                            },
                        },
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "Summarise"},
                        {
                            "document": {
                                "format": "pdf",
                                "name": "report",
                                "source": {"bytes": base64.b64decode(PIXEL)},
                            }
                        },
                    ],
                }
            ]
        },
    ),
    "cache_point": (
        {
            "messages": [
                {
                    "role": "system",
                    "content": [
                        {"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}}
                    ],
                },
                *HI,
            ]
        },
        {
            "system": [{"text": "Rules."}, {"cachePoint": {"type": "default"}}],
            "messages": BOTO_HI,
        },
    ),
    "cache_lifetimes_and_a_cached_tool_result": (
        {
            "messages": [
                {
                    "role": "system",
                    "content": [
                        {
                            "type": "text",
                            "text": "Rules.",
                            "cache_control": {"type": "ephemeral", "ttl": "1h"},
                        }
                    ],
                },
                *samples.TOOL_CONVERSATION[1:3],
                {
                    "role": "tool",
                    "tool_call_id": "call_1",
                    "content": [
                        {"type": "text", "text": "sunny", "cache_control": {"type": "ephemeral"}}
                    ],
                },
                {"role": "user", "content": "And tomorrow?"},
            ],
            "tools": samples.TOOLS,
        },
        {
            "system": [{"text": "Rules."}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
            "messages": [
                *TOOL_TURNS_BOTO[:2],
                {
                    "role": "user",
                    "content": [
                        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
                        {"cachePoint": {"type": "default"}},
                        {"text": "And tomorrow?"},
                    ],
                },
            ],
            "toolConfig": {"tools": [TOOL_SPEC]},
        },
    ),
    "top_k_and_thinking": (
        {"messages": HI, "top_k": 20, "thinking": {"type": "enabled", "budget_tokens": 1024}},
        {
            "messages": BOTO_HI,
            "additionalModelRequestFields": {
                "top_k": 20,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
            },
        },
    ),
    "structured_output": (
        {
            "messages": HI,
            "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
            "reasoning_effort": "low",
        },
        {
            "messages": BOTO_HI,
            "outputConfig": {
                "textFormat": {
                    "type": "json_schema",
                    "structure": {"jsonSchema": {"schema": json.dumps(SCHEMA)}},
                },
                "effort": "low",
            },
        },
    ),
    "bedrock_fields": (
        {
            "messages": HI,
            "performance_config": {"latency": "optimized"},
            "request_metadata": {"team": "search"},
            "service_tier": "priority",
            "additional_model_response_field_paths": ["/stop_sequence"],
        },
        {
            "messages": BOTO_HI,
            "performanceConfig": {"latency": "optimized"},
            "requestMetadata": {"team": "search"},
            "serviceTier": {"type": "priority"},
            "additionalModelResponseFieldPaths": ["/stop_sequence"],
        },
    ),
}


def sent(emu: BedrockEmulator) -> tuple[str, Any]:
    """The path (decoded: botocore sends ``:`` as ``%3A``, llmrouter as ``:``, which every
    engine then sends unchanged; both name the same model) and the body of the last request."""
    request = emu.last_request
    assert request is not None and request.status == 200, request
    return unquote(request.path), request.body


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse_stream"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_llmrouter_sends_what_boto3_sends(
    emu: BedrockEmulator, client: Any, name: str, stream: bool
) -> None:
    ours, theirs = CASES[name]
    answer = llmrouter.completion(model="bedrock/" + MODEL_ID, stream=stream, **ours)
    if stream:
        list(answer)
    from_llmrouter = sent(emu)
    method = client.converse_stream if stream else client.converse
    result = method(modelId=MODEL_ID, **theirs)
    if stream:
        list(result["stream"])
    assert from_llmrouter == sent(emu)


def test_an_arn_model_id_takes_the_same_path(emu: BedrockEmulator, client: Any) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us." + MODEL_ID
    llmrouter.completion(model="bedrock/" + arn, messages=HI)
    ours, raw = sent(emu), emu.requests[-1].path
    client.converse(modelId=arn, messages=BOTO_HI)
    assert ours == sent(emu) and "inference-profile%2Fus.anthropic" in raw
