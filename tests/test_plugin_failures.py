"""Plugins that fail to load or that two distributions claim, end to end.

Fake distributions are ``*.dist-info`` directories (METADATA + entry_points.txt) written into a
temporary directory put on ``sys.path``, next to the modules their entry points name; each test
builds its own :class:`PluginHost`, so the process-wide host never sees them. Calls go to the
session's Together emulator on 127.0.0.1, and the tests count the requests it received.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import llmrouter
from llmrouter._plugins import PluginHost, provider_env_var
from llmrouter._routing import Disposition, Routing, classify, counts_against_deployment
from llmrouter.config import load_config
from llmrouter.errors import AmbiguousProviderError, PluginLoadError
from llmrouter.testing import TogetherEmulator

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "hi"}]
KEY = "tgp_v1_PluginFailureTestKey_DoNotLeak_42"
KEY_ENV = "LLMROUTER_TEST_PLUGIN_FAILURE_KEY"
ACME_ENV = provider_env_var("acme")

# A complete provider for an OpenAI-compatible server, as a third party would write it; ``WHO``
# goes out in a header so the emulator's log tells which distribution sent the request.
ACME_PLUGIN = """
from llmrouter import hookimpl
from llmrouter.pipeline import ChatPrompt, HTTPRequest
from llmrouter.provider import auth_headers, error_from_response, resolve_api_key
from llmrouter.types import ModelResponse

WHO = {who!r}


@hookimpl
def llmrouter_format_prompt(call):
    return ChatPrompt(call.messages)


@hookimpl
def llmrouter_build_request(call, prompt):
    key = resolve_api_key(call, ["ACME_API_KEY"])
    headers = {{**auth_headers(key), "x-acme-plugin": WHO}}
    body = {{"model": call.model, "messages": prompt.messages}}
    url = call.api_base + "/chat/completions"
    return HTTPRequest("POST", url, headers, body, endpoint="/chat/completions")


@hookimpl
def llmrouter_parse_response(call, prompt, response):
    return ModelResponse.model_validate_json(response.content)


@hookimpl
def llmrouter_map_error(call, response):
    return error_from_response(call, response)
"""


def fake_dist(
    site: Path, dist: str, entry_points: str, modules: dict[str, str] | None = None
) -> None:
    """Install distribution ``dist`` 1.0 into ``site``: its entry_points.txt and modules."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points), encoding="utf-8")
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def broken_provider(site: Path) -> None:
    """Provider ``broken``, whose module raises on import."""
    fake_dist(
        site,
        "llmrouter-broken-provider",
        "[llmrouter.providers]\nbroken = llmrouter_broken_provider_mod\n",
        {"llmrouter_broken_provider_mod": "raise ImportError('this plugin needs libfoo')\n"},
    )


def two_acme_dists(site: Path) -> None:
    """Two distributions that both register provider ``acme`` (each a working provider)."""
    fake_dist(
        site,
        "acme-llm",
        "[llmrouter.providers]\nacme = acme_llm_plugin\n",
        {"acme_llm_plugin": ACME_PLUGIN.format(who="acme-llm")},
    )
    fake_dist(
        site,
        "acme-llm-fork",
        "[llmrouter.providers]\nacme = acme_fork_plugin\n",
        {"acme_fork_plugin": ACME_PLUGIN.format(who="acme-llm-fork")},
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path for fake distributions (removed afterwards)."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.delenv(ACME_ENV, raising=False)
    monkeypatch.delenv("LLMROUTER_STRICT_PLUGINS", raising=False)
    monkeypatch.setenv(KEY_ENV, KEY)
    return path


class FirstPick(random.Random):
    """Makes the weighted strategy pick the first remaining deployment, so the test knows which
    deployment is tried first."""

    def random(self) -> float:
        return 0.0


def routed(models: dict[str, Any]) -> Routing:
    cfg = load_config({"router": {"num_retries": 0}, "models": models})
    return Routing(cfg, rng=FirstPick())


def emulator_deployment(emu: TogetherEmulator) -> dict[str, Any]:
    return {"model": MODEL, "name": "emulator", "api_base": emu.base_url, "api_key_env": KEY_ENV}


def complete(mode: str, host: PluginHost, config: Routing, model: str) -> Any:
    """One call through a Router or an AsyncRouter built on ``host``."""
    if mode == "sync":
        with llmrouter.Router(plugin_host=host, config=config) as router:
            return router.completion(model, MESSAGES)

    async def run() -> Any:
        async with llmrouter.AsyncRouter(plugin_host=host, config=config) as router:
            return await router.completion(model, MESSAGES)

    return asyncio.run(run())


def attempts(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.llmrouter  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "llmrouter", {}).get("event") == "llmrouter.attempt"
    ]


