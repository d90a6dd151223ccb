"""The tag lookup index carries the resource id: a lookup by tag reads it from the index, without
a visit to the tag row itself (SQLite: a covering index; PostgreSQL: an index-only scan).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("tag_index_lookup", "tag_index")
    op.create_index("tag_index_lookup", "tag_index", ["bot_id", "kind", "key", "value", "resource_id"])


def downgrade() -> None:
    op.drop_index("tag_index_lookup", "tag_index")
    op.create_index("tag_index_lookup", "tag_index", ["bot_id", "kind", "key", "value"])
