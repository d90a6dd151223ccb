"""Filtered lists whose cost does not grow with the table.

A filtered list walks one *driver*: an index that yields candidate ids in the list's order (a
tag's entries in `tag_index_ordered`, or the resource's own order index, narrowed to a
conversation), a window of `WINDOW` entries at a time (the first one `FIRST_WINDOW` for a short page,
which is enough when most candidates pass), and keeps the candidates that pass every
other filter, checked row by row. The driver is chosen here, not by the planner: with several
candidates, one statement counts each, up to `COUNT_CAP` (but only up to `FEW` when one of them has
fewer: a unique tag beside a common one costs the same at every size), and the smallest drives. A driver that
cannot yield the list's order (a tag, for a list sorted by `updated_at`; a user's set of
conversations) is read whole when it is at most `COUNT_CAP` long and sorted; a longer one becomes
a filter on the resource's own order index.

Every statement fixes its access path: a window is a subquery with a LIMIT (which neither
SQLite nor PostgreSQL flattens), a row check is a correlated subquery with `LIMIT 1 OFFSET 0`
(which PostgreSQL does not turn into a join), and a candidate's row is read by its primary key
alone. Candidates come from the bot's entries only, so the row is not compared with the bot
again: every other index of a resource table starts with `bot_id`, and without that equality on
`r` no index but the primary key reaches the row (with it, PostgreSQL could read a conversation's
messages through `messages_bot_conversation` and hash-join them with the window). So the plan
does not depend on the values: PostgreSQL's generic plan is the custom one, and Parley's
connections use it without planning again (store.postgres).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from parley.store.database import Connection, R
from parley.store.sql import Cursor, Order, Params, fetch_page

_PLACEHOLDER = re.compile(r"\$(\d+)")
# Entries a window reads from its driver.
WINDOW = 500
# The first window of a page of at most FIRST_WINDOW // 4 rows.
FIRST_WINDOW = 100
# A driver counted past this is "large": another one drives if it is smaller.
COUNT_CAP = 1000
# A driver with fewer candidates than this drives without the others being counted further.
FEW = 32


@dataclass(frozen=True)
class Tag:
    """Resources carrying `key` = `value` (tag kind `kind`)."""

    kind: str
    key: str
    value: str

    def ordered(self, order: Order) -> bool:
        return order.column == "created_at"

    def window(self, params: Params, bot: str, order: Order, after: Cursor | None, size: int) -> str:
        entries = (
            f"tag_index d WHERE d.bot_id = {bot} AND d.kind = {params(self.kind)} AND d.key = {params(self.key)}"
            f" AND d.value = {params(self.value)}"
        )
        return _walk(params, entries, key="d.created_at", id="d.resource_id", order=order, after=after, size=size)

    def members(self, params: Params, bot: str, size: int) -> str:
        return (
            f"SELECT d.resource_id AS id FROM tag_index d WHERE d.bot_id = {bot} AND d.kind = {params(self.kind)}"
            f" AND d.key = {params(self.key)} AND d.value = {params(self.value)} LIMIT {size}"
        )

    def check(self, params: Params) -> str:
        return (
            f"EXISTS (SELECT 1 FROM tag_index f WHERE f.resource_id = r.id AND f.key = {params(self.key)}"
            f" AND f.value = {params(self.value)} LIMIT 1 OFFSET 0)"
        )


@dataclass(frozen=True)
class Column:
    """Resources of `table` whose `column` equals `value`, walked through the index on (bot_id,
    column, created_at, id): a conversation's messages."""

    table: str
    column: str
    value: str

    def ordered(self, order: Order) -> bool:
        return order.column == "created_at"

    def window(self, params: Params, bot: str, order: Order, after: Cursor | None, size: int) -> str:
        rows = f"{self.table} w WHERE w.bot_id = {bot} AND w.{self.column} = {params(self.value)}"
        return _walk(params, rows, key="w.created_at", id="w.id", order=order, after=after, size=size)

    def members(self, params: Params, bot: str, size: int) -> str:
        return (
            f"SELECT w.id AS id FROM {self.table} w WHERE w.bot_id = {bot} AND w.{self.column} = {params(self.value)}"
            f" LIMIT {size}"
        )

    def check(self, params: Params) -> str:
        return f"r.{self.column} = {params(self.value)}"


