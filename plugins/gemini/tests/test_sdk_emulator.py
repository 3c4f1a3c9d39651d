"""``GeminiEmulator`` proven against the official ``google-genai`` SDK (3.6, a dev dependency).

The SDK reads every answer through its converters into its pydantic types (``extra='forbid'``
models; it drops fields it does not know before validating, and a field of the wrong type
fails). So, on top of running the SDK, each raw body here is also validated with the SDK's
types *without* that dropping (:func:`strictly`): a field the SDK does not know is an error.
Errors must come out as the SDK's own exception classes (``ClientError``/``ServerError`` with
the code and status), and faults must break the SDK the way a real outage would.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from google import genai
from google.genai import errors, types

from llmrouter_gemini.testing import GeminiEmulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gemini_capture import KEY, sdk_client, sent_by_sdk

MODEL = "gemini-2.5-flash"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather in a city",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"],
    },
)
TOOLS = [types.Tool(function_declarations=[WEATHER])]
ASK_TOOL = "Weather in Paris? [[emulator:tool_call]]"


@pytest.fixture
def emu() -> Iterator[GeminiEmulator]:
    with GeminiEmulator() as fresh:
        yield fresh


@pytest.fixture
def client(emu: GeminiEmulator) -> Iterator[genai.Client]:
    with sdk_client(emu) as c:
        yield c


def fault(spec: str, **config: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"x-emulator-fault": spec}), **config
    )


def strictly(emu: GeminiEmulator, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST ``body`` raw and validate every answer (each event of a stream) with the SDK's
    ``GenerateContentResponse`` as it is, unknown fields included: ``extra='forbid'``."""
    answer = httpx.post(emu.base_url + path, json=body, headers={"x-goog-api-key": KEY})
    assert answer.status_code == 200, answer.text
    if "alt=sse" in path:
        raw = [
            json.loads(event.removeprefix("data: "))
            for event in answer.text.split("\r\n\r\n")
            if event
        ]
    else:
        raw = [answer.json()]
    for item in raw:
        types.GenerateContentResponse.model_validate(item)
    return raw


# --- generateContent -----------------------------------------------------------------------------


def test_generate_content(client: genai.Client, emu: GeminiEmulator) -> None:
    r = client.models.generate_content(model=MODEL, contents="Hello there, Gemini")
    assert (
        r.text
        == "This is a deterministic reply from the Gemini emulator. You said: Hello there, Gemini"
    )
    assert r.candidates is not None and r.candidates[0].finish_reason == types.FinishReason.STOP
    usage = r.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (3, len(r.text.split()))
    assert usage.total_token_count == 3 + len(r.text.split())
    assert r.model_version == MODEL and r.response_id
    sent = emu.last_request
    assert sent is not None
    assert sent.path == f"/v1/models/{MODEL}:generateContent"
    assert sent.headers["x-goog-api-key"] == "<redacted>" and sent.key_matches(KEY)
    assert sent.body == {"contents": [{"parts": [{"text": "Hello there, Gemini"}], "role": "user"}]}


def test_raw_answers_validate_without_dropping_fields(emu: GeminiEmulator) -> None:
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "Hi " * 40}]}],
        "generationConfig": {
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512},
            "candidateCount": 2,
        },
    }
    strictly(emu, f"/v1/models/{MODEL}:generateContent", body)
    events = strictly(emu, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", body)
    assert "finishReason" in events[-1]["candidates"][0]
    assert all("finishReason" not in c for e in events[:-1] for c in e["candidates"])
    blocked = {"contents": [{"role": "user", "parts": [{"text": "x [[emulator:blocked]]"}]}]}
    (answer,) = strictly(emu, f"/v1/models/{MODEL}:generateContent", blocked)
    assert answer["promptFeedback"] == {"blockReason": "OTHER"}


def test_the_sdk_validation_is_type_strict_but_drops_unknown_fields() -> None:
    """What "the SDK validates" means: a wrong type fails, an unknown field is dropped."""
    with pytest.raises(pydantic.ValidationError):
        types.GenerateContentResponse._from_response(
            response={"candidates": [{"index": "first"}]}, kwargs={}
        )
    kept = types.GenerateContentResponse._from_response(
        response={"candidates": [{"index": 0, "novelField": 1}]}, kwargs={}
    )
    assert kept.candidates is not None and kept.candidates[0].index == 0
    with pytest.raises(pydantic.ValidationError):  # what strictly() adds
        types.GenerateContentResponse.model_validate({"candidates": [{"novelField": 1}]})


def test_stream(client: genai.Client, emu: GeminiEmulator) -> None:
    whole = client.models.generate_content(model=MODEL, contents="Stream this please")
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Stream this please"))
    assert len(chunks) > 3
    assert "".join(c.text or "" for c in chunks) == whole.text
    assert [c.candidates[0].finish_reason for c in chunks if c.candidates][-1] == "STOP"
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1] if c.candidates)
    final = chunks[-1].usage_metadata
    assert final is not None and final.candidates_token_count == len((whole.text or "").split())
    sent = emu.last_request
    assert sent is not None and sent.path.endswith(":streamGenerateContent")
    assert sent.query == "alt=sse"


