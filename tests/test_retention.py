"""Retention: deliveries that are done and finished events go once older than
PARLEY_RETENTION_DAYS; what is still pending stays, whatever its age."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BOT_DEFINITION, make_bot, running_server
from tests.harness import Api, Server, eventually
from tests.recorder import Received, Recorder

DAY_MS = 24 * 3600 * 1000
RETENTION_ENV = {
    "PARLEY_CLOCK": "adjustable",
    "PARLEY_RETENTION_DAYS": "2",
    "PARLEY_DISPATCH_RETRY_BASE_MS": "3600000",
    "PARLEY_DISPATCH_RETRY_MAX_MS": "3600000",
}
PINGED = {**BOT_DEFINITION, "events": {"ping": {"schema": {"type": "object"}}}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    with running_server(request.param, work_dir, f"retention-{request.param}", RETENTION_ENV) as instance:
        yield instance


def _deliveries(admin: Api, bot_id: str) -> dict[str, str]:
    """The bot's deliveries: id → status."""
    found = admin.ok("GET", "/v1/parley/deliveries", params={"botId": bot_id})["deliveries"]
    return {delivery["id"]: delivery["status"] for delivery in found}


def _bot_with_url(admin: Api, url: str) -> Any:
    return make_bot(admin, {**PINGED, "url": url})


def test_what_is_done_goes_after_the_retention_days_and_what_is_pending_stays(server: Server) -> None:
    admin = Api(server, server.admin_token)

    def refuse(_: Received) -> tuple[int, Any]:
        return 503, {"message": "down"}

    with Recorder() as up, Recorder(refuse) as down:
        served, failing = _bot_with_url(admin, up.url), _bot_with_url(admin, down.url)
        old = served.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]
        failing.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)
        delivered = eventually(
            lambda: [i for i, status in _deliveries(admin, served.id).items() if status == "delivered"] or None,
            what="the served bot's delivery delivered",
        )
        pending = eventually(
            lambda: list(_deliveries(admin, failing.id)) if down.calls else None, what="the failing bot called"
        )
        assert served.api.ok("GET", f"/v1/chat/events/{old['id']}")["event"]["status"] == "processed"

        admin.ok("POST", "/v1/parley/clock/advance", {"advanceMs": 3 * DAY_MS})
        recent = served.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]

        eventually(lambda: set(delivered).isdisjoint(_deliveries(admin, served.id)) or None, what="old ones pruned")
        served.api.error("GET", f"/v1/chat/events/{old['id']}", type="ResourceNotFound", status=404)
        assert list(_deliveries(admin, failing.id)) == pending, "a delivery still being retried stays"
        assert _deliveries(admin, failing.id)[pending[0]] in ("pending", "in_flight")
        assert served.api.ok("GET", f"/v1/chat/events/{recent['id']}")["event"]["id"] == recent["id"]
