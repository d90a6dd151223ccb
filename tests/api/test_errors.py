"""Bad input of every kind gets the contract's error, and a rejected request changes nothing.

Each case breaks one valid request (`test_the_requests_the_cases_start_from_are_accepted` proves
those valid) in exactly one way, asserts the error body `{id, code, type, message}` with the type
and status of RUNTIME-SEMANTICS.md section 3, and compares a dump of every table taken before and
after the request.

The cases share one world per database dialect (two bots, an installed integration, users,
conversations and messages): every request here is rejected, so none can disturb another.
"""

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from _pytest.mark.structures import ParameterSet

from tests.conftest import install, make_bot
from tests.harness import Api, Server

# Well-formed ids (a prefix and a 26-character ULID) that name nothing.
GHOST_USER = "user_01HF58RDKE3M7K5RJ5XZ7GF6HE"
GHOST_CONVERSATION = "conv_01HF58RDKE3M7K5RJ5XZ7GF6HE"
GHOST_MESSAGE = "msg_01HF58RDKE3M7K5RJ5XZ7GF6HE"
GHOST_BOT = "bot_01HF58RDKE3M7K5RJ5XZ7GF6HE"
ID_27 = "user_" + "0" * 22
ID_37 = "user_" + "0" * 32
DATE_TIME_23 = "2024-05-01T12:00:00.000"  # a date-time, one character short of 24
DATE_TIME_29 = "2024-05-01T12:00:00.000+00:00"  # a date-time, one character over 28
MAX_BODY_BYTES = 16 * 1024 * 1024  # PARLEY_MAX_BODY_BYTES, left at its default by the fixtures
MAX_PAYLOAD_BYTES = 128 * 1024

# Valid requests the cases below break in exactly one way.
NEW_USER: dict[str, Any] = {"tags": {"email": "new@example.com"}, "name": "Ann", "pictureUrl": "https://x.test/a.png"}
GET_OR_CREATE_USER: dict[str, Any] = {**NEW_USER, "discriminateByTags": ["email"]}
USER_UPDATE: dict[str, Any] = {"tags": {"crmId": "42"}, "name": "Ann B.", "pictureUrl": None}
NEW_CONVERSATION: dict[str, Any] = {"channel": "web", "tags": {"topic": "billing"}}
GET_OR_CREATE_CONVERSATION: dict[str, Any] = {**NEW_CONVERSATION, "discriminateByTags": ["topic"]}
CONVERSATION_UPDATE: dict[str, Any] = {"tags": {"priority": "high"}}
NEW_PARTICIPANT: dict[str, Any] = {"userId": "$user"}
NEW_MESSAGE: dict[str, Any] = {
    "payload": {"text": "hello"},
    "userId": "$user",
    "conversationId": "$conversation",
    "type": "text",
    "tags": {"externalId": "new-1"},
}
GET_OR_CREATE_MESSAGE: dict[str, Any] = {**NEW_MESSAGE, "discriminateByTags": ["externalId"]}
MESSAGE_UPDATE: dict[str, Any] = {"tags": {"kind": "note"}, "payload": {"text": "edited"}}
SCHEDULED_MESSAGE: dict[str, Any] = {**NEW_MESSAGE, "schedule": {"dateTime": "2030-01-01T00:00:00.000Z"}}
# The same, from the integration installed as `chat`, in its own conversations.
CHAT_USER: dict[str, Any] = {"tags": {"id": "U2", "handle": "ann"}, "name": "Ann"}
GET_OR_CREATE_CHAT_USER: dict[str, Any] = {**CHAT_USER, "discriminateByTags": ["id"]}
CHAT_CONVERSATION: dict[str, Any] = {"channel": "channel", "tags": {"id": "C2", "thread": "T1"}}
GET_OR_CREATE_CHAT_CONVERSATION: dict[str, Any] = {**CHAT_CONVERSATION, "discriminateByTags": ["id"]}
CHAT_MESSAGE: dict[str, Any] = {
    "payload": {"text": "hello"},
    "userId": "$chat_user",
    "conversationId": "$chat_conversation",
    "type": "text",
    "tags": {"id": "M2", "threadTs": "1"},
}
GET_OR_CREATE_CHAT_MESSAGE: dict[str, Any] = {**CHAT_MESSAGE, "discriminateByTags": ["id"]}

USERS = "/v1/chat/users"
CONVERSATIONS = "/v1/chat/conversations"
MESSAGES = "/v1/chat/messages"
PARTICIPANTS = "/v1/chat/conversations/$conversation/participants"


def edit(base: Mapping[str, Any], *, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """`base` without the `drop` fields and with `changes` set."""
    body = {key: value for key, value in base.items() if key not in drop}
    body.update(changes)
    return body


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Call:
    """One request. `$name` in the path, body, query and headers stands for `World.values[name]`.

    `headers`, when given, replace the caller's own (no Authorization unless listed)."""

    caller: str
    method: str
    path: str
    body: Any = None
    params: Mapping[str, str] | None = None
    content: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] | None = None


def call(case_id: str, caller: str, method: str, path: str, body: Any = None, **options: Any) -> ParameterSet:
    return pytest.param(Call(caller, method, path, body, **options), id=case_id)


