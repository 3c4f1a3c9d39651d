"""``AnthropicEmulator`` proven against the official ``anthropic`` SDK (2.17, a dev dependency).

Every client here validates strictly (``_strict_response_validation=True``): each answer, event
and page the emulator sends must parse as the SDK's own types, so the emulator speaks Anthropic's
wire as Anthropic's SDK states it, not as our reading of it. Errors must come out as the SDK's
own exception classes, and the faults must break the SDK the way a real outage would.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types.compaction_unavailable_error import CompactionUnavailableError
from pydantic import BaseModel

from llmrouter_anthropic.testing import LATEST_VERSION, AnthropicEmulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anthropic_capture import capture, sent_by_llmrouter, sent_by_sdk

KEY = "sk-ant-sdk-emulator-0123456789"
MODEL = "claude-sonnet-4-6"
HI: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "Current weather in a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    }
]
ASK_TOOL: list[Any] = [{"role": "user", "content": "Weather in Paris? [[emulator:tool_call]]"}]
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
def emu() -> Iterator[AnthropicEmulator]:
    """A fresh emulator per test: the SDK's retries and the prompt cache start clean."""
    with AnthropicEmulator() as fresh:
        yield fresh


def sdk(emu: AnthropicEmulator, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=emu.base_url,
        api_key=KEY,
        max_retries=options.pop("max_retries", 0),
        _strict_response_validation=True,
        **options,
    )


@pytest.fixture
def client(emu: AnthropicEmulator) -> Iterator[anthropic.Anthropic]:
    with sdk(emu) as c:
        yield c


def dumped(blocks: Any) -> list[dict[str, Any]]:
    """Content blocks as plain data (a stream's final message holds the parse-aware
    subclasses of the blocks ``create`` returns)."""
    return [block.model_dump() for block in blocks]


def fault(spec: str) -> dict[str, Any]:
    return {"extra_headers": {"x-emulator-fault": spec}}


# --- messages ------------------------------------------------------------------------------------


def test_create(client: anthropic.Anthropic, emu: AnthropicEmulator) -> None:
    message = client.messages.create(model=MODEL, max_tokens=100, messages=HI)
    assert message.stop_reason == "end_turn" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text.endswith("You said: Weather in Paris?")
    assert message.usage.input_tokens == 3 and message.usage.output_tokens == 14
    assert message.usage.cache_creation_input_tokens == 0
    sent = emu.last_request
    assert sent is not None and sent.key_matches(KEY)
    assert (
        sent.headers["anthropic-version"]
        == LATEST_VERSION
        == anthropic._constants.ANTHROPIC_API_VERSION
    )
    assert sent.body == {"model": MODEL, "max_tokens": 100, "messages": HI}


def test_stream_helper_accumulates_the_same_message(client: anthropic.Anthropic) -> None:
    whole = client.messages.create(model=MODEL, max_tokens=100, messages=HI)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HI) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) == 14 and "".join(pieces) == final.content[0].text  # type: ignore[union-attr]
    assert dumped(final.content) == dumped(whole.content) and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens


def test_raw_stream_events(client: anthropic.Anthropic) -> None:
    events = list(client.messages.create(model=MODEL, max_tokens=4, messages=HI, stream=True))
    kinds = [e.type for e in events]  # the SDK drops the ping
    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    delta = events[-2]
    assert delta.type == "message_delta" and delta.delta.stop_reason == "max_tokens"
    assert delta.usage.output_tokens == 4


def test_stop_sequences(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=HI, stop_sequences=["Anthropic"]
    )
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "Anthropic"
    assert message.content[0].text == "This is a deterministic reply from the"  # type: ignore[union-attr]


def test_a_tool_use_round(client: anthropic.Anthropic, emu: AnthropicEmulator) -> None:
    first = client.messages.create(model=MODEL, max_tokens=200, messages=ASK_TOOL, tools=TOOLS)
    assert first.stop_reason == "tool_use"
    call = first.content[0]
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"city": "example city", "unit": "c"}
    answer = {"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"}
    history: list[Any] = [*ASK_TOOL, first.to_param(), {"role": "user", "content": [answer]}]
    final = client.messages.create(model=MODEL, max_tokens=200, messages=history, tools=TOOLS)
    assert final.stop_reason == "end_turn" and final.content[0].type == "text"
    assert [r.status for r in emu.requests] == [200, 200]


