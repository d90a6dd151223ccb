"""The tag index: one row per (resource, key), for lookups by tag and list filters."""

from collections.abc import Mapping
from typing import TypedDict

from parley.store.database import Connection, Statement
from parley.store.sql import Params

# The table that holds the resources of each tag kind.
TABLES = {
    "user": "users",
    "conversation": "conversations",
    "message": "messages",
    "workflow": "workflows",
    "task": "tasks",
}


class TaggedRow(TypedDict):
    """The columns every tagged resource's row has: its id, and its tags as a JSON object."""

    id: str
    tags: str


def namespace(key: str) -> str:
    """`telegram` for `telegram:chatId`; the empty string for a bot's own `chatId`."""
    head, sep, _ = key.partition(":")
    return head if sep else ""


def index_tags(
    *, bot_id: str, kind: str, resource_id: str, tags: Mapping[str, str], created_at: str
) -> list[Statement]:
    """The statements that index the tags of a resource created at `created_at` and not yet
    written (they may run in the statement that inserts it), one row each."""
    return [
        (
            "INSERT INTO tag_index (bot_id, kind, resource_id, key, value, ns, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            (bot_id, kind, resource_id, key, value, namespace(key), created_at),
        )
        for key, value in tags.items()
    ]


async def write_tags(
    conn: Connection, *, bot_id: str, kind: str, resource_id: str, tags: Mapping[str, str], replace: bool
) -> None:
    """Indexes `tags` for a stored resource (its entries take its creation time from its row);
    with `replace`, its previous index rows go first."""
    if replace:
        await conn.execute("DELETE FROM tag_index WHERE resource_id = $1", resource_id)
    statements: list[Statement] = [
        (
            "INSERT INTO tag_index (bot_id, kind, resource_id, key, value, ns, created_at)"
            f" SELECT $1, $2, $3, $4, $5, $6, r.created_at FROM {TABLES[kind]} r WHERE r.id = $3",
            (bot_id, kind, resource_id, key, value, namespace(key)),
        )
        for key, value in tags.items()
    ]
    if statements:
        await conn.execute_all(statements)


async def delete_tags(conn: Connection, resource_ids: list[str]) -> None:
    if resource_ids:
        params = Params()
        await conn.execute(f"DELETE FROM tag_index WHERE resource_id IN ({params.many(resource_ids)})", *params.args)


async def retag(
    conn: Connection, *, kind: str, bot_id: str, id: str, tags: Mapping[str, str], encoded: str, now: str
) -> None:
    """Stores a resource's new tag set: its JSON column, its `updated_at`, and its index rows."""
    await conn.execute(f"UPDATE {TABLES[kind]} SET tags = $2, updated_at = $3 WHERE id = $1", id, encoded, now)
    await write_tags(conn, bot_id=bot_id, kind=kind, resource_id=id, tags=tags, replace=True)
