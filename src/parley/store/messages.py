"""Messages."""

from typing import NamedTuple, TypedDict, cast

from parley.store.conversations import CURRENT_WORKFLOW, ConversationRow
from parley.store.database import Connection, Statement
from parley.store.listing import Column, Driver, Listing, Tag, fetch_listing
from parley.store.lookup import Lookup, LookupKey
from parley.store.sql import Cursor, Order, Params, fetch_page, select_list, unprefixed
from parley.store.users import UserRow


class MessageRow(TypedDict):
    id: str
    bot_id: str
    conversation_id: str
    user_id: str
    type: str
    payload: str
    direction: str
    origin: str | None
    tags: str
    scheduled_for: str | None
    created_at: str
    updated_at: str


class MessageInConversation(MessageRow):
    """A message with what the rules need of its conversation."""

    # The alias of the installation that owns the conversation (empty: the bot), and its channel.
    conversation_integration: str
    conversation_channel: str


class MessageContext(TypedDict):
    """What writing a message needs of its conversation and author (see `context`)."""

    context_integration: str
    context_channel: str
    # The alias of the installation that owns the author (empty: the bot); None when the author
    # is no user of the bot.
    context_author: str | None
    # 0 or 1 on SQLite, a bool on PostgreSQL.
    context_participant: int


COLUMNS = select_list(MessageRow)


def lookup(bot_id: str) -> Lookup[MessageRow]:
    """Where a get-or-create looks for a message: every message of the bot."""
    return Lookup(MessageRow, "messages", COLUMNS, bot_id, "message")


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


# With the bot's id in $1 and the author's user id in $2.
_CONTEXT_COLUMNS = select_list(
    MessageContext,
    context_integration="r.integration",
    context_channel="r.channel",
    context_author="(SELECT u.integration FROM users u WHERE u.id = $2 AND u.bot_id = $1)",
    context_participant="EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = r.id AND p.user_id = $2)",
)
# The conversation (alias r) and the author (alias a) whole, beside the context.
# (Not `conversation_`: the match's `m.*` has a column `conversation_id`.)
_CONVERSATION = "conv_"
_AUTHOR = "author_"
_WHOLE_COLUMNS = (
    f"{select_list(ConversationRow, prefix=_CONVERSATION, current_workflow_id=CURRENT_WORKFLOW)},"
    f" {select_list(UserRow, 'a', prefix=_AUTHOR)}"
)


class _Matched(MessageContext):
    # The id of the message the lookup found, None when it found none.
    id: str | None


class Context(NamedTuple):
    """What `context` read."""

    about: MessageContext
    # The message the get-or-create lookup found, when one was asked for and found.
    found: MessageRow | None
    # With `whole`: the conversation, and the author when it is a user of the bot.
    conversation: ConversationRow | None = None
    author: UserRow | None = None


async def context(
    conn: Connection,
    *,
    bot_id: str,
    conversation_id: str,
    user_id: str,
    match: LookupKey | None = None,
    whole: bool = False,
) -> Context | None:
    """What writing a message needs, in one round trip: the integration that owns the
    conversation and its channel, the integration that owns the author if the author is a user of
    the bot, whether the author is a participant already and, with `match`, the message that the
    get-or-create lookup of that key finds (None when none). With `whole`, the conversation and
    the author as well, as an incoming message's event shows them to the bot. None: no such
    conversation."""
    params = Params(bot_id, user_id)
    columns = f"{_CONTEXT_COLUMNS}, {_WHOLE_COLUMNS}" if whole else _CONTEXT_COLUMNS
    joins = " LEFT JOIN users a ON a.id = $2 AND a.bot_id = $1" if whole else ""
    if match is not None:
        columns += ", m.*"
        joins += f" LEFT JOIN ({lookup(bot_id).query(params, match)}) m ON 1 = 1"
    sql = f"SELECT {columns} FROM conversations r{joins} WHERE r.id = {params(conversation_id)} AND r.bot_id = $1"
    row = await conn.fetch_one(_Matched, sql, *params.args)
    if row is None:
        return None
    # With `match`, the row holds the match's columns too (`m.*`): it is the message when there was one.
    found = None if match is None or row["id"] is None else cast(MessageRow, row)
    if not whole:
        return Context(row, found)
    author = None if row["context_author"] is None else unprefixed(UserRow, row, _AUTHOR)
    return Context(row, found, unprefixed(ConversationRow, row, _CONVERSATION), author)


async def get_message(conn: Connection, *, bot_id: str, id: str) -> MessageRow | None:
    return await conn.fetch_one(
        MessageRow, f"SELECT {COLUMNS} FROM messages r WHERE r.id = $1 AND r.bot_id = $2", id, bot_id
    )


async def get_message_with_conversation(conn: Connection, *, bot_id: str, id: str) -> MessageInConversation | None:
    """A message and, in the same round trip, the integration that owns its conversation and the
    conversation's channel."""
    return await conn.fetch_one(
        MessageInConversation,
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
) -> tuple[list[MessageRow], str | None]:
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
        return await fetch_listing(conn, MessageRow, listing)
    sql = f"SELECT {COLUMNS} FROM messages r WHERE r.bot_id = $1{conditions}"
    return await fetch_page(conn, MessageRow, sql, params, order=Order(), cursor=cursor, limit=limit)