def test_limits_stops_and_candidates(client: genai.Client) -> None:
    cut = client.models.generate_content(
        model=MODEL, contents="Hi", config=types.GenerateContentConfig(max_output_tokens=3)
    )
    assert cut.candidates is not None and cut.candidates[0].finish_reason == "MAX_TOKENS"
    assert cut.text == "This is a"
    stopped = client.models.generate_content(
        model=MODEL, contents="Hi", config=types.GenerateContentConfig(stop_sequences=["reply"])
    )
    assert stopped.text == "This is a deterministic"
    assert stopped.candidates is not None and stopped.candidates[0].finish_reason == "STOP"
    two = client.models.generate_content(
        model=MODEL, contents="Hi", config=types.GenerateContentConfig(candidate_count=2)
    )
    assert two.candidates is not None and [c.index for c in two.candidates] == [0, 1]
    usage = two.usage_metadata
    words = len((two.text or "").split())  # .text reads the first candidate
    assert usage is not None and usage.candidates_token_count == 2 * words


def test_v1beta(emu: GeminiEmulator) -> None:
    sent = sent_by_sdk(emu, MODEL, "Hi", api_version="v1beta")
    assert sent.path == f"/v1beta/models/{MODEL}:generateContent"


def test_prompt_blocked(client: genai.Client) -> None:
    r = client.models.generate_content(model=MODEL, contents="[[emulator:blocked:SAFETY]] hi")
    assert r.candidates is None and r.text is None
    assert r.prompt_feedback is not None
    assert r.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    finished = client.models.generate_content(
        model=MODEL, contents="[[emulator:finish:RECITATION]]"
    )
    assert finished.candidates is not None
    assert finished.candidates[0].finish_reason == "RECITATION"
    assert finished.candidates[0].content is None


# --- function calling ----------------------------------------------------------------------------


def test_function_call_round(client: genai.Client, emu: GeminiEmulator) -> None:
    config = types.GenerateContentConfig(tools=TOOLS)
    first = client.models.generate_content(model=MODEL, contents=ASK_TOOL, config=config)
    assert first.function_calls is not None
    (call,) = first.function_calls
    assert call.name == "get_weather" and call.args == {"city": "example city", "unit": "c"}
    assert first.candidates is not None and first.candidates[0].finish_reason == "STOP"
    assert first.candidates[0].content is not None
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text=ASK_TOOL)]),
        first.candidates[0].content,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"temp": 21})],
        ),
    ]
    second = client.models.generate_content(model=MODEL, contents=contents, config=config)
    assert second.function_calls is None and second.text
    sent = emu.last_request
    assert sent is not None
    assert sent.body["contents"][1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert sent.body["contents"][2]["parts"][0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"temp": 21},
    }


def test_function_calling_modes(client: genai.Client) -> None:
    other = types.FunctionDeclaration(
        name="get_time",
        parameters=types.Schema(
            type=types.Type.OBJECT, properties={"zone": types.Schema(type=types.Type.STRING)}
        ),
    )
    tools = [types.Tool(function_declarations=[WEATHER, other])]

    def answer(contents: str, mode: str, names: list[str] | None = None) -> Any:
        calling = types.FunctionCallingConfig(mode=mode, allowed_function_names=names)
        config = types.GenerateContentConfig(
            tools=tools, tool_config=types.ToolConfig(function_calling_config=calling)
        )
        return client.models.generate_content(model=MODEL, contents=contents, config=config)

    assert answer("Hi", "ANY").function_calls[0].name == "get_weather"
    forced = answer("Hi", "ANY", ["get_time"]).function_calls[0]
    assert (forced.name, forced.args) == ("get_time", {"zone": "example zone"})
    assert answer(ASK_TOOL, "NONE").function_calls is None
    assert answer("Hi", "AUTO").function_calls is None
    assert answer("Hi [[emulator:tool_call:get_time]]", "AUTO").function_calls[0].name == "get_time"


def test_function_call_streams_whole(client: genai.Client) -> None:
    chunks = list(
        client.models.generate_content_stream(
            model=MODEL, contents=ASK_TOOL, config=types.GenerateContentConfig(tools=TOOLS)
        )
    )
    calls = [fc for c in chunks for fc in c.function_calls or ()]
    assert len(calls) == 1 and calls[0].args == {"city": "example city", "unit": "c"}
    assert chunks[-1].candidates is not None and chunks[-1].candidates[0].finish_reason == "STOP"


