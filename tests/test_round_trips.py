"""What the incoming hot path asks of the database, counted: round trips on PostgreSQL (through a
proxy that counts them, bench/wire.py) and statements on SQLite (the connection's trace). An
integration's getOrCreateMessage that creates, once its conversation and user exist, and the
dispatcher's work to deliver its `message_created` event to the bot. Counts, not timings: a change
that adds a round trip to this path fails here.

The application runs in this process (the counts need its SQLite connection), driven through ASGI."""

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from bench.wire import counting_proxy

from parley import app as app_module
from parley.app import create_app
from parley.asgi import ASGIApp, Message
from parley.clock import SystemClock, iso_from_ms
from parley.config import Settings
from parley.service.api_keys import ensure_admin_token
from parley.store import open_database
from parley.store.database import Database
from parley.store.migrate import run_migrations
from tests.conftest import integration_definition
from tests.harness import PostgresDatabase, postgres_available
from tests.recorder import Recorder

# An incoming create: the read of conversation, author and lookup; BEGIN and the lock; the lookup
# or the inserts (message, tag index, event, delivery); COMMIT. SQLite runs those statements, a
# savepoint around them and the group's BEGIN and COMMIT (shared by the writes of a loop turn).
CREATE_ROUND_TRIPS = 4
CREATE_STATEMENTS = 9
# Its delivery: the claim; the bot and the event read; the outcome (the delivery, the attempt,
# the event: one statement on PostgreSQL, a transaction on SQLite); the claims that find nothing
# once the call has ended.
DELIVERY_ROUND_TRIPS = 7
DELIVERY_STATEMENTS = 13
# Background polls would otherwise fall into the counted windows now and then.
NO_POLLS = 3_600_000


class _Statements:
    """SQLite statements run on the application's connection."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, _: str) -> None:
        self.total += 1
        import os

        if os.environ.get("SHOWSQL"):
            print("SQL", _[:150])


@contextmanager
def _database(dialect: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Callable[[], int]]]:
    """The database URL the application is given and how many round trips (PostgreSQL) or
    statements (SQLite) it has made so far."""
    if dialect == "sqlite":
        folder.mkdir()
        statements = _Statements()
        real_open = open_database

        async def traced(settings: Settings) -> Database:
            db = await real_open(settings)
            db._raw.set_trace_callback(statements)  # type: ignore[attr-defined]
            return db

        monkeypatch.setattr(app_module, "open_database", traced)
        yield f"sqlite:///{folder / 'round-trips.db'}", lambda: statements.total
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432: PostgreSQL variants skipped.")
    with PostgresDatabase() as database, counting_proxy(database.url) as (url, counts):
        yield url, lambda: counts.requests


@asynccontextmanager
async def _serving(application: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """The application started (its lifespan), and a client that calls it in this process."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})

    async def run() -> None:
        await application({"type": "lifespan"}, inbox.get, outbox.put)

    lifespan = asyncio.create_task(run())
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(cast(Any, application)), base_url="http://parley"
        ) as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan


async def _ok(client: httpx.AsyncClient, method: str, path: str, body: Any, **headers: str) -> Any:
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code < 300, response.text
    return response.json()


async def _setup(client: httpx.AsyncClient, admin_token: str, bot_url: str) -> dict[str, str]:
    """A bot served by `bot_url`, an integration installed in it; the integration's headers."""
    admin = {"authorization": f"Bearer {admin_token}"}
    bot = (await _ok(client, "POST", "/v1/admin/bots", {"name": "hot path", "url": bot_url}, **admin))["bot"]
    definition = integration_definition(f"chatapp-{secrets.token_hex(4)}")
    integration = (await _ok(client, "POST", "/v1/admin/integrations", definition, **admin))["integration"]
    installation = {"enabled": True, "integrationId": integration["id"], "configuration": {}}
    await _ok(client, "PUT", f"/v1/admin/bots/{bot['id']}", {"integrations": {"chat": installation}}, **admin)
    key = await _ok(client, "POST", "/v1/admin/integrations/iaks", {"integrationId": integration["id"]}, **admin)
    return {
        "authorization": f"Bearer {key['value']}",
        "x-bot-id": bot["id"],
        "x-integration-id": integration["id"],
        "x-integration-alias": "chat",
    }


