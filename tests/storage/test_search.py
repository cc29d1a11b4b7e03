"""The search queries of the store (storage/search.py) on every backend: each filter, the window
bounds, newest-visible-version-only, and the graph references in the observable index."""

from __future__ import annotations

import orjson
import pytest

from accord.policy.gate import ALLOW_ALL, Predicate
from accord.services.ingest import prepare_document, write_prepared
from accord.stix.markings import TLP2_GREEN, TLP2_RED
from accord.stix.references import REF_INDEX
from accord.stix.stream import Item
from accord.storage.base import Provenance, SearchFilter, State, Store

FAR = 2**62


@pytest.fixture
def store(backend_store: Store) -> Store:
    backend_store.add_org("cert-a")
    backend_store.add_org("cert-b", kind="partner")
    return backend_store


def ind(n: int, **extra: object) -> dict[str, object]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00.000Z", "pattern": f"[ipv4-addr:value = '10.0.0.{n}']", **extra}


def put(store: Store, org: str, *objects: dict[str, object], state: State = State.PUBLISHED,
        origin: str | None = None) -> None:
    owner = store.get_org(org)
    provenance = Provenance(owner.pk, state, owner_name=owner.name,
                            origin_org=store.get_org(origin).pk if origin else None)
    prepared = prepare_document([Item(i, obj) for i, obj in enumerate(objects)], store.marking_levels())
    assert not prepared.report.refused, prepared.report.refused
    with store.transaction() as tx:
        write_prepared(tx, store.get_collection("default"), provenance, prepared)


def ids(rows: list) -> list[str]:  # type: ignore[type-arg]
    return [r.stix_id[-3:] for r in rows]


def test_each_filter_narrows_and_results_are_newest_first(store: Store) -> None:
    a, b = store.get_org("cert-a").pk, store.get_org("cert-b").pk
    put(store, "cert-a", ind(1, name="Evil campaign"), ind(2, object_marking_refs=[TLP2_GREEN], labels=["c2"]))
    put(store, "cert-b", ind(3, object_marking_refs=[TLP2_RED]), origin="cert-b")
    put(store, "cert-a", ind(4), state=State.DRAFT)
    everything = store.search_versions(ALLOW_ALL, SearchFilter(), limit=10)
    assert ids(everything) == ["004", "003", "002", "001"]
    def find(**f: object) -> list[str]:
        return ids(store.search_versions(ALLOW_ALL, SearchFilter(**f), limit=10))  # type: ignore[arg-type]
    assert find(owners=(b,)) == ["003"]
    assert find(not_owner=a) == ["003"]
    assert find(received=True) == ["003"] and find(received=False) == ["004", "002", "001"]
    assert find(states=("draft",)) == ["004"]
    assert find(tlps=("green",)) == ["002"]
    # Unmarked versions take the collection's default TLP (AMBER for the default collection).
    default = store.get_collection("default").pk
    assert find(tlps=("amber",), defaulted_collections=(default,)) == ["004", "001"]
    assert find(contains=("campaign",)) == ["001"]  # case-insensitive substring of the stored JSON
    assert find(contains=('"c2"',)) == ["002"]
    assert find(contains=("50%_off",)) == []  # LIKE wildcards in the text are literal
    assert find(observables=(("ipv4-addr", "10.0.0.3"),)) == ["003"]
    assert find(types=("malware",)) == []
    # Windows: before is exclusive, not_before inclusive, and the limit holds.
    assert find(before=everything[1].date_added) == ["002", "001"]
    assert find(before=everything[0].date_added, not_before=everything[2].date_added) == ["003", "002"]
    assert ids(store.search_versions(ALLOW_ALL, SearchFilter(), limit=2)) == ["004", "003"]


def test_only_the_newest_version_the_predicate_admits(store: Store) -> None:
    put(store, "cert-a", ind(5, name="first"))
    put(store, "cert-a", {**ind(5, name="second"), "modified": "2026-02-01T00:00:00.000Z"}, state=State.DRAFT)
    rows = store.search_versions(ALLOW_ALL, SearchFilter(), limit=10)
    assert [orjson.loads(r.body)["name"] for r in rows] == ["second"]
    published_only = Predicate("v.state = ?", ("published",))
    rows = store.search_versions(published_only, SearchFilter(), limit=10)
    assert [orjson.loads(r.body)["name"] for r in rows] == ["first"]  # the hidden newer draft hides nothing
    assert len(store.object_versions(ind(5)["id"], ALLOW_ALL)) == 2  # type: ignore[arg-type]
    assert len(store.object_versions(ind(5)["id"], published_only)) == 1  # type: ignore[arg-type]


