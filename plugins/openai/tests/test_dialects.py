"""The OpenAI-compatible dialects of issue 20, each over a socket to an OpenAI emulator.

``mistral``, ``deepseek``, ``xai``, ``cerebras``, ``perplexity``, ``sambanova``, ``nebius``,
``hyperbolic``, ``novita``, ``lm_studio``, ``llamacpp``, ``vllm`` (and ``hosted_vllm``, LiteLLM's
name for it): for every one, where it lives (default base URL, key and base URL variables in
order), a plain chat, a stream, the model list, an option it refuses (before anything is sent)
and the options it adds (sent as given). Then each dialect's own quirks: Mistral's
``random_seed``, message names and tool-call ids, DeepSeek's ``reasoning_content``, Perplexity's
``citations``/``search_results`` and paths, and the SDK-style base URL variables ``OLLAMA_HOST``,
``GROQ_BASE_URL`` and ``CEREBRAS_BASE_URL``.

One emulator serves the module (each provider under its own tenant, ``/t/<name>/...``). It is
the project's lenient OpenAI emulator, taught two more path prefixes: Groq's and Cerebras' SDK
roots (``/openai/v1``, ``/v1``) and Perplexity's unversioned ``/chat/completions``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmrouter
from llmrouter.cli import main as cli_main
from llmrouter.pipeline import Call, ChatPrompt, HTTPRequest
from llmrouter.secrets import Secret
from llmrouter.testing import OpenAIEmulator
from llmrouter_openai import providers
from llmrouter_openai.plugin import OpenAIFamilyProvider
from llmrouter_openai.presets import PRESETS, SDKBaseVariable

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
EMBED_MODEL = "nomic-embed-text"
MESSAGES = [{"role": "user", "content": "Tell me a joke"}]
ALL = frozenset({"chat", "completions", "embeddings", "models"})


@dataclass(frozen=True)
class Row:
    """What the vendors' SDKs and docs say about one provider (see the report for sources)."""

    base: str | None
    keys: tuple[str, ...]
    bases: tuple[str, ...]
    endpoints: frozenset[str]
    #: an option it refuses as "not supported", and one it adds (both sent over the wire)
    refused: dict[str, Any]
    added: dict[str, Any] = field(default_factory=dict)
    key_required: bool = True


