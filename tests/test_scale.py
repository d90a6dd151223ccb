"""Many processes on one PostgreSQL: servers that behave as one, get-or-create races across them,
workers that share the outbox (one of them killed), losing the database and getting it back;
and the health, readiness and metrics endpoints."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BOT_DEFINITION, PLAN_DECLARED, install, make_bot
from tests.harness import PG_ADMIN_URL, Api, PostgresDatabase, Server, eventually, postgres_available
from tests.recorder import Received, Recorder

pytestmark = pytest.mark.skipif(
    not postgres_available() and not os.environ.get("CI"), reason="needs PostgreSQL at 127.0.0.1:5432"
)


@pytest.fixture
def database() -> Iterator[PostgresDatabase]:
    with PostgresDatabase() as created:
        yield created


def _start(database: PostgresDatabase, token: str, log: Path, **env: str) -> Server:
    server = Server("postgresql", database.url, token, env=env)
    server.start(log)
    return server


@pytest.fixture
def servers(database: PostgresDatabase, work_dir: Path) -> Iterator[list[Server]]:
    """Four `parley serve` processes on four ports against one database (dispatch off)."""
    token = f"bp_pat_{secrets.token_urlsafe(32)}"
    started = [_start(database, token, work_dir / f"scale-{i}.log", PARLEY_DISPATCH="off") for i in range(4)]
    yield started
    for server in started:
        server.stop()


def _scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of one GET /metrics, by name and labels; on a new connection each time, so
    that with several processes any of them may answer."""
    text = httpx.get(url + "/metrics", headers={"connection": "close"}, timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_health_readiness_and_metrics(server: Server) -> None:
    http = httpx.Client(base_url=server.url, timeout=10)
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}
    Api(server, server.admin_token).ok("GET", "/v1/admin/bots")
    samples = _scrape(server.url)
    assert samples[("parley_requests_total", frozenset({("operation", "listBots"), ("status", "200")}))] >= 1
    assert samples[("parley_request_seconds_bucket", frozenset({("operation", "listBots"), ("le", "+Inf")}))] >= 1
    assert ("parley_outbox_deliveries", frozenset({("status", "pending")})) in samples


def test_servers_on_one_database_behave_as_one(servers: list[Server]) -> None:
    first, *others = servers
    admin = Api(first, first.admin_token)
    bot = make_bot(admin)
    integration = install(admin, bot)
    # A change made through one process (a new installation, a new key) is seen by the others at once.
    for server in others:
        view = Api(server, integration.api.token, integration.api.headers)
        view.ok("POST", "/v1/chat/users", {"tags": {"id": server.url}}, status=201)


