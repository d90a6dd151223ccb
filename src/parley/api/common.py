"""Request decoding, query parsing, responses and the one place errors become contract bodies."""

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec

from parley.api.auth import Authenticator
from parley.api.routing import Answer, Call
from parley.clock import Clock, iso_from_ms, parse_iso
from parley.dispatch.relay import Relay
from parley.dispatch.worker import Dispatcher
from parley.errors import (
    ApiError,
    Internal,
    InvalidPayload,
    OperationTimeout,
    ResourceNotFound,
    UnsupportedMediaType,
)
from parley.retention import Retention
from parley.scheduler import Scheduler
from parley.service.common import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from parley.service.identity import Identity
from parley.store.database import (
    Connection,
    Database,
    DatabaseUnavailable,
    InvalidText,
    InvalidValue,
    StatementTimeout,
)
from parley.store.sql import BadPageToken, Cursor, Order

logger = logging.getLogger("parley")
T = TypeVar("T")
JSON = "application/json"

_decoders: dict[type, msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()


@dataclass
class Services:
    """What the handlers share, built once at start-up."""

    db: Database
    auth: Authenticator
    clock: Clock
    scheduler: Scheduler
    dispatcher: Dispatcher | None
    # For the calls a request waits on (callAction), each awaited at most dispatch_timeout_s.
    http: httpx.AsyncClient
    dispatch_timeout_s: float
    relay: Relay
    # Where bots, integrations and outside services reach this server (PARLEY_PUBLIC_URL).
    base_url: str
    # The built-in chat channel (chat.channel.ChatChannel).
    chat: Any
    retention: Retention
    # Origins whose pages may call from a browser (PARLEY_CORS_ORIGINS).
    cors_origins: tuple[str, ...]
    chat_keep_alive_s: float

    def now(self) -> str:
        return iso_from_ms(self.clock.now_ms())


def services(request: Call) -> Services:
    found: Services = request.services
    return found


async def read_body(request: Call) -> bytes:
    """The raw JSON body; read before any transaction opens, since reading may suspend."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != JSON:
        raise UnsupportedMediaType(f"Send the body as {JSON}; got {content_type or 'no content type'}.")
    return await request.body()


def decode(raw: bytes, type_: type[T]) -> T:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    if b"\\u0000" in raw:
        raise InvalidPayload("Text in the request body may not contain the NUL character (\\u0000).")
    try:
        result: T = decoder.decode(raw)
    except UnicodeDecodeError:
        raise InvalidPayload("The request body is not valid UTF-8.") from None
    except msgspec.ValidationError as error:
        raise InvalidPayload(f"Invalid request body: {error}.") from None
    except msgspec.DecodeError as error:
        raise InvalidPayload(f"The request body is not valid JSON: {error}.") from None
    return result


def respond(content: Any, status: int = 200) -> Answer:
    return Answer(_encoder.encode(content), status)


def runtime(request: Call, *, write: bool) -> AbstractAsyncContextManager[tuple[Connection, Identity]]:
    """A connection and the caller's identity (Authenticator.runtime); a write transaction for
    the whole request with `write`."""
    if any("\x00" in str(value) for value in request.path_params.values()):
        # No stored id contains NUL, and PostgreSQL cannot even compare such text.
        raise ResourceNotFound("Resource not found: no id contains the NUL character.")
    return services(request).auth.runtime(request, write=write)


def admin(request: Call, *, write: bool) -> AbstractAsyncContextManager[Connection]:
    """A connection for an Admin API call, which needs the admin token (Authenticator.admin)."""
    return services(request).auth.admin(request, write=write)


# Query strings


def query_tags(request: Call) -> dict[str, str]:
    """`tags.<key>=<value>` (or `tags[<key>]=<value>`) parameters as a dict."""
    tags: dict[str, str] = {}
    for name, value in request.query_params.items():
        if name.startswith("tags."):
            tags[name[5:]] = value
        elif name.startswith("tags[") and name.endswith("]"):
            tags[name[5:-1]] = value
    return tags


def query_str(request: Call, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


def query_choice(request: Call, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise InvalidPayload(f"Query parameter `{name}` must be one of {', '.join(choices)}; got {value!r}.")
    return value


def query_bool(request: Call, name: str) -> bool | None:
    value: str | None = request.query_params.get(name)
    if not value:
        return None
    if value not in ("true", "false"):
        raise InvalidPayload(f"Query parameter `{name}` must be true or false; got {value!r}.")
    return value == "true"


def query_date(request: Call, name: str) -> str | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return iso_from_ms(parse_iso(value))
    except ValueError:
        raise InvalidPayload(f"Query parameter `{name}` must be an ISO 8601 date-time; got {value!r}.") from None


def query_page(request: Call) -> Page:
    token = request.query_params.get("nextToken")
    raw_size = request.query_params.get("pageSize") or request.query_params.get("limit")
    size = DEFAULT_PAGE_SIZE
    if raw_size:
        try:
            size = int(float(raw_size))
        except (ValueError, OverflowError):
            raise InvalidPayload(f"`pageSize` must be a number; got {raw_size!r}.") from None
        if size < 1:
            raise InvalidPayload("`pageSize` must be at least 1.")
        size = min(size, MAX_PAGE_SIZE)
    try:
        cursor = Cursor.decode(token) if token else None
    except BadPageToken:
        raise InvalidPayload("`nextToken` is not a token this server handed out.") from None
    return Page(cursor=cursor, size=size)


def query_order(request: Call) -> Order:
    field = query_choice(request, "sortField", ("createdAt", "updatedAt"), "createdAt")
    direction = query_choice(request, "sortDirection", ("asc", "desc"), "desc")
    return Order(column="created_at" if field == "createdAt" else "updated_at", descending=direction == "desc")


def page_body(name: str, items: list[Any], next_token: str | None) -> dict[str, Any]:
    return {name: items, "meta": {"nextToken": next_token} if next_token else {}}


# Errors


def error_answer(error: Exception) -> Answer:
    """The contract's error for whatever an operation raised."""
    if isinstance(error, ApiError):
        api_error = error
    elif isinstance(error, InvalidText):
        api_error = InvalidPayload("Text in the request may not contain the NUL character.")
    elif isinstance(error, InvalidValue | OverflowError):
        # A number the database cannot store (SQLite's driver raises OverflowError for it).
        api_error = InvalidPayload("A value in the request is out of the range the database can store.")
    elif isinstance(error, StatementTimeout):
        api_error = OperationTimeout("The database did not finish this operation in time; try again.")
    elif isinstance(error, DatabaseUnavailable):
        logger.warning("database unavailable: %s", error)
        api_error = OperationTimeout("The database is unavailable right now; try again shortly.")
    else:
        logger.exception("unexpected error", exc_info=error)
        api_error = Internal("The server failed to answer this request.")
    return respond(api_error.body(), api_error.status)
