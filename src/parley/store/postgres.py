"""PostgreSQL (asyncpg): connections kept in a list and lent to one request at a time, and the
SQL rewriting this dialect makes (a create's inserts as one statement, the lock in BEGIN)."""

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import lru_cache
from typing import Any, NoReturn

import asyncpg

from parley.store.database import (
    ConditionFailed,
    Connection,
    DatabaseUnavailable,
    InvalidText,
    R,
    Statement,
    StatementTimeout,
    shifted,
    with_condition,
)

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
    return shifted(f"{head} SELECT {row} WHERE NOT EXISTS (SELECT 1 FROM found){conflict or ''}", offset)


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
            parts.append(f"s{index} AS ({shifted(sql, len(args))})")
            args.extend(values)
        await self._raw.execute(f"WITH {', '.join(parts)} SELECT 1", *args)

    async def fetch_one(self, shape: type[R], sql: str, *args: Any) -> R | None:
        condition, self._condition = self._condition, None
        if condition is None:
            row: R | None = await self._raw.fetchrow(sql, *args)
            return row
        guarded: R | None = await self._raw.fetchrow(with_condition(sql, condition[0], len(args)), *args, *condition[1])
        if guarded is None:
            # No row carried the condition: it is checked on its own.
            await self._evaluate(condition)
        elif not guarded["parley_condition"]:
            raise ConditionFailed
        return guarded

    async def find_or_insert(
        self, shape: type[R], sql: str, args: Sequence[Any], statements: Sequence[Statement]
    ) -> R | None:
        if self._condition is not None:
            await self.check()
        # The query and the inserts are parts of one statement, which all see the same snapshot:
        # each insert selects its row only when the query found nothing.
        parts = [f"found AS ({sql})"]
        values = list(args)
        for index, (insert, inserted) in enumerate(statements):
            parts.append(f"s{index} AS ({_unless_found(insert, len(values))})")
            values.extend(inserted)
        row: R | None = await self._raw.fetchrow(f"WITH {', '.join(parts)} SELECT * FROM found", *values)
        return row

    async def fetch_all(self, shape: type[R], sql: str, *args: Any) -> list[R]:
        if self._condition is not None:
            await self.check()
        rows: list[R] = await self._raw.fetch(sql, *args)
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
        try:
            async with self._acquire() as raw, raw.transaction():
                yield PostgresConnection(raw)
        except Exception as error:
            _raise_as_database_error(error)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        try:
            async with self._acquire() as raw:
                yield PostgresConnection(raw)
        except Exception as error:
            _raise_as_database_error(error)

    async def close(self) -> None:
        """Closes the idle connections; those lent out are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(raw.close() for raw in idle), return_exceptions=True)


# What asyncpg raises while PostgreSQL is down, restarting or refusing connections; broken
# connections are dropped and replaced (PostgresDatabase), so requests succeed again once the
# database is back.
_UNAVAILABLE = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    # "database is not currently accepting connections" (maintenance): raised when connecting.
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,
    asyncpg.exceptions.InterfaceError,
    # A connection whose backend was terminated while it sat idle can fail its next
    # query this way ("cannot switch to state ...; another operation is in progress").
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


def _raise_as_database_error(error: Exception) -> NoReturn:
    """Raises the DatabaseError that `error`, raised by asyncpg or under it, stands for; `error`
    itself when it is no failure of the database (a bug, or an error of the caller's own)."""
    if isinstance(error, asyncpg.exceptions.CharacterNotInRepertoireError | asyncpg.exceptions.DataError):
        raise InvalidText(str(error)) from error
    # Before _UNAVAILABLE: a cancelled statement is one kind of operator intervention.
    if isinstance(error, asyncpg.exceptions.QueryCanceledError):
        raise StatementTimeout(str(error)) from error
    if isinstance(error, _UNAVAILABLE):
        raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
    raise error
