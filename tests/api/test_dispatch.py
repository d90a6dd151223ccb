"""Dispatch over real HTTP: what bot and integration servers receive, retries, failures, order,
and the operator's view of deliveries. The servers here deliver (the shared ones do not)."""

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BOT_DEFINITION, BotSetup, IntegrationSetup, install, make_bot, running_server
from tests.harness import Api, Server, eventually
from tests.recorder import Received, Recorder

PUBLIC_URL = "https://parley.example"
DISPATCHING = {
    "PARLEY_PUBLIC_URL": PUBLIC_URL,
    "PARLEY_DISPATCH_RETRY_BASE_MS": "50",
    "PARLEY_DISPATCH_RETRY_MAX_MS": "200",
    "PARLEY_DISPATCH_MAX_ATTEMPTS": "3",
    "PARLEY_DISPATCH_TIMEOUT_MS": "3000",
}
EVENT_BOT: dict[str, Any] = {
    **BOT_DEFINITION,
    "events": {"ping": {"schema": {"type": "object"}}},
    "configuration": {"data": {"greeting": "hello"}, "schema": {"type": "object"}},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    with running_server(request.param, work_dir, "dispatch", DISPATCHING) as instance:
        yield instance


@pytest.fixture
def bot(admin: Api, recorder: Recorder) -> BotSetup:
    """A bot whose server is the recorder."""
    setup = make_bot(admin, {**EVENT_BOT, "url": recorder.url})
    return setup


def _deliveries(admin: Api, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = admin.ok("GET", "/v1/parley/deliveries", params=query)["deliveries"]
    return found


def _settled(admin: Api, **query: str) -> dict[str, Any]:
    """The one delivery matching `query`, once it is delivered, failed or canceled."""

    def probe() -> dict[str, Any] | None:
        found = _deliveries(admin, **query)
        return found[0] if len(found) == 1 and found[0]["status"] in ("delivered", "failed", "canceled") else None

    return eventually(probe)


def _text(conversation: str, user: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "payload": {"text": text},
        "userId": user,
        "conversationId": conversation,
        "type": "text",
        "tags": {},
        **extra,
    }


def _chat(integration: IntegrationSetup) -> tuple[str, str]:
    conversation = integration.api.ok(
        "POST", "/v1/chat/conversations", {"channel": "channel", "tags": {"id": "c-1"}}, status=201
    )["conversation"]["id"]
    user = integration.api.ok("POST", "/v1/chat/users", {"tags": {"id": "u-1"}, "name": "Ann"}, status=201)["user"][
        "id"
    ]
    return conversation, user


def _configuration(header: str) -> Any:
    return json.loads(base64.b64decode(header))


def test_an_incoming_message_reaches_the_bot_as_the_sdk_expects_it(
    admin: Api, bot: BotSetup, recorder: Recorder
) -> None:
    integration = install(admin, bot)
    conversation, user = _chat(integration)
    message = integration.api.ok("POST", "/v1/chat/messages", _text(conversation, user), status=201)["message"]
    [event] = bot.api.ok("GET", "/v1/chat/events", params={"messageId": message["id"]})["events"]
    assert _settled(admin, eventId=event["id"])["status"] == "delivered"
    [call] = [c for c in recorder.calls if c.headers.get("x-bp-type") == "message_created"]
    assert call.method == "POST"
    assert call.headers["x-bot-id"] == bot.id
    assert call.headers["x-bp-operation"] == "event_received"
    assert call.headers["content-type"] == "application/json"
    assert json.loads(_configuration(call.headers["x-bp-configuration"])["payload"]) == {"greeting": "hello"}
    sent = call.body["event"]
    assert (sent["id"], sent["type"], sent["status"], sent["failureReason"]) == (
        event["id"],
        "message_created",
        "pending",
        None,
    )
    assert (sent["conversationId"], sent["userId"], sent["messageId"]) == (conversation, user, message["id"])
    assert sent["payload"]["message"] == bot.api.ok("GET", f"/v1/chat/messages/{message['id']}")["message"]
    assert sent["payload"]["user"] == bot.api.ok("GET", f"/v1/chat/users/{user}")["user"]
    assert sent["payload"]["conversation"]["tags"] == {"chat:id": "c-1"}
    after = bot.api.ok("GET", f"/v1/chat/events/{event['id']}")["event"]
    assert (after["status"], after["failureReason"]) == ("processed", None)


def test_an_outgoing_message_reaches_the_integration_and_its_ack_is_applied(admin: Api, bot: BotSetup) -> None:
    def acknowledge(received: Received) -> tuple[int, Any]:
        if received.headers.get("x-bp-operation") == "message_created":
            message_id = received.body["message"]["id"]
            ack = httpx.put(
                f"{bot.api.server.url}/v1/chat/messages/{message_id}",
                json={"tags": {"id": "ext-42"}},
                headers=integration.api.headers,
            )
            assert ack.status_code == 200, ack.text
        return 200, {}

    with Recorder(acknowledge) as channel:
        integration = install(admin, bot)
        admin.ok("PUT", f"/v1/admin/integrations/{integration.id}", {"url": channel.url})
        admin.ok(
            "PUT",
            f"/v1/admin/bots/{bot.id}",
            {"integrations": {"chat": {"configuration": {"token": "t-1"}, "configurationType": None}}},
        )
        conversation, _ = _chat(integration)
        reply = bot.api.ok("POST", "/v1/chat/messages", _text(conversation, bot.id, "echo"), status=201)["message"]
        assert _settled(admin, messageId=reply["id"])["status"] == "delivered"
        [call] = [c for c in channel.calls if c.headers["x-bp-operation"] == "message_created"]
    headers = call.headers
    assert headers["x-bot-id"] == bot.id
    assert headers["x-integration-id"] == integration.id
    assert headers["x-integration-alias"] == "chat"
    assert headers["x-bot-user-id"].startswith("user_")
    installation = admin.ok("GET", f"/v1/admin/bots/{bot.id}")["bot"]["integrations"][integration.id]
    assert headers["x-webhook-id"] == installation["webhookId"]
    assert _configuration(headers["x-bp-configuration"]) == {"token": "t-1"}
    assert call.body["type"] == "text"
    assert call.body["payload"] == {"text": "echo"}
    assert call.body["conversation"]["tags"] == {"id": "c-1"}
    assert call.body["message"]["id"] == reply["id"]
    assert call.body["message"]["direction"] == "outgoing"
    assert call.body["user"]["id"] == bot.id
    assert bot.api.ok("GET", f"/v1/chat/messages/{reply['id']}")["message"]["tags"] == {"chat:id": "ext-42"}
    # The bot never receives its own message.
    assert bot.api.ok("GET", "/v1/chat/events", params={"messageId": reply["id"]})["events"] == []


def _integration_at(admin: Api, bot: BotSetup, name: str, server: Recorder) -> dict[str, Any]:
    """A new integration, named after `bot`, whose server is `server`."""
    body = {"name": f"{name}-{bot.id[-8:].lower()}", "version": "1.0.0", "url": server.url}
    found: dict[str, Any] = admin.ok("POST", "/v1/admin/integrations", body)["integration"]
    return found


def test_installing_and_uninstalling_register_and_unregister(admin: Api, bot: BotSetup) -> None:
    with Recorder() as lifecycle:
        integration = _integration_at(admin, bot, "hooks", lifecycle)
        install_body = {
            "integrations": {"hooks": {"enabled": True, "integrationId": integration["id"], "configuration": {"a": 1}}}
        }
        admin.ok("PUT", f"/v1/admin/bots/{bot.id}", install_body)
        eventually(lambda: lifecycle.calls or None)
        admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {"hooks": None}})
        eventually(lambda: lifecycle.calls[1:] or None)
        assert lifecycle.operations() == ["register", "unregister"]
    register, unregister = lifecycle.calls
    webhook_id = register.headers["x-webhook-id"]
    assert register.body == {"webhookUrl": f"{PUBLIC_URL}/webhooks/{webhook_id}"}
    assert unregister.body == register.body
    assert register.headers["x-integration-alias"] == "hooks"
    assert _configuration(register.headers["x-bp-configuration"]) == {"a": 1}


