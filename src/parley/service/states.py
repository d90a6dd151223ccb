"""States: JSON documents a bot or integration keeps on a conversation, user, the bot itself or the
integration, with an optional idle expiry."""

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from parley import ids
from parley.clock import iso_from_ms
from parley.errors import InvalidPayload, PayloadTooLarge, ResourceNotFound
from parley.service import events
from parley.service.common import Page
from parley.service.conversations import get_row as get_conversation_row
from parley.service.definitions import BotDefinition, StateDefinition
from parley.service.identity import BOT_OWNER, Identity
from parley.service.models import GetOrSetState, PatchState, SetState, SetStateExpiry, State, encode_json
from parley.service.schemas import validate
from parley.service.users import get_row as get_user_row
from parley.store import states as store
from parley.store import tasks as task_store
from parley.store import workflows as workflow_store
from parley.store.database import Connection
from parley.store.states import StateRow

MAX_PAYLOAD_BYTES = 128 * 1024
TYPES = ("conversation", "user", "bot", "integration", "task", "workflow")


def to_state(row: StateRow, *, payload: str | None = None) -> State:
    state_type = row["type"]
    return State(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        bot_id=row["bot_id"],
        name=row["name"],
        type=state_type,
        payload=msgspec.Raw((row["payload"] if payload is None else payload).encode()),
        conversation_id=row["resource_id"] if state_type == "conversation" else None,
        user_id=row["resource_id"] if state_type == "user" else None,
        expiry=row["expiry"],
        expires_at=row["expires_at"],
    )


class _Key:
    """Where a state lives: its owner's namespace, type, resource and name, with its definition."""

    def __init__(self, identity: Identity, state_type: str, resource_id: str, name: str) -> None:
        if state_type not in TYPES:
            raise InvalidPayload(f"State type must be one of {', '.join(TYPES)}; got {state_type!r}.")
        installation = identity.installation
        if installation is None:
            owner = f"bot {identity.bot_id}"
            definition = identity.bot.states.get(name)
        else:
            owner = f"integration {installation.integration.name!r}"
            definition = installation.integration.states.get(name)
        if definition is None:
            raise InvalidPayload(f"State {name!r} is not declared by {owner}.")
        if definition.type != state_type:
            raise InvalidPayload(f"State {name!r} is declared for type {definition.type!r}, not {state_type!r}.")
        self.identity = identity
        self.integration = identity.owner
        self.type = state_type
        self.resource_id = resource_id
        self.name = name
        self.definition: StateDefinition = definition

    async def find(self, conn: Connection) -> StateRow | None:
        return await store.get_state(
            conn,
            bot_id=self.identity.bot_id,
            integration=self.integration,
            type=self.type,
            resource_id=self.resource_id,
            name=self.name,
        )

    async def require(self, conn: Connection) -> StateRow:
        row = await self.find(conn)
        if row is None:
            raise ResourceNotFound(f"State {self.name!r} ({self.type}) not found for {self.resource_id}.")
        return row

    async def check_resource(self, conn: Connection) -> None:
        """The state's resource exists in the bot and the caller can see it."""
        identity, resource_id = self.identity, self.resource_id
        if self.type == "conversation":
            found = await get_conversation_row(conn, identity, resource_id) is not None
        elif self.type == "user":
            found = await get_user_row(conn, identity, resource_id) is not None
        elif self.type == "bot":
            found = resource_id == identity.bot_id
        elif self.type == "integration":
            found = identity.installation is not None and resource_id == identity.installation.integration.id
        elif self.type == "workflow":
            # Workflows are the bot's own: an integration sees none.
            found = (
                identity.sees(BOT_OWNER)
                and await workflow_store.get_workflow(conn, bot_id=identity.bot_id, id=resource_id) is not None
            )
        else:
            task = await task_store.get_task(conn, bot_id=identity.bot_id, id=resource_id)
            found = task is not None and await get_conversation_row(conn, identity, task["conversation_id"]) is not None
        if not found:
            raise ResourceNotFound(
                f"{self.type.capitalize()} {resource_id} not found, so it cannot keep state {self.name!r}."
            )

    def encode(self, payload: dict[str, Any]) -> str:
        validate(self.definition.validator, payload, what=f"payload of state {self.name!r}")
        encoded = encode_json(payload)
        if len(encoded.encode()) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(f"A state payload may be at most {MAX_PAYLOAD_BYTES} bytes of JSON.")
        return encoded

    async def insert(self, conn: Connection, *, payload: str, expiry: int | None, now_ms: int) -> StateRow | None:
        """Stores a new state; None when another request stored one with the same key first."""
        now = iso_from_ms(now_ms)
        state_id = ids.new_id(ids.STATE)
        expires_at = _expires_at(expiry, now_ms)
        inserted = await store.insert_state(
            conn,
            id=state_id,
            bot_id=self.identity.bot_id,
            integration=self.integration,
            type=self.type,
            resource_id=self.resource_id,
            name=self.name,
            payload=payload,
            expiry=expiry,
            expires_at=expires_at,
            now=now,
        )
        row: StateRow = {
            "id": state_id,
            "bot_id": self.identity.bot_id,
            "integration": self.integration,
            "type": self.type,
            "resource_id": self.resource_id,
            "name": self.name,
            "payload": payload,
            "expiry": expiry,
            "expires_at": expires_at,
            "created_at": now,
            "updated_at": now,
        }
        return row if inserted else None


def _expires_at(expiry: int | None, now_ms: int) -> str | None:
    return None if expiry is None else iso_from_ms(now_ms + expiry)


