"""A person talks to a bot through Parley's Chat API with the official `@botpress/chat` client
(pinned in package.json), in both key modes, on SQLite and on PostgreSQL with two server processes:
the stream held by one, everything else sent through the other.

The client is a Node package: scenario.mjs plays the person's application and lists its checks;
this module runs it and checks what the bot (tests/chat/echo_bot.py) was sent.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.node_packages import assert_pinned, node_env, node_with_packages, run_node

from .conftest import ChatInstall, ChatServers
from .echo_bot import EchoBot

CHAT_DIR = Path(__file__).resolve().parent
CLIENT_VERSION = "0.5.5"


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with the pinned packages installed in tests/chat/node_modules."""
    return node_with_packages(CHAT_DIR, "the @botpress/chat tests")


def test_the_client_is_pinned_to_one_exact_version() -> None:
    assert_pinned(CHAT_DIR, {"@botpress/chat": CLIENT_VERSION})


def _run_scenario(node: str, servers: ChatServers, chat: ChatInstall, scenario: str = "") -> dict[str, Any]:
    """Runs scenario.mjs (its main part, or the `scenario` named) and returns its RESULT; fails
    with its output when a check failed."""
    env = node_env(
        CHAT_URL=chat.api_url(servers.write),
        CHAT_LISTEN_URL=chat.api_url(servers.listen),
        CHAT_MODE=chat.mode,
        CHAT_ENCRYPTION_KEY=chat.encryption_key or "",
        CHAT_SCENARIO=scenario,
    )
    failure = f"@botpress/chat {CLIENT_VERSION} scenario failed ({chat.mode} keys, {servers.listen.dialect})"
    output = run_node(node, CHAT_DIR / "scenario.mjs", env=env, failure=failure, timeout=300)
    [line] = [line for line in output.splitlines() if line.startswith("RESULT ")]
    found: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return found


def test_a_person_talks_to_the_echo_bot_with_the_official_client(
    node: str, servers: ChatServers, chat: ChatInstall, echo: EchoBot
) -> None:
    result = _run_scenario(node, servers, chat)

    # What the bot saw: the Chat API's objects as those of the integration `chat`, channel `channel`.
    # Each message reached the bot once: one call each, none made again after it was answered.
    by_text = {e["payload"]["message"]["payload"].get("text"): e for e in echo.events("message_created")}
    assert sorted(e["payload"]["message"]["payload"].get("text", "") for e in echo.events("message_created")) == [
        "hi",
        "hi there",
    ]
    hi = by_text["hi"]
    conversation = hi["payload"]["conversation"]
    assert (conversation["integration"], conversation["channel"]) == ("chat", "channel")
    assert hi["payload"]["message"]["type"] == "text"
    assert hi["payload"]["message"]["direction"] == "incoming"
    assert conversation["tags"].get("chat:owner"), conversation

    [custom] = echo.events("chat:custom")
    assert custom["payload"]["payload"] == result["eventPayload"]
    assert custom["conversationId"] == hi["conversationId"]
    assert {"userId", "conversationId"} <= set(custom["payload"])

    assert by_text["hi there"]["payload"]["conversation"]["tags"]["chat:fid"] == result["chosenConversation"]
    assert echo.errors == []


@pytest.mark.parametrize("chat", ["shared"], indirect=True)
def test_the_client_listens_to_a_conversation_whose_chosen_id_has_a_slash(
    node: str, servers: ChatServers, chat: ChatInstall, echo: EchoBot
) -> None:
    """The client percent-encodes ids in the paths of its calls, but not in that of `listen`:
    `/conversations/room/x/live/listen` names the conversation `room/x/live`."""
    _run_scenario(node, servers, chat, "listen-chosen-id")
    assert echo.errors == []
