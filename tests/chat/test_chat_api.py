"""The Chat API over plain HTTP, for what the official client hides: the connection test, answers
the client would mistake for errors, DELETE bodies, pages, percent-encoded ids, the wire format of
the stream, refused keys, and one user's conversations kept from another's reach."""

import json
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.harness import Api, Server, eventually
from tests.recorder import Recorder

from .conftest import ChatApi, ChatInstall, ChatServers, install_chat, user_key

# What a rejected request must leave as it was.
CHAT_TABLES = ("users", "conversations", "participants", "messages", "events")


@pytest.fixture
def shared(admin: Api, recorder: Recorder) -> ChatInstall:
    """An installation that signs the keys itself, in a bot that answers nothing."""
    return install_chat(admin, recorder.url)


@pytest.fixture
def personal(admin: Api, recorder: Recorder) -> ChatInstall:
    """An installation whose keys the developer signs with his `encryptionKey`."""
    return install_chat(admin, recorder.url, configuration={"encryptionKey": f"secret-{secrets.token_hex(16)}"})


def new_user(install: ChatInstall, server: Server, user_id: str | None = None) -> ChatApi:
    """A new user of `install` and a client that speaks as him: created with the platform's key in
    shared mode, signed in with a self-signed key in personal mode."""
    url = install.api_url(server)
    if install.encryption_key is None:
        body = {} if user_id is None else {"id": user_id}
        created = ChatApi(url).ok("POST", "/users", body, status=201)
        return ChatApi(url, created["key"])
    user = ChatApi(url, user_key(install.encryption_key, {"id": user_id or f"user-{secrets.token_hex(4)}"}))
    user.ok("POST", "/users/get-or-create", {}, status=201)
    return user


def me(user: ChatApi) -> str:
    found: str = user.ok("GET", "/users/me")["user"]["id"]
    return found


def say(user: ChatApi, conversation: str, text: str) -> dict[str, Any]:
    """Sends a text message as `user`; returns the message."""
    body = {"conversationId": conversation, "payload": {"type": "text", "text": text}}
    message: dict[str, Any] = user.ok("POST", "/messages", body, status=201)["message"]
    return message


def path_id(value: str) -> str:
    return quote(value, safe="")


def test_hello_answers_with_and_without_a_trailing_slash(servers: ChatServers, shared: ChatInstall) -> None:
    for server in {servers.listen.url: servers.listen, servers.write.url: servers.write}.values():
        for path in ("/hello/", "/hello"):
            response = httpx.get(shared.api_url(server) + path)
            assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"


def test_an_unknown_webhook_id_has_no_chat_api(servers: ChatServers) -> None:
    response = httpx.post(f"{servers.write.url}/chat/{secrets.token_hex(16)}/users", json={})
    assert response.status_code == 404, response.text


