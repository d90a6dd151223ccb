"""Tag index entries carry their resource's creation time, so that a list filtered by a tag walks
that tag's entries in the list's order and stops when the page is full; and events are indexed by
the conversation, user and message they concern.

`tag_index_ordered` (bot, kind, key, value, created_at, resource_id) replaces `tag_index_lookup`:
its first four columns serve every lookup the old one did.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The table of each kind of tagged resource.
_TABLES = {
    "user": "users",
    "conversation": "conversations",
    "message": "messages",
    "workflow": "workflows",
    "task": "tasks",
}
_EVENT_INDEXES = {"events_conversation": "conversation_id", "events_user": "user_id", "events_message": "message_id"}


def upgrade() -> None:
    with op.batch_alter_table("tag_index") as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.Text(), nullable=True))
    for kind, table in _TABLES.items():
        op.execute(
            f"UPDATE tag_index SET created_at = (SELECT r.created_at FROM {table} r WHERE r.id = tag_index.resource_id)"
            f" WHERE kind = '{kind}'"
        )
    # An entry whose resource is gone (none should be) sorts first rather than blocking the change.
    op.execute("UPDATE tag_index SET created_at = '' WHERE created_at IS NULL")
    with op.batch_alter_table("tag_index") as batch_op:
        batch_op.alter_column("created_at", existing_type=sa.Text(), nullable=False)
    op.create_index("tag_index_ordered", "tag_index", ["bot_id", "kind", "key", "value", "created_at", "resource_id"])
    op.drop_index("tag_index_lookup", "tag_index")
    for name, column in _EVENT_INDEXES.items():
        op.create_index(name, "events", ["bot_id", column, "created_at", "id"])


def downgrade() -> None:
    for name in _EVENT_INDEXES:
        op.drop_index(name, "events")
    op.create_index("tag_index_lookup", "tag_index", ["bot_id", "kind", "key", "value", "resource_id"])
    op.drop_index("tag_index_ordered", "tag_index")
    with op.batch_alter_table("tag_index") as batch_op:
        batch_op.drop_column("created_at")
