"""Prompt templates: see the exact text, register your own, and choose one per call.

    uv run --all-packages python examples/custom_template.py      # offline, on the emulator

By default llmrouter sends chat messages to Together's chat endpoint and the server applies the
model's template. A template is applied client-side (and the text goes to the completions
endpoint) only when you ask: a registration for the model, or ``prompt_template=`` on the call.
This script shows each case and prints the exact prompt with ``repr`` so every space and newline
is visible.
"""

from __future__ import annotations

import llmrouter
from llmrouter import PromptTemplateError, register_prompt_template, render_prompt
from llmrouter.testing import TogetherEmulator

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "2+2?"},
]

# A Hugging Face style chat template (Jinja, rendered in a sandbox). raise_exception() becomes a
# PromptTemplateError; it is never rendered into the prompt.
TINY_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ raise_exception('no system messages, please') }}{% endif %}"
    "<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def main() -> None:
    # 1. Built-in templates reproduce official formats byte for byte.
    print("llama-2:", repr(render_prompt(CONVERSATION, template="llama-2")))
    print("chatml: ", repr(render_prompt(CONVERSATION, template="chatml")))
    print(
        "by model id:",
        repr(render_prompt(CONVERSATION[1:2], model="mistralai/Mistral-7B-Instruct-v0.2")),
    )

    # 2. Register a template with roles (dict form: the exact text around each message).
    register_prompt_template(
        model="mistralai/Mixtral-8x7B-Instruct-v0.1",
        roles={
            "system": {"pre_message": "[INST] ", "post_message": "\n"},
            "user": {"pre_message": "[INST] ", "post_message": " [/INST]"},
            "assistant": {"pre_message": " ", "post_message": ""},
        },
        eos_token="</s>",
    )
    print(
        "registered:",
        repr(render_prompt(CONVERSATION[1:], model="mistralai/Mixtral-8x7B-Instruct-v0.1")),
    )

    # 3. Register a Jinja chat template; a conversation it rejects raises PromptTemplateError.
    register_prompt_template(model="togethercomputer/llama-2-7b", chat_template=TINY_TEMPLATE)
    print("jinja:", repr(render_prompt(CONVERSATION[1:], model="togethercomputer/llama-2-7b")))
    try:
        render_prompt(CONVERSATION, model="togethercomputer/llama-2-7b")
    except PromptTemplateError as exc:
        print("rejected:", exc.message)

    # 4. What is sent, and where.
    with TogetherEmulator() as emulator:
        where = {"api_base": emulator.base_url, "api_key": "emulator-key"}
        question = [{"role": "user", "content": "2+2?"}]

        plain = llmrouter.completion(
            model="together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", messages=question, **where
        )
        print("no template ->", plain.llmrouter.endpoint, "(the server applies its own)")

        registered = llmrouter.completion(
            model="together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1", messages=question, **where
        )
        print("registration ->", registered.llmrouter.endpoint, repr(registered.llmrouter.prompt))
        print("  stop sequences sent:", emulator.last_request.body["stop"])

        chosen = llmrouter.completion(
            model="together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
            messages=question,
            prompt_template="llama-3",
            **where,
        )
        print(
            "prompt_template='llama-3' ->", chosen.llmrouter.endpoint, repr(chosen.llmrouter.prompt)
        )
        assert emulator.last_request.body["prompt"] == chosen.llmrouter.prompt
        llmrouter.reset_default_routers()


if __name__ == "__main__":
    main()
