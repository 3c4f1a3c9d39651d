"""Who and where for a bedrock call: its credentials, its region and endpoint, and the SigV4
signature over each request's final body.

Two ways to authenticate:

- a **Bedrock API key** (a bearer token): ``api_key=``, else ``AWS_BEARER_TOKEN_BEDROCK`` when
  the call names no AWS credentials of its own (no keys, no profile); sent as
  ``Authorization: Bearer``. No botocore. (botocore's rule differs: with the variable set,
  boto3 sends the bearer token even when keys are passed in code; here keys or a profile the
  call names win, since the call asked for them.)
- **AWS credentials**, signed with Signature Version 4 (service ``bedrock``): the call's
  ``aws_access_key_id``/``aws_secret_access_key`` (+ ``aws_session_token``), else the standard
  AWS chain through botocore (``aws_profile_name=`` or ``AWS_PROFILE``; environment variables,
  shared credentials and config files, SSO, web identity, container and instance roles).
  botocore is imported on the first such call, never at ``import llmrouter`` or at the
  plugin's import. The chain is kept per profile and per the environment variables it reads
  (a changed variable is a new chain), each with a :class:`CredentialCache`: resolved once
  (blocking: :func:`warm_credentials` does it ahead of time), temporary credentials refreshed
  ahead of expiry in a background thread, a failure remembered for
  :data:`NO_CREDENTIALS_TTL` seconds. A failure of the chain, whatever it raised, is a typed
  error naming only what failed, never text it read (a credential process's output).

The region is ``aws_region_name=``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION`` (botocore
reads only the latter; ``AWS_REGION`` is what the other AWS SDKs and Lambda set), else the
profile's ``region``. The endpoint is ``api_base=``, else ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
(botocore's variable for this service), else ``AWS_ENDPOINT_URL``, else
``https://bedrock-runtime.{region}.amazonaws.com``.

The signature is made by :class:`SigV4Signer`, which the core calls with the body's final
bytes just before each send (``HTTPRequest.sign``), so it covers exactly the body sent and is
fresh on every attempt. The URL and headers it signs are fixed when the request is built: an
httpx client whose default params, event hooks or auth change them afterwards breaks the
signature. Nothing here prints a secret: the classes holding one have reprs that say only
whether it is set.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from llmrouter.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMRouterError,
    MissingAPIKeyError,
)
from llmrouter.pipeline import Call
from llmrouter.provider import resolve_api_base, resolve_api_key
from llmrouter.secrets import Secret, remember_secret
from llmrouter_bedrock.options import AwsSettings

__all__ = [
    "BEARER_ENV",
    "ENDPOINT_ENV",
    "EXPIRY_MARGIN",
    "NO_CREDENTIALS_TTL",
    "REFRESH_AHEAD",
    "REFRESH_RETRY",
    "REGION_ENV",
    "SERVICE",
    "CredentialCache",
    "Credentials",
    "SigV4Signer",
    "credentials",
    "default_endpoint",
    "endpoint",
    "region",
    "warm_credentials",
]

#: SigV4's service name for Bedrock (the service model's ``signingName``).
SERVICE: Final = "bedrock"
#: Where a Bedrock API key is read from (botocore reads the same variable).
BEARER_ENV: Final = ("AWS_BEARER_TOKEN_BEDROCK",)
REGION_ENV: Final = ("AWS_REGION", "AWS_DEFAULT_REGION")
ENDPOINT_ENV: Final = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL")
#: The variables the default credential chain reads: a change in any starts a new session.
_CHAIN_ENV: Final = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_DEFAULT_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_EC2_METADATA_DISABLED",
)
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_NO_CREDENTIALS_HELP = (
    "pass aws_access_key_id= and aws_secret_access_key= (or aws_profile_name=), set "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, sign in with `aws sso login`, "
    "run where an instance or container role is available, or use a Bedrock API key "
    "(api_key= or AWS_BEARER_TOKEN_BEDROCK)"
)


def default_endpoint(region_name: str) -> str:
    """Bedrock Runtime's endpoint in ``region_name``."""
    return f"https://bedrock-runtime.{region_name}.amazonaws.com"


