"""Who is calling: the bearer token and the identity headers, checked against the database, and
the identities this process remembers so that a caller it knows costs no lookup of its own."""

import hmac
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from parley.api.routing import Call
from parley.asgi import ASGIApp, Receive, Scope, Send
from parley.errors import Forbidden, InvalidPayload, ResourceNotFound, Unauthorized
from parley.service.definitions import DefinitionCache
from parley.service.identity import ADMIN, BOT, INTEGRATION, Identity, hash_token
from parley.store import api_keys
from parley.store.api_keys import ApiKeyRow, KeyForBotRow
from parley.store.database import ConditionFailed, Connection, Database, Statement

# A key row, whichever query read it.
K = TypeVar("K", bound=ApiKeyRow)


def _token_hash(headers: Mapping[str, str]) -> str:
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send the API key as `Authorization: Bearer <token>`.")
    return hash_token(token)


def _matching(row: K | None, token_hash: str) -> K:
    """The key row found by the caller's token hash; Unauthorized when there is none."""
    if row is None or not hmac.compare_digest(row["token_hash"], token_hash):
        raise Unauthorized("The bearer token is not a valid Parley API key.")
    return row


async def _identity(
    conn: Connection, cache: DefinitionCache, headers: Mapping[str, str], key: KeyForBotRow
) -> Identity:
    bot_id = headers.get("x-bot-id", "")
    if not bot_id:
        raise InvalidPayload("The x-bot-id header is required.")
    integration_id = headers.get("x-integration-id") or None
    kind, owner = key["kind"], key["owner_id"]
    if kind == BOT:
        if owner != bot_id:
            raise Forbidden(f"This API key belongs to another bot than {bot_id}.")
        if integration_id is not None:
            raise Forbidden("A bot API key cannot act as an integration.")
    elif kind == INTEGRATION:
        if integration_id is None:
            raise Forbidden("An integration API key needs the x-integration-id header.")
        if owner != integration_id:
            raise Forbidden(f"This API key belongs to another integration than {integration_id}.")
    bot = await cache.bot(conn, bot_id, version=key["bot_version"])
    if bot is None:
        raise ResourceNotFound(f"Bot {bot_id} not found.")
    if integration_id is None:
        return Identity(bot=bot)
    alias = headers.get("x-integration-alias") or None
    installation = bot.installation_of(integration_id, alias)
    if installation is None:
        named = f" under the alias {alias!r}" if alias else ""
        raise Forbidden(f"Integration {integration_id} is not installed in bot {bot_id}{named}.")
    if not installation.enabled:
        raise Forbidden(f"Integration {installation.alias!r} is disabled in bot {bot_id}.")
    return Identity(bot=bot, installation=installation)


_HEADERS = ("x-bot-id", "x-integration-id", "x-integration-alias")


@dataclass(frozen=True)
class _Remembered:
    identity: Identity
    # Holds as long as the identity would still be the answer of a fresh authentication.
    condition: Statement


class _IdentityCache:
    """Identities this process has authenticated, by API key and identity headers, so that a call
    with the same ones skips the key lookup. A remembered identity is only a guess: the request
    makes its first statement conditional on `_Remembered.condition` (Connection.require), which
    costs no extra round trip on a query, and authenticates afresh when the condition fails."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._known: dict[tuple[str, ...], _Remembered] = {}

    def recall(self, headers: Mapping[str, str]) -> _Remembered | None:
        return self._known.get(_cache_key(_token_hash(headers), headers)) if self._known else None

    def keep(self, headers: Mapping[str, str], token_hash: str, identity: Identity) -> None:
        if len(self._known) >= self.LIMIT:
            self._known.clear()
        condition = api_keys.still_valid(token_hash, identity.bot_id, identity.bot.version)
        self._known[_cache_key(token_hash, headers)] = _Remembered(identity, condition)

    def forget(self, headers: Mapping[str, str]) -> None:
        self._known.pop(_cache_key(_token_hash(headers), headers), None)


def _cache_key(token_hash: str, headers: Mapping[str, str]) -> tuple[str, ...]:
    return (token_hash, *(headers.get(name, "") for name in _HEADERS))


class StaleIdentity(BaseException):
    """A remembered identity turned out outdated before the request changed anything: the
    request is run again, authenticated afresh. A BaseException, so that the application's error
    handling (which turns every Exception into a response) lets it through to `reauthenticating`."""


_AUTHENTICATE_AFRESH = "parley.authenticate_afresh"


def reauthenticating(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: runs a request whose remembered identity was stale once more."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except StaleIdentity:
            # Nothing was sent or written, and the body, read already, is kept in the scope.
            scope.setdefault("state", {})[_AUTHENTICATE_AFRESH] = True
            await app(scope, receive, send)

    return middleware


class Authenticator:
    """Opens a request's connection and tells who is calling. It keeps this process's parsed
    definitions and the identities it has authenticated."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._definitions = DefinitionCache()
        self._remembered = _IdentityCache()

    @asynccontextmanager
    async def runtime(self, request: Call, *, write: bool) -> AsyncIterator[tuple[Connection, Identity]]:
        """A connection and the caller's identity. With `write`, the connection is a write
        transaction for the whole request; without it, reads go straight to the database
        (get-or-create opens its own transaction only when it has something to write).

        An identity this process has authenticated before is used at once, and checked with the
        request's first statement; if the check fails, StaleIdentity has the request run again."""
        afresh = _AUTHENTICATE_AFRESH in request.scope.get("state", {})
        remembered = None if afresh else self._remembered.recall(request.headers)
        scope = self._db.transaction() if write else self._db.connection()
        async with scope as conn:
            if remembered is None:
                yield conn, await self._authenticate(conn, request.headers)
                return
            conn.require(remembered.condition)
            try:
                try:
                    yield conn, remembered.identity
                except Exception:
                    # An answer given before any statement (a refused body) must not reach a
                    # caller that the key lookup would have refused.
                    await conn.check()
                    raise
                await conn.check()
            except ConditionFailed:
                self._remembered.forget(request.headers)
                raise StaleIdentity from None

    async def _authenticate(self, conn: Connection, headers: Mapping[str, str]) -> Identity:
        token_hash = _token_hash(headers)
        key = _matching(await api_keys.find_for_bot(conn, token_hash, headers.get("x-bot-id", "")), token_hash)
        identity = await _identity(conn, self._definitions, headers, key)
        self._remembered.keep(headers, token_hash, identity)
        return identity

    @asynccontextmanager
    async def admin(self, request: Call, *, write: bool) -> AsyncIterator[Connection]:
        """A connection (a write transaction with `write`) for an Admin API call, which needs the
        admin token."""
        scope = self._db.transaction() if write else self._db.connection()
        async with scope as conn:
            token_hash = _token_hash(request.headers)
            key = _matching(await api_keys.find_by_hash(conn, token_hash), token_hash)
            if key["kind"] != ADMIN:
                raise Forbidden("The Admin API needs the admin token; this is a bot or integration API key.")
            yield conn
