"""Background work of a process: the one loop that runs the periodic jobs (scheduler, dispatcher,
metrics) when due or woken, and how tasks are stopped."""

import asyncio
import contextlib
import logging
import math
import time
from typing import Protocol

logger = logging.getLogger("parley.background")

# The wait before a job that raised runs again.
RETRY_SECONDS = 0.25


class Job(Protocol):
    async def run(self) -> float:
        """Does the work that is due; returns the seconds until it wants to run again."""
        ...


class Loop:
    """Runs each job when the wait it asked for has passed, or sooner when woken: one task, one
    timer (the nearest wait) and one wake-up for all of them. Jobs run one after the other, in the
    order they were added, so that work one makes due (a timer queueing a delivery) is seen by the
    next in the same turn. The waits of the jobs run in one turn count from the start of that
    turn, so jobs that ask for the same wait stay together and share their wake-ups."""

    def __init__(self) -> None:
        self._due: dict[Job, float] = {}
        # Wake-ups asked for a job while it runs: they apply once its own wait is known.
        self._asked: dict[Job, float] = {}
        self._running: Job | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, job: Job) -> None:
        """Runs `job` from now on, first at the loop's next turn."""
        self._due[job] = 0.0
        self._wake.set()

    def wake(self, job: Job, delay: float) -> None:
        """Runs `job` within `delay` seconds, or sooner if it is due sooner. Asked while it runs,
        it runs again after that many seconds (at once for 0), whatever wait it then asks for."""
        at = time.monotonic() + delay
        if job is self._running:
            self._asked[job] = min(at, self._asked.get(job, at))
            return
        if at < self._due.get(job, at):
            self._due[job] = at
            self._wake.set()

    def poke(self, job: Job) -> None:
        """Runs `job` at once; a poke while it runs makes it run again right after."""
        self.wake(job, 0.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="parley-background")

    async def stop(self) -> None:
        """Stops after the job running now, if any, has been cancelled."""
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            turn = time.monotonic()
            for job in list(self._due):
                if self._due[job] > time.monotonic():
                    continue
                self._running = job
                try:
                    wait = await job.run()
                except Exception:
                    logger.exception("background job %s failed; trying again shortly", type(job).__name__)
                    wait = RETRY_SECONDS
                finally:
                    self._running = None
                self._due[job] = min(turn + wait, self._asked.pop(job, math.inf))
            # A wake-up during a job has set the event already, so this wait ends at once.
            nearest = max(min(self._due.values()) - time.monotonic(), 0.0) if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), nearest)


async def cancel(task: "asyncio.Task[None] | None") -> None:
    """Cancels the task and waits until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
