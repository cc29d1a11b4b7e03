"""Organisations, users, API tokens and per-organisation collection grants.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        # 'local': a member organisation of this node; 'partner': one reached through federation.
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("username", sa.Text, nullable=False, unique=True),
        sa.Column("org_pk", sa.Integer, sa.ForeignKey("organisations.pk"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text),  # argon2, for the web UI; API access uses tokens
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    # Only a digest of each token is kept; the token itself is shown once, when it is created.
    op.create_table(
        "tokens",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("user_pk", sa.Integer, sa.ForeignKey("users.pk"), nullable=False),
        sa.Column("digest", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("label", sa.Text),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger),
        sa.Column("revoked", sa.BigInteger),
    )
    op.create_table(
        "collection_grants",
        sa.Column("collection_pk", sa.Integer, sa.ForeignKey("collections.pk"), primary_key=True),
        sa.Column("org_pk", sa.Integer, sa.ForeignKey("organisations.pk"), primary_key=True),
        sa.Column("can_read", sa.Boolean, nullable=False),
        sa.Column("can_write", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("collection_grants")
    op.drop_table("tokens")
    op.drop_table("users")
    op.drop_table("organisations")
