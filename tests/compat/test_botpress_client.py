"""Drives a real Parley server with the official `@botpress/client`, pinned in package.json.

The client is a Node package, so the scenario is a Node script (scenario.mjs) run once per
database dialect. Its output lists every check; on failure it names the first failed check
(export PARLEY_COMPAT_KEEP_GOING=1 to run every check and list every failure).
"""

from pathlib import Path

import pytest

from tests.harness import Server
from tests.node_packages import assert_pinned, node_env, node_with_packages, run_node

pytestmark = pytest.mark.compat

COMPAT_DIR = Path(__file__).resolve().parent
SCENARIO = COMPAT_DIR / "scenario.mjs"
CLIENT_VERSION = "1.45.0"


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with the pinned packages installed in tests/compat/node_modules."""
    return node_with_packages(COMPAT_DIR, "the @botpress/client compatibility tests")


def test_the_client_is_pinned_to_one_exact_version() -> None:
    assert_pinned(COMPAT_DIR, {"@botpress/client": CLIENT_VERSION})


def test_the_official_client_works_against_parley(node: str, server: Server) -> None:
    env = node_env(PARLEY_URL=server.url, PARLEY_ADMIN_TOKEN=server.admin_token)
    failure = f"@botpress/client {CLIENT_VERSION} scenario failed against the {server.dialect} server"
    run_node(node, SCENARIO, env=env, failure=failure)
