"""Lookup (accord/services/lookup.py): every value kind, parents, networks, sightings, warninglists,
granular markings and bulk, through the gate, on every backend."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from accord.errors import RequestError
from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.ingest import ingest_document
from accord.services.lookup import MAX_VALUES, Lookup, ValueResult, lookup, parent_domains
from accord.services.warninglists import benign
from accord.stix.markings import TLP2_GREEN, TLP2_RED
from accord.stix.stream import StixDocument
from accord.storage.base import Provenance, State, Store

T = "2026-01-01T00:00:00.000Z"
HASH = "d41d8cd98f00b204e9800998ecf8427f"
NOW = 1_800_000_000_000_000


def sid(kind: str, n: int) -> str:
    return f"{kind}--{n:08d}-0000-4000-8000-000000000000"


def indicator(n: int, pattern: str, tlp: str = TLP2_GREEN, **extra: Any) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": sid("indicator", n), "created": T, "modified": T,
            "name": f"indicator {n}", "pattern": pattern, "pattern_type": "stix", "valid_from": T,
            "object_marking_refs": [tlp], **extra}


def sco(kind: str, n: int, value: str) -> dict[str, Any]:
    return {"type": kind, "spec_version": "2.1", "id": sid(kind, n), "value": value,
            "object_marking_refs": [TLP2_GREEN]}


def sighting(n: int, of: str, tlp: str = TLP2_GREEN) -> dict[str, Any]:
    return {"type": "sighting", "spec_version": "2.1", "id": sid("sighting", n), "created": T, "modified": T,
            "sighting_of_ref": of, "count": 3, "last_seen": T, "object_marking_refs": [tlp]}


def put(store: Store, objects: list[dict[str, Any]], owner: str = "node", state: State = State.PUBLISHED) -> None:
    doc = StixDocument(io.BytesIO(orjson.dumps(objects)).read)
    with store.transaction() as tx:
        report = ingest_document(tx, store.get_collection("default"), doc,
                                 Provenance(store.get_org(owner).pk, state=state, owner_name=owner))
    assert not report.refused, report.refused


@pytest.fixture
def store(backend_store: Store) -> Store:
    s = backend_store
    s.add_org("alpha")
    s.add_user("alice", org="alpha", role="reader")
    s.add_agreement("node-alpha", parties=["node", "alpha"], max_tlp="amber", onward=False, valid_from=None,
                    valid_until=None, actor="test")
    put(s, [
        indicator(1, "[domain-name:value = 'b.example.com']"),
        indicator(2, "[domain-name:value = 'secret.example.org']", tlp=TLP2_RED),
        sco("ipv4-addr", 3, "198.51.100.7"),
        indicator(4, "[ipv4-addr:value = '203.0.113.0/24']"),
        indicator(5, "[url:value = 'http://Evil.Example.net/x?a=1']"),
        indicator(6, "[email-addr:value = 'Boss@Example.com']"),
        indicator(7, f"[file:hashes.MD5 = '{HASH}']"),
        indicator(8, "[ipv6-addr:value = '2001:db8:1::/48']"),
        sco("ipv6-addr", 9, "2001:db8:1::5"),
        sighting(1, sid("indicator", 1)),
        sighting(2, sid("indicator", 1), tlp=TLP2_RED),  # a sighting alice may not see
        sighting(3, sid("indicator", 2)),  # of an object alice may not see
        # The pattern is RED under a granular marking: alice receives the object without it.
        indicator(10, "[domain-name:value = 'granular.example.org']",
                  granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["pattern"]}]),
    ])
    put(s, [indicator(11, "[domain-name:value = 'draft.example.org']")], state=State.DRAFT)
    return s


def as_alice(store: Store, values: list[str], **kw: Any) -> list[ValueResult]:
    return lookup(store, visibility(store, Viewer.of(store.get_user("alice")), NOW), values, **kw)


def as_operator(store: Store, values: list[str]) -> list[ValueResult]:
    return lookup(store, visibility(store, Viewer.operator(), NOW), values)


def ids(result: ValueResult, relation: str | None = None) -> set[str]:
    return {h.stix_id for h in result.hits if relation is None or h.relation == relation}


def test_every_value_kind_finds_what_mentions_it(store: Store) -> None:
    values = ["b.example.com", "198.51.100.7", "HTTP://evil.example.net/x?a=1", "boss@example.com", HASH.upper(),
              "2001:db8:1:0::5"]
    results = as_alice(store, values)
    assert [ids(r, "exact") for r in results] == [
        {sid("indicator", 1)}, {sid("ipv4-addr", 3)}, {sid("indicator", 5)}, {sid("indicator", 6)},
        {sid("indicator", 7)}, {sid("ipv6-addr", 9)}]
    hit = results[0].hits[0]
    assert (hit.type, hit.name, hit.owner, hit.origin, hit.tlp, hit.state) == (
        "indicator", "indicator 1", "node", None, "green", "published")
    assert results[0].kinds == ["domain-name"]


def test_a_subdomain_reports_its_parents_as_parent_hits(store: Store) -> None:
    assert parent_domains("a.b.example.com") == ["b.example.com", "example.com"]
    [result] = as_alice(store, ["a.b.example.com"])
    assert [(h.matched, h.relation, h.stix_id) for h in result.hits] == [
        ("b.example.com", "parent", sid("indicator", 1))]


def test_networks_contain_addresses_and_addresses_lie_within_networks(store: Store) -> None:
    within, contains, v6_within, v6_contains, odd = as_alice(
        store, ["203.0.113.77", "198.51.100.0/24", "2001:db8:1::9", "2001:db8::/32", "198.51.96.0/21"])
    assert [(h.matched, h.relation) for h in within.hits] == [("203.0.113.0/24", "within")]
    assert [(h.matched, h.relation) for h in contains.hits] == [("198.51.100.7", "contains")]
    assert {(h.matched, h.relation) for h in v6_within.hits} == {("2001:db8:1::/48", "within")}
    assert {(h.matched, h.relation) for h in v6_contains.hits} == {("2001:db8:1::/48", "contains"),
                                                                   ("2001:db8:1::5", "contains")}
    assert ids(odd) == {sid("ipv4-addr", 3)}  # a /21 is eight third-octet prefixes, 100 among them


def test_sightings_of_hits_are_listed_when_visible(store: Store) -> None:
    [result] = as_alice(store, ["b.example.com"])
    summary = result.hits[0].sightings
    assert summary is not None
    assert [(s.stix_id, s.count, s.tlp, s.kind) for s in summary.shown] == [(sid("sighting", 1), 3, "green", "seen")]
    assert (summary.total("seen"), summary.total("false-positive"), summary.withheld) == (3, 0, False)
    [everything] = as_operator(store, ["b.example.com"])
    assert everything.hits[0].sightings is not None
    assert {s.stix_id for s in everything.hits[0].sightings.shown} == {sid("sighting", 1), sid("sighting", 2)}
    # Below the threshold alice is told nothing of the one sighting she may see (another org's).
    [withheld] = as_alice(store, ["b.example.com"], sighting_min_count=2)
    assert withheld.hits[0].sightings is not None
    assert (withheld.hits[0].sightings.shown, withheld.hits[0].sightings.withheld) == ((), True)


def test_hidden_objects_answer_like_nothing(store: Store) -> None:
    hidden = as_alice(store, ["secret.example.org", "draft.example.org", "x.secret.example.org"])
    nothing = as_alice(store, ["nobody.example.org", "nothing.example.org", "x.nobody.example.org"])
    for h, n in zip(hidden, nothing, strict=True):
        assert (h.hits, h.warninglists, h.problem, h.truncated, h.kinds) == (
            n.hits, n.warninglists, n.problem, n.truncated, n.kinds)
    # The operator (the CLI without --as) sees them.
    assert [len(r.hits) for r in as_operator(store, ["secret.example.org", "draft.example.org"])] == [1, 1]


def test_a_value_under_a_granular_marking_does_not_match_for_another_organisation(store: Store) -> None:
    [result] = as_alice(store, ["granular.example.org"])
    assert result.hits == []
    [operator] = as_operator(store, ["granular.example.org"])
    assert ids(operator) == {sid("indicator", 10)}


def test_unrecognised_and_overlong_values_say_why(store: Store) -> None:
    word, long = as_alice(store, ["hello", "a" * 3000 + ".com"])
    assert word.problem is not None and "not an IP address" in word.problem and word.hits == []
    assert long.problem is not None and "longer than" in long.problem
    with pytest.raises(RequestError) as err:
        as_alice(store, ["x.com"] * (MAX_VALUES + 1))
    assert err.value.parameter == "values" and str(MAX_VALUES) in err.value.reason


def test_lookup_writes_receipts_on_the_lookup_channel(store: Store) -> None:
    as_alice(store, ["b.example.com"])
    records = store.audit_records(org="alpha")
    received = [r for r in records if r.action == "receive"]
    assert received and orjson.loads(received[-1].detail)["channel"] == "lookup"


def test_warninglists_flag_public_resolvers_and_top_domains(store: Store) -> None:
    resolver, top, plain = as_alice(store, ["8.8.8.8", "google.com", "b.example.com"], benign=benign)
    assert any("DNS resolvers" in name for name in resolver.warninglists)
    assert top.warninglists  # on the top-domain lists
    assert plain.hits and ids(plain) == {sid("indicator", 1)}


def test_bulk_ten_thousand_values_in_few_statements(store: Store) -> None:
    calls: list[int] = []
    original = store.observable_versions

    def counting(q: Any, where: Any, **kw: Any) -> Any:
        calls.append(len(q.keys) + len(q.ranges))
        return original(q, where, **kw)

    store.observable_versions = counting  # type: ignore[method-assign]
    values = [f"host{n}.bulk.example" for n in range(MAX_VALUES - 2)] + ["b.example.com", "198.51.100.7"]
    results = Lookup(store, visibility(store, Viewer.of(store.get_user("alice")), NOW)).run(values)
    assert len(results) == MAX_VALUES
    assert ids(results[-2]) == {sid("indicator", 1)} and ids(results[-1]) == {sid("ipv4-addr", 3)}
    assert all(not r.hits for r in results[:-2])
    # ~10,000 exact keys + a shared parent + 24 networks: a dozen statements, not 10,000.
    assert len(calls) <= 15


def test_hundreds_of_stored_values_are_each_found_as_when_looked_up_alone(store: Store) -> None:
    """Long key and version lists take another form of statement on PostgreSQL (one array
    parameter, storage/postgres.py _among): the answers are those of lookups one value at a time."""
    values = [f"many{n}.long-list.example" for n in range(250)]
    put(store, [sco("domain-name", 1000 + n, v) for n, v in enumerate(values)])
    together = as_alice(store, [*values, "absent.long-list.example"])
    assert all(ids(r) == {sid("domain-name", 1000 + n)} for n, r in enumerate(together[:-1]))
    assert not together[-1].hits
    for n in (0, 117, 249):
        assert ids(as_alice(store, [values[n]])[0]) == ids(together[n])


def test_a_granularly_hidden_address_neither_tips_truncated_nor_uses_the_cap(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import accord.services.lookup as lookup_module

    monkeypatch.setattr(lookup_module, "CONTAINED_CAP", 2)
    hidden = {**sco("ipv4-addr", 41, "198.51.100.41"),
              "granular_markings": [{"marking_ref": TLP2_RED, "selectors": ["value"]}]}
    put(store, [sco("ipv4-addr", 40, "198.51.100.40"), hidden])
    # alice receives three addresses in the /24 (.7, .40, and .41 without its value): two, not truncated.
    [answer] = as_alice(store, ["198.51.100.0/24"])
    assert ids(answer, "contains") == {sid("ipv4-addr", 3), sid("ipv4-addr", 40)} and not answer.truncated
    # The operator sees all three: truncated at two.
    [everything] = as_operator(store, ["198.51.100.0/24"])
    assert everything.truncated and len(everything.hits) == 2


def test_a_bulk_lookup_answers_each_value_as_a_lookup_of_it_alone(store: Store) -> None:
    # A bulk lookup (summaries, keys of types nobody holds left out, several statements) must
    # answer every value exactly as a lookup of that value alone does.
    import accord.services.lookup as lookup_module

    put(store, [sighting(4, sid("indicator", 4)), sco("ipv4-addr", 12, "203.0.113.9")])
    wanted = ["b.example.com", "x.b.example.com", "secret.example.org", "198.51.100.7", "203.0.113.9",
              "203.0.113.0/24", "http://EVIL.example.net/x?a=1", "boss@example.COM", HASH, "2001:db8:1::5",
              "2001:db8::/32", "granular.example.org", "draft.example.org", "not a value", "", "b.example.com"]
    # Enough distinct keys between the two copies that they are probed in different statements.
    filler = [f"filler{n}.example" for n in range(lookup_module.CHUNK_KEYS + 50)]
    fillers = set(filler)
    values = [*wanted, *filler, *wanted]
    vis = visibility(store, Viewer.of(store.get_user("alice")), NOW)
    bulk = Lookup(store, vis).run(values)
    assert len(bulk) == len(values) >= lookup_module.BULK_FROM
    for value, answer in zip(values, bulk, strict=True):
        if value in fillers:
            assert answer.kinds == ["domain-name"] and not answer.hits and answer.problem is None
            continue
        [alone] = Lookup(store, vis).run([value])
        assert answer == alone, value
    assert ids(bulk[0]) == {sid("indicator", 1)} and ids(bulk[-len(wanted)]) == {sid("indicator", 1)}
    assert ids(bulk[5], "contains") == {sid("ipv4-addr", 12)}
    assert any(h.sightings and h.sightings.shown for h in bulk[4].hits)  # 203.0.113.9 within indicator 4


def test_a_value_that_is_not_text_is_named_as_such_and_the_rest_are_answered(store: Store) -> None:
    """A command-line argument that was not UTF-8 reaches Python with lone surrogates, which no
    database can be sent: the value gets a problem, the lookup goes on, alone and in bulk."""
    broken = "http://evil.example/\udc80"
    for values in ([broken, "b.example.com"],
                   [broken, "b.example.com", *(f"http://bulk.example/{n}" for n in range(150))]):
        first, second, *_ = as_alice(store, values)
        assert first.problem is not None and "not Unicode text" in first.problem and not first.hits
        assert ids(second) == {sid("indicator", 1)}
