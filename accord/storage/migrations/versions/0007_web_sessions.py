"""Web UI sessions (one row per signed-in browser), and graph references in the index.

Only a digest of the session cookie is stored (as for API tokens), so a copy of the database
does not let anyone take over a session. ``last_seen`` drives the idle timeout, ``expires`` the
absolute one; both are judged in accord/policy/sessions.py.

From this revision the observable index also holds what relationships, sightings and containers
point at (index type ``ref``, stix/references.py); versions stored before it are indexed here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
import orjson
import sqlalchemy as sa
from alembic import op

from accord.stix.references import INDEXED_TYPES, references_of

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("digest", sa.LargeBinary, primary_key=True),
        sa.Column("user_pk", sa.Integer, sa.ForeignKey("users.pk"), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_pk"])
    if op.get_bind().dialect.name == "postgresql":
        # "Is there a newer version the reader may see?" goes from a version to its memberships.
        # SQLite answers it from the (collection, version) index with a skip-scan over the few
        # collections; PostgreSQL cannot skip-scan and read the whole membership table instead
        # (0.7 s for a search page at 100k objects).
        op.create_index("ix_collection_objects_version", "collection_objects", ["version_pk"])
    _index_references()


def _index_references() -> None:
    conn = op.get_bind()
    select = sa.text("SELECT pk, body FROM object_versions WHERE type IN :types AND pk > :after ORDER BY pk LIMIT 1000"
                     ).bindparams(sa.bindparam("types", expanding=True))
    insert = sa.text("INSERT INTO observables (type, value, version_pk) VALUES (:t, :v, :pk) ON CONFLICT DO NOTHING")
    after = 0
    while rows := conn.execute(select, {"types": list(INDEXED_TYPES), "after": after}).fetchall():
        keys = [{"t": t, "v": v, "pk": pk} for pk, body in rows for t, v in references_of(orjson.loads(bytes(body)))]
        if keys:
            conn.execute(insert, keys)
        after = rows[-1][0]


def downgrade() -> None:
    op.execute("DELETE FROM observables WHERE type = 'ref'")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_collection_objects_version", "collection_objects")
    op.drop_index("ix_web_sessions_user", "web_sessions")
    op.drop_table("web_sessions")
