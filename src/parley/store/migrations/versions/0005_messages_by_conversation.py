"""An index that answers "the newest messages of this bot's conversation" in order.

Without it SQLite walks the bot's messages in creation order (bot_id, created_at) and filters
the conversation row by row, which grows with the number of messages.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("messages_bot_conversation", "messages", ["bot_id", "conversation_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("messages_bot_conversation", "messages")
