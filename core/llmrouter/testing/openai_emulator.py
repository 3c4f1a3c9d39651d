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
  lists), where the Together emulator takes text only, as Together does;
- ``response_fields`` and ``message_fields`` (attributes, empty by default) play a compatible
  service's extra answer fields: ``response_fields`` are added at the top of every chat
  completion and chat stream chunk (Perplexity's ``citations``, ``search_results``),
  ``message_fields`` to each choice's ``message`` and, in a stream, as one delta right after
  the role chunk of each choice (DeepSeek's ``reasoning_content``).

The request checks' wording and rules are declared in :data:`llmrouter.testing.openai_wire.DIALECT`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from llmrouter.testing import openai_wire as ow
from llmrouter.testing import wire
from llmrouter.testing.emulator import Call, OpenAICompatibleEmulator, WireFormat
from llmrouter.testing.faults import Fault

_NONE: Mapping[str, Any] = MappingProxyType({})

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
    #: Added at the top level of every chat completion and chat stream chunk.
    response_fields: Mapping[str, Any] = _NONE
    #: Added to every choice's ``message``; in a stream, one delta of them after the role chunk.
    message_fields: Mapping[str, Any] = _NONE

    def _send_json(
        self, call: Call, response: Any, headers: Iterable[tuple[str, str]] | None = None
    ) -> None:
        if (
            (self.response_fields or self.message_fields)
            and isinstance(response, dict)
            and response.get("object") == "chat.completion"
        ):
            response = {**response, **self.response_fields}
            for choice in response.get("choices") or ():
                choice["message"] = {**choice["message"], **self.message_fields}
        super()._send_json(call, response, None if headers is None else list(headers))

    async def _stream(
        self,
        call: Call,
        events: Iterable[bytes],
        *,
        end: bytes,
        error_event: Callable[[Fault], bytes],
        broken: bytes,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        if self.response_fields or self.message_fields:
            events = self._with_fields(events)
        await super()._stream(
            call, events, end=end, error_event=error_event, broken=broken, headers=list(headers)
        )

    def _with_fields(self, events: Iterable[bytes]) -> Iterator[bytes]:
        """The chat stream's events with :attr:`response_fields` on each chunk and a delta of
        :attr:`message_fields` after each choice's role chunk (a slow path: only when set)."""
        for event in events:
            chunk = json.loads(event[len(b"data: ") :]) if event.startswith(b"data: {") else None
            if not isinstance(chunk, dict) or chunk.get("object") != "chat.completion.chunk":
                yield event
                continue
            chunk.update(self.response_fields)
            yield wire.sse_event(chunk)
            opened = [c for c in chunk["choices"] if "role" in c.get("delta", {})]
            if self.message_fields and opened:
                extra = {**chunk, "choices": []}
                for choice in opened:
                    extra["choices"].append(
                        {**choice, "delta": dict(self.message_fields), "finish_reason": None}
                    )
                yield wire.sse_event(extra)
