"""Admin API: bots, bot API keys, integrations, installations, integration API keys, the admin token."""

import secrets
from typing import Any

from tests.conftest import BOT_DEFINITION, BotSetup, IntegrationSetup, integration_definition, make_bot
from tests.harness import Api


def _create_integration(admin: Api, **extra: Any) -> dict[str, Any]:
    name = f"admin-test-{secrets.token_hex(4)}"
    integration: dict[str, Any] = admin.ok("POST", "/v1/admin/integrations", {**integration_definition(name), **extra})[
        "integration"
    ]
    return integration


def _walk(api: Api, path: str, items: str, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Every page of a list, following `meta.nextToken` until a page has none."""
    pages: list[list[dict[str, Any]]] = []
    token: str | None = None
    while True:
        query = {**params, "nextToken": token} if token else params
        body = api.ok("GET", path, params=query)
        pages.append(body[items])
        token = body["meta"].get("nextToken")
        if not token:
            return pages
        assert len(pages) < 500, "nextToken never ran out"


def _titles(definitions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {key: definition.get("title") for key, definition in definitions.items()}


def _null_paths(value: Any, path: str = "") -> list[str]:
    """The dotted paths at which a JSON document holds null."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _null_paths(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for item in value for found in _null_paths(item, f"{path}[]")]
    return []


def _holds(snapshot: dict[str, list[tuple[Any, ...]]], value: str) -> list[str]:
    """The tables that have a row mentioning `value` anywhere."""
    return [table for table, rows in snapshot.items() if any(value in repr(row) for row in rows)]


# Bots


def test_create_bot_returns_the_bot_with_its_tag_definitions(admin: Api) -> None:
    bot = admin.ok("POST", "/v1/admin/bots", {**BOT_DEFINITION, "name": "created bot"})["bot"]
    assert bot["id"].startswith("bot_")
    assert 28 <= len(bot["id"]) <= 36
    assert bot["name"] == "created bot"
    assert bot["user"] == {"tags": {"email": {}, "crmId": {"title": "CRM id"}}}
    assert bot["conversation"] == {"tags": {"topic": {}, "priority": {}}}
    assert bot["message"] == {"tags": {"externalId": {}, "kind": {}, "source": {}}}
    assert bot["integrations"] == {}
    assert bot["createdAt"] == bot["updatedAt"]
    assert bot["signingSecret"]


def test_get_bot_returns_the_created_bot(admin: Api, bot: BotSetup) -> None:
    fetched = admin.ok("GET", f"/v1/admin/bots/{bot.id}")["bot"]
    assert fetched["id"] == bot.id
    assert fetched["name"] == BOT_DEFINITION["name"]
    assert set(fetched["user"]["tags"]) == {"email", "crmId"}
    assert set(fetched["conversation"]["tags"]) == {"topic", "priority"}


def test_get_unknown_bot_is_resource_not_found(admin: Api) -> None:
    admin.error("GET", "/v1/admin/bots/bot_01J00000000000000000000000", type="ResourceNotFound", status=404)


def test_list_bots_pages_with_next_token_newest_first(admin: Api) -> None:
    created = [make_bot(admin).id for _ in range(3)]
    pages = _walk(admin, "/v1/admin/bots", "bots", {"pageSize": 2})
    assert all(1 <= len(page) <= 2 for page in pages)
    walked = [bot["id"] for page in pages for bot in page]
    assert len(walked) == len(set(walked)), "a bot was listed twice"
    assert [bot_id for bot_id in walked if bot_id in created] == created[::-1]
    whole = [bot["id"] for page in _walk(admin, "/v1/admin/bots", "bots", {"pageSize": 100}) for bot in page]
    assert walked == whole
    first = pages[0][0]
    assert set(first) >= {"id", "createdAt", "updatedAt", "name", "tags"}


def test_list_bots_without_dev_lists_production_bots_only(admin: Api) -> None:
    production = make_bot(admin).id
    dev = admin.ok("POST", "/v1/admin/bots", {**BOT_DEFINITION, "dev": True})["bot"]["id"]
    default = {b["id"] for page in _walk(admin, "/v1/admin/bots", "bots", {"pageSize": 100}) for b in page}
    dev_only = {
        b["id"] for page in _walk(admin, "/v1/admin/bots", "bots", {"pageSize": 100, "dev": "true"}) for b in page
    }
    assert production in default
    assert dev not in default
    assert dev in dev_only
    assert production not in dev_only


def test_update_bot_merges_tag_definitions_per_key_and_null_removes_one(admin: Api, bot: BotSetup) -> None:
    updated = admin.ok(
        "PUT",
        f"/v1/admin/bots/{bot.id}",
        {
            "user": {"tags": {"phone": {"title": "Phone"}, "email": None}},
            "conversation": {"tags": {"topic": {"title": "Topic"}}},
        },
    )["bot"]
    # Titles compared without null fields: the shape of a definition is test_create_bot_...'s business.
    assert _titles(updated["user"]["tags"]) == {"crmId": "CRM id", "phone": "Phone"}
    assert _titles(updated["conversation"]["tags"]) == {"topic": "Topic", "priority": None}
    assert _titles(updated["message"]["tags"]) == {"externalId": None, "kind": None, "source": None}
    assert admin.ok("GET", f"/v1/admin/bots/{bot.id}")["bot"]["user"] == updated["user"]
    # The runtime follows the new definition at once.
    bot.api.ok("POST", "/v1/chat/users", {"tags": {"phone": "+1 555"}}, status=201)
    error = bot.api.error("POST", "/v1/chat/users", {"tags": {"email": "a@x.io"}}, type="InvalidPayload", status=400)
    assert "email" in error["message"]


def test_update_bot_sets_and_clears_its_url(admin: Api, bot: BotSetup) -> None:
    url = "http://127.0.0.1:9/bot"
    assert admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"url": url})["bot"]["url"] == url
    renamed = admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"name": "renamed"})["bot"]
    assert renamed["name"] == "renamed"
    assert renamed["url"] == url, "an update without `url` keeps it"
    cleared = admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"url": None})["bot"]
    assert cleared.get("url") is None
    assert admin.ok("GET", f"/v1/admin/bots/{bot.id}")["bot"].get("url") is None


