"""Events: created by bots and integrations or by the platform itself, dispatched to the bot."""

import msgspec

from parley import ids
from parley.clock import iso_from_ms
from parley.errors import InvalidPayload, PayloadTooLarge, ReferenceNotFound, ResourceNotFound
from parley.service import outbox, schedule
from parley.service.common import Page
from parley.service.conversations import get_row as get_conversation_row
from parley.service.definitions import BotDefinition
from parley.service.identity import BOT_OWNER, Identity
from parley.service.models import CreateEvent, Event, encode_json
from parley.service.schemas import Validator, validate
from parley.service.users import get_row as get_user_row
from parley.store import events as store
from parley.store import messages as message_store
from parley.store import timers
from parley.store import workflows as workflow_store
from parley.store.database import Connection, Statement
from parley.store.events import EventRow

MAX_PAYLOAD_BYTES = 128 * 1024
TIMER = "event"
STATUSES = ("pending", "ignored", "processed", "failed", "scheduled", "canceled")


def to_event(identity: Identity, row: EventRow) -> Event:
    """The event as the caller sees it: an integration sees its own event types bare."""
    event_type = row["type"]
    if identity.alias is not None:
        event_type = event_type.removeprefix(f"{identity.alias}:")
    return Event(
        id=row["id"],
        created_at=row["created_at"],
        type=event_type,
        payload=msgspec.Raw(row["payload"].encode()),
        status=row["status"],
        failure_reason=row["failure_reason"],
        conversation_id=row["conversation_id"],
        user_id=row["user_id"],
        message_id=row["message_id"],
    )


def _declared(identity: Identity, event_type: str) -> tuple[str, Validator]:
    """The stored type of an event the caller creates, and the schema of its payload."""
    installation = identity.installation
    if installation is None:
        found = identity.bot.events.get(event_type)
        if found is None:
            raise InvalidPayload(
                f"Event type {event_type!r} is not declared in the definition of bot {identity.bot_id}."
            )
        return event_type, found
    integration = installation.integration
    # Integrations name their events bare; the older `<alias>:` or `<name>:` prefixes are accepted.
    bare = event_type.removeprefix(f"{installation.alias}:").removeprefix(f"{integration.name}:")
    found = integration.events.get(bare)
    if found is None:
        raise InvalidPayload(f"Event type {event_type!r} is not declared by integration {integration.name!r}.")
    return f"{installation.alias}:{bare}", found


def _subscribed(bot: BotDefinition, event_type: str) -> bool:
    """Whether the bot receives events of this type: its own always, integration events when it
    subscribes to them (no subscription list means all)."""
    if ":" not in event_type or bot.subscribed_events is None:
        return True
    return event_type in bot.subscribed_events


async def _check_links(conn: Connection, identity: Identity, body: CreateEvent) -> None:
    """Each linked resource exists in the bot and is visible to the caller."""
    if body.conversation_id is not None and await get_conversation_row(conn, identity, body.conversation_id) is None:
        raise ReferenceNotFound(f"Conversation {body.conversation_id} not found.")
    if body.user_id is not None and await get_user_row(conn, identity, body.user_id) is None:
        raise ReferenceNotFound(f"User {body.user_id} not found.")
    if body.message_id is not None:
        message = await message_store.get_message(conn, bot_id=identity.bot_id, id=body.message_id)
        if message is None or await get_conversation_row(conn, identity, message["conversation_id"]) is None:
            raise ReferenceNotFound(f"Message {body.message_id} not found.")
    if body.workflow_id is not None and (
        # Workflows are the bot's own: an integration sees none.
        not identity.sees(BOT_OWNER)
        or await workflow_store.get_workflow(conn, bot_id=identity.bot_id, id=body.workflow_id) is None
    ):
        raise ReferenceNotFound(f"Workflow {body.workflow_id} not found.")


async def release(conn: Connection, bot: BotDefinition, row: EventRow, *, now: str) -> str:
    """Hands a scheduled event that is due to the bot, or marks it `ignored` when the bot does
    not subscribe to its type; returns the status it now has."""
    if not _subscribed(bot, row["type"]):
        await store.set_status(conn, id=row["id"], status="ignored", expected=row["status"], now=now)
        return "ignored"
    if row["status"] != "pending":
        await store.set_status(conn, id=row["id"], status="pending", expected=row["status"], now=now)
    ordering_key = row["conversation_id"] or row["id"]
    await outbox.queue(conn, [outbox.to_bot(bot_id=bot.id, event_id=row["id"], ordering_key=ordering_key, now=now)])
    return "pending"


def dispatched(
    bot: BotDefinition,
    *,
    type: str,
    payload: str,
    conversation_id: str | None = None,
    user_id: str | None = None,
    message_id: str | None = None,
    now: str,
) -> list[Statement]:
    """An event of the platform handed to the bot now, as the rows to insert with its cause: the
    event and its delivery (run them with `outbox.queue`), or the event alone, `ignored`, when
    the bot does not subscribe to its type."""
    row = _new_row(
        bot,
        type=type,
        payload=payload,
        integration="",
        conversation_id=conversation_id,
        user_id=user_id,
        message_id=message_id,
        workflow_id=None,
        due_at=None,
        now=now,
    )
    return _dispatching(bot, row)[1]


