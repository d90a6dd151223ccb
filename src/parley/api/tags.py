"""/v1/chat/tags"""

from typing import Any, cast, get_args

from litestar import Request, Response, get
from litestar.datastructures import State

from parley.api.common import page_body, query_choice, query_page, respond, runtime
from parley.service import tag_values
from parley.service.definitions import TagKind

Req = Request[Any, Any, State]


@get("/v1/chat/tags/{key:str}/values")
async def list_tag_values(request: Req, key: str) -> Response[bytes]:
    # `type` has no default: an absent one is reported like any value outside the three kinds.
    async with runtime(request, write=False) as (conn, identity):
        kind = cast(TagKind, query_choice(request, "type", get_args(TagKind), ""))
        page = query_page(request)
        values, next_token = await tag_values.list_tag_values(conn, identity, key=key, kind=kind, page=page)
    return respond(page_body("tags", [{"value": value} for value in values], next_token))


handlers = [list_tag_values]
