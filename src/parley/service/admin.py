"""Admin rules: bots and their definitions, integrations, installations, API keys."""

import secrets
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET

from parley import ids
from parley.errors import InvalidPayload, LimitExceeded, ReferenceConstraint, ResourceNotFound
from parley.service import outbox
from parley.service.admin_models import (
    ApiKey,
    Bot,
    BotSummary,
    Channel,
    CreateBot,
    CreateBotApiKey,
    CreateIntegration,
    CreateIntegrationApiKey,
    InstalledIntegration,
    Integration,
    IntegrationSummary,
    NewApiKey,
    Tags,
    TagsAndCreation,
    UpdateBot,
    UpdateIntegration,
)
from parley.service.common import Page
from parley.service.identity import ADMIN, BOT, INTEGRATION, hash_token
from parley.service.models import encode_json
from parley.service.schemas import compile_schema
from parley.store import api_keys as key_store
from parley.store import bots as bot_store
from parley.store import integrations as integration_store
from parley.store.database import Connection, Row
from parley.store.sql import Order

MAX_TAG_DEFINITIONS = 50
MAX_EVENT_DEFINITIONS = 20
MAX_STATE_DEFINITIONS = 20
MAX_INSTALLATIONS = 30
# An installation's status, as the Admin API names it.
REGISTRATION_FAILED = "registration_failed"
UNREGISTERED = "unregistered"
PENDING = {"register": "registration_pending", "unregister": "unregistration_pending"}
# What a definition says about creating conversations or users when it says nothing.
NO_CREATION: dict[str, Any] = {"enabled": False, "requiredTags": []}
S = TypeVar("S", bound=IntegrationSummary)


def new_token(kind: str) -> str:
    """A fresh secret token, prefixed by its kind (`bp_bak_`, `bp_iak_`, `bp_pat_`)."""
    return f"bp_{kind}_{secrets.token_urlsafe(32)}"


def _to_plain(value: Any) -> Any:
    """A body struct as the JSON document we store (camelCase, nulls left out)."""
    return msgspec.to_builtins(value)


def _merge_map(document: dict[str, Any], section: str, changes: dict[str, Any] | None) -> None:
    """Applies per-key changes to one map of a definition: null removes the key."""
    if changes is None:
        return
    current = dict(document.get(section) or {})
    for key, value in changes.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = _to_plain(value)
    document[section] = current


def _check_definition(document: dict[str, Any], *, owner: str) -> None:
    """Schemas compile and definition counts stay within the platform's limits."""
    for section in ("user", "conversation", "message"):
        tags = (document.get(section) or {}).get("tags") or {}
        if len(tags) > MAX_TAG_DEFINITIONS:
            raise LimitExceeded(f"{owner} declares {len(tags)} {section} tags; at most {MAX_TAG_DEFINITIONS}.")
    for section, limit in (("events", MAX_EVENT_DEFINITIONS), ("states", MAX_STATE_DEFINITIONS)):
        if len(document.get(section) or {}) > limit:
            raise LimitExceeded(f"{owner} declares more than {limit} {section}.")
    for section in ("events", "states"):
        for name, definition in (document.get(section) or {}).items():
            compile_schema(definition["schema"], where=f"{section[:-1]} {name!r}")
    for name, definition in (document.get("actions") or {}).items():
        compile_schema(definition["input"]["schema"], where=f"the input of action {name!r}")
        compile_schema(definition["output"]["schema"], where=f"the output of action {name!r}")
    for channel, definition in (document.get("channels") or {}).items():
        for message_type, message in definition["messages"].items():
            compile_schema(message["schema"], where=f"message type {message_type!r} of channel {channel!r}")


# Bots


def _bot_document(body: CreateBot) -> dict[str, Any]:
    plain = _to_plain(body)
    document = {key: value for key, value in plain.items() if key not in ("name", "url", "dev", "code")}
    for section in ("user", "conversation", "message"):
        document[section] = {"tags": (plain.get(section) or {}).get("tags", {})}
    return document


async def create_bot(conn: Connection, body: CreateBot, *, now: str) -> str:
    document = _bot_document(body)
    _check_definition(document, owner="The bot")
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


async def require_bot(conn: Connection, bot_id: str) -> Row:
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
            _merge_map(tags, "tags", update.tags)
    _merge_map(document, "states", body.states)
    _merge_map(document, "events", body.events)
    _merge_map(document, "actions", body.actions)
    _merge_map(document, "recurringEvents", body.recurring_events)
    for field in ("description", "medias", "tags", "configuration"):
        value = getattr(body, field)
        if value is not None:
            document[field] = _to_plain(value)
    if body.subscriptions is not None:
        document["subscriptions"] = {"events": _to_plain(body.subscriptions.events)}
    for field, key in (("max_execution_time", "maxExecutionTime"), ("always_alive", "alwaysAlive")):
        value = getattr(body, field)
        if value is not None:
            document[key] = value
    _check_definition(document, owner="The bot")
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
                if removed["enabled"]:
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
            now=now,
        )
        installed = await bot_store.get_installation(conn, bot_id=bot_id, alias=alias)
        assert installed is not None, "the installation was written just above"
        current[alias] = installed
        await _tell_integration(conn, bot_id, previous, installed, now=now)
    if len(current) > MAX_INSTALLATIONS:
        raise LimitExceeded(f"A bot may install at most {MAX_INSTALLATIONS} integrations.")


