"""Users (RUNTIME-SEMANTICS §8.1): create, get, update, delete, list with paging and filters, get-or-create;
an integration's users and tags, and another bot's users."""

import time
from typing import Any

from tests.conftest import BotSetup, IntegrationSetup, install, make_bot
from tests.harness import Api

MISSING_USER = "user_01J00000000000000000000000"


def _user(api: Api, **body: Any) -> dict[str, Any]:
    user: dict[str, Any] = api.ok("POST", "/v1/chat/users", {"tags": {}, **body}, status=201)["user"]
    return user


def _ids(api: Api, **params: Any) -> list[str]:
    return [user["id"] for user in api.ok("GET", "/v1/chat/users", params=params)["users"]]


def _conversation(api: Api, channel: str = "web") -> str:
    conversation_id: str = api.ok("POST", "/v1/chat/conversations", {"channel": channel, "tags": {}}, status=201)[
        "conversation"
    ]["id"]
    return conversation_id


# Create and get


def test_create_user_answers_201_with_the_user(bot: BotSetup) -> None:
    response = bot.api.call(
        "POST",
        "/v1/chat/users",
        {"tags": {"email": "a@x.io"}, "name": "Ada", "pictureUrl": "https://x.io/ada.png"},
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert user["id"].startswith("user_")
    assert 28 <= len(user["id"]) <= 36
    assert user["tags"] == {"email": "a@x.io"}
    assert (user["name"], user["pictureUrl"]) == ("Ada", "https://x.io/ada.png")
    assert user["createdAt"] == user["updatedAt"]
    assert user["createdAt"].endswith("Z")


def test_create_user_with_an_undeclared_tag_is_invalid_payload(bot: BotSetup) -> None:
    before = bot.api.server.snapshot()
    error = bot.api.error("POST", "/v1/chat/users", {"tags": {"nickname": "x"}}, type="InvalidPayload", status=400)
    assert "nickname" in error["message"]
    assert bot.api.server.snapshot() == before


def test_get_user_returns_the_created_user(bot: BotSetup) -> None:
    created = _user(bot.api, tags={"email": "g@x.io", "crmId": "c-1"}, name="Grace")
    assert bot.api.ok("GET", f"/v1/chat/users/{created['id']}") == {"user": created}


def test_get_unknown_user_is_resource_not_found(bot: BotSetup) -> None:
    bot.api.error("GET", f"/v1/chat/users/{MISSING_USER}", type="ResourceNotFound", status=404)


# Update


def test_update_user_merges_tags_per_key(bot: BotSetup) -> None:
    created = _user(bot.api, tags={"email": "a@x.io", "crmId": "c-1"})
    updated = bot.api.ok("PUT", f"/v1/chat/users/{created['id']}", {"tags": {"email": "b@x.io"}})["user"]
    assert updated["tags"] == {"email": "b@x.io", "crmId": "c-1"}
    assert updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] >= created["updatedAt"]
    assert bot.api.ok("GET", f"/v1/chat/users/{created['id']}")["user"] == updated


def test_update_user_removes_a_tag_given_an_empty_string_or_null(bot: BotSetup) -> None:
    user_id = _user(bot.api, tags={"email": "a@x.io", "crmId": "c-1"})["id"]
    emptied = bot.api.ok("PUT", f"/v1/chat/users/{user_id}", {"tags": {"email": ""}})["user"]
    assert emptied["tags"] == {"crmId": "c-1"}
    nulled = bot.api.ok("PUT", f"/v1/chat/users/{user_id}", {"tags": {"crmId": None}})["user"]
    assert nulled["tags"] == {}
    assert bot.api.ok("GET", f"/v1/chat/users/{user_id}")["user"]["tags"] == {}
    assert _ids(bot.api, **{"tags.email": "a@x.io"}) == []
    assert _ids(bot.api, **{"tags.crmId": "c-1"}) == []