def test_a_process_that_has_seen_a_key_follows_changes_made_through_another(servers: list[Server]) -> None:
    first, second = servers[:2]
    admin = Api(first, first.admin_token)
    bot = make_bot(admin)
    key = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot.id, "note": "revoked elsewhere"})
    on_second = Api(second, key["value"], {"x-bot-id": bot.id})
    on_second.error("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, type="InvalidPayload", status=400)
    admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"user": {"tags": {"plan": {}}}})
    on_second.ok("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, status=201)
    admin.ok("DELETE", f"/v1/admin/bots/baks/{key['id']}")
    on_second.error("GET", "/v1/chat/users", type="Unauthorized", status=401)
    on_second.error("POST", "/v1/chat/users", {"tags": {"plan": 1}}, type="Unauthorized", status=401)


def test_a_change_to_one_bot_is_seen_by_every_process_and_leaves_the_others_parsed(servers: list[Server]) -> None:
    first, second = servers[:2]
    admin = Api(first, first.admin_token)
    changed, other = make_bot(admin), make_bot(admin)
    integration = install(admin, changed)
    on_second = [Api(second, bot.api.token, bot.api.headers) for bot in (changed, other)]
    integration_on_second = Api(second, integration.api.token, integration.api.headers)
    for api in (*on_second, integration_on_second):
        api.error("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, type="InvalidPayload", status=400)
    # Behind the servers' back: only a change of the bot's version would have them read it.
    first.execute("UPDATE bots SET definition = $2 WHERE id = $1", other.id, json.dumps(PLAN_DECLARED))
    admin.ok("PUT", f"/v1/admin/bots/{changed.id}", {"user": {"tags": {"plan": {}}}})
    declared: dict[str, Any] = {"user": {"tags": {"id": {}, "handle": {}, "plan": {}}}}
    admin.ok("PUT", f"/v1/admin/integrations/{integration.id}", declared)
    for api in (on_second[0], integration_on_second):
        api.ok("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, status=201)
    on_second[1].error("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, type="InvalidPayload", status=400)


def test_get_or_create_is_race_free_across_processes(servers: list[Server]) -> None:
    admin = Api(servers[0], servers[0].admin_token)
    bot = make_bot(admin)
    apis = [Api(server, bot.api.token, {"x-bot-id": bot.id}) for server in servers]
    user_body = {"tags": {"email": "race@example.com"}}
    conversation_body = {"channel": "web", "tags": {"topic": "race"}}

    def everywhere(path: str, body: dict[str, Any]) -> set[str]:
        calls = [apis[i % len(apis)] for i in range(len(apis) * 50)]
        with ThreadPoolExecutor(max_workers=64) as pool:
            answers = list(pool.map(lambda api: api.ok("POST", path, body), calls))
        assert sum(answer["meta"]["created"] for answer in answers) == 1
        return {next(v for k, v in answer.items() if k != "meta")["id"] for answer in answers}

    [user] = everywhere("/v1/chat/users/get-or-create", user_body)
    [conversation] = everywhere("/v1/chat/conversations/get-or-create", conversation_body)
    message_body = {
        "payload": {"text": "once"},
        "userId": user,
        "conversationId": conversation,
        "type": "text",
        "tags": {"externalId": "race-1"},
    }
    assert len(everywhere("/v1/chat/messages/get-or-create", message_body)) == 1


@contextmanager
def _serve_workers(database: PostgresDatabase, log: Path, workers: int, **env: str) -> Iterator[Server]:
    """`parley serve --workers N` on one port (dispatch off), stopped afterwards."""
    token = f"bp_pat_{secrets.token_urlsafe(32)}"
    server = Server("postgresql", database.url, token)
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "PROMETHEUS_"))},
        "PARLEY_DATABASE_URL": database.url,
        "PARLEY_ADMIN_TOKEN": token,
        "PARLEY_PORT": str(server.port),
        "PARLEY_DISPATCH": "off",
        **env,
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--workers", str(workers)],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        eventually(lambda: _answers(server.url), within=30)
        yield server
    finally:
        process.terminate()
        process.wait(20)


def test_serve_with_several_workers(database: PostgresDatabase, work_dir: Path) -> None:
    with _serve_workers(database, work_dir / "workers.log", 3) as server:
        bot = make_bot(Api(server, server.admin_token))
        body = {"tags": {"email": "w@example.com"}}
        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(lambda _: bot.api.ok("POST", "/v1/chat/users/get-or-create", body), range(100)))
        assert len({answer["user"]["id"] for answer in answers}) == 1


def test_metrics_of_serve_with_several_workers_sum_every_process(database: PostgresDatabase, work_dir: Path) -> None:
    # Where the run makes its metrics directory, to see that both processes write to it.
    temporary = work_dir / "workers-tmp"
    temporary.mkdir()
    with _serve_workers(database, work_dir / "workers-metrics.log", 2, TMPDIR=str(temporary)) as server:
        bot = make_bot(Api(server, server.admin_token))
        # A new connection per request, so that the kernel may hand them to either process; it
        # does not promise to share them, so batches go on until both processes have counted
        # (each writes its counts, and so its file, within a second of its first request).
        close = {"connection": "close"}
        requests = 0
        [directory] = temporary.glob("parley-metrics-*")
        deadline = time.monotonic() + 60
        while len(list(directory.glob("counter_*.db"))) < 2:
            assert time.monotonic() < deadline, "one process answered every request for a minute"
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(lambda _: bot.api.ok("GET", "/v1/chat/users", headers=close), range(100)))
            requests += 100
            time.sleep(1.5)

        listed = ("parley_requests_total", frozenset({("operation", "listUsers"), ("status", "200")}))
        timed = ("parley_request_seconds_count", frozenset({("operation", "listUsers")}))
        # Each process hands its counts over every second; from then on, every scrape has them all.
        eventually(lambda: _scrape(server.url)[listed] == requests or None, within=5)
        for _ in range(6):
            samples = _scrape(server.url)
            assert (samples[listed], samples[timed]) == (requests, requests)
    assert not directory.exists()


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env["PARLEY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'one.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "parley", "serve", "--workers", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr


def _answers(url: str) -> bool | None:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200 or None
    except httpx.TransportError:
        return None


def _worker(database: PostgresDatabase, log: Path, **env: str) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    full.update(env, PARLEY_DATABASE_URL=database.url)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "parley", "worker"], env=full, stdout=out, stderr=subprocess.STDOUT
        )


def _incoming(bot_api: Api, integration_api: Api, conversations: int, per_conversation: int) -> dict[str, list[str]]:
    """Messages created by the integration, in order, per conversation."""
    sent: dict[str, list[str]] = {}
    user = integration_api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)["user"]["id"]
    for c in range(conversations):
        conversation = integration_api.ok(
            "POST", "/v1/chat/conversations", {"channel": "channel", "tags": {"id": f"c{c}"}}, status=201
        )["conversation"]["id"]
        sent[conversation] = []
    for i in range(per_conversation):
        for conversation in sent:
            body = {
                "payload": {"text": f"m{i}"},
                "userId": user,
                "conversationId": conversation,
                "type": "text",
                "tags": {},
            }
            sent[conversation].append(
                integration_api.ok("POST", "/v1/chat/messages", body, status=201)["message"]["id"]
            )
    return sent


