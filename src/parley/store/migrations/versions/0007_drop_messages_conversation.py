"""Drops the index of messages by conversation alone: messages_bot_conversation (bot, conversation,
creation time) answers every query that used it, and each new message paid for one more index entry.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("messages_conversation", "messages")


def downgrade() -> None:
    op.create_index("messages_conversation", "messages", ["conversation_id", "created_at", "id"])
