"""A real @botpress/sdk bot and integration, served by each pinned SDK (tests/e2e/package.json and
tests/e2e/sdk7/package.json) and talking to Parley over HTTP in both directions.

The integration (integration.mjs) is a chat app: the tests play its webhook handler and create
incoming messages under its identity. Parley dispatches each to the bot (bot.mjs), which answers
`echo: <text>` through the Runtime API; Parley dispatches the answer to the integration, whose
handler acknowledges it with `ack({tags: {id: 'ext-<message id>'}})`.
"""

import json
from typing import Any

import pytest

from tests.e2e.apps import ALIAS, CHANNEL, SDK_DIRS, Sdk, eventually
from tests.e2e.conftest import Deploy
from tests.harness import Api
from tests.node_packages import assert_pinned

pytestmark = pytest.mark.e2e

# By SDK: the packages asked for, and the client installed. @botpress/sdk 5.4.3 depends on exactly
# client 1.35.0. 7.2.4 asks for client 2.5.0 and zui ^2.4.1, which the registry we install from
# lacks: npm overrides put the newest it has in their place (sdk.mjs bridges the client's gap).
PINS = {
    "sdk5": ({"@botpress/sdk": "5.4.3", "@bpinternal/zui": "1.3.3"}, {"@botpress/client": "1.35.0"}),
    "sdk7": ({"@botpress/sdk": "7.2.4", "@bpinternal/zui": "2.1.1"}, {"@botpress/client": "1.45.0"}),
}
OVERRIDES = {"sdk7": {"@botpress/client": "1.45.0", "@bpinternal/zui": "2.1.1"}}


@pytest.mark.parametrize("sdk_id", list(SDK_DIRS))
def test_the_sdk_is_pinned_to_exact_versions(sdk_id: str) -> None:
    direct, client = PINS[sdk_id]
    assert_pinned(SDK_DIRS[sdk_id], direct, client, overrides=OVERRIDES.get(sdk_id))


def test_the_programs_run_on_the_sdk_they_are_given(sdk: Sdk, sdk_definitions: dict[str, Any]) -> None:
    direct, _ = PINS[sdk.name]
    assert sdk_definitions["sdk"] == direct["@botpress/sdk"]


