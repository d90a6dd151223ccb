"""The no-storage baseline: Litestar + msgspec parse a getOrCreateMessage body and answer a message.

Served like Parley (uvicorn, uvloop, httptools, one process), it is what a request costs before
any authentication, SQL or business rule: the scenarios are reported as a fraction of it.
"""

from typing import Annotated, Any, Literal

import msgspec
from litestar import Litestar, Request, Response, post
from litestar.datastructures import State
from msgspec import Meta, Raw, Struct

Id = Annotated[str, Meta(min_length=28, max_length=36)]
Name = Annotated[str, Meta(max_length=200)]


class Schedule(Struct, rename="camel", forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    date_time: str | None = None
    delay: float | None = None


class GetOrCreateMessage(Struct, rename="camel", forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    user_id: Id
    conversation_id: Id
    type: Name
    tags: dict[str, Annotated[str, Meta(max_length=500)] | None]
    payload: dict[str, Any] | None = None
    schedule: Schedule | None = None
    origin: Literal["synthetic"] | None = None
    discriminate_by_tags: list[str] | None = None


class Message(Struct, rename="camel", omit_defaults=True, kw_only=True):
    id: str
    created_at: str
    updated_at: str
    type: str
    payload: Raw
    direction: str
    user_id: str
    conversation_id: str
    tags: dict[str, str]


_decoder = msgspec.json.Decoder(GetOrCreateMessage)
_encoder = msgspec.json.Encoder()
_NOW = "2024-05-01T12:00:00.000Z"


@post("/v1/chat/messages/get-or-create", status_code=200)
async def get_or_create_message(request: Request[Any, Any, State]) -> Response[bytes]:
    body = _decoder.decode(await request.body())
    message = Message(
        id="msg_01HF58RDKE3M7K5RJ5XZ7GF6HE",
        created_at=_NOW,
        updated_at=_NOW,
        type=body.type,
        payload=Raw(msgspec.json.encode(body.payload)),
        direction="outgoing",
        user_id=body.user_id,
        conversation_id=body.conversation_id,
        tags={key: value for key, value in body.tags.items() if value},
    )
    content = _encoder.encode({"message": message, "meta": {"created": False}})
    return Response(content=content, media_type="application/json")


app = Litestar(route_handlers=[get_or_create_message], openapi_config=None)
