"""A partial index over marking definitions.

Every write transaction reads the stored marking definitions to resolve TLP; without an index
that read scans every object version, which made each TAXII POST cost time in proportion to
the store (1,800 objects/s at 1M stored). Only marking-definition rows enter this index, so
ingest of other objects pays nothing for it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_WHERE = sa.text("type = 'marking-definition'")


def upgrade() -> None:
    op.create_index("ix_object_versions_marking_definitions", "object_versions", ["type"],
                    sqlite_where=_WHERE, postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index("ix_object_versions_marking_definitions", "object_versions")
