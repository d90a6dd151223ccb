"""Messages: create, read, update, delete, list, and get-or-create by tags across the bot."""

from typing import Any, NamedTuple

import msgspec

from parley import ids
from parley.clock import iso_from_ms, parse_iso
from parley.errors import (
    ApiError,
    InvalidPayload,
    PayloadTooLarge,
    ReferenceNotFound,
    RelationConflict,
    ResourceNotFound,
)
from parley.service import events, outbox, schedule
from parley.service import tags as tag_rules
from parley.service.common import Page
from parley.service.conversations import to_conversation
from parley.service.definitions import BotDefinition
from parley.service.get_or_create import Creation, Found, get_or_create, lookup_key
from parley.service.identity import Identity
from parley.service.models import (
    CreateMessage,
    GetOrCreateMessage,
    ImportMessages,
    Message,
    UpdateMessage,
    decode_tags,
    encode_json,
)
from parley.service.schemas import Validator, default_message_types, validate
from parley.service.users import to_user
from parley.store import conversations as conversation_store
from parley.store import deliveries, timers
from parley.store import messages as store
from parley.store import users as user_store
from parley.store.conversations import ConversationRow
from parley.store.database import Connection, Statement
from parley.store.messages import MessageInConversation, MessageRow
from parley.store.tags import index_tags, write_tags
from parley.store.users import UserRow

MAX_PAYLOAD_BYTES = 128 * 1024
TIMER = "message"


class _Conversation(NamedTuple):
    """What the rules need of a message's conversation."""

    # The alias of the installation that owns it; empty for the bot's own.
    integration: str
    channel: str


def to_message(
    identity: Identity,
    row: MessageRow,
    *,
    tags: dict[str, str] | None = None,
    payload: str | None = None,
    updated_at: str | None = None,
) -> Message:
    """The message as the caller sees it; the keywords override the row after a write."""
    return Message(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=updated_at or row["updated_at"],
        type=row["type"],
        payload=msgspec.Raw((row["payload"] if payload is None else payload).encode()),
        direction=row["direction"],
        user_id=row["user_id"],
        conversation_id=row["conversation_id"],
        tags=tag_rules.visible(identity, decode_tags(row["tags"]) if tags is None else tags),
        origin=row["origin"],
    )


def _validator(identity: Identity, conversation: _Conversation, message_type: str) -> Validator:
    """The schema a message of `message_type` must follow in this conversation."""
    alias = conversation.integration
    if not alias:
        found = default_message_types().get(message_type)
        if found is None:
            raise InvalidPayload(
                f"Message type {message_type!r} is not one of the default types: "
                + ", ".join(sorted(default_message_types()))
                + "."
            )
        return found
    installation = identity.bot.installations.get(alias)
    channel = None if installation is None else installation.integration.channels.get(conversation.channel)
    if channel is None:
        raise InvalidPayload(f"The integration {alias!r} that owns this conversation is no longer installed.")
    declared = channel.messages.get(message_type)
    if declared is None:
        raise InvalidPayload(
            f"Message type {message_type!r} is not declared on channel {conversation.channel!r}"
            f" of integration {installation.integration.name!r}."  # type: ignore[union-attr]
        )
    return declared


def _encode_payload(identity: Identity, conversation: _Conversation, message_type: str, payload: dict[str, Any]) -> str:
    validate(_validator(identity, conversation, message_type), payload, what=f"payload of a {message_type} message")
    encoded = encode_json(payload)
    if len(encoded.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"A message payload may be at most {MAX_PAYLOAD_BYTES} bytes of JSON.")
    return encoded


def _context(
    identity: Identity, found: store.Context | None, conversation_id: str, user_id: str
) -> tuple[_Conversation, bool]:
    """From what store.context read: what the rules need of the message's conversation, and
    whether its author joins it as a participant (a user of the bot who is not one yet); the bot
    writes as itself, with its own id."""
    row = None if found is None else found.about
    if row is None or not identity.sees(row["context_integration"]):
        raise ReferenceNotFound(f"Conversation {conversation_id} not found.")
    conversation = _Conversation(row["context_integration"], row["context_channel"])
    if user_id == identity.bot_id:
        return conversation, False
    author = row["context_author"]
    if author is None or not identity.sees(author):
        raise ReferenceNotFound(f"User {user_id} not found.")
    return conversation, not row["context_participant"]


