"""The distinct values of one tag key, read from the tag index."""

from typing import TypedDict

from parley.store.database import Connection
from parley.store.sql import Params


class _Value(TypedDict):
    value: str


# Resources an installation owns, by tag kind: `t` is the tag_index row, `{alias}` the installation's
# alias. A message belongs to whoever owns its conversation.
_OWNED_BY = {
    "user": "EXISTS (SELECT 1 FROM users o WHERE o.id = t.resource_id AND o.integration = {alias})",
    "conversation": "EXISTS (SELECT 1 FROM conversations o WHERE o.id = t.resource_id AND o.integration = {alias})",
    "message": (
        "EXISTS (SELECT 1 FROM messages m JOIN conversations o ON o.id = m.conversation_id"
        " WHERE m.id = t.resource_id AND o.integration = {alias})"
    ),
}


async def list_tag_values(
    conn: Connection,
    *,
    bot_id: str,
    kind: str,
    key: str,
    integration: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[str], str | None]:
    """One page of the values `key` takes on the bot's resources of `kind`, in ascending order,
    starting after the value `after`. With `integration`, only resources that installation owns
    count. Also returns the page's last value when another page follows, None on the last page.

    The query walks `tag_index_lookup` in value order, so a page stops reading once it has
    `limit + 1` distinct values.
    """
    params = Params(bot_id, kind, key)
    sql = "SELECT DISTINCT t.value FROM tag_index t WHERE t.bot_id = $1 AND t.kind = $2 AND t.key = $3"
    if after is not None:
        sql += f" AND t.value > {params(after)}"
    if integration is not None:
        sql += " AND " + _OWNED_BY[kind].format(alias=params(integration))
    sql += f" ORDER BY t.value LIMIT {int(limit) + 1}"
    values = [row["value"] for row in await conn.fetch_all(_Value, sql, *params.args)]
    if len(values) <= limit:
        return values, None
    return values[:limit], values[limit - 1]
