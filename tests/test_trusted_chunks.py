"""The text-delta chunk built without validation is the chunk validation builds.

``llmrouter.types.trusted_content_chunk`` fills pydantic's slots itself (as ``model_construct``
does) because a text delta is nearly every chunk of a stream; ``translation.content_chunk``
uses it only when every value already has the declared type. These tests compare it with the
validated chunk in every way a caller can observe, and check the fallback.
"""

from __future__ import annotations

import copy
import enum
import pickle
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from llmrouter import types
from llmrouter.cost import ModelPrice
from llmrouter.pipeline import StreamState
from llmrouter.translation import content_chunk, stream_chunk
from llmrouter.types import ModelResponseStream, trusted_content_chunk


class _Text(str):
    pass


class _Count(enum.IntEnum):
    ONE = 1


TEXTS = ["Hello", "", " ", "naïve 🙂\n", '{"json": "in text"}', "x" * 10_000]


def _state(response_id: Any = "msg_1", created: Any = 1_700_000_000, model: Any = "m") -> Any:
    state = StreamState()
    state.response_id, state.created, state.model = response_id, created, model
    return state


def _validated(text: str) -> ModelResponseStream:
    return stream_chunk(_state(), {"content": text})


def _observable(chunk: ModelResponseStream) -> list[Any]:
    """Everything a caller can read off a chunk, at each of its three levels."""
    choice = chunk.choices[0]
    out = []
    for model in (chunk, choice, choice.delta):
        out += [
            type(model),
            list(model.__dict__.items()),  # values and field order
            [type(v) for v in model.__dict__.values()],  # (a str subclass equals its str)
            model.model_fields_set,
            model.__pydantic_extra__,
            model.__pydantic_private__,
        ]
    return [
        *out,
        chunk.model_dump(),
        chunk.model_dump_json(),
        chunk.model_dump(exclude_unset=True),
        repr(chunk),
        dict(chunk.items()),
    ]


@pytest.mark.parametrize("text", TEXTS)
def test_the_trusted_chunk_is_the_validated_chunk(text: str) -> None:
    trusted = trusted_content_chunk("msg_1", 1_700_000_000, "m", text)
    validated = _validated(text)
    assert trusted == validated
    assert _observable(trusted) == _observable(validated)
    assert _observable(content_chunk(_state(), text)) == _observable(validated)


def test_trusted_chunks_survive_copies_and_pickles_like_validated_ones() -> None:
    trusted = trusted_content_chunk("msg_1", 1, "m", "hi")
    for clone in (copy.copy(trusted), copy.deepcopy(trusted), pickle.loads(pickle.dumps(trusted))):
        assert clone == trusted
        assert _observable(clone) == _observable(trusted)
    assert ModelResponseStream.model_validate(trusted.model_dump()) == trusted


def test_trusted_chunks_share_no_mutable_state() -> None:
    """Each chunk has its own dicts and sets: changing one (an app may) leaves the next alone,
    and extras can be added as on a validated chunk."""
    a = trusted_content_chunk("msg_1", 1_700_000_000, "m", "a")
    b = trusted_content_chunk("msg_1", 1_700_000_000, "m", "b")
    a.choices[0].delta.role = "assistant"
    a.choices[0].finish_reason = "stop"
    a.choices[0].delta.reasoning_content = "thought"  # an extra, as extra="allow" permits
    a.choices.append(a.choices[0])
    assert b.choices[0].delta.model_fields_set == {"content"}
    assert b.choices[0].model_fields_set == {"index", "delta"}
    assert b.choices[0].delta.__pydantic_extra__ == {}
    assert len(b.choices) == 1
    assert _observable(b) == _observable(_validated("b"))
    assert a.choices[0].delta["reasoning_content"] == "thought"


