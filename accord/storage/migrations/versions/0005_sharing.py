"""Sharing: who owns each object version and in what release state, sharing agreements, RED
recipients, and the hash-chained audit log.

Object versions become unique per owning organisation: two organisations that write the same
(id, version) each keep their own row, so one organisation's write can never collide with,
reveal or be absorbed by a version another organisation holds (SCO ids are derived from their
values, so such collisions are routine, not hypothetical).

Versions stored before this revision belong to the node's own organisation ('node') and stay
published, which is what they were in effect.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
import time

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NODE_ORG = "node"


def upgrade() -> None:
    conn = op.get_bind()
    now = time.time_ns() // 1000
    orgs = sa.table("organisations", sa.column("name"), sa.column("kind"), sa.column("created"))
    if conn.execute(sa.text("SELECT 1 FROM organisations WHERE name = :n"), {"n": NODE_ORG}).first() is None:
        conn.execute(orgs.insert().values(name=NODE_ORG, kind="local", created=now))
    node_pk = conn.execute(sa.text("SELECT pk FROM organisations WHERE name = :n"), {"n": NODE_ORG}).scalar_one()

    with op.batch_alter_table("object_versions") as batch:
        # Owner: the organisation that wrote the version on this node (for data received from a
        # partner: that partner). Origin: set only for data received from another node.
        batch.add_column(sa.Column("owner_org", sa.Integer, sa.ForeignKey("organisations.pk",
                                                                          name="fk_object_versions_owner_org"),
                                   nullable=False, server_default=str(node_pk)))
        batch.add_column(sa.Column("origin_org", sa.Integer, sa.ForeignKey("organisations.pk",
                                                                           name="fk_object_versions_origin_org")))
        batch.add_column(sa.Column("origin_node", sa.Text))
        batch.add_column(sa.Column("author", sa.Text))  # username, or NULL for the node operator
        # 'draft' (visible to its owner only), 'published' (released under the agreements), 'retracted'.
        batch.add_column(sa.Column("state", sa.Text, nullable=False, server_default="published"))
        batch.add_column(sa.Column("released_by", sa.Text))
        batch.add_column(sa.Column("released_at", sa.BigInteger))
        batch.drop_constraint("uq_object_versions_id_version", type_="unique")
        batch.create_unique_constraint("uq_object_versions_owner_id_version", ["stix_id", "version", "owner_org"])
    op.create_index("ix_object_versions_drafts", "object_versions", ["owner_org"],
                    sqlite_where=sa.text("state = 'draft'"), postgresql_where=sa.text("state = 'draft'"))

    # RED: the organisations a version is addressed to.
    op.create_table(
        "version_recipients",
        sa.Column("version_pk", sa.Integer, sa.ForeignKey("object_versions.pk"), primary_key=True),
        sa.Column("org_pk", sa.Integer, sa.ForeignKey("organisations.pk"), primary_key=True),
    )

    op.create_table(
        "agreements",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("max_tlp", sa.Text, nullable=False),
        sa.Column("onward", sa.Boolean, nullable=False),
        sa.Column("valid_from", sa.BigInteger),
        sa.Column("valid_until", sa.BigInteger),
        sa.Column("suspended", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("ended", sa.BigInteger),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agreement_parties",
        sa.Column("agreement_pk", sa.Integer, sa.ForeignKey("agreements.pk"), primary_key=True),
        sa.Column("org_pk", sa.Integer, sa.ForeignKey("organisations.pk"), primary_key=True),
    )
    # Scope: no rows means every collection (every type).
    op.create_table(
        "agreement_collections",
        sa.Column("agreement_pk", sa.Integer, sa.ForeignKey("agreements.pk"), primary_key=True),
        sa.Column("collection_pk", sa.Integer, sa.ForeignKey("collections.pk"), primary_key=True),
    )
    op.create_table(
        "agreement_types",
        sa.Column("agreement_pk", sa.Integer, sa.ForeignKey("agreements.pk"), primary_key=True),
        sa.Column("type", sa.Text, primary_key=True),
    )

    # The audit log: one row per event, each committing to the hash of the one before.
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("org", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("agreement", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("detail", sa.LargeBinary, nullable=False),
        sa.Column("prev_hash", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_audit_log_org", "audit_log", ["org", "seq"])
    # Which object versions an entry concerns (written, released, received by a partner), so
    # "who received which version of X" is one indexed lookup.
    op.create_table(
        "audit_items",
        sa.Column("seq", sa.BigInteger, sa.ForeignKey("audit_log.seq"), nullable=False),
        sa.Column("stix_id", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text),
    )
    op.create_index("ix_audit_items_object", "audit_items", ["stix_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_items_object", "audit_items")
    op.drop_table("audit_items")
    op.drop_index("ix_audit_log_org", "audit_log")
    op.drop_table("audit_log")
    for table in ("agreement_types", "agreement_collections", "agreement_parties", "agreements",
                  "version_recipients"):
        op.drop_table(table)
    op.drop_index("ix_object_versions_drafts", "object_versions")
    with op.batch_alter_table("object_versions") as batch:
        batch.drop_constraint("uq_object_versions_owner_id_version", type_="unique")
        batch.create_unique_constraint("uq_object_versions_id_version", ["stix_id", "version"])
        for column in ("released_at", "released_by", "state", "author", "origin_node", "origin_org", "owner_org"):
            batch.drop_column(column)
