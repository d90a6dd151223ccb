"""`python -m bench.scale`: how the time of every filtered list and get-or-create lookup grows from
10k to 1M stored messages, on SQLite and PostgreSQL, measured in-process against the store, with
the plan of each statement the store runs."""

import argparse
import asyncio
import datetime
import gc
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any, cast

import msgspec

from bench.processes import (
    BenchError,
    add_database_options,
    chosen_databases,
    machine,
    new_database,
    parse_size,
    revision,
    size_label,
    wait_quiet,
)
from bench.seed import (
    BATCH,
    CHANNEL,
    MESSAGE_TYPE,
    TAG_KEY,
    conversation_row,
    insert_rows,
    settle,
    tag_row,
    tag_value,
    ulid_id,
    user_row,
)
from parley.clock import iso_from_ms
from parley.config import Settings
from parley.service.admin_models import CreateBot
from parley.service.bots import create_bot
from parley.store import conversations, events, messages, open_database, tables, users
from parley.store.database import Connection, Database
from parley.store.lookup import Lookup, LookupKey
from parley.store.migrate import run_migrations
from parley.store.sql import Cursor, Order

# Users and conversations per stored message: 100k of each at 1M.
PER_MESSAGE = 10
# Messages tagged `source: rare`, at any size.
RARE = 10
# Conversations each user takes part in (and users in each conversation).
PARTICIPATIONS = 3
PAGE = 20
TARGET = 1.2


def common(index: int) -> str:
    """`kind` of message `index`, `plan` of user or conversation `index`: half "a", half "b"."""
    return "a" if index % 2 else "b"


def language(index: int) -> str:
    """A second common tag of messages, independent of `kind`: a quarter of messages have both
    `kind: a` and `lang: en`."""
    return "en" if index // 2 % 2 else "fr"