@dataclass
class World:
    server: Server
    callers: dict[str, Api]
    values: dict[str, str] = field(default_factory=dict)

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\$([a-z_]+)", lambda match: self.values[match.group(1)], value)
        if isinstance(value, dict):
            return {self.fill(key): self.fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        return value

    def api(self, request: Call) -> Api:
        if request.headers is None:
            return self.callers[request.caller]
        api = Api(self.server, "unused")
        del api.http.headers["authorization"]
        api.http.headers.update(self.fill(dict(request.headers)))
        return api

    def send_error(self, request: Call, *, type: str, status: int) -> dict[str, Any]:
        """Sends `request`, asserts the contract error, and that the database did not change."""
        kwargs: dict[str, Any] = {}
        if request.params is not None:
            kwargs["params"] = self.fill(dict(request.params))
        if request.content is not None:
            kwargs["content"] = request.content
        if request.content_type is not None:
            kwargs["headers"] = {"content-type": request.content_type}
        api = self.api(request)
        before = self.server.snapshot()
        try:
            error: dict[str, Any] = api.error(
                request.method, self.fill(request.path), self.fill(request.body), type=type, status=status, **kwargs
            )
        finally:
            if api is not self.callers[request.caller]:
                api.http.close()
        assert self.server.snapshot() == before, f"{request.method} {request.path} was rejected but changed data"
        return error


@pytest.fixture(scope="module")
def world(server: Server) -> Iterator[World]:
    """Two bots; `bot` has the integration `chat` installed (and a disabled one, `off`); each has
    users, conversations and messages, and `chat` has its own in `bot`."""
    admin = Api(server, server.admin_token)
    bot = make_bot(admin)
    chat = install(admin, bot, alias="chat")
    off = install(admin, bot, alias="off")
    admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {"off": {"enabled": False}}})
    other = make_bot(admin)
    elsewhere = install(admin, other, alias="chat")
    revoked = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot.id, "note": "revoked"})
    admin.ok("DELETE", f"/v1/admin/bots/baks/{revoked['id']}")

    def create(api: Api, path: str, body: dict[str, Any], name: str) -> str:
        created: str = api.ok("POST", path, body, status=201)[name]["id"]
        return created

    user = create(bot.api, USERS, {"tags": {"email": "world@example.com"}}, "user")
    conversation = create(bot.api, CONVERSATIONS, {"channel": "web", "tags": {"topic": "world"}}, "conversation")
    message_body = {"payload": {"text": "hi"}, "userId": user, "conversationId": conversation, "type": "text"}
    chat_user = create(chat.api, USERS, {"tags": {"id": "U1"}}, "user")
    chat_conversation = create(chat.api, CONVERSATIONS, {"channel": "channel", "tags": {"id": "C1"}}, "conversation")
    other_user = create(other.api, USERS, {"tags": {}}, "user")
    other_conversation = create(other.api, CONVERSATIONS, {"channel": "web", "tags": {}}, "conversation")
    values = {
        "admin_token": server.admin_token,
        "bot": bot.id,
        "bot_key": bot.api.token,
        "revoked_key": revoked["value"],
        "mistyped_key": bot.api.token[:-1] + ("A" if bot.api.token[-1] != "A" else "B"),
        "chat_integration": chat.id,
        "chat_key": chat.api.token,
        "off_integration": off.id,
        "off_key": off.api.token,
        "other_bot": other.id,
        "other_key": other.api.token,
        "elsewhere_integration": elsewhere.id,
        "elsewhere_key": elsewhere.api.token,
        "user": user,
        "loner": create(bot.api, USERS, {"tags": {}}, "user"),
        "conversation": conversation,
        "conversation_two": create(bot.api, CONVERSATIONS, {"channel": "web", "tags": {}}, "conversation"),
        "message": create(bot.api, MESSAGES, {**message_body, "tags": {"externalId": "world-1"}}, "message"),
        "chat_user": chat_user,
        "chat_conversation": chat_conversation,
        "chat_dm": create(chat.api, CONVERSATIONS, {"channel": "dm", "tags": {"id": "D1"}}, "conversation"),
        "chat_message": create(
            chat.api,
            MESSAGES,
            {**message_body, "userId": chat_user, "conversationId": chat_conversation, "tags": {"id": "M1"}},
            "message",
        ),
        "other_user": other_user,
        "other_conversation": other_conversation,
        "other_message": create(
            other.api,
            MESSAGES,
            {**message_body, "userId": other_user, "conversationId": other_conversation, "tags": {}},
            "message",
        ),
        "ghost_user": GHOST_USER,
        "ghost_conversation": GHOST_CONVERSATION,
        "ghost_message": GHOST_MESSAGE,
        "ghost_bot": GHOST_BOT,
    }
    callers = {"admin": admin, "bot": bot.api, "chat": chat.api, "other": other.api}
    yield World(server, callers, values)
    for api in callers.values():
        api.http.close()


# The valid requests every case starts from.

VALID_REQUESTS = [
    call("create user", "bot", "POST", USERS, NEW_USER),
    call("get-or-create user", "bot", "POST", f"{USERS}/get-or-create", GET_OR_CREATE_USER),
    call("update user", "bot", "PUT", f"{USERS}/$user", USER_UPDATE),
    call("create conversation", "bot", "POST", CONVERSATIONS, NEW_CONVERSATION),
    call("get-or-create conversation", "bot", "POST", f"{CONVERSATIONS}/get-or-create", GET_OR_CREATE_CONVERSATION),
    call("update conversation", "bot", "PUT", f"{CONVERSATIONS}/$conversation", CONVERSATION_UPDATE),
    call("add participant", "bot", "POST", PARTICIPANTS, NEW_PARTICIPANT),
    call("create message", "bot", "POST", MESSAGES, NEW_MESSAGE),
    call("create scheduled message", "bot", "POST", MESSAGES, SCHEDULED_MESSAGE),
    call("get-or-create message", "bot", "POST", f"{MESSAGES}/get-or-create", GET_OR_CREATE_MESSAGE),
    call("update message", "bot", "PUT", f"{MESSAGES}/$message", MESSAGE_UPDATE),
    call("integration creates user", "chat", "POST", USERS, CHAT_USER),
    call("integration get-or-creates user", "chat", "POST", f"{USERS}/get-or-create", GET_OR_CREATE_CHAT_USER),
    call("integration creates conversation", "chat", "POST", CONVERSATIONS, CHAT_CONVERSATION),
    call(
        "integration get-or-creates conversation",
        "chat",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        GET_OR_CREATE_CHAT_CONVERSATION,
    ),
    call("integration creates message", "chat", "POST", MESSAGES, CHAT_MESSAGE),
    call("integration get-or-creates message", "chat", "POST", f"{MESSAGES}/get-or-create", GET_OR_CREATE_CHAT_MESSAGE),
]


@pytest.mark.parametrize("request_", VALID_REQUESTS)
def test_the_requests_the_cases_start_from_are_accepted(world: World, request_: Call) -> None:
    response = world.api(request_).call(request_.method, world.fill(request_.path), world.fill(request_.body))
    assert response.status_code in (200, 201), response.text


# Bodies that break the request schema: InvalidPayload.

