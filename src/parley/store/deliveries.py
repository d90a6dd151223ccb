"""Deliveries: the outbox of calls to bot and integration servers."""

from parley.store.database import Connection, Row
from parley.store.sql import Cursor, Order, Params, fetch_page

COLUMNS = (
    "r.id, r.bot_id, r.target, r.alias, r.operation, r.event_id, r.message_id, r.ordering_key, r.status,"
    " r.attempts, r.next_attempt_at, r.last_error, r.created_at, r.updated_at"
)


async def insert_delivery(
    conn: Connection,
    *,
    id: str,
    bot_id: str,
    target: str,
    alias: str,
    operation: str,
    event_id: str | None,
    message_id: str | None,
    ordering_key: str,
    now: str,
) -> None:
    await conn.execute(
        "INSERT INTO deliveries (id, bot_id, target, alias, operation, event_id, message_id, ordering_key, status,"
        " attempts, next_attempt_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9, $9)",
        id,
        bot_id,
        target,
        alias,
        operation,
        event_id,
        message_id,
        ordering_key,
        now,
    )


async def list_deliveries(
    conn: Connection,
    *,
    bot_id: str | None,
    filters: dict[str, str],
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[Row], str | None]:
    """Deliveries newest first, of one bot or of all."""
    params = Params()
    sql = f"SELECT {COLUMNS} FROM deliveries r WHERE 1 = 1"
    if bot_id is not None:
        sql += f" AND r.bot_id = {params(bot_id)}"
    for column, value in filters.items():
        sql += f" AND r.{column} = {params(value)}"
    return await fetch_page(conn, sql, params, order=Order(), cursor=cursor, limit=limit)
