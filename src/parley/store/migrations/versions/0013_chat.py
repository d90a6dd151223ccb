"""The built-in chat channel: a secret per installation (the key that signs its users' keys when
the installation names none), and the signals too large to travel in a NOTIFY.

Revision ID: 0013
Revises: 0012
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret", sa.Text(), nullable=True))
    installations = sa.table("installations", sa.column("bot_id"), sa.column("alias"), sa.column("secret"))
    connection = op.get_bind()
    for bot_id, alias in connection.execute(sa.select(installations.c.bot_id, installations.c.alias)).all():
        connection.execute(
            installations.update()
            .where(installations.c.bot_id == bot_id, installations.c.alias == alias)
            .values(secret=secrets.token_urlsafe(32))
        )
    op.create_table(
        "signals",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("signals_created", "signals", ["created_at"])


def downgrade() -> None:
    op.drop_index("signals_created", "signals")
    op.drop_table("signals")
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_column("secret")
