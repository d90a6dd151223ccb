"""Conversations and their participants."""

from typing import TypedDict

from parley.store.database import Connection, Statement
from parley.store.listing import Driver, Listing, Members, Tag, fetch_listing
from parley.store.lookup import Lookup
from parley.store.sql import Cursor, Order, Params, fetch_page, select_list
from parley.store.users import COLUMNS as USER_COLUMNS
from parley.store.users import UserRow


class ConversationRow(TypedDict):
    id: str
    bot_id: str
    channel: str
    # The alias of the installation that owns the conversation, and its integration's name; both
    # empty for the bot's own.
    integration: str
    integration_name: str
    tags: str
    created_at: str
    updated_at: str
    current_task_id: str | None
    current_workflow_id: str | None


# `current_workflow_id` is derived, not stored: the newest workflow of the conversation that is
# still active (pending, in progress, listening or paused).
CURRENT_WORKFLOW = (
    "(SELECT w.id FROM workflows w WHERE w.conversation_id = r.id"
    " AND w.status IN ('pending', 'in_progress', 'listening', 'paused')"
    " ORDER BY w.created_at DESC, w.id DESC LIMIT 1)"
)
COLUMNS = select_list(ConversationRow, current_workflow_id=CURRENT_WORKFLOW)


def lookup(bot_id: str, *, channel: str, integration: str) -> Lookup[ConversationRow]:
    """Where a get-or-create looks for a conversation: the bot's conversations on `channel`
    owned by the installation `integration` (the empty string: the bot's own)."""
    scope = {"channel": channel, "integration": integration}
    return Lookup(ConversationRow, "conversations", COLUMNS, bot_id, "conversation", scope)


async def insert_conversation(
    conn: Connection,
    *,
    id: str,
    bot_id: str,
    channel: str,
    integration: str,
    integration_name: str,
    tags: str,
    now: str,
) -> None:
    await conn.execute(
        "INSERT INTO conversations (id, bot_id, channel, integration, integration_name, tags, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        id,
        bot_id,
        channel,
        integration,
        integration_name,
        tags,
        now,
    )


async def get_conversation(conn: Connection, *, bot_id: str, id: str) -> ConversationRow | None:
    return await conn.fetch_one(
        ConversationRow, f"SELECT {COLUMNS} FROM conversations r WHERE r.id = $1 AND r.bot_id = $2", id, bot_id
    )


async def update_conversation(conn: Connection, *, id: str, tags: str, now: str) -> None:
    await conn.execute("UPDATE conversations SET tags = $2, updated_at = $3 WHERE id = $1", id, tags, now)


async def set_current_task(conn: Connection, *, id: str, task_id: str | None, now: str) -> None:
    await conn.execute("UPDATE conversations SET current_task_id = $2, updated_at = $3 WHERE id = $1", id, task_id, now)


async def delete_conversation(conn: Connection, *, bot_id: str, id: str) -> None:
    """Removes the conversation with its participants and messages."""
    messages = "messages WHERE bot_id = $2 AND conversation_id = $1"
    await conn.execute(f"DELETE FROM tag_index WHERE resource_id IN (SELECT id FROM {messages})", id, bot_id)
    await conn.execute(f"DELETE FROM {messages}", id, bot_id)
    await conn.execute("DELETE FROM participants WHERE conversation_id = $1", id)
    await conn.execute("DELETE FROM tag_index WHERE resource_id = $1", id)
    await conn.execute("DELETE FROM states WHERE resource_id = $1 AND type = 'conversation'", id)
    await conn.execute("DELETE FROM conversations WHERE id = $1", id)


async def list_conversations(
    conn: Connection,
    *,
    bot_id: str,
    integration: str | None,
    integration_name: str | None,
    channel: str | None,
    participant_ids: list[str],
    tags: dict[str, str],
    after: str | None,
    before: str | None,
    order: Order,
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[ConversationRow], str | None]:
    params = Params(bot_id)
    conditions = ""
    drivers: list[Driver] = [Tag("conversation", key, value) for key, value in tags.items()]
    if integration is not None:
        conditions += f" AND r.integration = {params(integration)}"
    if integration_name is not None:
        name = params(integration_name)
        conditions += f" AND (r.integration = {name} OR r.integration_name = {name})"
    if channel is not None:
        conditions += f" AND r.channel = {params(channel)}"
    drivers += [
        Members(
            "SELECT p.conversation_id AS id FROM participants p WHERE p.bot_id = $1 AND p.user_id = $2",
            "EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = r.id AND p.user_id = $2 LIMIT 1 OFFSET 0)",
            (user_id,),
        )
        for user_id in participant_ids
    ]
    if after is not None:
        conditions += f" AND r.created_at >= {params(after)}"
    if before is not None:
        conditions += f" AND r.created_at <= {params(before)}"
    if drivers:
        listing = Listing("conversations", COLUMNS, bot_id, conditions, params.args[1:], drivers, order, cursor, limit)
        return await fetch_listing(conn, ConversationRow, listing)
    sql = f"SELECT {COLUMNS} FROM conversations r WHERE r.bot_id = $1{conditions}"
    return await fetch_page(conn, ConversationRow, sql, params, order=order, cursor=cursor, limit=limit)


def participant(*, bot_id: str, conversation_id: str, user_id: str, now: str) -> Statement:
    """Adds a participant; one already there stays as it is."""
    return (
        "INSERT INTO participants (conversation_id, user_id, bot_id, created_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (conversation_id, user_id) DO NOTHING",
        (conversation_id, user_id, bot_id, now),
    )


async def add_participant(conn: Connection, *, bot_id: str, conversation_id: str, user_id: str, now: str) -> None:
    await conn.execute_all([participant(bot_id=bot_id, conversation_id=conversation_id, user_id=user_id, now=now)])


async def get_participant(conn: Connection, *, conversation_id: str, user_id: str) -> UserRow | None:
    return await conn.fetch_one(
        UserRow,
        f"SELECT {USER_COLUMNS} FROM participants p JOIN users r ON r.id = p.user_id"
        " WHERE p.conversation_id = $1 AND p.user_id = $2",
        conversation_id,
        user_id,
    )


async def remove_participant(conn: Connection, *, conversation_id: str, user_id: str) -> int:
    return await conn.execute(
        "DELETE FROM participants WHERE conversation_id = $1 AND user_id = $2", conversation_id, user_id
    )


async def list_participants(
    conn: Connection, *, conversation_id: str, cursor: Cursor | None, limit: int
) -> tuple[list[UserRow], str | None]:
    params = Params(conversation_id)
    sql = (
        f"SELECT {USER_COLUMNS} FROM users r"
        " WHERE r.id IN (SELECT p.user_id FROM participants p WHERE p.conversation_id = $1)"
    )
    return await fetch_page(conn, UserRow, sql, params, order=Order(), cursor=cursor, limit=limit)