class Credentials:
    """AWS credentials for one request: what botocore's signer reads (``access_key``,
    ``secret_key``, ``token``), with a repr that shows none of them."""

    __slots__ = ("access_key", "secret_key", "token")

    def __init__(self, access_key: str, secret_key: str, token: str | None) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token

    def __repr__(self) -> str:
        return f"Credentials(<redacted>, token={'set' if self.token else 'unset'})"

    def __reduce__(self) -> Any:
        raise TypeError("AWS credentials are not picklable")


# --- the default chain (botocore): one cached source per profile and environment --------------

_log = logging.getLogger("llmrouter.bedrock")

#: Seconds a failed resolution of the chain ("no credentials found", a credential process that
#: failed, an unknown profile...) is remembered for its source: calls within it get the same
#: typed error at once instead of walking the chain (files, processes, the network) again.
NO_CREDENTIALS_TTL: Final = 10.0
#: Temporary credentials with fewer seconds than this left are refreshed in a background
#: thread while requests go on being signed with them (botocore's advisory refresh window).
REFRESH_AHEAD: Final = 15 * 60
#: A request waits for a refresh only when its credentials have fewer seconds than this left:
#: expired, for a request that takes time to reach AWS.
EXPIRY_MARGIN: Final = 60
#: The least time between two background refreshes of one source (a refresh that failed, or
#: one that brought credentials that are already due again, is not retried on every request).
REFRESH_RETRY: Final = 30.0

