"""/v1/chat/tasks"""

from parley.api.common import decode, page_body, query_page, query_tags, read_body, respond, runtime, services
from parley.api.routing import Answer, Call, delete, get, post, put
from parley.service import tasks
from parley.service.models import CreateTask, UpdateTask

_FILTERS = {
    "conversationId": "conversation_id",
    "userId": "user_id",
    "parentTaskId": "parent_task_id",
    "type": "type",
}


@post("/v1/chat/tasks")
async def create_task(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        task = await tasks.create_task(conn, identity, decode(raw, CreateTask), now_ms=services(request).clock.now_ms())
    return respond({"task": task}, 201)


@get("/v1/chat/tasks/{task_id}")
async def get_task(request: Call, task_id: str) -> Answer:
    async with runtime(request, write=False) as (conn, identity):
        task = await tasks.get_task(conn, identity, task_id)
    return respond({"task": task})


@put("/v1/chat/tasks/{task_id}")
async def update_task(request: Call, task_id: str) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        task = await tasks.update_task(
            conn, identity, task_id, decode(raw, UpdateTask), now_ms=services(request).clock.now_ms()
        )
    return respond({"task": task})


@delete("/v1/chat/tasks/{task_id}")
async def delete_task(request: Call, task_id: str) -> Answer:
    async with runtime(request, write=True) as (conn, identity):
        await tasks.delete_task(conn, identity, task_id)
    return respond({})


@get("/v1/chat/tasks")
async def list_tasks(request: Call) -> Answer:
    page = query_page(request)
    filters = {column: value for name, column in _FILTERS.items() if (value := request.query_params.get(name))}
    statuses = request.query_params.getall("status")
    async with runtime(request, write=False) as (conn, identity):
        found, next_token = await tasks.list_tasks(
            conn, identity, filters=filters, statuses=statuses, tags=query_tags(request), page=page
        )
    return respond(page_body("tasks", found, next_token))


operations = [create_task, get_task, update_task, delete_task, list_tasks]