class _Chat:
    """One chat of the integration: its conversation and user, found again at every message."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], name: str) -> None:
        self._client = client
        self._headers = headers
        self._name = name
        self._sent = 0

    async def incoming(self, counted: Callable[[], int] | None = None) -> tuple[str, int]:
        """getOrCreateConversation → getOrCreateUser → getOrCreateMessage (a new message); the
        message's id, and what `counted` counted during getOrCreateMessage alone."""
        h = self._headers
        conversation = await _ok(
            self._client,
            "POST",
            "/v1/chat/conversations/get-or-create",
            {"channel": "channel", "tags": {"id": self._name}},
            **h,
        )
        user = await _ok(self._client, "POST", "/v1/chat/users/get-or-create", {"tags": {"id": self._name}}, **h)
        self._sent += 1
        body = {
            "conversationId": conversation["conversation"]["id"],
            "userId": user["user"]["id"],
            "type": "text",
            "payload": {"text": "hello"},
            "tags": {"id": f"{self._name}-{self._sent}"},
        }
        before = counted() if counted is not None else 0
        message = await _ok(self._client, "POST", "/v1/chat/messages/get-or-create", body, **h)
        assert message["meta"]["created"] is True
        return message["message"]["id"], (counted() - before if counted is not None else 0)


async def _settled(counted: Callable[[], int], done: Callable[[], bool]) -> None:
    """Waits until `done`, then until the counts have stopped moving for a while."""
    deadline = time.monotonic() + 20
    while not done():
        assert time.monotonic() < deadline, "the delivery did not arrive within 20 s"
        await asyncio.sleep(0.01)
    last = counted()
    while True:
        await asyncio.sleep(0.3)
        if counted() == last:
            return
        last = counted()


def _delivered(recorder: Recorder, message_id: str) -> Callable[[], bool]:
    return lambda: any(
        (call.body or {}).get("event", {}).get("payload", {}).get("message", {}).get("id") == message_id
        for call in recorder.calls
    )


async def _measure(url: str, counted: Callable[[], int], bot_url: str, recorder: Recorder) -> tuple[int, int]:
    """(counted in an incoming create, counted in delivering its event), each the fewest of
    three tries (a poll or a prepared statement's first use only ever adds)."""
    token = f"bp_pat_{secrets.token_urlsafe(24)}"
    base = Settings(database_url=url, admin_token=token, poll_ms=NO_POLLS)
    db = await open_database(base)
    try:
        async with db.transaction() as conn:
            await ensure_admin_token(conn, token, now=iso_from_ms(SystemClock().now_ms()))
    finally:
        await db.close()
    # Creates, counted where nothing delivers (a server with PARLEY_DISPATCH=off).
    async with _serving(create_app(base.with_overrides(dispatch=False))) as client:
        headers = await _setup(client, token, bot_url)
        chat = _Chat(client, headers, "chat-1")
        creates = [(await chat.incoming(counted))[1] for _ in range(4)][1:]
    # Deliveries, counted from the answer of a create on a server that delivers.
    async with _serving(create_app(base)) as client:
        chat = _Chat(client, headers, "chat-2")
        deliveries = []
        for attempt in range(4):
            before = counted()
            message_id, _ = await chat.incoming(counted)
            await _settled(counted, _delivered(recorder, message_id))
            if attempt:
                deliveries.append(counted() - before - min(creates))
    return min(creates), min(deliveries)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_an_incoming_create_and_its_delivery_cost_a_fixed_number_of_round_trips(
    dialect: str, work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = work_dir / f"round-trips-{secrets.token_hex(4)}"
    with Recorder() as recorder, _database(dialect, folder, monkeypatch) as (url, counted):
        run_migrations(Settings(database_url=url))
        create, delivery = asyncio.run(_measure(url, counted, recorder.url, recorder))
    if dialect == "postgresql":
        assert create <= CREATE_ROUND_TRIPS, f"an incoming create made {create} round trips"
        assert delivery <= DELIVERY_ROUND_TRIPS, f"a delivery made {delivery} round trips"
    else:
        assert create <= CREATE_STATEMENTS, f"an incoming create ran {create} statements"
        assert delivery <= DELIVERY_STATEMENTS, f"a delivery ran {delivery} statements"