SCHEMA_VIOLATIONS = [
    # missing required fields
    call("create user without tags", "bot", "POST", USERS, edit(NEW_USER, drop=("tags",))),
    call("get-or-create user without tags", "bot", "POST", f"{USERS}/get-or-create", {"name": "Ann"}),
    call(
        "create conversation without channel", "bot", "POST", CONVERSATIONS, edit(NEW_CONVERSATION, drop=("channel",))
    ),
    call("create conversation without tags", "bot", "POST", CONVERSATIONS, edit(NEW_CONVERSATION, drop=("tags",))),
    call(
        "get-or-create conversation without channel",
        "bot",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CONVERSATION, drop=("channel",)),
    ),
    call("add participant without userId", "bot", "POST", PARTICIPANTS, {}),
    call("create message without payload", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, drop=("payload",))),
    call("create message without userId", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, drop=("userId",))),
    call("create message without conversationId", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, drop=("conversationId",))),
    call("create message without type", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, drop=("type",))),
    call("create message without tags", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, drop=("tags",))),
    call(
        "get-or-create message without conversationId",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, drop=("conversationId",)),
    ),
    call(
        "get-or-create message without type",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, drop=("type",)),
    ),
    # wrong types
    call("create user with tags as a string", "bot", "POST", USERS, edit(NEW_USER, tags="email")),
    call("create user with tags as an array", "bot", "POST", USERS, edit(NEW_USER, tags=["email"])),
    call("create user with tags as a number", "bot", "POST", USERS, edit(NEW_USER, tags=5)),
    call("create user with a numeric tag value", "bot", "POST", USERS, edit(NEW_USER, tags={"email": 5})),
    call("create user with an object tag value", "bot", "POST", USERS, edit(NEW_USER, tags={"email": {"v": "a"}})),
    call("create user with a numeric name", "bot", "POST", USERS, edit(NEW_USER, name=5)),
    call("create user with a boolean pictureUrl", "bot", "POST", USERS, edit(NEW_USER, pictureUrl=True)),
    call(
        "get-or-create user with discriminateByTags as a string",
        "bot",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_USER, discriminateByTags="email"),
    ),
    call(
        "get-or-create user with a numeric discriminateByTags item",
        "bot",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_USER, discriminateByTags=[5]),
    ),
    call("update user with tags as an array", "bot", "PUT", f"{USERS}/$user", edit(USER_UPDATE, tags=["crmId"])),
    call("update user with a numeric name", "bot", "PUT", f"{USERS}/$user", edit(USER_UPDATE, name=5)),
    call("create conversation with a numeric channel", "bot", "POST", CONVERSATIONS, edit(NEW_CONVERSATION, channel=5)),
    call("create conversation with tags as an array", "bot", "POST", CONVERSATIONS, edit(NEW_CONVERSATION, tags=[])),
    call(
        "get-or-create conversation with discriminateByTags as an object",
        "bot",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CONVERSATION, discriminateByTags={"topic": True}),
    ),
    call(
        "update conversation with tags as a string",
        "bot",
        "PUT",
        f"{CONVERSATIONS}/$conversation",
        edit(CONVERSATION_UPDATE, tags="priority=high"),
    ),
    call(
        "update conversation with a numeric currentTaskId",
        "bot",
        "PUT",
        f"{CONVERSATIONS}/$conversation",
        edit(CONVERSATION_UPDATE, currentTaskId=7),
    ),
    call("add participant with a numeric userId", "bot", "POST", PARTICIPANTS, {"userId": 12345}),
    call("create message with payload as a string", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, payload="hello")),
    call("create message with payload as an array", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, payload=["hello"])),
    call("create message with a numeric type", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, type=1)),
    call("create message with a numeric userId", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, userId=1)),
    call("create message with tags as an array", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, tags=[])),
    call("create message with schedule as a string", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, schedule="soon")),
    call(
        "create message with a string delay",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, schedule={"delay": "1000"}),
    ),
    call("create message with an unknown origin", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, origin="human")),
    call(
        "update message with payload as a string",
        "bot",
        "PUT",
        f"{MESSAGES}/$message",
        edit(MESSAGE_UPDATE, payload="edited"),
    ),
    # null where the contract does not allow it
    call("create user with null tags", "bot", "POST", USERS, edit(NEW_USER, tags=None)),
    call("create conversation with a null channel", "bot", "POST", CONVERSATIONS, edit(NEW_CONVERSATION, channel=None)),
    call("create conversation with null tags", "bot", "POST", CONVERSATIONS, edit(NEW_CONVERSATION, tags=None)),
    call("add participant with a null userId", "bot", "POST", PARTICIPANTS, {"userId": None}),
    call("create message with a null payload", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, payload=None)),
    call("create message with a null userId", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, userId=None)),
    call("create message with a null conversationId", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, conversationId=None)),
    call("create message with a null type", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, type=None)),
    call("create message with null tags", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, tags=None)),
    # unknown body fields
    call("create user with an unknown field", "bot", "POST", USERS, edit(NEW_USER, nickname="annie")),
    call(
        "get-or-create user with an unknown field",
        "bot",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_USER, id="$user"),
    ),
    call("update user with an unknown field", "bot", "PUT", f"{USERS}/$user", edit(USER_UPDATE, id="$loner")),
    call(
        "create conversation with an unknown field",
        "bot",
        "POST",
        CONVERSATIONS,
        edit(NEW_CONVERSATION, integration="chat"),
    ),
    call(
        "update conversation with an unknown field",
        "bot",
        "PUT",
        f"{CONVERSATIONS}/$conversation",
        edit(CONVERSATION_UPDATE, channel="web"),
    ),
    call("add participant with an unknown field", "bot", "POST", PARTICIPANTS, {"userId": "$user", "role": "admin"}),
    call("create message with an unknown field", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, direction="incoming")),
    call(
        "create message with an unknown schedule field",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, schedule={"at": "2030-01-01T00:00:00.000Z"}),
    ),
    call(
        "get-or-create message with an unknown field",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, createdAt="2024-05-01T12:00:00.000Z"),
    ),
    call(
        "update message with an unknown field", "bot", "PUT", f"{MESSAGES}/$message", edit(MESSAGE_UPDATE, type="text")
    ),
    # strings over their limits
    call("create user with a 501-character tag value", "bot", "POST", USERS, edit(NEW_USER, tags={"email": "x" * 501})),
    call("create user with a 201-character name", "bot", "POST", USERS, edit(NEW_USER, name="x" * 201)),
    call(
        "create user with a 40001-character pictureUrl",
        "bot",
        "POST",
        USERS,
        edit(NEW_USER, pictureUrl="https://x.test/" + "x" * (40001 - 15)),
    ),
    call(
        "create user with a 201-character integrationName",
        "bot",
        "POST",
        USERS,
        edit(NEW_USER, integrationName="x" * 201),
    ),
    call(
        "get-or-create user with a 501-character tag value",
        "bot",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_USER, tags={"email": "x" * 501}),
    ),
    call(
        "get-or-create user with a 201-character name",
        "bot",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_USER, name="x" * 201),
    ),
    call(
        "get-or-create user with a 501-character discriminateByTags item",
        "bot",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_USER, discriminateByTags=["x" * 501]),
    ),
    call(
        "update user with a 501-character tag value",
        "bot",
        "PUT",
        f"{USERS}/$user",
        edit(USER_UPDATE, tags={"crmId": "x" * 501}),
    ),
    call("update user with a 201-character name", "bot", "PUT", f"{USERS}/$user", edit(USER_UPDATE, name="x" * 201)),
    call(
        "update user with a 40001-character pictureUrl",
        "bot",
        "PUT",
        f"{USERS}/$user",
        edit(USER_UPDATE, pictureUrl="x" * 40001),
    ),
    call(
        "create conversation with a 201-character channel",
        "bot",
        "POST",
        CONVERSATIONS,
        edit(NEW_CONVERSATION, channel="x" * 201),
    ),
    call(
        "create conversation with a 501-character tag value",
        "bot",
        "POST",
        CONVERSATIONS,
        edit(NEW_CONVERSATION, tags={"topic": "x" * 501}),
    ),
    call(
        "get-or-create conversation with a 201-character channel",
        "bot",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CONVERSATION, channel="x" * 201),
    ),
    call(
        "get-or-create conversation with a 501-character tag value",
        "bot",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CONVERSATION, tags={"topic": "x" * 501}),
    ),
    call("create message with a 201-character type", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, type="x" * 201)),
    call(
        "create message with a 501-character tag value",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, tags={"externalId": "x" * 501}),
    ),
    call(
        "get-or-create message with a 201-character type",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, type="x" * 201),
    ),
    call(
        "get-or-create message with a 501-character tag value",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, tags={"externalId": "x" * 501}),
    ),
    # ids outside 28-36 characters
    call("create message with a 27-character userId", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, userId=ID_27)),
    call("create message with a 37-character userId", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, userId=ID_37)),
    call(
        "create message with a 27-character conversationId",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, conversationId=ID_27),
    ),
    call(
        "create message with a 37-character conversationId",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, conversationId=ID_37),
    ),
    call(
        "get-or-create message with a 27-character userId",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, userId=ID_27),
    ),
    call(
        "get-or-create message with a 37-character conversationId",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, conversationId=ID_37),
    ),
    call("add participant with a 27-character userId", "bot", "POST", PARTICIPANTS, {"userId": ID_27}),
    call("add participant with a 37-character userId", "bot", "POST", PARTICIPANTS, {"userId": ID_37}),
    # schedule.dateTime outside 24-28 characters
    call(
        "create message with a 23-character schedule.dateTime",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, schedule={"dateTime": DATE_TIME_23}),
    ),
    call(
        "create message with a 29-character schedule.dateTime",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, schedule={"dateTime": DATE_TIME_29}),
    ),
    call(
        "get-or-create message with a 23-character schedule.dateTime",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, schedule={"dateTime": DATE_TIME_23}),
    ),
    # the same rules hold for integration callers
    call("integration creates user without tags", "chat", "POST", USERS, edit(CHAT_USER, drop=("tags",))),
    call(
        "integration creates conversation with a 201-character channel",
        "chat",
        "POST",
        CONVERSATIONS,
        edit(CHAT_CONVERSATION, channel="x" * 201),
    ),
    call(
        "integration creates message with a 501-character tag value",
        "chat",
        "POST",
        MESSAGES,
        edit(CHAT_MESSAGE, tags={"id": "x" * 501}),
    ),
    call(
        "integration creates message with an unknown field",
        "chat",
        "POST",
        MESSAGES,
        edit(CHAT_MESSAGE, direction="outgoing"),
    ),
]


