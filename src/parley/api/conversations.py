"""/v1/chat/conversations and their participants."""

from parley.api.common import (
    decode,
    page_body,
    query_date,
    query_order,
    query_page,
    query_str,
    query_tags,
    read_body,
    respond,
    runtime,
    services,
)
from parley.api.routing import Answer, Call, delete, get, post, put
from parley.service import conversations
from parley.service.models import (
    AddParticipant,
    CreateConversation,
    GetOrCreateConversation,
    UpdateConversation,
)


@post("/v1/chat/conversations")
async def create_conversation(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        conversation = await conversations.create_conversation(
            conn, identity, decode(raw, CreateConversation), now=services(request).now()
        )
    return respond({"conversation": conversation}, 201)


@post("/v1/chat/conversations/get-or-create")
async def get_or_create_conversation(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=False) as (conn, identity):
        conversation, created = await conversations.get_or_create_conversation(
            conn, identity, decode(raw, GetOrCreateConversation), now=services(request).now()
        )
    return respond({"conversation": conversation, "meta": {"created": created}})


@get("/v1/chat/conversations/{conversation_id}")
async def get_conversation(request: Call, conversation_id: str) -> Answer:
    async with runtime(request, write=False) as (conn, identity):
        conversation = await conversations.get_conversation(conn, identity, conversation_id)
    return respond({"conversation": conversation})


@put("/v1/chat/conversations/{conversation_id}")
async def update_conversation(request: Call, conversation_id: str) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        conversation = await conversations.update_conversation(
            conn, identity, conversation_id, decode(raw, UpdateConversation), now=services(request).now()
        )
    return respond({"conversation": conversation})


@delete("/v1/chat/conversations/{conversation_id}")
async def delete_conversation(request: Call, conversation_id: str) -> Answer:
    async with runtime(request, write=True) as (conn, identity):
        await conversations.delete_conversation(conn, identity, conversation_id)
    return respond({})


@get("/v1/chat/conversations")
async def list_conversations(request: Call) -> Answer:
    order, page = query_order(request), query_page(request)
    after, before = query_date(request, "afterDate"), query_date(request, "beforeDate")
    async with runtime(request, write=False) as (conn, identity):
        found, next_token = await conversations.list_conversations(
            conn,
            identity,
            integration_name=query_str(request, "integrationName"),
            channel=query_str(request, "channel"),
            participant_ids=[p for p in request.query_params.getall("participantIds") if p],
            tags=query_tags(request),
            after=after,
            before=before,
            order=order,
            page=page,
        )
    return respond(page_body("conversations", found, next_token))


@post("/v1/chat/conversations/{conversation_id}/participants")
async def add_participant(request: Call, conversation_id: str) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        participant = await conversations.add_participant(
            conn, identity, conversation_id, decode(raw, AddParticipant).user_id, now=services(request).now()
        )
    return respond({"participant": participant})


@get("/v1/chat/conversations/{conversation_id}/participants/{user_id}")
async def get_participant(request: Call, conversation_id: str, user_id: str) -> Answer:
    async with runtime(request, write=False) as (conn, identity):
        participant = await conversations.get_participant(conn, identity, conversation_id, user_id)
    return respond({"participant": participant})


@delete("/v1/chat/conversations/{conversation_id}/participants/{user_id}")
async def remove_participant(request: Call, conversation_id: str, user_id: str) -> Answer:
    async with runtime(request, write=True) as (conn, identity):
        await conversations.remove_participant(conn, identity, conversation_id, user_id)
    return respond({})


@get("/v1/chat/conversations/{conversation_id}/participants")
async def list_participants(request: Call, conversation_id: str) -> Answer:
    page = query_page(request)
    async with runtime(request, write=False) as (conn, identity):
        found, next_token = await conversations.list_participants(conn, identity, conversation_id, page=page)
    return respond(page_body("participants", found, next_token))


operations = [
    create_conversation,
    get_or_create_conversation,
    get_conversation,
    update_conversation,
    delete_conversation,
    list_conversations,
    add_participant,
    get_participant,
    remove_participant,
    list_participants,
]
