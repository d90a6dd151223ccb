"""/v1/chat/actions"""

from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State

from parley.api.common import decode, read_body, respond, runtime, services
from parley.dispatch import actions
from parley.service.models import CallAction

Req = Request[Any, Any, State]


@post("/v1/chat/actions")
async def call_action(request: Req) -> Response[bytes]:
    raw = await read_body(request)
    found = services(request)
    async with runtime(request, write=True) as (conn, identity):
        prepared = await actions.prepare(conn, identity, decode(raw, CallAction), now=found.now())
    output = await actions.perform(found.http, prepared, timeout_s=found.dispatch_timeout_s)
    return respond({"output": output, "meta": {"cached": False}})


handlers = [call_action]