@pytest.mark.parametrize("request_", SCHEMA_VIOLATIONS)
def test_body_breaking_the_request_schema_is_invalid_payload_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="InvalidPayload", status=400)


# Tags: only keys the bot (or, for integration callers, the integration) declares.

UNDECLARED_TAGS = [
    # bot callers
    call("bot creates user with an undeclared tag", "bot", "POST", USERS, edit(NEW_USER, tags={"nickname": "annie"})),
    call(
        "bot creates user with a conversation tag",
        "bot",
        "POST",
        USERS,
        edit(NEW_USER, tags={"topic": "billing"}),
    ),
    call(
        "bot creates user with a tag the installed integration does not declare",
        "bot",
        "POST",
        USERS,
        edit(NEW_USER, tags={"chat:nickname": "annie"}),
    ),
    call(
        "bot creates user with a tag of an alias nothing is installed as",
        "bot",
        "POST",
        USERS,
        edit(NEW_USER, tags={"ghost:id": "1"}),
    ),
    call(
        "bot get-or-creates user with an undeclared tag",
        "bot",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_USER, tags={"email": "a@x.test", "nickname": "annie"}),
    ),
    call(
        "bot get-or-creates user discriminating by an undeclared tag",
        "bot",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_USER, discriminateByTags=["nickname"]),
    ),
    call(
        "bot updates user with an undeclared tag",
        "bot",
        "PUT",
        f"{USERS}/$user",
        edit(USER_UPDATE, tags={"nickname": "annie"}),
    ),
    call(
        "bot removes an undeclared user tag",
        "bot",
        "PUT",
        f"{USERS}/$user",
        edit(USER_UPDATE, tags={"nickname": ""}),
    ),
    call(
        "bot creates conversation with a user tag",
        "bot",
        "POST",
        CONVERSATIONS,
        edit(NEW_CONVERSATION, tags={"email": "a@x.test"}),
    ),
    call(
        "bot get-or-creates conversation with an undeclared tag",
        "bot",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CONVERSATION, tags={"topic": "billing", "mood": "calm"}),
    ),
    call(
        "bot get-or-creates conversation discriminating by an undeclared tag",
        "bot",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CONVERSATION, discriminateByTags=["mood"]),
    ),
    call(
        "bot updates conversation with an undeclared tag",
        "bot",
        "PUT",
        f"{CONVERSATIONS}/$conversation",
        edit(CONVERSATION_UPDATE, tags={"mood": "calm"}),
    ),
    call(
        "bot creates message with an undeclared tag",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, tags={"externalId": "x", "mood": "calm"}),
    ),
    call(
        "bot creates message with a conversation tag",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, tags={"topic": "billing"}),
    ),
    call(
        "bot get-or-creates message with an undeclared tag",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, tags={"mood": "calm"}),
    ),
    call(
        "bot get-or-creates message discriminating by an undeclared tag",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, discriminateByTags=["mood"]),
    ),
    call(
        "bot updates message with an undeclared tag",
        "bot",
        "PUT",
        f"{MESSAGES}/$message",
        edit(MESSAGE_UPDATE, tags={"mood": "calm"}),
    ),
    # integration callers
    call(
        "integration creates user with a tag only the bot declares",
        "chat",
        "POST",
        USERS,
        edit(CHAT_USER, tags={"email": "a@x.test"}),
    ),
    call(
        "integration creates user with the prefixed form of an undeclared tag",
        "chat",
        "POST",
        USERS,
        edit(CHAT_USER, tags={"chat:email": "a@x.test"}),
    ),
    call(
        "integration get-or-creates user with an undeclared tag",
        "chat",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_CHAT_USER, tags={"id": "U3", "email": "a@x.test"}),
    ),
    call(
        "integration get-or-creates user discriminating by an undeclared tag",
        "chat",
        "POST",
        f"{USERS}/get-or-create",
        edit(GET_OR_CREATE_CHAT_USER, discriminateByTags=["email"]),
    ),
    call(
        "integration updates user with an undeclared tag",
        "chat",
        "PUT",
        f"{USERS}/$chat_user",
        {"tags": {"email": "a@x.test"}},
    ),
    call(
        "integration creates conversation with a tag its channel does not declare",
        "chat",
        "POST",
        CONVERSATIONS,
        {"channel": "dm", "tags": {"id": "D2", "thread": "T1"}},
    ),
    call(
        "integration get-or-creates conversation with an undeclared tag",
        "chat",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CHAT_CONVERSATION, tags={"id": "C3", "topic": "billing"}),
    ),
    call(
        "integration get-or-creates conversation discriminating by an undeclared tag",
        "chat",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CHAT_CONVERSATION, discriminateByTags=["topic"]),
    ),
    call(
        "integration updates conversation with an undeclared tag",
        "chat",
        "PUT",
        f"{CONVERSATIONS}/$chat_conversation",
        {"tags": {"topic": "billing"}},
    ),
    call(
        "integration updates conversation with a tag its channel does not declare",
        "chat",
        "PUT",
        f"{CONVERSATIONS}/$chat_dm",
        {"tags": {"thread": "T1"}},
    ),
    call(
        "integration creates message with a tag only the bot declares",
        "chat",
        "POST",
        MESSAGES,
        edit(CHAT_MESSAGE, tags={"externalId": "x"}),
    ),
    call(
        "integration creates message with a tag its channel does not declare",
        "chat",
        "POST",
        MESSAGES,
        edit(CHAT_MESSAGE, conversationId="$chat_dm", tags={"id": "M3"}),
    ),
    call(
        "integration get-or-creates message with an undeclared tag",
        "chat",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_CHAT_MESSAGE, tags={"id": "M4", "kind": "note"}),
    ),
    call(
        "integration get-or-creates message discriminating by an undeclared tag",
        "chat",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_CHAT_MESSAGE, discriminateByTags=["kind"]),
    ),
    call(
        "integration updates message with an undeclared tag",
        "chat",
        "PUT",
        f"{MESSAGES}/$chat_message",
        {"tags": {"kind": "note"}},
    ),
]


@pytest.mark.parametrize("request_", UNDECLARED_TAGS)
def test_undeclared_tag_key_is_invalid_payload_and_changes_nothing(world: World, request_: Call) -> None:
    error = world.send_error(request_, type="InvalidPayload", status=400)
    assert "not declared" in error["message"]


CHANNEL_AND_INTEGRATION_NAMES = [
    call(
        "integration creates conversation on a channel it does not declare",
        "chat",
        "POST",
        CONVERSATIONS,
        edit(CHAT_CONVERSATION, channel="email"),
    ),
    call(
        "integration get-or-creates conversation on a channel it does not declare",
        "chat",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        edit(GET_OR_CREATE_CHAT_CONVERSATION, channel="email"),
    ),
    call(
        "bot creates conversation for an integration that is not installed",
        "bot",
        "POST",
        CONVERSATIONS,
        edit(NEW_CONVERSATION, integrationName="ghost"),
    ),
    call(
        "bot creates conversation on a channel the named integration does not declare",
        "bot",
        "POST",
        CONVERSATIONS,
        {"channel": "email", "tags": {}, "integrationName": "chat"},
    ),
    call(
        "bot creates user for an integration that is not installed",
        "bot",
        "POST",
        USERS,
        edit(NEW_USER, integrationName="ghost"),
    ),
]