def test_every_operation_answers_as_the_client_expects(servers: ChatServers, shared: ChatInstall) -> None:
    """Each success has the table's status and no numeric `code` (ChatApi.ok checks that); each
    DELETE is sent with a `{}` body, as the client sends it, and answers `{}`."""
    url = shared.api_url(servers.write)
    created = ChatApi(url).ok("POST", "/users", {"name": "Ann", "profile": "likes tea"}, status=201)
    assert set(created) == {"user", "key"}
    ann = ChatApi(url, created["key"])
    assert ann.ok("POST", "/users/get-or-create", {}, status=201)["user"]["id"] == created["user"]["id"]
    assert ann.ok("GET", "/users/me")["user"]["profile"] == "likes tea"
    assert ann.ok("PUT", "/users/me", {"name": "Ann B."})["user"]["name"] == "Ann B."
    bob = new_user(shared, servers.write)

    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]
    assert set(conversation) == {"id", "createdAt", "updatedAt"}
    room = f"room-{secrets.token_hex(4)}"
    assert ann.ok("POST", "/conversations/get-or-create", {"id": room}, status=201)["conversation"]["id"] == room
    cid = path_id(conversation["id"])
    assert ann.ok("GET", f"/conversations/{cid}")["conversation"] == conversation
    assert {c["id"] for c in ann.ok("GET", "/conversations")["conversations"]} == {conversation["id"], room}

    sent = {"conversationId": conversation["id"], "payload": {"type": "text", "text": "hi"}, "metadata": {"k": "v"}}
    message = ann.ok("POST", "/messages", sent, status=201)["message"]
    assert (message["payload"], message["metadata"]) == ({"type": "text", "text": "hi"}, {"k": "v"})
    assert ann.ok("GET", f"/messages/{message['id']}")["message"]["id"] == message["id"]
    assert [m["id"] for m in ann.ok("GET", f"/conversations/{cid}/messages")["messages"]] == [message["id"]]
    event = ann.ok("POST", "/events", {"conversationId": conversation["id"], "payload": {"a": 1}}, status=201)["event"]
    assert ann.ok("GET", f"/events/{event['id']}")["event"]["payload"] == {"a": 1}

    bob_id = me(bob)
    added = ann.ok("POST", f"/conversations/{cid}/participants", {"userId": bob_id})["participant"]
    assert added["id"] == bob_id
    assert ann.ok("GET", f"/conversations/{cid}/participants/{path_id(bob_id)}")["participant"]["id"] == bob_id
    listed = ann.ok("GET", f"/conversations/{cid}/participants")["participants"]
    assert {p["id"] for p in listed} == {created["user"]["id"], bob_id}

    assert ann.ok("DELETE", f"/conversations/{cid}/participants/{path_id(bob_id)}", {}) == {}
    assert ann.ok("DELETE", f"/messages/{message['id']}", {}) == {}
    assert ann.ok("DELETE", f"/conversations/{cid}", {}) == {}
    assert bob.ok("DELETE", "/users/me", {}) == {}
    ann.error("GET", f"/conversations/{cid}", type="ResourceNotFound", status=404)


def _pages(user: ChatApi, path: str, field: str) -> list[list[str]]:
    """The ids of each page of a list, following `meta.nextToken` to the end."""
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        body = user.ok("GET", path, params={"nextToken": token} if token else None)
        pages.append([item["id"] for item in body[field]])
        token = body["meta"].get("nextToken")
        if not token:
            return pages
        assert len(pages) < 50, "the pages never end"


