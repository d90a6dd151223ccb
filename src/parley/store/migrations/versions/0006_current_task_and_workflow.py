"""A conversation's current task (set by updateConversation), and an index to find its current
workflow (the newest active one).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("current_task_id", sa.Text(), nullable=True))
    op.create_index("workflows_conversation", "workflows", ["conversation_id", "status", "created_at"])


def downgrade() -> None:
    op.drop_index("workflows_conversation", "workflows")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("current_task_id")
