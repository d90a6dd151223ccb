"""Workflows (RUNTIME-SEMANTICS §8.6): create, get, update, delete, list, get-or-create; the
`workflow_update` events that start and time them out; their links to events and states.

The servers of this module run on an adjustable clock, so that timeouts are reached by moving
the clock (`/v1/parley/clock/advance`) instead of waiting. The tests that move it come last.
"""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.clock import iso_from_ms
from parley.clock import parse_iso as ms
from tests.conftest import BOT_DEFINITION, BotSetup, IntegrationSetup, install, make_bot, running_server
from tests.harness import Api, Server, eventually

ADJUSTABLE = {"PARLEY_CLOCK": "adjustable", "PARLEY_DISPATCH": "off"}
HOUR = 3_600_000
WORKFLOW_BOT: dict[str, Any] = {
    **BOT_DEFINITION,
    "events": {"ping": {"schema": {"type": "object"}}},
    "states": {"progress": {"type": "workflow", "schema": {"type": "object"}}},
}
MISSING_WORKFLOW = "wrkflow_01J00000000000000000000000"
PATH = "/v1/chat/workflows"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """Servers of this module run on an adjustable clock."""
    with running_server(request.param, work_dir, f"timed-{request.module.__name__}", ADJUSTABLE) as instance:
        yield instance


@pytest.fixture
def bot(admin: Api) -> BotSetup:
    return make_bot(admin, WORKFLOW_BOT)


def _workflow(api: Api, **body: Any) -> dict[str, Any]:
    workflow: dict[str, Any] = api.ok("POST", PATH, {"name": "onboarding", "status": "pending", **body}, status=201)[
        "workflow"
    ]
    return workflow


def _get_or_create(api: Api, **body: Any) -> tuple[dict[str, Any], bool]:
    answer = api.ok("POST", f"{PATH}/get-or-create", {"name": "onboarding", "status": "pending", **body})
    return answer["workflow"], answer["meta"]["created"]


def _ids(api: Api, **params: Any) -> list[str]:
    return [workflow["id"] for workflow in api.ok("GET", PATH, params=params)["workflows"]]


def _conversation(api: Api) -> str:
    conversation_id: str = api.ok("POST", "/v1/chat/conversations", {"channel": "web", "tags": {}}, status=201)[
        "conversation"
    ]["id"]
    return conversation_id


def _user(api: Api) -> str:
    user_id: str = api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)["user"]["id"]
    return user_id


def _ping(api: Api) -> str:
    event_id: str = api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]["id"]
    return event_id


