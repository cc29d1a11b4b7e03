"""The by-object index of audit items moves off the path of the read that writes them.

Every read a partner makes writes a receipt whose items name what it received, and "who
received X" needs those items by object. Kept as an index of ``audit_items`` (stix_id, seq),
each item was an insert at a random place of an index that grows with every partner read: a
bulk lookup's 5,000-item receipt took ~66 ms instead of ~30 ms on a store with 130k items, more
as the log grows, paid inside the lookup.

Now the items go in by entry only (``ix_audit_items_entry`` becomes (seq, stix_id): it only ever
grows at its end), and ``audit_object_index`` (stix_id, seq) is filled behind the appends, in
sorted batches (``SharingQueries.index_audit_objects``), with the entry it has reached in
``audit_index_state.indexed_through``, written in the same transaction. A read by object takes
the index up to that entry and the items after it from the entry index: the same answer at
any point of the indexing (storage/sharing.py).

Existing items are indexed here, so the log starts fully indexed.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_object_index",
        sa.Column("stix_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_index_state",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("indexed_through", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO audit_object_index (stix_id, seq) "
               "SELECT DISTINCT stix_id, seq FROM audit_items ORDER BY stix_id, seq")
    op.execute("INSERT INTO audit_index_state (pk, indexed_through) SELECT 1, coalesce(max(seq), 0) FROM audit_log")
    op.drop_index("ix_audit_items_object", "audit_items")
    op.drop_index("ix_audit_items_entry", "audit_items")
    op.create_index("ix_audit_items_entry", "audit_items", ["seq", "stix_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_items_entry", "audit_items")
    op.create_index("ix_audit_items_entry", "audit_items", ["seq"])
    op.create_index("ix_audit_items_object", "audit_items", ["stix_id", "seq"])
    op.drop_table("audit_index_state")
    op.drop_table("audit_object_index")
