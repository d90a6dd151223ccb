"""Integrations: their definitions, as the Admin API creates, changes, lists and shows them."""

from typing import Any, TypeVar

import msgspec
from msgspec import UNSET

from parley import ids
from parley.chat import definition as chat_definition
from parley.errors import InvalidPayload, ReferenceConstraint, ResourceNotFound
from parley.service.admin_models import (
    Channel,
    CreateIntegration,
    Integration,
    IntegrationSummary,
    Tags,
    TagsAndCreation,
    UpdateIntegration,
)
from parley.service.common import Page
from parley.service.definition_rules import check_definition, merge_map, to_plain
from parley.service.models import encode_json
from parley.store import bots as bot_store
from parley.store import integrations as integration_store
from parley.store.database import Connection
from parley.store.integrations import IntegrationRow
from parley.store.sql import Order

S = TypeVar("S", bound=IntegrationSummary)

# What a definition says about creating conversations or users when it says nothing.
NO_CREATION: dict[str, Any] = {"enabled": False, "requiredTags": []}


def _integration_document(plain: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in plain.items() if key not in ("name", "version", "url", "dev", "code")}


async def create_integration(conn: Connection, body: CreateIntegration, *, now: str) -> str:
    if await integration_store.find_by_name(conn, name=body.name, version=body.version) is not None:
        raise InvalidPayload(f"Integration {body.name}@{body.version} already exists.")
    document = _integration_document(to_plain(body))
    check_definition(document, owner=f"Integration {body.name!r}")
    integration_id = ids.new_id(ids.INTEGRATION)
    await integration_store.insert_integration(
        conn,
        id=integration_id,
        name=body.name,
        version=body.version,
        definition=encode_json(document),
        url=body.url,
        dev=body.dev,
        now=now,
    )
    return integration_id


async def require_integration(conn: Connection, integration_id: str) -> IntegrationRow:
    row = await integration_store.get_integration(conn, integration_id)
    if row is None:
        raise ResourceNotFound(f"Integration {integration_id} not found.")
    return row


async def update_integration(conn: Connection, integration_id: str, body: UpdateIntegration, *, now: str) -> None:
    """Changes the definition and moves the version of every bot that installs the integration,
    so that each of them parses it again."""
    _refuse_builtin(integration_id, "changed")
    row = await require_integration(conn, integration_id)
    document: dict[str, Any] = msgspec.json.decode(row["definition"])
    for section, field in (
        ("channels", "channels"),
        ("states", "states"),
        ("events", "events"),
        ("actions", "actions"),
        ("entities", "entities"),
        ("interfaces", "interfaces"),
        ("configurations", "configurations"),
        ("attributes", "attributes"),
        ("secrets", "secrets"),
    ):
        merge_map(document, section, getattr(body, field))
    for field, key in (
        ("configuration", "configuration"),
        ("identifier", "identifier"),
        ("extra_operations", "extraOperations"),
        ("sdk_version", "sdkVersion"),
        ("user", "user"),
        ("icon", "icon"),
        ("readme", "readme"),
        ("title", "title"),
        ("description", "description"),
        ("public", "public"),
        ("visibility", "visibility"),
        ("max_execution_time", "maxExecutionTime"),
    ):
        value = getattr(body, field)
        if value is not None:
            document[key] = to_plain(value)
    check_definition(document, owner=f"Integration {row['name']!r}")
    url = row["url"] if body.url is UNSET else body.url
    await integration_store.update_integration(
        conn, id=integration_id, definition=encode_json(document), url=url, now=now
    )
    await bot_store.bump_installing(conn, integration_id)


def _refuse_builtin(integration_id: str, done: str) -> None:
    if chat_definition.is_builtin(integration_id):
        raise InvalidPayload(f"Integration {integration_id} is built into Parley and cannot be {done}.")


async def delete_integration(conn: Connection, integration_id: str) -> None:
    _refuse_builtin(integration_id, "deleted")
    await require_integration(conn, integration_id)
    bots = await integration_store.installed_in(conn, integration_id)
    if bots:
        raise ReferenceConstraint(
            f"Integration {integration_id} is still installed in {len(bots)} bot(s), e.g. {bots[0]};"
            " uninstall it first."
        )
    await integration_store.delete_integration(conn, integration_id)


def summarize(kind: type[S], row: IntegrationRow, document: dict[str, Any], **details: Any) -> S:
    """An integration's summary, or a view that extends it with `details` (the full definition, a
    bot's installation). A self-hosted integration is never reviewed or unpublished, so those
    statuses are constants."""
    return kind(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        title=document.get("title") or row["name"],
        description=document.get("description") or "",
        icon_url="",
        public=bool(document.get("public", False)),
        visibility=document.get("visibility") or "private",
        verification_status="unapproved",
        lifecycle_status="published",
        **details,
    )


def integration_summary(row: IntegrationRow) -> IntegrationSummary:
    return summarize(IntegrationSummary, row, msgspec.json.decode(row["definition"]))


def _channel(channel: dict[str, Any]) -> Channel:
    conversation = channel.get("conversation") or {}
    return Channel(
        title=channel.get("title", UNSET),
        description=channel.get("description", UNSET),
        messages=channel.get("messages") or {},
        conversation=TagsAndCreation(
            tags=conversation.get("tags") or {}, creation=conversation.get("creation") or NO_CREATION
        ),
        message=Tags(tags=(channel.get("message") or {}).get("tags") or {}),
    )


def integration_view(row: IntegrationRow) -> Integration:
    """The Integration object of the Admin API."""
    document: dict[str, Any] = msgspec.json.decode(row["definition"])
    user = document.get("user") or {}
    configuration = document.get("configuration") or {}
    return summarize(
        Integration,
        row,
        document,
        identifier=document.get("identifier") or {},
        url=row["url"] or "",
        interfaces=document.get("interfaces") or {},
        configuration={
            **configuration,
            "identifier": {"required": False, **(configuration.get("identifier") or {})},
            "schema": configuration.get("schema") or {},
        },
        configurations=document.get("configurations") or {},
        channels={name: _channel(channel) for name, channel in (document.get("channels") or {}).items()},
        states=document.get("states") or {},
        events=document.get("events") or {},
        actions=document.get("actions") or {},
        user=TagsAndCreation(tags=user.get("tags") or {}, creation=user.get("creation") or NO_CREATION),
        entities=document.get("entities") or {},
        dev=bool(row["dev"]),
        readme_url="",
        secrets=sorted(document.get("secrets") or {}),
        attributes=document.get("attributes", UNSET),
        max_execution_time=document.get("maxExecutionTime", UNSET),
    )


async def list_integrations(
    conn: Connection,
    *,
    name: str | None,
    version: str | None,
    installed_by_bot_id: str | None,
    dev: bool | None,
    order: Order,
    page: Page,
) -> tuple[list[IntegrationRow], str | None]:
    return await integration_store.list_integrations(
        conn,
        name=name,
        version=version,
        installed_by_bot_id=installed_by_bot_id,
        dev=bool(dev),
        order=order,
        cursor=page.cursor,
        limit=page.size,
    )
