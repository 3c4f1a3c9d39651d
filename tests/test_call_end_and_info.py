"""What a finished call leaves behind, now that both parts are built only when someone looks.

``response.llmrouter`` starts as a :class:`~llmrouter.types.PendingCallInfo` and becomes the
CallInfo on first read; the ``call_end`` outcome is skipped only while the built-in log plugin is
its sole listener and INFO is off. These tests pin down that nothing observable changed.
"""

from __future__ import annotations

import copy
import logging
import pickle
import threading
from typing import Any

import pytest

import llmrouter
from llmrouter import _client as client
from llmrouter import hookimpl, secrets, validation
from llmrouter._plugins import PluginHost
from llmrouter._streaming import call_info, pending_call_info
from llmrouter.pipeline import Call, HTTPRequest, HTTPResponse, ResponseHeaders, TextPrompt
from llmrouter.secrets import _INTERNED, _KNOWN, _KNOWN_MAX, Secret, redact_text, secret_for
from llmrouter.testing import OpenAIEmulator, TogetherEmulator
from llmrouter.types import CallInfo, ModelResponse, PendingCallInfo
from llmrouter.validation import split_model

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello"}]


def _parts(metadata: dict[str, Any] | None = None) -> tuple[Call, HTTPRequest, HTTPResponse]:
    call = Call(operation="chat", provider="together_ai", model="m/x", metadata=metadata or {})
    request = HTTPRequest("POST", "https://h/v1/chat/completions", endpoint="/chat/completions")
    headers = ResponseHeaders.from_raw([(b"X-Request-Id", b"req-1"), (b"Server", b"t")])
    return call, request, HTTPResponse(200, headers, b"{}")


def _response() -> ModelResponse:
    return ModelResponse(id="c1", model="m/x", choices=[{"message": {"content": "hi"}}])


# --- PendingCallInfo ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "prompt"),
    [
        ({}, None),
        ({"deployment": "together_ai/other", "alias": "fast", "attempts": 3}, None),
        ({}, TextPrompt("[INST] hi [/INST]", template="llama2")),
    ],
)
def test_pending_builds_what_call_info_builds(metadata: dict[str, Any], prompt: Any) -> None:
    call, request, response = _parts(metadata)
    eager = call_info(call, request, response, 0.25, prompt)
    pending = pending_call_info(call, request, response, 0.25, prompt)
    assert pending.build() == eager
    assert pending.build().model_dump() == eager.model_dump()
    assert eager.request_id == "req-1" and eager.latency_s == 0.25


def test_pending_snapshots_metadata() -> None:
    call, request, response = _parts({"alias": "fast"})
    pending = pending_call_info(call, request, response, 0.1, None)
    call.metadata["alias"] = "changed later"
    assert pending.build().alias == "fast"


def test_first_read_replaces_the_pending_value() -> None:
    call, request, response = _parts()
    r = _response()
    r._set_call_info(pending_call_info(call, request, response, 0.5, None))
    assert type(r.__pydantic_private__["_llmrouter"]) is PendingCallInfo
    info = r.llmrouter
    assert type(info) is CallInfo and r.__pydantic_private__["_llmrouter"] is info
    assert r.llmrouter is info  # built once
    info.alias = "set by the caller"
    assert r.llmrouter.alias == "set by the caller"


def test_equality_copies_and_pickles_treat_pending_as_the_call_info() -> None:
    call, request, response = _parts({"alias": "a"})
    lazy, built = _response(), _response()
    lazy._set_call_info(pending_call_info(call, request, response, 0.5, None))
    built._set_call_info(call_info(call, request, response, 0.5, None))
    assert lazy == built and built == lazy
    other = _response()
    other._set_call_info(pending_call_info(call, request, response, 0.75, None))
    assert lazy != other  # a different latency is a different CallInfo

    restored = pickle.loads(pickle.dumps(lazy))
    assert type(restored.__pydantic_private__["_llmrouter"]) is CallInfo
    assert restored == built and restored.llmrouter.alias == "a"

    deep = copy.deepcopy(lazy)
    assert deep == built
    assert deep.llmrouter is not lazy.llmrouter

    fresh = _response()
    fresh._set_call_info(pending_call_info(call, request, response, 0.5, None))
    shallow = fresh.model_copy()
    assert shallow.llmrouter is fresh.llmrouter  # shared, as a built CallInfo is shared
    assert "PendingCallInfo" not in repr(fresh.__pydantic_private__)
    assert "llmrouter" not in fresh.model_dump()


