"""Response parsing micro-benchmarks: raw bytes of a Together answer -> a response object.

    python bench/bench_parsing.py [--json]      (run with bench/.venv's python: needs openai, litellm)

Each row times one parse of the same bytes (a chat completion, and one streamed chunk as the
emulator and Together send them), best of 5 runs. ``json.loads`` is the floor; llmrouter's rows
are the Together plugin's own parsers (what a call really runs); the openai SDK rows are its
pydantic types (validating, and ``construct``, which is what the SDK does on the hot path);
LiteLLM's row builds its ``ModelResponse`` from the decoded dict.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

CHAT = (
    b'{"id":"1w3gtrO-zH5Fs6-a47589130487053a","object":"chat.completion","created":1795806986,'
    b'"model":"meta-llama/Llama-3.3-70B-Instruct-Turbo","prompt":[],"choices":[{"index":0,'
    b'"seed":1183266118589023254,"finish_reason":"eos","logprobs":null,"message":{"role":'
    b'"assistant","content":"This is a deterministic reply from the Together emulator. You said:'
    b' hi","tool_calls":[]}}],"usage":{"prompt_tokens":1,"completion_tokens":12,"total_tokens":13}}'
)
CHUNK = (
    '{"id":"pvN6iZ2-wzc699-9bce478bf5845fab","object":"chat.completion.chunk","created":'
    '1795806986,"model":"meta-llama/Llama-3.3-70B-Instruct-Turbo","choices":[{"index":0,"text":'
    '" ipsum","logprobs":null,"finish_reason":null,"seed":null,"delta":{"token_id":59242,"role":'
    '"assistant","content":" ipsum"}}],"usage":null}'
)


# The openai SDK's types only accept OpenAI's finish reasons (Together sends "eos").
CHAT_OPENAI = CHAT.replace(b'"finish_reason":"eos"', b'"finish_reason":"stop"')


def per_op_us(fn: Callable[[], object], iterations: int) -> float:
    fn()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / iterations)
    return best / 1000


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from llmrouter import openai_compat as wire
    from llmrouter.pipeline import Call, ChatPrompt, HTTPResponse, StreamState
    from llmrouter_together.dialect import DIALECT

    call = Call(operation="chat", provider="together_ai", model="m")
    response = HTTPResponse(200, {"content-type": "application/json"}, CHAT)
    prompt = ChatPrompt([{"role": "user", "content": "hi"}])
    state = StreamState()

    chat_rows: list[tuple[str, Callable[[], object]]] = [
        ("json.loads", lambda: json.loads(CHAT)),
        (
            "llmrouter (Together plugin parse_chat)",
            lambda: wire.parse_chat(call, response, DIALECT),
        ),
    ]
    chunk_rows: list[tuple[str, Callable[[], object]]] = [
        ("json.loads", lambda: json.loads(CHUNK)),
        (
            "llmrouter (Together plugin parse_stream_event)",
            lambda: wire.parse_stream_event(call, prompt, CHUNK, state, DIALECT),
        ),
    ]
    try:
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        chat_rows.append(
            (
                "openai ChatCompletion.model_validate_json",
                lambda: ChatCompletion.model_validate_json(CHAT_OPENAI),
            )
        )
        chat_rows.append(
            (
                "openai ChatCompletion.construct(json.loads)",
                lambda: ChatCompletion.construct(**json.loads(CHAT_OPENAI)),
            )
        )
        chunk_rows.append(
            (
                "openai ChatCompletionChunk.model_validate_json",
                lambda: ChatCompletionChunk.model_validate_json(CHUNK),
            )
        )
    except ImportError:
        pass
    try:
        import litellm

        chat_rows.append(
            (
                "litellm ModelResponse(**json.loads)",
                lambda: litellm.ModelResponse(**json.loads(CHAT)),
            )
        )
        chunk_rows.append(
            (
                "litellm ModelResponseStream(**json.loads)",
                lambda: litellm.ModelResponseStream(**json.loads(CHUNK)),
            )
        )
    except ImportError:
        pass

    groups: list[dict[str, Any]] = []
    for title, rows in (("chat response", chat_rows), ("stream chunk", chunk_rows)):
        timed = [{"name": name, "us": per_op_us(fn, 5000)} for name, fn in rows]
        groups.append({"name": title, "rows": timed})
    if "--json" in sys.argv:
        print(json.dumps({"groups": groups}))
        return
    for group in groups:
        print(group["name"])
        base = group["rows"][0]["us"]
        for row in group["rows"]:
            print(f"  {row['name']:50} {row['us']:8.2f} us  {row['us'] / base:5.1f}x")


if __name__ == "__main__":
    main()