TABLE: dict[str, Row] = {
    "mistral": Row(
        "https://api.mistral.ai/v1",
        ("MISTRAL_API_KEY",),
        ("MISTRAL_API_BASE",),
        frozenset({"chat", "embeddings", "models"}),
        {"user": "u-1"},
        {"safe_prompt": True, "prompt_mode": "reasoning", "top_k": 5, "service_tier": "auto"},
    ),
    "deepseek": Row(
        "https://api.deepseek.com",
        ("DEEPSEEK_API_KEY",),
        ("DEEPSEEK_API_BASE",),
        frozenset({"chat", "models"}),
        {"seed": 1},
        {"thinking": {"type": "enabled"}, "logprobs": True},
    ),
    "xai": Row(
        "https://api.x.ai/v1",
        ("XAI_API_KEY",),
        ("XAI_API_BASE",),
        frozenset({"chat", "models"}),
        {"store": True},
        {"reasoning_effort": "high", "seed": 4},
    ),
    "cerebras": Row(
        "https://api.cerebras.ai/v1",
        ("CEREBRAS_API_KEY",),
        ("CEREBRAS_API_BASE",),
        frozenset({"chat", "completions", "models"}),
        {"verbosity": "low"},
        {"reasoning_format": "parsed", "disable_reasoning": True, "service_tier": "priority"},
    ),
    "perplexity": Row(
        "https://api.perplexity.ai",
        ("PERPLEXITY_API_KEY", "PERPLEXITYAI_API_KEY"),
        ("PERPLEXITY_BASE_URL", "PERPLEXITY_API_BASE"),
        frozenset({"chat", "models"}),
        {"seed": 1},
        {"search_mode": "academic", "search_domain_filter": ["arxiv.org"], "top_k": 3},
    ),
    "sambanova": Row(
        "https://api.sambanova.ai/v1",
        ("SAMBANOVA_API_KEY",),
        ("SAMBA_NOVA_BASE_URL", "SAMBANOVA_API_BASE"),
        ALL,
        {"user": "u-1"},
        {"top_k": 5, "do_sample": False, "reasoning_effort": "low"},
    ),
    "nebius": Row(
        "https://api.studio.nebius.com/v1",
        ("NEBIUS_API_KEY",),
        ("NEBIUS_API_BASE",),
        ALL,
        {"store": True},
        {"logprobs": True, "seed": 2},
    ),
    "hyperbolic": Row(
        "https://api.hyperbolic.xyz/v1",
        ("HYPERBOLIC_API_KEY",),
        ("HYPERBOLIC_API_BASE",),
        frozenset({"chat", "completions", "models"}),
        {"logprobs": True},
        {"seed": 3, "user": "u-1"},
    ),
    "novita": Row(
        "https://api.novita.ai/v3/openai",
        ("NOVITA_API_KEY",),
        ("NOVITA_API_BASE",),
        ALL,
        {"store": True},
        {"top_k": 5, "min_p": 0.1, "repetition_penalty": 1.1},
    ),
    "lm_studio": Row(
        "http://localhost:1234/v1",
        ("LM_STUDIO_API_KEY",),
        ("LM_STUDIO_API_BASE",),
        ALL,
        {"n": 2},
        {"top_k": 40, "repeat_penalty": 1.1, "ttl": 300, "draft_model": "small-draft"},
        key_required=False,
    ),
    "llamacpp": Row(
        "http://localhost:8080/v1",
        ("LLAMACPP_API_KEY",),
        ("LLAMACPP_API_BASE",),
        ALL,
        {"service_tier": "auto"},
        {"top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1},
        key_required=False,
    ),
    "vllm": Row(
        None,
        ("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"),
        ("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"),
        ALL,
        {"store": True},
        {"top_k": -1, "min_tokens": 2, "chat_template_kwargs": {"enable_thinking": False}},
        key_required=False,
    ),
    "hosted_vllm": Row(
        None,
        ("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"),
        ("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"),
        ALL,
        {"store": True},
        {"top_k": -1, "ignore_eos": True},
        key_required=False,
    ),
}
NAMES = sorted(TABLE)
#: The family's first seven providers, whose table is in test_presets.py.
FIRST_SEVEN = {
    "openai",
    "openai_compatible",
    "groq",
    "fireworks_ai",
    "deepinfra",
    "openrouter",
    "ollama",
}


def key_for(name: str) -> str:
    return f"{name}-TestKeyDoNotLeak-0123456789"


class DialectEmulator(OpenAIEmulator):
    """The lenient OpenAI emulator, also serving the SDK roots' prefixes (Groq's
    ``/openai/v1``) and Perplexity's chat path without a version (``/chat/completions`` only:
    its model list stays under ``/v1``, so a wrong path is a 404)."""

    api_versions = ("v1", "openai/v1")

    def _split_path(self, api_path: str) -> tuple[str, str]:
        version, endpoint = super()._split_path(api_path)
        if not version and api_path == "/chat/completions":
            return "", api_path
        return version, endpoint


@pytest.fixture(scope="module")
def dialect_emulator() -> Iterator[DialectEmulator]:
    with DialectEmulator(strict=False, require_key=False) as emu:
        yield emu


@pytest.fixture
def emu(dialect_emulator: DialectEmulator) -> Iterator[DialectEmulator]:
    """The module's emulator with a clean log, no faults and no extra answer fields."""

    def clean() -> None:
        dialect_emulator.clear_faults()
        dialect_emulator.clear()
        dialect_emulator.api_key = None
        dialect_emulator.response_fields = {}
        dialect_emulator.message_fields = {}

    clean()
    yield dialect_emulator
    clean()


def root(emu: OpenAIEmulator, name: str) -> str:
    """The provider's tenant root, ``http://127.0.0.1:PORT/t/<name>`` (no version)."""
    return emu.base_url_for(name).removesuffix("/v1")


def where(emu: OpenAIEmulator, name: str) -> dict[str, Any]:
    """``api_base``/``api_key`` pointing a call at the provider's tenant on the emulator."""
    base = root(emu, name) if name == "perplexity" else emu.base_url_for(name)
    out: dict[str, Any] = {"api_base": base}
    if TABLE[name].key_required:
        out["api_key"] = key_for(name)
    return out


def build(name: str, **kw: Any) -> HTTPRequest:
    """The request a chat call would send (the pure ``build_request`` hook, no I/O)."""
    plugin = getattr(providers, name)
    assert isinstance(plugin, OpenAIFamilyProvider)
    messages = kw.pop("messages", MESSAGES)
    call = Call(operation="chat", provider=name, model="m", messages=messages, **kw)
    return plugin.llmrouter_build_request(call, ChatPrompt(messages))


# --- discovery ------------------------------------------------------------------------------------


def test_every_preset_is_in_a_table() -> None:
    assert set(TABLE) <= set(PRESETS)
    assert set(PRESETS) <= FIRST_SEVEN | set(TABLE), "a new preset needs a row in a table"


@pytest.mark.parametrize("name", NAMES)
def test_entry_point_resolves_to_its_preset(name: str) -> None:
    (ep,) = [e for e in entry_points(group="llmrouter.providers") if e.name == name]
    assert ep.value == f"llmrouter_openai.providers:{name}"
    plugin = ep.load()
    assert isinstance(plugin, OpenAIFamilyProvider) and plugin.preset is PRESETS[name]
    assert name in llmrouter.providers()


def test_cli_plugins_lists_every_dialect(capsys: pytest.CaptureFixture[str]) -> None:
    cli_main(["plugins", "--json"])
    report = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in report["providers"]}
    for name in NAMES:
        assert rows[name]["distribution"] == "llmrouter-openai"
        assert rows[name]["status"] == "ok"


