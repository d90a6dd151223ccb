"""`python -m bench`: seed, serve, load with wrk, and print the table."""

import argparse
import datetime
import json
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from statistics import median
from typing import Any

import httpx

from bench.processes import (
    BenchError,
    CpuTimes,
    Server,
    add_database_options,
    baseline_server,
    chosen_databases,
    machine,
    new_database,
    parley_server,
    parse_size,
    profiling,
    require_tools,
    revision,
    run_wrk,
    running,
    size_label,
    uvicorn_server,
    wait_idle,
    wait_quiet,
)
from bench.seed import TAG_KEY, Seeded, seed
from parley.config import Settings

# Lookups first: the writes that follow add rows, and the sizes are those of the lookups.
SCENARIOS = ("get", "list", "finds", "creates", "create_message")
LOOKUPS = ("finds", "list", "get")
TITLES = {
    "baseline": "baseline: parse + respond, no storage",
    "finds": "getOrCreateMessage, finds",
    "creates": "getOrCreateMessage, creates",
    "create_message": "createMessage",
    "list": "listMessages, 20 of a conversation",
    "get": "getMessage",
}
BUSY = 0.1
# Issue "bench": share of the baseline's requests/s, per database.
TARGETS = {
    ("sqlite", "finds"): 0.50,
    ("sqlite", "creates"): 0.35,
    ("postgresql", "finds"): 0.30,
    ("postgresql", "creates"): 0.20,
}
MAX_GROWTH = 1.2
MAX_TAIL = 5.0


@dataclass(frozen=True)
class Measurement:
    database: str
    messages: int
    scenario: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_seconds: float
    postgres_cpu_seconds: float | None
    other_cpu_seconds: float
    """CPU time the machine spent on anything but the server, wrk, py-spy and our PostgreSQL
    backends: other work on the machine disturbs the measurement."""
    status_errors: int
    socket_errors: int
    timeouts: int
    # The baseline measured just before this run (its own figures for a baseline run): ratios
    # compare two measurements made within seconds of each other, not minutes.
    baseline_per_second: float = 0.0
    baseline_cpu_per_1k: float = 0.0
    # The bare ASGI baseline (no framework), measured in the same turns.
    bare_per_second: float = 0.0
    bare_cpu_per_1k: float = 0.0

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors + self.timeouts

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_1k(self) -> float:
        return self.server_cpu_seconds / self.requests * 1000

    @property
    def postgres_cpu_per_1k(self) -> float | None:
        return None if self.postgres_cpu_seconds is None else self.postgres_cpu_seconds / self.requests * 1000

    @property
    def share(self) -> float:
        """Requests/s as a fraction of the paired baseline's."""
        return self.per_second / self.baseline_per_second

    @property
    def cpu_share(self) -> float:
        """The paired baseline's server CPU per request as a fraction of this run's."""
        return self.baseline_cpu_per_1k / self.cpu_per_1k

    @property
    def bare_share(self) -> float:
        """Requests/s as a fraction of the paired bare ASGI baseline's."""
        return self.per_second / self.bare_per_second

    @property
    def bare_cpu_share(self) -> float:
        return self.bare_cpu_per_1k / self.cpu_per_1k

    @property
    def other_load(self) -> float:
        """Cores busy with other work, on average over the run."""
        return max(0.0, self.other_cpu_seconds / self.seconds)


