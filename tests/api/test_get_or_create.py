"""get-or-create for users, conversations and messages: tag keys, discriminateByTags, conflicts, races."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import BotSetup, IntegrationSetup


def _conversation(bot: BotSetup, **tags: str) -> str:
    body = {"channel": "web", "tags": tags}
    conversation_id: str = bot.api.ok("POST", "/v1/chat/conversations", body, status=201)["conversation"]["id"]
    return conversation_id


def _user(bot: BotSetup) -> str:
    user_id: str = bot.api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)["user"]["id"]
    return user_id


def _message(bot: BotSetup, conversation_id: str, user_id: str, **extra: Any) -> dict[str, Any]:
    return {"payload": {"text": "hi"}, "userId": user_id, "conversationId": conversation_id, "type": "text", **extra}


def test_get_or_create_message_matches_all_tags_when_no_discriminator(bot: BotSetup) -> None:
    conversation, user = _conversation(bot), _user(bot)
    first = bot.api.ok(
        "POST",
        "/v1/chat/messages/get-or-create",
        _message(bot, conversation, user, tags={"externalId": "1", "kind": "a"}),
    )
    again = bot.api.ok(
        "POST",
        "/v1/chat/messages/get-or-create",
        _message(bot, conversation, user, tags={"kind": "a", "externalId": "1"}),
    )
    other = bot.api.ok(
        "POST",
        "/v1/chat/messages/get-or-create",
        _message(bot, conversation, user, tags={"externalId": "1", "kind": "b"}),
    )
    assert again["message"]["id"] == first["message"]["id"]
    assert again["meta"]["created"] is False
    assert other["meta"]["created"] is True
    assert other["message"]["id"] != first["message"]["id"]


def test_get_or_create_without_discriminator_needs_the_exact_tag_set(bot: BotSetup) -> None:
    conversation, user = _conversation(bot), _user(bot)
    stored = bot.api.ok(
        "POST",
        "/v1/chat/messages/get-or-create",
        _message(bot, conversation, user, tags={"externalId": "1", "kind": "a"}),
    )
    subset = bot.api.ok(
        "POST", "/v1/chat/messages/get-or-create", _message(bot, conversation, user, tags={"externalId": "1"})
    )
    assert subset["meta"]["created"] is True
    assert subset["message"]["id"] != stored["message"]["id"]


def test_discriminate_by_tags_matches_listed_tags_only_and_writes_the_others(bot: BotSetup) -> None:
    conversation, user = _conversation(bot), _user(bot)
    first = bot.api.ok(
        "POST",
        "/v1/chat/messages/get-or-create",
        _message(bot, conversation, user, tags={"externalId": "42", "kind": "a"}, discriminateByTags=["externalId"]),
    )
    second = bot.api.ok(
        "POST",
        "/v1/chat/messages/get-or-create",
        _message(
            bot,
            conversation,
            user,
            tags={"externalId": "42", "kind": "b", "source": "s"},
            discriminateByTags=["externalId"],
        ),
    )
    assert second["meta"]["created"] is False
    assert second["message"]["id"] == first["message"]["id"]
    assert second["message"]["tags"] == {"externalId": "42", "kind": "b", "source": "s"}
    fetched = bot.api.ok("GET", f"/v1/chat/messages/{first['message']['id']}")["message"]
    assert fetched["tags"] == {"externalId": "42", "kind": "b", "source": "s"}


def test_a_found_message_keeps_its_payload(bot: BotSetup) -> None:
    conversation, user = _conversation(bot), _user(bot)
    body = _message(bot, conversation, user, tags={"externalId": "p"})
    bot.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    again = bot.api.ok("POST", "/v1/chat/messages/get-or-create", {**body, "payload": {"text": "changed"}})
    assert again["meta"]["created"] is False
    assert again["message"]["payload"] == {"text": "hi"}


def test_empty_tags_always_create(bot: BotSetup) -> None:
    conversation, user = _conversation(bot), _user(bot)
    body = _message(bot, conversation, user, tags={})
    first = bot.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    second = bot.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert first["meta"]["created"] is True
    assert second["meta"]["created"] is True
    assert first["message"]["id"] != second["message"]["id"]


def test_several_matches_return_the_oldest(bot: BotSetup) -> None:
    conversation, user = _conversation(bot), _user(bot)
    oldest = bot.api.ok(
        "POST", "/v1/chat/messages", _message(bot, conversation, user, tags={"externalId": "x"}), status=201
    )["message"]
    bot.api.ok("POST", "/v1/chat/messages", _message(bot, conversation, user, tags={"externalId": "x"}), status=201)
    found = bot.api.ok(
        "POST", "/v1/chat/messages/get-or-create", _message(bot, conversation, user, tags={"externalId": "x"})
    )
    assert found["meta"]["created"] is False
    assert found["message"]["id"] == oldest["id"]


def test_a_match_in_another_conversation_is_a_relation_conflict(bot: BotSetup) -> None:
    first, second, user = _conversation(bot), _conversation(bot), _user(bot)
    bot.api.ok("POST", "/v1/chat/messages/get-or-create", _message(bot, first, user, tags={"externalId": "e"}))
    before = bot.api.server.snapshot()
    error = bot.api.error(
        "POST",
        "/v1/chat/messages/get-or-create",
        _message(bot, second, user, tags={"externalId": "e"}),
        type="RelationConflict",
        status=409,
    )
    assert "already exists for a different conversation" in error["message"]
    assert bot.api.server.snapshot() == before


def test_get_or_create_without_payload_finds_but_does_not_create(bot: BotSetup) -> None:
    conversation, user = _conversation(bot), _user(bot)
    body = {"userId": user, "conversationId": conversation, "type": "text", "tags": {"externalId": "np"}}
    bot.api.error("POST", "/v1/chat/messages/get-or-create", body, type="InvalidPayload", status=400)
    bot.api.ok("POST", "/v1/chat/messages/get-or-create", {**body, "payload": {"text": "hi"}})
    found = bot.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert found["meta"]["created"] is False


def test_get_or_create_user_and_conversation_by_tags(bot: BotSetup) -> None:
    user = bot.api.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"email": "u@x.io"}, "name": "U"})
    user_again = bot.api.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"email": "u@x.io"}})
    assert (user["meta"], user_again["meta"]) == ({"created": True}, {"created": False})
    assert user_again["user"]["id"] == user["user"]["id"]
    assert user_again["user"]["name"] == "U"
    conversation = bot.api.ok(
        "POST", "/v1/chat/conversations/get-or-create", {"channel": "web", "tags": {"topic": "t"}}
    )
    same = bot.api.ok("POST", "/v1/chat/conversations/get-or-create", {"channel": "web", "tags": {"topic": "t"}})
    other_channel = bot.api.ok(
        "POST", "/v1/chat/conversations/get-or-create", {"channel": "sms", "tags": {"topic": "t"}}
    )
    assert same["conversation"]["id"] == conversation["conversation"]["id"]
    assert other_channel["meta"]["created"] is True


def test_integration_get_or_create_ignores_tags_of_other_namespaces(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    created = integration.api.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"id": "u-1"}})
    bot.api.ok("PUT", f"/v1/chat/users/{created['user']['id']}", {"tags": {"crmId": "c-9"}})
    found = integration.api.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"id": "u-1"}})
    assert found["meta"]["created"] is False
    assert found["user"]["id"] == created["user"]["id"]
    assert found["user"]["tags"] == {"id": "u-1"}


def test_integration_message_get_or_create_with_discriminator_is_idempotent(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    api = integration.api
    user = api.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"id": "ext-user"}})["user"]["id"]
    conversation = api.ok(
        "POST", "/v1/chat/conversations/get-or-create", {"channel": "channel", "tags": {"id": "ext-conv"}}
    )["conversation"]["id"]
    body = _message(bot, conversation, user, tags={"id": "ext-msg"}, discriminateByTags=["id"])
    first = api.ok("POST", "/v1/chat/messages/get-or-create", body)
    retried = api.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert retried["message"]["id"] == first["message"]["id"]
    assert first["message"]["direction"] == "incoming"
    assert first["message"]["tags"] == {"id": "ext-msg"}
    seen_by_bot = bot.api.ok("GET", f"/v1/chat/messages/{first['message']['id']}")["message"]
    assert seen_by_bot["tags"] == {f"{integration.alias}:id": "ext-msg"}


async def _race(bot: BotSetup, path: str, body: dict[str, Any], count: int = 50) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=bot.api.server.url, headers=bot.api.headers, timeout=60) as client:
        return await asyncio.gather(*(client.post(path, json=body) for _ in range(count)))


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/v1/chat/users/get-or-create", "user"),
        ("/v1/chat/conversations/get-or-create", "conversation"),
        ("/v1/chat/messages/get-or-create", "message"),
    ],
)
def test_fifty_concurrent_identical_calls_create_exactly_one_resource(bot: BotSetup, path: str, resource: str) -> None:
    body: dict[str, Any]
    if resource == "user":
        body = {"tags": {"email": "race@x.io"}}
    elif resource == "conversation":
        body = {"channel": "web", "tags": {"topic": "race"}}
    else:
        body = _message(bot, _conversation(bot), _user(bot), tags={"externalId": "race"})
    responses = asyncio.run(_race(bot, path, body))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    ids = {r.json()[resource]["id"] for r in responses}
    created = [r.json()["meta"]["created"] for r in responses]
    assert len(ids) == 1
    assert created.count(True) == 1
    listed = bot.api.ok(
        "GET",
        f"/v1/chat/{resource}s",
        params={"tags." + next(iter(body["tags"])): "race" if resource != "user" else "race@x.io"},
    )
    assert len(listed[f"{resource}s"]) == 1
