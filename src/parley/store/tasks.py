"""Tasks (the legacy family that workflows replaced)."""

from typing import TypedDict

from parley.store.database import Connection
from parley.store.listing import fetch_filtered
from parley.store.sql import Cursor, Params, select_list


class TaskRow(TypedDict):
    id: str
    bot_id: str
    type: str
    title: str
    description: str
    data: str
    status: str
    parent_task_id: str | None
    conversation_id: str
    user_id: str | None
    tags: str
    timeout_at: str
    failure_reason: str | None
    created_at: str
    updated_at: str


COLUMNS = select_list(TaskRow)


async def insert_task(conn: Connection, row: TaskRow) -> None:
    await conn.execute(
        "INSERT INTO tasks (id, bot_id, type, title, description, data, status, parent_task_id, conversation_id,"
        " user_id, tags, timeout_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        row["id"],
        row["bot_id"],
        row["type"],
        row["title"],
        row["description"],
        row["data"],
        row["status"],
        row["parent_task_id"],
        row["conversation_id"],
        row["user_id"],
        row["tags"],
        row["timeout_at"],
        row["created_at"],
    )


async def get_task(conn: Connection, *, bot_id: str, id: str) -> TaskRow | None:
    return await conn.fetch_one(TaskRow, f"SELECT {COLUMNS} FROM tasks r WHERE r.id = $1 AND r.bot_id = $2", id, bot_id)


async def update_task(conn: Connection, row: TaskRow) -> None:
    await conn.execute(
        "UPDATE tasks SET title = $2, description = $3, data = $4, status = $5, tags = $6, timeout_at = $7,"
        " updated_at = $8 WHERE id = $1",
        row["id"],
        row["title"],
        row["description"],
        row["data"],
        row["status"],
        row["tags"],
        row["timeout_at"],
        row["updated_at"],
    )


async def delete_task(conn: Connection, *, id: str) -> None:
    await conn.execute("DELETE FROM tag_index WHERE resource_id = $1", id)
    await conn.execute("DELETE FROM states WHERE resource_id = $1 AND type = 'task'", id)
    await conn.execute("UPDATE conversations SET current_task_id = NULL WHERE current_task_id = $1", id)
    await conn.execute("DELETE FROM tasks WHERE id = $1", id)


async def list_tasks(
    conn: Connection,
    *,
    bot_id: str,
    integration: str | None,
    filters: dict[str, str],
    statuses: list[str],
    tags: dict[str, str],
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[TaskRow], str | None]:
    """Tasks newest first; with `integration`, only those of that installation's conversations."""
    params = Params(bot_id)
    sql = ""
    if integration is not None:
        sql += (
            " AND r.conversation_id IN (SELECT c.id FROM conversations c WHERE c.bot_id = $1"
            f" AND c.integration = {params(integration)})"
        )
    for column, value in filters.items():
        sql += f" AND r.{column} = {params(value)}"
    if statuses:
        sql += f" AND r.status IN ({params.many(statuses)})"
    return await fetch_filtered(
        conn, TaskRow, "tasks", COLUMNS, params, sql, kind="task", tags=tags, cursor=cursor, limit=limit
    )
