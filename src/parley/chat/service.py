"""The Chat API's operations: each acts on the Runtime API's resources as the chat installation
(an integration identity), so the bot sees exactly what any integration's users and messages look
like, and checks what the caller, a chat user, may do.

Clients name users and conversations by ids of their own choosing ("fids"), kept as the `fid` tag;
a resource created without one is named by its Parley id. Signals for listening clients are
collected while an operation runs and published by the caller once its transaction committed.
"""

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from parley.chat import definition, keys
from parley.chat.definition import CHANNEL, FID, OWNER, PROFILE
from parley.clock import iso_from_ms
from parley.errors import AlreadyExists, Forbidden, InvalidPayload, ResourceNotFound, Unauthorized
from parley.service import conversations, events, messages, users
from parley.service.common import Page
from parley.service.identity import Identity
from parley.service.models import (
    CreateConversation,
    CreateEvent,
    CreateMessage,
    CreateUser,
    Message,
    UpdateUser,
    decode_tags,
)
from parley.store import conversations as conversation_store
from parley.store import users as user_store
from parley.store.conversations import ConversationRow
from parley.store.database import Connection
from parley.store.lookup import Lookup, LookupKey
from parley.store.sql import Order
from parley.store.users import UserRow

R = TypeVar("R")

MAX_FID = 70
_FID = re.compile(r"[a-zA-Z0-9_\-\\/]+")
MAX_PROFILE = 1000
INVALID_KEY = "Invalid user key"


@dataclass(frozen=True)
class Installation:
    """The chat installation a request addresses, and the secret its user keys are signed with."""

    identity: Identity
    secret: str
    # Keys are signed by the developer (the configuration's `encryptionKey`), not by Parley.
    personal: bool
    bot_user_id: str | None
    # Where every signal is also sent, and the secret sent with it (the configuration's).
    webhook_url: str | None = None
    webhook_secret: str | None = None

    @property
    def alias(self) -> str:
        assert self.identity.installation is not None, "the chat API acts as an installation"
        return self.identity.installation.alias


@dataclass
class Outcome:
    """What an operation answers, and the signals (conversation id, JSON) it leaves to publish."""

    body: dict[str, Any]
    status: int = 200
    signals: list[tuple[str, str]] = field(default_factory=list)
    closed: list[tuple[str, str]] = field(default_factory=list)


# Request bodies. Fields a client sends beyond these are ignored.


class UserFields(msgspec.Struct, rename="camel"):
    name: str | None = None
    picture_url: str | None = None
    profile: str | None = None


class NewUser(UserFields, rename="camel"):
    id: str | None = None


class NewConversation(msgspec.Struct):
    id: str | None = None


class ConversationById(msgspec.Struct):
    id: str


class NewParticipant(msgspec.Struct, rename="camel"):
    user_id: str


class NewMessage(msgspec.Struct, rename="camel"):
    conversation_id: str
    payload: dict[str, Any]
    metadata: dict[str, Any] | None = None


class NewEvent(msgspec.Struct, rename="camel"):
    conversation_id: str
    payload: dict[str, Any]


_encoder = msgspec.json.Encoder()


def check_fid(fid: str) -> str:
    if len(fid) > MAX_FID:
        raise InvalidPayload(f"An id chosen by the client may be at most {MAX_FID} characters long.")
    if not _FID.fullmatch(fid):
        raise InvalidPayload(
            f"An id chosen by the client may only contain letters, digits, '_', '-', '/' and '\\'; got {fid!r}."
        )
    return fid


def _check_profile(profile: str | None) -> None:
    if profile is not None and len(profile) > MAX_PROFILE:
        raise InvalidPayload(f"A user's profile may be at most {MAX_PROFILE} characters long.")


def key_user(installation: Installation, key: str | None) -> str:
    """The user id (a fid, or a Parley id) a request's user key names; 401 if it is not valid."""
    if not key:
        raise Unauthorized(INVALID_KEY)
    try:
        return keys.verify(installation.secret, key)
    except keys.InvalidKey:
        raise Unauthorized(INVALID_KEY) from None


# The shapes clients read.


def _user_tags(row: UserRow) -> dict[str, str]:
    return decode_tags(row["tags"])


def known_user_id(installation: Installation, row: UserRow) -> str:
    """The id a client knows the user by."""
    return _user_tags(row).get(f"{installation.alias}:{FID}") or row["id"]


