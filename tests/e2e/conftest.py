"""Fixtures of the end-to-end tests: Node with each pinned @botpress/sdk, the SDK definitions, Parley
servers that dispatch with short retry delays, and deployments of the SDK bot and integration."""

import functools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.conftest import running_server
from tests.e2e.apps import E2E_DIR, SDK_DIRS, Deployment, NodeApp, Sdk, deploy
from tests.harness import Api, Server
from tests.node_packages import node_with_packages

# Retries every 50 ms, then at most every 200 ms, and practically never gives up: a bot that is
# down for a few seconds gets everything once it is back.
PATIENT = {
    "PARLEY_DISPATCH": "on",
    "PARLEY_DISPATCH_RETRY_BASE_MS": "50",
    "PARLEY_DISPATCH_RETRY_MAX_MS": "200",
    "PARLEY_DISPATCH_MAX_ATTEMPTS": "1000",
    "PARLEY_DISPATCH_TIMEOUT_MS": "5000",
}
# Gives up after three attempts within a fraction of a second.
IMPATIENT = {**PATIENT, "PARLEY_DISPATCH_RETRY_MAX_MS": "100", "PARLEY_DISPATCH_MAX_ATTEMPTS": "3"}


@pytest.fixture(scope="module", params=list(SDK_DIRS))
def sdk(request: pytest.FixtureRequest) -> Sdk:
    """Each pinned SDK in turn, installed: every test that runs SDK code runs on each. Scoped by
    module like `server`, so that one server per module and dialect serves both SDKs."""
    package_dir = SDK_DIRS[request.param]
    return Sdk(request.param, node_with_packages(package_dir, "the @botpress/sdk end-to-end tests"), package_dir)


@pytest.fixture(scope="module")
def sdk_definitions(sdk: Sdk) -> dict[str, Any]:
    """The Admin API bodies of the bot and the integration, from their SDK definitions, and the
    version of the SDK that made them (`sdk`)."""
    return _definitions(sdk)


@functools.cache
def _definitions(sdk: Sdk) -> dict[str, Any]:
    # Once per SDK: the same for every module.
    result = subprocess.run(
        sdk.command("definitions.mjs"),
        cwd=E2E_DIR,
        env=sdk.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, Any] = json.loads(result.stdout)
    return found


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, work_dir: Path) -> Iterator[Server]:
    """A dispatching server per dialect, shared by the tests of a module."""
    with running_server(request.param, work_dir, f"e2e-{request.module.__name__}", PATIENT) as instance:
        yield instance


class Deploy(Protocol):
    def __call__(
        self, admin: Api, *, start_bot: bool = True, bot_port: int | None = None, chat_service: str | None = None
    ) -> Deployment: ...


@pytest.fixture
def launch(sdk: Sdk, sdk_definitions: dict[str, Any], work_dir: Path) -> Iterator[Deploy]:
    """Deploys the SDK bot and integration to a server; stops their programs after the test."""
    apps: list[NodeApp] = []

    def make(
        admin: Api, *, start_bot: bool = True, bot_port: int | None = None, chat_service: str | None = None
    ) -> Deployment:
        return deploy(
            admin,
            sdk,
            sdk_definitions,
            work_dir,
            apps,
            start_bot=start_bot,
            bot_port=bot_port,
            chat_service=chat_service,
        )

    yield make
    for app in apps:
        app.stop()
