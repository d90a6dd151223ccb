"""The one async interface every store module uses, whichever the database: its protocols, and
the SQL rewriting both dialects share. The dialects live in store/sqlite.py and store/postgres.py."""

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from functools import lru_cache
from typing import Any, Protocol, TypeVar

# A statement and its arguments, for Connection.execute_all.
Statement = tuple[str, Sequence[Any]]

logger = logging.getLogger("parley.store")

# Channels of announcements (Connection.announce): work a committed transaction made for the
# background jobs. On PostgreSQL they are also the LISTEN/NOTIFY channels between processes.
DELIVERIES = "parley_deliveries"
"""A delivery became due (queued, retried, handed back); no payload."""
TIMERS = "parley_timers"
"""A timer or a state expiry was set; the payload is its due time (ISO 8601), or empty for "look now"."""

Listener = Callable[[str], None]


class ConditionFailed(Exception):
    """The condition set with Connection.require did not hold; the statement did not run."""


class DatabaseError(Exception):
    """A failure of the database, named for what it means to the request. The `Database` context
    managers raise these in place of what the driver raised, which is kept as the cause."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached, refuses connections (shutting down, restarting, too many),
    or a connection broke: a later attempt may succeed."""


class StatementTimeout(DatabaseError):
    """The database cut a statement off at its time limit."""


class InvalidText(DatabaseError):
    """The database refused a value as text (PostgreSQL cannot store the NUL character)."""


class InvalidValue(DatabaseError):
    """The database refused a value of the request for what it is (a number out of range)."""


class Row(Protocol):
    """A row as the drivers return it (sqlite3.Row, asyncpg.Record): read by column name, and
    never written to. The store hands rows out under the TypedDict of their columns (`shape`)."""

    def __getitem__(self, key: str, /) -> object: ...


# The TypedDict a query's rows are read as: its keys are the columns the query selects.
R = TypeVar("R", bound=Row)


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

    async def fetch_one(self, shape: type[R], sql: str, *args: Any) -> R | None:
        """The first row of the query, as a row of `shape`, which names its columns (for the type
        checker only: the row is the driver's, not a copy)."""
        ...

    async def find_or_insert(
        self, shape: type[R], sql: str, args: Sequence[Any], statements: Sequence[Statement]
    ) -> R | None:
        """The first row of the query `sql`; when there is none, runs `statements` (one-row
        `INSERT INTO t (columns) VALUES (...)`, optionally `ON CONFLICT ...`) instead, in the same
        round trip where the database allows, and returns None."""
        ...

    async def fetch_all(self, shape: type[R], sql: str, *args: Any) -> list[R]: ...

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

    def announce(self, channel: str, payload: str = "") -> None:
        """Tells the listeners of `channel` about `payload` once the writes made on this
        connection so far are committed (nothing if they are rolled back): this process's, or,
        when it has none for the channel, those of the other processes (PostgreSQL NOTIFY, sent
        after the commit on a connection of its own)."""
        ...


class Database(Protocol):
    """One database and the connections to it. The failures callers tell apart (the database
    unreachable, a statement cut off, text it refuses) leave `transaction()` and `connection()`
    as a DatabaseError; other errors, SQLite's included, pass unchanged."""

    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for reads, outside any explicit transaction."""
        ...

    async def listen(self, channel: str, listener: Listener) -> None:
        """Calls `listener(payload)` for each announcement on `channel` after its transaction
        committed: this process's own and, on PostgreSQL, those of other processes (LISTEN, on
        one connection of the process's own). A listener only wakes work up and must not raise;
        announcements missed while that connection is down are not repeated."""
        ...

    async def notify(self, channel: str, payload: str) -> None:
        """Tells every listener of `channel` about `payload` now, outside any transaction: this
        process's and, on PostgreSQL, every other process's (NOTIFY, which comes back to this
        one too). Listeners hear the calls of one process in their order. `payload` must fit a
        NOTIFY (NOTIFY_LIMIT bytes); DatabaseUnavailable when it cannot be sent."""
        ...

    async def close(self) -> None: ...


# The longest payload PostgreSQL's NOTIFY carries, in bytes (8000, less a margin).
NOTIFY_LIMIT = 7900


class Announcements:
    """The listeners of one process, by channel, and the announcements of a transaction that
    wait for its commit."""

    def __init__(self, *, elsewhere: Callable[[str, str], None] | None = None) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        # Where an announcement that nobody here listens to goes (other processes), if anywhere.
        self._elsewhere = elsewhere

    def add(self, channel: str, listener: Listener) -> None:
        self._listeners.setdefault(channel, []).append(listener)

    @property
    def channels(self) -> list[str]:
        return list(self._listeners)

    def deliver(self, channel: str, payload: str) -> None:
        listeners = self._listeners.get(channel)
        if not listeners:
            if self._elsewhere is not None:
                self._elsewhere(channel, payload)
            return
        for listener in listeners:
            try:
                listener(payload)
            except Exception:
                # A listener only wakes work up: the commit behind it stands whatever happens here.
                logger.exception("a listener of %s failed", channel)

    def deliver_all(self, pending: list[tuple[str, str]]) -> None:
        """Delivers `pending` (emptied), each distinct announcement once."""
        for channel, payload in dict.fromkeys(pending):
            self.deliver(channel, payload)
        pending.clear()


async def ping(conn: Connection) -> None:
    """Runs the cheapest statement there is: returns once the database has answered."""
    await conn.fetch_value("SELECT 1")


@lru_cache(maxsize=1024)
def shifted(sql: str, offset: int) -> str:
    """`sql` with its `$n` parameters renumbered to follow `offset` earlier ones."""
    return re.sub(r"\$(\d+)", lambda found: f"${int(found.group(1)) + offset}", sql) if offset else sql


@lru_cache(maxsize=1024)
def with_condition(sql: str, condition: str, offset: int) -> str:
    """The query `sql` with the value of `condition`, whose parameters follow the query's `offset`
    ones, as the extra column `parley_condition` of its rows. Both databases flatten the outer
    SELECT away and compute the (uncorrelated) condition once."""
    return f"SELECT s.*, {shifted(condition, offset)} AS parley_condition FROM ({sql}) s"
