"""Timers: scheduled work (a message to release, an event to dispatch, a workflow to time out) as rows
with a due time."""

from typing import TypedDict

from parley.store.database import TIMERS, Connection
from parley.store.sql import select_list


class TimerRow(TypedDict):
    kind: str
    resource_id: str
    bot_id: str
    due_at: str


COLUMNS = select_list(TimerRow, alias="")


async def add_timer(conn: Connection, *, kind: str, resource_id: str, bot_id: str, due_at: str) -> None:
    await conn.execute(
        "INSERT INTO timers (kind, resource_id, bot_id, due_at) VALUES ($1, $2, $3, $4)",
        kind,
        resource_id,
        bot_id,
        due_at,
    )
    conn.announce(TIMERS, due_at)


async def take_timer(conn: Connection, *, kind: str, resource_id: str) -> bool:
    """Removes a timer; True for the one caller that removed it, so each timer fires once."""
    removed = await conn.execute("DELETE FROM timers WHERE kind = $1 AND resource_id = $2", kind, resource_id)
    return removed == 1


async def due(conn: Connection, *, now: str, limit: int) -> list[TimerRow]:
    return await conn.fetch_all(
        TimerRow,
        f"SELECT {COLUMNS} FROM timers WHERE due_at <= $1 ORDER BY due_at LIMIT {int(limit)}",
        now,
    )


async def next_due(conn: Connection) -> str | None:
    """The earliest time anything is due: a timer, or the expiry of a state."""
    value: str | None = await conn.fetch_value(
        "SELECT MIN(t.due) FROM (SELECT MIN(due_at) AS due FROM timers"
        " UNION ALL SELECT MIN(expires_at) AS due FROM states) t"
    )
    return value
