"""The get-or-create mechanism, shared by users, conversations, messages and workflows.

The key is the request's tags, restricted to `discriminateByTags` when given. Without it, a
stored resource matches only when its tags in the namespaces the request speaks for are exactly
the request's; with it, only the listed keys are compared. An empty key always creates, unless
the lookup's scope identifies the resource by itself (a workflow by its name).

A call first looks the key up without a lock: a resource that is found and needs no change is
answered from that one read. Otherwise a write transaction takes a lock on the key, looks again
(unless the connection is serialized, where the first read still holds) and then updates or
creates, so concurrent identical calls produce one resource.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from parley.store.database import Connection, R, Statement
from parley.store.lookup import Lookup, LookupKey
from parley.store.tags import namespace

T = TypeVar("T")


def lookup_key(
    tags: Mapping[str, str | None], discriminate_by: list[str] | None, *, namespaced: bool = True
) -> LookupKey | None:
    """The key of a get-or-create call from its qualified tags and qualified discriminator.

    Tags of resources that only the bot writes (workflows) are not `namespaced`: an exact match
    compares the whole tag set, and no tags at all is a key too (the scope, such as the
    workflow's name, is then what identifies the resource)."""
    present = {key: value for key, value in tags.items() if value}
    if discriminate_by is not None:
        pairs = tuple(sorted((key, present[key]) for key in set(discriminate_by) if key in present))
        return LookupKey(pairs, None) if pairs or not namespaced else None
    if not namespaced:
        return LookupKey(tuple(sorted(present.items())), None, exact_all=True)
    if not present:
        return None
    return LookupKey(tuple(sorted(present.items())), frozenset(namespace(key) for key in present))


@dataclass(frozen=True)
class Creation(Generic[T]):
    """A create as rows to insert (statements of one row each, from the store modules, as
    Connection.find_or_insert takes them) and what follows once they are in (dispatch, timers),
    which answers the new resource."""

    statements: list[Statement]
    finish: Callable[[], Awaitable[T]]

    async def run(self, conn: Connection) -> T:
        """Inserts the rows, then finishes: the create on its own."""
        await conn.execute_all(self.statements)
        return await self.finish()


@dataclass(frozen=True)
class Found(Generic[R]):
    """What a lookup made by the caller, before get_or_create, found (None: nothing)."""

    row: R | None


async def get_or_create(
    conn: Connection,
    key: LookupKey | None,
    lookup: Lookup[R],
    *,
    unchanged: Callable[[R], T | None],
    update: Callable[[R], Awaitable[T]],
    create: Callable[[], Awaitable[T]],
    found: Found[R] | None = None,
    creation: Callable[[], Creation[T]] | None = None,
) -> tuple[T, bool]:
    """(resource, created). `unchanged` answers a found row that needs no write (or None when it
    does); `update` writes onto a found row; `create` inserts. Both run inside the transaction.
    `found` is the unlocked lookup when the caller has made it already, with other reads.
    `creation`, when given, is the create as rows: the lookup under the lock and the insert are
    then one statement (`Connection.find_or_insert`), one round trip instead of two."""
    row = None
    if key is not None:
        row = await lookup.find(conn, key) if found is None else found.row
        if row is not None:
            answer = unchanged(row)
            if answer is not None:
                return answer, False
    async with conn.transaction(lock=None if key is None else lookup.lock_name(key)):
        if key is not None:
            if not conn.serialized and creation is not None:
                planned = creation()
                row = await lookup.find_or_insert(conn, key, planned.statements)
                if row is None:
                    return await planned.finish(), True
            elif not conn.serialized:
                row = await lookup.find(conn, key)
            if row is not None:
                return await update(row), False
        return await create(), True
