"""Who may enable a disabled user again (docs/operations.md, "Someone leaves, or an account is
compromised"): ``disabled_by_node_admin`` is true while the user stays disabled by a node-admin
or the node operator, whose decision an org-admin may not undo.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        # Users disabled before this revision could only have been disabled in the database by
        # hand, i.e. by the operator: counted as a node-admin's decision.
        batch.add_column(sa.Column("disabled_by_node_admin", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE users SET disabled_by_node_admin = disabled"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_by_node_admin")
