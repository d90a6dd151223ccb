"""A server told to stop (SIGTERM) stops accepting, finishes the requests in flight, ends its
Chat API streams with a last event, and hands its delivery leases back at once."""

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chat.test_streams import install_chat, listen, new_conversation, new_user
from tests.conftest import BOT_DEFINITION, make_bot, running_server
from tests.harness import Api, Server, eventually
from tests.recorder import Received, Recorder

SLOW_ACTION_S = 1.5
STUCK_DELIVERY_S = 20.0
PINGED = {
    **BOT_DEFINITION,
    "events": {"ping": {"schema": {"type": "object"}}},
    "actions": {"wait": {"input": {"schema": {"type": "object"}}, "output": {"schema": {"type": "object"}}}},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    with running_server(request.param, work_dir, f"shutdown-{request.param}") as instance:
        yield instance


class SlowBot:
    """Answers actions after SLOW_ACTION_S and deliveries after STUCK_DELIVERY_S; notes each call
    as it arrives."""

    def __init__(self) -> None:
        self.arrived: list[str] = []

    def __call__(self, received: Received) -> tuple[int, Any]:
        operation = received.headers.get("x-bp-operation", "")
        self.arrived.append(operation)
        if operation == "action_triggered":
            time.sleep(SLOW_ACTION_S)
            return 200, {"output": {"waited": True}}
        time.sleep(STUCK_DELIVERY_S)
        return 200, {}


def _refused(server: Server) -> bool:
    try:
        httpx.get(f"{server.url}/healthz", timeout=1)
    except httpx.TransportError:
        return True
    return False


def test_sigterm_finishes_requests_ends_streams_and_releases_deliveries(server: Server) -> None:
    assert server.process is not None
    admin = Api(server, server.admin_token)
    slow = SlowBot()
    with Recorder(slow) as bot_server:
        bot = make_bot(admin, {**PINGED, "url": bot_server.url})
        bot.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)
        eventually(lambda: slow.arrived or None, what="the delivery in flight")
        channel = install_chat(server)
        _, key = new_user(channel)
        stream = listen(channel, key, new_conversation(channel, key))
        answered: list[httpx.Response] = []
        action = threading.Thread(
            target=lambda: answered.append(bot.api.call("POST", "/v1/chat/actions", {"type": "wait", "input": {}}))
        )
        action.start()
        eventually(lambda: "action_triggered" in slow.arrived or None, what="the action in flight")

        stopping_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        lines = []
        while (line := stream.lines.get(timeout=5)) is not None:
            lines.append(line)
        assert "event: close" in lines, "the stream's last event says why it ended"
        assert time.monotonic() - stopping_at < 2, "streams end at once, not when the server gives up on them"
        eventually(lambda: _refused(server) or None, within=3, what="new connections refused")
        action.join(10)
        assert answered[0].status_code == 200, "the request in flight was finished"
        assert answered[0].json()["output"] == {"waited": True}
        server.process.wait(15)
        assert time.monotonic() - stopping_at < STUCK_DELIVERY_S
        stream.close()
    deliveries = server.snapshot()["deliveries"]
    assert [row for row in deliveries if "in_flight" in row] == [], "leases are handed back, not left to run out"
    assert any("pending" in row for row in deliveries)
