"""Fills a Parley database with one bot, its users, conversations and messages, fast.

Goes through the storage layer (`parley.store`), not HTTP: the bot and its API key are made by
the admin service as an operator would, and messages are written with `execute_many` in large
transactions, each with the `tag_index` row its tag needs. The insert statements are built from
the schema metadata, so a column added to the schema makes the seeder fail loudly instead of
measuring a stale table.
"""

import asyncio
import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Table

from parley.clock import iso_from_ms
from parley.config import Settings
from parley.service.admin_models import CreateBot, CreateBotApiKey
from parley.service.api_keys import create_bot_api_key
from parley.service.bots import create_bot
from parley.store import open_database, tables
from parley.store.database import Connection, Database
from parley.store.migrate import run_migrations
from parley.store.tags import namespace

MESSAGES_PER_CONVERSATION = 1000
BATCH = 50_000
TAG_KEY = "externalId"
CHANNEL = "web"
MESSAGE_TYPE = "text"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class Seeded:
    """What the load scripts need to address the seeded data."""

    bot_id: str
    bot_key: str
    conversations: list[str]
    users: list[str]
    message_sample: list[str]
    messages: int


def tag_value(index: int) -> str:
    """The `externalId` of seeded message `index` (the load scripts compute the same)."""
    return f"seed-{index}"


def conversation_of(index: int, conversations: int) -> int:
    """Seeded messages go round-robin over the conversations, as interleaved chats would."""
    return index % conversations


def ulid_id(prefix: str, ms: int) -> str:
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return prefix + "_" + "".join([_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5)])


def _insert_sql(table: Table) -> tuple[str, list[str]]:
    columns = [column.name for column in table.columns]
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", columns


async def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    sql, columns = _insert_sql(table)
    if rows and set(rows[0]) != set(columns):
        raise RuntimeError(
            f"bench/seed.py does not know the columns of {table.name}: the schema has {sorted(columns)},"
            f" the seeder writes {sorted(rows[0])}. Teach the seeder the new columns."
        )
    await conn.execute_many(sql, [tuple(row[c] for c in columns) for row in rows])


def user_row(user_id: str, bot_id: str, at: str, tags: str = "{}") -> dict[str, Any]:
    """A `users` row of the bot, created and updated at `at`, with `tags` (JSON)."""
    return {
        "id": user_id,
        "bot_id": bot_id,
        "integration": "",
        "name": None,
        "picture_url": None,
        "tags": tags,
        "created_at": at,
        "updated_at": at,
    }


def conversation_row(conversation_id: str, bot_id: str, at: str, tags: str = "{}") -> dict[str, Any]:
    """A `conversations` row of the bot on CHANNEL, created and updated at `at`, with `tags` (JSON)."""
    return {
        "id": conversation_id,
        "bot_id": bot_id,
        "channel": CHANNEL,
        "integration": "",
        "integration_name": "",
        "current_task_id": None,
        "tags": tags,
        "created_at": at,
        "updated_at": at,
    }


def tag_row(bot_id: str, kind: str, resource_id: str, key: str, value: str, at: str) -> dict[str, Any]:
    """A `tag_index` row: its entry carries the creation time `at` of its resource."""
    return {
        "bot_id": bot_id,
        "kind": kind,
        "resource_id": resource_id,
        "key": key,
        "value": value,
        "ns": namespace(key),
        "created_at": at,
    }


