"""storage/taxii_queries.py on both backends: the visibility filter is applied in SQL, also when
choosing the first/last version."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from accord.policy.gate import ALLOW_ALL, DENY_ALL, Predicate
from accord.services.ingest import ingest_document
from accord.stix.stream import StixDocument
from accord.storage.base import ListQuery, Store, VersionMatch
from accord.storage.postgres import PostgresStore
from accord.storage.sqlite import SQLiteStore
from tests.conftest import node_provenance
from tests.taxii.conftest import indicator


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store
    if backend == "sqlite":
        s = SQLiteStore(f"sqlite:///{tmp_path / 'q.db'}")
    else:
        s = PostgresStore(request.getfixturevalue("pg_url"))
    s.initialise()
    yield s
    s.close()


def test_filter_is_applied_to_listings_and_version_choice(store: Store) -> None:
    collection = store.add_collection("q")
    versions = [indicator(1, modified=f"2026-0{m}-01T00:00:00.000Z") for m in (1, 2, 3)]
    versions = [{**v, "id": versions[0]["id"]} for v in versions]
    with store.transaction() as tx:
        ingest_document(tx, collection, StixDocument(io.BytesIO(orjson.dumps({"objects": versions})).read),
                        node_provenance(store))
    last = ListQuery(collection.pk)
    assert [r.version[:7] for r in store.list_versions(last, ALLOW_ALL)] == ["2026-03"]
    assert store.list_versions(last, DENY_ALL) == []
    # The newest version hidden: "last" is the newest the caller can see, not nothing.
    hide_march = Predicate("v.version < ?", ("2026-03",))
    assert [r.version[:7] for r in store.list_versions(last, hide_march)] == ["2026-02"]
    first = ListQuery(collection.pk, versions=VersionMatch(first=True), with_body=False)
    hide_january = Predicate("v.version > ?", ("2026-02",))
    rows = store.list_versions(first, hide_january)
    assert [r.version[:7] for r in rows] == ["2026-02"] and rows[0].body is None
    assert len(store.list_versions(ListQuery(collection.pk, versions=VersionMatch(all=True)), ALLOW_ALL)) == 3
    assert store.visible_collections("default", DENY_ALL) == []
    assert collection in store.visible_collections("default", ALLOW_ALL)
    assert store.visible_collection("default", collection.id, DENY_ALL) is None


def test_status_and_secret(store: Store) -> None:
    store.save_status("s1", "default", "alice", b'{"id":"s1"}')
    assert store.get_status("s1", "default", "alice") == b'{"id":"s1"}'
    assert store.get_status("s1", "default", "bob") is None
    secret = store.node_secret("k")
    assert len(secret) == 32 and store.node_secret("k") == secret != store.node_secret("other")
