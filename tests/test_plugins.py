"""Plugin host behaviour: per-provider dispatch, wrappers, lazy loading and load isolation."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import llmrouter
from llmrouter import hookimpl
from llmrouter._plugins import PluginHost
from llmrouter.testing import Fault, TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "hi"}]
STAGES = ["format_prompt", "build_request", "parse_response", "parse_stream_event", "map_error"]


class StageSpy:
    """A cross-cutting plugin wrapping every stage of every provider."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.ended: list[Any] = []

    def _note(self, stage: str, call: Any) -> None:
        self.seen.append((stage, call.provider))

    @hookimpl(wrapper=True)
    def llmrouter_format_prompt(self, call: Any) -> Any:
        self._note("format_prompt", call)
        return (yield)

    @hookimpl(wrapper=True)
    def llmrouter_build_request(self, call: Any, prompt: Any) -> Any:
        self._note("build_request", call)
        request = yield
        request.headers["x-spy"] = "1"  # wrappers may change the result
        return request

    @hookimpl(wrapper=True)
    def llmrouter_parse_response(self, call: Any, prompt: Any, response: Any) -> Any:
        self._note("parse_response", call)
        return (yield)

    @hookimpl(wrapper=True)
    def llmrouter_parse_stream_event(self, call: Any, prompt: Any, data: Any, state: Any) -> Any:
        self._note("parse_stream_event", call)
        return (yield)

    @hookimpl(wrapper=True)
    def llmrouter_map_error(self, call: Any, response: Any) -> Any:
        self._note("map_error", call)
        return (yield)

    @hookimpl
    def llmrouter_call_end(self, outcome: Any) -> None:
        self.ended.append(outcome)