@dataclass(frozen=True)
class Members:
    """Ids listed by `sql` (a query of one column `id`, with `args` for its `$n` after the bot's
    `$1`), checked per resource by `check`: a user's conversations, a conversation's users. The
    ids come in no useful order."""

    sql: str
    check_sql: str
    args: tuple[str, ...] = field(default_factory=tuple)

    def ordered(self, order: Order) -> bool:
        return False

    def window(self, params: Params, bot: str, order: Order, after: Cursor | None, size: int) -> str:
        raise AssertionError("a set of members is never walked in order")

    def members(self, params: Params, bot: str, size: int) -> str:
        return _bind(self.sql, params, self.args) + f" LIMIT {size}"

    def check(self, params: Params) -> str:
        return _bind(self.check_sql, params, self.args)


Driver = Tag | Column | Members


def _bind(sql: str, params: Params, args: Sequence[object]) -> str:
    """`sql` with its `$2`, `$3`, ... renumbered to new parameters holding `args` ($1, the bot,
    stays)."""
    return _PLACEHOLDER.sub(
        lambda found: found.group(0) if found.group(1) == "1" else params(args[int(found.group(1)) - 2]), sql
    )


def _walk(params: Params, rows: str, *, key: str, id: str, order: Order, after: Cursor | None, size: int) -> str:
    """Up to `size` of `rows` (`table alias WHERE ...`) as (id, k), in the list's order of
    (`key`, `id`), after the position `after`."""
    direction, op = _direction(order)
    position = "" if after is None else f" AND ({key}, {id}) {op} ({params(after.value)}, {params(after.id)})"
    return (
        f"SELECT {id} AS id, {key} AS k FROM {rows}{position} ORDER BY {key} {direction}, {id} {direction} LIMIT {size}"
    )


def _direction(order: Order) -> tuple[str, str]:
    return ("DESC", "<") if order.descending else ("ASC", ">")


@dataclass(frozen=True)
class Listing:
    """One list request: the resource table, the columns to read, the bot, the filters that are
    plain conditions on the resource row (`conditions`, SQL on `r` with `$n` after the bot's
    `$1`, and their `args`), and the drivers (tags, a conversation, a set of members)."""

    table: str
    columns: str
    bot_id: str
    conditions: str
    args: Sequence[object]
    drivers: Sequence[Driver]
    order: Order
    cursor: Cursor | None
    limit: int


class _Entry(TypedDict):
    """A driver's entry: a candidate id and its sort value."""

    id: str
    k: str


async def fetch_listing(conn: Connection, shape: type[R], listing: Listing) -> tuple[list[R], str | None]:
    """The page of `listing`, driven as the module says; `nextToken` as for fetch_page."""
    drivers = list(listing.drivers)
    chosen: Driver | None = drivers[0] if len(drivers) == 1 and drivers[0].ordered(listing.order) else None
    count = None
    if chosen is None and drivers:
        counts = await count_candidates(conn, listing.bot_id, drivers)
        count, chosen = min(zip(counts, drivers, strict=True), key=lambda pair: pair[0])
    assert chosen is not None or not drivers
    others = [driver for driver in drivers if driver is not chosen]
    if chosen is not None and not chosen.ordered(listing.order):
        if count is not None and count <= COUNT_CAP:
            return await _sorted_set(conn, shape, listing, chosen, others)
        others, chosen = drivers, None
    rows: list[R] = []
    position = listing.cursor
    need = listing.limit + 1
    filtered = bool(others) or bool(listing.conditions)
    size = FIRST_WINDOW if need <= FIRST_WINDOW // 4 else WINDOW
    while True:
        found, scanned = await _window(conn, shape, listing, chosen, others, position, need - len(rows), filtered, size)
        size = WINDOW
        rows += found
        if len(rows) >= need or scanned is None:
            break
        position = scanned
    return _page(rows, listing)


def _page(rows: list[R], listing: Listing) -> tuple[list[R], str | None]:
    if len(rows) <= listing.limit:
        return rows, None
    rows = rows[: listing.limit]
    last = rows[-1]
    return rows, Cursor(str(last[listing.order.column]), str(last["id"])).encode()