def test_update_unknown_bot_is_resource_not_found(admin: Api) -> None:
    before = admin.server.snapshot()
    admin.error(
        "PUT", "/v1/admin/bots/bot_01J00000000000000000000000", {"name": "x"}, type="ResourceNotFound", status=404
    )
    assert admin.server.snapshot() == before


def test_delete_bot_removes_its_users_conversations_messages_and_keys(admin: Api, bot: BotSetup) -> None:
    other = make_bot(admin)
    kept_user = other.api.ok("POST", "/v1/chat/users", {"tags": {"email": "kept@x.io"}}, status=201)["user"]["id"]
    user = bot.api.ok("POST", "/v1/chat/users", {"tags": {"email": "gone@x.io"}}, status=201)["user"]["id"]
    conversation = bot.api.ok("POST", "/v1/chat/conversations", {"channel": "web", "tags": {"topic": "t"}}, status=201)[
        "conversation"
    ]["id"]
    message = bot.api.ok(
        "POST",
        "/v1/chat/messages",
        {
            "payload": {"text": "hi"},
            "userId": user,
            "conversationId": conversation,
            "type": "text",
            "tags": {"externalId": "x"},
        },
        status=201,
    )["message"]["id"]
    assert admin.ok("DELETE", f"/v1/admin/bots/{bot.id}") == {}
    admin.error("GET", f"/v1/admin/bots/{bot.id}", type="ResourceNotFound", status=404)
    bot.api.error("GET", f"/v1/chat/users/{user}", type="Unauthorized", status=401)
    snapshot = admin.server.snapshot()
    for gone in (bot.id, user, conversation, message):
        assert _holds(snapshot, gone) == [], f"{gone} is still stored"
    assert other.api.ok("GET", f"/v1/chat/users/{kept_user}")["user"]["id"] == kept_user


def test_deleting_a_bot_uninstalls_its_integrations(admin: Api, bot: BotSetup, integration: IntegrationSetup) -> None:
    admin.error("DELETE", f"/v1/admin/integrations/{integration.id}", type="ReferenceConstraint", status=409)
    admin.ok("DELETE", f"/v1/admin/bots/{bot.id}")
    assert admin.ok("GET", f"/v1/admin/integrations/{integration.id}")["integration"]["id"] == integration.id
    assert admin.ok("DELETE", f"/v1/admin/integrations/{integration.id}") == {}


