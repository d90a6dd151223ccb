"""Workflows: the bot's long-running jobs, their status life cycle, their timeout, and the
`workflow_update` events that start and time them out."""

from typing import Any

import msgspec

from parley import ids
from parley.clock import iso_from_ms, parse_iso
from parley.errors import Forbidden, InvalidPayload, ReferenceNotFound, ResourceNotFound
from parley.service import events, schedule
from parley.service import tags as tag_rules
from parley.service.common import Page
from parley.service.conversations import get_row as get_conversation_row
from parley.service.conversations import to_conversation
from parley.service.definitions import BotDefinition
from parley.service.get_or_create import get_or_create, lookup_key
from parley.service.identity import Identity
from parley.service.models import (
    CreateWorkflow,
    GetOrCreateWorkflow,
    UpdateWorkflow,
    Workflow,
    decode_tags,
    encode_json,
)
from parley.service.users import get_row as get_user_row
from parley.service.users import to_user
from parley.store import conversations as conversation_store
from parley.store import events as event_store
from parley.store import timers
from parley.store import users as user_store
from parley.store import workflows as store
from parley.store.database import Connection
from parley.store.tags import write_tags
from parley.store.workflows import WorkflowRow

TIMER = "workflow"
DEFAULT_TIMEOUT_MS = 48 * 3600 * 1000
ACTIVE = ("pending", "in_progress", "listening", "paused")
FINISHED = ("completed", "failed", "cancelled", "timedout")
STATUSES = ACTIVE + FINISHED
STATUS_GROUPS = {"active": ACTIVE, "finished": FINISHED}
# Statuses a caller sets to end a workflow; `timedout` is the platform's.
COMPLETING = ("completed", "failed", "cancelled")


def _bot_only(identity: Identity) -> None:
    if identity.installation is not None:
        raise Forbidden("Workflows belong to the bot: an integration cannot use the workflow operations.")


def to_workflow(fields: WorkflowRow) -> Workflow:
    return Workflow(
        id=fields["id"],
        name=fields["name"],
        status=fields["status"],
        input=msgspec.Raw(fields["input"].encode()),
        output=msgspec.Raw(fields["output"].encode()),
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
        timeout_at=fields["timeout_at"],
        tags=decode_tags(fields["tags"]),
        parent_workflow_id=fields["parent_workflow_id"],
        conversation_id=fields["conversation_id"],
        user_id=fields["user_id"],
        completed_at=fields["completed_at"],
        failure_reason=fields["failure_reason"],
    )


async def _require(conn: Connection, identity: Identity, workflow_id: str) -> WorkflowRow:
    _bot_only(identity)
    row = await store.get_workflow(conn, bot_id=identity.bot_id, id=workflow_id)
    if row is None:
        raise ResourceNotFound(f"Workflow {workflow_id} not found.")
    return row


def _timeout_at(value: str, now_ms: int) -> str:
    """A `timeoutAt` in stored form. One that has passed is fine: the workflow times out at once."""
    try:
        at = parse_iso(value)
    except ValueError:
        raise InvalidPayload(f"`timeoutAt` is not an ISO 8601 date-time: {value!r}.") from None
    if at - now_ms > schedule.MAX_DELAY_MS:
        raise InvalidPayload("`timeoutAt` may be at most ten years ahead.")
    return iso_from_ms(at)


async def _check_event(conn: Connection, identity: Identity, status: str | None, event_id: str | None) -> None:
    """`in_progress` names the event the bot is handling; any `eventId` must be one of the bot's."""
    if status == "in_progress" and event_id is None:
        raise InvalidPayload("`eventId` is required when the status is `in_progress`.")
    if event_id is not None and await event_store.get_event(conn, bot_id=identity.bot_id, id=event_id) is None:
        raise ReferenceNotFound(f"Event {event_id} not found.")


async def _check_links(
    conn: Connection,
    identity: Identity,
    *,
    conversation_id: str | None = None,
    user_id: str | None = None,
    parent_workflow_id: str | None = None,
) -> None:
    if conversation_id is not None and await get_conversation_row(conn, identity, conversation_id) is None:
        raise ReferenceNotFound(f"Conversation {conversation_id} not found.")
    if user_id is not None and await get_user_row(conn, identity, user_id) is None:
        raise ReferenceNotFound(f"User {user_id} not found.")
    if (
        parent_workflow_id is not None
        and await store.get_workflow(conn, bot_id=identity.bot_id, id=parent_workflow_id) is None
    ):
        raise ReferenceNotFound(f"Workflow {parent_workflow_id} not found.")