def _workflow_events(api: Api, workflow_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.ok("GET", "/v1/chat/events", params={"workflowId": workflow_id})["events"]
    return found


def _deliveries(admin: Api, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin.ok("GET", "/v1/parley/deliveries", params=query)["deliveries"]
    return found


def _now(admin: Api) -> int:
    return ms(admin.ok("GET", "/v1/parley/clock")["now"])


def advance(admin: Api, amount: int) -> None:
    admin.ok("POST", "/v1/parley/clock/advance", {"advanceMs": amount})


# Create and get


def test_create_workflow_answers_201_with_the_workflow(bot: BotSetup) -> None:
    response = bot.api.call(
        "POST", PATH, {"name": "onboarding", "status": "pending", "input": {"step": 1, "b": [1]}, "tags": {"k": "v"}}
    )
    assert response.status_code == 201, response.text
    workflow = response.json()["workflow"]
    assert workflow["id"].startswith("wrkflow_")
    assert 28 <= len(workflow["id"]) <= 36
    assert (workflow["name"], workflow["status"]) == ("onboarding", "pending")
    assert workflow["input"] == {"step": 1, "b": [1]}
    assert workflow["output"] == {}
    assert workflow["tags"] == {"k": "v"}
    assert workflow["createdAt"] == workflow["updatedAt"]
    assert ms(workflow["timeoutAt"]) - ms(workflow["createdAt"]) == 48 * HOUR, "the default timeout is 48 hours"
    for absent in ("completedAt", "failureReason", "conversationId", "userId", "parentWorkflowId"):
        assert absent not in workflow
    assert bot.api.ok("GET", f"{PATH}/{workflow['id']}") == {"workflow": workflow}


def test_create_workflow_keeps_its_links_and_timeout(admin: Api, bot: BotSetup) -> None:
    conversation, user = _conversation(bot.api), _user(bot.api)
    parent = _workflow(bot.api, name="parent")
    timeout_at = iso_from_ms(_now(admin) + HOUR)
    child = _workflow(
        bot.api,
        name="child",
        status="listening",
        conversationId=conversation,
        userId=user,
        parentWorkflowId=parent["id"],
        timeoutAt=timeout_at.replace("Z", "+00:00"),
    )
    assert (child["conversationId"], child["userId"], child["parentWorkflowId"]) == (conversation, user, parent["id"])
    assert child["status"] == "listening"
    assert ms(child["timeoutAt"]) == ms(timeout_at)
    assert child["timeoutAt"].endswith("Z")
    assert "input" in child
    assert child["input"] == {}
    assert bot.api.ok("GET", f"{PATH}/{child['id']}")["workflow"] == child


def test_a_pending_workflow_is_announced_to_the_bot_as_workflow_started(admin: Api, bot: BotSetup) -> None:
    conversation, user = _conversation(bot.api), _user(bot.api)
    workflow = _workflow(bot.api, conversationId=conversation, userId=user, input={"a": 1})
    [event] = _workflow_events(bot.api, workflow["id"])
    assert event["type"] == "workflow_update"
    assert event["status"] == "pending"
    assert (event["conversationId"], event["userId"]) == (conversation, user)
    assert event["payload"]["type"] == "workflow_started"
    assert event["payload"]["workflow"] == workflow
    assert (
        event["payload"]["conversation"] == bot.api.ok("GET", f"/v1/chat/conversations/{conversation}")["conversation"]
    )
    assert event["payload"]["user"] == bot.api.ok("GET", f"/v1/chat/users/{user}")["user"]
    [delivery] = _deliveries(admin, eventId=event["id"])
    assert (delivery["target"], delivery["operation"]) == ("bot", "event_received")
    # The bot acknowledges it as the SDK does: in progress, naming the event it handles.
    acknowledged = bot.api.ok("PUT", f"{PATH}/{workflow['id']}", {"status": "in_progress", "eventId": event["id"]})
    assert acknowledged["workflow"]["status"] == "in_progress"

    alone = _workflow(bot.api)
    [unlinked] = _workflow_events(bot.api, alone["id"])
    assert "conversation" not in unlinked["payload"]
    assert "user" not in unlinked["payload"]
    assert "conversationId" not in unlinked


def test_workflows_started_in_progress_or_listening_are_not_announced(bot: BotSetup) -> None:
    running = _workflow(bot.api, status="in_progress", eventId=_ping(bot.api))
    listening = _workflow(bot.api, status="listening")
    assert running["status"] == "in_progress"
    assert _workflow_events(bot.api, running["id"]) == []
    assert _workflow_events(bot.api, listening["id"]) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"status": "completed"}, "InvalidPayload"),
        ({"status": "paused"}, "InvalidPayload"),
        ({"status": "in_progress"}, "InvalidPayload"),
        ({"name": None}, "InvalidPayload"),
        ({"name": "n" * 201}, "InvalidPayload"),
        ({"tags": {"k": "v" * 501}}, "InvalidPayload"),
        ({"input": "text"}, "InvalidPayload"),
        ({"timeoutAt": "tomorrow, more or less"}, "InvalidPayload"),
        ({"timeoutAt": "2999-01-01T00:00:00.000Z"}, "InvalidPayload"),
        ({"unknown": 1}, "InvalidPayload"),
        ({"status": "in_progress", "eventId": "evt_01J00000000000000000000000"}, "ReferenceNotFound"),
        ({"conversationId": "conv_01J00000000000000000000000"}, "ReferenceNotFound"),
        ({"userId": "user_01J00000000000000000000000"}, "ReferenceNotFound"),
        ({"parentWorkflowId": MISSING_WORKFLOW}, "ReferenceNotFound"),
    ],
)
def test_rejected_creates_change_nothing(bot: BotSetup, body: dict[str, Any], error: str) -> None:
    before = bot.api.server.snapshot()
    full = {"name": "onboarding", "status": "pending", **body}
    bot.api.error("POST", PATH, full, type=error, status=400)
    bot.api.error("POST", f"{PATH}/get-or-create", full, type=error, status=400)
    assert bot.api.server.snapshot() == before


