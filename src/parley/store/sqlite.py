"""SQLite (stdlib sqlite3): one connection used on the event loop, write transactions committed
in groups, and the write-ahead log checkpointed from a thread of its own."""

import asyncio
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import lru_cache
from typing import Any

from parley.store import backup
from parley.store.database import (
    Announcements,
    ConditionFailed,
    Connection,
    Listener,
    R,
    Statement,
    with_condition,
)

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

    def __init__(self, raw: sqlite3.Connection, announcements: Announcements) -> None:
        self.raw = raw
        self.in_transaction = False
        # Resolved when the open group has committed; None while no group is open.
        self.group: asyncio.Future[None] | None = None
        self.announcements = announcements
        # What the open group's transactions announced, delivered when it has committed.
        self.announced: list[tuple[str, str]] = []

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
            self.announced.clear()
            with suppress(sqlite3.Error):
                self.raw.execute("ROLLBACK")
            group.set_exception(error)
            # Every transaction of the group raises it; the future need not report it as unseen.
            group.exception()
        else:
            group.set_result(None)
            self.announcements.deliver_all(self.announced)


class SqliteConnection:
    """One request's (or task's) use of the single connection. It remembers the newest group
    that was open when it ran a statement: what it read may be that group's uncommitted work, so
    it is not done (and nothing is answered) until that group has committed."""

    def __init__(self, writer: _GroupCommit) -> None:
        self._writer = writer
        self._raw = writer.raw
        self._seen: asyncio.Future[None] | None = None
        self._condition: Statement | None = None
        self._announced: list[tuple[str, str]] = []

    def require(self, condition: Statement) -> None:
        self._condition = condition

    def announce(self, channel: str, payload: str = "") -> None:
        self._announced.append((channel, payload))

    def deliver_announced(self) -> None:
        """Delivers what writes outside a transaction announced, once they are committed."""
        self._writer.announcements.deliver_all(self._announced)

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
                self._announced.clear()
                self._raw.execute("ROLLBACK TO parley")
                self._raw.execute("RELEASE parley")
                raise
            self._raw.execute("RELEASE parley")
            # Delivered with the group, once it has committed.
            writer.announced.extend(self._announced)
            self._announced.clear()
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

    async def fetch_one(self, shape: type[R], sql: str, *args: Any) -> R | None:
        condition, self._condition = self._condition, None
        if condition is None:
            row: R | None = self._run(sql, args).fetchone()
            return row
        guarded: R | None = self._run(with_condition(sql, condition[0], len(args)), (*args, *condition[1])).fetchone()
        if guarded is None:
            # No row carried the condition: it is checked on its own.
            self._evaluate(condition)
        elif not guarded["parley_condition"]:
            raise ConditionFailed
        return guarded

    async def find_or_insert(
        self, shape: type[R], sql: str, args: Sequence[Any], statements: Sequence[Statement]
    ) -> R | None:
        row = await self.fetch_one(shape, sql, *args)
        if row is None:
            await self.execute_all(statements)
        return row

    async def fetch_all(self, shape: type[R], sql: str, *args: Any) -> list[R]:
        rows: list[R] = self._run(sql, args).fetchall()
        return rows

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
        self._announcements = Announcements()
        self._writer = _GroupCommit(self._raw, self._announcements)
        self._checkpointer = _Checkpointer(path)
        # Tells `parley db restore` that the database is in use (store.backup).
        self._in_use = backup.hold(path)

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
            conn.deliver_announced()

    async def listen(self, channel: str, listener: Listener) -> None:
        # One process owns the database: every announcement is made here.
        self._announcements.add(channel, listener)

    async def notify(self, channel: str, payload: str) -> None:
        self._announcements.deliver(channel, payload)

    async def close(self) -> None:
        self._writer.commit()
        self._checkpointer.stop()
        self._raw.close()
        backup.release(self._in_use)
