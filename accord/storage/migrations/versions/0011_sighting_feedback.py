"""How far each pull link has sent back the sightings of the partner's objects.

A sighting recorded here of an object pulled from a partner travels back to that partner's node
(sync/feedback.py), into the collection it came from. The cursor is the last ``date_added`` of
the local collection that feedback has gone through, like a push link's.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("peer_links") as batch:
        batch.add_column(sa.Column("feedback_cursor", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("peer_links") as batch:
        batch.drop_column("feedback_cursor")
