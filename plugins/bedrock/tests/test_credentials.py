"""The default credential chain: its failures typed and secret-free, its credentials resolved
once, refreshed ahead of expiry off the request's thread, and "none found" remembered.

Two kinds of test. Through the plugin (``build``), with the chain's real sources: a
``credential_process`` in an AWS config file (a shell command that counts its runs), and an
assume-role profile whose STS calls go over a socket to :class:`StsEmulator` (AssumeRole
answers, or an AccessDenied). And :class:`~llmrouter_bedrock.auth.CredentialCache` driven by
botocore's own ``RefreshableCredentials``, with a refresh function and a clock the test holds.
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials as BotoCredentials
from botocore.credentials import RefreshableCredentials

import llmrouter_bedrock
from llmrouter.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMRouterError,
    MissingAPIKeyError,
)
from llmrouter_bedrock.auth import CredentialCache, Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bedrock_support import REGION, SECRET, build, make_call

PROCESS_SECRET = "procSECRETvalue0123456789abcdefEXAMPLE"


def scope_key(call_params: dict[str, Any]) -> str:
    """The access key id a built request signs with."""
    request = build(make_call(**call_params))
    assert request.sign is not None
    auth = request.sign(b"{}")["authorization"]
    return auth.split("Credential=", 1)[1].split("/", 1)[0]


def no_secret_anywhere(error: BaseException, *secrets: str) -> None:
    """Neither the error nor anything chained to it holds a secret."""
    assert error.__context__ is None and error.__cause__ is None
    shown = " ".join([str(error), repr(error), repr(error.args), repr(vars(error))])
    for secret in secrets:
        assert secret not in shown


def profile_with_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> Path:
    """A ``[default]`` profile whose credentials come from ``command`` (run by ``sh -c``),
    which first appends a line to the returned counter file."""
    counter = tmp_path / "runs"
    script = f"echo run >> {shlex.quote(str(counter))}; {command}"
    config = tmp_path / "config"
    config.write_text(f"[default]\ncredential_process = /bin/sh -c {shlex.quote(script)}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_REGION", REGION)
    return counter


def runs(counter: Path) -> int:
    return len(counter.read_text().split()) if counter.exists() else 0


# --- failures of the chain: typed, told without what the chain read ------------------------------


def test_a_credential_process_that_prints_no_json_is_a_missing_key_error_without_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "' + PROCESS_SECRET
    profile_with_process(tmp_path, monkeypatch, f"printf %s {shlex.quote(output)}")
    with pytest.raises(
        MissingAPIKeyError, match=r"could not be loaded \(JSONDecodeError\)"
    ) as info:
        build(make_call())
    no_secret_anywhere(info.value, PROCESS_SECRET)


def test_a_failing_credential_process_is_named_with_botocores_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile_with_process(tmp_path, monkeypatch, "echo 'sso session expired' >&2; exit 3")
    with pytest.raises(MissingAPIKeyError, match="CredentialRetrievalError") as info:
        build(make_call())
    assert "sso session expired" in info.value.message
    no_secret_anywhere(info.value)


def test_a_credential_process_that_cannot_run_is_a_missing_key_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text(f"[default]\ncredential_process = {tmp_path / 'no-such-program'}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_REGION", REGION)
    with pytest.raises(MissingAPIKeyError, match=r"\(FileNotFoundError\)") as info:
        build(make_call())
    no_secret_anywhere(info.value)


def test_a_failure_is_remembered_so_the_chain_is_not_walked_per_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = profile_with_process(tmp_path, monkeypatch, "exit 1")
    for _ in range(3):
        with pytest.raises(MissingAPIKeyError):
            build(make_call())
    assert runs(counter) == 1


# --- STS over a socket: assume-role profiles ------------------------------------------------------


class StsEmulator:
    """STS's ``AssumeRole`` (query protocol, XML answers) on 127.0.0.1: answers with
    credentials expiring ``expires_in`` seconds from now (a fresh key id per answer), after
    ``delay`` seconds and once ``gate`` is open, or with a 403 ``AccessDenied`` when ``deny``
    is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.expires_in = 3600.0
        self.delay = 0.0
        self.deny = False
        #: Closed: answers wait until it opens (at most 30 s), so a test can hold a refresh.
        self.gate = threading.Event()
        self.gate.set()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                emulator.calls += 1
                status, body = emulator.answer(emulator.calls)
                time.sleep(emulator.delay)
                emulator.gate.wait(30)
                self.send_response(status)
                self.send_header("content-type", "text/xml")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(self, n: int) -> tuple[int, bytes]:
        ns = 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"'
        if self.deny:
            return 403, (
                f"<ErrorResponse {ns}><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                "<Message>User arn:aws:iam::123456789012:user/STSMESSAGETEXT is not authorized"
                "</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
            ).encode()
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.expires_in)
        return 200, (
            f"<AssumeRoleResponse {ns}><AssumeRoleResult><Credentials>"
            f"<AccessKeyId>ASIAASSUMED{n:09d}</AccessKeyId>"
            f"<SecretAccessKey>assumed-secret-{n}-0123456789abcdef</SecretAccessKey>"
            f"<SessionToken>assumed-token-{n}-0123456789abcdef</SessionToken>"
            f"<Expiration>{expiry.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration>"
            "</Credentials><AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId>"
            "<Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser>"
            "</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        ).encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def sts_server() -> Iterator[StsEmulator]:
    emulator = StsEmulator()
    yield emulator
    emulator.close()


@pytest.fixture
def sts(sts_server: StsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StsEmulator:
    """An ``assumer`` profile (a role assumed with a ``base`` profile's keys) whose STS is the
    emulator, reset."""
    sts_server.calls, sts_server.expires_in, sts_server.delay = 0, 3600.0, 0.0
    sts_server.deny = False
    sts_server.gate.set()
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text(
        "[profile assumer]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
        f"source_profile = base\nregion = {REGION}\n"
    )
    credentials.write_text(
        f"[base]\naws_access_key_id = AKIDBASEPROFILE00001\naws_secret_access_key = {SECRET}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_server.url)
    return sts_server


def test_a_role_sts_refuses_is_an_authentication_error_naming_only_the_code(
    sts: StsEmulator,
) -> None:
    sts.deny = True
    with pytest.raises(AuthenticationError, match="ClientError AccessDenied") as info:
        build(make_call(aws_profile_name="assumer"))
    no_secret_anywhere(info.value, "STSMESSAGETEXT", SECRET)


def test_assumed_credentials_are_resolved_once_for_every_call(sts: StsEmulator) -> None:
    keys = {scope_key({"aws_profile_name": "assumer"}) for _ in range(5)}
    assert keys == {"ASIAASSUMED000000001"} and sts.calls == 1


def test_credentials_near_expiry_are_refreshed_in_the_background(sts: StsEmulator) -> None:
    """12 minutes left: inside the refresh window, far from expiry. Calls go on with the
    current credentials at once while the refresh (a slow STS) runs; then use the new ones."""
    sts.expires_in = 12 * 60
    assert scope_key({"aws_profile_name": "assumer"}) == "ASIAASSUMED000000001"
    sts.gate.clear()  # STS holds every answer until the calls below are done
    try:
        for _ in range(3):
            # a call that waited for the refresh would get the new key, once the gate opens
            assert scope_key({"aws_profile_name": "assumer"}) == "ASIAASSUMED000000001"
        deadline = time.monotonic() + 5
        while sts.calls < 2:  # the refresh did start, and is held at STS meanwhile
            assert time.monotonic() < deadline, "no background refresh was started"
            time.sleep(0.01)
    finally:
        sts.gate.set()
    deadline = time.monotonic() + 5
    while scope_key({"aws_profile_name": "assumer"}) != "ASIAASSUMED000000002":
        assert time.monotonic() < deadline, "the background refresh never landed"
        time.sleep(0.05)
    assert sts.calls == 2  # one refresh, however many calls saw the credentials due


def test_warm_credentials_resolves_the_chain_ahead_of_the_first_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = profile_with_process(
        tmp_path,
        monkeypatch,
        'echo \'{"Version": 1, "AccessKeyId": "AKIDWARMED0000000001", '
        '"SecretAccessKey": "warmed-secret-0123456789"}\'',
    )
    llmrouter_bedrock.warm_credentials()
    assert runs(counter) == 1
    assert scope_key({}) == "AKIDWARMED0000000001" and runs(counter) == 1


def test_warm_credentials_raises_what_a_call_would(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingAPIKeyError, match="no AWS credentials"):
        llmrouter_bedrock.warm_credentials()
    with pytest.raises(InvalidRequestError, match="'nosuch' is not in your AWS config"):
        llmrouter_bedrock.warm_credentials(aws_profile_name="nosuch")


# --- the cache, on botocore's RefreshableCredentials with a clock the test holds ------------------


class Clock:
    """Wall time for botocore's ``time_fetcher`` and a monotonic count for the cache."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        self.elapsed = 0.0

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)
        self.elapsed += seconds

    def wall(self) -> dt.datetime:
        return self.now

    def monotonic(self) -> float:
        return self.elapsed


class Refresher:
    """botocore's ``refresh_using``: credentials ``key-<n>`` expiring ``lifetime`` seconds
    from the clock's now; waits for ``gate`` when one is set; raises when ``fail`` is set."""

    def __init__(self, clock: Clock, lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.gate: threading.Event | None = None
        self.fail = False
        self.threads: list[str] = []

    def __call__(self) -> dict[str, str]:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        if self.gate is not None:
            assert self.gate.wait(5)
        if self.fail:
            raise ConnectionError("the identity service is down")
        expiry = self.clock.now + dt.timedelta(seconds=self.lifetime)
        n = self.calls
        return {
            "access_key": f"AKIDREFRESHED{n:07d}",
            "secret_key": f"secret-{n}-0123456789",
            "token": f"token-{n}-0123456789",
            "expiry_time": expiry.isoformat(),
        }


def first_credentials(clock: Clock, refresher: Refresher) -> RefreshableCredentials:
    """botocore's temporary credentials, valid for an hour from the clock's now, refreshed by
    ``refresher``, on the clock's time."""
    return RefreshableCredentials(
        "AKIDFIRST00000000001",
        "first-secret-0123456789",
        "first-token",
        clock.now + dt.timedelta(hours=1),
        refresher,
        "test",
        time_fetcher=clock.wall,
    )


def key_of(outcome: object) -> str:
    assert isinstance(outcome, Credentials), outcome
    return outcome.access_key


def wait_for(cache: CredentialCache, key: str) -> None:
    deadline = time.monotonic() + 5
    while key_of(cache.get()) != key:
        assert time.monotonic() < deadline, f"never got {key}"
        time.sleep(0.01)


def test_the_cache_serves_the_current_credentials_while_a_refresh_runs() -> None:
    clock = Clock()
    refresher = Refresher(clock)
    provider = first_credentials(clock, refresher)
    cache = CredentialCache(lambda: provider, clock=clock.monotonic)
    assert key_of(cache.get()) == "AKIDFIRST00000000001"
    clock.advance(50 * 60)  # 10 minutes left: due for a refresh, not expired
    refresher.gate = threading.Event()
    for _ in range(5):  # the refresh waits at the gate; the calls do not
        assert key_of(cache.get()) == "AKIDFIRST00000000001"
    refresher.gate.set()
    wait_for(cache, "AKIDREFRESHED0000001")
    assert refresher.calls == 1 and refresher.threads == ["llmrouter-bedrock-credentials"]


def test_expired_credentials_are_refreshed_before_the_call_goes_on() -> None:
    clock = Clock()
    refresher = Refresher(clock)
    provider = first_credentials(clock, refresher)
    cache = CredentialCache(lambda: provider, clock=clock.monotonic)
    cache.get()
    clock.advance(60 * 60 - 30)  # 30 seconds left: too few to send a request with
    assert key_of(cache.get()) == "AKIDREFRESHED0000001"
    assert refresher.threads == [threading.current_thread().name]


def test_a_failed_background_refresh_keeps_the_credentials_and_waits_to_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    refresher = Refresher(clock)
    refresher.fail = True
    provider = first_credentials(clock, refresher)
    cache = CredentialCache(lambda: provider, clock=clock.monotonic, refresh_retry=30)
    cache.get()
    clock.advance(55 * 60)  # 5 minutes left: botocore's refresh raises in that window
    with caplog.at_level(logging.WARNING, logger="llmrouter.bedrock"):
        assert key_of(cache.get()) == "AKIDFIRST00000000001"
        deadline = time.monotonic() + 5
        while not any("background failed" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    logged = [r.getMessage() for r in caplog.records if "background failed" in r.getMessage()]
    assert logged and "ConnectionError" in logged[0] and "identity service" not in logged[0]
    for _ in range(5):
        assert key_of(cache.get()) == "AKIDFIRST00000000001"
    time.sleep(0.05)
    assert refresher.calls == 1  # not retried within refresh_retry
    refresher.fail = False
    clock.advance(31)
    cache.get()
    wait_for(cache, "AKIDREFRESHED0000002")


def test_no_credentials_is_remembered_for_a_while() -> None:
    clock = Clock()
    loads: list[int] = []

    def load() -> BotoCredentials | None:
        loads.append(1)
        return None if len(loads) < 3 else BotoCredentials("AKIDLATE000000000001", "s" * 20)

    cache = CredentialCache(load, clock=clock.monotonic, failure_ttl=10)
    for _ in range(4):
        outcome = cache.get()
        assert not isinstance(outcome, Credentials)
        error = outcome.error("bedrock", "m")
        assert isinstance(error, MissingAPIKeyError) and isinstance(error, LLMRouterError)
    assert len(loads) == 1
    clock.advance(10.5)
    cache.get()
    assert len(loads) == 2
    clock.advance(10.5)
    assert key_of(cache.get()) == "AKIDLATE000000000001" and len(loads) == 3


def test_concurrent_first_calls_resolve_once() -> None:
    loads: list[str] = []

    def load() -> BotoCredentials:
        loads.append(threading.current_thread().name)
        time.sleep(0.05)  # a slow chain: every thread arrives while it runs
        return BotoCredentials("AKIDONCE000000000001", "s" * 20)

    cache = CredentialCache(load)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(key_of(cache.get()))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == ["AKIDONCE000000000001"] * 8 and len(loads) == 1
