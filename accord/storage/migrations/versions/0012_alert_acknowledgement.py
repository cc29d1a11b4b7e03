"""Acknowledged alerts (docs/early-warning.md, "Acknowledging"): who of the alert's organisation
acknowledged it, and when. Both are NULL until then; the first acknowledgement stands (a second
changes nothing), and the audit log has an ``alert.ack`` entry for it.

Revision ID: 0012
Revises: 0009 (the chain is 0008 -> 0011 -> 0010 -> 0009 -> 0012: storage/migrate.py says why)
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("acknowledged", sa.BigInteger))  # microseconds since the epoch
        batch.add_column(sa.Column("acknowledged_by", sa.Text))  # a username, or the node operator


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged")
