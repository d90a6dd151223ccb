"""Conversations and participants (RUNTIME-SEMANTICS §8.2): create, get, update, delete, list with filters,
get-or-create, participants; integration ownership and namespacing, and another bot's conversations."""

from typing import Any

from tests.conftest import BotSetup, IntegrationSetup, install, make_bot
from tests.harness import Api

MISSING_CONVERSATION = "conv_01J00000000000000000000000"
MISSING_USER = "user_01J00000000000000000000000"


def _conversation(api: Api, channel: str = "web", **tags: str) -> dict[str, Any]:
    conversation: dict[str, Any] = api.ok(
        "POST", "/v1/chat/conversations", {"channel": channel, "tags": tags}, status=201
    )["conversation"]
    return conversation


def _user(api: Api, **tags: str) -> str:
    user_id: str = api.ok("POST", "/v1/chat/users", {"tags": tags}, status=201)["user"]["id"]
    return user_id


def _ids(api: Api, params: Any = None) -> list[str]:
    return [c["id"] for c in api.ok("GET", "/v1/chat/conversations", params=params)["conversations"]]


def _participants(api: Api, conversation_id: str) -> set[str]:
    body = api.ok("GET", f"/v1/chat/conversations/{conversation_id}/participants")
    return {user["id"] for user in body["participants"]}


def _message(api: Api, conversation_id: str, user_id: str, **tags: str) -> dict[str, Any]:
    body = {
        "payload": {"text": "hi"},
        "userId": user_id,
        "conversationId": conversation_id,
        "type": "text",
        "tags": tags,
    }
    message: dict[str, Any] = api.ok("POST", "/v1/chat/messages", body, status=201)["message"]
    return message


# Create and get


def test_create_conversation_answers_201_with_the_conversation(bot: BotSetup) -> None:
    response = bot.api.call("POST", "/v1/chat/conversations", {"channel": "web", "tags": {"topic": "billing"}})
    assert response.status_code == 201, response.text
    conversation = response.json()["conversation"]
    assert conversation["id"].startswith("conv_")
    assert 28 <= len(conversation["id"]) <= 36
    assert conversation["channel"] == "web"
    assert conversation["tags"] == {"topic": "billing"}
    assert conversation["createdAt"] == conversation["updatedAt"]
    assert isinstance(conversation["integration"], str)


def test_a_bot_may_create_its_own_conversations_on_any_channel(bot: BotSetup) -> None:
    for channel in ("web", "sms", "any-channel-name"):
        assert _conversation(bot.api, channel)["channel"] == channel


def test_an_integration_creates_conversations_on_its_declared_channels_only(integration: IntegrationSetup) -> None:
    created = _conversation(integration.api, "channel", id="c-1")
    assert created["channel"] == "channel"
    assert created["tags"] == {"id": "c-1"}
    assert _conversation(integration.api, "dm")["channel"] == "dm"
    before = integration.api.server.snapshot()
    error = integration.api.error(
        "POST", "/v1/chat/conversations", {"channel": "email", "tags": {}}, type="InvalidPayload", status=400
    )
    assert "email" in error["message"]
    assert integration.api.server.snapshot() == before


