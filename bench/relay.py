"""`python -m bench.relay`: how many webhook calls one Parley process relays to an integration, and
how long each takes, beside the same load sent straight to the integration."""

import argparse
import datetime
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.integration import BODY
from bench.processes import (
    LOAD_CPU,
    BenchError,
    CpuTimes,
    Server,
    WrkResult,
    add_database_options,
    chosen_databases,
    machine,
    measured_since,
    new_database,
    ok,
    parley_server,
    parse_counts,
    require_tools,
    revision,
    run_wrk,
    running,
    uvicorn_server,
    wait_idle,
    wait_quiet,
)

LUA = Path(__file__).resolve().parent / "relay.lua"
ALIAS = "hooks"
WEBHOOK_RECEIVED = "webhook_received"
# What the check request sends, in the shape of bench/relay.lua's requests.
UPDATE = {
    "update_id": 1,
    "message": {"message_id": 1, "chat": {"id": 4242, "type": "private"}, "date": 1733450000, "text": "check"},
}
# How long the relay's records may take to be written once the load has stopped.
RECORDS_TIMEOUT_S = 120


@dataclass(frozen=True)
class Options:
    postgres_url: str | None
    databases: list[str]
    duration: float
    warmup: float
    connections: list[int]
    quiet_wait: float


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    add_database_options(parser)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of relayed load before measuring (default 2)")
    parser.add_argument("--connections", default="32,1", help="open wrk connections, one run each (default 32,1)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="before each pair of runs, wait up to this many seconds for other work on the machine to stop",
    )
    args = parser.parse_args(argv)
    databases = chosen_databases(parser, args)
    connections = parse_counts(parser, "--connections", args.connections)
    return Options(
        postgres_url=args.postgres_url,
        databases=databases,
        duration=args.duration,
        warmup=args.warmup,
        connections=connections,
        quiet_wait=args.quiet_wait,
    )


@dataclass(frozen=True)
class Run:
    """One wrk run, to the relay or straight to the stand-in integration, and the CPU it cost."""

    database: str
    target: str
    """`relay` or `direct`."""
    connections: int
    wrk: WrkResult
    cpu: CpuTimes
    """Since the run began; `servers` are Parley's and the stand-in's."""

    @property
    def per_second(self) -> float:
        return self.wrk.requests / self.wrk.seconds

    @property
    def errors(self) -> int:
        return self.wrk.status_errors + self.wrk.socket_errors + self.wrk.timeouts

    @property
    def parley_cpu_ms(self) -> float:
        """Parley's CPU milliseconds per answered request."""
        return self.cpu.servers[0] / max(1, self.wrk.requests) * 1000

    @property
    def stand_in_cpu_ms(self) -> float:
        """The stand-in integration's CPU milliseconds per answered request."""
        return self.cpu.servers[1] / max(1, self.wrk.requests) * 1000

    @property
    def other_load(self) -> float:
        """Cores busy with other work, on average over the run."""
        return max(0.0, self.cpu.other / self.wrk.seconds)


@dataclass(frozen=True)
class Records:
    """The relay's records of one database's runs, against what wrk counted."""

    database: str
    answered: int
    """Relayed requests answered: the check request and those wrk counted."""
    unanswered: int
    """Requests wrk sent but had no answer to when a run ended; the relay still handles them."""
    records: int
    """`webhook_received` deliveries listed once their count stopped growing."""

    @property
    def verdict(self) -> str:
        if self.records == self.answered:
            return "equal"
        if self.answered < self.records <= self.answered + self.unanswered:
            extra = self.records - self.answered
            return f"{extra} more: requests wrk gave up on at the end of a run, relayed all the same"
        if self.records < self.answered:
            return f"missing {self.answered - self.records}"
        return f"{self.records - self.answered - self.unanswered} more than wrk sent"

    @property
    def consistent(self) -> bool:
        return self.answered <= self.records <= self.answered + self.unanswered