# --- JSON output, thinking -------------------------------------------------------------------------


class City(pydantic.BaseModel):
    name: str
    population: int


def test_json_schema_output(client: genai.Client, emu: GeminiEmulator) -> None:
    r = client.models.generate_content(
        model=MODEL,
        contents="A city",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=City.model_json_schema()
        ),
    )
    assert json.loads(r.text or "") == {"name": "example name", "population": 1}
    parsed = client.models.generate_content(
        model=MODEL,
        contents="A city",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=City
        ),
    )
    assert isinstance(parsed.parsed, City) and parsed.parsed.population == 1
    sent = emu.last_request
    assert sent is not None
    assert sent.body["generationConfig"]["responseMimeType"] == "application/json"
    plain = client.models.generate_content(
        model=MODEL,
        contents="Hi",
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    assert set(json.loads(plain.text or "")) == {"reply"}


def test_schema_without_json_mime_type_is_refused(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=MODEL,
            contents="A city",
            config=types.GenerateContentConfig(response_json_schema=City.model_json_schema()),
        )
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"


def test_thinking(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)
    )
    r = client.models.generate_content(model=MODEL, contents="Think about it", config=config)
    assert r.candidates is not None and r.candidates[0].content is not None
    parts = r.candidates[0].content.parts or []
    assert parts[0].thought is True and parts[0].text
    assert parts[1].thought is None and parts[1].thought_signature
    assert r.text and "Thinking" not in r.text  # the SDK's .text leaves thoughts out
    usage = r.usage_metadata
    assert usage is not None and usage.thoughts_token_count == len((parts[0].text or "").split())
    assert usage.total_token_count == (
        (usage.prompt_token_count or 0)
        + (usage.candidates_token_count or 0)
        + usage.thoughts_token_count
    )
    hidden = client.models.generate_content(
        model=MODEL,
        contents="Think about it",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(thinking_budget=256)
        ),
    )
    assert hidden.candidates is not None and hidden.candidates[0].content is not None
    assert not any(p.thought for p in hidden.candidates[0].content.parts or [])
    assert hidden.usage_metadata is not None and hidden.usage_metadata.thoughts_token_count


def test_thinking_budget_checks(client: genai.Client) -> None:
    for model, budget in (("gemini-2.5-pro", 0), (MODEL, 100_000), ("gemini-2.0-flash", 512)):
        with pytest.raises(errors.ClientError) as caught:
            client.models.generate_content(
                model=model,
                contents="Hi",
                config=types.GenerateContentConfig(
                    thinking_config=types.ThinkingConfig(thinking_budget=budget)
                ),
            )
        assert caught.value.code == 400


# --- embeddings, models --------------------------------------------------------------------------


