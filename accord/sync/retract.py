"""Retractions travel: a version its owner retracts is retracted at every node that received it.

TAXII has no way to say "take this back", so Accord nodes add one. Each node keeps, in its audit
log, which organisation received which version and which versions were retracted; its REST API
serves each partner the retractions of what that partner received
(``GET /api/v1/sync/retractions``), nothing else, so the feed reveals no object the partner
never saw. A pulling node reads the feed of the node it pulls from and retracts its copies (its
own audit log records that, so a third node that received the copy learns of it in turn); a
pushing node retracts the copies it pushed through the partner's REST API. Either way it takes
one sync cycle per hop. A revocation needs none of this: it is a new version of the object and
travels like any other.
"""

from __future__ import annotations

from accord.errors import SyncError
from accord.stix.timestamps import key_to_timestamp, timestamp_key
from accord.stix.versions import CONTENT_VERSION_PREFIX
from accord.storage.base import OPERATOR, AuditEvent, Peer, PeerLink, State, Store
from accord.sync.client import PeerClient

FEED_PAGE = 1000


def _key(version: str) -> str | None:
    return version if version.startswith(CONTENT_VERSION_PREFIX) else timestamp_key(version)


def apply_remote_retractions(store: Store, peer: Peer, link: PeerLink, client: PeerClient) -> int:
    """Pull side: retract the copies of what the peer's node says it retracted. Returns how many."""
    after = link.retractions_cursor
    applied = 0
    while True:
        feed = client.get_retractions(after)
        if feed is None:
            return applied  # not an Accord node
        items = [i for i in feed["retractions"] if isinstance(i, dict) and isinstance(i.get("seq"), int)]
        if not items:
            return applied
        for item in items:
            key = _key(str(item.get("version", "")))
            facts = [f for f in store.version_facts(str(item.get("id")), owner_org=peer.org_pk)
                     if f.version == key and f.state != State.RETRACTED.value]
            if facts:
                store.set_state(facts, State.RETRACTED, actor=f"peer {peer.name}",
                                detail={"origin_node": peer.name, "remote_seq": item["seq"]})
                applied += len(facts)
        newest = max(i["seq"] for i in items)
        if newest <= after:  # a feed that does not move on: stop rather than ask forever
            raise SyncError(f"{client.url}: the retraction feed answered entries at or before {after} again")
        after = newest
        store.set_retractions_cursor(link.pk, after)
        if not feed.get("more"):
            return applied


def push_retractions(store: Store, peer: Peer, link: PeerLink, client: PeerClient) -> int:
    """Push side: retract on the peer's node what we retracted after its organisation received it."""
    applied = 0
    after = link.retractions_cursor
    while True:
        found = store.retractions_received(peer.org_name, after=after, limit=FEED_PAGE)
        if not found:
            return applied
        done = []
        for _, _, stix_id, version in found:
            text = version if version.startswith(CONTENT_VERSION_PREFIX) else key_to_timestamp(version)
            if client.retract(stix_id, text):
                done.append((stix_id, version, peer.org_name, None))
        applied += len(done)
        after = found[-1][0]
        store.audit_append(AuditEvent(OPERATOR, "sync.retract", org=peer.org_name, subject=peer.name,
                                      detail={"asked": len(found), "retracted": len(done)}, items=tuple(done)))
        store.set_retractions_cursor(link.pk, after)