async def _tell_integration(conn: Connection, bot_id: str, before: Row | None, after: Row, *, now: str) -> None:
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


async def _queue_lifecycle(conn: Connection, bot_id: str, operation: str, installation: Row, *, now: str) -> None:
    await outbox.lifecycle(conn, bot_id=bot_id, operation=operation, installation=installation, now=now)
    await bot_store.set_registration(
        conn,
        bot_id=bot_id,
        alias=installation["alias"],
        webhook_id=installation["webhook_id"],
        status=PENDING[operation],
        reason=None,
    )


async def rotate_webhook(conn: Connection, bot_id: str, alias: str, *, now: str) -> Row:
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


def webhook_url(base_url: str, webhook_id: str) -> str:
    """Where an outside service reaches an installation: one place builds it, for the Admin API,
    `register` and the relay alike."""
    return f"{base_url}/webhooks/{webhook_id}"


async def bot_view(conn: Connection, row: Row, *, keyed_by_alias: bool, base_url: str) -> Bot:
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
            webhook_url=webhook_url(base_url, installation["webhook_id"]),
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


def bot_summary(row: Row) -> BotSummary:
    document: dict[str, Any] = msgspec.json.decode(row["definition"])
    return BotSummary(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        name=row["name"],
        tags=document.get("tags") or {},
    )


async def list_bots(conn: Connection, *, dev: bool | None, order: Order, page: Page) -> tuple[list[Row], str | None]:
    return await bot_store.list_bots(conn, dev=bool(dev), order=order, cursor=page.cursor, limit=page.size)


# Integrations


def _integration_document(plain: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in plain.items() if key not in ("name", "version", "url", "dev", "code")}


async def create_integration(conn: Connection, body: CreateIntegration, *, now: str) -> str:
    if await integration_store.find_by_name(conn, name=body.name, version=body.version) is not None:
        raise InvalidPayload(f"Integration {body.name}@{body.version} already exists.")
    document = _integration_document(_to_plain(body))
    _check_definition(document, owner=f"Integration {body.name!r}")
    integration_id = ids.new_id(ids.INTEGRATION)
    await integration_store.insert_integration(
        conn,
        id=integration_id,
        name=body.name,
        version=body.version,
        definition=encode_json(document),
        url=body.url,
        dev=body.dev,
        now=now,
    )
    return integration_id


async def require_integration(conn: Connection, integration_id: str) -> Row:
    row = await integration_store.get_integration(conn, integration_id)
    if row is None:
        raise ResourceNotFound(f"Integration {integration_id} not found.")
    return row


async def update_integration(conn: Connection, integration_id: str, body: UpdateIntegration, *, now: str) -> None:
    row = await require_integration(conn, integration_id)
    document: dict[str, Any] = msgspec.json.decode(row["definition"])
    for section, field in (
        ("channels", "channels"),
        ("states", "states"),
        ("events", "events"),
        ("actions", "actions"),
        ("entities", "entities"),
        ("interfaces", "interfaces"),
        ("configurations", "configurations"),
        ("attributes", "attributes"),
        ("secrets", "secrets"),
    ):
        _merge_map(document, section, getattr(body, field))
    for field, key in (
        ("configuration", "configuration"),
        ("identifier", "identifier"),
        ("extra_operations", "extraOperations"),
        ("sdk_version", "sdkVersion"),
        ("user", "user"),
        ("icon", "icon"),
        ("readme", "readme"),
        ("title", "title"),
        ("description", "description"),
        ("public", "public"),
        ("visibility", "visibility"),
        ("max_execution_time", "maxExecutionTime"),
    ):
        value = getattr(body, field)
        if value is not None:
            document[key] = _to_plain(value)
    _check_definition(document, owner=f"Integration {row['name']!r}")
    url = row["url"] if body.url is UNSET else body.url
    await integration_store.update_integration(
        conn, id=integration_id, definition=encode_json(document), url=url, now=now
    )
    await bot_store.bump_installing(conn, integration_id)


async def delete_integration(conn: Connection, integration_id: str) -> None:
    await require_integration(conn, integration_id)
    bots = await integration_store.installed_in(conn, integration_id)
    if bots:
        raise ReferenceConstraint(
            f"Integration {integration_id} is still installed in {len(bots)} bot(s), e.g. {bots[0]};"
            " uninstall it first."
        )
    await integration_store.delete_integration(conn, integration_id)


def summarize(kind: type[S], row: Row, document: dict[str, Any], **details: Any) -> S:
    """An integration's summary, or a view that extends it with `details` (the full definition, a
    bot's installation). A self-hosted integration is never reviewed or unpublished, so those
    statuses are constants."""
    return kind(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        title=document.get("title") or row["name"],
        description=document.get("description") or "",
        icon_url="",
        public=bool(document.get("public", False)),
        visibility=document.get("visibility") or "private",
        verification_status="unapproved",
        lifecycle_status="published",
        **details,
    )


