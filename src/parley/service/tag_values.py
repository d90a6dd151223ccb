"""The distinct values of one tag key across the resources a caller can see."""

from parley.errors import InvalidPayload
from parley.service import tags as tag_rules
from parley.service.common import Page
from parley.service.definitions import TagKind
from parley.service.identity import Identity
from parley.store import tag_values as store
from parley.store.database import Connection
from parley.store.sql import Cursor


async def list_tag_values(
    conn: Connection, identity: Identity, *, key: str, kind: TagKind, page: Page
) -> tuple[list[str], str | None]:
    """One page of the values of `key`, written as the caller writes tags, on its resources of
    `kind`: every one of the bot's for a bot, only its own for an integration. Raises
    InvalidPayload for an undeclared key, or a `nextToken` handed out by another list."""
    (stored_key,) = tag_rules.qualify(identity, kind, {key: None})
    # Values are distinct, so the value alone positions a page; the cursor's id slot names the list
    # instead, so that a token from another list (or another key) is refused rather than misread.
    scope = f"{kind}/{stored_key}"
    if page.cursor is not None and page.cursor.id != scope:
        raise InvalidPayload(f"`nextToken` does not come from a list of the values of {key!r} for {kind}s.")
    values, last = await store.list_tag_values(
        conn,
        bot_id=identity.bot_id,
        kind=kind,
        key=stored_key,
        integration=identity.alias,
        after=None if page.cursor is None else page.cursor.value,
        limit=page.size,
    )
    return values, None if last is None else Cursor(last, scope).encode()
