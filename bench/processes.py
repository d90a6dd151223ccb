"""The processes of a benchmark run (servers pinned to one core, wrk and py-spy on the other), its
databases, and the machine and commit it measured: what `bench` and `bench.relay` share."""

import argparse
import asyncio
import hashlib
import json
import os
import platform
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import quantiles
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "requests.lua"
SERVER_CPU = "0"
LOAD_CPU = "1"
_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A benchmark cannot run; the message says why and what to do."""


def require_tools(*, profile: bool) -> None:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed. Install it with `apt-get install -y wrk` (Debian package `wrk`).")
    if shutil.which("taskset") is None:
        raise BenchError("taskset is not installed (Debian package `util-linux`).")
    if (os.cpu_count() or 1) < 2:
        raise BenchError("The benchmark pins the server to core 0 and wrk to core 1: it needs two cores.")
    if profile and py_spy() is None:
        raise BenchError("--profile needs py-spy: `.venv/bin/pip install py-spy`.")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def postgres_cpu_seconds(database: str) -> float:
    """CPU time of the PostgreSQL backends connected to `database` (their title names it)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read().decode(errors="replace").replace("\x00", " ").split()
            if len(title) >= 4 and title[0] == "postgres:" and title[3] == database:
                total += cpu_seconds(int(entry))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU time spent on all cores so far, by every process (the first line of /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS


def children_cpu_seconds() -> float:
    """CPU time of the child processes waited for so far (wrk, py-spy)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds: of each server measured, of our PostgreSQL backends, of the child processes
    waited for (wrk, py-spy) and of the whole machine. `now()` gives them so far, `since()` what
    was spent between two snapshots."""

    servers: tuple[float, ...]
    postgres: float
    children: float
    machine: float

    @classmethod
    def now(cls, pids: Sequence[int], postgres_name: str | None) -> "CpuTimes":
        return cls(
            tuple(cpu_seconds(pid) for pid in pids),
            postgres_cpu_seconds(postgres_name) if postgres_name else 0.0,
            children_cpu_seconds(),
            machine_busy_seconds(),
        )

    def since(self, earlier: "CpuTimes") -> "CpuTimes":
        return CpuTimes(
            tuple(now - then for now, then in zip(self.servers, earlier.servers, strict=True)),
            self.postgres - earlier.postgres,
            self.children - earlier.children,
            self.machine - earlier.machine,
        )

    @property
    def other(self) -> float:
        """What the machine spent on anything else: other work disturbs a measurement."""
        return self.machine - sum(self.servers) - self.postgres - self.children


@dataclass
class Server:
    """An HTTP server process pinned to one core."""

    command: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    cpu: str = SERVER_CPU
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is started"
        return self.process.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            # taskset execs the command: the pid is the server's own.
            self.process = subprocess.Popen(
                ["taskset", "-c", self.cpu, *self.command],
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{' '.join(self.command)} exited with {self.process.returncode}; see {self.log}")
            try:
                httpx.get(self.url + "/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise BenchError(f"{' '.join(self.command)} did not answer within 60 s; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self) -> str:
        """The end of the server's log, shown when a run had errors."""
        tail = self.log.read_text(errors="replace").splitlines()[-20:]
        return "".join(f"    | {line}\n" for line in tail) or "    (the server logged nothing)"


def parley_server(database_url: str, log: Path) -> Server:
    """`parley serve` as deployed, with dispatch off: delivering the outbox is not what is measured."""
    port = free_port()
    return Server(
        command=[sys.executable, "-m", "parley", "serve", "--port", str(port)],
        log=log,
        port=port,
        env={
            "PARLEY_DATABASE_URL": database_url,
            "PARLEY_ADMIN_TOKEN": f"bp_pat_{secrets.token_urlsafe(24)}",
            "PARLEY_DISPATCH": "off",
        },
    )


def baseline_server(log: Path) -> Server:
    """bench/baseline.py, served the way `parley serve` serves Parley."""
    return uvicorn_server("bench.baseline:app", log)


def uvicorn_server(app: str, log: Path, *, cpu: str = SERVER_CPU) -> Server:
    """The ASGI application `app` (module:name) under uvicorn with uvloop and httptools, one process."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return Server(command=command, log=log, port=port, cpu=cpu)


@contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_idle(pid: int, *, timeout: float = 600) -> None:
    """Waits until the server has answered what wrk left in flight: requests abandoned at the end
    of a run are still worked on and would otherwise be counted in the next run."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < 0.05:
            return
        last = now
    raise BenchError(f"the server (pid {pid}) stayed busy for {timeout:.0f} s after the load stopped")


def wait_quiet(*, timeout: float, threshold: float = 0.1) -> None:
    """Waits, up to `timeout` seconds, until the rest of the machine uses at most `threshold` cores
    (the benchmark's own processes are idle when this is called)."""
    deadline = time.monotonic() + timeout
    told = False
    while True:
        start = machine_busy_seconds()
        time.sleep(1)
        load = machine_busy_seconds() - start
        if load <= threshold or time.monotonic() >= deadline:
            return
        if not told:
            print(f"  waiting for a quiet machine ({load:.2f} cores busy) ...", file=sys.stderr, flush=True)
            told = True


@dataclass(frozen=True)
class WrkResult:
    requests: int
    """Answers wrk received."""
    sent: int
    """Requests wrk made: those it had no answer to when the run ended are `sent - requests`."""
    seconds: float
    p50_ms: float
    p99_ms: float
    status_errors: int
    """Answers other than 2xx and 3xx."""
    socket_errors: int
    timeouts: int


def run_wrk(url: str, env: dict[str, str], *, duration: float, connections: int, script: Path = LUA) -> WrkResult:
    """One wrk run on LOAD_CPU with `script` (bench/requests.lua unless told); the numbers come
    from the `done` hook of bench/result.lua."""
    command = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    # A fresh prefix for every run: the tags that "creates" sends are new even after a warm-up.
    env = {**os.environ, **env, "BENCH_PREFIX": secrets.token_hex(6)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            found: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            return WrkResult(
                requests=found["requests"],
                sent=found["sent"],
                seconds=found["duration_us"] / 1e6,
                p50_ms=found["p50_us"] / 1000,
                p99_ms=found["p99_us"] / 1000,
                status_errors=found["status_errors"],
                socket_errors=found["socket_errors"],
                timeouts=found["timeouts"],
            )
    raise BenchError(f"wrk gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


@contextmanager
def profiling(pid: int, output: Path | None, *, duration: float) -> Iterator[None]:
    """py-spy samples the server for `duration` seconds (on LOAD_CPU), as collapsed stacks."""
    if output is None:
        yield
        return
    spy = py_spy()
    assert spy is not None, "checked by require_tools"
    command = ["taskset", "-c", LOAD_CPU, spy, "record", "--pid", str(pid), "--duration", str(round(duration))]
    command += ["--rate", "200", "--nonblocking", "--format", "raw", "--output", str(output)]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()


# Databases


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """--postgres-url and --databases, read by chosen_databases()."""
    parser.add_argument("--postgres-url", help="also run on PostgreSQL; a database is created and dropped there")
    parser.add_argument(
        "--databases", help="which databases to run, comma-separated (default sqlite, and postgresql with a URL)"
    )


def parse_counts(parser: argparse.ArgumentParser, option: str, text: str) -> list[int]:
    """A list of counts given on the command line (`--callers 16,4,1`), each at least 1."""
    try:
        counts = [int(c) for c in text.split(",")]
    except ValueError:
        parser.error(f"{option} takes whole numbers separated by commas; got {text!r}")
    if min(counts) < 1:
        parser.error(f"{option} must be at least 1")
    return counts


def chosen_databases(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The databases to run on: `sqlite`, and `postgresql` when there is a URL, unless --databases says."""
    if args.databases is None:
        return ["sqlite"] + (["postgresql"] if args.postgres_url else [])
    databases = [d.strip() for d in args.databases.split(",")]
    if not set(databases) <= {"sqlite", "postgresql"}:
        parser.error("--databases takes sqlite, postgresql or both")
    if "postgresql" in databases and not args.postgres_url:
        parser.error("--databases postgresql needs --postgres-url")
    return databases


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def postgres_database(admin_url: str) -> Iterator[tuple[str, str]]:
    """A database created for one size of the run, dropped after it; yields its URL and name."""
    name = f"parley_bench_{secrets.token_hex(6)}"
    parts = urlsplit(admin_url)
    try:
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        raise BenchError(f"Cannot create a database through {admin_url}: {error}") from None
    try:
        yield urlunsplit(parts._replace(path="/" + name)), name
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def new_database(kind: str, *, postgres_url: str | None, sqlite_path: Path) -> Iterator[tuple[str, str | None]]:
    """The URL of a new database (`sqlite` at `sqlite_path`, or `postgresql` created through
    `postgres_url`), and its name on PostgreSQL; removed after."""
    if kind == "postgresql":
        assert postgres_url is not None
        with postgres_database(postgres_url) as found:
            yield found
        return
    try:
        yield f"sqlite:///{sqlite_path}", None
    finally:
        for leftover in sqlite_path.parent.glob(f"{sqlite_path.name}*"):
            leftover.unlink()


# What was measured, and where


def parse_size(text: str) -> int:
    """A count of stored messages as given on the command line: 10000, 10k or 1M."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def size_label(messages: int) -> str:
    """10k, 1M: a count of stored messages as the reports name it."""
    if messages == 0:
        return "-"
    if messages % 1_000_000 == 0:
        return f"{messages // 1_000_000}M"
    return f"{messages // 1000}k" if messages % 1000 == 0 else str(messages)


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


def revision() -> str:
    """The commit, and a digest of any uncommitted change under src/: the code that was measured."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        changes = git("diff", "HEAD", "--", "src") + git("ls-files", "--others", "--exclude-standard", "src")
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    if not changes:
        return commit
    return f"{commit} + uncommitted changes in src/ ({hashlib.sha1(changes.encode()).hexdigest()[:8]})"


def measured_since(started_at: str) -> str:
    """The code a run measured: `revision()` now, or both ends when the code changed meanwhile."""
    measured = revision()
    if measured != started_at:
        measured = f"{started_at} at the start, {measured} at the end: the code changed during the run"
    return measured


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` percentile (0.5, 0.99) of `values`; NaN when there are none."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def ok(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a successful answer; BenchError naming the request otherwise."""
    if response.is_error:
        request = response.request
        raise BenchError(f"{request.method} {request.url.path}: {response.status_code} {response.text}")
    found: dict[str, Any] = response.json()
    return found