def _received(recorder: Recorder) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for call in recorder.calls:
        event = call.body["event"]
        got.setdefault(event["conversationId"], []).append(event["messageId"])
    return got


def test_several_workers_deliver_each_once_in_order(
    servers: list[Server], database: PostgresDatabase, work_dir: Path
) -> None:
    admin = Api(servers[0], servers[0].admin_token)
    with Recorder() as bot_server:
        bot = make_bot(admin, {**BOT_DEFINITION, "url": bot_server.url})
        integration = install(admin, bot)
        workers = [_worker(database, work_dir / f"worker-{i}.log") for i in range(3)]
        try:
            sent = _incoming(bot.api, integration.api, conversations=6, per_conversation=8)
            total = sum(len(ids) for ids in sent.values())
            eventually(lambda: len(bot_server.calls) >= total or None, within=30)
            time.sleep(0.3)
            assert _received(bot_server) == sent
        finally:
            for process in workers:
                process.terminate()
                process.wait(20)


def test_a_killed_worker_loses_nothing(servers: list[Server], database: PostgresDatabase, work_dir: Path) -> None:
    """A worker killed while its calls are in progress: after its leases run out another worker
    makes those calls, so every message arrives and every delivery ends delivered; only a call the
    dead worker had already made may arrive a second time (delivery is at least once)."""
    admin = Api(servers[0], servers[0].admin_token)

    def slow(_: Received) -> tuple[int, Any]:
        time.sleep(0.3)
        return 200, {}

    quick = {"PARLEY_DISPATCH_TIMEOUT_MS": "1000"}
    with Recorder(slow) as bot_server:
        bot = make_bot(admin, {**BOT_DEFINITION, "url": bot_server.url})
        integration = install(admin, bot)
        doomed = _worker(database, work_dir / "doomed.log", **quick)
        sent = _incoming(bot.api, integration.api, conversations=8, per_conversation=3)
        eventually(lambda: len(bot_server.calls) >= 2 or None, within=30)
        doomed.kill()
        doomed.wait()
        seen_before_kill = len(bot_server.calls)
        survivor = _worker(database, work_dir / "survivor.log", **quick)
        try:
            total = sum(len(ids) for ids in sent.values())
            eventually(
                lambda: (
                    {m for ids in _received(bot_server).values() for m in ids}
                    >= {m for ids in sent.values() for m in ids}
                    or None
                ),
                within=60,
            )

            def settled() -> list[dict[str, Any]] | None:
                # Calls the dead worker had started are made again once its leases run out.
                listed = admin.ok("GET", "/v1/parley/deliveries", params={"botId": bot.id, "pageSize": 100})
                rows = [row for row in listed["deliveries"] if row["target"] == "bot"]
                return rows if all(row["status"] == "delivered" for row in rows) else None

            rows = eventually(settled, within=60)
            assert len(rows) == total
            received = _received(bot_server)
            for conversation, ids in sent.items():
                # In order, once each, except that a call in progress at the kill may come again.
                deduplicated = list(dict.fromkeys(received[conversation]))
                assert deduplicated == ids
            assert len(bot_server.calls) - total <= 8 + seen_before_kill
        finally:
            survivor.terminate()
            survivor.wait(20)


async def _cut_connections(name: str, *, allow: bool) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
    finally:
        await conn.close()


def test_losing_the_database_answers_errors_quickly_and_recovers(database: PostgresDatabase, work_dir: Path) -> None:
    token = f"bp_pat_{secrets.token_urlsafe(32)}"
    server = _start(
        database, token, work_dir / "outage.log", PARLEY_DISPATCH="off", PARLEY_PG_ACQUIRE_TIMEOUT_MS="1000"
    )
    try:
        admin = Api(server, token)
        bot = make_bot(admin)
        bot.api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)
        asyncio.run(_cut_connections(database.name, allow=False))
        try:
            started = time.monotonic()
            for _ in range(3):
                failed = bot.api.error("POST", "/v1/chat/users", {"tags": {}}, type="OperationTimeout", status=504)
                assert "database" in failed["message"]
            assert time.monotonic() - started < 10
            ready = httpx.get(server.url + "/readyz", timeout=10)
            assert ready.status_code == 503
        finally:
            asyncio.run(_cut_connections(database.name, allow=True))
        eventually(lambda: bot.api.call("POST", "/v1/chat/users", {"tags": {}}).status_code == 201 or None, within=15)
        assert httpx.get(server.url + "/readyz", timeout=10).json() == {"status": "ready"}
    finally:
        server.stop()
