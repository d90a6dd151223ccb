"""The `parley` command: serve, worker, migrate, deliveries, installations, db."""

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import msgspec
import uvicorn

from parley import background
from parley.app import create_app
from parley.chat.channel import ChatChannel
from parley.clock import SystemClock, iso_from_ms
from parley.config import Settings, SettingsError, load_settings
from parley.dispatch.worker import Dispatcher
from parley.errors import ApiError
from parley.metrics import METRICS, MULTIPROCESS_DIR
from parley.scheduler import Scheduler
from parley.service import bots as bot_rules
from parley.service import deliveries as delivery_rules
from parley.service.api_keys import ensure_admin_token
from parley.service.common import Page
from parley.store import backup, open_database
from parley.store.database import Connection
from parley.store.migrate import run_migrations
from parley.store.port import TargetNotEmpty, port

T = TypeVar("T")
# Seconds a stopping server waits for requests in flight before it cuts them (open streams).
STREAMS_CUT_AFTER_S = 5


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
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (PostgreSQL only: a SQLite deployment is one process).",
)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the server, migrating the database first."""
    settings = _settings(host=host, port=port)
    if workers > 1 and settings.dialect == "sqlite":
        raise click.UsageError("--workers needs PostgreSQL: a SQLite database is served by one process.")
    run_migrations(settings)
    generated = asyncio.run(_prepare_admin_token(settings))
    if generated is not None:
        click.echo(
            "No PARLEY_ADMIN_TOKEN was set, so Parley created an admin token. It is stored hashed and will\n"
            f"not be shown again:\n\n    {generated}\n",
            err=True,
        )
    sys.stderr.flush()
    if workers > 1:
        # Each process builds its own app from the same environment; they share nothing but the
        # database (cached definitions follow the bots' versions in it) and the metrics directory, so
        # any of them may answer any request, a scrape included.
        os.environ["PARLEY_HOST"], os.environ["PARLEY_PORT"] = settings.host, str(settings.port)
    with _shared_metrics(processes=workers):
        uvicorn.run(
            "parley.app:create_app" if workers > 1 else create_app(settings),
            factory=workers > 1,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            loop="uvloop",
            http="httptools",
            # Chat API streams last until their clients leave: at shutdown they are cut after this.
            timeout_graceful_shutdown=STREAMS_CUT_AFTER_S,
        )


@contextmanager
def _shared_metrics(*, processes: int) -> Iterator[None]:
    """With several processes, a directory where each keeps its metrics (prometheus-client's
    multiprocess mode), so that a scrape of any of them sums them all; removed when the run ends.
    One the operator set is used as it is: it may gather `parley worker` processes too."""
    if processes == 1 or os.environ.get(MULTIPROCESS_DIR):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="parley-metrics-") as directory:
        # Set before the processes start: prometheus-client reads it when it is imported.
        os.environ[MULTIPROCESS_DIR] = directory
        yield


async def _run_worker(settings: Settings) -> None:
    db = await open_database(settings)
    clock = SystemClock()
    loop = background.Loop()
    scheduler = Scheduler(db, clock, settings, loop)
    # Its chat channel holds no streams: it sends the bot's chat messages to the servers' streams.
    chat = ChatChannel(db, clock)
    dispatcher = Dispatcher(db, clock, settings, loop, chat.deliver)
    # Its attempts reach /metrics only through a PROMETHEUS_MULTIPROC_DIR shared with servers.
    loop.add(METRICS)
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    await scheduler.listen()
    await dispatcher.recover()
    await dispatcher.listen()
    loop.start()
    try:
        await stopping.wait()
    finally:
        await loop.stop()
        await dispatcher.stop()
        chat.stop()
        METRICS.flush()
        await db.close()


@main.command()
def worker() -> None:
    """Deliver the outbox and fire scheduled work, without serving HTTP.

    `parley serve` does this too; run workers on their own to scale delivery out (PostgreSQL).
    """
    settings = _settings()
    run_migrations(settings)
    asyncio.run(_run_worker(settings))


@main.group()
def deliveries() -> None:
    """See the calls Parley makes to bots and integrations, and retry failed ones."""


async def _with_connection(settings: Settings, action: Callable[[Connection], Awaitable[T]]) -> T:
    db = await open_database(settings)
    try:
        async with db.transaction() as conn:
            return await action(conn)
    finally:
        await db.close()


def _echo_json(value: Any) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


@deliveries.command("list")
@click.option("--bot", "bot_id", default=None, help="Only this bot's deliveries.")
@click.option("--status", default=None, type=click.Choice(["pending", "in_flight", "delivered", "failed", "canceled"]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
def list_deliveries(bot_id: str | None, status: str | None, limit: int) -> None:
    """Newest first, one line each: id, status, attempts, target, operation, last error."""
    filters = {"status": status} if status else {}
    found, _ = asyncio.run(
        _with_connection(
            _settings(),
            lambda conn: delivery_rules.list_deliveries(conn, bot_id=bot_id, filters=filters, page=Page(size=limit)),
        )
    )
    for d in found:
        target = d.target if d.alias is None else f"{d.target}:{d.alias}"
        click.echo(f"{d.id}  {d.status:<9} {d.attempts:>3}  {target:<24} {d.operation:<16} {d.last_error or ''}")


@deliveries.command("show")
@click.argument("delivery_id")
def show_delivery(delivery_id: str) -> None:
    """One delivery with every attempt, as JSON."""
    try:
        delivery, attempts = asyncio.run(
            _with_connection(_settings(), lambda conn: delivery_rules.get_delivery(conn, delivery_id))
        )
    except ApiError as error:
        raise click.ClickException(error.message) from None
    _echo_json({"delivery": delivery, "attempts": attempts})


@deliveries.command("retry")
@click.argument("delivery_id")
def retry_delivery(delivery_id: str) -> None:
    """Queue a failed delivery again, due now."""
    now = iso_from_ms(SystemClock().now_ms())
    try:
        delivery = asyncio.run(
            _with_connection(_settings(), lambda conn: delivery_rules.retry(conn, delivery_id, now=now))
        )
    except ApiError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{delivery.id} is pending again; a running server or worker will deliver it.")


@main.group()
def installations() -> None:
    """Manage the integrations installed in bots."""


@installations.command("rotate-webhook")
@click.argument("bot_id")
@click.argument("alias")
def rotate_webhook(bot_id: str, alias: str) -> None:
    """Give an installation a new webhook URL; the old one stops working at once, and the
    integration is sent `register` with the new one."""
    settings = _settings()
    now = iso_from_ms(SystemClock().now_ms())
    try:
        installation = asyncio.run(
            _with_connection(settings, lambda conn: bot_rules.rotate_webhook(conn, bot_id, alias, now=now))
        )
    except ApiError as error:
        raise click.ClickException(error.message) from None
    click.echo(bot_rules.webhook_url(settings.base_url, installation["webhook_id"], installation["integration_id"]))


@main.group()
def db() -> None:
    """Database operations."""


def _sqlite_path(url: str | None, what: str) -> str:
    settings = _settings(database_url=url)
    if settings.dialect != "sqlite":
        raise click.UsageError(f"{what} is for SQLite databases; for PostgreSQL use pg_dump and pg_restore.")
    return settings.sqlite_path


def _progress(copied: int, total: int) -> None:
    click.echo(f"\r{copied:>10} of {total} pages ({copied * 100 // max(total, 1)} %)", nl=copied >= total)


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--database-url", help="The SQLite database to copy (default: PARLEY_DATABASE_URL).")
def backup_database(file: str, database_url: str | None) -> None:
    """Copy a SQLite database into FILE, consistently, while servers keep using it."""
    path = _sqlite_path(database_url, "Backup")
    if not os.path.exists(path):
        raise click.UsageError(f"No SQLite database at {path}.")
    try:
        backup.backup(path, file, _progress)
    except FileExistsError as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"Backed up {path} into {file}.")


@db.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--database-url", help="The SQLite database to replace (default: PARLEY_DATABASE_URL).")
def restore_database(file: str, database_url: str | None) -> None:
    """Replace a SQLite database with the backup FILE; refused while a server uses the database."""
    path = _sqlite_path(database_url, "Restore")
    try:
        backup.restore(file, path, _progress)
    except (backup.DatabaseInUse, backup.NotADatabase) as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"Restored {file} into {path}.")


@db.command("port")
@click.option("--from", "source_url", required=True, help="The SQLite deployment: sqlite:///path/to/parley.db")
@click.option("--to", "target_url", required=True, help="An empty PostgreSQL database: postgresql://...")
def port_database(source_url: str, target_url: str) -> None:
    """Copy a SQLite deployment into an empty PostgreSQL database: every bot, key, resource and
    pending delivery. Refuses a target that already holds data; checks the counts afterwards."""
    source_settings, target_settings = _settings(database_url=source_url), _settings(database_url=target_url)
    if source_settings.dialect != "sqlite" or target_settings.dialect != "postgresql":
        raise click.UsageError("Port goes from a sqlite:/// URL to a postgresql:// URL.")
    if not os.path.exists(source_settings.sqlite_path):
        raise click.UsageError(f"No SQLite database at {source_settings.sqlite_path}.")
    run_migrations(source_settings)
    run_migrations(target_settings)

    async def run() -> dict[str, int]:
        source, target = await open_database(source_settings), await open_database(target_settings)
        try:
            return await port(source, target, progress=lambda table, n: click.echo(f"{table:<20} {n:>10} rows"))
        finally:
            await source.close()
            await target.close()

    try:
        counts = asyncio.run(run())
    except TargetNotEmpty as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"Copied {sum(counts.values())} rows in {len(counts)} tables; counts verified.")
