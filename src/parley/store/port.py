"""Copying a whole SQLite deployment into an empty PostgreSQL database."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Boolean, Table

from parley.store.database import Database
from parley.store.tables import metadata

BATCH = 1000


class TargetNotEmpty(Exception):
    """The target database already holds data; porting would mix two deployments."""


def _converter(table: Table) -> Callable[[Any], tuple[Any, ...]]:
    """Rows as the target wants them: SQLite keeps booleans as 0/1."""
    flags = [isinstance(column.type, Boolean) for column in table.columns]

    def convert(row: Any) -> tuple[Any, ...]:
        return tuple(
            bool(value) if flag and value is not None else value for flag, value in zip(flags, row, strict=True)
        )

    return convert


async def port(source: Database, target: Database, *, progress: Callable[[str, int], None]) -> dict[str, int]:
    """Copies every table from a SQLite `source` into `target` (both already at the newest
    schema) in one target transaction, and returns the row count of each, after checking that the
    target holds as many rows as the source."""
    tables = metadata.sorted_tables
    async with target.connection() as conn:
        for table in tables:
            if await conn.fetch_value(f"SELECT COUNT(*) FROM {table.name}"):
                raise TargetNotEmpty(f"The target already has rows in {table.name}: port only into an empty database.")
    counts: dict[str, int] = {}
    async with source.connection() as reader, target.transaction() as writer:
        for table in tables:
            columns = [column.name for column in table.columns]
            names = ", ".join(columns)
            placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            convert = _converter(table)
            copied, last = 0, -1
            while True:
                # Read in rowid order, a batch at a time: a large table never sits in memory whole.
                # Every table has its own columns: its rows are read as plain mappings of them.
                rows = await reader.fetch_all(
                    dict[str, Any],
                    f"SELECT rowid AS parley_rowid, {names} FROM {table.name}"
                    f" WHERE rowid > $1 ORDER BY rowid LIMIT {BATCH}",
                    last,
                )
                if not rows:
                    break
                last = rows[-1]["parley_rowid"]
                values = [convert(tuple(row[c] for c in columns)) for row in rows]
                await writer.execute_many(f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})", values)
                copied += len(values)
            counts[table.name] = copied
            progress(table.name, copied)
    async with target.connection() as conn:
        for name, expected in counts.items():
            found = await conn.fetch_value(f"SELECT COUNT(*) FROM {name}")
            if found != expected:
                raise RuntimeError(f"{name}: copied {expected} rows but the target holds {found}.")
    return counts
