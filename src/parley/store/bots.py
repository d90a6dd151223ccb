"""Bots, their installed integrations, and everything a deleted bot leaves behind."""

from typing import TypedDict

from parley.store.database import Connection
from parley.store.sql import Cursor, Order, Params, fetch_page, select_list

# Flags (`dev`, `enabled`) are 0 or 1 on SQLite and bools on PostgreSQL: read them as truth values.


class BotRow(TypedDict):
    id: str
    name: str
    definition: str
    url: str | None
    signing_secret: str
    dev: int
    created_at: str
    updated_at: str
    version: int


class InstallationTarget(TypedDict):
    """An installation as a call to its integration needs it."""

    bot_id: str
    alias: str
    integration_id: str
    enabled: int
    configuration: str
    configuration_type: str | None
    webhook_id: str
    # The user that stands for the bot inside the installation, once it was needed.
    bot_user_id: str | None


class InstallationRow(InstallationTarget):
    disabled_channels: str
    created_at: str
    updated_at: str
    status: str
    status_reason: str | None


class InstallationDetailRow(InstallationRow):
    """An installation with what its integration configured about it (configure_installation)."""

    identifier: str | None
    register_schedule: str | None
    sandbox_identifiers: str | None


class RelayTargetRow(InstallationTarget):
    """What the webhook relay needs of an installation, found by its webhook id."""

    integration_url: str | None
    bot_name: str


class ChatTargetRow(InstallationTarget):
    """What the Chat API needs of an installation, found by its webhook id."""

    secret: str | None
    bot_version: int
    bot_name: str


COLUMNS = select_list(BotRow)
_INSTALLATION_COLUMNS = select_list(InstallationRow, alias="")
_DETAIL_COLUMNS = select_list(InstallationDetailRow, alias="")
_RELAY_COLUMNS = select_list(RelayTargetRow, alias="i", integration_url="g.url", bot_name="b.name")
_CHAT_COLUMNS = select_list(ChatTargetRow, alias="i", bot_version="b.version", bot_name="b.name")


async def insert_bot(
    conn: Connection,
    *,
    id: str,
    name: str,
    definition: str,
    url: str | None,
    signing_secret: str,
    dev: bool,
    now: str,
) -> None:
    await conn.execute(
        "INSERT INTO bots (id, name, definition, url, signing_secret, dev, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        id,
        name,
        definition,
        url,
        signing_secret,
        dev,
        now,
    )


async def get_bot(conn: Connection, id: str) -> BotRow | None:
    return await conn.fetch_one(BotRow, f"SELECT {COLUMNS} FROM bots r WHERE r.id = $1", id)


async def update_bot(conn: Connection, *, id: str, name: str, definition: str, url: str | None, now: str) -> None:
    """Writes the bot's fields and moves its version: the Admin API changes a bot's installations
    only along with the bot, in this transaction."""
    await conn.execute(
        "UPDATE bots SET name = $2, definition = $3, url = $4, updated_at = $5, version = version + 1 WHERE id = $1",
        id,
        name,
        definition,
        url,
        now,
    )


async def get_version(conn: Connection, id: str) -> int | None:
    """The bot's version; None when there is no such bot."""
    version: int | None = await conn.fetch_value("SELECT version FROM bots WHERE id = $1", id)
    return version


async def bump_installing(conn: Connection, integration_id: str) -> None:
    """Moves the version of every bot that installs the integration, whose definition they include."""
    await conn.execute(
        "UPDATE bots SET version = version + 1"
        " WHERE id IN (SELECT bot_id FROM installations WHERE integration_id = $1)",
        integration_id,
    )


async def list_bots(
    conn: Connection, *, dev: bool | None, order: Order, cursor: Cursor | None, limit: int
) -> tuple[list[BotRow], str | None]:
    params = Params()
    sql = f"SELECT {COLUMNS} FROM bots r WHERE 1 = 1"
    if dev is not None:
        sql += f" AND r.dev = {params(dev)}"
    return await fetch_page(conn, BotRow, sql, params, order=order, cursor=cursor, limit=limit)


async def delete_bot(conn: Connection, id: str) -> None:
    """Removes the bot and every resource, tag, key and installation it owns."""
    for table in (
        "tag_index",
        "messages",
        "participants",
        "conversations",
        "users",
        "installations",
        "events",
        "states",
        "timers",
        "deliveries",
        "workflows",
        "tasks",
        "analytics",
    ):
        await conn.execute(f"DELETE FROM {table} WHERE bot_id = $1", id)
    await conn.execute("DELETE FROM api_keys WHERE kind = 'bot' AND owner_id = $1", id)
    await conn.execute("DELETE FROM bots WHERE id = $1", id)


