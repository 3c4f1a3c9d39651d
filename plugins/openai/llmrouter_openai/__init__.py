"""OpenAI and the OpenAI-compatible provider family for llmrouter.

One distribution, many providers (entry points in the ``llmrouter.providers`` group):
``openai``, ``openai_compatible``, ``groq``, ``fireworks_ai``, ``deepinfra``, ``openrouter``,
``ollama`` and the OpenAI-compatible dialects (``mistral``, ``deepseek``, ``xai``, ``cerebras``,
``perplexity``, ``sambanova``, ``nebius``, ``hyperbolic``, ``novita``, ``lm_studio``,
``llamacpp``, ``vllm``/``hosted_vllm``). The presets share one implementation (llmrouter's :mod:`llmrouter.openai_compat`, hooks in
:mod:`llmrouter_openai.plugin`); each provider is a :class:`~llmrouter_openai.presets.Preset`,
plain data. Importing this package imports nothing else.
"""
