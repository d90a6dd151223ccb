"""Who is calling: the bearer token and the `x-bot-id` / `x-integration-id` headers, checked."""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from parley.errors import Forbidden, InvalidPayload, ResourceNotFound, Unauthorized
from parley.service.definitions import BotDefinition, DefinitionCache, Installation
from parley.store import api_keys
from parley.store.database import Connection, Row

ADMIN = "admin"
BOT = "bot"
INTEGRATION = "integration"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Identity:
    """A Runtime API caller: a bot, or an integration acting inside a bot that installed it."""

    bot: BotDefinition
    installation: Installation | None = None

    @property
    def bot_id(self) -> str:
        return self.bot.id

    @property
    def alias(self) -> str | None:
        return None if self.installation is None else self.installation.alias


async def _key(conn: Connection, headers: Mapping[str, str]) -> Row:
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send the API key as `Authorization: Bearer <token>`.")
    token_hash = hash_token(token)
    row = await api_keys.find_by_hash(conn, token_hash)
    if row is None or not hmac.compare_digest(row["token_hash"], token_hash):
        raise Unauthorized("The bearer token is not a valid Parley API key.")
    return row


async def authenticate_admin(conn: Connection, headers: Mapping[str, str]) -> None:
    """Admin API calls need the admin token."""
    key = await _key(conn, headers)
    if key["kind"] != ADMIN:
        raise Forbidden("The Admin API needs the admin token; this is a bot or integration API key.")


async def authenticate(conn: Connection, cache: DefinitionCache, headers: Mapping[str, str]) -> Identity:
    """The identity a Runtime API call acts as."""
    key = await _key(conn, headers)
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
