"""llmrouter's conformance suite, run against the Echo API server: the same tests every
first-party provider passes (plain and async chat, streams, the model list, a 429 with
Retry-After, 5xx, a bad key, cut connections, an error inside a stream). The Echo API has no
tools and no embeddings, so the suite checks that both are refused before anything is sent."""

from __future__ import annotations

from llmrouter.testing.conformance import ConformanceSuite, Connection, ProviderCase
from llmrouter_echo.server import EchoServer

KEY = "echo-ConformanceKeyDoNotLeak-0123456789"


class TestEchoConformance(ConformanceSuite):
    case = ProviderCase(
        provider="echo",
        model="parrot",
        emulator=lambda: EchoServer(key=KEY),
        connect=lambda server: Connection(
            kwargs={"api_base": server.base_url, "api_key": KEY},
            env={"ECHO_API_KEY": None, "ECHO_API_BASE": None},
        ),
        tools=False,
        embedding_model=None,
    )