def _expiry(requested: float | UnsetType | None, current: int | None) -> int | None:
    """The expiry after a write: the requested one, or the current one when none is given."""
    if requested is UNSET:
        return current
    return None if requested is None else int(requested)


async def _write(conn: Connection, row: StateRow, *, payload: str, expiry: int | None, now_ms: int) -> State:
    """Overwrites a state; every write counts as activity and restarts the idle expiry."""
    now = iso_from_ms(now_ms)
    expires_at = _expires_at(expiry, now_ms)
    await store.update_state(conn, id=row["id"], payload=payload, expiry=expiry, expires_at=expires_at, now=now)
    return to_state({**row, "payload": payload, "expiry": expiry, "expires_at": expires_at, "updated_at": now})


async def get_state(conn: Connection, identity: Identity, state_type: str, resource_id: str, name: str) -> State:
    """Reading a state does not count as activity: it does not delay the expiry."""
    return to_state(await _Key(identity, state_type, resource_id, name).require(conn))


async def set_state(
    conn: Connection, identity: Identity, state_type: str, resource_id: str, name: str, body: SetState, *, now_ms: int
) -> State:
    """Creates or overwrites a state; a null payload deletes it."""
    key = _Key(identity, state_type, resource_id, name)
    await key.check_resource(conn)
    if body.payload is None:
        # Deleting is idempotent: a missing state answers as an empty one, so that clearing a
        # state "just in case" never fails.
        existing = await key.find(conn)
        if existing is not None:
            await store.delete_state(conn, id=existing["id"])
            return to_state(existing, payload="{}")
        now = iso_from_ms(now_ms)
        return to_state(
            {
                "id": ids.new_id(ids.STATE),
                "bot_id": identity.bot_id,
                "integration": key.integration,
                "type": state_type,
                "resource_id": resource_id,
                "name": name,
                "payload": "{}",
                "expiry": None,
                "expires_at": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    payload = key.encode(body.payload)
    existing = await key.find(conn)
    if existing is None:
        expiry = _expiry(body.expiry, key.definition.expiry)
        inserted = await key.insert(conn, payload=payload, expiry=expiry, now_ms=now_ms)
        if inserted is not None:
            return to_state(inserted)
        existing = await key.require(conn)
    return await _write(conn, existing, payload=payload, expiry=_expiry(body.expiry, existing["expiry"]), now_ms=now_ms)


async def patch_state(
    conn: Connection, identity: Identity, state_type: str, resource_id: str, name: str, body: PatchState, *, now_ms: int
) -> State:
    """Merges the given top-level keys into the stored payload."""
    key = _Key(identity, state_type, resource_id, name)
    existing = await key.require(conn)
    merged = {**msgspec.json.decode(existing["payload"]), **body.payload}
    payload = key.encode(merged)
    return await _write(conn, existing, payload=payload, expiry=_expiry(body.expiry, existing["expiry"]), now_ms=now_ms)


async def get_or_set_state(
    conn: Connection,
    identity: Identity,
    state_type: str,
    resource_id: str,
    name: str,
    body: GetOrSetState,
    *,
    now_ms: int,
) -> State:
    """The stored state untouched when there is one, else a new one from the body."""
    key = _Key(identity, state_type, resource_id, name)
    existing = await key.find(conn)
    if existing is not None:
        return to_state(existing)
    payload = key.encode(body.payload)
    await key.check_resource(conn)
    expiry = _expiry(body.expiry, key.definition.expiry)
    inserted = await key.insert(conn, payload=payload, expiry=expiry, now_ms=now_ms)
    return to_state(inserted if inserted is not None else await key.require(conn))


async def set_state_expiry(
    conn: Connection,
    identity: Identity,
    state_type: str,
    resource_id: str,
    name: str,
    body: SetStateExpiry,
    *,
    now_ms: int,
) -> State:
    key = _Key(identity, state_type, resource_id, name)
    existing = await key.require(conn)
    expiry = None if body.expiry is None else int(body.expiry)
    return await _write(conn, existing, payload=existing["payload"], expiry=expiry, now_ms=now_ms)


async def expire(conn: Connection, bot: BotDefinition, row: StateRow, *, now: str) -> bool:
    """Deletes a state whose idle time ran out and tells the bot with a `state_expired` event;
    False when a write refreshed it first. States an integration keeps expire silently."""
    if not await store.delete_if_expired(conn, id=row["id"], now=now):
        return False
    if not row["integration"]:
        payload = encode_json({"state": to_state(row)})
        conversation_id = row["resource_id"] if row["type"] == "conversation" else None
        user_id = row["resource_id"] if row["type"] == "user" else None
        await events.record(
            conn, bot, type="state_expired", payload=payload, conversation_id=conversation_id, user_id=user_id, now=now
        )
    return True


class OwnedState(State):
    """A state as an operator lists it: with the alias of the integration that keeps it (none
    for the bot's own)."""

    integration: str | None = None


async def list_states(
    conn: Connection, *, bot_id: str, state_type: str, resource_id: str, page: Page
) -> tuple[list[OwnedState], str | None]:
    """Every state on one resource of a bot, whoever keeps it (the console's view)."""
    if state_type not in TYPES:
        raise InvalidPayload(f"`type` must be one of {', '.join(TYPES)}; got {state_type!r}.")
    rows, next_token = await store.list_states(
        conn, bot_id=bot_id, type=state_type, resource_id=resource_id, cursor=page.cursor, limit=page.size
    )
    listed = [
        OwnedState(**msgspec.structs.asdict(to_state(row)), integration=row["integration"] or None) for row in rows
    ]
    return listed, next_token
