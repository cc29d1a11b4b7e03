"""Import with review: read a pasted or uploaded report, let a person choose what to keep, then store.

Step one (:func:`extract`) runs the chosen (or detected) importer and validates what it produced,
storing nothing: the person sees every extracted object, with the problems of the refused ones.
Step two (:func:`commit`) receives the objects the person kept (sent back by the browser or the
REST client, so never trusted: they are validated again), stamps the chosen TLP on objects that
carry no marking, and writes them through the one ingest path as drafts or published, as the
caller's role, the form and four eyes allow.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.errors import Problem, RequestError
from accord.policy.viewer import Viewer
from accord.services.formats import ImportOptions, Source, registry
from accord.services.ingest import IngestReport, prepare_document, write_prepared
from accord.services.release import write_provenance
from accord.stix.markings import STANDARD_TLP, TLP_LEVELS, object_marking_refs
from accord.stix.stream import Item, Limits
from accord.stix.upgrade import needs_upgrade, upgrade_object
from accord.stix.validate import validate_object
from accord.storage.base import Collection, Provenance, Store

MAX_OBJECTS = 5000  # a review page beyond this is not reviewable by a person
# TLP 2.0 marking definition id of each level (the one stamped on unmarked objects).
TLP2_ID = {level: mid for mid, (level, version, _) in STANDARD_TLP.items() if version == 2}


@dataclass
class Extraction:
    format: str
    objects: list[dict[str, Any]]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    review_required: bool = False


def extract(content: bytes, fmt: str, limits: Limits, params: dict[str, str] | None = None) -> Extraction:
    """What ``content`` holds, as STIX objects, with nothing stored."""
    if not content.strip():
        raise RequestError("content", "paste a report or choose a file: there is nothing to import")
    source = Source.from_stream("pasted text", io.BytesIO(content))
    importer = registry().detect(source) if fmt == "auto" else registry().importer(fmt)
    imported = importer.read(source, ImportOptions(limits, params or {}))
    out = Extraction(importer.name, [], review_required=importer.review_required)
    for item in imported.items:
        if len(out.objects) >= MAX_OBJECTS:
            out.notes.append(f"only the first {MAX_OBJECTS} objects are shown; import larger files with the CLI")
            break
        if item.problem is not None or not isinstance(item.value, dict):
            out.problems.append(Problem(None, None, item.problem or "not a STIX object", item.index))
            continue
        obj = upgrade_object(item.value) if needs_upgrade(item.value, imported.spec_version()) else item.value
        problems = validate_object(obj, index=item.index)
        if problems:
            out.problems.extend(problems)
        else:
            out.objects.append(obj)
    out.notes.extend(imported.notes)
    return out


def stamp_tlp(objects: Sequence[dict[str, Any]], tlp: str | None) -> list[dict[str, Any]]:
    """Objects without object-level markings get the chosen TLP 2.0 marking; marked ones keep theirs."""
    if tlp is None:
        return list(objects)
    if tlp not in TLP2_ID:
        raise RequestError("tlp", f"{tlp!r} is not a TLP level (use {', '.join(TLP_LEVELS)})")
    out = []
    for obj in objects:
        if obj.get("type") != "marking-definition" and not object_marking_refs(obj):
            obj = {**obj, "object_marking_refs": [TLP2_ID[tlp]]}
        out.append(obj)
    return out


def commit(store: Store, viewer: Viewer, collection: Collection, objects: Sequence[dict[str, Any]], *,
           tlp: str | None, draft: bool, four_eyes: bool) -> tuple[IngestReport, Provenance]:
    """Store the kept objects (all or nothing per object, refusals reported) as ``viewer``."""
    if not objects:
        raise RequestError("keep", "no object was kept: tick at least one")
    provenance = write_provenance(store, viewer, draft=draft, four_eyes=four_eyes)
    items = [Item(i, obj) for i, obj in enumerate(stamp_tlp(objects, tlp))]
    prepared = prepare_document(items, store.marking_levels())
    with store.transaction() as tx:
        report = write_prepared(tx, collection, provenance, prepared)
    return report, provenance
