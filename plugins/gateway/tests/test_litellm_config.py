"""LiteLLM proxy config.yaml -> llmrouter config: the pure functions, and the CLI command."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import llmrouter
from llmrouter import errors
from llmrouter.cli import main
from llmrouter.config import RouterConfig, load_config, load_config_file
from llmrouter.errors import ConfigError
from llmrouter.testing import TogetherEmulator
from llmrouter_anthropic.testing import AnthropicEmulator
from llmrouter_gateway.litellm_config import (
    _LITELLM_VARIABLES,
    MASTER_KEY_ENV,
    Conversion,
    LoadedConfig,
    convert_litellm,
    is_litellm_config,
    load_gateway_config,
    read_litellm_file,
    to_toml,
    validate_conversion,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

DATA = Path(__file__).parent / "data"
PROXY_YAML = DATA / "litellm_proxy.yaml"
ENV = {"VLLM_API_BASE": "http://10.0.0.7:8000/v1"}
# Fake secrets: each must never appear in any output, error, repr or file.
LITERAL_KEY = "sk-proj-DoNotLeakThisLiteral0123456789abcdef"
MASTER_KEY = "sk-master-DoNotLeak-5f4e3d2c1b0a99887766"
TOGETHER_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
CLAUDE_MODEL = "claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "Name a colour"}]


def convert(yaml_text: str, environ: dict[str, str] | None = None) -> Conversion:
    return convert_litellm(yaml.safe_load(yaml_text), environ=environ or {})


def one(model: str = "openai/gpt-4o", **params: Any) -> dict[str, Any]:
    """A config with one deployment of alias 'm'."""
    return {"model_list": [{"model_name": "m", "litellm_params": {"model": model, **params}}]}


def keys(conversion: Conversion) -> list[str]:
    return [u.key for u in conversion.unsupported]


# --- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"model_list": []}, True),
        ({"router_settings": {"num_retries": 1}}, True),
        ({"general_settings": {"master_key": "os.environ/K"}}, True),
        ({"models": {}, "router": {}}, False),
        ({"model_list": [], "router": {}}, False),  # one of ours: not LiteLLM's
        ({"something": 1}, False),
        ({}, False),
    ],
)
def test_is_litellm_config(data: dict[str, Any], expected: bool) -> None:
    assert is_litellm_config(data) is expected


def test_is_litellm_config_refuses_a_non_mapping() -> None:
    assert is_litellm_config(["model_list"]) is False  # type: ignore[arg-type]


# --- the realistic config -------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Conversion:
    return convert_litellm(read_litellm_file(PROXY_YAML), path=str(PROXY_YAML), environ=ENV)


def test_realistic_config_deployments(proxy: Conversion) -> None:
    models = proxy.data["models"]
    assert list(models) == ["gpt-4o", "llama", "claude"]
    gpt = models["gpt-4o"]["deployments"]
    assert [d["model"] for d in gpt] == [
        "openai/gpt-4o",
        "azure/gpt-4o-eu",
        "openrouter/openai/gpt-4o",
    ]
    assert gpt[0] == {
        "model": "openai/gpt-4o",
        "name": "openai-primary",
        "api_key_env": "OPENAI_API_KEY",
        # simple-shuffle with no weight picks by rpm: the weights are the rpms. Without
        # enable_pre_call_checks LiteLLM does not enforce rpm, so it is no limit here either.
        "weight": 480,
        "options": {"temperature": 0.2},
    }
    assert gpt[1] == {
        "model": "azure/gpt-4o-eu",
        "api_base": "https://example-eu.openai.azure.com/",
        "api_key_env": "AZURE_API_KEY_EU",
        "weight": 60,
        "options": {"api_version": "2024-02-01"},
    }
    assert gpt[2]["weight"] == 120 and gpt[2]["api_key_env"] == "OPENROUTER_API_KEY"
    together, vllm = models["llama"]["deployments"]
    assert together["input_cost_per_mtok"] == 0.88 and together["output_cost_per_mtok"] == 0.88
    assert together["timeout"] == 45
    assert vllm == {
        "model": "hosted_vllm/meta-llama/Llama-3.3-70B-Instruct",
        "api_base": "http://10.0.0.7:8000/v1",  # os.environ/VLLM_API_BASE, resolved
    }
    # litellm_settings.drop_params reaches the one provider here that can drop options
    assert models["claude"]["deployments"][0]["options"] == {
        "max_tokens": 1024,
        "drop_params": True,
    }
    assert not any("rpm" in d for m in models.values() for d in m["deployments"])


def test_realistic_config_settings(proxy: Conversion) -> None:
    router = proxy.data["router"]
    assert router["num_retries"] == 3
    assert router["timeout"] == 30  # router_settings.timeout wins over request_timeout
    assert router["cooldown"] == {"min_requests": 3, "window": 60.0, "duration": 45}
    assert proxy.data["gateway"] == {"master_key_env": "LITELLM_MASTER_KEY"}
    assert proxy.master_key is None
    models = proxy.data["models"]
    assert models["gpt-4o"]["fallbacks"] == ["claude", "llama"]
    assert models["llama"]["fallbacks"] == ["gpt-4o"]
    assert "fallbacks" not in models["claude"]
    assert {m["strategy"] for m in models.values()} == {"weighted"}
    assert any("request_timeout" in n and "overrides" in n for n in proxy.notes)
    assert any("allowed_fails" in n and "approximated" in n for n in proxy.notes)


def test_realistic_config_reports_every_unsupported_key(proxy: Conversion) -> None:
    assert sorted(keys(proxy)) == sorted(
        [
            "model_list[0].litellm_params.tpm",
            "model_list[0].model_info.mode",
            "model_list[4].litellm_params.stream_timeout",
            "router_settings.context_window_fallbacks",
            "router_settings.redis_host",
            "litellm_settings.drop_params",
            "litellm_settings.success_callback",
            "general_settings.database_url",
        ]
    )
    reasons = {u.key: u.reason for u in proxy.unsupported}
    # reported for the deployments that cannot take it, by provider and entry
    drop = reasons["litellm_settings.drop_params"]
    for where in (
        "openai (model_list[0])",
        "azure (model_list[1])",
        "openrouter (model_list[2])",
        "together_ai (model_list[3])",
        "hosted_vllm (model_list[4])",
    ):
        assert where in drop
    assert "model_list[5]" not in drop and "only anthropic, gemini and bedrock" in drop
    assert all("\n" not in r and r for r in reasons.values())


def test_realistic_config_loads(proxy: Conversion) -> None:
    config = load_config(proxy.data)
    assert config.models["gpt-4o"].deployments[0].api_key_env == "OPENAI_API_KEY"
    assert config.router.cooldown.min_requests == 3
    assert config.gateway.master_key_env == "LITELLM_MASTER_KEY"


# --- model_list -----------------------------------------------------------------------------------


def test_same_model_name_is_one_alias_with_several_deployments() -> None:
    conv = convert(
        """