def test_get_unknown_workflow_is_resource_not_found(bot: BotSetup) -> None:
    bot.api.error("GET", f"{PATH}/{MISSING_WORKFLOW}", type="ResourceNotFound", status=404)
    bot.api.error("PUT", f"{PATH}/{MISSING_WORKFLOW}", {"status": "paused"}, type="ResourceNotFound", status=404)
    bot.api.error("DELETE", f"{PATH}/{MISSING_WORKFLOW}", type="ResourceNotFound", status=404)


# Update


def test_update_workflow_merges_tags_and_stores_output(bot: BotSetup) -> None:
    workflow = _workflow(bot.api, tags={"a": "1", "b": "2", "c": "3"}, input={"keep": True})
    updated = bot.api.ok(
        "PUT", f"{PATH}/{workflow['id']}", {"tags": {"a": "9", "b": "", "c": None, "d": "4"}, "output": {"r": [1, 2]}}
    )["workflow"]
    assert updated["tags"] == {"a": "9", "d": "4"}
    assert updated["output"] == {"r": [1, 2]}
    assert updated["input"] == {"keep": True}
    assert updated["status"] == "pending"
    assert updated["createdAt"] == workflow["createdAt"]
    assert updated["updatedAt"] >= workflow["updatedAt"]
    assert bot.api.ok("GET", f"{PATH}/{workflow['id']}")["workflow"] == updated
    assert _ids(bot.api, **{"tags.a": "9"}) == [workflow["id"]]
    assert _ids(bot.api, **{"tags.a": "1"}) == []
    assert _ids(bot.api, **{"tags.b": "2"}) == []


def test_update_workflow_moves_through_its_statuses(bot: BotSetup) -> None:
    workflow = _workflow(bot.api)
    path = f"{PATH}/{workflow['id']}"
    running = bot.api.ok("PUT", path, {"status": "in_progress", "eventId": _ping(bot.api)})["workflow"]
    assert running["status"] == "in_progress"
    assert bot.api.ok("PUT", path, {"status": "paused"})["workflow"]["status"] == "paused"
    assert bot.api.ok("PUT", path, {"status": "listening"})["workflow"]["status"] == "listening"
    assert "completedAt" not in bot.api.ok("GET", path)["workflow"]
    done = bot.api.ok("PUT", path, {"status": "completed", "output": {"ok": True}})["workflow"]
    assert done["status"] == "completed"
    assert done["completedAt"] == done["updatedAt"]
    assert done["output"] == {"ok": True}


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_ending_a_workflow_sets_completed_at(bot: BotSetup, status: str) -> None:
    workflow = _workflow(bot.api, status="listening")
    body: dict[str, Any] = {"status": status}
    if status == "failed":
        body["failureReason"] = "the API was down"
    ended = bot.api.ok("PUT", f"{PATH}/{workflow['id']}", body)["workflow"]
    assert ended["status"] == status
    assert ms(ended["completedAt"]) >= ms(workflow["createdAt"])
    if status == "failed":
        assert ended["failureReason"] == "the API was down"
    assert bot.api.ok("GET", f"{PATH}/{workflow['id']}")["workflow"] == ended


