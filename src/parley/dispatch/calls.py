"""The HTTP call each delivery makes, with the headers and bodies the Botpress SDK servers expect."""

import base64
from dataclasses import dataclass
from typing import Any

import msgspec

from parley import ids
from parley.chat import definition as chat_definition
from parley.errors import Runtime
from parley.service.bots import webhook_url
from parley.service.conversations import to_conversation
from parley.service.definitions import BotDefinition, DefinitionCache, Installation
from parley.service.events import to_event
from parley.service.identity import Identity
from parley.service.messages import to_message
from parley.service.models import User, encode_json
from parley.service.users import to_user
from parley.store import bots as bot_store
from parley.store import conversations as conversation_store
from parley.store import events as event_store
from parley.store import integrations as integration_store
from parley.store import messages as message_store
from parley.store import users as user_store
from parley.store.bots import BotRow, InstallationTarget
from parley.store.database import Connection
from parley.store.deliveries import DeliveryRow


@dataclass(frozen=True)
class Call:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Local:
    """A call to an integration that Parley serves itself (the built-in chat channel): made in
    this process, with no HTTP request. `message_id` names the message a `message_created` is
    about; `input` is an action's."""

    operation: str
    bot_id: str
    alias: str
    message_id: str | None = None
    input: dict[str, Any] | None = None


class Undeliverable(Exception):
    """The delivery cannot be made at all (no url, the target is gone): it fails without retries."""


class Vanished(Exception):
    """What the delivery was about no longer exists (a deleted message): there is nothing to send."""


def _base64_json(value: Any) -> str:
    return base64.b64encode(msgspec.json.encode(value)).decode()


async def _bot(conn: Connection, cache: DefinitionCache, bot_id: str) -> tuple[BotRow, BotDefinition]:
    row = await bot_store.get_bot(conn, bot_id)
    definition = None if row is None else await cache.bot(conn, bot_id, version=row["version"])
    if row is None or definition is None:
        raise Vanished(f"bot {bot_id} no longer exists")
    return row, definition


async def to_bot(conn: Connection, cache: DefinitionCache, delivery: DeliveryRow) -> Call:
    """`event_received` for the bot's server."""
    bot_row, bot = await _bot(conn, cache, delivery["bot_id"])
    if not bot_row["url"]:
        raise Undeliverable(f"Bot {bot.id} has no url to send events to.")
    event_id = delivery["event_id"]
    event = None if event_id is None else await event_store.get_event(conn, bot_id=bot.id, id=event_id)
    if event is None:
        raise Vanished(f"event {event_id} no longer exists")
    headers = _bot_headers(bot_row, bot, delivery["operation"], event["type"])
    body = msgspec.json.encode({"event": to_event(Identity(bot), event)})
    return Call(bot_row["url"], headers, body)


async def bot_user(conn: Connection, *, bot_id: str, bot_name: str, installation: InstallationTarget, now: str) -> str:
    """The user that stands for the bot inside an installation, created the first time it is needed."""
    if installation["bot_user_id"]:
        return installation["bot_user_id"]
    user_id = ids.new_id(ids.USER)
    await user_store.insert_user(
        conn,
        id=user_id,
        bot_id=bot_id,
        integration=installation["alias"],
        name=bot_name,
        picture_url=None,
        tags="{}",
        now=now,
    )
    await bot_store.set_bot_user(conn, bot_id=bot_id, alias=installation["alias"], user_id=user_id)
    return user_id


def _integration_headers(
    *, bot_id: str, alias: str, operation: str, integration_id: str, webhook_id: str, configuration: str
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-bot-id": bot_id,
        "x-integration-id": integration_id,
        "x-integration-alias": alias,
        "x-webhook-id": webhook_id,
        "x-bp-operation": operation,
        "x-bp-type": operation,
        "x-bp-configuration": base64.b64encode(configuration.encode()).decode(),
    }


