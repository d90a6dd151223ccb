"""Time: scheduled messages and events, idle state expiry, and what survives a hard restart.

These tests run servers with `PARLEY_CLOCK=adjustable` and move the clock forward through
`/v1/parley/clock/advance` instead of waiting.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parley.clock import iso_from_ms
from parley.clock import parse_iso as ms
from tests.conftest import BOT_DEFINITION, BotSetup, IntegrationSetup, install, make_bot, running_server
from tests.harness import Api, Server, eventually

ADJUSTABLE = {"PARLEY_CLOCK": "adjustable", "PARLEY_DISPATCH": "off"}
TIMED_BOT: dict[str, Any] = {
    **BOT_DEFINITION,
    "events": {"reminder": {"schema": {"type": "object"}}},
    "states": {"flow": {"type": "conversation", "schema": {"type": "object"}}},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """Servers of this module run on an adjustable clock."""
    with running_server(request.param, work_dir, f"timed-{request.module.__name__}", ADJUSTABLE) as instance:
        yield instance


@pytest.fixture
def bot(admin: Api) -> BotSetup:
    return make_bot(admin, TIMED_BOT)


def advance(admin: Api, ms: int) -> None:
    admin.ok("POST", "/v1/parley/clock/advance", {"advanceMs": ms})


def _conversation_and_user(api: Api, channel: str) -> tuple[str, str]:
    conversation = api.ok("POST", "/v1/chat/conversations", {"channel": channel, "tags": {}}, status=201)
    user = api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)
    return conversation["conversation"]["id"], user["user"]["id"]


def _scheduled_text(api: Api, conversation: str, user: str, schedule: dict[str, Any]) -> dict[str, Any]:
    body = {
        "payload": {"text": "later"},
        "userId": user,
        "conversationId": conversation,
        "type": "text",
        "tags": {},
        "schedule": schedule,
    }
    message: dict[str, Any] = api.ok("POST", "/v1/chat/messages", body, status=201)["message"]
    return message


def _listed(api: Api, conversation: str) -> list[str]:
    return [m["id"] for m in api.ok("GET", "/v1/chat/messages", params={"conversationId": conversation})["messages"]]


def _message_events(api: Api, message_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.ok("GET", "/v1/chat/events", params={"messageId": message_id})["events"]
    return found


def _deliveries(admin: Api, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin.ok("GET", "/v1/parley/deliveries", params=query)["deliveries"]
    return found


def test_the_clock_moves_only_on_an_adjustable_server_and_only_forward(admin: Api) -> None:
    before = admin.ok("GET", "/v1/parley/clock")
    assert before["adjustable"] is True
    moved = admin.ok("POST", "/v1/parley/clock/advance", {"advanceMs": 3_600_000})
    assert ms(moved["now"]) - ms(before["now"]) >= 3_600_000
    admin.error("POST", "/v1/parley/clock/advance", {"advanceMs": -1}, type="InvalidPayload", status=400)


def test_a_scheduled_message_appears_and_is_dispatched_when_due(admin: Api, bot: BotSetup) -> None:
    integration: IntegrationSetup = install(admin, bot)
    conversation, user = _conversation_and_user(integration.api, "channel")
    message = _scheduled_text(integration.api, conversation, user, {"delay": 600_000})
    assert integration.api.ok("GET", f"/v1/chat/messages/{message['id']}")["message"]["id"] == message["id"]
    assert _listed(integration.api, conversation) == []
    assert _message_events(bot.api, message["id"]) == []

    advance(admin, 599_000)
    assert _listed(integration.api, conversation) == []
    assert _message_events(bot.api, message["id"]) == []

    advance(admin, 1_000)
    assert _listed(integration.api, conversation) == [message["id"]]
    [event] = eventually(lambda: _message_events(bot.api, message["id"]) or None)
    assert event["type"] == "message_created"
    assert len(_deliveries(admin, eventId=event["id"])) == 1
    advance(admin, 600_000)
    time.sleep(0.1)
    assert len(_message_events(bot.api, message["id"])) == 1


def test_a_scheduled_outgoing_message_goes_to_the_integration_when_due(admin: Api, bot: BotSetup) -> None:
    integration = install(admin, bot)
    conversation, _ = _conversation_and_user(integration.api, "channel")
    now = admin.ok("GET", "/v1/parley/clock")["now"]
    message = _scheduled_text(bot.api, conversation, bot.id, {"dateTime": iso_from_ms(ms(now) + 86_400_000)})
    assert _deliveries(admin, messageId=message["id"]) == []
    advance(admin, 86_400_000)
    [delivery] = eventually(lambda: _deliveries(admin, messageId=message["id"]) or None)
    assert (delivery["target"], delivery["alias"]) == ("integration", "chat")


def test_a_deleted_scheduled_message_is_never_dispatched(admin: Api, bot: BotSetup) -> None:
    integration = install(admin, bot)
    conversation, _ = _conversation_and_user(integration.api, "channel")
    message = _scheduled_text(bot.api, conversation, bot.id, {"delay": 1_000})
    bot.api.ok("DELETE", f"/v1/chat/messages/{message['id']}")
    advance(admin, 2_000)
    time.sleep(0.1)
    assert _deliveries(admin, messageId=message["id"]) == []


def test_a_scheduled_event_turns_pending_when_due(admin: Api, bot: BotSetup) -> None:
    body = {"type": "reminder", "payload": {}, "schedule": {"delay": 30_000}}
    event = bot.api.ok("POST", "/v1/chat/events", body, status=201)["event"]
    canceled = bot.api.ok("POST", "/v1/chat/events", body, status=201)["event"]
    bot.api.ok("DELETE", f"/v1/chat/events/scheduled/{canceled['id']}")
    assert event["status"] == "scheduled"
    advance(admin, 30_000)

    def status() -> str | None:
        found: str = bot.api.ok("GET", f"/v1/chat/events/{event['id']}")["event"]["status"]
        return None if found == "scheduled" else found

    assert eventually(status) == "pending"
    assert len(_deliveries(admin, eventId=event["id"])) == 1
    assert bot.api.ok("GET", f"/v1/chat/events/{canceled['id']}")["event"]["status"] == "canceled"
    assert _deliveries(admin, eventId=canceled["id"]) == []
    bot.api.error("DELETE", f"/v1/chat/events/scheduled/{event['id']}", type="ResourceNotFound", status=404)


def test_an_idle_state_expires_into_a_state_expired_event(admin: Api, bot: BotSetup) -> None:
    conversation, _ = _conversation_and_user(bot.api, "web")
    path = f"/v1/chat/states/conversation/{conversation}/flow"
    state = bot.api.ok("POST", path, {"payload": {"step": 1}, "expiry": 60_000})["state"]
    advance(admin, 40_000)
    bot.api.ok("PATCH", path, {"payload": {"step": 2}})  # activity: the idle time starts again
    advance(admin, 40_000)
    bot.api.ok("GET", path)  # reading is not activity
    time.sleep(0.05)
    assert bot.api.ok("GET", path)["state"]["payload"] == {"step": 2}
    advance(admin, 20_000)

    def expired() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = bot.api.ok("GET", "/v1/chat/events", params={"type": "state_expired"})["events"]
        return found or None

    [event] = eventually(expired)
    bot.api.error("GET", path, type="ResourceNotFound", status=404)
    assert event["conversationId"] == conversation
    assert event["payload"]["state"]["id"] == state["id"]
    assert event["payload"]["state"]["name"] == "flow"
    assert event["payload"]["state"]["payload"] == {"step": 2}
    assert len(_deliveries(admin, eventId=event["id"])) == 1


def test_a_state_without_expiry_stays(admin: Api, bot: BotSetup) -> None:
    conversation, _ = _conversation_and_user(bot.api, "web")
    path = f"/v1/chat/states/conversation/{conversation}/flow"
    bot.api.ok("POST", path, {"payload": {"step": 1}, "expiry": 1_000})
    bot.api.ok("POST", path + "/expiry", {"expiry": None})
    advance(admin, 2_592_000_000)
    time.sleep(0.1)
    assert bot.api.ok("GET", path)["state"]["payload"] == {"step": 1}


def test_due_work_is_done_within_a_second_of_its_due_time(admin: Api, bot: BotSetup) -> None:
    """Real time, no clock moves: a message due in 300 ms shows up and goes out in time."""
    integration = install(admin, bot)
    conversation, user = _conversation_and_user(integration.api, "channel")
    message = _scheduled_text(integration.api, conversation, user, {"delay": 300})
    due = ms(message["createdAt"]) + 300
    [event] = eventually(lambda: _message_events(bot.api, message["id"]) or None)
    assert _listed(integration.api, conversation) == [message["id"]]
    [delivery] = _deliveries(admin, eventId=event["id"])
    assert 0 <= ms(delivery["createdAt"]) - due <= 1_000


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_scheduled_work_survives_a_hard_restart(dialect: str, work_dir: Path) -> None:
    """Scheduled 2 s ahead, the server killed with SIGKILL and started again: the message still
    appears and is handed to dispatch once, within a second of its due time; so do a scheduled
    event and a state expiry. A second hard restart repeats nothing."""
    with running_server(dialect, work_dir, f"restart-{dialect}", ADJUSTABLE) as server:
        admin = Api(server, server.admin_token)
        bot = make_bot(admin, TIMED_BOT)
        integration = install(admin, bot)
        conversation, user = _conversation_and_user(integration.api, "channel")
        message = _scheduled_text(integration.api, conversation, user, {"delay": 2_000})
        due = ms(message["createdAt"]) + 2_000
        event = bot.api.ok(
            "POST", "/v1/chat/events", {"type": "reminder", "payload": {}, "schedule": {"delay": 2_000}}, status=201
        )["event"]
        bot_conversation, _ = _conversation_and_user(bot.api, "web")
        state_path = f"/v1/chat/states/conversation/{bot_conversation}/flow"
        bot.api.ok("POST", state_path, {"payload": {}, "expiry": 2_000})

        server.kill()
        server.start(work_dir / f"restart-{dialect}.log")
        admin = Api(server, server.admin_token)
        bot_api = Api(server, bot.api.token, {"x-bot-id": bot.id})
        integration_api = Api(server, integration.api.token, integration.api.headers)
        # A new process starts from the wall clock again; bring it to the due time if needed.
        # (On a busy machine the restart itself may outlast the 2 s: the work is then due at once.)
        now = ms(admin.ok("GET", "/v1/parley/clock")["now"])
        if now < due:
            advance(admin, due - now)
        due_or_back = max(due, now)

        # Time is judged by the server's own timestamps below, not by how fast this test polls.
        [created] = eventually(lambda: _message_events(bot_api, message["id"]) or None)
        assert _listed(integration_api, conversation) == [message["id"]]
        [delivery] = _deliveries(admin, eventId=created["id"])
        assert ms(delivery["createdAt"]) - due_or_back <= 1_000
        assert eventually(
            lambda: bot_api.ok("GET", f"/v1/chat/events/{event['id']}")["event"]["status"] == "pending" or None
        )
        eventually(lambda: bot_api.ok("GET", "/v1/chat/events", params={"type": "state_expired"})["events"] or None)
        bot_api.error("GET", state_path, type="ResourceNotFound", status=404)
        done = server.snapshot()

        server.kill()
        server.start(work_dir / f"restart-{dialect}.log")
        time.sleep(0.3)
        again = server.snapshot()
        for table in ("events", "deliveries", "timers", "states", "messages"):
            assert again[table] == done[table], table


def test_get_or_create_schedules_the_message_it_creates(admin: Api, bot: BotSetup) -> None:
    integration = install(admin, bot)
    conversation, user = _conversation_and_user(integration.api, "channel")
    body = {
        "payload": {"text": "later"},
        "userId": user,
        "conversationId": conversation,
        "type": "text",
        "tags": {"id": "ext-later"},
        "schedule": {"delay": 5_000},
    }
    created = integration.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert created["meta"] == {"created": True}
    # Found before it is due: the same message, still scheduled once.
    found = integration.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert (found["meta"], found["message"]["id"]) == ({"created": False}, created["message"]["id"])
    assert _listed(integration.api, conversation) == []
    advance(admin, 5_000)
    [event] = eventually(lambda: _message_events(bot.api, created["message"]["id"]) or None)
    assert len(_deliveries(admin, eventId=event["id"])) == 1
    assert _listed(integration.api, conversation) == [created["message"]["id"]]


def test_an_integration_can_ask_to_be_registered_again_periodically(admin: Api, bot: BotSetup) -> None:
    integration = install(admin, bot)

    def registers() -> list[dict[str, Any]]:
        found = _deliveries(admin, botId=bot.id)
        return [d for d in found if d["operation"] == "register" and d["alias"] == integration.alias]

    installed = len(registers())
    integration.api.ok("POST", "/v1/chat/integrations/configure", {"scheduleRegisterCall": "hourly"})
    advance(admin, 3_599_000)
    time.sleep(0.1)
    assert len(registers()) == installed
    advance(admin, 1_000)
    eventually(lambda: len(registers()) == installed + 1 or None)
    advance(admin, 3_600_000)
    eventually(lambda: len(registers()) == installed + 2 or None)