def test_a_finished_workflow_cannot_change_status(bot: BotSetup) -> None:
    workflow = _workflow(bot.api)
    path = f"{PATH}/{workflow['id']}"
    ended = bot.api.ok("PUT", path, {"status": "cancelled"})["workflow"]
    event_id = _ping(bot.api)
    before = bot.api.server.snapshot()
    for status in ("completed", "failed", "listening", "paused"):
        error = bot.api.error("PUT", path, {"status": status}, type="InvalidPayload", status=400)
        assert "cancelled" in error["message"]
    bot.api.error("PUT", path, {"status": "in_progress", "eventId": event_id}, type="InvalidPayload", status=400)
    assert bot.api.server.snapshot() == before
    # Saying again what it already is changes nothing about its end.
    again = bot.api.ok("PUT", path, {"status": "cancelled", "tags": {"note": "late"}})["workflow"]
    assert (again["status"], again["completedAt"]) == ("cancelled", ended["completedAt"])
    assert again["tags"] == {"note": "late"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"status": "in_progress"}, "InvalidPayload"),
        ({"status": "pending"}, "InvalidPayload"),
        ({"status": "timedout"}, "InvalidPayload"),
        ({"status": "failed", "failureReason": "x" * 2001}, "InvalidPayload"),
        ({"tags": {"k": "v" * 501}}, "InvalidPayload"),
        ({"timeoutAt": "soon"}, "InvalidPayload"),
        ({"output": [1]}, "InvalidPayload"),
        ({"name": "renamed"}, "InvalidPayload"),
        ({"status": "in_progress", "eventId": "evt_01J00000000000000000000000"}, "ReferenceNotFound"),
        ({"userId": "user_01J00000000000000000000000"}, "ReferenceNotFound"),
    ],
)
def test_rejected_updates_change_nothing(bot: BotSetup, body: dict[str, Any], error: str) -> None:
    workflow = _workflow(bot.api, tags={"k": "v"})
    before = bot.api.server.snapshot()
    bot.api.error("PUT", f"{PATH}/{workflow['id']}", body, type=error, status=400)
    assert bot.api.server.snapshot() == before


def test_update_workflow_links_a_user(bot: BotSetup) -> None:
    workflow = _workflow(bot.api)
    user = _user(bot.api)
    updated = bot.api.ok("PUT", f"{PATH}/{workflow['id']}", {"userId": user})["workflow"]
    assert updated["userId"] == user
    assert _ids(bot.api, userId=user) == [workflow["id"]]


# Delete


def test_delete_workflow_removes_it_with_its_tags_states_and_timer(bot: BotSetup) -> None:
    workflow = _workflow(bot.api, tags={"k": "gone"})
    kept = _workflow(bot.api, tags={"k": "kept"})
    state_path = f"/v1/chat/states/workflow/{workflow['id']}/progress"
    bot.api.ok("POST", state_path, {"payload": {"step": 1}})
    bot.api.ok("POST", f"/v1/chat/states/workflow/{kept['id']}/progress", {"payload": {"step": 2}})
    assert {row[1] for row in bot.api.server.snapshot()["timers"]} >= {workflow["id"], kept["id"]}

    assert bot.api.ok("DELETE", f"{PATH}/{workflow['id']}") == {}
    bot.api.error("GET", f"{PATH}/{workflow['id']}", type="ResourceNotFound", status=404)
    bot.api.error("GET", state_path, type="ResourceNotFound", status=404)
    assert _ids(bot.api, **{"tags.k": "gone"}) == []
    snapshot = bot.api.server.snapshot()
    assert workflow["id"] not in {row[1] for row in snapshot["timers"]}
    assert workflow["id"] not in {row[2] for row in snapshot["tag_index"]}
    assert kept["id"] in {row[1] for row in snapshot["timers"]}
    assert bot.api.ok("GET", f"/v1/chat/states/workflow/{kept['id']}/progress")["state"]["payload"] == {"step": 2}
    bot.api.error("DELETE", f"{PATH}/{workflow['id']}", type="ResourceNotFound", status=404)


