"""/v1/chat/states/{type}/{id}/{name}"""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from parley.api.common import decode, read_body, respond, runtime, services
from parley.api.routing import Answer, Call, get, patch, post
from parley.service import states
from parley.service.models import GetOrSetState, PatchState, SetState, SetStateExpiry
from parley.service.models import State as StateResource

B = TypeVar("B")
PATH = "/v1/chat/states/{state_type}/{resource_id}/{name}"
Operation = Callable[..., Awaitable[StateResource]]


async def _write(request: Call, body_type: type[B], operation: Operation, state: tuple[str, str, str]) -> StateResource:
    """Decodes the body and runs one state operation on `state` (type, resource id, name) in a
    write transaction."""
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        return await operation(conn, identity, *state, decode(raw, body_type), now_ms=services(request).clock.now_ms())


@get(PATH)
async def get_state(request: Call, state_type: str, resource_id: str, name: str) -> Answer:
    async with runtime(request, write=False) as (conn, identity):
        state = await states.get_state(conn, identity, state_type, resource_id, name)
    return respond({"state": state, "meta": {"cached": False}})


@post(PATH)
async def set_state(request: Call, state_type: str, resource_id: str, name: str) -> Answer:
    return respond({"state": await _write(request, SetState, states.set_state, (state_type, resource_id, name))})


@patch(PATH)
async def patch_state(request: Call, state_type: str, resource_id: str, name: str) -> Answer:
    return respond({"state": await _write(request, PatchState, states.patch_state, (state_type, resource_id, name))})


@post(PATH + "/get-or-set")
async def get_or_set_state(request: Call, state_type: str, resource_id: str, name: str) -> Answer:
    state = await _write(request, GetOrSetState, states.get_or_set_state, (state_type, resource_id, name))
    return respond({"state": state, "meta": {"cached": False}})


@post(PATH + "/expiry")
async def set_state_expiry(request: Call, state_type: str, resource_id: str, name: str) -> Answer:
    return respond(
        {"state": await _write(request, SetStateExpiry, states.set_state_expiry, (state_type, resource_id, name))}
    )


operations = [get_state, set_state, patch_state, get_or_set_state, set_state_expiry]