def test_wrapper_plugin_sees_every_stage(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    host = PluginHost()
    spy = StageSpy()
    host.register_plugin(spy, name="spy")
    with llmrouter.Router(plugin_host=host) as router:
        router.completion(model=MODEL, messages=MESSAGES, **where)
        list(router.completion(model=MODEL, messages=MESSAGES, stream=True, max_tokens=2, **where))
        emu.add_fault(Fault(status=503), times=1)
        with pytest.raises(llmrouter.ServiceUnavailableError):
            router.completion(model=MODEL, messages=MESSAGES, **where)
    assert {stage for stage, _ in spy.seen} == set(STAGES)
    assert {provider for _, provider in spy.seen} == {"together_ai"}
    assert emu.requests[0].headers.get("x-spy") == "1"
    assert len(spy.ended) == 3  # once per call, stream included
    assert spy.ended[1].chunks and spy.ended[2].error is not None


class FakeProvider:
    """A provider registered in code; proves stages reach exactly one provider."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    @hookimpl
    def llmrouter_format_prompt(self, call: Any) -> Any:
        self.calls += 1
        assert call.provider == self.name, "a stage reached the wrong provider"
        return llmrouter.pipeline.ChatPrompt(call.messages)

    @hookimpl
    def llmrouter_build_request(self, call: Any, prompt: Any) -> Any:
        assert call.provider == self.name
        raise llmrouter.InvalidRequestError(f"{self.name} refuses", provider=self.name)


def test_stage_reaches_exactly_one_provider() -> None:
    host = PluginHost(autoload=False)
    a, b = FakeProvider("alpha"), FakeProvider("beta")
    host.register_provider("alpha", a)
    host.register_provider("beta", b)
    with llmrouter.Router(plugin_host=host) as router:
        with pytest.raises(llmrouter.InvalidRequestError, match="alpha refuses"):
            router.completion(model="alpha/x", messages=MESSAGES)
        with pytest.raises(llmrouter.InvalidRequestError, match="beta refuses"):
            router.completion(model="beta/x", messages=MESSAGES)
    assert (a.calls, b.calls) == (1, 1)
    assert host.provider_hooks("alpha") is host.provider_hooks("alpha")  # cached


def test_autoload_disabled_is_explained() -> None:
    host = PluginHost(autoload=False)
    with (
        llmrouter.Router(plugin_host=host) as router,
        pytest.raises(llmrouter.UnknownProviderError) as info,
    ):
        router.completion(model=MODEL, messages=MESSAGES)
    assert "LLMROUTER_DISABLE_PLUGIN_AUTOLOAD" in str(info.value)


def _run(
    code: str, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(tmp_path), full_env.get("PYTHONPATH", "")])
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


def test_import_is_lazy_and_offline(tmp_path: Path) -> None:
    code = """
        import os, sys, json
        touched = []
        class Env(dict):
            def get(self, k, d=None):
                touched.append(k); return super().get(k, d)
            def __getitem__(self, k):
                touched.append(k); return super().__getitem__(k)
        net = []
        sys.addaudithook(lambda ev, args: net.append(ev) if ev.startswith("socket.") else None)
        real = os.environ
        os.environ = Env(real)
        import llmrouter
        os.environ = real
        print(json.dumps({
            "modules": sorted(m for m in sys.modules if m.split(".")[0] in
                ("llmrouter_together", "jinja2", "httpx", "structlog", "pydantic", "pluggy")),
            "keys": [k for k in touched if "KEY" in k or "TOKEN" in k],
            "net": net,
        }))
    """
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen == {"modules": [], "keys": [], "net": []}


def _fake_dist(tmp_path: Path) -> None:
    dist = tmp_path / "broken_llmrouter_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-llmrouter-plugins\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[llmrouter.providers]\nbroken = no_such_module_for_llmrouter.plugin\n\n"
        "[llmrouter.plugins]\nbrokenx = another_missing_module_for_llmrouter\n"
    )


def test_broken_plugins_are_isolated(tmp_path: Path) -> None:
    _fake_dist(tmp_path)
    code = """
        import llmrouter
        from llmrouter.testing import TogetherEmulator
        with TogetherEmulator() as emu:
            r = llmrouter.completion(model="together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
                                     messages=[{"role": "user", "content": "hi"}],
                                     api_base=emu.base_url, api_key="k")
            assert r.choices[0].message.content
        errs = {e.name: e.error for e in llmrouter.plugin_errors()}
        assert "brokenx" in errs and "ModuleNotFoundError" in errs["brokenx"], errs
        assert "broken" in llmrouter.providers()
        try:
            llmrouter.completion(model="broken/x", messages=[{"role": "user", "content": "hi"}])
        except llmrouter.PluginLoadError as e:
            assert "failed to load" in str(e)
        else:
            raise AssertionError("no error")
        print("ok")
    """
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
    # visible without any logging configuration: a RuntimeWarning names the plugin
    assert "RuntimeWarning: llmrouter plugin 'brokenx'" in out.stderr


def test_strict_mode_raises(tmp_path: Path) -> None:
    _fake_dist(tmp_path)
    code = """
        import llmrouter
        try:
            llmrouter.completion(model="together_ai/m", messages=[{"role": "user", "content": "hi"}], api_key="k")
        except llmrouter.PluginLoadError as e:
            print("raised", e.plugin)
    """
    out = _run(code, tmp_path, {"LLMROUTER_STRICT_PLUGINS": "1"})
    assert out.returncode == 0, out.stderr
    assert "raised brokenx" in out.stdout


def test_secrets_never_reach_logs_or_errors(
    emu: TogetherEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    key = "tgp_v1_ThisMustNeverBeLogged_0123456789abcdef"
    caplog.set_level(logging.DEBUG, logger="llmrouter")
    emu.add_fault(Fault(status=401, message=f"Invalid API key provided: {key}"), times=1)
    with pytest.raises(llmrouter.AuthenticationError) as info:
        llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=emu.base_url, api_key=key)
    llmrouter.completion(model=MODEL, messages=MESSAGES, api_base=emu.base_url, api_key=key)
    err = info.value
    for text in (str(err), repr(err), json.dumps(err.body), repr(err.headers)):
        assert key not in text
    assert caplog.records, "expected one event per call"
    events = [r for r in caplog.records if r.getMessage().startswith("llmrouter.call")]
    assert len(events) == 2
    for record in caplog.records:
        assert key not in record.getMessage()
        assert key not in repr(record.__dict__)
    fields = events[-1].__dict__["llmrouter"]
    assert (
        fields["provider"] == "together_ai" and fields["status"] == 200 and fields["total_tokens"]
    )
    assert fields["latency_ms"] >= 0 and fields["attempts"] == 1