def test_lists_are_paged_with_next_token(servers: ChatServers, shared: ChatInstall) -> None:
    count = 21  # more than one page of Parley's lists (20)
    ann = new_user(shared, servers.write)
    conversations = [ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"] for _ in range(count)]
    cid = path_id(conversations[0])
    messages = [say(ann, conversations[0], f"{n}")["id"] for n in range(count)]
    others = [me(new_user(shared, servers.write)) for _ in range(count - 1)]
    for other in others:
        ann.ok("POST", f"/conversations/{cid}/participants", {"userId": other})
    for path, field, expected in (
        ("/conversations", "conversations", conversations),
        (f"/conversations/{cid}/messages", "messages", messages),
        (f"/conversations/{cid}/participants", "participants", [me(ann), *others]),
    ):
        pages = _pages(ann, path, field)
        everything = [item for page in pages for item in page]
        assert len(pages) > 1, f"{path}: one page of {len(everything)}"
        assert sorted(everything) == sorted(expected), path
    # Messages come newest first, across pages too.
    assert [item for page in _pages(ann, f"/conversations/{cid}/messages", "messages") for item in page] == list(
        reversed(messages)
    )


def test_one_user_never_reaches_another_users_conversation(servers: ChatServers, shared: ChatInstall) -> None:
    ann, bob = new_user(shared, servers.write), new_user(shared, servers.write)
    ann_id, bob_id = me(ann), me(bob)
    room = f"room-{secrets.token_hex(4)}"
    conversation = ann.ok("POST", "/conversations", {"id": room}, status=201)["conversation"]["id"]
    cid = path_id(conversation)
    message = say(ann, conversation, "x")["id"]
    event = ann.ok("POST", "/events", {"conversationId": conversation, "payload": {"secret": 1}}, status=201)["event"][
        "id"
    ]

    def forbidden(user: ChatApi) -> None:
        """Every operation on ann's conversation, its message and its event, as `user`."""
        for method, path, body in (
            ("GET", f"/conversations/{cid}", None),
            ("DELETE", f"/conversations/{cid}", {}),
            ("POST", "/conversations/get-or-create", {"id": room}),
            ("GET", f"/conversations/{cid}/messages", None),
            ("POST", f"/conversations/{cid}/participants", {"userId": bob_id}),
            ("GET", f"/conversations/{cid}/participants", None),
            ("GET", f"/conversations/{cid}/participants/{path_id(ann_id)}", None),
            ("DELETE", f"/conversations/{cid}/participants/{path_id(ann_id)}", {}),
            ("POST", "/messages", {"conversationId": conversation, "payload": {"type": "text", "text": "intrusion"}}),
            ("GET", f"/messages/{message}", None),
            ("DELETE", f"/messages/{message}", {}),
            ("POST", "/events", {"conversationId": conversation, "payload": {}}),
            ("GET", f"/events/{event}", None),
        ):
            user.error(method, path, body, type="Forbidden", status=403)
        with _listen(servers.listen, shared, user, conversation) as response:
            assert response.status_code == 403
        assert conversation not in [c["id"] for c in user.ok("GET", "/conversations")["conversations"]]

    forbidden(bob)

    # A participant reads and writes, but only the owner manages the conversation, and only its
    # sender deletes a message.
    ann.ok("POST", f"/conversations/{cid}/participants", {"userId": bob_id})
    assert bob.ok("GET", f"/messages/{message}")["message"]["id"] == message
    for method, path, body in (
        ("DELETE", f"/conversations/{cid}", {}),
        ("POST", "/conversations/get-or-create", {"id": room}),
        ("GET", f"/conversations/{cid}/participants/{path_id(ann_id)}", None),
        ("DELETE", f"/conversations/{cid}/participants/{path_id(ann_id)}", {}),
        ("DELETE", f"/messages/{message}", {}),
    ):
        bob.error(method, path, body, type="Forbidden", status=403)
    assert conversation not in [c["id"] for c in bob.ok("GET", "/conversations")["conversations"]]
    ann.ok("DELETE", f"/conversations/{cid}/participants/{path_id(bob_id)}", {})
    forbidden(bob)

    # Bob's own stream hears his conversation, never ann's.
    own = bob.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    with _listen(servers.listen, shared, bob, own) as response:
        say(ann, conversation, "not for bob")
        ann.ok("POST", "/events", {"conversationId": conversation, "payload": {}}, status=201)
        mine = say(bob, own, "mine")
        [signal] = _take(response, 1)
    assert signal["data"]["id"] == mine["id"]
    ann.ok("DELETE", f"/messages/{ann.ok('GET', f'/conversations/{cid}/messages')['messages'][0]['id']}", {})

    # Nothing of ann's changed.
    assert ann.ok("GET", f"/conversations/{cid}")["conversation"]["id"] == conversation
    assert [m["id"] for m in ann.ok("GET", f"/conversations/{cid}/messages")["messages"]] == [message]
    assert [p["id"] for p in ann.ok("GET", f"/conversations/{cid}/participants")["participants"]] == [ann_id]
    assert ann.ok("GET", f"/events/{event}")["event"]["payload"] == {"secret": 1}


def test_a_key_of_one_installation_is_refused_by_another(
    servers: ChatServers, shared: ChatInstall, admin: Api, recorder: Recorder
) -> None:
    other = install_chat(admin, recorder.url)
    ann = new_user(shared, servers.write)
    stranger = ChatApi(other.api_url(servers.write), ann.key)
    stranger.error("GET", "/users/me", type="Unauthorized", status=401)


def test_chosen_ids_belong_to_their_installation(
    servers: ChatServers, shared: ChatInstall, admin: Api, recorder: Recorder
) -> None:
    other = install_chat(admin, recorder.url)
    ann_here, ann_there = new_user(shared, servers.write, "ann"), new_user(other, servers.write, "ann")
    for ann in (ann_here, ann_there):
        ann.ok("POST", "/conversations", {"id": "room-1"}, status=201)
        say(ann, "room-1", f"hi from {ann.http.base_url}")
    for ann in (ann_here, ann_there):
        [message] = ann.ok("GET", "/conversations/room-1/messages")["messages"]
        assert message["payload"]["text"] == f"hi from {ann.http.base_url}"


def _forged_keys(secret: str, user_id: str) -> dict[str, str]:
    valid = user_key(secret, {"id": user_id})
    header, payload, signature = valid.split(".")
    unsigned = user_key("", {"id": user_id}).rsplit(".", 1)[0]
    none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    return {
        "not a token": "not-a-key",
        "three parts of nothing": "a.b.c",
        "signed with another secret": user_key(f"{secret}-not", {"id": user_id}),
        "signature altered": f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        "payload altered": f"{header}.{user_key(secret, {'id': user_id + 'x'}).split('.')[1]}.{signature}",
        "no signature": f"{unsigned}.",
        "alg none": f"{none_header}.{payload}.",
        "expired": user_key(secret, {"id": user_id, "exp": int(time.time()) - 60}),
        "no id": user_key(secret, {"sub": user_id}),
        "id not a string": user_key(secret, {"id": 42}),
    }


def test_bad_keys_are_refused_and_change_nothing(servers: ChatServers, personal: ChatInstall) -> None:
    assert personal.encryption_key is not None
    ann = new_user(personal, servers.write, f"ann-{secrets.token_hex(3)}")
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    before = _chat_rows(servers.write)
    for name, key in _forged_keys(personal.encryption_key, me(ann)).items():
        forged = ChatApi(personal.api_url(servers.write), key)
        for method, path, body in (
            ("POST", "/users/get-or-create", {}),
            ("PUT", "/users/me", {"name": "Mallory"}),
            ("POST", "/conversations", {}),
            ("POST", "/messages", {"conversationId": conversation, "payload": {"type": "text", "text": "x"}}),
            ("DELETE", f"/conversations/{path_id(conversation)}", {}),
            ("DELETE", "/users/me", {}),
        ):
            refused = forged.error(method, path, body, type="Unauthorized", status=401)
            assert refused["message"] == "Invalid user key", (name, refused)
        with _listen(servers.listen, personal, forged, conversation) as response:
            assert response.status_code == 401, name
    assert _chat_rows(servers.write) == before


def test_a_key_never_expires_unless_it_says_so(servers: ChatServers, personal: ChatInstall) -> None:
    assert personal.encryption_key is not None
    user_id = f"ann-{secrets.token_hex(3)}"
    old = user_key(personal.encryption_key, {"id": user_id, "iat": 1_000_000_000})
    later = user_key(personal.encryption_key, {"id": user_id, "exp": int(time.time()) + 3600})
    for key in (old, later):
        ChatApi(personal.api_url(servers.write), key).ok("POST", "/users/get-or-create", {}, status=201)


def test_shared_keys_signed_elsewhere_are_refused(servers: ChatServers, shared: ChatInstall) -> None:
    ann = new_user(shared, servers.write)
    before = _chat_rows(servers.write)
    for name, key in _forged_keys(f"guess-{secrets.token_hex(8)}", me(ann)).items():
        refused = ChatApi(shared.api_url(servers.write), key).error("GET", "/users/me", type="Unauthorized", status=401)
        assert refused["message"] == "Invalid user key", (name, refused)
    assert _chat_rows(servers.write) == before


def test_personal_mode_refuses_create_user(servers: ChatServers, personal: ChatInstall) -> None:
    ChatApi(personal.api_url(servers.write)).error("POST", "/users", {}, type="Unauthorized", status=401)


def _chat_rows(server: Server) -> dict[str, list[tuple[Any, ...]]]:
    snapshot = server.snapshot()
    return {table: snapshot[table] for table in CHAT_TABLES}


def test_ids_of_the_clients_choosing_travel_percent_encoded(servers: ChatServers, shared: ChatInstall) -> None:
    tag = secrets.token_hex(3)
    ann = new_user(shared, servers.write, f"team/ann\\{tag}")
    bob_id = me(new_user(shared, servers.write, f"team/bob-{tag}_x"))
    assert me(ann) == f"team/ann\\{tag}"
    room = f"rooms/{tag}\\general_1-a"
    assert ann.ok("POST", "/conversations", {"id": room}, status=201)["conversation"]["id"] == room
    cid = path_id(room)
    assert ann.ok("GET", f"/conversations/{cid}")["conversation"]["id"] == room
    message = say(ann, room, "hi")
    assert (message["conversationId"], message["userId"]) == (room, f"team/ann\\{tag}")
    assert ann.ok("GET", f"/conversations/{cid}/messages")["messages"][0]["conversationId"] == room
    ann.ok("POST", f"/conversations/{cid}/participants", {"userId": bob_id})
    assert ann.ok("GET", f"/conversations/{cid}/participants/{path_id(bob_id)}")["participant"]["id"] == bob_id
    assert ann.ok("DELETE", f"/conversations/{cid}/participants/{path_id(bob_id)}", {}) == {}
    ann.error("POST", "/conversations", {"id": room}, type="AlreadyExists", status=409)
    longest = f"{tag}/".ljust(70, "z")
    assert ann.ok("POST", "/conversations", {"id": longest}, status=201)["conversation"]["id"] == longest


@pytest.mark.parametrize(
    "bad",
    ["x" * 71, "has space", "semi;colon", "accent-é", "dot.ted", "percent%2F"],
    ids=["71 characters", "space", "semicolon", "accent", "dot", "percent"],
)
def test_ids_of_the_clients_choosing_are_validated(servers: ChatServers, shared: ChatInstall, bad: str) -> None:
    ann = new_user(shared, servers.write)
    ann.error("POST", "/conversations", {"id": bad}, type="InvalidPayload", status=400)
    ann.error("POST", "/conversations/get-or-create", {"id": bad}, type="InvalidPayload", status=400)
    ChatApi(shared.api_url(servers.write)).error("POST", "/users", {"id": bad}, type="InvalidPayload", status=400)


@contextmanager
def _listen(server: Server, install: ChatInstall, user: ChatApi, conversation: str) -> Iterator[httpx.Response]:
    """The `listen` stream of `conversation` on `server`, opened as the client opens it."""
    headers = {"accept": "text/event-stream", "cache-control": "no-cache"}
    if user.key is not None:
        headers["x-user-key"] = user.key
    url = f"{install.api_url(server)}/conversations/{path_id(conversation)}/listen"
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=25)) as response:
        yield response