async def list_installations(conn: Connection, bot_id: str) -> list[InstallationRow]:
    return await conn.fetch_all(
        InstallationRow,
        f"SELECT {_INSTALLATION_COLUMNS} FROM installations WHERE bot_id = $1 ORDER BY alias",
        bot_id,
    )


async def upsert_installation(
    conn: Connection,
    *,
    bot_id: str,
    alias: str,
    integration_id: str,
    enabled: bool,
    configuration: str,
    configuration_type: str | None,
    disabled_channels: str,
    webhook_id: str,
    secret: str,
    now: str,
) -> None:
    """Inserts or changes an installation; `webhook_id` and `secret` are those of a new one."""
    await conn.execute(
        "INSERT INTO installations (bot_id, alias, integration_id, enabled, configuration, configuration_type,"
        " disabled_channels, webhook_id, created_at, updated_at, secret)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)"
        " ON CONFLICT (bot_id, alias) DO UPDATE SET integration_id = excluded.integration_id,"
        " enabled = excluded.enabled, configuration = excluded.configuration,"
        " configuration_type = excluded.configuration_type, disabled_channels = excluded.disabled_channels,"
        " updated_at = excluded.updated_at",
        bot_id,
        alias,
        integration_id,
        enabled,
        configuration,
        configuration_type,
        disabled_channels,
        webhook_id,
        now,
        secret,
    )


async def delete_installation(conn: Connection, *, bot_id: str, alias: str) -> None:
    await conn.execute("DELETE FROM installations WHERE bot_id = $1 AND alias = $2", bot_id, alias)


async def get_installation(conn: Connection, *, bot_id: str, alias: str) -> InstallationDetailRow | None:
    return await conn.fetch_one(
        InstallationDetailRow,
        f"SELECT {_DETAIL_COLUMNS} FROM installations WHERE bot_id = $1 AND alias = $2",
        bot_id,
        alias,
    )


async def find_by_webhook(conn: Connection, webhook_id: str) -> RelayTargetRow | None:
    """The installation an outside service addresses by `webhook_id`, with its integration's url."""
    return await conn.fetch_one(
        RelayTargetRow,
        f"SELECT {_RELAY_COLUMNS} FROM installations i JOIN integrations g ON g.id = i.integration_id"
        " JOIN bots b ON b.id = i.bot_id WHERE i.webhook_id = $1",
        webhook_id,
    )


_CHAT_TARGET = f"SELECT {_CHAT_COLUMNS} FROM installations i JOIN bots b ON b.id = i.bot_id"


async def find_chat(conn: Connection, webhook_id: str, integration_id: str) -> ChatTargetRow | None:
    """The installation of the integration `integration_id` whose webhook id is `webhook_id`,
    with its bot's version."""
    sql = f"{_CHAT_TARGET} WHERE i.webhook_id = $1 AND i.integration_id = $2"
    return await conn.fetch_one(ChatTargetRow, sql, webhook_id, integration_id)


async def find_chat_installation(conn: Connection, *, bot_id: str, alias: str) -> ChatTargetRow | None:
    return await conn.fetch_one(ChatTargetRow, f"{_CHAT_TARGET} WHERE i.bot_id = $1 AND i.alias = $2", bot_id, alias)


async def set_webhook_id(conn: Connection, *, bot_id: str, alias: str, webhook_id: str, now: str) -> None:
    await conn.execute(
        "UPDATE installations SET webhook_id = $3, updated_at = $4 WHERE bot_id = $1 AND alias = $2",
        bot_id,
        alias,
        webhook_id,
        now,
    )


async def set_registration(
    conn: Connection, *, bot_id: str, alias: str, webhook_id: str, status: str, reason: str | None
) -> None:
    """Records how the installation's registration stands, unless its webhook id changed since
    the `register` call this outcome belongs to was queued."""
    await conn.execute(
        "UPDATE installations SET status = $4, status_reason = $5 WHERE bot_id = $1 AND alias = $2 AND webhook_id = $3",
        bot_id,
        alias,
        webhook_id,
        status,
        reason,
    )


async def set_bot_user(conn: Connection, *, bot_id: str, alias: str, user_id: str) -> None:
    await conn.execute(
        "UPDATE installations SET bot_user_id = $3 WHERE bot_id = $1 AND alias = $2", bot_id, alias, user_id
    )


_CONFIGURABLE = ("identifier", "register_schedule", "sandbox_identifiers")


async def configure_installation(conn: Connection, *, bot_id: str, alias: str, changes: dict[str, str | None]) -> None:
    """Sets what an integration configures about its installation (columns of `_CONFIGURABLE`)."""
    columns = [column for column in _CONFIGURABLE if column in changes]
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, start=3))
    await conn.execute(
        f"UPDATE installations SET {assignments} WHERE bot_id = $1 AND alias = $2",
        bot_id,
        alias,
        *(changes[column] for column in columns),
    )
