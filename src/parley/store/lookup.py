"""Get-or-create lookups: the oldest resource of a bot that carries a key's tags, found on its
own or in the statement that inserts a new resource's rows when it finds none."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Generic

from parley.store.database import Connection, R, Statement
from parley.store.listing import Tag, count_candidates
from parley.store.sql import Params


@dataclass(frozen=True)
class LookupKey:
    """The tags a lookup matches, as the get-or-create rules chose them."""

    pairs: tuple[tuple[str, str], ...]
    # Namespaces in which a match's tags must be exactly `pairs`; None compares `pairs` only.
    exact_namespaces: frozenset[str] | None
    # The match's whole tag set must be exactly `pairs` (resources whose tags have no owners).
    exact_all: bool = False


@dataclass(frozen=True)
class Lookup(Generic[R]):
    """Where to look: a resource table, the rows it answers (`shape`, read with the SELECT list
    `columns`), its tag kind, and equalities (`scope`) and memberships (`scope_in`, such as a set
    of statuses) that scope the match. Each resource's store module makes its own
    (`users.lookup`, `conversations.lookup`, ...)."""

    shape: type[R]
    table: str
    columns: str
    bot_id: str
    kind: str
    scope: Mapping[str, str] = field(default_factory=dict)
    scope_in: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def lock_name(self, key: LookupKey) -> str:
        """The name of the lock that serialises the get-or-create calls of this key."""
        scope = "\x1f".join(f"{column}={value}" for column, value in sorted(self.scope.items()))
        scope += "".join(f"\x1f{column}@{'|'.join(values)}" for column, values in sorted(self.scope_in.items()))
        pairs = "\x1f".join(f"{k}\x1e{v}" for k, v in key.pairs)
        return f"get-or-create\x1d{self.bot_id}\x1d{self.kind}\x1d{scope}\x1d{pairs}"

    def query(self, params: Params, key: LookupKey) -> str:
        """The lookup as SQL, with `params` starting at the bot id."""
        return oldest_by_tags(
            params,
            table=self.table,
            columns=self.columns,
            kind=self.kind,
            pairs=key.pairs,
            exact_namespaces=key.exact_namespaces,
            exact_all=key.exact_all,
            where=self.scope,
            where_in=self.scope_in,
        )

    async def find(self, conn: Connection, key: LookupKey) -> R | None:
        key = await self.most_selective_first(conn, key)
        params = Params(self.bot_id)
        return await conn.fetch_one(self.shape, self.query(params, key), *params.args)

    async def find_or_insert(self, conn: Connection, key: LookupKey, statements: Sequence[Statement]) -> R | None:
        """The match, or None after inserting a new resource's rows (one-row INSERT ... VALUES
        `statements`): one statement where the database allows (Connection.find_or_insert)."""
        key = await self.most_selective_first(conn, key)
        params = Params(self.bot_id)
        return await conn.find_or_insert(self.shape, self.query(params, key), params.args, statements)

    async def most_selective_first(self, conn: Connection, key: LookupKey) -> LookupKey:
        """The key with the pair that the fewest resources carry first: the lookup walks that
        pair's entries (counted as count_candidates does, in one statement; none for one pair)."""
        if len(key.pairs) < 2:
            return key
        counts = await count_candidates(conn, self.bot_id, [Tag(self.kind, k, v) for k, v in key.pairs])
        ranked = sorted(range(len(key.pairs)), key=lambda index: counts[index])
        return replace(key, pairs=tuple(key.pairs[index] for index in ranked))


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
    lookups of the same shape differ only in their arguments, so the text is built once.

    The first pair drives: its entries in `tag_index_ordered` are walked oldest first (CROSS JOIN
    keeps SQLite from starting elsewhere; the order and the LIMIT 1 make that PostgreSQL's plan
    too), each candidate's row is read by its primary key alone (the entries are the bot's, and
    without `r.bot_id` no other index reaches the row: see store.listing), and every other pair
    is a check on each candidate, as a subquery that is not turned into a join. The first
    candidate that passes is the oldest match."""
    params = Params(*range(first))
    if not pairs:
        source = f"{table} r"
        conditions = " AND r.bot_id = $1"
        order = "r.created_at || '', r.id"
    else:
        source = f"tag_index d CROSS JOIN {table} r"
        conditions = (
            f" AND d.bot_id = $1 AND d.kind = {params(None)} AND d.key = {params(None)}"
            f" AND d.value = {params(None)} AND r.id = d.resource_id"
        )
        conditions += "".join(
            f" AND EXISTS (SELECT 1 FROM tag_index t{i} WHERE t{i}.resource_id = r.id AND t{i}.kind = {params(None)}"
            f" AND t{i}.key = {params(None)} AND t{i}.value = {params(None)} LIMIT 1 OFFSET 0)"
            for i in range(1, pairs)
        )
        order = "d.created_at, d.resource_id"
    conditions += "".join(f" AND r.{column} = {params(None)}" for column in where)
    conditions += "".join(f" AND r.{column} IN ({params.many([None] * count)})" for column, count in where_in)
    if exact_all or namespaces is not None:
        others = "" if exact_all else f" AND x.ns IN ({params.many([None] * (namespaces or 0))})"
        if pairs:
            others += f" AND x.key NOT IN ({params.many([None] * pairs)})"
        conditions += f" AND NOT EXISTS (SELECT 1 FROM tag_index x WHERE x.resource_id = r.id{others})"
    # Without pairs, ordering by an expression keeps the planner from walking the resource
    # table's whole creation-order index for the rare resource without tags.
    return f"SELECT {columns} FROM {source} WHERE {conditions.removeprefix(' AND ')} ORDER BY {order} LIMIT 1"