def test_embed_content(client: genai.Client, emu: GeminiEmulator) -> None:
    r = client.models.embed_content(
        model="gemini-embedding-001",
        contents=["first text", "second text", "first text"],
        config=types.EmbedContentConfig(output_dimensionality=16, task_type="RETRIEVAL_DOCUMENT"),
    )
    assert r.embeddings is not None and len(r.embeddings) == 3
    vectors = [e.values for e in r.embeddings]
    assert all(v is not None and len(v) == 16 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    sent = emu.last_request
    assert sent is not None and sent.path == "/v1/models/gemini-embedding-001:batchEmbedContents"
    assert sent.body["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"
    full = client.models.embed_content(model="gemini-embedding-001", contents="x")
    assert full.embeddings is not None and len(full.embeddings[0].values or []) == 3072


def test_embedding_on_a_chat_model_is_not_found(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.embed_content(model=MODEL, contents="x")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


def test_models_list_pages_and_get(client: genai.Client, emu: GeminiEmulator) -> None:
    pager = client.models.list(config={"page_size": 2})
    names = [m.name for m in pager]
    assert names == [m["name"] for m in emu.models]
    listed = [r for r in emu.requests if r.path == "/v1/models"]
    assert len(listed) == (len(names) + 1) // 2
    assert "pageToken=" in listed[1].query
    model = client.models.get(model=MODEL)
    assert model.name == f"models/{MODEL}" and model.input_token_limit == 1_048_576
    assert model.supported_actions is not None and "generateContent" in model.supported_actions
    assert model.thinking is True
    with pytest.raises(errors.ClientError) as caught:
        client.models.get(model="gemini-0-nope")
    assert caught.value.code == 404


# --- errors and faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name", "kind"),
    [
        (400, "INVALID_ARGUMENT", errors.ClientError),
        (403, "PERMISSION_DENIED", errors.ClientError),
        (404, "NOT_FOUND", errors.ClientError),
        (429, "RESOURCE_EXHAUSTED", errors.ClientError),
        (500, "INTERNAL", errors.ServerError),
        (503, "UNAVAILABLE", errors.ServerError),
        (504, "DEADLINE_EXCEEDED", errors.ServerError),
    ],
)
def test_error_statuses(
    client: genai.Client, status: int, name: str, kind: type[Exception]
) -> None:
    with pytest.raises(kind) as caught:
        client.models.generate_content(model=MODEL, contents="Hi", config=fault(f"status={status}"))
    error = caught.value
    assert isinstance(error, errors.APIError)
    assert (error.code, error.status) == (status, name)
    assert error.message


def test_rate_limit_carries_retry_info(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=MODEL, contents="Hi", config=fault("status=429;retry_after=7")
        )
    details = caught.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"} in details


def test_fail_first_k_then_succeed(client: genai.Client, emu: GeminiEmulator) -> None:
    rule = emu.add_fault("status=503", model=MODEL, times=2)
    for _ in range(2):
        with pytest.raises(errors.ServerError):
            client.models.generate_content(model=MODEL, contents="Hi")
    assert client.models.generate_content(model=MODEL, contents="Hi").text
    assert rule.hits == 2


def test_bad_key_no_key_and_key_in_url(emu: GeminiEmulator) -> None:
    with GeminiEmulator(api_key=KEY) as locked:
        wrong = genai.Client(
            api_key="AIza-wrong-key-000000",
            http_options=types.HttpOptions(base_url=locked.base_url),
        )
        with pytest.raises(errors.ClientError) as caught:
            wrong.models.generate_content(model=MODEL, contents="Hi")
        assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
        assert "API key not valid" in str(caught.value.message)
        assert "AIza-wrong-key-000000" not in repr(locked.requests)
    none = httpx.post(f"{emu.base_url}/v1/models/{MODEL}:generateContent", json={})
    assert none.status_code == 403 and none.json()["error"]["status"] == "PERMISSION_DENIED"
    body = {"contents": [{"parts": [{"text": "Hi"}]}]}
    in_url = httpx.post(f"{emu.base_url}/v1/models/{MODEL}:generateContent?key={KEY}", json=body)
    assert in_url.status_code == 200
    sent = emu.last_request
    assert sent is not None and sent.key_matches(KEY) and KEY not in repr(sent)
    assert sent.headers["x-emulator-key-source"] == "url" and sent.query == ""


def test_in_band_stream_error(client: genai.Client) -> None:
    seen: list[str] = []
    with pytest.raises(errors.ServerError) as caught:
        for chunk in client.models.generate_content_stream(
            model=MODEL, contents="Hi", config=fault("stream_error_after=2")
        ):
            seen.append(chunk.text or "")
    assert len(seen) == 2
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")


def test_no_done_ends_before_the_finish_event(client: genai.Client) -> None:
    """The SDK cannot tell: it yields what came and stops, with no finish reason seen."""
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents="Hi", config=fault("no_done"))
    )
    assert chunks
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks)


def test_cut_and_malformed_break_the_sdk(client: genai.Client) -> None:
    # the SDK's transport (httpx2) calls a connection closed mid-body a protocol error
    with pytest.raises(Exception, match="incomplete chunked read") as cut:
        list(
            client.models.generate_content_stream(
                model=MODEL, contents="Hi", config=fault("cut_after=2")
            )
        )
    assert type(cut.value).__name__ == "RemoteProtocolError"
    with pytest.raises(json.JSONDecodeError):
        client.models.generate_content(model=MODEL, contents="Hi", config=fault("malformed"))


# --- async ---------------------------------------------------------------------------------------


def test_async_client(emu: GeminiEmulator) -> None:
    async def run() -> tuple[str | None, str]:
        client = sdk_client(emu)
        whole = await client.aio.models.generate_content(model=MODEL, contents="Async hi")
        text = ""
        async for chunk in await client.aio.models.generate_content_stream(
            model=MODEL, contents="Async hi"
        ):
            text += chunk.text or ""
        await client.aio.aclose()
        return whole.text, text

    whole, streamed = asyncio.run(run())
    assert whole and whole == streamed


def test_async_errors(emu: GeminiEmulator) -> None:
    async def run() -> None:
        client = sdk_client(emu)
        try:
            await client.aio.models.generate_content(
                model=MODEL, contents="Hi", config=fault("status=429")
            )
        finally:
            await client.aio.aclose()

    with pytest.raises(errors.ClientError) as caught:
        asyncio.run(run())
    assert caught.value.code == 429
