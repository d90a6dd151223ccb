"""`parley db port`: a SQLite deployment with data of every kind, copied into PostgreSQL and
served from there as if nothing had happened."""

import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BOT_DEFINITION, install, make_bot
from tests.harness import TABLES, Api, PostgresDatabase, Server, postgres_available

FULL_BOT: dict[str, Any] = {
    **BOT_DEFINITION,
    "events": {"ping": {"schema": {"type": "object"}}},
    "states": {"flow": {"type": "conversation", "schema": {"type": "object"}}},
}


def _port(source: Path, target: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return subprocess.run(
        [sys.executable, "-m", "parley", "db", "port", "--from", f"sqlite:///{source}", "--to", target],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _fill(api: Api, admin: Api) -> dict[str, Any]:
    """One of everything, as a user of the API would make it."""
    bot = make_bot(admin, FULL_BOT)
    integration = install(admin, bot)
    conversation = integration.api.ok(
        "POST", "/v1/chat/conversations", {"channel": "channel", "tags": {"id": "c-1"}}, status=201
    )["conversation"]
    user = integration.api.ok("POST", "/v1/chat/users", {"tags": {"id": "u-1"}, "name": "Ann"}, status=201)["user"]
    body = {
        "payload": {"text": "hello"},
        "userId": user["id"],
        "conversationId": conversation["id"],
        "type": "text",
        "tags": {"id": "m-1"},
    }
    message = integration.api.ok("POST", "/v1/chat/messages/get-or-create", body)["message"]
    later = {**body, "tags": {"id": "m-2"}, "schedule": {"delay": 86_400_000}}
    integration.api.ok("POST", "/v1/chat/messages", later, status=201)
    bot.api.ok(
        "POST", "/v1/chat/events", {"type": "ping", "payload": {}, "schedule": {"delay": 86_400_000}}, status=201
    )
    path = f"/v1/chat/states/conversation/{conversation['id']}/flow"
    bot.api.ok("POST", path, {"payload": {"step": 1}, "expiry": 86_400_000})
    bot.api.ok(
        "POST", "/v1/chat/workflows", {"name": "onboarding", "status": "pending", "tags": {"k": "v"}}, status=201
    )
    bot.api.ok("POST", "/v1/chat/tasks", {"type": "review", "conversationId": conversation["id"]}, status=201)
    bot.api.ok("POST", "/v1/chat/analytics", {"name": "hello", "count": 2})
    return {"bot": bot, "integration": integration, "message": message, "body": body, "state": path}


def test_port_copies_everything_and_the_copy_serves(work_dir: Path) -> None:
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432.")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432.")
    source = work_dir / "port-source.db"
    token = f"bp_pat_{secrets.token_urlsafe(32)}"
    quiet = {"PARLEY_DISPATCH": "off"}
    original = Server("sqlite", f"sqlite:///{source}", token, env=quiet)
    original.start(work_dir / "port-source.log")
    try:
        made = _fill(Api(original, token), Api(original, token))
    finally:
        original.stop()
    with sqlite3.connect(source) as conn:
        expected = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES}
    assert all(expected[table] for table in ("events", "states", "timers", "deliveries", "workflows", "tasks"))

    with PostgresDatabase() as target:
        result = _port(source, target.url)
        assert result.returncode == 0, result.stderr
        assert "counts verified" in result.stdout
        copy = Server("postgresql", target.url, token, env=quiet)
        copy.start(work_dir / "port-target.log")
        try:
            snapshot = copy.snapshot()
            assert {table: len(rows) for table, rows in snapshot.items()} == expected
            bot, integration = made["bot"], made["integration"]
            bot_api = Api(copy, bot.api.token, {"x-bot-id": bot.id})
            integration_api = Api(copy, integration.api.token, integration.api.headers)
            found = integration_api.ok("POST", "/v1/chat/messages/get-or-create", made["body"])
            assert found == {"message": made["message"], "meta": {"created": False}}
            assert bot_api.ok("GET", made["state"])["state"]["payload"] == {"step": 1}
            values = bot_api.ok("GET", "/v1/chat/tags/chat:id/values", params={"type": "message"})["tags"]
            assert [v["value"] for v in values] == ["m-1", "m-2"]
            pending = Api(copy, token).ok("GET", "/v1/parley/deliveries", params={"status": "pending"})["deliveries"]
            assert pending
        finally:
            copy.stop()
        again = _port(source, target.url)
        assert again.returncode == 1
        assert "empty database" in again.stderr


def test_port_needs_sqlite_to_postgresql(tmp_path: Path) -> None:
    result = _port(tmp_path / "missing.db", "postgresql://postgres@127.0.0.1:5432/none")
    assert result.returncode == 2
    assert "No SQLite database" in result.stderr
