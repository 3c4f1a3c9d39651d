"""What a call cost, in US dollars, from its token usage and the price of the model.

Prices come from `genai-prices <https://github.com/pydantic/genai-prices>`_, Pydantic's
maintained price database (Together, OpenAI, Anthropic, Google and many more; cached-input,
cache-write and tiered prices included), read from the copy bundled with the installed release:
llmrouter never downloads prices. A price can be set or overridden per route in code
(:func:`register_price`) or per alias and deployment in the routing config
(``input_cost_per_mtok``, ``output_cost_per_mtok``, ``cached_input_cost_per_mtok``), for private
deployments and negotiated rates; an override wins over the database.

A model without a known price costs ``None``, never a guessed number, and says so in one
``llmrouter.cost_unknown`` log event per route and process.

Costs are computed when read (``response.llmrouter.cost``): a caller who never reads one pays
nothing (a spend cap and the INFO log event do read it, at the call's end). The first lookup
loads genai-prices' table (about half a second), and its general calculator takes 25 to 110 us
per call. So for a model whose price is flat (no tiers), the price of each unit (an input,
cached input, cache write and output token, and the fixed part) is asked of genai-prices once
per hour and model, and a cost is then a few multiplications in :class:`decimal.Decimal`: the
same numbers, to the last digit (``tests/test_cost.py`` checks every flat model of four
providers against genai-prices' own result). Tiered prices go through genai-prices every time.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmrouter.errors import InvalidRequestError
from llmrouter.types import PendingCallInfo, Usage

if TYPE_CHECKING:
    from llmrouter.pipeline import CallOutcome

__all__ = [
    "PRICE_PROVIDER_IDS",
    "ModelPrice",
    "completion_cost",
    "cost_of",
    "register_price",
    "registered_prices",
    "unregister_price",
    "usage_counts",
]

#: llmrouter provider name -> genai-prices provider id, where they differ or exist at all. A
#: provider missing here is looked up under its own name; a plugin may add its own entry.
#: ``openai_compatible`` and ``ollama`` serve whatever model a user runs: no price to look up.
PRICE_PROVIDER_IDS: dict[str, str | None] = {
    "together_ai": "together",
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "groq": "groq",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
    "deepinfra": None,
    "openai_compatible": None,
    "ollama": None,
}

_MTOK = Decimal(1_000_000)
_ZERO = Decimal(0)
#: How long the per-unit prices of a model are reused before genai-prices is asked again (a
#: price may change on a date the database knows).
_RATES_TTL_S = 3600.0
#: How many routes :data:`_routes` remembers before it starts again (a bound for odd callers).
_ROUTES_MAX = 4096


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A price set by hand, in USD per million tokens.

    ``cached_input_cost_per_mtok`` prices the prompt tokens read from the provider's prompt
    cache (the input price when unset); prompt-cache writes are priced as input."""

    input_cost_per_mtok: Decimal
    output_cost_per_mtok: Decimal
    cached_input_cost_per_mtok: Decimal | None = None

    @classmethod
    def of(
        cls,
        input_cost_per_mtok: float | str | Decimal,
        output_cost_per_mtok: float | str | Decimal,
        cached_input_cost_per_mtok: float | str | Decimal | None = None,
    ) -> ModelPrice:
        """Checked prices: numbers >= 0 (a float is read through its shortest text, so 0.1 is
        exactly 0.1)."""
        return cls(
            _price(input_cost_per_mtok, "input_cost_per_mtok"),
            _price(output_cost_per_mtok, "output_cost_per_mtok"),
            None
            if cached_input_cost_per_mtok is None
            else _price(cached_input_cost_per_mtok, "cached_input_cost_per_mtok"),
        )

    def cost(self, counts: tuple[int, int, int, int]) -> Decimal:
        prompt, cached, written, completion = counts
        cached_rate = self.cached_input_cost_per_mtok
        if cached_rate is None:
            cached_rate = self.input_cost_per_mtok
        del written  # priced as input, which prompt already counts
        return (
            (prompt - cached) * self.input_cost_per_mtok
            + cached * cached_rate
            + completion * self.output_cost_per_mtok
        ) / _MTOK


