"""Model id -> template: registration, known ids, family rules; and what providers see."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.errors import InvalidRequestError, PromptTemplateError
from llmrouter.templates import (
    explicit_template,
    get_template,
    register_prompt_template,
    render_prompt,
    resolve_template,
)
from llmrouter.templates.builtin import FAMILIES
from llmrouter.templates.registry import KNOWN_MODELS

HELLO = [{"role": "user", "content": "Hello"}]
OASST = "OpenAssistant/llama2-70b-oasst-sft-v10"


def _model_ids(reference: Any) -> list[tuple[str, str]]:
    # Some ids carry a note in parentheses ("01-ai/Yi-6B-Chat (GGUF copy)").
    return [
        (model.split(" (")[0], entry["family"])
        for entry in reference.templates
        for model in entry["model_ids"]
    ]


def test_every_templates_json_model_resolves_to_its_family(reference: Any) -> None:
    ids = _model_ids(reference)
    assert len(ids) > 40
    for model, family in ids:
        assert resolve_template(model=model).name == family, model
        assert resolve_template(model=model.upper()).name == family, model
        assert resolve_template(model="together_ai/" + model).name == family, model
        assert KNOWN_MODELS[model.lower()] == family


TOGETHER = {
    "togethercomputer/llama-2-70b-chat": "llama-2-chat",
    "togethercomputer/llama-2-7b-chat": "llama-2-chat",
    "togethercomputer/llama-2-13b-chat": "llama-2-chat",
    "meta-llama/Llama-2-70b-chat-hf": "llama-2-chat",
    "togethercomputer/CodeLlama-34b-Instruct": "codellama-instruct",
    "codellama/CodeLlama-70b-Instruct-hf": "codellama-70b-instruct",
    "meta-llama/Llama-3-8b-chat-hf": "llama-3-instruct",
    "meta-llama/Llama-3-70b-chat-hf": "llama-3-instruct",
    "meta-llama/Meta-Llama-3-8B-Instruct-Turbo": "llama-3-instruct",
    "meta-llama/Meta-Llama-3-70B-Instruct-Lite": "llama-3-instruct",
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": "llama-3.1-instruct",
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": "llama-3.1-instruct",
    "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo": "llama-3.1-instruct",
    "mistralai/Mistral-7B-Instruct-v0.1": "mistral-7b-instruct-v0.1",
    "mistralai/Mistral-7B-Instruct-v0.2": "mistral-7b-instruct-v0.2",
    "mistralai/Mistral-7B-Instruct-v0.3": "mistral-7b-instruct-v0.3",
    "mistralai/Mixtral-8x7B-Instruct-v0.1": "mixtral-8x7b-instruct-v0.1",
    "Qwen/Qwen2-72B-Instruct": "qwen2-instruct",
    "Qwen/Qwen2.5-72B-Instruct-Turbo": "qwen2.5-instruct",
    "Qwen/Qwen2.5-7B-Instruct-Turbo": "qwen2.5-instruct",
    "NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO": "nous-hermes-2-chatml",
    "deepseek-ai/DeepSeek-V3": "deepseek-v3",
    "deepseek-ai/deepseek-llm-67b-chat": "deepseek-llm-chat",
    "google/gemma-2-27b-it": "gemma-2-it",
    "google/gemma-2-9b-it": "gemma-2-it",
    "google/gemma-7b-it": "gemma-it",
    "zero-one-ai/Yi-34B-Chat": "yi-chat",
    "lmsys/vicuna-13b-v1.5": "vicuna-v1.5",
    "lmsys/vicuna-7b-v1.5": "vicuna-v1.5",
    "OpenAssistant/llama2-70b-oasst-sft-v10": "chatml-oasst-llama2-70b-sft-v10",
    "HuggingFaceH4/zephyr-7b-beta": "zephyr",
    "microsoft/Phi-3-mini-4k-instruct": "phi-3-mini",
    "togethercomputer/falcon-7b-instruct": "falcon-instruct",
}


@pytest.mark.parametrize(("model", "family"), TOGETHER.items())
@pytest.mark.parametrize("prefix", ["", "together_ai/", "TOGETHER_AI/"])
def test_together_hosted_names_resolve(model: str, family: str, prefix: str) -> None:
    assert resolve_template(model=prefix + model).name == family
    assert resolve_template(model=prefix + model.lower()).name == family


@pytest.mark.parametrize(
    ("model", "family"),
    [
        # Not in the table: family rules on the lowercased id.
        ("someorg/llama-2-7b-chat-gptq", "llama-2-chat"),
        ("TheBloke/Llama-2-13B-chat-AWQ", "llama-2-chat"),
        ("acme/Meta-Llama-3.1-8B-Instruct-FP8", "llama-3.1-instruct"),
        ("acme/Meta-Llama-3-8B-Instruct-GGUF", "llama-3-instruct"),
        ("TheBloke/Mistral-7B-Instruct-v0.2-GPTQ", "mistral-7b-instruct-v0.2"),
        ("acme/Mixtral-8x7B-Instruct-v0.1-AWQ", "mixtral-8x7b-instruct-v0.1"),
        ("Qwen/Qwen2.5-Coder-32B-Instruct", "qwen2.5-instruct"),
        ("NousResearch/Nous-Hermes-2-Yi-34B", "nous-hermes-2-chatml"),
        ("acme/gemma-2-9b-it-q4", "gemma-2-it"),
        ("acme/yi-34b-chat-4bits", "yi-chat"),
        ("codellama/CodeLlama-7b-Instruct-hf", "codellama-instruct"),
        ("tiiuae/falcon-40b-instruct", "falcon-instruct"),
    ],
)
def test_family_rules(model: str, family: str) -> None:
    assert resolve_template(model=model).name == family


@pytest.mark.parametrize(
    "model",
    [
        "meta-llama/Llama-3.2-3B-Instruct-Turbo",  # different template (strftime date)
        "Qwen/Qwen2.5-Math-72B-Instruct",  # different default system prompt
        "mistralai/Mixtral-8x22B-Instruct-v0.1",  # v3 tokenizer with tools
        "meta-llama/Llama-2-7b-hf",  # a base model has no chat format
        "gpt-4o",
        "unknown/model",
    ],
)
def test_unknown_models_raise_saying_what_to_pass(model: str) -> None:
    with pytest.raises(PromptTemplateError) as caught:
        resolve_template(model=model)
    text = str(caught.value)
    assert model in text and "template=" in text and "register_prompt_template" in text
    assert "llama-2" in text  # lists the built-in names


def test_neither_model_nor_template() -> None:
    with pytest.raises(PromptTemplateError, match="pass model="):
        resolve_template()
    with pytest.raises(PromptTemplateError, match="pass model="):
        render_prompt(HELLO)


def test_template_argument_wins_over_model() -> None:
    out = render_prompt(HELLO, model="meta-llama/Llama-2-70b-chat-hf", template="chatml")
    assert out.startswith("<|im_start|>user")
    template = get_template("gemma")
    assert resolve_template("meta-llama/Llama-2-70b-chat-hf", template) is template
    assert render_prompt(HELLO, template=template).startswith("<start_of_turn>user")


def test_render_prompt_add_generation_prompt() -> None:
    assert render_prompt(HELLO, template="chatml", add_generation_prompt=False) == (
        "<|im_start|>user\nHello<|im_end|>\n"
    )


def test_unknown_template_name_lists_available() -> None:
    with pytest.raises(PromptTemplateError) as caught:
        get_template("llama-4")
    assert isinstance(caught.value, InvalidRequestError)
    assert caught.value.param == "template"
    for name in ("llama-2", "chatml", "zephyr", "deepseek-v3"):
        assert name in str(caught.value)
    register_prompt_template("acme/custom", roles={"user": "U: "})
    with pytest.raises(PromptTemplateError, match="acme/custom"):
        get_template("llama-4")


def test_registration_beats_known_table() -> None:
    model = "meta-llama/Llama-2-70b-chat-hf"
    assert resolve_template(model=model) is FAMILIES["llama-2-chat"]
    mine = register_prompt_template(model, roles={"user": "Q: "}, final_prompt_value="A:")
    assert resolve_template(model=model) is mine
    assert resolve_template(model="together_ai/" + model) is mine
    assert render_prompt(HELLO, model=model) == "Q: HelloA:"


def test_get_template_finds_registrations_by_model() -> None:
    mine = register_prompt_template("together_ai/acme/m1", roles={"user": ""})
    assert get_template("acme/m1") is mine
    assert get_template("TOGETHER_AI/ACME/M1") is mine


# --- explicit_template: what providers ask -------------------------------------------------


def test_explicit_template_ignores_table_and_rules() -> None:
    for model in ("togethercomputer/llama-2-70b-chat", "meta-llama/Llama-3-8b-chat-hf"):
        assert explicit_template(model) is None
        assert explicit_template("together_ai/" + model) is None


def test_explicit_template_by_name() -> None:
    assert explicit_template("anything", "llama-2") is FAMILIES["llama-2-chat"]
    assert explicit_template("anything", FAMILIES["zephyr"]) is FAMILIES["zephyr"]
    with pytest.raises(PromptTemplateError, match="unknown prompt template"):
        explicit_template("anything", "no-such-template")


@pytest.mark.parametrize(
    ("registered", "asked"),
    [
        (OASST, OASST),
        (OASST, "together_ai/" + OASST),
        ("together_ai/" + OASST, OASST),
        ("together_ai/" + OASST, "together_ai/openassistant/LLAMA2-70B-oasst-sft-v10"),
        (OASST.lower(), OASST.upper()),
        ("my-model", "together_ai/my-model"),
    ],
)
def test_explicit_template_matches_with_or_without_prefix(registered: str, asked: str) -> None:
    mine = register_prompt_template(registered, roles={"user": "> "})
    assert explicit_template(asked) is mine
    assert resolve_template(model=asked) is mine


def test_prefix_matching_does_not_overreach() -> None:
    register_prompt_template("acme/model-a", roles={"user": ""})
    # "org/name" does not answer for a bare "name", nor for another org's "name".
    assert explicit_template("model-a") is None
    assert explicit_template("other/model-a") is None
    register_prompt_template("together_ai/acme/model-b", roles={"user": ""})
    assert explicit_template("fireworks/acme/model-b") is None


def test_explicit_template_without_registration_is_none() -> None:
    assert explicit_template("acme/unregistered") is None
    assert explicit_template("") is None
