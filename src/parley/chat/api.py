"""The Chat API over HTTP, at `/chat/<webhookId>/...`: its operations, the `listen` stream
(server-sent events) and CORS for pages on other origins.

Paths are split on `/` before their segments are percent-decoded, since ids chosen by clients may
contain `/` (sent as `%2F`)."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import unquote

import msgspec

from parley.api.common import decode, error_answer, query_page, services
from parley.api.routing import JSON, Answer, Call, Streamed, any_method
from parley.asgi import Receive, Send
from parley.chat import service
from parley.chat.channel import ChatChannel
from parley.chat.service import Installation, Outcome
from parley.chat.signals import Signals, Stream
from parley.errors import ResourceNotFound
from parley.metrics import OPERATION
from parley.store.database import Connection

T = TypeVar("T")

HELLO = "Hello, Botpress User 🤖".encode()
_EVENT_STREAM = b"text/event-stream"
_KEEP_ALIVE = b"event: message\ndata: ping\n\n"
ALLOWED_METHODS = b"GET, POST, PUT, DELETE, OPTIONS"
# How long a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE = b"600"


def cors_headers(allowed: tuple[str, ...], headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """The CORS headers for a request from a page on another origin, when that origin may call.
    Credentials are allowed (the client sends them), so the origin is named, never `*`."""
    origin = headers.get("origin")
    if origin is None or not ("*" in allowed or origin.rstrip("/") in allowed):
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"origin"),
    ]


class EventStream(Streamed):
    """The `listen` answer: every signal of the conversation as an SSE event named `message`, a
    keep-alive when there is nothing to say, until the client goes away or the stream is ended
    (the user removed from the conversation, the server stopping), which a last event named
    `close` explains."""

    def __init__(
        self,
        signals: Signals,
        stream: Stream,
        receive: Receive,
        keep_alive_s: float,
        extra: list[tuple[bytes, bytes]],
        *,
        opening: bytes = b": stream open\n\n",
        translate: Callable[[str], str | None] | None = None,
    ) -> None:
        self._signals = signals
        self._stream = stream
        self._receive = receive
        self._keep_alive_s = keep_alive_s
        self._extra = extra
        # What the stream starts with, and how each signal is said to its client (None: not at all).
        self._opening = opening
        self._translate = translate

    async def send(self, send: Send) -> None:
        watcher = asyncio.get_running_loop().create_task(self._watch())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", _EVENT_STREAM),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                        *self._extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": self._opening, "more_body": True})
            while True:
                signals = await self._stream.next(self._keep_alive_s)
                if signals is None:
                    break
                if signals and self._translate is not None:
                    signals = [said for said in map(self._translate, signals) if said is not None]
                    if not signals:
                        continue
                chunk = (
                    b"".join(b"event: message\ndata: " + signal.encode() + b"\n\n" for signal in signals)
                    if signals
                    else _KEEP_ALIVE
                )
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            last = b""
            if self._stream.reason is not None:
                # Named `close`, which clients listening for `message` events do not mistake for a signal.
                last = b"event: close\ndata: " + msgspec.json.encode({"reason": self._stream.reason}) + b"\n\n"
            await send({"type": "http.response.body", "body": last, "more_body": False})
        finally:
            self._signals.release(self._stream)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _watch(self) -> None:
        """Ends the stream as soon as the client disconnects."""
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._stream.end(None)


Handler = Callable[..., Awaitable[Outcome]]


def path_segments(request: Call, webhook_id: str) -> list[str]:
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    _, _, after = raw.decode("latin-1").partition(f"/{webhook_id}")
    return [unquote(segment) for segment in after.split("/") if segment]


def parse_body(raw: bytes, type_: type[T]) -> T:
    return decode(raw if raw.strip() else b"{}", type_)


# What an operation that does not answer with an Outcome answers, once its database connection
# is released: given the CORS headers, the answer (a stream to open, a text).
Reply = Callable[[list[tuple[bytes, bytes]]], Awaitable[Answer | Streamed]]
Operate = Callable[[Call, Connection, Installation, str, list[str], bytes], Awaitable[Outcome | Reply]]


async def serve(request: Call, webhook_id: str, operate: Operate) -> Answer | Streamed:
    """Answers a request to one of the chat channel's APIs (the Chat API, the Webchat API): CORS,
    the installation the webhook id names, the operation, the signals it leaves, and its errors
    in the contract's shape."""
    found = services(request)
    channel: ChatChannel = found.chat
    extra = cors_headers(found.cors_origins, request.headers)
    method = request.scope["method"]
    if method == "OPTIONS":
        return preflight(request, extra)
    segments = path_segments(request, webhook_id)
    try:
        raw = await request.body() if method in ("POST", "PUT", "DELETE") else b""
        async with found.db.connection() as conn:
            installation = await channel.installation(conn, webhook_id)
            answer = await operate(request, conn, installation, method, segments, raw)
        if not isinstance(answer, Outcome):
            return await answer(extra)
        await channel.publish(installation, answer)
        return Answer(msgspec.json.encode(answer.body), answer.status, headers=[(b"content-type", JSON), *extra])
    except Exception as error:
        failed = error_answer(error)
        return Answer(failed.body, failed.status, headers=[(b"content-type", JSON), *extra])