def _signals(response: httpx.Response) -> Iterator[tuple[str | None, Any]]:
    """Each SSE event of a stream as (its event name, its data decoded when it is JSON)."""
    name: str | None = None
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))
        elif line == "" and data:
            text = "\n".join(data)
            try:
                yield name, json.loads(text)
            except json.JSONDecodeError:
                yield name, text
            name, data = None, []


def _take(response: httpx.Response, count: int) -> list[Any]:
    """The next `count` signals of a stream, keep-alives left out."""
    got: list[Any] = []
    for _, signal in _signals(response):
        if signal != "ping":
            got.append(signal)
        if len(got) == count:
            return got
    raise AssertionError(f"the stream ended after {got}")


def test_the_stream_sends_each_signal_as_a_message_event(servers: ChatServers, shared: ChatInstall) -> None:
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    with _listen(servers.listen, shared, ann, conversation) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        sent = say(ann, conversation, "hi")
        signals = _signals(response)
        name, signal = next(signals)
        while signal == "ping":  # a keep-alive may come first; nothing else
            name, signal = next(signals)
        assert name in (None, "message")
        assert signal["type"] == "message_created", signal
        data = signal["data"]
        assert (data["id"], data["isBot"], data["payload"]) == (sent["id"], False, {"type": "text", "text": "hi"})
        assert (data["conversationId"], data["userId"]) == (conversation, me(ann))


