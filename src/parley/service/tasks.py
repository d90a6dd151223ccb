"""Tasks: the legacy unit of work of a conversation, kept for older callers.

No definition declares task tags, so any key is accepted (values are limited as everywhere).
"""

import msgspec

from parley import ids
from parley.clock import iso_from_ms, parse_iso
from parley.errors import InvalidPayload, ReferenceNotFound, ResourceNotFound
from parley.service import tags as tag_rules
from parley.service.common import Page
from parley.service.conversations import get_row as get_conversation_row
from parley.service.identity import Identity
from parley.service.models import CreateTask, Task, UpdateTask, decode_tags, encode_json
from parley.service.users import get_row as get_user_row
from parley.store import tasks as store
from parley.store.database import Connection
from parley.store.tags import write_tags
from parley.store.tasks import TaskRow

KIND = "task"
DEFAULT_TIMEOUT_MS = 48 * 3600 * 1000
STATUSES = ("pending", "in_progress", "failed", "completed", "blocked", "paused", "timeout", "cancelled")


def to_task(row: TaskRow) -> Task:
    return Task(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        type=row["type"],
        data=msgspec.Raw(row["data"].encode()),
        status=row["status"],
        conversation_id=row["conversation_id"],
        timeout_at=row["timeout_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        tags=decode_tags(row["tags"]),
        parent_task_id=row["parent_task_id"],
        user_id=row["user_id"],
        failure_reason=row["failure_reason"],
    )


def _timeout(value: str | None, default_ms: int) -> str:
    if value is None:
        return iso_from_ms(default_ms)
    try:
        return iso_from_ms(parse_iso(value))
    except ValueError:
        raise InvalidPayload(f"`timeoutAt` is not an ISO 8601 date-time: {value!r}.") from None


async def visible_task(conn: Connection, identity: Identity, task_id: str) -> TaskRow | None:
    """The task if the caller may see it: the one rule for reading and for naming a task, which
    is that the caller sees the task's conversation."""
    row = await store.get_task(conn, bot_id=identity.bot_id, id=task_id)
    if row is None or await get_conversation_row(conn, identity, row["conversation_id"]) is None:
        return None
    return row


async def _require(conn: Connection, identity: Identity, task_id: str) -> TaskRow:
    row = await visible_task(conn, identity, task_id)
    if row is None:
        raise ResourceNotFound(f"Task {task_id} not found.")
    return row


async def create_task(conn: Connection, identity: Identity, body: CreateTask, *, now_ms: int) -> Task:
    if await get_conversation_row(conn, identity, body.conversation_id) is None:
        raise ReferenceNotFound(f"Conversation {body.conversation_id} not found.")
    if body.user_id is not None and await get_user_row(conn, identity, body.user_id) is None:
        raise ReferenceNotFound(f"User {body.user_id} not found.")
    if body.parent_task_id is not None and await visible_task(conn, identity, body.parent_task_id) is None:
        raise ReferenceNotFound(f"Task {body.parent_task_id} not found.")
    now = iso_from_ms(now_ms)
    tags = tag_rules.merge({}, body.tags or {})
    row: TaskRow = {
        "id": ids.new_id(ids.TASK),
        "bot_id": identity.bot_id,
        "type": body.type,
        "title": body.title or "",
        "description": body.description or "",
        "data": encode_json(body.data or {}),
        "status": "pending",
        "parent_task_id": body.parent_task_id,
        "conversation_id": body.conversation_id,
        "user_id": body.user_id,
        "tags": encode_json(tags),
        "timeout_at": _timeout(body.timeout_at, now_ms + DEFAULT_TIMEOUT_MS),
        "failure_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    await store.insert_task(conn, row)
    await write_tags(conn, bot_id=identity.bot_id, kind=KIND, resource_id=row["id"], tags=tags, replace=False)
    return to_task(row)


async def get_task(conn: Connection, identity: Identity, task_id: str) -> Task:
    return to_task(await _require(conn, identity, task_id))


async def update_task(conn: Connection, identity: Identity, task_id: str, body: UpdateTask, *, now_ms: int) -> Task:
    found = await _require(conn, identity, task_id)
    tags = tag_rules.merge(decode_tags(found["tags"]), body.tags or {})
    row: TaskRow = {
        **found,
        "title": found["title"] if body.title is None else body.title,
        "description": found["description"] if body.description is None else body.description,
        "data": found["data"] if body.data is None else encode_json(body.data),
        "status": body.status or found["status"],
        "tags": encode_json(tags),
        "timeout_at": found["timeout_at"] if body.timeout_at is None else _timeout(body.timeout_at, now_ms),
        "updated_at": iso_from_ms(now_ms),
    }
    await store.update_task(conn, row)
    await write_tags(conn, bot_id=identity.bot_id, kind=KIND, resource_id=task_id, tags=tags, replace=True)
    return to_task(row)


async def delete_task(conn: Connection, identity: Identity, task_id: str) -> None:
    await _require(conn, identity, task_id)
    await store.delete_task(conn, id=task_id)


async def list_tasks(
    conn: Connection,
    identity: Identity,
    *,
    filters: dict[str, str],
    statuses: list[str],
    tags: dict[str, str],
    page: Page,
) -> tuple[list[Task], str | None]:
    unknown = [status for status in statuses if status not in STATUSES]
    if unknown:
        raise InvalidPayload(f"Unknown task status {unknown[0]!r}; use one of {', '.join(STATUSES)}.")
    rows, next_token = await store.list_tasks(
        conn,
        bot_id=identity.bot_id,
        integration=identity.alias,
        filters=filters,
        statuses=statuses,
        tags=tags,
        cursor=page.cursor,
        limit=page.size,
    )
    return [to_task(row) for row in rows], next_token
