"""Who and where for a bedrock call: its credentials, its region and endpoint, and the SigV4
signature over each request's final body.

Two ways to authenticate, as the official SDK (botocore) chooses between them:

- a **Bedrock API key** (a bearer token): ``api_key=``, else ``AWS_BEARER_TOKEN_BEDROCK`` when
  the call names no AWS credentials of its own; sent as ``Authorization: Bearer``. No botocore.
- **AWS credentials**, signed with Signature Version 4 (service ``bedrock``): the call's
  ``aws_access_key_id``/``aws_secret_access_key`` (+ ``aws_session_token``), else the standard
  AWS chain through botocore (``aws_profile_name=`` or ``AWS_PROFILE``; environment variables,
  shared credentials and config files, SSO, web identity, container and instance roles).
  botocore is imported on the first such call, never at ``import llmrouter`` or at the
  plugin's import. The chain's session is kept per profile and per the environment variables
  it reads, so a changed variable is seen; temporary credentials refresh themselves (which is
  the one place a call may wait on the chain's own I/O before its request is built).

The region is ``aws_region_name=``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the
profile's ``region``. The endpoint is ``api_base=``, else ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
(botocore's variable for this service), else ``AWS_ENDPOINT_URL``, else
``https://bedrock-runtime.{region}.amazonaws.com``.

The signature is made by :class:`SigV4Signer`, which the core calls with the body's final
bytes just before each send (``HTTPRequest.sign``), so it covers exactly what is sent and is
fresh on every attempt. Nothing here prints a secret: the classes holding one have reprs that
say only whether it is set.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from llmrouter.errors import InvalidRequestError, MissingAPIKeyError
from llmrouter.pipeline import Call
from llmrouter.provider import resolve_api_base, resolve_api_key
from llmrouter.secrets import Secret
from llmrouter_bedrock.options import AwsSettings

__all__ = [
    "BEARER_ENV",
    "ENDPOINT_ENV",
    "REGION_ENV",
    "SERVICE",
    "Credentials",
    "SigV4Signer",
    "credentials",
    "default_endpoint",
    "endpoint",
    "region",
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


# --- the default chain (botocore), one session per profile and environment --------------------


@dataclass(slots=True)
class _Chain:
    session: Any
    provider: Any = None  # botocore Credentials (refreshable or not), resolved once


_CHAINS: dict[str, _Chain] = {}
_CHAINS_LOCK = threading.Lock()


def _chain(profile: str | None) -> _Chain:
    """The botocore session for ``profile`` and the current chain variables."""
    digest = hashlib.sha256((profile or "").encode())
    for name in _CHAIN_ENV:
        digest.update(b"\0" + os.environ.get(name, "").encode())
    key = digest.hexdigest()
    chain = _CHAINS.get(key)
    if chain is not None:
        return chain
    # The first call that needs the chain pays for the import.
    import botocore.session  # type: ignore[import-untyped]

    with _CHAINS_LOCK:
        chain = _CHAINS.get(key)
        if chain is None:
            if len(_CHAINS) >= 16:
                _CHAINS.clear()
            chain = _CHAINS[key] = _Chain(botocore.session.Session(profile=profile))
    return chain


def _chain_credentials(call: Call, profile: str | None) -> Credentials:
    from botocore.exceptions import BotoCoreError, ProfileNotFound  # type: ignore[import-untyped]

    try:
        chain = _chain(profile)
        provider = chain.provider
        if provider is None:
            provider = chain.provider = chain.session.get_credentials()
        frozen = None if provider is None else provider.get_frozen_credentials()
    except ProfileNotFound:
        raise InvalidRequestError(
            f"the AWS profile {profile or os.environ.get('AWS_PROFILE')!r} is not in your AWS "
            "config or credentials file; check aws_profile_name= (or AWS_PROFILE)",
            param="aws_profile_name",
            provider=call.provider,
            model=call.model,
        ) from None
    except BotoCoreError as exc:
        raise MissingAPIKeyError(
            f"the AWS credentials for {call.provider} could not be loaded ({exc}); "
            + _NO_CREDENTIALS_HELP,
            env_vars=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", *BEARER_ENV],
            provider=call.provider,
            model=call.model,
        ) from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise MissingAPIKeyError(
            f"no AWS credentials for {call.provider}: " + _NO_CREDENTIALS_HELP,
            env_vars=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", *BEARER_ENV],
            provider=call.provider,
            model=call.model,
        )
    # The secret is remembered by the scrub list (as every Secret is), then used as text.
    Secret(frozen.secret_key)
    if frozen.token:
        Secret(frozen.token)
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)


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
        # botocore's rule: a bearer token wins when the code names no credentials itself.
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
    from botocore.exceptions import BotoCoreError

    try:
        configured = _chain(settings.profile_name).session.get_config_variable("region")
    except BotoCoreError:
        configured = None
    if isinstance(configured, str) and _REGION.fullmatch(configured):
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