def _price(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidRequestError(
            f"{name} must be a number of USD per million tokens, got {type(value).__name__}",
            param=name,
        )
    try:
        price = Decimal(repr(value) if isinstance(value, float) else value)
    except ArithmeticError:
        raise InvalidRequestError(
            f"{name} must be a number of USD per million tokens, got {value!r}", param=name
        ) from None
    if not price.is_finite() or price < 0:
        raise InvalidRequestError(f"{name} must be a finite number >= 0, got {value!r}", param=name)
    return price


_lock = threading.Lock()
_overrides: dict[str, ModelPrice] = {}


def register_price(
    route: str,
    *,
    input_cost_per_mtok: float | str | Decimal,
    output_cost_per_mtok: float | str | Decimal,
    cached_input_cost_per_mtok: float | str | Decimal | None = None,
) -> ModelPrice:
    """Set the price of ``route`` (``"provider/model"``) for this process, over genai-prices'.

    For direct calls to a private deployment or at a negotiated rate; routed calls take the
    config's per-deployment prices first."""
    if not isinstance(route, str) or "/" not in route.strip("/"):
        raise InvalidRequestError(
            f"route must be 'provider/model', e.g. 'together_ai/meta-llama/Llama-3.3-70B-"
            f"Instruct-Turbo', got {route!r}",
            param="route",
        )
    price = ModelPrice.of(input_cost_per_mtok, output_cost_per_mtok, cached_input_cost_per_mtok)
    with _lock:
        _overrides[route] = price
    return price


def unregister_price(route: str) -> None:
    """Forget a price set with :func:`register_price` (a KeyError if there is none)."""
    with _lock:
        del _overrides[route]


def registered_prices() -> dict[str, ModelPrice]:
    """The prices set with :func:`register_price`, by route."""
    with _lock:
        return dict(_overrides)


# --- usage ------------------------------------------------------------------------------------


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "__pydantic_extra__", None)
        if extra:
            value = extra.get(name)
    return value


