"""`python -m bench.hotpath`: the incoming hot path end to end. An integration's
getOrCreateConversation → getOrCreateUser → getOrCreateMessage (a new message each time), and
the delivery of its `message_created` event to a bot that answers 200 at once; also what an idle
server asks of its database."""

import argparse
import asyncio
import datetime
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import aiohttp
import asyncpg
import httpx

from bench.processes import (
    LOAD_CPU,
    BenchError,
    CpuTimes,
    Server,
    add_database_options,
    chosen_databases,
    machine,
    measured_since,
    new_database,
    ok,
    parley_server,
    parse_counts,
    percentile,
    require_tools,
    revision,
    running,
    uvicorn_server,
    wait_idle,
    wait_quiet,
)
from bench.wire import RoundTrips, counting_proxy

ALIAS = "chat"
# Each caller cycles through this many chats (a conversation and its user): after the first
# round, getOrCreateConversation and getOrCreateUser find, and getOrCreateMessage creates.
CHATS_PER_CALLER = 10
TEXT_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
INTEGRATION = {
    "version": "1.0.0",
    "channels": {
        "channel": {
            "messages": {"text": {"schema": TEXT_SCHEMA}},
            "conversation": {"tags": {"id": {}}},
            "message": {"tags": {"id": {}}},
        }
    },
    "user": {"tags": {"id": {}}},
}
# How long the deliveries of a run may take to arrive once its load has stopped.
SETTLE_TIMEOUT_S = 120
# Sequences whose round trips are counted, one at a time, after as many unmeasured ones.
COUNTED_SEQUENCES = 30
# While counting, the background polls (once a second by default) would fall into the windows.
COUNTING_POLL_MS = "3600000"


@dataclass(frozen=True)
class Options:
    postgres_url: str | None
    databases: list[str]
    duration: float
    warmup: float
    callers: list[int]
    idle: float
    quiet_wait: float


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    add_database_options(parser)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before measuring (default 2)")
    parser.add_argument("--callers", default="16,4,1", help="concurrent sequences, one run each (default 16,4,1)")
    parser.add_argument("--idle", type=float, default=10, help="seconds of idle server measured (default 10)")
    parser.add_argument(
        "--quiet-wait", type=float, default=60, help="before each run, wait up to this long for a quiet machine"
    )
    args = parser.parse_args(argv)
    callers = parse_counts(parser, "--callers", args.callers)
    return Options(
        postgres_url=args.postgres_url,
        databases=chosen_databases(parser, args),
        duration=args.duration,
        warmup=args.warmup,
        callers=callers,
        idle=args.idle,
        quiet_wait=args.quiet_wait,
    )


@dataclass(frozen=True)
class Run:
    database: str
    callers: int
    sequences: int
    seconds: float
    sequence_ms: list[float]
    """From the first request of a sequence to the answer of its last."""
    delivery_ms: list[float]
    """From the answer of getOrCreateMessage to the bot receiving its event."""
    undelivered: int
    errors: int
    cpu: CpuTimes

    @property
    def per_second(self) -> float:
        return self.sequences / self.seconds


@dataclass(frozen=True)
class Counted:
    """PostgreSQL round trips of one sequence, each the median over the counted sequences."""

    sequences: int
    conversation: float
    user: float
    message: float
    delivery: float
    """From the answer of getOrCreateMessage until the bot has the event and the outcome is recorded."""


@dataclass(frozen=True)
class Idle:
    database: str
    seconds: float
    transactions: float
    """PostgreSQL: transactions committed in the server's database (pg_stat_database), per second."""
    lock_calls: float
    """fcntl calls of the server's event-loop thread per second: SQLite takes two for each read."""
    writes: float
    """write calls of the server's event-loop thread per second: one for each PostgreSQL round trip."""
    cpu_ms: float
    """The server's CPU time over the whole idle window."""


