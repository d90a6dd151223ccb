"""Bots, their installed integrations, and everything a deleted bot leaves behind."""

from parley.store.database import Connection, Row
from parley.store.sql import Cursor, Order, Params, fetch_page

COLUMNS = "r.id, r.name, r.definition, r.url, r.signing_secret, r.dev, r.created_at, r.updated_at"
INSTALLATION_COLUMNS = (
    "bot_id, alias, integration_id, enabled, configuration, configuration_type, disabled_channels, webhook_id,"
    " created_at, updated_at"
)


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


async def get_bot(conn: Connection, id: str) -> Row | None:
    return await conn.fetch_one(f"SELECT {COLUMNS} FROM bots r WHERE r.id = $1", id)


async def update_bot(conn: Connection, *, id: str, name: str, definition: str, url: str | None, now: str) -> None:
    await conn.execute(
        "UPDATE bots SET name = $2, definition = $3, url = $4, updated_at = $5 WHERE id = $1",
        id,
        name,
        definition,
        url,
        now,
    )


async def list_bots(
    conn: Connection, *, dev: bool | None, order: Order, cursor: Cursor | None, limit: int
) -> tuple[list[Row], str | None]:
    params = Params()
    sql = f"SELECT {COLUMNS} FROM bots r WHERE 1 = 1"
    if dev is not None:
        sql += f" AND r.dev = {params(dev)}"
    return await fetch_page(conn, sql, params, order=order, cursor=cursor, limit=limit)


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


async def list_installations(conn: Connection, bot_id: str) -> list[Row]:
    return await conn.fetch_all(
        f"SELECT {INSTALLATION_COLUMNS}, bot_user_id FROM installations WHERE bot_id = $1 ORDER BY alias", bot_id
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
    now: str,
) -> None:
    await conn.execute(
        f"INSERT INTO installations ({INSTALLATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
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
    )


async def delete_installation(conn: Connection, *, bot_id: str, alias: str) -> None:
    await conn.execute("DELETE FROM installations WHERE bot_id = $1 AND alias = $2", bot_id, alias)


async def get_installation(conn: Connection, *, bot_id: str, alias: str) -> Row | None:
    return await conn.fetch_one(
        f"SELECT {INSTALLATION_COLUMNS}, bot_user_id, identifier, register_schedule, sandbox_identifiers"
        " FROM installations WHERE bot_id = $1 AND alias = $2",
        bot_id,
        alias,
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
