"""The official ``openai`` SDK against a real gateway process, upstream on the emulators.

Each test checks what the SDK sees (types, text, the exception class the status maps to) and,
where it matters, what reached the emulator (its counters and request log).
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct

import httpx
import openai
import pytest

from .conftest import ANTHROPIC_KEY, MASTER_KEY, TOGETHER_KEY, Stack

MESSAGES = [{"role": "user", "content": "Hello through the gateway"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def client(gw: Stack, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.gateway.base_url, api_key=key, max_retries=0, timeout=30)


# --- happy paths -------------------------------------------------------------------------------


def test_chat_sync(gw: Stack) -> None:
    response = client(gw).chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    assert response.object == "chat.completion"
    assert "Hello through the gateway" in (response.choices[0].message.content or "")
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.total_tokens > 0
    sent = gw.together.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert sent.json["messages"] == MESSAGES


def test_chat_async_concurrent(gw: Stack) -> None:
    async def run() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=gw.gateway.base_url, api_key=MASTER_KEY, max_retries=0
        ) as aclient:
            answers = await asyncio.gather(
                *(
                    aclient.chat.completions.create(
                        model="chat", messages=[{"role": "user", "content": f"question {i}"}]
                    )
                    for i in range(20)
                )
            )
        return [a.choices[0].message.content or "" for a in answers]

    texts = asyncio.run(run())
    assert all(f"question {i}" in text for i, text in enumerate(texts))
    assert gw.together.stats["by_path"]["/v1/chat/completions"] == 20


def test_chat_stream(gw: Stack) -> None:
    stream = client(gw).chat.completions.create(
        model="chat",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Hello through the gateway" in text
    assert len(chunks) > 3
    assert any(c.usage is not None for c in chunks)
    assert chunks[-1].object == "chat.completion.chunk"


def test_stream_ends_with_done_on_the_wire(gw: Stack) -> None:
    with httpx.stream(
        "POST",
        f"{gw.gateway.base_url}/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "chat", "messages": MESSAGES, "stream": True},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    assert json.loads(events[0][6:])["object"] == "chat.completion.chunk"


def test_async_stream_on_anthropic(gw: Stack) -> None:
    async def run() -> str:
        async with openai.AsyncOpenAI(
            base_url=gw.gateway.base_url, api_key=MASTER_KEY, max_retries=0
        ) as aclient:
            stream = await aclient.chat.completions.create(
                model="claude", messages=MESSAGES, stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    text = asyncio.run(run())
    assert text
    sent = gw.claude.requests[-1]
    assert sent.path == "/v1/messages" and sent.json["stream"] is True
    assert sent.json["max_tokens"] == 256  # the deployment's option


def test_tools_round_trip(gw: Stack) -> None:
    c = client(gw)
    first = c.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "Weather in Paris? [[emulator:tool_call]]"}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    json.loads(call.function.arguments)
    second = c.chat.completions.create(
        model="chat",
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert second.choices[0].message.content
    sent = gw.together.requests[-1].json
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": "sunny, 21 C",
    }
    assert sent["tools"] == TOOLS


def test_tools_on_anthropic(gw: Stack) -> None:
    response = client(gw).chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Weather? [[emulator:tool_call]]"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="required",
    )
    calls = response.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert gw.claude.requests[-1].json["tool_choice"] == {"type": "any"}


def test_fallback_to_another_provider(gw: Stack) -> None:
    response = client(gw).chat.completions.create(model="fallback", messages=MESSAGES)  # type: ignore[arg-type]
    assert response.choices[0].message.content
    assert gw.claude.stats["by_path"] == {"/v1/messages": 1}


def test_legacy_completions(gw: Stack) -> None:
    c = client(gw)
    response = c.completions.create(model="chat", prompt="Once upon a time", max_tokens=20)
    assert response.object == "text_completion"
    assert response.choices[0].text
    sent = gw.together.requests[-1]
    assert sent.path == "/v1/completions"
    assert sent.json["prompt"] == "Once upon a time"  # exactly the prompt: no template added
    streamed = "".join(
        chunk.choices[0].text
        for chunk in c.completions.create(model="chat", prompt="Once upon a time", stream=True)
        if chunk.choices
    )
    assert streamed == response.choices[0].text


def test_legacy_completions_refuse_several_prompts(gw: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).completions.create(model="chat", prompt=["a", "b"])
    assert info.value.body["param"] == "prompt"  # type: ignore[index]
    assert gw.together.stats["total"] == 0


def test_embeddings_float_and_base64(gw: Stack) -> None:
    c = client(gw)
    # The SDK asks for base64 unless told otherwise, and decodes it.
    default = c.embeddings.create(model="embed", input=["alpha", "beta"])
    floats = c.embeddings.create(model="embed", input=["alpha", "beta"], encoding_format="float")
    assert [len(d.embedding) for d in default.data] == [len(d.embedding) for d in floats.data]
    for a, b in zip(default.data, floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, rel=1e-6)
    raw = httpx.post(
        f"{gw.gateway.base_url}/embeddings",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "embed", "input": "alpha", "encoding_format": "base64"},
    ).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    values = struct.unpack(f"<{len(packed) // 4}f", packed)
    assert list(values) == pytest.approx(floats.data[0].embedding, rel=1e-6)


def test_models(gw: Stack) -> None:
    c = client(gw)
    assert sorted(m.id for m in c.models.list()) == ["chat", "claude", "embed", "fallback"]
    assert c.models.retrieve("claude").id == "claude"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("gpt-unknown")


def test_paths_without_v1(gw: Stack) -> None:
    c = openai.OpenAI(base_url=gw.gateway.root, api_key=MASTER_KEY, max_retries=0)
    response = c.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    assert response.choices[0].message.content
    assert [m.id for m in c.models.list()]


# --- errors, each as the SDK's own class --------------------------------------------------------


def test_missing_and_wrong_key_are_401(gw: Stack) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        client(gw, key="sk-wrong").chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    response = httpx.post(f"{gw.gateway.base_url}/chat/completions", json={"model": "chat"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"
    # x-api-key works as well as the bearer token
    ok = httpx.get(f"{gw.gateway.base_url}/models", headers={"x-api-key": MASTER_KEY})
    assert ok.status_code == 200
    assert gw.together.stats["total"] == 0


def test_unknown_model_is_404(gw: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(gw).chat.completions.create(model="gpt-9", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


@pytest.mark.parametrize(
    "extra",
    [
        {"api_base": "http://169.254.169.254/latest"},
        {"base_url": "http://169.254.169.254"},
        {"api_key": "sk-other"},
        {"extra_headers": {"x-evil": "1"}},
        {"timeout": 0.001},
        {"prompt_template": "llama-2"},
    ],
)
def test_requests_cannot_redirect_a_deployment(gw: Stack, extra: dict[str, object]) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).chat.completions.create(model="chat", messages=MESSAGES, extra_body=extra)  # type: ignore[arg-type]
    body = info.value.body
    assert body["code"] == "forbidden_parameter"  # type: ignore[index]
    assert body["param"] == next(iter(extra))  # type: ignore[index]
    assert gw.together.stats["total"] == 0


def test_invalid_bodies_are_400(gw: Stack) -> None:
    url = f"{gw.gateway.base_url}/chat/completions"
    auth = {"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
    cases = {
        b"{not json": "not valid JSON",
        b"[1, 2]": "must be a JSON object",
        b'{"model": "chat"}': "'messages' is required",
        b'{"model": "chat", "messages": [], "stream": "yes"}': "'stream' must be",
        b"": "empty",
    }
    for body, words in cases.items():
        response = httpx.post(url, content=body, headers=auth)
        assert response.status_code == 400, body
        assert words in response.json()["error"]["message"], body
    # the router's own validation, before any request upstream
    bad = httpx.post(url, headers=auth, json={"model": "chat", "messages": [{"role": "user"}]})
    assert bad.status_code == 400
    assert gw.together.stats["total"] == 0


def test_body_over_the_limit_is_400_before_reading(gw: Stack) -> None:
    big = {"model": "chat", "messages": [{"role": "user", "content": "x" * 300_000}]}
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).chat.completions.create(**big)  # type: ignore[call-overload]
    assert info.value.body["code"] == "request_too_large"  # type: ignore[index]
    assert "max_body_bytes" in info.value.body["message"]  # type: ignore[index]
    assert gw.together.stats["total"] == 0


def test_upstream_400_stays_400(gw: Stack) -> None:
    gw.together.add_fault("status=400;message=max_tokens is too large", times=1)
    with pytest.raises(openai.BadRequestError) as info:
        client(gw).chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    assert "max_tokens is too large" in info.value.body["message"]  # type: ignore[index]


def test_upstream_429_is_429_with_retry_after(gw: Stack) -> None:
    gw.together.add_fault("status=429;retry_after=7", times=1)
    with pytest.raises(openai.RateLimitError) as info:
        client(gw).chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.response.headers["retry-after"] == "7"


@pytest.mark.parametrize("status", [500, 503])
def test_upstream_5xx_is_5xx(gw: Stack, status: int) -> None:
    gw.together.add_fault(f"status={status}", times=1)
    with pytest.raises(openai.InternalServerError) as info:
        client(gw).chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == status


def test_upstream_auth_failure_is_502_not_401(gw: Stack) -> None:
    """The provider refusing the gateway's key is the gateway's problem, not the caller's."""
    gw.together.add_fault("status=401", times=1)
    with pytest.raises(openai.InternalServerError) as info:
        client(gw).chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_authentication_error"  # type: ignore[index]