def test_cli_models_lists_a_dialects_models(
    emu: DialectEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    base = root(emu, "perplexity")
    code = cli_main(["models", "perplexity", "--api-base", base, "--api-key", key_for("x")])
    assert code == 0
    assert MODEL in capsys.readouterr().out.splitlines()
    assert emu.last_request is not None and emu.last_request.path == "/t/perplexity/v1/models"


def test_hosted_vllm_is_vllm_under_another_name() -> None:
    vllm, hosted = PRESETS["vllm"], PRESETS["hosted_vllm"]
    assert hosted.dialect.title == vllm.dialect.title
    assert (hosted.api_key_env, hosted.api_base_env) == (vllm.api_key_env, vllm.api_base_env)
    assert hosted.extra_options == vllm.extra_options


# --- where each one lives -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if TABLE[n].base])
def test_default_base_url(name: str) -> None:
    request = build(name, api_key=Secret("k-12345678"))
    assert request.url == f"{TABLE[name].base}/chat/completions"


@pytest.mark.parametrize("name", [n for n in NAMES if TABLE[n].base is None])
def test_vllm_needs_a_base_url(name: str) -> None:
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        build(name)
    assert info.value.param == "api_base"
    assert "VLLM_API_BASE or HOSTED_VLLM_API_BASE" in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_base_url_variables_in_order(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    variables = TABLE[name].bases
    for i, var in enumerate(variables):
        monkeypatch.setenv(var, f"https://host{i}.example/v1/")
    assert build(name, api_key=Secret("k-12345678")).url == (
        "https://host0.example/v1/chat/completions"
    )
    if len(variables) > 1:
        monkeypatch.delenv(variables[0])
        assert build(name, api_key=Secret("k-12345678")).url.startswith("https://host1.example")


@pytest.mark.parametrize("name", NAMES)
def test_key_variables_in_order(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    variables = TABLE[name].keys
    for i, var in enumerate(variables):
        monkeypatch.setenv(var, f"key-{i}-abcdef")
    request = build(name, api_base="http://127.0.0.1:9/v1")
    assert request.headers["authorization"] == "Bearer key-0-abcdef"
    if len(variables) > 1:
        monkeypatch.setenv(variables[0], " ")
        request = build(name, api_base="http://127.0.0.1:9/v1")
        assert request.headers["authorization"] == "Bearer key-1-abcdef"


@pytest.mark.parametrize("name", [n for n in NAMES if TABLE[n].key_required])
def test_missing_key_raises_before_sending(emu: DialectEmulator, name: str) -> None:
    with pytest.raises(llmrouter.MissingAPIKeyError) as info:
        llmrouter.completion(
            model=f"{name}/{MODEL}", messages=MESSAGES, api_base=where(emu, name)["api_base"]
        )
    assert info.value.env_vars == list(TABLE[name].keys)
    assert emu.requests == []


@pytest.mark.parametrize("name", [n for n in NAMES if not TABLE[n].key_required])
def test_local_servers_need_no_key(emu: DialectEmulator, name: str) -> None:
    response = llmrouter.completion(model=f"{name}/{MODEL}", messages=MESSAGES, **where(emu, name))
    assert response.choices[0].message.content
    assert emu.last_request is not None and not emu.last_request.has_key


@pytest.mark.parametrize("name", NAMES)
def test_key_and_base_from_the_environment_over_the_wire(
    emu: DialectEmulator, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = TABLE[name]
    monkeypatch.setenv(row.keys[0], key_for(name))
    monkeypatch.setenv(row.bases[0], where(emu, name)["api_base"])
    response = llmrouter.completion(model=f"{name}/{MODEL}", messages=MESSAGES)
    assert response.choices[0].message.content
    sent = emu.last_request
    assert sent is not None and sent.tenant == name and sent.key_matches(key_for(name))


# --- chat, stream, models, options ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_chat(emu: DialectEmulator, name: str) -> None:
    response = llmrouter.completion(model=f"{name}/{MODEL}", messages=MESSAGES, **where(emu, name))
    assert response.choices[0].message.content
    assert response.llmrouter.provider == name
    ChatCompletion.model_validate(response.model_dump())
    sent = emu.last_request
    assert sent is not None and sent.tenant == name
    assert sent.path.endswith("/chat/completions") and sent.body["model"] == MODEL
    assert sent.has_key is TABLE[name].key_required


@pytest.mark.parametrize("name", NAMES)
def test_stream(emu: DialectEmulator, name: str) -> None:
    stream = llmrouter.completion(
        model=f"{name}/{MODEL}", messages=MESSAGES, stream=True, **where(emu, name)
    )
    chunks = list(stream)
    assert "".join(c["choices"][0]["delta"].content or "" for c in chunks)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump())
    sent = emu.last_request
    assert sent is not None and sent.body["stream"] is True
    if name not in ("mistral", "perplexity"):
        assert sent.body["stream_options"] == {"include_usage": True}
        assert stream.usage is not None
    else:  # no such field in the service's schema; it sends the usage unasked
        assert "stream_options" not in sent.body


@pytest.mark.parametrize("name", NAMES)
def test_list_models(emu: DialectEmulator, name: str) -> None:
    models = llmrouter.list_models(name, **where(emu, name))
    assert MODEL in [m.id for m in models]
    sent = emu.last_request
    assert sent is not None and sent.path == f"/t/{name}/v1/models"


@pytest.mark.parametrize("name", NAMES)
def test_a_refused_option_fails_before_sending(emu: DialectEmulator, name: str) -> None:
    option = TABLE[name].refused
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        llmrouter.completion(
            model=f"{name}/{MODEL}", messages=MESSAGES, **option, **where(emu, name)
        )
    (param,) = option
    assert info.value.param == param and info.value.provider == name
    assert param in str(info.value) and "extra_body" in str(info.value)
    assert key_for(name) not in str(info.value)
    assert emu.requests == []


@pytest.mark.parametrize("name", [n for n in NAMES if TABLE[n].added])
def test_added_options_are_sent(emu: DialectEmulator, name: str) -> None:
    added = TABLE[name].added
    llmrouter.completion(model=f"{name}/{MODEL}", messages=MESSAGES, **added, **where(emu, name))
    sent = emu.last_request
    assert sent is not None
    assert {k: sent.body[k] for k in added} == added


@pytest.mark.parametrize("name", NAMES)
def test_endpoints(emu: DialectEmulator, name: str) -> None:
    assert PRESETS[name].endpoints == TABLE[name].endpoints
    if "embeddings" in TABLE[name].endpoints:
        response = llmrouter.embedding(
            model=f"{name}/{EMBED_MODEL}", input=["a", "b"], **where(emu, name)
        )
        assert len(response.data) == 2
    else:
        with pytest.raises(llmrouter.InvalidRequestError, match="/embeddings"):
            llmrouter.embedding(model=f"{name}/{EMBED_MODEL}", input="a", **where(emu, name))
        assert emu.requests == []
    if "completions" not in TABLE[name].endpoints:
        with pytest.raises(llmrouter.InvalidRequestError, match="/completions"):
            llmrouter.completion(
                model=f"{name}/{MODEL}",
                messages=MESSAGES,
                prompt_template="llama-2",
                **where(emu, name),
            )


def test_templated_completion_on_a_server_that_has_one(emu: DialectEmulator) -> None:
    response = llmrouter.completion(
        model=f"llamacpp/{MODEL}",
        messages=MESSAGES,
        prompt_template="llama-2",
        top_k=5,
        **where(emu, "llamacpp"),
    )
    assert response.choices[0].message.content
    sent = emu.last_request
    assert sent is not None and sent.path == "/t/llamacpp/v1/completions"
    assert sent.body["prompt"].startswith("[INST]") and sent.body["top_k"] == 5


def test_llamacpp_takes_one_choice_only() -> None:
    build("llamacpp", params={"n": 1})
    with pytest.raises(llmrouter.InvalidRequestError, match="n"):
        build("llamacpp", params={"n": 2})


# --- Mistral ----------------------------------------------------------------------------------------


def test_mistral_sends_seed_as_random_seed(emu: DialectEmulator) -> None:
    llmrouter.completion(
        model=f"mistral/{MODEL}", messages=MESSAGES, seed=7, **where(emu, "mistral")
    )
    sent = emu.last_request
    assert sent is not None
    assert sent.body["random_seed"] == 7 and "seed" not in sent.body
    llmrouter.completion(
        model=f"mistral/{MODEL}", messages=MESSAGES, random_seed=8, **where(emu, "mistral")
    )
    assert emu.last_request is not None and emu.last_request.body["random_seed"] == 8


def test_mistral_seed_and_random_seed_together_are_refused() -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match="random_seed"):
        build("mistral", api_key=Secret("k-12345678"), params={"seed": 1, "random_seed": 2})


def test_mistral_reasoning_effort_and_tier_take_mistrals_values() -> None:
    body = build(
        "mistral",
        api_key=Secret("k-12345678"),
        params={"reasoning_effort": "max", "service_tier": "standard_only"},
    ).json
    assert body["reasoning_effort"] == "max" and body["service_tier"] == "standard_only"
    with pytest.raises(llmrouter.InvalidRequestError, match="service_tier"):
        build("mistral", api_key=Secret("k-12345678"), params={"service_tier": "flex"})


def tool_history(call_id: str, reply_id: str | None = None) -> list[dict[str, Any]]:
    """A finished tool call in the history: the assistant's call and the tool's answer."""
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": reply_id or call_id,
            "name": "get_weather",
            "content": "sunny",
        },
    ]