async def _validated(conn: Connection, identity: Identity, body: CreateWorkflow, now_ms: int) -> str:
    """Checks a new workflow's references; returns its timeout."""
    _bot_only(identity)
    if body.timeout_at is None:
        timeout_at = iso_from_ms(now_ms + DEFAULT_TIMEOUT_MS)
    else:
        timeout_at = _timeout_at(body.timeout_at, now_ms)
    await _check_event(conn, identity, body.status, body.event_id)
    await _check_links(
        conn,
        identity,
        conversation_id=body.conversation_id,
        user_id=body.user_id,
        parent_workflow_id=body.parent_workflow_id,
    )
    return timeout_at


async def _notify(conn: Connection, bot: BotDefinition, fields: WorkflowRow, update_type: str, *, now: str) -> None:
    """Records a `workflow_update` event for the bot, with the workflow, its conversation and its
    user as the bot sees them."""
    view = Identity(bot)
    payload: dict[str, Any] = {"type": update_type, "workflow": to_workflow(fields)}
    conversation_id, user_id = fields["conversation_id"], fields["user_id"]
    if conversation_id is not None:
        conversation = await conversation_store.get_conversation(conn, bot_id=bot.id, id=conversation_id)
        if conversation is not None:
            payload["conversation"] = to_conversation(view, conversation)
    if user_id is not None:
        user = await user_store.get_user(conn, bot_id=bot.id, id=user_id)
        if user is not None:
            payload["user"] = to_user(view, user)
    await events.record(
        conn,
        bot,
        type="workflow_update",
        payload=encode_json(payload),
        conversation_id=conversation_id,
        user_id=user_id,
        workflow_id=fields["id"],
        now=now,
    )


async def _insert(
    conn: Connection, identity: Identity, body: CreateWorkflow, tags: dict[str, str], timeout_at: str, now: str
) -> Workflow:
    """Stores a new workflow with its timer; a `pending` one is announced to the bot."""
    workflow_id = ids.new_id(ids.WORKFLOW)
    fields: WorkflowRow = {
        "id": workflow_id,
        "bot_id": identity.bot_id,
        "name": body.name,
        "status": body.status,
        "input": encode_json(body.input or {}),
        "output": "{}",
        "parent_workflow_id": body.parent_workflow_id,
        "conversation_id": body.conversation_id,
        "user_id": body.user_id,
        "tags": encode_json(tags),
        "timeout_at": timeout_at,
        "completed_at": None,
        "failure_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    await store.insert_workflow(
        conn,
        id=workflow_id,
        bot_id=identity.bot_id,
        name=body.name,
        status=body.status,
        input=fields["input"],
        parent_workflow_id=body.parent_workflow_id,
        conversation_id=body.conversation_id,
        user_id=body.user_id,
        tags=fields["tags"],
        timeout_at=timeout_at,
        now=now,
    )
    await write_tags(conn, bot_id=identity.bot_id, kind="workflow", resource_id=workflow_id, tags=tags, replace=False)
    await timers.add_timer(conn, kind=TIMER, resource_id=workflow_id, bot_id=identity.bot_id, due_at=timeout_at)
    if body.status == "pending":
        await _notify(conn, identity.bot, fields, "workflow_started", now=now)
    return to_workflow(fields)


async def create_workflow(conn: Connection, identity: Identity, body: CreateWorkflow, *, now_ms: int) -> Workflow:
    timeout_at = await _validated(conn, identity, body, now_ms)
    tags = tag_rules.merge({}, body.tags or {})
    return await _insert(conn, identity, body, tags, timeout_at, iso_from_ms(now_ms))


async def get_or_create_workflow(
    conn: Connection, identity: Identity, body: GetOrCreateWorkflow, *, now_ms: int
) -> tuple[Workflow, bool]:
    """Runs its own transaction: see parley.service.get_or_create. The key is the name, the tags
    and, with `discriminateByStatusGroup`, the status group."""
    timeout_at = await _validated(conn, identity, body, now_ms)
    now = iso_from_ms(now_ms)
    changes = body.tags or {}
    key = lookup_key(changes, body.discriminate_by_tags, namespaced=False)

    def unchanged(row: WorkflowRow) -> Workflow | None:
        return to_workflow(row) if tag_rules.unchanged_by(row, changes) else None

    async def update(row: WorkflowRow) -> Workflow:
        merged = await tag_rules.apply(conn, identity, "workflow", row, changes, now=now)
        if merged is None:
            return to_workflow(row)
        return to_workflow({**row, "tags": encode_json(merged), "updated_at": now})

    async def create() -> Workflow:
        return await _insert(conn, identity, body, tag_rules.merge({}, changes), timeout_at, now)

    group = body.discriminate_by_status_group
    lookup = store.lookup(identity.bot_id, name=body.name, statuses=None if group is None else STATUS_GROUPS[group])
    return await get_or_create(conn, key, lookup, unchanged=unchanged, update=update, create=create)


