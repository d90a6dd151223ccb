"""Background tasks of a process (scheduler, dispatcher, relay records): how they are stopped."""

import asyncio
import contextlib


async def cancel(task: "asyncio.Task[None] | None") -> None:
    """Cancels the task and waits until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
