"""The ASGI application: operations found by method and path, each handed a `Call` and returning
an `Answer`, and the lifespan that opens and closes what they share.

Parley's API is a fixed set of JSON operations whose bodies msgspec decodes and encodes, so it
needs no more of a web framework than this. Litestar, used before, spent about 20 µs of every
request in its own request and response objects and signature model, as much as the rest of a
get-or-create that finds its message (bench).
"""

import re
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from traceback import format_exc
from typing import Any
from urllib.parse import parse_qsl

from parley.asgi import Receive, Scope, Send
from parley.errors import MethodNotFound, PayloadTooLarge, ResourceNotFound
from parley.metrics import OPERATION, operation_name

JSON = b"application/json"
# Where a body read once is kept, in the scope's state, for the request's second run (see
# auth.reauthenticating).
_BODY = "parley.body"
_PARAMETER = re.compile(r"\{(\w+)\}")
# `{name...}`, the last segment of a path: whatever follows, slashes and all, possibly nothing.
_REST = re.compile(r"\{(\w+)\.\.\.\}")
# The method of an operation that takes every method.
ANY_METHOD = "*"
_SLASHES = re.compile(r"//+")


NO_OPERATION = "Operation not found: check the method and path."


class Query:
    """A query string's parameters in order, repeated names kept, blank values too."""

    __slots__ = ("_pairs",)

    def __init__(self, raw: bytes) -> None:
        self._pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value given for `name`."""
        for key, value in self._pairs:
            if key == name:
                return value
        return default

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


class Call:
    """One HTTP request, as an operation sees it. Header names are lower case; a header sent
    more than once is read as its first value. `services` is what the application's lifespan
    opened."""

    __slots__ = ("_max_body", "_query", "headers", "path_params", "receive", "scope", "services")

    def __init__(
        self, scope: Scope, receive: Receive, *, path_params: dict[str, str], services: Any, max_body: int
    ) -> None:
        self.scope = scope
        self.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])}
        self.path_params = path_params
        self.services = services
        # The request's ASGI receive: the body (Call.body), then the client's disconnection.
        self.receive = receive
        self._max_body = max_body
        self._query: Query | None = None

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.scope.setdefault("state", {})
        return state

    @property
    def query_params(self) -> Query:
        if self._query is None:
            self._query = Query(self.scope.get("query_string", b""))
        return self._query

    async def body(self) -> bytes:
        """The whole body; PayloadTooLarge beyond the configured size, announced or sent."""
        kept: bytes | None = self.state.get(_BODY)
        if kept is not None:
            return kept
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body:
            raise PayloadTooLarge("The request body is larger than this server accepts.")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise PayloadTooLarge("The request body is larger than this server accepts.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.state[_BODY] = body
        return body


@dataclass(frozen=True, slots=True)
class Answer:
    """A response: its body, status and content type; or, with `headers`, those headers instead
    of the content type (an answer relayed from elsewhere, which may have none)."""

    body: bytes
    status: int = 200
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] | None = None

    async def send(self, send: Send) -> None:
        headers = [(b"content-type", self.content_type)] if self.headers is None else list(self.headers)
        headers.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class Streamed:
    """A response sent while it is produced (server-sent events): `send` sends it all, however
    long that takes, and returns when it has ended."""

    async def send(self, send: Send) -> None:
        raise NotImplementedError


Handler = Callable[..., Awaitable[Answer | Streamed]]


@dataclass(frozen=True)
class Operation:
    """A method on a path and its handler, which takes the Call and the path's parameters
    (`{name}` in the path) by name. `name` is the operation's name in the metrics."""

    method: str
    path: str
    handler: Handler
    name: str


def _declare(method: str) -> Callable[[str], Callable[[Handler], Operation]]:
    def route(path: str) -> Callable[[Handler], Operation]:
        def register(handler: Handler) -> Operation:
            return Operation(method, path, handler, operation_name(handler.__name__))

        return register

    return route


get = _declare("GET")
post = _declare("POST")
put = _declare("PUT")
patch = _declare("PATCH")
delete = _declare("DELETE")
any_method = _declare(ANY_METHOD)