def test_the_call_info_of_a_trusted_chunk_is_set_like_a_validated_ones() -> None:
    trusted = trusted_content_chunk("msg_1", 1, "m", "hi")
    assert trusted.llmrouter.provider is None  # none until a router sets one
    info = types.CallInfo(provider="anthropic")
    trusted._set_call_info(info)
    assert trusted.llmrouter is info
    assert "_llmrouter" not in trusted.model_dump()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", 5),
        ("text", None),
        ("response_id", None),
        ("created", None),
        ("model", None),
        ("created", "1700000000"),  # lax validation turns it into an int
        ("created", True),  # a bool is not the int it declares: validation decides
        ("created", _Count.ONE),  # an int subclass: validation decides
        ("text", _Text("sub")),  # a str subclass: validation decides
        ("response_id", _Text("msg_1")),
        ("model", _Text("m")),
    ],
)
def test_anything_not_of_the_declared_type_is_validated(field: str, value: Any) -> None:
    """``content_chunk`` answers exactly as ``stream_chunk`` does: the same chunk, or the same
    ValidationError (which the stream parsers turn into a typed error)."""
    state = _state(**{field: value}) if field != "text" else _state()
    text = value if field == "text" else "hi"
    try:
        expected: Any = stream_chunk(state, {"content": text})
    except ValidationError as exc:
        with pytest.raises(ValidationError) as info:
            content_chunk(state, text)
        assert info.value.errors() == exc.errors()
        return
    got = content_chunk(state, text)
    assert _observable(got) == _observable(expected)
    assert type(got.choices[0].delta.content) is type(expected.choices[0].delta.content)


def test_a_slot_pydantic_no_longer_has_falls_back_to_setattr() -> None:
    setter = types._slot_setter("__llmrouter_no_such_slot__")

    class Plain:
        pass

    obj = Plain()
    setter(obj, 5)
    assert obj.__llmrouter_no_such_slot__ == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "name", ["__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"]
)
def test_the_setters_are_pydantics_own_slot_descriptors(name: str) -> None:
    """The trusted builders write through BaseModel's slots; were a pydantic release to move
    one, the fallback would take over (and this test says so)."""
    setter = types._slot_setter(name)
    assert getattr(setter, "__self__", None) is BaseModel.__dict__[name]


@pytest.mark.parametrize("model", [ModelResponseStream, types.StreamChoice, types.Delta])
def test_validation_runs_no_code_the_trusted_chunk_would_skip(model: type[BaseModel]) -> None:
    """A ``model_post_init`` or a private attribute would run or be set on validation and not in
    the trusted builder: the chunk models must have neither."""
    assert model.__pydantic_post_init__ is None
    assert model.__private_attributes__ == {}


# --- the call info built without validation, and its equality ----------------------------------


def test_trusted_call_info_is_what_model_construct_builds() -> None:
    values = {
        "provider": "together_ai",
        "deployment": "together_ai/m",
        "alias": None,
        "attempts": 2,
        "latency_s": 0.25,
        "request_id": "req-1",
        "endpoint": "/chat/completions",
        "prompt": None,
        "cache_hit": False,
    }
    pricing = types.Pricing("together_ai", "m", None)
    trusted = types.trusted_call_info(dict(values), pricing)
    built = types.CallInfo.model_construct(**values)
    built.set_pricing(pricing)
    assert list(trusted.__dict__.items()) == list(built.__dict__.items())
    assert trusted.model_fields_set == built.model_fields_set
    assert trusted.__pydantic_extra__ == built.__pydantic_extra__
    assert trusted.__pydantic_private__ == built.__pydantic_private__
    assert trusted == built


def _priced() -> types.CallInfo:
    usage = types.Usage(prompt_tokens=1000, completion_tokens=500, total_tokens=1500)
    info = types.CallInfo(provider="together_ai")
    info.set_pricing(
        types.Pricing(
            "together_ai",
            "m",
            usage,
            prices=ModelPrice(Decimal("1"), Decimal("2")),
        )
    )
    return info


def test_reading_the_cost_of_one_of_two_equal_call_infos_keeps_them_equal() -> None:
    a, b = _priced(), _priced()
    assert a == b
    assert b.cost == Decimal("0.002")  # now cached on b only
    assert a == b
    assert b == a


def test_call_infos_with_different_costs_or_fields_differ() -> None:
    a, b = _priced(), _priced()
    b.cost = Decimal(0)  # set, as for a cache hit
    assert a != b
    c = _priced()
    c.attempts = 3
    assert a != c
    assert a != types.CallInfo(provider="together_ai")  # no pricing
    assert (a == 5) is False
