"""Information flow through sighting feedback (sync/feedback.py): in random worlds with sightings
(tests/policy/world.py, :func:`sighted_worlds`), every organisation is taken in turn as a partner
whose node we pull from, with a pull link into every collection; after the link, exactly what the
oracle (tests/policy/oracle.py) lets the partner's organisation receive goes back to its node:

* every version, in the link's local collection, of a sighting of an object the partner owns here
  that the partner may see under the agreements in force (so never a draft, nothing above an
  agreement's ceiling, a RED one only naming it as a recipient), except what it owns or what came
  from it; each with the granularly marked description exactly when the rules let it have that;
* with them, the identity each sent sighting names, when the partner may see that identity; an
  anonymous sighting names nobody and brings no identity;
* nothing else, a receipt for every version sent (channel ``sync``), and nothing again on the next
  run (the link's cursor has moved past it).

The partner's node is a stand-in that records the TAXII "add objects" envelopes feedback hands the
peer client (sync/client.py, which posts them unchanged): what leaves the node is observed where it
leaves, with no network and no second server. Two real nodes exchanging feedback over HTTP are
tests/sync/test_sighting_feedback.py. A smaller sample of worlds runs on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from hypothesis import given

from accord.stix.timestamps import key_to_timestamp
from accord.storage.base import Store
from accord.storage.sql import micros_now
from accord.sync.client import PeerClient
from accord.sync.feedback import feedback_link
from tests.policy.oracle import Version, World
from tests.policy.tally import CASES, SUBSETS, WORLDS
from tests.policy.test_information_flow import check_bodies, flow_settings, key_of
from tests.policy.world import Built, postgres_copy, sighted_worlds, sqlite_copy, stored_world


class PartnerNode:
    """Stands in for the partner's TAXII endpoint: records every envelope posted to it."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, list[dict[str, Any]]]] = []

    def add_objects(self, collection_id: str, objects: list[bytes]) -> dict[str, Any]:
        self.posted.append((collection_id, [orjson.loads(o) for o in objects]))
        return {"status": "complete", "success_count": len(objects), "failures": []}


def candidates(world: World, partner: str, collection: str) -> list[Version]:
    """The versions in ``collection`` of sightings of objects the partner owns here, neither its
    own nor received from it: what feedback considers, before the gate."""
    owner = {v.stix_id: v.owner for v in world.versions}
    return [v for v in world.versions
            if v.type == "sighting" and v.collection == collection and v.target is not None
            and owner.get(v.target) == partner and partner not in (v.owner, v.origin)]


def expected(world: World, partner: str, collection: str, t: int) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(sighting versions, identity versions) the partner's node should be sent from ``collection``."""
    sightings = [v for v in candidates(world, partner, collection) if world.sees(partner, v, t)]
    named = {v.named_by for v in sightings if v.named_by is not None}
    identities = {v.key for v in world.versions if v.stix_id in named and world.sees(partner, v, t)}
    return {v.key for v in sightings}, identities


def receipts(store: Store, partner: str, after: int) -> tuple[set[tuple[str, str]], int]:
    """The versions the audit log records as received by ``partner`` on the sync channel after
    entry ``after``, and the last entry's number."""
    got: set[tuple[str, str]] = set()
    last = after
    for record in store.audit_records(action="receive", after=after):
        last = record.seq
        if orjson.loads(record.detail)["channel"] != "sync":
            continue
        for stix_id, version, recipient, _ in store.audit_items([record.seq])[record.seq]:
            if recipient == partner:
                got.add((stix_id, key_to_timestamp(version)))
    return got, last


def check_link(store: Store, built: Built, partner: str, collection: str, seq: int) -> int:
    """One pull link's feedback from ``collection`` to ``partner``'s node, checked; the audit
    entry number the next check starts after."""
    world = built.world
    peer = store.get_peer(f"peer-{partner}")
    (link,) = [lk for lk in peer.links if lk.local_collection_pk == built.collections[collection].pk]
    node = PartnerNode()
    before = micros_now()
    feedback_link(store, peer, link, built.collections[collection], cast(PeerClient, node))
    want = expected(world, partner, collection, before)
    got_receipts, seq = receipts(store, partner, seq)
    if want != expected(world, partner, collection, micros_now()):
        return seq  # an agreement's window closed or opened meanwhile: not judged
    sightings, identities = want
    sent = [obj for _, objects in node.posted for obj in objects]
    where = f"feedback from {collection} to {partner}'s node"
    assert {remote for remote, _ in node.posted} <= {link.remote_collection}, where
    check_bodies(world, partner, sent, sightings | identities, before, where)
    for obj in sent:
        if obj["type"] == "sighting" and world.by_key()[key_of(obj)].named_by is None:
            assert "created_by_ref" not in obj and "where_sighted_refs" not in obj, (where, obj)
    assert got_receipts == sightings | identities, f"{where}: receipts"
    again = PartnerNode()
    peer = store.get_peer(peer.name)
    (link,) = [lk for lk in peer.links if lk.pk == link.pk]  # its cursor moved
    feedback_link(store, peer, link, built.collections[collection], cast(PeerClient, again))
    more, seq = receipts(store, partner, seq)
    assert again.posted == [] and not more, f"{where}: sent again"
    CASES["feedback to a partner's node"] += 1
    if sightings:
        SUBSETS["feedback sent sightings"] += 1
    if identities:
        SUBSETS["feedback sent identities"] += 1
    if len(sightings) < len(candidates(world, partner, collection)):
        SUBSETS["feedback withheld sightings"] += 1
    return seq


def check_feedback(url: str, spec: tuple[World, frozenset[str], int], *, label: str) -> None:
    world_spec, resumed, _ = spec
    with stored_world(url, world_spec, resumed, "f") as (store, built, _):
        partners = sorted(built.world.kinds)
        for partner in partners:
            store.add_peer(f"peer-{partner}", url="https://peer.example/taxii2/", username="sync",
                           sealed_token=b"not used: nothing is sent over a network", org=partner, interval_s=60,
                           accept_max_tlp="red", accept_types=[],
                           links=[("pull", f"remote-{c}", c) for c in sorted(built.collections)], actor="test")
        seq = 0
        for partner in partners:
            for collection in sorted(built.collections):
                seq = check_link(store, built, partner, collection, seq)
    WORLDS[label] += 1


@flow_settings(300)
@given(spec=sighted_worlds())
def test_feedback_sends_a_partner_exactly_what_it_may_receive(
        template_db: Path, spec: tuple[World, frozenset[str], int]) -> None:
    with sqlite_copy(template_db) as path:
        check_feedback(f"sqlite:///{path}", spec, label="feedback")


@flow_settings(10)
@given(spec=sighted_worlds())
def test_feedback_on_postgres(request: pytest.FixtureRequest, spec: tuple[World, frozenset[str], int]) -> None:
    with postgres_copy(request, "accord_feedback") as url:
        check_feedback(url, spec, label="feedback postgres")