@dataclass
class _Relayed:
    """Parley with one installation of the stand-in integration, and what was sent to its webhook."""

    database: str
    parley: Server
    integration: Server
    admin: httpx.Client
    bot_id: str
    url: str
    postgres_name: str | None
    answered: int = 0
    unanswered: int = 0

    def load(self, target: str, *, duration: float, connections: int) -> Run:
        """One wrk run of `target` (`relay`, or `direct` to the stand-in); waits until Parley is idle."""
        pids = [self.parley.pid, self.integration.pid]
        before = CpuTimes.now(pids, self.postgres_name)
        url = self.url if target == "relay" else self.integration.url + "/"
        result = run_wrk(url, {}, duration=duration, connections=connections, script=LUA)
        spent = CpuTimes.now(pids, self.postgres_name).since(before)
        if target == "relay":
            self.answered += result.requests
            self.unanswered += result.sent - result.requests
        wait_idle(self.parley.pid)
        return Run(self.database, target, connections, result, spent)

    def check(self) -> None:
        """One relayed request, answered with the stand-in's status and body, before wrk sends thousands."""
        response = httpx.post(self.url, json=UPDATE, timeout=30)
        self.answered += 1
        if response.status_code != 200 or response.content != BODY:
            raise BenchError(f"relay: the check request was answered {response.status_code} {response.text!r}")

    def records(self) -> Records:
        """Counts the relay's records until two counts a second apart agree (they are written after
        the answers, in the background)."""
        deadline = time.monotonic() + RECORDS_TIMEOUT_S
        last = -1
        while True:
            found = self._count_records()
            if found == last:
                return Records(self.database, self.answered, self.unanswered, found)
            if time.monotonic() > deadline:
                raise BenchError(f"the relay's records were still growing after {RECORDS_TIMEOUT_S} s ({found})")
            last = found
            time.sleep(1)

    def _count_records(self) -> int:
        count, params = 0, {"botId": self.bot_id, "pageSize": "100"}
        while True:
            page = ok(self.admin.get("/v1/parley/deliveries", params=params))
            count += sum(1 for delivery in page["deliveries"] if delivery["operation"] == WEBHOOK_RECEIVED)
            if not page["meta"].get("nextToken"):
                return count
            params["nextToken"] = page["meta"]["nextToken"]


def _install(admin: httpx.Client, integration_url: str) -> tuple[str, str]:
    """A bot with the stand-in integration installed and enabled: its id and the webhook id."""
    bot_id = ok(admin.post("/v1/admin/bots", json={"name": "b"}))["bot"]["id"]
    body = {"name": "relaybench", "version": "1.0.0", "url": integration_url + "/"}
    integration_id = ok(admin.post("/v1/admin/integrations", json=body))["integration"]["id"]
    installation = {"enabled": True, "integrationId": integration_id, "configuration": {}}
    ok(admin.put(f"/v1/admin/bots/{bot_id}", json={"integrations": {ALIAS: installation}}))
    bot = ok(admin.get(f"/v1/admin/bots/{bot_id}", headers={"x-multiple-integrations": "true"}))["bot"]
    webhook_id: str = bot["integrations"][ALIAS]["webhookId"]
    return bot_id, webhook_id


def _print(run: Run) -> None:
    problems = ", ".join(
        f"{count} {what}"
        for count, what in (
            (run.wrk.status_errors, "error answers"),
            (run.wrk.socket_errors, "socket errors"),
            (run.wrk.timeouts, "timeouts"),
        )
        if count
    )
    print(
        f"  {run.database:<10} {run.target:<6} c{run.connections:<3} {run.per_second:>8,.0f} req/s"
        f"  p50 {run.wrk.p50_ms:.2f} ms  p99 {run.wrk.p99_ms:.2f} ms"
        f"  CPU ms/req: Parley {run.parley_cpu_ms:.3f}, stand-in {run.stand_in_cpu_ms:.3f}"
        f"  other load {run.other_load:.2f}" + (f"  ({problems})" if problems else ""),
        file=sys.stderr,
        flush=True,
    )


