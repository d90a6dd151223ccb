"""The dispatcher: claims due deliveries from the outbox, calls bot and integration servers, and
records every attempt.

Deliveries of one ordering key (a conversation, for one target) go out one at a time, oldest
first; different keys go out concurrently. A claimed delivery is leased: if the process dies, the
lease runs out and any worker takes it again. A 2xx answer is final; a 4xx answer fails the
delivery at once (the target refused it); anything else is retried with capped exponential
backoff, jittered, until the attempts run out. While a target fails, its other deliveries wait
for its oldest failing one (see store.deliveries.claim).
"""

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp

from parley import background
from parley.clock import Clock, iso_from_ms
from parley.config import Settings
from parley.dispatch import calls
from parley.metrics import METRICS
from parley.service import outbox
from parley.service.definitions import DefinitionCache
from parley.store import deliveries as store
from parley.store import events as event_store
from parley.store.database import DELIVERIES, Database, DatabaseError
from parley.store.deliveries import DeliveryRow

logger = logging.getLogger("parley.dispatch")

# A lease outlives the HTTP timeout by this much (at most 10 s), so a slow answer is not taken
# for a dead worker.
LEASE_MARGIN_MS = 10_000
MAX_REASON = 2000


def backoff_ms(settings: Settings, attempts: int) -> int:
    """The wait before the next attempt, after `attempts` failed ones: doubles from the base up to
    the max, then a random share of it between half and all. Deliveries that failed together (a
    target, or the network, went down) would otherwise come back together, round after round."""
    full = min(settings.dispatch_retry_base_ms << (attempts - 1), settings.dispatch_retry_max_ms)
    return round(full * random.uniform(0.5, 1.0))