def _dispatching(bot: BotDefinition, row: EventRow) -> tuple[EventRow, list[Statement]]:
    """A new pending event as it is stored, and the rows that insert it with its delivery."""
    if not _subscribed(bot, row["type"]):
        ignored: EventRow = {**row, "status": "ignored"}
        return ignored, [store.insert_event(ignored)]
    ordering_key = row["conversation_id"] or row["id"]
    delivery = outbox.to_bot(bot_id=bot.id, event_id=row["id"], ordering_key=ordering_key, now=row["created_at"])
    return row, [store.insert_event(row), delivery]


def _new_row(
    bot: BotDefinition,
    *,
    type: str,
    payload: str,
    integration: str,
    conversation_id: str | None,
    user_id: str | None,
    message_id: str | None,
    workflow_id: str | None,
    due_at: str | None,
    now: str,
) -> EventRow:
    return {
        "id": ids.new_id(ids.EVENT),
        "bot_id": bot.id,
        "integration": integration,
        "type": type,
        "payload": payload,
        "status": "scheduled" if due_at else "pending",
        "failure_reason": None,
        "conversation_id": conversation_id,
        "user_id": user_id,
        "message_id": message_id,
        "workflow_id": workflow_id,
        "scheduled_for": due_at,
        "created_at": now,
        "updated_at": now,
    }


async def record(
    conn: Connection,
    bot: BotDefinition,
    *,
    type: str,
    payload: str,
    integration: str = "",
    conversation_id: str | None = None,
    user_id: str | None = None,
    message_id: str | None = None,
    workflow_id: str | None = None,
    due_at: str | None = None,
    now: str,
) -> EventRow:
    """Stores an event and hands it to dispatch now, or sets a timer for `due_at`."""
    row = _new_row(
        bot,
        type=type,
        payload=payload,
        integration=integration,
        conversation_id=conversation_id,
        user_id=user_id,
        message_id=message_id,
        workflow_id=workflow_id,
        due_at=due_at,
        now=now,
    )
    if due_at:
        await conn.execute_all([store.insert_event(row)])
        await timers.add_timer(conn, kind=TIMER, resource_id=row["id"], bot_id=bot.id, due_at=due_at)
        return row
    row, statements = _dispatching(bot, row)
    if row["status"] == "pending":
        await outbox.queue(conn, statements)
    else:
        await conn.execute_all(statements)
    return row


async def create_event(conn: Connection, identity: Identity, body: CreateEvent, *, now_ms: int) -> Event:
    event_type, validator = _declared(identity, body.type)
    validate(validator, body.payload, what=f"payload of event {body.type}")
    payload = encode_json(body.payload)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"An event payload may be at most {MAX_PAYLOAD_BYTES} bytes of JSON.")
    due = schedule.due_ms(body.schedule, now_ms)
    await _check_links(conn, identity, body)
    row = await record(
        conn,
        identity.bot,
        type=event_type,
        payload=payload,
        integration=identity.owner,
        conversation_id=body.conversation_id,
        user_id=body.user_id,
        message_id=body.message_id,
        workflow_id=body.workflow_id,
        due_at=None if due is None else iso_from_ms(due),
        now=iso_from_ms(now_ms),
    )
    return to_event(identity, row)


async def _require(conn: Connection, identity: Identity, event_id: str) -> EventRow:
    row = await store.get_event(conn, bot_id=identity.bot_id, id=event_id)
    if row is None or not identity.sees(row["integration"]):
        raise ResourceNotFound(f"Event {event_id} not found.")
    return row


async def get_event(conn: Connection, identity: Identity, event_id: str) -> Event:
    return to_event(identity, await _require(conn, identity, event_id))


async def cancel_scheduled_event(conn: Connection, identity: Identity, event_id: str, *, now: str) -> None:
    """Cancels an event that is not yet due; one that already went out cannot be called back."""
    row = await _require(conn, identity, event_id)
    if not await timers.take_timer(conn, kind=TIMER, resource_id=event_id):
        raise ResourceNotFound(f"Scheduled event {event_id} not found: its status is {row['status']}.")
    await store.set_status(conn, id=event_id, status="canceled", expected="scheduled", now=now)


async def list_events(
    conn: Connection, identity: Identity, *, filters: dict[str, str], page: Page
) -> tuple[list[Event], str | None]:
    status = filters.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidPayload(f"Query parameter `status` must be one of {', '.join(STATUSES)}; got {status!r}.")
    event_type = filters.get("type")
    if event_type is not None and identity.alias is not None:
        filters = {**filters, "type": f"{identity.alias}:{event_type.removeprefix(identity.alias + ':')}"}
    rows, next_token = await store.list_events(
        conn,
        bot_id=identity.bot_id,
        integration=identity.alias,
        filters=filters,
        cursor=page.cursor,
        limit=page.size,
    )
    return [to_event(identity, row) for row in rows], next_token
