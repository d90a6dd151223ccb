"""The Webchat API's operations: the Chat API's, on the same users, conversations, keys and
streams, said in the webchat's words, and the few the webchat adds (`initialize`, the
`conversation_started` event, message feedback).

The two APIs differ in shapes more than in rules: a webchat user has `data` (an object) where a
chat user has `profile` (text), so `data` is kept as the JSON text of the profile; a `bloc`
message's items are `{type, payload}` here and flat there; signals are named and shaped for the
webchat (`translate`). Every rule (keys, owners, participants) is the chat service's.
"""

from dataclasses import dataclass
from typing import Any

import msgspec

from parley.chat import definition
from parley.chat import service as chat
from parley.chat.service import Installation, Outcome
from parley.chat.signals import WEBCHAT_ONLY
from parley.errors import Forbidden, InvalidPayload, MethodNotFound, Unauthorized
from parley.service import events, messages
from parley.service.common import Page
from parley.service.models import CreateEvent, Event, Message, UpdateMessage
from parley.store import conversations as conversation_store
from parley.store.conversations import ConversationRow
from parley.store.database import Connection
from parley.store.users import UserRow

# The messages `init` carries, newest first: the webchat reads a conversation's history from it.
INIT_MESSAGES = 100
INIT_PARTICIPANTS = 100
FEEDBACK_VALUES = ("positive", "negative")

# Request bodies. Fields a client sends beyond these are ignored.


class UserFields(msgspec.Struct, rename="camel"):
    name: str | None = None
    picture_url: str | None = None
    # An object, or a signed JSON Web Token of one (not accepted: see _profile).
    user_data: Any = None


class NewMessage(msgspec.Struct, rename="camel"):
    conversation_id: str
    payload: dict[str, Any]
    metadata: dict[str, Any] | None = None


class EventPayload(msgspec.Struct):
    type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class NewEvent(msgspec.Struct, rename="camel"):
    conversation_id: str
    payload: EventPayload


class Feedback(msgspec.Struct):
    value: str
    comment: str | None = None


# Shapes: the chat service's bodies in the webchat's words.


def _profile(user_data: Any) -> str | None:
    """The chat profile that keeps a webchat user's `data`."""
    if user_data is None:
        return None
    if isinstance(user_data, str):
        raise InvalidPayload("`userData` as a signed token is not accepted here; send the object itself.")
    if not isinstance(user_data, dict):
        raise InvalidPayload("`userData` is an object.")
    return msgspec.json.encode(user_data).decode()


def _chat_fields(body: UserFields) -> chat.UserFields:
    return chat.UserFields(name=body.name, picture_url=body.picture_url, profile=_profile(body.user_data))


def user(chat_user: dict[str, Any]) -> dict[str, Any]:
    """A chat user as the webchat reads one: its profile, when it holds an object, is its `data`."""
    shaped = {key: value for key, value in chat_user.items() if key != "profile"}
    profile = chat_user.get("profile")
    if profile:
        try:
            data = msgspec.json.decode(profile)
        except msgspec.DecodeError:
            data = None
        if isinstance(data, dict):
            shaped["data"] = data
    return shaped


def payload(flat: dict[str, Any]) -> dict[str, Any]:
    """A chat payload as the webchat reads it: a bloc's items are `{type, payload}`."""
    items = flat.get("items")
    if flat.get("type") != "bloc" or not isinstance(items, list):
        return flat
    nested = [
        {"type": item.get("type"), "payload": {k: v for k, v in item.items() if k != "type"}}
        if isinstance(item, dict)
        else item
        for item in items
    ]
    return {**flat, "items": nested}


def _chat_payload(given: dict[str, Any]) -> dict[str, Any]:
    """A payload the webchat sent, as the chat service takes it (a bloc's items flat)."""
    items = given.get("items")
    if given.get("type") != "bloc" or not isinstance(items, list):
        return given
    flat = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("payload"), dict):
            raise InvalidPayload("Each item of a bloc message is `{type, payload}`.")
        flat.append({"type": item.get("type"), **item["payload"]})
    return {**given, "items": flat}


def message(chat_message: dict[str, Any], *, feedback: str | None = None) -> dict[str, Any]:
    shaped = {key: value for key, value in chat_message.items() if key != "isBot"}
    shaped["payload"] = payload(chat_message["payload"])
    if feedback is not None:
        shaped["feedback"] = {"value": feedback}
    return shaped


def _with(outcome: Outcome, name: str, shape: Any) -> Outcome:
    outcome.body = {**outcome.body, name: shape(outcome.body[name])}
    return outcome


def translate(signal: str) -> str | None:
    """A signal on a conversation as a Webchat API stream says it, or None when the webchat has no
    such signal (`event_created`, `message_deleted`: the Chat API's)."""
    if signal.startswith(WEBCHAT_ONLY):
        return signal[len(WEBCHAT_ONLY) :]
    found = msgspec.json.decode(signal)
    kind, data = found.get("type"), found.get("data")
    if kind == "message_created":
        return chat.signal(kind, message(data))
    if kind == "participant_added":
        # The chat signal names the participant; the webchat keeps what it is given of it.
        return chat.signal(
            kind, {"conversationId": data["conversationId"], "participant": {"id": data["participantId"]}}
        )
    if kind == "participant_removed":
        return signal
    return None


