"""Credentials, region, endpoint and the SigV4 signature of a bedrock request, before any I/O.

The signature made through botocore is checked against the emulator's own SigV4 code, written
from the specification (not botocore), for the same request; and no secret shows in a repr or
an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmrouter.errors import InvalidRequestError, MissingAPIKeyError
from llmrouter.pipeline import HTTPRequest
from llmrouter.secrets import Secret
from llmrouter_bedrock.options import parse_options
from llmrouter_bedrock.testing import sigv4_signature

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedrock_support import HI, KEY_ID, REGION, SECRET, TOKEN, build, make_call

KEYS = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET}


def write_aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config with a default region and a ``dev`` profile, and its credentials."""
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[default]\nregion = eu-west-3\n\n[profile dev]\nregion = ap-south-1\n")
    credentials.write_text(
        f"[dev]\naws_access_key_id = AKIDDEVPROFILE00001\naws_secret_access_key = {SECRET}x\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))


def scope_of(request: HTTPRequest) -> list[str]:
    assert request.sign is not None
    auth = request.sign(b"{}")["authorization"]
    return auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")


# --- region and endpoint ---------------------------------------------------------------------------


def test_the_region_comes_from_the_option_then_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert build(make_call(**KEYS)).url.startswith("https://bedrock-runtime.eu-central-1.")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    request = build(make_call(**KEYS))
    assert request.url == (
        "https://bedrock-runtime.us-west-2.amazonaws.com"
        "/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse"
    )
    assert scope_of(request)[2] == "us-west-2"
    assert "ap-northeast-1" in build(make_call(aws_region_name="ap-northeast-1", **KEYS)).url


def test_the_region_comes_from_the_profile_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_aws_files(tmp_path, monkeypatch)
    assert ".eu-west-3." in build(make_call(**KEYS)).url
    request = build(make_call(aws_profile_name="dev"))
    assert ".ap-south-1." in request.url and scope_of(request)[0] == "AKIDDEVPROFILE00001"


def test_no_region_is_an_error_before_sending() -> None:
    with pytest.raises(InvalidRequestError, match="no AWS region") as info:
        build(make_call(**KEYS))
    assert info.value.param == "aws_region_name"


@pytest.mark.parametrize("region", ["us-east-1.evil.com#", "US_EAST_1", "us east"])
def test_a_region_unfit_for_a_host_name_is_refused(region: str) -> None:
    with pytest.raises(InvalidRequestError, match="not an AWS region"):
        build(make_call(aws_region_name=region, **KEYS))


def test_the_endpoint_is_api_base_then_botocores_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://global.example")
    assert build(make_call(**KEYS)).url.startswith("https://global.example/model/")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://runtime.example/")
    assert build(make_call(**KEYS)).url.startswith("https://runtime.example/model/")
    call = make_call(api_base="http://127.0.0.1:9", **KEYS)
    assert build(call).url.startswith("http://127.0.0.1:9/model/")


# --- credentials ---------------------------------------------------------------------------------


def test_explicit_keys_sign_and_a_session_token_is_sent_and_signed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    request = build(make_call(aws_session_token=TOKEN, **KEYS))
    assert request.headers["x-amz-security-token"] == TOKEN
    assert "authorization" not in request.headers
    assert request.sign is not None
    signed = request.sign(b'{"messages":[]}')
    assert signed["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"
        in (signed["authorization"])
    )


def test_the_chain_reads_the_environment_and_sees_it_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert scope_of(build(make_call()))[0] == KEY_ID
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDROTATED000000001")
    assert scope_of(build(make_call()))[0] == "AKIDROTATED000000001"


def test_no_credentials_is_a_missing_key_error_naming_the_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    with pytest.raises(MissingAPIKeyError) as info:
        build(make_call())
    assert "AWS_ACCESS_KEY_ID" in info.value.env_vars
    assert "AWS_BEARER_TOKEN_BEDROCK" in info.value.message


def test_an_unknown_profile_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    with pytest.raises(InvalidRequestError, match="'nosuch' is not in your AWS config"):
        build(make_call(aws_profile_name="nosuch"))


def test_a_bedrock_api_key_is_a_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    call = make_call()
    call.api_key = Secret("bedrock-api-key-ABSKexample0123456789")
    request = build(call)
    assert request.headers["authorization"] == "Bearer bedrock-api-key-ABSKexample0123456789"
    assert request.sign is None
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKfromtheenvironment0123")
    assert build(make_call()).headers["authorization"] == "Bearer ABSKfromtheenvironment0123"
    # A call that names its own AWS credentials is signed with them instead.
    assert build(make_call(**KEYS)).sign is not None


def test_a_bearer_token_with_an_endpoint_needs_no_region() -> None:
    call = make_call(api_base="http://127.0.0.1:9")
    call.api_key = Secret("ABSKexampleexample0123")
    assert build(call).url.startswith("http://127.0.0.1:9/model/")


def test_api_key_and_aws_credentials_together_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    call = make_call(**KEYS)
    call.api_key = Secret("ABSKexampleexample0123")
    with pytest.raises(InvalidRequestError, match="not both"):
        build(call)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"aws_access_key_id": KEY_ID}, "aws_secret_access_key"),
        ({"aws_secret_access_key": SECRET}, "aws_access_key_id"),
        ({"aws_session_token": TOKEN}, "aws_access_key_id"),
        ({**KEYS, "aws_profile_name": "dev"}, "aws_profile_name"),
        ({"aws_secret_access_key": 12345, "aws_access_key_id": KEY_ID}, "aws_secret_access_key"),
        ({"aws_profile_name": "my profile"}, "aws_profile_name"),
    ],
)
def test_credential_options_are_checked_without_quoting_them(
    params: dict[str, object], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_options(params, provider="bedrock", model="m")
    assert info.value.param == param
    assert SECRET not in str(info.value) and "12345" not in str(info.value)
    assert TOKEN not in str(info.value)


def test_extra_headers_may_not_carry_authentication(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    for name in ("Authorization", "X-Amz-Date", "x-amz-security-token"):
        with pytest.raises(InvalidRequestError, match=f"may not set '{name}'"):
            build(make_call(extra_headers={name: "x"}, **KEYS))
    request = build(make_call(extra_headers={"X-Trace": "t-1"}, **KEYS))
    assert request.headers["x-trace"] == "t-1"


# --- the signature ------------------------------------------------------------------------------


def test_the_signature_matches_an_independent_sigv4_implementation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    call = make_call(
        model="arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
        extra_headers={"X-Trace": "t  1"},
        aws_session_token=TOKEN,
        **KEYS,
    )
    request = build(call)
    body = b'{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'
    assert request.sign is not None
    signed = request.sign(body)
    auth = signed["authorization"]
    names = auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    assert names == ["content-type", "host", "x-amz-date", "x-amz-security-token", "x-trace"]
    path = request.url.split("amazonaws.com", 1)[1]
    assert ":inference-profile%2Fus.amazon" in path
    headers = {
        **request.headers,
        "host": "bedrock-runtime.us-east-1.amazonaws.com",
        "x-amz-date": signed["x-amz-date"],
    }
    expected = sigv4_signature(
        SECRET,
        method="POST",
        raw_path=path,
        query="",
        headers=headers,
        signed_headers=names,
        body=body,
        amz_date=signed["x-amz-date"],
        region=REGION,
        service="bedrock",
    )
    assert auth.endswith("Signature=" + expected)
    assert request.sign(body + b" ")["authorization"] != auth  # it covers the body


def test_no_secret_shows_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    call = make_call(aws_session_token=TOKEN, **KEYS)
    request = build(call)
    _, settings = parse_options(call.params, provider="bedrock", model=call.model)
    for shown in (repr(request), repr(request.sign), repr(settings), repr(call)):
        assert SECRET not in shown and TOKEN not in shown, shown


def test_a_call_with_hi_builds_the_same_body_whatever_the_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", REGION)
    bearer = make_call(HI)
    bearer.api_key = Secret("ABSKexampleexample0123")
    assert build(bearer).json == build(make_call(HI, **KEYS)).json
