"""Keys of the privacy-preserving overlap check (issue 9 item 6, docs/early-warning.md).

Two kinds, kept apart because they serve opposite directions:

* ``agreement_overlap_keys``: the key this node made for one of its agreements; a party's node
  hashes its values with it and asks this node which of them it holds too;
* ``peer_overlap_keys``: the key a partner's node made for its agreement with us; this node
  hashes its own values with it to ask that partner (with the agreement's name there, if given).

Both are sealed with the node key file (services/secrets.py), never stored in clear, beside a
fingerprint (a digest of the key, which reveals nothing of it) that both operators can compare.

Revision ID: 0010
Revises: 0011
Create Date: 2026-12-08
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agreement_overlap_keys",
        sa.Column("agreement_pk", sa.Integer, sa.ForeignKey("agreements.pk"), primary_key=True),
        sa.Column("sealed_key", sa.LargeBinary, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "peer_overlap_keys",
        sa.Column("peer_pk", sa.Integer, sa.ForeignKey("peers.pk"), primary_key=True),
        sa.Column("sealed_key", sa.LargeBinary, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("remote_agreement", sa.Text),  # the agreement's name on the partner's node, if it needs one
        sa.Column("created", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("peer_overlap_keys")
    op.drop_table("agreement_overlap_keys")
