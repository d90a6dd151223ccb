"""One small async interface over SQLite (stdlib sqlite3) and PostgreSQL (asyncpg)."""

import asyncio
import hashlib
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from functools import lru_cache
from typing import Any, Protocol

import asyncpg

from parley.config import Settings

# A statement and its arguments, for Connection.execute_all.
Statement = tuple[str, Sequence[Any]]


class ConditionFailed(Exception):
    """The condition set with Connection.require did not hold; the statement did not run."""


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


class Connection(Protocol):
    """A connection inside (or, for reads, outside) a transaction. SQL uses `$1`-style parameters."""

    # True when no other writer can commit between a read on this connection and the next
    # transaction it opens (SQLite's single connection); False for a pooled PostgreSQL connection.
    serialized: bool

    async def execute(self, sql: str, *args: Any) -> int:
        """Runs a statement; returns the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def execute_all(self, statements: Sequence[Statement]) -> None:
        """Runs INSERT, UPDATE or DELETE statements in order, in one round trip where the database
        allows. They must not depend on one another's changes, nor change the same row twice."""
        ...

    async def fetch_one(self, sql: str, *args: Any) -> Row | None: ...

    async def find_or_insert(self, sql: str, args: Sequence[Any], statements: Sequence[Statement]) -> Row | None:
        """The first row of the query `sql`; when there is none, runs `statements` (one-row
        `INSERT INTO t (columns) VALUES (...)`, optionally `ON CONFLICT ...`) instead, in the same
        round trip where the database allows, and returns None."""
        ...

    async def fetch_all(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetch_value(self, sql: str, *args: Any) -> Any: ...

    def transaction(self, *, lock: str | None = None) -> AbstractAsyncContextManager[None]:
        """A write transaction on this connection: committed when the block ends, rolled back
        when it raises. With `lock`, it first takes a lock on that key, held until it ends, which
        serialises transactions that name the same key."""
        ...

    def require(self, condition: Statement) -> None:
        """Makes the next statement depend on `condition`, a boolean SQL expression with `$1`-style
        parameters: if it is false then, the statement raises ConditionFailed instead of running.
        A fetch_one evaluates it in the same query (and withholds the answer); any other statement
        checks it first."""
        ...

    async def check(self) -> None:
        """Evaluates the pending condition, if any, on its own (ConditionFailed when false)."""
        ...


class Database(Protocol):
    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for reads, outside any explicit transaction."""
        ...

    async def close(self) -> None: ...


async def ping(conn: Connection) -> None:
    """Runs the cheapest statement there is: returns once the database has answered."""
    await conn.fetch_value("SELECT 1")


MMAP_BYTES = 1 << 30


@lru_cache(maxsize=2048)
def _sqlite_sql(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"?\1", sql)


class _GroupCommit:
    """The single SQLite connection's write transactions, committed in groups.

    The first write transaction opens a database transaction and schedules its COMMIT for the
    event loop's next turn; every write transaction until then runs inside it, as a savepoint
    that its own failure rolls back. One COMMIT (its log writes and lock calls) serves all the
    writes of a turn instead of one each."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self.in_transaction = False
        # Resolved when the open group has committed; None while no group is open.
        self.group: asyncio.Future[None] | None = None

    def join(self) -> "asyncio.Future[None]":
        if self.group is not None and not self.raw.in_transaction:
            # SQLite rolled the whole group back after an I/O error: it fails, and a new one opens.
            self.commit()
        if self.group is None:
            self.raw.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            self.group = loop.create_future()
            loop.call_soon(self.commit)
        return self.group

    def commit(self) -> None:
        """Commits the open group, if any; its transactions raise what COMMIT raised."""
        group, self.group = self.group, None
        if group is None:
            return
        try:
            self.raw.execute("COMMIT")
        except BaseException as error:
            with suppress(sqlite3.Error):
                self.raw.execute("ROLLBACK")
            group.set_exception(error)
            # Every transaction of the group raises it; the future need not report it as unseen.
            group.exception()
        else:
            group.set_result(None)


class SqliteConnection:
    """One request's (or task's) use of the single connection. It remembers the newest group
    that was open when it ran a statement: what it read may be that group's uncommitted work, so
    it is not done (and nothing is answered) until that group has committed."""

    def __init__(self, writer: _GroupCommit) -> None:
        self._writer = writer
        self._raw = writer.raw
        self._seen: asyncio.Future[None] | None = None
        self._condition: Statement | None = None

    def require(self, condition: Statement) -> None:
        self._condition = condition

    async def check(self) -> None:
        self._check()

    def _check(self) -> None:
        condition, self._condition = self._condition, None
        if condition is not None:
            self._evaluate(condition)

    def _evaluate(self, condition: Statement) -> None:
        if not self._raw.execute(_sqlite_sql(f"SELECT {condition[0]}"), condition[1]).fetchone()[0]:
            raise ConditionFailed

    @asynccontextmanager
    async def transaction(self, *, lock: str | None = None) -> AsyncIterator[None]:
        # The database has a single writer, which serialises every key.
        writer = self._writer
        if writer.in_transaction:
            raise RuntimeError("a SQLite transaction is already open; transactions must not await I/O")
        writer.in_transaction = True
        try:
            self._seen = writer.join()
            self._raw.execute("SAVEPOINT parley")
            try:
                yield
            except BaseException:
                self._raw.execute("ROLLBACK TO parley")
                self._raw.execute("RELEASE parley")
                raise
            self._raw.execute("RELEASE parley")
        finally:
            writer.in_transaction = False
        await self.settled()

    async def settled(self) -> None:
        """Returns once everything this connection has read or written is committed."""
        if self._seen is not None and not self._seen.done():
            # Shielded: a request that stops waiting must not cancel the group of the others.
            await asyncio.shield(self._seen)
        elif self._seen is not None:
            self._seen.result()

    def _note_group(self) -> None:
        if self._writer.group is not None:
            self._seen = self._writer.group

    def _run(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        if self._condition is not None:
            self._check()
        self._note_group()
        return self._raw.execute(_sqlite_sql(sql), args)

    async def execute(self, sql: str, *args: Any) -> int:
        return self._run(sql, args).rowcount

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._condition is not None:
            self._check()
        self._note_group()
        self._raw.executemany(_sqlite_sql(sql), rows)

    async def execute_all(self, statements: Sequence[Statement]) -> None:
        for sql, args in statements:
            self._run(sql, args)

    async def fetch_one(self, sql: str, *args: Any) -> Row | None:
        condition, self._condition = self._condition, None
        if condition is None:
            row: Row | None = self._run(sql, args).fetchone()
            return row
        guarded: Row | None = self._run(_guarded(sql, condition[0], len(args)), (*args, *condition[1])).fetchone()
        if guarded is None:
            # No row carried the condition: it is checked on its own.
            self._evaluate(condition)
        elif not guarded["parley_condition"]:
            raise ConditionFailed
        return guarded

    async def find_or_insert(self, sql: str, args: Sequence[Any], statements: Sequence[Statement]) -> Row | None:
        row = await self.fetch_one(sql, *args)
        if row is None:
            await self.execute_all(statements)
        return row

    async def fetch_all(self, sql: str, *args: Any) -> list[Row]:
        return self._run(sql, args).fetchall()

    async def fetch_value(self, sql: str, *args: Any) -> Any:
        row = self._run(sql, args).fetchone()
        return None if row is None else row[0]

    # Nothing can commit between a read on this connection and the transaction that follows it
    # (no other connection writes the same rows, and nothing here suspends): what was read
    # without a lock is still true inside the transaction.
    serialized = True


class _Checkpointer:
    """Copies the write-ahead log into the database file from a thread of its own, so that the
    fsync this needs never stalls the event loop (SQLite would otherwise do it inside a COMMIT)."""

    INTERVAL_SECONDS = 1.0

    def __init__(self, path: str) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            while not self._stop.wait(self.INTERVAL_SECONDS):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class SqliteDatabase:
    """The embedded default: one connection used directly on the event loop.

    A statement costs microseconds, far less than a hop to a thread. Every method of
    SqliteConnection finishes without suspending, so a transaction never spans a real
    suspension point unless the code inside it awaits something else; that would be a bug,
    and opening a second transaction meanwhile raises instead of interleaving silently.
    """

    dialect = "sqlite"

    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
        self._raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._raw.row_factory = sqlite3.Row
        self._raw.execute("PRAGMA journal_mode=WAL")
        self._raw.execute(f"PRAGMA synchronous={synchronous}")
        self._raw.execute("PRAGMA busy_timeout=5000")
        # Pages are read through a memory map (no copy per read), and the log is checkpointed
        # by _Checkpointer instead of inside whichever COMMIT crosses the threshold.
        self._raw.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        self._raw.execute("PRAGMA wal_autocheckpoint=0")
        self._writer = _GroupCommit(self._raw)
        self._checkpointer = _Checkpointer(path)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        conn = SqliteConnection(self._writer)
        async with conn.transaction():
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        conn = SqliteConnection(self._writer)
        try:
            yield conn
        finally:
            await conn.settled()

    async def close(self) -> None:
        self._writer.commit()
        self._checkpointer.stop()
        self._raw.close()


@lru_cache(maxsize=1024)
def _shifted(sql: str, offset: int) -> str:
    """`sql` with its `$n` parameters renumbered to follow `offset` earlier ones."""
    return re.sub(r"\$(\d+)", lambda found: f"${int(found.group(1)) + offset}", sql) if offset else sql


@lru_cache(maxsize=1024)
def _guarded(sql: str, condition: str, offset: int) -> str:
    """The query `sql` with the value of `condition`, whose parameters follow the query's `offset`
    ones, as the extra column `parley_condition` of its rows. Both databases flatten the outer
    SELECT away and compute the (uncorrelated) condition once."""
    return f"SELECT s.*, {_shifted(condition, offset)} AS parley_condition FROM ({sql}) s"


_ONE_ROW_INSERT = re.compile(r"^(INSERT INTO \w+ \([^()]*\)) VALUES \(([^()]*)\)( ON CONFLICT .*)?$", re.DOTALL)


@lru_cache(maxsize=256)
def _unless_found(sql: str, offset: int) -> str:
    """A one-row INSERT ... VALUES rewritten as INSERT ... SELECT, which selects its row only when
    the `found` part of the statement is empty; parameters renumbered to follow `offset` others.
    (A SELECT list, unlike a VALUES list, takes its parameters' types from the target columns.)"""
    matched = _ONE_ROW_INSERT.match(sql)
    if matched is None:
        raise ValueError(f"find_or_insert takes one-row INSERT ... VALUES statements, not: {sql}")
    head, row, conflict = matched.groups()
    return _shifted(f"{head} SELECT {row} WHERE NOT EXISTS (SELECT 1 FROM found){conflict or ''}", offset)


def _lock_key(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class PostgresConnection:
    # Other connections commit at any time: reads before a transaction must be repeated in it.
    serialized = False

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw
        self._condition: Statement | None = None

    def require(self, condition: Statement) -> None:
        self._condition = condition

    async def check(self) -> None:
        condition, self._condition = self._condition, None
        if condition is not None:
            await self._evaluate(condition)

    async def _evaluate(self, condition: Statement) -> None:
        if not await self._raw.fetchval(f"SELECT {condition[0]}", *condition[1]):
            raise ConditionFailed

    async def execute(self, sql: str, *args: Any) -> int:
        if self._condition is not None:
            await self.check()
        status: str = await self._raw.execute(sql, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._condition is not None:
            await self.check()
        await self._raw.executemany(sql, rows)

    async def execute_all(self, statements: Sequence[Statement]) -> None:
        if self._condition is not None:
            await self.check()
        if len(statements) == 1:
            await self._raw.execute(statements[0][0], *statements[0][1])
            return
        # One statement whose parts are data-modifying WITH queries: PostgreSQL runs every part
        # (against the same snapshot) whether or not the final SELECT reads it.
        parts: list[str] = []
        args: list[Any] = []
        for index, (sql, values) in enumerate(statements):
            parts.append(f"s{index} AS ({_shifted(sql, len(args))})")
            args.extend(values)
        await self._raw.execute(f"WITH {', '.join(parts)} SELECT 1", *args)

    async def fetch_one(self, sql: str, *args: Any) -> Row | None:
        condition, self._condition = self._condition, None
        if condition is None:
            row: Row | None = await self._raw.fetchrow(sql, *args)
            return row
        guarded: Row | None = await self._raw.fetchrow(_guarded(sql, condition[0], len(args)), *args, *condition[1])
        if guarded is None:
            # No row carried the condition: it is checked on its own.
            await self._evaluate(condition)
        elif not guarded["parley_condition"]:
            raise ConditionFailed
        return guarded

    async def find_or_insert(self, sql: str, args: Sequence[Any], statements: Sequence[Statement]) -> Row | None:
        if self._condition is not None:
            await self.check()
        # The query and the inserts are parts of one statement, which all see the same snapshot:
        # each insert selects its row only when the query found nothing.
        parts = [f"found AS ({sql})"]
        values = list(args)
        for index, (insert, inserted) in enumerate(statements):
            parts.append(f"s{index} AS ({_unless_found(insert, len(values))})")
            values.extend(inserted)
        row: Row | None = await self._raw.fetchrow(f"WITH {', '.join(parts)} SELECT * FROM found", *values)
        return row

    async def fetch_all(self, sql: str, *args: Any) -> list[Row]:
        if self._condition is not None:
            await self.check()
        rows: list[Row] = await self._raw.fetch(sql, *args)
        return rows

    async def fetch_value(self, sql: str, *args: Any) -> Any:
        if self._condition is not None:
            await self.check()
        return await self._raw.fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self, *, lock: str | None = None) -> AsyncIterator[None]:
        if lock is None:
            async with self._raw.transaction():
                yield
            return
        # The lock is taken in the round trip that opens the transaction: the simple query
        # protocol runs both statements at once, and the key is an integer literal.
        try:
            await self._raw.execute(f"BEGIN; SELECT pg_advisory_xact_lock({_lock_key(lock)})")
            yield
        except BaseException:
            # A connection that cannot roll back here is still in a transaction when it is
            # given back, and is dropped then; the error that got us here is the one to report.
            with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await self._raw.execute("ROLLBACK")
            raise
        await self._raw.execute("COMMIT")


class PostgresDatabase:
    """Connections to PostgreSQL, kept open and lent to one request at a time.

    Not asyncpg's pool: its acquire and release cost about 34 µs per request here (a holder,
    a queue, a shielded release), against nothing for a list. Requests wait for a turn in
    arrival order (a FIFO semaphore, one turn per connection); a turn takes an idle connection,
    or opens one when none is idle, and gives it back when done. A connection that was closed,
    or left in a transaction or a cancelled operation, is dropped instead, and a later turn opens
    a new one: after a database restart, requests reconnect by themselves."""

    dialect = "postgresql"

    def __init__(
        self, connect: Callable[[], Awaitable[asyncpg.Connection]], *, size: int, acquire_timeout: float
    ) -> None:
        self._connect = connect
        self._acquire_timeout = acquire_timeout
        self._idle: list[asyncpg.Connection] = []
        # Requests wait for a connection in arrival order. A wait where whoever asks first gets
        # the connection handed back is not fair: a request that keeps losing that race to
        # newcomers waits for hundreds of milliseconds under load.
        self._turns = asyncio.Semaphore(size)
        self._closed = False

    @classmethod
    async def connect(
        cls, url: str, *, min_size: int, max_size: int, statement_timeout_ms: int, acquire_timeout_ms: int
    ) -> "PostgresDatabase":
        """Connections whose statements are cut off after `statement_timeout_ms`, awaited at most
        `acquire_timeout_ms` (connecting included): a request fails instead of hanging while the
        database is unreachable. `min_size` of them are opened at once."""
        timeout = acquire_timeout_ms / 1000
        server_settings = {"statement_timeout": str(statement_timeout_ms)}

        async def connect() -> asyncpg.Connection:
            opened: asyncpg.Connection = await asyncpg.connect(url, timeout=timeout, server_settings=server_settings)
            return opened

        database = cls(connect, size=max_size, acquire_timeout=timeout)
        database._idle.extend(await asyncio.gather(*(connect() for _ in range(min_size))))
        return database

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection, awaited (turn and connecting included) at most the acquire timeout.

        The wait for a turn is timed only when there is one (an `asyncio.timeout` costs a timer
        set and cancelled, about 6 µs); connecting has the same timeout of its own."""
        if self._turns.locked():
            async with asyncio.timeout(self._acquire_timeout):
                await self._turns.acquire()
        else:
            await self._turns.acquire()
        try:
            raw = self._idle.pop() if self._idle else None
            while raw is not None and raw.is_closed():
                raw = self._idle.pop() if self._idle else None
            if raw is None:
                raw = await self._connect()
            try:
                yield raw
            except asyncio.CancelledError:
                # An operation may still be under way on the connection.
                raw.terminate()
                raise
            except BaseException:
                self._give_back(raw)
                raise
            self._give_back(raw)
        finally:
            self._turns.release()

    def _give_back(self, raw: asyncpg.Connection) -> None:
        if raw.is_closed() or raw.is_in_transaction() or self._closed:
            raw.terminate()
        else:
            self._idle.append(raw)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._acquire() as raw, raw.transaction():
            yield PostgresConnection(raw)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._acquire() as raw:
            yield PostgresConnection(raw)

    async def close(self) -> None:
        """Closes the idle connections; those lent out are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(raw.close() for raw in idle), return_exceptions=True)


async def open_database(settings: Settings) -> Database:
    if settings.dialect == "postgresql":
        return await PostgresDatabase.connect(
            settings.database_url,
            min_size=settings.pg_pool_min,
            max_size=settings.pg_pool_max,
            statement_timeout_ms=settings.pg_statement_timeout_ms,
            acquire_timeout_ms=settings.pg_acquire_timeout_ms,
        )
    return SqliteDatabase(settings.sqlite_path, synchronous=settings.sqlite_synchronous)
