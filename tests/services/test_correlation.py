"""Correlation, "also seen in" (accord/services/correlation.py) on the object view, through the
gate, on every backend: cross-organisation matches under an agreement, hidden objects absent (and
not counted), granular-hidden values not matching, the over-correlation cap."""

from __future__ import annotations

from typing import Any

import pytest

from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.correlation import Correlation
from accord.services.objects import object_view
from accord.stix.markings import TLP2_GREEN, TLP2_RED
from accord.storage.base import State, Store
from tests.services.test_lookup import NOW, indicator, put, sid

SHARED = "[domain-name:value = 'shared.example.com']"


@pytest.fixture
def store(backend_store: Store) -> Store:
    s = backend_store
    for org in ("alpha", "beta"):
        s.add_org(org)
    s.add_user("alice", org="alpha", role="reader")
    s.add_user("bob", org="beta", role="reader")
    s.add_agreement("node-alpha", parties=["node", "alpha"], max_tlp="amber", onward=False, valid_from=None,
                    valid_until=None, actor="test")
    put(s, [
        indicator(1, SHARED),  # GREEN: alice sees it under the agreement
        indicator(2, SHARED, tlp=TLP2_RED),  # RED, alice is no recipient
        # The pattern under a granular RED marking: alice receives the object without it.
        indicator(4, SHARED, granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["pattern"]}]),
        indicator(5, "[domain-name:value = 'other.example.com']"),
    ])
    put(s, [indicator(3, SHARED)], state=State.DRAFT)
    put(s, [indicator(20, SHARED), indicator(21, "[domain-name:value = 'lonely.example.com']")], owner="alpha")
    put(s, [indicator(30, SHARED)], owner="beta")  # no agreement between alpha and beta
    return s


def seen(store: Store, who: str | None, stix_id: str, cap: int = 100) -> list[Correlation]:
    viewer = Viewer.operator() if who is None else Viewer.of(store.get_user(who))
    return object_view(store, visibility(store, viewer, NOW), stix_id, correlation_cap=cap).correlations


def listed(correlations: list[Correlation]) -> dict[str, Any]:
    return {c.value: (c.over_correlating, sorted(h.row.stix_id for h in c.objects)) for c in correlations}


def test_a_partners_indicator_is_seen_under_the_agreement_and_hidden_ones_are_absent(store: Store) -> None:
    got = seen(store, "alice", sid("indicator", 20))
    # Not the RED one, not the draft, not beta's (no agreement), not the one whose pattern alice
    # receives redacted, never the object itself.
    assert listed(got) == {"shared.example.com": (False, [sid("indicator", 1)])}
    (c,) = got
    assert c.index_type == "domain-name"
    (h,) = c.objects
    assert (h.owner, h.tlp, h.name) == ("node", "green", "indicator 1")


def test_the_partner_sees_the_reverse_and_a_receipt_is_written(store: Store) -> None:
    got = seen(store, "alice", sid("indicator", 1))
    assert listed(got) == {"shared.example.com": (False, [sid("indicator", 20)])}
    # alice's own indicator: no receipt for it; node's indicator 1 on the page: a web receipt.
    records = store.audit_records(stix_id=sid("indicator", 1), action="receive", limit=50)
    assert records and all(r.org == "alpha" for r in records)


def test_nothing_visible_shares_the_value_no_entry(store: Store) -> None:
    # beta sees only its own indicator: the value others hold answers like a value nobody holds.
    assert seen(store, "bob", sid("indicator", 30)) == []
    assert seen(store, "alice", sid("indicator", 21)) == []


def test_a_value_hidden_by_a_granular_marking_does_not_correlate(store: Store) -> None:
    # alice receives indicator 4 without its pattern: it has no value to correlate.
    assert seen(store, "alice", sid("indicator", 4)) == []
    # The operator sees the whole object and every other holder.
    assert listed(seen(store, None, sid("indicator", 4))) == {"shared.example.com": (False, sorted(
        sid("indicator", n) for n in (1, 2, 3, 20, 30)))}


def test_the_cap_marks_a_value_over_correlating_counting_only_visible_objects(store: Store) -> None:
    # alice sees one other object with the value (indicator 1) and four hidden ones hold it too.
    assert listed(seen(store, "alice", sid("indicator", 20), cap=1)) == {
        "shared.example.com": (False, [sid("indicator", 1)])}
    put(store, [indicator(6, SHARED)])
    got = seen(store, "alice", sid("indicator", 20), cap=1)
    assert listed(got) == {"shared.example.com": (True, [])}
    # Another value of the same kind below the cap is still listed.
    put(store, [indicator(7, "[domain-name:value = 'lonely.example.com']")])
    assert listed(seen(store, "alice", sid("indicator", 21), cap=1)) == {
        "lonely.example.com": (False, [sid("indicator", 7)])}


def test_green_and_red_badges_come_from_the_effective_tlp(store: Store) -> None:
    put(store, [indicator(8, SHARED, tlp=TLP2_GREEN)], owner="alpha")
    got = seen(store, "alice", sid("indicator", 20))
    assert {h.row.stix_id: h.tlp for c in got for h in c.objects} == {sid("indicator", 1): "green",
                                                                      sid("indicator", 8): "green"}