@dataclass(frozen=True)
class Options:
    postgres_url: str | None
    sizes: list[int]
    duration: float
    warmup: float
    connections: int
    scenarios: list[str]
    profile: Path | None
    output: Path | None
    sqlite_analyze: bool
    quiet_wait: float
    databases: list[str]
    # Each scenario's `duration` is measured in this many slices, each after a baseline slice.
    slices: int

    @property
    def slice_seconds(self) -> float:
        return max(1.0, self.duration / self.slices)


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add_database_options(parser)
    parser.add_argument("--sizes", help="stored messages per run, comma-separated (default 10000,1000000)")
    parser.add_argument("--duration", type=float, help="seconds measured per scenario (default 10)")
    parser.add_argument(
        "--slices",
        type=int,
        help="measure each scenario in this many slices, each after a baseline slice as long (default 5)",
    )
    parser.add_argument("--warmup", type=float, help="seconds of unmeasured load before each (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="open wrk connections (default 32)")
    parser.add_argument("--scenarios", help=f"a subset of {','.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="10k messages, 3 s per scenario: a smoke run")
    parser.add_argument("--profile", type=Path, help="record each Parley run with py-spy into this folder")
    parser.add_argument("--output", type=Path, help="also write the measurements as JSON to this file")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="before each scenario, wait up to this many seconds for other work on the machine to stop (default 60)",
    )
    parser.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="run ANALYZE on the seeded SQLite database (Parley does not): query plans with statistics",
    )
    args = parser.parse_args(argv)
    scenarios = SCENARIOS if args.scenarios is None else tuple(s.strip() for s in args.scenarios.split(","))
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    databases = chosen_databases(parser, args)
    sizes = args.sizes or ("10000" if args.quick else "10000,1000000")
    return Options(
        postgres_url=args.postgres_url,
        sizes=sorted({parse_size(s) for s in sizes.split(",")}),
        duration=args.duration or (3.0 if args.quick else 10.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0),
        connections=args.connections,
        scenarios=[s for s in SCENARIOS if s in scenarios],
        profile=args.profile,
        output=args.output,
        sqlite_analyze=args.sqlite_analyze,
        quiet_wait=args.quiet_wait,
        databases=databases,
        slices=max(1, args.slices or (1 if args.quick else 5)),
    )


# Loading a server


def _write_data(folder: Path, seeded: Seeded) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, ids in (
        ("conversations", seeded.conversations),
        ("users", seeded.users),
        ("messages", seeded.message_sample),
    ):
        (folder / f"{name}.txt").write_text("".join(f"{value}\n" for value in ids))


def _lua_env(seeded: Seeded, data: Path, scenario: str) -> dict[str, str]:
    return {
        "BENCH_SCENARIO": scenario,
        "BENCH_BOT_ID": seeded.bot_id,
        "BENCH_BOT_KEY": seeded.bot_key,
        "BENCH_MESSAGES": str(seeded.messages),
        "BENCH_DATA": str(data),
    }


def _check(server: Server, seeded: Seeded, scenario: str) -> None:
    """One request of the scenario, answered as expected, before wrk sends thousands."""
    headers = {"authorization": f"Bearer {seeded.bot_key}", "x-bot-id": seeded.bot_id}
    body: dict[str, Any] = {
        "conversationId": seeded.conversations[0],
        "userId": seeded.users[0],
        "type": "text",
        "payload": {"text": "hello from the check"},
        "tags": {},
    }
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        if scenario in ("finds", "creates"):
            body["tags"] = {TAG_KEY: "seed-0" if scenario == "finds" else f"check-{secrets.token_hex(6)}"}
            response = http.post("/v1/chat/messages/get-or-create", json=body)
            ok = response.status_code == 200 and response.json()["meta"]["created"] == (scenario == "creates")
        elif scenario == "create_message":
            response = http.post("/v1/chat/messages", json=body)
            ok = response.status_code == 201
        elif scenario == "list":
            response = http.get("/v1/chat/messages", params={"conversationId": seeded.conversations[0]})
            ok = response.status_code == 200 and len(response.json()["messages"]) == min(20, seeded.messages)
        else:
            response = http.get(f"/v1/chat/messages/{seeded.message_sample[0]}")
            ok = response.status_code == 200
    if not ok:
        raise BenchError(f"{scenario}: the check request was answered {response.status_code} {response.text}")


def _combine(slices: list[Measurement]) -> Measurement:
    """The slices of one run as one measurement: counts and times added up, and the median of the
    slices' p50 and p99 (wrk reports percentiles per run, which cannot be merged exactly)."""
    first = slices[0]
    postgres = [m.postgres_cpu_seconds for m in slices if m.postgres_cpu_seconds is not None]
    return replace(
        first,
        requests=sum(m.requests for m in slices),
        seconds=sum(m.seconds for m in slices),
        p50_ms=median(m.p50_ms for m in slices),
        p99_ms=median(m.p99_ms for m in slices),
        server_cpu_seconds=sum(m.server_cpu_seconds for m in slices),
        postgres_cpu_seconds=sum(postgres) if postgres else None,
        other_cpu_seconds=sum(m.other_cpu_seconds for m in slices),
        status_errors=sum(m.status_errors for m in slices),
        socket_errors=sum(m.socket_errors for m in slices),
        timeouts=sum(m.timeouts for m in slices),
    )