def test_a_conversation_created_by_an_integration_names_the_integration(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    assert integration.alias != integration.name
    created = _conversation(integration.api, "channel")
    assert created["integration"] == integration.name
    assert integration.api.ok("GET", f"/v1/chat/conversations/{created['id']}")["conversation"]["integration"] == (
        integration.name
    )
    assert bot.api.ok("GET", f"/v1/chat/conversations/{created['id']}")["conversation"]["integration"] == (
        integration.name
    )


def test_create_conversation_with_an_undeclared_tag_is_invalid_payload(bot: BotSetup) -> None:
    before = bot.api.server.snapshot()
    error = bot.api.error(
        "POST", "/v1/chat/conversations", {"channel": "web", "tags": {"mood": "x"}}, type="InvalidPayload", status=400
    )
    assert "mood" in error["message"]
    assert bot.api.server.snapshot() == before


def test_get_conversation_returns_the_created_conversation(bot: BotSetup) -> None:
    created = _conversation(bot.api, topic="t", priority="high")
    assert bot.api.ok("GET", f"/v1/chat/conversations/{created['id']}") == {"conversation": created}


def test_get_unknown_conversation_is_resource_not_found(bot: BotSetup) -> None:
    bot.api.error("GET", f"/v1/chat/conversations/{MISSING_CONVERSATION}", type="ResourceNotFound", status=404)


# Update and delete


def test_update_conversation_merges_tags_and_empty_or_null_removes_one(bot: BotSetup) -> None:
    conversation_id = _conversation(bot.api, topic="billing")["id"]
    added = bot.api.ok("PUT", f"/v1/chat/conversations/{conversation_id}", {"tags": {"priority": "high"}})
    assert added["conversation"]["tags"] == {"topic": "billing", "priority": "high"}
    emptied = bot.api.ok("PUT", f"/v1/chat/conversations/{conversation_id}", {"tags": {"topic": ""}})
    assert emptied["conversation"]["tags"] == {"priority": "high"}
    nulled = bot.api.ok("PUT", f"/v1/chat/conversations/{conversation_id}", {"tags": {"priority": None}})
    assert nulled["conversation"]["tags"] == {}
    assert bot.api.ok("GET", f"/v1/chat/conversations/{conversation_id}")["conversation"] == nulled["conversation"]
    assert _ids(bot.api, {"tags.topic": "billing"}) == []


def test_update_conversation_with_an_undeclared_tag_changes_nothing(bot: BotSetup) -> None:
    conversation_id = _conversation(bot.api, topic="t")["id"]
    before = bot.api.server.snapshot()
    bot.api.error(
        "PUT",
        f"/v1/chat/conversations/{conversation_id}",
        {"tags": {"topic": "changed", "mood": "x"}},
        type="InvalidPayload",
        status=400,
    )
    assert bot.api.server.snapshot() == before


def test_update_unknown_conversation_is_resource_not_found(bot: BotSetup) -> None:
    bot.api.error(
        "PUT",
        f"/v1/chat/conversations/{MISSING_CONVERSATION}",
        {"tags": {"topic": "x"}},
        type="ResourceNotFound",
        status=404,
    )


def test_delete_conversation_deletes_its_messages_too(bot: BotSetup) -> None:
    conversation_id = _conversation(bot.api, topic="gone")["id"]
    kept_conversation = _conversation(bot.api, topic="kept")["id"]
    user_id = _user(bot.api)
    message = _message(bot.api, conversation_id, user_id, externalId="gone")
    kept_message = _message(bot.api, kept_conversation, user_id, externalId="kept")
    assert bot.api.ok("DELETE", f"/v1/chat/conversations/{conversation_id}") == {}
    bot.api.error("GET", f"/v1/chat/conversations/{conversation_id}", type="ResourceNotFound", status=404)
    bot.api.error("GET", f"/v1/chat/messages/{message['id']}", type="ResourceNotFound", status=404)
    assert bot.api.ok("GET", "/v1/chat/messages", params={"tags.externalId": "gone"})["messages"] == []
    snapshot = bot.api.server.snapshot()
    assert not any(message["id"] in repr(rows) for rows in snapshot.values())
    assert not any(conversation_id in repr(rows) for rows in snapshot.values())
    assert bot.api.ok("GET", f"/v1/chat/messages/{kept_message['id']}")["message"]["id"] == kept_message["id"]
    assert _ids(bot.api) == [kept_conversation]
    bot.api.error("DELETE", f"/v1/chat/conversations/{conversation_id}", type="ResourceNotFound", status=404)


# List


def test_list_conversations_is_newest_first_and_pages_with_next_token(bot: BotSetup) -> None:
    created = [_conversation(bot.api)["id"] for _ in range(5)]
    assert _ids(bot.api) == created[::-1]
    first = bot.api.ok("GET", "/v1/chat/conversations", params={"pageSize": 2})
    second = bot.api.ok(
        "GET", "/v1/chat/conversations", params={"pageSize": 2, "nextToken": first["meta"]["nextToken"]}
    )
    third = bot.api.ok(
        "GET", "/v1/chat/conversations", params={"pageSize": 2, "nextToken": second["meta"]["nextToken"]}
    )
    pages = [[c["id"] for c in page["conversations"]] for page in (first, second, third)]
    assert pages == [created[4:2:-1], created[2:0:-1], created[:1]]
    assert "nextToken" not in third["meta"]
    assert _ids(bot.api, {"sortDirection": "asc"}) == created


def test_list_conversations_filters_by_tags(bot: BotSetup) -> None:
    billing_high = _conversation(bot.api, topic="billing", priority="high")["id"]
    billing_low = _conversation(bot.api, topic="billing", priority="low")["id"]
    _conversation(bot.api, topic="sales", priority="high")
    assert _ids(bot.api, {"tags.topic": "billing"}) == [billing_low, billing_high]
    assert _ids(bot.api, {"tags.topic": "billing", "tags.priority": "high"}) == [billing_high]
    assert _ids(bot.api, {"tags[priority]": "low"}) == [billing_low]
    assert _ids(bot.api, {"tags.topic": "none"}) == []


def test_list_conversations_filters_by_channel(bot: BotSetup) -> None:
    web = _conversation(bot.api, "web")["id"]
    sms = _conversation(bot.api, "sms")["id"]
    assert _ids(bot.api, {"channel": "web"}) == [web]
    assert _ids(bot.api, {"channel": "sms"}) == [sms]
    assert _ids(bot.api, {"channel": "fax"}) == []


def test_list_conversations_filters_by_integration_name(bot: BotSetup, integration: IntegrationSetup) -> None:
    owned = _conversation(integration.api, "channel")["id"]
    _conversation(bot.api, "channel")
    assert _ids(bot.api, {"integrationName": integration.name}) == [owned]
    assert _ids(bot.api, {"integrationName": "not-installed"}) == []


def test_list_conversations_filters_by_repeated_participant_ids(bot: BotSetup) -> None:
    ada, bob = _user(bot.api), _user(bot.api)
    both = _conversation(bot.api)["id"]
    only_ada = _conversation(bot.api)["id"]
    _conversation(bot.api)
    for conversation_id, user_id in ((both, ada), (both, bob), (only_ada, ada)):
        bot.api.ok("POST", f"/v1/chat/conversations/{conversation_id}/participants", {"userId": user_id})
    assert _ids(bot.api, {"participantIds": ada}) == [only_ada, both]
    assert _ids(bot.api, {"participantIds": bob}) == [both]
    assert _ids(bot.api, [("participantIds", ada), ("participantIds", bob)]) == [both]


# get-or-create


def test_get_or_create_conversation_creates_then_finds_the_same_conversation(bot: BotSetup) -> None:
    body = {"channel": "web", "tags": {"topic": "goc"}}
    first = bot.api.call("POST", "/v1/chat/conversations/get-or-create", body)
    second = bot.api.call("POST", "/v1/chat/conversations/get-or-create", body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["meta"] == {"created": True}
    assert second.json()["meta"] == {"created": False}
    assert second.json()["conversation"]["id"] == first.json()["conversation"]["id"]
    assert _ids(bot.api, {"tags.topic": "goc"}) == [first.json()["conversation"]["id"]]


def test_get_or_create_conversation_from_an_integration_is_scoped_to_its_channels(
    integration: IntegrationSetup,
) -> None:
    body = {"channel": "channel", "tags": {"id": "ext-1"}}
    first = integration.api.ok("POST", "/v1/chat/conversations/get-or-create", body)
    again = integration.api.ok("POST", "/v1/chat/conversations/get-or-create", body)
    assert (first["meta"], again["meta"]) == ({"created": True}, {"created": False})
    assert again["conversation"]["id"] == first["conversation"]["id"]
    assert again["conversation"]["tags"] == {"id": "ext-1"}
    before = integration.api.server.snapshot()
    integration.api.error(
        "POST",
        "/v1/chat/conversations/get-or-create",
        {"channel": "email", "tags": {}},
        type="InvalidPayload",
        status=400,
    )
    assert integration.api.server.snapshot() == before


# Participants


def test_add_get_list_and_remove_a_participant(bot: BotSetup) -> None:
    conversation_id = _conversation(bot.api)["id"]
    user = bot.api.ok("POST", "/v1/chat/users", {"tags": {"email": "p@x.io"}, "name": "P"}, status=201)["user"]
    path = f"/v1/chat/conversations/{conversation_id}/participants"
    added = bot.api.ok("POST", path, {"userId": user["id"]})
    assert added == {"participant": user}
    assert bot.api.ok("POST", path, {"userId": user["id"]}) == {"participant": user}, "adding twice is harmless"
    assert bot.api.ok("GET", f"{path}/{user['id']}") == {"participant": user}
    listed = bot.api.ok("GET", path)
    assert listed == {"participants": [user], "meta": {}}
    assert bot.api.ok("DELETE", f"{path}/{user['id']}") == {}
    bot.api.error("GET", f"{path}/{user['id']}", type="ResourceNotFound", status=404)
    assert bot.api.ok("GET", path)["participants"] == []
    bot.api.ok("GET", f"/v1/chat/users/{user['id']}")  # removing a participant keeps the user


def test_a_user_who_is_not_a_participant_is_resource_not_found(bot: BotSetup) -> None:
    conversation_id = _conversation(bot.api)["id"]
    user_id = _user(bot.api)
    path = f"/v1/chat/conversations/{conversation_id}/participants/{user_id}"
    bot.api.error("GET", path, type="ResourceNotFound", status=404)
    before = bot.api.server.snapshot()
    bot.api.error("DELETE", path, type="ResourceNotFound", status=404)
    assert bot.api.server.snapshot() == before


def test_adding_an_unknown_user_as_participant_changes_nothing(bot: BotSetup) -> None:
    conversation_id = _conversation(bot.api)["id"]
    before = bot.api.server.snapshot()
    response = bot.api.call("POST", f"/v1/chat/conversations/{conversation_id}/participants", {"userId": MISSING_USER})
    assert response.status_code in (400, 404), response.text
    assert response.json()["type"] in ("ReferenceNotFound", "ResourceNotFound")
    assert bot.api.server.snapshot() == before


def test_participants_of_an_unknown_conversation_are_resource_not_found(bot: BotSetup) -> None:
    bot.api.error(
        "GET", f"/v1/chat/conversations/{MISSING_CONVERSATION}/participants", type="ResourceNotFound", status=404
    )


def test_list_participants_pages_with_next_token(bot: BotSetup) -> None:
    conversation_id = _conversation(bot.api)["id"]
    users = [_user(bot.api) for _ in range(5)]
    path = f"/v1/chat/conversations/{conversation_id}/participants"
    for user_id in users:
        bot.api.ok("POST", path, {"userId": user_id})
    seen: list[str] = []
    params: dict[str, Any] = {"pageSize": 2}
    while True:
        body = bot.api.ok("GET", path, params=params)
        assert len(body["participants"]) <= 2
        seen += [user["id"] for user in body["participants"]]
        if "nextToken" not in body["meta"]:
            break
        params = {"pageSize": 2, "nextToken": body["meta"]["nextToken"]}
        assert len(seen) <= len(users)
    assert sorted(seen) == sorted(users)


def test_creating_a_message_adds_its_author_to_the_participants(bot: BotSetup) -> None:
    conversation_id = _conversation(bot.api)["id"]
    author = _user(bot.api)
    assert _participants(bot.api, conversation_id) == set()
    _message(bot.api, conversation_id, author)
    assert _participants(bot.api, conversation_id) == {author}
    bot.api.ok("GET", f"/v1/chat/conversations/{conversation_id}/participants/{author}")
    users = bot.api.ok("GET", "/v1/chat/users", params={"conversationId": conversation_id})["users"]
    assert [user["id"] for user in users] == [author]
    _message(bot.api, conversation_id, bot.id)  # the bot writes as itself; it is no user row
    assert _participants(bot.api, conversation_id) == {author}


def test_an_integration_message_adds_its_author_to_the_participants(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation_id = _conversation(integration.api, "channel", id="c")["id"]
    author = _user(integration.api, id="u")
    _message(integration.api, conversation_id, author)
    assert _participants(integration.api, conversation_id) == {author}
    assert _participants(bot.api, conversation_id) == {author}


# Integration namespacing and ownership


def test_integration_conversation_tags_are_bare_for_the_integration_and_prefixed_for_the_bot(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    alias = integration.alias
    created = _conversation(integration.api, "channel", id="c-7", thread="t-1")
    assert created["tags"] == {"id": "c-7", "thread": "t-1"}
    path = f"/v1/chat/conversations/{created['id']}"
    assert bot.api.ok("GET", path)["conversation"]["tags"] == {f"{alias}:id": "c-7", f"{alias}:thread": "t-1"}
    bot.api.ok("PUT", path, {"tags": {"topic": "support"}})
    assert integration.api.ok("GET", path)["conversation"]["tags"] == {"id": "c-7", "thread": "t-1"}
    integration.api.ok("PUT", path, {"tags": {"thread": None}})
    assert bot.api.ok("GET", path)["conversation"]["tags"] == {f"{alias}:id": "c-7", "topic": "support"}
    assert _ids(bot.api, {f"tags.{alias}:id": "c-7"}) == [created["id"]]
    assert _ids(integration.api, {"tags.id": "c-7"}) == [created["id"]]
    listed = integration.api.ok("GET", "/v1/chat/conversations")["conversations"]
    assert [c["tags"] for c in listed] == [{"id": "c-7"}]


def test_an_integration_tag_is_declared_per_channel(integration: IntegrationSetup) -> None:
    before = integration.api.server.snapshot()
    integration.api.error(
        "POST", "/v1/chat/conversations", {"channel": "dm", "tags": {"thread": "t"}}, type="InvalidPayload", status=400
    )
    assert integration.api.server.snapshot() == before


def test_an_integration_cannot_see_conversations_of_the_bot_or_of_another_integration(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    other = install(admin, bot, alias="other")
    mine = _conversation(integration.api, "channel", id="mine")["id"]
    theirs = _conversation(other.api, "channel", id="theirs")["id"]
    bots = _conversation(bot.api, "web", topic="bot")["id"]
    user = _user(integration.api, id="u")
    assert _ids(integration.api) == [mine]
    assert _ids(other.api) == [theirs]
    assert set(_ids(bot.api)) == {mine, theirs, bots}
    before = bot.api.server.snapshot()
    for hidden in (theirs, bots):
        path = f"/v1/chat/conversations/{hidden}"
        integration.api.error("GET", path, type="ResourceNotFound", status=404)
        integration.api.error("PUT", path, {"tags": {"id": "x"}}, type="ResourceNotFound", status=404)
        integration.api.error("DELETE", path, type="ResourceNotFound", status=404)
        integration.api.error("GET", f"{path}/participants", type="ResourceNotFound", status=404)
        integration.api.error("POST", f"{path}/participants", {"userId": user}, type="ResourceNotFound", status=404)
    assert bot.api.server.snapshot() == before


def test_integration_get_or_create_conversation_never_answers_a_conversation_it_cannot_see(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    bots = _conversation(bot.api, "channel", **{f"{integration.alias}:id": "c-9"})
    found = integration.api.ok(
        "POST", "/v1/chat/conversations/get-or-create", {"channel": "channel", "tags": {"id": "c-9"}}
    )
    assert found["conversation"]["id"] != bots["id"]
    assert found["meta"] == {"created": True}
    assert (
        integration.api.ok("GET", f"/v1/chat/conversations/{found['conversation']['id']}")["conversation"]
        == (found["conversation"])
    )
    assert bot.api.ok("GET", f"/v1/chat/conversations/{bots['id']}")["conversation"] == bots


# Another bot


def test_another_bot_cannot_read_change_delete_or_list_a_bots_conversations(admin: Api, bot: BotSetup) -> None:
    conversation = _conversation(bot.api, topic="private")
    user_id = _user(bot.api)
    path = f"/v1/chat/conversations/{conversation['id']}"
    bot.api.ok("POST", f"{path}/participants", {"userId": user_id})
    stranger = make_bot(admin)
    stranger_user = _user(stranger.api)
    before = bot.api.server.snapshot()
    stranger.api.error("GET", path, type="ResourceNotFound", status=404)
    stranger.api.error("PUT", path, {"tags": {"topic": "stolen"}}, type="ResourceNotFound", status=404)
    stranger.api.error("DELETE", path, type="ResourceNotFound", status=404)
    stranger.api.error("GET", f"{path}/participants", type="ResourceNotFound", status=404)
    stranger.api.error("GET", f"{path}/participants/{user_id}", type="ResourceNotFound", status=404)
    stranger.api.error("DELETE", f"{path}/participants/{user_id}", type="ResourceNotFound", status=404)
    stranger.api.error("POST", f"{path}/participants", {"userId": stranger_user}, type="ResourceNotFound", status=404)
    assert _ids(stranger.api) == []
    assert _ids(stranger.api, {"tags.topic": "private"}) == []
    assert _ids(stranger.api, {"participantIds": user_id}) == []
    assert stranger.api.ok("GET", "/v1/chat/users", params={"conversationId": conversation["id"]})["users"] == []
    assert bot.api.server.snapshot() == before
    assert bot.api.ok("GET", path)["conversation"] == conversation


def test_a_bot_cannot_add_another_bots_user_to_its_conversation(admin: Api, bot: BotSetup) -> None:
    stranger = make_bot(admin)
    foreign_user = _user(stranger.api)
    conversation_id = _conversation(bot.api)["id"]
    before = bot.api.server.snapshot()
    response = bot.api.call("POST", f"/v1/chat/conversations/{conversation_id}/participants", {"userId": foreign_user})
    assert response.status_code in (400, 404), response.text
    assert response.json()["type"] in ("ReferenceNotFound", "ResourceNotFound")
    assert bot.api.server.snapshot() == before
