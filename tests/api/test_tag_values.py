"""Tag values (RUNTIME-SEMANTICS §6, listTagValues): the distinct values of one tag key, paged in
ascending order; keys as the caller writes them; only resources the caller can see; errors."""

from typing import Any

import pytest

from tests.conftest import BotSetup, IntegrationSetup, install, make_bot
from tests.harness import Api

# A declared key of the test bot for each kind (see BOT_DEFINITION), and one the integration declares.
BOT_KEYS = [("user", "email"), ("conversation", "topic"), ("message", "kind")]
KINDS = ["user", "conversation", "message"]


def _conversation(api: Api, *, channel: str, tags: dict[str, str] | None = None) -> str:
    body = {"channel": channel, "tags": tags or {}}
    conversation_id: str = api.ok("POST", "/v1/chat/conversations", body, status=201)["conversation"]["id"]
    return conversation_id


def _user(api: Api, tags: dict[str, str] | None = None) -> str:
    user_id: str = api.ok("POST", "/v1/chat/users", {"tags": tags or {}}, status=201)["user"]["id"]
    return user_id


def _message(api: Api, conversation_id: str, user_id: str, tags: dict[str, str]) -> str:
    body = {
        "payload": {"text": "hi"},
        "userId": user_id,
        "conversationId": conversation_id,
        "type": "text",
        "tags": tags,
    }
    message_id: str = api.ok("POST", "/v1/chat/messages", body, status=201)["message"]["id"]
    return message_id


def _tagged(api: Api, kind: str, tags: dict[str, str], *, channel: str = "web") -> str:
    """A new resource of `kind` carrying `tags`, created by the caller of `api`."""
    if kind == "user":
        return _user(api, tags)
    if kind == "conversation":
        return _conversation(api, channel=channel, tags=tags)
    return _message(api, _conversation(api, channel=channel), _user(api), tags)


