"""PostgreSQL (asyncpg): connections kept in a list and lent to one request at a time, and the
SQL rewriting this dialect makes (a create's inserts as one statement, the lock in BEGIN)."""

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import lru_cache
from typing import Any, NoReturn

import asyncpg

from parley.store.database import (
    Announcements,
    ConditionFailed,
    Connection,
    DatabaseUnavailable,
    InvalidText,
    InvalidValue,
    Listener,
    R,
    Statement,
    StatementTimeout,
    shifted,
    with_condition,
)

logger = logging.getLogger("parley.store")

# The wait before opening the listening connection again after it was lost.
RELISTEN_SECONDS = 1.0

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

    def __init__(self, raw: asyncpg.Connection, announcements: Announcements) -> None:
        self._raw = raw
        self._condition: Statement | None = None
        self._announcements = announcements
        self._announced: list[tuple[str, str]] = []

    def require(self, condition: Statement) -> None:
        self._condition = condition

    def announce(self, channel: str, payload: str = "") -> None:
        self._announced.append((channel, payload))

    def deliver_announced(self) -> None:
        """Delivers what was announced since the last commit: call once it is committed."""
        self._announcements.deliver_all(self._announced)

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
            try:
                async with self._raw.transaction():
                    yield
            except BaseException:
                self._announced.clear()
                raise
            self.deliver_announced()
            return
        # The lock is taken in the round trip that opens the transaction: the simple query
        # protocol runs both statements at once, and the key is an integer literal.
        try:
            await self._raw.execute(f"BEGIN; SELECT pg_advisory_xact_lock({_lock_key(lock)})")
            yield
        except BaseException:
            self._announced.clear()
            # A connection that cannot roll back here is still in a transaction when it is
            # given back, and is dropped then; the error that got us here is the one to report.
            with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await self._raw.execute("ROLLBACK")
            raise
        try:
            await self._raw.execute("COMMIT")
        except BaseException:
            self._announced.clear()
            raise
        self.deliver_announced()


