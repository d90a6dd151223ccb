"""callAction through a real @botpress/sdk integration: the bot calls `chat:greet`, Parley sends
`action_triggered` to the integration's SDK server (integration.mjs) and answers with its output,
or with the contract's `Runtime` error when the action throws the SDK's RuntimeError."""

from typing import Any

import pytest

from tests.e2e.apps import ALIAS, eventually
from tests.e2e.conftest import Deploy
from tests.harness import Api

pytestmark = pytest.mark.e2e

ACTIONS = "/v1/chat/actions"


def test_the_admin_integration_body_carries_the_sdk_actions_schemas(sdk_definitions: dict[str, Any]) -> None:
    greet = sdk_definitions["integration"]["actions"]["greet"]
    assert greet["input"]["schema"] == {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1}},
        "required": ["name"],
        "additionalProperties": False,
    }
    assert greet["output"]["schema"]["properties"] == {"text": {"type": "string"}}
    assert greet["output"]["schema"]["required"] == ["text"]


def test_the_bot_calls_an_integration_action_and_gets_its_output(
    admin: Api, launch: Deploy, sdk_definitions: dict[str, Any]
) -> None:
    chat = launch(admin, start_bot=False)
    stored = admin.ok("GET", f"/v1/admin/integrations/{chat.integration_id}")["integration"]["actions"]
    assert stored["greet"]["input"] == sdk_definitions["integration"]["actions"]["greet"]["input"]
    assert stored["greet"]["output"] == sdk_definitions["integration"]["actions"]["greet"]["output"]

    answer = chat.bot.ok("POST", ACTIONS, {"type": f"{ALIAS}:greet", "input": {"name": "Bob"}})
    assert answer == {"output": {"text": "Hello, Bob!"}, "meta": {"cached": False}}

    # The SDK ran the action once, with the bare action name and the installation's context.
    [call] = chat.integration_app.records("action")
    assert (call["type"], call["input"]) == ("greet", {"name": "Bob"})
    ctx = call["ctx"]
    assert ctx["operation"] == "action_triggered"
    assert (ctx["botId"], ctx["integrationId"], ctx["integrationAlias"]) == (chat.bot_id, chat.integration_id, ALIAS)
    assert (ctx["webhookId"], ctx["configuration"]) == (chat.installation()["webhookId"], chat.configuration)
    [registered] = eventually(
        lambda: chat.integration_app.records("register"), what="the integration's register handler ran"
    )
    assert ctx["botUserId"] == registered["ctx"]["botUserId"], "the same user stands for the bot"

    # Outputs are not cached: the same call runs the action again.
    assert chat.bot.ok("POST", ACTIONS, {"type": f"{ALIAS}:greet", "input": {"name": "Bob"}}) == answer
    assert len(chat.integration_app.records("action")) == 2


def test_an_action_call_parley_refuses_never_reaches_the_integration(admin: Api, launch: Deploy) -> None:
    chat = launch(admin, start_bot=False)
    chat.bot.error(
        "POST", ACTIONS, {"type": f"{ALIAS}:greet", "input": {"name": ""}}, type="InvalidPayload", status=400
    )
    chat.bot.error("POST", ACTIONS, {"type": f"{ALIAS}:wave", "input": {}}, type="InvalidPayload", status=400)
    chat.integration.error(
        "POST", ACTIONS, {"type": f"{ALIAS}:greet", "input": {"name": "Bob"}}, type="Forbidden", status=403
    )
    assert chat.integration_app.records("action") == []


def test_an_action_that_throws_a_runtime_error_answers_the_contracts_runtime_error(admin: Api, launch: Deploy) -> None:
    chat = launch(admin, start_bot=False)
    error = chat.bot.error(
        "POST", ACTIONS, {"type": f"{ALIAS}:greet", "input": {"name": "Nobody"}}, type="Runtime", status=400
    )
    assert "Nobody cannot be greeted." in error["message"], error
    [call] = chat.integration_app.records("action")
    assert (call["type"], call["input"]) == ("greet", {"name": "Nobody"})

    # The integration keeps working: the next call succeeds.
    answer = chat.bot.ok("POST", ACTIONS, {"type": f"{ALIAS}:greet", "input": {"name": "Ann"}})
    assert answer["output"] == {"text": "Hello, Ann!"}


def test_a_runtime_api_404_reaches_the_integration_as_the_sdk_clients_resource_not_found_error(
    admin: Api, launch: Deploy
) -> None:
    """Parley's error answers become the client's typed errors in SDK code: under SDK 7 too, whose
    retry condition reads what client 1.45.0 lacks (sdk.mjs)."""
    chat = launch(admin, start_bot=False)
    missing = chat.bot.ok("POST", ACTIONS, {"type": f"{ALIAS}:findUser", "input": {"id": "user_missing"}})
    assert missing["output"] == {"found": False}
    [failure] = chat.integration_app.records("find_user_failed")
    assert failure["id"] == "user_missing"
    error = failure["error"]
    assert (error["apiError"], error["type"], error["code"]) == (True, "ResourceNotFound", 404), error["message"]

    ada = chat.user("ada-f")
    found = chat.bot.ok("POST", ACTIONS, {"type": f"{ALIAS}:findUser", "input": {"id": ada}})
    assert found["output"] == {"found": True}
    assert len(chat.integration_app.records("find_user_failed")) == 1
