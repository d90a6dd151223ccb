"""Parsed bot and integration definitions, and a per-process cache kept honest by bot versions."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from parley.service.schemas import Validator, compile_schema
from parley.store import bots as bot_store
from parley.store import integrations as integration_store
from parley.store.database import Connection
from parley.store.integrations import IntegrationRow

TagKind = Literal["user", "conversation", "message"]


def _tag_keys(section: Any) -> frozenset[str]:
    if not isinstance(section, dict):
        return frozenset()
    tags = section.get("tags")
    return frozenset(tags) if isinstance(tags, dict) else frozenset()


@dataclass(frozen=True)
class StateDefinition:
    type: str
    validator: Validator
    expiry: int | None = None


@dataclass(frozen=True)
class ActionDefinition:
    input: Validator
    output: Validator


def _actions(document: Mapping[str, Any]) -> dict[str, ActionDefinition]:
    return {
        name: ActionDefinition(
            input=compile_schema((action.get("input") or {}).get("schema") or {}, where=f"the input of action {name}"),
            output=compile_schema(
                (action.get("output") or {}).get("schema") or {}, where=f"the output of action {name}"
            ),
        )
        for name, action in (document.get("actions") or {}).items()
    }


def _events(document: Mapping[str, Any]) -> dict[str, Validator]:
    return {
        name: compile_schema(event.get("schema") or {}, where=f"event {name}")
        for name, event in (document.get("events") or {}).items()
    }


def _states(document: Mapping[str, Any]) -> dict[str, StateDefinition]:
    return {
        name: StateDefinition(
            type=state["type"],
            validator=compile_schema(state.get("schema") or {}, where=f"state {name}"),
            expiry=None if state.get("expiry") is None else int(state["expiry"]),
        )
        for name, state in (document.get("states") or {}).items()
    }


@dataclass(frozen=True)
class Channel:
    conversation_tags: frozenset[str]
    message_tags: frozenset[str]
    messages: Mapping[str, Validator]


@dataclass(frozen=True)
class IntegrationDefinition:
    id: str
    name: str
    version: str
    user_tags: frozenset[str]
    channels: Mapping[str, Channel]
    events: Mapping[str, Validator] = field(default_factory=dict)
    states: Mapping[str, StateDefinition] = field(default_factory=dict)
    actions: Mapping[str, ActionDefinition] = field(default_factory=dict)

    def tag_keys(self, kind: TagKind, channel: str | None) -> frozenset[str]:
        """Keys this integration declares for `kind`; for conversations and messages, those of
        `channel`, or of every channel when the channel is not known."""
        if kind == "user":
            return self.user_tags
        channels = list(self.channels.values()) if channel is None else [self.channels.get(channel)]
        keys: frozenset[str] = frozenset()
        for definition in channels:
            if definition is not None:
                keys |= definition.conversation_tags if kind == "conversation" else definition.message_tags
        return keys

    @classmethod
    def from_row(cls, row: IntegrationRow) -> "IntegrationDefinition":
        document = msgspec.json.decode(row["definition"])
        channels = {
            name: Channel(
                conversation_tags=_tag_keys(channel.get("conversation")),
                message_tags=_tag_keys(channel.get("message")),
                messages={
                    type_: compile_schema(message.get("schema") or {}, where=f"message type {type_}")
                    for type_, message in (channel.get("messages") or {}).items()
                },
            )
            for name, channel in (document.get("channels") or {}).items()
        }
        return cls(
            id=row["id"],
            name=row["name"],
            version=row["version"],
            user_tags=_tag_keys(document.get("user")),
            channels=channels,
            events=_events(document),
            states=_states(document),
            actions=_actions(document),
        )


@dataclass(frozen=True)
class Installation:
    alias: str
    enabled: bool
    integration: IntegrationDefinition


@dataclass(frozen=True)
class BotDefinition:
    id: str
    name: str
    # The bot's version when this was read (DefinitionCache).
    version: int
    user_tags: frozenset[str]
    conversation_tags: frozenset[str]
    message_tags: frozenset[str]
    installations: Mapping[str, Installation] = field(default_factory=dict)
    events: Mapping[str, Validator] = field(default_factory=dict)
    states: Mapping[str, StateDefinition] = field(default_factory=dict)
    actions: Mapping[str, ActionDefinition] = field(default_factory=dict)
    # Integration event types (`<alias>:<type>`) the bot receives; None means all of them.
    subscribed_events: frozenset[str] | None = None

    def tag_keys(self, kind: TagKind) -> frozenset[str]:
        if kind == "user":
            return self.user_tags
        return self.conversation_tags if kind == "conversation" else self.message_tags

    def installation_of(self, integration_id: str, alias: str | None) -> Installation | None:
        """The installation an integration caller acts through: by alias when given, else the
        only installation of that integration."""
        if alias:
            found = self.installations.get(alias)
            return found if found is not None and found.integration.id == integration_id else None
        matches = [i for i in self.installations.values() if i.integration.id == integration_id]
        return matches[0] if len(matches) == 1 else None


def _subscriptions(document: Mapping[str, Any]) -> frozenset[str] | None:
    subscriptions = document.get("subscriptions")
    events = subscriptions.get("events") if isinstance(subscriptions, dict) else None
    return None if events is None else frozenset(events)


async def load_bot(conn: Connection, bot_id: str) -> BotDefinition | None:
    row = await bot_store.get_bot(conn, bot_id)
    if row is None:
        return None
    document = msgspec.json.decode(row["definition"])
    installation_rows = await bot_store.list_installations(conn, bot_id)
    integration_rows = await integration_store.get_integrations(
        conn, sorted({r["integration_id"] for r in installation_rows})
    )
    integrations = {r["id"]: IntegrationDefinition.from_row(r) for r in integration_rows}
    installations = {
        r["alias"]: Installation(
            alias=r["alias"], enabled=bool(r["enabled"]), integration=integrations[r["integration_id"]]
        )
        for r in installation_rows
        if r["integration_id"] in integrations
    }
    return BotDefinition(
        id=row["id"],
        name=row["name"],
        version=int(row["version"]),
        user_tags=_tag_keys(document.get("user")),
        conversation_tags=_tag_keys(document.get("conversation")),
        message_tags=_tag_keys(document.get("message")),
        installations=installations,
        events=_events(document),
        states=_states(document),
        actions=_actions(document),
        subscribed_events=_subscriptions(document),
    )


class DefinitionCache:
    """Bot definitions, each parsed once per version of its bot. A request reads its bot's version
    with its API key (or checks it with its first statement, api/auth.py), so a change made through
    any process is seen by the bot's next request in every process, and a change to one bot leaves
    the others' definitions as they were parsed."""

    # Bots parsed at most: a bot that is never asked for again (a deleted one among them) would
    # otherwise stay for the life of the process.
    LIMIT = 10_000

    def __init__(self) -> None:
        self._bots: dict[str, BotDefinition] = {}

    async def bot(self, conn: Connection, bot_id: str, *, version: int | None) -> BotDefinition | None:
        """The bot's definition at `version`, its version as the caller read it; None when the
        caller read none, since the bot does not exist."""
        if version is None:
            self._bots.pop(bot_id, None)
            return None
        cached = self._bots.get(bot_id)
        if cached is not None and cached.version == version:
            return cached
        # The definition is read after the version was, so it is at least as new; it keeps the
        # version its own row had, and a request that read a newer one parses it again.
        loaded = await load_bot(conn, bot_id)
        if loaded is None:
            self._bots.pop(bot_id, None)
            return None
        if len(self._bots) >= self.LIMIT and bot_id not in self._bots:
            self._bots.clear()
        self._bots[bot_id] = loaded
        return loaded

    async def current(self, conn: Connection, bot_id: str) -> BotDefinition | None:
        """The bot's definition as of now, for work that has no request (and no API key read)
        to bring the version along: reads the version itself."""
        return await self.bot(conn, bot_id, version=await bot_store.get_version(conn, bot_id))