def test_update_user_with_name_null_clears_the_name(bot: BotSetup) -> None:
    user_id = _user(bot.api, name="Ada", pictureUrl="https://x.io/a.png")["id"]
    kept = bot.api.ok("PUT", f"/v1/chat/users/{user_id}", {"tags": {"email": "a@x.io"}})["user"]
    assert (kept["name"], kept["pictureUrl"]) == ("Ada", "https://x.io/a.png"), "fields not sent are kept"
    renamed = bot.api.ok("PUT", f"/v1/chat/users/{user_id}", {"name": "Lovelace"})["user"]
    assert renamed["name"] == "Lovelace"
    cleared = bot.api.ok("PUT", f"/v1/chat/users/{user_id}", {"name": None})["user"]
    assert cleared.get("name") is None
    assert cleared["pictureUrl"] == "https://x.io/a.png"
    fetched = bot.api.ok("GET", f"/v1/chat/users/{user_id}")["user"]
    assert fetched.get("name") is None
    assert fetched["tags"] == {"email": "a@x.io"}
    no_picture = bot.api.ok("PUT", f"/v1/chat/users/{user_id}", {"pictureUrl": None})["user"]
    assert no_picture.get("pictureUrl") is None
    assert bot.api.ok("GET", f"/v1/chat/users/{user_id}")["user"].get("pictureUrl") is None


def test_update_user_with_an_undeclared_tag_changes_nothing(bot: BotSetup) -> None:
    user_id = _user(bot.api, tags={"email": "a@x.io"})["id"]
    before = bot.api.server.snapshot()
    bot.api.error("PUT", f"/v1/chat/users/{user_id}", {"tags": {"nickname": "n"}}, type="InvalidPayload", status=400)
    assert bot.api.server.snapshot() == before


def test_update_unknown_user_is_resource_not_found(bot: BotSetup) -> None:
    bot.api.error("PUT", f"/v1/chat/users/{MISSING_USER}", {"name": "x"}, type="ResourceNotFound", status=404)


# Delete


def test_delete_user_answers_empty_and_the_user_is_gone(bot: BotSetup) -> None:
    user_id = _user(bot.api, tags={"email": "d@x.io"})["id"]
    conversation_id = _conversation(bot.api)
    bot.api.ok("POST", f"/v1/chat/conversations/{conversation_id}/participants", {"userId": user_id})
    assert bot.api.ok("DELETE", f"/v1/chat/users/{user_id}") == {}
    bot.api.error("GET", f"/v1/chat/users/{user_id}", type="ResourceNotFound", status=404)
    assert _ids(bot.api) == []
    assert _ids(bot.api, **{"tags.email": "d@x.io"}) == []
    assert bot.api.ok("GET", f"/v1/chat/conversations/{conversation_id}/participants")["participants"] == []
    bot.api.error("DELETE", f"/v1/chat/users/{user_id}", type="ResourceNotFound", status=404)


# List


def test_list_users_is_newest_first(bot: BotSetup) -> None:
    created = [_user(bot.api)["id"] for _ in range(3)]
    listed = bot.api.ok("GET", "/v1/chat/users")
    assert [user["id"] for user in listed["users"]] == created[::-1]
    assert listed["meta"] == {}, "a single page has no nextToken"


def test_list_users_page_size_limits_the_page(bot: BotSetup) -> None:
    created = [_user(bot.api)["id"] for _ in range(4)]
    page = bot.api.ok("GET", "/v1/chat/users", params={"pageSize": 3})
    assert [user["id"] for user in page["users"]] == created[::-1][:3]
    assert page["meta"]["nextToken"]


def test_list_users_pages_with_next_token_until_the_last_page(bot: BotSetup) -> None:
    created = [_user(bot.api)["id"] for _ in range(7)]
    walked: list[list[str]] = []
    params: dict[str, Any] = {"pageSize": 3}
    while True:
        body = bot.api.ok("GET", "/v1/chat/users", params=params)
        walked.append([user["id"] for user in body["users"]])
        token = body["meta"].get("nextToken")
        if token is None:
            break
        assert isinstance(token, str)
        assert token
        params = {"pageSize": 3, "nextToken": token}
        assert len(walked) < 10
    assert [len(page) for page in walked] == [3, 3, 1]
    flat = [user_id for page in walked for user_id in page]
    assert flat == created[::-1], "every user exactly once, newest first"


def test_list_users_pages_hold_20_by_default_and_at_most_100(bot: BotSetup) -> None:
    created = [_user(bot.api)["id"] for _ in range(101)]
    default = bot.api.ok("GET", "/v1/chat/users")
    assert [user["id"] for user in default["users"]] == created[::-1][:20]
    assert default["meta"]["nextToken"]
    largest = bot.api.ok("GET", "/v1/chat/users", params={"pageSize": 1000})
    assert [user["id"] for user in largest["users"]] == created[::-1][:100]
    rest = bot.api.ok("GET", "/v1/chat/users", params={"pageSize": 1000, "nextToken": largest["meta"]["nextToken"]})
    assert [user["id"] for user in rest["users"]] == [created[0]]
    assert rest["meta"] == {}


