"""/v1/chat/states/{type}/{id}/{name}"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request, Response, get, patch, post
from litestar.datastructures import State

from parley.api.common import decode, read_body, respond, runtime, services
from parley.service import states
from parley.service.models import GetOrSetState, PatchState, SetState, SetStateExpiry
from parley.service.models import State as StateResource

Req = Request[Any, Any, State]
B = TypeVar("B")
PATH = "/v1/chat/states/{state_type:str}/{resource_id:str}/{name:str}"
Operation = Callable[..., Awaitable[StateResource]]


async def _write(request: Req, body_type: type[B], operation: Operation) -> StateResource:
    """Decodes the body and runs one state operation in a write transaction."""
    raw = await read_body(request)
    params = request.path_params
    async with runtime(request, write=True) as (conn, identity):
        return await operation(
            conn,
            identity,
            params["state_type"],
            params["resource_id"],
            params["name"],
            decode(raw, body_type),
            now_ms=services(request).clock.now_ms(),
        )


@get(PATH)
async def get_state(request: Req, state_type: str, resource_id: str, name: str) -> Response[bytes]:
    async with runtime(request, write=False) as (conn, identity):
        state = await states.get_state(conn, identity, state_type, resource_id, name)
    return respond({"state": state, "meta": {"cached": False}})


@post(PATH)
async def set_state(request: Req) -> Response[bytes]:
    return respond({"state": await _write(request, SetState, states.set_state)})


@patch(PATH)
async def patch_state(request: Req) -> Response[bytes]:
    return respond({"state": await _write(request, PatchState, states.patch_state)})


@post(PATH + "/get-or-set")
async def get_or_set_state(request: Req) -> Response[bytes]:
    state = await _write(request, GetOrSetState, states.get_or_set_state)
    return respond({"state": state, "meta": {"cached": False}})


@post(PATH + "/expiry")
async def set_state_expiry(request: Req) -> Response[bytes]:
    return respond({"state": await _write(request, SetStateExpiry, states.set_state_expiry)})


handlers = [get_state, set_state, patch_state, get_or_set_state, set_state_expiry]