def test_deleting_a_conversation_leaves_its_workflows(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    workflow = _workflow(bot.api, conversationId=conversation)
    bot.api.ok("DELETE", f"/v1/chat/conversations/{conversation}")
    assert bot.api.ok("GET", f"{PATH}/{workflow['id']}")["workflow"]["conversationId"] == conversation
    updated = bot.api.ok("PUT", f"{PATH}/{workflow['id']}", {"status": "completed"})["workflow"]
    assert updated["status"] == "completed"


# List


def test_list_workflows_is_newest_first_and_pages(bot: BotSetup) -> None:
    created = [_workflow(bot.api)["id"] for _ in range(5)]
    listed = bot.api.ok("GET", PATH)
    assert [w["id"] for w in listed["workflows"]] == created[::-1]
    assert listed["meta"] == {}
    first = bot.api.ok("GET", PATH, params={"pageSize": 3})
    assert len(first["workflows"]) == 3
    second = bot.api.ok("GET", PATH, params={"pageSize": 3, "nextToken": first["meta"]["nextToken"]})
    assert [w["id"] for w in first["workflows"] + second["workflows"]] == created[::-1]
    assert second["meta"] == {}
    bot.api.error("GET", PATH, params={"nextToken": "garbage!"}, type="InvalidPayload", status=400)


def test_list_workflows_filters(bot: BotSetup) -> None:
    conversation, user = _conversation(bot.api), _user(bot.api)
    parent = _workflow(bot.api, name="parent", tags={"team": "a"})
    in_conversation = _workflow(bot.api, conversationId=conversation, status="listening")
    of_user = _workflow(bot.api, userId=user, tags={"team": "a", "tier": "1"})
    child = _workflow(bot.api, name="child", parentWorkflowId=parent["id"])
    bot.api.ok("PUT", f"{PATH}/{child['id']}", {"status": "failed"})

    assert _ids(bot.api, conversationId=conversation) == [in_conversation["id"]]
    assert _ids(bot.api, userId=user) == [of_user["id"]]
    assert _ids(bot.api, parentWorkflowId=parent["id"]) == [child["id"]]
    assert _ids(bot.api, name="parent") == [parent["id"]]
    assert _ids(bot.api, **{"tags.team": "a"}) == [of_user["id"], parent["id"]]
    assert _ids(bot.api, **{"tags.team": "a", "tags.tier": "1"}) == [of_user["id"]]
    assert _ids(bot.api, statuses="failed") == [child["id"]]
    both = bot.api.ok("GET", f"{PATH}?statuses=listening&statuses=failed")["workflows"]
    assert [w["id"] for w in both] == [child["id"], in_conversation["id"]]
    assert _ids(bot.api, statuses="pending", name="onboarding") == [of_user["id"]]
    bot.api.error("GET", PATH, params={"statuses": "lost"}, type="InvalidPayload", status=400)


# Get-or-create


def test_get_or_create_creates_then_finds_by_name_and_tags(bot: BotSetup) -> None:
    response = bot.api.call("POST", f"{PATH}/get-or-create", {"name": "sync", "status": "pending", "tags": {"a": "1"}})
    assert response.status_code == 200, response.text
    first = response.json()
    assert first["meta"] == {"created": True}
    found, created = _get_or_create(bot.api, name="sync", tags={"a": "1"}, input={"ignored": True})
    assert (found, created) == (first["workflow"], False)
    other_name, created = _get_or_create(bot.api, name="export", tags={"a": "1"})
    assert created is True
    assert other_name["id"] != found["id"]
    # Without discriminateByTags the whole tag set must match.
    superset, created = _get_or_create(bot.api, name="sync", tags={"a": "1", "b": "2"})
    assert created is True
    subset, created = _get_or_create(bot.api, name="sync", tags={})
    assert created is True
    assert len({found["id"], superset["id"], subset["id"]}) == 3
    again, created = _get_or_create(bot.api, name="sync", tags={"b": "2", "a": "1"})
    assert (again["id"], created) == (superset["id"], False)
    assert _get_or_create(bot.api, name="sync")[0]["id"] == subset["id"]


def test_get_or_create_with_discriminate_by_tags_compares_only_the_listed_tags(bot: BotSetup) -> None:
    first, _ = _get_or_create(bot.api, tags={"run": "7", "step": "a"})
    found, created = _get_or_create(bot.api, tags={"run": "7", "step": "b", "new": "x"}, discriminateByTags=["run"])
    assert (found["id"], created) == (first["id"], False)
    assert found["tags"] == {"run": "7", "step": "b", "new": "x"}
    assert bot.api.ok("GET", f"{PATH}/{first['id']}")["workflow"]["tags"] == found["tags"]
    _, created = _get_or_create(bot.api, tags={"run": "8"}, discriminateByTags=["run"])
    assert created is True


def test_get_or_create_by_status_group_starts_unless_one_is_running(bot: BotSetup) -> None:
    """The bugbuster bot's "start unless one is running": no tags, the `active` group."""
    body = {"name": "lintAll", "discriminateByStatusGroup": "active"}
    first, created = _get_or_create(bot.api, **body)
    assert created is True
    [started] = _workflow_events(bot.api, first["id"])
    assert started["payload"]["type"] == "workflow_started"
    for status in ("in_progress", "listening", "paused"):
        extra = {"eventId": started["id"]} if status == "in_progress" else {}
        bot.api.ok("PUT", f"{PATH}/{first['id']}", {"status": status, **extra})
        found, created = _get_or_create(bot.api, **body)
        assert (found["id"], found["status"], created) == (first["id"], status, False)
    assert len(_workflow_events(bot.api, first["id"])) == 1, "a found workflow is not announced again"

    bot.api.ok("PUT", f"{PATH}/{first['id']}", {"status": "completed"})
    finished, created = _get_or_create(bot.api, name="lintAll", discriminateByStatusGroup="finished")
    assert (finished["id"], created) == (first["id"], False)
    second, created = _get_or_create(bot.api, **body)
    assert created is True
    assert second["id"] != first["id"]
    # Without a group, the oldest of the name matches whatever its status.
    assert _get_or_create(bot.api, name="lintAll")[0]["id"] == first["id"]


async def _race(bot: BotSetup, body: dict[str, Any], count: int = 50) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=bot.api.server.url, headers=bot.api.headers, timeout=60) as client:
        return await asyncio.gather(*(client.post(f"{PATH}/get-or-create", json=body) for _ in range(count)))