def _new_message(
    conn: Connection,
    identity: Identity,
    conversation: _Conversation,
    body: CreateMessage | GetOrCreateMessage,
    *,
    payload: str,
    tags: dict[str, str],
    joins: bool,
    scheduled_for: str | None,
    now_ms: int,
    read: store.Context,
    imported_at: str | None = None,
) -> Creation[Message]:
    """A new message as rows to insert, with its dispatch (the event and delivery rows, inserted
    with it) or its timer when scheduled. An imported message keeps the time it was written at
    elsewhere and is not dispatched. `read` is what store.context read before (`whole` for an
    integration's message: the event shows the bot its conversation and author)."""
    now = iso_from_ms(now_ms)
    created_at = imported_at or now
    message_id = ids.new_id(ids.MESSAGE)
    direction = "outgoing" if identity.installation is None else "incoming"
    encoded_tags = encode_json(tags)
    statements = [
        store.insert_message(
            id=message_id,
            bot_id=identity.bot_id,
            conversation_id=body.conversation_id,
            user_id=body.user_id,
            type=body.type,
            payload=payload,
            direction=direction,
            origin=body.origin,
            tags=encoded_tags,
            scheduled_for=scheduled_for,
            now=created_at,
        ),
        *index_tags(bot_id=identity.bot_id, kind="message", resource_id=message_id, tags=tags, created_at=created_at),
    ]
    if joins:
        statements.append(
            conversation_store.participant(
                bot_id=identity.bot_id, conversation_id=body.conversation_id, user_id=body.user_id, now=now
            )
        )
    row: MessageRow = {
        "id": message_id,
        "bot_id": identity.bot_id,
        "conversation_id": body.conversation_id,
        "user_id": body.user_id,
        "type": body.type,
        "payload": payload,
        "direction": direction,
        "origin": body.origin,
        "tags": encoded_tags,
        "scheduled_for": scheduled_for,
        "created_at": created_at,
        "updated_at": created_at,
    }

    dispatch: list[Statement] = []
    if imported_at is None and scheduled_for is None:
        dispatch = _dispatch(
            identity.bot,
            row,
            integration=conversation.integration,
            user=read.author,
            conversation=read.conversation,
            now=now,
        )
    statements += dispatch

    async def finish() -> Message:
        if dispatch:
            deliveries.queued(conn)
        elif imported_at is None and scheduled_for is not None:
            await timers.add_timer(
                conn, kind=TIMER, resource_id=message_id, bot_id=identity.bot_id, due_at=scheduled_for
            )
        return to_message(identity, row, tags=tags)

    return Creation(statements, finish)


def _dispatch(
    bot: BotDefinition,
    message: MessageRow,
    *,
    integration: str,
    user: UserRow | None,
    conversation: ConversationRow | None,
    now: str,
) -> list[Statement]:
    """The rows that dispatch a message that has just become visible (with a delivery among
    them, or none): an incoming one goes to the bot as a `message_created` event, showing it the
    message's `user` and `conversation`; an outgoing one to the `integration` that owns its
    conversation. The bot never receives what it wrote itself, and synthetic messages go nowhere."""
    if message["origin"] == "synthetic":
        return []
    if message["direction"] == "incoming":
        if message["user_id"] == bot.id:
            return []
        view = Identity(bot)
        payload = {
            "message": to_message(view, message),
            "user": None if user is None else to_user(view, user),
            "conversation": None if conversation is None else to_conversation(view, conversation),
        }
        return events.dispatched(
            bot,
            type="message_created",
            payload=encode_json(payload),
            conversation_id=message["conversation_id"],
            user_id=message["user_id"],
            message_id=message["id"],
            now=now,
        )
    if integration:
        return [
            outbox.to_integration(
                bot_id=bot.id,
                alias=integration,
                operation="message_created",
                message_id=message["id"],
                ordering_key=message["conversation_id"],
                now=now,
            )
        ]
    return []


