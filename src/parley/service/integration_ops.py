"""Operations an installed integration performs on itself (configureIntegration), and the usage
counters bots and integrations report (trackAnalytics)."""

from typing import Any

from msgspec import UNSET

from parley import ids
from parley.clock import iso_from_ms
from parley.errors import Forbidden
from parley.service import outbox
from parley.service.identity import Identity
from parley.service.models import ConfigureIntegration, TrackAnalytics, encode_json
from parley.store import analytics, timers
from parley.store import bots as bot_store
from parley.store.database import Connection

REGISTER_TIMER = "register"
HOUR_MS = 3600 * 1000
REGISTER_PERIODS_MS = {
    "hourly": HOUR_MS,
    "daily": 24 * HOUR_MS,
    "weekly": 7 * 24 * HOUR_MS,
    "bi-weekly": 14 * 24 * HOUR_MS,
    "monthly": 30 * 24 * HOUR_MS,
    "bi-monthly": 61 * 24 * HOUR_MS,
    "quarterly": 91 * 24 * HOUR_MS,
    "yearly": 365 * 24 * HOUR_MS,
}


def register_timer_id(bot_id: str, alias: str) -> str:
    return f"{bot_id}/{alias}"


async def configure(conn: Connection, identity: Identity, body: ConfigureIntegration, *, now_ms: int) -> None:
    """Stores the integration's identifier and sandbox identifiers on its installation, and
    schedules the periodic `register` call it asks for."""
    installation = identity.installation
    if installation is None:
        raise Forbidden("Only an integration can configure its installation.")
    changes: dict[str, Any] = {}
    if body.identifier is not UNSET:
        changes["identifier"] = body.identifier
    if body.sandbox_identifiers is not UNSET:
        changes["sandbox_identifiers"] = (
            None if body.sandbox_identifiers is None else encode_json(body.sandbox_identifiers)
        )
    if body.schedule_register_call is not None:
        changes["register_schedule"] = body.schedule_register_call
        timer_id = register_timer_id(identity.bot_id, installation.alias)
        await timers.take_timer(conn, kind=REGISTER_TIMER, resource_id=timer_id)
        due = now_ms + REGISTER_PERIODS_MS[body.schedule_register_call]
        await timers.add_timer(
            conn, kind=REGISTER_TIMER, resource_id=timer_id, bot_id=identity.bot_id, due_at=iso_from_ms(due)
        )
    if changes:
        await bot_store.configure_installation(conn, bot_id=identity.bot_id, alias=installation.alias, changes=changes)


async def register_again(conn: Connection, bot_id: str, alias: str, *, now_ms: int) -> None:
    """The periodic `register` an integration asked for has come due: queue it and the next one."""
    installation = await bot_store.get_installation(conn, bot_id=bot_id, alias=alias)
    schedule = None if installation is None else installation["register_schedule"]
    if installation is None or not installation["enabled"] or schedule not in REGISTER_PERIODS_MS:
        return
    await outbox.lifecycle(
        conn, bot_id=bot_id, operation="register", installation=installation, now=iso_from_ms(now_ms)
    )
    due = now_ms + REGISTER_PERIODS_MS[schedule]
    await timers.add_timer(
        conn,
        kind=REGISTER_TIMER,
        resource_id=register_timer_id(bot_id, alias),
        bot_id=bot_id,
        due_at=iso_from_ms(due),
    )


async def track(conn: Connection, identity: Identity, body: TrackAnalytics, *, now: str) -> None:
    await analytics.insert_report(
        conn,
        id=ids.new_id(ids.ANALYTICS),
        bot_id=identity.bot_id,
        integration=identity.owner,
        name=body.name,
        count=body.count,
        now=now,
    )


async def totals(conn: Connection, *, bot_id: str | None, name: str | None) -> list[dict[str, Any]]:
    """Reported counts summed per bot, reporter and name, for operators."""
    return [
        {
            "botId": row["bot_id"],
            "integration": row["integration"] or None,
            "name": row["name"],
            "count": int(row["total"]),
            "firstAt": row["first_at"],
            "lastAt": row["last_at"],
        }
        for row in await analytics.totals(conn, bot_id=bot_id, name=name)
    ]
