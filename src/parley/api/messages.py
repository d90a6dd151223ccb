"""/v1/chat/messages"""

from typing import Any

from parley.api.common import (
    decode,
    page_body,
    query_date,
    query_page,
    query_str,
    query_tags,
    read_body,
    respond,
    runtime,
    services,
)
from parley.api.routing import Answer, Call, delete, get, post, put
from parley.service import incoming, messages
from parley.service.models import (
    CreateMessage,
    GetOrCreateMessage,
    ImportMessages,
    InitializeIncomingMessage,
    UpdateMessage,
)


@post("/v1/chat/messages")
async def create_message(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        message = await messages.create_message(
            conn, identity, decode(raw, CreateMessage), now_ms=services(request).clock.now_ms()
        )
    return respond({"message": message}, 201)


@post("/v1/chat/messages/get-or-create")
async def get_or_create_message(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=False) as (conn, identity):
        message, created = await messages.get_or_create_message(
            conn, identity, decode(raw, GetOrCreateMessage), now_ms=services(request).clock.now_ms()
        )
    return respond({"message": message, "meta": {"created": created}})


@get("/v1/chat/messages/{message_id}")
async def get_message(request: Call, message_id: str) -> Answer:
    async with runtime(request, write=False) as (conn, identity):
        message = await messages.get_message(conn, identity, message_id)
    return respond({"message": message})


@put("/v1/chat/messages/{message_id}")
async def update_message(request: Call, message_id: str) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        message = await messages.update_message(
            conn, identity, message_id, decode(raw, UpdateMessage), now=services(request).now()
        )
    return respond({"message": message})


@delete("/v1/chat/messages/{message_id}")
async def delete_message(request: Call, message_id: str) -> Answer:
    async with runtime(request, write=True) as (conn, identity):
        await messages.delete_message(conn, identity, message_id)
    return respond({})


@get("/v1/chat/messages")
async def list_messages(request: Call) -> Answer:
    page = query_page(request)
    after, before = query_date(request, "afterDate"), query_date(request, "beforeDate")
    async with runtime(request, write=False) as (conn, identity):
        found, next_token = await messages.list_messages(
            conn,
            identity,
            conversation_id=query_str(request, "conversationId"),
            tags=query_tags(request),
            after=after,
            before=before,
            now=services(request).now(),
            page=page,
        )
    return respond(page_body("messages", found, next_token))


@post("/v1/chat/messages/import-messages")
async def import_messages(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=False) as (conn, identity):
        resolved, failed = await messages.import_messages(
            conn, identity, decode(raw, ImportMessages), now_ms=services(request).clock.now_ms()
        )
    return respond({"messages": resolved, "resolvedMessages": resolved, "failedMessages": failed})


@post("/v1/chat/initialize-incoming-message")
async def initialize_incoming_message(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=False) as (conn, identity):
        user, conversation, message = await incoming.initialize(
            conn, identity, decode(raw, InitializeIncomingMessage), now_ms=services(request).clock.now_ms()
        )
    body: dict[str, Any] = {"user": user, "conversation": conversation}
    if message is not None:
        body["message"] = message
    return respond(body)


operations = [
    create_message,
    get_or_create_message,
    get_message,
    update_message,
    delete_message,
    list_messages,
    import_messages,
    initialize_incoming_message,
]
