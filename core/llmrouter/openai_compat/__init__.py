"""A toolkit for providers that speak OpenAI's wire format (chat, completions, embeddings, models).

Public API for provider plugins, first-party and third-party alike. The format is written once,
as pure functions parameterised by a :class:`Dialect` (what differs between services: endpoints,
variables, option renames, quirks such as Together's tool-call ``index`` or integer
``logprobs``, finish reasons, error codes, the request-id header), and
:class:`OpenAICompatibleProvider` adapts llmrouter's stage hooks to those functions. A plugin for
a new OpenAI-compatible service is a ``Dialect``, an options model and an entry point
(docs/write-a-provider.md).

Modules: :mod:`~llmrouter.openai_compat.dialect` (the data), :mod:`~.bodies` (request bodies),
:mod:`~.responses` (answers and errors), :mod:`~.streams` (stream events),
:mod:`~.provider` (the hooks). Importing this package does no I/O; ``import llmrouter`` does not
import it.
"""

from __future__ import annotations

from llmrouter.openai_compat.bodies import (
    chat_body,
    check_messages,
    completion_body,
    embedding_body,
    option_values,
)
from llmrouter.openai_compat.dialect import (
    ALL_ENDPOINTS,
    CODE_CLASSES,
    FINISH_REASONS,
    INBAND_STATUS,
    PATHS,
    Dialect,
    Endpoint,
)
from llmrouter.openai_compat.provider import NoOptions, OpenAICompatibleProvider
from llmrouter.openai_compat.responses import (
    completion_logprobs,
    inband_error,
    map_error,
    parse_chat,
    parse_completion_as_chat,
    parse_duration,
    parse_embeddings,
    parse_models,
)
from llmrouter.openai_compat.streams import parse_stream_event

__all__ = [
    "ALL_ENDPOINTS",
    "CODE_CLASSES",
    "FINISH_REASONS",
    "INBAND_STATUS",
    "PATHS",
    "Dialect",
    "Endpoint",
    "NoOptions",
    "OpenAICompatibleProvider",
    "chat_body",
    "check_messages",
    "completion_body",
    "completion_logprobs",
    "embedding_body",
    "inband_error",
    "map_error",
    "option_values",
    "parse_chat",
    "parse_completion_as_chat",
    "parse_duration",
    "parse_embeddings",
    "parse_models",
    "parse_stream_event",
]
