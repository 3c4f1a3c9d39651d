"""The option model: what is accepted, what is refused (and why), the version pin, drop_params."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.errors import InvalidRequestError
from llmrouter_anthropic.options import (
    API_VERSION,
    LEGACY_VERSION,
    UNSUPPORTED,
    AnthropicOptions,
    parse_options,
)


def parse(**params: Any) -> AnthropicOptions:
    return parse_options(params, provider="anthropic", model="claude-sonnet-4-6")


def refused(**params: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        parse(**params)
    return info.value


def test_version_constants_match_the_official_sdk() -> None:
    from anthropic._constants import ANTHROPIC_API_VERSION

    assert API_VERSION == ANTHROPIC_API_VERSION
    assert LEGACY_VERSION == "2023-06-01"


def test_no_options() -> None:
    options = parse()
    assert options.version == API_VERSION and options.token_limit is None


def test_every_option_of_the_model_has_a_description() -> None:
    for name, field in AnthropicOptions.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_openai_options_are_refused_with_the_supported_list(name: str) -> None:
    value: Any = 2 if name == "n" else True
    error = refused(**{name: value})
    assert error.param == name
    assert "drop_params=True" in error.message
    assert "Supported: " in error.message and "max_tokens" in error.message
    assert UNSUPPORTED[name] in error.message


def test_several_unsupported_options_are_named_together() -> None:
    error = refused(seed=1, presence_penalty=0.5, max_tokens=10)
    assert "'seed'" in error.message and "'presence_penalty'" in error.message


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_drop_params_drops_them(name: str) -> None:
    options = parse(**{name: 3}, drop_params=True, max_tokens=10)
    assert options.max_tokens == 10


@pytest.mark.parametrize("params", [{"n": 1}, {"logprobs": False}, {"seed": None}])
def test_values_that_ask_for_nothing_pass(params: dict[str, Any]) -> None:
    assert parse(**params) == parse()


@pytest.mark.parametrize("name", ["temperature", "top_p", "top_k"])
def test_sampling_options_need_the_old_version(name: str) -> None:
    error = refused(**{name: 1})
    assert error.param == name
    assert "anthropic_version='2023-06-01'" in error.message
    assert API_VERSION in error.message and "drop_params=True" in error.message
    error = refused(**{name: 1}, anthropic_version=API_VERSION)
    assert error.param == name


def test_drop_params_drops_sampling_options_of_the_current_version() -> None:
    options = parse(temperature=0.7, top_p=0.5, top_k=3, drop_params=True)
    assert (options.temperature, options.top_p, options.top_k) == (None, None, None)


def test_old_version_takes_sampling_options_with_bounds() -> None:
    options = parse(anthropic_version=LEGACY_VERSION, temperature=1, top_p=0.5, top_k=5)
    assert (options.temperature, options.top_p, options.top_k) == (1, 0.5, 5)
    error = refused(anthropic_version=LEGACY_VERSION, temperature=1.5)
    assert error.param == "temperature" and "less than or equal to 1" in error.message


def test_unknown_version_is_refused_naming_the_versions() -> None:
    error = refused(anthropic_version="2024-01-01", temperature=0.5)
    assert error.param == "anthropic_version"
    assert "2023-06-01" in error.message


def test_unknown_option_lists_the_supported_ones() -> None:
    error = refused(stop_sequences=["x"])
    assert "unknown option(s) 'stop_sequences'" in error.message
    assert "extra_body" in error.message and "stop" in error.message


def test_strict_types() -> None:
    assert refused(max_tokens="100").param == "max_tokens"
    assert refused(drop_params="yes").param == "drop_params"


def test_one_token_limit_only() -> None:
    assert "not both" in refused(max_tokens=1, max_completion_tokens=2).message
    assert parse(max_completion_tokens=7).token_limit == 7
    assert parse(max_tokens=0).token_limit == 0  # warms the prompt cache
    assert refused(max_tokens=-1).param == "max_tokens"


@pytest.mark.parametrize(
    "thinking",
    [
        {"type": "enabled"},
        {"type": "enabled", "budget_tokens": 1000},
        {"type": "enabled", "budget_tokens": True},
        {"type": "sometimes"},
    ],
)
def test_bad_thinking_is_refused(thinking: dict[str, Any]) -> None:
    assert refused(thinking=thinking).param == "thinking"


@pytest.mark.parametrize(
    "thinking",
    [
        {"type": "adaptive"},
        {"type": "disabled"},
        {"type": "between_tools"},
        {"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
    ],
)
def test_thinking_shapes(thinking: dict[str, Any]) -> None:
    assert parse(thinking=thinking).thinking == thinking


def test_reasoning_effort_values() -> None:
    for effort in ("low", "medium", "high", "xhigh", "max"):
        assert parse(reasoning_effort=effort).reasoning_effort == effort
    assert refused(reasoning_effort="minimal").param == "reasoning_effort"


def test_response_format_json_schema_needs_a_schema() -> None:
    error = refused(response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert error.param == "response_format" and "schema" in error.message
    assert refused(response_format={"type": "xml"}).param == "response_format"


def test_tools_and_tool_choice_checks() -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    error = refused(tools=[tool], tool_choice={"type": "function", "function": {"name": "g"}})
    assert "'g' is not a function in tools" in error.message
    assert "needs tools" in refused(tool_choice="required").message
    error = refused(tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert "extra_body" in error.message


def test_beta_names_and_stops_must_be_non_empty() -> None:
    assert refused(anthropic_beta=["a", ""]).param == "anthropic_beta"
    assert refused(stop=["a", ""]).param == "stop"
    assert parse(anthropic_beta="a").anthropic_beta == "a"


def test_service_tier_is_anthropics() -> None:
    assert parse(service_tier="standard_only").service_tier == "standard_only"
    assert refused(service_tier="flex").param == "service_tier"


def test_stream_options_accepted() -> None:
    assert parse(stream_options={"include_usage": False}).stream_options == {"include_usage": False}