def _print(measured: Measurement) -> None:
    problems = [
        f"{count} {what}"
        for count, what in (
            (measured.status_errors, "error answers"),
            (measured.socket_errors, "socket errors"),
            (measured.timeouts, "timeouts"),
        )
        if count
    ]
    print(
        f"  {measured.database:<10} {measured.messages:>9,} {measured.scenario:<15} {measured.per_second:>8,.0f} req/s"
        f"  p50 {measured.p50_ms:.2f} ms  p99 {measured.p99_ms:.2f} ms  other load {measured.other_load:.2f} cores"
        + (f"  ({', '.join(problems)})" if problems else ""),
        file=sys.stderr,
        flush=True,
    )


@dataclass(frozen=True)
class _Target:
    """A server and the load to send it, as the slices of one run need them."""

    server: Server
    env: dict[str, str]
    database: str
    messages: int
    scenario: str
    postgres_name: str | None = None

    def prepare(self, options: Options) -> None:
        """Before the first slice: a quiet machine, then unmeasured load."""
        wait_quiet(timeout=options.quiet_wait)
        if options.warmup > 0:
            run_wrk(self.server.url, self.env, duration=options.warmup, connections=options.connections)
            wait_idle(self.server.pid)

    def slice(self, options: Options, profile: Path | None = None) -> Measurement:
        """One wrk run of `options.slice_seconds`, and what the server and the machine spent on it."""
        before = CpuTimes.now([self.server.pid], self.postgres_name)
        with profiling(self.server.pid, profile, duration=options.slice_seconds):
            result = run_wrk(self.server.url, self.env, duration=options.slice_seconds, connections=options.connections)
        spent = CpuTimes.now([self.server.pid], self.postgres_name).since(before)
        wait_idle(self.server.pid)
        return Measurement(
            database=self.database,
            messages=self.messages,
            scenario=self.scenario,
            requests=result.requests,
            seconds=result.seconds,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            server_cpu_seconds=spent.servers[0],
            postgres_cpu_seconds=spent.postgres if self.postgres_name else None,
            other_cpu_seconds=spent.other,
            status_errors=result.status_errors,
            socket_errors=result.socket_errors,
            timeouts=result.timeouts,
        )


@dataclass(frozen=True)
class _Baselines:
    litestar: _Target
    bare: _Target


def _alternate(options: Options, baselines: _Baselines, target: _Target, profile: Path | None) -> list[Measurement]:
    """The baselines and `target`, warmed up, then loaded in turns: a slice of the bare ASGI
    baseline, one of the Litestar baseline, one of `target`, and so on. The speed of a virtual
    machine drifts within seconds; slices that alternate see the same drift, which cancels out of
    the ratios."""
    turns = (baselines.bare, baselines.litestar, target)
    for turn in turns:
        turn.prepare(options)
    slices: list[list[Measurement]] = [[], [], []]
    for index in range(options.slices):
        slices[0].append(baselines.bare.slice(options))
        slices[1].append(baselines.litestar.slice(options))
        slices[2].append(target.slice(options, profile if index == 0 else None))
    combined = [_combine(found) for found in slices]
    for measured, source in zip(combined, turns, strict=True):
        _print(measured)
        if measured.errors:
            print(source.server.log_tail(), file=sys.stderr)
    bare, base = combined[0], combined[1]
    return [
        replace(
            one,
            baseline_per_second=base.per_second,
            baseline_cpu_per_1k=base.cpu_per_1k,
            bare_per_second=bare.per_second,
            bare_cpu_per_1k=bare.cpu_per_1k,
        )
        for one in combined
    ]


def _fake_seeded() -> Seeded:
    """Ids of the right shape for the baseline, which stores nothing."""
    ids = [f"{kind}_{secrets.token_hex(13).upper()}" for kind in ("conv", "user")]
    return Seeded("bot_BASELINE", "bp_bak_baseline", [ids[0]], [ids[1]], [], 1000)