@any_method("/chat/{webhook_id}/{path...}")
async def chat_api(request: Call, webhook_id: str, path: str) -> Answer | Streamed:
    return await serve(request, webhook_id, operate)


async def _hello(extra: list[tuple[bytes, bytes]]) -> Answer:
    return Answer(HELLO, 200, headers=[(b"content-type", b"text/plain; charset=utf-8"), *extra])


def listener(
    request: Call,
    conversation_id: str,
    user_id: str,
    *,
    operation: str = "chatListen",
    translate: Callable[[str], str | None] | None = None,
) -> Reply:
    """The stream of a conversation's signals for the caller; with `translate`, a Webchat API
    stream (which also hears the webchat's own signals) saying them that way."""

    async def open_stream(extra: list[tuple[bytes, bytes]]) -> Streamed:
        found = services(request)
        request.state[OPERATION] = operation
        stream = found.chat.signals.open(conversation_id, user_id, webchat=translate is not None)
        return EventStream(
            found.chat.signals, stream, request.receive, found.chat_keep_alive_s, extra, translate=translate
        )

    return open_stream


def preflight(request: Call, extra: list[tuple[bytes, bytes]]) -> Answer:
    headers = list(extra)
    if extra:
        asked = request.headers.get("access-control-request-headers", "")
        headers += [
            (b"access-control-allow-methods", ALLOWED_METHODS),
            (b"access-control-allow-headers", asked.encode("latin-1")),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        ]
    return Answer(b"", 204, headers=headers)


async def operate(
    request: Call, conn: Connection, installation: Installation, method: str, path: list[str], raw: bytes
) -> Outcome | Reply:
    """Runs the operation the method and path name."""
    key = request.headers.get("x-user-key")
    now_ms = services(request).clock.now_ms()
    now = services(request).now()
    match (method, *path):
        case ("GET", "hello"):
            return _hello
        case ("POST", "users"):
            return await service.create_user(conn, installation, parse_body(raw, service.NewUser), now=now)
        case ("POST", "users", "get-or-create"):
            return await service.get_or_create_user(
                conn, installation, key, parse_body(raw, service.UserFields), now=now
            )
        case ("GET", "users", "me"):
            return await service.get_user(conn, installation, key)
        case ("PUT", "users", "me"):
            return await service.update_user(conn, installation, key, parse_body(raw, service.UserFields), now=now)
        case ("DELETE", "users", "me"):
            return await service.delete_user(conn, installation, key)
        case ("POST", "conversations"):
            body: Any = parse_body(raw, service.NewConversation)
            return await service.create_conversation(conn, installation, key, body, now=now)
        case ("POST", "conversations", "get-or-create"):
            body = parse_body(raw, service.ConversationById)
            return await service.get_or_create_conversation(conn, installation, key, body, now=now)
        case ("GET", "conversations"):
            return await service.list_conversations(conn, installation, key, query_page(request))
        case ("GET", "conversations", conversation):
            return await service.get_conversation(conn, installation, key, conversation)
        case ("DELETE", "conversations", conversation):
            return await service.delete_conversation(conn, installation, key, conversation)
        case ("GET", "conversations", conversation, "messages"):
            page = query_page(request)
            return await service.list_messages(conn, installation, key, conversation, page, now=now)
        case ("GET", "conversations", *parts, "listen") if parts:
            # @botpress/chat 0.5.5 puts the id in this path as it is, without escaping its slashes.
            return listener(request, *await service.listen(conn, installation, key, "/".join(parts)))
        case ("POST", "conversations", conversation, "participants"):
            body = parse_body(raw, service.NewParticipant)
            return await service.add_participant(conn, installation, key, conversation, body, now=now)
        case ("GET", "conversations", conversation, "participants"):
            return await service.list_participants(conn, installation, key, conversation, query_page(request))
        case ("GET", "conversations", conversation, "participants", user):
            return await service.get_participant(conn, installation, key, conversation, user)
        case ("DELETE", "conversations", conversation, "participants", user):
            return await service.remove_participant(conn, installation, key, conversation, user)
        case ("POST", "messages"):
            return await service.create_message(
                conn, installation, key, parse_body(raw, service.NewMessage), now_ms=now_ms
            )
        case ("GET", "messages", message):
            return await service.get_message(conn, installation, key, message)
        case ("DELETE", "messages", message):
            return await service.delete_message(conn, installation, key, message)
        case ("POST", "events"):
            return await service.create_event(conn, installation, key, parse_body(raw, service.NewEvent), now_ms=now_ms)
        case ("GET", "events", event):
            return await service.get_event(conn, installation, key, event)
    raise ResourceNotFound(f"Chat API operation not found: {method} /{'/'.join(path)}.")


operations = [chat_api]