@dataclass
class _Node:
    """A path segment: its literal children, the child that takes any other segment as a
    parameter, the operations of the path that ends here, by method, and those of a `{name...}`
    that takes the rest of the path, when nothing else does."""

    children: dict[str, "_Node"] = field(default_factory=dict)
    parameter: tuple[str, "_Node"] | None = None
    methods: dict[str, Operation] = field(default_factory=dict)
    rest: tuple[str, dict[str, Operation]] | None = None


class Router:
    """Paths as a tree of segments; a literal segment is preferred to a parameter."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        self._root = _Node()
        for operation in operations:
            node = self._root
            segments = _segments(operation.path)
            rest = _REST.fullmatch(segments[-1]) if segments else None
            if rest is not None:
                segments.pop()
            for segment in segments:
                named = _PARAMETER.fullmatch(segment)
                if named is None:
                    node = node.children.setdefault(segment, _Node())
                    continue
                if node.parameter is None:
                    node.parameter = (named.group(1), _Node())
                elif node.parameter[0] != named.group(1):
                    raise ValueError(f"{operation.path}: {named.group(1)} is called {node.parameter[0]} elsewhere")
                node = node.parameter[1]
            if rest is not None:
                if node.rest is None:
                    node.rest = (rest.group(1), {})
                methods = node.rest[1]
            else:
                methods = node.methods
            if operation.method in methods:
                raise ValueError(f"two operations for {operation.method} {operation.path}")
            methods[operation.method] = operation

    def find(self, path: str) -> tuple[dict[str, Operation], dict[str, str]]:
        """The path's operations by method and its parameters; ResourceNotFound if it has none."""
        node = self._root
        params: dict[str, str] = {}
        segments = _segments(path)
        for index, segment in enumerate(segments):
            child = node.children.get(segment)
            if child is None and node.parameter is not None:
                name, child = node.parameter
                params[name] = segment
            if child is None:
                if node.rest is None:
                    raise ResourceNotFound(NO_OPERATION)
                params[node.rest[0]] = "/".join(segments[index:])
                return node.rest[1], params
            node = child
        if node.methods:
            return node.methods, params
        if node.rest is not None:
            params[node.rest[0]] = ""
            return node.rest[1], params
        raise ResourceNotFound(NO_OPERATION)


def _segments(path: str) -> list[str]:
    trimmed = (_SLASHES.sub("/", path) if "//" in path else path).strip("/")
    return trimmed.split("/") if trimmed else []


class Application:
    """The ASGI application. `lifespan` opens what the operations share (given to each Call as
    `services`) and closes it at shutdown. What an operation raises is answered by `on_error`; a
    BaseException (auth.StaleIdentity) goes through, to the middleware that runs the request
    again."""

    def __init__(
        self,
        operations: Iterable[Operation],
        *,
        lifespan: Callable[[], AbstractAsyncContextManager[Any]],
        on_error: Callable[[Exception], Answer],
        max_body: int,
    ) -> None:
        self._router = Router(operations)
        self._lifespan = lifespan
        self._on_error = on_error
        self._max_body = max_body
        self._services: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._serve(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._run_lifespan(receive, send)
        else:
            # No operation is a WebSocket: the handshake is refused.
            await receive()
            await send({"type": "websocket.close", "code": 1003})

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            methods, params = self._router.find(scope["path"])
            operation = methods.get(scope["method"]) or methods.get(ANY_METHOD)
            if operation is None:
                if scope["method"] == "OPTIONS":
                    await _allow(send, methods)
                    return
                raise MethodNotFound("This path does not accept that method.")
            call = Call(scope, receive, path_params=params, services=self._services, max_body=self._max_body)
            call.state[OPERATION] = operation.name
            answer: Answer | Streamed = await operation.handler(call, **params)
        except Exception as error:
            answer = self._on_error(error)
        await answer.send(send)

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        await receive()
        started = False
        try:
            async with self._lifespan() as services:
                self._services = services
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


async def _allow(send: Send, methods: dict[str, Operation]) -> None:
    """The answer to OPTIONS: the methods the path takes."""
    allow = ", ".join(sorted({"OPTIONS", *methods})).encode()
    await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
