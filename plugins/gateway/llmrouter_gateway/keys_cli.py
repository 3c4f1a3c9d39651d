"""``llmrouter keys create|list|info|update|revoke``: virtual keys from a shell.

The commands open the store named by the config's ``[gateway] database_url`` (or
``database_url_env``) directly, so they work while no gateway runs. A running gateway sees a
change within its ``key_cache_ttl``. ``create`` prints the key once, on stdout, alone on its
first line (scripts read it with ``head -1``); nothing else ever prints a key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TextIO

from llmrouter.errors import ConfigError

if TYPE_CHECKING:
    from llmrouter_gateway.store import Store

__all__ = ["add_keys_arguments", "keys_command"]


def add_keys_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="routing config whose [gateway] database_url holds the keys (default: "
        "$LLMROUTER_CONFIG, else ./llmrouter.toml)",
    )
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION")
    actions.required = True

    def limits(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--alias", help="a name for the key (shown in lists and spend logs)")
        sub.add_argument("--models", help="comma-separated aliases the key may use (empty: all)")
        sub.add_argument("--rpm", type=int, help="requests per minute")
        sub.add_argument("--tpm", type=int, help="tokens per minute")
        sub.add_argument("--max-budget", help="USD the key may spend per budget period")
        sub.add_argument("--budget-period", help="budget period: 30m, 12h, 1d, 7d, 30d...")
        sub.add_argument("--duration", help="the key expires after this: 1h, 30d...")
        sub.add_argument("--metadata", help="a JSON object (team, user...)")

    create = actions.add_parser("create", help="create a key and print it once")
    limits(create)
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    info = actions.add_parser("info", help="one key's record and spend")
    info.add_argument("key_id", help="the key's id (or the key)")
    update = actions.add_parser("update", help="change a key's limits")
    update.add_argument("key_id", help="the key's id (or the key)")
    limits(update)
    update.add_argument("--block", action="store_true", help="refuse the key until --unblock")
    update.add_argument("--unblock", action="store_true", help="accept a blocked key again")
    update.add_argument("--reset-spend", action="store_true", help="start the spend at 0")
    revoke = actions.add_parser("revoke", help="revoke a key for good")
    revoke.add_argument("key_id", help="the key's id (or the key)")


def _args(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.alias is not None:
        out["alias"] = args.alias
    if args.models is not None:
        out["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.rpm is not None:
        out["rpm"] = args.rpm
    if args.tpm is not None:
        out["tpm"] = args.tpm
    if args.max_budget is not None:
        out["max_budget"] = args.max_budget
    if args.budget_period is not None:
        out["budget_period"] = args.budget_period
    if args.duration is not None:
        from llmrouter.budget import parse_period

        seconds = parse_period(args.duration)
        assert seconds is not None
        out["expires_at"] = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    if args.metadata is not None:
        try:
            meta = json.loads(args.metadata)
        except ValueError as exc:
            raise ConfigError(f"--metadata must be a JSON object: {exc}") from None
        if not isinstance(meta, dict):
            raise ConfigError('--metadata must be a JSON object, e.g. \'{"team": "search"}\'')
        out["metadata"] = meta
    return out


async def _record(store: Store, given: str) -> Any:
    from llmrouter_gateway.store import KEY_PREFIX

    record = await (store.lookup(given) if given.startswith(KEY_PREFIX) else store.get_key(given))
    if record is None:
        raise ConfigError(
            f"no key {'(the given key)' if given.startswith(KEY_PREFIX) else repr(given)}"
        )
    return record


def keys_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Handler of ``llmrouter keys ...``."""
    from llmrouter_gateway.admin import key_json
    from llmrouter_gateway.keys import database_url_from
    from llmrouter_gateway.server import _config_path

    path = _config_path(args.config)
    if path.lower().endswith((".yaml", ".yml")):
        from llmrouter_gateway.litellm_config import load_gateway_config

        config = load_gateway_config(path).config
    else:
        from llmrouter.config import load_config_file

        config = load_config_file(path)
    url = database_url_from(config.gateway)
    if url is None:
        raise ConfigError(
            f"{path} has no [gateway] database_url (or database_url_env): virtual keys are off; "
            "set it to sqlite:///path/to/keys.db or a postgresql:// URL"
        )

    def show(record: Any) -> None:
        out.write(json.dumps(key_json(record), indent=2) + "\n")

    async def run() -> int:
        from llmrouter_gateway.store import Store

        store = await Store.open(url)
        try:
            action = args.keys_action
            if action == "create":
                plaintext, record = await store.create_key(**_args(args))
                out.write(f"{plaintext}\n")
                show(record)
                err.write(
                    "the key above is shown only now: store it (the gateway keeps its hash)\n"
                )
            elif action == "list":
                records = await store.list_keys(include_revoked=args.all)
                now = datetime.now(timezone.utc)
                for record in records:
                    status = record.status(now)
                    out.write(
                        f"{record.id}  {record.key_prefix:16}  {status:8}  "
                        f"{record.alias or '-'}  spend={record.spend}\n"
                    )
            elif action == "info":
                show(await _record(store, args.key_id))
            elif action == "update":
                record = await _record(store, args.key_id)
                changes = _args(args)
                if args.block and args.unblock:
                    raise ConfigError("give --block or --unblock, not both")
                if args.block or args.unblock:
                    changes["blocked"] = bool(args.block)
                show(await store.update_key(record.id, **changes, reset_spend=args.reset_spend))
            elif action == "revoke":
                record = await _record(store, args.key_id)
                show(await store.revoke_key(record.id))
            return 0
        finally:
            await store.close()

    return asyncio.run(run())