def test_an_incoming_message_reaches_the_bot_and_its_reply_reaches_the_integration_acknowledged(
    admin: Api, launch: Deploy
) -> None:
    chat = launch(admin)
    room, ada = chat.conversation("room-a"), chat.user("ada")
    incoming = chat.say(room, ada, "hello", "in-a1")

    # The bot's handler ran once, with the Runtime objects as the bot sees them.
    [received] = eventually(lambda: chat.received(room), what="the bot's message handler ran")
    ctx = received["ctx"]
    assert (ctx["botId"], ctx["operation"], ctx["type"]) == (chat.bot_id, "event_received", "message_created")
    assert isinstance(ctx["configuration"]["payload"], str), ctx["configuration"]
    json.loads(ctx["configuration"]["payload"])
    message = received["message"]
    assert (message["id"], message["direction"], message["type"]) == (incoming["id"], "incoming", "text")
    assert message["payload"] == {"text": "hello"}
    assert message["tags"] == {f"{ALIAS}:id": "in-a1"}
    assert (message["conversationId"], message["userId"]) == (room, ada)
    conversation = received["conversation"]
    assert (conversation["id"], conversation["channel"]) == (room, CHANNEL)
    assert conversation["tags"] == {f"{ALIAS}:id": "room-a"}
    assert (received["user"]["id"], received["user"]["tags"]) == (ada, {f"{ALIAS}:id": "ada"})
    event = received["event"]
    assert (event["type"], event["messageId"], event["conversationId"], event["userId"]) == (
        "message_created",
        incoming["id"],
        room,
        ada,
    )

    # The reply went to the integration that owns the conversation, in the integration's view.
    [sent] = eventually(lambda: chat.replies(room), what="the integration received the bot's reply")
    ctx = sent["ctx"]
    installation = chat.installation()
    assert ctx["operation"] == "message_created"
    assert (ctx["botId"], ctx["integrationId"], ctx["integrationAlias"]) == (chat.bot_id, chat.integration_id, ALIAS)
    assert ctx["webhookId"] == installation["webhookId"]
    assert ctx["botUserId"]
    assert ctx["configuration"] == chat.configuration
    assert (sent["type"], sent["payload"]) == ("text", {"text": "echo: hello"})
    assert (sent["conversation"]["id"], sent["conversation"]["channel"]) == (room, CHANNEL)
    assert sent["conversation"]["tags"] == {"id": "room-a"}
    reply = sent["message"]
    # The bot notes its reply once createMessage has answered it, which may be after the reply,
    # dispatched at its commit, reached the integration.
    [replied] = eventually(lambda: chat.bot_app.records("replied"), what="the bot noted its reply")
    assert reply["id"] == replied["reply"]["id"]
    assert (reply["direction"], reply["conversationId"], reply["userId"]) == ("outgoing", room, chat.bot_id)
    assert (reply["type"], reply["payload"], reply["tags"]) == ("text", {"text": "echo: hello"}, {})
    assert sent["user"]["id"] == chat.bot_id

    # Both deliveries succeeded at the first attempt; the event is processed.
    [to_bot] = eventually(
        lambda: [d for d in chat.deliveries(eventId=event["id"]) if d["status"] == "delivered"],
        what="the event's delivery is delivered",
    )
    assert (to_bot["target"], to_bot["operation"], to_bot["attempts"]) == ("bot", "event_received", 1)
    processed = chat.event(event["id"])
    assert (processed["status"], processed["failureReason"]) == ("processed", None)
    [to_integration] = eventually(
        lambda: [d for d in chat.deliveries(messageId=reply["id"]) if d["status"] == "delivered"],
        what="the reply's delivery is delivered",
    )
    assert (to_integration["target"], to_integration["alias"]) == ("integration", ALIAS)
    assert (to_integration["operation"], to_integration["attempts"]) == ("message_created", 1)

    # The integration's ack, made while Parley waited for its answer, tagged the reply.
    ack = f"ext-{reply['id']}"
    [acked] = chat.integration_app.records("acked")
    assert acked["messageId"] == reply["id"]
    assert chat.integration.ok("GET", f"/v1/chat/messages/{reply['id']}")["message"]["tags"] == {"id": ack}
    assert chat.bot.ok("GET", f"/v1/chat/messages/{reply['id']}")["message"]["tags"] == {f"{ALIAS}:id": ack}
    listed = chat.integration.ok("GET", "/v1/chat/messages", params={"conversationId": room})["messages"]
    assert [m["id"] for m in listed] == [reply["id"], incoming["id"]]


def test_installing_registers_the_integration_and_uninstalling_unregisters_it(admin: Api, launch: Deploy) -> None:
    chat = launch(admin)
    installation = chat.installation()
    [registered] = eventually(
        lambda: chat.integration_app.records("register"), what="the integration's register handler ran"
    )
    assert registered["webhookUrl"] == installation["webhookUrl"]
    ctx = registered["ctx"]
    assert ctx["operation"] == "register"
    assert (ctx["botId"], ctx["integrationId"], ctx["integrationAlias"]) == (chat.bot_id, chat.integration_id, ALIAS)
    assert (ctx["webhookId"], ctx["configuration"]) == (installation["webhookId"], chat.configuration)
    [delivery] = eventually(
        lambda: [d for d in chat.deliveries() if d["operation"] == "register" and d["status"] == "delivered"],
        what="the register delivery is delivered",
    )
    assert (delivery["target"], delivery["alias"]) == ("integration", ALIAS)

    admin.ok("PUT", f"/v1/admin/bots/{chat.bot_id}", {"integrations": {ALIAS: None}})
    [unregistered] = eventually(
        lambda: chat.integration_app.records("unregister"), what="the integration's unregister handler ran"
    )
    assert unregistered["webhookUrl"] == registered["webhookUrl"]
    assert unregistered["ctx"]["operation"] == "unregister"
    assert (unregistered["ctx"]["webhookId"], unregistered["ctx"]["integrationAlias"]) == (ctx["webhookId"], ALIAS)
    assert len(chat.integration_app.records("register")) == 1


