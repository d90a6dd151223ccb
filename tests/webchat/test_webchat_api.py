"""The Webchat API over HTTP, as `@botpress/webchat` calls it: `initialize` (creating or resuming
the user and conversation), the webchat's shapes over the chat channel's users and messages,
feedback, `conversation_started`, the bot's typing indicator and custom events, and bad input."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from parley.chat import keys
from tests.chat.test_streams import CHAT_ENV, ORIGIN, Channel, Listener, install_chat, listen
from tests.conftest import running_server
from tests.harness import Server, eventually


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def webchat_server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    with running_server(request.param, work_dir, f"webchat-{request.param}", CHAT_ENV) as instance:
        yield instance


@dataclass
class Session:
    """What `init` gave a page: its user, key and conversation, and the stream that goes on."""

    url: str
    init: dict[str, Any]
    stream: Listener

    @property
    def key(self) -> str:
        return str(self.init["user"]["userKey"])

    @property
    def conversation(self) -> str:
        return str(self.init["conversation"]["id"])

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"x-user-key": self.key, **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, json=body, headers=headers, **kwargs)


def webchat_url(channel: Channel, server: Server) -> str:
    return f"{server.url}/webchat/{channel.webhook_id}"


def initialize(url: str, *, key: str | None = None, conversation: str | None = None) -> Session:
    query = "" if conversation is None else f"?conversationId={quote(conversation, safe='')}"
    stream = Listener(f"{url}/initialize{query}", key or "")
    assert stream.status == 200, stream.status
    return Session(url, stream.signal("init"), stream)


@pytest.fixture
def channel(webchat_server: Server) -> Channel:
    return install_chat(webchat_server)


@pytest.fixture
def page(channel: Channel, webchat_server: Server) -> Iterator[Session]:
    session = initialize(webchat_url(channel, webchat_server))
    yield session
    session.stream.close()


def bot_conversation_id(channel: Channel, conversation: str) -> str:
    found = channel.bot.api.ok("GET", "/v1/chat/conversations", params={"integrationName": "chat"})["conversations"]
    return str(next(c["id"] for c in found if c["id"] == conversation or c["tags"].get("chat:fid") == conversation))


def test_initialize_creates_a_user_and_a_conversation_and_resumes_them(page: Session) -> None:
    init = page.init
    assert set(init) == {"conversation", "messages", "participants", "user"}
    assert init["messages"] == []
    assert [p["id"] for p in init["participants"]] == [init["user"]["id"]]
    assert init["user"]["userKey"]
    sent = page.call(
        "POST", "/messages", {"conversationId": page.conversation, "payload": {"type": "text", "text": "hello"}}
    )
    assert sent.status_code == 201, sent.text
    created = page.stream.signal("message_created")
    assert created["payload"] == {"type": "text", "text": "hello"}
    assert created["userId"] == init["user"]["id"]
    assert "isBot" not in created
    again = initialize(page.url, key=page.key, conversation=page.conversation)
    try:
        assert again.init["user"]["id"] == init["user"]["id"]
        assert again.conversation == page.conversation
        assert [m["payload"]["text"] for m in again.init["messages"]] == ["hello"]
    finally:
        again.stream.close()
    # A conversation that is gone is replaced by a new one, which the page follows.
    fresh = initialize(page.url, key=page.key, conversation="gone-for-good")
    try:
        assert fresh.conversation not in (page.conversation, "gone-for-good")
        assert fresh.init["messages"] == []
    finally:
        fresh.stream.close()


def test_the_bot_sees_a_chat_conversation_and_its_reply_reaches_the_page(channel: Channel, page: Session) -> None:
    runtime_id = bot_conversation_id(channel, page.conversation)
    bloc = {"items": [{"type": "text", "payload": {"text": "one"}}, {"type": "image", "payload": {"imageUrl": "x"}}]}
    channel.bot.api.ok(
        "POST",
        "/v1/chat/messages",
        {"conversationId": runtime_id, "userId": channel.bot.id, "type": "bloc", "payload": bloc, "tags": {}},
        status=201,
    )
    reply = page.stream.signal("message_created")
    assert reply["userId"] == channel.bot.id
    assert reply["payload"] == {"type": "bloc", **bloc}, "a bloc's items are {type, payload} for the webchat"
    listed = page.call("GET", f"/conversations/{page.conversation}/messages").json()["messages"]
    assert [m["id"] for m in listed] == [reply["id"]]


def test_conversation_started_tells_the_bot_and_whether_the_conversation_is_new(
    channel: Channel, page: Session
) -> None:
    def started() -> dict[str, Any]:
        body = {"conversationId": page.conversation, "payload": {"type": "conversation_started", "data": {}}}
        answer = page.call("POST", "/events", body)
        assert answer.status_code == 201, answer.text
        event: dict[str, Any] = answer.json()["event"]
        return event

    first = started()
    assert first["payload"] == {"type": "conversation_started", "data": {"status": {"isInitial": True}}}
    page.call("POST", "/messages", {"conversationId": page.conversation, "payload": {"type": "text", "text": "x"}})
    assert started()["payload"]["data"]["status"]["isInitial"] is False
    told = channel.bot.api.ok("GET", "/v1/chat/events", params={"type": "chat:conversationStarted"})["events"]
    assert len(told) == 2
    assert told[0]["payload"]["conversationId"] == bot_conversation_id(channel, page.conversation)


def test_feedback_is_kept_on_the_message_and_told_to_the_bot(channel: Channel, page: Session) -> None:
    runtime_id = bot_conversation_id(channel, page.conversation)
    reply = channel.bot.api.ok(
        "POST",
        "/v1/chat/messages",
        {
            "conversationId": runtime_id,
            "userId": channel.bot.id,
            "type": "text",
            "payload": {"text": "ok?"},
            "tags": {},
        },
        status=201,
    )["message"]
    rated = page.call("PUT", f"/messages/{reply['id']}/feedback", {"value": "negative", "comment": "too short"})
    assert rated.status_code == 200, rated.text
    assert rated.json() == {}
    assert page.call("GET", f"/messages/{reply['id']}").json()["message"]["feedback"] == {"value": "negative"}
    assert (
        channel.bot.api.ok("GET", f"/v1/chat/messages/{reply['id']}")["message"]["tags"]["chat:feedback"] == "negative"
    )
    [told] = channel.bot.api.ok("GET", "/v1/chat/events", params={"type": "chat:messageFeedback"})["events"]
    assert told["payload"]["messageId"] == reply["id"]
    assert (told["payload"]["value"], told["payload"]["comment"]) == ("negative", "too short")
    bad = page.call("PUT", f"/messages/{reply['id']}/feedback", {"value": "meh"})
    assert (bad.status_code, bad.json()["type"]) == (400, "InvalidPayload")
    assert page.call("DELETE", f"/messages/{reply['id']}/feedback", {}).status_code == 200
    assert "feedback" not in page.call("GET", f"/messages/{reply['id']}").json()["message"]


def test_the_bots_typing_indicator_and_custom_events_reach_webchat_streams_only(
    channel: Channel, page: Session
) -> None:
    runtime_id = bot_conversation_id(channel, page.conversation)
    chat_stream = listen(channel, page.key, page.conversation)
    try:
        for action, given in (
            ("chat:startTypingIndicator", {"timeout": 3000}),
            ("chat:stopTypingIndicator", {}),
            ("chat:customEvent", {"event": '{"show": "form"}'}),
        ):
            answer = channel.bot.api.ok(
                "POST", "/v1/chat/actions", {"type": action, "input": {"conversationId": runtime_id, **given}}
            )
            assert answer["output"] == {}
        assert page.stream.signal("typing_started") == {"timeout": 3000}
        assert page.stream.signal("typing_stopped") == {}
        assert page.stream.signal("custom") == {"event": {"show": "form"}}
        # The chat client's stream heard none of them: the next signal it gets is the message.
        page.call("POST", "/messages", {"conversationId": page.conversation, "payload": {"type": "text", "text": "y"}})
        line = chat_stream.lines.get(timeout=10)
        while line is not None and not line.startswith("data: {"):
            line = chat_stream.lines.get(timeout=10)
        assert line is not None
        assert '"message_created"' in line
    finally:
        chat_stream.close()


def test_a_signal_caused_through_another_process_reaches_the_stream(
    channel: Channel, page: Session, webchat_server: Server, work_dir: Path
) -> None:
    other = webchat_server
    if webchat_server.dialect == "postgresql":
        other = Server("postgresql", webchat_server.database_url, webchat_server.admin_token, env=CHAT_ENV)
        other.start(work_dir / "webchat-second-postgresql.log")
    try:
        runtime_id = bot_conversation_id(channel, page.conversation)
        action = {"type": "chat:startTypingIndicator", "input": {"conversationId": runtime_id}}
        answer = httpx.post(f"{other.url}/v1/chat/actions", json=action, headers=channel.bot.api.headers)
        assert answer.status_code == 200, answer.text
        assert page.stream.signal("typing_started") == {}
        sent = httpx.post(
            f"{other.url}/webchat/{channel.webhook_id}/messages",
            json={"conversationId": page.conversation, "payload": {"type": "text", "text": "from afar"}},
            headers={"x-user-key": page.key},
        )
        assert sent.status_code == 201, sent.text
        assert page.stream.signal("message_created")["payload"]["text"] == "from afar"
    finally:
        if other is not webchat_server:
            other.stop()


def test_with_its_own_encryption_key_a_channel_takes_the_keys_the_site_signs(webchat_server: Server) -> None:
    channel = install_chat(webchat_server, {"encryptionKey": "site-secret"})
    url = webchat_url(channel, webchat_server)
    refused = httpx.get(f"{url}/initialize")
    assert (refused.status_code, refused.json()["type"]) == (401, "Unauthorized")
    signed = keys.sign("site-secret", "customer-42")
    session = initialize(url, key=signed)
    try:
        assert session.init["user"]["id"] == "customer-42", "the user is created at its first visit"
        assert session.key == signed
    finally:
        session.stream.close()


def test_user_data_is_kept_and_read_back(page: Session) -> None:
    updated = page.call("PUT", "/users/me", {"name": "Ada", "userData": {"plan": "pro"}})
    assert updated.status_code == 200, updated.text
    me = page.call("GET", "/users/me").json()["user"]
    assert (me["name"], me["data"]) == ("Ada", {"plan": "pro"})
    signed = page.call("PUT", "/users/me", {"userData": "a.signed.token"})
    assert (signed.status_code, signed.json()["type"]) == (400, "InvalidPayload")


def test_bad_keys_are_refused(channel: Channel, webchat_server: Server, page: Session) -> None:
    url = webchat_url(channel, webchat_server)
    for key in ("nope", page.key[:-2] + "xx"):
        answer = httpx.get(f"{url}/users/me", headers={"x-user-key": key})
        assert answer.status_code == 401
        body = answer.json()
        assert body["type"] == "Unauthorized"
        assert body["id"].startswith("err_"), "the webchat throws on bodies whose id starts with err_"
        refused = httpx.get(f"{url}/initialize", headers={"x-user-key": key})
        assert refused.status_code == 401
    # A key of another channel is not a key here.
    other = initialize(webchat_url(install_chat(webchat_server), webchat_server))
    other.stream.close()
    assert httpx.get(f"{url}/users/me", headers={"x-user-key": other.key}).status_code == 401


def test_another_users_conversation_is_out_of_reach(page: Session) -> None:
    intruder = initialize(page.url)
    intruder.stream.close()
    for method, path, body in (
        ("GET", f"/conversations/{page.conversation}/messages", None),
        ("GET", f"/conversations/{page.conversation}/participants", None),
        ("POST", "/messages", {"conversationId": page.conversation, "payload": {"type": "text", "text": "hi"}}),
        ("POST", "/events", {"conversationId": page.conversation, "payload": {"type": "custom", "data": {}}}),
    ):
        answer = intruder.call(method, path, body)
        assert answer.status_code == 403, (method, path, answer.text)
    taken = Listener(f"{page.url}/initialize?conversationId={page.conversation}", intruder.key)
    try:
        assert taken.status == 403
    finally:
        taken.close()
    assert intruder.call("GET", "/conversations").json()["conversations"] == [
        {"id": intruder.conversation, **{k: v for k, v in intruder.init["conversation"].items() if k != "id"}}
    ]


def test_an_oversized_message_is_refused(page: Session) -> None:
    text = "x" * (200 * 1024)
    answer = page.call(
        "POST", "/messages", {"conversationId": page.conversation, "payload": {"type": "text", "text": text}}
    )
    assert answer.status_code == 413
    assert answer.json()["type"] == "PayloadTooLarge"


def test_what_parley_does_not_serve_answers_a_contract_error(page: Session) -> None:
    answer = page.call("POST", "/files", {"key": "a.png", "size": 3})
    assert answer.status_code == 405
    body = answer.json()
    assert body["type"] == "MethodNotFound"
    assert body["id"].startswith("err_")
    assert "createFile" in body["message"]
    unknown = page.call("GET", "/nothing/here")
    assert (unknown.status_code, unknown.json()["type"]) == (404, "ResourceNotFound")


def test_cors_lets_the_configured_origin_initialize(channel: Channel, webchat_server: Server) -> None:
    url = webchat_url(channel, webchat_server)
    asked = {
        "origin": ORIGIN,
        "access-control-request-method": "GET",
        "access-control-request-headers": "timeout,x-user-key",
    }
    preflight = httpx.options(f"{url}/initialize", headers=asked)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-headers"] == "timeout,x-user-key"
    elsewhere = httpx.options(f"{url}/initialize", headers={**asked, "origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in elsewhere.headers
    stream = Listener(f"{url}/initialize", "", headers={"origin": ORIGIN})
    try:
        assert stream.headers["access-control-allow-origin"] == ORIGIN
        assert eventually(lambda: stream.signal("init"))["user"]["userKey"]
    finally:
        stream.close()
