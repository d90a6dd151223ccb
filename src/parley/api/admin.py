"""/v1/admin: bots, integrations and their API keys (the subset a self-hosted server needs)."""

from parley.api.common import (
    admin,
    decode,
    page_body,
    query_bool,
    query_order,
    query_page,
    query_str,
    read_body,
    respond,
    services,
)
from parley.api.routing import Answer, Call, delete, get, post, put
from parley.errors import InvalidPayload
from parley.service import api_keys, bots, integrations
from parley.service.admin_models import (
    Bot,
    CreateBot,
    CreateBotApiKey,
    CreateIntegration,
    CreateIntegrationApiKey,
    UpdateBot,
    UpdateIntegration,
)
from parley.service.identity import BOT, INTEGRATION
from parley.store.database import Connection


async def _bot_body(request: Call, conn: Connection, bot_id: str) -> dict[str, Bot]:
    row = await bots.require_bot(conn, bot_id)
    keyed_by_alias = request.headers.get("x-multiple-integrations", "").lower() == "true"
    base_url = services(request).base_url
    return {"bot": await bots.bot_view(conn, row, keyed_by_alias=keyed_by_alias, base_url=base_url)}


@post("/v1/admin/bots")
async def create_bot(request: Call) -> Answer:
    raw = await read_body(request)
    async with admin(request, write=True) as conn:
        bot_id = await bots.create_bot(conn, decode(raw, CreateBot), now=services(request).now())
        body = await _bot_body(request, conn, bot_id)
    return respond(body)


@get("/v1/admin/bots")
async def list_bots(request: Call) -> Answer:
    order, page, dev = query_order(request), query_page(request), query_bool(request, "dev")
    async with admin(request, write=False) as conn:
        rows, next_token = await bots.list_bots(conn, dev=dev, order=order, page=page)
    return respond(page_body("bots", [bots.bot_summary(row) for row in rows], next_token))


@get("/v1/admin/bots/{bot_id}")
async def get_bot(request: Call, bot_id: str) -> Answer:
    async with admin(request, write=False) as conn:
        body = await _bot_body(request, conn, bot_id)
    return respond(body)


@put("/v1/admin/bots/{bot_id}")
async def update_bot(request: Call, bot_id: str) -> Answer:
    raw = await read_body(request)
    async with admin(request, write=True) as conn:
        await bots.update_bot(conn, bot_id, decode(raw, UpdateBot), now=services(request).now())
        body = await _bot_body(request, conn, bot_id)
    return respond(body)


@delete("/v1/admin/bots/{bot_id}")
async def delete_bot(request: Call, bot_id: str) -> Answer:
    async with admin(request, write=True) as conn:
        await bots.delete_bot(conn, bot_id)
    return respond({})


@get("/v1/admin/bots/baks")
async def list_bot_api_keys(request: Call) -> Answer:
    bot_id = query_str(request, "botId")
    if bot_id is None:
        raise InvalidPayload("Query parameter `botId` is required.")
    async with admin(request, write=False) as conn:
        await bots.require_bot(conn, bot_id)
        keys = await api_keys.list_keys(conn, kind=BOT, owner_id=bot_id)
    return respond({"baks": keys})


@post("/v1/admin/bots/baks")
async def create_bot_api_key(request: Call) -> Answer:
    raw = await read_body(request)
    async with admin(request, write=True) as conn:
        key = await api_keys.create_bot_api_key(conn, decode(raw, CreateBotApiKey), now=services(request).now())
    return respond(key)


@delete("/v1/admin/bots/baks/{key_id}")
async def delete_bot_api_key(request: Call, key_id: str) -> Answer:
    async with admin(request, write=True) as conn:
        await api_keys.delete_key(conn, kind=BOT, key_id=key_id)
    return respond({})


@post("/v1/admin/integrations")
async def create_integration(request: Call) -> Answer:
    raw = await read_body(request)
    async with admin(request, write=True) as conn:
        integration_id = await integrations.create_integration(
            conn, decode(raw, CreateIntegration), now=services(request).now()
        )
        row = await integrations.require_integration(conn, integration_id)
    return respond({"integration": integrations.integration_view(row)})


@get("/v1/admin/integrations")
async def list_integrations(request: Call) -> Answer:
    order, page, dev = query_order(request), query_page(request), query_bool(request, "dev")
    async with admin(request, write=False) as conn:
        rows, next_token = await integrations.list_integrations(
            conn,
            name=query_str(request, "name"),
            version=query_str(request, "version"),
            installed_by_bot_id=query_str(request, "installedByBotId"),
            dev=dev,
            order=order,
            page=page,
        )
    return respond(page_body("integrations", [integrations.integration_summary(row) for row in rows], next_token))


@get("/v1/admin/integrations/{integration_id}")
async def get_integration(request: Call, integration_id: str) -> Answer:
    async with admin(request, write=False) as conn:
        row = await integrations.require_integration(conn, integration_id)
    return respond({"integration": integrations.integration_view(row)})


@put("/v1/admin/integrations/{integration_id}")
async def update_integration(request: Call, integration_id: str) -> Answer:
    raw = await read_body(request)
    async with admin(request, write=True) as conn:
        await integrations.update_integration(
            conn, integration_id, decode(raw, UpdateIntegration), now=services(request).now()
        )
        row = await integrations.require_integration(conn, integration_id)
    return respond({"integration": integrations.integration_view(row)})


@delete("/v1/admin/integrations/{integration_id}")
async def delete_integration(request: Call, integration_id: str) -> Answer:
    async with admin(request, write=True) as conn:
        await integrations.delete_integration(conn, integration_id)
    return respond({})


@get("/v1/admin/integrations/iaks")
async def list_integration_api_keys(request: Call) -> Answer:
    integration_id = query_str(request, "integrationId")
    if integration_id is None:
        raise InvalidPayload("Query parameter `integrationId` is required.")
    async with admin(request, write=False) as conn:
        await integrations.require_integration(conn, integration_id)
        keys = await api_keys.list_keys(conn, kind=INTEGRATION, owner_id=integration_id)
    return respond({"iaks": keys})


@post("/v1/admin/integrations/iaks")
async def create_integration_api_key(request: Call) -> Answer:
    raw = await read_body(request)
    async with admin(request, write=True) as conn:
        key = await api_keys.create_integration_api_key(
            conn, decode(raw, CreateIntegrationApiKey), now=services(request).now()
        )
    return respond(key)


@delete("/v1/admin/integrations/iaks/{key_id}")
async def delete_integration_api_key(request: Call, key_id: str) -> Answer:
    async with admin(request, write=True) as conn:
        await api_keys.delete_key(conn, kind=INTEGRATION, key_id=key_id)
    return respond({})


operations = [
    create_bot,
    list_bots,
    get_bot,
    update_bot,
    delete_bot,
    list_bot_api_keys,
    create_bot_api_key,
    delete_bot_api_key,
    create_integration,
    list_integrations,
    get_integration,
    update_integration,
    delete_integration,
    list_integration_api_keys,
    create_integration_api_key,
    delete_integration_api_key,
]
