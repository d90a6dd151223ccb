"""The chat benchmark's echo bot: an aiohttp server that answers every message a user sends with
"echo", through the Runtime API, as a bot written with `@botpress/sdk` does: the reply is created
before the delivery is answered. `GET /` hands back how many replies it made and how many failed.

`python -m bench.echo --port P --parley URL --bot-id ID`, the bot's API key in `BENCH_ECHO_KEY`."""

import argparse
import asyncio
import os
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

_SESSION = web.AppKey("session", aiohttp.ClientSession)
_COUNTS = web.AppKey("counts", dict[str, int])
_MESSAGES = web.AppKey("messages", str)
_BOT_ID = web.AppKey("bot_id", str)


async def _delivery(request: web.Request) -> web.Response:
    app = request.app
    body: dict[str, Any] = await request.json()
    event = body.get("event") or {}
    # Only users' messages are answered: an echo of the bot's own would never end.
    if event.get("type") != "message_created" or event.get("userId") == app[_BOT_ID]:
        return web.json_response({})
    reply = {
        "conversationId": event["conversationId"],
        "userId": app[_BOT_ID],
        "type": "text",
        "payload": {"text": "echo"},
        "tags": {},
    }
    async with app[_SESSION].post(app[_MESSAGES], json=reply) as answer:
        await answer.read()
        replied = answer.status == 201
    app[_COUNTS]["replied" if replied else "failed"] += 1
    # A failed reply is the bench's to report, not Parley's to retry.
    return web.json_response({})


async def _counts(request: web.Request) -> web.Response:
    return web.json_response(request.app[_COUNTS])


def _app(parley: str, bot_id: str, key: str) -> web.Application:
    app = web.Application()
    app[_BOT_ID] = bot_id
    app[_MESSAGES] = parley.rstrip("/") + "/v1/chat/messages"
    app[_COUNTS] = {"replied": 0, "failed": 0}

    async def session(app: web.Application) -> Any:
        headers = {"authorization": f"Bearer {key}", "x-bot-id": bot_id}
        async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=0)) as found:
            app[_SESSION] = found
            yield

    app.cleanup_ctx.append(session)
    app.router.add_get("/", _counts)
    app.router.add_post("/{path:.*}", _delivery)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parley", required=True, help="Parley's URL, without /v1")
    parser.add_argument("--bot-id", required=True)
    args = parser.parse_args()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = _app(args.parley, args.bot_id, os.environ["BENCH_ECHO_KEY"])
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