@pytest.mark.parametrize(
    "body",
    [
        {"name": "race", "status": "pending", "tags": {"key": "race"}},
        {"name": "race", "status": "pending", "discriminateByStatusGroup": "active"},
    ],
)
def test_fifty_concurrent_identical_calls_create_one_workflow(bot: BotSetup, body: dict[str, Any]) -> None:
    responses = asyncio.run(_race(bot, body))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    assert len({r.json()["workflow"]["id"] for r in responses}) == 1
    assert [r.json()["meta"]["created"] for r in responses].count(True) == 1
    [workflow_id] = _ids(bot.api, name="race")
    assert len(_workflow_events(bot.api, workflow_id)) == 1


# Events and states


def test_events_link_to_the_bots_workflows(admin: Api, bot: BotSetup) -> None:
    workflow = _workflow(bot.api, status="listening")
    body = {"type": "ping", "payload": {}, "workflowId": workflow["id"]}
    event = bot.api.ok("POST", "/v1/chat/events", body, status=201)["event"]
    assert [e["id"] for e in _workflow_events(bot.api, workflow["id"])] == [event["id"]]
    stranger = make_bot(admin, WORKFLOW_BOT)
    before = bot.api.server.snapshot()
    stranger.api.error("POST", "/v1/chat/events", body, type="ReferenceNotFound", status=400)
    missing = {**body, "workflowId": MISSING_WORKFLOW}
    bot.api.error("POST", "/v1/chat/events", missing, type="ReferenceNotFound", status=400)
    assert bot.api.server.snapshot() == before


