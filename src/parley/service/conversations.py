"""Conversations and participants."""

from msgspec import UNSET

from parley import ids
from parley.errors import InvalidPayload, ReferenceNotFound, ResourceNotFound
from parley.service import tags as tag_rules
from parley.service.common import Page, owner_alias
from parley.service.get_or_create import get_or_create, lookup_key
from parley.service.identity import Identity
from parley.service.models import (
    Conversation,
    CreateConversation,
    GetOrCreateConversation,
    UpdateConversation,
    User,
    decode_tags,
    encode_json,
)
from parley.service.users import get_row as get_user_row
from parley.service.users import to_user
from parley.store import conversations as store
from parley.store import tasks as task_store
from parley.store.conversations import ConversationRow
from parley.store.database import Connection
from parley.store.sql import Order
from parley.store.tags import write_tags


def to_conversation(
    identity: Identity, row: ConversationRow, *, tags: dict[str, str] | None = None, updated_at: str | None = None
) -> Conversation:
    """The conversation as the caller sees it; `tags` and `updated_at` override the row after a write."""
    return Conversation(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=updated_at or row["updated_at"],
        channel=row["channel"],
        integration=row["integration_name"],
        tags=tag_rules.visible(identity, decode_tags(row["tags"]) if tags is None else tags),
        current_task_id=row["current_task_id"],
        current_workflow_id=row["current_workflow_id"],
    )


async def get_row(conn: Connection, identity: Identity, conversation_id: str) -> ConversationRow | None:
    """The conversation if the caller may see it: any of the bot's, or an integration's own."""
    row = await store.get_conversation(conn, bot_id=identity.bot_id, id=conversation_id)
    if row is None or not identity.sees(row["integration"]):
        return None
    return row


async def require_row(conn: Connection, identity: Identity, conversation_id: str) -> ConversationRow:
    row = await get_row(conn, identity, conversation_id)
    if row is None:
        raise ResourceNotFound(f"Conversation {conversation_id} not found.")
    return row


def _owner(identity: Identity, body: CreateConversation) -> tuple[str, str]:
    """(alias, integration name) owning a new conversation on `body.channel`."""
    installation = owner_alias(identity, body.integration_name)
    if installation is None:
        return "", ""
    if body.channel not in installation.integration.channels:
        raise InvalidPayload(
            f"Channel {body.channel!r} is not declared by integration {installation.integration.name!r}."
        )
    return installation.alias, installation.integration.name


async def _insert(
    conn: Connection,
    identity: Identity,
    body: CreateConversation,
    owner: tuple[str, str],
    tags: dict[str, str],
    now: str,
) -> Conversation:
    conversation_id = ids.new_id(ids.CONVERSATION)
    await store.insert_conversation(
        conn,
        id=conversation_id,
        bot_id=identity.bot_id,
        channel=body.channel,
        integration=owner[0],
        integration_name=owner[1],
        tags=encode_json(tags),
        now=now,
    )
    await write_tags(
        conn,
        bot_id=identity.bot_id,
        kind="conversation",
        resource_id=conversation_id,
        tags=tags,
        replace=False,
    )
    return Conversation(
        id=conversation_id,
        created_at=now,
        updated_at=now,
        channel=body.channel,
        integration=owner[1],
        tags=tag_rules.visible(identity, tags),
    )


async def create_conversation(
    conn: Connection, identity: Identity, body: CreateConversation, *, now: str
) -> Conversation:
    owner = _owner(identity, body)
    changes = tag_rules.qualify(identity, "conversation", body.tags, channel=body.channel)
    return await _insert(conn, identity, body, owner, tag_rules.merge({}, changes), now)


async def get_or_create_conversation(
    conn: Connection, identity: Identity, body: GetOrCreateConversation, *, now: str
) -> tuple[Conversation, bool]:
    """Runs its own transaction: see parley.service.get_or_create."""
    owner = _owner(identity, body)
    changes = tag_rules.qualify(identity, "conversation", body.tags, channel=body.channel)
    key = lookup_key(
        changes, tag_rules.qualify_keys(identity, "conversation", body.discriminate_by_tags, channel=body.channel)
    )

    def unchanged(row: ConversationRow) -> Conversation | None:
        return to_conversation(identity, row) if tag_rules.unchanged_by(row, changes) else None

    async def update(row: ConversationRow) -> Conversation:
        merged = await tag_rules.apply(conn, identity, "conversation", row, changes, now=now)
        return to_conversation(identity, row, tags=merged, updated_at=now if merged is not None else None)

    async def create() -> Conversation:
        return await _insert(conn, identity, body, owner, tag_rules.merge({}, changes), now)

    lookup = store.lookup(identity.bot_id, channel=body.channel, integration=owner[0])
    return await get_or_create(conn, key, lookup, unchanged=unchanged, update=update, create=create)