def _page(api: Api, key: str, kind: str, **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = api.ok("GET", f"/v1/chat/tags/{key}/values", params={"type": kind, **params})
    return page


def _values(api: Api, key: str, kind: str, **params: Any) -> list[str]:
    return [tag["value"] for tag in _page(api, key, kind, **params)["tags"]]


def _walk(api: Api, key: str, kind: str, page_size: int) -> list[list[str]]:
    """Every page of the values, following nextToken until a page has none."""
    pages: list[list[str]] = []
    params: dict[str, Any] = {"pageSize": page_size}
    while True:
        page = _page(api, key, kind, **params)
        pages.append([tag["value"] for tag in page["tags"]])
        token = page["meta"].get("nextToken")
        if not token:
            return pages
        params["nextToken"] = token


# Values


@pytest.mark.parametrize(("kind", "key"), BOT_KEYS)
def test_list_tag_values_answers_each_value_once_in_ascending_order(bot: BotSetup, kind: str, key: str) -> None:
    for value in ("beta", "alpha", "beta", "gamma", "alpha"):
        _tagged(bot.api, kind, {key: value})
    assert _page(bot.api, key, kind) == {
        "tags": [{"value": "alpha"}, {"value": "beta"}, {"value": "gamma"}],
        "meta": {},
    }


@pytest.mark.parametrize(("kind", "key"), BOT_KEYS)
def test_list_tag_values_of_a_key_no_resource_carries_is_empty(bot: BotSetup, kind: str, key: str) -> None:
    assert _page(bot.api, key, kind) == {"tags": [], "meta": {}}


def test_list_tag_values_reads_only_the_requested_key_and_type(bot: BotSetup) -> None:
    _user(bot.api, {"email": "a@x.io", "crmId": "c-1"})
    _conversation(bot.api, channel="web", tags={"topic": "billing", "priority": "high"})
    conversation_id = _conversation(bot.api, channel="web")
    _message(bot.api, conversation_id, _user(bot.api), {"kind": "greeting", "source": "web"})
    assert _values(bot.api, "email", "user") == ["a@x.io"]
    assert _values(bot.api, "crmId", "user") == ["c-1"]
    assert _values(bot.api, "priority", "conversation") == ["high"]
    assert _values(bot.api, "source", "message") == ["web"]


def test_values_no_resource_carries_anymore_are_not_listed(bot: BotSetup) -> None:
    changed = _user(bot.api, {"email": "old@x.io"})
    deleted = _user(bot.api, {"email": "gone@x.io"})
    _user(bot.api, {"email": "kept@x.io"})
    bot.api.ok("PUT", f"/v1/chat/users/{changed}", {"tags": {"email": "new@x.io"}})
    bot.api.ok("DELETE", f"/v1/chat/users/{deleted}")
    assert _values(bot.api, "email", "user") == ["kept@x.io", "new@x.io"]


# Pages


def test_list_tag_values_pages_with_next_token_until_the_last_page(bot: BotSetup) -> None:
    values = [f"v{i}" for i in range(7)]
    for value in values[::-1] + values[:3]:  # created out of order, some values on two users
        _user(bot.api, {"email": value})
    pages = _walk(bot.api, "email", "user", page_size=3)
    assert pages == [values[0:3], values[3:6], values[6:7]]


def test_a_page_that_ends_on_the_last_value_has_no_next_token(bot: BotSetup) -> None:
    for value in ("v1", "v2", "v3", "v4"):
        _tagged(bot.api, "conversation", {"topic": value})
    assert _walk(bot.api, "topic", "conversation", page_size=2) == [["v1", "v2"], ["v3", "v4"]]
    assert _page(bot.api, "topic", "conversation", pageSize=4)["meta"] == {}


def test_list_tag_values_pages_hold_twenty_values_unless_page_size_says_otherwise(bot: BotSetup) -> None:
    values = [f"v{i:02d}" for i in range(21)]
    for value in values:
        _user(bot.api, {"crmId": value})
    first = _page(bot.api, "crmId", "user")
    assert [tag["value"] for tag in first["tags"]] == values[:20]
    rest = _page(bot.api, "crmId", "user", nextToken=first["meta"]["nextToken"])
    assert rest == {"tags": [{"value": values[20]}], "meta": {}}
    assert _values(bot.api, "crmId", "user", pageSize=1000) == values, "page sizes above 100 are clamped"


def test_message_tag_values_page_across_conversations(bot: BotSetup) -> None:
    for value in ("m3", "m1", "m2", "m1"):
        _tagged(bot.api, "message", {"externalId": value})
    assert _walk(bot.api, "externalId", "message", page_size=2) == [["m1", "m2"], ["m3"]]


# Integrations


@pytest.mark.parametrize("kind", KINDS)
def test_an_integration_names_its_key_bare_and_the_bot_prefixed_by_the_alias(
    bot: BotSetup, integration: IntegrationSetup, kind: str
) -> None:
    for value in ("r-2", "r-1"):
        _tagged(integration.api, kind, {"id": value}, channel="channel")
    assert _values(integration.api, "id", kind) == ["r-1", "r-2"]
    assert _values(integration.api, f"{integration.alias}:id", kind) == ["r-1", "r-2"], "the older prefixed form"
    assert _values(bot.api, f"{integration.alias}:id", kind) == ["r-1", "r-2"]
    assert _values(bot.api, f"{integration.alias}%3Aid", kind) == ["r-1", "r-2"], "an encoded colon"


def test_an_integration_pages_through_its_own_values(bot: BotSetup, integration: IntegrationSetup) -> None:
    for value in ("h5", "h4", "h3", "h2", "h1"):
        _tagged(integration.api, "user", {"handle": value})
    assert _walk(integration.api, "handle", "user", page_size=2) == [["h1", "h2"], ["h3", "h4"], ["h5"]]


@pytest.mark.parametrize("kind", KINDS)
def test_an_integration_does_not_see_values_on_resources_it_does_not_own(
    admin: Api, bot: BotSetup, integration: IntegrationSetup, kind: str
) -> None:
    key = f"{integration.alias}:id"
    _tagged(integration.api, kind, {"id": "own"}, channel="channel")
    # The bot may write the integration's tags on its own resources, and on another installation's.
    _tagged(bot.api, kind, {key: "bot-only"})
    other = install(admin, bot, alias="other")
    if kind == "message":
        others_conversation = _conversation(other.api, channel="channel")
        _message(bot.api, others_conversation, bot.id, {key: "other-only"})
    else:
        resource_id = _tagged(other.api, kind, {}, channel="channel")
        bot.api.ok("PUT", f"/v1/chat/{kind}s/{resource_id}", {"tags": {key: "other-only"}})
    assert _values(integration.api, "id", kind) == ["own"]
    assert _values(bot.api, key, kind) == ["bot-only", "other-only", "own"]


def test_an_integration_sees_the_bots_messages_in_its_own_conversations(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation_id = _conversation(integration.api, channel="channel")
    _message(bot.api, conversation_id, bot.id, {f"{integration.alias}:threadTs": "t-1", "kind": "reply"})
    assert _values(integration.api, "threadTs", "message") == ["t-1"]
    assert _values(bot.api, "kind", "message") == ["reply"]


def test_integrations_installed_twice_see_only_their_own_alias(admin: Api, bot: BotSetup) -> None:
    first = install(admin, bot, alias="first")
    second = install(admin, bot, alias="second")
    _tagged(first.api, "conversation", {"id": "one"}, channel="channel")
    _tagged(second.api, "conversation", {"id": "two"}, channel="channel")
    assert _values(first.api, "id", "conversation") == ["one"]
    assert _values(second.api, "id", "conversation") == ["two"]
    assert _values(bot.api, "first:id", "conversation") == ["one"]
    assert _values(bot.api, "second:id", "conversation") == ["two"]


# Other bots


@pytest.mark.parametrize(("kind", "key"), BOT_KEYS)
def test_a_bot_never_sees_another_bots_values(admin: Api, bot: BotSetup, kind: str, key: str) -> None:
    stranger = make_bot(admin)
    _tagged(bot.api, kind, {key: "mine"})
    _tagged(stranger.api, kind, {key: "theirs"})
    assert _values(bot.api, key, kind) == ["mine"]
    assert _values(stranger.api, key, kind) == ["theirs"]


def test_an_integration_never_sees_values_from_another_bot_it_is_installed_in(admin: Api, bot: BotSetup) -> None:
    here = install(admin, bot, alias="chat")
    stranger = make_bot(admin)
    elsewhere = install(admin, stranger, alias="chat")
    _tagged(here.api, "user", {"id": "here"})
    _tagged(elsewhere.api, "user", {"id": "elsewhere"})
    assert _values(here.api, "id", "user") == ["here"]
    assert _values(elsewhere.api, "id", "user") == ["elsewhere"]
    assert _values(bot.api, "chat:id", "user") == ["here"]


# Errors


@pytest.mark.parametrize(
    ("key", "kind"),
    [("nickname", "user"), ("topic", "user"), ("email", "conversation"), ("chat:id", "user"), ("crm:id", "message")],
)
def test_an_undeclared_key_is_invalid_payload(bot: BotSetup, key: str, kind: str) -> None:
    error = bot.api.error(
        "GET", f"/v1/chat/tags/{key}/values", params={"type": kind}, type="InvalidPayload", status=400
    )
    assert key in error["message"]


def test_an_integration_asking_for_a_key_it_did_not_declare_is_invalid_payload(
    integration: IntegrationSetup,
) -> None:
    for key, kind in (("email", "user"), ("thread", "message"), ("handle", "conversation")):
        error = integration.api.error(
            "GET", f"/v1/chat/tags/{key}/values", params={"type": kind}, type="InvalidPayload", status=400
        )
        assert key in error["message"]


@pytest.mark.parametrize("params", [{}, {"type": ""}, {"type": "users"}, {"type": "workflow"}, {"type": "USER"}])
def test_a_missing_or_unknown_type_is_invalid_payload(bot: BotSetup, params: dict[str, str]) -> None:
    error = bot.api.error("GET", "/v1/chat/tags/email/values", params=params, type="InvalidPayload", status=400)
    assert "type" in error["message"]


@pytest.mark.parametrize("token", ["not-a-token", "e30", "WyJhIl0", "%%%"])
def test_a_next_token_this_server_did_not_hand_out_is_invalid_payload(bot: BotSetup, token: str) -> None:
    error = bot.api.error(
        "GET",
        "/v1/chat/tags/email/values",
        params={"type": "user", "nextToken": token},
        type="InvalidPayload",
        status=400,
    )
    assert "nextToken" in error["message"]


def test_a_next_token_from_another_list_is_invalid_payload(bot: BotSetup) -> None:
    for value in ("a", "b"):
        _user(bot.api, {"email": value, "crmId": value})
    from_users = bot.api.ok("GET", "/v1/chat/users", params={"pageSize": 1})["meta"]["nextToken"]
    from_email = _page(bot.api, "email", "user", pageSize=1)["meta"]["nextToken"]
    assert _values(bot.api, "email", "user", nextToken=from_email) == ["b"]
    for key, kind, token in (
        ("email", "user", from_users),
        ("crmId", "user", from_email),
        ("topic", "conversation", from_email),
    ):
        bot.api.error(
            "GET",
            f"/v1/chat/tags/{key}/values",
            params={"type": kind, "nextToken": token},
            type="InvalidPayload",
            status=400,
        )


def test_a_bad_page_size_is_invalid_payload(bot: BotSetup) -> None:
    for size in ("0", "-1", "many"):
        bot.api.error(
            "GET",
            "/v1/chat/tags/email/values",
            params={"type": "user", "pageSize": size},
            type="InvalidPayload",
            status=400,
        )
