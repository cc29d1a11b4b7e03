"""Push: send a partner's node what its organisation may receive from one of our collections.

The partner organisation is the reader: :func:`policy.gate.org_visibility` compiles what its
agreements give it (onward sharing included), and :func:`services.disclose.disclose` removes the
granular markings it may not see and records the receipts, exactly as when that organisation
reads over TAXII. On top of the gate, nothing the partner itself owns or originated is sent back
to it as if new.

Versions go in ``date_added`` order, in envelopes, each envelope followed by the link's cursor
(the last ``date_added`` sent) in a transaction of its own: after an interruption the next run
resends at most the envelope that was in flight, which the partner's node takes as unchanged.
An object the partner's node refuses is counted and audited, and the cursor moves past it (a
refusal does not change by asking again).
"""

from __future__ import annotations

from accord.errors import SyncError
from accord.policy.gate import Visibility, collection_access, org_visibility
from accord.services.disclose import disclose
from accord.storage.base import OPERATOR, AuditEvent, Collection, ListedVersion, Peer, PeerLink, Store, VersionQuery
from accord.storage.sql import micros_now
from accord.sync.client import PeerClient
from accord.sync.pull import Transfer
from accord.sync.retract import push_retractions

ENVELOPE = 500


def _send(store: Store, peer: Peer, link: PeerLink, collection: Collection, client: PeerClient,
          vis: Visibility, rows: list[ListedVersion], transfer: Transfer) -> None:
    disclosed = disclose(store, vis, rows, channel="sync")
    bodies = [d.body for d in disclosed if d.body is not None]
    status = client.add_objects(link.remote_collection, bodies) if bodies else {}
    listed = status.get("failures") or []
    failures = [f for f in listed if isinstance(f, dict)] if isinstance(listed, list) else []
    for failure in failures:
        transfer.refuse(str(failure.get("message", "refused"))[:200])
    transfer.objects += len(bodies)
    with store.transaction() as tx:
        tx.advance_link(link.pk, str(rows[-1].date_added), len(bodies))
        tx.audit(AuditEvent(
            OPERATOR, "sync.push", org=peer.org_name, subject=peer.name,
            detail={"collection": collection.id, "remote_collection": link.remote_collection, "sent": len(bodies),
                    "refused_by_peer": len(failures),
                    "failures": [{"id": str(f.get("id"))[:300], "message": str(f.get("message"))[:300]}
                                 for f in failures[:20]]}))


def push_link(store: Store, peer: Peer, link: PeerLink, collection: Collection, client: PeerClient) -> Transfer:
    transfer = Transfer()
    vis = org_visibility(store, peer.org_pk, micros_now())
    if not collection_access(store, vis.viewer, collection).can_read:
        # The same rule as the partner reading over TAXII: no read grant, no objects.
        raise SyncError(f"organisation {peer.org_name!r} has no read grant on collection {collection.id!r}: "
                        f"nothing is pushed (accord collection grant {collection.id} {peer.org_name} --read)")
    after = int(link.cursor) if link.cursor else 0
    query = VersionQuery(collection_pk=collection.pk, added_after=after)
    batch: list[ListedVersion] = []
    for row in store.iter_visible(query, vis.predicate()):
        if peer.org_pk in (row.owner_org, row.origin_org):
            continue  # never back to where it came from
        batch.append(row)
        if len(batch) >= ENVELOPE:
            _send(store, peer, link, collection, client, vis, batch, transfer)
            batch = []
    if batch:
        _send(store, peer, link, collection, client, vis, batch, transfer)
    transfer.retracted = push_retractions(store, peer, link, client)
    return transfer
