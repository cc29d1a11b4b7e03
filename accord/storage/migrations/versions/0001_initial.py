"""Initial schema: API roots, collections, object versions, collection membership, observable index.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_roots",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "collections",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("api_root", sa.Text, sa.ForeignKey("api_roots.name"), nullable=False),
        sa.Column("alias", sa.Text, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("default_tlp", sa.Text, nullable=False, server_default="amber"),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    # One row per (id, version). `version` is the comparison key of `modified` (or `created`
    # for objects without one, '' for objects with neither), so equal instants written with
    # different precision are one version. `body` is the object as received, compact JSON.
    op.create_table(
        "object_versions",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("stix_id", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("spec_version", sa.Text, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("tlp", sa.Text),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("stix_id", "version", name="uq_object_versions_id_version"),
    )
    # date_added is unique across the node and strictly increasing in commit order: it is the
    # paging key of every TAXII listing, so it doubles as the primary key.
    op.create_table(
        "collection_objects",
        sa.Column("date_added", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("collection_pk", sa.Integer, sa.ForeignKey("collections.pk"), nullable=False),
        sa.Column("version_pk", sa.Integer, sa.ForeignKey("object_versions.pk"), nullable=False),
        sa.UniqueConstraint("collection_pk", "version_pk", name="uq_collection_objects_member"),
    )
    op.create_index("ix_collection_objects_page", "collection_objects", ["collection_pk", "date_added"])
    op.create_table(
        "observables",
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, primary_key=True),
        sa.Column("version_pk", sa.Integer, sa.ForeignKey("object_versions.pk"), primary_key=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("observables")
    op.drop_table("collection_objects")
    op.drop_table("object_versions")
    op.drop_table("collections")
    op.drop_table("api_roots")
