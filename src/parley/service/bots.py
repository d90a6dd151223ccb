"""Bots: their definitions and installations, as the Admin API creates, changes, lists and shows them."""

import secrets
from typing import Any

import msgspec
from msgspec import UNSET

from parley import ids
from parley.chat import definition as chat_definition
from parley.errors import InvalidPayload, LimitExceeded, ResourceNotFound
from parley.service import outbox
from parley.service.admin_models import Bot, BotSummary, CreateBot, InstalledIntegration, UpdateBot
from parley.service.common import Page
from parley.service.definition_rules import check_definition, merge_map, to_plain
from parley.service.integrations import summarize
from parley.service.models import encode_json
from parley.store import bots as bot_store
from parley.store import integrations as integration_store
from parley.store.bots import BotRow, InstallationDetailRow, InstallationRow
from parley.store.database import Connection
from parley.store.sql import Order

MAX_INSTALLATIONS = 30
# An installation's status, as the Admin API names it.
REGISTRATION_FAILED = "registration_failed"
UNREGISTERED = "unregistered"
PENDING = {"register": "registration_pending", "unregister": "unregistration_pending"}
DONE = {"register": "registered", "unregister": UNREGISTERED}


def _bot_document(body: CreateBot) -> dict[str, Any]:
    plain = to_plain(body)
    document = {key: value for key, value in plain.items() if key not in ("name", "url", "dev", "code")}
    for section in ("user", "conversation", "message"):
        document[section] = {"tags": (plain.get(section) or {}).get("tags", {})}
    return document


async def create_bot(conn: Connection, body: CreateBot, *, now: str) -> str:
    document = _bot_document(body)
    check_definition(document, owner="The bot")
    bot_id = ids.new_id(ids.BOT)
    await bot_store.insert_bot(
        conn,
        id=bot_id,
        name=body.name or bot_id,
        definition=encode_json(document),
        url=body.url,
        signing_secret=secrets.token_urlsafe(32),
        dev=body.dev,
        now=now,
    )
    return bot_id


async def require_bot(conn: Connection, bot_id: str) -> BotRow:
    row = await bot_store.get_bot(conn, bot_id)
    if row is None:
        raise ResourceNotFound(f"Bot {bot_id} not found.")
    return row


async def update_bot(conn: Connection, bot_id: str, body: UpdateBot, *, now: str) -> None:
    row = await require_bot(conn, bot_id)
    document: dict[str, Any] = msgspec.json.decode(row["definition"])
    for section in ("user", "conversation", "message"):
        update = getattr(body, section)
        if update is not None:
            tags = document.setdefault(section, {"tags": {}})
            merge_map(tags, "tags", update.tags)
    merge_map(document, "states", body.states)
    merge_map(document, "events", body.events)
    merge_map(document, "actions", body.actions)
    merge_map(document, "recurringEvents", body.recurring_events)
    for field in ("description", "medias", "tags", "configuration"):
        value = getattr(body, field)
        if value is not None:
            document[field] = to_plain(value)
    if body.subscriptions is not None:
        document["subscriptions"] = {"events": to_plain(body.subscriptions.events)}
    for field, key in (("max_execution_time", "maxExecutionTime"), ("always_alive", "alwaysAlive")):
        value = getattr(body, field)
        if value is not None:
            document[key] = value
    check_definition(document, owner="The bot")
    if body.integrations:
        await _update_installations(conn, bot_id, body, now=now)
    url = row["url"] if body.url is UNSET else body.url
    await bot_store.update_bot(
        conn, id=bot_id, name=body.name or row["name"], definition=encode_json(document), url=url, now=now
    )