def test_workflow_states_bind_to_an_existing_workflow_of_the_bot(admin: Api, bot: BotSetup) -> None:
    workflow = _workflow(bot.api)
    path = f"/v1/chat/states/workflow/{workflow['id']}/progress"
    state = bot.api.ok("POST", path, {"payload": {"step": 1}})["state"]
    assert (state["type"], state["name"], state["payload"]) == ("workflow", "progress", {"step": 1})
    assert bot.api.ok("GET", path)["state"] == state
    stranger = make_bot(admin, WORKFLOW_BOT)
    before = bot.api.server.snapshot()
    stranger.api.error("POST", path, {"payload": {}}, type="ResourceNotFound", status=404)
    bot.api.error(
        "POST", f"/v1/chat/states/workflow/{MISSING_WORKFLOW}/progress", {}, type="InvalidPayload", status=400
    )
    bot.api.error(
        "POST",
        f"/v1/chat/states/workflow/{MISSING_WORKFLOW}/progress",
        {"payload": {}},
        type="ResourceNotFound",
        status=404,
    )
    assert bot.api.server.snapshot() == before


# Callers


def test_an_integration_cannot_use_workflows(admin: Api, bot: BotSetup) -> None:
    events = {"events": {"issueCreated": {"schema": {"type": "object"}}}}
    integration: IntegrationSetup = install(admin, bot, extra=events)
    workflow = _workflow(bot.api)
    before = bot.api.server.snapshot()
    body = {"name": "onboarding", "status": "pending"}
    for method, path, payload in (
        ("POST", PATH, body),
        ("POST", f"{PATH}/get-or-create", body),
        ("GET", f"{PATH}/{workflow['id']}", None),
        ("PUT", f"{PATH}/{workflow['id']}", {"status": "paused"}),
        ("DELETE", f"{PATH}/{workflow['id']}", None),
        ("GET", PATH, None),
    ):
        integration.api.error(method, path, payload, type="Forbidden", status=403)
    # Nor link an event to one: workflows are the bot's.
    event = {"type": "issueCreated", "payload": {}, "workflowId": workflow["id"]}
    integration.api.error("POST", "/v1/chat/events", event, type="ReferenceNotFound", status=400)
    state_path = f"/v1/chat/states/workflow/{workflow['id']}/progress"
    integration.api.error("POST", state_path, {"payload": {}}, type="InvalidPayload", status=400)
    assert bot.api.server.snapshot() == before


def test_another_bot_cannot_read_change_delete_or_list_the_workflows(admin: Api, bot: BotSetup) -> None:
    workflow = _workflow(bot.api, tags={"k": "v"})
    stranger = make_bot(admin, WORKFLOW_BOT)
    conversation = _conversation(bot.api)
    before = bot.api.server.snapshot()
    stranger.api.error("GET", f"{PATH}/{workflow['id']}", type="ResourceNotFound", status=404)
    stranger.api.error("PUT", f"{PATH}/{workflow['id']}", {"status": "paused"}, type="ResourceNotFound", status=404)
    stranger.api.error("DELETE", f"{PATH}/{workflow['id']}", type="ResourceNotFound", status=404)
    assert stranger.api.ok("GET", PATH, params={"tags.k": "v"})["workflows"] == []
    for link in ({"parentWorkflowId": workflow["id"]}, {"conversationId": conversation}):
        stranger.api.error(
            "POST", PATH, {"name": "x", "status": "listening", **link}, type="ReferenceNotFound", status=400
        )
    assert bot.api.server.snapshot() == before


# Timeouts (these move the clock: keep them last)


def test_a_workflow_times_out_when_its_timeout_passes(admin: Api, bot: BotSetup) -> None:
    conversation, user = _conversation(bot.api), _user(bot.api)
    timeout_at = iso_from_ms(_now(admin) + 60_000)
    workflow = _workflow(bot.api, status="listening", conversationId=conversation, userId=user, timeoutAt=timeout_at)
    advance(admin, 59_000)
    time.sleep(0.1)
    assert bot.api.ok("GET", f"{PATH}/{workflow['id']}")["workflow"]["status"] == "listening"
    advance(admin, 1_000)

    def timed_out() -> dict[str, Any] | None:
        found: dict[str, Any] = bot.api.ok("GET", f"{PATH}/{workflow['id']}")["workflow"]
        return found if found["status"] == "timedout" else None

    ended = eventually(timed_out)
    assert ended["timeoutAt"] == timeout_at
    [event] = _workflow_events(bot.api, workflow["id"])
    assert event["type"] == "workflow_update"
    assert event["payload"]["type"] == "workflow_timedout"
    assert event["payload"]["workflow"] == ended
    assert event["payload"]["conversation"]["id"] == conversation
    assert event["payload"]["user"]["id"] == user
    assert (event["conversationId"], event["userId"]) == (conversation, user)
    assert len(_deliveries(admin, eventId=event["id"])) == 1
    assert workflow["id"] not in {row[1] for row in bot.api.server.snapshot()["timers"]}
    bot.api.error("PUT", f"{PATH}/{workflow['id']}", {"status": "completed"}, type="InvalidPayload", status=400)