def test_unreachable_upstream_is_502(gw: Stack) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        # "fallback"'s first deployment is a closed port; stop its fallback from answering
        gw.claude.add_fault("status=529", times=1)
        client(gw).chat.completions.create(model="fallback", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 503  # Anthropic's 529 (overloaded), as the standard status
    assert "dead" in info.value.body["message"] and "claude" in info.value.body["message"]  # type: ignore[index]


@pytest.mark.parametrize("fault", ["stream_error_after=3", "cut_after=3"])
def test_error_after_the_stream_started_is_in_band(gw: Stack, fault: str) -> None:
    gw.together.add_fault(fault, times=1)
    stream = client(gw).chat.completions.create(model="chat", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert received, "the error came after some chunks"
    assert isinstance(info.value.body, dict) and info.value.body.get("message")


def test_no_secret_in_errors_or_logs(gw: Stack) -> None:
    gw.together.add_fault("status=401", times=1)
    with pytest.raises(openai.InternalServerError) as info:
        client(gw).chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    text = json.dumps(info.value.body) + gw.gateway.output()
    for secret in (MASTER_KEY, TOGETHER_KEY, ANTHROPIC_KEY):
        assert secret not in text


# --- the answers against the OpenAI SDK's own types, validated (the SDK itself does not) ------


def test_raw_answers_validate_as_the_sdks_types(gw: Stack) -> None:
    from openai.types import Completion, CreateEmbeddingResponse, Model
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    url = gw.gateway.base_url

    def post(path: str, body: dict[str, object]) -> dict[str, object]:
        response = httpx.post(f"{url}{path}", headers=auth, json=body)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    for alias in ("chat", "claude"):
        ChatCompletion.model_validate(
            post("/chat/completions", {"model": alias, "messages": MESSAGES}), strict=True
        )
        with httpx.stream(
            "POST",
            f"{url}/chat/completions",
            headers=auth,
            json={
                "model": alias,
                "messages": MESSAGES,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ) as response:
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: {")]
        assert events
        for event in events:
            ChatCompletionChunk.model_validate_json(event, strict=True)
    Completion.model_validate(
        post("/completions", {"model": "chat", "prompt": "Once"}), strict=True
    )
    embeddings = post("/embeddings", {"model": "embed", "input": ["a"]})
    # Together reports no usage for embeddings: the gateway says so (null) rather than invent
    # zeros, the one place its answer is looser than the SDK's type.
    assert embeddings["usage"] is None
    embeddings["usage"] = {"prompt_tokens": 0, "total_tokens": 0}
    CreateEmbeddingResponse.model_validate(embeddings, strict=True)
    models = httpx.get(f"{url}/models", headers=auth).json()
    assert models["object"] == "list"
    for entry in models["data"]:
        Model.model_validate(entry, strict=True)


_TOGETHER_OPTIONS: list[dict[str, object]] = [
    {},
    {"temperature": 0.3, "max_tokens": 50, "stop": ["\n\n"], "seed": 7, "user": "u-1"},
    {"tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": False},
    {"response_format": {"type": "json_object"}, "top_p": 0.9, "n": 1},
    {"stream": True, "stream_options": {"include_usage": True}},
]
# Anthropic's current API version has no temperature/top_p (a 400 before sending: tested in
# plugins/anthropic), so its cases use what it has.
_CLAUDE_OPTIONS: list[dict[str, object]] = [
    {},
    {"max_tokens": 50, "stop": ["END"], "user": "u-1"},
    {"tools": TOOLS, "tool_choice": "required", "parallel_tool_calls": False},
    {"reasoning_effort": "low"},
    {"stream": True, "stream_options": {"include_usage": True}},
]


@pytest.mark.parametrize(
    ("alias", "options"),
    [("chat", o) for o in _TOGETHER_OPTIONS] + [("claude", o) for o in _CLAUDE_OPTIONS],
)
def test_upstream_body_is_the_librarys(
    gw: Stack, monkeypatch: pytest.MonkeyPatch, alias: str, options: dict[str, object]
) -> None:
    """What the gateway sends upstream for an SDK call is exactly what llmrouter sends for the
    same call made directly: the gateway adds, drops and rewrites nothing."""
    import llmrouter
    from llmrouter.config import load_config_file

    emulator = gw.together if alias == "chat" else gw.claude
    create: dict[str, object] = {"model": alias, "messages": MESSAGES, **options}
    result = client(gw).chat.completions.create(**create)  # type: ignore[call-overload]
    if options.get("stream"):
        list(result)
    via_gateway = emulator.requests[-1].json
    monkeypatch.setenv("GW_TOGETHER_KEY", TOGETHER_KEY)
    monkeypatch.setenv("GW_ANTHROPIC_KEY", ANTHROPIC_KEY)
    config = load_config_file(gw.gateway.log.parent / "llmrouter.toml")
    with llmrouter.Router(config=config) as router:
        direct = router.completion(**create)  # type: ignore[arg-type]
        if options.get("stream"):
            list(direct)
    assert emulator.requests[-1].json == via_gateway
