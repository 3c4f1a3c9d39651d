"""Every hook llmrouter calls, in pipeline order.

Two kinds of plugin implement these:

* **Provider plugins** (one per provider: ``together_ai``, ``openai``, a stranger's ``echo``),
  registered from the ``llmrouter.providers`` entry-point group under the provider's name. The core
  calls a *stage* hook through a hook caller that contains that one provider plugin plus the
  cross-cutting plugins, so a provider only ever sees its own calls and never asks "is this
  mine?". Stage hooks are ``firstresult``: the provider's implementation is the answer.
* **Cross-cutting plugins** (logging, metrics, caching, redaction, test doubles), registered
  from the ``llmrouter.plugins`` entry-point group or with :func:`llmrouter.register_plugin`. They
  see every provider's calls. They usually *wrap* a stage (``@hookimpl(wrapper=True)``: code before
  and after ``yield``, may replace the result or raise) or implement the observer hooks.
  User overrides of a stage use ``tryfirst=True``.

Stage hooks are pure and synchronous: they transform data and never do I/O. Only the core sends
requests, so one pipeline serves ``completion`` and ``acompletion`` alike (pluggy cannot await).

Hook specifications may gain arguments over time (pluggy passes only the ones an implementation
names) but never lose or rename one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from llmrouter.cli import Commands
    from llmrouter.errors import LLMRouterError
    from llmrouter.pipeline import (
        Call,
        CallOutcome,
        HTTPRequest,
        HTTPResponse,
        Prompt,
        StreamDone,
        StreamState,
    )
    from llmrouter.types import EmbeddingResponse, ModelInfo, ModelResponse, ModelResponseStream

PROJECT = "llmrouter"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorator for hook implementations, for providers and cross-cutting plugins alike.
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- stages (firstresult; called for exactly one provider) -------------------------------------


@hookspec(firstresult=True)
def llmrouter_format_prompt(call: Call) -> Prompt | None:
    """Decide how the messages reach the model.

    Return :class:`~llmrouter.pipeline.ChatPrompt` to send the messages as-is to a chat endpoint
    (the provider's server applies the model's template), or
    :class:`~llmrouter.pipeline.TextPrompt` holding text rendered client-side (with
    :func:`llmrouter.templates.explicit_template`) for a text-completion endpoint.

    Called for ``chat`` calls only. Implemented by: each provider. ``firstresult``. Raise
    :class:`~llmrouter.errors.PromptTemplateError` when a template rejects the conversation.
    """


@hookspec(firstresult=True)
def llmrouter_build_request(call: Call, prompt: Prompt | None) -> HTTPRequest | None:
    """Turn the call (and, for chat, its prompt) into one HTTP request description.

    Validates ``call.params`` against the provider's options (unknown or out-of-range options raise
    :class:`~llmrouter.errors.InvalidRequestError`), resolves the base URL and the key (raising
    :class:`~llmrouter.errors.MissingAPIKeyError` when the provider needs one and none is found),
    and builds method, URL, headers and JSON body. ``prompt`` is ``None`` for operations other
    than ``chat``. Runs before any I/O, so every argument error surfaces here.

    Two fields serve providers off the beaten track: ``HTTPRequest.sign`` (a signature over the
    final body bytes, which the core asks for just before each send: AWS SigV4) and
    ``HTTPRequest.stream_decoder`` (a stream that is not server-sent events: Bedrock's binary
    event stream).

    Implemented by: each provider. ``firstresult``.
    """


@hookspec(firstresult=True)
def llmrouter_parse_response(
    call: Call, prompt: Prompt | None, response: HTTPResponse
) -> ModelResponse | EmbeddingResponse | list[ModelInfo] | None:
    """Turn a successful (2xx) non-streaming response into llmrouter's types.

    Returns :class:`~llmrouter.types.ModelResponse` for ``chat`` and ``text_completion``
    (a completion served through a :class:`TextPrompt` is returned chat-shaped),
    :class:`~llmrouter.types.EmbeddingResponse` for ``embedding`` and a list of
    :class:`~llmrouter.types.ModelInfo` for ``list_models``. Raise
    :class:`~llmrouter.errors.APIError` when the body is not what the provider promises.

    Implemented by: each provider. ``firstresult``.
    """


@hookspec(firstresult=True)
def llmrouter_parse_stream_event(
    call: Call, prompt: Prompt | None, data: str, state: StreamState
) -> ModelResponseStream | StreamDone | None:
    """Turn the ``data`` of one server-sent event into a chunk (or, for a request that names
    its own ``stream_decoder``, one text that decoder returned).

    Return a :class:`~llmrouter.types.ModelResponseStream`, ``None`` to skip the event (keep-alive,
    metadata), or :data:`~llmrouter.pipeline.STREAM_DONE` at the provider's end marker. A
    provider whose stream has no end marker (Gemini's ends after the chunk that carries the
    finish reason) sets ``state.done = True`` while returning that last chunk (or ``None``): the
    stream is then complete, and nothing after it is read. A stream that ends without either
    makes the core raise :class:`~llmrouter.errors.APIConnectionError`: never a quietly short
    answer. An in-band error
    event must raise (usually the result of ``llmrouter_map_error``). ``state`` is one object per
    stream for the provider's bookkeeping.

    It must depend only on ``data`` and ``state``: to rebuild a finished stream's whole answer
    (``stream.final_response()``, the cache, the ``call_end`` outcome) the core parses the
    stream's events again with a fresh :class:`~llmrouter.pipeline.StreamState`, rather than
    keep every chunk alive; an id or time made up for want of one on the wire is taken from the
    first pass (``state.response_id``, ``state.created``).

    Implemented by: each provider. ``firstresult``. Called once per event: keep it cheap.
    """


@hookspec(firstresult=True)
def llmrouter_map_error(call: Call, response: HTTPResponse) -> LLMRouterError | None:
    """Map an error status (or an in-band stream error, given as a synthetic response) to a typed
    error from :mod:`llmrouter.errors`, *returned* not raised.

    Map by HTTP status and then by the provider's structured error code or type; never by
    matching message text. Attach provider, model, status, request id, body and, for 429,
    ``retry_after``. The core falls back to :func:`llmrouter.errors.status_error_class` when no
    provider answers.

    Implemented by: each provider. ``firstresult``.
    """


# --- the response cache (cross-cutting; the core calls them only while one is registered) -----


@hookspec(firstresult=True)
def llmrouter_cache_lookup(
    call: Call, request: HTTPRequest, asynchronous: bool
) -> ModelResponse | EmbeddingResponse | Awaitable[ModelResponse | EmbeddingResponse | None] | None:
    """Answer a call from a cache, before anything is sent.

    Called for ``chat``, ``text_completion`` and ``embedding`` calls, after ``build_request``
    (so every argument error has been raised and ``request`` is what would be sent), once per
    attempt of a routed call. Return the cached answer (a *new* object: the core attaches this
    call's ``response.llmrouter`` to it), or ``None`` for a miss. For ``stream=True`` calls the
    core replays a cached :class:`~llmrouter.types.ModelResponse` as chunks. ``call.cache`` holds
    the caller's per-call controls (``{"no-cache": True}``...): honouring them is the plugin's
    job. Keys must never include the API key: build them from ``call`` and ``request.json``.

    ``asynchronous`` is ``True`` when an :class:`~llmrouter.AsyncRouter` asks: the
    implementation may then return an awaitable (for a network backend such as Redis), which
    the core awaits. A sync Router never receives an awaitable's worth of waiting: it passes
    ``False`` and expects a plain answer.

    An exception here never fails the call: the core logs it (``llmrouter.cache_error``) and
    sends the request. Implemented by: cache plugins (:mod:`llmrouter.cache`). ``firstresult``:
    the first plugin that answers (an awaitable counts as an answer) wins.
    """


@hookspec
def llmrouter_cache_store(
    call: Call,
    request: HTTPRequest,
    response: ModelResponse | EmbeddingResponse,
    asynchronous: bool,
) -> Awaitable[None] | None:
    """A successful answer that a cache may keep for later calls.

    Called once per call that was *sent* and succeeded (never for a cache hit, an error, or a
    stream closed before its end): for a non-streamed call with the parsed response, for a
    stream once its end marker arrived with the response rebuilt from its chunks. With
    ``asynchronous`` the implementation may return an awaitable, which the core awaits before
    handing the answer (or the stream's end) to the caller. An exception is logged
    (``llmrouter.cache_error``), never raised. Implemented by: cache plugins. Not
    ``firstresult``: every cache gets the answer.
    """


# --- observers (all implementations called; results ignored) ----------------------------------


@hookspec
def llmrouter_response_received(call: Call, request: HTTPRequest, response: HTTPResponse) -> None:
    """A response's status and headers arrived (for a stream: before its body is read).

    Called once per attempt, successful or not, before parsing. ``request.headers`` holds the
    key: use :func:`llmrouter.secrets.redact_headers` before logging them. Implemented by:
    logging/metrics plugins. Not ``firstresult``; exceptions propagate, so keep it safe.
    """


@hookspec
def llmrouter_call_end(outcome: CallOutcome) -> None:
    """A call finished: returned, raised, or (for a stream) was consumed or closed.

    Called exactly once per user call, after retries and fallbacks, with latency, attempts,
    usage, cost (``outcome.cost``, computed when read), whether the answer came from a cache,
    each attempt of a routed call (``outcome.attempt_log``) and the error if any. For a stream
    that reached its end, ``outcome.response`` is the answer rebuilt from its chunks.
    Implemented by: the built-in log plugin (one structured event per call), tracing plugins
    (``llmrouter-otel``) and any metrics plugin. Not ``firstresult``.

    One shortcut: a plugin whose implementation would return at once (the built-in log plugin
    while INFO is off, a tracing plugin with no tracer configured) may say so with a
    ``call_end_idle()`` method (a module-level function for a module plugin) returning ``True``.
    While every implementation says so, a *successful* call's outcome is neither built nor
    passed on. An implementation without ``call_end_idle`` turns the shortcut off; a failed
    call is always told.
    """


# --- the command line (called once, when ``llmrouter`` builds its parser) ----------------------


@hookspec
def llmrouter_add_commands(commands: Commands) -> None:
    """Add subcommands to the ``llmrouter`` command line.

    Implemented by: plugins in the ``llmrouter.commands`` entry-point group (``llmrouter-gateway``
    adds ``llmrouter serve`` and ``llmrouter config convert`` this way). Called once by
    :func:`llmrouter.cli.build_parser`, never by a call, so a command plugin costs ``import
    llmrouter`` and every completion nothing; it should import its heavy dependencies inside
    its handlers, not at module level. Not ``firstresult``: every plugin adds its own.

    ``commands.add(name, handler, help=...)`` returns the new ``argparse`` parser to add
    arguments to (``group="config"`` puts it under ``llmrouter config``). The handler takes
    ``(args, out, err)`` and returns the exit code; an :class:`~llmrouter.errors.LLMRouterError`
    it raises is printed as one line like any built-in command's. A name already taken is
    refused with a warning, and a plugin that fails to load is reported by ``llmrouter plugins``
    without breaking the other commands.
    """