async def _update_installations(conn: Connection, bot_id: str, body: UpdateBot, *, now: str) -> None:
    current: dict[str, Any] = {row["alias"]: row for row in await bot_store.list_installations(conn, bot_id)}
    for key, change in (body.integrations or {}).items():
        if change is None:
            # Uninstall by alias, or by integration id in the older keying.
            aliases = [alias for alias, row in current.items() if key in (alias, row["integration_id"])]
            for alias in aliases:
                removed = current.pop(alias)
                await bot_store.delete_installation(conn, bot_id=bot_id, alias=alias)
                if removed["enabled"] and not chat_definition.is_builtin(removed["integration_id"]):
                    await outbox.lifecycle(conn, bot_id=bot_id, operation="unregister", installation=removed, now=now)
            continue
        integration_id = change.integration_id
        if integration_id is None:
            existing = current.get(key)
            integration_id = existing["integration_id"] if existing is not None else key
        integration = await integration_store.get_integration_to_install(conn, integration_id)
        if integration is None:
            raise InvalidPayload(f"Integration {integration_id} does not exist.")
        alias = key if change.integration_id is not None or key in current else integration["name"]
        previous = current.get(alias)
        await bot_store.upsert_installation(
            conn,
            bot_id=bot_id,
            alias=alias,
            integration_id=integration_id,
            enabled=change.enabled
            if change.enabled is not None
            else (bool(previous["enabled"]) if previous is not None else False),
            configuration=encode_json(change.configuration)
            if change.configuration is not None
            else (previous["configuration"] if previous is not None else "{}"),
            configuration_type=change.configuration_type
            if change.configuration_type is not None
            else (previous["configuration_type"] if previous is not None else None),
            disabled_channels=encode_json(change.disabled_channels)
            if change.disabled_channels is not None
            else (previous["disabled_channels"] if previous is not None else "[]"),
            webhook_id=previous["webhook_id"] if previous is not None else ids.new_webhook_id(),
            secret=secrets.token_urlsafe(32),
            now=now,
        )
        installed = await bot_store.get_installation(conn, bot_id=bot_id, alias=alias)
        assert installed is not None, "the installation was written just above"
        current[alias] = installed
        await _tell_integration(conn, bot_id, previous, installed, now=now)
    if len(current) > MAX_INSTALLATIONS:
        raise LimitExceeded(f"A bot may install at most {MAX_INSTALLATIONS} integrations.")


async def _tell_integration(
    conn: Connection, bot_id: str, before: InstallationRow | None, after: InstallationRow, *, now: str
) -> None:
    """`register` when an installation becomes enabled, its configuration changes while enabled,
    or it is saved again after its registration failed; `unregister` when it is disabled. The
    installation's status says where that stands."""
    was_enabled = before is not None and bool(before["enabled"])
    if after["enabled"]:
        changed = before is None or any(
            before[field] != after[field] for field in ("integration_id", "configuration", "configuration_type")
        )
        if not was_enabled or changed or after["status"] == REGISTRATION_FAILED:
            await _queue_lifecycle(conn, bot_id, "register", after, now=now)
    elif was_enabled and before is not None:
        await _queue_lifecycle(conn, bot_id, "unregister", before, now=now)
    elif before is None:
        await bot_store.set_registration(
            conn, bot_id=bot_id, alias=after["alias"], webhook_id=after["webhook_id"], status=UNREGISTERED, reason=None
        )


async def _queue_lifecycle(
    conn: Connection, bot_id: str, operation: str, installation: InstallationRow, *, now: str
) -> None:
    if chat_definition.is_builtin(installation["integration_id"]):
        # Parley serves it: registered, or not, as soon as it is saved.
        status = DONE[operation]
    else:
        await outbox.lifecycle(conn, bot_id=bot_id, operation=operation, installation=installation, now=now)
        status = PENDING[operation]
    await bot_store.set_registration(
        conn,
        bot_id=bot_id,
        alias=installation["alias"],
        webhook_id=installation["webhook_id"],
        status=status,
        reason=None,
    )