@contextmanager
def _baselines(options: Options, work: Path) -> Iterator[_Baselines]:
    """The baseline servers, Litestar and bare ASGI, running for the whole session, as targets to load."""
    seeded = _fake_seeded()
    data = work / "baseline"
    _write_data(data, seeded)
    env = _lua_env(seeded, data, "finds")
    with (
        running(baseline_server(work / "baseline.log")) as litestar,
        running(uvicorn_server("bench.baseline:bare", work / "bare.log")) as bare,
    ):
        body = {"conversationId": seeded.conversations[0], "userId": seeded.users[0], "type": "text", "tags": {}}
        for server in (litestar, bare):
            response = httpx.post(server.url + "/v1/chat/messages/get-or-create", json=body, timeout=10)
            if response.status_code != 200:
                raise BenchError(f"baseline: the check request was answered {response.status_code} {response.text}")
        yield _Baselines(_Target(litestar, env, "baseline", 0, "baseline"), _Target(bare, env, "bare", 0, "baseline"))


@dataclass(frozen=True)
class _Served:
    messages: int
    seeded: Seeded
    data: Path
    server: Server
    postgres_name: str | None


@contextmanager
def _served(stack: ExitStack, options: Options, work: Path, kind: str, messages: int) -> Iterator[_Served]:
    found = new_database(kind, postgres_url=options.postgres_url, sqlite_path=work / f"parley-{messages}.db")
    url, postgres_name = stack.enter_context(found)
    print(f"seeding {messages:,} messages into {kind} ...", file=sys.stderr, flush=True)
    started = datetime.datetime.now()
    seeded = seed(Settings(database_url=url), messages=messages, sqlite_analyze=options.sqlite_analyze)
    print(f"  seeded in {(datetime.datetime.now() - started).total_seconds():.0f} s", file=sys.stderr)
    data = work / f"data-{kind}-{messages}"
    _write_data(data, seeded)
    server = stack.enter_context(running(parley_server(url, work / f"parley-{kind}-{messages}.log")))
    yield _Served(messages, seeded, data, server, postgres_name)


def measure_parley(options: Options, work: Path, kind: str, baselines: _Baselines) -> list[Measurement]:
    """Every scenario on every size of one database. All sizes are seeded and served first, then
    each scenario runs on each size in turn, in slices alternating with baseline slices: the
    growth from one size to the next, and every ratio to the baseline, compare measurements made
    within seconds of each other on a machine whose speed drifts."""
    found = []
    with ExitStack() as stack:
        served = []
        for messages in options.sizes:
            with _served(stack, options, work, kind, messages) as one:
                served.append(one)
        for scenario in options.scenarios:
            for one in served:
                _check(one.server, one.seeded, scenario)
                profile = None
                if options.profile is not None:
                    options.profile.mkdir(parents=True, exist_ok=True)
                    profile = options.profile / f"{kind}-{one.messages}-{scenario}.txt"
                target = _Target(
                    one.server,
                    _lua_env(one.seeded, one.data, scenario),
                    kind,
                    one.messages,
                    scenario,
                    one.postgres_name,
                )
                found += _alternate(options, baselines, target, profile)
    return found


# The report


