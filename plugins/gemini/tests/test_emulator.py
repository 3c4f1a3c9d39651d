"""``GeminiEmulator`` on the wire (raw HTTP): shapes, checks, faults, log, stats, caching.

test_sdk_emulator.py proves the shapes against the official SDK's types; this file checks what
a client library cannot see or does not send: the exact events of a stream (and that nothing
follows the finishing one), the request checks (each with Google's wording), the key header and
``?key=``, and every fault knob.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmrouter.testing import Fault
from llmrouter_gemini.testing import DEFAULT_MODELS, GeminiEmulator, model_info

KEY = "AIza-emulator-test-0123456789"
MODEL = "gemini-2.5-flash"
GENERATE = f"/v1/models/{MODEL}:generateContent"
STREAM = f"/v1/models/{MODEL}:streamGenerateContent?alt=sse"
HI: list[Any] = [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}]
TOOL = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "parameters": {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}},
            },
        }
    ]
}


@pytest.fixture(scope="module")
def server() -> Iterator[GeminiEmulator]:
    with GeminiEmulator() as emu:
        yield emu


@pytest.fixture
def emu(server: GeminiEmulator) -> Iterator[GeminiEmulator]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def http(emu: GeminiEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": KEY}) as client:
        yield client


def ask(
    http: httpx.Client, path: str = GENERATE, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    return http.post(path, json={"contents": HI, **body}, headers=headers or {})


def events(r: httpx.Response) -> list[dict[str, Any]]:
    """The stream's events; each is ``data: {...}`` followed by a blank line (CRLF, as Google
    sends them), and nothing else is on the wire."""
    assert r.text.endswith("\r\n\r\n") or r.text == ""
    raw = [e for e in r.text.split("\r\n\r\n") if e]
    assert all(e.startswith("data: ") and "\n" not in e for e in raw), raw
    return [json.loads(e[len("data: ") :]) for e in raw]


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == r.status_code
    return dict(body["error"])


# --- shapes --------------------------------------------------------------------------------------


def test_base_url_is_the_host(emu: GeminiEmulator) -> None:
    assert emu.base_url == emu.url and not emu.base_url.endswith("/v1")
    assert emu.base_url_for("a") == emu.url + "/t/a"


def test_generate_answer(http: httpx.Client) -> None:
    r = ask(http)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    (candidate,) = body["candidates"]
    assert candidate["content"]["role"] == "model"
    assert candidate["finishReason"] == "STOP" and candidate["index"] == 0
    text = candidate["content"]["parts"][0]["text"]
    assert text.endswith("You said: Weather in Paris?")
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == 3
    assert usage["candidatesTokenCount"] == len(text.split())
    assert usage["totalTokenCount"] == 3 + len(text.split())
    assert body["modelVersion"] == MODEL and body["responseId"]


def test_stream_ends_with_the_finishing_event(http: httpx.Client, emu: GeminiEmulator) -> None:
    r = ask(http, STREAM)
    assert r.headers["content-type"].startswith("text/event-stream")
    got = events(r)
    assert len(got) > 2
    assert all("finishReason" not in e["candidates"][0] for e in got[:-1])
    assert all("candidatesTokenCount" not in e["usageMetadata"] for e in got[:-1])
    assert got[-1]["candidates"][0]["finishReason"] == "STOP"
    text = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in got)
    assert got[-1]["usageMetadata"]["candidatesTokenCount"] == len(text.split())
    assert text == ask(http).json()["candidates"][0]["content"]["parts"][0]["text"]
    assert emu.stats["streams"] == 1


def test_stream_function_call_is_one_event(http: httpx.Client) -> None:
    got = events(
        ask(http, STREAM, tools=[TOOL], toolConfig={"functionCallingConfig": {"mode": "ANY"}})
    )
    (event,) = got
    (part,) = event["candidates"][0]["content"]["parts"]
    assert part == {
        "functionCall": {"name": "get_weather", "args": {"city": "example city", "days": 1}}
    }
    assert event["candidates"][0]["finishReason"] == "STOP"


def test_v1beta_and_tenants(http: httpx.Client, emu: GeminiEmulator) -> None:
    assert ask(http, f"/v1beta/models/{MODEL}:generateContent").status_code == 200
    assert ask(http, f"/t/acme/v1/models/{MODEL}:generateContent").status_code == 200
    assert [r.tenant for r in emu.requests] == ["", "acme"]
    assert ask(http, f"/v2/models/{MODEL}:generateContent").status_code == 404
    assert ask(http, f"/v1/models/{MODEL}:frobnicate").status_code == 404
    wrong = http.get(GENERATE)
    assert wrong.status_code == 405 and error(wrong)["status"]


def test_thinking_counts_toward_max_output_tokens(http: httpx.Client) -> None:
    config = {
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
        "maxOutputTokens": 5,
    }
    body = ask(http, generationConfig=config).json()
    (candidate,) = body["candidates"]
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert [p.get("thought") for p in candidate["content"]["parts"]] == [True]
    assert body["usageMetadata"]["thoughtsTokenCount"] == 5
    assert body["usageMetadata"]["candidatesTokenCount"] == 0


def test_snake_case_fields_are_read_like_camel_case(
    http: httpx.Client, emu: GeminiEmulator
) -> None:
    r = http.post(GENERATE, json={"contents": HI, "generation_config": {"max_output_tokens": 2}})
    assert r.status_code == 200, r.text
    assert r.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    sent = emu.last_request
    assert sent is not None and "generation_config" in sent.body  # logged as sent


def test_tokens_header_and_stop_sequences(http: httpx.Client) -> None:
    many = ask(http, headers={"x-emulator-tokens": "max"}, generationConfig={"maxOutputTokens": 7})
    assert many.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert many.json()["usageMetadata"]["candidatesTokenCount"] == 7
    stopped = ask(http, generationConfig={"stopSequences": ["deterministic"]})
    assert stopped.json()["candidates"][0]["content"]["parts"][0]["text"] == "This is a"


def test_implicit_cache(http: httpx.Client, emu: GeminiEmulator) -> None:
    long = [
        {"role": "user", "parts": [{"text": "word " * 40}]},
        {"role": "model", "parts": [{"text": "ok"}]},
    ]
    turn = [*long, {"role": "user", "parts": [{"text": "next"}]}]
    first = http.post(GENERATE, json={"contents": turn}).json()["usageMetadata"]
    second = http.post(GENERATE, json={"contents": turn}).json()["usageMetadata"]
    assert "cachedContentTokenCount" not in first
    assert second["cachedContentTokenCount"] == 41
    assert second["promptTokenCount"] == first["promptTokenCount"] == 42
    emu.reset()
    again = http.post(GENERATE, json={"contents": turn}).json()["usageMetadata"]
    assert "cachedContentTokenCount" not in again


def test_count_tokens_and_embed_content(http: httpx.Client) -> None:
    counted = http.post(f"/v1/models/{MODEL}:countTokens", json={"contents": HI})
    assert counted.json()["totalTokens"] == 3
    one = http.post(
        "/v1/models/text-embedding-004:embedContent",
        json={"content": {"parts": [{"text": "hello"}]}},
    )
    assert len(one.json()["embedding"]["values"]) == 768


def test_models_pages(http: httpx.Client, emu: GeminiEmulator) -> None:
    first = http.get("/v1/models", params={"pageSize": 3}).json()
    assert [m["name"] for m in first["models"]] == [m["name"] for m in DEFAULT_MODELS[:3]]
    assert "embeddingDimension" not in json.dumps(first)
    rest = http.get("/v1/models", params={"pageSize": 100, "pageToken": first["nextPageToken"]})
    assert "nextPageToken" not in rest.json()
    assert len(rest.json()["models"]) == len(DEFAULT_MODELS) - 3
    bad = http.get("/v1/models", params={"pageToken": "nonsense"})
    assert bad.status_code == 400 and error(bad)["status"] == "INVALID_ARGUMENT"
    emu.add_model("gemini-9-ultra", thinking=True)
    assert http.get("/v1/models").json()["models"][0]["name"] == "models/gemini-9-ultra"
    assert http.get("/v1/models/gemini-9-ultra").json() == model_info(
        "gemini-9-ultra", thinking=True
    )


# --- checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"contents": HI, "temperatur": 1}, 'Unknown name "temperatur": Cannot find field.'),
        (
            {"contents": HI, "generationConfig": {"maxTokens": 5}},
            "Unknown name \"maxTokens\" at 'generation_config'",
        ),
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        (
            {
                "contents": [
                    {
                        "parts": [
                            {"text": "x", "inlineData": {"mimeType": "image/png", "data": "AA=="}}
                        ]
                    }
                ]
            },
            "oneof field 'data' is already set",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "!!"}}]}]},
            "Base64 decoding failed",
        ),
        ({"contents": HI, "generationConfig": {"stopSequences": list("abcdef")}}, "at most 5"),
        ({"contents": HI, "generationConfig": {"candidateCount": 9}}, "between 1 and 8"),
        ({"contents": HI, "generationConfig": {"temperature": 2.5}}, "between 0.0 and 2.0"),
        (
            {"contents": HI, "generationConfig": {"responseJsonSchema": {"type": "object"}}},
            "response_mime_type must be one of",
        ),
        (
            {
                "contents": HI,
                "tools": [TOOL],
                "toolConfig": {
                    "functionCallingConfig": {
                        "mode": "AUTO",
                        "allowedFunctionNames": ["get_weather"],
                    }
                },
            },
            "only allowed when mode is ANY",
        ),
        (
            {
                "contents": HI,
                "tools": [TOOL],
                "toolConfig": {
                    "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["nope"]}
                },
            },
            "is not declared",
        ),
        (
            {"contents": HI, "tools": [{"functionDeclarations": [{"name": "9bad name"}]}]},
            "Invalid function name",
        ),
        (
            {"contents": HI, "generationConfig": {"thinkingConfig": {"thinkingBudget": 99999}}},
            "thinking budget 99999 is invalid",
        ),
    ],
)
def test_strict_checks(http: httpx.Client, body: dict[str, Any], words: str) -> None:
    r = http.post(GENERATE, json=body)
    assert r.status_code == 400, r.text
    got = error(r)
    assert got["status"] == "INVALID_ARGUMENT" and words in got["message"], got["message"]


def test_lenient_emulator_takes_unknown_fields() -> None:
    with GeminiEmulator(strict=False) as emu:
        r = httpx.post(
            emu.base_url + GENERATE,
            json={"contents": HI, "temperatur": 1, "generationConfig": {"candidateCount": 2}},
            headers={"x-goog-api-key": KEY},
        )
        assert r.status_code == 200 and len(r.json()["candidates"]) == 2


def test_prompt_too_long_and_unknown_model(http: httpx.Client, emu: GeminiEmulator) -> None:
    emu.set_models([{"name": "models/tiny", "inputTokenLimit": 2}])
    r = http.post("/v1/models/tiny:generateContent", json={"contents": HI})
    assert r.status_code == 400
    assert (
        error(r)["message"]
        == "The input token count (3) exceeds the maximum number of tokens allowed (2)."
    )
    missing = ask(http)
    assert missing.status_code == 404 and error(missing)["status"] == "NOT_FOUND"
    assert "is not found for API version v1" in error(missing)["message"]
    emu.set_models(DEFAULT_MODELS)


def test_keys(emu: GeminiEmulator) -> None:
    r = httpx.post(emu.base_url + GENERATE, json={"contents": HI})
    assert r.status_code == 403 and error(r)["status"] == "PERMISSION_DENIED"
    with GeminiEmulator(api_key=KEY) as locked:
        wrong = httpx.post(
            locked.base_url + GENERATE,
            json={"contents": HI},
            headers={"x-goog-api-key": "AIza-wrong-0000"},
        )
        assert wrong.status_code == 400
        assert error(wrong)["details"][0]["reason"] == "API_KEY_INVALID"
        ok = httpx.post(f"{locked.base_url}{GENERATE}?key={KEY}&foo=1", json={"contents": HI})
        assert ok.status_code == 200
        sent = locked.last_request
        assert sent is not None and sent.query == "foo=1" and KEY not in repr(sent)
        assert sent.headers["x-goog-api-key"] == "<redacted>" and sent.key_matches(KEY)
    with GeminiEmulator(require_key=False) as open_:
        assert httpx.post(open_.base_url + GENERATE, json={"contents": HI}).status_code == 200


# --- faults --------------------------------------------------------------------------------------


def test_fault_statuses_and_retry_info(http: httpx.Client) -> None:
    r = ask(
        http, headers={"x-emulator-fault": "status=429;retry_after=2.5;code=RATE_LIMIT_EXCEEDED"}
    )
    assert r.status_code == 429 and r.headers["retry-after"] == "2.5"
    got = error(r)
    assert got["status"] == "RESOURCE_EXHAUSTED"
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"} in got[
        "details"
    ]
    assert got["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    plain = ask(http, headers={"x-emulator-fault": "status=429"})
    assert "retry-after" not in plain.headers
    assert error(plain)["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
    ]
    custom = ask(
        http,
        headers={
            "x-emulator-fault": "status=400;type=FAILED_PRECONDITION;message=no%20free%20tier"
        },
    )
    assert error(custom) == {
        "code": 400,
        "message": "no free tier",
        "status": "FAILED_PRECONDITION",
    }
    bad = ask(http, headers={"x-emulator-fault": "nonsense=1"})
    assert bad.status_code == 400 and "unknown fault key" in error(bad)["message"]


def test_fault_rules_match_the_url_model(http: httpx.Client, emu: GeminiEmulator) -> None:
    rule = emu.add_fault(Fault(status=503), model=MODEL, times=1)
    other = emu.add_fault("status=500", path="/models/gemini-2.5-pro:generateContent")
    assert ask(http).status_code == 503
    assert ask(http).status_code == 200
    assert ask(http, "/v1/models/gemini-2.5-pro:generateContent").status_code == 500
    assert (rule.hits, other.hits) == (1, 1)
    assert emu.stats["by_path_status"][GENERATE] == {503: 1, 200: 1}


def test_stream_faults(http: httpx.Client) -> None:
    whole = events(ask(http, STREAM))
    no_done = events(ask(http, STREAM, headers={"x-emulator-fault": "no_done"}))
    assert no_done == [{**e, "responseId": no_done[0]["responseId"]} for e in whole[:-1]]
    inband = events(
        ask(http, STREAM, headers={"x-emulator-fault": "stream_error_after=2;status=500"})
    )
    assert len(inband) == 3
    assert inband[-1] == {
        "error": {"code": 500, "message": inband[-1]["error"]["message"], "status": "INTERNAL"}
    }
    raw = ask(http, STREAM, headers={"x-emulator-fault": "stream_error_after=1"}).text
    assert raw.split("\r\n\r\n")[1].startswith(
        'data: {"error":{"code":503,'
    )  # what the SDK looks for
    with pytest.raises(httpx.RemoteProtocolError):
        ask(http, STREAM, headers={"x-emulator-fault": "cut_after=2"})
    with pytest.raises(httpx.RemoteProtocolError):
        ask(http, headers={"x-emulator-fault": "cut_after=0"})
    broken = ask(http, STREAM, headers={"x-emulator-fault": "malformed"}).text
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.split("\r\n\r\n")[0].removeprefix("data: "))
    with pytest.raises(json.JSONDecodeError):
        ask(http, headers={"x-emulator-fault": "malformed"}).json()


def test_markers(http: httpx.Client) -> None:
    blocked = http.post(
        GENERATE,
        json={"contents": [{"parts": [{"text": "[[emulator:blocked:PROHIBITED_CONTENT]]"}]}]},
    ).json()
    assert "candidates" not in blocked and blocked["promptFeedback"] == {
        "blockReason": "PROHIBITED_CONTENT"
    }
    assert blocked["usageMetadata"]["promptTokenCount"] == 1
    safety = http.post(
        GENERATE, json={"contents": [{"parts": [{"text": "[[emulator:finish:SAFETY]]"}]}]}
    ).json()
    assert safety["candidates"] == [{"finishReason": "SAFETY", "index": 0}]


# --- lifecycle -----------------------------------------------------------------------------------


def test_async_with() -> None:
    async def main() -> int:
        async with (
            GeminiEmulator() as emu,
            httpx.AsyncClient(base_url=emu.base_url, headers={"x-goog-api-key": KEY}) as client,
        ):
            r = await client.post(GENERATE, json={"contents": HI})
            return r.status_code

    assert asyncio.run(main()) == 200


def test_runs_as_a_process() -> None:
    """``python -m llmrouter_gemini.testing``: the URL first, then it serves (benchmarks)."""
    command = [sys.executable, "-m", "llmrouter_gemini.testing", "--reply", "Hi there"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith("/v1")
        r = httpx.post(url + GENERATE, json={"contents": HI}, headers={"x-goog-api-key": KEY})
        assert r.json()["candidates"][0]["content"]["parts"] == [{"text": "Hi there"}]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
