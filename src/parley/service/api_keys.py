"""API keys: bot and integration keys the Admin API makes, lists and deletes, and the admin token."""

import secrets

from parley import ids
from parley.errors import ResourceNotFound
from parley.service.admin_models import ApiKey, CreateBotApiKey, CreateIntegrationApiKey, NewApiKey
from parley.service.bots import require_bot
from parley.service.identity import ADMIN, BOT, INTEGRATION, hash_token
from parley.service.integrations import require_integration
from parley.store import api_keys as key_store
from parley.store.database import Connection


def new_token(kind: str) -> str:
    """A fresh secret token, prefixed by its kind (`bp_bak_`, `bp_iak_`, `bp_pat_`)."""
    return f"bp_{kind}_{secrets.token_urlsafe(32)}"


async def create_bot_api_key(conn: Connection, body: CreateBotApiKey, *, now: str) -> NewApiKey:
    await require_bot(conn, body.bot_id)
    return await _create_key(conn, kind=BOT, prefix=ids.BOT_API_KEY, owner_id=body.bot_id, note=body.note, now=now)


async def create_integration_api_key(conn: Connection, body: CreateIntegrationApiKey, *, now: str) -> NewApiKey:
    await require_integration(conn, body.integration_id)
    return await _create_key(
        conn,
        kind=INTEGRATION,
        prefix=ids.INTEGRATION_API_KEY,
        owner_id=body.integration_id,
        note=body.note,
        now=now,
    )


async def _create_key(
    conn: Connection, *, kind: str, prefix: str, owner_id: str | None, note: str | None, now: str
) -> NewApiKey:
    """Only the hash is stored: the value is in this answer and nowhere else."""
    value = new_token(prefix)
    key_id = ids.new_id(prefix)
    await key_store.insert_key(
        conn, id=key_id, kind=kind, owner_id=owner_id, token_hash=hash_token(value), note=note or "", now=now
    )
    return NewApiKey(id=key_id, created_at=now, note=note or "", value=value)


async def list_keys(conn: Connection, *, kind: str, owner_id: str) -> list[ApiKey]:
    rows = await key_store.list_keys(conn, kind=kind, owner_id=owner_id)
    return [ApiKey(id=row["id"], created_at=row["created_at"], note=row["note"]) for row in rows]


async def delete_key(conn: Connection, *, kind: str, key_id: str) -> None:
    if not await key_store.delete_key(conn, id=key_id, kind=kind):
        raise ResourceNotFound(f"API key {key_id} not found.")


async def ensure_admin_token(conn: Connection, token: str | None, *, now: str) -> str | None:
    """Registers the configured admin token; with none configured and none stored, creates one
    and returns its value (shown once). Returns None when nothing new was created."""
    if token is not None:
        token_hash = hash_token(token)
        if await key_store.find_by_hash(conn, token_hash) is None:
            await key_store.insert_key(
                conn,
                id=ids.new_id(ids.ADMIN_TOKEN),
                kind=ADMIN,
                owner_id=None,
                token_hash=token_hash,
                note="PARLEY_ADMIN_TOKEN",
                now=now,
            )
        return None
    if await key_store.count_kind(conn, ADMIN):
        return None
    value = new_token(ids.ADMIN_TOKEN)
    await key_store.insert_key(
        conn,
        id=ids.new_id(ids.ADMIN_TOKEN),
        kind=ADMIN,
        owner_id=None,
        token_hash=hash_token(value),
        note="generated at first start",
        now=now,
    )
    return value
