"""The outbox: deliveries to bot and integration servers, written in the transaction of the change
that causes them, so that an answered request is never lost and a crash never half-dispatches."""

from collections.abc import Sequence

import msgspec

from parley import ids
from parley.service.models import encode_json
from parley.store import bots as bot_store
from parley.store import deliveries
from parley.store.bots import InstallationTarget
from parley.store.database import Connection, Statement
from parley.store.deliveries import DeliveryRow

BOT = "bot"
INTEGRATION = "integration"


async def queue(conn: Connection, statements: Sequence[Statement]) -> None:
    """Runs inserts of deliveries (with the rows they go with, in one round trip where the
    database allows); the dispatchers are told once they are committed."""
    await conn.execute_all(statements)
    deliveries.queued(conn)


def to_bot(*, bot_id: str, event_id: str, ordering_key: str, now: str) -> Statement:
    """An event for the bot's server (`event_received`), as the statement that queues it (see
    `queue`). Deliveries are ordered per target and `ordering_key` (a conversation, or the event
    itself)."""
    return deliveries.insert_delivery(
        id=ids.new_id(ids.DELIVERY),
        bot_id=bot_id,
        target=BOT,
        alias="",
        operation="event_received",
        event_id=event_id,
        message_id=None,
        ordering_key=f"bot/{ordering_key}",
        now=now,
    )


def to_integration(
    *, bot_id: str, alias: str, operation: str, message_id: str, ordering_key: str, now: str
) -> Statement:
    """A call to the server of the integration installed in the bot as `alias`, as the statement
    that queues it (see `queue`)."""
    return deliveries.insert_delivery(
        id=ids.new_id(ids.DELIVERY),
        bot_id=bot_id,
        target=INTEGRATION,
        alias=alias,
        operation=operation,
        event_id=None,
        message_id=message_id,
        ordering_key=f"{alias}/{ordering_key}",
        now=now,
    )


async def lifecycle(
    conn: Connection, *, bot_id: str, operation: str, installation: InstallationTarget, now: str
) -> None:
    """`register` or `unregister` for an installation. The delivery keeps what the call needs,
    since an uninstalled installation is gone by the time the call is made."""
    data = {
        "integrationId": installation["integration_id"],
        "webhookId": installation["webhook_id"],
        "configuration": installation["configuration"],
        "configurationType": installation["configuration_type"],
        "botUserId": installation["bot_user_id"],
    }
    delivery = deliveries.insert_delivery(
        id=ids.new_id(ids.DELIVERY),
        bot_id=bot_id,
        target=INTEGRATION,
        alias=installation["alias"],
        operation=operation,
        event_id=None,
        message_id=None,
        ordering_key=f"{installation['alias']}/installation",
        now=now,
        data=encode_json(data),
    )
    await queue(conn, [delivery])


# The operation of a chat signal sent to the chat installation's configured webhook.
CHAT_SIGNAL = "chat_signal"


def chat_webhook_target(alias: str) -> str:
    """What a chat installation's webhook deliveries are grouped by, apart from the installation
    itself (an alias never contains `>`): a failing webhook holds back only its own deliveries."""
    return f"{alias}>webhook"


def to_chat_webhook(
    *, bot_id: str, alias: str, url: str, secret: str | None, signal: str, ordering_key: str, now: str
) -> Statement:
    """A chat signal for the webhook URL of the chat installation `alias`, retried like any
    delivery until it is answered 2xx, as the statement that queues it (see `queue`)."""
    target = chat_webhook_target(alias)
    return deliveries.insert_delivery(
        id=ids.new_id(ids.DELIVERY),
        bot_id=bot_id,
        target=INTEGRATION,
        alias=target,
        operation=CHAT_SIGNAL,
        event_id=None,
        message_id=None,
        ordering_key=f"{target}/{ordering_key}",
        now=now,
        data=encode_json({"url": url, "secret": secret, "signal": signal}),
    )


# The installation status a `register` or `unregister` delivery leaves, by the delivery's status.
_LIFECYCLE_STATUS = {
    ("register", "delivered"): "registered",
    ("register", "pending"): "registration_pending",
    ("register", "failed"): "registration_failed",
    ("register", "canceled"): "registration_failed",
    ("unregister", "delivered"): "unregistered",
    ("unregister", "pending"): "unregistration_pending",
    ("unregister", "failed"): "unregistration_failed",
    ("unregister", "canceled"): "unregistration_failed",
}


def is_lifecycle(delivery: DeliveryRow) -> bool:
    """Whether the delivery is a `register` or `unregister` call, whose outcome the installation records."""
    return delivery["operation"] in ("register", "unregister")


async def lifecycle_outcome(conn: Connection, delivery: DeliveryRow, *, status: str, error: str | None) -> None:
    """Records on the installation how its `register` or `unregister` call went: while it is
    retried, the status stays pending with the last error as its reason."""
    installation_status = _LIFECYCLE_STATUS.get((delivery["operation"], status))
    if installation_status is None:
        return
    assert delivery["data"] is not None, "lifecycle gives every register and unregister its data"
    data = msgspec.json.decode(delivery["data"])
    await bot_store.set_registration(
        conn,
        bot_id=delivery["bot_id"],
        alias=delivery["alias"],
        webhook_id=data["webhookId"],
        status=installation_status,
        reason=error,
    )
