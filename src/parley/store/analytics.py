"""Analytics: the usage counts bots and integrations report, one row each."""

from parley.store.database import Connection, Row
from parley.store.sql import Params


async def insert_report(
    conn: Connection, *, id: str, bot_id: str, integration: str, name: str, count: int, now: str
) -> None:
    await conn.execute(
        "INSERT INTO analytics (id, bot_id, integration, name, count, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        bot_id,
        integration,
        name,
        count,
        now,
    )


async def totals(conn: Connection, *, bot_id: str | None, name: str | None) -> list[Row]:
    """Reported counts summed per bot, reporter (`integration`) and name (`total`), with the first
    and last report's times (`first_at`, `last_at`); only the given bot and name when not None."""
    params = Params()
    conditions = [
        f"{column} = {params(value)}" for column, value in (("bot_id", bot_id), ("name", name)) if value is not None
    ]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return await conn.fetch_all(
        "SELECT bot_id, integration, name, SUM(count) AS total, MIN(created_at) AS first_at, MAX(created_at) AS last_at"
        f" FROM analytics{where} GROUP BY bot_id, integration, name ORDER BY bot_id, name, integration",
        *params.args,
    )
