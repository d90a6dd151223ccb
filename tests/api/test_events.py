"""Events: createEvent, getEvent, listEvents, cancelScheduledEvent, and the events and deliveries
the platform records for messages."""

from typing import Any

import pytest

from tests.conftest import BOT_DEFINITION, BotSetup, IntegrationSetup, install, make_bot
from tests.harness import Api

PING_SCHEMA = {
    "type": "object",
    "properties": {"count": {"type": "integer"}},
    "required": ["count"],
    "additionalProperties": False,
}
EVENT_BOT: dict[str, Any] = {**BOT_DEFINITION, "events": {"ping": {"schema": PING_SCHEMA}}}
INTEGRATION_EVENTS: dict[str, Any] = {"events": {"issueCreated": {"schema": {"type": "object"}}}}


@pytest.fixture
def bot(admin: Api) -> BotSetup:
    return make_bot(admin, EVENT_BOT)


@pytest.fixture
def integration(admin: Api, bot: BotSetup) -> IntegrationSetup:
    return install(admin, bot, extra=INTEGRATION_EVENTS)


def _ping(api: Api, count: int = 1, **extra: Any) -> dict[str, Any]:
    body = {"type": "ping", "payload": {"count": count}, **extra}
    event: dict[str, Any] = api.ok("POST", "/v1/chat/events", body, status=201)["event"]
    return event


def _deliveries(admin: Api, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin.ok("GET", "/v1/parley/deliveries", params=query)["deliveries"]
    return found


def _conversation_and_user(api: Api, channel: str = "web") -> tuple[str, str]:
    conversation = api.ok("POST", "/v1/chat/conversations", {"channel": channel, "tags": {}}, status=201)
    user = api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)
    return conversation["conversation"]["id"], user["user"]["id"]


def test_create_event_answers_201_and_hands_it_to_the_bot(admin: Api, bot: BotSetup) -> None:
    event = _ping(bot.api, 3)
    assert event["id"].startswith("evt_")
    assert len(event["id"]) == 30
    assert event["type"] == "ping"
    assert event["payload"] == {"count": 3}
    assert event["status"] == "pending"
    assert event["failureReason"] is None
    assert len(event["createdAt"]) == 24
    assert "conversationId" not in event
    assert bot.api.ok("GET", f"/v1/chat/events/{event['id']}")["event"] == event
    [delivery] = _deliveries(admin, eventId=event["id"])
    assert delivery["target"] == "bot"
    assert delivery["operation"] == "event_received"
    assert delivery["botId"] == bot.id
    assert delivery["status"] == "pending"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "pong", "payload": {"count": 1}},
        {"type": "ping", "payload": {"count": "one"}},
        {"type": "ping", "payload": {"count": 1, "extra": True}},
        {"type": "ping"},
        {"type": "ping", "payload": {"count": 1}, "unknown": 1},
        {"type": "message_created", "payload": {}},
        {"type": "ping", "payload": {"count": 1}, "schedule": {"delay": 1000, "dateTime": "2030-01-01T00:00:00.000Z"}},
        {"type": "ping", "payload": {"count": 1}, "schedule": {}},
        {"type": "ping", "payload": {"count": 1}, "schedule": {"delay": -5}},
        {"type": "ping", "payload": {"count": 1}, "schedule": {"dateTime": "not a date, not a date at all"}},
        {"type": "ping", "payload": {"count": 1}, "schedule": {"dateTime": "2030-01-01"}},
    ],
)
def test_rejected_events_change_nothing(bot: BotSetup, body: dict[str, Any]) -> None:
    before = bot.api.server.snapshot()
    bot.api.error("POST", "/v1/chat/events", body, type="InvalidPayload", status=400)
    assert bot.api.server.snapshot() == before


def test_links_must_name_resources_of_the_same_bot(admin: Api, bot: BotSetup) -> None:
    conversation, user = _conversation_and_user(bot.api)
    message = bot.api.ok(
        "POST",
        "/v1/chat/messages",
        {"payload": {"text": "x"}, "userId": user, "conversationId": conversation, "type": "text", "tags": {}},
        status=201,
    )["message"]
    linked = _ping(bot.api, conversationId=conversation, userId=user, messageId=message["id"])
    assert (linked["conversationId"], linked["userId"], linked["messageId"]) == (conversation, user, message["id"])

    stranger = make_bot(admin, EVENT_BOT)
    other_conversation, other_user = _conversation_and_user(stranger.api)
    before = bot.api.server.snapshot()
    for link in (
        {"conversationId": other_conversation},
        {"userId": other_user},
        {"messageId": "msg_01JAAAAAAAAAAAAAAAAAAAAAAA"},
        {"workflowId": "wkf_01JAAAAAAAAAAAAAAAAAAAAAAA"},
    ):
        body = {"type": "ping", "payload": {"count": 1}, **link}
        bot.api.error("POST", "/v1/chat/events", body, type="ReferenceNotFound", status=400)
    assert bot.api.server.snapshot() == before


