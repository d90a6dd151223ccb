"""Workflows of a bot."""

from collections.abc import Sequence
from typing import TypedDict

from parley.store.database import Connection
from parley.store.listing import fetch_filtered
from parley.store.lookup import Lookup
from parley.store.sql import Cursor, Params, select_list


class WorkflowRow(TypedDict):
    id: str
    bot_id: str
    name: str
    status: str
    input: str
    output: str
    parent_workflow_id: str | None
    conversation_id: str | None
    user_id: str | None
    tags: str
    timeout_at: str
    completed_at: str | None
    failure_reason: str | None
    created_at: str
    updated_at: str


COLUMNS = select_list(WorkflowRow)


def lookup(bot_id: str, *, name: str, statuses: tuple[str, ...] | None) -> Lookup[WorkflowRow]:
    """Where a get-or-create looks for a workflow: the bot's workflows named `name`, only those
    in one of `statuses` when given."""
    scope_in = {} if statuses is None else {"status": statuses}
    return Lookup(WorkflowRow, "workflows", COLUMNS, bot_id, "workflow", {"name": name}, scope_in)


async def insert_workflow(
    conn: Connection,
    *,
    id: str,
    bot_id: str,
    name: str,
    status: str,
    input: str,
    parent_workflow_id: str | None,
    conversation_id: str | None,
    user_id: str | None,
    tags: str,
    timeout_at: str,
    now: str,
) -> None:
    await conn.execute(
        "INSERT INTO workflows (id, bot_id, name, status, input, output, parent_workflow_id, conversation_id,"
        " user_id, tags, timeout_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, '{}', $6, $7, $8, $9, $10, $11, $11)",
        id,
        bot_id,
        name,
        status,
        input,
        parent_workflow_id,
        conversation_id,
        user_id,
        tags,
        timeout_at,
        now,
    )


async def get_workflow(conn: Connection, *, bot_id: str, id: str) -> WorkflowRow | None:
    return await conn.fetch_one(
        WorkflowRow, f"SELECT {COLUMNS} FROM workflows r WHERE r.id = $1 AND r.bot_id = $2", id, bot_id
    )


async def update_workflow(
    conn: Connection,
    *,
    id: str,
    expected_status: str,
    status: str,
    output: str,
    user_id: str | None,
    tags: str,
    timeout_at: str,
    completed_at: str | None,
    failure_reason: str | None,
    now: str,
) -> int:
    """Writes a workflow that is still in `expected_status`; 0 when its status changed meanwhile."""
    return await conn.execute(
        "UPDATE workflows SET status = $2, output = $3, user_id = $4, tags = $5, timeout_at = $6,"
        " completed_at = $7, failure_reason = $8, updated_at = $9 WHERE id = $1 AND status = $10",
        id,
        status,
        output,
        user_id,
        tags,
        timeout_at,
        completed_at,
        failure_reason,
        now,
        expected_status,
    )


async def set_status(conn: Connection, *, id: str, status: str, expected: Sequence[str], now: str) -> int:
    """Moves a workflow to `status` if it is in one of `expected`; 0 when it was not."""
    params = Params(id, status, now)
    return await conn.execute(
        f"UPDATE workflows SET status = $2, updated_at = $3 WHERE id = $1 AND status IN ({params.many(expected)})",
        *params.args,
    )


async def delete_workflow(conn: Connection, *, id: str) -> None:
    """Removes the workflow with its tags and states."""
    await conn.execute("DELETE FROM tag_index WHERE resource_id = $1", id)
    await conn.execute("DELETE FROM states WHERE resource_id = $1 AND type = 'workflow'", id)
    await conn.execute("DELETE FROM workflows WHERE id = $1", id)


async def list_workflows(
    conn: Connection,
    *,
    bot_id: str,
    conversation_id: str | None,
    user_id: str | None,
    parent_workflow_id: str | None,
    statuses: Sequence[str],
    name: str | None,
    tags: dict[str, str],
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[WorkflowRow], str | None]:
    """Workflows newest first."""
    params = Params(bot_id)
    sql = ""
    for column, value in (
        ("conversation_id", conversation_id),
        ("user_id", user_id),
        ("parent_workflow_id", parent_workflow_id),
        ("name", name),
    ):
        if value is not None:
            sql += f" AND r.{column} = {params(value)}"
    if statuses:
        sql += f" AND r.status IN ({params.many(statuses)})"
    return await fetch_filtered(
        conn, WorkflowRow, "workflows", COLUMNS, params, sql, kind="workflow", tags=tags, cursor=cursor, limit=limit
    )