def relay_headers(installation: InstallationTarget) -> dict[str, str]:
    """`webhook_received` for the installation the relay found (bots.find_by_webhook)."""
    headers = _integration_headers(
        bot_id=installation["bot_id"],
        alias=installation["alias"],
        operation="webhook_received",
        integration_id=installation["integration_id"],
        webhook_id=installation["webhook_id"],
        configuration=installation["configuration"],
    )
    assert installation["bot_user_id"] is not None, "the relay makes the bot user before it relays"
    headers["x-bot-user-id"] = installation["bot_user_id"]
    if installation["configuration_type"]:
        headers["x-bp-configuration-type"] = installation["configuration_type"]
    return headers


def _delivery_headers(
    delivery: DeliveryRow, integration_id: str, webhook_id: str, configuration: str
) -> dict[str, str]:
    return _integration_headers(
        bot_id=delivery["bot_id"],
        alias=delivery["alias"],
        operation=delivery["operation"],
        integration_id=integration_id,
        webhook_id=webhook_id,
        configuration=configuration,
    )


async def _integration_url(conn: Connection, integration_id: str) -> str:
    integration = await integration_store.get_integration(conn, integration_id)
    if integration is None:
        raise Vanished(f"integration {integration_id} no longer exists")
    if not integration["url"]:
        raise Undeliverable(f"Integration {integration['name']}@{integration['version']} has no url.")
    return integration["url"]


async def lifecycle(conn: Connection, delivery: DeliveryRow, *, base_url: str, now: str) -> Call:
    """`register` or `unregister` for an integration, from what the delivery kept of the
    installation (it may be gone by now)."""
    assert delivery["data"] is not None, "outbox.lifecycle gives every register and unregister its data"
    data = msgspec.json.decode(delivery["data"])
    url = await _integration_url(conn, data["integrationId"])
    headers = _delivery_headers(delivery, data["integrationId"], data["webhookId"], data["configuration"])
    installation = await bot_store.get_installation(conn, bot_id=delivery["bot_id"], alias=delivery["alias"])
    bot = await bot_store.get_bot(conn, delivery["bot_id"])
    if installation is not None and bot is not None and installation["webhook_id"] == data["webhookId"]:
        headers["x-bot-user-id"] = await bot_user(
            conn, bot_id=bot["id"], bot_name=bot["name"], installation=installation, now=now
        )
    elif data.get("botUserId"):
        headers["x-bot-user-id"] = data["botUserId"]
    else:
        raise Vanished(f"the installation {delivery['alias']!r} was removed before it was ever registered")
    if data.get("configurationType"):
        headers["x-bp-configuration-type"] = data["configurationType"]
    body = msgspec.json.encode({"webhookUrl": webhook_url(base_url, data["webhookId"], data["integrationId"])})
    return Call(url, headers, body)


async def to_integration(conn: Connection, cache: DefinitionCache, delivery: DeliveryRow, *, now: str) -> Call | Local:
    """`message_created` for the integration that owns the message's conversation."""
    bot_row, bot = await _bot(conn, cache, delivery["bot_id"])
    installation_row = await bot_store.get_installation(conn, bot_id=bot.id, alias=delivery["alias"])
    installation = bot.installations.get(delivery["alias"])
    if installation_row is None or installation is None:
        raise Undeliverable(f"No integration is installed as {delivery['alias']!r} in bot {bot.id} any more.")
    message_id = delivery["message_id"]
    message = None if message_id is None else await message_store.get_message(conn, bot_id=bot.id, id=message_id)
    conversation = (
        None
        if message is None
        else await conversation_store.get_conversation(conn, bot_id=bot.id, id=message["conversation_id"])
    )
    if message is None or conversation is None:
        raise Vanished(f"message {message_id} no longer exists")
    if chat_definition.is_builtin(installation.integration.id):
        return Local(delivery["operation"], bot.id, installation.alias, message_id=message["id"])
    url = await _integration_url(conn, installation.integration.id)
    view = Identity(bot, installation)
    author = await user_store.get_user(conn, bot_id=bot.id, id=message["user_id"])
    user = (
        to_user(view, author)
        if author is not None
        else User(id=message["user_id"], created_at=bot_row["created_at"], updated_at=bot_row["updated_at"], tags={})
    )
    headers = _delivery_headers(
        delivery, installation.integration.id, installation_row["webhook_id"], installation_row["configuration"]
    )
    headers["x-bot-user-id"] = await bot_user(
        conn, bot_id=bot.id, bot_name=bot.name, installation=installation_row, now=now
    )
    if installation_row["configuration_type"]:
        headers["x-bp-configuration-type"] = installation_row["configuration_type"]
    body = msgspec.json.encode(
        {
            "type": message["type"],
            "payload": msgspec.Raw(message["payload"].encode()),
            "conversation": to_conversation(view, conversation),
            "message": to_message(view, message),
            "user": user,
        }
    )
    return Call(url, headers, body)


