"""The item rows of given audit entries, by entry: ``audit_items`` had only its by-object index
(stix_id, seq), so reading an entry's items (an object page's receipts, the audit views by
object, ``accord audit --object``) scanned every item of the log: 1.9 s at 1.4M items on SQLite,
a parallel sequential scan on PostgreSQL. Entries only ever append, so this index only grows at
its end.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_items_entry", "audit_items", ["seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_items_entry", "audit_items")