@pytest.mark.parametrize("request_", CHANNEL_AND_INTEGRATION_NAMES)
def test_undeclared_channel_or_uninstalled_integration_is_invalid_payload_and_changes_nothing(
    world: World, request_: Call
) -> None:
    world.send_error(request_, type="InvalidPayload", status=400)


# Ids: unknown in a body is ReferenceNotFound, unknown in the path is ResourceNotFound.

UNKNOWN_BODY_IDS = [
    call(
        "create message in an unknown conversation",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, conversationId=GHOST_CONVERSATION),
    ),
    call("create message by an unknown user", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, userId=GHOST_USER)),
    call(
        "create message by a user id that is a conversation id",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, userId="$conversation_two"),
    ),
    call(
        "create message in another bot's conversation",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, conversationId="$other_conversation"),
    ),
    call("create message by another bot's user", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, userId="$other_user")),
    call(
        "get-or-create message in an unknown conversation",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, conversationId=GHOST_CONVERSATION),
    ),
    call(
        "get-or-create message by an unknown user",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, userId=GHOST_USER),
    ),
    call("add an unknown user as participant", "bot", "POST", PARTICIPANTS, {"userId": GHOST_USER}),
    call("add another bot's user as participant", "bot", "POST", PARTICIPANTS, {"userId": "$other_user"}),
    call(
        "integration creates message in a conversation it does not own",
        "chat",
        "POST",
        MESSAGES,
        edit(CHAT_MESSAGE, conversationId="$conversation", tags={}),
    ),
    call(
        "integration creates message by a user it does not own",
        "chat",
        "POST",
        MESSAGES,
        edit(CHAT_MESSAGE, userId="$user"),
    ),
    call(
        "integration adds a user it does not own as participant",
        "chat",
        "POST",
        "/v1/chat/conversations/$chat_conversation/participants",
        {"userId": "$user"},
    ),
]


@pytest.mark.parametrize("request_", UNKNOWN_BODY_IDS)
def test_unknown_id_in_the_body_is_reference_not_found_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="ReferenceNotFound", status=400)


UNKNOWN_PATH_IDS = [
    call("get an unknown user", "bot", "GET", f"{USERS}/$ghost_user"),
    call("update an unknown user", "bot", "PUT", f"{USERS}/$ghost_user", USER_UPDATE),
    call("delete an unknown user", "bot", "DELETE", f"{USERS}/$ghost_user"),
    call("get a user by a malformed id", "bot", "GET", f"{USERS}/nope"),
    call("get an unknown conversation", "bot", "GET", f"{CONVERSATIONS}/$ghost_conversation"),
    call("update an unknown conversation", "bot", "PUT", f"{CONVERSATIONS}/$ghost_conversation", CONVERSATION_UPDATE),
    call("delete an unknown conversation", "bot", "DELETE", f"{CONVERSATIONS}/$ghost_conversation"),
    call("get an unknown message", "bot", "GET", f"{MESSAGES}/$ghost_message"),
    call("update an unknown message", "bot", "PUT", f"{MESSAGES}/$ghost_message", MESSAGE_UPDATE),
    call("delete an unknown message", "bot", "DELETE", f"{MESSAGES}/$ghost_message"),
    call(
        "add participant to an unknown conversation",
        "bot",
        "POST",
        f"{CONVERSATIONS}/$ghost_conversation/participants",
        {"userId": "$user"},
    ),
    call(
        "list participants of an unknown conversation",
        "bot",
        "GET",
        f"{CONVERSATIONS}/$ghost_conversation/participants",
    ),
    call(
        "get a participant of an unknown conversation",
        "bot",
        "GET",
        f"{CONVERSATIONS}/$ghost_conversation/participants/$user",
    ),
    call("get an unknown participant", "bot", "GET", f"{PARTICIPANTS}/$ghost_user"),
    call("get a user who is not a participant", "bot", "GET", f"{PARTICIPANTS}/$loner"),
    call("remove a user who is not a participant", "bot", "DELETE", f"{PARTICIPANTS}/$loner"),
    call(
        "remove a participant of an unknown conversation",
        "bot",
        "DELETE",
        f"{CONVERSATIONS}/$ghost_conversation/participants/$user",
    ),
    call("get another bot's user", "bot", "GET", f"{USERS}/$other_user"),
    call("update another bot's user", "bot", "PUT", f"{USERS}/$other_user", {"name": "Mallory"}),
    call("delete another bot's user", "bot", "DELETE", f"{USERS}/$other_user"),
    call("get another bot's conversation", "bot", "GET", f"{CONVERSATIONS}/$other_conversation"),
    call("delete another bot's conversation", "bot", "DELETE", f"{CONVERSATIONS}/$other_conversation"),
    call("get another bot's message", "bot", "GET", f"{MESSAGES}/$other_message"),
    call("update another bot's message", "bot", "PUT", f"{MESSAGES}/$other_message", {"tags": {}}),
    call("delete another bot's message", "bot", "DELETE", f"{MESSAGES}/$other_message"),
    call("integration gets a user it does not own", "chat", "GET", f"{USERS}/$user"),
    call("integration updates a user it does not own", "chat", "PUT", f"{USERS}/$user", {"name": "Mallory"}),
    call("integration deletes a user it does not own", "chat", "DELETE", f"{USERS}/$user"),
    call("integration gets a conversation it does not own", "chat", "GET", f"{CONVERSATIONS}/$conversation"),
    call("integration deletes a conversation it does not own", "chat", "DELETE", f"{CONVERSATIONS}/$conversation"),
    call("integration lists participants of a conversation it does not own", "chat", "GET", PARTICIPANTS),
    call("integration updates a message it does not own", "chat", "PUT", f"{MESSAGES}/$message", {"tags": {}}),
    call("integration deletes a message it does not own", "chat", "DELETE", f"{MESSAGES}/$message"),
]


@pytest.mark.parametrize("request_", UNKNOWN_PATH_IDS)
def test_unknown_id_in_the_path_is_resource_not_found_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="ResourceNotFound", status=404)


# Message types and payloads.

PAYLOADS_FAILING_THEIR_SCHEMA = [
    call("text without text", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, payload={})),
    call("text with empty text", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, payload={"text": ""})),
    call("text with numeric text", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, payload={"text": 5})),
    call(
        "text with a field the type does not have",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, payload={"text": "hi", "bold": True}),
    ),
    call("image without imageUrl", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, type="image", payload={"title": "x"})),
    call(
        "choice with options that are not objects",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, type="choice", payload={"text": "pick", "options": ["a", "b"]}),
    ),
    call(
        "get-or-create a text without text",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, payload={"message": "hi"}),
    ),
    call("update a text to one without text", "bot", "PUT", f"{MESSAGES}/$message", edit(MESSAGE_UPDATE, payload={})),
    call(
        "integration sends text failing its channel's schema",
        "chat",
        "POST",
        MESSAGES,
        edit(CHAT_MESSAGE, payload={"text": ""}),
    ),
    call(
        "bot sends text failing the integration channel's schema",
        "bot",
        "POST",
        MESSAGES,
        {**NEW_MESSAGE, "conversationId": "$chat_conversation", "userId": "$bot", "tags": {}, "payload": {"txt": "x"}},
    ),
    call(
        "integration updates its message to one failing the schema",
        "chat",
        "PUT",
        f"{MESSAGES}/$chat_message",
        {"tags": {}, "payload": {"text": "hi", "extra": 1}},
    ),
]