def chat_webhook(delivery: DeliveryRow) -> Call:
    """A chat signal for the webhook URL configured in the chat installation."""
    assert delivery["data"] is not None, "outbox.to_chat_webhook gives every chat signal its data"
    data = msgspec.json.decode(delivery["data"])
    headers = {"content-type": "application/json"}
    if data.get("secret"):
        headers["x-secret-key"] = data["secret"]
    return Call(data["url"], headers, data["signal"].encode())


def _bot_headers(bot_row: BotRow, bot: BotDefinition, operation: str, kind: str) -> dict[str, str]:
    document = msgspec.json.decode(bot_row["definition"])
    configuration = (document.get("configuration") or {}).get("data") or {}
    return {
        "content-type": "application/json",
        "x-bot-id": bot.id,
        "x-bp-operation": operation,
        "x-bp-type": kind,
        "x-bp-configuration": _base64_json({"payload": encode_json(configuration)}),
    }


async def to_bot_action(conn: Connection, bot: BotDefinition, name: str, input: dict[str, Any]) -> Call:
    """`action_triggered` for the bot's own server."""
    bot_row = await bot_store.get_bot(conn, bot.id)
    if bot_row is None or not bot_row["url"]:
        raise Runtime(f"Bot {bot.id} has no url to call action {name} on.")
    headers = _bot_headers(bot_row, bot, "action_triggered", "action_triggered")
    return Call(bot_row["url"], headers, msgspec.json.encode({"type": name, "input": input}))


async def to_integration_action(
    conn: Connection,
    bot: BotDefinition,
    installation: Installation,
    installation_row: InstallationTarget,
    name: str,
    input: dict[str, Any],
    *,
    now: str,
) -> Call | Local:
    """`action_triggered` for an installed integration, with its bare action name."""
    if chat_definition.is_builtin(installation.integration.id):
        return Local("action_triggered", bot.id, installation.alias, input={"type": name, "input": input})
    try:
        url = await _integration_url(conn, installation.integration.id)
    except (Undeliverable, Vanished) as missing:
        raise Runtime(f"Cannot call action {name}: {missing}") from None
    headers = _integration_headers(
        bot_id=bot.id,
        alias=installation.alias,
        operation="action_triggered",
        integration_id=installation.integration.id,
        webhook_id=installation_row["webhook_id"],
        configuration=installation_row["configuration"],
    )
    headers["x-bot-user-id"] = await bot_user(
        conn, bot_id=bot.id, bot_name=bot.name, installation=installation_row, now=now
    )
    if installation_row["configuration_type"]:
        headers["x-bp-configuration-type"] = installation_row["configuration_type"]
    return Call(url, headers, msgspec.json.encode({"type": name, "input": input}))


def error_reason(status_code: int, text: str) -> str:
    """Why the target refused: the message of an error body in the contract's shape, else the text."""
    try:
        body = msgspec.json.decode(text)
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message") or body.get("error"), str):
        detail = body.get("message") or body.get("error")
    else:
        detail = text[:500]
    return f"HTTP {status_code}: {detail}"