# One message of each type, as the Chat API takes and gives it (flat, the type inside); the
# carousel has a test of its own.
PAYLOADS: list[dict[str, Any]] = [
    {"type": "text", "text": "hi"},
    {"type": "markdown", "markdown": "**hi**"},
    {"type": "image", "imageUrl": "https://example.com/a.png"},
    {"type": "audio", "audioUrl": "https://example.com/a.mp3"},
    {"type": "video", "videoUrl": "https://example.com/a.mp4"},
    {"type": "file", "fileUrl": "https://example.com/a.pdf", "title": "A"},
    {"type": "location", "latitude": 45.5, "longitude": -73.6, "address": "Montréal", "title": "Here"},
    {
        "type": "card",
        "title": "Card",
        "subtitle": "Sub",
        "imageUrl": "https://example.com/c.png",
        "actions": [{"action": "url", "label": "Go", "value": "https://example.com"}],
    },
    {"type": "choice", "text": "Pick", "options": [{"label": "A", "value": "a"}]},
    {"type": "dropdown", "text": "Pick", "options": [{"label": "B", "value": "b"}]},
    {
        "type": "bloc",
        "items": [{"type": "text", "text": "first"}, {"type": "image", "imageUrl": "https://example.com/b.png"}],
    },
]


def _runtime(payload: dict[str, Any], metadata: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The Runtime API's type and payload of a Chat API payload: the type outside, `metadata`
    inside, and each item of a bloc the same way."""
    fields = {key: value for key, value in payload.items() if key != "type"}
    if payload["type"] == "bloc":
        fields["items"] = [_item(item) for item in payload["items"]]
    if metadata is not None:
        fields["metadata"] = metadata
    return payload["type"], fields


def _item(item: dict[str, Any]) -> dict[str, Any]:
    kind, fields = _runtime(item)
    return {"type": kind, "payload": fields}


def test_every_message_type_reaches_the_bot_in_the_runtime_form(
    servers: ChatServers, shared: ChatInstall, recorder: Recorder
) -> None:
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    sent = []
    for n, payload in enumerate(PAYLOADS):
        body = {"conversationId": conversation, "payload": payload, "metadata": {"n": n}}
        message = ann.ok("POST", "/messages", body, status=201)["message"]
        assert (message["payload"], message["metadata"]) == (payload, {"n": n}), payload["type"]
        sent.append(message["id"])
    listed = ann.ok("GET", f"/conversations/{path_id(conversation)}/messages", params={"pageSize": 50})["messages"]
    assert [m["payload"] for m in reversed(listed)] == PAYLOADS

    def delivered() -> list[dict[str, Any]] | None:
        events = [c.body["event"] for c in list(recorder.calls) if c.headers.get("x-bp-type") == "message_created"]
        return events if len(events) == len(PAYLOADS) else None

    received = {e["messageId"]: e["payload"]["message"] for e in eventually(delivered, what="every message")}
    for n, (message_id, payload) in enumerate(zip(sent, PAYLOADS, strict=True)):
        kind, fields = _runtime(payload, {"n": n})
        assert (received[message_id]["type"], received[message_id]["payload"]) == (kind, fields), kind


def test_a_carousel_as_the_client_sends_it_is_accepted(servers: ChatServers, shared: ChatInstall) -> None:
    """The client's carousel items say `"type": "card"` (its types require it)."""
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    action = {"action": "say", "label": "One", "value": "one"}
    carousel = {"type": "carousel", "items": [{"type": "card", "title": "One", "actions": [action]}]}
    message = ann.ok("POST", "/messages", {"conversationId": conversation, "payload": carousel}, status=201)["message"]
    assert ann.ok("GET", f"/messages/{message['id']}")["message"]["payload"] == carousel


def test_a_payload_the_types_do_not_allow_is_invalid(servers: ChatServers, shared: ChatInstall) -> None:
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    for payload in ({"type": "text"}, {"type": "text", "text": ""}, {"type": "hologram", "text": "x"}, {"text": "x"}):
        ann.error(
            "POST", "/messages", {"conversationId": conversation, "payload": payload}, status=400, type="InvalidPayload"
        )


def test_the_bots_messages_reach_the_stream_flat_and_in_order(servers: ChatServers, shared: ChatInstall) -> None:
    """On PostgreSQL the stream is held by one process and the bot writes through the other."""
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    replies = PAYLOADS
    with _listen(servers.listen, shared, ann, conversation) as response:
        for n, payload in enumerate(replies):
            kind, fields = _runtime(payload, {"n": n})
            body = {
                "conversationId": conversation,
                "userId": shared.bot_id,
                "type": kind,
                "payload": fields,
                "tags": {},
            }
            shared.bot.ok("POST", "/v1/chat/messages", body, status=201)
        got = _take(response, len(replies))
    assert [s["type"] for s in got] == ["message_created"] * len(replies)
    assert [s["data"]["payload"] for s in got] == replies
    assert [s["data"]["metadata"] for s in got] == [{"n": n} for n in range(len(replies))]
    assert all(s["data"]["isBot"] is True and s["data"]["conversationId"] == conversation for s in got)


def test_signals_name_the_ids_the_client_chose(servers: ChatServers, shared: ChatInstall) -> None:
    tag = secrets.token_hex(3)
    ann = new_user(shared, servers.write, f"ann/{tag}")
    bob = new_user(shared, servers.write, f"bob/{tag}")
    room = f"room/{tag}"
    ann.ok("POST", "/conversations", {"id": room}, status=201)
    ann.ok("POST", f"/conversations/{path_id(room)}/participants", {"userId": f"bob/{tag}"})
    with _listen(servers.listen, shared, ann, room) as response:
        message = say(bob, room, "hi")
        event = bob.ok("POST", "/events", {"conversationId": room, "payload": {"k": 1}}, status=201)["event"]
        bob.ok("DELETE", f"/messages/{message['id']}", {})
        ann.ok("DELETE", f"/conversations/{path_id(room)}/participants/{path_id(f'bob/{tag}')}", {})
        ann.ok("POST", f"/conversations/{path_id(room)}/participants", {"userId": f"bob/{tag}"})
        got = _take(response, 5)
    assert [(s["type"], s["data"]["conversationId"]) for s in got] == [
        ("message_created", room),
        ("event_created", room),
        ("message_deleted", room),
        ("participant_removed", room),
        ("participant_added", room),
    ]
    assert (got[0]["data"]["userId"], got[0]["data"]["id"]) == (f"bob/{tag}", message["id"])
    assert (got[1]["data"]["userId"], got[1]["data"]["id"], got[1]["data"]["isBot"]) == (
        f"bob/{tag}",
        event["id"],
        False,
    )
    assert (got[2]["data"]["userId"], got[2]["data"]["id"]) == (f"bob/{tag}", message["id"])
    assert got[3]["data"]["participantId"] == got[4]["data"]["participantId"] == f"bob/{tag}"


def test_the_owner_cannot_be_removed(servers: ChatServers, shared: ChatInstall) -> None:
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    path = f"/conversations/{path_id(conversation)}/participants/{path_id(me(ann))}"
    ann.error("DELETE", path, {}, type="InvalidPayload", status=400)
    assert ann.ok("GET", path)["participant"]["id"] == me(ann)


def test_a_deleted_user_frees_the_id_he_chose(servers: ChatServers, shared: ChatInstall) -> None:
    chosen = f"ann-{secrets.token_hex(3)}"
    ann = new_user(shared, servers.write, chosen)
    ChatApi(shared.api_url(servers.write)).error("POST", "/users", {"id": chosen}, type="AlreadyExists", status=409)
    ann.ok("DELETE", "/users/me", {})
    assert me(new_user(shared, servers.write, chosen)) == chosen


def test_the_bot_sees_the_chat_tags(servers: ChatServers, shared: ChatInstall, recorder: Recorder) -> None:
    tag = secrets.token_hex(3)
    ann = new_user(shared, servers.write, f"ann-{tag}")
    ann.ok("PUT", "/users/me", {"profile": "likes tea"})
    ann.ok("POST", "/conversations", {"id": f"room-{tag}"}, status=201)
    say(ann, f"room-{tag}", "hi")

    def delivered() -> dict[str, Any] | None:
        found = [c.body["event"] for c in list(recorder.calls) if c.headers.get("x-bp-type") == "message_created"]
        return found[0] if found else None

    event = eventually(delivered, what="the message reached the bot")
    conversation = shared.bot.ok("GET", f"/v1/chat/conversations/{event['conversationId']}")["conversation"]
    user = shared.bot.ok("GET", f"/v1/chat/users/{event['userId']}")["user"]
    assert (conversation["integration"], conversation["channel"]) == ("chat", "channel")
    assert conversation["tags"] == {"chat:owner": user["id"], "chat:fid": f"room-{tag}"}
    assert user["tags"] == {"chat:fid": f"ann-{tag}", "chat:profile": "likes tea"}


def test_signals_are_posted_to_the_configured_webhook(servers: ChatServers, admin: Api, recorder: Recorder) -> None:
    with Recorder() as webhook:
        install = install_chat(
            admin, recorder.url, configuration={"webhookUrl": webhook.url, "webhookSecret": "s3cret"}
        )
        ann = new_user(install, servers.write)
        conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
        message = say(ann, conversation, "hi")
        [call] = eventually(lambda: list(webhook.calls), what="the signal reached the webhook")
    assert call.headers["x-secret-key"] == "s3cret"
    assert call.body["type"] == "message_created"
    assert (call.body["data"]["id"], call.body["data"]["isBot"]) == (message["id"], False)


def test_an_idle_stream_is_kept_alive(servers: ChatServers, shared: ChatInstall) -> None:
    """A keep-alive is `ping` as a `message` event (the servers here send one every second)."""
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    started = time.monotonic()
    with _listen(servers.listen, shared, ann, conversation) as response:
        name, signal = next(_signals(response))
    assert (name, signal) == ("message", "ping")
    assert time.monotonic() - started < 5


def _open_streams(server: Server) -> float | None:
    """The server's count of open Chat API streams, from /metrics; None when it reports none."""
    samples = [
        line.split()[-1]
        for line in httpx.get(f"{server.url}/metrics").text.splitlines()
        if line.startswith("parley_chat_streams")
    ]
    return sum(float(value) for value in samples) if samples else None


def test_a_stream_whose_client_vanished_is_released(servers: ChatServers, shared: ChatInstall) -> None:
    """A client that goes away without a word (its process killed) leaves nothing open."""
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {}, status=201)["conversation"]["id"]
    before = _open_streams(servers.listen)
    if before is None:
        pytest.skip("the server reports no parley_chat_streams in /metrics: cannot count its open streams")
    url = httpx.URL(f"{shared.api_url(servers.listen)}/conversations/{path_id(conversation)}/listen")
    request = (
        f"GET {url.raw_path.decode()} HTTP/1.1\r\nhost: {url.host}:{url.port}\r\n"
        f"x-user-key: {ann.key}\r\naccept: text/event-stream\r\n\r\n"
    )
    for _ in range(3):
        with socket.create_connection((url.host, url.port or 80), timeout=10) as sock:
            sock.sendall(request.encode())
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            assert eventually(lambda: _open_streams(servers.listen) == before + 1 or None, what="the stream counted")
        # The socket is closed here, without reading on: the server must notice and let go.
        eventually(lambda: _open_streams(servers.listen) == before or None, what="the stream released")
    # The conversation goes on for the others.
    with _listen(servers.listen, shared, ann, conversation) as response:
        say(ann, conversation, "still here")
        [signal] = _take(response, 1)
    assert signal["data"]["payload"] == {"type": "text", "text": "still here"}


