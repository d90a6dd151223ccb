"""Analytics: the usage counts bots and integrations report, one row each."""

from decimal import Decimal
from typing import TypedDict

from parley.store.database import Connection
from parley.store.sql import Params, select_list


class TotalRow(TypedDict):
    bot_id: str
    # The alias of the installation that reported; empty for the bot.
    integration: str
    name: str
    # Summed as NUMERIC on PostgreSQL and as a float on SQLite (`count * 1.0`), whose integer SUM
    # fails past 2^63 (counts reported before they were bounded may be that large).
    total: int | float | Decimal
    first_at: str
    last_at: str


_TOTAL_COLUMNS = select_list(
    TotalRow, alias="", total="SUM(count * 1.0)", first_at="MIN(created_at)", last_at="MAX(created_at)"
)


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


async def totals(conn: Connection, *, bot_id: str | None, name: str | None) -> list[TotalRow]:
    """Reported counts summed per bot, reporter and name, with the first and last report's times;
    only the given bot and name when not None."""
    params = Params()
    conditions = [
        f"{column} = {params(value)}" for column, value in (("bot_id", bot_id), ("name", name)) if value is not None
    ]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return await conn.fetch_all(
        TotalRow,
        f"SELECT {_TOTAL_COLUMNS} FROM analytics{where}"
        " GROUP BY bot_id, integration, name ORDER BY bot_id, name, integration",
        *params.args,
    )
