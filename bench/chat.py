"""`python -m bench.chat`: the Chat API end to end and at rest. Users of the built-in chat channel
send "hi" and wait for the echo bot's reply on their `listen` stream (messages/s and latency, for
a few counts of users at once); and many streams held open and idle on one process (its memory
and CPU)."""

import argparse
import asyncio
import datetime
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx

from bench.processes import (
    LOAD_CPU,
    BenchError,
    CpuTimes,
    Server,
    add_database_options,
    chosen_databases,
    cpu_seconds,
    free_port,
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
    wait_idle,
    wait_quiet,
)

T = TypeVar("T")

ALIAS = "chat"
# The server's keep-alive interval when PARLEY_CHAT_KEEPALIVE_MS is not set (parley/config.py).
DEFAULT_KEEPALIVE_MS = 15_000
# How long a user waits for the echo of its message before counting it lost.
ECHO_TIMEOUT_S = 30
# Requests in flight while users, conversations and streams are being set up.
SETUP_CONCURRENCY = 32
# File descriptors the bench and its servers need beyond one per stream.
SPARE_FDS = 256


@dataclass(frozen=True)
class Options:
    postgres_url: str | None
    databases: list[str]
    duration: float
    warmup: float
    users: list[int]
    streams: int
    idle: float
    keepalive_ms: int | None
    quiet_wait: float

    @property
    def keepalive_in_effect_ms(self) -> int:
        return DEFAULT_KEEPALIVE_MS if self.keepalive_ms is None else self.keepalive_ms


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__)
    add_database_options(parser)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before measuring (default 2)")
    parser.add_argument(
        "--users", default="1,8,32", help="users talking at once, one run each; empty: no runs (default 1,8,32)"
    )
    parser.add_argument("--streams", type=int, default=1000, help="idle streams held open; 0: none (default 1000)")
    parser.add_argument("--idle", type=float, default=20, help="seconds of idle server measured (default 20)")
    parser.add_argument(
        "--keepalive-ms",
        type=int,
        help=f"PARLEY_CHAT_KEEPALIVE_MS for the server (default: its own, {DEFAULT_KEEPALIVE_MS})",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=60, help="before each run, wait up to this long for a quiet machine"
    )
    args = parser.parse_args(argv)
    if args.streams < 0:
        parser.error("--streams must be 0 or more")
    return Options(
        postgres_url=args.postgres_url,
        databases=chosen_databases(parser, args),
        duration=args.duration,
        warmup=args.warmup,
        users=parse_counts(parser, "--users", args.users) if args.users else [],
        streams=args.streams,
        idle=args.idle,
        keepalive_ms=args.keepalive_ms,
        quiet_wait=args.quiet_wait,
    )


@dataclass(frozen=True)
class Run:
    database: str
    users: int
    messages: int
    """Messages sent whose echo arrived on the sender's stream."""
    seconds: float
    echo_ms: list[float]
    """From sending createMessage to the echo arriving on the stream."""
    answer_ms: list[float]
    """From sending createMessage to its answer."""
    lost: int
    """Messages whose echo did not arrive within ECHO_TIMEOUT_S."""
    errors: int
    cpu: CpuTimes

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds


@dataclass(frozen=True)
class Idle:
    database: str
    streams: int
    opened: int
    """Streams that answered and said they were open."""
    counted: float
    """`parley_chat_streams` of /metrics once they were open."""
    seconds: float
    keepalive_ms: int
    rss_kib: tuple[int, int, int]
    """VmRSS of the server: before the streams were opened, once they were, after the idle window."""
    cpu_ms_without: float
    """The server's CPU over an idle window before the streams were opened."""
    cpu_ms_with: float
    """The same with the streams open."""
    keep_alives: int
    """Keep-alives the streams received during their idle window."""
    released_s: float | None
    """How long after the client closed the streams /metrics counted none (None: not within the wait)."""

    @property
    def kib_per_stream(self) -> float:
        return (self.rss_kib[1] - self.rss_kib[0]) / max(1, self.streams)


