"""The admin API of virtual keys: ``/key/generate``, ``/key/info``, ``/key/list``,
``/key/update``, ``/key/delete`` and ``/spend/logs``, master key only.

The paths and most field names are LiteLLM's proxy's, so scripts written for it keep working:
``models``, ``max_budget``, ``budget_duration``, ``duration``, ``metadata``, ``key_alias``,
``rpm_limit``, ``tpm_limit`` in requests; ``key`` (the plaintext, once), ``token`` (our key id),
``expires``, ``spend`` in answers. The store's own names (``alias``, ``rpm``, ``tpm``,
``budget_period``, ``expires_at``) are accepted too. Where the two differ (docs/gateway.md):
``/key/delete`` revokes rather than deletes (the spend rows keep their key), ``token`` is a
random id rather than the key's hash, and fields LiteLLM has that this gateway does not
(``team_id``, ``user_id``, ``aliases``, ``permissions``...) are refused by name instead of being
ignored; put a team or user in ``metadata``.

A plaintext key is accepted wherever a key is named (``?key=sk-llmr-...``) but is never echoed:
answers name a key by its id and its display prefix only.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrouter.errors import InvalidRequestError, LLMRouterError
from llmrouter_gateway.errors import ErrorReply, gateway_error

if TYPE_CHECKING:
    from llmrouter_gateway.app import Gateway
    from llmrouter_gateway.keys import Keys
    from llmrouter_gateway.store import KeyRecord, SpendLog

__all__ = ["admin_routes", "key_json", "spend_json"]

_JSON = "application/json"

#: Request field -> the store's parameter (LiteLLM's names and the store's own).
_FIELDS = {
    "models": "models",
    "rpm": "rpm",
    "rpm_limit": "rpm",
    "tpm": "tpm",
    "tpm_limit": "tpm",
    "max_budget": "max_budget",
    "budget_period": "budget_period",
    "budget_duration": "budget_period",
    "metadata": "metadata",
    "alias": "alias",
    "key_alias": "alias",
    "expires": "expires_at",
    "expires_at": "expires_at",
    "duration": "duration",
}
_UPDATE_ONLY = {"key", "blocked", "reset_spend"}


class _Problem(Exception):
    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.message)
        self.reply = reply


def _bad(message: str, param: str | None = None) -> _Problem:
    return _Problem(gateway_error(400, message, param=param, code="invalid_request"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _usd(value: Decimal | None) -> float | None:
    # JSON numbers, as LiteLLM answers; the exact Decimal is in the database
    return float(value) if value is not None else None


def key_json(record: KeyRecord, now: datetime | None = None) -> dict[str, Any]:
    """A key's record as the admin API shows it (never the key or its hash)."""
    now = now or datetime.now(timezone.utc)
    return {
        "token": record.id,
        "key_name": record.key_prefix,
        "key_alias": record.alias,
        "models": list(record.models),
        "rpm_limit": record.rpm,
        "tpm_limit": record.tpm,
        "max_budget": _usd(record.max_budget),
        "budget_duration": record.budget_period,
        "budget_reset_at": _iso(record.budget_reset_at),
        "spend": _usd(record.spend_in_period(now)),
        "expires": _iso(record.expires_at),
        "metadata": dict(record.metadata),
        "blocked": record.blocked,
        "revoked_at": _iso(record.revoked_at),
        "status": record.status(now),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
    }


def spend_json(row: SpendLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "key_id": row.key_id,
        "alias": row.alias,
        "deployment": row.deployment,
        "provider": row.provider,
        "model": row.model,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "total_tokens": row.prompt_tokens + row.completion_tokens,
        "spend": _usd(row.cost_usd),
        "latency_ms": row.latency_ms,
        "status_code": row.status_code,
        "outcome": row.outcome,
        "error_type": row.error_type,
        "request_id": row.request_id,
        "created_at": _iso(row.created_at),
    }


