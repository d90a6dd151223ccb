"""API keys and admin tokens, stored as SHA-256 hashes of their values."""

from typing import TypedDict

from parley.store.database import Connection, Statement
from parley.store.sql import select_list


class ApiKeyRow(TypedDict):
    """A key as authentication reads it; `owner_id` is the bot or integration (None: an admin token)."""

    kind: str
    owner_id: str | None
    token_hash: str


class KeyForBotRow(ApiKeyRow):
    # The version of the bot the caller names, None when there is no such bot.
    bot_version: int | None


class KeySummaryRow(TypedDict):
    """A key as the Admin API lists it (its value is never stored)."""

    id: str
    created_at: str
    note: str


_KEY_COLUMNS = select_list(ApiKeyRow, alias="")
_FOR_BOT_COLUMNS = select_list(KeyForBotRow, alias="", bot_version="(SELECT version FROM bots WHERE id = $2)")
_SUMMARY_COLUMNS = select_list(KeySummaryRow, alias="")

# True while the API key still exists and the bot is at the version an identity was built at.
_STILL_VALID = "EXISTS (SELECT 1 FROM api_keys WHERE token_hash = $1) AND (SELECT version FROM bots WHERE id = $2) = $3"


async def insert_key(
    conn: Connection, *, id: str, kind: str, owner_id: str | None, token_hash: str, note: str, now: str
) -> None:
    await conn.execute(
        "INSERT INTO api_keys (id, kind, owner_id, token_hash, note, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        kind,
        owner_id,
        token_hash,
        note,
        now,
    )


async def find_by_hash(conn: Connection, token_hash: str) -> ApiKeyRow | None:
    return await conn.fetch_one(ApiKeyRow, f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE token_hash = $1", token_hash)


async def find_for_bot(conn: Connection, token_hash: str, bot_id: str) -> KeyForBotRow | None:
    """The key with this hash, and the version of bot `bot_id` read in the same round trip."""
    return await conn.fetch_one(
        KeyForBotRow,
        f"SELECT {_FOR_BOT_COLUMNS} FROM api_keys WHERE token_hash = $1",
        token_hash,
        bot_id,
    )


def still_valid(token_hash: str, bot_id: str, version: int) -> Statement:
    """A condition (Connection.require) that holds while the key with this hash exists and bot
    `bot_id` is still at `version`."""
    return _STILL_VALID, (token_hash, bot_id, version)


async def count_kind(conn: Connection, kind: str) -> int:
    return int(await conn.fetch_value("SELECT count(*) FROM api_keys WHERE kind = $1", kind))


async def list_keys(conn: Connection, *, kind: str, owner_id: str) -> list[KeySummaryRow]:
    return await conn.fetch_all(
        KeySummaryRow,
        f"SELECT {_SUMMARY_COLUMNS} FROM api_keys WHERE kind = $1 AND owner_id = $2 ORDER BY created_at DESC, id",
        kind,
        owner_id,
    )


async def delete_key(conn: Connection, *, id: str, kind: str) -> int:
    return await conn.execute("DELETE FROM api_keys WHERE id = $1 AND kind = $2", id, kind)
