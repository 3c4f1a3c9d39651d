"""Cost, spend caps and what a finished call tells its observers.

Prices are checked against genai-prices' own calculator (``genai_prices.calc_price``), never
against numbers written here; calls cross a socket to the emulators.
"""

from __future__ import annotations

import logging
import random
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import TieredPrices

import llmrouter
from llmrouter import cost as costmod
from llmrouter import hookimpl
from llmrouter._plugins import PluginHost
from llmrouter.budget import Budget, parse_period
from llmrouter.errors import BudgetExceededError, InvalidRequestError
from llmrouter.pipeline import CallOutcome
from llmrouter.testing import TogetherEmulator
from llmrouter.types import ModelResponse, Usage

MODEL = "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"
PROVIDER_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Hello there, how are you today?"}]


def reference(provider_id: str, model: str, usage: Any) -> Decimal:
    """genai-prices' answer for an OpenAI-shaped usage."""
    details = usage.get("prompt_tokens_details") or {}
    return Decimal(
        calc_price(
            GUsage(
                input_tokens=usage.prompt_tokens,
                cache_read_tokens=details.get("cached_tokens", 0),
                cache_write_tokens=details.get("cache_creation_tokens", 0),
                output_tokens=usage.completion_tokens,
            ),
            model,
            provider_id=provider_id,
        ).total_price
    )


@pytest.fixture(autouse=True)
def _fresh_prices() -> Any:
    costmod._forget_prices()
    yield
    for route in list(costmod.registered_prices()):
        costmod.unregister_price(route)


# --- the arithmetic against genai-prices ----------------------------------------------------


def _flat_models(provider_id: str) -> list[str]:
    provider = next(p for p in get_snapshot().providers if p.id == provider_id)
    out = []
    for model in provider.models:
        try:
            prices = model.get_prices(__import__("datetime").datetime.now())
        except Exception:
            continue
        if not any(isinstance(v, TieredPrices) for v in vars(prices).values()):
            out.append(model.id)
    return out


