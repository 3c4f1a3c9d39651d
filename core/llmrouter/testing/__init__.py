"""Test helpers for llmrouter users: Together- and OpenAI-compatible API emulators, offline.

    from llmrouter.testing import TogetherEmulator, Fault

    with TogetherEmulator() as emu:
        emu.add_fault(Fault(status=429, retry_after=1), times=2)   # fail the first two
        ...  # point the client at emu.base_url with any api key

``OpenAIEmulator`` is the same server answering in OpenAI's shapes (for the ``openai`` provider
and the OpenAI-compatible family): both are flavours of one core,
``llmrouter.testing.emulator.OpenAICompatibleEmulator``, itself built on the wire-agnostic
``llmrouter.testing.emulator.BaseEmulator`` (as is ``AnthropicEmulator``, shipped with the
``llmrouter-anthropic`` plugin in ``llmrouter_anthropic.testing``). See docs/testing.md. Importing
this module starts nothing and imports only the standard library (and llmrouter's own modules).
"""

from llmrouter.testing.emulator import RecordedRequest, TogetherEmulator
from llmrouter.testing.faults import Fault, FaultRule, FaultSpecError, parse_fault
from llmrouter.testing.openai_emulator import OpenAIEmulator

__all__ = [
    "Fault",
    "FaultRule",
    "FaultSpecError",
    "OpenAIEmulator",
    "RecordedRequest",
    "TogetherEmulator",
    "parse_fault",
]