def test_moving_finishing_or_deleting_a_workflow_moves_or_removes_its_timeout(admin: Api, bot: BotSetup) -> None:
    now = _now(admin)
    moved = _workflow(bot.api, status="listening", timeoutAt=iso_from_ms(now + 10_000))
    finished = _workflow(bot.api, status="listening", timeoutAt=iso_from_ms(now + 10_000))
    deleted = _workflow(bot.api, status="listening", timeoutAt=iso_from_ms(now + 10_000))
    later = iso_from_ms(now + 30_000)
    assert bot.api.ok("PUT", f"{PATH}/{moved['id']}", {"timeoutAt": later})["workflow"]["timeoutAt"] == later
    bot.api.ok("PUT", f"{PATH}/{finished['id']}", {"status": "completed"})
    bot.api.ok("DELETE", f"{PATH}/{deleted['id']}")
    timers = {row[1] for row in bot.api.server.snapshot()["timers"]}
    assert moved["id"] in timers
    assert finished["id"] not in timers
    assert deleted["id"] not in timers

    advance(admin, 20_000)
    time.sleep(0.3)
    assert bot.api.ok("GET", f"{PATH}/{moved['id']}")["workflow"]["status"] == "listening"
    assert bot.api.ok("GET", f"{PATH}/{finished['id']}")["workflow"]["status"] == "completed"
    assert _workflow_events(bot.api, finished["id"]) == []
    assert _workflow_events(bot.api, deleted["id"]) == []
    advance(admin, 10_000)
    eventually(lambda: bot.api.ok("GET", f"{PATH}/{moved['id']}")["workflow"]["status"] == "timedout" or None)


def test_the_default_timeout_is_48_hours(admin: Api, bot: BotSetup) -> None:
    workflow = _workflow(bot.api)
    advance(admin, 48 * HOUR - 60_000)
    time.sleep(0.1)
    assert bot.api.ok("GET", f"{PATH}/{workflow['id']}")["workflow"]["status"] == "pending"
    advance(admin, 60_000)
    eventually(lambda: bot.api.ok("GET", f"{PATH}/{workflow['id']}")["workflow"]["status"] == "timedout" or None)
    types = [e["payload"]["type"] for e in _workflow_events(bot.api, workflow["id"])]
    assert types == ["workflow_timedout", "workflow_started"]


def test_a_timeout_before_the_year_1000_is_written_in_four_digits_and_is_due_at_once(bot: BotSetup) -> None:
    conversation = _conversation(bot.api)
    workflow = _workflow(bot.api, status="listening", conversationId=conversation, timeoutAt="0303-04-07T08:09:10Z")
    assert workflow["timeoutAt"] == "0303-04-07T08:09:10.000Z"

    def timed_out() -> dict[str, Any] | None:
        found: dict[str, Any] = bot.api.ok("GET", f"{PATH}/{workflow['id']}")["workflow"]
        return found if found["status"] == "timedout" else None

    assert eventually(timed_out)["timeoutAt"] == "0303-04-07T08:09:10.000Z"


def test_dates_the_api_cannot_write_are_refused(bot: BotSetup) -> None:
    before = bot.api.server.snapshot()
    for when in ("10000-01-01T00:00:00Z", "0000-06-01T00:00:00Z", "9999-12-31T23:00:00-05:00"):
        bot.api.error(
            "POST", PATH, {"name": "late", "status": "pending", "timeoutAt": when}, type="InvalidPayload", status=400
        )
    assert bot.api.server.snapshot() == before