def rss_kib(pid: int) -> int:
    """The resident memory of a process, in KiB (VmRSS of /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def _raise_fd_limit(streams: int) -> None:
    """Lets this process and the servers it starts (who inherit the limit) hold every stream."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = streams + SPARE_FDS
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchError(f"{streams} streams need {needed} open files; the hard limit is {hard} (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def _in_thread(function: Any, *args: Any, **kwargs: Any) -> None:
    """A blocking wait of bench.processes, run without stopping the streams this loop reads."""
    await asyncio.to_thread(function, *args, **kwargs)


async def _bounded(coroutines: list[Awaitable[T]], limit: int) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(coroutine: Awaitable[T]) -> T:
        async with gate:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines))


@dataclass
class _User:
    """A user of the chat channel with a conversation of its own, and what its stream heard."""

    key: str
    conversation_id: str
    echoes: asyncio.Queue[float] = field(default_factory=asyncio.Queue)
    """When each echo (a bot's `message_created`) arrived, by time.monotonic()."""
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    open: bool = False
    keep_alives: int = 0
    reader: asyncio.Task[None] | None = None


class _Chat:
    """The Chat API of one installation, spoken over one aiohttp session."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def _post(self, path: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        headers = {} if key is None else {"x-user-key": key}
        async with self.session.post(self.url + path, json=body, headers=headers) as response:
            found: dict[str, Any] = await response.json(content_type=None)
            if response.status != 201:
                raise BenchError(f"POST {path}: {response.status} {found}")
            return found

    async def new_user(self) -> _User:
        key: str = (await self._post("/users", {}))["key"]
        conversation = await self._post("/conversations", {}, key)
        return _User(key, conversation["conversation"]["id"])

    async def listen(self, user: _User) -> None:
        """Reads the user's stream until it ends or the reader is cancelled."""
        url = f"{self.url}/conversations/{user.conversation_id}/listen"
        headers = {"x-user-key": user.key, "accept": "text/event-stream"}
        try:
            async with self.session.get(url, headers=headers) as response:
                if response.status != 200:
                    raise BenchError(f"listen: {response.status} {await response.text()}")
                async for line in response.content:
                    arrived = time.monotonic()
                    if line.startswith(b": stream open"):
                        user.open = True
                        user.opened.set()
                    elif line == b"data: ping\n":
                        user.keep_alives += 1
                    elif line.startswith(b"data: {"):
                        signal = json.loads(line[len(b"data: ") :])
                        if signal["type"] == "message_created" and signal["data"]["isBot"]:
                            user.echoes.put_nowait(arrived)
        except aiohttp.ClientError:
            pass
        finally:
            user.open = False
            user.opened.set()

    async def open_streams(self, users: list[_User]) -> int:
        """Opens every user's stream; how many said they were open."""
        for user in users:
            user.reader = asyncio.get_running_loop().create_task(self.listen(user))
        await asyncio.wait_for(_bounded([u.opened.wait() for u in users], len(users) or 1), 120)
        return sum(1 for user in users if user.open)

    async def send(self, user: _User) -> bool:
        body = {"conversationId": user.conversation_id, "payload": {"type": "text", "text": "hi"}}
        async with self.session.post(self.url + "/messages", json=body, headers={"x-user-key": user.key}) as answer:
            await answer.read()
            return answer.status == 201


async def close_streams(users: list[_User]) -> None:
    readers = [user.reader for user in users if user.reader is not None]
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