model_list:
  - {model_name: chat, litellm_params: {model: groq/llama-3.1-8b-instant}}
  - {model_name: other, litellm_params: {model: gemini/gemini-2.0-flash}}
  - {model_name: chat, litellm_params: {model: fireworks_ai/accounts/fireworks/models/x}}
"""
    )
    assert [d["model"] for d in conv.data["models"]["chat"]["deployments"]] == [
        "groq/llama-3.1-8b-instant",
        "fireworks_ai/accounts/fireworks/models/x",
    ]
    assert conv.data["models"]["other"]["deployments"] == [{"model": "gemini/gemini-2.0-flash"}]


@pytest.mark.parametrize(
    ("litellm", "ours"),
    [
        ("anthropic/claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku-latest"),
        ("together_ai/Qwen/Qwen2.5-7B", "together_ai/Qwen/Qwen2.5-7B"),
        ("deepinfra/meta-llama/x", "deepinfra/meta-llama/x"),
        ("ollama/llama3.2", "ollama/llama3.2"),
        ("ollama_chat/llama3.2", "ollama/llama3.2"),
        ("lm_studio/qwen", "lm_studio/qwen"),
        ("hosted_vllm/meta-llama/x", "hosted_vllm/meta-llama/x"),
        ("llamafile/mistral-7b", "openai_compatible/mistral-7b"),
        ("custom_openai/x", "openai_compatible/x"),
        ("mistral/mistral-large-latest", "mistral/mistral-large-latest"),
        ("deepseek/deepseek-chat", "deepseek/deepseek-chat"),
        ("xai/grok-4", "xai/grok-4"),
        ("cerebras/llama-3.3-70b", "cerebras/llama-3.3-70b"),
        ("perplexity/sonar-pro", "perplexity/sonar-pro"),
        ("sambanova/Meta-Llama-3.3-70B-Instruct", "sambanova/Meta-Llama-3.3-70B-Instruct"),
        ("nebius/Qwen/Qwen3-32B", "nebius/Qwen/Qwen3-32B"),
        ("hyperbolic/deepseek-ai/DeepSeek-V3", "hyperbolic/deepseek-ai/DeepSeek-V3"),
        ("novita/meta-llama/llama-3.1-8b-instruct", "novita/meta-llama/llama-3.1-8b-instruct"),
        ("azure/my-gpt-4o", "azure/my-gpt-4o"),
        ("azure/o_series/my-o3", "azure/my-o3"),
        ("azure/gpt5_series/my-gpt-5", "azure/my-gpt-5"),
        ("bedrock/amazon.nova-pro-v1:0", "bedrock/amazon.nova-pro-v1:0"),
        ("bedrock/converse/us.anthropic.claude-3-5-haiku", "bedrock/us.anthropic.claude-3-5-haiku"),
    ],
)
def test_provider_prefixes(litellm: str, ours: str) -> None:
    conv = convert_litellm(one(litellm), environ={})
    assert conv.data["models"]["m"]["deployments"][0]["model"] == ours


def test_custom_llm_provider_names_the_provider() -> None:
    conv = convert_litellm(one("llama3.2", custom_llm_provider="ollama"), environ={})
    assert conv.data["models"]["m"]["deployments"][0]["model"] == "ollama/llama3.2"


def test_openai_prefix_with_a_foreign_api_base_is_an_openai_compatible_server() -> None:
    foreign = convert_litellm(one("openai/my-model", api_base="http://gpu:8000/v1"), environ={})
    own = convert_litellm(one("openai/gpt-4o", api_base="https://api.openai.com/v1"), environ={})
    assert foreign.data["models"]["m"]["deployments"][0]["model"] == "openai_compatible/my-model"
    assert any("openai_compatible" in n for n in foreign.notes)
    assert own.data["models"]["m"]["deployments"][0]["model"] == "openai/gpt-4o"


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("vertex_ai/gemini-pro", "'vertex_ai'"),
        ("vllm/facebook/opt-125m", "inside the proxy process"),
        ("azure_ai/mistral-large", "Foundry"),
        ("azure/responses/my-codex", "Responses API"),
        ("azure/team/deployment", "not an Azure deployment name"),
        ("bedrock/invoke/anthropic.claude-v2", "write bedrock/anthropic.claude-v2"),
        ("bedrock/us-west-2/meta.llama3-70b", "'us-west-2/'"),
        ("bedrock/converse/", "no model id after converse/"),
        ("gpt-4o", "no provider prefix"),  # LiteLLM would guess 'openai'; llmrouter does not
    ],
)
def test_unknown_or_missing_provider_is_reported_and_left_out(model: str, fragment: str) -> None:
    data = one(model)
    data["model_list"].append({"model_name": "ok", "litellm_params": {"model": "groq/x"}})
    conv = convert_litellm(data, environ={})
    assert list(conv.data["models"]) == ["ok"]
    assert keys(conv) == ["model_list[0].litellm_params.model"]
    assert fragment in conv.unsupported[0].reason and "left out" in conv.unsupported[0].reason


def test_nothing_convertible_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"model_list: no model could be converted"):
        convert_litellm(one("vertex_ai/gemini-pro"), environ={})


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("openai/*", "wildcard"), ("team/gpt-4o", "cannot contain '/'"), ("my model", "not a valid")],
)
def test_model_names_that_cannot_be_aliases(name: str, fragment: str) -> None:
    data = {
        "model_list": [
            {"model_name": name, "litellm_params": {"model": "openai/gpt-4o"}},
            {"model_name": "ok", "litellm_params": {"model": "openai/gpt-4o"}},
        ]
    }
    conv = convert_litellm(data, environ={})
    assert list(conv.data["models"]) == ["ok"]
    assert keys(conv) == ["model_list[0].model_name"]
    assert fragment in conv.unsupported[0].reason


def test_api_key_from_the_environment_is_only_named() -> None:
    conv = convert_litellm(one(api_key="os.environ/MY_KEY"), environ={})  # need not be set
    assert conv.data["models"]["m"]["deployments"][0]["api_key_env"] == "MY_KEY"


def test_literal_api_key_is_an_error_that_does_not_show_it() -> None:
    with pytest.raises(ConfigError) as info:
        convert_litellm(one(api_key=LITERAL_KEY), path="c.yaml", environ={})
    message = str(info.value)
    assert LITERAL_KEY not in message and LITERAL_KEY not in repr(info.value)
    assert "os.environ/NAME" in message and "environment variable" in message
    assert info.value.key == "model_list[0].litellm_params.api_key"
    assert info.value.path == "c.yaml"


def test_malformed_environment_reference_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"api_key: os.environ/<NAME> must name"):
        convert_litellm(one(api_key="os.environ/not a name"), environ={})


def test_environment_references_that_need_a_literal_are_resolved() -> None:
    data = one(api_base="os.environ/BASE", rpm="os.environ/RPM", timeout="os.environ/T")
    data["router_settings"] = {"enable_pre_call_checks": True}  # so that rpm is a limit
    conv = convert_litellm(
        data, environ={"BASE": "https://api.openai.com/v1", "RPM": "90", "T": "12.5"}
    )
    dep = conv.data["models"]["m"]["deployments"][0]
    assert (dep["api_base"], dep["rpm"], dep["timeout"]) == ("https://api.openai.com/v1", 90, 12.5)


def test_a_missing_variable_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError) as info:
        convert_litellm(one(api_base="os.environ/MISSING_BASE"), environ={})
    assert "MISSING_BASE" in str(info.value)
    assert info.value.key == "model_list[0].litellm_params.api_base"


def test_environment_variables_section_feeds_references_and_is_reported() -> None:
    data = one(api_base="os.environ/BASE")
    data["environment_variables"] = {"BASE": "http://127.0.0.1:9000/v1", "OTHER": "x"}
    conv = convert_litellm(data, environ={"BASE": "http://ignored:1"})
    # LiteLLM sets the file's variables over the environment's before reading references.
    assert conv.data["models"]["m"]["deployments"][0]["api_base"] == "http://127.0.0.1:9000/v1"
    assert keys(conv) == ["environment_variables.BASE", "environment_variables.OTHER"]


def test_a_key_name_that_looks_like_a_credential_is_not_shown() -> None:
    data = one()
    data["environment_variables"] = {LITERAL_KEY: "x"}
    conv = convert_litellm(data, environ={})
    assert LITERAL_KEY not in repr(conv) and LITERAL_KEY not in to_toml(conv)
    assert conv.unsupported[0].key.startswith("environment_variables.<")


def test_per_token_prices_become_per_million_exactly() -> None:
    conv = convert_litellm(
        one(
            input_cost_per_token=0.00000017,
            output_cost_per_token=0.0000004,
            cache_read_input_token_cost=0.0000001,
        ),
        environ={},
    )
    dep = conv.data["models"]["m"]["deployments"][0]
    # 4e-07 * 1e6 is 0.39999999999999997 in binary floating point
    assert dep["input_cost_per_mtok"] == 0.17
    assert dep["output_cost_per_mtok"] == 0.4
    assert dep["cached_input_cost_per_mtok"] == 0.1


def test_prices_in_model_info_are_used() -> None:
    data = one()
    data["model_list"][0]["model_info"] = {
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 3e-6,
        "id": "primary",
    }
    dep = convert_litellm(data, environ={}).data["models"]["m"]["deployments"][0]
    assert (dep["input_cost_per_mtok"], dep["output_cost_per_mtok"]) == (1.0, 3.0)
    assert dep["name"] == "primary"


def test_half_a_price_is_reported_not_priced_at_zero() -> None:
    conv = convert_litellm(one(input_cost_per_token=1e-6), environ={})
    assert "input_cost_per_mtok" not in conv.data["models"]["m"]["deployments"][0]
    assert keys(conv) == ["model_list[0].litellm_params.input_cost_per_token"]
    assert "together" in conv.unsupported[0].reason


def test_unknown_litellm_params_and_entry_keys_are_reported() -> None:
    data = one(order=1, mystery_flag=True, api_version="2024-02-01", max_retries=5)
    data["model_list"][0]["surprise"] = 1
    conv = convert_litellm(data, environ={})
    assert keys(conv) == [
        "model_list[0].litellm_params.order",
        "model_list[0].litellm_params.mystery_flag",
        "model_list[0].litellm_params.api_version",
        "model_list[0].litellm_params.max_retries",
        "model_list[0].surprise",
    ]


def test_bad_values_are_errors_naming_the_litellm_key() -> None:
    with pytest.raises(ConfigError) as info:
        convert_litellm(one(rpm="lots"), environ={})
    assert info.value.key == "model_list[0].litellm_params.rpm"
    with pytest.raises(ConfigError, match=r"model_list\[0\]\.litellm_params: required"):
        convert_litellm({"model_list": [{"model_name": "m"}]}, environ={})


# --- weights and strategies -----------------------------------------------------------------------


def two(first: dict[str, Any], second: dict[str, Any], **router: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model_list": [
            {"model_name": "m", "litellm_params": {"model": "openai/a", **first}},
            {"model_name": "m", "litellm_params": {"model": "groq/b", **second}},
        ]
    }
    if router:
        data["router_settings"] = router
    return data


def weights(conv: Conversion) -> list[Any]:
    return [d.get("weight") for d in conv.data["models"]["m"]["deployments"]]


def test_explicit_weights_are_kept() -> None:
    conv = convert_litellm(two({"weight": 3, "rpm": 10}, {"weight": 1, "rpm": 90}), environ={})
    assert weights(conv) == [3, 1]


def test_tpm_is_the_weight_when_nothing_else_is_given() -> None:
    conv = convert_litellm(two({"tpm": 3000}, {"tpm": 1000}), environ={})
    assert weights(conv) == [3000, 1000]
    assert keys(conv) == ["model_list[0].litellm_params.tpm", "model_list[1].litellm_params.tpm"]


def test_a_deployment_without_the_weight_its_siblings_have_is_noted() -> None:
    conv = convert_litellm(two({"weight": 5}, {}), environ={})
    assert weights(conv) == [5, None]  # llmrouter's default weight 1
    assert any("standby" in n and "[1]" in n for n in conv.notes)


def test_weights_are_not_derived_for_other_strategies() -> None:
    conv = convert_litellm(two({"rpm": 10}, {"rpm": 90}, routing_strategy="least-busy"), environ={})
    assert weights(conv) == [None, None]


@pytest.mark.parametrize(
    ("litellm", "ours", "reported"),
    [
        ("simple-shuffle", "weighted", False),
        ("least-busy", "least-busy", False),
        ("latency-based-routing", "lowest-latency", False),
        ("usage-based-routing", "weighted", True),
        ("usage-based-routing-v2", "weighted", True),
        ("cost-based-routing", "weighted", True),
    ],
)
def test_routing_strategies(litellm: str, ours: str, reported: bool) -> None:
    conv = convert_litellm(two({}, {}, routing_strategy=litellm), environ={})
    assert conv.data["models"]["m"]["strategy"] == ours
    assert ("router_settings.routing_strategy" in keys(conv)) is reported
    load_config(conv.data)


# --- rpm: a limit only where LiteLLM enforces it --------------------------------------------------


def rpms(conv: Conversion) -> list[Any]:
    return [d.get("rpm") for d in conv.data["models"]["m"]["deployments"]]


@pytest.mark.parametrize(
    ("router", "enforced", "weighted"),
    [
        ({}, False, True),  # simple-shuffle: rpm is the weight, nothing more
        ({"routing_strategy": "simple-shuffle"}, False, True),
        ({"enable_pre_call_checks": False}, False, True),
        ({"enable_pre_call_checks": True}, True, True),
        ({"enable_pre_call_checks": "true"}, True, True),
        ({"routing_strategy": "least-busy"}, False, False),
        ({"routing_strategy": "least-busy", "enable_pre_call_checks": True}, True, False),
        # these strategies skip a deployment at its rpm themselves
        ({"routing_strategy": "latency-based-routing"}, True, False),
        ({"routing_strategy": "usage-based-routing"}, True, True),
        ({"routing_strategy": "usage-based-routing-v2"}, True, True),
        ({"routing_strategy": "cost-based-routing"}, True, True),
    ],
)
def test_rpm_is_a_limit_only_where_litellm_enforces_it(
    router: dict[str, Any], enforced: bool, weighted: bool
) -> None:
    conv = convert_litellm(two({"rpm": 3}, {"rpm": 1}, **router), environ={})
    assert rpms(conv) == ([3, 1] if enforced else [None, None])
    assert weights(conv) == ([3, 1] if weighted else [None, None])
    limit_notes = [n for n in conv.notes if "not an rpm limit here" in n]
    if enforced:
        assert limit_notes == []
    else:
        (note,) = limit_notes
        assert note.startswith(
            "model_list[0].litellm_params.rpm, model_list[1].litellm_params.rpm:"
        )
        assert "enable_pre_call_checks" in note
    config = load_config(conv.data)
    assert [d.rpm for d in config.models["m"].deployments] == ([3, 1] if enforced else [None, None])


def test_rpm_next_to_litellm_params_follows_the_same_rule() -> None:
    data = one()
    data["model_list"][0]["rpm"] = 7
    assert "rpm" not in convert_litellm(data, environ={}).data["models"]["m"]["deployments"][0]
    data["router_settings"] = {"enable_pre_call_checks": True}
    conv = convert_litellm(data, environ={})
    assert conv.data["models"]["m"]["deployments"][0]["rpm"] == 7
    assert conv.origins["models.m.deployments[0].rpm"] == "model_list[0].rpm"


def test_pre_call_checks_note_says_what_is_and_is_not_carried_over() -> None:
    conv = convert_litellm(two({"rpm": 3}, {}, enable_pre_call_checks=True), environ={})
    (note,) = [n for n in conv.notes if n.startswith("router_settings.enable_pre_call_checks")]
    assert "rpm limit" in note and "context-window" in note and "region" in note
    assert not conv.unsupported  # it maps (in part), so it is a note, not a warning


def test_pre_call_checks_in_litellm_settings_enforce_nothing() -> None:
    data = two({"rpm": 3}, {"rpm": 1})
    data["litellm_settings"] = {"enable_pre_call_checks": True}
    conv = convert_litellm(data, environ={})
    assert rpms(conv) == [None, None]
    assert keys(conv) == ["litellm_settings.enable_pre_call_checks"]
    assert "router_settings only" in conv.unsupported[0].reason


@pytest.mark.parametrize(
    ("params", "router", "fragment"),
    [
        ({"rpm": -1}, {}, "litellm_params.rpm: must be 0 or more"),
        ({}, {"enable_pre_call_checks": "yes"}, "enable_pre_call_checks: must be true or false"),
        ({}, {"enable_pre_call_checks": 1}, "got an integer"),
    ],
)
def test_bad_rpm_and_pre_call_checks_values_are_errors(
    params: dict[str, Any], router: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        convert_litellm(two(params, {}, **router), environ={})


def rpm_config(together: TogetherEmulator, router: str) -> RouterConfig:
    """Two deployments of one alias at rpm 3 and 1, as a LiteLLM user writes them."""
    text = f"""
