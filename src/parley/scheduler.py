"""The scheduler: fires due timers (scheduled messages and events, workflow timeouts) and expires
idle states.

It runs in every server process. All of its work is in the database, so a restart loses nothing:
what was due while the server was down is done as soon as it is back. Each timer and each
expiry is taken inside a transaction by exactly one process, so work is done once even when
several processes share one PostgreSQL database.
"""

from parley import background
from parley.clock import Clock, iso_from_ms, parse_iso
from parley.config import Settings
from parley.service import events, integration_ops, messages, states, workflows
from parley.service.definitions import DefinitionCache
from parley.store import events as event_store
from parley.store import states as state_store
from parley.store import timers
from parley.store.database import TIMERS, Database

BATCH = 100


class Scheduler:
    """Runs from the process's background loop, which it joins when made. It sleeps until the
    next due time it read, or until a timer or an expiry due sooner is announced (in this process,
    or by another through PostgreSQL), and at most `poll_ms`: the bound on how late work is
    noticed whose announcement was missed."""

    def __init__(self, db: Database, clock: Clock, settings: Settings, loop: background.Loop) -> None:
        self._db = db
        self._clock = clock
        self._cache = DefinitionCache()
        self._poll_seconds = settings.poll_ms / 1000
        self._loop = loop
        loop.add(self)

    async def listen(self) -> None:
        """Wakes up for the timers and expiries written from now on."""
        await self._db.listen(TIMERS, self._announced)

    def _announced(self, due_at: str) -> None:
        if not due_at:
            self.poke()
            return
        # The loop keeps the sooner of this and the wake-up already planned.
        self._loop.wake(self, max((parse_iso(due_at) - self._clock.now_ms()) / 1000, 0.0))

    def poke(self) -> None:
        """Look again now: the clock moved."""
        self._loop.poke(self)

    async def run(self) -> float:
        next_due = await self.run_due()
        if next_due is None:
            return self._poll_seconds
        return min(max((next_due - self._clock.now_ms()) / 1000, 0.0), self._poll_seconds)

    async def run_due(self) -> int | None:
        """Does what is due now, up to a batch; returns when the next work is due (ms), now when
        more may be due, None when nothing is pending. Idle, it costs one statement."""
        async with self._db.connection() as conn:
            next_due = await timers.next_due(conn)
        now_ms = self._clock.now_ms()
        if next_due is None or parse_iso(next_due) > now_ms:
            return None if next_due is None else parse_iso(next_due)
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
        # What became due meanwhile, and the next due time, are read on the next turn, at once.
        return now_ms
