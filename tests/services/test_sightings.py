"""Sightings (accord/services/sightings.py): kinds, reports from a person or tool, named and
anonymous writes with the release rules, the minimum-count threshold, on every backend."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from accord.errors import NotFoundError, RequestError
from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.objects import object_view
from accord.services.release import ReleaseError
from accord.services.sightings import (
    EXPIRED,
    FALSE_POSITIVE,
    SEEN,
    SightingSeen,
    identity_namespace,
    org_identity,
    org_identity_id,
    record_sighting,
    report_from,
    sighting_kind,
    summarise,
)
from accord.stix.markings import TLP2_GREEN, TLP2_RED
from accord.stix.validate import validate_object
from accord.storage.base import Store
from accord.storage.sqlite import SQLiteStore
from tests.services.test_lookup import NOW, indicator, put, sid


@pytest.fixture
def store(backend_store: Store) -> Store:
    s = backend_store
    for org in ("alpha", "beta"):
        s.add_org(org)
    s.add_user("alice", org="alpha", role="analyst")
    s.add_user("ava", org="alpha", role="publisher")
    s.add_user("rita", org="alpha", role="reader")
    s.add_user("bob", org="beta", role="publisher")
    s.add_user("nora", org="node", role="publisher")
    s.set_grant(s.get_collection("default"), "alpha", can_read=True, can_write=True)
    s.set_grant(s.get_collection("default"), "beta", can_read=True, can_write=True)
    s.set_grant(s.get_collection("default"), "node", can_read=True, can_write=True)
    s.add_agreement("node-alpha", parties=["node", "alpha"], max_tlp="amber", onward=False, valid_from=None,
                    valid_until=None, actor="test")
    s.add_agreement("node-beta", parties=["node", "beta"], max_tlp="amber", onward=False, valid_from=None,
                    valid_until=None, actor="test")
    put(s, [indicator(1, "[domain-name:value = 'c2.example.com']"),
            indicator(2, "[domain-name:value = 'red.example.com']", tlp=TLP2_RED)])
    return s


def viewer(store: Store, username: str | None) -> Viewer:
    return Viewer.operator() if username is None else Viewer.of(store.get_user(username))


def stored(store: Store, stix_id: str) -> Any:
    return store.object_versions(stix_id, visibility(store, Viewer.operator(), NOW).predicate())


def report(store: Store, username: str, target: str, **params: Any) -> Any:
    return record_sighting(store, viewer(store, username), report_from(params, target), now_micros=NOW)


def shown(store: Store, username: str | None, target: str, min_count: int = 1) -> Any:
    vis = visibility(store, viewer(store, username), NOW)
    return object_view(store, vis, target, sighting_min_count=min_count).sightings


def test_kinds_default_to_seen_and_read_opencti_negatives() -> None:
    assert sighting_kind({}) == SEEN
    assert sighting_kind({"x_accord_sighting_type": "expired"}) == EXPIRED
    assert sighting_kind({"x_opencti_negative": True}) == FALSE_POSITIVE
    assert sighting_kind({"x_accord_sighting_type": "bogus"}) == SEEN


@pytest.mark.parametrize(("params", "field"), [
    ({"kind": "maybe"}, "kind"), ({"count": -1}, "count"), ({"count": "x"}, "count"), ({"count": 1.5}, "count"),
    ({"count": True}, "count"), ({"count": 1_000_000_000}, "count"), ({"first_seen": "yesterday"}, "first_seen"),
    ({"first_seen": "2026-02-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z"}, "last_seen"),
    ({"tlp": "white"}, "tlp"), ({"anonymous": 3}, "anonymous"), ({"description": 5}, "description"),
])
def test_a_bad_report_names_its_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as caught:
        report_from(params, sid("indicator", 1))
    assert caught.value.parameter == field


def test_the_identity_is_valid_stix_the_same_every_time_and_the_nodes_own(store: Store, tmp_path: Any) -> None:
    ns = identity_namespace(store)
    assert org_identity(ns, "alpha") == org_identity(identity_namespace(store), "alpha")
    assert org_identity_id(ns, "alpha") != org_identity_id(ns, "beta")
    assert validate_object(org_identity(ns, "alpha")) == []
    # Another node's "node" organisation is another identity.
    other = SQLiteStore(f"sqlite:///{tmp_path / 'other.db'}")
    other.initialise()
    assert org_identity_id(identity_namespace(other), "node") != org_identity_id(ns, "node")
    other.close()


def test_a_publisher_reports_a_named_sighting_which_partners_then_see(store: Store) -> None:
    done = report(store, "ava", sid("indicator", 1), kind="seen", count=4, first_seen="2026-12-01T10:00:00Z",
                  tlp="green")
    assert (done.collection, done.state, done.owner) == (store.get_collection("default").id, "published", "alpha")
    rows = stored(store, done.stix_id)
    body = orjson.loads(rows[0].body or b"{}")
    alpha = org_identity_id(identity_namespace(store), "alpha")
    assert body["where_sighted_refs"] == [alpha] == [body["created_by_ref"]]
    assert (body["count"], body["x_accord_sighting_type"], body["object_marking_refs"]) == (4, "seen", [TLP2_GREEN])
    assert stored(store, org_identity_id(identity_namespace(store), "alpha"))  # the identity went in with it
    # The node organisation sees alpha's GREEN sighting under node-alpha, with its owner.
    s = shown(store, "nora", sid("indicator", 1))
    assert [(x.kind, x.count, x.owner, x.anonymous, x.ours) for x in s.shown] == [("seen", 4, "alpha", False, False)]
    assert (s.total(SEEN), s.last_seen) == (4, "2026-12-01T10:00:00.000000Z")
    # beta has no agreement with alpha: it is told nothing of the sighting.
    assert shown(store, "bob", sid("indicator", 1)).shown == ()


def test_an_analysts_sighting_waits_as_a_draft_seen_only_by_its_organisation(store: Store) -> None:
    done = report(store, "alice", sid("indicator", 1), kind="false-positive", tlp="green")
    assert done.state == "draft"
    assert [(x.kind, x.ours) for x in shown(store, "rita", sid("indicator", 1)).shown] == [("false-positive", True)]
    assert shown(store, "nora", sid("indicator", 1)).shown == ()


def test_an_anonymous_sighting_names_nobody_and_belongs_to_the_node(store: Store) -> None:
    done = report(store, "ava", sid("indicator", 1), anonymous=True, tlp="green")
    # ava is not of the node organisation: it waits for one of the node's publishers.
    assert (done.owner, done.state) == ("node", "draft")
    body = orjson.loads(stored(store, done.stix_id)[0].body or b"{}")
    assert "where_sighted_refs" not in body and "created_by_ref" not in body
    assert not stored(store, org_identity_id(identity_namespace(store), "alpha"))
    # Not alpha's: alpha's readers are not told of it as theirs, and before release nobody else is.
    assert shown(store, "rita", sid("indicator", 1)).shown == ()
    by_node = report(store, "nora", sid("indicator", 1), anonymous=True, tlp="green")
    assert (by_node.owner, by_node.state) == ("node", "published")
    # Nobody's name as its author, on the page and in the audit log (ava's stays a draft of node).
    nora = visibility(store, viewer(store, "nora"), NOW)
    assert object_view(store, nora, done.stix_id).current.author == "anonymous"
    actors = [r.actor for r in store.audit_records(org="node", action="write", limit=10)]
    assert actors.count("anonymous") == 2 and "ava" not in actors and "nora" not in actors
    s = shown(store, "rita", sid("indicator", 1))
    assert [(x.owner, x.anonymous) for x in s.shown] == [("node", True)]


def test_what_the_reporter_may_not_see_cannot_be_sighted(store: Store) -> None:
    with pytest.raises(NotFoundError):
        report(store, "ava", sid("indicator", 2))  # RED, alpha no recipient: as if absent
    with pytest.raises(NotFoundError):
        report(store, "ava", sid("indicator", 99))
    with pytest.raises(ReleaseError):
        report(store, "rita", sid("indicator", 1))  # a reader


def test_a_collection_the_reporter_may_not_write_is_refused(store: Store) -> None:
    store.set_grant(store.get_collection("default"), "alpha", can_read=True, can_write=False)
    with pytest.raises(ReleaseError, match="may not write to the collection the sighted object is in"):
        report(store, "ava", sid("indicator", 1))
    store.set_grant(store.get_collection("default"), "alpha", can_read=False, can_write=False)
    hidden = store.add_collection("hidden", alias="hidden")
    with pytest.raises(NotFoundError):
        record_sighting(store, viewer(store, "ava"), report_from({}, sid("indicator", 1)), now_micros=NOW,
                        collection_ref="hidden")
    store.set_grant(hidden, "alpha", can_read=True, can_write=False)
    with pytest.raises(ReleaseError, match="may not write to collection 'hidden'"):
        record_sighting(store, viewer(store, "ava"), report_from({}, sid("indicator", 1)), now_micros=NOW,
                        collection_ref="hidden")


def test_the_threshold_withholds_other_organisations_sightings_until_enough(store: Store) -> None:
    report(store, "ava", sid("indicator", 1), tlp="amber")
    assert shown(store, "nora", sid("indicator", 1), min_count=2).withheld
    assert shown(store, "nora", sid("indicator", 1), min_count=2).shown == ()
    report(store, "bob", sid("indicator", 1), tlp="amber", kind="false-positive", count=2)
    s = shown(store, "nora", sid("indicator", 1), min_count=2)
    assert (s.withheld, s.total(SEEN), s.total(FALSE_POSITIVE)) == (False, 1, 2)
    # The reporter's own are never withheld.
    own = shown(store, "ava", sid("indicator", 1), min_count=5)
    assert [x.ours for x in own.shown] == [True]
    assert own.withheld  # below 5 whether or not others exist: beta's (not visible to alpha) count for nothing


def test_summarise_counts_only_what_it_shows() -> None:
    def one(n: int, kind: str, ours: bool) -> SightingSeen:
        return SightingSeen(f"sighting--{n}", "x", "green", kind, n, None, f"2026-01-0{n}T00:00:00Z", False, ours)

    s = summarise([one(1, SEEN, True), one(2, FALSE_POSITIVE, False), one(3, SEEN, False)], 3)
    assert (s.total(SEEN), s.total(FALSE_POSITIVE), s.withheld, s.last_seen) == (1, 0, True, "2026-01-01T00:00:00Z")
    s = summarise([one(1, SEEN, True), one(2, FALSE_POSITIVE, False), one(3, SEEN, False)], 2)
    assert (s.total(SEEN), s.total(FALSE_POSITIVE), s.withheld, s.last_seen) == (4, 2, False, "2026-01-03T00:00:00Z")