model_list:
  - model_name: chat
    litellm_params:
      model: together_ai/{TOGETHER_MODEL}
      api_base: {together.base_url}
      api_key: os.environ/H5_TOGETHER_KEY
      rpm: 3
  - model_name: chat
    litellm_params:
      model: together_ai/{TOGETHER_MODEL}
      api_base: {together.base_url_for("second")}
      api_key: os.environ/H5_TOGETHER_KEY
      rpm: 1
router_settings:
  num_retries: 0
{router}
"""
    conv = convert(text)
    # Never wait for an rpm slot (a minute away): a deployment at its limit is refused at once.
    conv.data["router"]["retry_after_max"] = 0
    return validate_conversion(conv)


@pytest.mark.parametrize(("router", "served"), [("", 8), ("  enable_pre_call_checks: true", 4)])
def test_rpm_through_the_router(monkeypatch: pytest.MonkeyPatch, router: str, served: int) -> None:
    """What the reviewer saw: with rpm 3 and 1 under simple-shuffle LiteLLM serves all eight
    requests of a minute; only its pre-call checks turn away the ones past 3 + 1."""
    monkeypatch.setenv("H5_TOGETHER_KEY", "tg-h5-test-key-0123")
    outcomes: list[str] = []
    with TogetherEmulator() as together:
        with llmrouter.Router(config=rpm_config(together, router)) as r:
            for _ in range(8):
                try:
                    r.completion(model="chat", messages=MESSAGES)
                    outcomes.append("ok")
                except errors.AllDeploymentsFailedError as exc:
                    assert "at its rpm limit (3/min)" in str(exc)
                    assert "at its rpm limit (1/min)" in str(exc)
                    outcomes.append("refused")
        assert len(together.requests) == served
    assert outcomes == ["ok"] * served + ["refused"] * (8 - served)


# --- router settings ------------------------------------------------------------------------------


def test_litellm_settings_apply_when_router_settings_do_not_say() -> None:
    data = one()
    data["litellm_settings"] = {"num_retries": 4, "request_timeout": 90, "allowed_fails": 0}
    conv = convert_litellm(data, environ={})
    assert conv.data["router"] == {
        "num_retries": 4,
        "timeout": 90,
        "cooldown": {"min_requests": 1, "window": 60.0},
    }
    assert conv.notes and not conv.unsupported


def test_router_settings_override_litellm_settings() -> None:
    data = one()
    data["litellm_settings"] = {"num_retries": 4, "fallbacks": [{"m": ["x"]}]}
    data["router_settings"] = {"num_retries": 1, "fallbacks": []}
    conv = convert_litellm(data, environ={})
    assert conv.data["router"]["num_retries"] == 1
    assert "fallbacks" not in conv.data["models"]["m"]  # the router's (empty) list won
    assert len([n for n in conv.notes if "overrides" in n]) == 2


def test_retry_after_and_drop_params_for_openai_are_unsupported_with_a_reason() -> None:
    data = one()
    data["router_settings"] = {"retry_after": 5, "disable_cooldowns": True}
    data["litellm_settings"] = {"drop_params": True}
    conv = convert_litellm(data, environ={})
    reasons = {u.key: u.reason for u in conv.unsupported}
    assert "backoff" in reasons["router_settings.retry_after"]
    assert "cannot be switched off" in reasons["router_settings.disable_cooldowns"]
    assert "only anthropic, gemini and bedrock" in reasons["litellm_settings.drop_params"]
    assert "openai (model_list[0])" in reasons["litellm_settings.drop_params"]
    assert "options" not in conv.data["models"]["m"]["deployments"][0]
    assert "router" not in conv.data


def test_unknown_top_level_sections_are_reported() -> None:
    data = one()
    data["include"] = ["more.yaml"]
    data["guardrails"] = []
    assert keys(convert_litellm(data, environ={})) == ["include", "guardrails"]


# --- drop_params ----------------------------------------------------------------------------------


def mixed(**deployment: Any) -> dict[str, Any]:
    """One alias served by Anthropic, Gemini and OpenAI; ``deployment`` goes on Anthropic's."""
    return {
        "model_list": [
            {
                "model_name": "m",
                "litellm_params": {"model": "anthropic/claude-sonnet-4-6", **deployment},
            },
            {"model_name": "m", "litellm_params": {"model": "gemini/gemini-2.5-flash"}},
            {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "seed": 1}},
        ]
    }


