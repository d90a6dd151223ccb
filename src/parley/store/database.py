"""One small async interface over SQLite (stdlib sqlite3) and PostgreSQL (asyncpg)."""

import asyncio
import hashlib
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from functools import lru_cache
from typing import Any, Protocol

import asyncpg

from parley.config import Settings

# A statement and its arguments, for Connection.execute_all.
Statement = tuple[str, Sequence[Any]]


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

    async def fetch_all(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetch_value(self, sql: str, *args: Any) -> Any: ...

    def transaction(self, *, lock: str | None = None) -> AbstractAsyncContextManager[None]:
        """A write transaction on this connection: committed when the block ends, rolled back
        when it raises. With `lock`, it first takes a lock on that key, held until it ends, which
        serialises transactions that name the same key."""
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


MMAP_BYTES = 1 << 30


@lru_cache(maxsize=2048)
def _sqlite_sql(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"?\1", sql)


class SqliteConnection:
    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw
        self._in_transaction = False

    @asynccontextmanager
    async def transaction(self, *, lock: str | None = None) -> AsyncIterator[None]:
        # BEGIN IMMEDIATE takes the database's single write lock, which serialises every key.
        if self._in_transaction:
            raise RuntimeError("a SQLite transaction is already open; transactions must not await I/O")
        self._in_transaction = True
        try:
            self._raw.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._raw.execute("ROLLBACK")
                raise
            self._raw.execute("COMMIT")
        finally:
            self._in_transaction = False

    async def execute(self, sql: str, *args: Any) -> int:
        return self._raw.execute(_sqlite_sql(sql), args).rowcount

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._raw.executemany(_sqlite_sql(sql), rows)

    async def execute_all(self, statements: Sequence[Statement]) -> None:
        for sql, args in statements:
            self._raw.execute(_sqlite_sql(sql), args)

    async def fetch_one(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self._raw.execute(_sqlite_sql(sql), args).fetchone()
        return row

    async def fetch_all(self, sql: str, *args: Any) -> list[Row]:
        return self._raw.execute(_sqlite_sql(sql), args).fetchall()

    async def fetch_value(self, sql: str, *args: Any) -> Any:
        row = self._raw.execute(_sqlite_sql(sql), args).fetchone()
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
        self._conn = SqliteConnection(self._raw)
        self._checkpointer = _Checkpointer(path)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._conn.transaction():
            yield self._conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        yield self._conn

    async def close(self) -> None:
        self._checkpointer.stop()
        self._raw.close()


@lru_cache(maxsize=1024)
def _shifted(sql: str, offset: int) -> str:
    """`sql` with its `$n` parameters renumbered to follow `offset` earlier ones."""
    return re.sub(r"\$(\d+)", lambda found: f"${int(found.group(1)) + offset}", sql) if offset else sql


def _lock_key(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class PostgresConnection:
    # Other connections commit at any time: reads before a transaction must be repeated in it.
    serialized = False

    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw

    async def execute(self, sql: str, *args: Any) -> int:
        status: str = await self._raw.execute(sql, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._raw.executemany(sql, rows)

    async def execute_all(self, statements: Sequence[Statement]) -> None:
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
        row: Row | None = await self._raw.fetchrow(sql, *args)
        return row

    async def fetch_all(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = await self._raw.fetch(sql, *args)
        return rows

    async def fetch_value(self, sql: str, *args: Any) -> Any:
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
            # A connection that cannot roll back here is rolled back or dropped by the pool
            # when it is released; the error that got us here is the one to report.
            with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await self._raw.execute("ROLLBACK")
            raise
        await self._raw.execute("COMMIT")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skips the pool's reset query on release: Parley sets no session state and only takes
    transaction-scoped locks, so the reset would be one wasted round trip per request."""


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, *, size: int, acquire_timeout: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        # Requests wait for a connection in arrival order. The pool's own wait is not fair: a
        # connection handed back goes to whoever asks first, often a newcomer, and a request that
        # keeps losing that race waits for hundreds of milliseconds under load.
        self._turns = asyncio.Semaphore(size)

    @classmethod
    async def connect(
        cls, url: str, *, min_size: int, max_size: int, statement_timeout_ms: int, acquire_timeout_ms: int
    ) -> "PostgresDatabase":
        """A pool whose statements are cut off after `statement_timeout_ms`, and from which a
        connection is awaited at most `acquire_timeout_ms` (connecting included): a request fails
        instead of hanging while the database is unreachable."""
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            reset=_keep_session,
            timeout=acquire_timeout_ms / 1000,
            server_settings={"statement_timeout": str(statement_timeout_ms)},
        )
        return cls(pool, size=max_size, acquire_timeout=acquire_timeout_ms / 1000)

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection, awaited (turn and connecting included) at most the acquire timeout."""
        async with asyncio.timeout(self._acquire_timeout):
            await self._turns.acquire()
        try:
            async with asyncio.timeout(self._acquire_timeout):
                raw = await self._pool.acquire()
            try:
                yield raw
            finally:
                await self._pool.release(raw)
        finally:
            self._turns.release()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._acquire() as raw, raw.transaction():
            yield PostgresConnection(raw)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._acquire() as raw:
            yield PostgresConnection(raw)

    async def close(self) -> None:
        await self._pool.close()


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