async def get_workflow(conn: Connection, identity: Identity, workflow_id: str) -> Workflow:
    return to_workflow(await _require(conn, identity, workflow_id))


async def update_workflow(
    conn: Connection, identity: Identity, workflow_id: str, body: UpdateWorkflow, *, now_ms: int
) -> Workflow:
    """Applies the given fields. A finished workflow keeps its status; ending one stops its timer,
    a new `timeoutAt` moves it."""
    row = await _require(conn, identity, workflow_id)
    now = iso_from_ms(now_ms)
    current = row["status"]
    status = current if body.status is None else body.status
    if status != current and current in FINISHED:
        raise InvalidPayload(f"Workflow {workflow_id} is {current}: a finished workflow cannot change its status.")
    await _check_event(conn, identity, body.status, body.event_id)
    await _check_links(conn, identity, user_id=body.user_id)
    timeout_at = row["timeout_at"] if body.timeout_at is None else _timeout_at(body.timeout_at, now_ms)
    stored_tags = decode_tags(row["tags"])
    tags = stored_tags if body.tags is None else tag_rules.merge(stored_tags, body.tags)
    fields: WorkflowRow = {
        **row,
        "status": status,
        "output": row["output"] if body.output is None else encode_json(body.output),
        "user_id": body.user_id or row["user_id"],
        "tags": encode_json(tags),
        "timeout_at": timeout_at,
        "completed_at": now if status != current and status in COMPLETING else row["completed_at"],
        "failure_reason": body.failure_reason if body.failure_reason is not None else row["failure_reason"],
        "updated_at": now,
    }
    if current in ACTIVE and (status in FINISHED or timeout_at != row["timeout_at"]):
        # The timer before the workflow, in the scheduler's order, so that an update racing with
        # the timeout waits for it instead of deadlocking with it.
        await timers.take_timer(conn, kind=TIMER, resource_id=workflow_id)
        if status in ACTIVE:
            await timers.add_timer(conn, kind=TIMER, resource_id=workflow_id, bot_id=identity.bot_id, due_at=timeout_at)
    written = await store.update_workflow(
        conn,
        id=workflow_id,
        expected_status=current,
        status=status,
        output=fields["output"],
        user_id=fields["user_id"],
        tags=fields["tags"],
        timeout_at=timeout_at,
        completed_at=fields["completed_at"],
        failure_reason=fields["failure_reason"],
        now=now,
    )
    if not written:
        # The workflow changed status since it was read (it timed out meanwhile): decide again.
        return await update_workflow(conn, identity, workflow_id, body, now_ms=now_ms)
    if tags != stored_tags:
        await write_tags(
            conn, bot_id=identity.bot_id, kind="workflow", resource_id=workflow_id, tags=tags, replace=True
        )
    return to_workflow(fields)


async def delete_workflow(conn: Connection, identity: Identity, workflow_id: str) -> None:
    await _require(conn, identity, workflow_id)
    await timers.take_timer(conn, kind=TIMER, resource_id=workflow_id)
    await store.delete_workflow(conn, id=workflow_id)


async def list_workflows(
    conn: Connection,
    identity: Identity,
    *,
    conversation_id: str | None,
    user_id: str | None,
    parent_workflow_id: str | None,
    statuses: list[str],
    name: str | None,
    tags: dict[str, str],
    page: Page,
) -> tuple[list[Workflow], str | None]:
    _bot_only(identity)
    for status in statuses:
        if status not in STATUSES:
            raise InvalidPayload(f"Query parameter `statuses` takes {', '.join(STATUSES)}; got {status!r}.")
    rows, next_token = await store.list_workflows(
        conn,
        bot_id=identity.bot_id,
        conversation_id=conversation_id,
        user_id=user_id,
        parent_workflow_id=parent_workflow_id,
        statuses=statuses,
        name=name,
        tags=tags,
        cursor=page.cursor,
        limit=page.size,
    )
    return [to_workflow(row) for row in rows], next_token


async def time_out(conn: Connection, bot: BotDefinition, workflow_id: str, *, now: str) -> None:
    """A workflow's `timeoutAt` has passed: one still active becomes `timedout`, and the bot is told."""
    row = await store.get_workflow(conn, bot_id=bot.id, id=workflow_id)
    if row is None or not await store.set_status(conn, id=workflow_id, status="timedout", expected=ACTIVE, now=now):
        return
    await _notify(conn, bot, {**row, "status": "timedout", "updated_at": now}, "workflow_timedout", now=now)
