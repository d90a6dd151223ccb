"""/v1/chat/tags"""

from typing import cast, get_args

from parley.api.common import page_body, query_choice, query_page, respond, runtime
from parley.api.routing import Answer, Call, get
from parley.service import tag_values
from parley.service.definitions import TagKind


@get("/v1/chat/tags/{key}/values")
async def list_tag_values(request: Call, key: str) -> Answer:
    # `type` has no default: an absent one is reported like any value outside the three kinds.
    async with runtime(request, write=False) as (conn, identity):
        kind = cast(TagKind, query_choice(request, "type", get_args(TagKind), ""))
        page = query_page(request)
        values, next_token = await tag_values.list_tag_values(conn, identity, key=key, kind=kind, page=page)
    return respond(page_body("tags", [{"value": value} for value in values], next_token))


operations = [list_tag_values]