def measure(options: Options, work: Path, kind: str, integration: Server) -> tuple[list[Run], Records]:
    """On a new database: Parley with the stand-in installed, a check, a relayed warm-up, then for
    each connection count a run straight to the stand-in and one through the relay; then the
    relay's records."""
    runs = []
    found = new_database(kind, postgres_url=options.postgres_url, sqlite_path=work / "parley.db")
    with found as (url, postgres_name), running(parley_server(url, work / f"parley-{kind}.log")) as parley:
        token = parley.env["PARLEY_ADMIN_TOKEN"]
        with httpx.Client(base_url=parley.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
            bot_id, webhook_id = _install(admin, integration.url)
            relayed = _Relayed(
                kind, parley, integration, admin, bot_id, f"{parley.url}/webhooks/{webhook_id}", postgres_name
            )
            relayed.check()
            if options.warmup > 0:
                relayed.load("relay", duration=options.warmup, connections=max(options.connections))
            for connections in options.connections:
                wait_quiet(timeout=options.quiet_wait)
                for target in ("direct", "relay"):
                    run = relayed.load(target, duration=options.duration, connections=connections)
                    _print(run)
                    if run.errors and target == "relay":
                        print(parley.log_tail(), file=sys.stderr)
                    runs.append(run)
            return runs, relayed.records()


def report(runs: list[Run], records: list[Records], options: Options, *, measured: str) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"{now}; {machine()}; parley {measured}",
        "Parley pinned to core 0 (one process, PARLEY_DISPATCH=off); the stand-in integration and wrk -t1 on core 1;"
        f" {options.duration:g} s per run, after {options.warmup:g} s of relayed warm-up",
        "",
        "| database | connections | relay req/s | direct req/s | relay p50 ms | direct p50 ms | added p50 ms"
        " | relay p99 ms | direct p99 ms | added p99 ms | Parley CPU ms/relayed req | errors | other load |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    direct_runs = {(r.database, r.connections): r for r in runs if r.target == "direct"}
    for relay in (r for r in runs if r.target == "relay"):
        direct = direct_runs[relay.database, relay.connections]
        lines.append(
            f"| {relay.database} | {relay.connections} | {relay.per_second:,.0f} | {direct.per_second:,.0f}"
            f" | {relay.wrk.p50_ms:.2f} | {direct.wrk.p50_ms:.2f} | {relay.wrk.p50_ms - direct.wrk.p50_ms:.2f}"
            f" | {relay.wrk.p99_ms:.2f} | {direct.wrk.p99_ms:.2f} | {relay.wrk.p99_ms - direct.wrk.p99_ms:.2f}"
            f" | {relay.parley_cpu_ms:.3f} | {relay.errors + direct.errors}"
            f" | {max(relay.other_load, direct.other_load):.2f} |"
        )
    lines += [
        "",
        "| database | relayed requests answered (wrk + check) | sent, unanswered when a run ended"
        " | webhook_received records | records against answers |",
        "|---|--:|--:|--:|---|",
    ]
    lines += [f"| {r.database} | {r.answered:,} | {r.unanswered:,} | {r.records:,} | {r.verdict} |" for r in records]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    started_at = revision()
    try:
        require_tools(profile=False)
        with tempfile.TemporaryDirectory(prefix="parley-relay-bench-") as folder:
            work = Path(folder)
            runs: list[Run] = []
            records: list[Records] = []
            # On wrk's core: Parley keeps core 0 to itself, as in `python -m bench` (bench/README.md).
            stand_in = uvicorn_server("bench.integration:app", work / "integration.log", cpu=LOAD_CPU)
            with running(stand_in) as integration:
                for kind in options.databases:
                    found, counted = measure(options, work, kind, integration)
                    runs += found
                    records.append(counted)
        measured = measured_since(started_at)
    except BenchError as error:
        print(f"bench.relay: {error}", file=sys.stderr)
        return 1
    print(report(runs, records, options, measured=measured))
    return 0 if all(r.consistent for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
