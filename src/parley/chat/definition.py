"""The built-in `chat` integration: its definition, which every database holds under a fixed id,
so that a bot installs it like any other and sees what a bot installing the cloud's sees."""

from typing import Any

import msgspec

from parley.service.models import encode_json
from parley.service.schemas import default_message_schemas
from parley.store import bots as bot_store
from parley.store import integrations as integration_store
from parley.store.database import Connection

INTEGRATION_ID = "int_0000000000000000000000CHAT"
NAME = "chat"
VERSION = "0.7.6"
CHANNEL = "channel"
# Tag keys, as the integration declares them (the bot reads them as `chat:<key>`).
OWNER = "owner"
FID = "fid"
PROFILE = "profile"
FEEDBACK = "feedback"
CUSTOM_EVENT = "custom"
CONVERSATION_STARTED = "conversationStarted"
MESSAGE_FEEDBACK = "messageFeedback"
SEND_EVENT = "sendEvent"
# Actions for pages with the official webchat (the Webchat API's streams only).
START_TYPING = "startTypingIndicator"
STOP_TYPING = "stopTypingIndicator"
WEBCHAT_EVENT = "customEvent"

_OBJECT = {"type": "object", "additionalProperties": True}
_STRING = {"type": "string"}
_CONVERSATION = {"conversationId": _STRING}
_EMPTY_OUTPUT = {"schema": {"type": "object"}}


def _action(title: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "input": {"schema": {"type": "object", "properties": properties, "required": required}},
        "output": _EMPTY_OUTPUT,
    }


def _message_schemas() -> dict[str, Any]:
    """The default message types, each with an optional `metadata` object. Properties beyond
    the declared ones are kept, as the Chat API accepts them."""
    defaults = default_message_schemas()
    schemas: dict[str, Any] = {}
    for name in (
        "text",
        "markdown",
        "image",
        "audio",
        "video",
        "file",
        "location",
        "card",
        "carousel",
        "choice",
        "dropdown",
        "bloc",
    ):
        schema = {key: value for key, value in defaults[name].items() if key != "additionalProperties"}
        schema["properties"] = {**schema["properties"], "metadata": _OBJECT}
        schemas[name] = {"schema": schema}
    return schemas


def document() -> dict[str, Any]:
    """The definition as the integrations table stores it."""
    return {
        "title": "Chat",
        "description": "Talk to the bot with @botpress/chat or the official webchat; served by Parley itself.",
        "configuration": {
            "schema": {
                "type": "object",
                "properties": {"encryptionKey": _STRING, "webhookUrl": _STRING, "webhookSecret": _STRING},
                "additionalProperties": False,
            }
        },
        "channels": {
            CHANNEL: {
                "title": "Chat",
                "messages": _message_schemas(),
                "conversation": {
                    "tags": {
                        OWNER: {"title": "Owner", "description": "The user who created the conversation."},
                        FID: {"title": "Client id", "description": "The id the client chose, if any."},
                    }
                },
                "message": {
                    "tags": {
                        FID: {"title": "Client id"},
                        FEEDBACK: {"title": "Feedback", "description": "positive or negative, as the user rated it."},
                    }
                },
            }
        },
        "user": {
            "tags": {
                FID: {"title": "Client id", "description": "The id the client chose, if any."},
                PROFILE: {"title": "Profile", "description": "What the client says about the user, as text."},
            }
        },
        "events": {
            CUSTOM_EVENT: {
                "title": "Custom event",
                "description": "An event a chat client sent.",
                "schema": {
                    "type": "object",
                    "properties": {"userId": _STRING, "conversationId": _STRING, "payload": _OBJECT},
                    "required": ["userId", "conversationId", "payload"],
                },
            },
            CONVERSATION_STARTED: {
                "title": "Conversation started",
                "description": "A page with the webchat opened the conversation.",
                "schema": {
                    "type": "object",
                    "properties": {"userId": _STRING, "conversationId": _STRING},
                    "required": ["userId", "conversationId"],
                },
            },
            MESSAGE_FEEDBACK: {
                "title": "Message feedback",
                "description": "A user rated a message in the webchat.",
                "schema": {
                    "type": "object",
                    "properties": {
                        "userId": _STRING,
                        "conversationId": _STRING,
                        "messageId": _STRING,
                        "value": {"enum": ["positive", "negative"]},
                        "comment": _STRING,
                    },
                    "required": ["userId", "conversationId", "messageId", "value"],
                },
            },
        },
        "actions": {
            SEND_EVENT: {
                "title": "Send a custom event",
                "description": "Sends an event to the chat clients listening to a conversation.",
                "input": {
                    "schema": {
                        "type": "object",
                        "properties": {"conversationId": _STRING, "payload": _OBJECT},
                        "required": ["conversationId", "payload"],
                    }
                },
                "output": _EMPTY_OUTPUT,
            },
            START_TYPING: _action(
                "Start the typing indicator",
                "Shows the webchat's typing indicator in a conversation, for `timeout` ms (5 s by default).",
                {**_CONVERSATION, "messageId": _STRING, "timeout": {"type": "number", "minimum": 0}},
                ["conversationId"],
            ),
            STOP_TYPING: _action(
                "Stop the typing indicator",
                "Hides the webchat's typing indicator in a conversation.",
                {**_CONVERSATION, "messageId": _STRING},
                ["conversationId"],
            ),
            WEBCHAT_EVENT: _action(
                "Send a custom event to the webchat",
                "Sends `event` (an object, or its JSON text) to the webchat pages showing a conversation.",
                {**_CONVERSATION, "event": {"type": ["object", "string"]}},
                ["conversationId", "event"],
            ),
        },
    }


async def ensure(conn: Connection, *, now: str) -> None:
    """Writes the built-in definition if the database lacks it or holds an older one; the bots
    that install it then parse it again."""
    stored = encode_json(document())
    row = await integration_store.get_integration(conn, INTEGRATION_ID)
    if row is None:
        await integration_store.insert_builtin(
            conn, id=INTEGRATION_ID, name=NAME, version=VERSION, definition=stored, now=now
        )
        return
    if row["version"] != VERSION or msgspec.json.decode(row["definition"]) != msgspec.json.decode(stored):
        await integration_store.update_builtin(conn, id=INTEGRATION_ID, version=VERSION, definition=stored, now=now)
        await bot_store.bump_installing(conn, INTEGRATION_ID)


def is_builtin(integration_id: str) -> bool:
    return integration_id == INTEGRATION_ID