@pytest.mark.parametrize(
    ("provider", "provider_id"),
    [
        ("together_ai", "together"),
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("gemini", "google"),
    ],
)
def test_every_flat_model_costs_what_genai_prices_says(provider: str, provider_id: str) -> None:
    rng = random.Random(7)
    models = _flat_models(provider_id)
    assert len(models) >= 5, models
    checked = 0
    for model in models:
        for _ in range(3):
            prompt = rng.randint(0, 400_000)
            cached = rng.randint(0, prompt // 2)
            written = rng.randint(0, (prompt - cached) // 2) if provider == "anthropic" else 0
            usage = Usage(
                prompt_tokens=prompt,
                completion_tokens=rng.randint(0, 50_000),
                prompt_tokens_details={"cached_tokens": cached, "cache_creation_tokens": written},
            )
            try:
                expected = reference(provider_id, model, usage)
            except (LookupError, ValueError):
                break  # a model genai-prices lists but cannot price for tokens (images...)
            assert costmod.cost_of(provider, model, usage) == expected, (model, usage)
            checked += 1
    assert checked >= 10


def test_tiered_prices_go_through_genai_prices() -> None:
    usage = Usage(prompt_tokens=300_000, completion_tokens=1_000)
    got = costmod.cost_of("gemini", "gemini-2.5-pro", usage)
    assert got == reference("google", "gemini-2.5-pro", usage)
    small = Usage(prompt_tokens=1_000, completion_tokens=1_000)
    # the tier changes the price per token, which a flat rate would miss
    assert got / 300 != costmod.cost_of("gemini", "gemini-2.5-pro", small)


def test_unknown_model_is_none_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    usage = Usage(prompt_tokens=10, completion_tokens=5)
    with caplog.at_level(logging.WARNING, logger="llmrouter"):
        assert costmod.cost_of("together_ai", "no-such/model-xyz", usage) is None
        assert costmod.cost_of("together_ai", "no-such/model-xyz", usage) is None
        assert costmod.cost_of("openai_compatible", "my-model", usage) is None
    events = [r for r in caplog.records if "llmrouter.cost_unknown" in r.getMessage()]
    assert len(events) == 2
    assert "no-such/model-xyz" in events[0].getMessage()
    assert "register_price" in events[1].getMessage()


def test_no_usage_costs_none() -> None:
    assert costmod.cost_of("together_ai", PROVIDER_MODEL, None) is None


def test_register_price_overrides_the_database() -> None:
    usage = Usage(
        prompt_tokens=2_000, completion_tokens=500, prompt_tokens_details={"cached_tokens": 1_000}
    )
    llmrouter.register_price(
        MODEL, input_cost_per_mtok=1.5, output_cost_per_mtok="3", cached_input_cost_per_mtok=0.1
    )
    expected = (Decimal(1000) * Decimal("1.5") + 1000 * Decimal("0.1") + 500 * 3) / 1_000_000
    assert costmod.cost_of("together_ai", PROVIDER_MODEL, usage) == expected
    costmod.unregister_price(MODEL)
    assert costmod.cost_of("together_ai", PROVIDER_MODEL, usage) == reference(
        "together", PROVIDER_MODEL, usage
    )


def test_a_route_priced_once_is_priced_again_without_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flat-priced route keeps the rates that priced it (cost_of's lookups skipped), for as
    long as the database entry they came from; a price registered later still wins, and the
    response's model, when the route's own has no price, is remembered the same way."""
    reads: list[tuple[str, str]] = []
    read_rates = costmod._read_rates

    def counting(provider_id: str, model: str) -> Any:
        reads.append((provider_id, model))
        return read_rates(provider_id, model)

    now = [1000.0]

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return now[0]

    lookups: list[str] = []
    database_cost = costmod._database_cost

    def looking(provider_id: str, model: str, counts: Any) -> Any:
        lookups.append(model)
        return database_cost(provider_id, model, counts)

    monkeypatch.setattr(costmod, "_read_rates", counting)
    monkeypatch.setattr(costmod, "_database_cost", looking)
    monkeypatch.setattr(costmod, "time", Clock)
    usage = Usage(prompt_tokens=1_234, completion_tokens=56)
    expected = reference("together", PROVIDER_MODEL, usage)
    assert costmod.cost_of("together_ai", PROVIDER_MODEL, usage) == expected
    other = Usage(prompt_tokens=7, completion_tokens=3_000)
    assert costmod.cost_of("together_ai", PROVIDER_MODEL, other) == reference(
        "together", PROVIDER_MODEL, other
    )
    assert reads == [("together", PROVIDER_MODEL)]
    assert lookups == [PROVIDER_MODEL]  # the second cost went straight to the rates
    # An alias the database does not know, answered by a model it does.
    alias = "my-alias-of-llama"
    assert costmod.cost_of("together_ai", alias, usage, response_model=PROVIDER_MODEL) == expected
    assert costmod.cost_of("together_ai", alias, usage, response_model=PROVIDER_MODEL) == expected
    assert reads == [("together", PROVIDER_MODEL), ("together", alias)]
    assert lookups == [PROVIDER_MODEL, alias, PROVIDER_MODEL]
    # A price registered afterwards wins over the remembered rates, and leaves with them.
    llmrouter.register_price(MODEL, input_cost_per_mtok=1, output_cost_per_mtok=2)
    assert costmod.cost_of("together_ai", PROVIDER_MODEL, usage) == Decimal("0.001346")
    costmod.unregister_price(MODEL)
    assert costmod.cost_of("together_ai", PROVIDER_MODEL, usage) == expected
    # After the database entry's lifetime, the database is asked again.
    now[0] += costmod._RATES_TTL_S + 1
    assert costmod.cost_of("together_ai", PROVIDER_MODEL, usage) == expected
    assert reads[-1] == ("together", PROVIDER_MODEL) and len(reads) == 3


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"input_cost_per_mtok": -1, "output_cost_per_mtok": 1}, ">= 0"),
        ({"input_cost_per_mtok": "abc", "output_cost_per_mtok": 1}, "number"),
        ({"input_cost_per_mtok": float("inf"), "output_cost_per_mtok": 1}, "finite"),
        ({"input_cost_per_mtok": True, "output_cost_per_mtok": 1}, "number"),
    ],
)
def test_bad_prices_are_refused(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidRequestError, match=needle):
        llmrouter.register_price(MODEL, **kwargs)
    with pytest.raises(InvalidRequestError, match="provider/model"):
        llmrouter.register_price("nomodel", input_cost_per_mtok=1, output_cost_per_mtok=1)


# --- over a socket --------------------------------------------------------------------------


def test_response_cost_over_a_socket(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    r = llmrouter.completion(model=MODEL, messages=MESSAGES, **where)
    assert r.usage is not None and r.usage.prompt_tokens > 0
    expected = reference("together", PROVIDER_MODEL, r.usage)
    assert r.llmrouter.cost == expected and expected > 0
    assert llmrouter.completion_cost(r) == expected
    assert r.llmrouter.cache_hit is False
    assert "cost" in r.llmrouter.model_dump()


def test_completion_cost_of_a_foreign_response() -> None:
    r = ModelResponse(
        id="x",
        model=PROVIDER_MODEL,
        choices=[{"message": {"content": "hi"}}],
        usage={"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    )
    with pytest.raises(InvalidRequestError, match="model='provider/model'"):
        llmrouter.completion_cost(r)
    assert llmrouter.completion_cost(r, model=MODEL) == reference(
        "together", PROVIDER_MODEL, r.usage
    )


def test_stream_cost_on_final_chunk_and_stream(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    stream = llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
    chunks = list(stream)
    last = chunks[-1]
    assert last.usage is not None
    expected = reference("together", PROVIDER_MODEL, last.usage)
    assert last.llmrouter.cost == expected
    assert stream.llmrouter.cost == expected
    assert stream.final_response().llmrouter.cost == expected


def test_stream_final_response_matches_the_plain_answer(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    plain = llmrouter.completion(model=MODEL, messages=MESSAGES, **where)
    stream = llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
    first = next(stream)
    whole = stream.final_response()  # reads the rest
    assert first.choices
    assert whole.choices[0].message.content == plain.choices[0].message.content
    assert whole.choices[0].finish_reason == plain.choices[0].finish_reason
    assert whole.usage is not None and plain.usage is not None
    assert whole.usage.completion_tokens == plain.usage.completion_tokens


def test_final_response_of_a_stream_closed_early_is_refused(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    stream = llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
    next(stream)
    stream.close()
    with pytest.raises(InvalidRequestError, match="before its end"):
        stream.final_response()


@pytest.mark.asyncio
async def test_async_final_response_and_cost(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    stream = await llmrouter.acompletion(model=MODEL, messages=MESSAGES, stream=True, **where)
    whole = await stream.final_response()
    assert whole.choices[0].message.content
    assert whole.llmrouter.cost == reference("together", PROVIDER_MODEL, whole.usage)


# --- config prices and the outcome ----------------------------------------------------------


class Outcomes:
    def __init__(self) -> None:
        self.seen: list[CallOutcome] = []

    @hookimpl
    def llmrouter_call_end(self, outcome: CallOutcome) -> None:
        self.seen.append(outcome)


def _config(emu: TogetherEmulator, **prices: Any) -> dict[str, Any]:
    """``chat``: one deployment; ``flaky``: a broken deployment that falls back to ``chat``."""
    return {
        "router": {"num_retries": 0},
        "models": {
            "flaky": {
                "deployments": [
                    {
                        "model": MODEL,
                        "api_base": emu.base_url_for("broken"),
                        "api_key_env": "LLMR_COST_KEY",
                    }
                ],
                "fallbacks": ["chat"],
            },
            "chat": {
                "deployments": [
                    {
                        "model": MODEL,
                        "api_base": emu.base_url,
                        "api_key_env": "LLMR_COST_KEY",
                        **prices,
                    },
                ],
            },
        },
    }


def test_config_price_and_attempt_log(
    emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMR_COST_KEY", "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a")
    emu.add_fault("status=500", tenant="broken")
    host = PluginHost(autoload=True)
    seen = Outcomes()
    host.register_plugin(seen)
    config = _config(emu, input_cost_per_mtok=2, output_cost_per_mtok=4)
    with llmrouter.Router(config=config, plugin_host=host) as router:
        r = router.completion(model="flaky", messages=MESSAGES)
    assert r.usage is not None
    expected = (Decimal(r.usage.prompt_tokens) * 2 + Decimal(r.usage.completion_tokens) * 4) / (
        1_000_000
    )
    assert r.llmrouter.cost == expected
    (outcome,) = seen.seen
    assert outcome.cost == expected and outcome.error is None
    log = outcome.attempt_log
    assert [a.number for a in log] == [1, 2]
    assert log[0].error is not None and log[0].status_code == 500 and log[0].decision == "next"
    assert log[1].error is None and log[0].end_ns <= log[1].start_ns <= log[1].end_ns
    assert outcome.end_ns >= log[1].end_ns


def test_alias_price_applies_to_its_deployments(
    emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMR_COST_KEY", "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a")
    config = _config(emu)
    config["models"]["chat"]["input_cost_per_mtok"] = 1
    config["models"]["chat"]["output_cost_per_mtok"] = 1
    with llmrouter.Router(config=config) as router:
        r = router.completion(model="chat", messages=MESSAGES)
    assert r.usage is not None
    assert r.llmrouter.cost == Decimal(r.usage.total_tokens) / 1_000_000


def test_half_a_price_in_the_config_is_refused(emu: TogetherEmulator) -> None:
    with pytest.raises(llmrouter.ConfigError, match="together"):
        llmrouter.Router(config=_config(emu, input_cost_per_mtok=2))


# --- budgets --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_periods_and_reset() -> None:
    clock = Clock()
    budget = Budget("0.01", "1h", clock=clock)
    budget.check()
    budget.add(Decimal("0.004"))
    budget.add(None)
    budget.check()
    budget.add(Decimal("0.006"))
    with pytest.raises(BudgetExceededError) as info:
        budget.check()
    assert info.value.spent == Decimal("0.010") and info.value.max_budget == Decimal("0.01")
    assert info.value.resets_in == pytest.approx(3600)
    clock.now += 3599
    with pytest.raises(BudgetExceededError):
        budget.check()
    clock.now += 2
    budget.check()
    assert budget.spent == 0
    assert budget.resets_in() == pytest.approx(3599)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30), ("15m", 900), ("12h", 43200), ("1d", 86400), ("2w", 1209600), (60, 60)],
)
def test_parse_period(value: Any, seconds: float) -> None:
    assert parse_period(value) == seconds


@pytest.mark.parametrize("value", ["1y", "day", "-1d", 0, -5, True, float("inf")])
def test_bad_period_or_amount(value: Any) -> None:
    with pytest.raises(InvalidRequestError):
        parse_period(value)
    with pytest.raises(InvalidRequestError):
        Budget(0)


def test_router_budget_stops_the_next_call_before_sending(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    first_cost = llmrouter.completion(model=MODEL, messages=MESSAGES, **where).llmrouter.cost
    assert first_cost
    emu.clear()
    with llmrouter.Router(max_budget=first_cost * Decimal("1.5")) as router:
        router.completion(model=MODEL, messages=MESSAGES, **where)
        stream = router.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
        list(stream)
        assert router.budget is not None and router.budget.spent == first_cost * 2
        sent = len(emu.requests)
        with pytest.raises(BudgetExceededError, match="budget is spent"):
            router.completion(model=MODEL, messages=MESSAGES, **where)
        assert len(emu.requests) == sent  # raised before anything was sent
        router.list_models("together_ai", **where)  # costs nothing: not capped


@pytest.mark.asyncio
async def test_async_router_budget(emu: TogetherEmulator, where: dict[str, Any]) -> None:
    async with llmrouter.AsyncRouter(max_budget="0.0000001") as router:
        await router.completion(model=MODEL, messages=MESSAGES, **where)
        with pytest.raises(BudgetExceededError):
            await router.completion(model=MODEL, messages=MESSAGES, **where)


def test_budget_from_config(emu: TogetherEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMR_COST_KEY", "tgp_v1_TestKeyDoNotLeak_9f8e7d6c5b4a")
    config = _config(emu)
    config["router"].update(max_budget=0.0000001, budget_period="1d")
    with llmrouter.Router(config=config) as router:
        assert router.budget is not None and router.budget.period == 86400
        router.completion(model="chat", messages=MESSAGES)
        with pytest.raises(BudgetExceededError):
            router.completion(model="chat", messages=MESSAGES)
    config["router"]["budget_period"] = "1 year"
    with pytest.raises(llmrouter.ConfigError, match="budget_period"):
        llmrouter.Router(config=config)


def test_budget_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="needs max_budget"):
        llmrouter.Router(budget_period="1d")
    with pytest.raises(ValueError, match="not both"):
        llmrouter.Router(budget=Budget(1), max_budget=2)
    shared = Budget(1)
    assert llmrouter.Router(budget=shared).budget is shared


def test_budget_settings_combine_code_and_config(emu: TogetherEmulator) -> None:
    config = _config(emu)
    config["router"].update(max_budget=5, budget_period="1d")
    with llmrouter.Router(config=config, max_budget=10) as router:
        assert router.budget is not None
        assert router.budget.max_budget == 10 and router.budget.period == 86400
    with llmrouter.Router(config=config, budget_period=3600) as router:
        assert router.budget is not None
        assert router.budget.max_budget == 5 and router.budget.period == 3600
    config["router"]["budget_period"] = 7200  # seconds, as in code
    with llmrouter.Router(config=config) as router:
        assert router.budget is not None and router.budget.period == 7200
    del config["router"]["max_budget"]
    with pytest.raises(llmrouter.ConfigError, match="needs max_budget"):
        llmrouter.Router(config=config)


def test_stream_answers_pickle_and_copy_with_their_cost(
    emu: TogetherEmulator, where: dict[str, Any]
) -> None:
    """The stream's CallInfo travels with its chunks and its final answer: it must hold no
    part of the stream (the key, the connection, the events), so it pickles like any other."""
    import copy
    import pickle

    stream = llmrouter.completion(model=MODEL, messages=MESSAGES, stream=True, **where)
    chunks = list(stream)
    whole = stream.final_response()
    cost = whole.llmrouter.cost
    assert cost is not None
    for obj in (chunks[-1], whole):
        again = pickle.loads(pickle.dumps(obj))
        assert again.llmrouter.cost == cost
        assert copy.deepcopy(obj).llmrouter.cost == cost
    assert where["api_key"] not in repr(pickle.dumps(whole))