@dataclass(frozen=True)
class World:
    """One seeded bot and where the cases look in it: `target` is an odd index (common value "a")
    in the middle of every table, so a unique value and a common one find the same resource."""

    bot_id: str
    messages: list[str]
    users: list[str]
    conversations: list[str]

    @property
    def target(self) -> int:
        return len(self.users) // 2 + 1

    def rare_index(self, k: int) -> int:
        """The k-th message tagged `source: rare`: spread over the history and over conversations."""
        return k * (len(self.messages) // RARE) + k


def _tags(index: int) -> dict[str, str]:
    return {"id": f"x-{index}", "plan": common(index)}


async def _seed_people(conn: Connection, bot_id: str, count: int, base_ms: int) -> tuple[list[str], list[str]]:
    """`count` users and conversations, created before the messages; conversation c has users c,
    c+1, ..., c+PARTICIPATIONS-1."""
    times = [iso_from_ms(base_ms - count + n) for n in range(count)]
    user_ids = [ulid_id("user", base_ms - count + n) for n in range(count)]
    conversation_ids = [ulid_id("conv", base_ms - count + n) for n in range(count)]
    user_rows, conversation_rows, participant_rows, tag_rows = [], [], [], []
    for n, (user_id, conversation_id, at) in enumerate(zip(user_ids, conversation_ids, times, strict=True)):
        tags = _tags(n)
        encoded = msgspec.json.encode(tags).decode()
        user_rows.append(user_row(user_id, bot_id, at, encoded))
        conversation_rows.append(conversation_row(conversation_id, bot_id, at, encoded))
        participant_rows += [
            {"conversation_id": conversation_id, "user_id": user, "bot_id": bot_id, "created_at": at}
            for user in (user_ids[(n + k) % count] for k in range(PARTICIPATIONS))
        ]
        tag_rows += [
            tag_row(bot_id, kind, resource_id, key, value, at)
            for kind, resource_id in (("user", user_id), ("conversation", conversation_id))
            for key, value in tags.items()
        ]
    await insert_rows(conn, tables.users, user_rows)
    await insert_rows(conn, tables.conversations, conversation_rows)
    await insert_rows(conn, tables.participants, participant_rows)
    await insert_rows(conn, tables.tag_index, tag_rows)
    return user_ids, conversation_ids


async def _seed_messages(
    conn: Connection, world: World, start: int, stop: int, base_ms: int, rare: frozenset[int]
) -> None:
    """Messages `start` to `stop`, round-robin over the conversations (by the conversation's
    first user), each with its tag index rows and a `message_created` event."""
    message_rows, tag_rows, event_rows = [], [], []
    count = len(world.conversations)
    for index in range(start, stop):
        at = iso_from_ms(base_ms + index)
        message_id = world.messages[index]
        conversation_id = world.conversations[index % count]
        tags = {TAG_KEY: tag_value(index), "kind": common(index), "lang": language(index)}
        if index in rare:
            tags["source"] = "rare"
        message_rows.append(
            {
                "id": message_id,
                "bot_id": world.bot_id,
                "conversation_id": conversation_id,
                "user_id": world.users[index % count],
                "type": MESSAGE_TYPE,
                "payload": '{"text":"seeded"}',
                "direction": "incoming",
                "origin": None,
                "tags": msgspec.json.encode(tags).decode(),
                "scheduled_for": None,
                "created_at": at,
                "updated_at": at,
            }
        )
        tag_rows += [tag_row(world.bot_id, "message", message_id, key, value, at) for key, value in tags.items()]
        event_rows.append(
            {
                "id": ulid_id("evt", base_ms + index),
                "bot_id": world.bot_id,
                "integration": "",
                "type": "message_created",
                "payload": "{}",
                "status": "processed",
                "failure_reason": None,
                "conversation_id": conversation_id,
                "user_id": None,
                "message_id": message_id,
                "workflow_id": None,
                "scheduled_for": None,
                "created_at": at,
                "updated_at": at,
            }
        )
    await insert_rows(conn, tables.messages, message_rows)
    await insert_rows(conn, tables.tag_index, tag_rows)
    await insert_rows(conn, tables.events, event_rows)


async def seed_world(db: Database, size: int) -> World:
    """One bot with `size` messages, size / PER_MESSAGE users and conversations, written in
    transactions of BATCH messages."""
    now_ms = time.time_ns() // 1_000_000
    base_ms = now_ms - size - 60_000
    people = max(RARE, size // PER_MESSAGE)
    definition = {"name": "scale", "message": {"tags": {TAG_KEY: {}, "kind": {}, "lang": {}, "source": {}}}}
    async with db.transaction() as conn:
        bot_id = await create_bot(
            conn, msgspec.json.decode(msgspec.json.encode(definition), type=CreateBot), now=iso_from_ms(now_ms)
        )
        user_ids, conversation_ids = await _seed_people(conn, bot_id, people, base_ms)
    world = World(bot_id, [ulid_id("msg", base_ms + n) for n in range(size)], user_ids, conversation_ids)
    rare = frozenset(world.rare_index(k) for k in range(RARE))
    for start in range(0, size, BATCH):
        async with db.transaction() as conn:
            await _seed_messages(conn, world, start, min(start + BATCH, size), base_ms, rare)
    await settle(db, sqlite_analyze=False)
    return world


# The cases: each runs one store function for one page (`cursor` None: the first).

Run = Callable[[Connection, World, Cursor | None], Awaitable[object]]
NEWEST = Order()
UPDATED = Order(column="updated_at")
NOW = "9999-12-31T00:00:00.000Z"


@dataclass(frozen=True)
class Case:
    name: str
    run: Run
    # A later page is measured too: the list has more than one page at both sizes.
    paged: bool = False


def _messages(tags: Callable[[World], dict[str, str]], conversation: Callable[[World], str] | None = None) -> Run:
    return lambda conn, world, cursor: messages.list_messages(
        conn,
        bot_id=world.bot_id,
        conversation_id=None if conversation is None else conversation(world),
        integration=None,
        tags=tags(world),
        after=None,
        before=None,
        now=NOW,
        cursor=cursor,
        limit=PAGE,
    )


def _users(
    tags: Callable[[World], dict[str, str]],
    order: Order = NEWEST,
    conversation: Callable[[World], str] | None = None,
) -> Run:
    return lambda conn, world, cursor: users.list_users(
        conn,
        bot_id=world.bot_id,
        integration=None,
        conversation_id=None if conversation is None else conversation(world),
        tags=tags(world),
        range_field=order.column,
        after=None,
        before=None,
        order=order,
        cursor=cursor,
        limit=PAGE,
    )


def _conversations(
    tags: Callable[[World], dict[str, str]],
    order: Order = NEWEST,
    participants: Callable[[World], list[str]] = lambda world: [],
) -> Run:
    return lambda conn, world, cursor: conversations.list_conversations(
        conn,
        bot_id=world.bot_id,
        integration=None,
        integration_name=None,
        channel=None,
        participant_ids=participants(world),
        tags=tags(world),
        after=None,
        before=None,
        order=order,
        cursor=cursor,
        limit=PAGE,
    )


def _lookup(lookup: Callable[[World], Lookup[Any]], pairs: Callable[[World], Sequence[tuple[str, str]]]) -> Run:
    async def run(conn: Connection, world: World, cursor: Cursor | None) -> object:
        found = await lookup(world).find(conn, LookupKey(pairs=tuple(pairs(world)), exact_namespaces=None))
        if found is None:
            raise BenchError(f"a get-or-create lookup of {pairs(world)} found nothing: the seed and the case disagree")
        return found

    return run


def _events(column: str, value: Callable[[World], str]) -> Run:
    return lambda conn, world, cursor: events.list_events(
        conn, bot_id=world.bot_id, integration=None, filters={column: value(world)}, cursor=cursor, limit=PAGE
    )


def _unique_message(world: World) -> tuple[str, str]:
    return TAG_KEY, tag_value(world.target)


def _unique(world: World) -> tuple[str, str]:
    return "id", f"x-{world.target}"


def _of_message(world: World) -> Lookup[Any]:
    return messages.lookup(world.bot_id)


def _of_user(world: World) -> Lookup[Any]:
    return users.lookup(world.bot_id, integration="")


def _of_conversation(world: World) -> Lookup[Any]:
    return conversations.lookup(world.bot_id, channel=CHANNEL, integration="")


KIND = ("kind", "a")
LANG = ("lang", "en")
PLAN = ("plan", "a")
RARE_TAG = ("source", "rare")
CASES = [
    Case("listMessages, unique tag", _messages(lambda w: dict([_unique_message(w)]))),
    Case("listMessages, rare tag", _messages(lambda w: dict([RARE_TAG]))),
    Case("listMessages, common tag", _messages(lambda w: dict([KIND])), paged=True),
    Case("listMessages, common + unique tags", _messages(lambda w: dict([KIND, _unique_message(w)]))),
    Case("listMessages, unique + common tags", _messages(lambda w: dict([_unique_message(w), KIND]))),
    Case("listMessages, common + common tags", _messages(lambda w: dict([KIND, LANG])), paged=True),
    Case("listMessages, common + common tags, other order", _messages(lambda w: dict([LANG, KIND])), paged=True),
    Case(
        "listMessages, conversationId + common tag",
        _messages(lambda w: dict([KIND]), lambda w: w.conversations[w.target]),
    ),
    Case(
        "listMessages, conversationId + rare tag",
        _messages(lambda w: dict([RARE_TAG]), lambda w: w.conversations[w.rare_index(3) % len(w.conversations)]),
    ),
    Case("listUsers, unique tag", _users(lambda w: dict([_unique(w)]))),
    Case("listUsers, common tag", _users(lambda w: dict([PLAN])), paged=True),
    Case("listUsers, unique tag, by updatedAt", _users(lambda w: dict([_unique(w)]), UPDATED)),
    Case("listUsers, common tag, by updatedAt", _users(lambda w: dict([PLAN]), UPDATED), paged=True),
    Case("listUsers, conversationId", _users(lambda w: {}, conversation=lambda w: w.conversations[w.target])),
    Case("listConversations, unique tag", _conversations(lambda w: dict([_unique(w)]))),
    Case("listConversations, common tag", _conversations(lambda w: dict([PLAN])), paged=True),
    Case("listConversations, unique tag, by updatedAt", _conversations(lambda w: dict([_unique(w)]), UPDATED)),
    Case("listConversations, common tag, by updatedAt", _conversations(lambda w: dict([PLAN]), UPDATED), paged=True),
    Case(
        "listConversations, one participant",
        _conversations(lambda w: {}, participants=lambda w: [w.users[w.target]]),
    ),
    Case(
        "listConversations, two participants",
        _conversations(lambda w: {}, participants=lambda w: [w.users[w.target], w.users[w.target + 1]]),
    ),
    Case(
        "listConversations, one participant + common tag",
        _conversations(lambda w: dict([PLAN]), participants=lambda w: [w.users[w.target]]),
    ),
    Case(
        "listConversations, two participants + common tag",
        _conversations(lambda w: dict([PLAN]), participants=lambda w: [w.users[w.target], w.users[w.target + 1]]),
    ),
    Case("getOrCreateMessage lookup, unique tag", _lookup(_of_message, lambda w: [_unique_message(w)])),
    Case("getOrCreateMessage lookup, common + unique", _lookup(_of_message, lambda w: [KIND, _unique_message(w)])),
    Case("getOrCreateMessage lookup, unique + common", _lookup(_of_message, lambda w: [_unique_message(w), KIND])),
    Case("getOrCreateUser lookup, unique tag", _lookup(_of_user, lambda w: [_unique(w)])),
    Case("getOrCreateUser lookup, common + unique", _lookup(_of_user, lambda w: [PLAN, _unique(w)])),
    Case("getOrCreateUser lookup, unique + common", _lookup(_of_user, lambda w: [_unique(w), PLAN])),
    Case("getOrCreateConversation lookup, unique tag", _lookup(_of_conversation, lambda w: [_unique(w)])),
    Case("getOrCreateConversation lookup, common + unique", _lookup(_of_conversation, lambda w: [PLAN, _unique(w)])),
    Case("getOrCreateConversation lookup, unique + common", _lookup(_of_conversation, lambda w: [_unique(w), PLAN])),
    Case("listEvents, conversationId", _events("conversation_id", lambda w: w.conversations[w.target])),
    Case("listEvents, messageId", _events("message_id", lambda w: w.messages[w.target])),
]


# Measuring


@dataclass(frozen=True)
class Measured:
    case: str
    seconds: dict[int, float]
    """Median time of one call, by size."""
    plans: dict[int, list[str]]
    """The plan of each statement the call ran, by size."""

    def growth(self, small: int, large: int) -> float:
        return self.seconds[large] / self.seconds[small]


class Recording:
    """A connection that keeps the statements the store reads through it (its `fetch_*` calls),
    to explain them."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.statements: list[tuple[str, Sequence[Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._conn, name)
        if not name.startswith("fetch_"):
            return method

        async def recorded(*call: Any) -> Any:
            # fetch_value(sql, *args); fetch_one and fetch_all(shape, sql, *args).
            at = 0 if name == "fetch_value" else 1
            self.statements.append((call[at], call[at + 1 :]))
            return await method(*call)

        return recorded


async def explain(conn: Connection, dialect: str, call: Callable[[Connection], Awaitable[object]]) -> list[str]:
    """The plan of each statement `call` runs: SQLite's EXPLAIN QUERY PLAN, or on PostgreSQL the
    generic plan, which a prepared statement may switch to after five runs."""
    recording = Recording(conn)
    await call(cast(Connection, recording))
    plans = []
    for sql, args in recording.statements:
        if dialect == "sqlite":
            rows = await conn.fetch_all(dict, f"EXPLAIN QUERY PLAN {sql}", *args)
            plan = "\n".join(str(row["detail"]) for row in rows)
        else:
            plan = await _generic_plan(conn, sql, args)
        plans.append(f"{sql}\n-- args: {list(args)}\n{plan}")
    return plans


async def _generic_plan(conn: Connection, sql: str, args: Sequence[Any]) -> str:
    """PostgreSQL's generic plan of `sql`. `EXPLAIN sql` with bound arguments would plan with
    their values (a custom plan, whatever plan_cache_mode says): the statement is prepared
    first and its execution explained. PostgreSQL 16 says the same with EXPLAIN (GENERIC_PLAN)."""
    await conn.execute(f"PREPARE bench_explained AS {sql}")
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        # EXECUTE takes no bound parameters: the arguments are written as literals.
        values = f"({', '.join(_literal(arg) for arg in args)})" if args else ""
        rows = await conn.fetch_all(dict, f"EXPLAIN EXECUTE bench_explained{values}")
        return "\n".join(str(row["QUERY PLAN"]) for row in rows)
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute("DEALLOCATE bench_explained")


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Options:
    databases: list[str]
    postgres_url: str | None
    sizes: list[int]
    runs: int
    warmup: int
    output: Path
    print_plans: bool
    quiet_wait: float
    # Substrings of the case names to measure; empty: every case.
    cases: tuple[str, ...] = ()


async def _measure(
    options: Options, dialect: str, opened: dict[int, tuple[Connection, World]], case: Case
) -> list[Measured]:
    """The case (and its later page) at every size; the sizes take turns in every round, so that
    a growth compares calls made within milliseconds of each other."""
    variants: list[tuple[str, dict[int, Callable[[Connection], Awaitable[object]]]]] = []
    first = {size: _bound(case.run, world, None) for size, (_, world) in opened.items()}
    variants.append((case.name, first))
    if case.paged:
        later = {}
        for size, (conn, world) in opened.items():
            _, token = cast(tuple[object, str | None], await first[size](conn))
            if token is None:
                raise BenchError(f"{case.name} has one page at {size_label(size)}: no later page to measure")
            later[size] = _bound(case.run, world, Cursor.decode(token))
        variants.append((f"{case.name}, page 2", later))
    measured = []
    for name, calls in variants:
        samples: dict[int, list[float]] = {size: [] for size in opened}
        gc.collect()
        gc.disable()
        try:
            for round in range(options.warmup + options.runs):
                for size, (conn, _) in opened.items():
                    start = time.perf_counter()
                    await calls[size](conn)
                    if round >= options.warmup:
                        samples[size].append(time.perf_counter() - start)
        finally:
            gc.enable()
        plans = {size: await explain(conn, dialect, calls[size]) for size, (conn, _) in opened.items()}
        measured.append(Measured(name, {size: median(s) for size, s in samples.items()}, plans))
    return measured


def _bound(run: Run, world: World, cursor: Cursor | None) -> Callable[[Connection], Awaitable[object]]:
    return lambda conn: run(conn, world, cursor)


async def _run_database(options: Options, dialect: str, urls: dict[int, str]) -> list[Measured]:
    databases: dict[int, Database] = {}
    try:
        worlds = {}
        for size, url in urls.items():
            databases[size] = await open_database(Settings(database_url=url))
            started = time.monotonic()
            worlds[size] = await seed_world(databases[size], size)
            print(f"  seeded {size_label(size)} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        measured: list[Measured] = []
        async with AsyncExitStack() as held:
            # One connection of each database, held for the whole measurement.
            opened = {
                size: (await held.enter_async_context(databases[size].connection()), worlds[size]) for size in urls
            }
            for case in CASES:
                if options.cases and not any(part in case.name for part in options.cases):
                    continue
                if options.quiet_wait:
                    wait_quiet(timeout=options.quiet_wait)
                measured += await _measure(options, dialect, opened, case)
                print(f"  {measured[-1].case}", file=sys.stderr, flush=True)
        return measured
    finally:
        for db in databases.values():
            await db.close()


@contextmanager
def _databases(options: Options, dialect: str, folder: Path) -> Iterator[dict[int, str]]:
    with ExitStack() as stack:
        urls = {}
        for size in options.sizes:
            url, _ = stack.enter_context(
                new_database(dialect, postgres_url=options.postgres_url, sqlite_path=folder / f"scale-{size}.db")
            )
            run_migrations(Settings(database_url=url))
            urls[size] = url
        yield urls


def report(results: dict[str, list[Measured]], options: Options, *, measured: str) -> str:
    """A table per database: the time at each size, the growth from the smallest size to the
    largest (the target), and with three sizes or more from the one before the largest too."""
    sizes = options.sizes
    small, large = sizes[0], sizes[-1]
    lines = [
        f"Measured {datetime.date.today().isoformat()} at {measured}; {machine()}.",
        f"Median of {options.runs} calls after {options.warmup} warm-up calls, sizes taking turns.",
        "",
    ]
    titles = [f"ms at {size_label(size)}" for size in sizes] + [f"growth {size_label(small)} → {size_label(large)}"]
    if len(sizes) > 2:
        titles.append(f"growth {size_label(sizes[-2])} → {size_label(large)}")
    for dialect, rows in results.items():
        lines += [
            f"**{dialect}**",
            "",
            f"| case | {' | '.join(titles)} | ≤ {TARGET} |",
            f"|---|{'--:|' * len(titles)}:-:|",
        ]
        for row in rows:
            cells = [f"{row.seconds[size] * 1000:.3f}" for size in sizes] + [f"{row.growth(small, large):.2f}"]
            if len(sizes) > 2:
                cells.append(f"{row.growth(sizes[-2], large):.2f}")
            met = "met" if row.growth(small, large) <= TARGET else "**missed**"
            lines.append(f"| {row.case} | {' | '.join(cells)} | {met} |")
        lines.append("")
    return "\n".join(lines)


def _write_plans(options: Options, dialect: str, rows: list[Measured]) -> None:
    for row in rows:
        text = "".join(
            f"== {dialect}, {size_label(size)}, statement {n}\n{plan}\n\n"
            for size, plans in row.plans.items()
            for n, plan in enumerate(plans, 1)
        )
        name = re.sub(r"[^a-z0-9]+", "-", row.case.lower()).strip("-")
        folder = options.output / dialect
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.txt").write_text(text)
        if options.print_plans:
            print(f"### {row.case}\n{text}")


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    add_database_options(parser)
    parser.add_argument("--sizes", default="10k,1M", help="stored messages, comma-separated (default 10k,1M)")
    parser.add_argument("--runs", type=int, default=30, help="timed calls per case and size (default 30)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first (default 10)")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(tempfile.gettempdir()) / "parley-bench-scale",
        help="folder for the report and the plans (default: parley-bench-scale in the temporary folder)",
    )
    parser.add_argument("--plans", action="store_true", help="also print every plan")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        help="before each case, wait up to this long for other work on the machine to stop (default 0)",
    )
    parser.add_argument(
        "--cases",
        default="",
        help="measure only the cases whose name contains one of these comma-separated parts (default: all)",
    )
    args = parser.parse_args(argv)
    sizes = sorted({parse_size(s) for s in args.sizes.split(",")})
    if len(sizes) < 2:
        parser.error("--sizes needs two sizes at least: growth compares the largest with the smallest")
    return Options(
        databases=chosen_databases(parser, args),
        postgres_url=args.postgres_url,
        sizes=sizes,
        runs=args.runs,
        warmup=args.warmup,
        output=args.output,
        print_plans=args.plans,
        quiet_wait=args.quiet_wait,
        cases=tuple(part for part in args.cases.split(",") if part),
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    measured = revision()
    results: dict[str, list[Measured]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="parley-scale-") as folder:
            for dialect in options.databases:
                print(f"{dialect}:", file=sys.stderr, flush=True)
                with _databases(options, dialect, Path(folder)) as urls:
                    results[dialect] = asyncio.run(_run_database(options, dialect, urls))
                _write_plans(options, dialect, results[dialect])
    except BenchError as error:
        print(f"bench.scale: {error}", file=sys.stderr)
        return 2
    table = report(results, options, measured=measured)
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "report.md").write_text(table)
    print(table)
    print(f"Plans in {options.output}/<database>/<case>.txt", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
