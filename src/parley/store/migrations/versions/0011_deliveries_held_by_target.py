"""Deliveries wait behind an older delivery of their target that is waiting to be retried, and
the claim finds what it waits on without reading finished deliveries.

`deliveries_retrying` holds only the unfinished deliveries that have failed at least once: the
claim asks it whether an older one of the same target (the bot, or one installation) exists.
`deliveries_order` becomes partial the same way (unfinished deliveries only): the claim asks it
whether an older delivery of the same ordering key is unfinished, and before, that walked every
delivered row of the conversation.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UNFINISHED = "status IN ('pending', 'in_flight')"
RETRYING = f"{UNFINISHED} AND attempts > 0"


def _create_partial(name: str, columns: list[str], where: str) -> None:
    op.create_index(name, "deliveries", columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    op.drop_index("deliveries_order", "deliveries")
    _create_partial("deliveries_order", ["bot_id", "ordering_key", "created_at", "id"], UNFINISHED)
    _create_partial("deliveries_retrying", ["bot_id", "alias", "created_at", "id"], RETRYING)


def downgrade() -> None:
    op.drop_index("deliveries_retrying", "deliveries")
    op.drop_index("deliveries_order", "deliveries")
    op.create_index("deliveries_order", "deliveries", ["bot_id", "ordering_key", "created_at", "id"])