def test_a_streamed_tool_call(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=200,
        messages=HI,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        json_events = [e for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    assert len(json_events) > 2 and json_events[-1].snapshot == {
        "city": "example city",
        "unit": "c",
    }
    assert final.stop_reason == "tool_use" and final.content[0].type == "tool_use"
    assert final.content[0].input == {"city": "example city", "unit": "c"}


def test_thinking_with_signatures_in_a_tool_loop(client: anthropic.Anthropic) -> None:
    first = client.messages.create(
        model=MODEL, max_tokens=2048, messages=ASK_TOOL, tools=TOOLS, thinking=THINKING
    )
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    thought = first.content[0]
    assert thought.type == "thinking" and thought.thinking and thought.signature
    call = first.content[1]
    assert call.type == "tool_use"
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}],
    }
    history: list[Any] = [*ASK_TOOL, first.to_param(), result]
    final = client.messages.create(
        model=MODEL, max_tokens=2048, messages=history, tools=TOOLS, thinking=THINKING
    )
    assert [b.type for b in final.content] == ["thinking", "text"]
    # thinking sent back altered, or left out of the tool loop, is refused as the API does
    altered = {**thought.model_dump(), "thinking": thought.thinking + " (edited)"}
    tampered: list[Any] = [
        *ASK_TOOL,
        {"role": "assistant", "content": [altered, call.model_dump()]},
        result,
    ]
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        client.messages.create(
            model=MODEL, max_tokens=2048, messages=tampered, tools=TOOLS, thinking=THINKING
        )
    dropped: list[Any] = [*ASK_TOOL, {"role": "assistant", "content": [call.model_dump()]}, result]
    with pytest.raises(anthropic.BadRequestError, match="must start with a thinking block"):
        client.messages.create(
            model=MODEL, max_tokens=2048, messages=dropped, tools=TOOLS, thinking=THINKING
        )


def test_streamed_thinking(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=2048, messages=HI, thinking=THINKING
    ) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds and "text" in kinds
    whole = client.messages.create(model=MODEL, max_tokens=2048, messages=HI, thinking=THINKING)
    assert dumped(final.content) == dumped(whole.content)
    assert final.content[0].type == "thinking" and final.content[0].signature


class Weather(BaseModel):
    city: str
    warm: bool


def test_structured_output(client: anthropic.Anthropic) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "warm": {"type": "boolean"}},
    }
    message = client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HI,
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert json.loads(message.content[0].text) == {"city": "example city", "warm": True}  # type: ignore[union-attr]
    parsed = client.messages.parse(model=MODEL, max_tokens=100, messages=HI, output_format=Weather)
    assert parsed.parsed_output == Weather(city="example city", warm=True)


def test_prompt_caching(client: anthropic.Anthropic) -> None:
    system: Any = [
        {"type": "text", "text": "A long manual " * 20, "cache_control": {"type": "ephemeral"}}
    ]
    first = client.messages.create(model=MODEL, max_tokens=10, messages=HI, system=system)
    second = client.messages.create(model=MODEL, max_tokens=10, messages=HI, system=system)
    assert (
        first.usage.cache_creation_input_tokens == 60 and first.usage.cache_read_input_tokens == 0
    )
    assert (
        second.usage.cache_read_input_tokens == 60 and second.usage.cache_creation_input_tokens == 0
    )
    assert first.usage.input_tokens == second.usage.input_tokens == 3
    counted = client.messages.count_tokens(model=MODEL, messages=HI, system=system)
    assert counted.input_tokens == 63


def test_the_2023_version_keeps_sampling_fields(emu: AnthropicEmulator) -> None:
    with sdk(emu, default_headers={"anthropic-version": "2023-06-01"}) as old:
        message = old.messages.create(
            model=MODEL, max_tokens=10, messages=HI, extra_body={"temperature": 0.2, "top_k": 5}
        )
    assert message.stop_reason == "max_tokens"
    assert emu.last_request is not None
    assert emu.last_request.headers["anthropic-version"] == "2023-06-01"
    with (
        sdk(emu) as new,
        pytest.raises(anthropic.BadRequestError, match="temperature: Extra inputs"),
    ):
        new.messages.create(
            model=MODEL, max_tokens=10, messages=HI, extra_body={"temperature": 0.2}
        )