def test_list_users_bounds_creation_dates_inclusively(bot: BotSetup) -> None:
    users = []
    for _ in range(3):
        users.append(_user(bot.api))
        time.sleep(0.005)  # distinct millisecond timestamps
    middle = users[1]["createdAt"]
    ids = [user["id"] for user in users]
    assert _ids(bot.api, afterDate=middle) == [ids[2], ids[1]]
    assert _ids(bot.api, beforeDate=middle) == [ids[1], ids[0]]
    assert _ids(bot.api, afterDate=middle, beforeDate=middle) == [ids[1]]


def test_list_users_with_a_foreign_next_token_is_invalid_payload(bot: BotSetup) -> None:
    bot.api.error("GET", "/v1/chat/users", params={"nextToken": "not a token"}, type="InvalidPayload", status=400)


def test_list_users_filters_by_tags(bot: BotSetup) -> None:
    ada = _user(bot.api, tags={"email": "ada@x.io", "crmId": "shared"})["id"]
    bob = _user(bot.api, tags={"email": "bob@x.io", "crmId": "shared"})["id"]
    _user(bot.api, tags={"email": "eve@x.io"})
    assert _ids(bot.api, **{"tags.email": "ada@x.io"}) == [ada]
    assert _ids(bot.api, **{"tags.crmId": "shared"}) == [bob, ada]
    assert _ids(bot.api, **{"tags.crmId": "shared", "tags.email": "bob@x.io"}) == [bob]
    assert _ids(bot.api, **{"tags.email": "nobody@x.io"}) == []


def test_list_users_of_a_conversation_returns_its_participants(bot: BotSetup) -> None:
    inside, also_inside = _user(bot.api)["id"], _user(bot.api)["id"]
    outside = _user(bot.api)["id"]
    conversation_id, other_conversation = _conversation(bot.api), _conversation(bot.api)
    for user_id in (inside, also_inside):
        bot.api.ok("POST", f"/v1/chat/conversations/{conversation_id}/participants", {"userId": user_id})
    bot.api.ok("POST", f"/v1/chat/conversations/{other_conversation}/participants", {"userId": outside})
    assert set(_ids(bot.api, conversationId=conversation_id)) == {inside, also_inside}
    assert _ids(bot.api, conversationId=other_conversation) == [outside]


def test_list_users_sorts_by_field_and_direction(bot: BotSetup) -> None:
    created = [_user(bot.api, tags={"email": f"{n}@x.io"})["id"] for n in range(3)]
    assert _ids(bot.api, sortDirection="asc") == created
    assert _ids(bot.api, sortField="createdAt", sortDirection="desc") == created[::-1]
    time.sleep(0.01)  # timestamps have millisecond resolution
    bot.api.ok("PUT", f"/v1/chat/users/{created[0]}", {"tags": {"crmId": "touched"}})
    assert _ids(bot.api, sortField="updatedAt") == [created[0], created[2], created[1]]
    assert _ids(bot.api, sortField="updatedAt", sortDirection="asc") == [created[1], created[2], created[0]]
    assert _ids(bot.api, sortField="createdAt") == created[::-1]


def test_list_users_with_an_unknown_sort_field_is_invalid_payload(bot: BotSetup) -> None:
    bot.api.error("GET", "/v1/chat/users", params={"sortField": "name"}, type="InvalidPayload", status=400)


# get-or-create


