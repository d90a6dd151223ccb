"""The hot-path benchmark's stand-in bot: a raw ASGI app that answers every event at once with 200
and notes when the event of each message arrived, for `GET /arrivals` to hand back."""

import json
import time

from bench.integration import lifespan
from parley.asgi import Receive, Scope, Send

# Message id → time.monotonic() when its event arrived. CLOCK_MONOTONIC is one clock for every
# process of the machine, so the load generator can set these against its own readings.
_arrivals: dict[str, float] = {}
_OK = b"{}"


async def _answer(send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    arrived = time.monotonic()
    if scope["method"] == "GET":
        await _answer(send, json.dumps(_arrivals).encode())
        return
    event = json.loads(b"".join(chunks))["event"]
    message_id = event.get("messageId") or event["payload"].get("message", {}).get("id")
    if message_id:
        _arrivals[message_id] = arrived
    await _answer(send, _OK)