class PostgresDatabase:
    """Connections to PostgreSQL, kept open and lent to one request at a time.

    Not asyncpg's pool: its acquire and release cost about 34 µs per request here (a holder,
    a queue, a shielded release), against nothing for a list. Requests wait for a turn in
    arrival order (a FIFO semaphore, one turn per connection); a turn takes an idle connection,
    or opens one when none is idle, and gives it back when done. A connection that was closed,
    or left in a transaction or a cancelled operation, is dropped instead, and a later turn opens
    a new one: after a database restart, requests reconnect by themselves.

    Announcements cross processes on one more connection: it LISTENs on the channels that have
    listeners here, and NOTIFYs those that have none (a server with PARLEY_DISPATCH=off tells the
    workers about its deliveries). A commit never NOTIFYs itself: PostgreSQL serialises the
    commits of notifying transactions, WAL flush included (16 connections inserting a row each:
    about 7,000 commits/s, about 1,200 with a NOTIFY trigger), while a NOTIFY on its own writes
    no WAL."""

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
        self._announcements = Announcements(elsewhere=self._forward)
        # The process's one connection outside the list: it LISTENs, and it NOTIFYs.
        self._listener: asyncpg.Connection | None = None
        self._relistening: asyncio.Task[None] | None = None
        # Announcements for other processes, by channel, and the task that sends them.
        self._outgoing: dict[str, str] = {}
        self._forwarder: asyncio.Task[None] | None = None
        # One statement at a time on the listening connection, in the order they were asked for.
        self._speaking = asyncio.Lock()

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
            async with self._acquire() as raw:
                conn = PostgresConnection(raw, self._announcements)
                async with raw.transaction():
                    yield conn
                conn.deliver_announced()
        except Exception as error:
            _raise_as_database_error(error)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        try:
            async with self._acquire() as raw:
                conn = PostgresConnection(raw, self._announcements)
                try:
                    yield conn
                finally:
                    # Writes made outside a transaction were committed one by one.
                    conn.deliver_announced()
        except Exception as error:
            _raise_as_database_error(error)

    async def listen(self, channel: str, listener: Listener) -> None:
        self._announcements.add(channel, listener)
        if self._listener is not None:
            await self._listener.add_listener(channel, self._heard)
        elif self._relistening is None:
            try:
                await self._start_listening()
            except Exception:
                logger.warning("cannot LISTEN for other processes' work; trying again", exc_info=True)
                self._lost(None)

    async def _start_listening(self) -> None:
        raw = await self._connect()
        try:
            for channel in self._announcements.channels:
                await raw.add_listener(channel, self._heard)
        except BaseException:
            raw.terminate()
            raise
        raw.add_termination_listener(self._lost)
        self._listener = raw

    def _heard(self, _: object, pid: int, channel: str, payload: str) -> None:
        self._announcements.deliver(channel, payload)

    def _forward(self, channel: str, payload: str) -> None:
        """Sends an announcement nobody here listens to (a server that does not dispatch) to
        the other processes, after the commit and outside the request that made it. Those sent
        while one NOTIFY is under way go together in the next, one per channel: the earliest
        due time (an empty payload, "look now", sorts first)."""
        queued = self._outgoing.get(channel)
        self._outgoing[channel] = payload if queued is None else min(queued, payload)
        if self._forwarder is None:
            self._forwarder = asyncio.get_running_loop().create_task(self._send_outgoing())

    async def _send_outgoing(self) -> None:
        try:
            while self._outgoing:
                outgoing, self._outgoing = self._outgoing, {}
                async with self._speaking:
                    if self._listener is None and self._relistening is None:
                        await self._start_listening()
                    if self._listener is None:
                        # Reconnecting: the other processes find this work by their polls.
                        continue
                    await self._listener.execute(
                        "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)",
                        list(outgoing),
                        list(outgoing.values()),
                    )
        except Exception:
            logger.warning("cannot NOTIFY other processes; they find the work by their polls", exc_info=True)
        finally:
            self._forwarder = None

    async def notify(self, channel: str, payload: str) -> None:
        try:
            async with self._speaking:
                if self._listener is None and self._relistening is None:
                    await self._start_listening()
                if self._listener is None:
                    raise DatabaseUnavailable("the connection that notifies other processes is reconnecting")
                await self._listener.execute("SELECT pg_notify($1, $2)", channel, payload)
        except DatabaseUnavailable:
            raise
        except Exception as error:
            _raise_as_database_error(error)

    def _lost(self, _: object) -> None:
        """The listening connection closed: until another one listens, the background jobs find
        other processes' work by their own polls only."""
        self._listener = None
        if not self._closed and self._relistening is None:
            self._relistening = asyncio.get_running_loop().create_task(self._relisten())

    async def _relisten(self) -> None:
        while True:
            await asyncio.sleep(RELISTEN_SECONDS)
            try:
                await self._start_listening()
            except Exception as error:
                logger.debug("LISTEN failed again: %s", error)
                continue
            self._relistening = None
            # Whatever was announced while nobody listened is looked for now.
            for channel in self._announcements.channels:
                self._announcements.deliver(channel, "")
            return

    async def close(self) -> None:
        """Sends what is left to forward, then closes the idle connections and the listening one;
        those lent out are closed when they come back."""
        if self._forwarder is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._forwarder), RELISTEN_SECONDS)
        self._closed = True
        relistening, self._relistening = self._relistening, None
        if relistening is not None:
            relistening.cancel()
            with suppress(asyncio.CancelledError):
                await relistening
        listener, self._listener = self._listener, None
        idle, self._idle = self._idle, []
        await asyncio.gather(
            *(raw.close() for raw in [*idle, *([listener] if listener is not None else [])]),
            return_exceptions=True,
        )


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
    if isinstance(
        error, asyncpg.exceptions.CharacterNotInRepertoireError | asyncpg.exceptions.UntranslatableCharacterError
    ):
        raise InvalidText(str(error)) from error
    if isinstance(error, asyncpg.exceptions.DataError):
        raise InvalidValue(str(error)) from error
    # Before _UNAVAILABLE: a cancelled statement is one kind of operator intervention.
    if isinstance(error, asyncpg.exceptions.QueryCanceledError):
        raise StatementTimeout(str(error)) from error
    if isinstance(error, _UNAVAILABLE):
        raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
    raise error