# initialize


@dataclass(frozen=True)
class Started:
    """Whom `initialize` serves, the key it gives back, and the conversation it follows."""

    user: UserRow
    key: str
    conversation: ConversationRow


async def start(
    conn: Connection,
    installation: Installation,
    key: str | None,
    *,
    user_id: str | None,
    conversation_id: str | None,
    now: str,
) -> Started:
    """The caller (created when no key is given) and the conversation it asks for; a new one when
    it names none, or one that no longer exists (the webchat then follows the new one)."""
    if key is None:
        if installation.personal:
            raise Unauthorized("This chat channel signs its own user keys: initialize needs the user's x-user-key.")
        created = await chat.create_user(conn, installation, chat.NewUser(id=user_id), now=now)
        key = str(created.body["key"])
    else:
        await chat.get_or_create_user(conn, installation, key, chat.UserFields(), now=now)
    row = await chat.caller(conn, installation, key)
    if user_id is not None and chat.known_user_id(installation, row) != user_id:
        raise Forbidden("The userId asked for is not the user the key names.")
    conversation = None
    if conversation_id is not None:
        conversation = await chat.find_conversation(conn, installation, conversation_id)
        if conversation is not None:
            await chat.require_participant(conn, conversation, row)
    if conversation is None:
        created = await chat.create_conversation(conn, installation, key, chat.NewConversation(), now=now)
        conversation = await chat.require_conversation(conn, installation, created.body["conversation"]["id"])
    return Started(row, key, conversation)


async def init_data(conn: Connection, installation: Installation, started: Started, *, now: str) -> dict[str, Any]:
    """The `init` signal's data: the conversation, its latest messages, its participants, and the
    user with its key."""
    conversation = started.conversation
    found = await _messages(conn, installation, conversation, Page(size=INIT_MESSAGES), now=now)
    participants, _ = await conversation_store.list_participants(
        conn, conversation_id=conversation["id"], cursor=None, limit=INIT_PARTICIPANTS
    )
    return {
        "conversation": chat.conversation_body(installation, conversation),
        "messages": found[0],
        "participants": [user(chat.user_body(installation, row)) for row in participants],
        "user": {**user(chat.user_body(installation, started.user)), "userKey": started.key},
    }


async def _messages(
    conn: Connection, installation: Installation, conversation: ConversationRow, page: Page, *, now: str
) -> tuple[list[dict[str, Any]], str | None]:
    found, next_token = await _latest(conn, installation, conversation, page, now=now)
    names = await chat.names_of(conn, installation, {item.user_id for item in found})
    name = chat.conversation_name(installation, conversation)
    return [_message(item, name, names[item.user_id]) for item in found], next_token


async def _latest(
    conn: Connection, installation: Installation, conversation: ConversationRow, page: Page, *, now: str
) -> tuple[list[Message], str | None]:
    """The conversation's messages, newest first."""
    return await messages.list_messages(
        conn,
        installation.identity,
        conversation_id=conversation["id"],
        tags={},
        after=None,
        before=None,
        now=now,
        page=page,
    )


def _message(stored: Message, conversation: str, author: str) -> dict[str, Any]:
    return message(
        chat.stored_message(stored, conversation, author), feedback=stored.tags.get(definition.FEEDBACK) or None
    )


# Users


async def create_user(conn: Connection, installation: Installation, body: UserFields, *, now: str) -> Outcome:
    fields = _chat_fields(body)
    new = chat.NewUser(name=fields.name, picture_url=fields.picture_url, profile=fields.profile)
    return _with(await chat.create_user(conn, installation, new, now=now), "user", user)


async def get_user(conn: Connection, installation: Installation, key: str | None) -> Outcome:
    return _with(await chat.get_user(conn, installation, key), "user", user)


async def update_user(
    conn: Connection, installation: Installation, key: str | None, body: UserFields, *, now: str
) -> Outcome:
    return _with(await chat.update_user(conn, installation, key, _chat_fields(body), now=now), "user", user)


# Conversations


async def list_messages(
    conn: Connection, installation: Installation, key: str | None, name: str, page: Page, *, now: str
) -> Outcome:
    caller = await chat.caller(conn, installation, key)
    conversation = await chat.require_conversation(conn, installation, name)
    await chat.require_participant(conn, conversation, caller)
    found, next_token = await _messages(conn, installation, conversation, page, now=now)
    return Outcome({"messages": found, "meta": chat.page_meta(next_token)})


async def list_participants(
    conn: Connection, installation: Installation, key: str | None, name: str, page: Page
) -> Outcome:
    outcome = await chat.list_participants(conn, installation, key, name, page)
    return _with(outcome, "participants", lambda rows: [user(row) for row in rows])


# Messages