def test_every_reader_gets_the_same_call_info() -> None:
    call, request, response = _parts()
    r = _response()
    pending = pending_call_info(call, request, response, 0.5, None)
    r._set_call_info(pending)
    seen: list[CallInfo] = []
    barrier = threading.Barrier(8)

    def read() -> None:
        barrier.wait()
        seen.append(pending.build())

    threads = [threading.Thread(target=read) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(seen) == 8 and all(info is seen[0] for info in seen)
    # A reader that still holds the pending value (another thread, before the swap) and the
    # response itself agree, so an assignment through either is never lost.
    r.llmrouter.alias = "kept"
    assert pending.build() is r.llmrouter and pending.build().alias == "kept"


def test_pending_is_unhashable_like_call_info() -> None:
    call, request, response = _parts()
    with pytest.raises(TypeError):
        hash(pending_call_info(call, request, response, 0.1, None))
    with pytest.raises(TypeError):
        hash(CallInfo())


def test_response_info_over_a_socket(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    with llmrouter.Router() as router:
        r = router.completion(model=MODEL, messages=MESSAGES, **where)
    assert type(r.__pydantic_private__["_llmrouter"]) is PendingCallInfo
    info = r.llmrouter
    assert info.provider == "together_ai"
    assert info.deployment == MODEL
    assert info.endpoint == "/chat/completions"
    assert info.attempts == 1 and info.alias is None and info.prompt is None
    assert info.latency_s is not None and info.latency_s > 0


# --- the call_end outcome ---------------------------------------------------------------------


class Ends:
    def __init__(self) -> None:
        self.outcomes: list[Any] = []

    @hookimpl
    def llmrouter_call_end(self, outcome: Any) -> None:
        self.outcomes.append(outcome)


def test_outcome_skipped_only_while_nobody_listens(
    emu: TogetherEmulator, where: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    host = PluginHost()
    with llmrouter.Router(plugin_host=host) as router:
        router.completion(model=MODEL, messages=MESSAGES, **where)
        hooks = host.provider_hooks("together_ai")
        assert hooks.success_end_idle()  # only the log plugin, INFO off

        with caplog.at_level(logging.INFO, logger="llmrouter"):
            assert not hooks.success_end_idle()
            router.completion(model=MODEL, messages=MESSAGES, **where)
        assert [r.getMessage().split()[0] for r in caplog.records] == ["llmrouter.call"]

        # A plugin registered on the pluggy manager directly, behind the host's back.
        ends = Ends()
        host.pm.register(ends, name="direct")
        assert not hooks.success_end_idle()
        router.completion(model=MODEL, messages=MESSAGES, **where)
        assert len(ends.outcomes) == 1 and ends.outcomes[0].status_code == 200
        host.pm.unregister(ends)

        # ... and through the host, which rebuilds the provider's hooks.
        host.register_plugin(ends, name="ends")
        router.completion(model=MODEL, messages=MESSAGES, **where)
        assert len(ends.outcomes) == 2
        assert not host.provider_hooks("together_ai").success_end_idle()


class IdleWhenAsked(Ends):
    """A listener that says when it would do nothing (``call_end_idle``)."""

    def __init__(self) -> None:
        super().__init__()
        self.idle = True

    def call_end_idle(self) -> bool:
        return self.idle


def test_a_listener_that_says_it_is_idle_keeps_the_shortcut(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    host = PluginHost()
    listener = IdleWhenAsked()
    host.register_plugin(listener, name="idle")
    with llmrouter.Router(plugin_host=host) as router:
        router.completion(model=MODEL, messages=MESSAGES, **where)
        hooks = host.provider_hooks("together_ai")
        assert hooks.success_end_idle() and listener.outcomes == []
        listener.idle = False
        assert not hooks.success_end_idle()
        router.completion(model=MODEL, messages=MESSAGES, **where)
        assert len(listener.outcomes) == 1
        # a failure is always told, idle or not
        listener.idle = True
        with pytest.raises(llmrouter.AuthenticationError):
            emu.add_fault("status=401", times=1)
            router.completion(model=MODEL, messages=MESSAGES, **where)
        assert len(listener.outcomes) == 2 and listener.outcomes[-1].error is not None
        # one listener without call_end_idle turns the shortcut off
        host.register_plugin(Ends(), name="plain")
        assert not host.provider_hooks("together_ai").success_end_idle()


def test_outcome_and_info_carry_the_request_id() -> None:
    # The OpenAI emulator sends x-request-id (the Together one does not).
    host = PluginHost()
    ends = Ends()
    host.register_plugin(ends, name="ends")
    with OpenAIEmulator() as emu, llmrouter.Router(plugin_host=host) as router:
        r = router.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_base=emu.base_url, api_key="sk-k"
        )
    (outcome,) = ends.outcomes
    assert outcome.response is r and outcome.usage == r.usage and outcome.error is None
    assert outcome.request_id and outcome.request_id.startswith("req_")
    assert r.llmrouter.request_id == outcome.request_id


# --- per-call caches ----------------------------------------------------------------------------


def test_secret_for_reuses_and_forgets_with_the_scrub_list() -> None:
    key = "sk-reused-key-0001"
    first = secret_for(key)
    assert secret_for(key) is first and first == Secret(key)
    assert redact_text(f"oops {key}") == "oops [REDACTED]"
    for i in range(_KNOWN_MAX + 1):  # push the key out of the scrub list
        Secret(f"other-rotating-key-{i:04d}")
    assert key not in _KNOWN and key not in _INTERNED
    again = secret_for(key)
    assert again is not first and key in _KNOWN


def test_secret_for_when_the_key_is_evicted_while_it_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another thread may push the key out of the scrub list between the Secret's creation and
    # its caching; the cache must not then keep a Secret whose text is no longer redacted.
    key = "tgp_v1_evicted_while_built"
    real = secrets.Secret

    class EvictingSecret(real):  # type: ignore[misc, valid-type]
        def __init__(self, value: str) -> None:
            super().__init__(value)
            if value == key:
                for i in range(_KNOWN_MAX + 1):
                    real(f"other-thread-key-{i:04d}")

    monkeypatch.setattr(secrets, "Secret", EvictingSecret)
    first = secret_for(key)
    assert first.get_secret_value() == key
    assert key not in _INTERNED  # not cached: its text had left the scrub list
    monkeypatch.setattr(secrets, "Secret", real)
    again = secret_for(key)
    assert key in _KNOWN and _INTERNED[key] is again
    assert redact_text(f"bad key {key}") == "bad key [REDACTED]"


def test_str_subclass_key_and_huge_values_bypass_the_caches(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    class Key(str):
        def __eq__(self, other: object) -> bool:  # makes the subclass unhashable
            return str.__eq__(self, other)

    r = llmrouter.completion(
        model=MODEL, messages=MESSAGES, api_base=where["api_base"], api_key=Key("subclassed-key")
    )
    assert r.choices[0].message.content
    # and the scrub list keeps working when that key is pushed out of it by newer ones (it
    # used to hold the unhashable subclass, and the push raised in an unrelated call)
    for i in range(_KNOWN_MAX + 2):
        secret_for(f"later-key-{i:04d}")
    assert all(type(known) is str for known in _KNOWN)
    # (the emulator's log keeps the last characters of a key only)
    assert emu.requests[-1].headers["authorization"] == "Bearer <redacted ...-key>"

    huge_model = "together_ai/" + "m" * 5000
    assert split_model(huge_model) == ("together_ai", "m" * 5000)
    assert huge_model not in validation._SPLIT
    huge_key = "k" * 10_000
    assert secret_for(huge_key).get_secret_value() == huge_key and huge_key not in _INTERNED
    huge_base = where["api_base"] + "/" * 3000
    llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=huge_base, api_key="k")
    assert huge_base not in client._API_BASES
    assert emu.requests[-1].path == "/v1/chat/completions"


def test_api_key_type_still_checked_before_the_cache(where: dict[str, Any]) -> None:
    with pytest.raises(llmrouter.InvalidRequestError, match="api_key must be a string"):
        llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=where["api_base"], api_key=1)


def test_split_model_cache_keeps_errors_and_results() -> None:
    assert split_model("together_ai/a/b") == ("together_ai", "a/b")
    assert split_model("together_ai/a/b") == ("together_ai", "a/b")
    assert split_model(" together_ai / x ") == ("together_ai", "x")
    for bad in ("nosep", "/x", "p/"):
        for _ in range(2):  # a bad name is refused every time, never cached
            with pytest.raises(llmrouter.InvalidRequestError):
                split_model(bad)


def test_api_base_cache_keeps_errors_and_strips(emu: TogetherEmulator) -> None:
    for _ in range(2):
        with pytest.raises(llmrouter.InvalidRequestError, match="api_base"):
            llmrouter.completion(model=MODEL, messages=MESSAGES, api_base="ftp://x", api_key="k")
    base = emu.base_url + "//"
    for _ in range(2):
        llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=base, api_key="k")
    assert [r.path for r in emu.requests[-2:]] == ["/v1/chat/completions"] * 2
