"""initializeIncomingMessage: what an integration does for each message it receives from its
channel, in one call: get or create the user and the conversation, then the message."""

from parley.clock import iso_from_ms
from parley.errors import InvalidPayload
from parley.service import conversations, messages, users
from parley.service.identity import Identity
from parley.service.models import (
    Conversation,
    GetOrCreateConversation,
    GetOrCreateMessage,
    GetOrCreateUser,
    InitializeIncomingMessage,
    Message,
    User,
)
from parley.store.database import Connection


def _exactly_one(name: str, by_id: object, described: object) -> None:
    if (by_id is None) == (described is None):
        raise InvalidPayload(f"Give exactly one of `{name}Id` or `{name}`.")


async def initialize(
    conn: Connection, identity: Identity, body: InitializeIncomingMessage, *, now_ms: int
) -> tuple[User, Conversation, Message | None]:
    """Each part runs as its get-or-create operation does (its own transaction, race-safe); a
    message created this way is dispatched like any other."""
    _exactly_one("user", body.user_id, body.user)
    _exactly_one("conversation", body.conversation_id, body.conversation)
    now = iso_from_ms(now_ms)
    if body.user is not None:
        described = body.user
        user, _ = await users.get_or_create_user(
            conn,
            identity,
            GetOrCreateUser(
                tags=described.tags,
                name=described.name,
                picture_url=described.picture_url,
                integration_name=described.integration_name,
                discriminate_by_tags=described.discriminate_by_tags,
            ),
            now=now,
        )
    else:
        user = await users.get_user(conn, identity, body.user_id or "")
    if body.conversation is not None:
        channel = body.conversation
        conversation, _ = await conversations.get_or_create_conversation(
            conn,
            identity,
            GetOrCreateConversation(
                channel=channel.channel,
                tags=channel.tags,
                integration_name=channel.integration_name,
                discriminate_by_tags=channel.discriminate_by_tags,
            ),
            now=now,
        )
    else:
        conversation = await conversations.get_conversation(conn, identity, body.conversation_id or "")
    if body.message is None:
        return user, conversation, None
    incoming = body.message
    message, _ = await messages.get_or_create_message(
        conn,
        identity,
        GetOrCreateMessage(
            user_id=user.id,
            conversation_id=conversation.id,
            type=incoming.type,
            tags=incoming.tags,
            payload=incoming.payload,
            origin=incoming.origin,
            discriminate_by_tags=incoming.discriminate_by_tags,
        ),
        now_ms=now_ms,
    )
    return user, conversation, message
