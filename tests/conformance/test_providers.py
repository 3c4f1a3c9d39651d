"""The conformance suite (llmrouter.testing.conformance) over every first-party provider.

Each provider is one :class:`ProviderCase`, plain data: its emulator (one per provider, started
once for the provider's tests), how calls reach it, and what it offers. The OpenAI family's
cases are derived from the presets themselves (which endpoints each serves, whether it needs a
key, which variables it reads), so a new preset joins the suite with no edit here; a test below
fails if an installed provider has no case.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

import pytest

from llmrouter.testing import Fault, OpenAIEmulator, TogetherEmulator
from llmrouter.testing.azure_emulator import AzureOpenAIEmulator
from llmrouter.testing.conformance import ConformanceSuite, Connection, ProviderCase
from llmrouter_anthropic.plugin import API_BASE_ENV as ANTHROPIC_BASE_ENV
from llmrouter_anthropic.plugin import API_KEY_ENV as ANTHROPIC_KEY_ENV
from llmrouter_anthropic.testing import AnthropicEmulator
from llmrouter_bedrock.testing import BedrockEmulator
from llmrouter_gemini.plugin import API_BASE_ENV as GEMINI_BASE_ENV
from llmrouter_gemini.plugin import API_KEY_ENV as GEMINI_KEY_ENV
from llmrouter_gemini.testing import GeminiEmulator
from llmrouter_openai.azure import AD_TOKEN_ENV, API_KEY_ENV, API_VERSION_ENV, ENDPOINT_ENV
from llmrouter_openai.presets import PRESETS, Preset

# --- the OpenAI family: one case per preset ---------------------------------------------------


class MistralEmulator(OpenAIEmulator):
    """The lenient OpenAI emulator with Mistral's tool-call ids (9 letters or digits), which the
    ``mistral`` provider requires in the history it sends back (as Mistral's API does)."""

    def _tool_calls(self, body: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        calls = super()._tool_calls(body)
        for call in calls or ():
            call["id"] = call["id"][-9:]
        return calls


class UnversionedChatEmulator(OpenAIEmulator):
    """The lenient OpenAI emulator also serving chat at the root (``/chat/completions``), where
    Perplexity serves it; its model list stays under ``/v1``."""

    def _split_path(self, api_path: str) -> tuple[str, str]:
        if api_path == "/chat/completions":
            return "", api_path
        return super()._split_path(api_path)


def _family_emulator(preset: Preset) -> type[OpenAIEmulator]:
    if preset.tool_call_id_pattern is not None:
        return MistralEmulator
    if not preset.paths["chat"].startswith("/v1") and preset.paths["models"].startswith("/v1"):
        return UnversionedChatEmulator
    return OpenAIEmulator


def _family_case(preset: Preset) -> ProviderCase[OpenAIEmulator]:
    strict = preset.name == "openai"  # api.openai.com as the emulator plays it; others lenient
    emulator = _family_emulator(preset)
    key = f"{preset.name}-ConformanceKeyDoNotLeak-0123456789"
    variables = {
        *preset.api_key_env,
        *preset.api_base_env,
        *(variable.name for variable in preset.sdk_base_env),
    }

    def connect(emu: OpenAIEmulator) -> Connection:
        base = emu.url if emulator is UnversionedChatEmulator else emu.base_url
        kwargs: dict[str, Any] = {"api_base": base}
        if preset.key_required:
            kwargs["api_key"] = key
        return Connection(kwargs=kwargs, env=dict.fromkeys(variables))

    return ProviderCase(
        provider=preset.name,
        model="gpt-4o-mini" if strict else "meta-llama/Llama-3.1-8B-Instruct",
        emulator=lambda: emulator(strict=strict, require_key=strict),
        connect=connect,
        # The emulator reports stream usage when asked (stream_options); the services that
        # report it unasked are not played.
        stream_usage=preset.sends_stream_options,
        embedding_model=(
            None
            if "embeddings" not in preset.endpoints
            else "text-embedding-3-small"
            if strict
            else "nomic-embed-text"
        ),
        list_models="models" in preset.endpoints,
    )


# --- the other first-party providers -----------------------------------------------------------


def _keyed_case(
    provider: str,
    model: str,
    emulator: Callable[..., Any],
    variables: Iterable[str],
    **capabilities: Any,
) -> ProviderCase[Any]:
    """A provider whose emulator requires exactly one key, sent as ``api_key=`` to the URL
    ``api_base=emu.base_url``; ``variables`` (its key and base URL variables) are removed."""
    key = f"{provider}-ConformanceKeyDoNotLeak-0123456789"
    return ProviderCase(
        provider=provider,
        model=model,
        emulator=lambda: emulator(api_key=key),
        connect=lambda emu: Connection(
            kwargs={"api_base": emu.base_url, "api_key": key}, env=dict.fromkeys(variables)
        ),
        **capabilities,
    )


TOGETHER = _keyed_case(
    "together_ai",
    "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    TogetherEmulator,
    (
        "TOGETHERAI_API_KEY",
        "TOGETHER_API_KEY",
        "TOGETHER_AI_TOKEN",
        "TOGETHERAI_API_BASE",
        "TOGETHER_BASE_URL",
    ),
    embedding_model="BAAI/bge-large-en-v1.5",
)
ANTHROPIC = _keyed_case(
    "anthropic",
    "claude-sonnet-4-6",
    AnthropicEmulator,
    (*ANTHROPIC_KEY_ENV, *ANTHROPIC_BASE_ENV),
)
GEMINI = _keyed_case(
    "gemini",
    "gemini-2.5-flash",
    GeminiEmulator,
    (*GEMINI_KEY_ENV, *GEMINI_BASE_ENV),
    embedding_model="gemini-embedding-001",
)


def _azure_case() -> ProviderCase[Any]:
    key = "azure-ConformanceKeyDoNotLeak-0123456789abcdef"
    env: dict[str, str | None] = dict.fromkeys((*API_KEY_ENV, *ENDPOINT_ENV, *AD_TOKEN_ENV))
    env.update(dict.fromkeys(API_VERSION_ENV))
    # the model list takes no provider option, so the version comes from the SDK's variable
    env[API_VERSION_ENV[0]] = "2024-10-21"
    return ProviderCase(
        provider="azure",
        model="gpt-4o-mini",  # a deployment of that name (every catalogue model is one)
        emulator=lambda: AzureOpenAIEmulator(api_key=key),
        connect=lambda emu: Connection(kwargs={"api_base": emu.endpoint, "api_key": key}, env=env),
        embedding_model="text-embedding-3-small",
    )


def _bedrock_case() -> ProviderCase[Any]:
    key_id, secret, region = (
        "AKIDCONFORMANCE7Q3ZT",
        "wJalrXUtnFEMI/K7MDENG+ConformanceKEY",
        "us-east-1",
    )
    nowhere = os.path.join(tempfile.gettempdir(), "llmrouter-conformance-no-aws-files")

    def connect(emu: BedrockEmulator) -> Connection:
        """The standard credential chain finds the test key and nothing of the machine's own
        AWS setup (every other ``AWS_*`` variable removed, no files, no instance metadata)."""
        env: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith("AWS_") and name != "AWS_CA_BUNDLE"
        }
        env.update(
            AWS_ACCESS_KEY_ID=key_id,
            AWS_SECRET_ACCESS_KEY=secret,
            AWS_REGION=region,
            AWS_CONFIG_FILE=nowhere,
            AWS_SHARED_CREDENTIALS_FILE=nowhere,
            AWS_EC2_METADATA_DISABLED="true",
        )
        return Connection(kwargs={"api_base": emu.url}, env=env, secrets=(secret,))

    return ProviderCase(
        provider="bedrock",
        model="anthropic.claude-3-5-haiku-20241022-v1:0",
        emulator=lambda: BedrockEmulator(credentials={key_id: secret}, region=region),
        connect=connect,
        list_models=False,  # the model list is the control plane's (bedrock, not bedrock-runtime)
        # AWS answers a key it does not know with a 403 (there is no 401 on Bedrock)
        auth_failure=Fault(status=403, type="UnrecognizedClientException"),
    )


CASES: list[ProviderCase[Any]] = [
    TOGETHER,
    *(_family_case(preset) for preset in PRESETS.values()),
    ANTHROPIC,
    GEMINI,
    _azure_case(),
    _bedrock_case(),
]


class TestProviders(ConformanceSuite):
    @pytest.fixture(scope="class", params=CASES, ids=str)
    @classmethod
    def conformance_case(cls, request: pytest.FixtureRequest) -> ProviderCase[Any]:
        case: ProviderCase[Any] = request.param
        return case


def test_every_installed_provider_has_a_case() -> None:
    """A provider installed through the entry point but missing here would escape the suite
    (examples/plugin-echo runs it in its own tests, and is left out when installed)."""
    installed = {ep.name for ep in entry_points(group="llmrouter.providers")} - {"echo"}
    assert installed == {case.provider for case in CASES}
