"""The programs around Parley in the end-to-end tests: the @botpress/sdk bot and integration (Node
processes, bot.mjs and integration.mjs, on each pinned SDK), and how a test deploys them to a Parley
server."""

import json
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.harness import Api, free_port, stop_process, wait_until_answering
from tests.harness import eventually as poll
from tests.node_packages import node_env

E2E_DIR = Path(__file__).resolve().parent
# The directories whose package.json and package-lock.json pin each SDK the tests run on, by test
# id. The programs load the SDK installed in the one $PARLEY_E2E_SDK_DIR names (sdk.mjs).
SDK_DIRS = {"sdk5": E2E_DIR, "sdk7": E2E_DIR / "sdk7"}
ALIAS = "chat"
CHANNEL = "channel"
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], *, within: float = 15.0, what: str = "the condition") -> T:
    """Polls like tests.harness.eventually, with the longer patience Node programs need."""
    return poll(probe, within=within, what=what)


@dataclass(frozen=True)
class Sdk:
    """`node`, with the @botpress/sdk pinned in `package_dir` (SDK_DIRS[name]) installed there."""

    name: str
    node: str
    package_dir: Path

    def command(self, script: str) -> list[str]:
        return [self.node, str(E2E_DIR / script)]

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a program of tests/e2e that runs on this SDK."""
        return node_env(PARLEY_E2E_SDK_DIR=str(self.package_dir), **extra)


@dataclass
class NodeApp:
    """One SDK program (`script` in tests/e2e) served on `port`, talking to Parley at `api_url`
    with `token`. What it sees is appended to a JSON-lines record file; `records` reads it."""

    sdk: Sdk
    script: str
    api_url: str
    token: str
    work_dir: Path
    port: int = field(default_factory=free_port)
    name: str = ""
    process: subprocess.Popen[bytes] | None = None
    # More of the program's environment (PARLEY_E2E_CHAT_SERVICE).
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = self.name or f"{Path(self.script).stem}-{secrets.token_hex(4)}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def record_file(self) -> Path:
        return self.work_dir / f"{self.name}.jsonl"

    @property
    def log_file(self) -> Path:
        return self.work_dir / f"{self.name}.log"

    def start(self) -> "NodeApp":
        """Starts the program and waits until its `/health` answers (the SDK's own endpoint)."""
        env = self.sdk.env(
            **self.extra_env,
            BP_API_URL=self.api_url,
            BP_TOKEN=self.token,
            PARLEY_E2E_PORT=str(self.port),
            PARLEY_E2E_RECORD=str(self.record_file),
        )
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                self.sdk.command(self.script), cwd=E2E_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_until_answering(self.process, self.url + "health", within=20, what=self.script)
        except RuntimeError as failure:
            raise RuntimeError(f"{failure}: {self.log()}") from None
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return "(no output)"

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        try:
            lines = self.record_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        entries = [json.loads(line) for line in lines if line]
        return [entry for entry in entries if kind is None or entry["kind"] == kind]


@dataclass
class Deployment:
    """A bot and an integration, registered with Parley, the integration installed in the bot as
    `chat`, and their SDK programs (the bot's started or not, as the test asked)."""

    admin: Api
    bot_id: str
    bot: Api
    integration_id: str
    integration: Api
    configuration: dict[str, str]
    bot_app: NodeApp
    integration_app: NodeApp

    def installation(self) -> dict[str, Any]:
        # Keyed by alias with `x-multiple-integrations: true` (by integration id without it).
        bot = self.admin.ok("GET", f"/v1/admin/bots/{self.bot_id}", headers={"x-multiple-integrations": "true"})["bot"]
        found: dict[str, Any] = bot["integrations"][ALIAS]
        return found

    def conversation(self, room: str) -> str:
        """A conversation the integration opens on its channel, for chat room `room`."""
        body = {"channel": CHANNEL, "tags": {"id": room}}
        conversation_id: str = self.integration.ok("POST", "/v1/chat/conversations", body, status=201)["conversation"][
            "id"
        ]
        return conversation_id

    def user(self, handle: str) -> str:
        user_id: str = self.integration.ok("POST", "/v1/chat/users", {"tags": {"id": handle}}, status=201)["user"]["id"]
        return user_id

    def say(self, conversation: str, user: str, text: str, external_id: str) -> dict[str, Any]:
        """An incoming message, created by the integration as its webhook handler would."""
        body = {
            "type": "text",
            "payload": {"text": text},
            "conversationId": conversation,
            "userId": user,
            "tags": {"id": external_id},
        }
        message: dict[str, Any] = self.integration.ok("POST", "/v1/chat/messages", body, status=201)["message"]
        return message

    def replies(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """The `message_created` calls the integration received, oldest first."""
        return [
            entry
            for entry in self.integration_app.records("message")
            if conversation is None or entry["conversation"]["id"] == conversation
        ]

    def received(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """The incoming messages the bot's handler ran for, oldest first."""
        return [
            entry
            for entry in self.bot_app.records("received")
            if conversation is None or entry["message"]["conversationId"] == conversation
        ]

    def deliveries(self, **query: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.admin.ok(
            "GET", "/v1/parley/deliveries", params={"botId": self.bot_id, "pageSize": "100", **query}
        )["deliveries"]
        return found

    def settled(self, count: int) -> list[dict[str, Any]] | None:
        """All of the bot's deliveries, once there are at least `count` and none is waiting or
        under way (nothing more will be sent); None before."""
        found = self.deliveries()
        if len(found) < count or any(d["status"] in ("pending", "in_flight") for d in found):
            return None
        return found

    def events_of(self, message_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.bot.ok("GET", "/v1/chat/events", params={"messageId": message_id})["events"]
        return found

    def event(self, event_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.bot.ok("GET", f"/v1/chat/events/{event_id}")["event"]
        return found


def deploy(
    admin: Api,
    sdk: Sdk,
    definitions: dict[str, Any],
    work_dir: Path,
    apps: list[NodeApp],
    *,
    start_bot: bool = True,
    bot_port: int | None = None,
    chat_service: str | None = None,
) -> Deployment:
    """Registers the SDK definitions with Parley (as `bp deploy` would), starts the integration's
    program, installs it in the bot and, unless `start_bot` is false, starts the bot's program.
    The bot's `url` names `bot_port` (a free port by default) whether or not anything listens.
    With `chat_service`, the integration posts outgoing messages there. Both programs are added to
    `apps`, for the caller to stop."""
    integration_body = {**definitions["integration"], "name": f"parley-e2e-chat-{secrets.token_hex(4)}"}
    integration_id: str = admin.ok("POST", "/v1/admin/integrations", integration_body)["integration"]["id"]
    iak: str = admin.ok("POST", "/v1/admin/integrations/iaks", {"integrationId": integration_id})["value"]
    extra_env = {} if chat_service is None else {"PARLEY_E2E_CHAT_SERVICE": chat_service}
    integration_app = NodeApp(sdk, "integration.mjs", admin.server.url, iak, work_dir, extra_env=extra_env)
    apps.append(integration_app)
    integration_app.start()
    admin.ok("PUT", f"/v1/admin/integrations/{integration_id}", {"url": integration_app.url})

    bot_app_port = bot_port or free_port()
    bot_url = f"http://127.0.0.1:{bot_app_port}/"
    bot_body = {**definitions["bot"], "name": f"echo-{secrets.token_hex(4)}", "url": bot_url}
    bot_id: str = admin.ok("POST", "/v1/admin/bots", bot_body)["bot"]["id"]
    bak: str = admin.ok("POST", "/v1/admin/bots/baks", {"botId": bot_id})["value"]
    configuration = {"channelToken": f"tok-{secrets.token_hex(4)}"}
    install = {"enabled": True, "integrationId": integration_id, "configuration": configuration}
    admin.ok("PUT", f"/v1/admin/bots/{bot_id}", {"integrations": {ALIAS: install}})

    bot_app = NodeApp(sdk, "bot.mjs", admin.server.url, bak, work_dir, port=bot_app_port)
    apps.append(bot_app)
    if start_bot:
        bot_app.start()
    as_integration = {"x-bot-id": bot_id, "x-integration-id": integration_id, "x-integration-alias": ALIAS}
    return Deployment(
        admin=admin,
        bot_id=bot_id,
        bot=Api(admin.server, bak, {"x-bot-id": bot_id}),
        integration_id=integration_id,
        integration=Api(admin.server, iak, as_integration),
        configuration=configuration,
        bot_app=bot_app,
        integration_app=integration_app,
    )
