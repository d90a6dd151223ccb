"""The webhook relay over real HTTP: what an outside service sends to an installation's webhook URL
reaches its integration as `webhook_received`, and the integration's answer comes back unchanged."""

import base64
import gzip
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_bot, running_server
from tests.harness import Api, Server, eventually
from tests.recorder import JSON, Received, Recorder

PUBLIC_URL = "https://parley.example"
MAX_BODY = 65_536
TIMEOUT_MS = 1_500


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    env = {
        "PARLEY_PUBLIC_URL": PUBLIC_URL,
        "PARLEY_DISPATCH": "off",
        "PARLEY_MAX_BODY_BYTES": str(MAX_BODY),
        "PARLEY_DISPATCH_TIMEOUT_MS": str(TIMEOUT_MS),
    }
    with running_server(request.param, work_dir, "webhooks", env) as instance:
        yield instance


class Hook:
    """An installation of an integration whose server is `recorder`, and a client that
    calls its webhook URL as an outside service would (no credentials)."""

    def __init__(self, admin: Api, recorder: Recorder, *, alias: str = "hooks") -> None:
        self.admin = admin
        self.bot = make_bot(admin)
        self.alias = alias
        body = {"name": f"hooks-{self.bot.id[-10:].lower()}", "version": "1.0.0", "url": recorder.url}
        self.integration_id = admin.ok("POST", "/v1/admin/integrations", body)["integration"]["id"]
        self.save(enabled=True, configuration={"secret": "s3"})
        self.outside = httpx.Client(base_url=admin.server.url, timeout=30, follow_redirects=False)

    def save(self, **change: Any) -> dict[str, Any]:
        body = {"integrations": {self.alias: {"integrationId": self.integration_id, **change}}}
        self.admin.ok("PUT", f"/v1/admin/bots/{self.bot.id}", body)
        return self.installation()

    def installation(self) -> dict[str, Any]:
        bot = self.admin.ok("GET", f"/v1/admin/bots/{self.bot.id}", headers={"x-multiple-integrations": "true"})
        found: dict[str, Any] = bot["bot"]["integrations"][self.alias]
        return found

    @property
    def webhook_id(self) -> str:
        webhook_id: str = self.installation()["webhookId"]
        return webhook_id

    def call(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        return self.outside.request(method, f"/webhooks/{self.webhook_id}{path}", **kwargs)

    def relayed(self) -> list[dict[str, Any]]:
        """The relay's records of this bot's calls, newest first, once written."""
        found: list[dict[str, Any]] = self.admin.ok(
            "GET", "/v1/parley/deliveries", params={"botId": self.bot.id, "pageSize": "100"}
        )["deliveries"]
        return [d for d in found if d["operation"] == "webhook_received"]


@pytest.fixture
def hook(admin: Api, recorder: Recorder) -> Hook:
    return Hook(admin, recorder)


def _request(call: Received) -> dict[str, Any]:
    found: dict[str, Any] = call.body["req"]
    return found


def test_a_post_reaches_the_integration_as_webhook_received_and_its_answer_comes_back(
    hook: Hook, recorder: Recorder
) -> None:
    recorder.answer = lambda _: (202, b'{"ok":true}', {"content-type": "text/plain", "x-answer": "yes"})
    update = {"update_id": 1, "message": {"chat": {"id": 42}, "text": "hi"}}
    response = hook.call("POST", "?a=1&b=two", json=update, headers={"x-telegram-bot-api-secret-token": "t0k"})

    assert response.status_code == 202
    assert response.content == b'{"ok":true}'
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["x-answer"] == "yes"
    (call,) = recorder.calls
    assert call.method == "POST"
    headers = call.headers
    assert headers["x-bp-operation"] == "webhook_received"
    assert headers["x-bot-id"] == hook.bot.id
    assert headers["x-integration-id"] == hook.integration_id
    assert headers["x-integration-alias"] == "hooks"
    assert headers["x-webhook-id"] == hook.webhook_id
    assert headers["x-bot-user-id"].startswith("user_")
    assert json.loads(base64.b64decode(headers["x-bp-configuration"])) == {"secret": "s3"}
    request = _request(call)
    assert request["method"] == "POST"
    assert request["path"] == "/"
    assert request["query"] == "a=1&b=two"
    assert json.loads(request["body"]) == update
    assert request["headers"]["x-telegram-bot-api-secret-token"] == "t0k"
    assert request["headers"]["content-type"] == "application/json"


def test_a_get_handshake_is_answered_by_the_integration(hook: Hook, recorder: Recorder) -> None:
    def echo_challenge(call: Received) -> tuple[int, bytes, dict[str, str]]:
        query = dict(pair.split("=") for pair in _request(call)["query"].split("&"))
        return 200, query["hub.challenge"].encode(), {}

    recorder.answer = echo_challenge
    response = hook.call("GET", "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=v")

    assert response.status_code == 200
    assert response.text == "1158201444"
    request = _request(recorder.calls[0])
    assert request["method"] == "GET"
    assert "body" not in request


def test_the_path_after_the_webhook_id_and_a_redirect_pass_through(hook: Hook, recorder: Recorder) -> None:
    recorder.answer = lambda _: (303, b"", {"location": "https://example.com/done?x=1"})
    response = hook.call("GET", "/oauth/callback/?code=abc%20d")

    assert response.status_code == 303
    assert response.headers["location"] == "https://example.com/done?x=1"
    request = _request(recorder.calls[0])
    assert request["path"] == "/oauth/callback/"
    assert request["query"] == "code=abc%20d"


def test_a_compressed_answer_is_relayed_as_it_came(hook: Hook, recorder: Recorder) -> None:
    compressed = gzip.compress(b'{"ok":true}')
    recorder.answer = lambda _: (200, compressed, {"content-encoding": "gzip", "content-type": JSON})
    response = hook.call("POST", json={})

    assert response.headers["content-encoding"] == "gzip"
    assert response.read() == b'{"ok":true}'
    assert response.num_bytes_downloaded == len(compressed)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_every_method_is_relayed(hook: Hook, recorder: Recorder, method: str) -> None:
    recorder.answer = lambda _: (200, b"fine", {"x-method-seen": "1"})
    response = hook.call(method, "/x")

    assert response.status_code == 200
    assert response.headers["x-method-seen"] == "1"
    assert _request(recorder.calls[0])["method"] == method


@pytest.mark.parametrize(
    ("content_type", "body", "as_text"),
    [
        ("application/x-www-form-urlencoded", b"From=%2B15551234&Body=hi+there", "From=%2B15551234&Body=hi+there"),
        ("application/xml", b"<xml><ToUserName>bot</ToUserName></xml>", "<xml><ToUserName>bot</ToUserName></xml>"),
        ("application/octet-stream", b"ok \xff\xfe end", "ok \ufffd\ufffd end"),
        ("text/plain; charset=utf-8", "héllo ✓".encode(), "héllo ✓"),
    ],
)
def test_bodies_pass_through_whatever_their_content_type(
    hook: Hook, recorder: Recorder, content_type: str, body: bytes, as_text: str
) -> None:
    response = hook.call("POST", content=body, headers={"content-type": content_type})

    assert response.status_code == 200
    request = _request(recorder.calls[0])
    assert request["body"] == as_text
    assert request["headers"]["content-type"] == content_type


def test_each_relayed_call_is_recorded_with_its_outcome(hook: Hook, recorder: Recorder) -> None:
    recorder.answer = lambda _: (401, b"bad signature", {})
    assert hook.call("POST", json={}).status_code == 401
    recorded = eventually(hook.relayed)

    (delivery,) = recorded
    assert delivery["status"] == "delivered"
    assert delivery["target"] == "integration"
    assert delivery["alias"] == "hooks"
    detail = hook.admin.ok("GET", f"/v1/parley/deliveries/{delivery['id']}")
    (attempt,) = detail["attempts"]
    assert attempt["statusCode"] == 401
    assert attempt["outcome"] == "delivered"
    refused = hook.admin.error(
        "POST", f"/v1/parley/deliveries/{delivery['id']}/retry", type="InvalidPayload", status=400
    )
    assert "relayed webhook call" in refused["message"]


@pytest.mark.parametrize(
    "path", ["/webhooks/0123456789abcdef0123456789abcdef", "/webhooks/x", "/webhooks/%00", "/webhooks/a.b/c"]
)
def test_an_unknown_or_malformed_webhook_id_is_not_found_and_stores_nothing(
    admin: Api, hook: Hook, recorder: Recorder, path: str
) -> None:
    before = admin.server.snapshot()
    response = hook.outside.post(path, json={"update_id": 1})

    assert response.status_code == 404
    error = response.json()
    assert error["type"] == "ResourceNotFound"
    assert error["code"] == 404
    assert "not found" in error["message"]
    time.sleep(0.2)
    assert admin.server.snapshot() == before
    assert recorder.calls == []


def test_a_disabled_installation_is_not_found(hook: Hook, recorder: Recorder) -> None:
    hook.save(enabled=False)
    response = hook.call("POST", json={})

    assert response.status_code == 404
    assert response.json()["type"] == "ResourceNotFound"
    assert recorder.calls == []


def test_a_body_over_the_limit_is_refused_and_the_integration_not_called(hook: Hook, recorder: Recorder) -> None:
    response = hook.call("POST", content=b"x" * (MAX_BODY + 1), headers={"content-type": "text/plain"})

    assert response.status_code == 413
    assert response.json()["type"] == "PayloadTooLarge"
    assert recorder.calls == []


def test_an_integration_that_is_down_is_a_502_and_recorded_as_failed(admin: Api) -> None:
    with Recorder() as gone:
        hook = Hook(admin, gone)
    response = hook.call("POST", json={})

    assert response.status_code == 502
    error = response.json()
    assert error["type"] == "Runtime"
    assert error["code"] == 502
    (delivery,) = eventually(hook.relayed)
    assert delivery["status"] == "failed"
    assert delivery["lastError"]


def test_an_integration_with_an_unusable_url_is_a_502(hook: Hook) -> None:
    hook.admin.ok("PUT", f"/v1/admin/integrations/{hook.integration_id}", {"url": "http://exa mple:80x/"})
    response = hook.call("POST", json={})

    assert response.status_code == 502
    assert response.json()["type"] == "Runtime"


def test_an_integration_that_fails_is_a_502(hook: Hook, recorder: Recorder) -> None:
    recorder.answer = lambda _: (500, {"type": "Runtime", "message": "boom"})
    response = hook.call("POST", json={})

    assert response.status_code == 502
    assert response.json()["type"] == "Runtime"
    (delivery,) = eventually(hook.relayed)
    assert delivery["status"] == "failed"
    assert "boom" in delivery["lastError"]


def test_an_integration_that_hangs_is_cut_off_with_a_504(hook: Hook, recorder: Recorder) -> None:
    def hang(_: Received) -> tuple[int, Any]:
        time.sleep(TIMEOUT_MS / 1000 + 1)
        return 200, {}

    recorder.answer = hang
    began = time.monotonic()
    response = hook.call("POST", json={})

    assert response.status_code == 504
    assert response.json()["type"] == "OperationTimeout"
    assert time.monotonic() - began < TIMEOUT_MS / 1000 + 1


def test_the_webhook_url_is_built_on_the_public_url_and_ids_are_random(admin: Api, recorder: Recorder) -> None:
    first, second = Hook(admin, recorder), Hook(admin, recorder)
    installation = first.installation()

    assert re.fullmatch(r"[0-9a-f]{32}", installation["webhookId"])
    assert installation["webhookUrl"] == f"{PUBLIC_URL}/webhooks/{installation['webhookId']}"
    # Two ids made one after the other share no more than chance would have them share.
    assert installation["webhookId"][:12] != second.webhook_id[:12]


def test_rotating_the_webhook_id_retires_the_old_one_and_registers_the_new_url(hook: Hook, recorder: Recorder) -> None:
    old = hook.webhook_id
    rotated = hook.admin.ok("POST", f"/v1/parley/bots/{hook.bot.id}/installations/hooks/rotate-webhook")

    assert rotated["webhookId"] != old
    assert rotated["webhookUrl"] == f"{PUBLIC_URL}/webhooks/{rotated['webhookId']}"
    assert hook.installation()["webhookId"] == rotated["webhookId"]
    assert hook.installation()["status"] == "registration_pending"
    assert hook.outside.post(f"/webhooks/{old}", json={}).status_code == 404
    assert hook.call("POST", json={}).status_code == 200
    registers = [
        d
        for d in hook.admin.ok("GET", "/v1/parley/deliveries", params={"botId": hook.bot.id})["deliveries"]
        if d["operation"] == "register"
    ]
    assert len(registers) == 2
    hook.admin.error(
        "POST",
        f"/v1/parley/bots/{hook.bot.id}/installations/nope/rotate-webhook",
        type="ResourceNotFound",
        status=404,
    )
