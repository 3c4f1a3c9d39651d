"""``OpenAIEmulator``: the emulator, OpenAI-flavoured, for OpenAI and OpenAI-compatible clients.

It is the emulators' core (:class:`~llmrouter.testing.emulator.OpenAICompatibleEmulator`) in
OpenAI's wire format (see :mod:`llmrouter.testing.openai_wire`), so everything else is the same
as for :class:`~llmrouter.testing.TogetherEmulator`: the HTTP server, the request log with keys
redacted, tenants (``base_url_for``), fault rules and the ``x-emulator-fault`` /
``x-emulator-tokens`` headers, stats, ``reply``/``latency`` knobs, and the
``[[emulator:tool_call]]`` marker. What differs:

- responses: no ``prompt``/``seed`` extras; ``finish_reason`` ``"stop"``; ``system_fingerprint``,
  ``message.refusal``; usage details; ``x-request-id`` header on non-streamed answers;
- streams: a role chunk, content deltas, a finish chunk per choice, and with
  ``stream_options.include_usage`` a final ``choices: []`` chunk holding the usage;
- ``/models``: ``{"object": "list", "data": [{id, object, created, owned_by}]}``;
- errors: ``{"error": {"message", "type", "param", "code"}}`` with OpenAI's codes
  (``invalid_api_key``, ``model_not_found``, ``context_length_exceeded``,
  ``rate_limit_exceeded``; ``insufficient_quota`` via a fault) and a 429 carrying
  ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``;
- JSON mode: with ``response_format`` ``json_object`` the reply is ``{"reply": "..."}``, with
  ``json_schema`` a sample instance of the schema;
- ``strict=True`` (the default) behaves like api.openai.com: unknown request fields and more than
  4 stop sequences are a 400. ``strict=False`` accepts extra fields, as vLLM and friends do;
- ``require_key=False`` accepts requests without a key (a local server);
- ``/embeddings`` takes token ids as OpenAI does (``input`` a list of ints or a list of such
  lists), where the Together emulator takes text only, as Together does.

The request checks' wording and rules are declared in :data:`llmrouter.testing.openai_wire.DIALECT`.
"""

from __future__ import annotations

from typing import ClassVar

from llmrouter.testing import openai_wire as ow
from llmrouter.testing.emulator import OpenAICompatibleEmulator, WireFormat

__all__ = ["OpenAIEmulator"]


class OpenAIEmulator(OpenAICompatibleEmulator):
    """An OpenAI-compatible HTTP server on localhost; see the module docstring.

    Takes every :class:`~llmrouter.testing.TogetherEmulator` argument; ``strict`` (default True:
    reject what api.openai.com rejects, unknown fields and more than 4 stops) and
    ``require_key`` (default True; ``False``: a request without a key is fine, like a local vLLM
    or Ollama; a key that is sent must still match ``api_key`` when that is set) matter most
    here. ``models`` entries given as ids are typed by name (``*embed*``: embeddings;
    ``gpt-3.5-turbo-instruct``, ``davinci-002``, ``babbage-002``: ``/completions`` only;
    anything else: chat).
    """

    api: ClassVar[WireFormat] = ow
    default_reply = "This is a deterministic reply from the OpenAI emulator."
    model_defaults = {"owned_by": "system"}
    strict = True
    require_key = True
