"""/v1/chat/integrations/configure and /v1/chat/analytics"""

from parley.api.common import decode, read_body, respond, runtime, services
from parley.api.routing import Answer, Call, post
from parley.service import integration_ops
from parley.service.models import ConfigureIntegration, TrackAnalytics


@post("/v1/chat/integrations/configure")
async def configure_integration(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        await integration_ops.configure(
            conn, identity, decode(raw, ConfigureIntegration), now_ms=services(request).clock.now_ms()
        )
    return respond({})


@post("/v1/chat/analytics")
async def track_analytics(request: Call) -> Answer:
    raw = await read_body(request)
    async with runtime(request, write=True) as (conn, identity):
        await integration_ops.track(conn, identity, decode(raw, TrackAnalytics), now=services(request).now())
    return respond({})


operations = [configure_integration, track_analytics]