def conversation_name(installation: Installation, row: ConversationRow) -> str:
    return decode_tags(row["tags"]).get(f"{installation.alias}:{FID}") or row["id"]


def user_body(installation: Installation, row: UserRow) -> dict[str, Any]:
    body: dict[str, Any] = {"id": known_user_id(installation, row)}
    if row["name"] is not None:
        body["name"] = row["name"]
    if row["picture_url"] is not None:
        body["pictureUrl"] = row["picture_url"]
    profile = _user_tags(row).get(f"{installation.alias}:{PROFILE}")
    if profile is not None:
        body["profile"] = profile
    body["createdAt"] = row["created_at"]
    body["updatedAt"] = row["updated_at"]
    return body


def conversation_body(installation: Installation, row: ConversationRow) -> dict[str, Any]:
    return {
        "id": conversation_name(installation, row),
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def to_chat_payload(message_type: str, payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A Runtime message's type and payload as the Chat API's flat payload, and its metadata."""
    fields = dict(payload)
    metadata = fields.pop("metadata", None)
    if message_type == "carousel" and isinstance(fields.get("items"), list):
        fields["items"] = [{"type": "card", **item} if isinstance(item, dict) else item for item in fields["items"]]
    if message_type == "bloc" and isinstance(fields.get("items"), list):
        fields["items"] = [
            {"type": item.get("type"), **(item.get("payload") or {})} if isinstance(item, dict) else item
            for item in fields["items"]
        ]
    return {"type": message_type, **fields}, metadata if isinstance(metadata, dict) else None


def to_runtime_payload(payload: dict[str, Any], metadata: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The Chat API's flat payload as a Runtime message's type and payload."""
    message_type = payload.get("type")
    if not isinstance(message_type, str) or not message_type:
        raise InvalidPayload("A message payload needs a `type`, such as text.")
    fields = {key: value for key, value in payload.items() if key != "type"}
    if message_type == "carousel" and isinstance(fields.get("items"), list):
        # Each item is a card, which the client says and the Runtime payload does not.
        fields["items"] = [
            {k: v for k, v in item.items() if k != "type"} if isinstance(item, dict) else item
            for item in fields["items"]
        ]
    if message_type == "bloc" and isinstance(fields.get("items"), list):
        items = []
        for item in fields["items"]:
            if not isinstance(item, dict):
                raise InvalidPayload("Each item of a bloc message is an object with a `type`.")
            items.append({"type": item.get("type"), "payload": {k: v for k, v in item.items() if k != "type"}})
        fields["items"] = items
    if metadata is not None:
        fields["metadata"] = metadata
    return message_type, fields


def message_body(
    *,
    message_id: str,
    created_at: str,
    conversation: str,
    author: str,
    message_type: str,
    payload: dict[str, Any],
) -> dict[str, Any]:
    flat, metadata = to_chat_payload(message_type, payload)
    body: dict[str, Any] = {
        "id": message_id,
        "createdAt": created_at,
        "conversationId": conversation,
        "userId": author,
        "payload": flat,
    }
    if metadata is not None:
        body["metadata"] = metadata
    return body


def stored_message(message: Message, conversation: str, author: str) -> dict[str, Any]:
    """A stored message as clients read it, in the conversation and by the author they know."""
    return message_body(
        message_id=message.id,
        created_at=message.created_at,
        conversation=conversation,
        author=author,
        message_type=message.type,
        payload=msgspec.json.decode(message.payload),
    )


def signal(kind: str, data: dict[str, Any]) -> str:
    return _encoder.encode({"type": kind, "data": data}).decode()


# Finding what a request names.


def _fid_key(installation: Installation, fid: str) -> LookupKey:
    return LookupKey(((f"{installation.alias}:{FID}", fid),), None)


def _user_lookup(installation: Installation) -> Lookup[UserRow]:
    return user_store.lookup(installation.identity.bot_id, integration=installation.alias)


def _conversation_lookup(installation: Installation) -> Lookup[ConversationRow]:
    return conversation_store.lookup(installation.identity.bot_id, channel=CHANNEL, integration=installation.alias)


async def find_user(conn: Connection, installation: Installation, name: str) -> UserRow | None:
    """The installation's user a client names: by its fid, else by its Parley id."""
    row = await _user_lookup(installation).find(conn, _fid_key(installation, name))
    if row is None:
        row = await users.get_row(conn, installation.identity, name)
    return row


def _found(row: R | None, what: str) -> R:
    if row is None:
        raise ResourceNotFound(f"{what} not found.")
    return row


async def require_user(conn: Connection, installation: Installation, name: str) -> UserRow:
    return _found(await find_user(conn, installation, name), f"User {name}")


async def find_conversation(conn: Connection, installation: Installation, name: str) -> ConversationRow | None:
    row = await _conversation_lookup(installation).find(conn, _fid_key(installation, name))
    if row is None:
        row = await conversations.get_row(conn, installation.identity, name)
        if row is not None and row["channel"] != CHANNEL:
            row = None
    return row


async def require_conversation(conn: Connection, installation: Installation, name: str) -> ConversationRow:
    return _found(await find_conversation(conn, installation, name), f"Conversation {name}")


def _owner_of(installation: Installation, row: ConversationRow) -> str | None:
    return decode_tags(row["tags"]).get(f"{installation.alias}:{OWNER}")


def _require_owner(installation: Installation, row: ConversationRow, caller: UserRow) -> None:
    if _owner_of(installation, row) != caller["id"]:
        raise Forbidden("You are not the owner of this conversation.")


NOT_PARTICIPANT = "You are not a participant in this conversation."


async def require_participant(
    conn: Connection, row: ConversationRow, caller: UserRow, message: str = NOT_PARTICIPANT
) -> None:
    if await conversation_store.get_participant(conn, conversation_id=row["id"], user_id=caller["id"]) is None:
        raise Forbidden(message)


async def caller(conn: Connection, installation: Installation, key: str | None) -> UserRow:
    """The user whose key the request carries; 401 for a bad key, 404 for a user who is gone."""
    return await require_user(conn, installation, key_user(installation, key))


async def names_of(conn: Connection, installation: Installation, user_ids: set[str]) -> dict[str, str]:
    """The ids clients know these users by; the bot's own user is known by its Parley id."""
    rows = await user_store.get_users(conn, bot_id=installation.identity.bot_id, ids=sorted(user_ids))
    names = {user_id: user_id for user_id in user_ids}
    names.update({row["id"]: known_user_id(installation, row) for row in rows})
    return names


# Users


async def create_user(conn: Connection, installation: Installation, body: NewUser, *, now: str) -> Outcome:
    if installation.personal:
        raise Unauthorized('The "createUser" operation can only be called when using the shared encryption key.')
    _check_profile(body.profile)
    tags: dict[str, str | None] = {PROFILE: body.profile} if body.profile else {}
    async with conn.transaction(lock=None if body.id is None else _user_lock(installation, check_fid(body.id))):
        if body.id is not None:
            if await find_user(conn, installation, body.id) is not None:
                raise AlreadyExists(f"User with id {body.id} already exists.")
            tags[FID] = body.id
        new = CreateUser(tags=tags, name=body.name, picture_url=body.picture_url)
        created = await users.create_user(conn, installation.identity, new, now=now)
        row = await require_user(conn, installation, created.id)
    key = keys.sign(installation.secret, body.id or created.id)
    return Outcome({"user": user_body(installation, row), "key": key}, 201)


def _user_lock(installation: Installation, fid: str) -> str:
    return _user_lookup(installation).lock_name(_fid_key(installation, fid))


async def get_or_create_user(
    conn: Connection, installation: Installation, key: str | None, body: UserFields, *, now: str
) -> Outcome:
    name = key_user(installation, key)
    _check_profile(body.profile)
    async with conn.transaction(lock=_user_lock(installation, name)):
        row = await find_user(conn, installation, name)
        if row is None:
            tags: dict[str, str | None] = {FID: check_fid(name)}
            if body.profile:
                tags[PROFILE] = body.profile
            created = await users.create_user(
                conn,
                installation.identity,
                CreateUser(tags=tags, name=body.name, picture_url=body.picture_url),
                now=now,
            )
            row = await require_user(conn, installation, created.id)
        elif body.name is not None or body.picture_url is not None or body.profile is not None:
            row = await _update(conn, installation, row, body, now=now)
    return Outcome({"user": user_body(installation, row)}, 201)


async def _update(conn: Connection, installation: Installation, row: UserRow, body: UserFields, *, now: str) -> UserRow:
    changes = UpdateUser(
        tags=None if body.profile is None else {PROFILE: body.profile},
        name=msgspec.UNSET if body.name is None else body.name,
        picture_url=msgspec.UNSET if body.picture_url is None else body.picture_url,
    )
    await users.update_user(conn, installation.identity, row["id"], changes, now=now)
    return await require_user(conn, installation, row["id"])


async def get_user(conn: Connection, installation: Installation, key: str | None) -> Outcome:
    return Outcome({"user": user_body(installation, await caller(conn, installation, key))})


async def update_user(
    conn: Connection, installation: Installation, key: str | None, body: UserFields, *, now: str
) -> Outcome:
    _check_profile(body.profile)
    async with conn.transaction():
        row = await _update(conn, installation, await caller(conn, installation, key), body, now=now)
    return Outcome({"user": user_body(installation, row)})


async def delete_user(conn: Connection, installation: Installation, key: str | None) -> Outcome:
    async with conn.transaction():
        row = await caller(conn, installation, key)
        await users.delete_user(conn, installation.identity, row["id"])
    return Outcome({})


# Conversations


def _conversation_lock(installation: Installation, fid: str) -> str:
    return _conversation_lookup(installation).lock_name(_fid_key(installation, fid))


async def _new_conversation(
    conn: Connection, installation: Installation, owner: UserRow, fid: str | None, *, now: str
) -> ConversationRow:
    tags: dict[str, str | None] = {OWNER: owner["id"]}
    if fid is not None:
        tags[FID] = fid
    created = await conversations.create_conversation(
        conn, installation.identity, CreateConversation(channel=CHANNEL, tags=tags), now=now
    )
    await conversation_store.add_participant(
        conn, bot_id=installation.identity.bot_id, conversation_id=created.id, user_id=owner["id"], now=now
    )
    return await require_conversation(conn, installation, created.id)


async def create_conversation(
    conn: Connection, installation: Installation, key: str | None, body: NewConversation, *, now: str
) -> Outcome:
    fid = None if body.id is None else check_fid(body.id)
    async with conn.transaction(lock=None if fid is None else _conversation_lock(installation, fid)):
        owner = await caller(conn, installation, key)
        if fid is not None and await find_conversation(conn, installation, fid) is not None:
            raise AlreadyExists(f"Conversation with id {fid} already exists.")
        row = await _new_conversation(conn, installation, owner, fid, now=now)
    return Outcome({"conversation": conversation_body(installation, row)}, 201)


async def get_or_create_conversation(
    conn: Connection, installation: Installation, key: str | None, body: ConversationById, *, now: str
) -> Outcome:
    fid = check_fid(body.id)
    async with conn.transaction(lock=_conversation_lock(installation, fid)):
        owner = await caller(conn, installation, key)
        row = await find_conversation(conn, installation, fid)
        if row is None:
            row = await _new_conversation(conn, installation, owner, fid, now=now)
        else:
            _require_owner(installation, row, owner)
    return Outcome({"conversation": conversation_body(installation, row)}, 201)


async def get_conversation(conn: Connection, installation: Installation, key: str | None, name: str) -> Outcome:
    user = await caller(conn, installation, key)
    row = await require_conversation(conn, installation, name)
    await require_participant(conn, row, user)
    return Outcome({"conversation": conversation_body(installation, row)})


async def delete_conversation(conn: Connection, installation: Installation, key: str | None, name: str) -> Outcome:
    async with conn.transaction():
        user = await caller(conn, installation, key)
        row = await require_conversation(conn, installation, name)
        _require_owner(installation, row, user)
        await conversations.delete_conversation(conn, installation.identity, row["id"])
    return Outcome({})


async def list_conversations(conn: Connection, installation: Installation, key: str | None, page: Page) -> Outcome:
    user = await caller(conn, installation, key)
    rows, next_token = await conversation_store.list_conversations(
        conn,
        bot_id=installation.identity.bot_id,
        integration=installation.alias,
        integration_name=None,
        channel=CHANNEL,
        participant_ids=[],
        tags={f"{installation.alias}:{OWNER}": user["id"]},
        after=None,
        before=None,
        order=Order(),
        cursor=page.cursor,
        limit=page.size,
    )
    return Outcome(
        {"conversations": [conversation_body(installation, row) for row in rows], "meta": page_meta(next_token)}
    )


def page_meta(next_token: str | None) -> dict[str, str]:
    return {"nextToken": next_token} if next_token else {}


async def listen(conn: Connection, installation: Installation, key: str | None, name: str) -> tuple[str, str]:
    """The conversation's and the caller's Parley ids, once the caller may listen to it."""
    user = await caller(conn, installation, key)
    row = await require_conversation(conn, installation, name)
    await require_participant(conn, row, user)
    return row["id"], user["id"]


# Participants


async def add_participant(
    conn: Connection, installation: Installation, key: str | None, name: str, body: NewParticipant, *, now: str
) -> Outcome:
    async with conn.transaction():
        user = await caller(conn, installation, key)
        row = await require_conversation(conn, installation, name)
        _require_owner(installation, row, user)
        added = await require_user(conn, installation, body.user_id)
        await conversation_store.add_participant(
            conn, bot_id=installation.identity.bot_id, conversation_id=row["id"], user_id=added["id"], now=now
        )
    conversation = conversation_name(installation, row)
    data = {"conversationId": conversation, "participantId": known_user_id(installation, added)}
    return Outcome(
        {"participant": user_body(installation, added)},
        signals=[(row["id"], signal("participant_added", data))],
    )


async def get_participant(
    conn: Connection, installation: Installation, key: str | None, name: str, user_name: str
) -> Outcome:
    user = await caller(conn, installation, key)
    row = await require_conversation(conn, installation, name)
    _require_owner(installation, row, user)
    participant = await find_user(conn, installation, user_name)
    found = (
        None
        if participant is None
        else await conversation_store.get_participant(conn, conversation_id=row["id"], user_id=participant["id"])
    )
    if participant is None or found is None:
        raise ResourceNotFound(f"Participant {user_name} not found in conversation {name}.")
    return Outcome({"participant": user_body(installation, participant)})


async def remove_participant(
    conn: Connection, installation: Installation, key: str | None, name: str, user_name: str
) -> Outcome:
    async with conn.transaction():
        user = await caller(conn, installation, key)
        row = await require_conversation(conn, installation, name)
        _require_owner(installation, row, user)
        removed = await find_user(conn, installation, user_name)
        if removed is not None and removed["id"] == _owner_of(installation, row):
            raise InvalidPayload("The owner of a conversation cannot be removed from it.")
        if removed is None or not await conversation_store.remove_participant(
            conn, conversation_id=row["id"], user_id=removed["id"]
        ):
            raise ResourceNotFound(f"Participant {user_name} not found in conversation {name}.")
    data = {
        "conversationId": conversation_name(installation, row),
        "participantId": known_user_id(installation, removed),
    }
    return Outcome(
        {},
        signals=[(row["id"], signal("participant_removed", data))],
        closed=[(row["id"], removed["id"])],
    )


async def list_participants(
    conn: Connection, installation: Installation, key: str | None, name: str, page: Page
) -> Outcome:
    user = await caller(conn, installation, key)
    row = await require_conversation(conn, installation, name)
    await require_participant(conn, row, user)
    rows, next_token = await conversation_store.list_participants(
        conn, conversation_id=row["id"], cursor=page.cursor, limit=page.size
    )
    return Outcome({"participants": [user_body(installation, r) for r in rows], "meta": page_meta(next_token)})


# Messages


async def create_message(
    conn: Connection, installation: Installation, key: str | None, body: NewMessage, *, now_ms: int
) -> Outcome:
    message_type, payload = to_runtime_payload(body.payload, body.metadata)
    async with conn.transaction():
        user = await caller(conn, installation, key)
        row = await require_conversation(conn, installation, body.conversation_id)
        await require_participant(conn, row, user, "You are not a participant in this message's conversation.")
        created = await messages.create_message(
            conn,
            installation.identity,
            CreateMessage(payload=payload, user_id=user["id"], conversation_id=row["id"], type=message_type, tags={}),
            now_ms=now_ms,
        )
    answer = message_body(
        message_id=created.id,
        created_at=created.created_at,
        conversation=conversation_name(installation, row),
        author=known_user_id(installation, user),
        message_type=message_type,
        payload=payload,
    )
    return Outcome(
        {"message": answer}, 201, signals=[(row["id"], signal("message_created", {**answer, "isBot": False}))]
    )


async def visible_message(
    conn: Connection, installation: Installation, user: UserRow, message_id: str
) -> tuple[Message, ConversationRow]:
    message = await messages.get_message(conn, installation.identity, message_id)
    row = await require_conversation(conn, installation, message.conversation_id)
    await require_participant(conn, row, user, "You are not a participant in this message's conversation.")
    return message, row


async def get_message(conn: Connection, installation: Installation, key: str | None, message_id: str) -> Outcome:
    user = await caller(conn, installation, key)
    message, row = await visible_message(conn, installation, user, message_id)
    names = await names_of(conn, installation, {message.user_id})
    return Outcome({"message": stored_message(message, conversation_name(installation, row), names[message.user_id])})


async def delete_message(conn: Connection, installation: Installation, key: str | None, message_id: str) -> Outcome:
    async with conn.transaction():
        user = await caller(conn, installation, key)
        message, row = await visible_message(conn, installation, user, message_id)
        if message.user_id != user["id"]:
            raise Forbidden("You are not the sender of this message.")
        await messages.delete_message(conn, installation.identity, message.id)
    data = {
        "id": message.id,
        "conversationId": conversation_name(installation, row),
        "userId": known_user_id(installation, user),
    }
    return Outcome({}, signals=[(row["id"], signal("message_deleted", data))])


async def list_messages(
    conn: Connection, installation: Installation, key: str | None, name: str, page: Page, *, now: str
) -> Outcome:
    user = await caller(conn, installation, key)
    row = await require_conversation(conn, installation, name)
    await require_participant(conn, row, user)
    found, next_token = await messages.list_messages(
        conn,
        installation.identity,
        conversation_id=row["id"],
        tags={},
        after=None,
        before=None,
        now=now,
        page=page,
    )
    names = await names_of(conn, installation, {message.user_id for message in found})
    conversation = conversation_name(installation, row)
    return Outcome(
        {
            "messages": [stored_message(message, conversation, names[message.user_id]) for message in found],
            "meta": page_meta(next_token),
        }
    )


# Events


async def create_event(
    conn: Connection, installation: Installation, key: str | None, body: NewEvent, *, now_ms: int
) -> Outcome:
    async with conn.transaction():
        user = await caller(conn, installation, key)
        row = await require_conversation(conn, installation, body.conversation_id)
        await require_participant(conn, row, user)
        created = await events.create_event(
            conn,
            installation.identity,
            CreateEvent(
                type=definition.CUSTOM_EVENT,
                payload={"userId": user["id"], "conversationId": row["id"], "payload": body.payload},
                conversation_id=row["id"],
                user_id=user["id"],
            ),
            now_ms=now_ms,
        )
    answer = {
        "id": created.id,
        "createdAt": created.created_at,
        "conversationId": conversation_name(installation, row),
        "userId": known_user_id(installation, user),
        "payload": body.payload,
    }
    return Outcome({"event": answer}, 201, signals=[(row["id"], signal("event_created", {**answer, "isBot": False}))])


async def get_event(conn: Connection, installation: Installation, key: str | None, event_id: str) -> Outcome:
    user = await caller(conn, installation, key)
    event = await events.get_event(conn, installation.identity, event_id)
    stored = msgspec.json.decode(event.payload)
    if event.type != definition.CUSTOM_EVENT or not isinstance(stored, dict):
        raise ResourceNotFound(f"Event {event_id} not found.")
    row = await require_conversation(conn, installation, str(stored.get("conversationId")))
    await require_participant(conn, row, user)
    names = await names_of(conn, installation, {str(stored.get("userId"))})
    return Outcome(
        {
            "event": {
                "id": event.id,
                "createdAt": event.created_at,
                "conversationId": conversation_name(installation, row),
                "userId": names[str(stored.get("userId"))],
                "payload": stored.get("payload") or {},
            }
        }
    )


# What the bot sends


async def bot_message_signal(conn: Connection, installation: Installation, message_id: str) -> tuple[str, str] | None:
    """The `message_created` signal of a message the bot wrote in a chat conversation; None when
    the message or its conversation is gone."""
    try:
        message = await messages.get_message(conn, installation.identity, message_id)
    except ResourceNotFound:
        return None
    row = await find_conversation(conn, installation, message.conversation_id)
    if row is None:
        return None
    names = await names_of(conn, installation, {message.user_id})
    answer = stored_message(message, conversation_name(installation, row), names[message.user_id])
    return row["id"], signal("message_created", {**answer, "isBot": message.direction == "outgoing"})


async def bot_event_signal(
    conn: Connection, installation: Installation, conversation: str, payload: dict[str, Any], *, now_ms: int
) -> tuple[str, str]:
    """The `event_created` signal of the bot's `sendEvent` action (not stored)."""
    row = await require_conversation(conn, installation, conversation)
    data = {
        "id": None,
        "createdAt": iso_from_ms(now_ms),
        "payload": payload,
        "conversationId": conversation_name(installation, row),
        "userId": installation.bot_user_id or installation.identity.bot_id,
        "isBot": True,
    }
    return row["id"], signal("event_created", data)
