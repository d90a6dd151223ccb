"""The console in a real headless Chromium, against a real server: sign-in, a bot created and
given the chat channel, Try it with an echo bot, the conversation appearing live, a failed
delivery retried, a refused token, and message text that stays text.

Screenshots go to `PARLEY_CONSOLE_SCREENSHOTS` when it is set (docs/console for the README)."""

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_bot, running_server
from tests.harness import Api, Server, free_port

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 20_000
XSS = "<img src=x onerror=window.__xss=1>"

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright

    HAS_PLAYWRIGHT = True
except ImportError:  # the test extra installs it
    HAS_PLAYWRIGHT = False


class EchoBot:
    """A bot server: answers `event_received` at once, then replies to each incoming text with
    `echo: <text>` (and to `menu` with a choice) through the Runtime API with its bot key. While
    `refusing`, it answers 400 instead, which fails the delivery at once."""

    def __init__(self, parley: str) -> None:
        self.parley = parley
        self.key: str | None = None
        self.refusing = False
        self.port = free_port()
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = 400 if bot.refusing else 200
                body = b'{"message": "the test bot refused this call"}' if bot.refusing else b"{}"
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if status == 200 and self.headers.get("x-bp-operation") == "event_received":
                    event = json.loads(raw)["event"]
                    bot_id = self.headers["x-bot-id"]
                    threading.Thread(target=bot.reply, args=(bot_id, event), daemon=True).start()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reply(self, bot_id: str, event: dict[str, Any]) -> None:
        message = event.get("payload", {}).get("message") or {}
        if event["type"] != "message_created" or message.get("direction") != "incoming" or message["type"] != "text":
            return
        text = message["payload"]["text"]
        if text == "menu":
            kind, payload = "choice", {"text": "Pick a colour", "options": [{"label": "Red", "value": "red"}]}
        else:
            kind, payload = "text", {"text": f"echo: {text}"}
        answer = httpx.post(
            f"{self.parley}/v1/chat/messages",
            json={
                "conversationId": event["conversationId"],
                "userId": bot_id,
                "type": kind,
                "payload": payload,
                "tags": {},
            },
            headers={"authorization": f"Bearer {self.key}", "x-bot-id": bot_id},
        )
        assert answer.status_code == 201, answer.text

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console_server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    env = {"PARLEY_DISPATCH_RETRY_BASE_MS": "50", "PARLEY_POLL_MS": "200"}
    with running_server(request.param, work_dir, f"console-{request.param}", env) as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(console_server: Server) -> Iterator["Browser"]:
    """Chromium, started after the server and stopped before it: Playwright's sync API keeps an
    event loop running on this thread, and the harness sets up and drops PostgreSQL databases
    with asyncio.run, which refuses to run inside one."""
    if not HAS_PLAYWRIGHT or not CHROMIUM.exists():
        missing = str(CHROMIUM) if HAS_PLAYWRIGHT else "Playwright for Python"
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is missing, and CI must run the console's browser tests.")
        pytest.skip(f"{missing} is missing (apt-get install chromium): console browser tests skipped.")
    with sync_playwright() as playwright:
        expect.set_options(timeout=WAIT_MS)
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Shots:
    def __init__(self, work_dir: Path) -> None:
        chosen = os.environ.get("PARLEY_CONSOLE_SCREENSHOTS")
        self.folder = Path(chosen) if chosen else work_dir / "console-screenshots"
        self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: "Page", name: str) -> None:
        page.screenshot(path=str(self.folder / f"{name}.png"), full_page=True)


def open_console(browser: "Browser", server: Server) -> "Page":
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{server.url}/console")
    return page


def sign_in(page: "Page", token: str) -> None:
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")


