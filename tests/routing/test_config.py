"""The routing config: loading, validation messages, discovery, and the generated reference."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from routing_support import MESSAGES, MODEL, FakeClock

import llmrouter
from llmrouter import _api as api
from llmrouter._routing import Routing
from llmrouter.config import (
    CONFIG_ENV,
    DEFAULT_CONFIG_FILE,
    SCHEMA_BEGIN,
    SCHEMA_END,
    CooldownSettings,
    Deployment,
    GatewaySettings,
    ModelGroup,
    RouterConfig,
    RouterSettings,
    load_config,
    load_config_file,
    render_schema_markdown,
)
from llmrouter.config import _toml as _toml
from llmrouter.testing import TogetherEmulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

ISSUE_EXAMPLE = """
[router]
num_retries = 2            # retries per deployment for retryable failures
timeout = 600              # seconds; also connect/read/stream-idle settings
[models.chat]              # an alias, used as completion(model="chat")
strategy = "weighted"      # also "least-busy", "lowest-latency"
fallbacks = ["backup"]     # other aliases, tried in order when this one fails
[[models.chat.deployments]]
model = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
api_base = "https://api.together.xyz/v1"   # optional
api_key_env = "TOGETHER_API_KEY"
weight = 3
rpm = 600
[models.backup]
[[models.backup.deployments]]
model = "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1"
"""


def write(tmp_path: Path, text: str, name: str = "llmrouter.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> llmrouter.ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(llmrouter.ConfigError) as info:
        load_config_file(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


def test_the_issue_example_loads(tmp_path: Path) -> None:
    cfg = load_config_file(write(tmp_path, ISSUE_EXAMPLE))
    assert cfg.router.num_retries == 2 and cfg.router.timeout == 600
    chat = cfg.models["chat"]
    assert chat.strategy == "weighted" and chat.fallbacks == ["backup"]
    d = chat.deployments[0]
    assert (d.provider, d.provider_model) == (
        "together_ai",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    )
    assert d.weight == 3 and d.rpm == 600 and d.api_key_env == "TOGETHER_API_KEY"


def test_the_documented_example_loads() -> None:
    text = DOC.read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = load_config(_toml().loads(example))
    assert set(cfg.models) == {"chat", "backup"}
    assert cfg.models["chat"].deployments[1].options == {"max_tokens": 512, "temperature": 0.2}


def test_misspelt_key_names_path_and_allowed_keys(tmp_path: Path) -> None:
    err = error_for(
        tmp_path,
        '[[models.chat.deployments]]\nmodel = "together_ai/x"\nwieght = 3\n',
    )
    assert err.key == "models.chat.deployments[0].wieght"
    text = str(err)
    assert "unknown key 'wieght'" in text and "did you mean 'weight'?" in text
    assert (
        "allowed keys here: api_base, api_key_env, cached_input_cost_per_mtok, input_cost_per_mtok, model, name, options"
        in text
    )


def test_misspelt_section(tmp_path: Path) -> None:
    err = error_for(tmp_path, "[routr]\nnum_retries = 1\n")
    assert err.key == "routr"
    assert "did you mean 'router'?" in str(err)
    assert "allowed keys here: gateway, models, router" in str(err)
    err = error_for(tmp_path, "[router]\nnum_retry = 1\n")
    assert err.key == "router.num_retry" and "num_retries" in str(err)
    err = error_for(tmp_path, "[router.cooldown]\nminimum = 1\n")
    assert err.key == "router.cooldown.minimum" and "min_requests" in str(err)


def test_wrong_type_and_range(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[router]\nnum_retries = "two"\n')
    assert err.key == "router.num_retries"
    assert "valid integer" in str(err) and "'two'" in str(err)
    err = error_for(tmp_path, '[[models.chat.deployments]]\nmodel = "together_ai/x"\nweight = -1\n')
    assert err.key == "models.chat.deployments[0].weight" and "greater than 0" in str(err)


@pytest.mark.parametrize("value", ["inf", "nan", "1e12", "0"])
def test_timeouts_are_bounded_like_the_call_argument(tmp_path: Path, value: str) -> None:
    """A config timeout obeys the same rule as timeout= (0 < t <= 86400, finite): infinity
    used to pass and end as a raw OverflowError on the first routed call."""
    err = error_for(tmp_path, f"[router]\ntimeout = {value}\n")
    assert err.key == "router.timeout"
    deployment = f'[[models.chat.deployments]]\nmodel = "together_ai/x"\ntimeout = {value}\n'
    err = error_for(tmp_path, deployment)
    assert err.key == "models.chat.deployments[0].timeout"


def test_unknown_strategy_lists_the_allowed_ones(tmp_path: Path) -> None:
    err = error_for(
        tmp_path,
        '[models.chat]\nstrategy = "fastest"\n[[models.chat.deployments]]\nmodel = "p/m"\n',
    )
    assert err.key == "models.chat.strategy"
    assert "'weighted', 'least-busy' or 'lowest-latency'" in str(err)


def test_unknown_fallback_alias(tmp_path: Path) -> None:
    err = error_for(
        tmp_path,
        '[models.chat]\nfallbacks = ["bakup"]\n[[models.chat.deployments]]\nmodel = "p/m"\n'
        '[[models.backup.deployments]]\nmodel = "p/n"\n',
    )
    assert err.key == "models.chat.fallbacks[0]"
    assert "unknown alias 'bakup' (did you mean 'backup'?)" in str(err)
    assert "allowed: 'backup', 'chat'" in str(err)


def test_self_and_duplicate_fallbacks(tmp_path: Path) -> None:
    err = error_for(
        tmp_path,
        '[models.chat]\nfallbacks = ["chat"]\n[[models.chat.deployments]]\nmodel = "p/m"\n',
    )
    assert err.key == "models.chat.fallbacks[0]" and "itself" in str(err)


def test_model_must_be_provider_slash_model(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[[models.chat.deployments]]\nmodel = "gpt-4"\n')
    assert err.key == "models.chat.deployments[0].model"
    assert "'<provider>/<model>'" in str(err)


def test_alias_with_a_slash_is_rejected(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[[models."together_ai/x".deployments]]\nmodel = "p/m"\n')
    assert err.key == "models" and "no '/'" in str(err)


def test_an_alias_needs_deployments(tmp_path: Path) -> None:
    err = error_for(tmp_path, '[models.chat]\nstrategy = "weighted"\n')
    assert err.key == "models.chat.deployments" and "required" in str(err)
    err = error_for(tmp_path, "[models.chat]\ndeployments = []\n")
    assert err.key == "models.chat.deployments" and "at least 1" in str(err)


def test_a_key_in_the_file_is_refused_without_being_echoed(tmp_path: Path) -> None:
    secret = "tgp_v1_ThisShouldNeverBePrinted_abcdef"
    err = error_for(tmp_path, f'[[models.chat.deployments]]\nmodel = "p/m"\napi_key = "{secret}"\n')
    assert err.key == "models.chat.deployments[0].api_key"
    assert "api_key_env" in str(err) and "environment variable" in str(err)
    assert secret not in str(err) and secret not in repr(err)
    err = error_for(
        tmp_path, f'[[models.chat.deployments]]\nmodel = "p/m"\napi_key_env = "{secret}-x"\n'
    )
    assert err.key == "models.chat.deployments[0].api_key_env"
    assert secret not in str(err) and "NAME of an environment variable" in str(err)


def test_reserved_default_options(tmp_path: Path) -> None:
    err = error_for(
        tmp_path,
        '[[models.chat.deployments]]\nmodel = "p/m"\noptions = { stream = true, top_p = 1 }\n',
    )
    assert err.key == "models.chat.deployments[0].options" and "stream" in str(err)


def test_duplicate_deployment_names(tmp_path: Path) -> None:
    err = error_for(
        tmp_path,
        '[[models.chat.deployments]]\nmodel = "p/m"\nname = "a"\n'
        '[[models.chat.deployments]]\nmodel = "p/n"\nname = "a"\n',
    )
    assert err.key == "models.chat.deployments[1].name"


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    err = error_for(tmp_path, "[router]\nnum_retries = -1\ntimeout = 0\nbogus = 1\n")
    text = str(err)
    assert "3 problems" in text
    for key in ("router.num_retries", "router.timeout", "router.bogus"):
        assert key in text
    assert err.key == "router.num_retries"


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    err = error_for(tmp_path, "[router\nnum_retries = 1\n")
    assert "not valid TOML" in str(err) and "line 1" in str(err)
    missing = tmp_path / "nope.toml"
    with pytest.raises(llmrouter.ConfigError) as info:
        load_config_file(missing)
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)


def test_dict_configs_get_the_same_errors() -> None:
    with pytest.raises(llmrouter.ConfigError) as info:
        llmrouter.Router(config={"models": {"chat": {"deployments": [{"model": "p/m", "x": 1}]}}})
    assert info.value.key == "models.chat.deployments[0].x"
    assert str(info.value).startswith("config: ")
    with pytest.raises(llmrouter.ConfigError, match="RouterConfig or a dict"):
        llmrouter.Router(config="llmrouter.toml")  # type: ignore[arg-type]


def test_router_accepts_a_model_a_dict_a_file_and_a_routing(tmp_path: Path) -> None:
    data: dict[str, Any] = {"models": {"chat": {"deployments": [{"model": MODEL}]}}}
    cfg = RouterConfig.model_validate(data)
    assert llmrouter.Router(config=cfg).routing is not None
    assert llmrouter.Router(config=data).routing is not None
    path = write(tmp_path, ISSUE_EXAMPLE)
    router = llmrouter.Router.from_file(path)
    assert router.routing is not None and set(router.routing.routes) == {"chat", "backup"}
    assert llmrouter.AsyncRouter.from_file(path).routing is not None
    shared = Routing(cfg, clock=FakeClock())
    assert llmrouter.Router(config=shared).routing is shared
    assert llmrouter.Router().routing is None


# --- the generated reference ----------------------------------------------------------------


def test_docs_reference_is_generated_from_the_models() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text.split(SCHEMA_BEGIN, 1)[1].split(SCHEMA_END, 1)[0]
    assert block.strip() == render_schema_markdown().strip(), (
        "docs/configuration.md is out of date: run "
        'uv run python -c "from llmrouter.config import write_schema_docs; write_schema_docs()"'
    )


def test_reference_lists_exactly_the_model_fields() -> None:
    rendered = render_schema_markdown()
    sections = re.split(r"^### ", rendered, flags=re.M)[1:]
    listed = {s.splitlines()[0]: re.findall(r"^\| `([a-z_]+)` \|", s, flags=re.M) for s in sections}
    assert listed == {
        "`[router]`": list(RouterSettings.model_fields),
        "`[router.cooldown]`": list(CooldownSettings.model_fields),
        "`[models.<alias>]`": list(ModelGroup.model_fields),
        "`[[models.<alias>.deployments]]`": list(Deployment.model_fields),
        "`[gateway]`": list(GatewaySettings.model_fields),
    }
    assert set(RouterConfig.model_fields) == {"router", "models", "gateway"}


# --- discovery by the module-level functions -----------------------------------------------


def test_one_config_lookup_and_no_config_import_without_a_file(
    emu: TogetherEmulator, tmp_path: Path
) -> None:
    """One lookup (``_configfile.config_file``) serves the default routers and the CLI; before
    issue 14 api.py had a copy with copied constants and ``config.find_config`` was unused. A
    process without a config still never imports ``llmrouter.config`` (tens of ms)."""
    from llmrouter import _configfile, config

    assert not hasattr(config, "find_config")
    assert (CONFIG_ENV, DEFAULT_CONFIG_FILE) == (_configfile.CONFIG_ENV, "llmrouter.toml")
    assert api.config_file is _configfile.config_file
    script = (
        "import sys, llmrouter\n"
        f"r = llmrouter.completion(model={MODEL!r}, messages={MESSAGES!r}, "
        f"api_base={emu.base_url!r}, api_key='k', max_tokens=2)\n"
        "assert r.choices[0].message.content\n"
        "print(sorted(m for m in sys.modules if m.startswith('llmrouter.')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip()
    assert "'llmrouter._client'" in loaded and "'llmrouter._configfile'" in loaded
    assert "'llmrouter.config'" not in loaded and "'llmrouter._routing'" not in loaded


def test_config_file_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmrouter._configfile import config_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert config_file() is None
    monkeypatch.setenv(CONFIG_ENV, "  ")  # blank is unset
    assert config_file() is None
    write(tmp_path, "[router]\n")
    assert config_file() == DEFAULT_CONFIG_FILE
    monkeypatch.setenv(CONFIG_ENV, " missing.toml ")  # set wins, even when the file is missing
    assert config_file() == "missing.toml"


def _emulator_config(emu: TogetherEmulator, key_env: str) -> str:
    return (
        "[models.chat]\n[[models.chat.deployments]]\n"
        f'model = "{MODEL}"\nname = "cfg"\napi_base = "{emu.base_url_for("cfg")}"\n'
        f'api_key_env = "{key_env}"\n'
    )


def test_llmrouter_config_env_is_picked_up(
    emu: TogetherEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFG_TEST_KEY", "cfg-key-123456")
    path = write(tmp_path, _emulator_config(emu, "CFG_TEST_KEY"), "custom.toml")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    llmrouter.reset_default_routers()
    r = llmrouter.completion(model="chat", messages=MESSAGES)
    assert r.llmrouter.alias == "chat" and r.llmrouter.deployment == "cfg"
    assert emu.requests[-1].tenant == "cfg" and emu.requests[-1].key_matches("cfg-key-123456")


@pytest.mark.asyncio
async def test_llmrouter_toml_in_the_working_directory(
    emu: TogetherEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFG_TEST_KEY", "cfg-key-123456")
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    write(tmp_path, _emulator_config(emu, "CFG_TEST_KEY"))
    monkeypatch.chdir(tmp_path)
    llmrouter.reset_default_routers()
    r = await llmrouter.acompletion(model="chat", messages=MESSAGES)
    assert r.llmrouter.deployment == "cfg"
    # sync and async default routers share one routing table (and so deployment health)
    assert api.get_default_router().routing is api.get_default_async_router().routing


def test_no_config_means_no_routing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    llmrouter.reset_default_routers()
    assert api.get_default_router().routing is None


def test_a_broken_config_fails_loudly_on_the_first_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.toml"))
    llmrouter.reset_default_routers()
    with pytest.raises(llmrouter.ConfigError, match="does not exist"):
        llmrouter.completion(model="chat", messages=MESSAGES)


@pytest.mark.parametrize(
    "text",
    [
        '[[models.chat.deployments]]\nmodel = "p/m"\nwieght = 3\n',
        '[models.chat]\nfallbacks = ["bakup"]\n[[models.chat.deployments]]\nmodel = "p/m"\n'
        '[[models.backup.deployments]]\nmodel = "p/n"\n',
        '[models.chat]\nstrategy = "fastest"\n[[models.chat.deployments]]\nmodel = "p/m"\n',
    ],
    ids=["misspelt", "fallback", "strategy"],
)
def test_the_documented_error_messages_are_real(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    write(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(llmrouter.ConfigError) as info:
        load_config_file("llmrouter.toml")
    assert str(info.value) in DOC.read_text(encoding="utf-8").splitlines()
