"""Users: create, read, update, delete, list, get-or-create."""

from msgspec import UNSET

from parley import ids
from parley.errors import ResourceNotFound
from parley.service import tags as tag_rules
from parley.service.common import Page, owner_alias
from parley.service.get_or_create import get_or_create, lookup_key
from parley.service.identity import Identity
from parley.service.models import CreateUser, GetOrCreateUser, UpdateUser, User, decode_tags, encode_json
from parley.store import users as store
from parley.store.database import Connection
from parley.store.sql import Order
from parley.store.tags import write_tags
from parley.store.users import UserRow


def to_user(
    identity: Identity, row: UserRow, *, tags: dict[str, str] | None = None, updated_at: str | None = None
) -> User:
    """The user as the caller sees it; `tags` and `updated_at` override the row after a write."""
    return User(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=updated_at or row["updated_at"],
        tags=tag_rules.visible(identity, decode_tags(row["tags"]) if tags is None else tags),
        name=row["name"],
        picture_url=row["picture_url"],
    )


async def get_row(conn: Connection, identity: Identity, user_id: str) -> UserRow | None:
    """The user if the caller may see it: any of the bot's, or an integration's own."""
    row = await store.get_user(conn, bot_id=identity.bot_id, id=user_id)
    if row is None or not identity.sees(row["integration"]):
        return None
    return row


async def _require(conn: Connection, identity: Identity, user_id: str) -> UserRow:
    row = await get_row(conn, identity, user_id)
    if row is None:
        raise ResourceNotFound(f"User {user_id} not found.")
    return row


async def _insert(conn: Connection, identity: Identity, body: CreateUser, tags: dict[str, str], now: str) -> User:
    installation = owner_alias(identity, body.integration_name)
    user_id = ids.new_id(ids.USER)
    await store.insert_user(
        conn,
        id=user_id,
        bot_id=identity.bot_id,
        integration="" if installation is None else installation.alias,
        name=body.name,
        picture_url=body.picture_url,
        tags=encode_json(tags),
        now=now,
    )
    await write_tags(conn, bot_id=identity.bot_id, kind="user", resource_id=user_id, tags=tags, replace=False)
    return User(
        id=user_id,
        created_at=now,
        updated_at=now,
        tags=tag_rules.visible(identity, tags),
        name=body.name,
        picture_url=body.picture_url,
    )


async def create_user(conn: Connection, identity: Identity, body: CreateUser, *, now: str) -> User:
    tags = tag_rules.merge({}, tag_rules.qualify(identity, "user", body.tags))
    return await _insert(conn, identity, body, tags, now)


async def get_or_create_user(
    conn: Connection, identity: Identity, body: GetOrCreateUser, *, now: str
) -> tuple[User, bool]:
    """Runs its own transaction: see parley.service.get_or_create."""
    changes = tag_rules.qualify(identity, "user", body.tags)
    key = lookup_key(changes, tag_rules.qualify_keys(identity, "user", body.discriminate_by_tags))

    def unchanged(row: UserRow) -> User | None:
        return to_user(identity, row) if tag_rules.unchanged_by(row, changes) else None

    async def update(row: UserRow) -> User:
        merged = await tag_rules.apply(conn, identity, "user", row, changes, now=now)
        return to_user(identity, row, tags=merged, updated_at=now if merged is not None else None)

    async def create() -> User:
        return await _insert(conn, identity, body, tag_rules.merge({}, changes), now)

    lookup = store.lookup(identity.bot_id, integration=identity.alias)
    return await get_or_create(conn, key, lookup, unchanged=unchanged, update=update, create=create)


async def get_user(conn: Connection, identity: Identity, user_id: str) -> User:
    return to_user(identity, await _require(conn, identity, user_id))


async def update_user(conn: Connection, identity: Identity, user_id: str, body: UpdateUser, *, now: str) -> User:
    row = await _require(conn, identity, user_id)
    stored = decode_tags(row["tags"])
    merged = stored if body.tags is None else tag_rules.merge(stored, tag_rules.qualify(identity, "user", body.tags))
    name = row["name"] if body.name is UNSET else body.name
    picture_url = row["picture_url"] if body.picture_url is UNSET else body.picture_url
    await store.update_user(conn, id=user_id, name=name, picture_url=picture_url, tags=encode_json(merged), now=now)
    if merged != stored:
        await write_tags(conn, bot_id=identity.bot_id, kind="user", resource_id=user_id, tags=merged, replace=True)
    return User(
        id=user_id,
        created_at=row["created_at"],
        updated_at=now,
        tags=tag_rules.visible(identity, merged),
        name=name,
        picture_url=picture_url,
    )


async def delete_user(conn: Connection, identity: Identity, user_id: str) -> None:
    await _require(conn, identity, user_id)
    await store.delete_user(conn, id=user_id)


async def list_users(
    conn: Connection,
    identity: Identity,
    *,
    conversation_id: str | None,
    tags: dict[str, str],
    range_field: str,
    after: str | None,
    before: str | None,
    order: Order,
    page: Page,
) -> tuple[list[User], str | None]:
    rows, next_token = await store.list_users(
        conn,
        bot_id=identity.bot_id,
        integration=identity.alias,
        conversation_id=conversation_id,
        tags=tag_rules.qualify_filter(identity, tags),
        range_field=range_field,
        after=after,
        before=before,
        order=order,
        cursor=page.cursor,
        limit=page.size,
    )
    return [to_user(identity, row) for row in rows], next_token
