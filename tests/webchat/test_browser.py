"""The official webchat (`@botpress/webchat` 4.5.2, built from examples/webchat as a website owner
builds it) in real headless Chromium, against Parley and a Python echo bot: a user types, the
bot's reply shows; the bot's choice shows its buttons and a click reaches the bot; and a page on an
origin Parley does not allow is refused by the browser.

Chromium is Debian's (`apt-get install chromium`), driven by Playwright for Python without a
browser download of its own. Set PARLEY_WEBCHAT_SCREENSHOT to a path to keep a screenshot of the
conversation there (the README's is taken this way)."""

import contextlib
import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.chat.test_streams import install_chat
from tests.conftest import running_server
from tests.harness import Api, Server, eventually, free_port
from tests.node_packages import assert_pinned, node_with_packages
from tests.webchat.echo_bot import EchoBot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webchat"
CHROMIUM = "/usr/bin/chromium"
NEEDED_BY = "the webchat tests in Chromium"
# Generous: two cores are shared with other work, and the first render compiles a large bundle.
WAIT_MS = 30_000


def _require_chromium() -> None:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright for Python (pip install -e '.[test]')")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{' and '.join(missing)} missing, and CI must run {NEEDED_BY}.")
        pytest.skip(f"{' and '.join(missing)} missing: {NEEDED_BY} skipped.")


def _build_example() -> None:
    """Installs the example's locked packages (once) and bundles it with its own build command."""
    node_with_packages(EXAMPLE, NEEDED_BY)
    npm = shutil.which("npm")
    assert npm is not None, "node_with_packages found npm"
    result = subprocess.run(
        [npm, "run", "build"], cwd=EXAMPLE, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"npm run build failed:\n{result.stdout}\n{result.stderr}"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def _serve_example(host: str) -> Iterator[str]:
    """The example's files over HTTP, as a website serves them; yields the page's origin."""
    port = free_port()
    httpd = ThreadingHTTPServer((host, port), functools.partial(_Quiet, directory=str(EXAMPLE)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def site(work_dir: Path) -> Iterator[tuple[str, str]]:
    """(an origin Parley allows, one it does not), both serving the built example."""
    _require_chromium()
    _build_example()
    with _serve_example("127.0.0.1") as allowed, _serve_example("localhost") as refused:
        yield allowed, refused


@pytest.fixture(scope="module")
def parley(site: tuple[str, str], work_dir: Path) -> Iterator[Server]:
    allowed, _ = site
    with running_server("sqlite", work_dir, "webchat-browser", {"PARLEY_CORS_ORIGINS": allowed}) as instance:
        yield instance


def test_the_example_pins_the_webchat_react_and_esbuild() -> None:
    assert_pinned(
        EXAMPLE,
        {"@botpress/webchat": "4.5.2", "esbuild": "0.25.9", "react": "19.2.0", "react-dom": "19.2.0"},
        {"@botpress/webchat-client": "0.7.3"},
    )


def _users(bot: Api) -> int:
    return len(bot.ok("GET", "/v1/chat/users", params={"limit": 100})["users"])


def test_the_official_webchat_talks_to_a_parley_bot(site: tuple[str, str], parley: Server, work_dir: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    allowed, refused = site
    with EchoBot() as bot:
        channel = install_chat(parley)
        Api(parley, parley.admin_token).ok("PUT", f"/v1/admin/bots/{channel.bot.id}", {"url": bot.url})
        bot.api = channel.bot.api
        api_url = f"{parley.url}/webchat"
        query = f"index.html?apiUrl={api_url}&clientId={channel.webhook_id}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                page = browser.new_page(locale="en-US", viewport={"width": 900, "height": 760})
                page.set_default_timeout(WAIT_MS)
                page.goto(f"{allowed}/{query}", wait_until="domcontentloaded")
                composer = page.get_by_placeholder("Type your message...")
                composer.fill("hi")
                composer.press("Enter")
                expect(page.get_by_text("You said: hi")).to_be_visible()
                assert eventually(lambda: bot.texts, what="the bot got the message")[0]["text"] == "hi"

                listed = channel.bot.api.ok("GET", "/v1/chat/conversations", params={"integrationName": "chat"})
                conversation = listed["conversations"][0]["id"]
                choice = {
                    "text": "Which colour?",
                    "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}],
                }
                channel.bot.api.ok(
                    "POST",
                    "/v1/chat/messages",
                    {
                        "conversationId": conversation,
                        "userId": channel.bot.id,
                        "type": "choice",
                        "payload": choice,
                        "tags": {},
                    },
                    status=201,
                )
                button = page.get_by_role("button", name="Blue", exact=True)
                expect(button).to_be_visible()
                expect(page.get_by_role("button", name="Red", exact=True)).to_be_visible()
                button.click()
                clicked = eventually(lambda: bot.texts[1:], within=WAIT_MS / 1000, what="the click reached the bot")
                assert clicked[0]["text"] == "Blue"
                assert clicked[0]["value"] == "blue", "a choice's button sends its value along"
                expect(page.get_by_text("You said: Blue")).to_be_visible()
                page.wait_for_timeout(1000)  # the last message fades in
                page.screenshot(path=str(work_dir / "webchat.png"))
                keep = os.environ.get("PARLEY_WEBCHAT_SCREENSHOT")
                if keep:
                    page.screenshot(path=keep)

                # A visitor who comes back resumes the conversation: the page keeps its key and
                # conversation, and initialize reads the history again.
                page.reload(wait_until="domcontentloaded")
                expect(page.get_by_text("You said: Blue")).to_be_visible()
                expect(page.get_by_text("You said: hi")).to_be_visible()
                assert len(channel.bot.api.ok("GET", "/v1/chat/conversations")["conversations"]) == 1

                # The same page on an origin Parley does not allow: the browser refuses it the
                # answers, while the allowed origin reads them (here a 401 for a made-up key).
                probe = f"""() => fetch({api_url!r} + '/{channel.webhook_id}/users/me', {{
                    headers: {{'x-user-key': 'made-up'}},
                }}).then(r => 'answered ' + r.status, e => 'refused: ' + e.message)"""
                assert page.evaluate(probe) == "answered 401"
                users = _users(channel.bot.api)
                other = browser.new_page(locale="en-US")
                other.goto(f"{refused}/{query}", wait_until="domcontentloaded")
                assert page.evaluate("() => location.origin") != other.evaluate("() => location.origin")
                assert other.evaluate(probe).startswith("refused: ")
                # Its webchat never gets a user: the browser stops initialize at the preflight.
                other.wait_for_timeout(4000)
                expect(other.get_by_placeholder("Type your message...")).to_be_disabled()
                assert _users(channel.bot.api) == users
            finally:
                browser.close()
