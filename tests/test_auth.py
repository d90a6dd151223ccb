"""Who may call: tokens stored hashed, bot and integration identities checked against headers."""

import hashlib
import json
from typing import Any

from tests.conftest import PLAN_DECLARED, BotSetup, IntegrationSetup, install, make_bot
from tests.harness import Api


def test_tokens_are_stored_only_as_hashes(admin: Api, bot: BotSetup) -> None:
    values = {str(cell) for row in admin.server.snapshot()["api_keys"] for cell in row}
    assert bot.api.token not in values
    assert admin.token not in values
    assert hashlib.sha256(bot.api.token.encode()).hexdigest() in values


def test_the_admin_token_acts_as_any_bot_and_as_its_integrations(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    as_bot = Api(admin.server, admin.token, {"x-bot-id": bot.id})
    conversation = as_bot.ok("POST", "/v1/chat/conversations", {"channel": "web", "tags": {}}, status=201)
    assert bot.api.ok("GET", f"/v1/chat/conversations/{conversation['conversation']['id']}")
    as_integration = Api(
        admin.server, admin.token, {**integration.api.headers, "authorization": f"Bearer {admin.token}"}
    )
    user = as_integration.ok("POST", "/v1/chat/users", {"tags": {"id": "1"}}, status=201)["user"]
    assert user["tags"] == {"id": "1"}


def test_a_bot_key_cannot_act_as_an_integration(bot: BotSetup, integration: IntegrationSetup) -> None:
    headers = {"x-integration-id": integration.id, "x-integration-alias": integration.alias}
    bot.api.error("GET", "/v1/chat/users", type="Forbidden", status=403, headers=headers)


def test_an_integration_key_works_only_in_bots_that_installed_it(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    other = make_bot(admin)
    headers = {"x-bot-id": other.id}
    integration.api.error("GET", "/v1/chat/users", type="Forbidden", status=403, headers=headers)
    integration.api.error(
        "GET", "/v1/chat/users", type="Forbidden", status=403, headers={"x-integration-alias": "not-the-alias"}
    )
    integration.api.error(
        "GET",
        "/v1/chat/users",
        type="Forbidden",
        status=403,
        headers={"x-integration-id": "int_01AAAAAAAAAAAAAAAAAAAAAAAA"},
    )


def test_the_alias_header_may_be_left_out_when_the_integration_is_installed_once(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    headers = {k: v for k, v in integration.api.headers.items() if k != "x-integration-alias"}
    api = Api(integration.api.server, integration.api.token, headers)
    user = api.ok("POST", "/v1/chat/users", {"tags": {"id": "no-alias"}}, status=201)["user"]
    assert bot.api.ok("GET", f"/v1/chat/users/{user['id']}")["user"]["tags"] == {f"{integration.alias}:id": "no-alias"}


def test_a_disabled_installation_is_forbidden(admin: Api, bot: BotSetup, integration: IntegrationSetup) -> None:
    admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {integration.alias: {"enabled": False}}})
    integration.api.error("GET", "/v1/chat/users", type="Forbidden", status=403)
    admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {integration.alias: {"enabled": True}}})
    integration.api.ok("GET", "/v1/chat/users")


def test_the_same_integration_installed_twice_keeps_tags_apart_by_alias(admin: Api, bot: BotSetup) -> None:
    first = install(admin, bot, alias="left")
    second_key = admin.ok("POST", "/v1/admin/integrations/iaks", {"integrationId": first.id})["value"]
    admin.ok(
        "PUT",
        f"/v1/admin/bots/{bot.id}",
        {"integrations": {"right": {"enabled": True, "integrationId": first.id, "configuration": {}}}},
    )
    second = Api(
        admin.server, second_key, {"x-bot-id": bot.id, "x-integration-id": first.id, "x-integration-alias": "right"}
    )
    a = first.api.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"id": "same"}})["user"]
    b = second.ok("POST", "/v1/chat/users/get-or-create", {"tags": {"id": "same"}})["user"]
    assert a["id"] != b["id"]
    assert bot.api.ok("GET", f"/v1/chat/users/{b['id']}")["user"]["tags"] == {"right:id": "same"}
    first.api.error("GET", f"/v1/chat/users/{b['id']}", type="ResourceNotFound", status=404)


def test_a_definition_change_is_seen_by_the_next_request(admin: Api, bot: BotSetup) -> None:
    bot.api.error("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, type="InvalidPayload", status=400)
    admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"user": {"tags": {"plan": {}}}})
    assert bot.api.ok("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, status=201)["user"]["tags"] == {
        "plan": "pro"
    }


def test_a_change_to_one_bot_leaves_what_the_server_parsed_of_another(admin: Api) -> None:
    changed, other = make_bot(admin), make_bot(admin)
    for bot in (changed, other):
        bot.api.error("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, type="InvalidPayload", status=400)
    # Written behind the server's back: only a change of the bot's version would make the server
    # read this definition instead of the one it parsed.
    admin.server.execute("UPDATE bots SET definition = $2 WHERE id = $1", other.id, json.dumps(PLAN_DECLARED))
    admin.ok("PUT", f"/v1/admin/bots/{changed.id}", {"user": {"tags": {"plan": {}}}})
    changed.api.ok("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, status=201)
    other.api.error("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, type="InvalidPayload", status=400)


def test_a_change_to_an_integration_is_seen_at_once_in_every_bot_that_installs_it(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    other = make_bot(admin)
    installation = {"enabled": True, "integrationId": integration.id, "configuration": {}}
    admin.ok("PUT", f"/v1/admin/bots/{other.id}", {"integrations": {integration.alias: installation}})
    in_other = Api(admin.server, integration.api.token, {**integration.api.headers, "x-bot-id": other.id})
    callers = [integration.api, in_other]
    for caller in callers:
        caller.error("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, type="InvalidPayload", status=400)
    declared: dict[str, Any] = {"user": {"tags": {"id": {}, "handle": {}, "plan": {}}}}
    admin.ok("PUT", f"/v1/admin/integrations/{integration.id}", declared)
    for caller in callers:
        assert caller.ok("POST", "/v1/chat/users", {"tags": {"plan": "pro"}}, status=201)["user"]["tags"] == {
            "plan": "pro"
        }


def test_a_revoked_key_is_refused_before_its_body_is_judged(admin: Api, bot: BotSetup) -> None:
    key = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot.id, "note": "revoked"})
    doomed = Api(admin.server, key["value"], {"x-bot-id": bot.id})
    doomed.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)
    doomed.error("GET", "/v1/chat/users/user_01J00000000000000000000000", type="ResourceNotFound", status=404)
    admin.ok("DELETE", f"/v1/admin/bots/baks/{key['id']}")
    before = admin.server.snapshot()
    doomed.error("POST", "/v1/chat/users", {"tags": "not an object"}, type="Unauthorized", status=401)
    doomed.error("POST", "/v1/chat/users", {"tags": {}}, type="Unauthorized", status=401)
    doomed.error("GET", "/v1/chat/users/user_01J00000000000000000000000", type="Unauthorized", status=401)
    assert admin.server.snapshot() == before
