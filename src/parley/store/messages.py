"""Messages."""

from parley.store.database import Connection, Row, Statement
from parley.store.listing import Column, Driver, Listing, Tag, fetch_listing
from parley.store.lookup import Lookup, LookupKey
from parley.store.sql import Cursor, Order, Params, fetch_page

COLUMNS = (
    "r.id, r.bot_id, r.conversation_id, r.user_id, r.type, r.payload, r.direction, r.origin, r.tags,"
    " r.scheduled_for, r.created_at, r.updated_at"
)


def lookup(bot_id: str) -> Lookup:
    """Where a get-or-create looks for a message: every message of the bot."""
    return Lookup("messages", COLUMNS, bot_id, "message")


def insert_message(
    *,
    id: str,
    bot_id: str,
    conversation_id: str,
    user_id: str,
    type: str,
    payload: str,
    direction: str,
    origin: str | None,
    tags: str,
    scheduled_for: str | None,
    now: str,
) -> Statement:
    return (
        "INSERT INTO messages (id, bot_id, conversation_id, user_id, type, payload, direction, origin, tags,"
        " scheduled_for, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        (
            id,
            bot_id,
            conversation_id,
            user_id,
            type,
            payload,
            direction,
            origin,
            tags,
            scheduled_for,
            now,
        ),
    )


async def context(
    conn: Connection, *, bot_id: str, conversation_id: str, user_id: str, match: LookupKey | None = None
) -> Row | None:
    """What writing a message needs, in one round trip: the integration that owns the
    conversation and its channel (`context_integration`, `context_channel`), the integration that
    owns the author if the author is a user of the bot (`context_author`, NULL otherwise), whether
    the author is a participant already (`context_participant`) and, with `match`, the columns of
    the message that the get-or-create lookup of that key finds, NULL when none. No row: no such
    conversation."""
    params = Params(bot_id)
    user = params(user_id)
    author = f"(SELECT u.integration FROM users u WHERE u.id = {user} AND u.bot_id = $1)"
    joined = f"EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.user_id = {user})"
    matched = ("", "") if match is None else (", m.*", f" LEFT JOIN ({lookup(bot_id).query(params, match)}) m ON 1 = 1")
    sql = (
        f"SELECT c.integration AS context_integration, c.channel AS context_channel, {author} AS context_author,"
        f" {joined} AS context_participant{matched[0]} FROM conversations c{matched[1]}"
        f" WHERE c.id = {params(conversation_id)} AND c.bot_id = $1"
    )
    return await conn.fetch_one(sql, *params.args)


async def get_message(conn: Connection, *, bot_id: str, id: str) -> Row | None:
    return await conn.fetch_one(f"SELECT {COLUMNS} FROM messages r WHERE r.id = $1 AND r.bot_id = $2", id, bot_id)


async def get_message_with_conversation(conn: Connection, *, bot_id: str, id: str) -> Row | None:
    """A message and, in the same round trip, the integration that owns its conversation and the
    conversation's channel (`conversation_integration`, `conversation_channel`)."""
    return await conn.fetch_one(
        f"SELECT {COLUMNS}, c.integration AS conversation_integration, c.channel AS conversation_channel"
        " FROM messages r JOIN conversations c ON c.id = r.conversation_id WHERE r.id = $1 AND r.bot_id = $2",
        id,
        bot_id,
    )


async def update_message(conn: Connection, *, id: str, payload: str, tags: str, now: str) -> None:
    await conn.execute(
        "UPDATE messages SET payload = $2, tags = $3, updated_at = $4 WHERE id = $1", id, payload, tags, now
    )


async def delete_message(conn: Connection, *, id: str) -> None:
    await conn.execute("DELETE FROM tag_index WHERE resource_id = $1", id)
    await conn.execute("DELETE FROM messages WHERE id = $1", id)


async def list_messages(
    conn: Connection,
    *,
    bot_id: str,
    conversation_id: str | None,
    integration: str | None,
    tags: dict[str, str],
    after: str | None,
    before: str | None,
    now: str,
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[Row], str | None]:
    """Messages newest first, leaving out those scheduled for later than `now`. A list filtered
    by tags is driven by its most selective tag or conversation (store.listing)."""
    params = Params(bot_id)
    conditions = ""
    drivers: list[Driver] = [Tag("message", key, value) for key, value in tags.items()]
    if conversation_id is not None:
        if drivers:
            drivers.append(Column("messages", "conversation_id", conversation_id))
        else:
            conditions += f" AND r.conversation_id = {params(conversation_id)}"
    if integration is not None:
        conditions += (
            " AND r.conversation_id IN (SELECT c.id FROM conversations c WHERE c.bot_id = $1"
            f" AND c.integration = {params(integration)})"
        )
    conditions += f" AND (r.scheduled_for IS NULL OR r.scheduled_for <= {params(now)})"
    if after is not None:
        conditions += f" AND r.created_at >= {params(after)}"
    if before is not None:
        conditions += f" AND r.created_at <= {params(before)}"
    if drivers:
        listing = Listing("messages", COLUMNS, bot_id, conditions, params.args[1:], drivers, Order(), cursor, limit)
        return await fetch_listing(conn, listing)
    sql = f"SELECT {COLUMNS} FROM messages r WHERE r.bot_id = $1{conditions}"
    return await fetch_page(conn, sql, params, order=Order(), cursor=cursor, limit=limit)
