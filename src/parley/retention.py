"""Retention: what is done is removed once it is older than PARLEY_RETENTION_DAYS: deliveries
delivered, failed or canceled (with their attempts) and finished events. Failed deliveries stay
visible, and retriable, until then. Timers need nothing: a timer is removed when it fires.

A background job of every process; on PostgreSQL one process prunes at a time. It removes a
batch per transaction and lets other work run between batches, so a request never waits behind
more than one batch."""

import asyncio
import logging

from parley import background
from parley.clock import Clock, iso_from_ms
from parley.store import retention as store
from parley.store.database import Database

logger = logging.getLogger("parley.retention")

DAY_MS = 24 * 3600 * 1000
BATCH = 500
# Batches in one run; what is left waits for the next run, soon after.
BATCHES_PER_RUN = 20
EVERY_SECONDS = 600.0
AGAIN_SECONDS = 1.0


class Retention:
    def __init__(self, db: Database, clock: Clock, days: int, loop: background.Loop) -> None:
        self._db = db
        self._clock = clock
        self._keep_ms = days * DAY_MS
        self._loop = loop
        loop.add(self)

    def poke(self) -> None:
        """Look again now: the clock moved."""
        self._loop.poke(self)

    async def run(self) -> float:
        before = iso_from_ms(self._clock.now_ms() - self._keep_ms)
        removed = 0
        for _ in range(BATCHES_PER_RUN):
            async with self._db.transaction() as conn:
                if not await store.take_turn(conn):
                    return EVERY_SECONDS
                deliveries = await store.prune_deliveries(conn, before=before, limit=BATCH)
                events = await store.prune_events(conn, before=before, limit=BATCH)
            removed += deliveries + events
            if deliveries < BATCH and events < BATCH:
                if removed:
                    logger.info("retention removed %d deliveries and events done before %s", removed, before)
                return EVERY_SECONDS
            # Requests waiting for the database go first.
            await asyncio.sleep(0)
        return AGAIN_SECONDS
