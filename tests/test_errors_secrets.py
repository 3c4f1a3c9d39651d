"""The error tree and secret handling."""

from __future__ import annotations

import pickle

import pytest

from llmrouter import errors
from llmrouter.pipeline import Call, HTTPRequest
from llmrouter.secrets import Secret, redact_headers, redact_text

KEY = "tgp_v1_SuperSecretKeyValue1234567890"


def test_status_classes() -> None:
    assert errors.status_error_class(429) is errors.RateLimitError
    assert errors.status_error_class(524) is errors.GatewayTimeoutError
    assert errors.status_error_class(529) is errors.ServiceUnavailableError
    assert errors.status_error_class(599) is errors.InternalServerError
    assert errors.status_error_class(418) is errors.APIStatusError
    assert issubclass(errors.ContextWindowExceededError, errors.BadRequestError)
    assert issubclass(errors.MissingAPIKeyError, errors.InvalidRequestError)
    assert issubclass(errors.InvalidRequestError, ValueError)


def test_error_context_and_str() -> None:
    e = errors.RateLimitError(
        "slow down", provider="p", model="m", status_code=429, request_id="r1", retry_after=2.0
    )
    assert str(e) == "slow down [provider=p, model=m, status=429, request_id=r1]"
    assert e.retry_after == 2.0 and e.retryable


def test_error_pickles_with_context() -> None:
    e = errors.NotFoundError("no model", provider="p", status_code=404, code="model_not_available")
    e2 = pickle.loads(pickle.dumps(e))
    assert (
        type(e2) is errors.NotFoundError
        and e2.status_code == 404
        and e2.code == "model_not_available"
    )


def test_secret_never_shows() -> None:
    s = Secret(KEY)
    assert KEY not in repr(s) and KEY not in str(s) and KEY not in f"{s}"
    assert s.get_secret_value() == KEY
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_errors_scrub_known_keys_and_bearer_tokens() -> None:
    Secret(KEY)  # seen once -> scrubbed from any error text afterwards
    e = errors.AuthenticationError(
        f"bad key {KEY}; header was Bearer abcdef123456", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert KEY not in str(e) and KEY not in repr(e) and "abcdef123456" not in str(e)
    assert e.headers["Authorization"] == "[REDACTED]"
    assert redact_text("sk-abcdefghijklmnop") == "[REDACTED]"


def test_reprs_of_objects_that_hold_keys() -> None:
    call = Call(operation="chat", provider="p", model="m", api_key=Secret(KEY))
    req = HTTPRequest(
        "POST", "http://x/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"}
    )
    for obj in (call, req):
        assert KEY not in repr(obj)
    assert redact_headers({"Authorization": "Bearer x"}) == {"Authorization": "[REDACTED]"}
