"""The chat channel of one process: which installation a Chat API request addresses, and what the
platform does in place of calling the integration's server: the bot's messages and actions
(`sendEvent`, and the webchat's typing indicator and `customEvent`) become signals on the
conversation's streams, and the configuration's `webhookUrl`, when
set, is sent every signal too, through the outbox."""

import logging
from typing import Any

import msgspec

from parley.chat import definition, service
from parley.chat.service import Installation
from parley.chat.signals import Signals
from parley.clock import Clock, iso_from_ms
from parley.dispatch.calls import Local
from parley.errors import InvalidPayload, ResourceNotFound, Runtime
from parley.service import outbox
from parley.service.definitions import DefinitionCache
from parley.service.identity import Identity
from parley.store import bots as bot_store
from parley.store.bots import ChatTargetRow
from parley.store.database import Connection, Database, DatabaseError

logger = logging.getLogger("parley.chat")


class ChatChannel:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self.signals = Signals(db, clock)
        self._definitions = DefinitionCache()

    async def start(self) -> None:
        await self.signals.start()

    def stop(self) -> None:
        self.signals.close_all()

    async def installation(self, conn: Connection, webhook_id: str) -> Installation:
        """The enabled chat installation whose webhook id is `webhook_id`."""
        row = await bot_store.find_chat(conn, webhook_id, definition.INTEGRATION_ID)
        if row is None or not row["enabled"]:
            raise ResourceNotFound("Chat channel not found: check the webhook id in the URL.")
        return await self._installation(conn, row)

    async def _installation(self, conn: Connection, row: ChatTargetRow) -> Installation:
        bot = await self._definitions.bot(conn, row["bot_id"], version=row["bot_version"])
        installed = None if bot is None else bot.installations.get(row["alias"])
        if bot is None or installed is None:
            raise ResourceNotFound("Chat channel not found: check the webhook id in the URL.")
        configuration = msgspec.json.decode(row["configuration"])
        own_key = configuration.get("encryptionKey") if isinstance(configuration, dict) else None
        assert row["secret"] is not None, "every installation is given a secret"
        return Installation(
            identity=Identity(bot, installed),
            secret=own_key or row["secret"],
            personal=bool(own_key),
            bot_user_id=row["bot_user_id"],
            webhook_url=(configuration.get("webhookUrl") or None) if isinstance(configuration, dict) else None,
            webhook_secret=(configuration.get("webhookSecret") or None) if isinstance(configuration, dict) else None,
        )

    async def _by_alias(self, conn: Connection, bot_id: str, alias: str) -> Installation | None:
        row = await bot_store.find_chat_installation(conn, bot_id=bot_id, alias=alias)
        return None if row is None else await self._installation(conn, row)

    async def publish(self, installation: Installation, outcome: service.Outcome) -> None:
        """Sends what an operation left to tell, once its transaction committed. A signal that
        cannot be sent now is lost to the streams only: their clients read the conversation
        again when they reconnect."""
        try:
            for conversation_id, signal in outcome.signals:
                await self.signals.publish(conversation_id, signal)
            for conversation_id, user_id in outcome.closed:
                await self.signals.close_streams(conversation_id, user_id)
            await self._to_webhook(installation, outcome.signals)
        except DatabaseError:
            logger.warning("signals of a chat operation could not be sent", exc_info=True)

    async def _to_webhook(self, installation: Installation, signals: list[tuple[str, str]]) -> None:
        """Queues the signals for the installation's webhook URL, if it has one: the outbox
        sends them, in order for each conversation, and retries them until they are taken."""
        if installation.webhook_url is None or not signals:
            return
        now = iso_from_ms(self._clock.now_ms())
        statements = [
            outbox.to_chat_webhook(
                bot_id=installation.identity.bot_id,
                alias=installation.alias,
                url=installation.webhook_url,
                secret=installation.webhook_secret,
                signal=signal,
                ordering_key=conversation_id,
                now=now,
            )
            for conversation_id, signal in signals
        ]
        async with self._db.transaction() as conn:
            await outbox.queue(conn, statements)

    async def deliver(self, call: Local) -> None:
        """Does what the chat integration's server would have done with a `message_created`
        delivery: the signal of the bot's message, on the conversation's streams."""
        if call.operation != "message_created" or call.message_id is None:
            return
        async with self._db.connection() as conn:
            installation = await self._by_alias(conn, call.bot_id, call.alias)
            if installation is None:
                return
            found = await service.bot_message_signal(conn, installation, call.message_id)
        if found is None:
            return
        await self.signals.publish(*found)
        await self._to_webhook(installation, [found])

    async def act(self, call: Local) -> dict[str, Any]:
        """Performs an action of the chat integration for the bot: `sendEvent` for the Chat API's
        clients; the typing indicator and `customEvent` for the webchat's."""
        assert call.input is not None, "an action call carries its input"
        name, given = call.input["type"], call.input["input"]
        if name not in (definition.SEND_EVENT, *_WEBCHAT_ACTIONS):
            raise Runtime(f"The chat integration has no action {name!r}.")
        async with self._db.connection() as conn:
            installation = await self._by_alias(conn, call.bot_id, call.alias)
            if installation is None:
                raise InvalidPayload(f"No chat channel is installed as {call.alias!r} in bot {call.bot_id}.")
            if name != definition.SEND_EVENT:
                row = await service.require_conversation(conn, installation, given["conversationId"])
                await self.signals.publish(row["id"], _webchat_signal(name, given), webchat_only=True)
                return {}
            conversation_id, signal = await service.bot_event_signal(
                conn, installation, given["conversationId"], given["payload"], now_ms=self._clock.now_ms()
            )
        await self.signals.publish(conversation_id, signal)
        await self._to_webhook(installation, [(conversation_id, signal)])
        return {}


_WEBCHAT_ACTIONS = (definition.START_TYPING, definition.STOP_TYPING, definition.WEBCHAT_EVENT)


def _webchat_signal(action: str, given: dict[str, Any]) -> str:
    """The Webchat API's signal for one of its actions."""
    if action == definition.START_TYPING:
        timeout = given.get("timeout")
        return service.signal("typing_started", {} if timeout is None else {"timeout": timeout})
    if action == definition.STOP_TYPING:
        return service.signal("typing_stopped", {})
    event = given["event"]
    if isinstance(event, str):
        try:
            event = msgspec.json.decode(event)
        except msgspec.DecodeError:
            raise InvalidPayload("`event` of customEvent is an object, or the JSON text of one.") from None
    if not isinstance(event, dict):
        raise InvalidPayload("`event` of customEvent is an object, or the JSON text of one.")
    return service.signal("custom", {"event": event})
