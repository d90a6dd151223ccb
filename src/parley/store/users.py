"""Users of a bot."""

from typing import TypedDict

from parley.store.database import Connection
from parley.store.listing import Driver, Listing, Members, Tag, fetch_listing
from parley.store.lookup import Lookup
from parley.store.sql import Cursor, Order, Params, fetch_page, select_list


class UserRow(TypedDict):
    id: str
    bot_id: str
    # The alias of the installation that owns the user; empty for the bot's own.
    integration: str
    name: str | None
    picture_url: str | None
    tags: str
    created_at: str
    updated_at: str


COLUMNS = select_list(UserRow)


def lookup(bot_id: str, *, integration: str | None) -> Lookup[UserRow]:
    """Where a get-or-create looks for a user: the bot's users, only those owned by the
    installation `integration` when given."""
    scope = {} if integration is None else {"integration": integration}
    return Lookup(UserRow, "users", COLUMNS, bot_id, "user", scope)


async def insert_user(
    conn: Connection,
    *,
    id: str,
    bot_id: str,
    integration: str,
    name: str | None,
    picture_url: str | None,
    tags: str,
    now: str,
) -> None:
    await conn.execute(
        "INSERT INTO users (id, bot_id, integration, name, picture_url, tags, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        id,
        bot_id,
        integration,
        name,
        picture_url,
        tags,
        now,
    )


async def get_user(conn: Connection, *, bot_id: str, id: str) -> UserRow | None:
    return await conn.fetch_one(UserRow, f"SELECT {COLUMNS} FROM users r WHERE r.id = $1 AND r.bot_id = $2", id, bot_id)


async def get_users(conn: Connection, *, bot_id: str, ids: list[str]) -> list[UserRow]:
    """The bot's users among `ids` (a page's worth), in no particular order."""
    if not ids:
        return []
    params = Params(bot_id)
    return await conn.fetch_all(
        UserRow, f"SELECT {COLUMNS} FROM users r WHERE r.bot_id = $1 AND r.id IN ({params.many(ids)})", *params.args
    )


async def update_user(
    conn: Connection, *, id: str, name: str | None, picture_url: str | None, tags: str, now: str
) -> None:
    await conn.execute(
        "UPDATE users SET name = $2, picture_url = $3, tags = $4, updated_at = $5 WHERE id = $1",
        id,
        name,
        picture_url,
        tags,
        now,
    )


async def delete_user(conn: Connection, *, id: str) -> None:
    await conn.execute("DELETE FROM participants WHERE user_id = $1", id)
    await conn.execute("DELETE FROM tag_index WHERE resource_id = $1", id)
    await conn.execute("DELETE FROM states WHERE resource_id = $1 AND type = 'user'", id)
    await conn.execute("DELETE FROM users WHERE id = $1", id)


async def list_users(
    conn: Connection,
    *,
    bot_id: str,
    integration: str | None,
    conversation_id: str | None,
    tags: dict[str, str],
    range_field: str,
    after: str | None,
    before: str | None,
    order: Order,
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[UserRow], str | None]:
    params = Params(bot_id)
    conditions = ""
    drivers: list[Driver] = [Tag("user", key, value) for key, value in tags.items()]
    if integration is not None:
        conditions += f" AND r.integration = {params(integration)}"
    if conversation_id is not None:
        drivers.append(
            Members(
                # `p.bot_id || ''` keeps SQLite, which has no statistics, from reading the bot's
                # participants through participants_user rather than the conversation's through
                # the primary key.
                "SELECT p.user_id AS id FROM participants p WHERE p.conversation_id = $2 AND p.bot_id || '' = $1",
                "EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = $2 AND p.user_id = r.id"
                " LIMIT 1 OFFSET 0)",
                (conversation_id,),
            )
        )
    if after is not None:
        conditions += f" AND r.{range_field} >= {params(after)}"
    if before is not None:
        conditions += f" AND r.{range_field} <= {params(before)}"
    if drivers:
        listing = Listing("users", COLUMNS, bot_id, conditions, params.args[1:], drivers, order, cursor, limit)
        return await fetch_listing(conn, UserRow, listing)
    sql = f"SELECT {COLUMNS} FROM users r WHERE r.bot_id = $1{conditions}"
    return await fetch_page(conn, UserRow, sql, params, order=order, cursor=cursor, limit=limit)
