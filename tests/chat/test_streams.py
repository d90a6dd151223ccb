"""The Chat API's streams and what surrounds them, over HTTP: keep-alives, streams ended when a
participant is removed or the client leaves, signals too large for a NOTIFY crossing processes,
the bot's `sendEvent`, the configuration's webhook, CORS, and the built-in integration itself."""

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.chat.conftest import chat_integration_id
from tests.conftest import BotSetup, make_bot, running_server
from tests.harness import Api, Server, eventually
from tests.recorder import Received, Recorder

ORIGIN = "http://shop.example"
CHAT_ENV = {
    "PARLEY_CORS_ORIGINS": ORIGIN,
    "PARLEY_CHAT_KEEPALIVE_MS": "300",
    "PARLEY_DISPATCH_RETRY_BASE_MS": "50",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def chat_server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    with running_server(request.param, work_dir, f"chat-streams-{request.param}", CHAT_ENV) as instance:
        yield instance


@dataclass
class Channel:
    bot: BotSetup
    url: str
    webhook_id: str


def install_chat(server: Server, configuration: dict[str, Any] | None = None) -> Channel:
    admin = Api(server, server.admin_token)
    bot = make_bot(admin)
    installation = {"enabled": True, "integrationId": chat_integration_id(admin), "configuration": configuration or {}}
    admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {"chat": installation}})
    view = admin.ok("GET", f"/v1/admin/bots/{bot.id}", headers={"x-multiple-integrations": "true"})["bot"]
    webhook_id = view["integrations"]["chat"]["webhookId"]
    assert view["integrations"]["chat"]["status"] == "registered"
    # The Admin view shows where the Chat API of the installation is served.
    assert view["integrations"]["chat"]["webhookUrl"] == f"{server.url}/chat/{webhook_id}"
    return Channel(bot, f"{server.url}/chat/{webhook_id}", webhook_id)


def new_user(channel: Channel, **fields: Any) -> tuple[str, str]:
    """(the user's id, its key)"""
    answer = httpx.post(f"{channel.url}/users", json=fields)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["user"]["id"], body["key"]


def new_conversation(channel: Channel, key: str, conversation_id: str | None = None) -> str:
    body = {} if conversation_id is None else {"id": conversation_id}
    answer = httpx.post(f"{channel.url}/conversations", json=body, headers={"x-user-key": key})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["conversation"]["id"])


class Listener:
    """A `listen` stream read by a thread: each SSE line in a queue, None once the stream ended."""

    def __init__(self, url: str, key: str, headers: dict[str, str] | None = None) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.status: int | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=30))
        self._opened = threading.Event()
        self._url = url
        self._headers = {"x-user-key": key, "accept": "text/event-stream", **(headers or {})}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "the stream did not open"

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self._url, headers=self._headers) as response:
                self.status = response.status_code
                self.headers = response.headers
                self._opened.set()
                for line in response.iter_lines():
                    self.lines.put(line)
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.lines.put(None)

    def signal(self, kind: str, within: float = 10.0) -> dict[str, Any]:
        """The next signal of type `kind`, skipping others and keep-alives."""
        deadline = time.monotonic() + within
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert line is not None, f"the stream ended before a {kind} signal"
            if line.startswith("data: {"):
                found: dict[str, Any] = json.loads(line[len("data: ") :])
                if found["type"] == kind:
                    data: dict[str, Any] = found["data"]
                    return data

    def ended(self, within: float = 10.0) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=0.1) is None:
                    return True
            except queue.Empty:
                continue
        return False

    def close(self) -> None:
        self._client.close()


def listen(channel: Channel, key: str, conversation_id: str, **kwargs: Any) -> Listener:
    return Listener(f"{channel.url}/conversations/{quote(conversation_id, safe='')}/listen", key, **kwargs)