async def rotate_webhook(conn: Connection, bot_id: str, alias: str, *, now: str) -> InstallationDetailRow:
    """Gives the installation a new webhook id; the old one stops working at once. An enabled
    installation's integration is sent `register` with the new URL."""
    await require_bot(conn, bot_id)
    installation = await bot_store.get_installation(conn, bot_id=bot_id, alias=alias)
    if installation is None:
        raise ResourceNotFound(f"Installation {alias!r} not found in bot {bot_id}.")
    await bot_store.set_webhook_id(conn, bot_id=bot_id, alias=alias, webhook_id=ids.new_webhook_id(), now=now)
    rotated = await bot_store.get_installation(conn, bot_id=bot_id, alias=alias)
    assert rotated is not None, "the installation was updated just above"
    if rotated["enabled"]:
        await _queue_lifecycle(conn, bot_id, "register", rotated, now=now)
    return rotated


async def delete_bot(conn: Connection, bot_id: str) -> None:
    await require_bot(conn, bot_id)
    await bot_store.delete_bot(conn, bot_id)


def webhook_url(base_url: str, webhook_id: str, integration_id: str) -> str:
    """Where an outside service reaches an installation: one place builds it, for the Admin API,
    `register` and the relay alike. The built-in chat channel's is where its Chat API is served."""
    if chat_definition.is_builtin(integration_id):
        return f"{base_url}/chat/{webhook_id}"
    return f"{base_url}/webhooks/{webhook_id}"


async def bot_view(conn: Connection, row: BotRow, *, keyed_by_alias: bool, base_url: str) -> Bot:
    """The Bot object of the Admin API; its installations are keyed by alias when the caller
    sends `x-multiple-integrations: true`, else by integration id, as clients that cannot tell
    two installations of one integration apart read them."""
    document: dict[str, Any] = msgspec.json.decode(row["definition"])
    installations = await bot_store.list_installations(conn, row["id"])
    integrations = {
        r["id"]: r
        for r in await integration_store.get_integrations(conn, sorted({i["integration_id"] for i in installations}))
    }
    installed: dict[str, InstalledIntegration] = {}
    for installation in installations:
        integration = integrations.get(installation["integration_id"])
        if integration is None:
            continue
        installed[installation["alias"] if keyed_by_alias else integration["id"]] = summarize(
            InstalledIntegration,
            integration,
            msgspec.json.decode(integration["definition"]),
            enabled=bool(installation["enabled"]),
            webhook_url=webhook_url(base_url, installation["webhook_id"], installation["integration_id"]),
            webhook_id=installation["webhook_id"],
            configuration_type=installation["configuration_type"],
            configuration=msgspec.json.decode(installation["configuration"]),
            status=installation["status"],
            status_reason=installation["status_reason"],
            disabled_channels=msgspec.json.decode(installation["disabled_channels"]),
        )
    recurring = {
        name: {**definition, "failedAttempts": 0, "lastFailureReason": None}
        for name, definition in (document.get("recurringEvents") or {}).items()
    }
    return Bot(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        signing_secret=row["signing_secret"],
        integrations=installed,
        plugins={},
        user=document.get("user") or {"tags": {}},
        conversation=document.get("conversation") or {"tags": {}},
        message=document.get("message") or {"tags": {}},
        states=document.get("states") or {},
        configuration={"data": {}, "schema": {}, **(document.get("configuration") or {})},
        events=document.get("events") or {},
        recurring_events=recurring,
        subscriptions=document.get("subscriptions") or {"events": None},
        actions=document.get("actions") or {},
        tags=document.get("tags") or {},
        name=row["name"],
        dev=bool(row["dev"]),
        always_alive=bool(document.get("alwaysAlive", False)),
        status="active",
        medias=document.get("medias") or [],
        url=row["url"],
        description=document.get("description", UNSET),
        max_execution_time=document.get("maxExecutionTime", UNSET),
    )


def bot_summary(row: BotRow) -> BotSummary:
    document: dict[str, Any] = msgspec.json.decode(row["definition"])
    return BotSummary(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        name=row["name"],
        tags=document.get("tags") or {},
    )


async def list_bots(conn: Connection, *, dev: bool | None, order: Order, page: Page) -> tuple[list[BotRow], str | None]:
    return await bot_store.list_bots(conn, dev=bool(dev), order=order, cursor=page.cursor, limit=page.size)