class Dispatcher:
    """Claims from the process's background loop, which it joins when made; each call it starts
    runs as a task of its own. It claims when a delivery is announced (in this process, or by
    another through PostgreSQL), when a call ends, when a retry it scheduled is due, and every
    `poll_ms` for what it was not told about: leases run out, announcements missed."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        loop: background.Loop,
        local: Callable[[calls.Local], Awaitable[None]],
    ) -> None:
        self._db = db
        # Makes the calls to integrations that Parley serves itself (chat.channel.ChatChannel.deliver).
        self._local = local
        self._clock = clock
        self._settings = settings
        self._cache = DefinitionCache()
        # aiohttp rather than httpx, as for the relay: httpx's client cost 1.2-1.5 ms of CPU per
        # call with dozens in flight (bench/relay.py). Opened at the first call, in the loop.
        self._http: aiohttp.ClientSession | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._poll_seconds = settings.poll_ms / 1000
        self._loop = loop
        loop.add(self)

    async def listen(self) -> None:
        """Claims as soon as a delivery is announced from now on."""
        await self._db.listen(DELIVERIES, lambda _: self.poke())

    async def recover(self) -> None:
        """Run before the loop starts. On SQLite one process delivers, so a lease found at
        start-up belongs to a process that died: its deliveries are due again at once. On
        PostgreSQL other workers may be alive, and leases run out by themselves."""
        if self._db.dialect == "sqlite":
            async with self._db.transaction() as conn:
                await store.release_all(conn, now=iso_from_ms(self._clock.now_ms()))

    async def stop(self) -> None:
        """Abandons calls in progress and hands their deliveries back at once; run after the
        loop has stopped, so that nothing new is claimed."""
        abandoned = list(self._running)
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        if abandoned:
            async with self._db.transaction() as conn:
                await store.release(conn, ids=abandoned, now=iso_from_ms(self._clock.now_ms()))
        if self._http is not None:
            await self._http.close()

    def poke(self) -> None:
        self._loop.poke(self)

    async def run(self) -> float:
        await self.claim_and_start()
        return self._poll_seconds

    async def claim_and_start(self) -> int:
        """Claims as many due deliveries as there is room for and starts their calls."""
        room = self._settings.dispatch_concurrency - len(self._running)
        if room <= 0:
            return 0
        now_ms = self._clock.now_ms()
        timeout = self._settings.dispatch_timeout_ms
        lease = iso_from_ms(now_ms + timeout + min(timeout, LEASE_MARGIN_MS))
        # One statement: a transaction around it would cost PostgreSQL two round trips more.
        async with self._db.connection() as conn:
            claimed = await store.claim(
                conn,
                now=iso_from_ms(now_ms),
                lease_until=lease,
                limit=room,
                skip_locked=self._db.dialect == "postgresql",
            )
        for row in claimed:
            task = asyncio.create_task(self._deliver(row, lease))
            self._running[row["id"]] = task
            task.add_done_callback(functools.partial(self._done, row["id"]))
        return len(claimed)

    def _done(self, delivery_id: str, _: "asyncio.Task[None]") -> None:
        # Room for another call, and maybe the next delivery of its conversation is free.
        self._running.pop(delivery_id, None)
        self._loop.poke(self)

    async def _call(self, delivery: DeliveryRow) -> calls.Call | calls.Local:
        now = iso_from_ms(self._clock.now_ms())
        if delivery["operation"] == outbox.CHAT_SIGNAL:
            return calls.chat_webhook(delivery)
        if delivery["target"] == "bot":
            # Reads only: no transaction, whose BEGIN and COMMIT would cost PostgreSQL two round trips.
            async with self._db.connection() as conn:
                return await calls.to_bot(conn, self._cache, delivery)
        async with self._db.transaction() as conn:
            if outbox.is_lifecycle(delivery):
                return await calls.lifecycle(conn, delivery, base_url=self._settings.base_url, now=now)
            return await calls.to_integration(conn, self._cache, delivery, now=now)

    async def _deliver(self, delivery: DeliveryRow, lease: str) -> None:
        started_ms = self._clock.now_ms()
        began = time.monotonic()
        status_code: int | None = None
        try:
            call = await self._call(delivery)
        except calls.Vanished as gone:
            await self._record(delivery, lease, started_ms, began, None, str(gone), outcome="canceled")
            return
        except calls.Undeliverable as refused:
            await self._record(delivery, lease, started_ms, began, None, str(refused), outcome="failed")
            return
        if isinstance(call, calls.Local):
            try:
                await self._local(call)
            except DatabaseError as error:
                await self._record(delivery, lease, started_ms, began, None, str(error), outcome="retry")
                return
            await self._record(delivery, lease, started_ms, began, None, None, outcome="delivered")
            return
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        try:
            async with (
                asyncio.timeout(self._settings.dispatch_timeout_ms / 1000),
                self._http.post(call.url, data=call.body, headers=call.headers, allow_redirects=False) as response,
            ):
                status_code, answer = response.status, await response.read()
        except TimeoutError:
            reason = f"no answer from {call.url} within {self._settings.dispatch_timeout_ms} ms"
            await self._record(delivery, lease, started_ms, began, None, reason, outcome="retry")
            return
        except aiohttp.InvalidURL as error:
            # No attempt can succeed until the url is corrected.
            await self._record(
                delivery, lease, started_ms, began, None, f"Invalid url {call.url!r}: {error}", outcome="failed"
            )
            return
        except aiohttp.ClientError as error:
            reason = f"{type(error).__name__} calling {call.url}: {error}".strip()
            await self._record(delivery, lease, started_ms, began, None, reason, outcome="retry")
            return
        if 200 <= status_code < 300:
            await self._record(delivery, lease, started_ms, began, status_code, None, outcome="delivered")
            return
        reason = calls.error_reason(status_code, answer.decode("utf-8", errors="replace"))
        final = 400 <= status_code < 500 and status_code not in (408, 429)
        await self._record(
            delivery, lease, started_ms, began, status_code, reason, outcome="failed" if final else "retry"
        )

    async def _record(
        self,
        delivery: DeliveryRow,
        lease: str,
        started_ms: int,
        began: float,
        status_code: int | None,
        error: str | None,
        *,
        outcome: str,
    ) -> None:
        now_ms = self._clock.now_ms()
        now = iso_from_ms(now_ms)
        attempts = delivery["attempts"] + 1
        status, next_attempt_ms = outcome, now_ms
        if outcome == "retry":
            if attempts >= self._settings.dispatch_max_attempts:
                status = "failed"
            else:
                status = "pending"
                next_attempt_ms = now_ms + backoff_ms(self._settings, attempts)
        recorded = [
            store.attempt(
                delivery_id=delivery["id"],
                started_at=iso_from_ms(started_ms),
                duration_ms=int((time.monotonic() - began) * 1000),
                status_code=status_code,
                error=error,
                outcome="retry" if status == "pending" else status,
            )
        ]
        if delivery["event_id"] and status in ("delivered", "failed"):
            recorded.append(
                event_store.outcome(
                    id=delivery["event_id"],
                    status="processed" if status == "delivered" else "failed",
                    failure_reason=None if error is None else error[:MAX_REASON],
                    now=now,
                )
            )
        finish = functools.partial(
            store.finish,
            id=delivery["id"],
            lease=lease,
            status=status,
            attempts=attempts,
            next_attempt_at=iso_from_ms(next_attempt_ms),
            last_error=error,
            now=now,
            then=recorded,
        )
        if outbox.is_lifecycle(delivery):
            # The installation's status too, which depends on what the delivery's row says.
            async with self._db.transaction() as conn:
                if await finish(conn):
                    await outbox.lifecycle_outcome(conn, delivery, status=status, error=error)
        else:
            # One statement, atomic on its own: no transaction, whose BEGIN and COMMIT would cost
            # PostgreSQL two round trips more.
            async with self._db.connection() as conn:
                await finish(conn)
        # When the lease ran out, another worker owns the delivery now and nothing was written.
        METRICS.attempt("retry" if status == "pending" else status)
        if status == "pending":
            logger.info("delivery %s failed (%s); retrying", delivery["id"], error)
            self._loop.wake(self, (next_attempt_ms - now_ms) / 1000)