def options(conv: Conversion) -> list[Any]:
    return [d.get("options") for d in conv.data["models"]["m"]["deployments"]]


def test_global_drop_params_reaches_the_providers_that_can_drop() -> None:
    data = mixed()
    data["litellm_settings"] = {"drop_params": True}
    conv = convert_litellm(data, environ={})
    assert options(conv) == [{"drop_params": True}, {"drop_params": True}, {"seed": 1}]
    assert conv.origins["models.m.deployments[1].options.drop_params"] == (
        "litellm_settings.drop_params"
    )
    # reported, but only for the deployment that cannot take it
    assert keys(conv) == ["litellm_settings.drop_params"]
    reason = conv.unsupported[0].reason
    assert "openai (model_list[2])" in reason and "model_list[0]" not in reason
    (note,) = [n for n in conv.notes if "options.drop_params = true" in n]
    assert note.startswith("model_list[0], model_list[1]: ")
    assert 'anthropic_version = "2023-06-01"' in note  # temperature is dropped on anthropic
    config = load_config(conv.data)
    assert config.models["m"].deployments[0].options == {"drop_params": True}


def test_global_drop_params_with_only_providers_that_can_drop_is_not_a_warning() -> None:
    data = mixed()
    del data["model_list"][2]
    data["litellm_settings"] = {"drop_params": True}
    conv = convert_litellm(data, environ={})
    assert options(conv) == [{"drop_params": True}, {"drop_params": True}]
    assert conv.unsupported == ()


