"""A chat service reaches the bot through the webhook relay, as Telegram does on Botpress Cloud: it
posts an update to the installation's webhook URL; the SDK integration (integration.mjs) turns it
into a conversation, a user and a message with getOrCreate calls; the echo bot (bot.mjs) replies;
the reply reaches the integration as `message_created`, which posts it to the chat service (here
a recorder standing in for the chat app's API)."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.apps import Deployment, eventually
from tests.e2e.conftest import Deploy
from tests.harness import Api
from tests.recorder import Recorder

pytestmark = pytest.mark.e2e


def _update(message_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """A Telegram update for a text message from user 7 ("Ann") in chat `chat_id`."""
    return {
        "update_id": 1000 + message_id,
        "message": {
            "message_id": message_id,
            "chat": {"id": chat_id},
            "from": {"id": 7, "first_name": "Ann"},
            "text": text,
        },
    }


def _relayed(chat: Deployment) -> list[dict[str, Any]]:
    """The relay's records of calls to the deployment's webhook URL."""
    return [d for d in chat.deliveries() if d["operation"] == "webhook_received"]


@pytest.fixture
def chat_service() -> Iterator[Recorder]:
    with Recorder() as instance:
        yield instance


@pytest.fixture
def chat(admin: Api, launch: Deploy, chat_service: Recorder) -> Deployment:
    deployment = launch(admin, chat_service=chat_service.url)
    eventually(lambda: deployment.installation()["status"] == "registered" or None, what="the registration")
    return deployment


def test_an_update_posted_to_the_webhook_url_is_answered_by_the_bot_in_the_chat(
    chat: Deployment, chat_service: Recorder
) -> None:
    installation = chat.installation()
    webhook_url = installation["webhookUrl"]
    [register] = chat.integration_app.records("register")
    assert register["webhookUrl"] == webhook_url
    assert register["ctx"]["webhookId"] == installation["webhookId"]

    answer = httpx.post(webhook_url, json=_update(8812, 42, "hi"), timeout=30)

    assert answer.status_code == 200
    assert answer.json() == {"ok": True}
    [sent] = eventually(lambda: chat_service.calls, what="the reply posted to the chat service")
    assert sent.body == {"chatId": "42", "text": "echo: hi"}
    [webhook] = chat.integration_app.records("webhook")
    assert webhook["req"]["method"] == "POST"
    assert webhook["req"]["path"] == "/"
    [created] = chat.integration_app.records("webhook_message")
    [received] = chat.received()
    assert received["message"]["id"] == created["message"]["id"]
    assert received["user"]["name"] == "Ann"
    assert received["conversation"]["tags"] == {"chat:id": "42"}

    # The chat service delivers the same update again (it does when an answer is slow): the
    # integration's getOrCreateMessage finds the first message, so the bot does not answer twice.
    assert httpx.post(webhook_url, json=_update(8812, 42, "hi"), timeout=30).status_code == 200
    assert httpx.post(webhook_url, json=_update(8813, 42, "again"), timeout=30).status_code == 200
    eventually(lambda: chat_service.calls[1:], what="the reply to the second message")
    assert [call.body["text"] for call in chat_service.calls] == ["echo: hi", "echo: again"]
    assert len(chat.received()) == 2
    relayed = eventually(lambda: _relayed(chat)[2:], what="the relay's records") and _relayed(chat)
    assert [d["status"] for d in relayed] == ["delivered"] * 3


def test_a_subscription_handshake_is_answered_by_the_integration(chat: Deployment) -> None:
    webhook_url = chat.installation()["webhookUrl"]
    token = chat.configuration["channelToken"]

    accepted = httpx.get(
        webhook_url, params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    )
    refused = httpx.get(webhook_url, params={"hub.verify_token": "guess", "hub.challenge": "1"})

    assert (accepted.status_code, accepted.text) == (200, "1158201444")
    assert (refused.status_code, refused.text) == (403, "wrong verify token")


def test_an_integration_that_is_down_answers_502_and_the_call_is_recorded(chat: Deployment) -> None:
    webhook_url = chat.installation()["webhookUrl"]
    chat.integration_app.stop()

    answer = httpx.post(webhook_url, json=_update(1, 42, "anyone?"), timeout=30)

    assert answer.status_code == 502
    assert answer.json()["type"] == "Runtime"
    [failed] = eventually(lambda: _relayed(chat), what="the failed call recorded")
    assert failed["status"] == "failed"
    assert failed["lastError"]
