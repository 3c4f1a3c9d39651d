"""Together AI provider: the OpenAI-compatible hooks, bound to Together's dialect and options.

Registered through the ``llmrouter.providers`` entry point ``together_ai =
"llmrouter_together.plugin:provider"``, the same road a third-party plugin takes, and built
from llmrouter's public toolkit only (:mod:`llmrouter.openai_compat`).
"""

from __future__ import annotations

from llmrouter.openai_compat import OpenAICompatibleProvider
from llmrouter_together.dialect import DIALECT
from llmrouter_together.options import CHAT_ONLY, ChatOptions, EmbeddingOptions

__all__ = ["provider"]

provider = OpenAICompatibleProvider(
    DIALECT, chat_options=ChatOptions, embedding_options=EmbeddingOptions, chat_only=CHAT_ONLY
)