def test_drop_params_per_deployment() -> None:
    data = mixed(drop_params=True, max_tokens=10)
    data["model_list"][2]["litellm_params"]["drop_params"] = True
    conv = convert_litellm(data, environ={})
    assert options(conv) == [{"drop_params": True, "max_tokens": 10}, None, {"seed": 1}]
    assert conv.origins["models.m.deployments[0].options.drop_params"] == (
        "model_list[0].litellm_params.drop_params"
    )
    assert keys(conv) == ["model_list[2].litellm_params.drop_params"]
    assert "openai provider takes no drop_params" in conv.unsupported[0].reason


def test_drop_params_false_changes_nothing() -> None:
    conv = convert_litellm(mixed(drop_params=False), environ={})
    assert options(conv) == [None, None, {"seed": 1}]
    assert not conv.unsupported
    # LiteLLM drops when either the deployment or litellm_settings says so
    data = mixed(drop_params=False)
    data["litellm_settings"] = {"drop_params": True}
    assert options(convert_litellm(data, environ={}))[0] == {"drop_params": True}
    data["litellm_settings"] = {"drop_params": False}
    conv = convert_litellm(data, environ={})
    assert options(conv) == [None, None, {"seed": 1}]
    assert not conv.unsupported and not any("drop_params" in n for n in conv.notes)