def test_mistral_takes_its_own_tool_call_ids(emu: DialectEmulator) -> None:
    messages = tool_history("D681PevKs")
    response = llmrouter.completion(
        model=f"mistral/{MODEL}", messages=messages, **where(emu, "mistral")
    )
    assert response.choices[0].message.content
    sent = emu.last_request
    assert sent is not None and sent.body["messages"] == messages


@pytest.mark.parametrize(
    ("call_id", "reply_id", "param"),
    [
        ("call_abc123def456", None, "messages[1].tool_calls[0].id"),
        ("abcd1234", None, "messages[1].tool_calls[0].id"),  # 8 characters
        ("D681PevKs", "D681PevK_", "messages[2].tool_call_id"),
    ],
)
def test_mistral_refuses_other_tool_call_ids_before_sending(
    emu: DialectEmulator, call_id: str, reply_id: str | None, param: str
) -> None:
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        llmrouter.completion(
            model=f"mistral/{MODEL}",
            messages=tool_history(call_id, reply_id),
            **where(emu, "mistral"),
        )
    assert info.value.param == param
    assert "9 letters or digits" in str(info.value)
    assert emu.requests == []


def test_mistral_takes_a_name_on_tool_messages_only(emu: DialectEmulator) -> None:
    named = [{"role": "user", "content": "hi", "name": "bob"}]
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        llmrouter.completion(model=f"mistral/{MODEL}", messages=named, **where(emu, "mistral"))
    assert info.value.param == "messages[0].name" and "tool" in str(info.value)
    assert emu.requests == []
    # other providers send it as given
    build("deepseek", api_key=Secret("k-12345678"), messages=named)