def test_an_operator_creates_a_bot_talks_to_it_and_retries_a_failed_delivery(
    console_server: Server, browser: "Browser", work_dir: Path
) -> None:
    shots = Shots(work_dir)
    echo = EchoBot(console_server.url)
    page = open_console(browser, console_server)
    try:
        expect(page.locator("#signin")).to_be_visible()
        shots.take(page, "sign-in")
        sign_in(page, console_server.admin_token)
        expect(page.locator("#shell")).to_be_visible()
        # The token stays in the tab's session, never in the URL.
        assert console_server.admin_token not in page.url

        page.fill("#create-bot input[name=name]", "echo")
        page.fill("#create-bot input[name=url]", echo.url)
        page.click("#create-bot button[type=submit]")
        expect(page.locator("main h1")).to_contain_text("echo")
        bot_id = page.url.rsplit("/", 1)[1]

        page.click("text=Create API key")
        echo.key = page.locator(".key-value").text_content()
        assert echo.key is not None
        assert echo.key.startswith("bp_bak_")
        # A second key, revoked: the first one goes on working for the bot.
        keys = page.locator("section:has(h2:text('API keys')) tbody tr")
        expect(keys).to_have_count(1)
        page.fill("section:has(h2:text('API keys')) input", "spare")
        page.click("text=Create API key")
        expect(keys).to_have_count(2)
        page.once("dialog", lambda dialog: dialog.accept())
        keys.filter(has_text="spare").locator("button:has-text('Revoke')").click()
        expect(keys).to_have_count(1)
        page.click("#install-chat")
        installed = page.locator("tr[data-alias=chat]")
        expect(installed).to_contain_text("registered")
        expect(installed.locator(".webhook-url")).to_contain_text(f"{console_server.url}/chat/")
        shots.take(page, "bot")

        # A second tab watches the bot's conversations while the first one talks to the bot.
        watcher = open_console(browser, console_server)
        sign_in(watcher, console_server.admin_token)
        expect(watcher.locator("#shell")).to_be_visible()
        watcher.goto(f"{console_server.url}/console#/bots/{bot_id}/conversations")
        expect(watcher.locator("text=No conversations yet.")).to_be_visible()

        page.click("a.tab:has-text('Try it')")
        expect(page.locator("#chat-input")).to_be_enabled()
        page.fill("#chat-input", "hi")
        page.press("#chat-input", "Enter")
        expect(page.locator(".bubble.bot .content")).to_have_text("echo: hi")
        page.fill("#chat-input", "menu")
        page.press("#chat-input", "Enter")
        page.click(".bubble.bot button.choice:has-text('Red')")
        expect(page.locator(".bubble.bot .content").last).to_have_text("echo: red")

        # The conversation appears in the other tab without a reload.
        row = watcher.locator("tr.conversation")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("chat / channel")
        shots.take(watcher, "conversations")
        # Filtered by channel and tags, through the Runtime API's own filters.
        owner = row.locator(".tag").first.text_content()
        assert owner is not None
        assert owner.startswith("chat:owner=")
        watcher.fill("input[name=channel]", "elsewhere")
        watcher.click("button:has-text('Filter')")
        expect(watcher.locator("text=No conversations yet.")).to_be_visible()
        expect(row).to_have_count(0)
        watcher.fill("input[name=channel]", "channel")
        watcher.fill("input[name=tags]", owner)
        watcher.click("button:has-text('Filter')")
        expect(row).to_have_count(1)

        # Text that looks like HTML stays text, in the chat and in the conversation view.
        page.fill("#chat-input", XSS)
        page.press("#chat-input", "Enter")
        expect(page.locator(".bubble.bot .content").last).to_have_text(f"echo: {XSS}")
        row.locator("a").click()
        expect(watcher.locator(".message.outgoing").last).to_contain_text(f"echo: {XSS}")
        expect(watcher.locator(".message.incoming").first).to_contain_text("user ")
        for seen in (page, watcher):
            assert seen.evaluate("window.__xss") is None
            assert seen.locator(".bubble img, .message img").count() == 0
        shots.take(page, "try-it")
        shots.take(watcher, "conversation")
        # The author's page: the user and the events their messages made.
        watcher.locator(".message.incoming .meta a").first.click()
        expect(watcher.locator("section:has(h2:text('Events')) tbody tr").first).to_contain_text("message_created")
        watcher.go_back()
        expect(watcher.locator(".message")).to_have_count(8)

        # A call the bot refuses fails at once; the operator finds it and sends it again.
        echo.refusing = True
        page.fill("#chat-input", "again")
        page.press("#chat-input", "Enter")
        watcher.goto(f"{console_server.url}/console#/deliveries?botId={bot_id}&status=failed")
        failed = watcher.locator("tr.delivery[data-status=failed]")
        expect(failed).to_have_count(1)
        expect(failed).to_contain_text("400")
        shots.take(watcher, "deliveries")
        failed.locator("a").click()
        expect(watcher.locator("#delivery-status")).to_have_text("failed")
        echo.refusing = False
        watcher.click("#retry")
        expect(watcher.locator("#delivery-status")).to_have_text("delivered")
        expect(page.locator(".bubble.bot .content").last).to_have_text("echo: again")
        shots.take(watcher, "delivery")
        # No call the pages made along the way failed.
        for seen in (page, watcher):
            expect(seen.locator("#notice")).to_have_text("")
        watcher.close()
    finally:
        page.close()
        echo.close()


