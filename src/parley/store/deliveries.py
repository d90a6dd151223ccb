"""Deliveries: the outbox of calls to bot and integration servers."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from parley.store.database import DELIVERIES, Connection, Statement
from parley.store.sql import Cursor, Order, Params, fetch_page, select_list


class DeliveryRow(TypedDict):
    id: str
    bot_id: str
    # `bot`, or `integration` with the installation's `alias` (empty for the bot).
    target: str
    alias: str
    operation: str
    event_id: str | None
    message_id: str | None
    ordering_key: str
    status: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    created_at: str
    updated_at: str
    # What a `register` or `unregister` call needs of its installation, as JSON.
    data: str | None


class AttemptRow(TypedDict):
    number: int
    started_at: str
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str


class _StatusCount(TypedDict):
    status: str
    n: int


COLUMNS = select_list(DeliveryRow)
# RETURNING names the updated table's columns bare.
_RETURNED = select_list(DeliveryRow, alias="")
_ATTEMPT_COLUMNS = select_list(AttemptRow, alias="")
# A delivery waits while an earlier one with the same ordering key is not done (index
# `deliveries_order`, which holds unfinished deliveries only).
_HEAD_OF_ITS_ORDER = (
    "NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.bot_id = r.bot_id AND e.ordering_key = r.ordering_key"
    " AND e.status IN ('pending', 'in_flight') AND (e.created_at, e.id) < (r.created_at, r.id))"
)
# A delivery waits while an earlier one of its target (the bot, whose alias is empty, or one
# installation) has failed and waits to be retried (index `deliveries_retrying`): a failing target
# gets one stream of retries, from its oldest failing delivery, not one per conversation. Both
# waits are for older deliveries, so the oldest unfinished delivery of a target never waits.
_TARGET_NOT_RETRYING = (
    "NOT EXISTS (SELECT 1 FROM deliveries f WHERE f.bot_id = r.bot_id AND f.alias = r.alias"
    " AND f.status IN ('pending', 'in_flight') AND f.attempts > 0 AND (f.created_at, f.id) < (r.created_at, r.id))"
)


def insert_delivery(
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
    data: str | None = None,
) -> Statement:
    """The INSERT of a new pending delivery, to run with the statements of its cause
    (Connection.execute_all, find_or_insert); call `queued` once it has run."""
    return (
        "INSERT INTO deliveries (id, bot_id, target, alias, operation, event_id, message_id, ordering_key, status,"
        " attempts, next_attempt_at, created_at, updated_at, data)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9, $9, $10)",
        (id, bot_id, target, alias, operation, event_id, message_id, ordering_key, now, data),
    )


def queued(conn: Connection) -> None:
    """Deliveries were inserted on `conn`: the dispatchers are told once they are committed."""
    conn.announce(DELIVERIES)


@dataclass(frozen=True, slots=True)
class Relayed:
    """A call the webhook relay made, done by the time it is written: one delivery, one attempt."""

    id: str
    bot_id: str
    alias: str
    started_at: str
    finished_at: str
    duration_ms: int
    status: str
    status_code: int | None
    error: str | None
    data: str


async def insert_relayed(conn: Connection, calls: Sequence[Relayed]) -> None:
    statements: list[Statement] = []
    for call in calls:
        statements.append(
            (
                "INSERT INTO deliveries (id, bot_id, target, alias, operation, event_id, message_id, ordering_key,"
                " status, attempts, next_attempt_at, last_error, created_at, updated_at, data)"
                " VALUES ($1, $2, 'integration', $3, 'webhook_received', NULL, NULL, $4, $5, 1, $6, $7, $8, $6, $9)",
                (
                    call.id,
                    call.bot_id,
                    call.alias,
                    f"{call.alias}/webhook",
                    call.status,
                    call.finished_at,
                    call.error,
                    call.started_at,
                    call.data,
                ),
            )
        )
        statements.append(
            (
                "INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, status_code, error,"
                " outcome) VALUES ($1, 1, $2, $3, $4, $5, $6)",
                (call.id, call.started_at, call.duration_ms, call.status_code, call.error, call.status),
            )
        )
    await conn.execute_all(statements)


async def claim(conn: Connection, *, now: str, lease_until: str, limit: int, skip_locked: bool) -> list[DeliveryRow]:
    """Takes up to `limit` due deliveries, each the oldest unfinished one of its ordering key, with
    no older delivery of its target waiting to be retried, and leases them until `lease_until`: a
    worker that dies leaves them to be taken again after that. One statement, which needs no
    transaction around it; with `skip_locked` (PostgreSQL), rows another worker is taking are
    passed over instead of waited for."""
    return await conn.fetch_all(
        DeliveryRow,
        "UPDATE deliveries SET status = 'in_flight', next_attempt_at = $2, updated_at = $1 WHERE id IN"
        " (SELECT r.id FROM deliveries r WHERE r.status IN ('pending', 'in_flight') AND r.next_attempt_at <= $1"
        f" AND {_HEAD_OF_ITS_ORDER} AND {_TARGET_NOT_RETRYING} ORDER BY r.next_attempt_at LIMIT {int(limit)}"
        + (" FOR UPDATE OF r SKIP LOCKED" if skip_locked else "")
        + f") RETURNING {_RETURNED}",
        now,
        lease_until,
    )


async def get_delivery(conn: Connection, id: str) -> DeliveryRow | None:
    return await conn.fetch_one(DeliveryRow, f"SELECT {COLUMNS} FROM deliveries r WHERE r.id = $1", id)


async def finish(
    conn: Connection,
    *,
    id: str,
    lease: str,
    status: str,
    attempts: int,
    next_attempt_at: str,
    last_error: str | None,
    now: str,
    then: Sequence[Statement],
) -> bool:
    """Records the outcome of an attempt, and runs `then` with it (the attempt's row, the
    event's outcome), if this worker still holds the lease it was given: one statement on
    PostgreSQL."""
    return await conn.execute_if(
        (
            "UPDATE deliveries SET status = $3, attempts = $4, next_attempt_at = $5, last_error = $6, updated_at = $7"
            " WHERE id = $1 AND status = 'in_flight' AND next_attempt_at = $2",
            (id, lease, status, attempts, next_attempt_at, last_error, now),
        ),
        then,
    )


async def requeue(conn: Connection, *, id: str, now: str) -> int:
    """A failed delivery, due again now with a fresh count of attempts."""
    changed = await conn.execute(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2"
        " WHERE id = $1 AND status = 'failed'",
        id,
        now,
    )
    if changed:
        conn.announce(DELIVERIES)
    return changed


async def release(conn: Connection, *, ids: list[str], now: str) -> None:
    """Hands leased deliveries back at once (a worker stopping cleanly)."""
    for id_ in ids:
        await conn.execute(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $2 WHERE id = $1 AND status = 'in_flight'",
            id_,
            now,
        )
    conn.announce(DELIVERIES)


async def release_all(conn: Connection, *, now: str) -> None:
    await conn.execute("UPDATE deliveries SET status = 'pending', next_attempt_at = $1 WHERE status = 'in_flight'", now)


def attempt(
    *,
    delivery_id: str,
    started_at: str,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
    outcome: str,
) -> Statement:
    """The row of an attempt, numbered after the delivery's earlier ones, for `finish` to insert."""
    return (
        "INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, status_code, error, outcome)"
        " VALUES ($1, (SELECT COUNT(*) + 1 FROM delivery_attempts WHERE delivery_id = $1), $2, $3, $4, $5, $6)",
        (delivery_id, started_at, duration_ms, status_code, error, outcome),
    )


async def unfinished_counts(conn: Connection) -> dict[str, int]:
    """How many deliveries are `pending` and `in_flight`; a status with none is left out."""
    rows = await conn.fetch_all(
        _StatusCount,
        "SELECT status, COUNT(*) AS n FROM deliveries WHERE status IN ('pending', 'in_flight') GROUP BY status",
    )
    return {row["status"]: int(row["n"]) for row in rows}


async def list_attempts(conn: Connection, delivery_id: str) -> list[AttemptRow]:
    return await conn.fetch_all(
        AttemptRow,
        f"SELECT {_ATTEMPT_COLUMNS} FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number",
        delivery_id,
    )


async def list_deliveries(
    conn: Connection,
    *,
    bot_id: str | None,
    filters: dict[str, str],
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[DeliveryRow], str | None]:
    """Deliveries newest first, of one bot or of all."""
    params = Params()
    sql = f"SELECT {COLUMNS} FROM deliveries r WHERE 1 = 1"
    if bot_id is not None:
        sql += f" AND r.bot_id = {params(bot_id)}"
    for column, value in filters.items():
        sql += f" AND r.{column} = {params(value)}"
    return await fetch_page(conn, DeliveryRow, sql, params, order=Order(), cursor=cursor, limit=limit)