# --- errors and faults ---------------------------------------------------------------------------

SDK_CLASSES: dict[int, type[anthropic.APIStatusError]] = {
    400: anthropic.BadRequestError,
    401: anthropic.AuthenticationError,
    403: anthropic.PermissionDeniedError,
    404: anthropic.NotFoundError,
    413: anthropic.ContentTooLargeError,
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    529: anthropic.OverloadedError,
}


@pytest.mark.parametrize("status", sorted(SDK_CLASSES))
def test_statuses_become_the_sdks_classes(status: int, client: anthropic.Anthropic) -> None:
    with pytest.raises(SDK_CLASSES[status]) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=HI, **fault(f"status={status}"))
    error = info.value
    assert type(error) is SDK_CLASSES[status]
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert error.type == info.value.body["error"]["type"]  # type: ignore[index]


def test_an_error_code_picks_the_finer_class(client: anthropic.Anthropic) -> None:
    with pytest.raises(CompactionUnavailableError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=HI,
            **fault("status=529;code=compaction_unavailable"),
        )
    assert isinstance(info.value, anthropic.OverloadedError)
    assert info.value.error_code == "compaction_unavailable"


def test_real_errors_too(client: anthropic.Anthropic, emu: AnthropicEmulator) -> None:
    with pytest.raises(anthropic.NotFoundError, match="model: claude-nope"):
        client.messages.create(model="claude-nope", max_tokens=10, messages=HI)
    with pytest.raises(anthropic.BadRequestError, match="Input should be 'user' or 'assistant'"):
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[{"role": "tool", "content": "x"}],  # type: ignore[list-item]
        )
    emu.api_key = "sk-ant-another-key"
    try:
        with pytest.raises(anthropic.AuthenticationError, match="Invalid bearer token"):
            client.messages.create(model=MODEL, max_tokens=10, messages=HI)
    finally:
        emu.api_key = None


def test_rate_limit_with_retry_after(client: anthropic.Anthropic, emu: AnthropicEmulator) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(
            model=MODEL, max_tokens=10, messages=HI, **fault("status=429;retry_after=7")
        )
    headers = info.value.response.headers
    assert (
        headers["retry-after"] == "7" and headers["anthropic-ratelimit-requests-remaining"] == "0"
    )
    # the SDK's own retry honours the header and the next attempt goes through
    emu.add_fault("status=429;retry_after=0.01", times=1)
    with sdk(emu, max_retries=1) as retrying:
        assert retrying.messages.create(model=MODEL, max_tokens=10, messages=HI).content
    assert [r.status for r in emu.requests][-2:] == [429, 200]


def test_overloaded_is_retried_by_the_sdk(emu: AnthropicEmulator) -> None:
    emu.add_fault("status=529;retry_after=0.01", times=2)
    with sdk(emu, max_retries=2) as retrying:
        assert retrying.messages.create(model=MODEL, max_tokens=10, messages=HI).content
    assert [r.status for r in emu.requests] == [529, 529, 200]


def test_inband_stream_error(client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model=MODEL, max_tokens=100, messages=HI, **fault("stream_error_after=5")
        ) as stream,
    ):
        for _ in stream:
            pass
    assert info.value.type == "overloaded_error" and "Overloaded" in str(info.value)


def test_cut_mid_stream(client: anthropic.Anthropic, emu: AnthropicEmulator) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        for _ in client.messages.create(
            model=MODEL, max_tokens=100, messages=HI, stream=True, **fault("cut_after=5")
        ):
            pass
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=MODEL, max_tokens=100, messages=HI, **fault("cut_after=0"))
    assert emu.stats["cuts"] == 2


def test_missing_message_stop_goes_unnoticed_by_the_sdk(client: anthropic.Anthropic) -> None:
    """The SDK ends such a stream quietly (its last event is the message_delta): a client
    built on the wire, like llmrouter's, has to notice by itself."""
    events = list(
        client.messages.create(
            model=MODEL, max_tokens=100, messages=HI, stream=True, **fault("no_done")
        )
    )
    assert events[-1].type == "message_delta" and "message_stop" not in [e.type for e in events]


