"""States: get, set, patch, get-or-set, expiry, deletion, binding to resources, namespaces."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import BOT_DEFINITION, BotSetup, IntegrationSetup, install, make_bot
from tests.harness import Api

PROFILE = {
    "type": "object",
    "properties": {"step": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["step"],
}
STATE_BOT: dict[str, Any] = {
    **BOT_DEFINITION,
    "states": {
        "flow": {"type": "conversation", "schema": PROFILE},
        "profile": {"type": "user", "schema": PROFILE},
        "settings": {"type": "bot", "schema": {"type": "object"}},
        "session": {"type": "conversation", "schema": {"type": "object"}, "expiry": 60_000},
    },
}
INTEGRATION_STATES: dict[str, Any] = {
    "states": {
        "credentials": {"type": "integration", "schema": {"type": "object"}},
        "flow": {"type": "conversation", "schema": {"type": "object"}},
    }
}


@pytest.fixture
def bot(admin: Api) -> BotSetup:
    return make_bot(admin, STATE_BOT)


@pytest.fixture
def integration(admin: Api, bot: BotSetup) -> IntegrationSetup:
    return install(admin, bot, extra=INTEGRATION_STATES)


def _conversation(api: Api, channel: str = "web") -> str:
    body = {"channel": channel, "tags": {}}
    conversation_id: str = api.ok("POST", "/v1/chat/conversations", body, status=201)["conversation"]["id"]
    return conversation_id


def _user(api: Api) -> str:
    user_id: str = api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)["user"]["id"]
    return user_id


def test_set_then_get_a_conversation_state(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    path = f"/v1/chat/states/conversation/{conversation}/flow"
    bot.api.error("GET", path, type="ResourceNotFound", status=404)
    state = bot.api.ok("POST", path, {"payload": {"step": 1}})["state"]
    assert state["id"].startswith("state_")
    assert (state["botId"], state["type"], state["name"]) == (bot.id, "conversation", "flow")
    assert state["conversationId"] == conversation
    assert "userId" not in state
    assert state["payload"] == {"step": 1}
    assert "expiry" not in state
    assert "expiresAt" not in state
    assert bot.api.ok("GET", path) == {"state": state, "meta": {"cached": False}}
    replaced = bot.api.ok("POST", path, {"payload": {"step": 2, "name": "x"}})["state"]
    assert (replaced["id"], replaced["createdAt"]) == (state["id"], state["createdAt"])
    assert replaced["payload"] == {"step": 2, "name": "x"}
    overwritten = bot.api.ok("POST", path, {"payload": {"step": 3}})["state"]
    assert overwritten["payload"] == {"step": 3}


def test_user_and_bot_states(bot: BotSetup) -> None:
    user = _user(bot.api)
    profile = bot.api.ok("POST", f"/v1/chat/states/user/{user}/profile", {"payload": {"step": 1}})["state"]
    assert profile["userId"] == user
    settings = bot.api.ok("POST", f"/v1/chat/states/bot/{bot.id}/settings", {"payload": {"a": 1}})["state"]
    assert settings["type"] == "bot"
    assert bot.api.ok("GET", f"/v1/chat/states/bot/{bot.id}/settings")["state"] == settings


@pytest.mark.parametrize(
    ("path", "body", "error", "status"),
    [
        ("conversation/{conversation}/flow", {"payload": {"step": "one"}}, "InvalidPayload", 400),
        ("conversation/{conversation}/flow", {"payload": {}}, "InvalidPayload", 400),
        ("conversation/{conversation}/flow", {}, "InvalidPayload", 400),
        ("conversation/{conversation}/flow", {"payload": {"step": 1}, "expiry": 0}, "InvalidPayload", 400),
        ("conversation/{conversation}/flow", {"payload": {"step": 1}, "expiry": 2_592_000_001}, "InvalidPayload", 400),
        ("conversation/{conversation}/nope", {"payload": {"step": 1}}, "InvalidPayload", 400),
        ("user/{conversation}/flow", {"payload": {"step": 1}}, "InvalidPayload", 400),
        ("galaxy/{conversation}/flow", {"payload": {"step": 1}}, "InvalidPayload", 400),
        ("conversation/conv_01JAAAAAAAAAAAAAAAAAAAAAAA/flow", {"payload": {"step": 1}}, "ResourceNotFound", 404),
        ("user/user_01JAAAAAAAAAAAAAAAAAAAAAAA/profile", {"payload": {"step": 1}}, "ResourceNotFound", 404),
        ("bot/bot_01JAAAAAAAAAAAAAAAAAAAAAAA/settings", {"payload": {}}, "ResourceNotFound", 404),
    ],
)
def test_rejected_state_writes_change_nothing(
    bot: BotSetup, path: str, body: dict[str, Any], error: str, status: int
) -> None:
    conversation = _conversation(bot.api)
    before = bot.api.server.snapshot()
    bot.api.error("POST", "/v1/chat/states/" + path.format(conversation=conversation), body, type=error, status=status)
    assert bot.api.server.snapshot() == before


def test_patch_merges_top_level_keys(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    path = f"/v1/chat/states/conversation/{conversation}/flow"
    bot.api.error("PATCH", path, {"payload": {"step": 1}}, type="ResourceNotFound", status=404)
    bot.api.ok("POST", path, {"payload": {"step": 1, "name": "a"}})
    patched = bot.api.ok("PATCH", path, {"payload": {"name": "b"}})["state"]
    assert patched["payload"] == {"step": 1, "name": "b"}
    before = bot.api.server.snapshot()
    bot.api.error("PATCH", path, {"payload": {"step": "x"}}, type="InvalidPayload", status=400)
    assert bot.api.server.snapshot() == before


def test_get_or_set_creates_once_and_then_answers_the_stored_state(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    path = f"/v1/chat/states/conversation/{conversation}/flow/get-or-set"
    created = bot.api.ok("POST", path, {"payload": {"step": 1}})
    assert created["meta"] == {"cached": False}
    found = bot.api.ok("POST", path, {"payload": {"step": 99}})
    assert found["state"] == created["state"]
    # An invalid payload is not even looked at when the state exists.
    assert bot.api.ok("POST", path, {"payload": {"step": "x"}})["state"] == created["state"]


def test_concurrent_get_or_set_makes_one_state(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    path = f"/v1/chat/states/conversation/{conversation}/flow/get-or-set"

    def call(step: int) -> str:
        state_id: str = bot.api.ok("POST", path, {"payload": {"step": step}})["state"]["id"]
        return state_id

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = set(pool.map(call, range(32)))
    assert len(ids) == 1


def test_null_payload_deletes_and_deleting_twice_is_fine(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    path = f"/v1/chat/states/conversation/{conversation}/flow"
    bot.api.ok("POST", path, {"payload": {"step": 1}})
    deleted = bot.api.ok("POST", path, {"payload": None})["state"]
    assert deleted["payload"] == {}
    bot.api.error("GET", path, type="ResourceNotFound", status=404)
    assert bot.api.ok("POST", path, {"payload": None})["state"]["payload"] == {}


def test_expiry_is_set_changed_and_removed(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    path = f"/v1/chat/states/conversation/{conversation}/flow"
    bot.api.error("POST", path + "/expiry", {"expiry": 1000}, type="ResourceNotFound", status=404)
    state = bot.api.ok("POST", path, {"payload": {"step": 1}, "expiry": 5000})["state"]
    assert state["expiry"] == 5000
    assert state["expiresAt"] > state["updatedAt"]
    longer = bot.api.ok("POST", path + "/expiry", {"expiry": 90_000})["state"]
    assert longer["expiry"] == 90_000
    assert longer["expiresAt"] > state["expiresAt"]
    # A write that does not mention the expiry keeps it.
    kept = bot.api.ok("POST", path, {"payload": {"step": 2}})["state"]
    assert kept["expiry"] == 90_000
    removed = bot.api.ok("POST", path + "/expiry", {"expiry": None})["state"]
    assert "expiry" not in removed
    assert "expiresAt" not in removed
    bot.api.error("POST", path + "/expiry", {}, type="InvalidPayload", status=400)
    bot.api.error("POST", path + "/expiry", {"expiry": 0}, type="InvalidPayload", status=400)


def test_a_declared_default_expiry_applies_to_new_states(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    state = bot.api.ok("POST", f"/v1/chat/states/conversation/{conversation}/session", {"payload": {}})["state"]
    assert state["expiry"] == 60_000
    never = bot.api.ok("POST", f"/v1/chat/states/conversation/{conversation}/session", {"payload": {}, "expiry": None})[
        "state"
    ]
    assert "expiry" not in never


def test_a_missing_integration_state_is_not_found_by_name(integration: IntegrationSetup) -> None:
    # Telegram's integration reads its `credentials` state in `register` and treats the error as
    # "no credentials yet" only when the message says "not found".
    missing = integration.api.error(
        "GET", f"/v1/chat/states/integration/{integration.id}/credentials", type="ResourceNotFound", status=404
    )
    assert missing["message"] == f"State 'credentials' (integration) not found for {integration.id}."


def test_integration_states_live_in_their_own_namespace(bot: BotSetup, integration: IntegrationSetup) -> None:
    conversation = _conversation(integration.api, "channel")
    mine = f"/v1/chat/states/conversation/{conversation}/flow"
    bot.api.ok("POST", mine, {"payload": {"step": 1}})
    integration.api.error("GET", mine, type="ResourceNotFound", status=404)
    theirs = integration.api.ok("POST", mine, {"payload": {"cursor": "abc"}})["state"]
    assert theirs["payload"] == {"cursor": "abc"}
    assert bot.api.ok("GET", mine)["state"]["payload"] == {"step": 1}
    own = f"/v1/chat/states/integration/{integration.id}/credentials"
    assert integration.api.ok("POST", own, {"payload": {"token": "t"}})["state"]["type"] == "integration"
    integration.api.error(
        "POST",
        f"/v1/chat/states/integration/{bot.id}/credentials",
        {"payload": {}},
        type="ResourceNotFound",
        status=404,
    )
    # A bot cannot use the integration's state names, nor an integration the bot's.
    bot.api.error("GET", own, type="InvalidPayload", status=400)
    integration.api.error("GET", f"/v1/chat/states/bot/{bot.id}/settings", type="InvalidPayload", status=400)
    # An integration keeps states only on its own conversations.
    bots_own = _conversation(bot.api)
    integration.api.error(
        "POST", f"/v1/chat/states/conversation/{bots_own}/flow", {"payload": {}}, type="ResourceNotFound", status=404
    )


def test_states_go_away_with_their_conversation_or_user(bot: BotSetup) -> None:
    conversation, user = _conversation(bot.api), _user(bot.api)
    bot.api.ok("POST", f"/v1/chat/states/conversation/{conversation}/flow", {"payload": {"step": 1}})
    bot.api.ok("POST", f"/v1/chat/states/user/{user}/profile", {"payload": {"step": 1}})
    bot.api.ok("DELETE", f"/v1/chat/conversations/{conversation}")
    bot.api.ok("DELETE", f"/v1/chat/users/{user}")
    bot.api.error("GET", f"/v1/chat/states/conversation/{conversation}/flow", type="ResourceNotFound", status=404)
    bot.api.error("GET", f"/v1/chat/states/user/{user}/profile", type="ResourceNotFound", status=404)


def test_another_bot_cannot_read_or_write_the_states(admin: Api, bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    path = f"/v1/chat/states/conversation/{conversation}/flow"
    bot.api.ok("POST", path, {"payload": {"step": 1}})
    stranger = make_bot(admin, STATE_BOT)
    before = bot.api.server.snapshot()
    stranger.api.error("GET", path, type="ResourceNotFound", status=404)
    stranger.api.error("POST", path, {"payload": {"step": 2}}, type="ResourceNotFound", status=404)
    stranger.api.error("POST", path, {"payload": None}, type="ResourceNotFound", status=404)
    stranger.api.error("PATCH", path, {"payload": {"step": 2}}, type="ResourceNotFound", status=404)
    stranger.api.error("POST", path + "/expiry", {"expiry": 10}, type="ResourceNotFound", status=404)
    stranger.api.error("POST", path + "/get-or-set", {"payload": {"step": 2}}, type="ResourceNotFound", status=404)
    stranger.api.error(
        "POST", f"/v1/chat/states/bot/{bot.id}/settings", {"payload": {}}, type="ResourceNotFound", status=404
    )
    assert bot.api.server.snapshot() == before


def test_the_admin_lists_the_states_of_a_resource_whoever_keeps_them(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation = _conversation(integration.api, "channel")
    path = f"/v1/chat/states/conversation/{conversation}/flow"
    bot.api.ok("POST", path, {"payload": {"step": 1}})
    integration.api.ok("POST", path, {"payload": {"cursor": "abc"}})
    bot.api.ok("POST", f"/v1/chat/states/conversation/{_conversation(bot.api)}/flow", {"payload": {"step": 9}})
    listing = f"/v1/parley/bots/{bot.id}/states"
    query = {"type": "conversation", "id": conversation, "pageSize": "1"}
    first = admin.ok("GET", listing, params=query)
    second = admin.ok("GET", listing, params={**query, "nextToken": first["meta"]["nextToken"]})
    assert second["meta"] == {}
    found = {state.get("integration", "bot"): state for state in first["states"] + second["states"]}
    assert found["bot"]["payload"] == {"step": 1}
    assert found[integration.alias]["payload"] == {"cursor": "abc"}
    assert {state["conversationId"] for state in found.values()} == {conversation}
    assert admin.ok("GET", listing, params={"type": "user", "id": conversation})["states"] == []
    admin.error("GET", listing, params={"type": "conversation"}, type="InvalidPayload", status=400)
    admin.error("GET", listing, params={"type": "room", "id": conversation}, type="InvalidPayload", status=400)
    # An operator's view: a bot's own key cannot read it.
    bot.api.error("GET", listing, params={"type": "conversation", "id": conversation}, type="Forbidden", status=403)
