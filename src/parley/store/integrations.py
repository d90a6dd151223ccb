"""Integration definitions."""

from typing import TypedDict

from parley.store.database import Connection
from parley.store.sql import Cursor, Order, Params, fetch_page, select_list


class IntegrationRow(TypedDict):
    id: str
    name: str
    version: str
    definition: str
    url: str | None
    # 0 or 1 on SQLite, a bool on PostgreSQL.
    dev: int
    created_at: str
    updated_at: str


class _BotId(TypedDict):
    bot_id: str


COLUMNS = select_list(IntegrationRow)


async def insert_integration(
    conn: Connection,
    *,
    id: str,
    name: str,
    version: str,
    definition: str,
    url: str | None,
    dev: bool,
    now: str,
) -> None:
    await conn.execute(
        "INSERT INTO integrations (id, name, version, definition, url, dev, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        id,
        name,
        version,
        definition,
        url,
        dev,
        now,
    )


async def get_integration(conn: Connection, id: str) -> IntegrationRow | None:
    return await conn.fetch_one(IntegrationRow, f"SELECT {COLUMNS} FROM integrations r WHERE r.id = $1", id)


async def get_integration_to_install(conn: Connection, id: str) -> IntegrationRow | None:
    """The integration, which cannot change until this transaction ends. A change to its
    definition moves the version of the bots that install it (bots.bump_installing); an
    installation that committed after the change read them would escape it, so the two wait for
    each other instead. SQLite's single writer orders them already."""
    lock = "" if conn.serialized else " FOR SHARE"
    return await conn.fetch_one(IntegrationRow, f"SELECT {COLUMNS} FROM integrations r WHERE r.id = $1{lock}", id)


async def get_integrations(conn: Connection, ids: list[str]) -> list[IntegrationRow]:
    if not ids:
        return []
    params = Params()
    return await conn.fetch_all(
        IntegrationRow, f"SELECT {COLUMNS} FROM integrations r WHERE r.id IN ({params.many(ids)})", *params.args
    )


async def find_by_name(conn: Connection, *, name: str, version: str) -> IntegrationRow | None:
    return await conn.fetch_one(
        IntegrationRow, f"SELECT {COLUMNS} FROM integrations r WHERE r.name = $1 AND r.version = $2", name, version
    )


async def update_integration(conn: Connection, *, id: str, definition: str, url: str | None, now: str) -> None:
    await conn.execute(
        "UPDATE integrations SET definition = $2, url = $3, updated_at = $4 WHERE id = $1",
        id,
        definition,
        url,
        now,
    )


async def installed_in(conn: Connection, integration_id: str) -> list[str]:
    rows = await conn.fetch_all(
        _BotId, "SELECT DISTINCT bot_id FROM installations WHERE integration_id = $1", integration_id
    )
    return [row["bot_id"] for row in rows]


async def delete_integration(conn: Connection, id: str) -> None:
    await conn.execute("DELETE FROM api_keys WHERE kind = 'integration' AND owner_id = $1", id)
    await conn.execute("DELETE FROM integrations WHERE id = $1", id)


async def list_integrations(
    conn: Connection,
    *,
    name: str | None,
    version: str | None,
    installed_by_bot_id: str | None,
    dev: bool | None,
    order: Order,
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[IntegrationRow], str | None]:
    params = Params()
    sql = f"SELECT {COLUMNS} FROM integrations r WHERE 1 = 1"
    if name is not None:
        sql += f" AND r.name = {params(name)}"
    if version is not None:
        sql += f" AND r.version = {params(version)}"
    if dev is not None:
        sql += f" AND r.dev = {params(dev)}"
    if installed_by_bot_id is not None:
        bot = params(installed_by_bot_id)
        sql += f" AND r.id IN (SELECT i.integration_id FROM installations i WHERE i.bot_id = {bot})"
    return await fetch_page(conn, IntegrationRow, sql, params, order=order, cursor=cursor, limit=limit)


async def insert_builtin(conn: Connection, *, id: str, name: str, version: str, definition: str, now: str) -> None:
    """A definition that Parley itself provides; a process that starts beside another may find
    it written already."""
    await conn.execute(
        "INSERT INTO integrations (id, name, version, definition, url, dev, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, NULL, $5, $6, $6) ON CONFLICT (id) DO NOTHING",
        id,
        name,
        version,
        definition,
        False,
        now,
    )


async def update_builtin(conn: Connection, *, id: str, version: str, definition: str, now: str) -> None:
    await conn.execute(
        "UPDATE integrations SET version = $2, definition = $3, updated_at = $4 WHERE id = $1",
        id,
        version,
        definition,
        now,
    )
