"""Who is calling: the bearer token and the `x-bot-id` / `x-integration-id` headers, checked."""

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from parley.errors import Forbidden, InvalidPayload, ResourceNotFound, Unauthorized
from parley.service.definitions import DefinitionCache
from parley.service.identity import ADMIN, BOT, INTEGRATION, Identity, hash_token
from parley.store import api_keys
from parley.store.database import Connection, Row, Statement


def _token_hash(headers: Mapping[str, str]) -> str:
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send the API key as `Authorization: Bearer <token>`.")
    return hash_token(token)


async def _key(conn: Connection, headers: Mapping[str, str]) -> Row:
    token_hash = _token_hash(headers)
    row = await api_keys.find_by_hash(conn, token_hash)
    if row is None or not hmac.compare_digest(row["token_hash"], token_hash):
        raise Unauthorized("The bearer token is not a valid Parley API key.")
    return row


async def authenticate_admin(conn: Connection, headers: Mapping[str, str]) -> None:
    """Admin API calls need the admin token."""
    key = await _key(conn, headers)
    if key["kind"] != ADMIN:
        raise Forbidden("The Admin API needs the admin token; this is a bot or integration API key.")


async def authenticate(
    conn: Connection, cache: DefinitionCache, headers: Mapping[str, str], *, remember: "IdentityCache | None" = None
) -> Identity:
    """The identity a Runtime API call acts as; with `remember`, kept there for the next call."""
    key = await _key(conn, headers)
    identity = await _identity(conn, cache, headers, key)
    if remember is not None:
        remember.keep(headers, key["token_hash"], int(key["epoch"]), identity)
    return identity


async def _identity(conn: Connection, cache: DefinitionCache, headers: Mapping[str, str], key: Row) -> Identity:
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
    bot = await cache.bot(conn, bot_id, epoch=int(key["epoch"]))
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
# True while the API key still exists and the definitions epoch is the one the identity was built at.
_STILL_VALID = (
    "EXISTS (SELECT 1 FROM api_keys WHERE token_hash = $1) AND (SELECT value FROM parley_meta WHERE key = 'epoch') = $2"
)


@dataclass(frozen=True)
class Remembered:
    identity: Identity
    # Holds as long as the identity would still be the answer of `authenticate`.
    condition: Statement


class IdentityCache:
    """Identities this process has authenticated, by API key and identity headers, so that a call
    with the same ones skips the key lookup. A remembered identity is only a guess: the caller
    makes its first statement conditional on `Remembered.condition` (Connection.require), which
    costs no extra round trip on a query, and authenticates afresh when the condition fails."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._epoch: int | None = None
        self._known: dict[tuple[str, ...], Remembered] = {}

    def recall(self, headers: Mapping[str, str]) -> Remembered | None:
        return self._known.get(_cache_key(_token_hash(headers), headers)) if self._known else None

    def keep(self, headers: Mapping[str, str], token_hash: str, epoch: int, identity: Identity) -> None:
        if self._epoch is not None and epoch < self._epoch:
            return  # read before a newer epoch that another call has seen already
        if epoch != self._epoch or len(self._known) >= self.LIMIT:
            self._known.clear()
            self._epoch = epoch
        self._known[_cache_key(token_hash, headers)] = Remembered(identity, (_STILL_VALID, (token_hash, epoch)))

    def forget(self, headers: Mapping[str, str]) -> None:
        self._known.pop(_cache_key(_token_hash(headers), headers), None)


def _cache_key(token_hash: str, headers: Mapping[str, str]) -> tuple[str, ...]:
    return (token_hash, *(headers.get(name, "") for name in _HEADERS))
