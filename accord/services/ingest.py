"""Ingest: the one pipeline every write goes through (CLI import, TAXII POST, REST, sync pull).

    bytes -> StixDocument (streaming parse) -> STIX 2.0 upgrade -> validation (every problem)
          -> normalisation (version key, effective TLP, observables, canonical hash)
          -> batched writes inside the caller's transaction -> one WriteResult per object

An object that fails any step is refused with its problems and stores nothing; the others are
written. The caller owns the transaction, so it decides what is atomic: the CLI makes a whole
file one transaction (a file that turns out not to be JSON half-way stores nothing), TAXII makes
one request one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from accord.errors import Problem
from accord.stix.markings import UNKNOWN, object_marking_refs, tlp_of_refs
from accord.stix.observables import observables_of
from accord.stix.references import references_of
from accord.stix.stream import Item, StixDocument
from accord.stix.upgrade import needs_upgrade, upgrade_object
from accord.stix.validate import validate_object
from accord.stix.versions import body_hash, version_key
from accord.storage.base import (
    OPERATOR,
    AuditEvent,
    Collection,
    PreparedVersion,
    Provenance,
    Status,
    Transaction,
    WriteResult,
)
from accord.storage.sharing import learn_marking

BATCH = 1000


@dataclass
class IngestReport:
    """What happened to each object of one document (or several, when merged)."""

    stored: int = 0
    added: int = 0
    unchanged: int = 0
    upgraded: int = 0
    refused: list[Problem] = field(default_factory=list)
    results: list[WriteResult] = field(default_factory=list)
    keep_results: bool = False

    @property
    def seen(self) -> int:
        return self.stored + self.added + self.unchanged + len({p.index for p in self.refused})

    def merge(self, other: IngestReport) -> None:
        self.stored += other.stored
        self.added += other.added
        self.unchanged += other.unchanged
        self.upgraded += other.upgraded
        self.refused.extend(other.refused)
        self.results.extend(other.results)


def _index_keys(obj: dict[str, Any]) -> list[tuple[str, str]]:
    keys = observables_of(obj)
    refs = references_of(obj)
    return keys + refs if refs else keys


def prepare_item(item: Item, bundle_spec_version: str | None, levels: dict[str, str],
                 report: IngestReport) -> PreparedVersion | list[Problem]:
    """Upgrade, validate and serialise one object; its TLP is judged with ``levels`` (the known
    non-standard marking definitions). Returns the problems instead when it is refused."""
    obj = item.value
    if item.problem is not None:
        return [Problem(None, None, item.problem, item.index)]
    if not isinstance(obj, dict):
        return [Problem(None, None, f"expected a STIX object, found JSON {type(obj).__name__}", item.index)]
    if needs_upgrade(obj, bundle_spec_version):
        obj = upgrade_object(obj)
        report.upgraded += 1
    problems = validate_object(obj, index=item.index)
    if problems:
        return problems
    refs = object_marking_refs(obj)
    body = orjson.dumps(obj)
    return PreparedVersion(
        index=item.index,
        stix_id=obj["id"],
        version=version_key(obj),
        type=obj["type"],
        spec_version=obj.get("spec_version", "2.1"),
        revoked=obj.get("revoked") is True,
        tlp=tlp_of_refs(refs, levels) if refs else None,
        content_hash=body_hash(body),
        body=body,
        observables=_index_keys(obj),
    )


def _count(report: IngestReport, results: list[WriteResult]) -> None:
    for r in results:
        if r.status is Status.STORED:
            report.stored += 1
        elif r.status is Status.ADDED:
            report.added += 1
        elif r.status is Status.UNCHANGED:
            report.unchanged += 1
        else:
            report.refused.append(Problem(
                r.stix_id, "modified",
                "this version is already stored with different content; a changed object needs a "
                "new 'modified' timestamp", r.index))
    if report.keep_results:
        report.results.extend(results)


def _audit_write(tx: Transaction, collection: Collection, provenance: Provenance, report: IngestReport) -> None:
    if report.stored or report.added:
        tx.audit(AuditEvent(
            provenance.author or OPERATOR, "write", org=provenance.owner_name, subject=collection.id,
            detail={"collection": collection.id, "stored": report.stored, "added": report.added,
                    "unchanged": report.unchanged, "refused": len({p.index for p in report.refused}),
                    "state": provenance.state.value, "origin_node": provenance.origin_node}))


class Ingestor:
    """Prepares objects and writes them in batches into one open transaction (streaming: a
    document of any size, memory bounded by one batch)."""

    def __init__(self, tx: Transaction, collection: Collection, provenance: Provenance, *,
                 keep_results: bool = False, on_progress: Callable[[int], None] | None = None):
        self.tx = tx
        self.collection = collection
        self.provenance = provenance
        self.report = IngestReport(keep_results=keep_results)
        self._levels = tx.marking_levels()
        self._batch: list[PreparedVersion] = []
        self._on_progress = on_progress
        # Objects whose marking refs were unknown when read; a definition later in the same
        # document may resolve them (ATT&CK puts its marking definition last).
        # Keyed by the object's index; only those this transaction actually stored are fixed
        # later, never a version that was already there (a refused conflict must not touch it).
        self._unresolved: dict[int, tuple[str, str, list[str]]] = {}
        self._resolvable: list[tuple[str, str, list[str]]] = []

    def add(self, item: Item, bundle_spec_version: str | None = None) -> None:
        prepared = prepare_item(item, bundle_spec_version, self._levels, self.report)
        if isinstance(prepared, list):
            self.report.refused.extend(prepared)
            return
        self.add_prepared(prepared, object_marking_refs(item.value) if prepared.tlp == UNKNOWN else None)

    def add_prepared(self, prepared: PreparedVersion, refs: list[str] | None) -> None:
        """Queue a prepared version (also one prepared in another process without the marking
        levels, services/pipeline.py): ``refs``, given when its TLP hangs on a non-standard
        definition, are judged with the levels this transaction knows at this point of the document."""
        if refs is not None:
            prepared.tlp = tlp_of_refs(refs, self._levels)
            if prepared.tlp == UNKNOWN:
                self._unresolved[prepared.index] = (prepared.stix_id, prepared.version, refs)
        if prepared.type == "marking-definition":
            # Later objects of this document may be marked with it: flush so it is known.
            self._batch.append(prepared)
            self.flush()
            self._levels = self.tx.marking_levels()
            return
        self._batch.append(prepared)
        if len(self._batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        results = self.tx.write(self.collection, self._batch, self.provenance)
        if self._unresolved:  # usually empty: no pass over the results for it
            for r in results:
                if r.status is Status.STORED:
                    pending = self._unresolved.pop(r.index, None)
                    if pending is not None:
                        self._resolvable.append(pending)
        _count(self.report, results)
        if self._on_progress is not None:
            self._on_progress(len(self._batch))
        self._batch = []

    def finish(self) -> IngestReport:
        self.flush()
        self._unresolved = {}
        if self._resolvable:
            self._levels = self.tx.marking_levels()
            fixes: list[tuple[str, str, str | None]] = []
            for stix_id, version, refs in self._resolvable:
                tlp = tlp_of_refs(refs, self._levels)
                if tlp != UNKNOWN:  # None: only non-TLP statements, so the object counts as unmarked
                    fixes.append((stix_id, version, tlp))
            if fixes:
                self.tx.set_tlp(fixes, self.provenance.owner_org)
            self._resolvable = []
        _audit_write(self.tx, self.collection, self.provenance, self.report)
        return self.report


@dataclass
class PreparedDocument:
    """A bounded document (one request body) validated and serialised BEFORE the write lock is
    taken, so that several server workers parse and validate in parallel while one writes.

    ``refs`` keeps the marking refs of the versions whose TLP depends on a non-standard marking
    definition: the levels known at write time decide those (another request may have stored
    or contradicted a definition in between), never the levels seen while preparing.
    """

    versions: list[PreparedVersion]
    refs: dict[int, list[str]]
    definitions: list[dict[str, Any]]
    report: IngestReport


def prepare_document(items: Iterable[Item], levels: dict[str, str], *,
                     bundle_spec_version: Callable[[], str | None] = lambda: None,
                     keep_results: bool = False) -> PreparedDocument:
    """Phase one, outside any transaction: every object upgraded, validated and serialised.
    ``levels`` are the store's marking levels as last seen; the document's own definitions are
    learnt as they come, for the objects after them."""
    levels = dict(levels)
    prepared = PreparedDocument([], {}, [], IngestReport(keep_results=keep_results))
    for item in items:
        version = prepare_item(item, bundle_spec_version(), levels, prepared.report)
        if isinstance(version, list):
            prepared.report.refused.extend(version)
            continue
        refs = object_marking_refs(item.value)
        if refs and tlp_of_refs(refs) == UNKNOWN:
            prepared.refs[version.index] = refs
        if version.type == "marking-definition":
            prepared.definitions.append(item.value)
            learn_marking(levels, item.value)
        prepared.versions.append(version)
    return prepared


def write_prepared(tx: Transaction, collection: Collection, provenance: Provenance,
                   prepared: PreparedDocument) -> IngestReport:
    """Phase two, inside the caller's transaction: TLPs that hang on non-standard definitions
    judged with the levels known now, then the batched writes and the audit entry. Returns a new
    report and leaves ``prepared``'s as preparing left it, so that a write rolled back can be run
    again (storage/group.py does when another request's work failed in the same transaction)."""
    if prepared.refs:
        levels = dict(tx.marking_levels())
        for definition in prepared.definitions:
            learn_marking(levels, definition)
        for i, version in enumerate(prepared.versions):
            refs = prepared.refs.get(version.index)
            if refs is not None:
                prepared.versions[i] = replace(version, tlp=tlp_of_refs(refs, levels))
    report = replace(prepared.report, refused=list(prepared.report.refused), results=list(prepared.report.results))
    for start in range(0, len(prepared.versions), BATCH):
        _count(report, tx.write(collection, prepared.versions[start:start + BATCH], provenance))
    _audit_write(tx, collection, provenance, report)
    return report


def ingest_items(tx: Transaction, collection: Collection, items: Iterable[Item], provenance: Provenance, *,
                 bundle_spec_version: Callable[[], str | None] = lambda: None,
                 keep_results: bool = False, on_progress: Callable[[int], None] | None = None) -> IngestReport:
    ingestor = Ingestor(tx, collection, provenance, keep_results=keep_results, on_progress=on_progress)
    for item in items:
        ingestor.add(item, bundle_spec_version())
    return ingestor.finish()


def ingest_document(tx: Transaction, collection: Collection, doc: StixDocument, provenance: Provenance, *,
                    keep_results: bool = False,
                    on_progress: Callable[[int], None] | None = None) -> IngestReport:
    """Ingest one document; raises InputError (caller rolls back) if the document is malformed."""
    report = ingest_items(tx, collection, doc, provenance, bundle_spec_version=doc.spec_version,
                          keep_results=keep_results, on_progress=on_progress)
    doc.check_envelope()
    return report


def iter_items(values: Iterable[Any]) -> Iterator[Item]:
    """Wrap already-parsed values (e.g. from a REST body) as stream items."""
    for index, value in enumerate(values):
        yield Item(index, value)
