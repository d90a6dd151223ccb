"""callAction: a bot asks an installed integration (`<alias>:<action>`) or its own server (a
bare action name) to perform an action, and waits for the output.

The call is made outside any database transaction: the target may call Parley back while it works.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from parley.dispatch import calls
from parley.errors import Forbidden, InvalidPayload, Runtime
from parley.service.definitions import ActionDefinition
from parley.service.identity import Identity
from parley.service.models import CallAction
from parley.service.schemas import validate
from parley.store import bots as bot_store
from parley.store.database import Connection


@dataclass(frozen=True)
class Prepared:
    call: calls.Call | calls.Local
    definition: ActionDefinition
    name: str
    target: str


async def prepare(conn: Connection, identity: Identity, body: CallAction, *, now: str) -> Prepared:
    """Checks the action and its input, and builds the call (in a transaction: the integration's
    bot user may be created on the way)."""
    if identity.installation is not None:
        raise Forbidden("Only a bot calls actions.")
    bot = identity.bot
    alias, sep, name = body.type.partition(":")
    if not sep:
        definition = bot.actions.get(body.type)
        if definition is None:
            raise InvalidPayload(f"Action {body.type!r} is not declared by bot {bot.id}.")
        validate(definition.input, body.input, what=f"input of action {body.type}")
        to_bot = await calls.to_bot_action(conn, bot, body.type, body.input)
        return Prepared(to_bot, definition, body.type, f"bot {bot.id}")
    installation = bot.installations.get(alias)
    if installation is None or not installation.enabled:
        raise InvalidPayload(f"No enabled integration is installed as {alias!r} in bot {bot.id}.")
    definition = installation.integration.actions.get(name)
    if definition is None:
        raise InvalidPayload(f"Action {name!r} is not declared by integration {installation.integration.name!r}.")
    validate(definition.input, body.input, what=f"input of action {body.type}")
    row = await bot_store.get_installation(conn, bot_id=bot.id, alias=alias)
    if row is None:
        raise InvalidPayload(f"No integration is installed as {alias!r} in bot {bot.id}.")
    call = await calls.to_integration_action(conn, bot, installation, row, name, body.input, now=now)
    return Prepared(call, definition, body.type, f"integration {installation.integration.name!r}")


async def perform(
    http: httpx.AsyncClient,
    prepared: Prepared,
    *,
    timeout_s: float,
    local: Callable[[calls.Local], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """The action's output, awaited at most `timeout_s` in all; a failure of the target, or an
    output that breaks the declared schema, is a `Runtime` error. An action of an integration
    that Parley serves itself is performed by `local`."""
    if isinstance(prepared.call, calls.Local):
        return await local(prepared.call)
    try:
        async with asyncio.timeout(timeout_s):
            response = await http.post(prepared.call.url, content=prepared.call.body, headers=prepared.call.headers)
    except TimeoutError:
        raise Runtime(f"Action {prepared.name} of {prepared.target} did not answer within {timeout_s:g} s.") from None
    except httpx.HTTPError as error:
        raise Runtime(f"Calling action {prepared.name} on {prepared.target} failed: {type(error).__name__}.") from None
    try:
        answer = msgspec.json.decode(response.content) if response.content else {}
    except msgspec.DecodeError:
        answer = None
    if not 200 <= response.status_code < 300:
        detail = answer.get("message") if isinstance(answer, dict) else None
        raise Runtime(
            f"Action {prepared.name} failed in {prepared.target} (HTTP {response.status_code})"
            + (f": {detail}" if isinstance(detail, str) else ".")
        )
    output = answer.get("output", {}) if isinstance(answer, dict) else None
    if not isinstance(output, dict):
        raise Runtime(f"Action {prepared.name} of {prepared.target} answered without an output object.")
    try:
        validate(prepared.definition.output, output, what=f"output of action {prepared.name}")
    except InvalidPayload as invalid:
        raise Runtime(invalid.message) from None
    return output
