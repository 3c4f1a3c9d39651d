"""Capture what a client sends to the Gemini API: the SDK's body next to llmrouter's.

The same approach as plugins/anthropic/tests/anthropic_capture.py: both clients talk to one emulator on
127.0.0.1, which records each request (parsed JSON body, headers with the key redacted, the
path with the model and method in it) and answers a valid ``GenerateContentResponse``; the
comparison reads the log. The emulator is lenient here (``strict=False``: a field the API would
refuse is recorded and answered, so a wrong body shows up as a difference rather than as an
error) unless asked otherwise.

    import sys; sys.path.insert(0, "plugins/gemini/tests")
    from gemini_capture import capture, sent_by_llmrouter, sent_by_sdk

    with capture() as emu:
        sdk = sent_by_sdk(emu, "gemini-2.5-flash", "Hi",
                          config={"max_output_tokens": 100})
        ours = sent_by_llmrouter(emu, "gemini-2.5-flash", max_tokens=100,
                                 messages=[{"role": "user", "content": "Hi"}])
        assert (ours.path, ours.body) == (sdk.path, sdk.body)

``python plugins/gemini/tests/gemini_capture.py`` prints one such pair.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google import genai
from google.genai import types

import llmrouter
from llmrouter.testing import RecordedRequest
from llmrouter_gemini.testing import GeminiEmulator

__all__ = ["KEY", "capture", "sdk_client", "sent_by_llmrouter", "sent_by_sdk"]

#: The key both clients send (the log keeps only its last four characters and a digest).
KEY = "AIza-capture-0123456789abcdef"


@contextmanager
def capture(*, strict: bool = False, **options: Any) -> Iterator[GeminiEmulator]:
    """A running emulator that records every request (see the module docstring)."""
    with GeminiEmulator(strict=strict, **options) as emu:
        yield emu


def sdk_client(emu: GeminiEmulator, *, api_version: str | None = None) -> genai.Client:
    """``google-genai``'s client on the emulator (its default API version unless given)."""
    return genai.Client(
        api_key=KEY,
        http_options=types.HttpOptions(base_url=emu.base_url, api_version=api_version),
    )


def _sent(emu: GeminiEmulator, before: int) -> RecordedRequest:
    requests = emu.requests
    assert len(requests) == before + 1, f"expected one request, saw {len(requests) - before}"
    return requests[-1]


def sent_by_sdk(
    emu: GeminiEmulator,
    model: str,
    contents: Any,
    *,
    config: Any = None,
    stream: bool = False,
    api_version: str | None = None,
) -> RecordedRequest:
    """What ``client.models.generate_content(model=..., contents=..., config=...)`` sends
    (``stream``: ``generate_content_stream``, drained)."""
    before = len(emu.requests)
    with sdk_client(emu, api_version=api_version) as client:
        if stream:
            for _ in client.models.generate_content_stream(
                model=model, contents=contents, config=config
            ):
                pass
        else:
            client.models.generate_content(model=model, contents=contents, config=config)
    return _sent(emu, before)


def sent_by_llmrouter(emu: GeminiEmulator, model: str, **call: Any) -> RecordedRequest:
    """What ``llmrouter.completion(model="gemini/" + model, **call)`` sends, an OpenAI-shaped
    call (a stream is drained)."""
    before = len(emu.requests)
    result = llmrouter.completion(
        model="gemini/" + model, api_base=emu.base_url, api_key=KEY, **call
    )
    if call.get("stream"):
        for _ in result:
            pass
    return _sent(emu, before)


if __name__ == "__main__":
    with capture() as server:
        pair = {
            "sdk": sent_by_sdk(
                server, "gemini-2.5-flash", "Hello", config={"max_output_tokens": 64}
            ),
            "llmrouter": sent_by_llmrouter(
                server,
                "gemini-2.5-flash",
                max_tokens=64,
                messages=[{"role": "user", "content": "Hello"}],
            ),
        }
        for who, request in pair.items():
            print(
                who,
                json.dumps(
                    {"path": request.path, "headers": request.headers, "body": request.body},
                    indent=2,
                ),
            )
