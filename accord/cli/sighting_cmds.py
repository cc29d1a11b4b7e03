"""`accord sighting`: report that an object was seen here (or was a false positive, or expired),
and list what is known of its sightings (services/sightings.py; docs/early-warning.md)."""

from __future__ import annotations

import click
import orjson

from accord.cli.context import NodeContext
from accord.policy.gate import visibility
from accord.services.objects import object_view
from accord.services.sightings import KINDS, record_sighting, report_from, sighting_json
from accord.storage.sql import micros_now


@click.group()
def sighting() -> None:
    """Sightings: "we saw this", and what is known of an object's sightings."""


@sighting.command("add")
@click.argument("object_id")
@click.option("--kind", type=click.Choice(KINDS), default="seen", show_default=True,
              help="seen; false-positive (it fired on something benign); expired (it no longer means anything).")
@click.option("--count", default="1", show_default=True, help="How many times (0 to 999,999,999).")
@click.option("--first-seen", metavar="TIME", help="RFC 3339, e.g. 2026-12-05T09:12:00Z.")
@click.option("--last-seen", metavar="TIME", help="RFC 3339; not before --first-seen.")
@click.option("--tlp", help="clear, green, amber, amber+strict or red (default: the collection's default TLP).")
@click.option("--note", help="A description to go with it.")
@click.option("--anonymous", is_flag=True,
              help="Name nobody: the node's organisation reports it (docs/early-warning.md says what that hides).")
@click.option("--collection", "collection_ref", metavar="ID",
              help="Write it here rather than into the collection the object is in.")
@click.option("--as", "as_user", metavar="USERNAME",
              help="Report as this user (analyst or above; their release rules apply). Default: the node operator.")
@click.pass_obj
def add(node: NodeContext, object_id: str, kind: str, count: str, first_seen: str | None, last_seen: str | None,
        tlp: str | None, note: str | None, anonymous: bool, collection_ref: str | None, as_user: str | None) -> None:
    """Report a sighting of OBJECT_ID, which the reporter must be able to see. Prints the new
    sighting's id, its collection and its state (draft or published)."""
    store = node.store()
    report = report_from({"kind": kind, "count": count, "first_seen": first_seen, "last_seen": last_seen,
                          "tlp": tlp, "description": note, "anonymous": anonymous}, object_id)
    done = record_sighting(store, node.viewer(as_user), report, now_micros=micros_now(),
                           four_eyes=node.settings.four_eyes, collection_ref=collection_ref)
    click.echo(f"{done.stix_id}\t{done.collection}\t{done.state}\towned by {done.owner}")


@sighting.command("list")
@click.argument("object_id")
@click.option("--as", "as_user", metavar="USERNAME", help="What this user is told (default: the node operator).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as the REST object detail gives it.")
@click.pass_obj
def list_(node: NodeContext, object_id: str, as_user: str | None, as_json: bool) -> None:
    """The sightings of OBJECT_ID the reader may be told of: one line each (kind, count, owner,
    first and last seen, TLP, id), then the totals."""
    store = node.store()
    vis = visibility(store, node.viewer(as_user), micros_now())
    summary = object_view(store, vis, object_id, channel="cli",
                          sighting_min_count=node.settings.sighting_min_count).sightings
    assert summary is not None
    if as_json:
        click.echo(orjson.dumps(summary.as_json(), option=orjson.OPT_INDENT_2).decode())
        return
    for s in summary.shown:
        row = sighting_json(s)
        who = f"{row['owner']} (anonymous)" if s.anonymous else row["owner"]
        click.echo("\t".join([s.kind, str(s.count), who, s.first_seen or "-", s.last_seen or "-", s.tlp, s.stix_id]))
    if summary.withheld:
        click.echo(f"other organisations' sightings are shown from {summary.min_count} on")
    click.echo(f"seen {summary.total('seen')}, false-positive {summary.total('false-positive')}, "
               f"expired {summary.total('expired')}")


COMMANDS = [sighting]