def test_membership_floor_and_listed_versions(store: Store) -> None:
    put(store, "cert-a", *(ind(n) for n in range(10, 15)))
    rows = store.search_versions(ALLOW_ALL, SearchFilter(), limit=10)
    assert store.membership_floor(FAR, 2) == rows[2].date_added
    assert store.membership_floor(rows[3].date_added, 5) is None
    listed = store.listed_versions([rows[0].pk, rows[4].pk], ALLOW_ALL)
    assert {r.pk for r in listed} == {rows[0].pk, rows[4].pk}
    assert store.listed_versions([rows[0].pk], Predicate("1 = 0")) == []
    assert store.listed_versions([], ALLOW_ALL) == []


def test_relationships_and_reports_are_indexed_by_what_they_point_at(store: Store) -> None:
    malware = {"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000001",
               "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "m",
               "is_family": True}
    rel = {"type": "relationship", "spec_version": "2.1", "id": "relationship--00000000-0000-4000-8000-000000000002",
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
           "relationship_type": "indicates", "source_ref": ind(20)["id"], "target_ref": malware["id"]}
    report = {"type": "report", "spec_version": "2.1", "id": "report--00000000-0000-4000-8000-000000000003",
              "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "r",
              "published": "2026-01-01T00:00:00.000Z", "object_refs": [malware["id"], ind(20)["id"]]}
    put(store, "cert-a", malware, ind(20), rel, report)
    pointing = store.search_versions(ALLOW_ALL, SearchFilter(observables=((REF_INDEX, malware["id"]),)), limit=10)
    assert sorted(r.type for r in pointing) == ["relationship", "report"]
    assert store.stats().observables == 1  # the indicator's address; references are not observables


def test_a_long_list_of_index_keys_finds_exactly_the_stored_values(store: Store) -> None:
    """A bulk lookup's keys of one type are bound as one array (PostgreSQL) or one JSON array
    (SQLite) past a hundred: every value must arrive as it was, quotes, backslashes and text
    outside ASCII included, and only stored values may match."""
    from accord.stix.observables import observables_of
    from accord.storage.base import ObservableQuery

    paths = ['"quoted"', "CamelCase", "back\\slash", "it's", "Ελλάδα", "emoji-😀", "percent%25_under", "x" * 300]
    urls = [{"type": "url", "spec_version": "2.1", "id": f"url--00000000-0000-4000-8000-{n:012d}",
             "value": f"http://a.example/{path}"} for n, path in enumerate(paths)]
    put(store, "cert-a", *urls)
    stored = [pair for obj in urls for pair in observables_of(obj)]
    absent = [("url", f"http://a.example/absent-{n}\\\"") for n in range(150)]
    sqlite = type(store).__name__ == "SQLiteStore"
    # SQLite's JSON reader ends a string at a NUL: such a value must not match the one it begins
    # with (PostgreSQL text cannot hold a NUL at all; lookup sends none to either).
    nul = [("url", "http://a.example/CamelCase\x00tail")] if sqlite else []
    for keys in (stored + absent, absent[:60] + stored[:3],  # one long list, one short
                 stored + stored + absent,  # each copy of a key asked for once more: still one row per match
                 stored + absent + nul):
        found = store.observable_versions(ObservableQuery(keys=tuple(keys)), ALLOW_ALL)
        expected = [pair for pair in stored if pair in keys]
        assert sorted((t, v) for t, v, _ in found) == sorted(expected)
        assert {v: row.stix_id for _, v, row in found} == {
            v: obj["id"] for obj in urls for _, v in observables_of(obj) if ("url", v) in keys}
    if sqlite:  # the long list took the JSON array's form there
        assert "json_each" in store._indexed_under("url", [v for _, v in stored + absent])[0]  # type: ignore[attr-defined]
        assert "json_each" not in store._indexed_under("url", [v for _, v in stored + absent + nul])[0]  # type: ignore[attr-defined]
