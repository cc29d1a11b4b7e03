"""How ingest settles an object's TLP, including the cases a review found failing open."""

from __future__ import annotations

import io
import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson

from accord.services.ingest import IngestReport, PreparedDocument, ingest_document, prepare_document, write_prepared
from accord.stix.markings import TLP2_CLEAR, TLP2_RED
from accord.stix.stream import StixDocument
from accord.storage.sqlite import SQLiteStore
from tests.conftest import node_provenance

STATEMENT = "marking-definition--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"


def indicator(n: int, **extra: Any) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{n:08d}-0000-4000-8000-000000000000",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "pattern": "[domain-name:value = 'a.example']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z", **extra}


def statement(created: str, **extra: Any) -> dict[str, Any]:
    return {"type": "marking-definition", "spec_version": "2.1", "id": STATEMENT, "created": created,
            "definition_type": "statement", "definition": {"statement": "x"}, **extra}


def store_from(template: Path, tmp_path: Path) -> SQLiteStore:
    path = tmp_path / f"{uuid.uuid4()}.db"
    shutil.copyfile(template, path)
    return SQLiteStore(f"sqlite:///{path}")


def ingest(store: SQLiteStore, objects: list[dict[str, Any]]) -> IngestReport:
    doc = StixDocument(io.BytesIO(orjson.dumps(objects)).read)
    with store.transaction() as tx:
        return ingest_document(tx, store.get_collection("default"), doc, node_provenance(store))


def tlps(store: SQLiteStore) -> dict[str, str | None]:
    with store._read() as conn:
        return dict(conn.execute("SELECT stix_id, tlp FROM object_versions WHERE type = 'indicator'").fetchall())


def test_refused_conflict_never_changes_the_stored_versions_tlp(template_db: Path, tmp_path: Path) -> None:
    store = store_from(template_db, tmp_path)
    ingest(store, [indicator(1, object_marking_refs=[TLP2_RED])])
    report = ingest(store, [indicator(1, name="forged", object_marking_refs=[STATEMENT]),
                            statement("2026-01-01T00:00:00.000Z")])
    assert len(report.refused) == 1
    assert tlps(store) == {indicator(1)["id"]: "red"}
    store.close()


def test_a_marking_id_defined_twice_differently_is_unknown(template_db: Path, tmp_path: Path) -> None:
    store = store_from(template_db, tmp_path)
    unreadable = {"type": "marking-definition", "spec_version": "2.1", "id": STATEMENT,
                  "created": "2026-01-01T00:00:00.000Z", "name": "PARTNER-RESTRICTED",
                  "extensions": {"extension-definition--11111111-1111-4111-8111-111111111111":
                                 {"extension_type": "property-extension", "level": "restricted"}}}
    ingest(store, [unreadable, indicator(1, object_marking_refs=[STATEMENT])])
    ingest(store, [statement("2025-01-01T00:00:00.000Z")])  # a second 'version' that says: public
    ingest(store, [indicator(2, object_marking_refs=[STATEMENT])])
    assert set(tlps(store).values()) == {"unknown"}
    store.close()


def test_granular_markings_leave_the_objects_tlp_to_its_object_markings(template_db: Path, tmp_path: Path) -> None:
    """A granular RED marking hides its property from readers below RED at read time
    (policy/redact.py); the version as a whole keeps the TLP of its object-level markings."""
    store = store_from(template_db, tmp_path)
    ingest(store, [
        indicator(1, description="secret", object_marking_refs=[TLP2_CLEAR],
                  granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["description"]}]),
        indicator(2, description="secret", granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["description"]}]),
    ])
    assert sorted(tlps(store).values(), key=str) == [None, "clear"]
    store.close()


def _prepared(store: SQLiteStore, objects: list[dict[str, Any]]) -> PreparedDocument:
    doc = StixDocument(io.BytesIO(orjson.dumps(objects)).read)
    return prepare_document(doc, store.marking_levels(), bundle_spec_version=doc.spec_version)


def _write(store: SQLiteStore, prepared: PreparedDocument) -> IngestReport:
    with store.transaction() as tx:
        return write_prepared(tx, store.get_collection("default"), node_provenance(store), prepared)


def test_prepared_outside_the_lock_takes_the_levels_known_when_written(template_db: Path, tmp_path: Path) -> None:
    """TAXII prepares a request before taking the write lock; a definition stored (or contradicted)
    by another request in between decides the TLP, not what the preparation saw."""
    store = store_from(template_db, tmp_path)
    early = _prepared(store, [indicator(1, object_marking_refs=[STATEMENT])])
    ingest(store, [statement("2026-01-01T00:00:00.000Z")])  # another request defines it: a statement
    assert _write(store, early).stored == 1
    assert tlps(store) == {indicator(1)["id"]: None}  # a statement says nothing about TLP

    late = _prepared(store, [indicator(2, object_marking_refs=[STATEMENT])])
    # Another request stores a second "version" of the id that Accord cannot read as a statement.
    ingest(store, [{"type": "marking-definition", "spec_version": "2.1", "id": STATEMENT,
                    "created": "2025-01-01T00:00:00.000Z", "name": "PARTNER-RESTRICTED",
                    "extensions": {"extension-definition--11111111-1111-4111-8111-111111111111":
                                   {"extension_type": "property-extension", "level": "restricted"}}}])
    assert _write(store, late).stored == 1
    assert tlps(store)[indicator(2)["id"]] == "unknown"  # contradicted meanwhile: fails closed
    store.close()


def test_prepared_document_learns_its_own_definitions_in_order(template_db: Path, tmp_path: Path) -> None:
    store = store_from(template_db, tmp_path)
    report = _write(store, _prepared(store, [indicator(1, object_marking_refs=[STATEMENT]),
                                             statement("2026-01-01T00:00:00.000Z"),
                                             indicator(2, object_marking_refs=[STATEMENT, TLP2_RED])]))
    assert (report.stored, report.refused) == (3, [])
    assert tlps(store) == {indicator(1)["id"]: None, indicator(2)["id"]: "red"}
    store.close()


def test_a_prepared_document_written_again_after_a_rollback_reports_the_same(template_db: Path,
                                                                             tmp_path: Path) -> None:
    # storage/group.py writes a request's prepared document again when another request's work
    # took their shared transaction down: the second write must report what a first one would.
    store = store_from(template_db, tmp_path)
    doc = StixDocument(io.BytesIO(orjson.dumps([indicator(1), indicator(2), {"type": "indicator", "id": "bad"}])).read)
    prepared = prepare_document(doc, store.marking_levels(), bundle_spec_version=doc.spec_version,
                                keep_results=True)  # as TAXII prepares: its status lists every result
    problems = list(prepared.report.refused)
    try:
        with store.transaction() as tx:
            write_prepared(tx, store.get_collection("default"), node_provenance(store), prepared)
            raise RuntimeError("another request's work failed")
    except RuntimeError:
        pass
    report = _write(store, prepared)
    assert (report.stored, report.added, report.unchanged, len({p.index for p in report.refused})) == (2, 0, 0, 1)
    assert [r.stix_id for r in report.results] == [indicator(1)["id"], indicator(2)["id"]]
    assert (prepared.report.stored, prepared.report.refused, prepared.report.results) == (0, problems, [])
