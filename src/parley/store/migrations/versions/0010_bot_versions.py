"""Each bot has a version, moved by every change to its definition or installations and by a
change to an integration it installs; it replaces the one epoch that every Admin change moved.

A process keeps a bot's parsed definition while the bot's version stays the same, so a change to
one bot no longer makes every process parse every other bot again.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bots") as batch_op:
        batch_op.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))
    op.drop_table("parley_meta")


def downgrade() -> None:
    meta = op.create_table(
        "parley_meta",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "epoch", "value": 0}])
    with op.batch_alter_table("bots") as batch_op:
        batch_op.drop_column("version")
