"""Tag rules: declared keys only, integration tags namespaced by installation alias, empty removes."""

from collections.abc import Mapping

from parley.errors import InvalidPayload
from parley.service.definitions import TagKind
from parley.service.identity import Identity
from parley.service.models import decode_tags, encode_json
from parley.store.database import Connection
from parley.store.tags import TaggedRow, retag


def _qualify_key(identity: Identity, kind: TagKind, key: str, channel: str | None) -> str:
    installation = identity.installation
    if installation is not None:
        # Integrations write their tags bare; the older `<alias>:<key>` form is accepted too.
        bare = key.removeprefix(f"{installation.alias}:")
        if bare in installation.integration.tag_keys(kind, channel):
            return f"{installation.alias}:{bare}"
        raise InvalidPayload(
            f"Tag {key!r} is not declared for {kind}s by integration {installation.integration.name!r}"
            + (f" on channel {channel!r}." if channel and kind != "user" else ".")
        )
    alias, sep, bare = key.partition(":")
    if not sep:
        if key in identity.bot.tag_keys(kind):
            return key
        raise InvalidPayload(f"Tag {key!r} is not declared in the {kind} tags of bot {identity.bot_id}.")
    found = identity.bot.installations.get(alias)
    if found is not None and bare in found.integration.tag_keys(kind, None):
        return key
    raise InvalidPayload(f"Tag {key!r} is not declared for {kind}s by an integration installed as {alias!r}.")


def qualify(
    identity: Identity, kind: TagKind, tags: Mapping[str, str | None], *, channel: str | None = None
) -> dict[str, str | None]:
    """The caller's tags with their stored keys; raises InvalidPayload for an undeclared key."""
    return {_qualify_key(identity, kind, key, channel): value for key, value in tags.items()}


def qualify_keys(
    identity: Identity, kind: TagKind, keys: list[str] | None, *, channel: str | None = None
) -> list[str] | None:
    """A `discriminateByTags` list in stored keys; raises InvalidPayload for an undeclared key."""
    return None if keys is None else [_qualify_key(identity, kind, key, channel) for key in keys]


def qualify_filter(identity: Identity, tags: Mapping[str, str]) -> dict[str, str]:
    """Tag filters of a list call, in stored keys. Undeclared keys simply match nothing."""
    if identity.installation is None:
        return dict(tags)
    prefix = f"{identity.installation.alias}:"
    return {prefix + key.removeprefix(prefix): value for key, value in tags.items()}


def merge(stored: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """Applies changes per key: a value sets the key, `""` or null removes it."""
    merged = dict(stored)
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return merged


def visible(identity: Identity, stored: Mapping[str, str]) -> dict[str, str]:
    """What the caller sees: everything for a bot; its own tags, bare, for an integration."""
    if identity.installation is None:
        return dict(stored)
    prefix = f"{identity.installation.alias}:"
    return {key[len(prefix) :]: value for key, value in stored.items() if key.startswith(prefix)}


async def apply(
    conn: Connection, identity: Identity, kind: str, row: TaggedRow, changes: Mapping[str, str | None], *, now: str
) -> dict[str, str] | None:
    """Writes `changes` onto the tags of a stored resource of tag kind `kind`; returns the new tag
    set, or None when the changes leave the tags as they were (and nothing was written)."""
    stored = decode_tags(row["tags"])
    merged = merge(stored, changes)
    if merged == stored:
        return None
    await retag(
        conn,
        kind=kind,
        bot_id=identity.bot_id,
        id=row["id"],
        tags=merged,
        encoded=encode_json(merged),
        now=now,
    )
    return merged


def unchanged_by(row: TaggedRow, changes: Mapping[str, str | None]) -> bool:
    """Whether applying `changes` would leave the row's tags as they are."""
    stored = decode_tags(row["tags"])
    return merge(stored, changes) == stored