# --- item 11: a broken provider plugin moves a routed call on -----------------------------------


def test_classification_of_plugin_load_errors() -> None:
    broken = PluginLoadError("provider 'x' failed to load", plugin="x", provider="x")
    assert classify(broken) is Disposition.NEXT
    assert counts_against_deployment(broken)
    ambiguous = AmbiguousProviderError("two claim 'x'", plugin="x", provider="x")
    assert classify(ambiguous) is Disposition.NEXT
    # Strict mode asked for load failures to be errors: raised at once, nothing else tried.
    strict = PluginLoadError("plugin 'y' failed to load", plugin="y", strict=True)
    assert classify(strict) is Disposition.STOP
    # ... and says nothing about the deployment's health (any broken plugin raises it everywhere)
    assert not counts_against_deployment(strict)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_routed_call_moves_past_a_provider_whose_plugin_fails_to_import(
    mode: str, site: Path, emu: TogetherEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    broken_provider(site)
    caplog.set_level(logging.INFO, logger="llmrouter")
    config = routed(
        {
            "chat": {
                "deployments": [
                    {"model": "broken/some-model", "name": "broken-first", "api_key_env": KEY_ENV},
                    emulator_deployment(emu),
                ]
            }
        }
    )
    host = PluginHost(autoload=True, strict=False)
    with pytest.warns(RuntimeWarning, match="llmrouter plugin 'broken'"):
        response = complete(mode, host, config, "chat")
    assert response.choices[0].message.content
    assert (response.llmrouter.deployment, response.llmrouter.attempts) == ("emulator", 2)
    assert len(emu.requests) == 1 and emu.requests[0].key_matches(KEY)
    # The failure is visible: in the attempt log, and in plugin_errors().
    first, second = attempts(caplog)
    assert first["deployment"] == "broken-first" and first["outcome"] == "error"
    assert first["error_type"] == "PluginLoadError" and first["decision"] == "next"
    assert "this plugin needs libfoo" in first["error"]
    assert second["deployment"] == "emulator" and second["outcome"] == "ok"
    errors = {e.name: e for e in host.plugin_errors()}
    assert "ImportError: this plugin needs libfoo" in errors["broken"].error


def test_every_deployment_broken_lists_the_plugin_failure(
    site: Path, emu: TogetherEmulator
) -> None:
    broken_provider(site)
    config = routed(
        {
            "chat": {
                "fallbacks": ["other"],
                "deployments": [{"model": "broken/a", "name": "b1", "api_key_env": KEY_ENV}],
            },
            "other": {"deployments": [{"model": "broken/b", "name": "b2", "api_key_env": KEY_ENV}]},
        }
    )
    with (
        pytest.warns(RuntimeWarning),
        pytest.raises(llmrouter.AllDeploymentsFailedError) as caught,
    ):
        complete("sync", PluginHost(autoload=True, strict=False), config, "chat")
    assert [type(e) for _, e in caught.value.attempts] == [PluginLoadError, PluginLoadError]
    assert emu.requests == []


def test_strict_mode_stops_a_routed_call(site: Path, emu: TogetherEmulator) -> None:
    broken_provider(site)
    config = routed(
        {
            "chat": {
                "deployments": [
                    {"model": "broken/x", "name": "broken-first", "api_key_env": KEY_ENV},
                    emulator_deployment(emu),
                ]
            }
        }
    )
    host = PluginHost(autoload=True, strict=True)
    with pytest.warns(RuntimeWarning), pytest.raises(PluginLoadError) as caught:
        complete("sync", host, config, "chat")
    assert caught.value.strict and caught.value.plugin == "broken"
    with pytest.raises(PluginLoadError) as caught:  # and every later call
        complete("sync", host, config, "chat")
    assert caught.value.strict and caught.value.plugin == "broken"
    assert emu.requests == []


def test_strict_mode_keeps_failing_and_still_loads_the_other_plugins(
    site: Path, emu: TogetherEmulator
) -> None:
    # A broken cross-cutting plugin listed before a working one.
    fake_dist(
        site,
        "llmrouter-crosscutting",
        "[llmrouter.plugins]\naaa-broken = llmrouter_cc_broken\nzzz-works = llmrouter_cc_works\n",
        {
            "llmrouter_cc_broken": "raise RuntimeError('broken on purpose')\n",
            "llmrouter_cc_works": "SEEN = True\n",
        },
    )
    host = PluginHost(autoload=True, strict=True)
    with llmrouter.Router(plugin_host=host) as router:
        with pytest.warns(RuntimeWarning), pytest.raises(PluginLoadError) as caught:
            router.completion(MODEL, MESSAGES, api_base=emu.base_url, api_key=KEY)
        assert caught.value.plugin == "aaa-broken" and caught.value.strict
        # Not only the first call: strict mode fails until the plugin is fixed.
        with pytest.raises(PluginLoadError) as caught:
            router.completion(MODEL, MESSAGES, api_base=emu.base_url, api_key=KEY)
        assert caught.value.plugin == "aaa-broken" and caught.value.strict
    assert host.pm.has_plugin("zzz-works")
    assert emu.requests == []


def test_without_strict_mode_a_broken_crosscutting_plugin_breaks_nothing(
    site: Path, emu: TogetherEmulator
) -> None:
    fake_dist(
        site,
        "llmrouter-crosscutting",
        "[llmrouter.plugins]\naaa-broken = llmrouter_cc_broken2\n",
        {"llmrouter_cc_broken2": "raise RuntimeError('broken on purpose')\n"},
    )
    host = PluginHost(autoload=True, strict=False)
    with llmrouter.Router(plugin_host=host) as router, pytest.warns(RuntimeWarning):
        router.completion(MODEL, MESSAGES, api_base=emu.base_url, api_key=KEY)
    assert len(emu.requests) == 1


# --- item 12: two distributions claim one provider name ------------------------------------------


def test_env_var_name_of_a_provider() -> None:
    assert provider_env_var("acme") == "LLMROUTER_PROVIDER_ACME"
    assert provider_env_var("together_ai") == "LLMROUTER_PROVIDER_TOGETHER_AI"
    assert provider_env_var("my-llm.v2") == "LLMROUTER_PROVIDER_MY_LLM_V2"


def test_two_distributions_claiming_a_provider_are_refused_until_one_is_chosen(
    site: Path, emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_acme_dists(site)
    host = PluginHost(autoload=True, strict=False)
    # Known before any call, one record per distribution.
    with pytest.warns(RuntimeWarning, match="llmrouter plugin 'acme' was not loaded"):
        errors = [e for e in host.plugin_errors() if e.name == "acme"]
    assert len(errors) == 2
    assert {e.source for e in errors} == {
        "entry point acme_llm_plugin in acme-llm 1.0",
        "entry point acme_fork_plugin in acme-llm-fork 1.0",
    }
    assert all(e.error.startswith("AmbiguousProviderError: ") for e in errors)
    assert "acme" in host.available_providers()

    model = "acme/meta-llama/Llama-3.3-70B-Instruct-Turbo"
    with llmrouter.Router(plugin_host=host) as router:
        for _ in range(2):
            with pytest.raises(AmbiguousProviderError) as caught:
                router.completion(model, MESSAGES, api_base=emu.base_url, api_key=KEY)
            err = caught.value
            assert err.distributions == ["acme-llm", "acme-llm-fork"]
            assert err.env_var == ACME_ENV and err.provider == "acme"
            assert isinstance(err, PluginLoadError) and not err.strict
            text = str(err)
            assert "acme-llm 1.0 (acme_llm_plugin)" in text
            assert "acme-llm-fork 1.0 (acme_fork_plugin)" in text
            assert f"{ACME_ENV}=<distribution>" in text
            assert KEY not in text and KEY not in repr(err)
        # Neither plugin was imported and nothing crossed the socket: no key went anywhere.
        assert "acme_llm_plugin" not in sys.modules and "acme_fork_plugin" not in sys.modules
        assert emu.requests == []

        # The user chooses (any spelling of the distribution name): the next call works.
        monkeypatch.setenv(ACME_ENV, "Acme_LLM.Fork")
        response = router.completion(model, MESSAGES, api_base=emu.base_url, api_key=KEY)
    assert response.choices[0].message.content
    assert len(emu.requests) == 1
    assert emu.requests[0].headers["x-acme-plugin"] == "acme-llm-fork"
    assert emu.requests[0].key_matches(KEY)
    assert "acme_llm_plugin" not in sys.modules
    assert host.provider_distribution("acme") == "acme-llm-fork"
    assert not [e for e in host.plugin_errors() if e.name == "acme"]


def test_choice_in_code_wins_and_env_choice_at_start(
    site: Path, emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_acme_dists(site)
    model = "acme/meta-llama/Llama-3.3-70B-Instruct-Turbo"
    monkeypatch.setenv(ACME_ENV, "acme-llm-fork")
    in_code = PluginHost(autoload=True, distributions={"acme": "acme-llm"})
    with llmrouter.Router(plugin_host=in_code) as router:
        router.completion(model, MESSAGES, api_base=emu.base_url, api_key=KEY)
    from_env = PluginHost(autoload=True)
    with llmrouter.Router(plugin_host=from_env) as router:
        router.completion(model, MESSAGES, api_base=emu.base_url, api_key=KEY)
    assert [r.headers["x-acme-plugin"] for r in emu.requests] == ["acme-llm", "acme-llm-fork"]
    assert from_env.plugin_errors() == [] or all(e.name != "acme" for e in from_env.plugin_errors())


def test_a_choice_naming_another_distribution_is_an_error(
    site: Path, emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only one distribution registers acme, but the user pinned another one: refused too,
    # since the pinned one is what should receive the key.
    fake_dist(
        site,
        "acme-llm",
        "[llmrouter.providers]\nacme = acme_llm_plugin\n",
        {"acme_llm_plugin": ACME_PLUGIN.format(who="acme-llm")},
    )
    monkeypatch.setenv(ACME_ENV, "acme-official")
    host = PluginHost(autoload=True)
    with (
        llmrouter.Router(plugin_host=host) as router,
        pytest.warns(RuntimeWarning),
        pytest.raises(AmbiguousProviderError) as caught,
    ):
        router.completion("acme/m", MESSAGES, api_base=emu.base_url, api_key=KEY)
    text = str(caught.value)
    assert f"{ACME_ENV}=acme-official" in text and "acme-llm 1.0 (acme_llm_plugin)" in text
    assert emu.requests == []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_routed_call_moves_past_an_ambiguous_provider(
    mode: str, site: Path, emu: TogetherEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    two_acme_dists(site)
    caplog.set_level(logging.INFO, logger="llmrouter")
    config = routed(
        {
            "chat": {
                "fallbacks": ["backup"],
                "deployments": [
                    {
                        "model": "acme/meta-llama/Llama-3.3-70B-Instruct-Turbo",
                        "name": "acme",
                        "api_base": emu.base_url,
                        "api_key_env": KEY_ENV,
                    }
                ],
            },
            "backup": {"deployments": [emulator_deployment(emu)]},
        }
    )
    with pytest.warns(RuntimeWarning):
        response = complete(mode, PluginHost(autoload=True), config, "chat")
    assert response.llmrouter.deployment == "emulator"
    assert [r.headers.get("x-acme-plugin") for r in emu.requests] == [None]
    assert [(a["deployment"], a["error_type"]) for a in attempts(caplog)[:1]] == [
        ("acme", "AmbiguousProviderError")
    ]


def _cli(
    site: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LLMROUTER_PROVIDER_")}
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), full.get("PYTHONPATH", "")]))
    full.pop("LLMROUTER_DISABLE_PLUGIN_AUTOLOAD", None)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "llmrouter", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_cli_plugins_shows_both_distributions(site: Path) -> None:
    two_acme_dists(site)
    result = _cli(site, "plugins")
    assert result.returncode == 1, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("acme")]
    table = [r for r in rows if len(r) == 5]  # name, distribution, version, target, status
    assert table == [
        ["acme", "acme-llm", "1.0", "acme_llm_plugin", "ambiguous"],
        ["acme", "acme-llm-fork", "1.0", "acme_fork_plugin", "ambiguous"],
    ]
    errors = [line for line in result.stdout.splitlines() if line.startswith("  acme (")]
    assert len(errors) == 2
    assert "acme (entry point acme_llm_plugin in acme-llm 1.0): AmbiguousProviderError" in errors[0]
    assert f"{ACME_ENV}=<distribution>" in errors[0]
    assert "Traceback" not in result.stderr

    report = json.loads(_cli(site, "plugins", "--json").stdout)
    acme = [p for p in report["providers"] if p["name"] == "acme"]
    assert [(p["distribution"], p["status"]) for p in acme] == [
        ("acme-llm", "ambiguous"),
        ("acme-llm-fork", "ambiguous"),
    ]
    assert len([e for e in report["errors"] if e["name"] == "acme"]) == 2

    chosen = _cli(site, "plugins", env={ACME_ENV: "acme-llm"})
    rows = [line.split() for line in chosen.stdout.splitlines() if line.strip().startswith("acme")]
    assert [r for r in rows if len(r) >= 5] == [
        ["acme", "acme-llm", "1.0", "acme_llm_plugin", "ok"],
        ["acme", "acme-llm-fork", "1.0", "acme_fork_plugin", "not", "chosen"],
    ]
    assert "AmbiguousProviderError" not in chosen.stdout