def test_mistral_keeps_stream_options_given_in_extra_body() -> None:
    body = build(
        "mistral",
        api_key=Secret("k-12345678"),
        stream=True,
        extra_body={"stream_options": {"include_usage": True}},
    ).json
    assert body["stream_options"] == {"include_usage": True}


def test_mistral_embeddings_refuse_openai_only_options(emu: DialectEmulator) -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match="dimensions"):
        llmrouter.embedding(
            model=f"mistral/{EMBED_MODEL}", input="a", dimensions=8, **where(emu, "mistral")
        )
    assert emu.requests == []


# --- DeepSeek: reasoning_content ------------------------------------------------------------------

THOUGHT = "The user wants a joke; a short pun will do."


def test_deepseek_reasoning_content_is_kept(emu: DialectEmulator) -> None:
    emu.message_fields = {"reasoning_content": THOUGHT}
    response = llmrouter.completion(
        model="deepseek/" + MODEL, messages=MESSAGES, **where(emu, "deepseek")
    )
    message = response.choices[0].message
    assert message.reasoning_content == THOUGHT
    assert response["choices"][0]["message"]["reasoning_content"] == THOUGHT
    assert message.content
    assert response.model_dump()["choices"][0]["message"]["reasoning_content"] == THOUGHT


@pytest.mark.asyncio
async def test_deepseek_reasoning_content_is_kept_in_streams(emu: DialectEmulator) -> None:
    emu.message_fields = {"reasoning_content": THOUGHT}
    stream = await llmrouter.acompletion(
        model="deepseek/" + MODEL, messages=MESSAGES, stream=True, **where(emu, "deepseek")
    )
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta for c in chunks]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == THOUGHT
    assert "".join(d.content or "" for d in deltas)
    assert stream.usage is not None