async def release(conn: Connection, bot: BotDefinition, message_id: str, *, now: str) -> None:
    """A scheduled message has come due: dispatch it as if it had just been created."""
    message = await store.get_message_with_conversation(conn, bot_id=bot.id, id=message_id)
    if message is None:
        return
    user = conversation = None
    if message["direction"] == "incoming":
        user = await user_store.get_user(conn, bot_id=bot.id, id=message["user_id"])
        conversation = await conversation_store.get_conversation(conn, bot_id=bot.id, id=message["conversation_id"])
    statements = _dispatch(
        bot, message, integration=message["conversation_integration"], user=user, conversation=conversation, now=now
    )
    if statements:
        await outbox.queue(conn, statements)


async def create_message(conn: Connection, identity: Identity, body: CreateMessage, *, now_ms: int) -> Message:
    found = await store.context(
        conn,
        bot_id=identity.bot_id,
        conversation_id=body.conversation_id,
        user_id=body.user_id,
        whole=identity.installation is not None,
    )
    conversation, joins = _context(identity, found, body.conversation_id, body.user_id)
    assert found is not None, "_context refuses a conversation that is not there"
    payload = _encode_payload(identity, conversation, body.type, body.payload)
    changes = tag_rules.qualify(identity, "message", body.tags, channel=conversation.channel)
    due = schedule.due_ms(body.schedule, now_ms)
    scheduled_for = None if due is None else iso_from_ms(due)
    return await _new_message(
        conn,
        identity,
        conversation,
        body,
        payload=payload,
        tags=tag_rules.merge({}, changes),
        joins=joins,
        scheduled_for=scheduled_for,
        now_ms=now_ms,
        read=found,
    ).run(conn)


async def get_or_create_message(
    conn: Connection, identity: Identity, body: GetOrCreateMessage, *, now_ms: int, imported_at: str | None = None
) -> tuple[Message, bool]:
    """Runs its own transaction: see parley.service.get_or_create. The lookup spans the whole
    bot; a match in another conversation is a RelationConflict. With `imported_at`, a message
    created is an import (see _insert).

    The unlocked lookup is made in the same round trip as the conversation is read, with the key
    the tags have on any channel; it is used only if the conversation's own channel yields the
    same key (an integration's tags declared on another channel are refused below)."""
    try:
        early_changes = tag_rules.qualify(identity, "message", body.tags)
        early_key = lookup_key(early_changes, tag_rules.qualify_keys(identity, "message", body.discriminate_by_tags))
    except InvalidPayload:
        early_changes, early_key = None, None
    found = await store.context(
        conn,
        bot_id=identity.bot_id,
        conversation_id=body.conversation_id,
        user_id=body.user_id,
        match=early_key,
        whole=identity.installation is not None and imported_at is None,
    )
    conversation, joins = _context(identity, found, body.conversation_id, body.user_id)
    assert found is not None, "_context refuses a conversation that is not there"
    payload = None if body.payload is None else _encode_payload(identity, conversation, body.type, body.payload)
    channel = conversation.channel
    if identity.installation is None and early_changes is not None:
        # The keys of a bot's tags do not depend on the channel.
        changes, key = early_changes, early_key
    else:
        changes = tag_rules.qualify(identity, "message", body.tags, channel=channel)
        discriminator = tag_rules.qualify_keys(identity, "message", body.discriminate_by_tags, channel=channel)
        key = lookup_key(changes, discriminator)
    due = schedule.due_ms(body.schedule, now_ms)
    scheduled_for = None if due is None else iso_from_ms(due)
    now = iso_from_ms(now_ms)
    first = None
    if early_key is not None and key == early_key:
        first = Found(found.found)

    def same_conversation(row: MessageRow) -> None:
        if row["conversation_id"] != body.conversation_id:
            raise RelationConflict(
                "A message with these tags already exists for a different conversation"
                f" ({row['conversation_id']}): message {row['id']}."
            )

    def unchanged(row: MessageRow) -> Message | None:
        same_conversation(row)
        return to_message(identity, row) if tag_rules.unchanged_by(row, changes) else None

    async def update(row: MessageRow) -> Message:
        same_conversation(row)
        merged = await tag_rules.apply(conn, identity, "message", row, changes, now=now)
        return to_message(identity, row, tags=merged, updated_at=now if merged is not None else None)

    def creation() -> Creation[Message]:
        if payload is None:
            raise InvalidPayload("`payload` is required when no message matches the tags and one is created.")
        return _new_message(
            conn,
            identity,
            conversation,
            body,
            payload=payload,
            tags=tag_rules.merge({}, changes),
            joins=joins,
            scheduled_for=scheduled_for,
            now_ms=now_ms,
            read=found,
            imported_at=imported_at,
        )

    async def create() -> Message:
        return await creation().run(conn)

    return await get_or_create(
        conn,
        key,
        store.lookup(identity.bot_id),
        unchanged=unchanged,
        update=update,
        create=create,
        found=first,
        creation=None if payload is None else creation,
    )


