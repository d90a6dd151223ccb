"""Chat signals too large for a NOTIFY, kept for the moment other processes need to read them."""

from typing import TypedDict

from parley.store.database import Connection


class SignalRow(TypedDict):
    payload: str


async def insert_signal(conn: Connection, *, id: str, payload: str, now: str) -> None:
    await conn.execute("INSERT INTO signals (id, payload, created_at) VALUES ($1, $2, $3)", id, payload, now)


async def get_signal(conn: Connection, id: str) -> SignalRow | None:
    return await conn.fetch_one(SignalRow, "SELECT payload FROM signals WHERE id = $1", id)


async def prune(conn: Connection, *, before: str) -> None:
    await conn.execute("DELETE FROM signals WHERE created_at < $1", before)
