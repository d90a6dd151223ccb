"""Initial schema: bots, integrations, keys, users, conversations, participants, messages, tags.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Text(), nullable=True),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index("api_keys_owner", ["kind", "owner_id"], unique=False)

    op.create_table(
        "bots",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("signing_secret", sa.Text(), nullable=False),
        sa.Column("dev", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.create_index("bots_created", ["created_at", "id"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("bot_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("integration", sa.Text(), nullable=False),
        sa.Column("integration_name", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("conversations_created", ["bot_id", "created_at", "id"], unique=False)
        batch_op.create_index("conversations_updated", ["bot_id", "updated_at", "id"], unique=False)

    op.create_table(
        "installations",
        sa.Column("bot_id", sa.Text(), nullable=False),
        sa.Column("alias", sa.Text(), nullable=False),
        sa.Column("integration_id", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("configuration", sa.Text(), nullable=False),
        sa.Column("configuration_type", sa.Text(), nullable=True),
        sa.Column("disabled_channels", sa.Text(), nullable=False),
        sa.Column("webhook_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "alias"),
    )
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.create_index("installations_integration", ["integration_id"], unique=False)

    op.create_table(
        "integrations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("dev", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="integrations_name_version"),
    )
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.create_index("integrations_created", ["created_at", "id"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("bot_id", sa.Text(), nullable=False),
        sa.Column("conversation_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("scheduled_for", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("messages_conversation", ["conversation_id", "created_at", "id"], unique=False)
        batch_op.create_index("messages_created", ["bot_id", "created_at", "id"], unique=False)

    op.create_table(
        "parley_meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "participants",
        sa.Column("conversation_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("bot_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "user_id"),
    )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index("participants_user", ["bot_id", "user_id"], unique=False)

    op.create_table(
        "tag_index",
        sa.Column("bot_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("ns", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", "key"),
    )
    with op.batch_alter_table("tag_index", schema=None) as batch_op:
        batch_op.create_index("tag_index_lookup", ["bot_id", "kind", "key", "value"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("bot_id", sa.Text(), nullable=False),
        sa.Column("integration", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("picture_url", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("users_created", ["bot_id", "created_at", "id"], unique=False)
        batch_op.create_index("users_updated", ["bot_id", "updated_at", "id"], unique=False)

    op.bulk_insert(
        sa.table("parley_meta", sa.column("key", sa.Text), sa.column("value", sa.BigInteger)),
        [{"key": "epoch", "value": 0}],
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("users_updated")
        batch_op.drop_index("users_created")

    op.drop_table("users")
    with op.batch_alter_table("tag_index", schema=None) as batch_op:
        batch_op.drop_index("tag_index_lookup")

    op.drop_table("tag_index")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index("participants_user")

    op.drop_table("participants")
    op.drop_table("parley_meta")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("messages_created")
        batch_op.drop_index("messages_conversation")

    op.drop_table("messages")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_index("integrations_created")

    op.drop_table("integrations")
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_index("installations_integration")

    op.drop_table("installations")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("conversations_updated")
        batch_op.drop_index("conversations_created")

    op.drop_table("conversations")
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_index("bots_created")

    op.drop_table("bots")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("api_keys_owner")

    op.drop_table("api_keys")