def test_garbage_json(client: anthropic.Anthropic) -> None:
    """A 200 whose body is cut off: the SDK lets the JSON error through as it is."""
    with pytest.raises(json.JSONDecodeError):
        client.messages.create(model=MODEL, max_tokens=10, messages=HI, **fault("malformed"))
    with pytest.raises(json.JSONDecodeError):
        for _ in client.messages.create(
            model=MODEL, max_tokens=10, messages=HI, stream=True, **fault("malformed")
        ):
            pass


# --- models and token counting -------------------------------------------------------------------


def test_models_auto_pager(client: anthropic.Anthropic, emu: AnthropicEmulator) -> None:
    expected = [m["id"] for m in emu.models]
    seen = [m.id for m in client.models.list(limit=2)]
    assert seen == expected and len(expected) > 4
    pages = [r for r in emu.requests if r.endpoint == "/models"]
    assert len(pages) == (len(expected) + 1) // 2
    assert pages[1].query == f"limit=2&after_id={expected[1]}"
    backwards = client.models.list(limit=2, before_id=expected[4])
    assert [m.id for m in backwards.data] == expected[2:4] and backwards.has_more
    assert [m.id for m in client.models.list(lifecycle=["deprecated"])] == [
        m["id"] for m in emu.models if m["lifecycle"] == "deprecated"
    ]
    one = client.models.retrieve(MODEL)
    assert one.display_name == "Claude Sonnet 4.6" and one.max_tokens == 64_000
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope")


def test_count_tokens(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=HI, tools=TOOLS)
    message = client.messages.create(model=MODEL, max_tokens=10, messages=HI, tools=TOOLS)
    assert counted.input_tokens == message.usage.input_tokens == 9


# --- async ---------------------------------------------------------------------------------------


def test_async_client(emu: AnthropicEmulator) -> None:
    async def main() -> tuple[str, str, list[str]]:
        async with anthropic.AsyncAnthropic(
            base_url=emu.base_url, api_key=KEY, max_retries=0, _strict_response_validation=True
        ) as client:
            message = await client.messages.create(model=MODEL, max_tokens=50, messages=HI)
            async with client.messages.stream(
                model=MODEL, max_tokens=50, messages=ASK_TOOL, tools=TOOLS
            ) as stream:
                final = await stream.get_final_message()
            ids = [m.id async for m in client.models.list(limit=3)]
            with pytest.raises(anthropic.OverloadedError):
                await client.messages.create(
                    model=MODEL, max_tokens=5, messages=HI, **fault("status=529")
                )
            return message.content[0].type, final.stop_reason or "", ids

    kind, stop, ids = asyncio.run(main())
    assert (kind, stop) == ("text", "tool_use") and ids == [m["id"] for m in emu.models]


# --- the capture helper (plugins/anthropic/tests/anthropic_capture.py) -------------------------------------


def test_capture_records_the_body_the_sdk_sends() -> None:
    with capture() as emu:
        sent = sent_by_sdk(
            emu,
            model=MODEL,
            max_tokens=20,
            messages=HI,
            stream=True,
            extra_body={"temperature": 0.1},
        )
    assert sent.body == {
        "model": MODEL,
        "max_tokens": 20,
        "messages": HI,
        "stream": True,
        "temperature": 0.1,
    }
    assert sent.headers["anthropic-version"] == LATEST_VERSION and sent.status == 200


def test_capture_puts_llmrouters_body_next_to_the_sdks() -> None:
    """The simplest call, OpenAI-shaped through llmrouter and Anthropic-shaped through the SDK,
    sends the same body (the full table of calls is built on this helper)."""
    with capture() as emu:
        sdk_sent = sent_by_sdk(emu, model=MODEL, max_tokens=64, messages=HI)
        ours = sent_by_llmrouter(emu, model=MODEL, max_tokens=64, messages=HI)
    assert ours.body == sdk_sent.body == {"model": MODEL, "max_tokens": 64, "messages": HI}
    assert ours.headers["anthropic-version"] == sdk_sent.headers["anthropic-version"]
