"""The no-storage baselines: Litestar + msgspec (`app`), and a bare ASGI callable (`bare`), each
parse a getOrCreateMessage body with msgspec and answer a message.

Served like Parley (uvicorn, uvloop, httptools, one process), they are what a request costs before
any authentication, SQL or business rule, with a web framework and without one: the scenarios are
reported as a fraction of each.
"""

from typing import Annotated, Any, Literal

import msgspec
from litestar import Litestar, Request, Response, post
from litestar.datastructures import State
from msgspec import Meta, Raw, Struct

from bench.integration import lifespan

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
    return Response(content=_answer(await request.body()), media_type="application/json")


def _answer(body: bytes) -> bytes:
    request = _decoder.decode(body)
    message = Message(
        id="msg_01HF58RDKE3M7K5RJ5XZ7GF6HE",
        created_at=_NOW,
        updated_at=_NOW,
        type=request.type,
        payload=Raw(msgspec.json.encode(request.payload)),
        direction="outgoing",
        user_id=request.user_id,
        conversation_id=request.conversation_id,
        tags={key: value for key, value in request.tags.items() if value},
    )
    return _encoder.encode({"message": message, "meta": {"created": False}})


_JSON = [(b"content-type", b"application/json")]


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same work as `app` with no framework: a plain ASGI callable, the floor under both."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    if scope["method"] != "POST" or scope["path"] != "/v1/chat/messages/get-or-create":
        await send({"type": "http.response.start", "status": 404, "headers": _JSON})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    try:
        content = _answer(b"".join(chunks))
    except msgspec.ValidationError as error:
        await send({"type": "http.response.start", "status": 400, "headers": _JSON})
        await send({"type": "http.response.body", "body": _encoder.encode({"message": str(error)})})
        return
    headers = [*_JSON, (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})


app = Litestar(route_handlers=[get_or_create_message], openapi_config=None)
