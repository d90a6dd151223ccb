"""Drives a real Parley server with the official `@botpress/client`, pinned in package.json.

The client is a Node package, so the scenario is a Node script (scenario.mjs) run once per
database dialect. Its output lists every check; on failure it names the first failed check
(export PARLEY_COMPAT_KEEP_GOING=1 to run every check and list every failure).
"""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import Server

pytestmark = pytest.mark.compat

COMPAT_DIR = Path(__file__).resolve().parent
SCENARIO = COMPAT_DIR / "scenario.mjs"
PACKAGE_JSON = COMPAT_DIR / "package.json"
PACKAGE_LOCK = COMPAT_DIR / "package-lock.json"
NODE_MODULES = COMPAT_DIR / "node_modules"
# Written after a successful `npm ci`: the digest of the lock file node_modules was installed from.
INSTALL_STAMP = NODE_MODULES / ".parley-package-lock.sha256"
CLIENT_VERSION = "1.45.0"


def _lock_digest() -> str:
    return hashlib.sha256(PACKAGE_LOCK.read_bytes()).hexdigest()


def _installed_digest() -> str | None:
    try:
        return INSTALL_STAMP.read_text().strip()
    except FileNotFoundError:
        return None


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with the pinned packages installed in tests/compat/node_modules."""
    node_path, npm_path = shutil.which("node"), shutil.which("npm")
    if node_path is None or npm_path is None:
        missing = " and ".join(name for name, path in (("node", node_path), ("npm", npm_path)) if path is None)
        if os.environ.get("CI"):
            pytest.fail(f"{missing} not on PATH, and CI must run the @botpress/client compatibility tests.")
        pytest.skip(f"{missing} not on PATH: the @botpress/client compatibility tests need Node.js 18+ and npm.")
    digest = _lock_digest()
    if _installed_digest() != digest:
        result = subprocess.run(
            [npm_path, "ci", "--no-audit", "--no-fund"],
            cwd=COMPAT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"`npm ci` in {COMPAT_DIR} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        INSTALL_STAMP.write_text(digest + "\n")
    return node_path


def test_the_client_is_pinned_to_one_exact_version() -> None:
    package = json.loads(PACKAGE_JSON.read_text())
    assert package["private"] is True
    assert package["dependencies"] == {"@botpress/client": CLIENT_VERSION}
    lock = json.loads(PACKAGE_LOCK.read_text())
    assert lock["packages"][""]["dependencies"] == {"@botpress/client": CLIENT_VERSION}
    assert lock["packages"]["node_modules/@botpress/client"]["version"] == CLIENT_VERSION


def test_the_official_client_works_against_parley(node: str, server: Server) -> None:
    # The client falls back to BP_* variables (BP_TOKEN, BP_BOT_ID, BP_INTEGRATION_ID, ...):
    # none of the caller's may leak into the scenario.
    env = {name: value for name, value in os.environ.items() if not name.startswith("BP_")}
    env["PARLEY_URL"] = server.url
    env["PARLEY_ADMIN_TOKEN"] = server.admin_token
    result = subprocess.run(
        [node, str(SCENARIO)],
        cwd=COMPAT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        stderr = f"\n--- stderr ---\n{result.stderr}" if result.stderr else ""
        pytest.fail(
            f"@botpress/client {CLIENT_VERSION} scenario failed against the {server.dialect} server"
            f" (exit {result.returncode}):\n{result.stdout}{stderr}",
            pytrace=False,
        )
