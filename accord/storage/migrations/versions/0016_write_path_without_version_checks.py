"""PostgreSQL stops checking each membership, index and recipient row against ``object_versions``.

The foreign keys ``collection_objects.version_pk``, ``observables.version_pk`` and
``version_recipients.version_pk`` had the server look up the version of every row the write path
inserts, three or more lookups per object. PostgreSQL plans that lookup once per connection and
keeps the plan: made while the table was nearly empty (the first objects of an import), it is a
sequential scan, and every later row of that connection scanned the whole table. A 100,000-object
import took 250-290 s instead of 6 (bench/RESULTS.md). The rows are written only by the write
path (storage/sql.py), in the transaction that writes their version and after it, and versions
are never deleted; SQLite, which does not enforce foreign keys, has always relied on exactly that.
SQLite's schema keeps the clauses (unenforced there), so nothing changes on SQLite.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_DROPPED = (("collection_objects", "collection_objects_version_pk_fkey"),
            ("observables", "observables_version_pk_fkey"),
            ("version_recipients", "version_recipients_version_pk_fkey"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name in _DROPPED:
        op.drop_constraint(name, table, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name in _DROPPED:
        op.create_foreign_key(name, table, "object_versions", ["version_pk"], ["pk"])