def test_delete_unknown_bot_is_resource_not_found(admin: Api) -> None:
    admin.error("DELETE", "/v1/admin/bots/bot_01J00000000000000000000000", type="ResourceNotFound", status=404)


def test_bots_and_integrations_hold_null_only_where_the_contract_allows_it(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    fetched = admin.ok("GET", f"/v1/admin/bots/{bot.id}", headers={"x-multiple-integrations": "true"})["bot"]
    nullable = {
        ".subscriptions.events",
        f".integrations.{integration.alias}.configurationType",
        f".integrations.{integration.alias}.statusReason",
    }
    assert set(_null_paths(fetched)) <= nullable
    assert _null_paths(admin.ok("GET", f"/v1/admin/integrations/{integration.id}")["integration"]) == []


# Bot API keys


def test_create_bot_api_key_shows_its_value_once(admin: Api, bot: BotSetup) -> None:
    key = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot.id, "note": "deploy"})
    assert set(key) == {"id", "createdAt", "note", "value"}
    assert key["value"].startswith("bp_bak_")
    assert len(key["value"]) >= len("bp_bak_") + 43, "at least 32 random bytes"
    assert key["note"] == "deploy"
    listed = admin.ok("GET", "/v1/admin/bots/baks", params={"botId": bot.id})["baks"]
    assert all("value" not in item for item in listed)
    assert {"id": key["id"], "createdAt": key["createdAt"], "note": "deploy"} in listed
    assert key["value"] not in repr(listed)
    works = Api(admin.server, key["value"], {"x-bot-id": bot.id})
    assert works.ok("GET", "/v1/chat/users") == {"users": [], "meta": {}}


def test_list_bot_api_keys_lists_only_that_bots_keys(admin: Api, bot: BotSetup) -> None:
    other = make_bot(admin)
    mine = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot.id})["id"]
    listed = {item["id"] for item in admin.ok("GET", "/v1/admin/bots/baks", params={"botId": bot.id})["baks"]}
    theirs = {item["id"] for item in admin.ok("GET", "/v1/admin/bots/baks", params={"botId": other.id})["baks"]}
    assert mine in listed
    assert len(listed) == 2, "the fixture's key and this one"
    assert len(theirs) == 1
    assert not listed & theirs


def test_a_deleted_bot_api_key_answers_unauthorized(admin: Api, bot: BotSetup) -> None:
    key = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot.id, "note": "to delete"})
    doomed = Api(admin.server, key["value"], {"x-bot-id": bot.id})
    doomed.ok("GET", "/v1/chat/users")
    assert admin.ok("DELETE", f"/v1/admin/bots/baks/{key['id']}") == {}
    doomed.error("GET", "/v1/chat/users", type="Unauthorized", status=401)
    listed = admin.ok("GET", "/v1/admin/bots/baks", params={"botId": bot.id})["baks"]
    assert key["id"] not in {item["id"] for item in listed}
    bot.api.ok("GET", "/v1/chat/users")  # the bot's other key still works
    admin.error("DELETE", f"/v1/admin/bots/baks/{key['id']}", type="ResourceNotFound", status=404)


def test_a_bot_api_key_cannot_act_as_another_bot(admin: Api, bot: BotSetup) -> None:
    other = make_bot(admin)
    impostor = Api(admin.server, bot.api.token, {"x-bot-id": other.id})
    impostor.error("GET", "/v1/chat/users", type="Forbidden", status=403)


def test_a_bot_api_key_cannot_act_as_an_integration(admin: Api, bot: BotSetup, integration: IntegrationSetup) -> None:
    headers = {"x-bot-id": bot.id, "x-integration-id": integration.id, "x-integration-alias": integration.alias}
    Api(admin.server, bot.api.token, headers).error("GET", "/v1/chat/users", type="Forbidden", status=403)