def test_an_integration_event_is_seen_by_the_bot_under_the_installation_alias(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    body = {"type": "issueCreated", "payload": {"key": "ENG-1"}}
    created = integration.api.ok("POST", "/v1/chat/events", body, status=201)["event"]
    assert created["type"] == "issueCreated"
    assert bot.api.ok("GET", f"/v1/chat/events/{created['id']}")["event"]["type"] == "chat:issueCreated"
    # The older prefixed form is still accepted from integrations.
    prefixed = integration.api.ok("POST", "/v1/chat/events", {**body, "type": "chat:issueCreated"}, status=201)
    assert prefixed["event"]["type"] == "issueCreated"
    listed = bot.api.ok("GET", "/v1/chat/events", params={"type": "chat:issueCreated"})["events"]
    assert [e["id"] for e in listed] == [prefixed["event"]["id"], created["id"]]
    own = integration.api.ok("GET", "/v1/chat/events", params={"type": "issueCreated"})["events"]
    assert [e["type"] for e in own] == ["issueCreated", "issueCreated"]
    # Integrations cannot create the bot's events, nor see them.
    integration.api.error(
        "POST", "/v1/chat/events", {"type": "ping", "payload": {"count": 1}}, type="InvalidPayload", status=400
    )
    bot_event = _ping(bot.api)
    integration.api.error("GET", f"/v1/chat/events/{bot_event['id']}", type="ResourceNotFound", status=404)
    assert bot_event["id"] not in [e["id"] for e in integration.api.ok("GET", "/v1/chat/events")["events"]]


def test_integration_events_the_bot_does_not_subscribe_to_are_ignored(admin: Api) -> None:
    picky = make_bot(admin, {**EVENT_BOT, "subscriptions": {"events": {"chat:somethingElse": {}}}})
    integration = install(admin, picky, extra=INTEGRATION_EVENTS)
    event = integration.api.ok("POST", "/v1/chat/events", {"type": "issueCreated", "payload": {}}, status=201)["event"]
    assert event["status"] == "ignored"
    assert _deliveries(admin, eventId=event["id"]) == []
    # The bot's own events always reach it.
    assert _ping(picky.api)["status"] == "pending"


def test_list_events_filters_and_pages_newest_first(bot: BotSetup) -> None:
    conversation, user = _conversation_and_user(bot.api)
    plain = [_ping(bot.api, i) for i in range(5)]
    linked = _ping(bot.api, 9, conversationId=conversation, userId=user)
    listed = bot.api.ok("GET", "/v1/chat/events", params={"type": "ping"})["events"]
    assert [e["id"] for e in listed] == [linked["id"], *[e["id"] for e in reversed(plain)]]

    first = bot.api.ok("GET", "/v1/chat/events", params={"pageSize": 4})
    assert len(first["events"]) == 4
    second = bot.api.ok("GET", "/v1/chat/events", params={"pageSize": 4, "nextToken": first["meta"]["nextToken"]})
    assert [e["id"] for e in first["events"] + second["events"]] == [e["id"] for e in listed]
    assert second["meta"] == {}

    by_conversation = bot.api.ok("GET", "/v1/chat/events", params={"conversationId": conversation})["events"]
    assert [e["id"] for e in by_conversation] == [linked["id"]]
    by_user = bot.api.ok("GET", "/v1/chat/events", params={"userId": user})["events"]
    assert [e["id"] for e in by_user] == [linked["id"]]
    assert len(bot.api.ok("GET", "/v1/chat/events", params={"status": "pending"})["events"]) == 6
    assert bot.api.ok("GET", "/v1/chat/events", params={"status": "failed"})["events"] == []
    bot.api.error("GET", "/v1/chat/events", params={"status": "lost"}, type="InvalidPayload", status=400)
    bot.api.error("GET", "/v1/chat/events", params={"nextToken": "garbage!"}, type="InvalidPayload", status=400)


def test_a_scheduled_event_waits_and_can_be_canceled(admin: Api, bot: BotSetup) -> None:
    scheduled = _ping(bot.api, schedule={"delay": 3_600_000})
    assert scheduled["status"] == "scheduled"
    assert _deliveries(admin, eventId=scheduled["id"]) == []
    assert bot.api.ok("DELETE", f"/v1/chat/events/scheduled/{scheduled['id']}") == {}
    assert bot.api.ok("GET", f"/v1/chat/events/{scheduled['id']}")["event"]["status"] == "canceled"
    before = bot.api.server.snapshot()
    bot.api.error("DELETE", f"/v1/chat/events/scheduled/{scheduled['id']}", type="ResourceNotFound", status=404)
    pending = _ping(bot.api)
    bot.api.error("DELETE", f"/v1/chat/events/scheduled/{pending['id']}", type="ResourceNotFound", status=404)
    assert bot.api.ok("GET", f"/v1/chat/events/{pending['id']}")["event"]["status"] == "pending"
    assert [e["id"] for e in bot.api.ok("GET", "/v1/chat/events", params={"status": "scheduled"})["events"]] == []
    assert bot.api.server.snapshot()["timers"] == before["timers"]


def test_a_schedule_in_the_past_or_with_no_delay_means_now(bot: BotSetup) -> None:
    assert _ping(bot.api, schedule={"dateTime": "2020-01-01T00:00:00.000Z"})["status"] == "pending"
    assert _ping(bot.api, schedule={"dateTime": "2020-01-01T00:00:00+00:00"})["status"] == "pending"
    assert _ping(bot.api, schedule={"delay": 0})["status"] == "pending"


def test_another_bot_cannot_see_or_cancel_the_events(admin: Api, bot: BotSetup) -> None:
    event = _ping(bot.api)
    scheduled = _ping(bot.api, schedule={"delay": 3_600_000})
    stranger = make_bot(admin, EVENT_BOT)
    before = bot.api.server.snapshot()
    stranger.api.error("GET", f"/v1/chat/events/{event['id']}", type="ResourceNotFound", status=404)
    stranger.api.error("DELETE", f"/v1/chat/events/scheduled/{scheduled['id']}", type="ResourceNotFound", status=404)
    assert stranger.api.ok("GET", "/v1/chat/events")["events"] == []
    assert bot.api.server.snapshot() == before


def _text(conversation: str, user: str, **extra: Any) -> dict[str, Any]:
    return {
        "payload": {"text": "hi"},
        "userId": user,
        "conversationId": conversation,
        "type": "text",
        "tags": {},
        **extra,
    }


def test_an_incoming_message_becomes_a_message_created_event_for_the_bot(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation, user = _conversation_and_user(integration.api, "channel")
    message = integration.api.ok("POST", "/v1/chat/messages", _text(conversation, user), status=201)["message"]
    [event] = bot.api.ok("GET", "/v1/chat/events", params={"messageId": message["id"]})["events"]
    assert event["type"] == "message_created"
    assert (event["conversationId"], event["userId"], event["status"]) == (conversation, user, "pending")
    payload = event["payload"]
    assert payload["message"] == bot.api.ok("GET", f"/v1/chat/messages/{message['id']}")["message"]
    assert payload["user"]["id"] == user
    assert payload["conversation"]["id"] == conversation
    assert payload["conversation"]["integration"] == integration.name
    [delivery] = _deliveries(admin, eventId=event["id"])
    assert (delivery["target"], delivery["operation"]) == ("bot", "event_received")
    # Integrations do not see the platform's events.
    integration.api.error("GET", f"/v1/chat/events/{event['id']}", type="ResourceNotFound", status=404)


def test_an_outgoing_message_goes_to_the_integration_that_owns_the_conversation(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation, _ = _conversation_and_user(integration.api, "channel")
    reply = bot.api.ok("POST", "/v1/chat/messages", _text(conversation, bot.id), status=201)["message"]
    [delivery] = _deliveries(admin, messageId=reply["id"])
    assert (delivery["target"], delivery["alias"], delivery["operation"]) == ("integration", "chat", "message_created")
    # The bot never receives its own messages.
    assert bot.api.ok("GET", "/v1/chat/events", params={"messageId": reply["id"]})["events"] == []
    # A message in a conversation of the bot's own goes nowhere.
    own, user = _conversation_and_user(bot.api)
    alone = bot.api.ok("POST", "/v1/chat/messages", _text(own, user), status=201)["message"]
    assert _deliveries(admin, messageId=alone["id"]) == []


def test_synthetic_messages_and_found_messages_are_not_dispatched(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation, user = _conversation_and_user(integration.api, "channel")
    synthetic = integration.api.ok(
        "POST", "/v1/chat/messages", _text(conversation, user, origin="synthetic"), status=201
    )["message"]
    assert bot.api.ok("GET", "/v1/chat/events", params={"messageId": synthetic["id"]})["events"] == []
    body = _text(conversation, user, tags={"id": "ext-1"})
    first = integration.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    again = integration.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert (first["meta"], again["meta"]) == ({"created": True}, {"created": False})
    events = bot.api.ok("GET", "/v1/chat/events", params={"messageId": first["message"]["id"]})["events"]
    assert len(events) == 1
    assert len(_deliveries(admin, eventId=events[0]["id"])) == 1


def test_deliveries_are_for_the_admin_only(bot: BotSetup) -> None:
    bot.api.error("GET", "/v1/parley/deliveries", type="Forbidden", status=403)
    anonymous = Api(bot.api.server, "nobody")
    anonymous.error("GET", "/v1/parley/deliveries", type="Unauthorized", status=401)
