"""/v1/chat/users"""

from parley.api.common import (
    decode,
    page_body,
    query_choice,
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
from parley.service import users
from parley.service.models import CreateUser, GetOrCreateUser, UpdateUser


@post("/v1/chat/users")
async def create_user(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        user = await users.create_user(conn, identity, decode(raw, CreateUser), now=services(request).now())
    return respond({"user": user}, 201)


@post("/v1/chat/users/get-or-create")
async def get_or_create_user(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=False) as (conn, identity):
        user, created = await users.get_or_create_user(
            conn, identity, decode(raw, GetOrCreateUser), now=services(request).now()
        )
    return respond({"user": user, "meta": {"created": created}})


@get("/v1/chat/users/{user_id}")
async def get_user(request: Call, user_id: str) -> Answer:
    async with runtime(request, write=False) as (conn, identity):
        user = await users.get_user(conn, identity, user_id)
    return respond({"user": user})


@put("/v1/chat/users/{user_id}")
async def update_user(request: Call, user_id: str) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        user = await users.update_user(conn, identity, user_id, decode(raw, UpdateUser), now=services(request).now())
    return respond({"user": user})


@delete("/v1/chat/users/{user_id}")
async def delete_user(request: Call, user_id: str) -> Answer:
    async with runtime(request, write=True) as (conn, identity):
        await users.delete_user(conn, identity, user_id)
    return respond({})


@get("/v1/chat/users")
async def list_users(request: Call) -> Answer:
    range_field = query_choice(request, "rangeField", ("createdAt", "updatedAt"), "createdAt")
    order, page = query_order(request), query_page(request)
    after, before = query_date(request, "afterDate"), query_date(request, "beforeDate")
    async with runtime(request, write=False) as (conn, identity):
        found, next_token = await users.list_users(
            conn,
            identity,
            conversation_id=query_str(request, "conversationId"),
            tags=query_tags(request),
            range_field="created_at" if range_field == "createdAt" else "updated_at",
            after=after,
            before=before,
            order=order,
            page=page,
        )
    return respond(page_body("users", found, next_token))


operations = [create_user, get_or_create_user, get_user, update_user, delete_user, list_users]
