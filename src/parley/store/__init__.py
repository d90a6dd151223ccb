"""SQL only: the tables, the queries, and the two database dialects behind one interface."""

from parley.config import Settings
from parley.store.database import Database
from parley.store.postgres import PostgresDatabase
from parley.store.sqlite import SqliteDatabase


async def open_database(settings: Settings) -> Database:
    """The database the settings name, in its dialect; PostgreSQL's first connections are open."""
    if settings.dialect == "postgresql":
        return await PostgresDatabase.connect(
            settings.database_url,
            min_size=settings.pg_pool_min,
            max_size=settings.pg_pool_max,
            statement_timeout_ms=settings.pg_statement_timeout_ms,
            acquire_timeout_ms=settings.pg_acquire_timeout_ms,
        )
    return SqliteDatabase(settings.sqlite_path, synchronous=settings.sqlite_synchronous)