# --- Perplexity: citations, search results, paths -------------------------------------------------

CITATIONS = ["https://example.org/a", "https://example.org/b"]
SEARCH_RESULTS = [
    {"title": "A", "url": "https://example.org/a", "date": "2026-01-02", "snippet": "..."},
    {"title": "B", "url": "https://example.org/b", "date": None},
]


def test_perplexity_citations_and_search_results_are_kept(emu: DialectEmulator) -> None:
    emu.response_fields = {"citations": CITATIONS, "search_results": SEARCH_RESULTS}
    response = llmrouter.completion(
        model="perplexity/" + MODEL, messages=MESSAGES, **where(emu, "perplexity")
    )
    assert response.citations == CITATIONS
    assert response["search_results"] == SEARCH_RESULTS
    assert response.model_dump()["citations"] == CITATIONS
    sent = emu.last_request
    assert sent is not None and sent.path == "/t/perplexity/chat/completions"


def test_perplexity_citations_are_kept_in_streams(emu: DialectEmulator) -> None:
    emu.response_fields = {"citations": CITATIONS, "search_results": SEARCH_RESULTS}
    stream = llmrouter.completion(
        model="perplexity/" + MODEL, messages=MESSAGES, stream=True, **where(emu, "perplexity")
    )
    chunks = list(stream)
    assert chunks and all(c.get("citations") == CITATIONS for c in chunks)
    assert chunks[-1]["search_results"] == SEARCH_RESULTS


def test_perplexity_paths() -> None:
    paths = PRESETS["perplexity"].dialect.paths
    assert (paths["chat"], paths["models"]) == ("/chat/completions", "/v1/models")


# --- SDK-style base URL variables: OLLAMA_HOST, GROQ_BASE_URL, CEREBRAS_BASE_URL --------------------

OLLAMA = SDKBaseVariable("OLLAMA_HOST", "/v1", default_port=11434)


