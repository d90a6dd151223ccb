"""/v1/chat/states/{type}/{id}/{name}"""

from typing import Any

from litestar import Request, Response, get, patch, post
from litestar.datastructures import State

from parley.api.common import decode, read_body, respond, runtime, services
from parley.service import states
from parley.service.models import GetOrSetState, PatchState, SetState, SetStateExpiry

Req = Request[Any, Any, State]
PATH = "/v1/chat/states/{state_type:str}/{resource_id:str}/{name:str}"


@get(PATH)
async def get_state(request: Req, state_type: str, resource_id: str, name: str) -> Response[bytes]:
    async with runtime(request, write=False) as (conn, identity):
        state = await states.get_state(conn, identity, state_type, resource_id, name)
    return respond({"state": state, "meta": {"cached": False}})


@post(PATH)
async def set_state(request: Req, state_type: str, resource_id: str, name: str) -> Response[bytes]:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        state = await states.set_state(
            conn,
            identity,
            state_type,
            resource_id,
            name,
            decode(raw, SetState),
            now_ms=services(request).clock.now_ms(),
        )
    return respond({"state": state})


@patch(PATH)
async def patch_state(request: Req, state_type: str, resource_id: str, name: str) -> Response[bytes]:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        state = await states.patch_state(
            conn,
            identity,
            state_type,
            resource_id,
            name,
            decode(raw, PatchState),
            now_ms=services(request).clock.now_ms(),
        )
    return respond({"state": state})


@post(PATH + "/get-or-set")
async def get_or_set_state(request: Req, state_type: str, resource_id: str, name: str) -> Response[bytes]:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        state = await states.get_or_set_state(
            conn,
            identity,
            state_type,
            resource_id,
            name,
            decode(raw, GetOrSetState),
            now_ms=services(request).clock.now_ms(),
        )
    return respond({"state": state, "meta": {"cached": False}})


@post(PATH + "/expiry")
async def set_state_expiry(request: Req, state_type: str, resource_id: str, name: str) -> Response[bytes]:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        state = await states.set_state_expiry(
            conn,
            identity,
            state_type,
            resource_id,
            name,
            decode(raw, SetStateExpiry),
            now_ms=services(request).clock.now_ms(),
        )
    return respond({"state": state})


handlers = [get_state, set_state, patch_state, get_or_set_state, set_state_expiry]
