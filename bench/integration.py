"""The relay benchmark's stand-in integration: a raw ASGI app that answers every request at once
with 200 and a tiny body, so that what the relay adds is nearly all of what is measured."""

from parley.asgi import Receive, Scope, Send

BODY = b'{"ok":true}'
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}
_BODY = {"type": "http.response.body", "body": BODY}


async def lifespan(receive: Receive, send: Send) -> None:
    """Answers uvicorn's start-up and shutdown: a stand-in has nothing to open or close."""
    while True:
        message = await receive()
        await send({"type": f"{message['type']}.complete"})
        if message["type"] == "lifespan.shutdown":
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    # Received in full, as an integration does before answering, but not decoded.
    while (await receive()).get("more_body", False):
        pass
    await send(_START)
    await send(_BODY)
