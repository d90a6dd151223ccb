"""What operators see of the outbox."""

from parley.errors import InvalidPayload, ResourceNotFound
from parley.service.common import Page
from parley.service.models import Resource
from parley.store import deliveries as store
from parley.store import events as event_store
from parley.store.database import Connection
from parley.store.deliveries import DeliveryRow

# The operation of the calls the webhook relay records (dispatch.relay).
WEBHOOK_RECEIVED = "webhook_received"


class Delivery(Resource):
    id: str
    bot_id: str
    target: str
    operation: str
    status: str
    attempts: int
    next_attempt_at: str
    created_at: str
    updated_at: str
    alias: str | None = None
    event_id: str | None = None
    message_id: str | None = None
    last_error: str | None = None


def to_delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row["id"],
        bot_id=row["bot_id"],
        target=row["target"],
        operation=row["operation"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        alias=row["alias"] or None,
        event_id=row["event_id"],
        message_id=row["message_id"],
        last_error=row["last_error"],
    )


async def list_deliveries(
    conn: Connection, *, bot_id: str | None, filters: dict[str, str], page: Page
) -> tuple[list[Delivery], str | None]:
    rows, next_token = await store.list_deliveries(
        conn, bot_id=bot_id, filters=filters, cursor=page.cursor, limit=page.size
    )
    return [to_delivery(row) for row in rows], next_token


class Attempt(Resource):
    number: int
    started_at: str
    duration_ms: int
    outcome: str
    status_code: int | None = None
    error: str | None = None


async def get_delivery(conn: Connection, delivery_id: str) -> tuple[Delivery, list[Attempt]]:
    row = await store.get_delivery(conn, delivery_id)
    if row is None:
        raise ResourceNotFound(f"Delivery {delivery_id} not found.")
    attempts = [
        Attempt(
            number=a["number"],
            started_at=a["started_at"],
            duration_ms=a["duration_ms"],
            outcome=a["outcome"],
            status_code=a["status_code"],
            error=a["error"],
        )
        for a in await store.list_attempts(conn, delivery_id)
    ]
    return to_delivery(row), attempts


async def retry(conn: Connection, delivery_id: str, *, now: str) -> Delivery:
    """Queues a failed delivery again, due now, with a fresh count of attempts; its event goes
    back to `pending`."""
    row = await store.get_delivery(conn, delivery_id)
    if row is None:
        raise ResourceNotFound(f"Delivery {delivery_id} not found.")
    if row["operation"] == WEBHOOK_RECEIVED:
        raise InvalidPayload(
            f"Delivery {delivery_id} is a relayed webhook call: its caller had the answer, and only it can call again."
        )
    if not await store.requeue(conn, id=delivery_id, now=now):
        raise InvalidPayload(f"Delivery {delivery_id} is {row['status']}; only a failed delivery can be retried.")
    if row["event_id"]:
        await event_store.set_outcome(conn, id=row["event_id"], status="pending", failure_reason=None, now=now)
    found = await store.get_delivery(conn, delivery_id)
    assert found is not None, "requeued just above"
    return to_delivery(found)
