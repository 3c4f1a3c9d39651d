"""``cache=`` per-call controls: accepted shapes, and errors that say what to fix."""

from __future__ import annotations

from typing import Any

import pytest

from llmrouter.cache import CACHE_CONTROLS, validate_cache_controls
from llmrouter.errors import InvalidRequestError


def test_none_is_no_controls() -> None:
    assert validate_cache_controls(None) == {}


def test_valid_controls_come_back_as_a_new_dict() -> None:
    given = {"no-cache": True, "no-store": False, "ttl": 30, "s-maxage": 0, "namespace": "t1"}
    out = validate_cache_controls(given)
    assert out == given and out is not given


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"no_cache": True}, "'no_cache'"),
        ({"maxage": 3}, "'maxage'"),
        ({"no-cache": 1}, "'no-cache'"),
        ({"no-store": "yes"}, "'no-store'"),
        ({"ttl": 0}, "'ttl'"),
        ({"ttl": -1}, "'ttl'"),
        ({"ttl": True}, "'ttl'"),
        ({"ttl": float("inf")}, "'ttl'"),
        ({"ttl": "60"}, "'ttl'"),
        ({"s-maxage": -0.5}, "'s-maxage'"),
        ({"s-maxage": float("nan")}, "'s-maxage'"),
        ({"namespace": ""}, "'namespace'"),
        ({"namespace": 3}, "'namespace'"),
        (["no-cache"], "dict"),
        ("no-cache", "dict"),
    ],
)
def test_bad_controls_name_the_problem_and_the_valid_keys(value: Any, named: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_cache_controls(value)
    message = str(info.value)
    assert named in message
    assert all(repr(key) in message for key in CACHE_CONTROLS)
    assert info.value.param == "cache"
    assert isinstance(info.value, ValueError)


def test_a_near_miss_gets_a_suggestion() -> None:
    with pytest.raises(InvalidRequestError, match="did you mean 'no-cache'"):
        validate_cache_controls({"no_cache": True})