@pytest.mark.parametrize("request_", PAYLOADS_FAILING_THEIR_SCHEMA)
def test_message_payload_failing_its_type_schema_is_invalid_payload_and_changes_nothing(
    world: World, request_: Call
) -> None:
    world.send_error(request_, type="InvalidPayload", status=400)


UNDECLARED_MESSAGE_TYPES = [
    call("bot sends a type that is not a default type", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, type="sticker")),
    call("bot sends an empty type", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, type="")),
    call(
        "bot get-or-creates a type that is not a default type",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, type="sticker"),
    ),
    call(
        "integration sends a type its channel does not declare",
        "chat",
        "POST",
        MESSAGES,
        edit(CHAT_MESSAGE, type="image", payload={"imageUrl": "https://x.test/a.png"}),
    ),
    call(
        "bot sends a type the integration's channel does not declare",
        "bot",
        "POST",
        MESSAGES,
        {
            **NEW_MESSAGE,
            "conversationId": "$chat_conversation",
            "userId": "$bot",
            "tags": {},
            "type": "image",
            "payload": {"imageUrl": "https://x.test/a.png"},
        },
    ),
]


@pytest.mark.parametrize("request_", UNDECLARED_MESSAGE_TYPES)
def test_undeclared_message_type_is_invalid_payload_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="InvalidPayload", status=400)


OVERSIZED_TEXT = {"text": "x" * MAX_PAYLOAD_BYTES}

OVERSIZED_PAYLOADS = [
    call("create message", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, payload=OVERSIZED_TEXT)),
    call(
        "get-or-create message",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, payload=OVERSIZED_TEXT),
    ),
    call("update message", "bot", "PUT", f"{MESSAGES}/$message", edit(MESSAGE_UPDATE, payload=OVERSIZED_TEXT)),
    call("integration creates message", "chat", "POST", MESSAGES, edit(CHAT_MESSAGE, payload=OVERSIZED_TEXT)),
]


@pytest.mark.parametrize("request_", OVERSIZED_PAYLOADS)
def test_message_payload_over_128_kib_is_payload_too_large_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="PayloadTooLarge", status=413)


BAD_SCHEDULES = [
    call(
        "both dateTime and delay",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, schedule={"dateTime": "2030-01-01T00:00:00.000Z", "delay": 1000}),
    ),
    call(
        "both dateTime and delay on get-or-create",
        "bot",
        "POST",
        f"{MESSAGES}/get-or-create",
        edit(GET_OR_CREATE_MESSAGE, schedule={"dateTime": "2030-01-01T00:00:00.000Z", "delay": 1000}),
    ),
    call("neither dateTime nor delay", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, schedule={})),
    call(
        "null dateTime and null delay",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, schedule={"dateTime": None, "delay": None}),
    ),
    call(
        "a dateTime that is not a date",
        "bot",
        "POST",
        MESSAGES,
        edit(NEW_MESSAGE, schedule={"dateTime": "the first of May, 2030"}),
    ),
    call("a negative delay", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, schedule={"delay": -1})),
    call("a delay beyond any date", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, schedule={"delay": 1e300})),
]


@pytest.mark.parametrize("request_", BAD_SCHEDULES)
def test_message_schedule_that_is_not_exactly_one_valid_date_time_or_delay_is_invalid_payload_and_changes_nothing(
    world: World, request_: Call
) -> None:
    world.send_error(request_, type="InvalidPayload", status=400)


def test_get_or_create_message_matching_a_message_of_another_conversation_is_relation_conflict_and_changes_nothing(
    world: World,
) -> None:
    body = edit(GET_OR_CREATE_MESSAGE, conversationId="$conversation_two", tags={"externalId": "world-1"})
    error = world.send_error(
        Call("bot", "POST", f"{MESSAGES}/get-or-create", body), type="RelationConflict", status=409
    )
    assert "already exists for a different conversation" in error["message"]


def test_get_or_create_message_without_payload_when_none_matches_is_invalid_payload_and_changes_nothing(
    world: World,
) -> None:
    body = edit(GET_OR_CREATE_MESSAGE, drop=("payload",), tags={"externalId": "never-seen"})
    world.send_error(Call("bot", "POST", f"{MESSAGES}/get-or-create", body), type="InvalidPayload", status=400)


# Bodies that are not JSON objects, or not sent as JSON.

NOT_JSON = [
    call("truncated object", "bot", "POST", USERS, content=b'{"tags": {}', content_type="application/json"),
    call("trailing comma", "bot", "POST", USERS, content=b'{"tags": {},}', content_type="application/json"),
    call("single quotes", "bot", "POST", USERS, content=b"{'tags': {}}", content_type="application/json"),
    call("form encoding sent as JSON", "bot", "POST", USERS, content=b"tags=", content_type="application/json"),
    call(
        "invalid UTF-8", "bot", "POST", USERS, content=b'{"tags": {"email": "\xff"}}', content_type="application/json"
    ),
    call("empty body on create user", "bot", "POST", USERS, content=b"", content_type="application/json"),
    call("empty body on create message", "bot", "POST", MESSAGES, content=b"", content_type="application/json"),
    call("empty body on update user", "bot", "PUT", f"{USERS}/$user", content=b"", content_type="application/json"),
    call("empty body on add participant", "bot", "POST", PARTICIPANTS, content=b"", content_type="application/json"),
    call("JSON null", "bot", "POST", USERS, content=b"null", content_type="application/json"),
    call("JSON array", "bot", "POST", USERS, content=b'[{"tags": {}}]', content_type="application/json"),
    call("JSON string", "bot", "POST", CONVERSATIONS, content=b'"web"', content_type="application/json"),
    call("JSON number", "bot", "PUT", f"{MESSAGES}/$message", content=b"42", content_type="application/json"),
]


@pytest.mark.parametrize("request_", NOT_JSON)
def test_body_that_is_not_a_json_object_is_invalid_payload_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="InvalidPayload", status=400)


VALID_USER_JSON = json.dumps(NEW_USER).encode()

NOT_SENT_AS_JSON = [
    call("text/plain", "bot", "POST", USERS, content=VALID_USER_JSON, content_type="text/plain"),
    call("form", "bot", "POST", USERS, content=b"tags=", content_type="application/x-www-form-urlencoded"),
    call("multipart", "bot", "POST", USERS, content=VALID_USER_JSON, content_type="multipart/form-data; boundary=x"),
    call("no content type", "bot", "POST", USERS, content=VALID_USER_JSON),
    call("a JSON-like type", "bot", "POST", USERS, content=VALID_USER_JSON, content_type="application/json-patch+json"),
    call(
        "text/plain on update user",
        "bot",
        "PUT",
        f"{USERS}/$user",
        content=json.dumps(USER_UPDATE).encode(),
        content_type="text/plain",
    ),
    call(
        "text/plain on create message",
        "bot",
        "POST",
        MESSAGES,
        content=json.dumps(NEW_MESSAGE).encode(),
        content_type="text/plain",
    ),
    call(
        "text/plain on add participant",
        "bot",
        "POST",
        PARTICIPANTS,
        content=json.dumps(NEW_PARTICIPANT).encode(),
        content_type="text/plain",
    ),
    call(
        "no content type on get-or-create conversation",
        "bot",
        "POST",
        f"{CONVERSATIONS}/get-or-create",
        content=json.dumps(GET_OR_CREATE_CONVERSATION).encode(),
    ),
]