class _Load:
    """Users that each send "hi" and wait for its echo on their stream before sending again."""

    def __init__(self, chat: _Chat, users: list[_User]) -> None:
        self._chat = chat
        self._users = users
        self.echo_ms: list[float] = []
        self.answer_ms: list[float] = []
        self.lost = 0
        self.errors = 0

    async def _talk(self, user: _User, until: float, record: bool) -> None:
        while time.monotonic() < until:
            sent = time.monotonic()
            try:
                created = await self._chat.send(user)
            except aiohttp.ClientError:
                created = False
            answered = time.monotonic()
            if not created:
                self.errors += 1
                continue
            try:
                echoed = await asyncio.wait_for(user.echoes.get(), ECHO_TIMEOUT_S)
            except TimeoutError:
                # A late echo would be taken for the next message's: this user stops.
                self.lost += 1
                return
            if record:
                self.answer_ms.append((answered - sent) * 1000)
                self.echo_ms.append((echoed - sent) * 1000)

    async def run(self, users: int, seconds: float, *, record: bool) -> float:
        self.echo_ms, self.answer_ms, self.lost, self.errors = [], [], 0, 0
        began = time.monotonic()
        until = began + seconds
        await asyncio.gather(*(self._talk(user, until, record) for user in self._users[:users]))
        return time.monotonic() - began