async def create_message(
    conn: Connection, installation: Installation, key: str | None, body: NewMessage, *, now_ms: int
) -> Outcome:
    new = chat.NewMessage(
        conversation_id=body.conversation_id, payload=_chat_payload(body.payload), metadata=body.metadata
    )
    return _with(await chat.create_message(conn, installation, key, new, now_ms=now_ms), "message", message)


async def get_message(conn: Connection, installation: Installation, key: str | None, message_id: str) -> Outcome:
    caller = await chat.caller(conn, installation, key)
    stored, conversation = await chat.visible_message(conn, installation, caller, message_id)
    names = await chat.names_of(conn, installation, {stored.user_id})
    name = chat.conversation_name(installation, conversation)
    return Outcome({"message": _message(stored, name, names[stored.user_id])})


async def set_feedback(
    conn: Connection,
    installation: Installation,
    key: str | None,
    message_id: str,
    body: Feedback | None,
    *,
    now_ms: int,
    now: str,
) -> Outcome:
    """Rates a message (body) or takes the rating back (None). The rating is the message's
    `feedback` tag; giving one also tells the bot, as a `messageFeedback` event."""
    if body is not None and body.value not in FEEDBACK_VALUES:
        raise InvalidPayload(f"Feedback `value` is one of {', '.join(FEEDBACK_VALUES)}; got {body.value!r}.")
    async with conn.transaction():
        caller = await chat.caller(conn, installation, key)
        stored, conversation = await chat.visible_message(conn, installation, caller, message_id)
        value = None if body is None else body.value
        await messages.update_message(
            conn, installation.identity, stored.id, UpdateMessage(tags={definition.FEEDBACK: value}), now=now
        )
        if body is not None:
            told: dict[str, Any] = {
                "userId": caller["id"],
                "conversationId": conversation["id"],
                "messageId": stored.id,
                "value": body.value,
            }
            if body.comment is not None:
                told["comment"] = body.comment
            await _tell_bot(conn, installation, definition.MESSAGE_FEEDBACK, told, now_ms=now_ms)
    return Outcome({})


async def _tell_bot(
    conn: Connection, installation: Installation, event_type: str, told: dict[str, Any], *, now_ms: int
) -> Event:
    return await events.create_event(
        conn,
        installation.identity,
        CreateEvent(type=event_type, payload=told, conversation_id=told["conversationId"], user_id=told["userId"]),
        now_ms=now_ms,
    )


# Events


async def create_event(
    conn: Connection, installation: Installation, key: str | None, body: NewEvent, *, now_ms: int, now: str
) -> Outcome:
    """`custom` is the Chat API's custom event (the bot's `chat:custom`); `conversation_started`
    tells the bot (`chat:conversationStarted`) and answers whether the conversation is new (no
    message in it yet: what `status.isInitial` is taken to mean)."""
    if body.payload.type == "custom":
        outcome = await chat.create_event(
            conn,
            installation,
            key,
            chat.NewEvent(conversation_id=body.conversation_id, payload=body.payload.data),
            now_ms=now_ms,
        )
        event = outcome.body["event"]
        outcome.body = {"event": {**event, "payload": {"type": "custom", "data": event["payload"]}}}
        return outcome
    if body.payload.type != "conversation_started":
        raise InvalidPayload(f"An event's payload type is custom or conversation_started; got {body.payload.type!r}.")
    async with conn.transaction():
        caller = await chat.caller(conn, installation, key)
        conversation = await chat.require_conversation(conn, installation, body.conversation_id)
        await chat.require_participant(conn, conversation, caller)
        found, _ = await _latest(conn, installation, conversation, Page(size=1), now=now)
        told = {"userId": caller["id"], "conversationId": conversation["id"]}
        created = await _tell_bot(conn, installation, definition.CONVERSATION_STARTED, told, now_ms=now_ms)
    data = {**body.payload.data, "status": {"isInitial": not found}}
    event = {
        "id": created.id,
        "createdAt": created.created_at,
        "payload": {"type": "conversation_started", "data": data},
        "conversationId": chat.conversation_name(installation, conversation),
        "userId": chat.known_user_id(installation, caller),
    }
    return Outcome({"event": event}, 201)


async def get_event(conn: Connection, installation: Installation, key: str | None, event_id: str) -> Outcome:
    outcome = await chat.get_event(conn, installation, key, event_id)
    event = outcome.body["event"]
    return Outcome({"event": {**event, "payload": {"type": "custom", "data": event["payload"]}}})


# What Parley does not serve


NOT_SERVED = {
    "createFile": "File uploads are not served by Parley: send a link to the file in a message instead.",
    "updateMessage": "Messages cannot be changed through the Webchat API on Parley.",
    "generateUserKey": (
        "Parley has no admin secret: configure the chat channel's encryptionKey and sign user keys"
        " (HS256, {id}) yourself."
    ),
}


def not_served(operation: str) -> MethodNotFound:
    return MethodNotFound(f"{operation} is not served: {NOT_SERVED[operation]}")