@pytest.mark.parametrize("request_", NOT_SENT_AS_JSON)
def test_body_not_sent_as_application_json_is_unsupported_media_type_and_changes_nothing(
    world: World, request_: Call
) -> None:
    world.send_error(request_, type="UnsupportedMediaType", status=415)


def oversized_user_body() -> bytes:
    return b'{"tags": {}, "name": "' + b"x" * MAX_BODY_BYTES + b'"}'


def test_body_larger_than_the_server_accepts_is_payload_too_large_and_changes_nothing(world: World) -> None:
    request_ = Call("bot", "POST", USERS, content=oversized_user_body(), content_type="application/json")
    world.send_error(request_, type="PayloadTooLarge", status=413)


def test_chunked_body_larger_than_the_server_accepts_is_payload_too_large_and_changes_nothing(world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"tags": {}, "name": "'
        for _ in range(MAX_BODY_BYTES // (1024 * 1024)):
            yield b"x" * (1024 * 1024)
        yield b'x"}'

    before = world.server.snapshot()
    world.callers["bot"].error(
        "POST",
        USERS,
        content=chunks(),
        headers={"content-type": "application/json"},
        type="PayloadTooLarge",
        status=413,
    )
    assert world.server.snapshot() == before


# List queries.

INVALID_QUERIES = [
    call("users: nextToken that was never handed out", "bot", "GET", USERS, params={"nextToken": "not-a-token"}),
    call("users: nextToken of the wrong shape", "bot", "GET", USERS, params={"nextToken": b64(b'{"a": 1}')}),
    call("users: pageSize 0", "bot", "GET", USERS, params={"pageSize": "0"}),
    call("users: negative pageSize", "bot", "GET", USERS, params={"pageSize": "-3"}),
    call("users: pageSize that is not a number", "bot", "GET", USERS, params={"pageSize": "ten"}),
    call("users: infinite pageSize", "bot", "GET", USERS, params={"pageSize": "Infinity"}),
    call("users: pageSize beyond any number", "bot", "GET", USERS, params={"pageSize": "1e999"}),
    call("users: unknown sortField", "bot", "GET", USERS, params={"sortField": "name"}),
    call("users: unknown sortDirection", "bot", "GET", USERS, params={"sortDirection": "sideways"}),
    call("users: unknown rangeField", "bot", "GET", USERS, params={"rangeField": "deletedAt"}),
    call("users: afterDate that is not a date", "bot", "GET", USERS, params={"afterDate": "yesterday"}),
    call("users: impossible beforeDate", "bot", "GET", USERS, params={"beforeDate": "2024-13-45T00:00:00.000Z"}),
    call("conversations: invalid nextToken", "bot", "GET", CONVERSATIONS, params={"nextToken": "!!!"}),
    call("conversations: pageSize 0", "bot", "GET", CONVERSATIONS, params={"pageSize": "0"}),
    call("conversations: unknown sortField", "bot", "GET", CONVERSATIONS, params={"sortField": "channel"}),
    call("conversations: unknown sortDirection", "bot", "GET", CONVERSATIONS, params={"sortDirection": "up"}),
    call("conversations: afterDate that is not a date", "bot", "GET", CONVERSATIONS, params={"afterDate": "soon"}),
    call("messages: invalid nextToken", "bot", "GET", MESSAGES, params={"nextToken": b64(b"[1, 2]")}),
    call("messages: pageSize that is not a number", "bot", "GET", MESSAGES, params={"pageSize": "many"}),
    call("messages: infinite pageSize", "bot", "GET", MESSAGES, params={"pageSize": "inf"}),
    call("messages: beforeDate that is not a date", "bot", "GET", MESSAGES, params={"beforeDate": "later"}),
    call("participants: invalid nextToken", "bot", "GET", PARTICIPANTS, params={"nextToken": "zzz"}),
    call("participants: negative pageSize", "bot", "GET", PARTICIPANTS, params={"pageSize": "-1"}),
    call("integration lists users with an invalid nextToken", "chat", "GET", USERS, params={"nextToken": "x"}),
    call(
        "users: nextToken carrying U+0000",
        "bot",
        "GET",
        USERS,
        params={"nextToken": b64(json.dumps(["\x00", GHOST_USER]).encode())},
    ),
]


@pytest.mark.parametrize("request_", INVALID_QUERIES)
def test_invalid_list_query_is_invalid_payload(world: World, request_: Call) -> None:
    world.send_error(request_, type="InvalidPayload", status=400)


# Who is calling: Authorization, x-bot-id, x-integration-id.

# Requests that would succeed for the right caller: one write, one delete, one read.
AUTH_TARGETS = [
    pytest.param(("POST", USERS, {"tags": {}}), id="create user"),
    pytest.param(("DELETE", f"{USERS}/$user", None), id="delete user"),
    pytest.param(("GET", CONVERSATIONS, None), id="list conversations"),
]

UNAUTHORIZED_HEADERS = [
    pytest.param({"x-bot-id": "$bot"}, id="no Authorization"),
    pytest.param({"authorization": "Bearer", "x-bot-id": "$bot"}, id="Bearer without a token"),
    pytest.param({"authorization": "Basic $bot_key", "x-bot-id": "$bot"}, id="Basic scheme"),
    pytest.param({"authorization": "$bot_key", "x-bot-id": "$bot"}, id="token without a scheme"),
    pytest.param({"authorization": "Bearer $mistyped_key", "x-bot-id": "$bot"}, id="key with a typo"),
    pytest.param({"authorization": "Bearer bak_01HF58RDKE3M7K5RJ5XZ7GF6HE", "x-bot-id": "$bot"}, id="unknown key"),
    pytest.param({"authorization": "Bearer $revoked_key", "x-bot-id": "$bot"}, id="revoked key"),
]


@pytest.mark.parametrize("headers", UNAUTHORIZED_HEADERS)
@pytest.mark.parametrize("target", AUTH_TARGETS)
def test_missing_or_invalid_authorization_is_unauthorized_and_changes_nothing(
    world: World, target: tuple[str, str, Any], headers: dict[str, str]
) -> None:
    method, path, body = target
    world.send_error(Call("bot", method, path, body, headers=headers), type="Unauthorized", status=401)


MISSING_BOT_ID = [
    pytest.param({"authorization": "Bearer $bot_key"}, id="bot key"),
    pytest.param({"authorization": "Bearer $bot_key", "x-bot-id": ""}, id="bot key, empty x-bot-id"),
    pytest.param(
        {"authorization": "Bearer $chat_key", "x-integration-id": "$chat_integration", "x-integration-alias": "chat"},
        id="integration key",
    ),
]


@pytest.mark.parametrize("headers", MISSING_BOT_ID)
@pytest.mark.parametrize("target", AUTH_TARGETS)
def test_runtime_call_without_x_bot_id_is_invalid_payload_and_changes_nothing(
    world: World, target: tuple[str, str, Any], headers: dict[str, str]
) -> None:
    method, path, body = target
    error = world.send_error(Call("bot", method, path, body, headers=headers), type="InvalidPayload", status=400)
    assert "x-bot-id" in error["message"]


FORBIDDEN_HEADERS = [
    pytest.param({"authorization": "Bearer $bot_key", "x-bot-id": "$other_bot"}, id="bot key with another bot's id"),
    pytest.param({"authorization": "Bearer $other_key", "x-bot-id": "$bot"}, id="other bot's key with this bot's id"),
    pytest.param({"authorization": "Bearer $bot_key", "x-bot-id": "$ghost_bot"}, id="bot key with an unknown bot id"),
    pytest.param(
        {"authorization": "Bearer $bot_key", "x-bot-id": "$bot", "x-integration-id": "$chat_integration"},
        id="bot key acting as an integration",
    ),
    pytest.param(
        {"authorization": "Bearer $chat_key", "x-bot-id": "$bot"},
        id="integration key without x-integration-id",
    ),
    pytest.param(
        {"authorization": "Bearer $chat_key", "x-bot-id": "$bot", "x-integration-id": "$elsewhere_integration"},
        id="integration key with another integration's id",
    ),
    pytest.param(
        {"authorization": "Bearer $elsewhere_key", "x-bot-id": "$bot", "x-integration-id": "$elsewhere_integration"},
        id="integration key in a bot that did not install it",
    ),
    pytest.param(
        {
            "authorization": "Bearer $chat_key",
            "x-bot-id": "$bot",
            "x-integration-id": "$chat_integration",
            "x-integration-alias": "ghost",
        },
        id="integration key under an alias it is not installed as",
    ),
    pytest.param(
        {"authorization": "Bearer $off_key", "x-bot-id": "$bot", "x-integration-id": "$off_integration"},
        id="integration key of a disabled installation",
    ),
]


@pytest.mark.parametrize("headers", FORBIDDEN_HEADERS)
@pytest.mark.parametrize("target", AUTH_TARGETS)
def test_api_key_used_outside_its_bot_or_integration_is_forbidden_and_changes_nothing(
    world: World, target: tuple[str, str, Any], headers: dict[str, str]
) -> None:
    method, path, body = target
    world.send_error(Call("bot", method, path, body, headers=headers), type="Forbidden", status=403)


def test_runtime_call_for_an_unknown_bot_is_resource_not_found_and_changes_nothing(world: World) -> None:
    headers = {"authorization": "Bearer $admin_token", "x-bot-id": "$ghost_bot"}
    world.send_error(Call("admin", "POST", USERS, {"tags": {}}, headers=headers), type="ResourceNotFound", status=404)


ADMIN_CALLS_WITH_RUNTIME_KEYS = [
    call("bot key lists bots", "bot", "GET", "/v1/admin/bots"),
    call("bot key creates a bot", "bot", "POST", "/v1/admin/bots", {"name": "sneaky"}),
    call("bot key reads its bot", "bot", "GET", "/v1/admin/bots/$bot"),
    call("bot key renames its bot", "bot", "PUT", "/v1/admin/bots/$bot", {"name": "renamed"}),
    call("bot key deletes its bot", "bot", "DELETE", "/v1/admin/bots/$bot"),
    call("bot key mints a bot key", "bot", "POST", "/v1/admin/bots/baks", {"botId": "$bot", "note": "more"}),
    call("bot key lists bot keys", "bot", "GET", "/v1/admin/bots/baks", params={"botId": "$bot"}),
    call("integration key lists integrations", "chat", "GET", "/v1/admin/integrations"),
    call(
        "integration key mints an integration key",
        "chat",
        "POST",
        "/v1/admin/integrations/iaks",
        {"integrationId": "$chat_integration"},
    ),
    call("integration key deletes its integration", "chat", "DELETE", "/v1/admin/integrations/$chat_integration"),
]


@pytest.mark.parametrize("request_", ADMIN_CALLS_WITH_RUNTIME_KEYS)
def test_admin_api_rejects_bot_and_integration_api_keys_as_forbidden_and_changes_nothing(
    world: World, request_: Call
) -> None:
    world.send_error(request_, type="Forbidden", status=403)


ADMIN_CALLS_WITHOUT_VALID_TOKEN = [
    call("no Authorization", "admin", "GET", "/v1/admin/bots", headers={}),
    call("unknown token", "admin", "POST", "/v1/admin/bots", {"name": "x"}, headers={"authorization": "Bearer pat_x"}),
    call("revoked bot key", "admin", "DELETE", "/v1/admin/bots/$bot", headers={"authorization": "Bearer $revoked_key"}),
]


@pytest.mark.parametrize("request_", ADMIN_CALLS_WITHOUT_VALID_TOKEN)
def test_admin_api_without_a_valid_token_is_unauthorized_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="Unauthorized", status=401)


# Routes and methods.

UNKNOWN_ROUTES = [
    call("unknown runtime path", "bot", "GET", "/v1/chat/nothing"),
    call("unknown runtime path, with a body", "bot", "POST", "/v1/chat/nothing", {"tags": {}}),
    call("unknown API version", "bot", "GET", "/v2/chat/users"),
    call("path below a user", "bot", "DELETE", f"{USERS}/$user/friends"),
    call("unknown admin path", "admin", "GET", "/v1/admin/nothing"),
]


@pytest.mark.parametrize("request_", UNKNOWN_ROUTES)
def test_unknown_route_is_resource_not_found_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="ResourceNotFound", status=404)


