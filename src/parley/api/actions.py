"""/v1/chat/actions"""

from parley.api.common import decode, read_body, respond, runtime, services
from parley.api.routing import Answer, Call, post
from parley.dispatch import actions
from parley.service.models import CallAction


@post("/v1/chat/actions")
async def call_action(request: Call) -> Answer:
    raw = await read_body(request)
    found = services(request)
    async with runtime(request, write=True) as (conn, identity):
        prepared = await actions.prepare(conn, identity, decode(raw, CallAction), now=found.now())
    output = await actions.perform(found.http, prepared, timeout_s=found.dispatch_timeout_s, local=found.chat.act)
    return respond({"output": output, "meta": {"cached": False}})


operations = [call_action]
