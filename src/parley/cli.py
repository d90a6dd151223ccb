"""The `parley` command: serve, migrate."""

import asyncio
import sys

import click
import uvicorn

from parley.app import create_app
from parley.clock import SystemClock, iso_from_ms
from parley.config import Settings, SettingsError, load_settings
from parley.service.admin import ensure_admin_token
from parley.store.database import open_database
from parley.store.migrate import run_migrations


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings().with_overrides(**overrides)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None


async def _prepare_admin_token(settings: Settings) -> str | None:
    db = await open_database(settings)
    try:
        async with db.transaction() as conn:
            return await ensure_admin_token(conn, settings.admin_token, now=iso_from_ms(SystemClock().now_ms()))
    finally:
        await db.close()


@click.group()
def main() -> None:
    """Parley: a self-hosted chat runtime that speaks the Botpress Runtime API."""


@main.command()
def migrate() -> None:
    """Bring the database (PARLEY_DATABASE_URL) to the newest schema."""
    settings = _settings()
    run_migrations(settings)
    click.echo(f"Database is at the newest schema ({settings.dialect}).")


@main.command()
@click.option("--host", default=None, help="Interface to listen on (PARLEY_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (PARLEY_PORT, default 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Run the server, migrating the database first."""
    settings = _settings(host=host, port=port)
    run_migrations(settings)
    generated = asyncio.run(_prepare_admin_token(settings))
    if generated is not None:
        click.echo(
            "No PARLEY_ADMIN_TOKEN was set, so Parley created an admin token. It is stored hashed and will\n"
            f"not be shown again:\n\n    {generated}\n",
            err=True,
        )
    sys.stderr.flush()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
