"""/v1/parley: Parley's own operator endpoints (admin token), outside the Botpress contract."""

from typing import Annotated

from msgspec import Meta

from parley.api.common import admin, decode, page_body, query_page, query_str, read_body, respond, services
from parley.api.routing import Answer, Call, get, post
from parley.clock import AdjustableClock, iso_from_ms
from parley.errors import ResourceNotFound
from parley.service import bots, deliveries, integration_ops
from parley.service.models import Body


class AdvanceClock(Body):
    advance_ms: Annotated[int, Meta(ge=0)]


async def _authorize(request: Call) -> None:
    """Only the admin token may use these endpoints."""
    async with admin(request, write=False):
        return


@get("/v1/parley/clock")
async def get_clock(request: Call) -> Answer:
    found = services(request)
    await _authorize(request)
    return respond({"now": found.now(), "adjustable": isinstance(found.clock, AdjustableClock)})


@post("/v1/parley/clock/advance")
async def advance_clock(request: Call) -> Answer:
    """Moves an adjustable clock forward and lets the scheduler catch up at once."""
    raw = await read_body(request)
    found = services(request)
    await _authorize(request)
    if not isinstance(found.clock, AdjustableClock):
        raise ResourceNotFound(
            "Adjustable clock not found: the clock can be moved only when the server runs with PARLEY_CLOCK=adjustable."
        )
    found.clock.advance(decode(raw, AdvanceClock).advance_ms)
    found.scheduler.poke()
    found.retention.poke()
    if found.dispatcher is not None:
        found.dispatcher.poke()
    return respond({"now": iso_from_ms(found.clock.now_ms()), "adjustable": True})


@get("/v1/parley/deliveries")
async def list_deliveries(request: Call) -> Answer:
    page = query_page(request)
    filters = {
        column: value
        for name, column in (("status", "status"), ("messageId", "message_id"), ("eventId", "event_id"))
        if (value := query_str(request, name))
    }
    async with admin(request, write=False) as conn:
        found, next_token = await deliveries.list_deliveries(
            conn, bot_id=query_str(request, "botId"), filters=filters, page=page
        )
    return respond(page_body("deliveries", found, next_token))


@get("/v1/parley/deliveries/{delivery_id}")
async def get_delivery(request: Call, delivery_id: str) -> Answer:
    async with admin(request, write=False) as conn:
        delivery, attempts = await deliveries.get_delivery(conn, delivery_id)
    return respond({"delivery": delivery, "attempts": attempts})


@post("/v1/parley/deliveries/{delivery_id}/retry")
async def retry_delivery(request: Call, delivery_id: str) -> Answer:
    found = services(request)
    async with admin(request, write=True) as conn:
        delivery = await deliveries.retry(conn, delivery_id, now=found.now())
    return respond({"delivery": delivery})


@post("/v1/parley/bots/{bot_id}/installations/{alias}/rotate-webhook")
async def rotate_webhook(request: Call, bot_id: str, alias: str) -> Answer:
    """A new webhook id for an installation; the old one answers 404 from now on."""
    found = services(request)
    async with admin(request, write=True) as conn:
        installation = await bots.rotate_webhook(conn, bot_id, alias, now=found.now())
    webhook_id = installation["webhook_id"]
    url = bots.webhook_url(found.base_url, webhook_id, installation["integration_id"])
    return respond({"webhookId": webhook_id, "webhookUrl": url})


@get("/v1/parley/analytics")
async def analytics_totals(request: Call) -> Answer:
    """What bots and integrations reported with trackAnalytics, summed per name."""
    async with admin(request, write=False) as conn:
        totals = await integration_ops.totals(conn, bot_id=query_str(request, "botId"), name=query_str(request, "name"))
    return respond({"analytics": totals})


operations = [
    get_clock,
    advance_clock,
    list_deliveries,
    get_delivery,
    retry_delivery,
    rotate_webhook,
    analytics_totals,
]
