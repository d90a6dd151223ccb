"""States: one row per (bot, owner namespace, type, resource, name)."""

from typing import TypedDict

from parley.store.database import TIMERS, Connection
from parley.store.sql import Cursor, Order, Params, fetch_page, select_list


class StateRow(TypedDict):
    id: str
    bot_id: str
    # The alias of the installation that keeps the state; empty for the bot.
    integration: str
    type: str
    resource_id: str
    name: str
    payload: str
    # The idle time after which the state expires (ms), and when that is, after its last write.
    expiry: int | None
    expires_at: str | None
    created_at: str
    updated_at: str


COLUMNS = select_list(StateRow, alias="")
_LISTED = select_list(StateRow)
_KEY = "bot_id = $1 AND integration = $2 AND type = $3 AND resource_id = $4 AND name = $5"


async def get_state(
    conn: Connection, *, bot_id: str, integration: str, type: str, resource_id: str, name: str
) -> StateRow | None:
    return await conn.fetch_one(
        StateRow, f"SELECT {COLUMNS} FROM states WHERE {_KEY}", bot_id, integration, type, resource_id, name
    )


async def insert_state(
    conn: Connection,
    *,
    id: str,
    bot_id: str,
    integration: str,
    type: str,
    resource_id: str,
    name: str,
    payload: str,
    expiry: int | None,
    expires_at: str | None,
    now: str,
) -> int:
    """Inserts the state unless one with the same key exists; the number of rows inserted."""
    inserted = await conn.execute(
        f"INSERT INTO states ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
        " ON CONFLICT (bot_id, integration, type, resource_id, name) DO NOTHING",
        id,
        bot_id,
        integration,
        type,
        resource_id,
        name,
        payload,
        expiry,
        expires_at,
        now,
    )
    if inserted and expires_at is not None:
        conn.announce(TIMERS, expires_at)
    return inserted


async def update_state(
    conn: Connection, *, id: str, payload: str, expiry: int | None, expires_at: str | None, now: str
) -> None:
    await conn.execute(
        "UPDATE states SET payload = $2, expiry = $3, expires_at = $4, updated_at = $5 WHERE id = $1",
        id,
        payload,
        expiry,
        expires_at,
        now,
    )
    if expires_at is not None:
        conn.announce(TIMERS, expires_at)


async def delete_state(conn: Connection, *, id: str) -> None:
    await conn.execute("DELETE FROM states WHERE id = $1", id)


async def expired(conn: Connection, *, now: str, limit: int) -> list[StateRow]:
    return await conn.fetch_all(
        StateRow, f"SELECT {COLUMNS} FROM states WHERE expires_at <= $1 ORDER BY expires_at LIMIT {int(limit)}", now
    )


async def delete_if_expired(conn: Connection, *, id: str, now: str) -> int:
    """Deletes the state if it is still expired (a write may have refreshed it meanwhile)."""
    return await conn.execute("DELETE FROM states WHERE id = $1 AND expires_at <= $2", id, now)


async def list_states(
    conn: Connection, *, bot_id: str, type: str, resource_id: str, cursor: Cursor | None, limit: int
) -> tuple[list[StateRow], str | None]:
    """The states kept on one resource, by the bot and its integrations, newest first."""
    params = Params()
    sql = (
        f"SELECT {_LISTED} FROM states r WHERE r.resource_id = {params(resource_id)}"
        f" AND r.bot_id = {params(bot_id)} AND r.type = {params(type)}"
    )
    return await fetch_page(conn, StateRow, sql, params, order=Order(), cursor=cursor, limit=limit)
