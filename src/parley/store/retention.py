"""What retention removes: deliveries that are done (with their attempts) and finished events,
older than a cut-off, a batch at a time."""

import hashlib
from typing import TypedDict

from parley.store.database import Connection
from parley.store.sql import Params

# Deliveries and events whose work is over; a done delivery's `next_attempt_at` is when it ended.
_DONE_DELIVERIES = "status IN ('delivered', 'failed', 'canceled')"
_FINISHED_EVENTS = "status IN ('processed', 'failed', 'ignored', 'canceled')"
_TURN = int.from_bytes(hashlib.blake2b(b"parley-retention", digest_size=8).digest(), "big", signed=True)


class _Id(TypedDict):
    id: str


async def take_turn(conn: Connection) -> bool:
    """Whether this transaction may prune: on PostgreSQL one process at a time (an advisory lock
    held until the transaction ends, never waited for); SQLite has one process."""
    if conn.serialized:
        return True
    return bool(await conn.fetch_value("SELECT pg_try_advisory_xact_lock($1)", _TURN))


async def prune_deliveries(conn: Connection, *, before: str, limit: int) -> int:
    """Removes up to `limit` done deliveries that ended before `before`, and their attempts."""
    rows = await conn.fetch_all(
        _Id,
        f"SELECT id FROM deliveries WHERE {_DONE_DELIVERIES} AND next_attempt_at < $1 LIMIT {int(limit)}",
        before,
    )
    if rows:
        params = Params()
        ids = params.many([row["id"] for row in rows])
        await conn.execute(f"DELETE FROM delivery_attempts WHERE delivery_id IN ({ids})", *params.args)
        await conn.execute(f"DELETE FROM deliveries WHERE id IN ({ids})", *params.args)
    return len(rows)


async def prune_events(conn: Connection, *, before: str, limit: int) -> int:
    """Removes up to `limit` finished events last changed before `before`."""
    rows = await conn.fetch_all(
        _Id, f"SELECT id FROM events WHERE {_FINISHED_EVENTS} AND updated_at < $1 LIMIT {int(limit)}", before
    )
    if rows:
        params = Params()
        await conn.execute(f"DELETE FROM events WHERE id IN ({params.many([row['id'] for row in rows])})", *params.args)
    return len(rows)
