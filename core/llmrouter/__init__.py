"""llmrouter: one call to many LLM providers, OpenAI-shaped answers, honest errors.

    import llmrouter
    response = llmrouter.completion(
        model="together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        messages=[{"role": "user", "content": "Hello"}],
    )
    print(response["choices"][0]["message"]["content"])

Importing this package is deliberately cheap: it loads the error tree and nothing else. Every
other public name is imported on first use (PEP 562 ``__getattr__``), no provider plugin is
imported until a call names it, no key is read and no connection is opened.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmrouter.errors import (
    AllDeploymentsFailedError,
    AmbiguousProviderError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigError,
    ConflictError,
    ContextWindowExceededError,
    GatewayTimeoutError,
    InternalServerError,
    InvalidRequestError,
    LLMRouterError,
    MissingAPIKeyError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    PluginLoadError,
    PromptTemplateError,
    RateLimitError,
    RequestTimeoutStatusError,
    ResponseTooLargeError,
    ServiceUnavailableError,
    StreamDecodeError,
    StreamError,
    UnknownProviderError,
    UnprocessableEntityError,
)

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    # calls
    "completion": "llmrouter._api",
    "acompletion": "llmrouter._api",
    "embedding": "llmrouter._api",
    "aembedding": "llmrouter._api",
    "list_models": "llmrouter._api",
    "alist_models": "llmrouter._api",
    "reset_default_routers": "llmrouter._api",
    # clients
    "Router": "llmrouter._client",
    "AsyncRouter": "llmrouter._client",
    # the routing table and deployment health of a configured router (``router.routing``)
    "Routing": "llmrouter._routing",
    "CompletionStream": "llmrouter._streaming",
    "AsyncCompletionStream": "llmrouter._streaming",
    # response types
    "ModelResponse": "llmrouter.types",
    "ModelResponseStream": "llmrouter.types",
    "Message": "llmrouter.types",
    "Choice": "llmrouter.types",
    "StreamChoice": "llmrouter.types",
    "Delta": "llmrouter.types",
    "Usage": "llmrouter.types",
    "EmbeddingResponse": "llmrouter.types",
    "ModelInfo": "llmrouter.types",
    "CallInfo": "llmrouter.types",
    # plugins
    "hookimpl": "llmrouter.hookspecs",
    "register_provider": "llmrouter._registry",
    "register_plugin": "llmrouter._registry",
    "unregister_plugin": "llmrouter._registry",
    "plugin_errors": "llmrouter._registry",
    "default_plugin_host": "llmrouter._registry",
    "PluginHost": "llmrouter._plugins",
    "providers": "llmrouter._registry",
    # prompt templates
    "render_prompt": "llmrouter.templates",
    "register_prompt_template": "llmrouter.templates",
    "unregister_prompt_template": "llmrouter.templates",
    "registered_prompt_templates": "llmrouter.templates",
    "prompt_templates": "llmrouter.templates",
    "PromptTemplate": "llmrouter.templates",
    # routing config
    "RouterConfig": "llmrouter.config",
    "load_config": "llmrouter.config",
    "load_config_file": "llmrouter.config",
    # cost and budgets
    "completion_cost": "llmrouter.cost",
    "register_price": "llmrouter.cost",
    "Budget": "llmrouter.budget",
    "stream_chunk_builder": "llmrouter.chunks",
    # misc
    "Secret": "llmrouter.secrets",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AllDeploymentsFailedError",
    "AmbiguousProviderError",
    "AsyncCompletionStream",
    "AsyncRouter",
    "AuthenticationError",
    "BadRequestError",
    "Budget",
    "BudgetExceededError",
    "CallInfo",
    "Choice",
    "CompletionStream",
    "ConfigError",
    "ConflictError",
    "ContextWindowExceededError",
    "Delta",
    "EmbeddingResponse",
    "GatewayTimeoutError",
    "InternalServerError",
    "InvalidRequestError",
    "LLMRouterError",
    "Message",
    "MissingAPIKeyError",
    "ModelInfo",
    "ModelResponse",
    "ModelResponseStream",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PluginHost",
    "PluginLoadError",
    "PromptTemplate",
    "PromptTemplateError",
    "RateLimitError",
    "RequestTimeoutStatusError",
    "ResponseTooLargeError",
    "Router",
    "RouterConfig",
    "Routing",
    "Secret",
    "ServiceUnavailableError",
    "StreamChoice",
    "StreamDecodeError",
    "StreamError",
    "UnknownProviderError",
    "UnprocessableEntityError",
    "Usage",
    "__version__",
    "acompletion",
    "aembedding",
    "alist_models",
    "completion",
    "completion_cost",
    "default_plugin_host",
    "embedding",
    "hookimpl",
    "list_models",
    "load_config",
    "load_config_file",
    "plugin_errors",
    "prompt_templates",
    "providers",
    "register_plugin",
    "register_price",
    "register_prompt_template",
    "register_provider",
    "registered_prompt_templates",
    "render_prompt",
    "reset_default_routers",
    "stream_chunk_builder",
    "unregister_plugin",
    "unregister_prompt_template",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmrouter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from llmrouter._api import (
        acompletion,
        aembedding,
        alist_models,
        completion,
        embedding,
        list_models,
        reset_default_routers,
    )
    from llmrouter._client import AsyncRouter, Router
    from llmrouter._plugins import PluginHost
    from llmrouter._registry import (
        default_plugin_host,
        plugin_errors,
        providers,
        register_plugin,
        register_provider,
        unregister_plugin,
    )
    from llmrouter._routing import Routing
    from llmrouter._streaming import AsyncCompletionStream, CompletionStream
    from llmrouter.budget import Budget
    from llmrouter.chunks import stream_chunk_builder
    from llmrouter.config import RouterConfig, load_config, load_config_file
    from llmrouter.cost import completion_cost, register_price
    from llmrouter.hookspecs import hookimpl
    from llmrouter.secrets import Secret
    from llmrouter.templates import (
        PromptTemplate,
        prompt_templates,
        register_prompt_template,
        registered_prompt_templates,
        render_prompt,
        unregister_prompt_template,
    )
    from llmrouter.types import (
        CallInfo,
        Choice,
        Delta,
        EmbeddingResponse,
        Message,
        ModelInfo,
        ModelResponse,
        ModelResponseStream,
        StreamChoice,
        Usage,
    )
