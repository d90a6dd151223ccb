"""Dispatch: delivery attempts, data carried by a delivery, the bot's user in each installation.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installations") as batch_op:
        batch_op.add_column(sa.Column("bot_user_id", sa.Text(), nullable=True))
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("data", sa.Text(), nullable=True))
    op.create_index("deliveries_order", "deliveries", ["bot_id", "ordering_key", "created_at", "id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("delivery_id", sa.Text(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", "number"),
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_index("deliveries_order", "deliveries")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("data")
    with op.batch_alter_table("installations") as batch_op:
        batch_op.drop_column("bot_user_id")
