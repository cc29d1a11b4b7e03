"""Sighting feedback: tell a partner's node that its indicators fired here (issue 9).

A partner shares an indicator; we pull it; an analyst here reports a sighting of it (the object
page's "We saw this", REST, or an import). The producer should learn of that without anybody
configuring anything more: after each pull link (remote R -> local L), the sightings in L of an
object the partner's organisation owns here (what we pulled from it) go back into R, the
collection we pull from, through the partner's TAXII endpoint with the peer's account (which
the federation set-up already lets write into R).

It goes through the same gate as every push: the partner's organisation is the reader
(:func:`policy.gate.org_visibility`), so only a sighting our agreements give it travels (a RED
one only when it names the partner as a recipient, a draft never), granular markings it may not
see are removed and receipts are written (:func:`services.disclose.disclose`, channel ``sync``).
The identities a sighting names (who saw it), as the partner receives the sighting, go with it
when the partner may see them; an
anonymous sighting names nobody (services/sightings.py). Nothing the partner owns or originated
is sent back. When a push link already sends L to R, it carries the sightings and this step
does nothing for that link.

The cursor (``peer_links.feedback_cursor``) is the last local ``date_added`` examined, moved
after each envelope is accepted: after an interruption the envelope in flight is sent again and
the partner's node reports it unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson

from accord.policy.gate import Visibility, org_visibility
from accord.services.disclose import disclose
from accord.storage.base import OPERATOR, AuditEvent, Collection, ListedVersion, Peer, PeerLink, Store, VersionQuery
from accord.storage.sql import micros_now
from accord.sync.client import PeerClient

ENVELOPE = 500


def _named(obj: dict[str, Any]) -> list[str]:
    """The identities a sighting names: who saw it and where."""
    refs = [obj.get("created_by_ref"), *(obj.get("where_sighted_refs") or ())]
    return [r for r in dict.fromkeys(refs) if isinstance(r, str) and r.startswith("identity--")]


def _partners(store: Store, vis: Visibility, peer: Peer, target: str, known: dict[str, bool]) -> bool:
    """Is ``target`` an object the partner's organisation owns here (one we pulled from it)?"""
    if target not in known:
        known[target] = any(r.owner_org == peer.org_pk for r in store.object_versions(target, vis.predicate()))
    return known[target]


def _with_identities(store: Store, vis: Visibility, rows: list[ListedVersion]) -> list[bytes]:
    """The sightings as the partner receives them, each after the identities it still names in
    that form (a reference under a granular marking the partner may not see names nobody)."""
    sightings = [d.body for d in disclose(store, vis, rows, channel="sync") if d.body is not None]
    where = vis.predicate()
    wanted: dict[str, ListedVersion] = {}
    for body in sightings:
        for ref in _named(orjson.loads(body)):
            if ref not in wanted:
                versions = store.object_versions(ref, where)
                if versions:
                    wanted[ref] = versions[-1]
    identities = [d.body for d in disclose(store, vis, list(wanted.values()), channel="sync") if d.body is not None]
    return identities + sightings


def _send(store: Store, peer: Peer, link: PeerLink, client: PeerClient, vis: Visibility,
          rows: list[ListedVersion], last: int) -> tuple[int, int]:
    sent = refused = 0
    if rows:
        disclosed = _with_identities(store, vis, rows)
        if disclosed:
            status = client.add_objects(link.remote_collection, disclosed)
            failures = status.get("failures") or []
            refused = len(failures) if isinstance(failures, list) else 0
            sent = len(disclosed)
        with store.transaction() as tx:
            tx.audit(AuditEvent(OPERATOR, "sync.feedback", org=peer.org_name, subject=peer.name,
                                detail={"remote_collection": link.remote_collection, "sent": sent,
                                        "refused_by_peer": refused}))
    store.set_feedback_cursor(link.pk, last)
    return sent, refused


def feedback_link(store: Store, peer: Peer, link: PeerLink, collection: Collection, client: PeerClient) -> int:
    """Send the partner the sightings in ``collection`` of its objects. Returns how many objects went."""
    if any(o.direction == "push" and o.local_collection_pk == link.local_collection_pk
           and o.remote_collection == link.remote_collection for o in peer.links):
        return 0  # the push link carries them
    vis = org_visibility(store, peer.org_pk, micros_now())
    where = vis.predicate()
    known: dict[str, bool] = {}
    batch: list[ListedVersion] = []
    sent = 0
    last = link.feedback_cursor
    query = VersionQuery(collection_pk=collection.pk, types=("sighting",), added_after=link.feedback_cursor)
    for row in store.iter_visible(query, where):
        last = row.date_added
        if peer.org_pk in (row.owner_org, row.origin_org):
            continue  # never back to where it came from
        obj = orjson.loads(row.body or b"{}")
        target = obj.get("sighting_of_ref")
        if not isinstance(target, str) or not _partners(store, vis, peer, target, known):
            continue
        batch.append(row)
        if len(batch) >= ENVELOPE:
            sent += _send(store, peer, link, client, vis, batch, last)[0]
            batch = []
    if batch or last != link.feedback_cursor:
        sent += _send(store, peer, link, client, vis, batch, last)[0]
    return sent