def test_a_failing_server_is_retried_until_it_answers(admin: Api, recorder: Recorder, bot: BotSetup) -> None:
    answers = iter([(500, {"message": "busy"}), (503, {}), (200, {})])
    recorder.answer = lambda _: next(answers)
    event = bot.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]
    delivery = _settled(admin, eventId=event["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    detail = admin.ok("GET", f"/v1/parley/deliveries/{delivery['id']}")
    assert [a["outcome"] for a in detail["attempts"]] == ["retry", "retry", "delivered"]
    assert [a["statusCode"] for a in detail["attempts"]] == [500, 503, 200]
    assert detail["attempts"][0]["error"] == "HTTP 500: busy"
    assert len(recorder.calls) == 3
    assert bot.api.ok("GET", f"/v1/chat/events/{event['id']}")["event"]["status"] == "processed"


def test_a_server_that_keeps_failing_fails_the_event_and_can_be_retried(
    admin: Api, recorder: Recorder, bot: BotSetup
) -> None:
    recorder.answer = lambda _: (500, {"id": "err_x", "code": 500, "type": "Runtime", "message": "handler crashed"})
    event = bot.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]
    delivery = _settled(admin, eventId=event["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert delivery["lastError"] == "HTTP 500: handler crashed"
    failed = bot.api.ok("GET", f"/v1/chat/events/{event['id']}")["event"]
    assert (failed["status"], failed["failureReason"]) == ("failed", "HTTP 500: handler crashed")

    recorder.answer = lambda _: (200, {})
    retried = admin.ok("POST", f"/v1/parley/deliveries/{delivery['id']}/retry")["delivery"]
    assert retried["status"] in ("pending", "in_flight", "delivered")
    assert _settled(admin, eventId=event["id"])["status"] == "delivered"
    assert bot.api.ok("GET", f"/v1/chat/events/{event['id']}")["event"]["status"] == "processed"
    admin.error("POST", f"/v1/parley/deliveries/{delivery['id']}/retry", type="InvalidPayload", status=400)
    assert len(admin.ok("GET", f"/v1/parley/deliveries/{delivery['id']}")["attempts"]) == 4


def test_a_refusal_is_final(admin: Api, recorder: Recorder, bot: BotSetup) -> None:
    recorder.answer = lambda _: (400, {"id": "err_x", "code": 400, "type": "InvalidPayload", "message": "nope"})
    event = bot.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]
    delivery = _settled(admin, eventId=event["id"])
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("failed", 1, "HTTP 400: nope")
    assert len(recorder.calls) == 1


def test_a_bot_without_url_fails_its_events_with_a_reason(admin: Api) -> None:
    silent = make_bot(admin, EVENT_BOT)
    event = silent.api.ok("POST", "/v1/chat/events", {"type": "ping", "payload": {}}, status=201)["event"]
    assert _settled(admin, eventId=event["id"])["status"] == "failed"
    failed = silent.api.ok("GET", f"/v1/chat/events/{event['id']}")["event"]
    assert failed["status"] == "failed"
    assert "has no url" in failed["failureReason"]


def test_messages_of_a_conversation_arrive_in_order_even_across_retries(
    admin: Api, recorder: Recorder, bot: BotSetup
) -> None:
    first = [True]

    def flaky_once(_: Received) -> tuple[int, Any]:
        if first[0]:
            first[0] = False
            return 500, {}
        return 200, {}

    recorder.answer = flaky_once
    integration = install(admin, bot)
    conversation, user = _chat(integration)
    sent = [
        integration.api.ok("POST", "/v1/chat/messages", _text(conversation, user, f"m{i}"), status=201)["message"]["id"]
        for i in range(6)
    ]

    def all_delivered() -> list[str] | None:
        got = [c.body["event"]["messageId"] for c in recorder.calls if c.headers.get("x-bp-type") == "message_created"]
        return got if len(set(got)) == len(sent) else None

    received = eventually(all_delivered)
    assert received == [sent[0], *sent]  # the first one twice (it failed once), then the rest in order


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def patient_server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """A server that retries every 50 to 400 ms and does not give up."""
    patient = {
        **DISPATCHING,
        "PARLEY_DISPATCH_RETRY_BASE_MS": "100",
        "PARLEY_DISPATCH_RETRY_MAX_MS": "400",
        "PARLEY_DISPATCH_MAX_ATTEMPTS": "1000",
    }
    with running_server(request.param, work_dir, "dispatch-patient", patient) as instance:
        yield instance


def test_a_bot_that_is_down_gets_one_stream_of_retries_and_everything_once_it_is_back(
    patient_server: Server,
) -> None:
    admin = Api(patient_server, patient_server.admin_token)
    calls: list[tuple[float, str, int]] = []
    down = [True]

    def answer(received: Received) -> tuple[int, Any]:
        status = 503 if down[0] else 200
        calls.append((time.monotonic(), received.body["event"]["messageId"], status))
        return status, {}

    with Recorder(answer) as bot_server:
        bot = make_bot(admin, {**EVENT_BOT, "url": bot_server.url})
        integration = install(admin, bot)
        user = integration.api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)["user"]["id"]
        conversations = [
            integration.api.ok(
                "POST", "/v1/chat/conversations", {"channel": "channel", "tags": {"id": f"down-{c}"}}, status=201
            )["conversation"]["id"]
            for c in range(5)
        ]
        sent: dict[str, list[str]] = {conversation: [] for conversation in conversations}
        for i in range(2):
            for conversation in conversations:
                body = _text(conversation, user, f"m{i}")
                sent[conversation].append(
                    integration.api.ok("POST", "/v1/chat/messages", body, status=201)["message"]["id"]
                )
        eventually(lambda: calls or None)
        time.sleep(3.5)
        while_down = list(calls)
        held = [d for d in _deliveries(admin, botId=bot.id, pageSize="100") if d["target"] == "bot"]
        down[0] = False

        def everything_arrived() -> bool | None:
            arrived = {message for _, message, status in calls if status == 200}
            return arrived >= {m for ids in sent.values() for m in ids} or None

        eventually(everything_arrived, within=10)

    # The calls made before the first failure was known (at most one per conversation), then one
    # delivery's retries only: about three a second, never five streams of them.
    first = while_down[0][0]
    per_second: dict[int, list[str]] = {}
    for at, message, _ in while_down:
        per_second.setdefault(int(at - first), []).append(message)
    assert len(set(per_second[0])) <= 5, per_second
    for second in range(1, 3):
        assert len(set(per_second[second])) == 1, per_second
        assert len(per_second[second]) <= 6, per_second
    # The deliveries held back spent no attempts while they waited.
    *waited, retried = sorted(d["attempts"] for d in held)
    assert retried >= 3, held
    assert all(attempts <= 1 for attempts in waited), held
    # Once it is back, every message arrives, in order within its conversation.
    for ids in sent.values():
        delivered = [m for _, m, status in calls if status == 200 and m in ids]
        assert delivered == ids
    assert len([status for _, _, status in calls if status == 200]) == sum(len(ids) for ids in sent.values())


def test_deliveries_are_listed_by_target(admin: Api, bot: BotSetup) -> None:
    integration = install(admin, bot)
    conversation, user = _chat(integration)
    integration.api.ok("POST", "/v1/chat/messages", _text(conversation, user), status=201)
    outgoing = bot.api.ok("POST", "/v1/chat/messages", _text(conversation, bot.id, "hello"), status=201)["message"]
    to_bot = _deliveries(admin, botId=bot.id, target="bot")
    to_integration = _deliveries(admin, botId=bot.id, target="integration")
    # The incoming message reaches the bot as an event; the bot's reply goes to the integration.
    assert [(d["target"], d["operation"]) for d in to_bot] == [("bot", "event_received")]
    assert [(d["operation"], d.get("messageId")) for d in to_integration] == [
        ("message_created", outgoing["id"]),
        ("register", None),
    ]
    assert _deliveries(admin, botId=bot.id, target="nobody") == []


def test_deliveries_detail_and_retry_need_a_known_delivery(admin: Api) -> None:
    admin.error("GET", "/v1/parley/deliveries/dlv_nothing", type="ResourceNotFound", status=404)
    admin.error("POST", "/v1/parley/deliveries/dlv_nothing/retry", type="ResourceNotFound", status=404)


def test_an_action_that_outlasts_the_timeout_is_a_runtime_error(admin: Api, bot: BotSetup) -> None:
    def too_slow(_: Received) -> tuple[int, Any]:
        time.sleep(3.5)
        return 200, {"output": {}}

    action = {"input": {"schema": {"type": "object"}}, "output": {"schema": {"type": "object"}}}
    with Recorder(too_slow) as integration_server:
        install(admin, bot, extra={"actions": {"wait": action}, "url": integration_server.url})
        started = time.monotonic()
        failed = bot.api.error(
            "POST", "/v1/chat/actions", {"type": "chat:wait", "input": {}}, type="Runtime", status=400
        )
        assert "did not answer within 3 s" in failed["message"]
        assert time.monotonic() - started < 3.4


def _installation_status(admin: Api, bot: BotSetup, alias: str) -> tuple[str, str | None]:
    found = admin.ok("GET", f"/v1/admin/bots/{bot.id}", headers={"x-multiple-integrations": "true"})["bot"]
    installation = found["integrations"][alias]
    return installation["status"], installation["statusReason"]


def _failed_registration(admin: Api, bot: BotSetup, alias: str) -> str:
    """The reason the installation's registration failed, once it has."""

    def probe() -> str | None:
        status, reason = _installation_status(admin, bot, alias)
        return reason if status == "registration_failed" else None

    return eventually(probe)


def test_an_installation_is_registered_only_once_its_integration_accepted_register(admin: Api, bot: BotSetup) -> None:
    refusing: dict[str, Any] = {"type": "Runtime", "message": "The bot token was rejected by the chat service."}
    with Recorder(lambda _: (400, refusing)) as lifecycle:
        integration = _integration_at(admin, bot, "status", lifecycle)
        install_body = {"integrations": {"tg": {"enabled": True, "integrationId": integration["id"]}}}
        saved = admin.ok("PUT", f"/v1/admin/bots/{bot.id}", install_body, headers={"x-multiple-integrations": "true"})
        assert saved["bot"]["integrations"]["tg"]["status"] == "registration_pending"

        reason = _failed_registration(admin, bot, "tg")
        assert "The bot token was rejected by the chat service." in reason

        # Saving the installation again, unchanged, retries the registration.
        lifecycle.answer = lambda _: (200, {})
        saved = admin.ok("PUT", f"/v1/admin/bots/{bot.id}", install_body, headers={"x-multiple-integrations": "true"})
        assert saved["bot"]["integrations"]["tg"]["status"] == "registration_pending"
        eventually(lambda: _installation_status(admin, bot, "tg") == ("registered", None) or None)
        assert lifecycle.operations() == ["register", "register"]

        # Disabling it unregisters it.
        admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {"tg": {"enabled": False}}})
        eventually(lambda: _installation_status(admin, bot, "tg") == ("unregistered", None) or None)


def test_a_registration_that_keeps_failing_stays_pending_with_its_reason_then_fails(admin: Api, bot: BotSetup) -> None:
    failing: dict[str, Any] = {"type": "Runtime", "message": "credentials state missing"}
    with Recorder(lambda _: (500, failing)) as lifecycle:
        integration = _integration_at(admin, bot, "failing", lifecycle)
        admin.ok(
            "PUT",
            f"/v1/admin/bots/{bot.id}",
            {"integrations": {"tg": {"enabled": True, "integrationId": integration["id"]}}},
        )
        reason = _failed_registration(admin, bot, "tg")
        assert "credentials state missing" in reason
        assert lifecycle.operations() == ["register"] * 3