def test_get_or_create_user_creates_then_finds_the_same_user(bot: BotSetup) -> None:
    body = {"tags": {"email": "goc@x.io"}, "name": "Goc"}
    first = bot.api.call("POST", "/v1/chat/users/get-or-create", body)
    second = bot.api.call("POST", "/v1/chat/users/get-or-create", body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["meta"] == {"created": True}
    assert second.json()["meta"] == {"created": False}
    assert second.json()["user"]["id"] == first.json()["user"]["id"]
    assert second.json()["user"]["tags"] == {"email": "goc@x.io"}
    assert _ids(bot.api, **{"tags.email": "goc@x.io"}) == [first.json()["user"]["id"]]


# Integration namespacing


def test_integration_user_tags_are_bare_for_the_integration_and_prefixed_for_the_bot(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    alias = integration.alias
    created = integration.api.ok("POST", "/v1/chat/users", {"tags": {"id": "u-1", "handle": "ada"}}, status=201)["user"]
    assert created["tags"] == {"id": "u-1", "handle": "ada"}
    seen_by_bot = bot.api.ok("GET", f"/v1/chat/users/{created['id']}")["user"]
    assert seen_by_bot["tags"] == {f"{alias}:id": "u-1", f"{alias}:handle": "ada"}
    bot.api.ok("PUT", f"/v1/chat/users/{created['id']}", {"tags": {"email": "ada@x.io"}})
    seen_by_integration = integration.api.ok("GET", f"/v1/chat/users/{created['id']}")["user"]
    assert seen_by_integration["tags"] == {"id": "u-1", "handle": "ada"}, "only its own tags, bare"
    integration.api.ok("PUT", f"/v1/chat/users/{created['id']}", {"tags": {"handle": ""}})
    assert bot.api.ok("GET", f"/v1/chat/users/{created['id']}")["user"]["tags"] == {
        f"{alias}:id": "u-1",
        "email": "ada@x.io",
    }
    assert _ids(bot.api, **{f"tags.{alias}:id": "u-1"}) == [created["id"]]
    assert _ids(integration.api, **{"tags.id": "u-1"}) == [created["id"]]


def test_an_integration_writing_a_tag_it_did_not_declare_is_invalid_payload(integration: IntegrationSetup) -> None:
    before = integration.api.server.snapshot()
    integration.api.error("POST", "/v1/chat/users", {"tags": {"email": "x"}}, type="InvalidPayload", status=400)
    assert integration.api.server.snapshot() == before


def test_an_integration_sees_only_its_own_users(admin: Api, bot: BotSetup, integration: IntegrationSetup) -> None:
    other = install(admin, bot, alias="other")
    mine = integration.api.ok("POST", "/v1/chat/users", {"tags": {"id": "mine"}}, status=201)["user"]["id"]
    theirs = other.api.ok("POST", "/v1/chat/users", {"tags": {"id": "theirs"}}, status=201)["user"]["id"]
    bots = _user(bot.api, tags={"email": "bot@x.io"})["id"]
    assert _ids(integration.api) == [mine]
    assert _ids(other.api) == [theirs]
    assert set(_ids(bot.api)) == {mine, theirs, bots}
    before = bot.api.server.snapshot()
    for hidden in (theirs, bots):
        integration.api.error("GET", f"/v1/chat/users/{hidden}", type="ResourceNotFound", status=404)
        integration.api.error(
            "PUT", f"/v1/chat/users/{hidden}", {"tags": {"id": "x"}}, type="ResourceNotFound", status=404
        )
        integration.api.error("DELETE", f"/v1/chat/users/{hidden}", type="ResourceNotFound", status=404)
    assert bot.api.server.snapshot() == before


def test_integration_get_or_create_user_never_answers_a_user_it_cannot_see(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    # The bot may write the integration's tags onto its own user; that user stays the bot's.
    bots_user = _user(bot.api, tags={f"{integration.alias}:id": "u-9"})
    found = integration.api.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"id": "u-9"}})
    assert found["user"]["id"] != bots_user["id"], "the bot's user was answered to the integration"
    assert found["meta"] == {"created": True}
    assert integration.api.ok("GET", f"/v1/chat/users/{found['user']['id']}")["user"] == found["user"]
    assert bot.api.ok("GET", f"/v1/chat/users/{bots_user['id']}")["user"] == bots_user


# Another bot


def test_another_bot_cannot_read_change_delete_or_list_a_bots_users(admin: Api, bot: BotSetup) -> None:
    user = _user(bot.api, tags={"email": "private@x.io"}, name="Private")
    stranger = make_bot(admin)
    before = bot.api.server.snapshot()
    stranger.api.error("GET", f"/v1/chat/users/{user['id']}", type="ResourceNotFound", status=404)
    stranger.api.error("PUT", f"/v1/chat/users/{user['id']}", {"name": "Stolen"}, type="ResourceNotFound", status=404)
    stranger.api.error("DELETE", f"/v1/chat/users/{user['id']}", type="ResourceNotFound", status=404)
    assert _ids(stranger.api) == []
    assert _ids(stranger.api, **{"tags.email": "private@x.io"}) == []
    assert bot.api.server.snapshot() == before
    found = stranger.api.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"email": "private@x.io"}})
    assert found["meta"] == {"created": True}
    assert found["user"]["id"] != user["id"]
    assert bot.api.ok("GET", f"/v1/chat/users/{user['id']}")["user"] == user