def test_drop_params_in_router_settings_and_additional_drop_params_are_reported() -> None:
    data = mixed(additional_drop_params=["seed"])
    data["router_settings"] = {"drop_params": True}
    conv = convert_litellm(data, environ={})
    assert options(conv) == [None, None, {"seed": 1}]
    reasons = {u.key: u.reason for u in conv.unsupported}
    assert "not from router_settings" in reasons["router_settings.drop_params"]
    assert "no list of options" in reasons["model_list[0].litellm_params.additional_drop_params"]


def test_drop_params_must_be_a_boolean() -> None:
    data = mixed(drop_params="sometimes")
    with pytest.raises(ConfigError, match=r"litellm_params\.drop_params: must be true or false"):
        convert_litellm(data, environ={})


def claude_config(claude: AnthropicEmulator, settings: str) -> RouterConfig:
    text = f"""
model_list:
  - model_name: claude
    litellm_params:
      model: anthropic/{CLAUDE_MODEL}
      api_base: {claude.base_url}
      api_key: os.environ/H5_ANTHROPIC_KEY
router_settings:
  num_retries: 0
{settings}
"""
    return validate_conversion(convert(text))


def test_drop_params_reaches_the_anthropic_plugin_on_a_routed_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("H5_ANTHROPIC_KEY", "ant-h5-test-key-0123")
    with AnthropicEmulator() as claude:
        # Without it: Anthropic's current API has no temperature, refused before sending.
        with (
            llmrouter.Router(config=claude_config(claude, "")) as r,
            pytest.raises(errors.InvalidRequestError, match="temperature"),
        ):
            r.completion(model="claude", messages=MESSAGES, temperature=0.5)
        assert claude.requests == []
        settings = "litellm_settings:\n  drop_params: true"
        with llmrouter.Router(config=claude_config(claude, settings)) as r:
            response = r.completion(model="claude", messages=MESSAGES, temperature=0.5)
        assert response.choices[0].message.content
        (sent,) = claude.requests
        assert sent.path == "/v1/messages"
        assert "temperature" not in sent.body and "drop_params" not in sent.body