def _count(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def usage_counts(usage: Any) -> tuple[int, int, int, int] | None:
    """``(prompt, cached prompt, cache-write prompt, completion)`` tokens of an OpenAI-shaped
    usage (object or dict), ``None`` without usage. ``prompt_tokens`` counts every prompt token,
    cached and written ones included (OpenAI's definition, which the providers' plugins keep)."""
    if usage is None:
        return None
    if type(usage) is Usage:  # llmrouter's own: plain attributes, extras in one dict
        extra = usage.__pydantic_extra__
        details = extra.get("prompt_tokens_details") if extra else None
        prompt = _count(usage.prompt_tokens)
        completion = _count(usage.completion_tokens)
        if details is None:
            return prompt, 0, 0, completion
    else:
        prompt = _count(_field(usage, "prompt_tokens"))
        completion = _count(_field(usage, "completion_tokens"))
        details = _field(usage, "prompt_tokens_details")
    cached = _count(_field(details, "cached_tokens"))
    written = _count(_field(details, "cache_creation_tokens"))
    if cached + written > prompt:  # a provider counting them apart: they are prompt tokens too
        prompt += cached + written
    return prompt, cached, written, completion


# --- genai-prices -----------------------------------------------------------------------------

#: (genai-prices provider id, model) -> (expiry, per-unit prices or None when tiered/unknown)
_rates: dict[tuple[str, str], tuple[float, _Rates | LookupError | None]] = {}
_unknown_logged: set[str] = set()
#: (provider, model, response_model) -> the ``_rates`` entry that priced it last: the route's
#: answer to everything :func:`cost_of` looks up before the arithmetic (the provider's id, the
#: database entry of the model or the response's model), kept as long as that entry. Costs are
#: read at the end of a call, with cold CPU caches, where those steps took about a third of
#: the cost's time (docs/performance.md).
_routes: dict[tuple[str, str, str | None], tuple[float, _Rates]] = {}


@dataclass(frozen=True, slots=True)
class _Rates:
    """Per-token prices of a flat-priced model, read off genai-prices (USD per token)."""

    fixed: Decimal
    prompt: Decimal
    cached: Decimal
    written: Decimal
    completion: Decimal

    def cost(self, counts: tuple[int, int, int, int]) -> Decimal:
        prompt, cached, written, completion = counts
        total = self.fixed + prompt * self.prompt + completion * self.completion
        if cached:  # most calls read and write no prompt cache: two Decimal products saved
            total += cached * self.cached
        if written:
            total += written * self.written
        return total


def _genai_calc(provider_id: str, model: str, counts: tuple[int, int, int, int]) -> Decimal:
    from genai_prices import Usage, calc_price

    prompt, cached, written, completion = counts
    result = calc_price(
        Usage(
            input_tokens=prompt,
            cache_read_tokens=cached,
            cache_write_tokens=written,
            output_tokens=completion,
        ),
        model,
        provider_id=provider_id,
    )
    return Decimal(result.total_price)


def _read_rates(provider_id: str, model: str) -> _Rates | None:
    """The model's per-unit prices, or ``None`` when they are not flat (tiered by prompt size):
    then every cost goes through genai-prices. LookupError when genai-prices has no price."""
    from genai_prices.data_snapshot import get_snapshot
    from genai_prices.types import TieredPrices

    _provider, info = get_snapshot().find_provider_model(model, None, provider_id, None)
    prices = info.get_prices(datetime.now(tz=timezone.utc))
    if any(isinstance(v, TieredPrices) for v in vars(prices).values()):
        return None
    million = 1_000_000
    fixed = _genai_calc(provider_id, model, (0, 0, 0, 0))
    prompt = _genai_calc(provider_id, model, (million, 0, 0, 0)) - fixed
    cached = _genai_calc(provider_id, model, (million, million, 0, 0)) - fixed - prompt
    written = _genai_calc(provider_id, model, (million, 0, million, 0)) - fixed - prompt
    completion = _genai_calc(provider_id, model, (0, 0, 0, million)) - fixed
    return _Rates(fixed, prompt / _MTOK, cached / _MTOK, written / _MTOK, completion / _MTOK)


def _database_cost(
    provider_id: str, model: str, counts: tuple[int, int, int, int]
) -> Decimal | None:
    key = (provider_id, model)
    now = time.monotonic()
    entry = _rates.get(key)
    if entry is None or entry[0] < now:
        try:
            found: _Rates | LookupError | None = _read_rates(provider_id, model)
        except LookupError as exc:
            found = exc
        entry = _rates[key] = (now + _RATES_TTL_S, found)
    rates = entry[1]
    if isinstance(rates, LookupError):
        return None
    if rates is None:
        return _genai_calc(provider_id, model, counts)
    return rates.cost(counts)


def _remember(
    provider: str,
    model: str,
    response_model: str | None,
    entry: tuple[float, _Rates | LookupError | None] | None,
) -> None:
    """Keep the flat rates that priced this route for the next cost (tiered ones go through
    genai-prices every time and are not kept)."""
    if entry is None:
        return
    expiry, found = entry
    if isinstance(found, _Rates):
        if len(_routes) >= _ROUTES_MAX:
            _routes.clear()
        _routes[(provider, model, response_model)] = (expiry, found)


def _forget_prices() -> None:
    """Drop every price read from genai-prices (the next cost reads the database again) and
    the record of routes already reported as unpriced; prices set with :func:`register_price`
    stay. For tests, which must not see each other's prices."""
    _routes.clear()
    _rates.clear()
    _unknown_logged.clear()


def _unknown(route: str, why: str) -> None:
    if route in _unknown_logged:
        return
    _unknown_logged.add(route)
    from llmrouter.logs import get_logger

    get_logger().warning("llmrouter.cost_unknown", route=route, reason=why)


def cost_of(
    provider: str,
    model: str,
    usage: Any,
    *,
    response_model: str | None = None,
    prices: ModelPrice | None = None,
) -> Decimal | None:
    """The cost in USD of ``usage`` on ``provider``/``model``: ``prices`` if given, else a
    price set with :func:`register_price`, else genai-prices' (for ``model``, then for the
    ``response_model`` the provider answered with). ``None``, logged once per route, when no
    price is known or there is no usage."""
    counts = usage_counts(usage)
    if counts is None:
        return None
    if prices is None and _overrides:
        prices = _overrides.get(f"{provider}/{model}")
    if prices is not None:
        return prices.cost(counts)
    known = _routes.get((provider, model, response_model))
    if known is not None and known[0] >= time.monotonic():
        return known[1].cost(counts)
    route = f"{provider}/{model}"
    if sys.version_info < (3, 11):  # genai-prices needs Python 3.11
        _unknown(
            route,
            "prices need Python 3.11 or newer (genai-prices); set one with "
            "llmrouter.cost.register_price or the config's *_cost_per_mtok",
        )
        return None
    provider_id = PRICE_PROVIDER_IDS.get(provider, provider)
    if provider_id is None:
        _unknown(
            route,
            f"provider {provider!r} serves models of its user's choosing; set the "
            "price with llmrouter.cost.register_price or the config's *_cost_per_mtok",
        )
        return None
    for name in (model, response_model):
        if name:
            cost = _database_cost(provider_id, name, counts)
            if cost is not None:
                _remember(provider, model, response_model, _rates.get((provider_id, name)))
                return cost
    _unknown(
        route,
        f"genai-prices has no price for {model!r} at {provider_id!r}; set one "
        "with llmrouter.cost.register_price or the config's *_cost_per_mtok",
    )
    return None


def completion_cost(response: Any, *, model: str | None = None) -> Decimal | None:
    """The cost in USD of a response (``ModelResponse``, ``EmbeddingResponse``, or a finished
    stream), as ``response.llmrouter.cost``.

    ``model`` (``"provider/model"``) prices a response llmrouter did not produce (one built
    from a dict, say), which carries no route of its own."""
    if model is not None:
        provider, sep, name = model.partition("/")
        if not sep or not provider or not name:
            raise InvalidRequestError(
                f"model must be 'provider/model', got {model!r}", param="model"
            )
        return cost_of(
            provider,
            name,
            getattr(response, "usage", None),
            response_model=getattr(response, "model", None),
        )
    info = getattr(response, "llmrouter", None)
    if info is None or getattr(info, "provider", None) is None:
        raise InvalidRequestError(
            "this response carries no route (it was not produced by an llmrouter call); pass "
            "model='provider/model' to price it",
            param="model",
        )
    return info.cost  # type: ignore[no-any-return]


def outcome_cost(outcome: CallOutcome) -> Decimal | None:
    """The cost of a finished call, for ``CallOutcome.cost``."""
    if outcome.cache_hit:
        return _ZERO
    response = outcome.response
    if response is not None:
        private = getattr(response, "__pydantic_private__", None)
        info = private.get("_llmrouter") if private else None
        if info is not None and type(info) is not PendingCallInfo:
            # A built CallInfo (a stream's, a cache hit's): its cost, computed once for both.
            return info.cost  # type: ignore[no-any-return]
    usage = outcome.usage if outcome.usage is not None else getattr(response, "usage", None)
    if usage is None:
        return None
    call = outcome.call
    return cost_of(
        call.provider,
        call.model,
        usage,
        response_model=getattr(response, "model", None),
        prices=call.metadata.get("prices"),
    )
