"""A caller's ``metadata`` cannot pose as the router's own keys (a price, a deployment)."""

from __future__ import annotations

import pytest

import llmrouter
from llmrouter.errors import InvalidRequestError
from llmrouter.testing import TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("key", ["prices", "alias", "deployment", "attempts", "llmrouter.x"])
@pytest.mark.parametrize("routed", [False, True])
def test_reserved_metadata_keys_are_refused_before_sending(
    key: str, routed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("META_KEY", "k")
    with TogetherEmulator() as emu:
        config = {
            "router": {"max_budget": 0.01},
            "models": {
                "chat": {
                    "deployments": [
                        {"model": MODEL, "api_base": emu.base_url, "api_key_env": "META_KEY"}
                    ]
                }
            },
        }
        with llmrouter.Router(config=config) as router:
            model = "chat" if routed else MODEL
            extra = {} if routed else {"api_base": emu.base_url, "api_key": "k"}
            with pytest.raises(InvalidRequestError) as info:
                router.completion(model=model, messages=MESSAGES, metadata={key: 1}, **extra)
            assert info.value.param == "metadata" and repr(key) in str(info.value)
            # a caller's own keys are fine, and the call is priced and counted as usual
            response = router.completion(
                model=model, messages=MESSAGES, metadata={"team": "search"}, **extra
            )
            assert response.choices[0].message.content
        assert emu.stats["total"] == 1