def test_other_providers_refuse_drop_params(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the converter never puts drop_params on an OpenAI-style deployment: the option is
    refused there, before anything is sent."""
    monkeypatch.setenv("H5_TOGETHER_KEY", "tg-h5-test-key-0123")
    with TogetherEmulator() as together:
        config = load_config(
            {
                "models": {
                    "chat": {
                        "deployments": [
                            {
                                "model": f"together_ai/{TOGETHER_MODEL}",
                                "api_base": together.base_url,
                                "api_key_env": "H5_TOGETHER_KEY",
                                "options": {"drop_params": True},
                            }
                        ]
                    }
                }
            }
        )
        with (
            llmrouter.Router(config=config) as r,
            pytest.raises(errors.InvalidRequestError, match="drop_params"),
        ):
            r.completion(model="chat", messages=MESSAGES)
        assert together.requests == []


# --- fallbacks ------------------------------------------------------------------------------------


def aliases(*names: str, model: str = "openai/gpt-4o") -> list[dict[str, Any]]:
    return [{"model_name": n, "litellm_params": {"model": model}} for n in names]


def test_fallbacks_targets_that_do_not_exist_are_dropped_and_reported() -> None:
    data: dict[str, Any] = {
        "model_list": [
            *aliases("a", "b"),
            {"model_name": "gone", "litellm_params": {"model": "vertex_ai/x"}},
        ],
        "router_settings": {
            "fallbacks": [{"a": ["b", "nowhere", "gone", "a", "b"]}, {"ghost": ["a"]}],
        },
    }
    conv = convert_litellm(data, environ={})
    assert conv.data["models"]["a"]["fallbacks"] == ["b"]
    reasons = {u.key: u.reason for u in conv.unsupported}
    assert "not a model_name" in reasons["router_settings.fallbacks[0].a[1]"]
    assert "was left out" in reasons["router_settings.fallbacks[0].a[2]"]
    assert "itself" in reasons["router_settings.fallbacks[0].a[3]"]
    assert "not a model_name" in reasons["router_settings.fallbacks[1].ghost"]
    load_config(conv.data)


def test_default_fallbacks_and_the_wildcard_apply_to_aliases_without_their_own() -> None:
    for setting in ({"default_fallbacks": ["c"]}, {"fallbacks": [{"*": ["c"]}, {"b": ["a"]}]}):
        data = {"model_list": aliases("a", "b", "c"), "router_settings": setting}
        models = convert_litellm(data, environ={}).data["models"]
        assert models["a"]["fallbacks"] == ["c"]
        assert "fallbacks" not in models["c"]  # never itself
        expected = ["a"] if "fallbacks" in setting else ["c"]
        assert models["b"]["fallbacks"] == expected


def test_malformed_fallbacks_are_errors() -> None:
    data = {"model_list": aliases("a"), "router_settings": {"fallbacks": {"a": ["b"]}}}
    with pytest.raises(ConfigError, match=r"router_settings\.fallbacks: must be a list"):
        convert_litellm(data, environ={})


# --- the master key -------------------------------------------------------------------------------


def test_master_key_from_the_environment_is_named() -> None:
    data = one()
    data["general_settings"] = {"master_key": "os.environ/PROXY_KEY"}
    conv = convert_litellm(data, environ={})
    assert conv.data["gateway"] == {"master_key_env": "PROXY_KEY"}
    assert conv.master_key is None


def test_literal_master_key_is_held_in_memory_only() -> None:
    data = one()
    data["general_settings"] = {"master_key": MASTER_KEY}
    conv = convert_litellm(data, environ={})
    assert conv.master_key == MASTER_KEY
    assert "gateway" not in conv.data  # the key is not an environment variable
    text = to_toml(conv)
    for output in (repr(conv), str(conv.data), text, str(conv.notes)):
        assert MASTER_KEY not in output
    # The file cannot hold the key, so it names the variable to export it in.
    assert tomllib.loads(text)["gateway"] == {"master_key_env": MASTER_KEY_ENV}
    assert load_config(conv.data).gateway.master_key_env is None


# --- TOML -----------------------------------------------------------------------------------------


def test_toml_round_trips_to_the_same_config(proxy: Conversion, tmp_path: Path) -> None:
    text = to_toml(proxy)
    out = tmp_path / "llmrouter.toml"
    out.write_text(text, encoding="utf-8")
    assert load_config_file(out) == validate_conversion(proxy)
    assert tomllib.loads(text) == proxy.data


def test_toml_header_lists_unsupported_keys_and_notes(proxy: Conversion) -> None:
    text = to_toml(proxy)
    header = text.split("\n\n", 1)[0].splitlines()
    assert all(line.startswith("#") for line in header)
    for item in proxy.unsupported:
        assert f"#   {item.key}: {item.reason}" in header
    assert any("approximated" in line for line in header)


# --- loading files --------------------------------------------------------------------------------


def test_load_gateway_config_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for suffix in (".yaml", ".yml"):
        path = tmp_path / f"config{suffix}"
        shutil.copy(PROXY_YAML, path)
        loaded = load_gateway_config(path, environ=ENV)
        assert loaded.source == "litellm"
        assert isinstance(loaded.config, RouterConfig)
        assert loaded.config.models["gpt-4o"].deployments[0].model == "openai/gpt-4o"
        assert "model_list[4].litellm_params.stream_timeout" in [u.key for u in loaded.unsupported]
        assert loaded.config.models["gpt-4o"].deployments[1].options == {
            "api_version": "2024-02-01"
        }
    monkeypatch.setenv("VLLM_API_BASE", "http://127.0.0.1:8001/v1")  # default: os.environ
    loaded = load_gateway_config(tmp_path / "config.yaml")
    assert loaded.config.models["llama"].deployments[1].api_base == "http://127.0.0.1:8001/v1"


def test_load_gateway_config_toml(tmp_path: Path) -> None:
    path = tmp_path / "llmrouter.toml"
    path.write_text('[models.a]\n[[models.a.deployments]]\nmodel = "groq/x"\n', encoding="utf-8")
    loaded = load_gateway_config(path)
    assert loaded == LoadedConfig(config=load_config_file(path), source="toml")


def test_load_gateway_config_literal_master_key_not_in_repr(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "model_list:\n  - {model_name: a, litellm_params: {model: groq/x}}\n"
        f"general_settings:\n  master_key: {MASTER_KEY}\n",
        encoding="utf-8",
    )
    loaded = load_gateway_config(path, environ={})
    assert loaded.master_key == MASTER_KEY
    assert MASTER_KEY not in repr(loaded)
    assert loaded.config.gateway.master_key_env is None


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("c.json", "{}", "unknown config format '.json'"),
        ("c.yaml", "", "the file is empty"),
        ("c.yaml", "router:\n  num_retries: 1\n", "expected a LiteLLM proxy config"),
        ("c.yaml", "- a\n- b\n", "found: not a mapping"),
        ("c.yaml", "model_list: [\n", "not valid YAML at line"),
        ("c.yaml", "model_list: []\nmodel_list: []\n", "line 2: key model_list is given twice"),
    ],
)
def test_load_gateway_config_errors(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_gateway_config(path, environ={})
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_yaml_syntax_error_does_not_quote_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f'model_list:\n  - api_key: "{LITERAL_KEY}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_gateway_config(path, environ={})
    assert LITERAL_KEY not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_gateway_config(tmp_path / "nope.yaml")


def test_validation_errors_name_the_litellm_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        'model_list:\n  - model_name: "gpt-4.1"\n    litellm_params:\n'
        "      model: openai/gpt-4.1\n      timeout: 100000000\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_gateway_config(path, environ={})
    assert info.value.key == "model_list[0].litellm_params.timeout"
    assert str(info.value).startswith(
        f'{path}: model_list[0].litellm_params.timeout (llmrouter key models."gpt-4.1".'
        "deployments[0].timeout): "
    )


# --- the CLI --------------------------------------------------------------------------------------


def test_cli_convert_to_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_API_BASE", ENV["VLLM_API_BASE"])
    assert main(["config", "convert", str(PROXY_YAML)]) == 0
    captured = capsys.readouterr()
    expected = convert_litellm(read_litellm_file(PROXY_YAML), environ=ENV)
    assert tomllib.loads(captured.out) == expected.data
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {u.key}: {u.reason}" for u in expected.unsupported]
    assert "note: " in captured.err


def test_cli_convert_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "config.yaml"
    source.write_text(
        "model_list:\n  - {model_name: a, litellm_params: {model: groq/x, tpm: 5}}\n"
        f"general_settings:\n  master_key: {MASTER_KEY}\n",
        encoding="utf-8",
    )
    target = tmp_path / "llmrouter.toml"
    assert main(["config", "convert", str(source), "-o", str(target)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "warning: model_list[0].litellm_params.tpm: " in captured.err
    assert f"export {MASTER_KEY_ENV}" in captured.err
    text = target.read_text(encoding="utf-8")
    for output in (text, captured.err):
        assert MASTER_KEY not in output
    config = load_config_file(target)
    assert config.gateway.master_key_env == MASTER_KEY_ENV
    assert config.models["a"].deployments[0].model == "groq/x"


def test_cli_convert_refuses_to_overwrite_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "config.yaml"
    shutil.copy(PROXY_YAML, source)
    assert main(["config", "convert", str(source), "-o", str(source)]) == 2
    assert source.read_bytes() == PROXY_YAML.read_bytes()
    assert "write the TOML elsewhere" in capsys.readouterr().err


def test_cli_convert_literal_key_fails_without_showing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "config.yaml"
    source.write_text(
        f"model_list:\n  - {{model_name: a, litellm_params: {{model: groq/x, api_key: {LITERAL_KEY}}}}}\n",
        encoding="utf-8",
    )
    assert main(["config", "convert", str(source)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: ConfigError: " in captured.err and "api_key" in captured.err
    assert LITERAL_KEY not in captured.err


def test_cli_convert_invalid_result_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "config.yaml"
    source.write_text(
        "model_list:\n  - {model_name: a, litellm_params: {model: groq/x, weight: 0}}\n",
        encoding="utf-8",
    )
    assert main(["config", "convert", str(source)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "model_list[0].litellm_params.weight" in captured.err


# --- the migration page ---------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[3] / "docs" / "gateway-litellm.md"


def fenced(lang: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, re.M | re.S)


def test_the_pages_before_and_after_example_is_what_convert_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _LITELLM_VARIABLES.values():  # LiteLLM's fallbacks, written in when set
        monkeypatch.delenv(name, raising=False)
    (before,) = fenced("yaml")
    (after,) = fenced("toml")
    (reported,) = fenced("text")
    source = tmp_path / "config.yaml"
    source.write_text(before, encoding="utf-8")
    assert main(["config", "convert", str(source)]) == 0
    captured = capsys.readouterr()
    assert tomllib.loads(captured.out) == tomllib.loads(after)
    lines = captured.err.splitlines()
    shown = reported.strip().splitlines()
    assert len(lines) == len(shown)
    for line, doc_line in zip(lines, shown, strict=True):
        assert line.startswith(doc_line.removesuffix("..."))


def test_the_pages_commands_parse() -> None:
    from llmrouter.cli import build_parser

    parser = build_parser()
    (console,) = fenced("console")
    commands = [line[2:] for line in console.splitlines() if line.startswith("$ llmrouter ")]
    assert len(commands) == 2
    for command in commands:
        parser.parse_args(command.split()[1:])
