"""Faults between Parley and a real @botpress/sdk bot: a bot that answers errors, and Parley killed
with deliveries still waiting. Everything ends delivered exactly once once the fault is gone.

A broken bot is a stand-in server (tests/recorder.py) on the port the bot's `url` names; fixing it
means stopping the stand-in and starting the SDK bot on the same port.
"""

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import running_server
from tests.e2e.apps import ALIAS, Deployment, eventually
from tests.e2e.conftest import IMPATIENT, PATIENT, Deploy
from tests.harness import Api, Server
from tests.recorder import Received, Recorder

pytestmark = pytest.mark.e2e

MAX_ATTEMPTS = int(IMPATIENT["PARLEY_DISPATCH_MAX_ATTEMPTS"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """A server per dialect that gives a delivery up after three quick attempts."""
    with running_server(request.param, work_dir, "e2e-impatient", IMPATIENT) as instance:
        yield instance


def _crash(_: Received) -> tuple[int, Any]:
    return 500, {"id": "err_e2e", "code": 500, "type": "Runtime", "message": "The bot crashed."}


def _refuse(_: Received) -> tuple[int, Any]:
    return 400, {"id": "err_e2e", "code": 400, "type": "InvalidPayload", "message": "The bot refuses this."}


def _event_of(chat: Deployment, message_id: str) -> dict[str, Any]:
    [event] = chat.events_of(message_id)
    return event


def _failed(chat: Deployment, event_id: str) -> dict[str, Any]:
    [failed] = eventually(
        lambda: [d for d in chat.deliveries(eventId=event_id) if d["status"] == "failed"],
        what="the event's delivery failed",
    )
    return failed


def test_a_bot_answering_500_is_retried_then_failed_and_a_retry_after_the_fix_delivers(
    admin: Api, launch: Deploy
) -> None:
    with Recorder(_crash) as broken:
        chat = launch(admin, start_bot=False, bot_port=broken.port)
        room, ada = chat.conversation("room-d"), chat.user("ada-d")
        incoming = chat.say(room, ada, "are you there?", "in-d1")
        event = _event_of(chat, incoming["id"])
        failed = _failed(chat, event["id"])

    # Every attempt reached the bot's url, as the SDK's server expects it.
    assert len(broken.calls) == MAX_ATTEMPTS
    for call in broken.calls:
        assert call.method == "POST"
        assert call.headers["x-bot-id"] == chat.bot_id
        assert (call.headers["x-bp-operation"], call.headers["x-bp-type"]) == ("event_received", "message_created")
        configuration = json.loads(base64.b64decode(call.headers["x-bp-configuration"]))
        assert set(configuration) == {"payload"}
        assert isinstance(configuration["payload"], str)
        json.loads(configuration["payload"])
        assert call.body["event"]["id"] == event["id"]
        assert call.body["event"]["payload"]["message"]["id"] == incoming["id"]

    assert (failed["target"], failed["operation"], failed["attempts"]) == ("bot", "event_received", MAX_ATTEMPTS)
    assert "500" in failed["lastError"], failed
    detail = admin.ok("GET", f"/v1/parley/deliveries/{failed['id']}")
    assert [a["statusCode"] for a in detail["attempts"]] == [500] * MAX_ATTEMPTS
    failed_event = chat.event(event["id"])
    assert failed_event["status"] == "failed"
    assert "The bot crashed." in failed_event["failureReason"], failed_event

    # Fixed: the real bot listens on the same port. A retry delivers, once.
    chat.bot_app.start()
    retried = admin.ok("POST", f"/v1/parley/deliveries/{failed['id']}/retry")["delivery"]
    assert retried["status"] in ("pending", "in_flight", "delivered"), retried
    [sent] = eventually(lambda: chat.replies(room), what="the bot's reply reached the integration")
    assert sent["payload"] == {"text": "echo: are you there?"}
    eventually(lambda: chat.settled(3), what="every delivery settled")
    [delivered] = chat.deliveries(eventId=event["id"])
    assert (delivered["id"], delivered["status"]) == (failed["id"], "delivered")
    assert [entry["message"]["id"] for entry in chat.received(room)] == [incoming["id"]]
    detail = admin.ok("GET", f"/v1/parley/deliveries/{failed['id']}")
    assert [a["statusCode"] for a in detail["attempts"]][-1] == 200
    processed = chat.event(event["id"])
    assert (processed["status"], processed["failureReason"]) == ("processed", None)


def test_a_bot_answering_400_fails_the_delivery_at_once(admin: Api, launch: Deploy) -> None:
    with Recorder(_refuse) as refusing:
        chat = launch(admin, start_bot=False, bot_port=refusing.port)
        room, ada = chat.conversation("room-4"), chat.user("ada-4")
        incoming = chat.say(room, ada, "nope", "in-41")
        event = _event_of(chat, incoming["id"])
        failed = _failed(chat, event["id"])
        later = chat.say(room, ada, "still there?", "in-42")
        later_failed = _failed(chat, _event_of(chat, later["id"])["id"])
    assert len(refusing.calls) == 2
    assert (failed["attempts"], later_failed["attempts"]) == (1, 1)
    assert "400" in failed["lastError"], failed
    refused = chat.event(event["id"])
    assert refused["status"] == "failed"
    assert "The bot refuses this." in refused["failureReason"], refused


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_deliveries_waiting_when_parley_is_killed_are_made_once_after_a_restart(
    dialect: str, work_dir: Path, launch: Deploy
) -> None:
    with running_server(dialect, work_dir, "e2e-killed", PATIENT) as server:
        admin = Api(server, server.admin_token)
        chat = launch(admin, start_bot=False)
        room, other = chat.conversation("room-e1"), chat.conversation("room-e2")
        ada = chat.user("ada-e")
        said = {room: [chat.say(room, ada, f"e1-{i}", f"in-e1-{i}")["id"] for i in range(3)]}
        said[other] = [chat.say(other, ada, "e2-0", "in-e2-0")["id"]]
        head = _event_of(chat, said[room][0])
        eventually(
            lambda: [d for d in chat.deliveries(eventId=head["id"]) if d["attempts"] >= 2],
            what="failed attempts while the bot is down",
        )

        server.kill()
        server.start(work_dir / f"e2e-killed-{dialect}.log")
        waiting = chat.deliveries()
        assert len(waiting) == 5  # register, and one per message
        assert not [d for d in waiting if d["target"] == "bot" and d["status"] == "delivered"], waiting
        said[room].append(chat.say(room, ada, "e1-3", "in-e1-3")["id"])

        chat.bot_app.start()
        # A delivery that was in flight at the kill waits for its lease (timeout + 10 s) to run out.
        eventually(lambda: len(chat.replies()) >= 5 or None, within=40, what="five replies at the integration")
        settled = eventually(lambda: chat.settled(11), what="every delivery settled")

    assert {d["status"] for d in settled} == {"delivered"}
    for conversation, ids in said.items():
        assert [entry["message"]["id"] for entry in chat.received(conversation)] == ids
        texts = [entry["payload"]["text"] for entry in chat.replies(conversation)]
        assert len(texts) == len(ids)
        assert all(text.startswith("echo: ") for text in texts), texts
    assert len(chat.received()) == 5
    assert {entry["ctx"]["integrationAlias"] for entry in chat.replies()} == {ALIAS}
