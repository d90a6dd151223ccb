"""/v1/chat/workflows"""

from parley.api.common import (
    decode,
    page_body,
    query_page,
    query_str,
    query_tags,
    read_body,
    respond,
    runtime,
    services,
)
from parley.api.routing import Answer, Call, delete, get, post, put
from parley.service import workflows
from parley.service.models import CreateWorkflow, GetOrCreateWorkflow, UpdateWorkflow


@post("/v1/chat/workflows")
async def create_workflow(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        workflow = await workflows.create_workflow(
            conn, identity, decode(raw, CreateWorkflow), now_ms=services(request).clock.now_ms()
        )
    return respond({"workflow": workflow}, 201)


@post("/v1/chat/workflows/get-or-create")
async def get_or_create_workflow(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=False) as (conn, identity):
        workflow, created = await workflows.get_or_create_workflow(
            conn, identity, decode(raw, GetOrCreateWorkflow), now_ms=services(request).clock.now_ms()
        )
    return respond({"workflow": workflow, "meta": {"created": created}})


@get("/v1/chat/workflows/{workflow_id}")
async def get_workflow(request: Call, workflow_id: str) -> Answer:
    async with runtime(request, write=False) as (conn, identity):
        workflow = await workflows.get_workflow(conn, identity, workflow_id)
    return respond({"workflow": workflow})


@put("/v1/chat/workflows/{workflow_id}")
async def update_workflow(request: Call, workflow_id: str) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        workflow = await workflows.update_workflow(
            conn, identity, workflow_id, decode(raw, UpdateWorkflow), now_ms=services(request).clock.now_ms()
        )
    return respond({"workflow": workflow})


@delete("/v1/chat/workflows/{workflow_id}")
async def delete_workflow(request: Call, workflow_id: str) -> Answer:
    async with runtime(request, write=True) as (conn, identity):
        await workflows.delete_workflow(conn, identity, workflow_id)
    return respond({})


@get("/v1/chat/workflows")
async def list_workflows(request: Call) -> Answer:
    page = query_page(request)
    async with runtime(request, write=False) as (conn, identity):
        found, next_token = await workflows.list_workflows(
            conn,
            identity,
            conversation_id=query_str(request, "conversationId"),
            user_id=query_str(request, "userId"),
            parent_workflow_id=query_str(request, "parentWorkflowId"),
            statuses=[s for s in request.query_params.getall("statuses") if s],
            name=query_str(request, "name"),
            tags=query_tags(request),
            page=page,
        )
    return respond(page_body("workflows", found, next_token))


operations = [create_workflow, get_or_create_workflow, get_workflow, update_workflow, delete_workflow, list_workflows]
