"""Test helpers for llmrouter users: a Together-compatible API emulator that runs offline.

    from llmrouter.testing import TogetherEmulator, Fault

    with TogetherEmulator() as emu:
        emu.add_fault(Fault(status=429, retry_after=1), times=2)   # fail the first two
        ...  # point the client at emu.base_url with any api key

See docs/testing.md. Importing this module starts nothing and imports only the standard library.
"""

from llmrouter.testing.emulator import RecordedRequest, TogetherEmulator
from llmrouter.testing.faults import Fault, FaultRule, FaultSpecError, parse_fault

__all__ = [
    "Fault",
    "FaultRule",
    "FaultSpecError",
    "RecordedRequest",
    "TogetherEmulator",
    "parse_fault",
]
