"""Every provider of the family: found through its entry point, keys and base URLs per preset.

Request building is pure, so most checks run the ``build_request`` hook directly; a few go over
the wire to the emulator to show the whole path.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import pytest

import llmrouter
from llmrouter.pipeline import Call, ChatPrompt, HTTPRequest
from llmrouter.secrets import Secret
from llmrouter.testing import OpenAIEmulator
from llmrouter_openai import providers
from llmrouter_openai.plugin import OpenAIFamilyProvider
from llmrouter_openai.presets import PRESETS, Preset

MESSAGES = [{"role": "user", "content": "Hello"}]

#: name -> (default base URL, key variables in order, base variables in order, key required)
TABLE: dict[str, tuple[str | None, tuple[str, ...], tuple[str, ...], bool]] = {
    "openai": (
        "https://api.openai.com/v1",
        ("OPENAI_API_KEY",),
        ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        True,
    ),
    "openai_compatible": (
        None,
        ("OPENAI_COMPATIBLE_API_KEY",),
        ("OPENAI_COMPATIBLE_API_BASE",),
        False,
    ),
    "groq": ("https://api.groq.com/openai/v1", ("GROQ_API_KEY",), ("GROQ_API_BASE",), True),
    "fireworks_ai": (
        "https://api.fireworks.ai/inference/v1",
        ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"),
        ("FIREWORKS_API_BASE",),
        True,
    ),
    "deepinfra": (
        "https://api.deepinfra.com/v1/openai",
        ("DEEPINFRA_API_KEY",),
        ("DEEPINFRA_API_BASE",),
        True,
    ),
    "openrouter": (
        "https://openrouter.ai/api/v1",
        ("OPENROUTER_API_KEY",),
        ("OPENROUTER_API_BASE",),
        True,
    ),
    "ollama": ("http://localhost:11434/v1", ("OLLAMA_API_KEY",), ("OLLAMA_API_BASE",), False),
}
NAMES = sorted(TABLE)


def provider(name: str) -> OpenAIFamilyProvider:
    plugin = getattr(providers, name)
    assert isinstance(plugin, OpenAIFamilyProvider)
    return plugin


def build(name: str, **kw: Any) -> HTTPRequest:
    call = Call(operation="chat", provider=name, model="some/model", messages=MESSAGES, **kw)
    return provider(name).llmrouter_build_request(call, ChatPrompt(MESSAGES))


# --- discovery ------------------------------------------------------------------------------------


def test_table_covers_every_preset() -> None:
    # The OpenAI-compatible dialects (mistral, deepseek, ...) have their own table in
    # test_dialects.py, which checks that every preset is in one of the two.
    assert set(TABLE) <= set(PRESETS)


def test_every_provider_is_listed() -> None:
    listed = llmrouter.providers()
    for name in NAMES:
        assert name in listed
    assert "together_ai" in listed


@pytest.mark.parametrize("name", NAMES)
def test_entry_point_resolves_to_its_preset(name: str) -> None:
    (ep,) = [e for e in entry_points(group="llmrouter.providers") if e.name == name]
    assert ep.value == f"llmrouter_openai.providers:{name}"
    plugin = ep.load()
    assert isinstance(plugin, OpenAIFamilyProvider)
    assert plugin.preset.name == name and plugin.preset is PRESETS[name]


@pytest.mark.parametrize("name", NAMES)
def test_each_provider_has_its_own_hooks(name: str) -> None:
    hooks = llmrouter.Router().plugin_host.provider_hooks(name)
    call = Call(operation="chat", provider=name, model="m", messages=MESSAGES)
    prompt = hooks.format_prompt(call=call)
    assert isinstance(prompt, ChatPrompt)


def test_importing_llmrouter_imports_no_provider() -> None:
    code = (
        "import sys, llmrouter; llmrouter.providers(); "
        "print(any(m.startswith('llmrouter_openai') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_presets_are_frozen_data() -> None:
    import dataclasses

    preset = PRESETS["groq"]
    assert isinstance(preset, Preset)
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.name = "x"  # type: ignore[misc]


# --- base URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if TABLE[n][0]])
def test_default_base_url(name: str) -> None:
    request = build(name, api_key=Secret("k-123456"))
    assert request.url == f"{TABLE[name][0]}/chat/completions"
    assert request.method == "POST" and request.endpoint == "/chat/completions"


@pytest.mark.parametrize("name", NAMES)
def test_base_url_variables_in_order(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    variables = TABLE[name][2]
    for i, var in enumerate(variables):
        monkeypatch.setenv(var, f"https://host{i}.example/v1/")
    request = build(name, api_key=Secret("k-123456"))
    assert request.url == "https://host0.example/v1/chat/completions"
    if len(variables) > 1:
        monkeypatch.delenv(variables[0])
        assert build(name, api_key=Secret("k-123456")).url.startswith("https://host1.example")


@pytest.mark.parametrize("name", NAMES)
def test_api_base_argument_beats_the_environment(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in TABLE[name][2]:
        monkeypatch.setenv(var, "https://env.example/v1")
    request = build(name, api_key=Secret("k-123456"), api_base="http://127.0.0.1:9/v1")
    assert request.url == "http://127.0.0.1:9/v1/chat/completions"


def test_openai_compatible_needs_a_base_url() -> None:
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        build("openai_compatible")
    assert info.value.param == "api_base"
    assert "OPENAI_COMPATIBLE_API_BASE" in str(info.value)


def test_a_base_url_without_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_BASE", "localhost:8000/v1")
    with pytest.raises(llmrouter.InvalidRequestError, match="http"):
        build("openai_compatible")


@pytest.mark.parametrize("given", ["http://gpu:11434", "http://gpu:11434/", "http://gpu:11434/v1"])
def test_ollama_base_gets_v1(given: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_BASE", given)
    assert build("ollama").url == "http://gpu:11434/v1/chat/completions"


# --- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if TABLE[n][3]])
def test_missing_key_raises_naming_the_variables(name: str) -> None:
    with pytest.raises(llmrouter.MissingAPIKeyError) as info:
        build(name)
    for var in TABLE[name][1]:
        assert var in str(info.value)
    assert info.value.env_vars == list(TABLE[name][1])


@pytest.mark.parametrize("name", [n for n in NAMES if not TABLE[n][3]])
def test_key_optional_providers_send_no_authorization(name: str) -> None:
    request = build(name, api_base="http://127.0.0.1:9/v1")
    assert "authorization" not in {k.lower() for k in request.headers}


@pytest.mark.parametrize("name", NAMES)
def test_key_variables_in_order(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    variables = TABLE[name][1]
    for i, var in enumerate(variables):
        monkeypatch.setenv(var, f"key-{i}-abcdef")
    request = build(name, api_base="http://127.0.0.1:9/v1")
    assert request.headers["authorization"] == "Bearer key-0-abcdef"
    if len(variables) > 1:
        monkeypatch.setenv(variables[0], "  ")
        request = build(name, api_base="http://127.0.0.1:9/v1")
        assert request.headers["authorization"] == "Bearer key-1-abcdef"


def test_api_key_argument_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-aaaaaaaa")
    request = build("openai", api_key=Secret("sk-from-arg-bbbbbbbb"))
    assert request.headers["authorization"] == "Bearer sk-from-arg-bbbbbbbb"


def test_an_openai_key_never_goes_to_an_arbitrary_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-cccccccc")
    request = build("openai_compatible", api_base="http://127.0.0.1:9/v1")
    assert "authorization" not in request.headers
    request = build("ollama")
    assert "authorization" not in request.headers


def test_request_repr_hides_the_key() -> None:
    request = build("openai", api_key=Secret("sk-secret-dddddddddddd"))
    assert "sk-secret" not in repr(request)


# --- headers --------------------------------------------------------------------------------------


def test_openrouter_attribution_headers_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_SITE_URL", "https://myapp.example")
    monkeypatch.setenv("OR_APP_NAME", "My App")
    request = build("openrouter", api_key=Secret("sk-or-eeeeeeee"))
    assert request.headers["HTTP-Referer"] == "https://myapp.example"
    assert request.headers["X-Title"] == "My App"


def test_extra_headers_win_over_environment_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_SITE_URL", "https://env.example")
    request = build(
        "openrouter",
        api_key=Secret("sk-or-eeeeeeee"),
        extra_headers={"http-referer": "https://call.example", "X-Custom": "1"},
    )
    assert request.headers["http-referer"] == "https://call.example"
    assert "HTTP-Referer" not in request.headers and request.headers["X-Custom"] == "1"


def test_no_attribution_headers_for_other_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_SITE_URL", "https://myapp.example")
    request = build("openai", api_key=Secret("sk-aaaaaaaaaaaa"))
    assert "HTTP-Referer" not in request.headers


# --- over the wire --------------------------------------------------------------------------------


def test_openai_key_and_base_from_the_environment_over_the_wire(
    oai: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-ffffffffffff")
    monkeypatch.setenv("OPENAI_BASE_URL", oai.base_url)
    response = llmrouter.completion(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert response.choices[0].message.content
    assert oai.last_request is not None and oai.last_request.key_matches("sk-env-key-ffffffffffff")


def test_missing_key_sends_nothing(oai: OpenAIEmulator) -> None:
    with pytest.raises(llmrouter.MissingAPIKeyError):
        llmrouter.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=oai.base_url)
    assert oai.requests == []


@pytest.mark.parametrize("name", ["openai_compatible", "ollama"])
def test_keyless_local_server(compat: OpenAIEmulator, name: str) -> None:
    response = llmrouter.completion(
        model=f"{name}/llama3.2", messages=MESSAGES, api_base=compat.base_url
    )
    assert response.choices[0].message.content
    sent = compat.last_request
    assert sent is not None and not sent.has_key
