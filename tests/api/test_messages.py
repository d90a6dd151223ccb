"""Messages: create, get, update, delete, list, payload validation, direction, participants."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import BotSetup, IntegrationSetup, make_bot
from tests.harness import Api


def _setup(api: Api, *, channel: str = "web", tags: dict[str, str] | None = None) -> tuple[str, str]:
    conversation = api.ok("POST", "/v1/chat/conversations", {"channel": channel, "tags": tags or {}}, status=201)
    user = api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)
    return conversation["conversation"]["id"], user["user"]["id"]


def _body(conversation_id: str, user_id: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "payload": {"text": text},
        "userId": user_id,
        "conversationId": conversation_id,
        "type": "text",
        "tags": {},
        **extra,
    }


def test_create_message_answers_201_with_the_stored_message(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    created = bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user, tags={"kind": "greeting"}), status=201)[
        "message"
    ]
    assert created["id"].startswith("msg_")
    assert len(created["id"]) == 30
    assert created["direction"] == "outgoing"
    assert created["payload"] == {"text": "hi"}
    assert created["tags"] == {"kind": "greeting"}
    assert created["createdAt"].endswith("Z")
    assert len(created["createdAt"]) == 24
    assert "origin" not in created
    assert bot.api.ok("GET", f"/v1/chat/messages/{created['id']}")["message"] == created


def test_messages_created_by_an_integration_are_incoming(bot: BotSetup, integration: IntegrationSetup) -> None:
    conversation, user = _setup(integration.api, channel="channel")
    message = integration.api.ok("POST", "/v1/chat/messages", _body(conversation, user), status=201)["message"]
    assert message["direction"] == "incoming"
    assert bot.api.ok("GET", f"/v1/chat/messages/{message['id']}")["message"]["direction"] == "incoming"


def test_the_bot_writes_as_its_own_bot_id_without_becoming_a_participant(bot: BotSetup) -> None:
    conversation, _ = _setup(bot.api)
    message = bot.api.ok("POST", "/v1/chat/messages", _body(conversation, bot.id), status=201)["message"]
    assert message["userId"] == bot.id
    participants = bot.api.ok("GET", f"/v1/chat/conversations/{conversation}/participants")["participants"]
    assert participants == []


def test_creating_a_message_adds_its_author_to_the_participants(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user), status=201)
    bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user), status=201)
    participants = bot.api.ok("GET", f"/v1/chat/conversations/{conversation}/participants")["participants"]
    assert [p["id"] for p in participants] == [user]
    bot.api.ok("DELETE", f"/v1/chat/conversations/{conversation}/participants/{user}")
    bot.api.ok("POST", "/v1/chat/messages/get-or-create", {**_body(conversation, user), "tags": {}})
    participants = bot.api.ok("GET", f"/v1/chat/conversations/{conversation}/participants")["participants"]
    assert [p["id"] for p in participants] == [user], "a user removed joins again by writing"


def test_payload_must_follow_the_channel_schema_of_the_integration(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation, user = _setup(integration.api, channel="channel")
    integration.api.error(
        "POST",
        "/v1/chat/messages",
        {**_body(conversation, user), "payload": {"text": 5}},
        type="InvalidPayload",
        status=400,
    )
    integration.api.error(
        "POST",
        "/v1/chat/messages",
        {**_body(conversation, user), "type": "image", "payload": {"imageUrl": "https://x"}},
        type="InvalidPayload",
        status=400,
    )
    # The bot answering in the integration's conversation follows the same schema.
    bot.api.error(
        "POST",
        "/v1/chat/messages",
        {**_body(conversation, bot.id), "payload": {"text": ""}},
        type="InvalidPayload",
        status=400,
    )
    sent = bot.api.ok("POST", "/v1/chat/messages", _body(conversation, bot.id, "reply"), status=201)["message"]
    assert sent["direction"] == "outgoing"


def test_conversations_of_the_bot_take_the_default_message_types(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    image = {
        "payload": {"imageUrl": "https://example.com/a.png"},
        "userId": user,
        "conversationId": conversation,
        "type": "image",
        "tags": {},
    }
    assert bot.api.ok("POST", "/v1/chat/messages", image, status=201)["message"]["type"] == "image"
    bot.api.error("POST", "/v1/chat/messages", {**image, "type": "hologram"}, type="InvalidPayload", status=400)
    bot.api.error(
        "POST", "/v1/chat/messages", {**image, "payload": {"imageUrl": ""}}, type="InvalidPayload", status=400
    )


def test_update_message_merges_tags_and_replaces_the_payload(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    message = bot.api.ok(
        "POST", "/v1/chat/messages", _body(conversation, user, tags={"kind": "a", "source": "s"}), status=201
    )["message"]
    updated = bot.api.ok(
        "PUT",
        f"/v1/chat/messages/{message['id']}",
        {"tags": {"kind": "b", "source": "", "externalId": "e"}, "payload": {"text": "edited"}},
    )
    assert updated["message"]["tags"] == {"kind": "b", "externalId": "e"}
    assert updated["message"]["payload"] == {"text": "edited"}
    assert updated["message"]["type"] == "text"
    fetched = bot.api.ok("GET", f"/v1/chat/messages/{message['id']}")["message"]
    assert fetched == updated["message"]
    listed = bot.api.ok("GET", "/v1/chat/messages", params={"tags.externalId": "e"})["messages"]
    assert [m["id"] for m in listed] == [message["id"]]
    assert bot.api.ok("GET", "/v1/chat/messages", params={"tags.source": "s"})["messages"] == []


def test_integration_acknowledges_an_outgoing_message_with_its_tags(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation, _ = _setup(integration.api, channel="channel")
    sent = bot.api.ok("POST", "/v1/chat/messages", _body(conversation, bot.id), status=201)["message"]
    acked = integration.api.ok("PUT", f"/v1/chat/messages/{sent['id']}", {"tags": {"id": "remote-1"}})["message"]
    assert acked["tags"] == {"id": "remote-1"}
    assert bot.api.ok("GET", f"/v1/chat/messages/{sent['id']}")["message"]["tags"] == {
        f"{integration.alias}:id": "remote-1"
    }


def test_delete_message(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    message = bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user), status=201)["message"]
    assert bot.api.ok("DELETE", f"/v1/chat/messages/{message['id']}") == {}
    bot.api.error("GET", f"/v1/chat/messages/{message['id']}", type="ResourceNotFound", status=404)
    bot.api.error("DELETE", f"/v1/chat/messages/{message['id']}", type="ResourceNotFound", status=404)


def test_list_messages_newest_first_with_pages(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    other, _ = _setup(bot.api)
    ids = [
        bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user, str(i)), status=201)["message"]["id"]
        for i in range(7)
    ]
    bot.api.ok("POST", "/v1/chat/messages", _body(other, user), status=201)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"conversationId": conversation, "pageSize": "3", **({"nextToken": token} if token else {})}
        page = bot.api.ok("GET", "/v1/chat/messages", params=params)
        seen += [m["id"] for m in page["messages"]]
        pages += 1
        token = page["meta"].get("nextToken")
        if token is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3


def test_list_messages_defaults_to_twenty_and_caps_at_a_hundred(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    for i in range(22):
        bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user, str(i)), status=201)
    first = bot.api.ok("GET", "/v1/chat/messages", params={"conversationId": conversation})
    assert len(first["messages"]) == 20
    assert "nextToken" in first["meta"]
    everything = bot.api.ok("GET", "/v1/chat/messages", params={"conversationId": conversation, "pageSize": "500"})
    assert len(everything["messages"]) == 22
    assert everything["meta"] == {}


def test_list_messages_by_date_range(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    message = bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user), status=201)["message"]
    created = datetime.fromisoformat(message["createdAt"].replace("Z", "+00:00"))
    later = (created + timedelta(seconds=5)).isoformat()
    earlier = (created - timedelta(seconds=5)).isoformat()
    params = {"conversationId": conversation}
    assert len(bot.api.ok("GET", "/v1/chat/messages", params={**params, "afterDate": earlier})["messages"]) == 1
    assert bot.api.ok("GET", "/v1/chat/messages", params={**params, "afterDate": later})["messages"] == []
    assert bot.api.ok("GET", "/v1/chat/messages", params={**params, "beforeDate": earlier})["messages"] == []
    assert (
        len(bot.api.ok("GET", "/v1/chat/messages", params={**params, "beforeDate": message["createdAt"]})["messages"])
        == 1
    )


def test_a_scheduled_message_is_stored_but_not_listed_before_it_is_due(bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    due = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    scheduled = bot.api.ok(
        "POST", "/v1/chat/messages", _body(conversation, user, schedule={"dateTime": due}), status=201
    )["message"]
    assert bot.api.ok("GET", f"/v1/chat/messages/{scheduled['id']}")["message"]["id"] == scheduled["id"]
    assert bot.api.ok("GET", "/v1/chat/messages", params={"conversationId": conversation})["messages"] == []
    past = {"dateTime": "2020-01-01T00:00:00.000Z"}
    now = bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user, schedule=past), status=201)["message"]
    listed = bot.api.ok("GET", "/v1/chat/messages", params={"conversationId": conversation})["messages"]
    assert [m["id"] for m in listed] == [now["id"]]


def test_synthetic_messages_keep_their_origin(bot: BotSetup, integration: IntegrationSetup) -> None:
    conversation, _ = _setup(integration.api, channel="channel")
    message = integration.api.ok(
        "POST", "/v1/chat/messages", _body(conversation, bot.id, origin="synthetic"), status=201
    )["message"]
    assert message["origin"] == "synthetic"
    assert message["userId"] == bot.id


def test_another_bot_cannot_see_or_touch_the_messages(admin: Api, bot: BotSetup) -> None:
    conversation, user = _setup(bot.api)
    message = bot.api.ok("POST", "/v1/chat/messages", _body(conversation, user, tags={"kind": "k"}), status=201)[
        "message"
    ]
    stranger = make_bot(admin)
    before = bot.api.server.snapshot()
    stranger.api.error("GET", f"/v1/chat/messages/{message['id']}", type="ResourceNotFound", status=404)
    stranger.api.error("PUT", f"/v1/chat/messages/{message['id']}", {"tags": {}}, type="ResourceNotFound", status=404)
    stranger.api.error("DELETE", f"/v1/chat/messages/{message['id']}", type="ResourceNotFound", status=404)
    stranger.api.error("POST", "/v1/chat/messages", _body(conversation, user), type="ReferenceNotFound", status=400)
    stranger.api.error(
        "POST",
        "/v1/chat/messages/get-or-create",
        _body(conversation, user, tags={"kind": "k"}),
        type="ReferenceNotFound",
        status=400,
    )
    assert stranger.api.ok("GET", "/v1/chat/messages", params={"tags.kind": "k"})["messages"] == []
    assert bot.api.server.snapshot() == before


def test_an_integration_sees_only_messages_of_its_own_conversations(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    own, user = _setup(bot.api)
    bots_message = bot.api.ok("POST", "/v1/chat/messages", _body(own, user), status=201)["message"]
    integration.api.error("GET", f"/v1/chat/messages/{bots_message['id']}", type="ResourceNotFound", status=404)
    assert integration.api.ok("GET", "/v1/chat/messages")["messages"] == []
