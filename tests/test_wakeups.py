"""Background work starts when a commit announces it, not when a poll comes round: deliveries and
timers in the process that wrote them, a `parley worker` woken by another process through
PostgreSQL, and what an idle server asks of its database.

The servers here poll once a minute (PARLEY_POLL_MS), so work that arrives within seconds was
woken up; the bounds are loose, for a loaded machine."""

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import make_bot, running_server
from tests.harness import PG_ADMIN_URL, Api, Server, eventually
from tests.recorder import Recorder
from tests.test_worker import PING_BOT

SLOW_POLL = {"PARLEY_POLL_MS": "60000"}
# Far below the minute a poll would take, far above what a wake-up takes on a busy machine.
PROMPTLY = 10.0


def _ping(api: Api) -> str:
    event_id: str = api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]["id"]
    return event_id


def _received(recorder: Recorder, event_id: str) -> bool | None:
    return any(call.body["event"]["id"] == event_id for call in recorder.calls) or None


@pytest.fixture(params=["sqlite", "postgresql"])
def slow_polling(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """A dispatching server that polls once a minute."""
    with running_server(request.param, work_dir, f"slow-{request.node.name}", SLOW_POLL) as server:
        yield server


def test_a_queued_delivery_is_made_without_waiting_for_a_poll(slow_polling: Server, recorder: Recorder) -> None:
    bot = make_bot(Api(slow_polling, slow_polling.admin_token), {**PING_BOT, "url": recorder.url})
    # The poll at start-up is over, and the next is a minute away.
    time.sleep(0.5)
    event_id = _ping(bot.api)
    eventually(lambda: _received(recorder, event_id), within=PROMPTLY, what="the event at the bot")


def test_a_new_timer_wakes_the_scheduler_before_its_next_poll(slow_polling: Server, recorder: Recorder) -> None:
    bot = make_bot(Api(slow_polling, slow_polling.admin_token), {**PING_BOT, "url": recorder.url})
    time.sleep(0.5)
    body = {"type": "ping", "payload": {}, "schedule": {"delay": 300}}
    event_id: str = bot.api.ok("POST", "/v1/chat/events", body, status=201)["event"]["id"]
    eventually(lambda: _received(recorder, event_id), within=PROMPTLY, what="the scheduled event at the bot")


@pytest.fixture
def quiet_postgres(work_dir: Path) -> Iterator[Server]:
    """A PostgreSQL server that queues deliveries but does not make them, polling once a minute."""
    env = {**SLOW_POLL, "PARLEY_DISPATCH": "off"}
    with running_server("postgresql", work_dir, "quiet-wakeups", env) as server:
        yield server


def _worker(server: Server, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update({"PARLEY_DATABASE_URL": server.database_url, **SLOW_POLL})
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "parley", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def _listening_backends(database_url: str) -> list[int]:
    name = database_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'", name)
        return [row["pid"] for row in rows]
    finally:
        await conn.close()


async def _terminate(pids: list[int]) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


def test_a_worker_is_woken_by_a_delivery_another_process_queued(
    quiet_postgres: Server, recorder: Recorder, work_dir: Path
) -> None:
    bot = make_bot(Api(quiet_postgres, quiet_postgres.admin_token), {**PING_BOT, "url": recorder.url})
    worker = _worker(quiet_postgres, work_dir / "wakeups-worker.log")
    try:
        # The worker listens once its start-up is over: one LISTEN connection each, server and worker.
        eventually(
            lambda: len(asyncio.run(_listening_backends(quiet_postgres.database_url))) == 2 or None,
            within=30,
            what="the worker listening",
        )
        time.sleep(0.5)
        event_id = _ping(bot.api)
        eventually(lambda: _received(recorder, event_id), within=PROMPTLY, what="the event at the bot")

        # Its listening connection lost, the worker listens again and looks for what it missed.
        asyncio.run(_terminate(asyncio.run(_listening_backends(quiet_postgres.database_url))))
        missed = _ping(bot.api)
        eventually(lambda: _received(recorder, missed), within=PROMPTLY, what="the event queued while deaf")
    finally:
        worker.terminate()
        worker.wait(10)


# An idle server wakes its background jobs once a second (PARLEY_POLL_MS): on PostgreSQL two
# transactions (the scheduler's next due time, the dispatcher's claim), 20 to 22 a second before
# wake-ups were announced. Generous bounds: stats arrive late and the machine may be busy.
IDLE_SECONDS = 5.0
MAX_IDLE_TRANSACTIONS_PER_SECOND = 4.0
# On SQLite each read takes and drops a lock (fcntl): about 6 calls a second idle, 62 before.
MAX_IDLE_LOCK_CALLS_PER_SECOND = 15.0


async def _transactions(database_url: str) -> int:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        value: int = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", database_url.rsplit("/", 1)[1]
        )
        return value
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def idle(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """A dispatching server with the default poll, left alone after start-up."""
    with running_server(request.param, work_dir, f"idle-{request.node.name}") as server:
        # Start-up is over, and PostgreSQL has counted it (backends report once a second).
        time.sleep(2)
        yield server


def test_an_idle_server_looks_at_its_database_about_once_a_second(idle: Server) -> None:
    assert idle.process is not None
    if idle.dialect == "postgresql":
        before = asyncio.run(_transactions(idle.database_url))
        time.sleep(IDLE_SECONDS)
        after = asyncio.run(_transactions(idle.database_url))
        assert (after - before) / IDLE_SECONDS <= MAX_IDLE_TRANSACTIONS_PER_SECOND
        return
    if shutil.which("strace") is None:
        pytest.skip("strace counts an idle SQLite server's reads from outside; it is not installed")
    # The event loop's thread only: the checkpointer thread reads the log once a second on its own.
    traced = subprocess.run(
        ["timeout", "-s", "INT", str(IDLE_SECONDS), "strace", "-c", "-e", "trace=fcntl", "-p", str(idle.process.pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "Operation not permitted" in traced.stderr:
        pytest.skip("strace may not attach to the server here (ptrace is restricted)")
    assert "total" in traced.stderr, traced.stderr
    found = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?fcntl$", traced.stderr, re.MULTILINE)
    calls = int(found.group(1)) if found else 0
    assert calls / IDLE_SECONDS <= MAX_IDLE_LOCK_CALLS_PER_SECOND, traced.stderr