WRONG_METHODS = [
    call("PATCH users", "bot", "PATCH", USERS, NEW_USER),
    call("DELETE all messages", "bot", "DELETE", MESSAGES),
    call("PUT all conversations", "bot", "PUT", CONVERSATIONS, CONVERSATION_UPDATE),
    call("POST to a user", "bot", "POST", f"{USERS}/$user", USER_UPDATE),
    call("PATCH a message", "bot", "PATCH", f"{MESSAGES}/$message", MESSAGE_UPDATE),
    call("PUT a participant", "bot", "PUT", f"{PARTICIPANTS}/$user", {}),
    call("DELETE all participants", "bot", "DELETE", PARTICIPANTS),
    call("PATCH a bot", "admin", "PATCH", "/v1/admin/bots/$bot", {"name": "x"}),
]


@pytest.mark.parametrize("request_", WRONG_METHODS)
def test_method_a_path_does_not_accept_is_method_not_found_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="MethodNotFound", status=405)


# U+0000: JSON allows it in strings, PostgreSQL text cannot hold it. Both dialects must answer alike:
# a stored string carrying it is InvalidPayload, an id carrying it names nothing.

NUL_IN_STORED_STRINGS = [
    call("user tag value", "bot", "POST", USERS, edit(NEW_USER, tags={"email": "a\x00@x.test"})),
    call("user name", "bot", "POST", USERS, edit(NEW_USER, name="Ann\x00")),
    call("updated user name", "bot", "PUT", f"{USERS}/$user", edit(USER_UPDATE, name="Ann\x00")),
    call("conversation channel", "bot", "POST", CONVERSATIONS, edit(NEW_CONVERSATION, channel="web\x00")),
    call("message tag value", "bot", "POST", MESSAGES, edit(NEW_MESSAGE, tags={"externalId": "\x00"})),
]


@pytest.mark.parametrize("request_", NUL_IN_STORED_STRINGS)
def test_nul_character_in_a_stored_string_is_invalid_payload_and_changes_nothing(world: World, request_: Call) -> None:
    world.send_error(request_, type="InvalidPayload", status=400)


def test_nul_character_in_a_path_id_is_resource_not_found(world: World) -> None:
    world.send_error(Call("bot", "GET", f"{USERS}/user_%00"), type="ResourceNotFound", status=404)