async def count_candidates(conn: Connection, bot_id: str, drivers: Sequence[Driver]) -> list[int]:
    """How many candidates each driver has, in one statement: each is counted up to FEW; when none
    is below FEW, each is counted again up to COUNT_CAP + 1. A count below FEW is exact, and every
    count is at least the smallest: the smallest count always names the smallest driver."""
    params = Params(bot_id)
    few = [
        f"(SELECT COUNT(*) FROM ({driver.members(params, '$1', FEW)}) a{index}) AS f{index}"
        for index, driver in enumerate(drivers)
    ]
    any_few = " OR ".join(f"s.f{index} < {FEW}" for index in range(len(drivers)))
    full = [
        f"CASE WHEN {any_few} THEN s.f{index}"
        f" ELSE (SELECT COUNT(*) FROM ({driver.members(params, '$1', COUNT_CAP + 1)}) c{index}) END AS n{index}"
        for index, driver in enumerate(drivers)
    ]
    # The counts up to FEW are a subquery that is not flattened (OFFSET), so each runs once; a CASE
    # runs the full count only on its ELSE branch.
    sql = f"SELECT {', '.join(full)} FROM (SELECT {', '.join(few)} LIMIT 1 OFFSET 0) s"
    row = await conn.fetch_one(dict, sql, *params.args)
    assert row is not None, "a SELECT without FROM returns one row"
    return [int(row[f"n{index}"]) for index in range(len(drivers))]


def _filters(params: Params, listing: Listing, others: Sequence[Driver]) -> str:
    checks = "".join(f" AND {driver.check(params)}" for driver in others)
    return _bind(listing.conditions, params, listing.args) + checks


async def _sorted_set(
    conn: Connection, shape: type[R], listing: Listing, chosen: Driver, others: Sequence[Driver]
) -> tuple[list[R], str | None]:
    """A driver of at most COUNT_CAP ids, read whole and sorted."""
    params = Params(listing.bot_id)
    members = chosen.members(params, "$1", COUNT_CAP + 1)
    filters = _filters(params, listing, others)
    sql = (
        f"SELECT {listing.columns} FROM ({members}) w CROSS JOIN {listing.table} r WHERE r.id = w.id{filters}"
        f"{listing.order.after(params, listing.cursor)}{listing.order.clause()} LIMIT {listing.limit + 1}"
    )
    return _page(await conn.fetch_all(shape, sql, *params.args), listing)


async def _window(
    conn: Connection,
    shape: type[R],
    listing: Listing,
    chosen: Driver | None,
    others: Sequence[Driver],
    position: Cursor | None,
    need: int,
    filtered: bool,
    size: int,
) -> tuple[list[R], Cursor | None]:
    """The rows of one window of `size` entries that pass the filters, at most `need`, and the
    position after the window when more entries may follow it (None when the driver has no more)."""
    params = Params(listing.bot_id)
    driver = chosen or _Main(listing.table)
    window = driver.window(params, "$1", listing.order, position, size)
    filters = _filters(params, listing, others)
    direction, _ = _direction(listing.order)
    rows = await conn.fetch_all(
        shape,
        f"SELECT {listing.columns} FROM ({window}) w CROSS JOIN {listing.table} r WHERE r.id = w.id{filters}"
        f" ORDER BY w.k {direction}, w.id {direction} LIMIT {need}",
        *params.args,
    )
    if len(rows) >= need:
        return rows, None
    if not filtered:
        # Every entry of the window was a row: fewer than asked means the driver ran out.
        return rows, None
    params = Params(listing.bot_id)
    entries = await conn.fetch_all(_Entry, driver.window(params, "$1", listing.order, position, size), *params.args)
    if len(entries) < size:
        return rows, None
    last = entries[-1]
    return rows, Cursor(last["k"], last["id"])


@dataclass(frozen=True)
class _Main:
    """The resource table's own order index, for a list whose drivers are all large."""

    table: str

    def window(self, params: Params, bot: str, order: Order, after: Cursor | None, size: int) -> str:
        rows = f"{self.table} w WHERE w.bot_id = {bot}"
        return _walk(params, rows, key=f"w.{order.column}", id="w.id", order=order, after=after, size=size)


async def fetch_filtered(
    conn: Connection,
    shape: type[R],
    table: str,
    columns: str,
    params: Params,
    conditions: str,
    *,
    kind: str,
    tags: dict[str, str],
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[R], str | None]:
    """A list newest first with plain `conditions` on `r` (their arguments in `params`, after the
    bot's `$1`) and tags, driven by its most selective tag when it has tags."""
    if tags:
        drivers = [Tag(kind, key, value) for key, value in tags.items()]
        bot_id = str(params.args[0])
        listing = Listing(table, columns, bot_id, conditions, params.args[1:], drivers, Order(), cursor, limit)
        return await fetch_listing(conn, shape, listing)
    sql = f"SELECT {columns} FROM {table} r WHERE r.bot_id = $1{conditions}"
    return await fetch_page(conn, shape, sql, params, order=Order(), cursor=cursor, limit=limit)