_ENV_HELP: Final = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", *BEARER_ENV)


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a source has no credentials, as plain text with no secret in it: the typed error
    is built from it per call, outside any ``except`` block, so no exception of the chain (a
    ``JSONDecodeError`` holds a credential process's whole output, secret key included) is
    ever chained to it."""

    kind: Literal["missing", "failed", "refused", "profile"]
    detail: str = ""
    profile: str | None = None

    def error(self, provider: str, model: str | None) -> LLMRouterError:
        if self.kind == "profile":
            return InvalidRequestError(
                f"the AWS profile {self.profile!r} is not in your AWS config or credentials "
                "file; check aws_profile_name= (or AWS_PROFILE)",
                param="aws_profile_name",
                provider=provider,
                model=model,
            )
        if self.kind == "refused":
            # An AWS service of the chain (STS, SSO) refused to hand out credentials.
            return AuthenticationError(
                f"the AWS credential chain could not get credentials for {provider}: "
                f"{self.detail}; check the role or sign-in your AWS profile uses, or "
                + _NO_CREDENTIALS_HELP,
                provider=provider,
                model=model,
            )
        if self.kind == "failed":
            return MissingAPIKeyError(
                f"the AWS credentials for {provider} could not be loaded ({self.detail}); "
                + _NO_CREDENTIALS_HELP,
                env_vars=list(_ENV_HELP),
                provider=provider,
                model=model,
            )
        return MissingAPIKeyError(
            f"no AWS credentials for {provider}: " + _NO_CREDENTIALS_HELP,
            env_vars=list(_ENV_HELP),
            provider=provider,
            model=model,
        )


def _failure_of(exc: Exception, profile: str | None) -> _Failure:
    """What went wrong, told without any text an exception of unknown origin may hold."""
    from botocore.exceptions import (  # type: ignore[import-untyped]
        BotoCoreError,
        ClientError,
        ProfileNotFound,
    )

    if isinstance(exc, ProfileNotFound):
        return _Failure("profile", profile=profile or os.environ.get("AWS_PROFILE"))
    if isinstance(exc, ClientError):
        # The service's error code is an identifier (AccessDenied, ExpiredToken); its message
        # is left out.
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc.response, dict) else None
        shown = f"ClientError {code}" if isinstance(code, str) and code.isidentifier() else ""
        return _Failure("refused", shown or "ClientError")
    if isinstance(exc, BotoCoreError):
        # botocore's own messages name what failed (a provider, a file, a missing field), not
        # the credentials it read.
        return _Failure("failed", f"{type(exc).__name__}: {exc}")
    return _Failure("failed", type(exc).__name__)


class CredentialCache:
    """The credentials of one source (a profile of the default chain, with the environment it
    read), resolved once and then served from memory.

    - The first :meth:`get` resolves them under :attr:`lock`: ``load()`` (botocore's
      ``Session.get_credentials``, which walks the chain) and the first
      ``get_frozen_credentials()``. That one is blocking (an SSO token file, a credential
      process, STS, the instance metadata service); concurrent first calls wait for it and
      use its result. :func:`warm_credentials` pays it ahead of the first request.
    - Temporary credentials (botocore's ``RefreshableCredentials``) with fewer than
      ``refresh_ahead`` seconds left are refreshed in a daemon thread while requests go on
      being signed with the current ones; a request waits only when fewer than
      ``expiry_margin`` seconds are left (or the refresh failed until then).
    - A failure is remembered for ``failure_ttl`` seconds (``clock`` time): calls in that
      time get the same typed error without walking the chain again.

    Everything that touches botocore's objects holds :attr:`lock` (a botocore ``Session`` is
    not thread-safe); serving credentials already resolved takes no lock.
    """

    def __init__(
        self,
        load: Callable[[], Any],
        *,
        profile: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        failure_ttl: float = NO_CREDENTIALS_TTL,
        refresh_ahead: float = REFRESH_AHEAD,
        expiry_margin: float = EXPIRY_MARGIN,
        refresh_retry: float = REFRESH_RETRY,
    ) -> None:
        self.lock = threading.Lock()
        self._load = load
        self._profile = profile
        self._clock = clock
        self._failure_ttl = failure_ttl
        self._refresh_ahead = refresh_ahead
        self._expiry_margin = expiry_margin
        self._refresh_retry = refresh_retry
        self._provider: Any = None  # botocore's credentials object, once loaded
        #: ``provider.refresh_needed`` for temporary credentials, else None (they never expire)
        self._due: Callable[[float], bool] | None = None
        self._current: Credentials | None = None
        self._failure: _Failure | None = None
        self._failure_until = 0.0
        self._starting = threading.Lock()
        self._refreshing = False
        self._next_refresh = 0.0

    def get(self) -> Credentials | _Failure:
        """The credentials to sign with now, or why there are none."""
        current, due = self._current, self._due
        if current is not None:
            if due is None or not due(self._refresh_ahead):
                return current
            if not due(self._expiry_margin):
                self._refresh_in_background()
                return current
        with self.lock:
            current, due = self._current, self._due
            if current is not None and (due is None or not due(self._expiry_margin)):
                return current  # resolved or refreshed while this call waited
            if self._failure is not None and self._clock() < self._failure_until:
                return self._failure
            outcome = self._resolve()
            if isinstance(outcome, _Failure):
                self._failure, self._failure_until = outcome, self._clock() + self._failure_ttl
                self._current = None
            else:
                self._failure, self._current = None, outcome
            return outcome

    def _resolve(self) -> Credentials | _Failure:
        """Load (once) and freeze the credentials; call with :attr:`lock` held."""
        failure: _Failure | None = None
        try:
            provider = self._provider
            if provider is None:
                provider = self._load()
                if provider is None:
                    return _Failure("missing")
                self._provider = provider
            frozen = provider.get_frozen_credentials()
            due = getattr(provider, "refresh_needed", None)
        except Exception as exc:  # whatever the chain raises, told by type only (_failure_of)
            failure = _failure_of(exc, self._profile)
        if failure is not None:
            return failure
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            return _Failure("missing")
        self._due = due if callable(due) else None
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)

    def _refresh_in_background(self) -> None:
        """Start one refresh thread, unless one runs or the last began too recently."""
        if not self._starting.acquire(blocking=False):
            return
        try:
            now = self._clock()
            if self._refreshing or now < self._next_refresh:
                return
            self._refreshing, self._next_refresh = True, now + self._refresh_retry
        finally:
            self._starting.release()
        try:
            threading.Thread(
                target=self._refresh, name="llmrouter-bedrock-credentials", daemon=True
            ).start()
        except RuntimeError:  # no thread at interpreter shutdown: the current ones serve
            self._refreshing = False

    def _refresh(self) -> None:
        try:
            with self.lock:
                outcome = self._resolve()
                if isinstance(outcome, Credentials):
                    self._current = outcome
            if isinstance(outcome, _Failure):
                _log.warning(
                    "refreshing temporary AWS credentials in the background failed (%s); the "
                    "current ones are used until they are about to expire",
                    outcome.detail or outcome.kind,
                )
        finally:
            self._refreshing = False

    def __repr__(self) -> str:
        state = "resolved" if self._current is not None else "unresolved"
        return f"<CredentialCache profile={self._profile!r} {state}>"


class _Chain:
    """One botocore session (per profile and chain variables), its credentials and region."""

    __slots__ = ("_region", "credentials", "profile", "session")

    def __init__(self, profile: str | None) -> None:
        import botocore.session  # type: ignore[import-untyped]  # the first chain call pays

        self.profile = profile
        self.session: Any = botocore.session.Session(profile=profile)
        self.credentials = CredentialCache(self.session.get_credentials, profile=profile)
        self._region: str | bool | None = False  # False: not read yet

    def config_region(self) -> str | None:
        """The profile's ``region`` from the AWS config (read once), or None."""
        region = self._region
        if region is False:
            with self.credentials.lock:  # the session is not thread-safe
                region = self._region
                if region is False:
                    try:
                        value = self.session.get_config_variable("region")
                    except Exception:  # an unreadable config names no region
                        value = None
                    region = value if isinstance(value, str) and _REGION.fullmatch(value) else None
                    self._region = region
        assert region is not True
        return region


_CHAINS: dict[str, _Chain] = {}
_CHAINS_LOCK = threading.Lock()


def _chain(profile: str | None) -> _Chain:
    """The chain for ``profile`` and the current values of the variables it reads (a changed
    variable is a new chain)."""
    digest = hashlib.sha256((profile or "").encode())
    for name in _CHAIN_ENV:
        digest.update(b"\0" + os.environ.get(name, "").encode())
    key = digest.hexdigest()
    chain = _CHAINS.get(key)
    if chain is not None:
        return chain
    with _CHAINS_LOCK:
        chain = _CHAINS.get(key)
        if chain is None:
            if len(_CHAINS) >= 16:
                _CHAINS.clear()
            chain = _CHAINS[key] = _Chain(profile)
    return chain


def _chain_credentials(call: Call, profile: str | None) -> Credentials:
    outcome = _chain(profile).credentials.get()
    if isinstance(outcome, _Failure):
        raise outcome.error(call.provider, call.model)
    # Remembered by the scrub list (as every Secret's text is), then used as text.
    remember_secret(outcome.secret_key)
    if outcome.token:
        remember_secret(outcome.token)
    return outcome


def warm_credentials(*, aws_profile_name: str | None = None) -> None:
    """Resolve the default chain's credentials (and import botocore) now, not in the first
    request.

    A request's credentials are found when it is built, synchronously, also for
    ``acompletion``: the chain's first resolution (reading an SSO token, running a credential
    process, asking STS or the instance metadata service) then holds up the event loop once,
    for up to a second or two. Call this at start-up, e.g. ``await
    asyncio.to_thread(llmrouter_bedrock.warm_credentials)``, with the ``aws_profile_name`` the
    calls will use (``None``: ``AWS_PROFILE`` or the default profile). Raises the error a call
    would raise (:class:`~llmrouter.errors.MissingAPIKeyError`...) when there are none.
    """
    chain = _chain(aws_profile_name)
    outcome = chain.credentials.get()
    if isinstance(outcome, _Failure):
        raise outcome.error("bedrock", None)
    chain.config_region()
    # What the first signature and the first stream would import.
    for module in ("botocore.auth", "botocore.awsrequest", "botocore.eventstream"):
        importlib.import_module(module)


def credentials(call: Call, settings: AwsSettings) -> Secret | Credentials:
    """The call's credentials: a Bedrock API key (a :class:`Secret`, sent as a bearer token)
    or AWS :class:`Credentials` to sign with. Raises :class:`MissingAPIKeyError` when there
    are none, before anything is sent."""
    given = call.api_key
    if given is not None and given.get_secret_value().strip() and settings.explicit:
        raise InvalidRequestError(
            "pass api_key= (a Bedrock API key) or AWS credentials (aws_access_key_id=... or "
            "aws_profile_name=...), not both: they are two ways to authenticate",
            param="api_key",
            provider=call.provider,
            model=call.model,
        )
    if settings.access_key_id is not None:
        assert settings.secret_access_key is not None  # options check they come in pairs
        token = settings.session_token
        return Credentials(
            settings.access_key_id,
            settings.secret_access_key.get_secret_value(),
            None if token is None else token.get_secret_value(),
        )
    if settings.profile_name is None:
        # Our rule: the variable's bearer token serves a call that names no credentials (keys
        # or a profile) itself. (botocore lets the variable win over keys passed in code too.)
        key = resolve_api_key(call, BEARER_ENV, required=False)
        if key is not None:
            return key
    return _chain_credentials(call, settings.profile_name)


# --- region and endpoint ------------------------------------------------------------------------


def region(call: Call, settings: AwsSettings, *, required: bool = True) -> str | None:
    """``aws_region_name=``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the
    profile's region (botocore's config); ``None`` or, when ``required``, an
    :class:`InvalidRequestError` saying how to set one."""
    if settings.region_name is not None:
        return settings.region_name
    for name in REGION_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            if not _REGION.fullmatch(value):
                raise InvalidRequestError(
                    f"{name}={value[:40]!r} is not an AWS region name such as 'us-east-1'",
                    param="aws_region_name",
                    provider=call.provider,
                    model=call.model,
                )
            return value
    configured = _chain(settings.profile_name).config_region()
    if configured is not None:
        return configured
    if not required:
        return None
    raise InvalidRequestError(
        f"no AWS region for {call.provider}: pass aws_region_name='us-east-1' (for example), "
        "set AWS_REGION, or set a region in your AWS profile",
        param="aws_region_name",
        provider=call.provider,
        model=call.model,
    )


def endpoint(call: Call, region_name: str | None) -> str:
    """The server root: ``api_base=``, else the endpoint variables, else the region's."""
    base = resolve_api_base(
        call, ENDPOINT_ENV, "" if region_name is None else default_endpoint(region_name)
    )
    if not base:
        raise InvalidRequestError(
            f"no endpoint for {call.provider}: pass aws_region_name= (or set AWS_REGION) for "
            "Bedrock's own endpoint, or api_base= for another one",
            param="aws_region_name",
            provider=call.provider,
            model=call.model,
        )
    return base


# --- the signature ------------------------------------------------------------------------------


class SigV4Signer:
    """``HTTPRequest.sign`` for SigV4: given the body's final bytes, the ``authorization`` and
    ``x-amz-date`` headers that sign ``method url``, the ``headers`` given (``content-type``,
    ``x-amz-security-token``, the caller's ``extra_headers``), ``host`` and the body, made by
    botocore's :class:`~botocore.auth.SigV4Auth` for service ``bedrock`` in ``region``."""

    __slots__ = ("_credentials", "_headers", "_method", "_region", "_url")

    def __init__(
        self,
        credentials: Credentials,
        region_name: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
    ) -> None:
        self._credentials = credentials
        self._region = region_name
        self._method = method
        self._url = url
        self._headers = dict(headers)

    def __call__(self, body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

        request = AWSRequest(
            method=self._method, url=self._url, headers=dict(self._headers), data=body
        )
        SigV4Auth(self._credentials, SERVICE, self._region).add_auth(request)
        return {
            "authorization": request.headers["Authorization"],
            "x-amz-date": request.headers["X-Amz-Date"],
        }

    def __repr__(self) -> str:
        return f"<SigV4Signer {SERVICE} {self._region} {self._method} {self._url}>"

    def __reduce__(self) -> Any:
        raise TypeError("a request signer holds credentials and is not picklable")