def _when(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{name} must be an ISO 8601 date or time, got {type(value).__name__}", name)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(
            f"{name} must be an ISO 8601 date or time such as 2030-01-31T00:00:00Z, "
            f"got {value[:64]!r}",
            name,
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _store_args(body: Mapping[str, Any], *, update: bool) -> dict[str, Any]:
    allowed = set(_FIELDS) | (_UPDATE_ONLY if update else set())
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(
            f"unsupported field(s) {', '.join(repr(u[:64]) for u in unknown[:10])}; this gateway "
            f"takes: {', '.join(sorted(allowed))} (put a team or user in metadata)",
            unknown[0][:64],
        )
    args: dict[str, Any] = {}
    for name, value in body.items():
        target = _FIELDS.get(name)
        if target is None:
            continue
        if target in args:
            raise _bad(f"{name!r} is given twice (under two names); give it once", name)
        args[target] = value
    if "expires_at" in args:
        args["expires_at"] = _when(args["expires_at"], "expires")
    if "duration" in args:
        if "expires_at" in args:
            raise _bad("give either duration or expires, not both", "duration")
        duration = args.pop("duration")
        if duration is None or duration == "permanent":
            args["expires_at"] = None
        else:
            from llmrouter.budget import parse_period

            try:
                seconds = parse_period(duration)
            except LLMRouterError as exc:
                raise _bad(f"duration: {exc}", "duration") from None
            assert seconds is not None
            args["expires_at"] = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    if "models" in args and args["models"] is None:
        args["models"] = ()
    if "metadata" in args and args["metadata"] is None:
        args["metadata"] = {}
    return args


async def _resolve(keys: Keys, given: object) -> KeyRecord:
    """A key named by its id or its plaintext."""
    from llmrouter_gateway.store import KEY_PREFIX

    if not isinstance(given, str) or not given.strip():
        raise _bad("name the key: its id (token) or the key itself", "key")
    given = given.strip()
    if given.startswith(KEY_PREFIX):
        record = await keys.store.lookup(given)
        shown = "the given key"
    else:
        record = await keys.store.get_key(given)
        shown = f"key id {given[:64]!r}"
    if record is None:
        raise _Problem(
            gateway_error(404, f"{shown} does not exist", param="key", code="key_not_found")
        )
    return record


def _reply(payload: Any, status: int = 200) -> Response:
    return Response(to_json(payload), status_code=status, media_type=_JSON)


def _error(reply: ErrorReply) -> Response:
    return Response(
        to_json(reply.body()), status_code=reply.status, headers=reply.headers, media_type=_JSON
    )


Endpoint = Callable[["Gateway", "Keys", Request], Coroutine[Any, Any, Any]]


def _admin(
    gateway: Gateway, endpoint: Endpoint
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    async def handle(request: Request) -> Response:
        denied = await gateway._master_only(request)
        if denied is not None:
            return _error(denied)
        keys = gateway.keys
        if keys is None:
            return _error(
                gateway_error(
                    404,
                    "virtual keys are off on this gateway: set [gateway] database_url to turn "
                    "them on",
                    code="keys_disabled",
                )
            )
        try:
            return _reply(await endpoint(gateway, keys, request))
        except _Problem as exc:
            return _error(exc.reply)
        except InvalidRequestError as exc:
            return _error(
                gateway_error(
                    400, exc.message, param=getattr(exc, "param", None), code="invalid_request"
                )
            )
        except LLMRouterError as exc:
            from llmrouter_gateway.store import KeyNotFoundError

            if isinstance(exc, KeyNotFoundError):
                return _error(gateway_error(404, exc.message, param="key", code="key_not_found"))
            raise
        except (OSError, TimeoutError) as exc:
            return _error(_unavailable(exc))
        except Exception as exc:
            from sqlalchemy.exc import SQLAlchemyError

            if isinstance(exc, SQLAlchemyError):
                return _error(_unavailable(exc))
            raise

    return handle


def _unavailable(exc: BaseException) -> ErrorReply:
    return gateway_error(
        503,
        f"the key database did not answer ({type(exc).__name__}); retry shortly",
        code="key_store_unavailable",
    )


async def _object(gateway: Gateway, request: Request) -> dict[str, Any]:
    from llmrouter_gateway.requests import RequestProblem

    try:
        body = await gateway._body(request)
    except RequestProblem as exc:
        raise _bad(exc.message) from None
    if not isinstance(body, dict):
        raise _bad(f"the body must be a JSON object, got {type(body).__name__}")
    return body


async def _generate(gateway: Gateway, keys: Keys, request: Request) -> Any:
    args = _store_args(await _object(gateway, request), update=False)
    plaintext, record = await keys.store.create_key(**args)
    # The one time the key exists outside its owner's hands: in this answer.
    return {"key": str(plaintext), **key_json(record)}


async def _info(gateway: Gateway, keys: Keys, request: Request) -> Any:
    record = await _resolve(keys, request.query_params.get("key"))
    return {"key": record.id, "info": key_json(record)}


async def _list(gateway: Gateway, keys: Keys, request: Request) -> Any:
    revoked = request.query_params.get("include_revoked", "false").lower() in ("1", "true", "yes")
    records = await keys.store.list_keys(include_revoked=revoked)
    return {"keys": [key_json(record) for record in records], "total_count": len(records)}


async def _update(gateway: Gateway, keys: Keys, request: Request) -> Any:
    from llmrouter_gateway.store import UNSET

    body = await _object(gateway, request)
    record = await _resolve(keys, body.get("key"))
    args = _store_args(body, update=True)
    args.pop("key", None)
    reset = body.get("reset_spend", False)
    args.pop("reset_spend", None)
    if not isinstance(reset, bool):
        raise _bad(f"reset_spend must be true or false, got {reset!r}", "reset_spend")
    blocked = body.get("blocked", UNSET)
    updated = await keys.store.update_key(record.id, **args, blocked=blocked, reset_spend=reset)
    if reset:
        await keys.limiter.reset_spend(record.id)
    keys.forget(updated)
    return key_json(updated)


async def _delete(gateway: Gateway, keys: Keys, request: Request) -> Any:
    body = await _object(gateway, request)
    named: Any = body.get("keys", body.get("key"))
    if isinstance(named, str):
        named = [named]
    if not isinstance(named, list) or not named or len(named) > 1000:
        raise _bad('name the keys to revoke: {"keys": ["<id or key>", ...]}', "keys")
    records = [await _resolve(keys, given) for given in named]
    revoked = []
    for record in records:
        done = await keys.store.revoke_key(record.id)
        keys.forget(done)
        revoked.append(done.id)
    return {"deleted_keys": revoked}


async def _spend_logs(gateway: Gateway, keys: Keys, request: Request) -> Any:
    query = request.query_params
    named = query.get("key_id") or query.get("api_key")
    key_id = (await _resolve(keys, named)).id if named else None
    since = _when(query.get("since") or query.get("start_date"), "since")
    until = _when(query.get("until") or query.get("end_date"), "until")
    raw_limit = query.get("limit", "100")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise _bad(f"limit must be an integer, got {raw_limit[:32]!r}", "limit") from None
    rows = await keys.store.spend_logs(key_id=key_id, since=since, until=until, limit=limit)
    return [spend_json(row) for row in rows]


def admin_routes(gateway: Gateway) -> list[Route]:
    return [
        Route("/key/generate", _admin(gateway, _generate), methods=["POST"]),
        Route("/key/info", _admin(gateway, _info), methods=["GET"]),
        Route("/key/list", _admin(gateway, _list), methods=["GET"]),
        Route("/key/update", _admin(gateway, _update), methods=["POST"]),
        Route("/key/delete", _admin(gateway, _delete), methods=["POST"]),
        Route("/spend/logs", _admin(gateway, _spend_logs), methods=["GET"]),
    ]
