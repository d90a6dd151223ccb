"""The tag index: one row per (resource, key), for lookups by tag and list filters."""

from collections.abc import Mapping, Sequence
from functools import lru_cache

from parley.store.database import Connection, Statement
from parley.store.sql import Params


def namespace(key: str) -> str:
    """`telegram` for `telegram:chatId`; the empty string for a bot's own `chatId`."""
    head, sep, _ = key.partition(":")
    return head if sep else ""


def index_tags(*, bot_id: str, kind: str, resource_id: str, tags: Mapping[str, str]) -> list[Statement]:
    """The statements that index the tags of a new resource, one row each."""
    return [
        (
            "INSERT INTO tag_index (bot_id, kind, resource_id, key, value, ns) VALUES ($1, $2, $3, $4, $5, $6)",
            (bot_id, kind, resource_id, key, value, namespace(key)),
        )
        for key, value in tags.items()
    ]


async def write_tags(
    conn: Connection, *, bot_id: str, kind: str, resource_id: str, tags: Mapping[str, str], replace: bool
) -> None:
    """Indexes `tags` for a resource; with `replace`, its previous index rows go first."""
    if replace:
        await conn.execute("DELETE FROM tag_index WHERE resource_id = $1", resource_id)
    statements = index_tags(bot_id=bot_id, kind=kind, resource_id=resource_id, tags=tags)
    if statements:
        await conn.execute_all(statements)


async def delete_tags(conn: Connection, resource_ids: list[str]) -> None:
    if resource_ids:
        params = Params()
        await conn.execute(f"DELETE FROM tag_index WHERE resource_id IN ({params.many(resource_ids)})", *params.args)


def oldest_by_tags(
    params: Params,
    *,
    table: str,
    columns: str,
    kind: str,
    pairs: tuple[tuple[str, str], ...],
    exact_namespaces: frozenset[str] | None,
    exact_all: bool = False,
    where: Mapping[str, str] | None = None,
    where_in: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A query for the oldest resource of the bot in `$1` that carries every (key, value) of
    `pairs`; its other arguments are added to `params`.

    With `exact_namespaces`, a resource that has any other tag in those namespaces does not
    match: its tag set there must be exactly `pairs`. With `exact_all`, its whole tag set must be
    exactly `pairs` (no pairs: a resource without tags). `where` and `where_in` are equalities
    and memberships on the resource's own columns.
    """
    where, where_in = where or {}, where_in or {}
    namespaces = None if exact_all or exact_namespaces is None else sorted(exact_namespaces)
    sql = _oldest_by_tags_sql(
        len(params.args),
        table,
        columns,
        len(pairs),
        tuple(where),
        tuple((column, len(values)) for column, values in where_in.items()),
        exact_all,
        None if namespaces is None else len(namespaces),
    )
    # In the order of the placeholders that _oldest_by_tags_sql writes.
    for key, value in pairs:
        params.args += (kind, key, value)
    params.args += where.values()
    for values in where_in.values():
        params.args += values
    if exact_all or namespaces is not None:
        params.args += namespaces or ()
        params.args += (key for key, _ in pairs)
    return sql


@lru_cache(maxsize=256)
def _oldest_by_tags_sql(
    first: int,
    table: str,
    columns: str,
    pairs: int,
    where: tuple[str, ...],
    where_in: tuple[tuple[str, int], ...],
    exact_all: bool,
    namespaces: int | None,
) -> str:
    """The SQL of oldest_by_tags for one shape of lookup, with placeholders from `$first + 1`:
    lookups of the same shape differ only in their arguments, so the text is built once."""
    params = Params(*range(first))
    joins = "".join(
        f" JOIN tag_index t{i} ON t{i}.resource_id = r.id AND t{i}.bot_id = $1 AND t{i}.kind = {params(None)}"
        f" AND t{i}.key = {params(None)} AND t{i}.value = {params(None)}"
        for i in range(pairs)
    )
    conditions = "".join(f" AND r.{column} = {params(None)}" for column in where)
    conditions += "".join(f" AND r.{column} IN ({params.many([None] * count)})" for column, count in where_in)
    if exact_all or namespaces is not None:
        others = "" if exact_all else f" AND x.ns IN ({params.many([None] * (namespaces or 0))})"
        if pairs:
            others += f" AND x.key NOT IN ({params.many([None] * pairs)})"
        conditions += f" AND NOT EXISTS (SELECT 1 FROM tag_index x WHERE x.resource_id = r.id{others})"
    # `created_at || ''` keeps the planner from walking the resource table in creation order
    # (its index on (bot_id, created_at) would satisfy ORDER BY ... LIMIT 1) and probing the tag
    # index row by row: that plan reads every resource of the bot. Ordering by an expression, the
    # lookup starts from the tag index and sorts the few matches instead.
    return (
        f"SELECT {columns} FROM {table} r{joins} WHERE r.bot_id = $1{conditions}"
        " ORDER BY r.created_at || '', r.id LIMIT 1"
    )


# The table that holds the resources of each tag kind that retag serves.
_TABLES = {"user": "users", "conversation": "conversations", "message": "messages", "workflow": "workflows"}


async def retag(
    conn: Connection, *, kind: str, bot_id: str, id: str, tags: Mapping[str, str], encoded: str, now: str
) -> None:
    """Stores a resource's new tag set: its JSON column, its `updated_at`, and its index rows."""
    await conn.execute(f"UPDATE {_TABLES[kind]} SET tags = $2, updated_at = $3 WHERE id = $1", id, encoded, now)
    await write_tags(conn, bot_id=bot_id, kind=kind, resource_id=id, tags=tags, replace=True)