def test_get_or_create_user_updates_the_user_it_finds(servers: ChatServers, personal: ChatInstall) -> None:
    assert personal.encryption_key is not None
    chosen = f"ann-{secrets.token_hex(3)}"
    ann = ChatApi(personal.api_url(servers.write), user_key(personal.encryption_key, {"id": chosen}))
    ann.error("GET", "/users/me", type="ResourceNotFound", status=404)
    first = ann.ok("POST", "/users/get-or-create", {"name": "Ann"}, status=201)["user"]
    again = ann.ok("POST", "/users/get-or-create", {"name": "Ann B.", "profile": "p"}, status=201)["user"]
    assert (first["id"], again["id"], again["name"], again["profile"]) == (chosen, chosen, "Ann B.", "p")
    assert ann.ok("GET", "/users/me")["user"]["name"] == "Ann B."
    ann.error("PUT", "/users/me", {"profile": "p" * 1001}, type="InvalidPayload", status=400)
    assert ann.ok("PUT", "/users/me", {"profile": "p" * 1000})["user"]["profile"] == "p" * 1000


def test_unknown_ids_are_not_found(servers: ChatServers, shared: ChatInstall) -> None:
    ann = new_user(shared, servers.write)
    unknown = f"unknown-{secrets.token_hex(3)}"
    for method, path, body in (
        ("GET", f"/conversations/{unknown}", None),
        ("DELETE", f"/conversations/{unknown}", {}),
        ("GET", f"/conversations/{unknown}/messages", None),
        ("GET", f"/conversations/{unknown}/participants", None),
        ("POST", "/messages", {"conversationId": unknown, "payload": {"type": "text", "text": "x"}}),
        ("POST", "/events", {"conversationId": unknown, "payload": {}}),
        ("GET", f"/messages/{unknown}", None),
        ("DELETE", f"/messages/{unknown}", {}),
        ("GET", f"/events/{unknown}", None),
    ):
        ann.error(method, path, body, type="ResourceNotFound", status=404)
    with _listen(servers.listen, shared, ann, unknown) as response:
        assert response.status_code == 404


def test_deleting_a_conversation_deletes_its_messages(servers: ChatServers, shared: ChatInstall) -> None:
    ann = new_user(shared, servers.write)
    conversation = ann.ok("POST", "/conversations", {"id": f"room-{secrets.token_hex(3)}"}, status=201)["conversation"]
    message = say(ann, conversation["id"], "hi")
    ann.ok("DELETE", f"/conversations/{path_id(conversation['id'])}", {})
    ann.error("GET", f"/messages/{message['id']}", type="ResourceNotFound", status=404)
