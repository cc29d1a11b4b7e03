"""TAXII: status resources of Add Objects requests, and the node's secrets (the paging-cursor key).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per Add Objects request (TAXII 2.1 section 4.3.1). `body` is the status resource as
    # served, compact JSON; `owner` is the username that posted, the only one who may read it.
    op.create_table(
        "taxii_status",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("api_root", sa.Text, sa.ForeignKey("api_roots.name"), nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_taxii_status_created", "taxii_status", ["created"])
    # Keys the node keeps for itself (e.g. the HMAC key that signs TAXII `next` cursors), so every
    # worker process and every restart agree on them.
    op.create_table(
        "node_secrets",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("node_secrets")
    op.drop_index("ix_taxii_status_created", "taxii_status")
    op.drop_table("taxii_status")
