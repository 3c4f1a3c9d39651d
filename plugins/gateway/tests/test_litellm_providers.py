"""LiteLLM proxy configs with the providers of issue 20: Azure OpenAI, AWS Bedrock and the
OpenAI-compatible dialects, converted and then routed to their emulators.

The pure tests feed YAML in and read the TOML out (``to_toml`` loaded back), so what is
checked is what ``llmrouter config convert`` writes; the routed tests build a Router from the
converted config and send a call over a socket to the project's emulator of that provider.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

import llmrouter
from llmrouter.config import load_config
from llmrouter.errors import ConfigError
from llmrouter.testing import OpenAIEmulator
from llmrouter.testing.azure_emulator import AzureOpenAIEmulator
from llmrouter_bedrock.testing import BedrockEmulator
from llmrouter_gateway.litellm_config import (
    LITELLM_AZURE_API_VERSION,
    Conversion,
    convert_litellm,
    to_toml,
    validate_conversion,
)

from .conftest import MASTER_KEY, start_gateway

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

MESSAGES = [{"role": "user", "content": "Name a colour"}]
# Fake secrets: each must never appear in an error, a repr, a note or the TOML.
AWS_KEY_ID = "AKIDEXAMPLEGATEWAY0042"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzGATEWAYKEY"
AZURE_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.gateway-token.DoNotLeak"
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


def convert(text: str, environ: dict[str, str] | None = None) -> Conversion:
    return convert_litellm(yaml.safe_load(text), environ=environ or {})


def one(model: str, **params: Any) -> dict[str, Any]:
    return {"model_list": [{"model_name": "m", "litellm_params": {"model": model, **params}}]}


def written(conv: Conversion) -> list[dict[str, Any]]:
    """The deployments of alias 'm' as the TOML file holds them (and llmrouter loads them)."""
    data = tomllib.loads(to_toml(conv))
    load_config(data)
    deployments: list[dict[str, Any]] = data["models"]["m"]["deployments"]
    return deployments


def reasons(conv: Conversion) -> dict[str, str]:
    return {u.key: u.reason for u in conv.unsupported}


P = "model_list[0].litellm_params"


# --- Azure OpenAI ---------------------------------------------------------------------------------


def test_azure_deployment_with_its_api_version_and_key() -> None:
    conv = convert(
        """
model_list:
  - model_name: m
    litellm_params:
      model: azure/my-gpt-4o
      api_base: https://eu.openai.azure.com
      api_key: os.environ/AZURE_EU_KEY
      api_version: 2024-10-21