@pytest.mark.parametrize(
    ("host", "base"),
    [
        # the ollama Python SDK's own examples (its _parse_host doctests), plus /v1
        ("1.2.3.4", "http://1.2.3.4:11434/v1"),
        (":56789", "http://127.0.0.1:56789/v1"),
        ("1.2.3.4:56789", "http://1.2.3.4:56789/v1"),
        ("http://1.2.3.4", "http://1.2.3.4:80/v1"),
        ("https://1.2.3.4", "https://1.2.3.4:443/v1"),
        ("https://example.com:56789", "https://example.com:56789/v1"),
        ("example.com/", "http://example.com:11434/v1"),
        ("example.com:56789/path/", "http://example.com:56789/path/v1"),
        ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434/v1"),
        ("[0001:002:003:0004::1]:56789/path", "http://[0001:002:003:0004::1]:56789/path/v1"),
        ("0.0.0.0", "http://0.0.0.0:11434/v1"),
        ("http://gpu:11434/v1", "http://gpu:11434/v1"),
    ],
)
def test_ollama_host_is_read_as_the_ollama_sdk_reads_it(host: str, base: str) -> None:
    assert OLLAMA.api_base(host) == base


@pytest.mark.parametrize("host", ["ftp://gpu", "gpu:port", "gpu:99999"])
def test_an_unusable_ollama_host_is_refused_naming_the_variable(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", host)
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        build("ollama")
    assert info.value.param == "api_base" and "OLLAMA_HOST" in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        (
            "GROQ_BASE_URL",
            "ftp://user:s3cretPassw0rd@api.groq.com",
            "'ftp://<redacted>@api.groq.com'",
        ),
        ("GROQ_BASE_URL", "user:s3cretPassw0rd@api.groq.com", "'<redacted>@api.groq.com'"),
        ("OLLAMA_HOST", "http://user:s3cretPassw0rd@gpu:port", "'http://<redacted>@gpu:port'"),
        ("GROQ_BASE_URL", "ftp://api.groq.com/?key=s3cretPassw0rd", "'ftp://api.groq.com/?...'"),
    ],
)
def test_an_unusable_base_url_variable_is_shown_without_its_credentials(
    variable: str, value: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(llmrouter.InvalidRequestError) as info:
        build("groq" if variable.startswith("GROQ") else "ollama")
    error = info.value
    assert variable in error.message and shown in error.message
    assert "s3cretPassw0rd" not in str(error) + repr(error.args)


def test_ollama_host_over_the_wire(emu: DialectEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{emu.port}")
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:9")  # the SDK's variable wins
    response = llmrouter.completion(model="ollama/llama3.2", messages=MESSAGES)
    assert response.choices[0].message.content
    sent = emu.last_request
    assert sent is not None and sent.path == "/v1/chat/completions" and not sent.has_key


def test_api_base_beats_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "gpu:1234")
    assert build("ollama").url == "http://gpu:1234/v1/chat/completions"
    assert build("ollama", api_base="http://other:5/v1").url == "http://other:5/v1/chat/completions"


@pytest.mark.parametrize(
    ("name", "variable", "path"),
    [("groq", "GROQ_BASE_URL", "/openai/v1"), ("cerebras", "CEREBRAS_BASE_URL", "/v1")],
)
def test_sdk_root_variables_over_the_wire(
    emu: DialectEmulator, monkeypatch: pytest.MonkeyPatch, name: str, variable: str, path: str
) -> None:
    # as the vendor's SDK reads it: the server root, below which the SDK adds the API's path
    monkeypatch.setenv(variable, root(emu, name) + "/")
    monkeypatch.setenv(f"{name.upper()}_API_BASE", "http://127.0.0.1:9/v1")  # LiteLLM's: later
    response = llmrouter.completion(
        model=f"{name}/{MODEL}", messages=MESSAGES, api_key=key_for(name)
    )
    assert response.choices[0].message.content
    sent = emu.last_request
    assert sent is not None and sent.path == f"/t/{name}{path}/chat/completions"
    # a value that already holds the path is not doubled
    monkeypatch.setenv(variable, f"https://host.example{path}")
    assert build(name, api_key=Secret("k-12345678")).url == (
        f"https://host.example{path}/chat/completions"
    )
