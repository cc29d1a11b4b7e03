"""Which local organisation a partner's overlap key speaks for (docs/early-warning.md, "Who may ask").

A question through a peer goes out with the peer's one account on the partner's node, and that
account belongs to one organisation there: the partner answers as that organisation's agreement
allows. ``for_org_pk`` is our local organisation that account stands for; only its members (and
node-admins) may have this node ask through the peer. Keys kept before this revision have none:
node-admins alone may ask with them until the operator names the organisation
(``accord peer overlap-key PEER --for-org ORG``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("peer_overlap_keys") as batch:
        batch.add_column(sa.Column("for_org_pk", sa.Integer, sa.ForeignKey(
            "organisations.pk", name="fk_peer_overlap_keys_for_org")))


def downgrade() -> None:
    with op.batch_alter_table("peer_overlap_keys") as batch:
        batch.drop_constraint("fk_peer_overlap_keys_for_org", type_="foreignkey")
        batch.drop_column("for_org_pk")
