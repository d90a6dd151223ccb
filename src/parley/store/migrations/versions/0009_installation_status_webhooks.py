"""Installations keep their registration status, and are found by webhook id.

An installation is `registration_pending` until its integration answered `register`, then
`registered`, or `registration_failed` with the reason. Installations made before this revision
were shown as registered, and keep that status. The webhook id is what an outside service
addresses, so it is unique and indexed.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installations") as batch_op:
        batch_op.add_column(sa.Column("status", sa.Text(), nullable=False, server_default="registered"))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
    op.create_index("installations_webhook", "installations", ["webhook_id"], unique=True)


def downgrade() -> None:
    op.drop_index("installations_webhook", "installations")
    with op.batch_alter_table("installations") as batch_op:
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status")
