"""Decay through the gate (accord/services/decay.py with services/sightings.py), on every
backend: the score a reader sees moves only with sightings that reader may be told of. A hidden
sighting of another organisation, or a visible one below ``sighting_min_count``, changes nothing;
the reader's own always counts; the export filter judges each indicator for the exporting reader.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from accord.policy.gate import Visibility, visibility
from accord.policy.viewer import Viewer
from accord.services.decay import DAY, DecayModel, Scoring, at_least, scores
from accord.services.disclose import disclosed_bodies
from accord.services.ingest import ingest_document
from accord.services.lookup import lookup
from accord.services.sightings import FALSE_POSITIVE, KIND_PROPERTY, SEEN
from accord.stix.markings import TLP2_GREEN, TLP2_RED
from accord.stix.stream import StixDocument
from accord.stix.timestamps import format_micros
from accord.storage.base import Provenance, State, Store, VersionQuery

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
NOW = T0 + 20 * DAY  # an IPv4 indicator is 20 of its 30 days old
MIN_COUNT = 3
IND = "indicator--00000000-0000-4000-8000-000000000001"
OLD = "indicator--00000000-0000-4000-8000-000000000002"


def indicator(stix_id: str, valid_from: int, **extra: Any) -> dict[str, Any]:
    t = format_micros(valid_from)
    return {"type": "indicator", "spec_version": "2.1", "id": stix_id, "created": t, "modified": t, "valid_from": t,
            "pattern": "[ipv4-addr:value = '203.0.113.9']", "pattern_type": "stix", "confidence": 80,
            "object_marking_refs": [TLP2_GREEN], **extra}


def sighting(n: int, kind: str, *, of: str = IND, tlp: str = TLP2_GREEN, at: int = NOW) -> dict[str, Any]:
    t = format_micros(at)
    return {"type": "sighting", "spec_version": "2.1", "id": f"sighting--00000000-0000-4000-8000-{n:012d}",
            "created": t, "modified": t, "sighting_of_ref": of, "count": 1, "first_seen": t, "last_seen": t,
            KIND_PROPERTY: kind, "object_marking_refs": [tlp]}


def put(store: Store, objects: list[dict[str, Any]], owner: str, state: State = State.PUBLISHED) -> None:
    doc = StixDocument(io.BytesIO(orjson.dumps(objects)).read)
    with store.transaction() as tx:
        report = ingest_document(tx, store.get_collection("default"), doc,
                                 Provenance(store.get_org(owner).pk, state=state, owner_name=owner))
    assert not report.refused, report.refused


@pytest.fixture
def store(backend_store: Store) -> Store:
    s = backend_store
    for org in ("alpha", "beta", "gamma"):
        s.add_org(org)
    s.add_user("alice", org="alpha", role="reader")
    for name, parties in (("node-alpha", ["node", "alpha"]), ("alpha-beta", ["alpha", "beta"]),
                          ("alpha-gamma", ["alpha", "gamma"])):
        s.add_agreement(name, parties=parties, max_tlp="amber", onward=False, valid_from=None, valid_until=None,
                        actor="test")
    put(s, [indicator(IND, T0), indicator(OLD, T0 - 40 * DAY)], "node")
    return s


def alice(store: Store) -> Visibility:
    return visibility(store, Viewer.of(store.get_user("alice")), NOW)


def operator(store: Store) -> Visibility:
    return visibility(store, Viewer.operator(), NOW)


def score_for(store: Store, vis: Visibility, min_count: int = MIN_COUNT) -> int | None:
    [found] = scores(store, vis, [indicator(IND, T0)], now=NOW, model=DecayModel(), min_count=min_count,
                     channel="test")
    return found


def test_a_hidden_sighting_of_another_organisation_does_not_move_the_score(store: Store) -> None:
    before = score_for(store, alice(store))
    assert before == 27  # 80 x (1 - 20/30)
    put(store, [sighting(1, SEEN, tlp=TLP2_RED)], "beta")  # RED, alice not a recipient
    put(store, [sighting(2, FALSE_POSITIVE)], "gamma", State.DRAFT)  # not released
    put(store, [sighting(3, FALSE_POSITIVE)], "node", State.DRAFT)  # the indicator owner's draft
    assert score_for(store, alice(store)) == before
    assert score_for(store, alice(store), min_count=1) == before  # however low the threshold
    assert score_for(store, operator(store)) == 20  # fresh (80), halved twice: they are real


def test_visible_sightings_below_the_threshold_do_not_move_the_score(store: Store) -> None:
    before = score_for(store, alice(store))
    put(store, [sighting(1, SEEN)], "beta")
    put(store, [sighting(2, FALSE_POSITIVE)], "gamma")
    assert score_for(store, alice(store)) == before  # two other organisations' sightings: below 3
    assert score_for(store, alice(store), min_count=2) == 40  # at the threshold: fresh, one false positive
    put(store, [sighting(3, SEEN, at=NOW - DAY)], "beta")
    assert score_for(store, alice(store)) == 40  # three now: they count


def test_the_readers_own_sightings_always_count(store: Store) -> None:
    put(store, [sighting(1, SEEN)], "alpha")
    assert score_for(store, alice(store)) == 80
    put(store, [sighting(2, FALSE_POSITIVE)], "alpha")
    assert score_for(store, alice(store)) == 40


def test_the_export_filter_judges_indicators_for_the_exporting_reader(store: Store) -> None:
    put(store, [sighting(1, SEEN, of=OLD, tlp=TLP2_RED)], "beta")  # refreshes OLD for the operator only
    put(store, [{"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000009",
                 "created": format_micros(T0), "modified": format_micros(T0), "name": "x", "is_family": False,
                 "object_marking_refs": [TLP2_GREEN]}], "node")

    def exported(vis: Visibility, min_score: int) -> list[str]:
        bodies = disclosed_bodies(store, vis, VersionQuery(latest_only=True), channel="export")
        kept = at_least(store, vis, bodies, min_score, now=NOW, model=DecayModel(), min_count=MIN_COUNT,
                        channel="export", batch=2)
        return sorted(orjson.loads(b)["id"].split("--")[0] + ("-old" if OLD in str(b) else "") for b in kept)

    assert exported(alice(store), 0) == ["indicator", "indicator-old", "malware"]
    assert exported(alice(store), 1) == ["indicator", "malware"]  # OLD is past its 30 days: 0
    assert exported(alice(store), 28) == ["malware"]  # other objects pass unchanged
    # The operator sees beta's RED sighting (exported too: not an indicator), which refreshed OLD.
    assert exported(operator(store), 28) == ["indicator-old", "malware", "sighting-old"]


def test_lookup_hits_carry_the_callers_score(store: Store) -> None:
    put(store, [sighting(1, SEEN, tlp=TLP2_RED)], "beta")  # hidden from alice: refreshes IND for the operator

    def scored(vis: Visibility) -> dict[str, int | None]:
        [result] = lookup(store, vis, ["203.0.113.9"], scoring=Scoring(DecayModel(), MIN_COUNT, NOW))
        return {h.stix_id: h.score for h in result.hits if h.type == "indicator"}

    assert scored(alice(store)) == {IND: 27, OLD: 0}
    assert scored(operator(store)) == {IND: 80, OLD: 0}
    [unscored] = lookup(store, alice(store), ["203.0.113.9"])
    assert {h.score for h in unscored.hits} == {None}
