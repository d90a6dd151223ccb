"""Retention: finished events are found by age without reading the live ones.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FINISHED = "status IN ('processed', 'failed', 'ignored', 'canceled')"


def upgrade() -> None:
    op.create_index(
        "events_finished", "events", ["updated_at"], sqlite_where=sa.text(FINISHED), postgresql_where=sa.text(FINISHED)
    )


def downgrade() -> None:
    op.drop_index("events_finished", "events")