def test_a_wrong_or_missing_token_shows_the_sign_in_page_and_nothing_else(
    console_server: Server, browser: "Browser"
) -> None:
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    answers: list[int] = []
    page.on("response", lambda response: answers.append(response.status) if "/v1/" in response.url else None)
    page.goto(f"{console_server.url}/console")
    try:
        # No token: the sign-in page, and no call for data at all.
        expect(page.locator("#signin")).to_be_visible()
        assert answers == []
        sign_in(page, "bp_pat_not-the-admin-token")
        expect(page.locator("#signin-error")).to_have_text("The server refused this token.")
        expect(page.locator("#shell")).to_be_hidden()
        assert page.locator("#main").inner_text() == ""
        assert answers == [401]
        # Nothing about the token is kept, and a view asked for by its URL shows nothing either.
        assert page.evaluate("sessionStorage.length") == 0
        page.goto(f"{console_server.url}/console#/deliveries")
        expect(page.locator("#signin")).to_be_visible()
        assert page.locator("#main").inner_text() == ""
        # A bot's API key is no admin token either.
        bot_key = make_bot(Api(console_server, console_server.admin_token)).api.token
        sign_in(page, bot_key)
        expect(page.locator("#signin-error")).to_have_text("The server refused this token.")
        assert page.locator("#main").inner_text() == ""
        assert answers == [401, 403]
        # The page is no boundary: the server refuses the data calls themselves.
        refused = httpx.get(f"{console_server.url}/v1/parley/deliveries", headers={"authorization": "Bearer nope"})
        assert refused.status_code == 401
    finally:
        page.close()


