"""What a definition written through the Admin API must satisfy, and how changes merge into one."""

from typing import Any

import msgspec

from parley.errors import LimitExceeded
from parley.service.schemas import compile_schema

MAX_TAG_DEFINITIONS = 50
MAX_EVENT_DEFINITIONS = 20
MAX_STATE_DEFINITIONS = 20


def to_plain(value: Any) -> Any:
    """A body struct as the JSON document we store (camelCase, nulls left out)."""
    return msgspec.to_builtins(value)


def merge_map(document: dict[str, Any], section: str, changes: dict[str, Any] | None) -> None:
    """Applies per-key changes to one map of a definition: null removes the key."""
    if changes is None:
        return
    current = dict(document.get(section) or {})
    for key, value in changes.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = to_plain(value)
    document[section] = current


def check_definition(document: dict[str, Any], *, owner: str) -> None:
    """Schemas compile and definition counts stay within the platform's limits."""
    for section in ("user", "conversation", "message"):
        tags = (document.get(section) or {}).get("tags") or {}
        if len(tags) > MAX_TAG_DEFINITIONS:
            raise LimitExceeded(f"{owner} declares {len(tags)} {section} tags; at most {MAX_TAG_DEFINITIONS}.")
    for section, limit in (("events", MAX_EVENT_DEFINITIONS), ("states", MAX_STATE_DEFINITIONS)):
        if len(document.get(section) or {}) > limit:
            raise LimitExceeded(f"{owner} declares more than {limit} {section}.")
    for section in ("events", "states"):
        for name, definition in (document.get(section) or {}).items():
            compile_schema(definition["schema"], where=f"{section[:-1]} {name!r}")
    for name, definition in (document.get("actions") or {}).items():
        compile_schema(definition["input"]["schema"], where=f"the input of action {name!r}")
        compile_schema(definition["output"]["schema"], where=f"the output of action {name!r}")
    for channel, definition in (document.get("channels") or {}).items():
        for message_type, message in definition["messages"].items():
            compile_schema(message["schema"], where=f"message type {message_type!r} of channel {channel!r}")