async def _require(
    conn: Connection, identity: Identity, message_id: str
) -> tuple[MessageInConversation, _Conversation]:
    """The message and what the rules need of its conversation, if the caller may see them. One
    round trip."""
    row = await store.get_message_with_conversation(conn, bot_id=identity.bot_id, id=message_id)
    if row is None or not identity.sees(row["conversation_integration"]):
        raise ResourceNotFound(f"Message {message_id} not found.")
    return row, _Conversation(row["conversation_integration"], row["conversation_channel"])


async def get_message(conn: Connection, identity: Identity, message_id: str) -> Message:
    row, _ = await _require(conn, identity, message_id)
    return to_message(identity, row)


async def update_message(
    conn: Connection, identity: Identity, message_id: str, body: UpdateMessage, *, now: str
) -> Message:
    row, conversation = await _require(conn, identity, message_id)
    payload = row["payload"]
    if body.payload is not None:
        payload = _encode_payload(identity, conversation, row["type"], body.payload)
    changes = tag_rules.qualify(identity, "message", body.tags or {}, channel=conversation.channel)
    merged = tag_rules.merge(decode_tags(row["tags"]), changes)
    await store.update_message(conn, id=message_id, payload=payload, tags=encode_json(merged), now=now)
    await write_tags(conn, bot_id=identity.bot_id, kind="message", resource_id=message_id, tags=merged, replace=True)
    return to_message(identity, row, tags=merged, payload=payload, updated_at=now)


async def delete_message(conn: Connection, identity: Identity, message_id: str) -> None:
    await _require(conn, identity, message_id)
    await timers.take_timer(conn, kind=TIMER, resource_id=message_id)
    await store.delete_message(conn, id=message_id)


async def list_messages(
    conn: Connection,
    identity: Identity,
    *,
    conversation_id: str | None,
    tags: dict[str, str],
    after: str | None,
    before: str | None,
    now: str,
    page: Page,
) -> tuple[list[Message], str | None]:
    rows, next_token = await store.list_messages(
        conn,
        bot_id=identity.bot_id,
        conversation_id=conversation_id,
        integration=identity.alias,
        tags=tag_rules.qualify_filter(identity, tags),
        after=after,
        before=before,
        now=now,
        cursor=page.cursor,
        limit=page.size,
    )
    return [to_message(identity, row) for row in rows], next_token


async def import_messages(
    conn: Connection, identity: Identity, body: ImportMessages, *, now_ms: int
) -> tuple[list[Message], list[dict[str, Any]]]:
    """Imports each message on its own: one that fails does not stop the others. A message whose
    `discriminateByTags` finds one already stored resolves to it, so an import can be re-run.
    Returns the resolved messages and, for each failure, its index and error."""
    resolved: list[Message] = []
    failed: list[dict[str, Any]] = []
    for index, item in enumerate(body.messages):
        try:
            try:
                created_at = iso_from_ms(parse_iso(item.created_at))
            except ValueError:
                raise InvalidPayload(f"`createdAt` is not an ISO 8601 date-time: {item.created_at!r}.") from None
            request = GetOrCreateMessage(
                user_id=item.user_id,
                conversation_id=item.conversation_id,
                type=item.type,
                tags=item.tags,
                payload=item.payload,
                discriminate_by_tags=item.discriminate_by_tags,
            )
            message, _ = await get_or_create_message(conn, identity, request, now_ms=now_ms, imported_at=created_at)
        except ApiError as error:
            failed.append({"index": index, "error": error.body()})
            continue
        resolved.append(message)
    return resolved, failed