def report(measurements: list[Measurement], options: Options, *, revision: str) -> str:
    baselines = sorted(m.per_second for m in measurements if m.database == "baseline")
    bares = sorted(m.per_second for m in measurements if m.database == "bare")
    parley = [m for m in measurements if m.database not in ("baseline", "bare")]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"{now}; {machine()}; parley {revision}",
        f"server pinned to core 0 (one process), wrk -t1 -c{options.connections} on core 1,"
        f" {options.duration:g} s per scenario in {options.slices} slices after {options.warmup:g} s of warm-up,"
        " each slice after a baseline slice as long"
        + ("; SQLite ANALYZEd after seeding (--sqlite-analyze)" if options.sqlite_analyze else ""),
        f"baseline (Litestar: parse + respond, no storage), measured beside every run: median"
        f" {median(baselines):,.0f} req/s, {baselines[0]:,.0f} to {baselines[-1]:,.0f};"
        f" bare ASGI (the same work, no framework): median {median(bares):,.0f} req/s,"
        f" {bares[0]:,.0f} to {bares[-1]:,.0f}",
        "",
        "| database | messages | scenario | req/s | baseline req/s | of baseline | of baseline, by CPU"
        " | bare ASGI req/s | of bare ASGI | of bare ASGI, by CPU | p50 ms"
        " | p99 ms | p99/p50 | server CPU s/1k req | PostgreSQL CPU s/1k req | errors | other load |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for m in parley:
        postgres = m.postgres_cpu_per_1k
        lines.append(
            f"| {m.database} | {size_label(m.messages)} | {TITLES[m.scenario]} | {m.per_second:,.0f}"
            f" | {m.baseline_per_second:,.0f} | {m.share:.2f} | {m.cpu_share:.2f}"
            f" | {m.bare_per_second:,.0f} | {m.bare_share:.2f} | {m.bare_cpu_share:.2f}"
            f" | {m.p50_ms:.2f} | {m.p99_ms:.2f}"
            f" | {m.p99_ms / m.p50_ms:.1f} | {m.cpu_per_1k:.3f} | {'-' if postgres is None else f'{postgres:.3f}'}"
            f" | {m.errors} | {m.other_load:.2f} |"
        )
    growth = _growth(parley)
    if growth:
        small, large = size_label(min(options.sizes)), size_label(max(options.sizes))
        lines += [
            "",
            f"Growth from {small} to {large} stored messages: how many times longer a request takes, each"
            " size relative to its own baseline slices (and by server CPU per request):",
            "",
            f"| database | scenario | req/s at {small} | req/s at {large} | growth | CPU growth |",
            "|---|---|--:|--:|--:|--:|",
        ]
        for low, high in growth:
            lines.append(
                f"| {low.database} | {TITLES[low.scenario]} | {low.per_second:,.0f} | {high.per_second:,.0f}"
                f" | {low.share / high.share:.2f} | {low.cpu_share / high.cpu_share:.2f} |"
            )
    lines += ["", *_targets(parley, growth)]
    busy = max(m.other_load for m in measurements)
    if busy > BUSY:
        lines += [
            "",
            f"Warning: other work kept up to {busy:.2f} cores busy during the runs (column 'other load'):"
            " those numbers are lower than this machine can do. Run again on a quiet machine.",
        ]
    return "\n".join(lines)


def _growth(measurements: list[Measurement]) -> list[tuple[Measurement, Measurement]]:
    pairs = []
    for database in ("sqlite", "postgresql"):
        for scenario in LOOKUPS:
            runs = sorted(
                (m for m in measurements if m.database == database and m.scenario == scenario),
                key=lambda m: m.messages,
            )
            if len(runs) >= 2 and runs[0].messages < runs[-1].messages:
                pairs.append((runs[0], runs[-1]))
    return pairs


def _targets(measurements: list[Measurement], growth: list[tuple[Measurement, Measurement]]) -> list[str]:
    lines = ["Targets (issue 'bench'):"]
    for (database, scenario), share in TARGETS.items():
        for m in (m for m in measurements if m.database == database and m.scenario == scenario):
            verdict = "met" if m.share >= share else "missed"
            lines.append(
                f"- {scenario} on {database} at {size_label(m.messages)}: {m.share:.0%} of the baseline's req/s"
                f" (target ≥ {share:.0%}): {verdict}; {m.cpu_share:.0%} by server CPU"
            )
    for low, high in growth:
        got = low.share / high.share
        verdict = "met" if got <= MAX_GROWTH else "missed"
        lines.append(f"- growth of {low.scenario} on {low.database}: {got:.2f} (target ≤ {MAX_GROWTH}): {verdict}")
    tails = ", ".join(
        f"{m.database} {size_label(m.messages)} {m.scenario} ({m.p99_ms / m.p50_ms:.1f} times)"
        for m in measurements
        if m.p99_ms > MAX_TAIL * m.p50_ms
    )
    lines.append(f"- p99 at most {MAX_TAIL:g} times p50: " + (f"missed by {tails}" if tails else "met everywhere"))
    return lines


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    started_at = revision()
    try:
        require_tools(profile=options.profile is not None)
        with (
            tempfile.TemporaryDirectory(prefix="parley-bench-") as folder,
            _baselines(options, Path(folder)) as baselines,
        ):
            work = Path(folder)
            measurements: list[Measurement] = []
            for kind in options.databases:
                measurements += measure_parley(options, work, kind, baselines)
            measured = revision()
            if measured != started_at:
                measured = f"{started_at} at the start, {measured} at the end: the code changed during the run"
            table = report(measurements, options, revision=measured)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    print(table)
    if options.output is not None:
        options.output.write_text(
            json.dumps({"report": table, "measurements": [asdict(m) for m in measurements]}, indent=2) + "\n"
        )
    return 0
