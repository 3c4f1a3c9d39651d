"""The entry-point targets: one :class:`OpenAIFamilyProvider` per preset.

``pyproject.toml`` maps each provider name to the instance of the same name here, e.g.
``groq = "llmrouter_openai.providers:groq"``.
"""

from __future__ import annotations

from llmrouter_openai import presets
from llmrouter_openai.plugin import OpenAIFamilyProvider

__all__ = [
    "deepinfra",
    "fireworks_ai",
    "groq",
    "ollama",
    "openai",
    "openai_compatible",
    "openrouter",
]

openai = OpenAIFamilyProvider(presets.OPENAI)
openai_compatible = OpenAIFamilyProvider(presets.OPENAI_COMPATIBLE)
groq = OpenAIFamilyProvider(presets.GROQ)
fireworks_ai = OpenAIFamilyProvider(presets.FIREWORKS_AI)
deepinfra = OpenAIFamilyProvider(presets.DEEPINFRA)
openrouter = OpenAIFamilyProvider(presets.OPENROUTER)
ollama = OpenAIFamilyProvider(presets.OLLAMA)