def test_an_integration_api_key_works_only_in_bots_that_installed_it(admin: Api, integration: IntegrationSetup) -> None:
    elsewhere = make_bot(admin)
    headers = {**integration.api.headers, "x-bot-id": elsewhere.id}
    headers.pop("authorization")
    before = admin.server.snapshot()
    stray = Api(admin.server, integration.api.token, headers)
    stray.error("GET", "/v1/chat/users", type="Forbidden", status=403)
    stray.error("POST", "/v1/chat/users", {"tags": {"id": "x"}}, type="Forbidden", status=403)
    assert admin.server.snapshot() == before


def test_a_deleted_bots_api_key_answers_unauthorized(admin: Api, bot: BotSetup) -> None:
    bot.api.ok("GET", "/v1/chat/users")
    admin.ok("DELETE", f"/v1/admin/bots/{bot.id}")
    bot.api.error("GET", "/v1/chat/users", type="Unauthorized", status=401)
    bot.api.error("POST", "/v1/chat/users", {"tags": {}}, type="Unauthorized", status=401)


# The admin token


def test_the_admin_api_refuses_a_bot_api_key(admin: Api, bot: BotSetup) -> None:
    as_bot = Api(admin.server, bot.api.token)
    before = admin.server.snapshot()
    as_bot.error("GET", "/v1/admin/bots", type="Forbidden", status=403)
    as_bot.error("GET", f"/v1/admin/bots/{bot.id}", type="Forbidden", status=403)
    as_bot.error("POST", "/v1/admin/bots", BOT_DEFINITION, type="Forbidden", status=403)
    as_bot.error("POST", "/v1/admin/bots/baks", {"botId": bot.id}, type="Forbidden", status=403)
    as_bot.error("DELETE", f"/v1/admin/bots/{bot.id}", type="Forbidden", status=403)
    assert admin.server.snapshot() == before


def test_the_admin_api_refuses_an_integration_api_key(admin: Api, integration: IntegrationSetup) -> None:
    as_integration = Api(admin.server, integration.api.token)
    before = admin.server.snapshot()
    as_integration.error("GET", "/v1/admin/integrations", type="Forbidden", status=403)
    as_integration.error(
        "PUT", f"/v1/admin/integrations/{integration.id}", {"title": "x"}, type="Forbidden", status=403
    )
    assert admin.server.snapshot() == before


