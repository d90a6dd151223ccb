"""The scheduler: fires due timers (scheduled messages and events, workflow timeouts) and expires
idle states.

It runs in every server process. All of its work is in the database, so a restart loses nothing:
what was due while the server was down is done as soon as it is back. Each timer and each
expiry is taken inside a transaction by exactly one process, so work is done once even when
several processes share one PostgreSQL database.
"""

from parley import background
from parley.clock import Clock, iso_from_ms, parse_iso
from parley.service import events, integration_ops, messages, states, workflows
from parley.service.definitions import DefinitionCache
from parley.store import events as event_store
from parley.store import states as state_store
from parley.store import timers
from parley.store.database import Database

# Longest sleep between two looks at the database: bounds how late work scheduled by another
# process can be noticed.
POLL_SECONDS = 0.25
BATCH = 100


class Scheduler:
    """Runs from the process's background loop, which it joins when made."""

    def __init__(self, db: Database, clock: Clock, loop: background.Loop) -> None:
        self._db = db
        self._clock = clock
        self._cache = DefinitionCache()
        self._loop = loop
        loop.add(self)

    def poke(self) -> None:
        """Look again now: the clock moved, or work was scheduled."""
        self._loop.poke(self)

    async def run(self) -> float:
        next_due = await self.run_due()
        if next_due is None:
            return POLL_SECONDS
        return min(max((next_due - self._clock.now_ms()) / 1000, 0.0), POLL_SECONDS)

    async def run_due(self) -> int | None:
        """Does everything due now; returns when the next work is due (ms), if anything is pending."""
        now_ms = self._clock.now_ms()
        now = iso_from_ms(now_ms)
        async with self._db.connection() as conn:
            due = await timers.due(conn, now=now, limit=BATCH)
            expired = await state_store.expired(conn, now=now, limit=BATCH)
        for timer in due:
            async with self._db.transaction() as conn:
                if not await timers.take_timer(conn, kind=timer["kind"], resource_id=timer["resource_id"]):
                    continue
                bot = await self._cache.current(conn, timer["bot_id"])
                if bot is None:
                    continue
                if timer["kind"] == messages.TIMER:
                    await messages.release(conn, bot, timer["resource_id"], now=now)
                elif timer["kind"] == events.TIMER:
                    event = await event_store.get_event(conn, bot_id=bot.id, id=timer["resource_id"])
                    if event is not None:
                        await events.release(conn, bot, event, now=now)
                elif timer["kind"] == workflows.TIMER:
                    await workflows.time_out(conn, bot, timer["resource_id"], now=now)
                elif timer["kind"] == integration_ops.REGISTER_TIMER:
                    alias = timer["resource_id"].partition("/")[2]
                    await integration_ops.register_again(conn, bot.id, alias, now_ms=now_ms)
        for state in expired:
            async with self._db.transaction() as conn:
                bot = await self._cache.current(conn, state["bot_id"])
                if bot is None:
                    await state_store.delete_state(conn, id=state["id"])
                else:
                    await states.expire(conn, bot, state, now=now)
        if len(due) == BATCH or len(expired) == BATCH:
            return now_ms
        async with self._db.connection() as conn:
            next_due = await timers.next_due(conn)
        return None if next_due is None else parse_iso(next_due)
