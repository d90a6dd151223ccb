"""The schema, as SQLAlchemy metadata: the source Alembic migrations are written from.

Timestamps are ISO 8601 text in UTC with milliseconds (`2024-05-01T12:00:00.000Z`): one fixed
width, so text order is time order on both dialects. JSON documents are text.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

_EVENTS_FINISHED = "status IN ('processed', 'failed', 'ignored', 'canceled')"

bots = Table(
    "bots",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("definition", Text, nullable=False),
    Column("url", Text),
    Column("signing_secret", Text, nullable=False),
    Column("dev", Boolean, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    # Moved by every change to what a process parses of the bot (its definition, installations,
    # an installed integration's definition): the parsed copy is current while this is unchanged.
    Column("version", BigInteger, nullable=False, server_default="0"),
    Index("bots_created", "created_at", "id"),
)

integrations = Table(
    "integrations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("definition", Text, nullable=False),
    Column("url", Text),
    Column("dev", Boolean, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    UniqueConstraint("name", "version", name="integrations_name_version"),
    Index("integrations_created", "created_at", "id"),
)

installations = Table(
    "installations",
    metadata,
    Column("bot_id", Text, nullable=False),
    Column("alias", Text, nullable=False),
    Column("integration_id", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("configuration", Text, nullable=False),
    Column("configuration_type", Text),
    Column("disabled_channels", Text, nullable=False),
    Column("webhook_id", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("bot_user_id", Text),
    Column("identifier", Text),
    Column("register_schedule", Text),
    Column("sandbox_identifiers", Text),
    Column("status", Text, nullable=False, server_default="registered"),
    Column("status_reason", Text),
    # Signs the keys of the users of a built-in chat installation that names no key of its own.
    Column("secret", Text),
    PrimaryKeyConstraint("bot_id", "alias"),
    Index("installations_integration", "integration_id"),
    Index("installations_webhook", "webhook_id", unique=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("owner_id", Text),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("note", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Index("api_keys_owner", "kind", "owner_id"),
)

users = Table(
    "users",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("integration", Text, nullable=False),
    Column("name", Text),
    Column("picture_url", Text),
    Column("tags", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("users_created", "bot_id", "created_at", "id"),
    Index("users_updated", "bot_id", "updated_at", "id"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("integration", Text, nullable=False),
    Column("integration_name", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("current_task_id", Text),
    Index("conversations_created", "bot_id", "created_at", "id"),
    Index("conversations_updated", "bot_id", "updated_at", "id"),
)

participants = Table(
    "participants",
    metadata,
    Column("conversation_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("bot_id", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    PrimaryKeyConstraint("conversation_id", "user_id"),
    Index("participants_user", "bot_id", "user_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("conversation_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("direction", Text, nullable=False),
    Column("origin", Text),
    Column("tags", Text, nullable=False),
    Column("scheduled_for", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("messages_created", "bot_id", "created_at", "id"),
    Index("messages_bot_conversation", "bot_id", "conversation_id", "created_at", "id"),
)

tag_index = Table(
    "tag_index",
    metadata,
    Column("bot_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("ns", Text, nullable=False),
    # The resource's creation time: a tag's entries are walked in a list's order.
    Column("created_at", Text, nullable=False),
    PrimaryKeyConstraint("resource_id", "key"),
    Index("tag_index_ordered", "bot_id", "kind", "key", "value", "created_at", "resource_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("integration", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("failure_reason", Text),
    Column("conversation_id", Text),
    Column("user_id", Text),
    Column("message_id", Text),
    Column("workflow_id", Text),
    Column("scheduled_for", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("events_created", "bot_id", "created_at", "id"),
    Index("events_conversation", "bot_id", "conversation_id", "created_at", "id"),
    # Retention finds finished events by age (store.retention).
    Index(
        "events_finished",
        "updated_at",
        sqlite_where=text(_EVENTS_FINISHED),
        postgresql_where=text(_EVENTS_FINISHED),
    ),
    Index("events_user", "bot_id", "user_id", "created_at", "id"),
    Index("events_message", "bot_id", "message_id", "created_at", "id"),
)

states = Table(
    "states",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("integration", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("expiry", BigInteger),
    Column("expires_at", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    UniqueConstraint("bot_id", "integration", "type", "resource_id", "name", name="states_key"),
    Index("states_expiring", "expires_at"),
    Index("states_resource", "resource_id"),
)

timers = Table(
    "timers",
    metadata,
    Column("kind", Text, nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("bot_id", Text, nullable=False),
    Column("due_at", Text, nullable=False),
    PrimaryKeyConstraint("kind", "resource_id"),
    Index("timers_due", "due_at"),
)


def _partial_index(name: str, columns: list[str], where: str) -> Index:
    """An index of the rows `where` holds for, in both dialects."""
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


_UNFINISHED = "status IN ('pending', 'in_flight')"
_RETRYING = f"{_UNFINISHED} AND attempts > 0"

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("alias", Text, nullable=False),
    Column("operation", Text, nullable=False),
    Column("event_id", Text),
    Column("message_id", Text),
    Column("ordering_key", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", BigInteger, nullable=False),
    Column("next_attempt_at", Text, nullable=False),
    Column("last_error", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("data", Text),
    Index("deliveries_due", "status", "next_attempt_at"),
    # Both partial: the claim asks them about unfinished deliveries only, and most rows are done.
    _partial_index("deliveries_order", ["bot_id", "ordering_key", "created_at", "id"], _UNFINISHED),
    _partial_index("deliveries_retrying", ["bot_id", "alias", "created_at", "id"], _RETRYING),
    Index("deliveries_created", "bot_id", "created_at", "id"),
    Index("deliveries_message", "message_id"),
    Index("deliveries_event", "event_id"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("delivery_id", Text, nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    Column("status_code", BigInteger),
    Column("error", Text),
    Column("outcome", Text, nullable=False),
    PrimaryKeyConstraint("delivery_id", "number"),
)

workflows = Table(
    "workflows",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("input", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("parent_workflow_id", Text),
    Column("conversation_id", Text),
    Column("user_id", Text),
    Column("tags", Text, nullable=False),
    Column("timeout_at", Text, nullable=False),
    Column("completed_at", Text),
    Column("failure_reason", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("workflows_created", "bot_id", "created_at", "id"),
    Index("workflows_name", "bot_id", "name", "status"),
    Index("workflows_conversation", "conversation_id", "status", "created_at"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("parent_task_id", Text),
    Column("conversation_id", Text, nullable=False),
    Column("user_id", Text),
    Column("tags", Text, nullable=False),
    Column("timeout_at", Text, nullable=False),
    Column("failure_reason", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("tasks_created", "bot_id", "created_at", "id"),
)

analytics = Table(
    "analytics",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bot_id", Text, nullable=False),
    Column("integration", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("created_at", Text, nullable=False),
    Index("analytics_name", "bot_id", "name", "created_at"),
)

# Chat signals too large for a PostgreSQL NOTIFY: the NOTIFY names the row instead.
signals = Table(
    "signals",
    metadata,
    Column("id", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    PrimaryKeyConstraint("id"),
    Index("signals_created", "created_at"),
)
