"""/v1/chat/events"""

from parley.api.common import decode, page_body, query_page, read_body, respond, runtime, services
from parley.api.routing import Answer, Call, delete, get, post
from parley.service import events
from parley.service.models import CreateEvent

# Query parameters of listEvents and the columns they filter.
_FILTERS = {
    "type": "type",
    "conversationId": "conversation_id",
    "userId": "user_id",
    "messageId": "message_id",
    "workflowId": "workflow_id",
    "status": "status",
}


@post("/v1/chat/events")
async def create_event(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        event = await events.create_event(
            conn, identity, decode(raw, CreateEvent), now_ms=services(request).clock.now_ms()
        )
    return respond({"event": event}, 201)


@get("/v1/chat/events/{event_id}")
async def get_event(request: Call, event_id: str) -> Answer:
    async with runtime(request, write=False) as (conn, identity):
        event = await events.get_event(conn, identity, event_id)
    return respond({"event": event})


@delete("/v1/chat/events/scheduled/{event_id}")
async def cancel_scheduled_event(request: Call, event_id: str) -> Answer:
    async with runtime(request, write=True) as (conn, identity):
        await events.cancel_scheduled_event(conn, identity, event_id, now=services(request).now())
    return respond({})


@get("/v1/chat/events")
async def list_events(request: Call) -> Answer:
    page = query_page(request)
    filters = {column: value for name, column in _FILTERS.items() if (value := request.query_params.get(name))}
    async with runtime(request, write=False) as (conn, identity):
        found, next_token = await events.list_events(conn, identity, filters=filters, page=page)
    return respond(page_body("events", found, next_token))


operations = [create_event, get_event, cancel_scheduled_event, list_events]
