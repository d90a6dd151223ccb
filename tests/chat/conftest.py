"""Fixtures of the Chat API tests: servers that deliver (two on one database for PostgreSQL), a
bot whose server is the echo bot, and the bot's installation of the built-in `chat` integration."""

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import running_server
from tests.harness import Api, Server

from .echo_bot import EchoBot

DELIVERING = {
    "PARLEY_DISPATCH": "on",
    "PARLEY_DISPATCH_RETRY_BASE_MS": "50",
    "PARLEY_DISPATCH_RETRY_MAX_MS": "200",
    "PARLEY_DISPATCH_MAX_ATTEMPTS": "20",
    "PARLEY_DISPATCH_TIMEOUT_MS": "5000",
    # An idle stream's keep-alive every second (15 s by default), to see one within a test.
    "PARLEY_CHAT_KEEPALIVE_MS": "1000",
}


@dataclass
class ChatServers:
    """Where streams are held (`listen`) and where everything else is sent (`write`): one server on
    SQLite, two processes on one database on PostgreSQL."""

    listen: Server
    write: Server


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def servers(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[ChatServers]:
    """Shared by every test of the package: each makes a bot and an installation of its own."""
    name = "chat"
    with running_server(request.param, work_dir, name, DELIVERING) as first:
        if first.dialect == "sqlite":
            yield ChatServers(listen=first, write=first)
            return
        second = Server(first.dialect, first.database_url, first.admin_token, env=DELIVERING)
        second.start(work_dir / f"{name}-postgresql-second.log")
        try:
            yield ChatServers(listen=first, write=second)
        finally:
            second.stop()


@pytest.fixture
def admin(servers: ChatServers) -> Api:
    return Api(servers.write, servers.write.admin_token)


@pytest.fixture
def echo() -> Iterator[EchoBot]:
    with EchoBot() as bot:
        yield bot


@dataclass
class ChatInstall:
    """A bot with the `chat` integration installed, and where its Chat API is served."""

    bot_id: str
    bot: Api
    webhook_id: str
    encryption_key: str | None

    @property
    def mode(self) -> str:
        """`personal` when the developer signs the keys, `shared` when Parley does."""
        return "shared" if self.encryption_key is None else "personal"

    def api_url(self, server: Server) -> str:
        return f"{server.url}/chat/{self.webhook_id}"


def chat_integration_id(admin: Api) -> str:
    found = admin.ok("GET", "/v1/admin/integrations", params={"name": "chat"})["integrations"]
    listed = [i for i in found if i["name"] == "chat"]
    assert len(listed) == 1, f"the built-in chat integration is not listed once: {found}"
    [integration] = listed
    integration_id: str = integration["id"]
    return integration_id


def install_chat(admin: Api, bot_url: str, *, configuration: dict[str, Any] | None = None) -> ChatInstall:
    """A new bot served at `bot_url`, with the chat integration installed under the alias `chat`."""
    bot_id = admin.ok("POST", "/v1/admin/bots", {"name": f"echo-{secrets.token_hex(3)}", "url": bot_url})["bot"]["id"]
    key = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot_id, "note": "chat tests"})["value"]
    installation = {"enabled": True, "integrationId": chat_integration_id(admin), "configuration": configuration or {}}
    admin.ok("PUT", f"/v1/admin/bots/{bot_id}", {"integrations": {"chat": installation}})
    bot = admin.ok("GET", f"/v1/admin/bots/{bot_id}", headers={"x-multiple-integrations": "true"})["bot"]
    webhook_id: str = bot["integrations"]["chat"]["webhookId"]
    return ChatInstall(
        bot_id,
        Api(admin.server, key, {"x-bot-id": bot_id}),
        webhook_id,
        (configuration or {}).get("encryptionKey"),
    )


@pytest.fixture(params=["shared", "personal"])
def chat(request: pytest.FixtureRequest, admin: Api, echo: EchoBot) -> ChatInstall:
    """The echo bot's chat installation, with the platform's keys (`shared`) or with an
    `encryptionKey` of the developer's (`personal`)."""
    configuration = {"encryptionKey": f"secret-{secrets.token_hex(16)}"} if request.param == "personal" else {}
    install = install_chat(admin, echo.url, configuration=configuration)
    echo.api = install.bot
    return install


class ChatApi(Api):
    """Calls one Chat API as the user whose key it is given (or as nobody), with the checks of
    `Api` (`ok`, and `error` for the contract's error body)."""

    def __init__(self, api_url: str, key: str | None = None) -> None:
        self.key = key
        self.headers = {"x-user-key": key} if key is not None else {}
        self.http = httpx.Client(base_url=api_url, headers=self.headers, timeout=30)

    def ok(self, method: str, path: str, body: Any = None, *, status: int = 200, **kwargs: Any) -> Any:
        """The answer's body, which must not look like an error to the client: a top-level
        numeric `code` from 400 to 599 in a 2xx body is thrown as an error by @botpress/chat."""
        found = super().ok(method, path, body, status=status, **kwargs)
        assert not (isinstance(found, dict) and isinstance(found.get("code"), int | float)), found
        return found


def user_key(secret: str, claims: dict[str, Any]) -> str:
    """A user key signed with `secret` as jsonwebtoken signs one (HS256), with `iat` now unless
    `claims` has it."""
    header = {"alg": "HS256", "typ": "JWT"}
    signed = f"{_b64url(header)}.{_b64url({'iat': int(time.time()), **claims})}"
    signature = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _b64url(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
