"""`parley worker` delivering beside a server that does not, and `parley deliveries` for operators."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parley.config import Settings
from parley.dispatch.worker import backoff_ms
from tests.conftest import BOT_DEFINITION, make_bot, running_server
from tests.harness import Api, Server, eventually
from tests.recorder import Recorder

QUICK_RETRIES = {
    "PARLEY_DISPATCH_RETRY_BASE_MS": "50",
    "PARLEY_DISPATCH_RETRY_MAX_MS": "100",
    "PARLEY_DISPATCH_MAX_ATTEMPTS": "2",
}
PING_BOT: dict[str, Any] = {**BOT_DEFINITION, "events": {"ping": {"schema": {"type": "object"}}}}


def _env(server: Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return {**env, **QUICK_RETRIES, "PARLEY_DATABASE_URL": server.database_url}


def _parley(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley", *args],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def quiet_server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """A server that queues deliveries but does not make them."""
    with running_server(request.param, work_dir, f"quiet-{request.node.name}", {"PARLEY_DISPATCH": "off"}) as server:
        yield server


@pytest.fixture
def worker(quiet_server: Server, work_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (work_dir / "worker.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "parley", "worker"], env=_env(quiet_server), stdout=log, stderr=subprocess.STDOUT
        )
    yield process
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def test_a_worker_process_delivers_and_the_cli_shows_and_retries(
    quiet_server: Server, worker: subprocess.Popen[bytes]
) -> None:
    admin = Api(quiet_server, quiet_server.admin_token)
    with Recorder(lambda _: (500, {"message": "down"})) as bot_server:
        bot = make_bot(admin, {**PING_BOT, "url": bot_server.url})
        event = bot.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]

        def failed() -> str | None:
            listed = _parley(quiet_server, "deliveries", "list", "--bot", bot.id, "--status", "failed")
            assert listed.returncode == 0, listed.stderr
            return listed.stdout or None

        line = eventually(failed, within=15)
        delivery_id = line.split()[0]
        assert "HTTP 500: down" in line
        shown = _parley(quiet_server, "deliveries", "show", delivery_id)
        assert shown.returncode == 0, shown.stderr
        detail = json.loads(shown.stdout)
        assert detail["delivery"]["eventId"] == event["id"]
        assert [a["outcome"] for a in detail["attempts"]] == ["retry", "failed"]

        bot_server.answer = lambda _: (200, {})
        retried = _parley(quiet_server, "deliveries", "retry", delivery_id)
        assert retried.returncode == 0, retried.stderr
        eventually(
            lambda: bot.api.ok("GET", f"/v1/chat/events/{event['id']}")["event"]["status"] == "processed" or None
        )
        assert len(bot_server.calls) == 3

    again = _parley(quiet_server, "deliveries", "retry", delivery_id)
    assert again.returncode == 1
    assert "only a failed delivery" in again.stderr
    missing = _parley(quiet_server, "deliveries", "show", "dlv_missing")
    assert missing.returncode == 1
    worker.terminate()
    assert worker.wait(10) == 0


def test_the_retry_backoff_doubles_up_to_the_max_and_is_jittered_below_it() -> None:
    settings = Settings(dispatch_retry_base_ms=1_000, dispatch_retry_max_ms=60_000)
    for attempts, full in [(1, 1_000), (2, 2_000), (3, 4_000), (7, 60_000), (30, 60_000)]:
        waits = {backoff_ms(settings, attempts) for _ in range(200)}
        assert min(waits) >= full / 2
        assert max(waits) <= full
        # Deliveries that failed together come back at different times.
        assert len(waits) > 50
