"""Alerts (issue 9, docs/early-warning.md): an organisation's rules, the alerts they raised, the
webhook deliveries waiting or done, and the one cursor over what was added.

The cursor is a ``date_added`` (node-wide, strictly increasing in commit order, and renewed when
a draft is published), so evaluation that continues from it meets every version once, published
drafts included. It starts at the newest membership when this revision runs: alerts are about
what is added from now on, not the store's history. Cursor, alerts, deliveries and the receipts
of what the alerts disclosed commit in one transaction, so a crash loses or repeats nothing.

A rule's webhook secret is stored sealed with the node key file (services/secrets.py), as
partner tokens are: a database copy alone cannot forge a signature.

Revision ID: 0009
Revises: 0010 (0011 and 0010 reached main first, 0008 -> 0011 -> 0010; the chain stays one line)
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("org_pk", sa.Integer, sa.ForeignKey("organisations.pk"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),  # 'sighting', 'watchlist' or 'own-indicators'
        # sighting: the organisation whose objects' sightings count (NULL: any other organisation).
        sa.Column("partner_org", sa.Integer, sa.ForeignKey("organisations.pk")),
        # JSON: the watchlist's values as typed (watchlist), the sighting types that fire (sighting).
        sa.Column("watch_values", sa.Text, nullable=False, server_default="[]"),
        sa.Column("sighting_types", sa.Text, nullable=False, server_default="[]"),
        sa.Column("webhook_url", sa.Text),
        sa.Column("sealed_secret", sa.LargeBinary),
        # Only memberships added after this date_added count: a new rule does not alert on history.
        sa.Column("since", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.UniqueConstraint("org_pk", "name", name="uq_alert_rules_org_name"),
    )
    op.create_table(
        "alert_cursor",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    conn = op.get_bind()
    newest = conn.execute(sa.text("SELECT coalesce(max(date_added), 0) FROM collection_objects")).scalar_one()
    conn.execute(sa.text("INSERT INTO alert_cursor (name, position) VALUES ('alerts', :p)"), {"p": newest})
    op.create_table(
        "alerts",
        sa.Column("pk", sa.Integer, primary_key=True),
        # The alert's public id (a UUID): in webhook payloads and the APIs, so receivers can
        # recognise a retried delivery.
        sa.Column("uid", sa.Text, nullable=False, unique=True),
        sa.Column("rule_pk", sa.Integer, sa.ForeignKey("alert_rules.pk"), nullable=False),
        sa.Column("org_pk", sa.Integer, sa.ForeignKey("organisations.pk"), nullable=False),
        # The version that fired (a sighting, a partner's object), and its membership's date_added.
        sa.Column("version_pk", sa.Integer, sa.ForeignKey("object_versions.pk"), nullable=False),
        sa.Column("stix_id", sa.Text, nullable=False),
        # JSON: the other versions the alert disclosed (the sighted object), checked again before delivery.
        sa.Column("related", sa.Text, nullable=False, server_default="[]"),
        sa.Column("date_added", sa.BigInteger, nullable=False),
        # JSON: what matched (values, the sighted object, the organisation's own objects).
        sa.Column("matched", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        # A version fires a rule once, whichever collections it is added to.
        sa.UniqueConstraint("rule_pk", "version_pk", name="uq_alerts_rule_version"),
    )
    op.create_index("ix_alerts_org", "alerts", ["org_pk", "pk"])
    op.create_table(
        "alert_deliveries",
        sa.Column("alert_pk", sa.Integer, sa.ForeignKey("alerts.pk"), primary_key=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),  # the exact bytes signed and sent
        sa.Column("state", sa.Text, nullable=False),  # 'pending', 'delivered', 'failed', 'withheld'
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("last_attempt", sa.BigInteger),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered", sa.BigInteger),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["state", "next_attempt"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_due", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alerts_org", "alerts")
    op.drop_table("alerts")
    op.drop_table("alert_cursor")
    op.drop_table("alert_rules")
