"""Runs the Alembic migrations: by `parley migrate`, and at start-up of every server."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from parley.config import Settings

# Several servers may start at once against one PostgreSQL; this lock lets one migrate at a time.
_PG_MIGRATION_LOCK = 7_261_504_221


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
    command.upgrade(_config(connection), "head")


async def _upgrade_postgresql(url: str) -> None:
    engine = create_async_engine(
        url.replace("postgresql://", "postgresql+asyncpg://", 1).replace("postgres://", "postgresql+asyncpg://", 1)
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()


def run_migrations(settings: Settings) -> None:
    """Brings the database to the newest schema; a database already there is left as it is."""
    if settings.dialect == "postgresql":
        asyncio.run(_upgrade_postgresql(settings.database_url))
        return
    engine = create_engine(f"sqlite:///{settings.sqlite_path}")
    try:
        with engine.begin() as connection:
            _upgrade(connection)
    finally:
        engine.dispose()
