"""Pieces every resource family shares: list paging and the installation a request names."""

from dataclasses import dataclass

from parley.errors import InvalidPayload
from parley.service.definitions import Installation
from parley.service.identity import Identity
from parley.store.sql import Cursor

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    cursor: Cursor | None = None
    size: int = DEFAULT_PAGE_SIZE


def installation_named(identity: Identity, name: str) -> Installation:
    """The installation a bot names by alias, or by integration name when that is unambiguous."""
    found = identity.bot.installations.get(name)
    if found is not None:
        return found
    matches = [i for i in identity.bot.installations.values() if i.integration.name == name]
    if len(matches) == 1:
        return matches[0]
    raise InvalidPayload(f"No integration named {name!r} is installed in bot {identity.bot_id}.")


def owner_alias(identity: Identity, integration_name: str | None) -> Installation | None:
    """The installation that will own a new user or conversation: the calling integration's, or
    the one a bot names with the deprecated `integrationName`; None for the bot's own."""
    if identity.installation is not None:
        return identity.installation
    if integration_name:
        return installation_named(identity, integration_name)
    return None