def test_the_console_files_are_served_with_their_types_and_revalidated(console_server: Server) -> None:
    page = httpx.get(f"{console_server.url}/console")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{console_server.url}/console/").text == page.text
    script = httpx.get(f"{console_server.url}/console/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    again = httpx.get(f"{console_server.url}/console/app.js", headers={"if-none-match": script.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert httpx.get(f"{console_server.url}/console/../pyproject.toml").status_code == 404
    assert httpx.get(f"{console_server.url}/console/nothing.js").status_code == 404


def test_messages_of_every_type_are_drawn_as_text_with_their_states(
    console_server: Server, browser: "Browser", work_dir: Path
) -> None:
    admin = Api(console_server, console_server.admin_token)
    definition = {"name": "types", "states": {"memory": {"type": "conversation", "schema": {"type": "object"}}}}
    bot = make_bot(admin, definition)
    chat_id = admin.ok("GET", "/v1/admin/integrations", params={"name": "chat"})["integrations"][0]["id"]
    installation = {"enabled": True, "integrationId": chat_id, "configuration": {}}
    admin.ok("PUT", f"/v1/admin/bots/{bot.id}", {"integrations": {"chat": installation}})
    view = admin.ok("GET", f"/v1/admin/bots/{bot.id}", headers={"x-multiple-integrations": "true"})["bot"]
    chat = f"{console_server.url}/chat/{view['integrations']['chat']['webhookId']}"
    key = httpx.post(f"{chat}/users", json={}).json()["key"]
    httpx.post(f"{chat}/conversations", json={}, headers={"x-user-key": key}).raise_for_status()
    [conversation] = bot.api.ok("GET", "/v1/chat/conversations")["conversations"]
    # An image the server has: the test fetches nothing from elsewhere.
    picture = f"{console_server.url}/console/favicon.svg"
    card = {
        "title": "A card",
        "subtitle": "with a subtitle",
        "imageUrl": picture,
        "actions": [{"action": "url", "label": "Open", "value": "javascript:window.__xss=1"}],
    }
    options = [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}]
    messages: list[tuple[str, dict[str, Any]]] = [
        ("text", {"text": "plain text"}),
        ("markdown", {"markdown": "**bold** and _italic_ with <b>no html</b>"}),
        ("image", {"imageUrl": picture}),
        ("audio", {"audioUrl": f"{console_server.url}/console/sound.mp3"}),
        ("video", {"videoUrl": f"{console_server.url}/console/film.mp4"}),
        ("file", {"fileUrl": f"{console_server.url}/console/report.pdf", "title": "report.pdf"}),
        ("location", {"latitude": 48.85, "longitude": 2.35, "title": "Paris"}),
        ("card", card),
        ("carousel", {"items": [card, {**card, "title": "Another card"}]}),
        ("choice", {"text": "Choose", "options": options}),
        ("dropdown", {"text": "Pick", "options": options}),
        (
            "bloc",
            {
                "items": [
                    {"type": "text", "payload": {"text": "in a bloc"}},
                    {"type": "image", "payload": {"imageUrl": picture}},
                ]
            },
        ),
    ]
    for kind, payload in messages:
        body = {"conversationId": conversation["id"], "userId": bot.id, "type": kind, "payload": payload, "tags": {}}
        bot.api.ok("POST", "/v1/chat/messages", body, status=201)
    bot.api.ok("POST", f"/v1/chat/states/conversation/{conversation['id']}/memory", {"payload": {"step": 2}})

    page = open_console(browser, console_server)
    try:
        sign_in(page, console_server.admin_token)
        expect(page.locator("#shell")).to_be_visible()
        page.goto(f"{console_server.url}/console#/bots/{bot.id}/conversations/{conversation['id']}")
        drawn = page.locator(".message")
        expect(drawn).to_have_count(len(messages))
        assert [drawn.nth(i).locator(".type").text_content() for i in range(len(messages))] == [k for k, _ in messages]
        expect(drawn.nth(1).locator("strong")).to_have_text("bold")
        expect(drawn.nth(1).locator("em")).to_have_text("italic")
        expect(drawn.nth(1)).to_contain_text("<b>no html</b>")
        expect(drawn.nth(2).locator("img")).to_have_attribute("src", picture)
        expect(drawn.nth(3).locator("audio")).to_have_count(1)
        expect(drawn.nth(4).locator("video")).to_have_count(1)
        expect(drawn.nth(5).locator("a")).to_have_text("report.pdf")
        expect(drawn.nth(6)).to_contain_text("Paris (48.85, 2.35)")
        # A `javascript:` link is shown as text, never as a link.
        expect(drawn.nth(7).locator(".card a")).to_have_count(0)
        expect(drawn.nth(8).locator(".card")).to_have_count(2)
        expect(drawn.nth(9).locator("button.choice")).to_have_count(2)
        expect(drawn.nth(10).locator("option")).to_have_count(3)
        expect(drawn.nth(11).locator(".bloc")).to_contain_text("in a bloc")
        states = page.locator("section:has(h2:text('States')) tbody tr")
        expect(states).to_have_count(1)
        expect(states).to_contain_text("memory")
        expect(states).to_contain_text('"step": 2')
        assert page.evaluate("window.__xss") is None
        Shots(work_dir).take(page, "message-types")
    finally:
        page.close()
