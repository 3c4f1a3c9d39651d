"""A tool-use loop that runs unchanged on Claude, Gemini, Together and OpenAI.

    uv run --all-packages python examples/tools_anthropic.py          # against the emulators
    ANTHROPIC_API_KEY=... uv run --all-packages python examples/tools_anthropic.py --live

The model asks for a tool, the app runs it and sends the result back, the model answers. The loop
(``answer_with_tools``) is written once against OpenAI's shapes (``tools``, ``tool_calls``,
``role: "tool"`` messages) and llmrouter translates it for each provider: for Anthropic the
calls become ``tool_use`` blocks and the results ``tool_result`` blocks, for Gemini
``functionCall`` and ``functionResponse`` parts. Without --live it starts llmrouter's Anthropic,
Gemini, Together and OpenAI emulators on 127.0.0.1 and runs the same loop on all four; the first
message asks the emulators for a tool call with their ``[[emulator:tool_call]]`` marker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import llmrouter

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Today's weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def get_weather(city: str) -> str:
    """The app's side of the tool (a real app would call a weather service)."""
    return json.dumps({"city": city, "sky": "sunny", "celsius": 21})


def answer_with_tools(model: str, question: str, where: dict[str, Any], *, rounds: int = 4) -> str:
    """Ask, run every tool the model calls, send the results back, until it answers in text."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for _ in range(rounds):
        response = llmrouter.completion(
            model=model, messages=messages, tools=[WEATHER_TOOL], max_tokens=300, **where
        )
        message = response.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        print(f"  {model}: the model calls {[c.function.name for c in message.tool_calls]}")
        # The assistant's turn goes back as it came (with its thinking blocks, if any).
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            arguments = json.loads(call.function.arguments or "{}")
            result = get_weather(**arguments) if call.function.name == "get_weather" else "{}"
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise RuntimeError(f"{model} still wanted tools after {rounds} rounds")


@contextlib.contextmanager
def emulators() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(model, where) for each provider, each pointed at its emulator."""
    from llmrouter.testing import OpenAIEmulator, TogetherEmulator
    from llmrouter_anthropic.testing import AnthropicEmulator
    from llmrouter_gemini.testing import GeminiEmulator

    with (
        AnthropicEmulator() as claude,
        GeminiEmulator() as gemini,
        TogetherEmulator() as together,
        OpenAIEmulator() as oai,
    ):
        print("No --live: using llmrouter's Anthropic, Gemini, Together and OpenAI emulators.")
        yield [
            ("anthropic/claude-sonnet-4-6", {"api_base": claude.base_url, "api_key": "k-1"}),
            ("gemini/gemini-2.5-flash", {"api_base": gemini.base_url, "api_key": "k-4"}),
            (
                "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
                {"api_base": together.base_url, "api_key": "k-2"},
            ),
            ("openai/gpt-4o-mini", {"api_base": oai.base_url, "api_key": "k-3"}),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--live", action="store_true", help="call the real Anthropic API")
    args = parser.parse_args()
    if args.live:
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise SystemExit("--live needs ANTHROPIC_API_KEY to be set")
        answer = answer_with_tools(
            "anthropic/claude-sonnet-4-6", "What's the weather in Paris?", {}
        )
        print("answer:", answer)
        return
    with emulators() as targets:
        for model, where in targets:
            answer = answer_with_tools(model, "Weather in Paris? [[emulator:tool_call]]", where)
            print(f"  {model}: answer: {answer[:60]}")


if __name__ == "__main__":
    main()
