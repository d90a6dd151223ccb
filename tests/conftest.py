"""Fixtures: a real server per database dialect, and callers set up through the Admin API."""

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Api, PostgresDatabase, Server, postgres_available
from tests.recorder import Recorder

BOT_DEFINITION: dict[str, Any] = {
    "name": "test bot",
    "user": {"tags": {"email": {}, "crmId": {"title": "CRM id"}}},
    "conversation": {"tags": {"topic": {}, "priority": {}}},
    "message": {"tags": {"externalId": {}, "kind": {}, "source": {}}},
}

# A bot definition as stored (not as the Admin API takes it) that declares the user tag `plan`,
# for tests that write a definition behind the server's back.
PLAN_DECLARED: dict[str, Any] = {
    "user": {"tags": {"plan": {}}},
    "conversation": {"tags": {}},
    "message": {"tags": {}},
}

TEXT_SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string", "minLength": 1}},
    "required": ["text"],
    "additionalProperties": False,
}


def integration_definition(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1.0.0",
        "title": "Chat app",
        "channels": {
            "channel": {
                "messages": {"text": {"schema": TEXT_SCHEMA}},
                "conversation": {"tags": {"id": {}, "thread": {}}},
                "message": {"tags": {"id": {}, "threadTs": {}}},
            },
            "dm": {"messages": {"text": {"schema": TEXT_SCHEMA}}, "conversation": {"tags": {"id": {}}}},
        },
        "user": {"tags": {"id": {}, "handle": {}}},
    }


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="parley-tests-") as path:
        yield Path(path)


@contextmanager
def running_server(dialect: str, work_dir: Path, name: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A `parley serve` process on a fresh database of `dialect`, stopped (and its PostgreSQL
    database dropped) afterwards. Skips the PostgreSQL variant when no PostgreSQL is reachable,
    except under CI."""
    token = f"bp_pat_{secrets.token_urlsafe(32)}"
    if dialect == "sqlite":
        instance = Server("sqlite", f"sqlite:///{work_dir / f'{name}.db'}", token, env=env or {})
        instance.start(work_dir / f"{name}-sqlite.log")
        try:
            yield instance
        finally:
            instance.stop()
        return
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432, and CI must run every test on it.")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432: PostgreSQL variants skipped.")
    with PostgresDatabase() as database:
        instance = Server("postgresql", database.url, token, env=env or {})
        instance.start(work_dir / f"{name}-postgresql.log")
        try:
            yield instance
        finally:
            instance.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """One running server per dialect, shared by the tests of that dialect."""
    # Dispatch is off: these tests look at the outbox rows themselves; the dispatch tests run
    # servers of their own that deliver.
    with running_server(request.param, work_dir, "parley", {"PARLEY_DISPATCH": "off"}) as instance:
        yield instance


@pytest.fixture
def admin(server: Server) -> Api:
    return Api(server, server.admin_token)


@dataclass
class BotSetup:
    id: str
    api: Api


def make_bot(admin: Api, definition: dict[str, Any] | None = None) -> BotSetup:
    bot = admin.ok("POST", "/v1/admin/bots", definition or BOT_DEFINITION)["bot"]
    key = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot["id"], "note": "tests"})
    return BotSetup(bot["id"], Api(admin.server, key["value"], {"x-bot-id": bot["id"]}))


@pytest.fixture
def bot(admin: Api) -> BotSetup:
    """A bot with declared user, conversation and message tags, and a bot API key."""
    return make_bot(admin)


@dataclass
class IntegrationSetup:
    id: str
    name: str
    alias: str
    api: Api


def install(admin: Api, bot: BotSetup, *, alias: str = "chat", extra: dict[str, Any] | None = None) -> IntegrationSetup:
    """Registers a new integration (the standard definition plus `extra` sections) and installs it."""
    name = f"chatapp-{secrets.token_hex(4)}"
    definition = {**integration_definition(name), **(extra or {})}
    integration = admin.ok("POST", "/v1/admin/integrations", definition)["integration"]
    admin.ok(
        "PUT",
        f"/v1/admin/bots/{bot.id}",
        {"integrations": {alias: {"enabled": True, "integrationId": integration["id"], "configuration": {}}}},
    )
    key = admin.ok("POST", "/v1/admin/integrations/iaks", {"integrationId": integration["id"]})
    headers = {"x-bot-id": bot.id, "x-integration-id": integration["id"], "x-integration-alias": alias}
    return IntegrationSetup(integration["id"], name, alias, Api(admin.server, key["value"], headers))


@pytest.fixture
def integration(admin: Api, bot: BotSetup) -> IntegrationSetup:
    """An integration with two channels, installed in `bot` as `chat`, with its API key."""
    return install(admin, bot)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A stand-in bot or integration server, answering 200 `{}` unless told otherwise."""
    with Recorder() as instance:
        yield instance
