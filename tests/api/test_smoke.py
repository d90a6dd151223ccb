"""The README's headline scenario."""

from tests.conftest import BotSetup


def test_get_or_create_message_twice_returns_the_same_message(bot: BotSetup) -> None:
    user = bot.api.ok("POST", "/v1/chat/users", {"tags": {"email": "a@example.com"}}, status=201)["user"]
    conversation = bot.api.ok("POST", "/v1/chat/conversations", {"channel": "web", "tags": {}}, status=201)[
        "conversation"
    ]
    body = {
        "payload": {"text": "hello"},
        "userId": user["id"],
        "conversationId": conversation["id"],
        "type": "text",
        "tags": {"externalId": "ext-1"},
    }
    first = bot.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    second = bot.api.ok("POST", "/v1/chat/messages/get-or-create", body)
    assert first["meta"] == {"created": True}
    assert second["meta"] == {"created": False}
    assert first["message"]["id"] == second["message"]["id"]
    assert first["message"]["direction"] == "outgoing"