"""
    )
    assert written(conv) == [
        {
            "model": "azure/my-gpt-4o",
            "api_base": "https://eu.openai.azure.com",
            "api_key_env": "AZURE_EU_KEY",
            # an unquoted date: YAML reads a date, the option is its text
            "options": {"api_version": "2024-10-21"},
        }
    ]
    assert conv.origins["models.m.deployments[0].options.api_version"] == f"{P}.api_version"
    assert conv.unsupported == () and conv.notes == ()


@pytest.mark.parametrize(
    ("params", "environ", "version", "says"),
    [
        ({}, {}, LITELLM_AZURE_API_VERSION, "LiteLLM sends its default"),
        ({}, {"AZURE_API_VERSION": "2024-06-01"}, "2024-06-01", "from AZURE_API_VERSION"),
        # the v1 API takes no dated version: llmrouter uses v1 for such an endpoint itself
        ({"api_base": "https://r.openai.azure.com/openai/v1/"}, {}, None, None),
    ],
)
def test_azure_without_api_version_gets_the_one_litellm_would_send(
    params: dict[str, Any], environ: dict[str, str], version: str | None, says: str | None
) -> None:
    conv = convert_litellm(
        one("azure/dep", **{"api_base": "https://r.openai.azure.com", **params}), environ=environ
    )
    (dep,) = written(conv)
    assert dep.get("options", {}).get("api_version") == version
    if says is None:
        assert conv.notes == ()
    else:
        (note,) = conv.notes
        assert says in note and note.startswith(f"{P}: ")


def test_azure_endpoint_from_litellms_variable_is_written_in() -> None:
    conv = convert_litellm(
        one("azure/dep", api_version="v1"), environ={"AZURE_API_BASE": "https://r.openai.azure.com"}
    )
    assert written(conv)[0]["api_base"] == "https://r.openai.azure.com"
    assert any("AZURE_API_BASE" in n for n in conv.notes)
    # a v1 endpoint from the variable: no dated default version is written next to it
    v1 = convert_litellm(
        one("azure/dep"), environ={"AZURE_API_BASE": "https://r.openai.azure.com/openai/v1"}
    )
    assert written(v1) == [
        {"model": "azure/dep", "api_base": "https://r.openai.azure.com/openai/v1"}
    ]


def test_azure_reasoning_markers_are_not_part_of_the_deployment() -> None:
    conv = convert_litellm(one("azure/o_series/my-o3", api_version="v1"), environ={})
    assert written(conv)[0]["model"] == "azure/my-o3"
    assert any("o_series/" in n and "max_completion_tokens" in n for n in conv.notes)


def test_azure_ad_token_from_the_providers_own_variable_writes_nothing() -> None:
    conv = convert_litellm(
        one("azure/dep", api_version="v1", azure_ad_token="os.environ/AZURE_OPENAI_AD_TOKEN"),
        environ={},
    )
    (dep,) = written(conv)
    assert dep == {"model": "azure/dep", "options": {"api_version": "v1"}}
    assert any(n.startswith(f"{P}.azure_ad_token: ") for n in conv.notes)


@pytest.mark.parametrize(
    ("params", "key", "fragment"),
    [
        ({"azure_ad_token": "os.environ/AZURE_AD_TOKEN"}, "azure_ad_token", "export it as"),
        ({"azure_ad_token": "oidc/google/https://x"}, "azure_ad_token", "oidc/"),
        ({"tenant_id": "t", "client_id": "c", "client_secret": "s"}, "", "Entra ID"),
        ({"azure_username": "u", "azure_password": "p"}, "", "Entra ID"),
    ],
)
def test_azure_identities_a_config_cannot_carry_leave_the_deployment_out(
    params: dict[str, Any], key: str, fragment: str
) -> None:
    data = one("azure/dep", **params)
    data["model_list"].append({"model_name": "ok", "litellm_params": {"model": "groq/x"}})
    conv = convert_litellm(data, environ={})
    assert list(conv.data["models"]) == ["ok"]
    ((where, why),) = reasons(conv).items()
    assert where.startswith(f"{P}.{key}") and fragment in why and "left out" in why


def test_azure_scope_alone_is_reported() -> None:
    conv = convert_litellm(one("azure/dep", api_version="v1", azure_scope="x"), environ={})
    assert "only refines a sign-in" in reasons(conv)[f"{P}.azure_scope"]
    assert written(conv)[0]["model"] == "azure/dep"


def test_api_version_elsewhere_is_reported() -> None:
    conv = convert_litellm(one("openai/gpt-4o", api_version="2024-10-21"), environ={})
    assert "Azure OpenAI setting" in reasons(conv)[f"{P}.api_version"]
    assert "options" not in written(conv)[0]


# --- AWS Bedrock ----------------------------------------------------------------------------------


def test_bedrock_settings_become_options() -> None:
    conv = convert(
        f"""
model_list:
  - model_name: m
    litellm_params:
      model: bedrock/converse/{BEDROCK_MODEL}
      aws_region_name: eu-west-1
      aws_profile_name: os.environ/PROFILE
      aws_bedrock_runtime_endpoint: https://vpce-1.bedrock-runtime.eu-west-1.vpce.amazonaws.com
      api_key: os.environ/BEDROCK_KEY
      max_tokens: 256
