"""The rest of the Runtime API: tasks, importMessages, initializeIncomingMessage, trackAnalytics,
configureIntegration, and callAction against a stand-in integration server."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import BotSetup, IntegrationSetup, install, make_bot
from tests.harness import Api
from tests.recorder import Received, Recorder

GREETING = {
    "input": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
    "output": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
}


def _conversation(api: Api, channel: str = "web", **tags: str) -> str:
    body = {"channel": channel, "tags": tags}
    conversation_id: str = api.ok("POST", "/v1/chat/conversations", body, status=201)["conversation"]["id"]
    return conversation_id


def _user(api: Api, **tags: str) -> str:
    user_id: str = api.ok("POST", "/v1/chat/users", {"tags": tags}, status=201)["user"]["id"]
    return user_id


# Tasks


def test_task_life_cycle(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    task = bot.api.ok(
        "POST",
        "/v1/chat/tasks",
        {"type": "review", "conversationId": conversation, "title": "Check", "data": {"n": 1}, "tags": {"k": "v"}},
        status=201,
    )["task"]
    assert task["id"].startswith("task_")
    assert (task["status"], task["title"], task["description"], task["data"]) == ("pending", "Check", "", {"n": 1})
    assert task["timeoutAt"] > task["createdAt"]
    assert bot.api.ok("GET", f"/v1/chat/tasks/{task['id']}")["task"] == task
    updated = bot.api.ok("PUT", f"/v1/chat/tasks/{task['id']}", {"status": "completed", "tags": {"k": ""}})["task"]
    assert (updated["status"], updated["tags"], updated["data"]) == ("completed", {}, {"n": 1})
    other = bot.api.ok("POST", "/v1/chat/tasks", {"type": "other", "conversationId": conversation}, status=201)["task"]
    listed = bot.api.ok("GET", "/v1/chat/tasks", params={"conversationId": conversation})["tasks"]
    assert [t["id"] for t in listed] == [other["id"], task["id"]]
    done = bot.api.ok("GET", "/v1/chat/tasks", params={"status": ["completed", "failed"]})["tasks"]
    assert [t["id"] for t in done] == [task["id"]]
    assert [t["id"] for t in bot.api.ok("GET", "/v1/chat/tasks", params={"type": "other"})["tasks"]] == [other["id"]]
    bot.api.error("GET", "/v1/chat/tasks", params={"status": "lost"}, type="InvalidPayload", status=400)
    assert bot.api.ok("DELETE", f"/v1/chat/tasks/{task['id']}") == {}
    bot.api.error("GET", f"/v1/chat/tasks/{task['id']}", type="ResourceNotFound", status=404)


def test_an_integration_cannot_name_a_task_it_cannot_see(bot: BotSetup, integration: IntegrationSetup) -> None:
    hidden = bot.api.ok(
        "POST", "/v1/chat/tasks", {"type": "review", "conversationId": _conversation(bot.api)}, status=201
    )["task"]["id"]
    integration.api.error("GET", f"/v1/chat/tasks/{hidden}", type="ResourceNotFound", status=404)
    own = _conversation(integration.api, channel="channel")
    before = bot.api.server.snapshot()
    integration.api.error(
        "POST",
        "/v1/chat/tasks",
        {"type": "review", "conversationId": own, "parentTaskId": hidden},
        type="ReferenceNotFound",
        status=400,
    )
    integration.api.error(
        "PUT", f"/v1/chat/conversations/{own}", {"currentTaskId": hidden}, type="ReferenceNotFound", status=400
    )
    assert bot.api.server.snapshot() == before
    visible = integration.api.ok("POST", "/v1/chat/tasks", {"type": "review", "conversationId": own}, status=201)[
        "task"
    ]
    child = {"type": "step", "conversationId": own, "parentTaskId": visible["id"]}
    assert integration.api.ok("POST", "/v1/chat/tasks", child, status=201)["task"]["parentTaskId"] == visible["id"]


def test_tasks_refuse_unknown_links_and_stay_within_the_bot(admin: Api, bot: BotSetup) -> None:
    before = bot.api.server.snapshot()
    body = {"type": "t", "conversationId": "conv_01J00000000000000000000000"}
    bot.api.error("POST", "/v1/chat/tasks", body, type="ReferenceNotFound", status=400)
    assert bot.api.server.snapshot() == before
    conversation = _conversation(bot.api)
    task = bot.api.ok("POST", "/v1/chat/tasks", {"type": "t", "conversationId": conversation}, status=201)["task"]
    stranger = make_bot(admin)
    stranger.api.error("GET", f"/v1/chat/tasks/{task['id']}", type="ResourceNotFound", status=404)
    stranger.api.error("PUT", f"/v1/chat/tasks/{task['id']}", {"status": "failed"}, type="ResourceNotFound", status=404)
    assert stranger.api.ok("GET", "/v1/chat/tasks")["tasks"] == []


# importMessages


def _imported(conversation: str, user: str, text: str, created_at: str, **extra: Any) -> dict[str, Any]:
    return {
        "payload": {"text": text},
        "userId": user,
        "conversationId": conversation,
        "type": "text",
        "tags": {},
        "createdAt": created_at,
        "discriminateByTags": [],
        **extra,
    }


def test_import_keeps_history_times_is_idempotent_and_reports_failures(
    bot: BotSetup, integration: IntegrationSetup
) -> None:
    conversation = _conversation(integration.api, "channel")
    user = _user(integration.api)
    batch = [
        _imported(conversation, user, "old", "2021-03-04T05:06:07.000Z", tags={"id": "h-1"}, discriminateByTags=["id"]),
        _imported(conversation, user, "", "2021-03-04T05:06:08.000Z"),
        _imported(conversation, user, "newer", "2021-03-04T05:06:09Z"),
    ]
    answer = integration.api.ok("POST", "/v1/chat/messages/import-messages", {"messages": batch})
    assert [m["payload"]["text"] for m in answer["messages"]] == ["old", "newer"]
    assert answer["resolvedMessages"] == answer["messages"]
    [failure] = answer["failedMessages"]
    assert failure["index"] == 1
    assert failure["error"]["type"] == "InvalidPayload"
    first = answer["messages"][0]
    assert (first["createdAt"], first["direction"], first["tags"]) == (
        "2021-03-04T05:06:07.000Z",
        "incoming",
        {"id": "h-1"},
    )
    # Run again: the tagged message resolves to the same one; the untagged one is imported again.
    again = integration.api.ok("POST", "/v1/chat/messages/import-messages", {"messages": [batch[0], batch[2]]})
    assert again["messages"][0]["id"] == first["id"]
    assert again["messages"][1]["id"] != answer["messages"][1]["id"]
    # Imports are history: nothing is dispatched.
    assert bot.api.ok("GET", "/v1/chat/events", params={"conversationId": conversation})["events"] == []


def test_import_takes_at_most_a_hundred(integration: IntegrationSetup) -> None:
    conversation = _conversation(integration.api, "channel")
    user = _user(integration.api)
    batch = [_imported(conversation, user, "x", "2021-01-01T00:00:00.000Z")] * 101
    integration.api.error(
        "POST", "/v1/chat/messages/import-messages", {"messages": batch}, type="InvalidPayload", status=400
    )


# initializeIncomingMessage


def test_initialize_incoming_message_gets_or_creates_all_three(bot: BotSetup, integration: IntegrationSetup) -> None:
    body = {
        "user": {"tags": {"id": "u-7"}, "discriminateByTags": ["id"], "name": "Ann"},
        "conversation": {"channel": "channel", "tags": {"id": "c-7"}, "discriminateByTags": ["id"]},
        "message": {"payload": {"text": "hi"}, "type": "text", "tags": {"id": "m-7"}, "discriminateByTags": ["id"]},
    }
    first = integration.api.ok("POST", "/v1/chat/initialize-incoming-message", body)
    assert (first["user"]["name"], first["user"]["tags"]) == ("Ann", {"id": "u-7"})
    assert (first["conversation"]["channel"], first["conversation"]["tags"]) == ("channel", {"id": "c-7"})
    message = first["message"]
    assert (message["userId"], message["conversationId"]) == (first["user"]["id"], first["conversation"]["id"])
    assert message["direction"] == "incoming"
    again = integration.api.ok("POST", "/v1/chat/initialize-incoming-message", body)
    assert again == first
    events = bot.api.ok("GET", "/v1/chat/events", params={"messageId": message["id"]})["events"]
    assert [e["type"] for e in events] == ["message_created"]
    by_id = {"userId": first["user"]["id"], "conversationId": first["conversation"]["id"]}
    without_message = integration.api.ok("POST", "/v1/chat/initialize-incoming-message", by_id)
    assert "message" not in without_message
    assert without_message["user"] == first["user"]


def test_initialize_incoming_message_needs_one_way_to_each(integration: IntegrationSetup) -> None:
    before = integration.api.server.snapshot()
    for body in (
        {"conversationId": "conv_01J00000000000000000000000"},
        {"userId": "user_01J00000000000000000000000", "user": {"tags": {}, "discriminateByTags": []}},
    ):
        integration.api.error("POST", "/v1/chat/initialize-incoming-message", body, type="InvalidPayload", status=400)
    integration.api.error(
        "POST",
        "/v1/chat/initialize-incoming-message",
        {"userId": "user_01J00000000000000000000000", "conversationId": "conv_01J00000000000000000000000"},
        type="ResourceNotFound",
        status=404,
    )
    assert integration.api.server.snapshot() == before


# trackAnalytics and configureIntegration


def test_analytics_are_stored_and_summed_for_the_operator(
    admin: Api, bot: BotSetup, integration: IntegrationSetup
) -> None:
    assert bot.api.ok("POST", "/v1/chat/analytics", {"name": "greeted", "count": 2}) == {}
    bot.api.ok("POST", "/v1/chat/analytics", {"name": "greeted", "count": 3})
    integration.api.ok("POST", "/v1/chat/analytics", {"name": "greeted", "count": 1})
    for bad in ({"name": "", "count": 1}, {"name": "x", "count": 0}, {"name": "x", "count": 1.5}, {"name": "x"}):
        bot.api.error("POST", "/v1/chat/analytics", bad, type="InvalidPayload", status=400)
    totals = admin.ok("GET", "/v1/parley/analytics", params={"botId": bot.id})["analytics"]
    assert [(t["integration"], t["name"], t["count"]) for t in totals] == [(None, "greeted", 5), ("chat", "greeted", 1)]
    bot.api.error("GET", "/v1/parley/analytics", type="Forbidden", status=403)


def test_analytics_counts_are_bounded_and_their_sums_never_overflow(admin: Api, bot: BotSetup) -> None:
    before = bot.api.server.snapshot()
    for count in (2**63, 2**63 - 1, 1_000_000_001):
        bot.api.error("POST", "/v1/chat/analytics", {"name": "big", "count": count}, type="InvalidPayload", status=400)
    assert bot.api.server.snapshot() == before
    bot.api.ok("POST", "/v1/chat/analytics", {"name": "big", "count": 1_000_000_000})
    # A count stored before counts were bounded, as large as a column holds.
    bot.api.server.execute(
        "INSERT INTO analytics (id, bot_id, integration, name, count, created_at)"
        " VALUES ('anl_legacy', $1, '', 'big', 9223372036854775807, '2026-01-01T00:00:00.000Z')",
        bot.id,
    )
    [total] = admin.ok("GET", "/v1/parley/analytics", params={"botId": bot.id, "name": "big"})["analytics"]
    assert total["count"] >= 2**63


def test_configure_integration_is_for_integrations(bot: BotSetup, integration: IntegrationSetup) -> None:
    body = {"identifier": "workspace-1", "scheduleRegisterCall": "daily", "sandboxIdentifiers": None}
    assert integration.api.ok("POST", "/v1/chat/integrations/configure", body) == {}
    assert integration.api.ok("POST", "/v1/chat/integrations/configure", {}) == {}
    integration.api.error(
        "POST", "/v1/chat/integrations/configure", {"scheduleRegisterCall": "never"}, type="InvalidPayload", status=400
    )
    bot.api.error("POST", "/v1/chat/integrations/configure", body, type="Forbidden", status=403)


# callAction


@pytest.fixture
def action_server() -> Iterator[Recorder]:
    def answer(received: Received) -> tuple[int, Any]:
        name = received.body["input"].get("name")
        if name == "crash":
            return 500, {"id": "err_x", "code": 500, "type": "Runtime", "message": "it broke"}
        if name == "bad":
            return 200, {"output": {"text": 42}, "meta": {"cost": 0}}
        return 200, {"output": {"text": f"Hello {name}"}, "meta": {"cost": 0}}

    with Recorder(answer) as recorder:
        yield recorder


def test_call_action_reaches_the_integration_and_returns_its_output(
    admin: Api, bot: BotSetup, action_server: Recorder
) -> None:
    integration = install(admin, bot, extra={"actions": {"greet": GREETING}, "url": action_server.url})
    answer = bot.api.ok("POST", "/v1/chat/actions", {"type": "chat:greet", "input": {"name": "Bob"}})
    assert answer == {"output": {"text": "Hello Bob"}, "meta": {"cached": False}}
    [call] = action_server.calls
    assert call.body == {"type": "greet", "input": {"name": "Bob"}}
    assert call.headers["x-bp-operation"] == "action_triggered"
    assert (call.headers["x-bot-id"], call.headers["x-integration-id"]) == (bot.id, integration.id)
    assert call.headers["x-integration-alias"] == "chat"
    assert call.headers["x-bot-user-id"].startswith("user_")
    assert json.loads(__import__("base64").b64decode(call.headers["x-bp-configuration"])) == {}


def test_call_action_errors(admin: Api, bot: BotSetup, action_server: Recorder) -> None:
    integration = install(admin, bot, extra={"actions": {"greet": GREETING}, "url": action_server.url})

    def fails(body: dict[str, Any], type_: str) -> str:
        message: str = bot.api.error("POST", "/v1/chat/actions", body, type=type_, status=400)["message"]
        return message

    assert "not declared" in fails({"type": "chat:wave", "input": {}}, "InvalidPayload")
    assert "installed" in fails({"type": "nobody:greet", "input": {}}, "InvalidPayload")
    fails({"type": "chat:greet", "input": {"name": 1}}, "InvalidPayload")
    fails({"type": "greet", "input": {}}, "InvalidPayload")
    assert "it broke" in fails({"type": "chat:greet", "input": {"name": "crash"}}, "Runtime")
    assert "output" in fails({"type": "chat:greet", "input": {"name": "bad"}}, "Runtime")
    assert len(action_server.calls) == 2
    integration.api.error(
        "POST", "/v1/chat/actions", {"type": "chat:greet", "input": {"name": "x"}}, type="Forbidden", status=403
    )


def test_call_action_on_an_unreachable_integration_is_a_runtime_error(admin: Api, bot: BotSetup) -> None:
    install(admin, bot, extra={"actions": {"greet": GREETING}, "url": "http://127.0.0.1:9/"})
    body = {"type": "chat:greet", "input": {"name": "Bob"}}
    bot.api.error("POST", "/v1/chat/actions", body, type="Runtime", status=400)


def test_task_states_live_on_existing_tasks(admin: Api) -> None:
    definition = {"name": "tasker", "states": {"progress": {"type": "task", "schema": {"type": "object"}}}}
    tasker = make_bot(admin, definition)
    conversation = _conversation(tasker.api)
    task = tasker.api.ok("POST", "/v1/chat/tasks", {"type": "t", "conversationId": conversation}, status=201)["task"]
    path = f"/v1/chat/states/task/{task['id']}/progress"
    assert tasker.api.ok("POST", path, {"payload": {"done": 1}})["state"]["type"] == "task"
    missing = "/v1/chat/states/task/task_01J00000000000000000000000/progress"
    tasker.api.error("POST", missing, {"payload": {}}, type="ResourceNotFound", status=404)
    tasker.api.ok("DELETE", f"/v1/chat/tasks/{task['id']}")
    tasker.api.error("GET", path, type="ResourceNotFound", status=404)


def test_conversations_show_their_current_task_and_workflow(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    path = f"/v1/chat/conversations/{conversation}"
    fresh = bot.api.ok("GET", path)["conversation"]
    assert "currentTaskId" not in fresh
    assert "currentWorkflowId" not in fresh
    task = bot.api.ok("POST", "/v1/chat/tasks", {"type": "t", "conversationId": conversation}, status=201)["task"]
    assert bot.api.ok("PUT", path, {"currentTaskId": task["id"]})["conversation"]["currentTaskId"] == task["id"]
    assert bot.api.ok("GET", path)["conversation"]["currentTaskId"] == task["id"]
    bot.api.error(
        "PUT", path, {"currentTaskId": "task_01J00000000000000000000000"}, type="ReferenceNotFound", status=400
    )
    assert "currentTaskId" not in bot.api.ok("PUT", path, {"currentTaskId": None})["conversation"]

    body = {"name": "onboarding", "status": "pending", "conversationId": conversation}
    first = bot.api.ok("POST", "/v1/chat/workflows", body, status=201)["workflow"]
    second = bot.api.ok("POST", "/v1/chat/workflows", body, status=201)["workflow"]
    assert bot.api.ok("GET", path)["conversation"]["currentWorkflowId"] == second["id"]
    bot.api.ok("PUT", f"/v1/chat/workflows/{second['id']}", {"status": "completed"})
    assert bot.api.ok("GET", path)["conversation"]["currentWorkflowId"] == first["id"]
    bot.api.ok("PUT", f"/v1/chat/workflows/{first['id']}", {"status": "cancelled"})
    assert "currentWorkflowId" not in bot.api.ok("GET", path)["conversation"]
