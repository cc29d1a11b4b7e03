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

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from accord.errors import InputError, Problem
from accord.stix.ids import split_id
from accord.stix.markings import UNKNOWN, object_marking_refs, tlp_of_refs
from accord.stix.observables import observables_of
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

BATCH = 1000


@contextmanager
def bulk_gc() -> Iterator[None]:
    """Collect cyclic garbage less often during a bulk ingest.

    Ingest allocates millions of short-lived, acyclic dicts and lists (parsed objects); with
    the default threshold the cyclic collector runs every 700 allocations and costs about 8% of
    an import while finding nothing. Reference counting still frees everything promptly.
    """
    old = gc.get_threshold()
    gc.set_threshold(100_000, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


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


class Ingestor:
    """Prepares objects and writes them in batches into one open transaction."""

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

    def prepare(self, item: Item, bundle_spec_version: str | None = None) -> PreparedVersion | list[Problem]:
        obj = item.value
        if item.problem is not None:
            return [Problem(None, None, item.problem, item.index)]
        if not isinstance(obj, dict):
            return [Problem(None, None, f"expected a STIX object, found JSON {type(obj).__name__}", item.index)]
        if needs_upgrade(obj, bundle_spec_version):
            obj = upgrade_object(obj)
            self.report.upgraded += 1
        problems = validate_object(obj, index=item.index)
        if problems:
            return problems
        stix_id: str = obj["id"]
        stix_type: str = obj["type"]
        refs = object_marking_refs(obj)
        tlp = tlp_of_refs(refs, self._levels) if refs else None
        version = version_key(obj)
        body = orjson.dumps(obj)
        if tlp == UNKNOWN:
            self._unresolved[item.index] = (stix_id, version, refs)
        return PreparedVersion(
            index=item.index,
            stix_id=stix_id,
            version=version,
            type=stix_type,
            spec_version=obj.get("spec_version", "2.1"),
            revoked=obj.get("revoked") is True,
            tlp=tlp,
            content_hash=body_hash(body),
            body=body,
            observables=observables_of(obj),
        )

    def add(self, item: Item, bundle_spec_version: str | None = None) -> None:
        prepared = self.prepare(item, bundle_spec_version)
        if isinstance(prepared, list):
            self.report.refused.extend(prepared)
            return
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
        report = self.report
        for r in results:
            if r.status is Status.STORED:
                report.stored += 1
                pending = self._unresolved.pop(r.index, None)
                if pending is not None:
                    self._resolvable.append(pending)
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
        report = self.report
        if report.stored or report.added:
            prov = self.provenance
            self.tx.audit(AuditEvent(
                prov.author or OPERATOR, "write", org=prov.owner_name, subject=self.collection.id,
                detail={"collection": self.collection.id, "stored": report.stored, "added": report.added,
                        "unchanged": report.unchanged, "refused": len({p.index for p in report.refused}),
                        "state": prov.state.value, "origin_node": prov.origin_node}))
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

    def spec() -> str | None:
        value = doc.envelope.get("spec_version")
        return value if isinstance(value, str) else None

    report = ingest_items(tx, collection, doc, provenance, bundle_spec_version=spec,
                          keep_results=keep_results, on_progress=on_progress)
    if doc.shape == "bundle":
        bundle_id = doc.envelope.get("id")
        parts = split_id(bundle_id)
        if parts is None or parts[0] != "bundle":
            raise InputError(f"bundle id {bundle_id!r} is not of the form bundle--UUID", source=doc.source)
    return report


def iter_items(values: Iterable[Any]) -> Iterator[Item]:
    """Wrap already-parsed values (e.g. from a REST body) as stream items."""
    for index, value in enumerate(values):
        yield Item(index, value)
