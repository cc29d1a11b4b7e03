"""Sighting feedback between two real nodes (sync/feedback.py): B pulls A's indicators, B's
analysts report sightings of them, and the next cycle sends A the sightings B's agreement gives
A's organisation, with the reporting organisation's identity (or none, when anonymous), and
nothing else: not a sighting above the agreement's ceiling, not a draft, not a sighting of B's
own object. A second cycle sends nothing again."""

from __future__ import annotations

from pathlib import Path

import orjson

from accord.app import sync_cycle
from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.ingest import ingest_items, iter_items
from accord.services.objects import object_view
from accord.services.secrets import SecretBox
from accord.services.sightings import identity_namespace, org_identity_id, record_sighting, report_from
from accord.settings import Settings
from accord.storage.base import Store
from accord.storage.sql import micros_now
from tests.conftest import node_provenance
from tests.sync.test_two_nodes import LEVELS, _ids, _seed_a, node_a, node_b  # noqa: F401 (fixtures)
from tests.taxii.conftest import Node, indicator


def _report(store: Store, username: str, target: str, **params: object) -> str:
    found = report_from(dict(params), target)
    return record_sighting(store, Viewer.of(store.get_user(username)), found, now_micros=micros_now()).stix_id


def test_sightings_of_a_partners_indicators_go_back_to_its_node(node_a: Node,  # noqa: F811
                                                                 node_b: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, b = node_b
    collection, sync_user, sync_token, seeded = _seed_a(node_a)
    tag = seeded["tag"]
    partner = f"cert-a-{tag}"
    b.add_org(partner, kind="partner")
    b.add_agreement(f"ba-{tag}", parties=["node", partner], max_tlp="green", onward=False,
                    valid_from=None, valid_until=None, actor="test")
    b.set_grant(b.get_collection("default"), "node", can_read=True, can_write=True)
    b.add_user("bo", org="node", role="publisher")
    b.add_user("ann", org="node", role="analyst")
    # Only a pull link: feedback needs no push link to be configured.
    b.add_peer("node-a", url=f"{node_a.url}/taxii2/", username=sync_user,
               sealed_token=SecretBox(Path(settings.key_file)).seal(sync_token), org=partner,
               interval_s=60, accept_max_tlp="amber+strict", accept_types=[],
               links=[("pull", collection.id, "default")], actor="test")
    first = sync_cycle(settings, b)
    assert [r.error for r in first] == [None]
    assert first[0].transfer is not None and first[0].transfer.feedback == 0

    mine = indicator(40, object_marking_refs=[LEVELS["green"]])
    with b.transaction() as tx:
        ingest_items(tx, b.get_collection("default"), iter_items([mine]), node_provenance(b))
    named = _report(b, "bo", seeded["green"], kind="seen", count=3, tlp="green")
    anonymous = _report(b, "bo", seeded["clear"], kind="false-positive", tlp="green", anonymous=True)
    too_high = _report(b, "bo", seeded["green"], tlp="amber")  # above the B-A ceiling
    draft = _report(b, "ann", seeded["green"], tlp="green")  # an analyst's: a draft
    own = _report(b, "bo", str(mine["id"]), tlp="green")  # of B's own indicator: not A's business

    second = sync_cycle(settings, b)
    assert [r.error for r in second] == [None]
    assert second[0].transfer is not None and second[0].transfer.feedback == 3  # identity + two sightings
    at_a = _ids(node_a.store, collection.id)
    b_org = node_a.store.get_org(f"cert-b-{tag}").pk
    assert at_a[named] == at_a[anonymous] == at_a[org_identity_id(identity_namespace(b), "node")] == b_org
    assert too_high not in at_a and draft not in at_a and own not in at_a

    # A's analysts see the sightings of their indicators, as cert-b's; the anonymous one names nobody.
    reader = node_a.store.add_user(f"reader-{tag}", org=f"cert-a-{tag}", role="reader")
    vis = visibility(node_a.store, Viewer.of(reader), micros_now())
    green = object_view(node_a.store, vis, seeded["green"]).sightings
    assert green is not None
    assert [(s.stix_id, s.kind, s.count, s.owner, s.anonymous) for s in green.shown] == [
        (named, "seen", 3, f"cert-b-{tag}", False)]
    clear = object_view(node_a.store, vis, seeded["clear"]).sightings
    assert clear is not None and [(s.kind, s.anonymous) for s in clear.shown] == [("false-positive", True)]
    body = orjson.loads(node_a.store.object_versions(anonymous, vis.predicate())[0].body or b"{}")
    assert "where_sighted_refs" not in body and "created_by_ref" not in body

    # Nothing new: nothing sent again, and what A now holds of B's is not pulled back as A's.
    third = sync_cycle(settings, b)
    assert [r.error for r in third] == [None]
    assert third[0].transfer is not None and third[0].transfer.feedback == 0
    assert third[0].transfer.stored == 0
    assert {r.action for r in b.audit_records(org=partner)} >= {"sync.pull", "sync.feedback", "receive"}
