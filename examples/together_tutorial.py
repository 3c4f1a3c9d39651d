"""The "Llama2 Together AI Tutorial", done with llmrouter instead of LiteLLM.

    uv run --all-packages python examples/together_tutorial.py          # offline, on the emulator
    TOGETHERAI_API_KEY=... uv run --all-packages python examples/together_tutorial.py --live

Every step of the original is here, with ``litellm`` replaced by ``llmrouter``: a completion, a
stream read with ``chunk['choices'][0]['delta']`` (including the tutorial's legacy
``together_ai=True`` keyword, which still works but warns), and a custom prompt template for
OpenAssistant/llama2-70b-oasst-sft-v10, printing the exact prompt that is sent.

Without --live it starts llmrouter's Together emulator on 127.0.0.1 and points
TOGETHERAI_API_BASE at it, so the tutorial's code runs unchanged and offline. Together retires
old models; if the tutorial's models are gone, pass others with --chat-model / --oasst-model.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import warnings
from collections.abc import Iterator

import llmrouter
from llmrouter import completion

TUTORIAL_CHAT_MODEL = "togethercomputer/llama-2-70b-chat"
TUTORIAL_OASST_MODEL = "OpenAssistant/llama2-70b-oasst-sft-v10"


@contextlib.contextmanager
def together(live: bool) -> Iterator[None]:
    """The real API (live), or the emulator behind TOGETHERAI_API_BASE."""
    if live:
        if not os.environ.get("TOGETHERAI_API_KEY"):
            raise SystemExit("--live needs TOGETHERAI_API_KEY to be set")
        print("Calling the real Together API.\n")
        yield
        return
    from llmrouter.testing import TogetherEmulator

    with TogetherEmulator() as emulator:
        os.environ["TOGETHERAI_API_BASE"] = emulator.base_url
        os.environ["TOGETHERAI_API_KEY"] = "emulator-key"  # the tutorial sets its key the same way
        print(f"No --live: using llmrouter's Together emulator at {emulator.base_url}.\n")
        try:
            yield
        finally:
            llmrouter.reset_default_routers()  # close pooled connections before the server stops
            del os.environ["TOGETHERAI_API_BASE"], os.environ["TOGETHERAI_API_KEY"]


def section(title: str) -> None:
    print(f"\n## {title}\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live", action="store_true", help="call the real Together API")
    parser.add_argument("--chat-model", default=TUTORIAL_CHAT_MODEL)
    parser.add_argument("--oasst-model", default=TUTORIAL_OASST_MODEL)
    args = parser.parse_args()

    with together(args.live):
        user_message = "Hello, whats the weather in San Francisco??"
        messages = [{"content": user_message, "role": "user"}]

        section("Calling Llama2 on TogetherAI")
        model_name = f"together_ai/{args.chat_model}"
        try:
            response = completion(model=model_name, messages=messages)
        except llmrouter.NotFoundError as exc:
            raise SystemExit(f"{exc}\nTogether no longer serves it? Try --chat-model.") from None
        print(response)
        # llmrouter sent the messages as-is to Together's chat endpoint, where the server applies
        # the model's own [INST] ... [/INST] template: no client-side guessing.
        print("endpoint:", response.llmrouter.endpoint)

        section("With Streaming")
        # The tutorial's together_ai=True is a leftover: the "together_ai/" prefix already picks
        # Together. It is accepted, never sent, and warns.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            response = completion(
                model=model_name, messages=messages, together_ai=True, stream=True
            )
        for warning in caught:
            print(f"{warning.category.__name__}: {warning.message}")
        print(response)
        for chunk in response:
            print(chunk["choices"][0]["delta"])  # same as openai format

        section("Use Llama2 variants with Custom Prompt Templates")
        llmrouter.register_prompt_template(
            model=args.oasst_model,
            roles={
                "system": "<|im_start|>system",
                "assistant": "<|im_start|>assistant",
                "user": "<|im_start|>user",
            },  # tell llmrouter how to map the openai messages to this model
            pre_message_sep="\n",
            post_message_sep="\n",
        )
        messages = [{"role": "user", "content": "Write me a poem about the blue sky"}]
        prompt = llmrouter.render_prompt(messages, model=f"together_ai/{args.oasst_model}")
        print("the exact prompt:", repr(prompt))

        response = completion(model=f"together_ai/{args.oasst_model}", messages=messages)
        print(response)
        # A registered template means the text is built here and sent to /completions; the
        # response says which endpoint served it and carries the prompt that was sent.
        print("endpoint:", response.llmrouter.endpoint)
        print("prompt sent:", repr(response.llmrouter.prompt))
        assert response.llmrouter.prompt == prompt

        section("The model card's full format")
        # The tutorial's registration never closes a turn (<|im_end|>) or opens the assistant's.
        # The model card's format is ChatML, which the built-in "chatml" template renders exactly:
        print("chatml:", repr(llmrouter.render_prompt(messages, template="chatml")))
        response = completion(
            model=f"together_ai/{args.oasst_model}", messages=messages, prompt_template="chatml"
        )
        print("prompt sent:", repr(response.llmrouter.prompt))
        print(response["choices"][0]["message"]["content"])


if __name__ == "__main__":
    main()
