"""What operators see of the outbox."""

from parley.service.common import Page
from parley.service.models import Resource
from parley.store import deliveries as store
from parley.store.database import Connection, Row


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


def to_delivery(row: Row) -> Delivery:
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
