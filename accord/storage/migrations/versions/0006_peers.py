"""Federation: partner nodes (peers) and the collections exchanged with each (links), with the
cursor each link has reached.

A peer's API token is stored sealed with the node's key file (services/secrets.py), never in
clear, so a copy of the database alone does not let anyone call a partner's node.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),  # the peer's TAXII discovery URL
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("sealed_token", sa.LargeBinary, nullable=False),
        # The partner organisation: origin of what we pull, and whose agreements govern what we push.
        sa.Column("org_pk", sa.Integer, sa.ForeignKey("organisations.pk"), nullable=False),
        sa.Column("interval_s", sa.Integer, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        # Inbound policy: the highest TLP accepted, the types accepted (JSON list; NULL: all).
        sa.Column("accept_max_tlp", sa.Text, nullable=False),
        sa.Column("accept_types", sa.Text),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "peer_links",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("peer_pk", sa.Integer, sa.ForeignKey("peers.pk"), nullable=False),
        sa.Column("direction", sa.Text, nullable=False),  # 'pull' or 'push'
        sa.Column("remote_collection", sa.Text, nullable=False),
        sa.Column("local_collection_pk", sa.Integer, sa.ForeignKey("collections.pk"), nullable=False),
        # pull: the remote's X-TAXII-Date-Added-Last reached (its added_after for the next page);
        # push: the local date_added of the last version sent.
        sa.Column("cursor", sa.Text),
        # pull from another Accord node: the last entry of its retraction feed applied here.
        sa.Column("retractions_cursor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("objects", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_attempt", sa.BigInteger),
        sa.Column("last_success", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("peer_pk", "direction", "remote_collection", "local_collection_pk",
                            name="uq_peer_links"),
    )
    # Which organisation's copy of a version an audit item concerns (two organisations may hold
    # the same id and version): receipts and retractions name it, so a retraction travels to
    # exactly those who received that copy.
    with op.batch_alter_table("audit_items") as batch:
        batch.add_column(sa.Column("owner", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("audit_items") as batch:
        batch.drop_column("owner")
    op.drop_table("peer_links")
    op.drop_table("peers")
