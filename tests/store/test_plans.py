"""Every filtered list and get-or-create lookup reads through an index, on both dialects, whatever
the values: the statements the store runs are recorded and explained (on PostgreSQL, as the
generic plan a prepared statement switches to), over data where one tag value is unique, one rare
and one carried by half of the rows. A plan that reads a table whole fails."""

import asyncio
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from parley.config import Settings
from parley.store import conversations, events, messages, open_database, users
from parley.store.database import Connection, Database
from parley.store.lookup import Lookup, LookupKey
from parley.store.migrate import run_migrations
from parley.store.sql import Cursor, Order
from parley.store.tags import namespace
from tests.harness import PostgresDatabase, postgres_available

BOT = "bot_plans"
MESSAGES = 20_000
CONVERSATIONS = 2_000
TAG_VALUES = 700
USERS = 4_000
NOW = "2026-12-06T00:00:00.000Z"


def _at(index: int) -> str:
    """A distinct creation time per index, one millisecond apart."""
    seconds, ms = divmod(index, 1000)
    return f"2026-01-01T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{ms:03d}Z"


def _common(index: int) -> str:
    return "a" if index % 2 else "b"


class Recording:
    """A connection that keeps the statements the store sends through it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.statements: list[tuple[str, Sequence[Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def fetch_all(self, shape: type[Any], sql: str, *args: Any) -> Any:
        self.statements.append((sql, args))
        return await self._conn.fetch_all(shape, sql, *args)

    async def fetch_one(self, shape: type[Any], sql: str, *args: Any) -> Any:
        self.statements.append((sql, args))
        return await self._conn.fetch_one(shape, sql, *args)


async def _seed(conn: Connection) -> None:
    rows_m, rows_t = [], []
    for index in range(MESSAGES):
        message_id = f"msg_{index:08d}"
        at = _at(index)
        tags = {"externalId": f"e-{index}", "kind": _common(index)}
        if index % 4000 == 0:
            tags["source"] = "rare"
        conversation = f"conv_{index % CONVERSATIONS:08d}"
        rows_m.append((message_id, BOT, conversation, "user_x", "text", "{}", "incoming", None, "{}", None, at, at))
        rows_t += [(BOT, "message", message_id, key, value, namespace(key), at) for key, value in tags.items()]
    await conn.execute_many(
        "INSERT INTO messages (id, bot_id, conversation_id, user_id, type, payload, direction, origin, tags,"
        " scheduled_for, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        rows_m,
    )
    rows_u, rows_c, rows_p, rows_e = [], [], [], []
    for index in range(USERS):
        at = _at(index)
        rows_u.append((f"user_{index:08d}", BOT, "", None, None, "{}", at, at))
        rows_c.append((f"conv_{index:08d}", BOT, "web", "", "", "{}", at, at, None))
        rows_p.append((f"conv_{index:08d}", f"user_{index % 100:08d}", BOT, at))
        for kind, prefix in (("user", "user"), ("conversation", "conv")):
            rows_t += [(BOT, kind, f"{prefix}_{index:08d}", "id", f"x-{index}", "", at)]
            rows_t += [(BOT, kind, f"{prefix}_{index:08d}", "plan", _common(index), "", at)]
        if index % 3 == 0:
            rows_t += [(BOT, "user", f"user_{index:08d}", "tier", "gold", "", at)]
    for index in range(MESSAGES):
        at = _at(index)
        conversation = f"conv_{index % CONVERSATIONS:08d}"
        rows_e.append((f"evt_{index:08d}", BOT, "", "message_created", "{}", "processed", conversation, at, at))
    await conn.execute_many(
        "INSERT INTO users (id, bot_id, integration, name, picture_url, tags, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        rows_u,
    )
    await conn.execute_many(
        "INSERT INTO conversations (id, bot_id, channel, integration, integration_name, tags, created_at, updated_at,"
        " current_task_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        rows_c,
    )
    await conn.execute_many(
        "INSERT INTO participants (conversation_id, user_id, bot_id, created_at) VALUES ($1, $2, $3, $4)", rows_p
    )
    await conn.execute_many(
        "INSERT INTO tag_index (bot_id, kind, resource_id, key, value, ns, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        rows_t,
    )
    await conn.execute_many(
        "INSERT INTO events (id, bot_id, integration, type, payload, status, conversation_id, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        rows_e,
    )


Query = Callable[[Connection], Awaitable[object]]
NEWEST = Order()


def _messages(tags: dict[str, str], conversation_id: str | None = None) -> Query:
    return lambda conn: messages.list_messages(
        conn,
        bot_id=BOT,
        conversation_id=conversation_id,
        integration=None,
        tags=tags,
        now=NOW,
        after=None,
        before=None,
        cursor=None,
        limit=20,
    )


def _list_users(
    conn: Connection,
    tags: dict[str, str],
    order: Order,
    conversation_id: str | None = None,
    cursor: Cursor | None = None,
    limit: int = 20,
) -> Awaitable[tuple[list[users.UserRow], str | None]]:
    return users.list_users(
        conn,
        bot_id=BOT,
        integration=None,
        conversation_id=conversation_id,
        tags=tags,
        range_field="created_at",
        order=order,
        after=None,
        before=None,
        cursor=cursor,
        limit=limit,
    )


def _users(tags: dict[str, str], order: Order = NEWEST, conversation_id: str | None = None) -> Query:
    return lambda conn: _list_users(conn, tags, order, conversation_id)


def _conversations(tags: dict[str, str], participant_ids: list[str], order: Order = NEWEST) -> Query:
    return lambda conn: conversations.list_conversations(
        conn,
        bot_id=BOT,
        integration=None,
        integration_name=None,
        channel=None,
        participant_ids=participant_ids,
        tags=tags,
        order=order,
        after=None,
        before=None,
        cursor=None,
        limit=20,
    )


def _lookup(lookup: Lookup[Any], pairs: tuple[tuple[str, str], ...]) -> Query:
    return lambda conn: lookup.find(conn, LookupKey(pairs=pairs, exact_namespaces=None))


def _events(column: str, value: str) -> Query:
    return lambda conn: events.list_events(
        conn, bot_id=BOT, integration=None, filters={column: value}, cursor=None, limit=20
    )


UPDATED = Order(column="updated_at")
QUERIES: dict[str, Query] = {
    "messages, a unique tag": _messages({"externalId": "e-777"}),
    "messages, a rare tag": _messages({"source": "rare"}),
    "messages, a common tag": _messages({"kind": "a"}),
    "messages, common then unique tag": _messages({"kind": "a", "externalId": "e-777"}),
    "messages, unique then common tag": _messages({"externalId": "e-777", "kind": "a"}),
    "messages, a conversation and a common tag": _messages({"kind": "a"}, "conv_00000007"),
    "messages, a conversation and a rare tag": _messages({"source": "rare"}, "conv_00000000"),
    "users, a unique tag": _users({"id": "x-5"}),
    "users, a common tag": _users({"plan": "a"}),
    "users, common and unique tags by update": _users({"plan": "a", "id": "x-5"}, UPDATED),
    "users, a common tag by update": _users({"plan": "b"}, UPDATED),
    "users of a conversation": _users({}, conversation_id="conv_00000003"),
    "conversations, a unique tag": _conversations({"id": "x-9"}, []),
    "conversations, a common tag and a participant": _conversations({"plan": "a"}, ["user_00000005"]),
    "conversations of a participant": _conversations({}, ["user_00000005"]),
    "conversations of a participant by update": _conversations({}, ["user_00000005"], UPDATED),
    "get-or-create message, unique tag": _lookup(messages.lookup(BOT), (("externalId", "e-3"),)),
    "get-or-create message, common then unique": _lookup(messages.lookup(BOT), (("kind", "a"), ("externalId", "e-3"))),
    "get-or-create user, common then unique": _lookup(
        users.lookup(BOT, integration=""), (("plan", "a"), ("id", "x-3"))
    ),
    "get-or-create conversation, unique then common": _lookup(
        conversations.lookup(BOT, channel="web", integration=""), (("id", "x-3"), ("plan", "b"))
    ),
    "events of a conversation": _events("conversation_id", "conv_00000009"),
    "events of a message": _events("message_id", "msg_00000009"),
}
# A whole-table or whole-index read of a stored table (SQLite's SCAN of a subquery's rows, a
# window of bounded size, is not one). SQLite keeps no statistics: its plans are the same at any
# size. PostgreSQL's planner weighs the sizes: a sequential scan of the few thousand users or
# conversations here can be cheaper than a thousand index probes, and is chosen (its cost is
# bounded: a driver read whole has at most COUNT_CAP + 1 ids), so only the tables seeded large
# are checked there.
POSTGRES_FULL_SCAN = re.compile(r"Seq Scan on (messages|tag_index|events)\b")
SQLITE_FULL_SCAN = re.compile(r"SCAN (messages|tag_index|users|conversations|events|participants)\b|SCAN [rdfpxt]\d*\b")


Prepared = tuple[Database, asyncio.AbstractEventLoop]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[Prepared]:
    with tempfile.TemporaryDirectory() as folder:
        if request.param == "sqlite":
            yield from _prepared(f"sqlite:///{Path(folder) / 'plans.db'}")
            return
        if not postgres_available():
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432, and CI must run every test on it.")
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432.")
        with PostgresDatabase() as created:
            yield from _prepared(created.url)


def _prepared(url: str) -> Iterator[Prepared]:
    settings = Settings(database_url=url)
    run_migrations(settings)
    loop = asyncio.new_event_loop()
    database = loop.run_until_complete(open_database(settings))

    async def fill() -> None:
        async with database.transaction() as conn:
            await _seed(conn)
        if database.dialect == "postgresql":
            async with database.connection() as conn:
                # As at 1M messages (tag_index's sample then finds about 14 entries per value),
                # a tag value is estimated to have more entries than a conversation has messages.
                await conn.execute(f"ALTER TABLE tag_index ALTER COLUMN value SET (n_distinct = {TAG_VALUES})")
                await conn.execute("ANALYZE")

    loop.run_until_complete(fill())
    try:
        yield database, loop
    finally:
        loop.run_until_complete(database.close())
        loop.close()


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _explain(prepared: Prepared, query: Query) -> list[str]:
    """The plans of every statement `query` runs; on PostgreSQL, its generic plan (the one
    Parley's connections run) and its custom plan (planned with the values) for each."""
    database, loop = prepared

    async def run() -> list[str]:
        async with database.connection() as conn:
            recording = Recording(conn)
            await query(cast(Connection, recording))
            plans = []
            for sql, args in recording.statements:
                if database.dialect == "sqlite":
                    rows = await conn.fetch_all(dict, f"EXPLAIN QUERY PLAN {sql}", *args)
                    plans.append("\n".join(str(row["detail"]) for row in rows))
                    continue
                # EXPLAIN with bound values plans for those values: the generic plan comes
                # from a prepared statement executed with the plan cache forced to it.
                for mode in ("force_generic_plan", "force_custom_plan"):
                    await conn.execute(f"SET plan_cache_mode = {mode}")
                    await conn.execute(f"PREPARE parley_plan AS {sql}")
                    values = ", ".join(_literal(arg) for arg in args)
                    rows = await conn.fetch_all(dict, f"EXPLAIN EXECUTE parley_plan({values})")
                    await conn.execute("DEALLOCATE parley_plan")
                    await conn.execute("RESET plan_cache_mode")
                    plan = "\n".join(str(row["QUERY PLAN"]) for row in rows)
                    generic = bool(re.search(r"[=<>] \$[1-9]", plan))
                    assert generic == (mode == "force_generic_plan") or not args, f"not a {mode} plan: {plan}"
                    plans.append(plan)
            return plans

    return loop.run_until_complete(run())


@pytest.mark.parametrize("name", list(QUERIES))
def test_each_statement_reads_through_an_index(database: Prepared, name: str) -> None:
    plans = _explain(database, QUERIES[name])
    assert plans
    for plan in plans:
        if database[0].dialect == "sqlite":
            assert not SQLITE_FULL_SCAN.search(plan), plan
        else:
            assert not POSTGRES_FULL_SCAN.search(plan), plan


# A resource row read other than by its primary key: on SQLite, a search of `r` through another
# index; on PostgreSQL, a hash or merge join (which reads `r` by one of its bot_id indexes, a
# conversation's messages, say, to match them with a window of entries).
SQLITE_ROW_NOT_BY_KEY = re.compile(r"SEARCH r USING (?!INDEX sqlite_autoindex_\w+ \(id=\?\))")
POSTGRES_ROW_NOT_BY_KEY = re.compile(r"Hash Join|Merge Join|Hash Semi Join|Hash Anti Join")


@pytest.mark.parametrize("name", [name for name in QUERIES if "tag" in name])
def test_a_tag_candidate_is_read_by_its_primary_key(database: Prepared, name: str) -> None:
    """A candidate found through a tag's entries is read by its primary key, whatever the other
    filters, in the generic and the custom plan alike: the cost per candidate does not depend on
    how many rows the other filters select (a conversation's messages). With a tag value
    estimated at more entries than a conversation's messages (TAG_VALUES), PostgreSQL's generic
    plan read a conversation's messages and joined them with the tag's entries by hash while the
    statement let it reach the rows through `messages_bot_conversation`."""
    for plan in _explain(database, QUERIES[name]):
        if database[0].dialect == "sqlite":
            assert not SQLITE_ROW_NOT_BY_KEY.search(plan), plan
        else:
            assert not POSTGRES_ROW_NOT_BY_KEY.search(plan), plan


# SQLite has no plan cache to choose from.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgres_runs_the_generic_plan_without_planning_again(database: Prepared) -> None:
    """Parley's PostgreSQL connections plan a prepared statement once: even for the values whose
    custom plan PostgreSQL would estimate cheaper (a unique tag), it does not plan at every call."""
    db, loop = database
    query = QUERIES["users, a unique tag"]

    async def run() -> list[dict[str, Any]]:
        async with db.connection() as conn:
            recording = Recording(conn)
            for _ in range(10):
                await query(cast(Connection, recording))
            statements = sorted({sql for sql, _ in recording.statements})
            return await conn.fetch_all(
                dict,
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = ANY($1::text[])",
                statements,
            )

    counts = loop.run_until_complete(run())
    assert counts
    for row in counts:
        assert row["custom_plans"] == 0, counts
        assert row["generic_plans"] >= 10, counts


def _all_pages(prepared: Prepared, tags: dict[str, str], order: Order, limit: int) -> list[str]:
    """The ids of every page of a list of users, following each page's nextToken."""
    db, loop = prepared

    async def run() -> list[str]:
        ids: list[str] = []
        token: str | None = None
        async with db.connection() as conn:
            while True:
                cursor = None if token is None else Cursor.decode(token)
                rows, token = await _list_users(conn, tags, order, cursor=cursor, limit=limit)
                ids += [row["id"] for row in rows]
                if token is None:
                    return ids

    return loop.run_until_complete(run())


@pytest.mark.parametrize("limit", [7, 20, 60])
@pytest.mark.parametrize("order", [NEWEST, UPDATED], ids=["by creation", "by update"])
@pytest.mark.parametrize("tags", [{"plan": "b"}, {"plan": "b", "tier": "gold"}], ids=["one tag", "two tags"])
def test_every_page_of_a_filtered_list_is_in_its_place(
    database: Prepared, tags: dict[str, str], order: Order, limit: int
) -> None:
    """Paging through a tag-filtered list yields each match once, in order, whichever driver walks
    it (a tag's entries by creation; by update, the users' own order with the tags checked per
    row, each tag having more than COUNT_CAP users) and however many windows a page takes (one in
    six users passes both tags: a page of 20 needs more than the first window)."""
    expected = [
        f"user_{index:08d}"
        for index in reversed(range(USERS))
        if _common(index) == "b" and ("tier" not in tags or index % 3 == 0)
    ]
    assert _all_pages(database, tags, order, limit) == expected
