"""Option checks: what is refused (and why), what drop_params drops, what is strict."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.errors import InvalidRequestError
from llmrouter_gemini.options import (
    UNSUPPORTED,
    GeminiOptions,
    parse_embedding_options,
    parse_options,
)

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def parse(**params: Any) -> GeminiOptions:
    return parse_options(params, provider="gemini", model="gemini-2.5-flash")


def test_no_options_is_the_shared_empty_model() -> None:
    assert parse() is parse()
    assert parse().version == "v1"


def test_openai_names_are_accepted() -> None:
    options = parse(
        max_tokens=10,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        n=2,
        stop=["x"],
        seed=1,
        presence_penalty=0.1,
        frequency_penalty=-0.1,
        response_format={"type": "json_object"},
        tools=[TOOL],
        tool_choice="required",
        api_version="v1beta",
    )
    assert options.token_limit == 10
    assert options.version == "v1beta"


@pytest.mark.parametrize("name", ["logprobs", "logit_bias", "user", "service_tier", "functions"])
def test_unsupported_openai_options_are_refused_with_the_reason(name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse(**{name: True if name == "logprobs" else "x"})
    message = str(caught.value)
    assert UNSUPPORTED[name] in message
    assert "Supported:" in message and "max_tokens" in message
    assert "drop_params=True" in message
    assert caught.value.param == name


def test_drop_params_drops_them() -> None:
    options = parse(user="u1", logprobs=True, parallel_tool_calls=False, drop_params=True)
    assert options.drop_params is True
    assert "user" not in options.model_fields_set


@pytest.mark.parametrize(("name", "value"), [("logprobs", False), ("parallel_tool_calls", True)])
def test_a_value_that_asks_nothing_is_dropped_silently(name: str, value: object) -> None:
    assert name not in parse(**{name: value}).model_fields_set


def test_parallel_tool_calls_false_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="cannot be turned off"):
        parse(tools=[TOOL], parallel_tool_calls=False)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"temperature": "0.5"}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 5, "max_completion_tokens": 5}, "not both"),
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "at most 5"),
        ({"stop": ""}, "non-empty"),
        ({"reasoning_effort": "max"}, "reasoning_effort"),
        ({"reasoning_effort": "low", "thinking": {"thinkingBudget": 5}}, "not both"),
        ({"thinking": {"budget_tokens": 5}}, "thinkingBudget"),
        ({"thinking": {"thinkingLevel": "huge"}}, "thinkingLevel"),
        ({"thinking": {"thinkingBudget": True}}, "integer"),
        ({"safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH"}]}, "threshold"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "schema"),
        ({"tool_choice": "required"}, "needs tools"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "no"}}}, "no"),
        ({"tools": [{"type": "google_search"}]}, "extra_body"),
        ({"api_version": "v2"}, "api_version"),
        ({"bogus": 1}, "Supported"),
    ],
)
def test_bad_values_are_refused(params: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        parse(**params)


def test_embedding_options() -> None:
    options = parse_embedding_options(
        {"dimensions": 256, "task_type": "RETRIEVAL_DOCUMENT", "title": "Doc"}, provider="gemini"
    )
    assert options.dimensions == 256
    with pytest.raises(InvalidRequestError, match="task_type"):
        parse_embedding_options({"task_type": "SEARCH"}, provider="gemini")
    with pytest.raises(InvalidRequestError, match="RETRIEVAL_DOCUMENT"):
        parse_embedding_options({"title": "Doc"}, provider="gemini")
    with pytest.raises(InvalidRequestError, match="encoding_format"):
        parse_embedding_options({"encoding_format": "base64"}, provider="gemini")
