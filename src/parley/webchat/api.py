"""The Webchat API over HTTP, at `/webchat/<clientId>/...` (the client id is the chat
installation's webhook id): what the official `@botpress/webchat` calls, its `initialize` and
`listen` streams (server-sent events), and CORS for the pages that embed it."""

from typing import Any

import msgspec

from parley.api.common import query_page, query_str, services
from parley.api.routing import Answer, Call, Streamed, any_method
from parley.chat import api as chat_api
from parley.chat import service as chat
from parley.chat.api import EventStream, Reply, parse_body
from parley.chat.service import Installation, Outcome
from parley.errors import ResourceNotFound
from parley.metrics import OPERATION
from parley.store.database import Connection
from parley.webchat import service
from parley.webchat.service import Started


@any_method("/webchat/{client_id}/{path...}")
async def webchat_api(request: Call, client_id: str, path: str) -> Answer | Streamed:
    return await chat_api.serve(request, client_id, _operate)


def _initializer(request: Call, installation: Installation, started: Started) -> Reply:
    """The `initialize` stream: its `init` signal, then the conversation's signals. The stream
    listens before the conversation is read, so nothing said meanwhile is missed (what is both
    read and heard, the webchat keeps once: it knows messages by id)."""

    async def open_stream(extra: list[tuple[bytes, bytes]]) -> Streamed:
        found = services(request)
        request.state[OPERATION] = "webchatInitialize"
        stream = found.chat.signals.open(started.conversation["id"], started.user["id"], webchat=True)
        try:
            async with found.db.connection() as conn:
                data = await service.init_data(conn, installation, started, now=found.now())
        except Exception:
            found.chat.signals.release(stream)
            raise
        opening = b"event: message\ndata: " + msgspec.json.encode({"type": "init", "data": data}) + b"\n\n"
        return EventStream(
            found.chat.signals,
            stream,
            request.receive,
            found.chat_keep_alive_s,
            extra,
            opening=opening,
            translate=service.translate,
        )

    return open_stream


async def _operate(
    request: Call, conn: Connection, installation: Installation, method: str, path: list[str], raw: bytes
) -> Outcome | Reply:
    """Runs the operation the method and path name."""
    key = request.headers.get("x-user-key")
    now_ms = services(request).clock.now_ms()
    now = services(request).now()
    body: Any
    match (method, *path):
        case ("GET", "initialize"):
            started = await service.start(
                conn,
                installation,
                key or None,
                user_id=query_str(request, "userId"),
                conversation_id=query_str(request, "conversationId"),
                now=now,
            )
            return _initializer(request, installation, started)
        case ("POST", "users"):
            return await service.create_user(conn, installation, parse_body(raw, service.UserFields), now=now)
        case ("POST", "users", "key"):
            raise service.not_served("generateUserKey")
        case ("GET", "users", "me"):
            return await service.get_user(conn, installation, key)
        case ("PUT", "users", "me"):
            body = parse_body(raw, service.UserFields)
            return await service.update_user(conn, installation, key, body, now=now)
        case ("GET", "conversations", conversation, "listen"):
            found = await chat.listen(conn, installation, key, conversation)
            return chat_api.listener(request, *found, operation="webchatListen", translate=service.translate)
        case ("GET", "conversations", conversation, "messages"):
            page = query_page(request)
            return await service.list_messages(conn, installation, key, conversation, page, now=now)
        case ("POST", "conversations", conversation, "participants"):
            body = parse_body(raw, chat.NewParticipant)
            outcome = await chat.add_participant(conn, installation, key, conversation, body, now=now)
            outcome.body = {"participant": service.user(outcome.body["participant"])}
            return outcome
        case ("GET", "conversations", conversation, "participants"):
            return await service.list_participants(conn, installation, key, conversation, query_page(request))
        case ("GET", "conversations", conversation, "participants", user):
            outcome = await chat.get_participant(conn, installation, key, conversation, user)
            outcome.body = {"participant": service.user(outcome.body["participant"])}
            return outcome
        case ("POST", "messages"):
            body = parse_body(raw, service.NewMessage)
            return await service.create_message(conn, installation, key, body, now_ms=now_ms)
        case ("GET", "messages", message):
            return await service.get_message(conn, installation, key, message)
        case ("PUT", "messages", _message):
            raise service.not_served("updateMessage")
        case ("PUT", "messages", message, "feedback"):
            body = parse_body(raw, service.Feedback)
            return await service.set_feedback(conn, installation, key, message, body, now_ms=now_ms, now=now)
        case ("DELETE", "messages", message, "feedback"):
            return await service.set_feedback(conn, installation, key, message, None, now_ms=now_ms, now=now)
        case ("POST", "events"):
            body = parse_body(raw, service.NewEvent)
            return await service.create_event(conn, installation, key, body, now_ms=now_ms, now=now)
        case ("GET", "events", event):
            return await service.get_event(conn, installation, key, event)
        case ("POST", "files"):
            raise service.not_served("createFile")
        case ("POST", "p"):
            # Performance reports of the webchat: taken, not kept.
            return Outcome({})
    if _shape(method, path) in _SHARED:
        return await chat_api.operate(request, conn, installation, method, path, raw)
    raise ResourceNotFound(f"Webchat API operation not found: {method} /{'/'.join(path)}.")


# Operations whose Chat API answer is the webchat's too, by method and path (ids as `{}`).
_SHARED = {
    ("DELETE", "users", "{}"),
    ("POST", "conversations"),
    ("GET", "conversations"),
    ("GET", "conversations", "{}"),
    ("DELETE", "conversations", "{}"),
    ("DELETE", "conversations", "{}", "participants", "{}"),
    ("DELETE", "messages", "{}"),
}


def _shape(method: str, path: list[str]) -> tuple[str, ...]:
    """Every second segment of these paths is an id (or `me`)."""
    return (method, *("{}" if position % 2 else segment for position, segment in enumerate(path)))


operations = [webchat_api]
