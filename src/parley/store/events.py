"""Events."""

from typing import TypedDict

from parley.store.database import Connection, Statement
from parley.store.sql import Cursor, Order, Params, fetch_page, select_list


class EventRow(TypedDict):
    id: str
    bot_id: str
    # The alias of the installation that created the event; empty for the bot or the platform.
    integration: str
    type: str
    payload: str
    status: str
    failure_reason: str | None
    conversation_id: str | None
    user_id: str | None
    message_id: str | None
    workflow_id: str | None
    scheduled_for: str | None
    created_at: str
    updated_at: str


COLUMNS = select_list(EventRow)


def insert_event(row: EventRow) -> Statement:
    """The INSERT of a new event, to run with the statements of its cause (Connection.execute_all)."""
    return (
        "INSERT INTO events (id, bot_id, integration, type, payload, status, conversation_id, user_id, message_id,"
        " workflow_id, scheduled_for, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        (
            row["id"],
            row["bot_id"],
            row["integration"],
            row["type"],
            row["payload"],
            row["status"],
            row["conversation_id"],
            row["user_id"],
            row["message_id"],
            row["workflow_id"],
            row["scheduled_for"],
            row["created_at"],
            row["updated_at"],
        ),
    )


async def get_event(conn: Connection, *, bot_id: str, id: str) -> EventRow | None:
    return await conn.fetch_one(
        EventRow, f"SELECT {COLUMNS} FROM events r WHERE r.id = $1 AND r.bot_id = $2", id, bot_id
    )


async def set_status(conn: Connection, *, id: str, status: str, expected: str, now: str) -> int:
    """Moves an event from status `expected` to `status`; 0 when it was not in `expected`."""
    return await conn.execute(
        "UPDATE events SET status = $2, updated_at = $4 WHERE id = $1 AND status = $3", id, status, expected, now
    )


async def list_events(
    conn: Connection,
    *,
    bot_id: str,
    integration: str | None,
    filters: dict[str, str],
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[EventRow], str | None]:
    """Events newest first; `filters` maps column names to required values."""
    params = Params(bot_id)
    sql = f"SELECT {COLUMNS} FROM events r WHERE r.bot_id = $1"
    if integration is not None:
        sql += f" AND r.integration = {params(integration)}"
    for column, value in filters.items():
        sql += f" AND r.{column} = {params(value)}"
    return await fetch_page(conn, EventRow, sql, params, order=Order(), cursor=cursor, limit=limit)


def outcome(*, id: str, status: str, failure_reason: str | None, now: str) -> Statement:
    """What became of a dispatched event: `processed`, or `failed` with the reason; `pending`
    again when its delivery is retried."""
    return (
        "UPDATE events SET status = $2, failure_reason = $3, updated_at = $4 WHERE id = $1",
        (id, status, failure_reason, now),
    )


async def set_outcome(conn: Connection, *, id: str, status: str, failure_reason: str | None, now: str) -> None:
    await conn.execute_all([outcome(id=id, status=status, failure_reason=failure_reason, now=now)])
