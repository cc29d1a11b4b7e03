"""PostgreSQL stops checking, row by row, what the write path inserts beside a version or an
audit entry.

The foreign keys ``collection_objects.version_pk``, ``observables.version_pk`` and
``version_recipients.version_pk`` (to ``object_versions``) had the server look up the version of
every row the write path inserts, three or more lookups per object. PostgreSQL plans that lookup
once per connection and keeps the plan: made while the table was nearly empty (the first objects
of an import), it is a sequential scan, and every later row of that connection scanned the whole
table. A 100,000-object import took 250-290 s instead of 6 (bench/RESULTS.md).
``audit_items.seq`` (to ``audit_log``) is the same on the read path: every partner read writes a
receipt, and the check of a bulk lookup's 5,000 items doubled the time to write them (33 ms
against 17 with a good plan), with the same risk of a bad one on a long log.

These rows are written only by the write path (storage/sql.py, storage/sharing.py), and each
refers to a row inserted before it in the same transaction or read from the database; neither
versions nor audit entries are ever deleted, and an audit entry's hash covers its items
(``items_sha256``), so the chain check proves them. SQLite, which does not enforce foreign keys,
has always relied on exactly that: its schema keeps the clauses (unenforced), and nothing
changes there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# (table, constraint, column, referred table, referred column)
_DROPPED = (("collection_objects", "collection_objects_version_pk_fkey", "version_pk", "object_versions", "pk"),
            ("observables", "observables_version_pk_fkey", "version_pk", "object_versions", "pk"),
            ("version_recipients", "version_recipients_version_pk_fkey", "version_pk", "object_versions", "pk"),
            ("audit_items", "audit_items_seq_fkey", "seq", "audit_log", "seq"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, _, _, _ in _DROPPED:
        op.drop_constraint(name, table, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, column, referred, referred_column in _DROPPED:
        op.create_foreign_key(name, table, referred, [column], [referred_column])