async def _streams_counted(parley: Server, session: aiohttp.ClientSession) -> float:
    """`parley_chat_streams` of the server's /metrics."""
    async with session.get(parley.url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("parley_chat_streams "):
            return float(line.split()[1])
    raise BenchError("/metrics has no parley_chat_streams")


async def _until_released(parley: Server, session: aiohttp.ClientSession, within: float = 10) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < within:
        if await _streams_counted(parley, session) == 0:
            return time.monotonic() - began
        await asyncio.sleep(0.05)
    return None


async def _idle_cpu_ms(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - before) * 1000


async def measure_idle(options: Options, kind: str, parley: Server, chat: _Chat) -> Idle:
    """Streams held open and idle: the server's memory before and after they opened, and its CPU
    over an idle window without them and with them."""
    users = await _bounded([chat.new_user() for _ in range(options.streams)], SETUP_CONCURRENCY)
    await _in_thread(wait_idle, parley.pid)
    await asyncio.sleep(2)
    await _in_thread(wait_quiet, timeout=options.quiet_wait)
    rss_before = rss_kib(parley.pid)
    without = await _idle_cpu_ms(parley.pid, options.idle)
    try:
        opened = await chat.open_streams(users)
        counted = await _streams_counted(parley, chat.session)
        await _in_thread(wait_idle, parley.pid)
        await asyncio.sleep(2)
        rss_open = rss_kib(parley.pid)
        await _in_thread(wait_quiet, timeout=options.quiet_wait)
        keep_alives = sum(user.keep_alives for user in users)
        with_streams = await _idle_cpu_ms(parley.pid, options.idle)
        keep_alives = sum(user.keep_alives for user in users) - keep_alives
        rss_after = rss_kib(parley.pid)
    finally:
        await close_streams(users)
    released = await _until_released(parley, chat.session)
    idle = Idle(
        kind,
        options.streams,
        opened,
        counted,
        options.idle,
        options.keepalive_in_effect_ms,
        (rss_before, rss_open, rss_after),
        without,
        with_streams,
        keep_alives,
        released,
    )
    _print_idle(idle)
    return idle


async def measure_load(
    options: Options, kind: str, parley: Server, echo: Server, chat: _Chat, pg: str | None
) -> list[Run]:
    users = await _bounded([chat.new_user() for _ in range(max(options.users))], SETUP_CONCURRENCY)
    opened = await chat.open_streams(users)
    if opened != len(users):
        raise BenchError(f"{len(users) - opened} of {len(users)} streams did not open")
    load = _Load(chat, users)
    runs = []
    try:
        if options.warmup > 0:
            await load.run(max(options.users), options.warmup, record=False)
            await _in_thread(wait_idle, parley.pid)
        for count in options.users:
            await _in_thread(wait_quiet, timeout=options.quiet_wait)
            # This process is the users: its CPU is not "other load".
            pids = [parley.pid, echo.pid, os.getpid()]
            before = CpuTimes.now(pids, pg)
            seconds = await load.run(count, options.duration, record=True)
            spent = CpuTimes.now(pids, pg).since(before)
            run = Run(
                kind, count, len(load.echo_ms), seconds, load.echo_ms, load.answer_ms, load.lost, load.errors, spent
            )
            _print_run(run)
            runs.append(run)
            await _in_thread(wait_idle, parley.pid)
    finally:
        await close_streams(users)
    return runs


def _setup(parley: Server, echo_url: str) -> tuple[str, str, str]:
    """A bot whose server is the echo bot, with the chat channel installed: the bot's id, its API
    key and the channel's Chat API URL."""
    token = parley.env["PARLEY_ADMIN_TOKEN"]
    with httpx.Client(base_url=parley.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        bot_id: str = ok(admin.post("/v1/admin/bots", json={"name": "chatbench", "url": echo_url}))["bot"]["id"]
        key: str = ok(admin.post("/v1/admin/bots/baks", json={"botId": bot_id}))["value"]
        found = ok(admin.get("/v1/admin/integrations", params={"name": "chat"}))["integrations"]
        if [integration["name"] for integration in found] != ["chat"]:
            raise BenchError(f"the built-in chat integration is not listed: {found}")
        installation = {"enabled": True, "integrationId": found[0]["id"], "configuration": {}}
        ok(admin.put(f"/v1/admin/bots/{bot_id}", json={"integrations": {ALIAS: installation}}))
        bot = ok(admin.get(f"/v1/admin/bots/{bot_id}", headers={"x-multiple-integrations": "true"}))["bot"]
    return bot_id, key, f"{parley.url}/chat/{bot['integrations'][ALIAS]['webhookId']}"


def echo_server(log: Path) -> Server:
    """bench/echo.py on the load's core; started once the bot it answers for exists."""
    port = free_port()
    return Server(command=[sys.executable, "-m", "bench.echo", "--port", str(port)], log=log, port=port, cpu=LOAD_CPU)


async def _measure_async(
    options: Options, kind: str, parley: Server, echo: Server, chat_url: str, pg: str | None
) -> tuple[list[Run], Idle | None]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        chat = _Chat(chat_url, session)
        idle = await measure_idle(options, kind, parley, chat) if options.streams else None
        runs = await measure_load(options, kind, parley, echo, chat, pg) if options.users else []
    return runs, idle


def measure(options: Options, work: Path, kind: str) -> tuple[list[Run], Idle | None]:
    found = new_database(kind, postgres_url=options.postgres_url, sqlite_path=work / "parley.db")
    server = parley_server("", work / f"parley-{kind}.log")
    echo = echo_server(work / f"echo-{kind}.log")
    with found as (url, postgres_name):
        # The bot's replies are deliveries: dispatching is part of what is measured.
        server.env.update({"PARLEY_DATABASE_URL": url, "PARLEY_DISPATCH": "on"})
        if options.keepalive_ms is not None:
            server.env["PARLEY_CHAT_KEEPALIVE_MS"] = str(options.keepalive_ms)
        with running(server) as parley:
            bot_id, key, chat_url = _setup(parley, echo.url)
            echo.command += ["--parley", parley.url, "--bot-id", bot_id]
            echo.env["BENCH_ECHO_KEY"] = key
            with running(echo):
                runs, idle = asyncio.run(_measure_async(options, kind, parley, echo, chat_url, postgres_name))
                counts = httpx.get(echo.url + "/", timeout=10).json()
                if counts["failed"]:
                    raise BenchError(f"the echo bot's replies failed {counts['failed']} times; see {echo.log}")
    return runs, idle


def _print_run(run: Run) -> None:
    print(
        f"  {run.database:<10} {run.users:>3} users {run.per_second:>7,.0f} messages/s"
        f"  echo p50 {percentile(run.echo_ms, 0.5):.2f} ms p99 {percentile(run.echo_ms, 0.99):.2f} ms"
        f"  createMessage p50 {percentile(run.answer_ms, 0.5):.2f} ms"
        f"  lost {run.lost}  errors {run.errors}  other load {max(0.0, run.cpu.other / run.seconds):.2f}",
        file=sys.stderr,
        flush=True,
    )


def _print_idle(idle: Idle) -> None:
    before, opened, after = idle.rss_kib
    print(
        f"  {idle.database:<10} {idle.opened}/{idle.streams} streams open (/metrics: {idle.counted:g});"
        f" RSS {before / 1024:.1f} → {opened / 1024:.1f} → {after / 1024:.1f} MiB"
        f" ({idle.kib_per_stream:.1f} KiB a stream); CPU over {idle.seconds:g} s idle:"
        f" {idle.cpu_ms_without:.0f} ms without streams, {idle.cpu_ms_with:.0f} ms with;"
        f" {idle.keep_alives} keep-alives; released in {idle.released_s} s",
        file=sys.stderr,
        flush=True,
    )


def report(runs: list[Run], idles: list[Idle], options: Options, *, measured: str) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"{now}; {machine()}; parley {measured}",
        "Parley pinned to core 0 (one process, dispatching); the echo bot (aiohttp) and the users (aiohttp)"
        f" on core 1; {options.duration:g} s per run after {options.warmup:g} s of warm-up",
    ]
    if runs:
        lines += [
            "",
            "| database | users | messages/s | echo p50 ms | echo p99 ms | echo max ms | createMessage p50 ms"
            " | createMessage p99 ms | lost | errors | Parley CPU ms/message | PostgreSQL CPU ms/message"
            " | other load |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for run in runs:
            count = max(1, run.messages)
            postgres = run.cpu.postgres / count * 1000 if run.database == "postgresql" else float("nan")
            lines.append(
                f"| {run.database} | {run.users} | {run.per_second:,.0f}"
                f" | {percentile(run.echo_ms, 0.5):.2f} | {percentile(run.echo_ms, 0.99):.2f}"
                f" | {max(run.echo_ms, default=float('nan')):.2f}"
                f" | {percentile(run.answer_ms, 0.5):.2f} | {percentile(run.answer_ms, 0.99):.2f}"
                f" | {run.lost} | {run.errors} | {run.cpu.servers[0] / count * 1000:.3f} | {postgres:.3f}"
                f" | {max(0.0, run.cpu.other / run.seconds):.2f} |"
            )
    if idles:
        lines += [
            "",
            "| database | streams open | keep-alive ms | RSS before MiB | RSS open MiB | RSS after idle MiB"
            " | KiB a stream | idle s | CPU ms without streams | CPU ms with streams | keep-alives received"
            " | released after close s |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for i in idles:
            released = "not within 10" if i.released_s is None else f"{i.released_s:.2f}"
            lines.append(
                f"| {i.database} | {i.opened:,} | {i.keepalive_ms:,} | {i.rss_kib[0] / 1024:.1f}"
                f" | {i.rss_kib[1] / 1024:.1f} | {i.rss_kib[2] / 1024:.1f} | {i.kib_per_stream:.1f} | {i.seconds:g}"
                f" | {i.cpu_ms_without:.0f} | {i.cpu_ms_with:.0f} | {i.keep_alives:,} | {released} |"
            )
    return "\n".join(lines)


def _sound(runs: list[Run], idles: list[Idle]) -> bool:
    """No message lost or refused, every stream opened, counted and released."""
    return all(r.lost == 0 and r.errors == 0 for r in runs) and all(
        i.opened == i.streams == i.counted and i.released_s is not None for i in idles
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    started_at = revision()
    try:
        require_tools(profile=False)
        _raise_fd_limit(max(options.streams, *options.users, 0))
        # The users share core 1 with the echo bot; core 0 is Parley's.
        os.sched_setaffinity(0, {int(LOAD_CPU)})
        with tempfile.TemporaryDirectory(prefix="parley-chat-bench-") as folder:
            runs: list[Run] = []
            idles: list[Idle] = []
            for kind in options.databases:
                found, idle = measure(options, Path(folder), kind)
                runs += found
                idles += [idle] if idle else []
        measured = measured_since(started_at)
    except BenchError as error:
        print(f"bench.chat: {error}", file=sys.stderr)
        return 1
    print(report(runs, idles, options, measured=measured))
    return 0 if _sound(runs, idles) else 1


if __name__ == "__main__":
    sys.exit(main())
