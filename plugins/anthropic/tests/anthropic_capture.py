"""Capture what a client sends to Anthropic's API: the SDK's body next to llmrouter's.

The same approach as plugins/together/tests/test_sdk_parity.py: both clients talk to one
emulator on 127.0.0.1, which records each request (parsed JSON body, headers with the key
redacted) and answers a valid ``Message``; the comparison reads the log. Here the emulator is
lenient (``strict=False``: a field the API would refuse is recorded and answered, so a wrong
body shows up as a difference rather than as an error) unless asked otherwise.

    import sys; sys.path.insert(0, "plugins/anthropic/tests")
    from anthropic_capture import capture, sent_by_llmrouter, sent_by_sdk

    with capture() as emu:
        sdk = sent_by_sdk(emu, model="claude-sonnet-4-6", max_tokens=100,
                          messages=[{"role": "user", "content": "Hi"}])
        ours = sent_by_llmrouter(emu, model="claude-sonnet-4-6", max_tokens=100,
                                 messages=[{"role": "user", "content": "Hi"}])
        assert ours.body == sdk.body, (sdk.body, ours.body)

``python plugins/anthropic/tests/anthropic_capture.py`` prints one such pair.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic

import llmrouter
from llmrouter.testing import RecordedRequest
from llmrouter_anthropic.testing import AnthropicEmulator

__all__ = ["KEY", "capture", "sent_by_llmrouter", "sent_by_sdk"]

#: The key both clients send (the log keeps only its last four characters and a digest).
KEY = "sk-ant-capture-0123456789abcdef"


@contextmanager
def capture(*, strict: bool = False, **options: Any) -> Iterator[AnthropicEmulator]:
    """A running emulator that records every request (see the module docstring)."""
    with AnthropicEmulator(strict=strict, **options) as emu:
        yield emu


def _sent(emu: AnthropicEmulator, before: int) -> RecordedRequest:
    requests = emu.requests
    assert len(requests) == before + 1, f"expected one request, saw {len(requests) - before}"
    return requests[-1]


def sent_by_sdk(emu: AnthropicEmulator, **create: Any) -> RecordedRequest:
    """What ``anthropic.Anthropic().messages.create(**create)`` sends (a stream is drained)."""
    before = len(emu.requests)
    with anthropic.Anthropic(base_url=emu.base_url, api_key=KEY, max_retries=0) as client:
        result = client.messages.create(**create)
        if create.get("stream"):
            for _ in result:
                pass
    return _sent(emu, before)


def sent_by_llmrouter(emu: AnthropicEmulator, *, model: str, **call: Any) -> RecordedRequest:
    """What ``llmrouter.completion(model="anthropic/" + model, **call)`` sends, an
    OpenAI-shaped call (a stream is drained)."""
    before = len(emu.requests)
    result = llmrouter.completion(
        model="anthropic/" + model, api_base=emu.base_url, api_key=KEY, **call
    )
    if call.get("stream"):
        for _ in result:
            pass
    return _sent(emu, before)


if __name__ == "__main__":
    hello = [{"role": "user", "content": "Hello"}]
    with capture() as server:
        pair = {
            "sdk": sent_by_sdk(server, model="claude-sonnet-4-6", max_tokens=64, messages=hello),
            "llmrouter": sent_by_llmrouter(
                server, model="claude-sonnet-4-6", max_tokens=64, messages=hello
            ),
        }
        for who, request in pair.items():
            print(who, json.dumps({"headers": request.headers, "body": request.body}, indent=2))
