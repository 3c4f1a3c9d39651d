"""Response types: OpenAI's shape (checked with the official SDK's types) and dict access."""

from __future__ import annotations

import json

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.create_embedding_response import CreateEmbeddingResponse

from llmrouter.types import EmbeddingResponse, ModelResponse, ModelResponseStream

TOGETHER_CHAT = {
    "id": "8f2c",
    "object": "chat.completion",
    "created": 1730000000,
    "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "prompt": [],
    "choices": [
        {
            "index": 0,
            "seed": 123,
            "finish_reason": "stop",
            "logprobs": None,
            "message": {"role": "assistant", "content": "Hello!", "tool_calls": []},
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 17, "total_tokens": 26},
}

CHUNK = {
    "id": "8f2c",
    "object": "chat.completion.chunk",
    "created": 1730000000,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "text": "Hi",
            "seed": None,
            "finish_reason": None,
            "logprobs": None,
            "delta": {"token_id": 17, "role": "assistant", "content": "Hi", "tool_calls": None},
        }
    ],
    "usage": None,
}


def test_chat_response_validates_as_openai_chat_completion() -> None:
    r = ModelResponse.model_validate(TOGETHER_CHAT)
    ChatCompletion.model_validate(r.model_dump())
    ChatCompletion.model_validate_json(r.model_dump_json())


def test_chunk_validates_as_openai_chunk() -> None:
    c = ModelResponseStream.model_validate(CHUNK)
    ChatCompletionChunk.model_validate(c.model_dump())


def test_embedding_validates_as_openai_type() -> None:
    e = EmbeddingResponse.model_validate(
        {
            "object": "list",
            "model": "m",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        }
    )
    CreateEmbeddingResponse.model_validate(e.model_dump())


def test_dict_and_attribute_access_agree() -> None:
    r = ModelResponse.model_validate(TOGETHER_CHAT)
    assert r["choices"][0]["message"]["content"] == r.choices[0].message.content == "Hello!"
    assert r["usage"]["total_tokens"] == 26
    assert r.get("missing", "d") == "d"
    assert "choices" in r and "missing" not in r and 3 not in r
    assert "prompt" in r and r["prompt"] == []  # provider extras are kept, not dropped
    assert r["choices"][0]["seed"] == 123
    assert list(r)[:4] == ["id", "object", "created", "model"]
    assert dict(r)["id"] == "8f2c"
    assert dict(r.items())["model"] == r.model
    with pytest.raises(KeyError):
        r["nope"]


def test_json_round_trip_and_created_is_int() -> None:
    r = ModelResponse.model_validate(TOGETHER_CHAT)
    again = ModelResponse.model_validate_json(r.model_dump_json())
    assert again == r
    assert isinstance(json.loads(r.json())["created"], int)


def test_print_shows_a_dict() -> None:
    r = ModelResponse.model_validate(TOGETHER_CHAT)
    text = str(r)
    assert text.startswith("{'id': '8f2c'") and "'content': 'Hello!'" in text


def test_call_info_is_not_part_of_the_openai_shape() -> None:
    r = ModelResponse.model_validate(TOGETHER_CHAT)
    r.llmrouter.deployment = "together_ai/x"
    assert "llmrouter" not in r.model_dump() and "_llmrouter" not in r.model_dump()
    assert r.llmrouter.deployment == "together_ai/x"
