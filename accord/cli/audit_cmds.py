"""The audit log from the command line: ``accord audit verify`` and ``accord audit show``."""

from __future__ import annotations

import collections
import datetime as dt
import sys

import click

from accord.cli.context import NodeContext
from accord.services.audit_check import check_audit_log
from accord.storage.base import AuditRecord


@click.group()
def audit() -> None:
    """The tamper-evident audit log of every write, release, share, export and policy change."""


def _time(micros: int) -> str:
    return dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@audit.command("verify")
@click.option("--expect-head", metavar="HEX", help="The newest entry's hash as recorded earlier (detects a cut tail).")
@click.pass_obj
def audit_verify(node: NodeContext, expect_head: str | None) -> None:
    """Walk the hash chain; exit 1 naming the first entry that was altered, removed or reordered."""
    head = bytes.fromhex(expect_head) if expect_head else None
    checked = check_audit_log(node.store(), expect_head=head)
    if checked.broken is not None:
        click.echo(f"audit log BROKEN at entry {checked.broken.seq}: {checked.broken.reason} "
                   f"({checked.entries} entries read)", err=True)
        sys.exit(1)
    click.echo(f"audit log intact: {checked.entries} entries")


def _line(r: AuditRecord) -> str:
    fields = [f"#{r.seq}", _time(r.at), r.action, f"actor={r.actor}"]
    for name, value in (("org", r.org), ("agreement", r.agreement), ("subject", r.subject)):
        if value is not None:
            fields.append(f"{name}={value}")
    return "  ".join(fields) + "  " + r.detail.decode()


@audit.command("show")
@click.option("--org", metavar="ORG", help="Only entries about this organisation.")
@click.option("--object", "stix_id", metavar="STIX_ID",
              help="Only entries about this object, listing each version and who received it.")
@click.option("--agreement", metavar="NAME", help="Only entries under this agreement.")
@click.option("--action", metavar="ACTION", help="Only this action (write, publish, retract, receive, export, ...).")
@click.option("--limit", type=click.IntRange(1), help="At most this many entries (oldest first).")
@click.option("--head", is_flag=True, help="Print only the newest entry's hash, to keep as a checkpoint.")
@click.pass_obj
def audit_show(node: NodeContext, org: str | None, stix_id: str | None, agreement: str | None,
               action: str | None, limit: int | None, head: bool) -> None:
    """Show audit entries, oldest first.

    "Which partner received which version of X, under which agreement":
    ``accord audit show --object X --action receive``.
    """
    store = node.store()
    if head:
        newest = collections.deque(store.iter_audit(), maxlen=1)  # streamed: the log can be long
        click.echo(newest[0].hash.hex() if newest else "(empty)")
        return
    records = store.audit_records(org=org, stix_id=stix_id, agreement=agreement, action=action, limit=limit)
    items = store.audit_items([r.seq for r in records]) if stix_id else {}
    for r in records:
        click.echo(_line(r))
        for sid, version, recipient, owner in items.get(r.seq, []):
            if sid == stix_id:
                click.echo(f"    {sid} version {version}" + (f" of {owner}" if owner else "")
                           + (f" -> {recipient}" if recipient else ""))


COMMANDS = [audit]
