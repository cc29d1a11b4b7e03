"""A partial index over the networks (CIDR values) in the observable index.

A lookup of an address probes the indexed networks that could hold it: one key per prefix
length, 24 for an IPv4 address and 112 for an IPv6 one. Only the prefix lengths that occur in
the index can match, and this index (which holds only ipv4-addr and ipv6-addr values with a
``/``, a small part of any real index) lets ``Store.network_prefixes`` list them without
scanning every address. Ingest of anything but a network pays nothing for it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Must stay textually identical to storage/search.py's NETWORKS_WHERE (SQLite uses a partial
# index only for a query whose WHERE clause contains the index's condition term for term).
_WHERE = sa.text("type IN ('ipv4-addr', 'ipv6-addr') AND value LIKE '%/%'")


def upgrade() -> None:
    op.create_index("ix_observables_networks", "observables", ["type", "value"],
                    sqlite_where=_WHERE, postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index("ix_observables_networks", "observables")
