"""The background loop: each job when the wait it asked for has passed, or at once when poked; a
failing job does not stop the others."""

import asyncio
import time

from parley.background import RETRY_SECONDS, Loop


class Recording:
    """A job that notes when it ran and asks for `wait` seconds; raises while `failing`."""

    def __init__(self, wait: float, *, failing: bool = False) -> None:
        self.wait = wait
        self.failing = failing
        self.runs: list[float] = []
        self.during_run: asyncio.Event | None = None

    async def run(self) -> float:
        self.runs.append(time.monotonic())
        if self.during_run is not None:
            self.during_run.set()
            await asyncio.sleep(0.05)
        if self.failing:
            raise RuntimeError("broken")
        return self.wait


def test_each_job_runs_when_its_own_wait_has_passed() -> None:
    async def scenario() -> None:
        loop = Loop()
        often, seldom = Recording(0.02), Recording(10)
        loop.add(often)
        loop.add(seldom)
        loop.start()
        await asyncio.sleep(0.2)
        await loop.stop()
        assert len(seldom.runs) == 1
        assert 3 <= len(often.runs) <= 11

    asyncio.run(scenario())


def test_a_poke_runs_a_job_at_once_and_a_poke_while_it_runs_runs_it_again() -> None:
    async def scenario() -> None:
        loop = Loop()
        job = Recording(10)
        loop.add(job)
        loop.start()
        await asyncio.sleep(0.05)
        assert len(job.runs) == 1
        loop.poke(job)
        await asyncio.sleep(0.02)
        assert len(job.runs) == 2
        job.during_run = asyncio.Event()
        loop.poke(job)
        await job.during_run.wait()
        loop.poke(job)
        await asyncio.sleep(0.2)
        await loop.stop()
        assert len(job.runs) == 4

    asyncio.run(scenario())


def test_a_job_that_raises_is_run_again_shortly_and_the_others_go_on() -> None:
    async def scenario() -> None:
        loop = Loop()
        broken, healthy = Recording(10, failing=True), Recording(0.02)
        loop.add(broken)
        loop.add(healthy)
        loop.start()
        await asyncio.sleep(RETRY_SECONDS * 1.5)
        await loop.stop()
        assert len(broken.runs) == 2
        assert len(healthy.runs) >= 5

    asyncio.run(scenario())


def test_a_wake_brings_a_job_forward_but_never_puts_it_off() -> None:
    async def scenario() -> None:
        loop = Loop()
        job = Recording(10)
        loop.add(job)
        loop.start()
        await asyncio.sleep(0.05)
        loop.wake(job, 0.1)
        loop.wake(job, 30)
        await asyncio.sleep(0.05)
        assert len(job.runs) == 1
        await asyncio.sleep(0.2)
        assert len(job.runs) == 2
        assert job.runs[1] - job.runs[0] < 1
        await loop.stop()

    asyncio.run(scenario())


def test_a_wake_asked_while_the_job_runs_applies_after_it() -> None:
    async def scenario() -> None:
        loop = Loop()
        job = Recording(10)
        job.during_run = asyncio.Event()
        loop.add(job)
        loop.start()
        await job.during_run.wait()
        # The job is running: its own answer (10 s) must not cancel this.
        loop.wake(job, 0.1)
        job.during_run = None
        await asyncio.sleep(0.4)
        await loop.stop()
        assert len(job.runs) == 2

    asyncio.run(scenario())