async def get_conversation(conn: Connection, identity: Identity, conversation_id: str) -> Conversation:
    return to_conversation(identity, await require_row(conn, identity, conversation_id))


async def _sees_task(conn: Connection, identity: Identity, task_id: str) -> bool:
    """Whether the caller may name the task: it sees the task's conversation (the rule of
    service.tasks.visible_task, which imports this module)."""
    task = await task_store.get_task(conn, bot_id=identity.bot_id, id=task_id)
    return task is not None and await get_row(conn, identity, task["conversation_id"]) is not None


async def update_conversation(
    conn: Connection, identity: Identity, conversation_id: str, body: UpdateConversation, *, now: str
) -> Conversation:
    row = await require_row(conn, identity, conversation_id)
    changes = tag_rules.qualify(identity, "conversation", body.tags or {}, channel=row["channel"])
    task_id = row["current_task_id"]
    if body.current_task_id is not UNSET:
        task_id = body.current_task_id
        if task_id is not None and not await _sees_task(conn, identity, task_id):
            raise ReferenceNotFound(f"Task {task_id} not found.")
        await store.set_current_task(conn, id=conversation_id, task_id=task_id, now=now)
    merged = await tag_rules.apply(conn, identity, "conversation", row, changes, now=now)
    if merged is None:
        await store.update_conversation(conn, id=conversation_id, tags=row["tags"], now=now)
    return to_conversation(identity, {**row, "current_task_id": task_id}, tags=merged, updated_at=now)


async def delete_conversation(conn: Connection, identity: Identity, conversation_id: str) -> None:
    await require_row(conn, identity, conversation_id)
    await store.delete_conversation(conn, bot_id=identity.bot_id, id=conversation_id)


async def list_conversations(
    conn: Connection,
    identity: Identity,
    *,
    integration_name: str | None,
    channel: str | None,
    participant_ids: list[str],
    tags: dict[str, str],
    after: str | None,
    before: str | None,
    order: Order,
    page: Page,
) -> tuple[list[Conversation], str | None]:
    rows, next_token = await store.list_conversations(
        conn,
        bot_id=identity.bot_id,
        integration=identity.alias,
        integration_name=integration_name,
        channel=channel,
        participant_ids=participant_ids,
        tags=tag_rules.qualify_filter(identity, tags),
        after=after,
        before=before,
        order=order,
        cursor=page.cursor,
        limit=page.size,
    )
    return [to_conversation(identity, row) for row in rows], next_token


async def add_participant(
    conn: Connection, identity: Identity, conversation_id: str, user_id: str, *, now: str
) -> User:
    await require_row(conn, identity, conversation_id)
    user = await get_user_row(conn, identity, user_id)
    if user is None:
        raise ReferenceNotFound(f"User {user_id} not found.")
    await store.add_participant(conn, bot_id=identity.bot_id, conversation_id=conversation_id, user_id=user_id, now=now)
    return to_user(identity, user)


async def get_participant(conn: Connection, identity: Identity, conversation_id: str, user_id: str) -> User:
    await require_row(conn, identity, conversation_id)
    row = await store.get_participant(conn, conversation_id=conversation_id, user_id=user_id)
    if row is None:
        raise ResourceNotFound(f"Participant {user_id} not found in conversation {conversation_id}.")
    return to_user(identity, row)


async def remove_participant(conn: Connection, identity: Identity, conversation_id: str, user_id: str) -> None:
    await require_row(conn, identity, conversation_id)
    if not await store.remove_participant(conn, conversation_id=conversation_id, user_id=user_id):
        raise ResourceNotFound(f"Participant {user_id} not found in conversation {conversation_id}.")


async def list_participants(
    conn: Connection, identity: Identity, conversation_id: str, *, page: Page
) -> tuple[list[User], str | None]:
    await require_row(conn, identity, conversation_id)
    rows, next_token = await store.list_participants(
        conn, conversation_id=conversation_id, cursor=page.cursor, limit=page.size
    )
    return [to_user(identity, row) for row in rows], next_token
