"""The get-or-create key, shared by users, conversations and messages.

The key is the request's tags, restricted to `discriminateByTags` when given. Without it, a
stored resource matches only when its tags in the namespaces the request speaks for are exactly
the request's; with it, only the listed keys are compared. An empty key always creates.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from parley.store.database import Connection, Row
from parley.store.tags import find_oldest_by_tags, namespace


@dataclass(frozen=True)
class LookupKey:
    pairs: tuple[tuple[str, str], ...]
    exact_namespaces: frozenset[str] | None

    def lock_name(self, bot_id: str, kind: str, scope: str = "") -> str:
        rendered = "\x1f".join(f"{key}\x1e{value}" for key, value in self.pairs)
        return f"get-or-create\x1d{bot_id}\x1d{kind}\x1d{scope}\x1d{rendered}"


def lookup_key(tags: Mapping[str, str | None], discriminate_by: list[str] | None) -> LookupKey | None:
    """The key of a get-or-create call from its qualified tags and qualified discriminator."""
    present = {key: value for key, value in tags.items() if value}
    if discriminate_by is not None:
        pairs = tuple(sorted((key, present[key]) for key in set(discriminate_by) if key in present))
        return LookupKey(pairs, None) if pairs else None
    if not present:
        return None
    return LookupKey(tuple(sorted(present.items())), frozenset(namespace(key) for key in present))


async def find(
    conn: Connection,
    key: LookupKey,
    *,
    table: str,
    columns: str,
    bot_id: str,
    kind: str,
    scope: Mapping[str, str] | None = None,
) -> Row | None:
    """Locks the key for the rest of the transaction, then finds the oldest match."""
    await conn.lock(key.lock_name(bot_id, kind, "\x1f".join(f"{k}={v}" for k, v in (scope or {}).items())))
    return await find_oldest_by_tags(
        conn,
        table=table,
        columns=columns,
        bot_id=bot_id,
        kind=kind,
        pairs=key.pairs,
        exact_namespaces=key.exact_namespaces,
        where=scope,
    )
