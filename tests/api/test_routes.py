"""Every operation of the Runtime API (runtime_operations.json: operation, method and path of each
operation in runtime-api.openapi.json 1.70.2) is served: none answers "no such operation"."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BotSetup
from tests.harness import Api, Server

OPERATIONS: list[dict[str, str]] = json.loads((Path(__file__).parent / "runtime_operations.json").read_text())
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "runtime-api.openapi.json"


def test_the_operation_list_is_the_published_one() -> None:
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} is not on this machine")
    spec = json.loads(REFERENCE.read_text())
    published = sorted(
        (op["operationId"], method.upper(), path)
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
        if method != "parameters"
    )
    assert sorted((o["operation"], o["method"], o["path"]) for o in OPERATIONS) == published


@pytest.mark.parametrize("operation", OPERATIONS, ids=[o["operation"] for o in OPERATIONS])
def test_every_operation_is_served(server: Server, operation: dict[str, str]) -> None:
    """Served operations authenticate first: without a token, every one answers Unauthorized."""
    path = re.sub(r"\{[^}]+\}", "x" * 28, operation["path"])
    anonymous = Api(server, "not-a-token")
    body: Any = {} if operation["method"] in ("POST", "PUT", "PATCH") else None
    answer = anonymous.error(operation["method"], path, body, type="Unauthorized", status=401)
    assert answer["message"]


def test_repeated_and_trailing_slashes_name_the_same_operation(bot: BotSetup) -> None:
    user = bot.api.ok("POST", "/v1/chat/users", {"tags": {}}, status=201)["user"]
    assert bot.api.ok("GET", f"/v1/chat/users/{user['id']}/")["user"] == user
    assert bot.api.ok("GET", f"/v1/chat//users/{user['id']}")["user"] == user


def test_a_named_operation_is_not_read_as_an_id(bot: BotSetup) -> None:
    """`get-or-create` below /v1/chat/users is an operation of its own, not a user id: it takes
    POST only."""
    bot.api.error("GET", "/v1/chat/users/get-or-create", type="MethodNotFound", status=405)
    bot.api.error("GET", "/v1/chat/users/usr_unknown", type="ResourceNotFound", status=404)


def test_options_names_the_methods_a_path_takes(bot: BotSetup) -> None:
    response = bot.api.call("OPTIONS", "/v1/chat/users")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, OPTIONS, POST"
    bot.api.error("OPTIONS", "/v1/chat/nothing", type="ResourceNotFound", status=404)