""",
        environ={"PROFILE": "prod"},
    )
    assert written(conv) == [
        {
            "model": f"bedrock/{BEDROCK_MODEL}",
            "api_base": "https://vpce-1.bedrock-runtime.eu-west-1.vpce.amazonaws.com",
            "api_key_env": "BEDROCK_KEY",
            "options": {
                "aws_region_name": "eu-west-1",
                "aws_profile_name": "prod",
                "max_tokens": 256,
            },
        }
    ]
    assert conv.unsupported == ()
    assert conv.origins["models.m.deployments[0].api_base"] == (f"{P}.aws_bedrock_runtime_endpoint")


def test_bedrock_api_base_wins_over_the_runtime_endpoint() -> None:
    conv = convert_litellm(
        one(
            f"bedrock/{BEDROCK_MODEL}",
            api_base="https://a.example",
            aws_bedrock_runtime_endpoint="https://b.example",
        ),
        environ={},
    )
    assert written(conv)[0]["api_base"] == "https://a.example"
    assert "wins" in reasons(conv)[f"{P}.aws_bedrock_runtime_endpoint"]


def test_bedrock_region_from_an_arn_then_from_litellms_variables() -> None:
    arn = "arn:aws:bedrock:eu-central-1:123456789012:application-inference-profile/abc123"
    litellm_env = {
        "AWS_REGION_NAME": "ap-south-1",
        "AWS_PROFILE_NAME": "team",
        "AWS_BEDROCK_RUNTIME_ENDPOINT": "https://proxy.example",
    }
    from_arn = convert_litellm(one(f"bedrock/{arn}"), environ=litellm_env)
    (dep,) = written(from_arn)
    assert dep["model"] == f"bedrock/{arn}"
    assert dep["options"] == {"aws_region_name": "eu-central-1", "aws_profile_name": "team"}
    assert dep["api_base"] == "https://proxy.example"
    from_env = convert_litellm(one(f"bedrock/{BEDROCK_MODEL}"), environ=litellm_env)
    assert written(from_env)[0]["options"]["aws_region_name"] == "ap-south-1"
    assert len([n for n in from_env.notes if "LiteLLM reads" in n]) == 3
    # without them nothing is written: the provider reads AWS_REGION, the profile's region...
    assert "options" not in written(convert_litellm(one(f"bedrock/{BEDROCK_MODEL}"), environ={}))[0]


def test_bedrock_keys_from_the_standard_variables_write_nothing() -> None:
    conv = convert_litellm(
        one(
            f"bedrock/{BEDROCK_MODEL}",
            aws_access_key_id="os.environ/AWS_ACCESS_KEY_ID",
            aws_secret_access_key="os.environ/AWS_SECRET_ACCESS_KEY",
            aws_session_token="os.environ/AWS_SESSION_TOKEN",
        ),
        environ={},
    )
    assert written(conv) == [{"model": f"bedrock/{BEDROCK_MODEL}"}]
    (note,) = conv.notes
    assert "aws_session_token" in note and "AWS_BEARER_TOKEN_BEDROCK" in note


@pytest.mark.parametrize(
    "params",
    [
        {"aws_access_key_id": "os.environ/PROD_KEY_ID", "aws_secret_access_key": "os.environ/X"},
        {"aws_role_name": "arn:aws:iam::123456789012:role/bedrock"},
        {"aws_web_identity_token": "oidc/example/aud", "aws_role_name": "r"},
    ],
)
def test_bedrock_credentials_a_config_cannot_name_leave_the_deployment_out(
    params: dict[str, Any],
) -> None:
    data = one(f"bedrock/{BEDROCK_MODEL}", **params)
    data["model_list"].append({"model_name": "ok", "litellm_params": {"model": "groq/x"}})
    conv = convert_litellm(data, environ={})
    assert list(conv.data["models"]) == ["ok"]
    ((where, why),) = reasons(conv).items()
    assert where.startswith(f"{P}.aws_") and "left out" in why
    assert "aws_profile_name" in why  # the way to get there


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("aws_access_key_id", AWS_KEY_ID),
        ("aws_secret_access_key", AWS_SECRET),
        ("aws_session_token", AWS_SECRET + "token"),
    ],
)
def test_an_aws_credential_written_in_the_file_is_an_error_that_does_not_show_it(
    name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        convert_litellm(one(f"bedrock/{BEDROCK_MODEL}", **{name: value}), environ={})
    assert value not in str(info.value) and value not in repr(info.value)
    assert info.value.key == f"{P}.{name}" and "os.environ/" in str(info.value)


def test_an_azure_token_written_in_the_file_is_an_error_that_does_not_show_it() -> None:
    with pytest.raises(ConfigError) as info:
        convert_litellm(one("azure/dep", azure_ad_token=AZURE_TOKEN), environ={})
    assert AZURE_TOKEN not in str(info.value) and AZURE_TOKEN not in repr(info.value)
    assert "AZURE_OPENAI_AD_TOKEN" in str(info.value)


def test_role_details_alone_are_reported() -> None:
    conv = convert_litellm(
        one(f"bedrock/{BEDROCK_MODEL}", aws_session_name="s", aws_sts_endpoint="https://sts"),
        environ={},
    )
    assert sorted(reasons(conv)) == [f"{P}.aws_session_name", f"{P}.aws_sts_endpoint"]
    assert written(conv) == [{"model": f"bedrock/{BEDROCK_MODEL}"}]


def test_drop_params_reaches_bedrock() -> None:
    data = one(f"bedrock/{BEDROCK_MODEL}", drop_params=True)
    data["model_list"].append(
        {"model_name": "m", "litellm_params": {"model": "azure/d", "api_version": "v1"}}
    )
    data["litellm_settings"] = {"drop_params": True}
    conv = convert_litellm(data, environ={})
    bedrock, azure = written(conv)
    assert bedrock["options"] == {"drop_params": True}
    assert azure["options"] == {"api_version": "v1"}
    assert "azure (model_list[1])" in reasons(conv)["litellm_settings.drop_params"]


# --- routed: the converted deployments reach their emulators --------------------------------------


def test_azure_deployments_are_routed_to_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key with a dated version (the deployments URL), and the provider's own token variable
    on a /openai/v1 endpoint (the v1 URL, no api-version)."""
    monkeypatch.setenv("GW_AZURE_KEY", "azure-gateway-key-0123")
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", AZURE_TOKEN)
    for name in ("OPENAI_API_VERSION", "AZURE_API_VERSION", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with AzureOpenAIEmulator(
        api_key="azure-gateway-key-0123", ad_token=AZURE_TOKEN, deployments={"my-gpt": "gpt-4o"}
    ) as azure:
        conv = convert(
            f"""
model_list:
  - model_name: keyed
    litellm_params:
      model: azure/my-gpt
      api_base: {azure.endpoint}
      api_key: os.environ/GW_AZURE_KEY
      api_version: "2024-10-21"
  - model_name: token
    litellm_params:
      model: azure/o_series/my-gpt
      api_base: {azure.endpoint}/openai/v1
      azure_ad_token: os.environ/AZURE_OPENAI_AD_TOKEN
router_settings:
  num_retries: 0
"""
        )
        with llmrouter.Router(config=validate_conversion(conv)) as router:
            keyed = router.completion(model="keyed", messages=MESSAGES)
            token = router.completion(model="token", messages=MESSAGES, max_completion_tokens=20)
        assert keyed.choices[0].message.content and token.choices[0].message.content
        first, second = azure.requests
    assert first.path == "/openai/deployments/my-gpt/chat/completions"
    assert first.query == "api-version=2024-10-21" and first.key_matches("azure-gateway-key-0123")
    assert second.path == "/openai/v1/chat/completions" and second.body["model"] == "my-gpt"
    assert second.key_matches(AZURE_TOKEN)


@pytest.fixture
def aws_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """An AWS credentials file with one profile, and nothing else of the developer's AWS setup."""
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_CA_BUNDLE":
            monkeypatch.delenv(name)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[gw-bedrock]\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return "gw-bedrock"


def test_a_bedrock_deployment_is_routed_to_the_emulator(aws_profile: str) -> None:
    """LiteLLM's converse/ route, its profile, region and endpoint names, and drop_params: the
    call is signed for the profile's key in the deployment's region (the emulator checks the
    signature), and seed, which Converse lacks, is dropped instead of refused."""
    with BedrockEmulator(credentials={AWS_KEY_ID: AWS_SECRET}, region="eu-west-3") as bedrock:
        conv = convert(
            f"""
model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/converse/{BEDROCK_MODEL}
      aws_profile_name: {aws_profile}
      aws_region_name: eu-west-3
      aws_bedrock_runtime_endpoint: {bedrock.url}
litellm_settings:
  drop_params: true
router_settings:
  num_retries: 0
"""
        )
        with llmrouter.Router(config=validate_conversion(conv)) as router:
            response = router.completion(model="claude", messages=MESSAGES, seed=7)
        assert response.choices[0].message.content
        (sent,) = bedrock.requests
    assert sent.path == f"/model/{BEDROCK_MODEL}/converse" and sent.status == 200
    assert "seed" not in str(sent.body)


def test_dialects_are_routed_under_their_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_MISTRAL_KEY", "mistral-gateway-key-0123")
    with OpenAIEmulator(strict=False, require_key=False) as emu:
        conv = convert(
            f"""
model_list:
  - model_name: mistral
    litellm_params:
      model: mistral/meta-llama/Llama-3.1-8B-Instruct
      api_base: {emu.base_url_for("mistral")}
      api_key: os.environ/GW_MISTRAL_KEY
  - model_name: vllm
    litellm_params:
      model: hosted_vllm/meta-llama/Llama-3.1-8B-Instruct
      api_base: {emu.base_url_for("vllm")}
router_settings:
  num_retries: 0
"""
        )
        with llmrouter.Router(config=validate_conversion(conv)) as router:
            router.completion(model="mistral", messages=MESSAGES, seed=3)
            router.completion(model="vllm", messages=MESSAGES)
        mistral, vllm = emu.requests
    # Mistral's dialect, not a generic server: OpenAI's seed goes as Mistral's random_seed
    assert (mistral.tenant, mistral.body.get("random_seed")) == ("mistral", 3)
    assert mistral.key_matches("mistral-gateway-key-0123")
    assert vllm.tenant == "vllm" and vllm.body["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert not vllm.has_key


# --- served: llmrouter serve with the YAML as it is ----------------------------------------------


def test_the_gateway_serves_azure_and_bedrock_from_a_litellm_yaml(
    tmp_path: Path, aws_profile: str
) -> None:
    """One gateway process, started with a LiteLLM config.yaml, in front of the Azure and
    Bedrock emulators; a client that tries to pick the region itself is refused."""
    with (
        AzureOpenAIEmulator(api_key="azure-gateway-key-0123") as azure,
        BedrockEmulator(credentials={AWS_KEY_ID: AWS_SECRET}, region="us-east-2") as bedrock,
    ):
        path = tmp_path / "config.yaml"
        path.write_text(
            f"""
model_list:
  - model_name: gpt
    litellm_params:
      model: azure/gpt-4o-mini
      api_base: {azure.endpoint}
      api_key: os.environ/GW_AZURE_KEY
      api_version: "2024-10-21"
  - model_name: claude
    litellm_params:
      model: bedrock/{BEDROCK_MODEL}
      aws_profile_name: {aws_profile}
      aws_region_name: us-east-2
      api_base: {bedrock.url}
router_settings:
  num_retries: 0
general_settings:
  master_key: os.environ/GW_MASTER_KEY
""",
            encoding="utf-8",
        )
        gateway = start_gateway(
            path, env={"GW_MASTER_KEY": MASTER_KEY, "GW_AZURE_KEY": "azure-gateway-key-0123"}
        )
        try:
            client = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0)
            for alias in ("gpt", "claude"):
                response = client.chat.completions.create(model=alias, messages=MESSAGES)  # type: ignore[arg-type]
                assert response.choices[0].message.content
            with pytest.raises(openai.BadRequestError) as info:
                client.chat.completions.create(
                    model="claude",
                    messages=MESSAGES,  # type: ignore[arg-type]
                    extra_body={"aws_region_name": "us-west-2"},
                )
            body = info.value.body
            assert body["code"] == "forbidden_parameter"  # type: ignore[index]
            assert body["param"] == "aws_region_name"  # type: ignore[index]
            out = gateway.output()
            assert AWS_SECRET not in out and "azure-gateway-key-0123" not in out
        finally:
            gateway.stop()
        (to_azure,) = azure.requests
        (to_bedrock,) = bedrock.requests  # the refused request was never sent
    assert to_azure.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert to_azure.query == "api-version=2024-10-21"
    assert to_bedrock.path == f"/model/{BEDROCK_MODEL}/converse" and to_bedrock.status == 200