def test_the_bot_user_the_integration_is_given_is_one_user_it_can_update(admin: Api, launch: Deploy) -> None:
    """`ctx.botUserId` (x-bot-user-id) stands for the bot inside the integration: integrations name
    it on register (Telegram, Slack, GitHub call updateUser with it), and it is the same user in
    every later call of that installation."""
    chat = launch(admin)
    [registered] = eventually(
        lambda: chat.integration_app.records("register"), what="the integration's register handler ran"
    )
    bot_user_id = registered["ctx"]["botUserId"]
    [outcome] = eventually(
        lambda: [e for e in chat.integration_app.records() if e["kind"] in ("bot_user_named", "bot_user_not_named")],
        what="the register handler's updateUser finished",
    )
    assert outcome["kind"] == "bot_user_named", outcome
    assert (outcome["user"]["id"], outcome["user"]["name"]) == (bot_user_id, "Echo bot")

    room, ada = chat.conversation("room-u"), chat.user("ada-u")
    chat.say(room, ada, "who are you?", "in-u1")
    [sent] = eventually(lambda: chat.replies(room), what="the integration received the bot's reply")
    assert sent["ctx"]["botUserId"] == bot_user_id


def test_a_retried_get_or_create_message_makes_the_bot_answer_once(admin: Api, launch: Deploy) -> None:
    chat = launch(admin)
    room, ada = chat.conversation("room-b"), chat.user("ada-b")
    body = {
        "type": "text",
        "payload": {"text": "only once"},
        "conversationId": room,
        "userId": ada,
        "tags": {"id": "in-b1"},
    }
    # A webhook handler that runs twice (the chat app redelivered its webhook) ...
    first = chat.integration.ok("POST", "/v1/chat/messages/get-or-create", body)
    again = chat.integration.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert (first["meta"]["created"], again["meta"]["created"]) == (True, False)
    assert again["message"]["id"] == first["message"]["id"]
    message_id = first["message"]["id"]
    eventually(lambda: chat.replies(room), what="the integration received the bot's reply")
    # ... and once more after the bot answered.
    late = chat.integration.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert (late["meta"]["created"], late["message"]["id"]) == (False, message_id)
    # A later message in the same conversation: deliveries of one conversation go out in order,
    # so a duplicate of the first would reach the bot before this one is answered.
    after = chat.say(room, ada, "after", "in-b2")
    eventually(lambda: len(chat.replies(room)) >= 2 or None, what="the second reply")
    eventually(lambda: chat.settled(5), what="every delivery settled")

    assert [entry["message"]["id"] for entry in chat.received(room)] == [message_id, after["id"]]
    assert [entry["payload"]["text"] for entry in chat.replies(room)] == ["echo: only once", "echo: after"]
    [event] = chat.events_of(message_id)
    assert len(chat.deliveries(eventId=event["id"])) == 1


def test_a_bot_that_was_down_gets_every_message_once_and_in_order(admin: Api, launch: Deploy) -> None:
    chat = launch(admin, start_bot=False)
    room, other = chat.conversation("room-c1"), chat.conversation("room-c2")
    ada, bob = chat.user("ada-c"), chat.user("bob-c")
    said: dict[str, list[str]] = {room: [], other: []}
    for i in range(4):
        said[room].append(chat.say(room, ada, f"c1-{i}", f"in-c1-{i}")["id"])
        if i % 2 == 0:
            said[other].append(chat.say(other, bob, f"c2-{i}", f"in-c2-{i}")["id"])

    # Parley keeps trying while nothing listens at the bot's url, and gives nothing up.
    [head_event] = chat.events_of(said[room][0])
    [waiting] = eventually(
        lambda: [d for d in chat.deliveries(eventId=head_event["id"]) if d["attempts"] >= 2],
        what="failed attempts on the first delivery",
    )
    assert waiting["status"] in ("pending", "in_flight"), waiting
    assert waiting["lastError"], waiting
    assert chat.received() == []

    chat.bot_app.start()
    eventually(lambda: len(chat.replies()) >= 6 or None, what="six replies at the integration")
    settled = eventually(lambda: chat.settled(13), what="every delivery settled")
    assert {d["status"] for d in settled} == {"delivered"}

    for conversation, ids in said.items():
        assert [entry["message"]["id"] for entry in chat.received(conversation)] == ids
        texts = [entry["payload"]["text"] for entry in chat.replies(conversation)]
        sent = [m["payload"]["text"] for m in (entry["message"] for entry in chat.received(conversation))]
        assert texts == [f"echo: {text}" for text in sent]
    for ids in said.values():
        for message_id in ids:
            [event] = chat.events_of(message_id)
            assert chat.event(event["id"])["status"] == "processed"