def integration_summary(row: Row) -> IntegrationSummary:
    return summarize(IntegrationSummary, row, msgspec.json.decode(row["definition"]))


def _channel(channel: dict[str, Any]) -> Channel:
    conversation = channel.get("conversation") or {}
    return Channel(
        title=channel.get("title", UNSET),
        description=channel.get("description", UNSET),
        messages=channel.get("messages") or {},
        conversation=TagsAndCreation(
            tags=conversation.get("tags") or {}, creation=conversation.get("creation") or NO_CREATION
        ),
        message=Tags(tags=(channel.get("message") or {}).get("tags") or {}),
    )


def integration_view(row: Row) -> Integration:
    """The Integration object of the Admin API."""
    document: dict[str, Any] = msgspec.json.decode(row["definition"])
    user = document.get("user") or {}
    configuration = document.get("configuration") or {}
    return summarize(
        Integration,
        row,
        document,
        identifier=document.get("identifier") or {},
        url=row["url"] or "",
        interfaces=document.get("interfaces") or {},
        configuration={
            **configuration,
            "identifier": {"required": False, **(configuration.get("identifier") or {})},
            "schema": configuration.get("schema") or {},
        },
        configurations=document.get("configurations") or {},
        channels={name: _channel(channel) for name, channel in (document.get("channels") or {}).items()},
        states=document.get("states") or {},
        events=document.get("events") or {},
        actions=document.get("actions") or {},
        user=TagsAndCreation(tags=user.get("tags") or {}, creation=user.get("creation") or NO_CREATION),
        entities=document.get("entities") or {},
        dev=bool(row["dev"]),
        readme_url="",
        secrets=sorted(document.get("secrets") or {}),
        attributes=document.get("attributes", UNSET),
        max_execution_time=document.get("maxExecutionTime", UNSET),
    )


async def list_integrations(
    conn: Connection,
    *,
    name: str | None,
    version: str | None,
    installed_by_bot_id: str | None,
    dev: bool | None,
    order: Order,
    page: Page,
) -> tuple[list[Row], str | None]:
    return await integration_store.list_integrations(
        conn,
        name=name,
        version=version,
        installed_by_bot_id=installed_by_bot_id,
        dev=bool(dev),
        order=order,
        cursor=page.cursor,
        limit=page.size,
    )


# API keys


async def create_bot_api_key(conn: Connection, body: CreateBotApiKey, *, now: str) -> NewApiKey:
    await require_bot(conn, body.bot_id)
    return await _create_key(conn, kind=BOT, prefix=ids.BOT_API_KEY, owner_id=body.bot_id, note=body.note, now=now)


async def create_integration_api_key(conn: Connection, body: CreateIntegrationApiKey, *, now: str) -> NewApiKey:
    await require_integration(conn, body.integration_id)
    return await _create_key(
        conn,
        kind=INTEGRATION,
        prefix=ids.INTEGRATION_API_KEY,
        owner_id=body.integration_id,
        note=body.note,
        now=now,
    )


async def _create_key(
    conn: Connection, *, kind: str, prefix: str, owner_id: str | None, note: str | None, now: str
) -> NewApiKey:
    """Only the hash is stored: the value is in this answer and nowhere else."""
    value = new_token(prefix)
    key_id = ids.new_id(prefix)
    await key_store.insert_key(
        conn, id=key_id, kind=kind, owner_id=owner_id, token_hash=hash_token(value), note=note or "", now=now
    )
    return NewApiKey(id=key_id, created_at=now, note=note or "", value=value)


async def list_keys(conn: Connection, *, kind: str, owner_id: str) -> list[ApiKey]:
    rows = await key_store.list_keys(conn, kind=kind, owner_id=owner_id)
    return [ApiKey(id=row["id"], created_at=row["created_at"], note=row["note"]) for row in rows]


async def delete_key(conn: Connection, *, kind: str, key_id: str) -> None:
    if not await key_store.delete_key(conn, id=key_id, kind=kind):
        raise ResourceNotFound(f"API key {key_id} not found.")


async def ensure_admin_token(conn: Connection, token: str | None, *, now: str) -> str | None:
    """Registers the configured admin token; with none configured and none stored, creates one
    and returns its value (shown once). Returns None when nothing new was created."""
    if token is not None:
        token_hash = hash_token(token)
        if await key_store.find_by_hash(conn, token_hash) is None:
            await key_store.insert_key(
                conn,
                id=ids.new_id(ids.ADMIN_TOKEN),
                kind=ADMIN,
                owner_id=None,
                token_hash=token_hash,
                note="PARLEY_ADMIN_TOKEN",
                now=now,
            )
        return None
    if await key_store.count_kind(conn, ADMIN):
        return None
    value = new_token(ids.ADMIN_TOKEN)
    await key_store.insert_key(
        conn,
        id=ids.new_id(ids.ADMIN_TOKEN),
        kind=ADMIN,
        owner_id=None,
        token_hash=hash_token(value),
        note="generated at first start",
        now=now,
    )
    return value
