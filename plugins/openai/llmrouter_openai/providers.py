"""The entry-point targets: one :class:`OpenAIFamilyProvider` per preset.

``pyproject.toml`` maps each provider name to the instance of the same name here, e.g.
``groq = "llmrouter_openai.providers:groq"``.
"""

from __future__ import annotations

from llmrouter_openai import presets
from llmrouter_openai.plugin import OpenAIFamilyProvider

__all__ = [
    "cerebras",
    "deepinfra",
    "deepseek",
    "fireworks_ai",
    "groq",
    "hosted_vllm",
    "hyperbolic",
    "llamacpp",
    "lm_studio",
    "mistral",
    "nebius",
    "novita",
    "ollama",
    "openai",
    "openai_compatible",
    "openrouter",
    "perplexity",
    "sambanova",
    "vllm",
    "xai",
]

openai = OpenAIFamilyProvider(presets.OPENAI)
openai_compatible = OpenAIFamilyProvider(presets.OPENAI_COMPATIBLE)
groq = OpenAIFamilyProvider(presets.GROQ)
fireworks_ai = OpenAIFamilyProvider(presets.FIREWORKS_AI)
deepinfra = OpenAIFamilyProvider(presets.DEEPINFRA)
openrouter = OpenAIFamilyProvider(presets.OPENROUTER)
ollama = OpenAIFamilyProvider(presets.OLLAMA)
mistral = OpenAIFamilyProvider(presets.MISTRAL)
deepseek = OpenAIFamilyProvider(presets.DEEPSEEK)
xai = OpenAIFamilyProvider(presets.XAI)
cerebras = OpenAIFamilyProvider(presets.CEREBRAS)
perplexity = OpenAIFamilyProvider(presets.PERPLEXITY)
sambanova = OpenAIFamilyProvider(presets.SAMBANOVA)
nebius = OpenAIFamilyProvider(presets.NEBIUS)
hyperbolic = OpenAIFamilyProvider(presets.HYPERBOLIC)
novita = OpenAIFamilyProvider(presets.NOVITA)
lm_studio = OpenAIFamilyProvider(presets.LM_STUDIO)
llamacpp = OpenAIFamilyProvider(presets.LLAMACPP)
vllm = OpenAIFamilyProvider(presets.VLLM)
hosted_vllm = OpenAIFamilyProvider(presets.HOSTED_VLLM)