def _message_rows(
    bot_id: str, start: int, stop: int, base_ms: int, conversations: list[str], users: list[str]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for index in range(start, stop):
        ms = base_ms + index
        now = iso_from_ms(ms)
        message_id = ulid_id("msg", ms)
        owner = conversation_of(index, len(conversations))
        value = tag_value(index)
        yield (
            {
                "id": message_id,
                "bot_id": bot_id,
                "conversation_id": conversations[owner],
                "user_id": users[owner],
                "type": MESSAGE_TYPE,
                "payload": msgspec.json.encode({"text": f"seeded message {index}"}).decode(),
                "direction": "outgoing",
                "origin": None,
                "tags": msgspec.json.encode({TAG_KEY: value}).decode(),
                "scheduled_for": None,
                "created_at": now,
                "updated_at": now,
            },
            tag_row(bot_id, "message", message_id, TAG_KEY, value, now),
        )


async def _seed(db: Database, messages: int, *, sample: int) -> Seeded:
    now_ms = time.time_ns() // 1_000_000
    # Seeded history ends a minute before now: every seeded message is visible to listMessages.
    base_ms = now_ms - messages - 60_000
    async with db.transaction() as conn:
        bot_id = await create_bot(
            conn,
            msgspec.json.decode(
                msgspec.json.encode({"name": "bench", "message": {"tags": {TAG_KEY: {}}}}), type=CreateBot
            ),
            now=iso_from_ms(now_ms),
        )
        key = await create_bot_api_key(conn, CreateBotApiKey(bot_id=bot_id), now=iso_from_ms(now_ms))
        count = max(1, -(-messages // MESSAGES_PER_CONVERSATION))
        users = [ulid_id("user", base_ms - count + n) for n in range(count)]
        conversations = [ulid_id("conv", base_ms - count + n) for n in range(count)]
        at = iso_from_ms(base_ms - 1)
        await insert_rows(conn, tables.users, [user_row(user_id, bot_id, at) for user_id in users])
        await insert_rows(
            conn, tables.conversations, [conversation_row(conversation, bot_id, at) for conversation in conversations]
        )
        await insert_rows(
            conn,
            tables.participants,
            [
                {"conversation_id": conversation_id, "user_id": user_id, "bot_id": bot_id, "created_at": at}
                for conversation_id, user_id in zip(conversations, users, strict=True)
            ],
        )
    chosen = set(random.sample(range(messages), min(sample, messages)))
    message_sample: list[str] = []
    for start in range(0, messages, BATCH):
        pairs = list(_message_rows(bot_id, start, min(start + BATCH, messages), base_ms, conversations, users))
        message_sample.extend(row["id"] for n, (row, _) in enumerate(pairs, start) if n in chosen)
        async with db.transaction() as conn:
            await insert_rows(conn, tables.messages, [message for message, _ in pairs])
            await insert_rows(conn, tables.tag_index, [tag for _, tag in pairs])
    random.shuffle(message_sample)
    return Seeded(
        bot_id=bot_id,
        bot_key=key.value,
        conversations=conversations,
        users=users,
        message_sample=message_sample,
        messages=messages,
    )


async def settle(db: Database, *, sqlite_analyze: bool) -> None:
    """Leaves the database as a server that has run for a while would find it: PostgreSQL's
    autovacuum would have analyzed the new rows; SQLite's WAL is checkpointed into the file.
    SQLite gets no ANALYZE unless asked: Parley never runs it, so by default neither does the
    benchmark, and SQLite plans its queries without statistics."""
    async with db.connection() as conn:
        if db.dialect == "postgresql":
            await conn.execute("VACUUM ANALYZE")
            return
        if sqlite_analyze:
            await conn.execute("ANALYZE")
        await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def _fill(settings: Settings, messages: int, sample: int, sqlite_analyze: bool) -> Seeded:
    db = await open_database(settings)
    try:
        seeded = await _seed(db, messages, sample=sample)
        await settle(db, sqlite_analyze=sqlite_analyze)
        return seeded
    finally:
        await db.close()


def seed(settings: Settings, *, messages: int, sample: int = 100_000, sqlite_analyze: bool = False) -> Seeded:
    """Migrates the (empty) database of `settings` and fills it with `messages` messages; keeps a
    random sample of their ids for getMessage."""
    run_migrations(settings)
    return asyncio.run(_fill(settings, messages, sample, sqlite_analyze))