def _setup(parley: Server, bot_url: str) -> dict[str, str]:
    """A bot whose server is the stand-in, an integration installed in it; the integration's headers."""
    token = parley.env["PARLEY_ADMIN_TOKEN"]
    with httpx.Client(base_url=parley.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        bot_id = ok(admin.post("/v1/admin/bots", json={"name": "hotpath", "url": bot_url}))["bot"]["id"]
        definition = {**INTEGRATION, "name": f"hotpath-{secrets.token_hex(4)}"}
        integration_id = ok(admin.post("/v1/admin/integrations", json=definition))["integration"]["id"]
        installation = {"enabled": True, "integrationId": integration_id, "configuration": {}}
        ok(admin.put(f"/v1/admin/bots/{bot_id}", json={"integrations": {ALIAS: installation}}))
        key = ok(admin.post("/v1/admin/integrations/iaks", json={"integrationId": integration_id}))["value"]
    return {
        "authorization": f"Bearer {key}",
        "x-bot-id": bot_id,
        "x-integration-id": integration_id,
        "x-integration-alias": ALIAS,
    }


class _Load:
    """Callers that each run the three-call sequence again and again, on their own chats."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self._url = url
        self._headers = headers
        self._prefix = secrets.token_hex(4)
        # Runs made so far: a run's message tags are its own, so each of its getOrCreateMessage creates.
        self._runs = 0
        self.answered: dict[str, float] = {}
        self.sequence_ms: list[float] = []
        self.errors = 0

    async def _post(self, session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with session.post(self._url + path, json=body) as response:
            found: dict[str, Any] = await response.json()
            if response.status >= 300:
                raise BenchError(f"POST {path}: {response.status} {found}")
            return found

    async def _caller(self, session: aiohttp.ClientSession, number: int, until: float, record: bool) -> None:
        sent = 0
        while time.monotonic() < until:
            chat = f"{self._prefix}-{number}-{sent % CHATS_PER_CALLER}"
            began = time.monotonic()
            try:
                conversation = await self._post(
                    session, "/v1/chat/conversations/get-or-create", {"channel": "channel", "tags": {"id": chat}}
                )
                user = await self._post(session, "/v1/chat/users/get-or-create", {"tags": {"id": chat}})
                message = await self._post(
                    session,
                    "/v1/chat/messages/get-or-create",
                    {
                        "conversationId": conversation["conversation"]["id"],
                        "userId": user["user"]["id"],
                        "type": "text",
                        "payload": {"text": "hello"},
                        "tags": {"id": f"{chat}-{self._runs}-{sent}"},
                    },
                )
                if not message["meta"]["created"]:
                    raise BenchError(f"getOrCreateMessage found {message['message']['id']} instead of creating")
            except (aiohttp.ClientError, BenchError):
                self.errors += 1
                continue
            answered = time.monotonic()
            sent += 1
            if record:
                self.answered[message["message"]["id"]] = answered
                self.sequence_ms.append((answered - began) * 1000)

    async def counted(self, counts: RoundTrips, bot_url: str, sequences: int) -> list[tuple[int, int, int, int]]:
        """Sequences one at a time, and the round trips counted during each step: the three
        requests, then the delivery of the message's event (until the counts stop moving)."""
        steps = []
        async with aiohttp.ClientSession(headers=self._headers) as session:
            for sent in range(sequences):
                chat = f"{self._prefix}-counted-{sent % CHATS_PER_CALLER}"
                marks = [counts.requests]
                conversation = await self._post(
                    session, "/v1/chat/conversations/get-or-create", {"channel": "channel", "tags": {"id": chat}}
                )
                marks.append(counts.requests)
                user = await self._post(session, "/v1/chat/users/get-or-create", {"tags": {"id": chat}})
                marks.append(counts.requests)
                body = {
                    "conversationId": conversation["conversation"]["id"],
                    "userId": user["user"]["id"],
                    "type": "text",
                    "payload": {"text": "hello"},
                    "tags": {"id": f"{chat}-counted-{sent}"},
                }
                message_id = (await self._post(session, "/v1/chat/messages/get-or-create", body))["message"]["id"]
                marks.append(counts.requests)
                while True:
                    async with session.get(bot_url + "/arrivals") as response:
                        if message_id in await response.json():
                            break
                    await asyncio.sleep(0.01)
                last = counts.requests
                while True:
                    await asyncio.sleep(0.3)
                    if counts.requests == last:
                        break
                    last = counts.requests
                marks.append(last)
                steps.append((marks[1] - marks[0], marks[2] - marks[1], marks[3] - marks[2], marks[4] - marks[3]))
        return steps

    async def run(self, callers: int, seconds: float, *, record: bool) -> float:
        self._runs += 1
        connector = aiohttp.TCPConnector(limit=callers)
        async with aiohttp.ClientSession(headers=self._headers, connector=connector) as session:
            began = time.monotonic()
            until = began + seconds
            await asyncio.gather(*(self._caller(session, n, until, record) for n in range(callers)))
            return time.monotonic() - began


def _arrivals(bot: Server, expected: set[str]) -> dict[str, float]:
    """The stand-in's arrival times, once every expected message's event has arrived or the
    count stopped growing for ten seconds."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last, since = -1, time.monotonic()
    while True:
        found: dict[str, float] = httpx.get(bot.url + "/arrivals", timeout=30).json()
        arrived = len(expected & found.keys())
        if arrived == len(expected) or time.monotonic() > deadline or time.monotonic() - since > 10:
            return found
        if arrived != last:
            last, since = arrived, time.monotonic()
        time.sleep(0.5)


def _strace_calls(pid: int, seconds: float) -> dict[str, float]:
    """System calls per second of the process's main thread (its event loop) over `seconds`,
    counted by strace: `fcntl` (SQLite takes and drops a lock for each read) and `write` (a
    PostgreSQL round trip starts with one; an idle server writes nothing else)."""
    done = subprocess.run(
        ["timeout", "-s", "INT", str(seconds), "strace", "-c", "-e", "trace=fcntl,write", "-p", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "attach" in done.stderr and "attached" not in done.stderr:
        raise BenchError(f"strace could not count the server's calls:\n{done.stderr}")
    counts = {"fcntl": 0.0, "write": 0.0}
    for found in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fcntl|write)$", done.stderr, re.M):
        counts[found.group(2)] = int(found.group(1)) / seconds
    return counts


async def _transactions(admin_url: str, name: str) -> int:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        value: int = await conn.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = $1", name)
        return value
    finally:
        await conn.close()


def measure_idle(options: Options, kind: str, parley: Server, postgres_name: str | None) -> Idle:
    """What the server does while nobody calls it, after its start-up has settled."""
    time.sleep(3)
    cpu_before = CpuTimes.now([parley.pid], None)
    if kind == "postgresql":
        assert options.postgres_url is not None
        assert postgres_name is not None
        # Backends report their counts at most once a second: wait for those of the set-up.
        time.sleep(2)
        before = asyncio.run(_transactions(options.postgres_url, postgres_name))
        calls = _strace_calls(parley.pid, options.idle)
        after = asyncio.run(_transactions(options.postgres_url, postgres_name))
        transactions = (after - before) / options.idle
    else:
        calls, transactions = _strace_calls(parley.pid, options.idle), float("nan")
    spent = CpuTimes.now([parley.pid], None).since(cpu_before)
    return Idle(kind, options.idle, transactions, calls["fcntl"], calls["write"], spent.servers[0] * 1000)


def count_round_trips(options: Options, work: Path, bot: Server) -> Counted:
    """The round trips between a dispatching Parley and PostgreSQL for each step of a sequence,
    counted by a proxy (bench/wire.py), one sequence at a time."""
    assert options.postgres_url is not None
    found = new_database("postgresql", postgres_url=options.postgres_url, sqlite_path=work / "unused.db")
    server = parley_server("", work / "parley-counted.log")
    with found as (url, _), counting_proxy(url) as (proxied, counts):
        server.env.update({"PARLEY_DATABASE_URL": proxied, "PARLEY_DISPATCH": "on", "PARLEY_POLL_MS": COUNTING_POLL_MS})
        with running(server) as parley:
            load = _Load(parley.url, _setup(parley, bot.url))
            # Unmeasured: the chats made, the statements prepared, the identity remembered.
            asyncio.run(load.counted(counts, bot.url, CHATS_PER_CALLER))
            steps = asyncio.run(load.counted(counts, bot.url, COUNTED_SEQUENCES))
    columns = list(zip(*steps, strict=True))
    counted = Counted(len(steps), *(float(median(column)) for column in columns))
    print(
        f"  postgresql round trips: getOrCreateConversation {counted.conversation:g}, getOrCreateUser"
        f" {counted.user:g}, getOrCreateMessage {counted.message:g}, delivery {counted.delivery:g}",
        file=sys.stderr,
        flush=True,
    )
    return counted


def measure(options: Options, work: Path, kind: str, bot: Server) -> tuple[list[Run], Idle]:
    runs = []
    found = new_database(kind, postgres_url=options.postgres_url, sqlite_path=work / "parley.db")
    server = parley_server("", work / f"parley-{kind}.log")
    with found as (url, postgres_name):
        # Delivering is what is measured here.
        server.env.update({"PARLEY_DATABASE_URL": url, "PARLEY_DISPATCH": "on"})
        with running(server) as parley:
            load = _Load(parley.url, _setup(parley, bot.url))
            idle = measure_idle(options, kind, parley, postgres_name)
            print(
                f"  {kind:<10} idle: {idle.transactions:.1f} transactions/s, {idle.lock_calls:.1f} lock calls/s,"
                f" {idle.writes:.1f} writes/s,"
                f" CPU {idle.cpu_ms / idle.seconds:.1f} ms/s",
                file=sys.stderr,
                flush=True,
            )
            if options.warmup > 0:
                asyncio.run(load.run(max(options.callers), options.warmup, record=False))
                wait_idle(parley.pid)
            for callers in options.callers:
                wait_quiet(timeout=options.quiet_wait)
                load.answered, load.sequence_ms, load.errors = {}, [], 0
                # This process makes the calls: its CPU is not "other load".
                pids = [parley.pid, bot.pid, os.getpid()]
                before = CpuTimes.now(pids, postgres_name)
                seconds = asyncio.run(load.run(callers, options.duration, record=True))
                spent = CpuTimes.now(pids, postgres_name).since(before)
                arrivals = _arrivals(bot, set(load.answered))
                delivery_ms = [
                    (arrivals[id_] - answered) * 1000 for id_, answered in load.answered.items() if id_ in arrivals
                ]
                run = Run(
                    kind,
                    callers,
                    len(load.answered),
                    seconds,
                    load.sequence_ms,
                    delivery_ms,
                    len(load.answered) - len(delivery_ms),
                    load.errors,
                    spent,
                )
                _print(run)
                runs.append(run)
                wait_idle(parley.pid)
    return runs, idle


def _print(run: Run) -> None:
    print(
        f"  {run.database:<10} c{run.callers:<3} {run.per_second:>7,.0f} sequences/s"
        f"  sequence p50 {percentile(run.sequence_ms, 0.5):.2f} ms"
        f"  delivery p50 {percentile(run.delivery_ms, 0.5):.2f} ms p99 {percentile(run.delivery_ms, 0.99):.2f} ms"
        f"  undelivered {run.undelivered}  errors {run.errors}",
        file=sys.stderr,
        flush=True,
    )


def report(runs: list[Run], idles: list[Idle], counted: Counted | None, options: Options, *, measured: str) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"{now}; {machine()}; parley {measured}",
        "Parley pinned to core 0 (one process, dispatching); the stand-in bot and the callers (aiohttp) on core 1;"
        f" {options.duration:g} s per run after {options.warmup:g} s of warm-up",
        "",
        "| database | callers | sequences/s | sequence p50 ms | sequence p99 ms | delivery p50 ms"
        " | delivery p99 ms | delivery max ms | undelivered | errors | Parley CPU ms/sequence"
        " | PostgreSQL CPU ms/sequence | other load |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        count = max(1, run.sequences)
        lines.append(
            f"| {run.database} | {run.callers} | {run.per_second:,.0f}"
            f" | {percentile(run.sequence_ms, 0.5):.2f} | {percentile(run.sequence_ms, 0.99):.2f}"
            f" | {percentile(run.delivery_ms, 0.5):.2f} | {percentile(run.delivery_ms, 0.99):.2f}"
            f" | {max(run.delivery_ms, default=float('nan')):.2f} | {run.undelivered} | {run.errors}"
            f" | {run.cpu.servers[0] / count * 1000:.3f}"
            f" | {run.cpu.postgres / count * 1000 if run.database == 'postgresql' else float('nan'):.3f}"
            f" | {max(0.0, run.cpu.other / run.seconds):.2f} |"
        )
    lines += [
        "",
        "| database | idle seconds | transactions/s (pg_stat_database) | fcntl/s (SQLite: 2 a read)"
        " | write/s (PostgreSQL: 1 a round trip) | server CPU ms/s |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    lines += [
        f"| {i.database} | {i.seconds:g} | {i.transactions:.1f} | {i.lock_calls:.1f} | {i.writes:.1f}"
        f" | {i.cpu_ms / i.seconds:.2f} |"
        for i in idles
    ]
    if counted is not None:
        lines += [
            "",
            f"PostgreSQL round trips of one sequence (median of {counted.sequences}, one at a time, counted by a"
            " proxy; polls off):",
            "",
            "| getOrCreateConversation (finds) | getOrCreateUser (finds) | getOrCreateMessage (creates)"
            " | delivery of its event | total |",
            "|--:|--:|--:|--:|--:|",
            f"| {counted.conversation:g} | {counted.user:g} | {counted.message:g} | {counted.delivery:g}"
            f" | {counted.conversation + counted.user + counted.message + counted.delivery:g} |",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    started_at = revision()
    try:
        require_tools(profile=False)
        # The callers share core 1 with the stand-in bot; core 0 is Parley's.
        os.sched_setaffinity(0, {int(LOAD_CPU)})
        with tempfile.TemporaryDirectory(prefix="parley-hotpath-bench-") as folder:
            work = Path(folder)
            runs: list[Run] = []
            idles: list[Idle] = []
            counted = None
            with running(uvicorn_server("bench.bot:app", work / "bot.log", cpu=LOAD_CPU)) as bot:
                if "postgresql" in options.databases:
                    counted = count_round_trips(options, work, bot)
                for kind in options.databases:
                    found, idle = measure(options, work, kind, bot)
                    runs += found
                    idles.append(idle)
        measured = measured_since(started_at)
    except BenchError as error:
        print(f"bench.hotpath: {error}", file=sys.stderr)
        return 1
    print(report(runs, idles, counted, options, measured=measured))
    return 0 if all(r.undelivered == 0 and r.errors == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