def open_streams(server: Server) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    found = re.search(r"^parley_chat_streams(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_hello_answers_on_a_known_channel_only(chat_server: Server) -> None:
    channel = install_chat(chat_server)
    for path in ("/hello", "/hello/"):
        answer = httpx.get(channel.url + path)
        assert answer.status_code == 200
        assert answer.text.startswith("Hello")
    unknown = httpx.get(f"{chat_server.url}/chat/{'0' * 32}/hello/")
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "ResourceNotFound"
    assert "not found" in unknown.json()["message"]


def test_a_stream_sends_keep_alives_and_ends_when_its_user_is_removed(chat_server: Server) -> None:
    channel = install_chat(chat_server)
    _, owner_key = new_user(channel)
    guest, guest_key = new_user(channel, id="guest-1")
    conversation = new_conversation(channel, owner_key, "room/1")
    added = httpx.post(
        f"{channel.url}/conversations/{quote(conversation, safe='')}/participants",
        json={"userId": guest},
        headers={"x-user-key": owner_key},
    )
    assert added.status_code == 200, added.text
    stream = listen(channel, guest_key, conversation)
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        pings = 0
        deadline = time.monotonic() + 5
        while pings < 2 and time.monotonic() < deadline:
            line = stream.lines.get(timeout=5)
            pings += line == "data: ping"
        assert pings == 2, "a quiet stream sends a keep-alive every PARLEY_CHAT_KEEPALIVE_MS"
        removed = httpx.request(
            "DELETE",
            f"{channel.url}/conversations/{quote(conversation, safe='')}/participants/{guest}",
            json={},
            headers={"x-user-key": owner_key},
        )
        assert removed.status_code == 200, removed.text
        assert stream.signal("participant_removed") == {"conversationId": "room/1", "participantId": "guest-1"}
        assert stream.ended(), "the removed user's stream is closed"
    finally:
        stream.close()


def test_a_stream_whose_client_left_is_released_at_once(chat_server: Server) -> None:
    channel = install_chat(chat_server)
    _, key = new_user(channel)
    conversation = new_conversation(channel, key)
    before = open_streams(chat_server)
    stream = listen(channel, key, conversation)
    eventually(lambda: open_streams(chat_server) == before + 1 or None, what="the stream counted")
    stream.close()
    eventually(lambda: open_streams(chat_server) == before or None, within=3, what="the stream released")


def test_a_signal_too_large_for_a_notify_reaches_a_stream_held_by_another_process(
    chat_server: Server, work_dir: Path
) -> None:
    channel = install_chat(chat_server)
    _, key = new_user(channel)
    conversation = new_conversation(channel, key)
    other = chat_server
    if chat_server.dialect == "postgresql":
        other = Server("postgresql", chat_server.database_url, chat_server.admin_token, env=CHAT_ENV)
        other.start(work_dir / "chat-streams-second-postgresql.log")
    stream = listen(channel, key, conversation)
    try:
        text = "long " * 4000
        posted = httpx.post(
            f"{other.url}/chat/{channel.webhook_id}/messages",
            json={"conversationId": conversation, "payload": {"type": "text", "text": text}, "metadata": {"n": 1}},
            headers={"x-user-key": key},
        )
        assert posted.status_code == 201, posted.text
        created = stream.signal("message_created")
        assert created["payload"] == {"type": "text", "text": text}
        assert created["metadata"] == {"n": 1}
        assert created["isBot"] is False
    finally:
        stream.close()
        if other is not chat_server:
            other.stop()


def test_the_bots_send_event_action_reaches_the_stream(chat_server: Server) -> None:
    channel = install_chat(chat_server)
    _, key = new_user(channel)
    conversation = new_conversation(channel, key, "events-room")
    runtime_id = channel.bot.api.ok("GET", "/v1/chat/conversations", params={"tags.chat:fid": "events-room"})[
        "conversations"
    ][0]["id"]
    stream = listen(channel, key, conversation)
    try:
        output = channel.bot.api.ok(
            "POST",
            "/v1/chat/actions",
            {"type": "chat:sendEvent", "input": {"conversationId": runtime_id, "payload": {"typing": True}}},
        )
        assert output["output"] == {}
        sent = stream.signal("event_created")
        assert sent["id"] is None
        assert sent["isBot"] is True
        assert sent["payload"] == {"typing": True}
        assert sent["conversationId"] == "events-room"
    finally:
        stream.close()


def test_every_signal_goes_to_the_configured_webhook_with_its_secret_until_it_is_taken(chat_server: Server) -> None:
    def refuse_first(received: Received) -> tuple[int, Any]:
        return (503, {"message": "busy"}) if not hook.calls else (200, {})

    with Recorder(refuse_first) as hook:
        channel = install_chat(chat_server, {"webhookUrl": hook.url, "webhookSecret": "s3cret"})
        _, key = new_user(channel)
        conversation = new_conversation(channel, key)
        posted = httpx.post(
            f"{channel.url}/messages",
            json={"conversationId": conversation, "payload": {"type": "text", "text": "hi"}},
            headers={"x-user-key": key},
        )
        assert posted.status_code == 201
        calls = eventually(lambda: hook.calls if len(hook.calls) >= 2 else None, what="the webhook called again")
        assert calls[0].body == calls[1].body, "a refused signal is sent again"
        assert calls[1].headers["x-secret-key"] == "s3cret"
        assert calls[1].body["type"] == "message_created"
        assert calls[1].body["data"]["payload"] == {"type": "text", "text": "hi"}


def test_cors_lets_the_configured_origin_call_and_listen(chat_server: Server) -> None:
    channel = install_chat(chat_server)
    asked = {"origin": ORIGIN, "access-control-request-method": "GET", "access-control-request-headers": "x-user-key"}
    preflight = httpx.options(f"{channel.url}/conversations/c1/listen", headers=asked)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "x-user-key" in preflight.headers["access-control-allow-headers"]
    assert "GET" in preflight.headers["access-control-allow-methods"]
    refused = httpx.options(f"{channel.url}/users", headers={**asked, "origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in refused.headers
    created = httpx.post(f"{channel.url}/users", json={}, headers={"origin": ORIGIN})
    assert created.headers["access-control-allow-origin"] == ORIGIN
    assert created.headers["access-control-allow-credentials"] == "true"
    failed = httpx.get(f"{channel.url}/users/me", headers={"origin": ORIGIN, "x-user-key": "nope"})
    assert failed.status_code == 401
    assert failed.headers["access-control-allow-origin"] == ORIGIN
    conversation = new_conversation(channel, created.json()["key"])
    stream = listen(channel, created.json()["key"], conversation, headers={"origin": ORIGIN})
    try:
        assert stream.headers["access-control-allow-origin"] == ORIGIN
    finally:
        stream.close()


def test_the_built_in_integration_cannot_be_changed_or_deleted(chat_server: Server) -> None:
    admin = Api(chat_server, chat_server.admin_token)
    integration_id = chat_integration_id(admin)
    before = admin.ok("GET", f"/v1/admin/integrations/{integration_id}")
    admin.error("PUT", f"/v1/admin/integrations/{integration_id}", {"title": "Mine"}, type="InvalidPayload", status=400)
    admin.error("DELETE", f"/v1/admin/integrations/{integration_id}", type="InvalidPayload", status=400)
    assert admin.ok("GET", f"/v1/admin/integrations/{integration_id}") == before