def test_the_admin_api_needs_a_valid_bearer_token(admin: Api) -> None:
    anonymous = admin.call("GET", "/v1/admin/bots", headers={"authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.json()["type"] == "Unauthorized"
    Api(admin.server, "bp_pat_not-a-real-token").error("GET", "/v1/admin/bots", type="Unauthorized", status=401)


def test_the_admin_token_acts_as_any_bot_with_x_bot_id(admin: Api, bot: BotSetup) -> None:
    user = bot.api.ok("POST", "/v1/chat/users", {"tags": {"email": "a@x.io"}}, status=201)["user"]
    as_bot = Api(admin.server, admin.token, {"x-bot-id": bot.id})
    assert as_bot.ok("GET", f"/v1/chat/users/{user['id']}")["user"] == user


# Integrations


def test_create_integration_returns_its_definition(admin: Api) -> None:
    name = f"created-{secrets.token_hex(4)}"
    integration = admin.ok("POST", "/v1/admin/integrations", integration_definition(name))["integration"]
    assert integration["id"].startswith("int_")
    assert (integration["name"], integration["version"], integration["title"]) == (name, "1.0.0", "Chat app")
    assert set(integration["channels"]) == {"channel", "dm"}
    assert set(integration["channels"]["channel"]["conversation"]["tags"]) == {"id", "thread"}
    assert set(integration["channels"]["channel"]["message"]["tags"]) == {"id", "threadTs"}
    assert set(integration["channels"]["dm"]["messages"]) == {"text"}
    assert set(integration["user"]["tags"]) == {"id", "handle"}


def test_get_integration_returns_the_created_integration(admin: Api) -> None:
    created = _create_integration(admin)
    assert admin.ok("GET", f"/v1/admin/integrations/{created['id']}")["integration"] == created


def test_get_unknown_integration_is_resource_not_found(admin: Api) -> None:
    admin.error("GET", "/v1/admin/integrations/int_01J00000000000000000000000", type="ResourceNotFound", status=404)


def test_list_integrations_filters_by_name(admin: Api) -> None:
    first, second = _create_integration(admin), _create_integration(admin)
    listed = admin.ok("GET", "/v1/admin/integrations", params={"name": first["name"]})["integrations"]
    assert [item["id"] for item in listed] == [first["id"]]
    everything = {
        item["id"] for page in _walk(admin, "/v1/admin/integrations", "integrations", {"pageSize": 2}) for item in page
    }
    assert {first["id"], second["id"]} <= everything


def test_update_integration_merges_channels_and_sets_fields(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    extra_channel = {"messages": {"text": {"schema": {"type": "object"}}}, "conversation": {"tags": {"room": {}}}}
    updated = admin.ok(
        "PUT",
        f"/v1/admin/integrations/{integration.id}",
        {"title": "Renamed app", "channels": {"dm": None, "extra": extra_channel}},
    )["integration"]
    assert updated["title"] == "Renamed app"
    assert set(updated["channels"]) == {"channel", "extra"}
    assert set(updated["channels"]["extra"]["conversation"]["tags"]) == {"room"}
    assert admin.ok("GET", f"/v1/admin/integrations/{integration.id}")["integration"] == updated
    # Installed integrations act under the new definition at once.
    api = integration.api
    api.ok("POST", "/v1/chat/conversations", {"channel": "extra", "tags": {"room": "r"}}, status=201)
    api.error("POST", "/v1/chat/conversations", {"channel": "dm", "tags": {}}, type="InvalidPayload", status=400)


def test_delete_integration_that_is_not_installed(admin: Api) -> None:
    created = _create_integration(admin)
    assert admin.ok("DELETE", f"/v1/admin/integrations/{created['id']}") == {}
    admin.error("GET", f"/v1/admin/integrations/{created['id']}", type="ResourceNotFound", status=404)
    assert admin.ok("GET", "/v1/admin/integrations", params={"name": created["name"]})["integrations"] == []


def test_deleting_an_installed_integration_is_a_reference_constraint(admin: Api, integration: IntegrationSetup) -> None:
    before = admin.server.snapshot()
    admin.error("DELETE", f"/v1/admin/integrations/{integration.id}", type="ReferenceConstraint", status=409)
    assert admin.server.snapshot() == before
    admin.ok("GET", f"/v1/admin/integrations/{integration.id}")
    integration.api.ok("GET", "/v1/chat/users")


# Installations


def test_get_bot_keys_integrations_by_id_by_default_and_by_alias_with_multiple_integrations(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    by_id = admin.ok("GET", f"/v1/admin/bots/{bot.id}")["bot"]["integrations"]
    assert list(by_id) == [integration.id]
    installed = by_id[integration.id]
    assert installed["id"] == integration.id
    assert installed["name"] == integration.name
    assert installed["version"] == "1.0.0"
    assert installed["enabled"] is True
    assert installed["configuration"] == {}
    by_alias = admin.ok("GET", f"/v1/admin/bots/{bot.id}", headers={"x-multiple-integrations": "true"})["bot"][
        "integrations"
    ]
    assert list(by_alias) == [integration.alias]
    assert by_alias[integration.alias] == installed


def test_install_stores_enabled_and_configuration(admin: Api, bot: BotSetup) -> None:
    created = _create_integration(admin)
    updated = admin.ok(
        "PUT",
        f"/v1/admin/bots/{bot.id}",
        {"integrations": {"crm": {"enabled": False, "integrationId": created["id"], "configuration": {"k": "v"}}}},
        headers={"x-multiple-integrations": "true"},
    )["bot"]
    assert updated["integrations"]["crm"]["enabled"] is False
    assert updated["integrations"]["crm"]["configuration"] == {"k": "v"}
    key = admin.ok("POST", "/v1/admin/integrations/iaks", {"integrationId": created["id"]})["value"]
    headers = {"x-bot-id": bot.id, "x-integration-id": created["id"], "x-integration-alias": "crm"}
    as_integration = Api(admin.server, key, headers)
    as_integration.error("GET", "/v1/chat/users", type="Forbidden", status=403)
    admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {"crm": {"enabled": True}}})
    as_integration.ok("GET", "/v1/chat/users")
    fetched = admin.ok("GET", f"/v1/admin/bots/{bot.id}", headers={"x-multiple-integrations": "true"})["bot"]
    assert fetched["integrations"]["crm"]["enabled"] is True
    assert fetched["integrations"]["crm"]["configuration"] == {"k": "v"}, "an update without configuration keeps it"


def test_updating_an_installation_keeps_the_fields_it_does_not_send(admin: Api, bot: BotSetup) -> None:
    created = _create_integration(admin)
    installation = {
        "enabled": True,
        "integrationId": created["id"],
        "configuration": {"k": "v"},
        "configurationType": "advanced",
        "disabledChannels": ["dm"],
    }
    path, headers = f"/v1/admin/bots/{bot.id}", {"x-multiple-integrations": "true"}
    installed = admin.ok("PUT", path, {"integrations": {"crm": installation}}, headers=headers)["bot"]
    assert installed["integrations"]["crm"]["disabledChannels"] == ["dm"]
    assert installed["integrations"]["crm"]["configurationType"] == "advanced"
    admin.ok("PUT", path, {"integrations": {"crm": {"enabled": False}}})
    kept = admin.ok("GET", path, headers=headers)["bot"]["integrations"]["crm"]
    assert kept["enabled"] is False
    assert kept["configuration"] == {"k": "v"}
    assert kept["disabledChannels"] == ["dm"]
    assert kept["configurationType"] == "advanced"


def test_uninstall_with_null_alias_removes_the_installation(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    integration.api.ok("GET", "/v1/chat/users")
    updated = admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {integration.alias: None}})["bot"]
    assert updated["integrations"] == {}
    assert admin.ok("GET", f"/v1/admin/bots/{bot.id}")["bot"]["integrations"] == {}
    integration.api.error("GET", "/v1/chat/users", type="Forbidden", status=403)
    assert admin.ok("DELETE", f"/v1/admin/integrations/{integration.id}") == {}


def test_install_of_an_unknown_integration_changes_nothing(admin: Api, bot: BotSetup) -> None:
    before = admin.server.snapshot()
    body = {"integrations": {"ghost": {"enabled": True, "integrationId": "int_01J00000000000000000000000"}}}
    response = admin.call("PUT", f"/v1/admin/bots/{bot.id}", body)
    assert response.status_code == 400, response.text
    assert response.json()["type"] in ("ReferenceNotFound", "InvalidPayload")
    assert admin.server.snapshot() == before


# Integration API keys


def test_create_integration_api_key_shows_its_value_once(admin: Api, integration: IntegrationSetup) -> None:
    key = admin.ok("POST", "/v1/admin/integrations/iaks", {"integrationId": integration.id, "note": "self-host"})
    assert set(key) == {"id", "createdAt", "note", "value"}
    assert key["value"].startswith("bp_iak_")
    assert len(key["value"]) >= len("bp_iak_") + 43
    listed = admin.ok("GET", "/v1/admin/integrations/iaks", params={"integrationId": integration.id})["iaks"]
    assert all("value" not in item for item in listed)
    assert {"id": key["id"], "createdAt": key["createdAt"], "note": "self-host"} in listed
    headers = {k: v for k, v in integration.api.headers.items() if k != "authorization"}
    works = Api(admin.server, key["value"], headers)
    assert works.ok("GET", "/v1/chat/users") == {"users": [], "meta": {}}


def test_a_deleted_integration_api_key_answers_unauthorized(admin: Api, integration: IntegrationSetup) -> None:
    key = admin.ok("POST", "/v1/admin/integrations/iaks", {"integrationId": integration.id})
    headers = {k: v for k, v in integration.api.headers.items() if k != "authorization"}
    doomed = Api(admin.server, key["value"], headers)
    doomed.ok("GET", "/v1/chat/users")
    assert admin.ok("DELETE", f"/v1/admin/integrations/iaks/{key['id']}") == {}
    doomed.error("GET", "/v1/chat/users", type="Unauthorized", status=401)
    listed = admin.ok("GET", "/v1/admin/integrations/iaks", params={"integrationId": integration.id})["iaks"]
    assert key["id"] not in {item["id"] for item in listed}
    integration.api.ok("GET", "/v1/chat/users")
