"""Sightings: "we saw this", read and written through the gate (issue 9, early warning).

A sighting is a STIX ``sighting`` object whose ``sighting_of_ref`` names what was seen. Accord
adds one property, ``x_accord_sighting_type``, for the three things a defender reports back:

* ``seen``: it fired here (the default when the property is absent, as in plain STIX);
* ``false-positive``: it fired on something benign (OpenCTI's ``x_opencti_negative: true`` and
  MISP's sighting type 1 mean the same and are read as such);
* ``expired``: it no longer means anything (MISP's sighting type 2).

Reading. :func:`sightings_of` finds the sightings of a set of objects through the observable
index's ``ref`` rows with the reader's one predicate in the statement, keeps only those whose
``sighting_of_ref`` (as the reader receives the body) still names the object, and hands them
through :func:`services.disclose.disclose`. :func:`summarise` turns what one reader may see into
the aggregate shown next to an object. Other organisations' sightings are shown only once at
least ``min_count`` of them are visible (setting ``sighting_min_count``): below it, the reader
learns nothing about them, not even that there are some; its own organisation's are always
shown. Nothing here counts a row the reader may not see.

Writing. :func:`sighting_for` builds the STIX objects for one report ("we saw this"): the
sighting and, unless it is anonymous, the identity of the reporting organisation that
``where_sighted_refs`` and ``created_by_ref`` name. An anonymous sighting names nobody and is
owned by the node's organisation rather than the reporter's, so no view and no partner can tell
who reported it (docs/early-warning.md says what that does and does not hide). The objects
then take the ordinary write path (services/ingest.py) with the writer's release rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from accord.errors import InvalidObjectError, NotFoundError, RequestError
from accord.policy.gate import Visibility, collection_access, visibility
from accord.policy.roles import Role
from accord.policy.viewer import Viewer
from accord.services.disclose import disclose
from accord.services.ingest import IngestReport, prepare_document, write_prepared
from accord.services.release import ReleaseError, write_provenance
from accord.stix.markings import TLP2_ID_FOR_LEVEL
from accord.stix.references import REF_INDEX
from accord.stix.stream import Item
from accord.stix.timestamps import format_micros, parse_to_micros
from accord.storage.base import ListedVersion, ObservableQuery, State, Store

SEEN, FALSE_POSITIVE, EXPIRED = "seen", "false-positive", "expired"
KINDS = (SEEN, FALSE_POSITIVE, EXPIRED)
KIND_PROPERTY = "x_accord_sighting_type"
CHUNK = 5_000  # objects per index statement (under both engines' bound-parameter limits)
MAX_COUNT = 999_999_999  # STIX: count is at most 999,999,999
NODE_ORG = "node"
ANONYMOUS = "anonymous"  # the author recorded for an anonymous sighting
# Identities of organisations are derived from their names within a namespace of this node's
# own (every node's operator organisation is called "node": a partner must not confuse ours with
# its own), so every sighting of one organisation names the same identity and writing it again
# is a no-op.
IDENTITY_NAMESPACE_SECRET = "sighting-identities"  # noqa: S105 (the name of a node secret, not a secret)
IDENTITY_CREATED = "2020-01-01T00:00:00.000Z"
IDENTITY_TLP = "green"  # the reporting organisation's name travels with its sightings


def sighting_kind(obj: dict[str, Any]) -> str:
    """seen, false-positive or expired; a sighting that says nothing was seen."""
    kind = obj.get(KIND_PROPERTY)
    if kind in KINDS:
        return str(kind)
    if obj.get("x_opencti_negative") is True:
        return FALSE_POSITIVE
    return SEEN


def _count(obj: dict[str, Any]) -> int:
    """How many times the sighting stands for: STIX's ``count``, 1 when absent (one sighting)."""
    count = obj.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    return 1


@dataclass(frozen=True)
class SightingSeen:
    """One sighting of an object, as one reader may see it."""

    stix_id: str
    owner: str
    tlp: str
    kind: str
    count: int
    first_seen: str | None
    last_seen: str | None
    anonymous: bool  # names no organisation where it was seen
    ours: bool  # owned by the reader's organisation


@dataclass(frozen=True)
class SightingSummary:
    """What one reader is told about the sightings of one object.

    ``shown`` lists the sightings the reader may be told of one by one (its own always; other
    organisations' once the threshold is met); the totals count only those."""

    shown: tuple[SightingSeen, ...]
    withheld: bool  # fewer than min_count of other organisations' sightings are visible (none included)
    min_count: int

    def total(self, kind: str) -> int:
        return sum(s.count for s in self.shown if s.kind == kind)

    @property
    def last_seen(self) -> str | None:
        times = [s.last_seen or s.first_seen for s in self.shown if s.kind == SEEN]
        return max((t for t in times if t), default=None)

    def as_json(self) -> dict[str, Any]:
        return {"seen": self.total(SEEN), "false_positive": self.total(FALSE_POSITIVE),
                "expired": self.total(EXPIRED), "last_seen": self.last_seen,
                "below_threshold": self.withheld, "min_count": self.min_count,
                "sightings": [sighting_json(s) for s in self.shown]}


def sighting_json(s: SightingSeen) -> dict[str, Any]:
    return {"id": s.stix_id, "kind": s.kind, "owner": s.owner, "tlp": s.tlp, "count": s.count,
            "first_seen": s.first_seen, "last_seen": s.last_seen, "anonymous": s.anonymous}


def threshold(vis: Visibility, min_count: int) -> int:
    """The minimum count for this reader: the node operator holds the database, so it is told
    of every sighting (the threshold keeps organisations from learning about each other)."""
    return 1 if vis.sees_everything else min_count


def summarise(sightings: Iterable[SightingSeen], min_count: int) -> SightingSummary:
    """The reader's own sightings, and other organisations' once ``min_count`` of them are visible."""
    ours: list[SightingSeen] = []
    theirs: list[SightingSeen] = []
    for s in sightings:
        (ours if s.ours else theirs).append(s)
    # Whether anything is withheld must not depend on whether other organisations' sightings exist:
    # below the threshold, none and some answer alike.
    withheld = min_count > 1 and len(theirs) < min_count
    shown = ours + ([] if withheld else theirs)
    return SightingSummary(tuple(shown), withheld, min_count)


def sightings_of(store: Store, vis: Visibility, stix_ids: Iterable[str], *, channel: str,
                 ) -> dict[str, list[SightingSeen]]:
    """The sightings ``vis``'s reader may see of each object, newest visible version of each,
    disclosed on ``channel`` (receipts for another organisation's sightings)."""
    targets = sorted(set(stix_ids))
    if not targets:
        return {}
    where = vis.predicate()
    newest: dict[tuple[str, str], ListedVersion] = {}  # (target, sighting id) -> newest visible version
    for start in range(0, len(targets), CHUNK):
        q = ObservableQuery(keys=tuple((REF_INDEX, t) for t in targets[start:start + CHUNK]), types=("sighting",))
        for _, target, row in store.observable_versions(q, where):
            # Only a sighting OF the object counts (not one naming it as observed data or place).
            if (target, row.stix_id) not in newest and orjson.loads(row.body or b"{}").get(
                    "sighting_of_ref") == target:
                newest[target, row.stix_id] = row
    unique = list({r.pk: r for r in newest.values()}.values())
    if not unique:
        return {}
    shown = {d.row.pk: d.body for d in disclose(store, vis, unique, channel=channel)}
    names = store.org_names(r.owner_org for r in unique)
    out: dict[str, list[SightingSeen]] = {}
    viewer_org = vis.viewer.org_pk
    for (target, _), row in sorted(newest.items()):
        body = shown.get(row.pk)
        if body is None:
            continue
        obj: dict[str, Any] = orjson.loads(body)
        if obj.get("sighting_of_ref") != target:
            continue  # a granular marking hid the reference from this reader
        first, last = obj.get("first_seen"), obj.get("last_seen")
        out.setdefault(target, []).append(SightingSeen(
            row.stix_id, names.get(row.owner_org, "?"), vis.level(row, row.collection_pk),
            sighting_kind(obj), _count(obj), first if isinstance(first, str) else None,
            last if isinstance(last, str) else None,
            not obj.get("where_sighted_refs") and not obj.get("created_by_ref"),
            viewer_org is not None and row.owner_org == viewer_org))
    return out


# -- writing -----------------------------------------------------------------------------------
def identity_namespace(store: Store) -> uuid.UUID:
    """This node's namespace for its organisations' identities (random, made once per node)."""
    return uuid.UUID(bytes=store.node_secret(IDENTITY_NAMESPACE_SECRET)[:16])


def org_identity_id(namespace: uuid.UUID, org_name: str) -> str:
    return f"identity--{uuid.uuid5(namespace, 'accord-organisation:' + org_name)}"


def org_identity(namespace: uuid.UUID, org_name: str) -> dict[str, Any]:
    """The STIX identity of a local organisation, the same object every time it is built."""
    return {"type": "identity", "spec_version": "2.1", "id": org_identity_id(namespace, org_name),
            "created": IDENTITY_CREATED, "modified": IDENTITY_CREATED, "name": org_name,
            "identity_class": "organization", "object_marking_refs": [TLP2_ID_FOR_LEVEL[IDENTITY_TLP]]}


@dataclass(frozen=True)
class SightingReport:
    """What a person or tool says when reporting a sighting ("we saw this")."""

    target: str  # the sighted object's id
    kind: str = SEEN
    count: int = 1
    first_seen: str | None = None
    last_seen: str | None = None
    anonymous: bool = False
    tlp: str | None = None  # None: the collection's default
    description: str | None = None


def _timestamp(field: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    micros = parse_to_micros(value)
    if micros is None:
        raise RequestError(field, f"{value!r} is not an RFC 3339 timestamp (e.g. 2026-12-05T10:00:00Z)")
    return micros


def report_from(params: dict[str, Any], target: str) -> SightingReport:
    """A report from JSON or a form's fields, every problem named by its field."""
    kind = params.get("kind", SEEN) or SEEN
    if kind not in KINDS:
        raise RequestError("kind", f"{kind!r}: one of {', '.join(KINDS)}")
    raw_count = params.get("count", 1)
    if raw_count in (None, ""):
        raw_count = 1
    try:
        count = int(raw_count) if not isinstance(raw_count, bool) else -1
    except (TypeError, ValueError):
        count = -1
    if not 0 <= count <= MAX_COUNT or isinstance(raw_count, float):
        raise RequestError("count", f"{raw_count!r}: a whole number from 0 to {MAX_COUNT:,}")
    first, last = params.get("first_seen") or None, params.get("last_seen") or None
    for name, value in (("first_seen", first), ("last_seen", last), ("tlp", params.get("tlp")),
                        ("description", params.get("description"))):
        if value is not None and not isinstance(value, str):
            raise RequestError(name, "must be a string")
    first_us, last_us = _timestamp("first_seen", first), _timestamp("last_seen", last)
    if first_us is not None and last_us is not None and last_us < first_us:
        raise RequestError("last_seen", "must not be earlier than first_seen")
    anonymous = params.get("anonymous", False)
    if isinstance(anonymous, str):
        anonymous = anonymous.lower() in ("1", "true", "on", "yes")
    if not isinstance(anonymous, bool):
        raise RequestError("anonymous", "must be true or false")
    tlp = params.get("tlp") or None
    if tlp is not None and tlp not in TLP2_ID_FOR_LEVEL:
        raise RequestError("tlp", f"{tlp!r}: one of {', '.join(TLP2_ID_FOR_LEVEL)}")
    description = params.get("description") or None
    if description is not None and len(description) > 10_000:
        raise RequestError("description", "at most 10,000 characters")
    return SightingReport(target, kind, count, None if first_us is None else format_micros(first_us),
                          None if last_us is None else format_micros(last_us), anonymous, tlp, description)


def sighting_for(report: SightingReport, reporter_org: str, now_micros: int,
                 namespace: uuid.UUID) -> list[dict[str, Any]]:
    """The STIX objects recording ``report``: the sighting, and the reporter's identity unless
    the report is anonymous (then the sighting names nobody)."""
    now = format_micros(now_micros)
    sighting: dict[str, Any] = {
        "type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}",
        "created": now, "modified": now, "sighting_of_ref": report.target, "count": report.count,
        KIND_PROPERTY: report.kind}
    if report.first_seen:
        sighting["first_seen"] = report.first_seen
    if report.last_seen:
        sighting["last_seen"] = report.last_seen
    elif report.first_seen is None and report.kind == SEEN:
        sighting["first_seen"] = sighting["last_seen"] = now
    if report.description:
        sighting["description"] = report.description
    if report.tlp:
        sighting["object_marking_refs"] = [TLP2_ID_FOR_LEVEL[report.tlp]]
    if report.anonymous:
        return [sighting]
    identity = org_identity(namespace, reporter_org)
    sighting["created_by_ref"] = identity["id"]
    sighting["where_sighted_refs"] = [identity["id"]]
    return [identity, sighting]


@dataclass(frozen=True)
class Recorded:
    """A stored sighting: its id, the collection it went into and its release state."""

    stix_id: str
    collection: str
    state: str
    owner: str


def record_sighting(store: Store, viewer: Viewer, report: SightingReport, *, now_micros: int,
                    four_eyes: bool = False, collection_ref: str | None = None) -> Recorded:
    """Store ``report`` as ``viewer``: into the collection the sighted object is in (so that it
    travels back along the same links, docs/federation.md), or ``collection_ref``.

    The sighted object must be one the viewer may see (otherwise: not found, as for an object that
    does not exist). A named sighting is the reporter's organisation's, drafted or published by
    the usual release rules, with that organisation's identity (published: it only names the
    organisation). An anonymous one is the node organisation's: it is published at once only
    when a publisher of the node organisation reports it, and otherwise waits as the node
    organisation's draft for one of its publishers, who releases it in the node's name.
    """
    if not viewer.role.at_least(Role.ANALYST):
        raise ReleaseError("reporting a sighting needs the analyst role or above")
    vis = visibility(store, viewer, now_micros)
    visible = store.object_versions(report.target, vis.predicate())
    if not visible:
        raise NotFoundError(f"no object {report.target!r}")
    collections = {c.pk: c for c in store.collections()}
    if collection_ref:
        collection = store.get_collection(collection_ref)
    else:
        collection = collections[max(visible, key=lambda r: (r.version, r.date_added)).collection_pk]
    access = collection_access(store, viewer, collection)
    if not access.can_write:
        if not collection_ref:
            # Not named: the object may have reached the reporter through an agreement from a
            # collection it may not know exists.
            raise ReleaseError("you may not write to the collection the sighted object is in; "
                               "name one you may write to")
        if not access.can_read:
            raise NotFoundError(f"no collection {collection_ref!r}")  # as for one that does not exist
        raise ReleaseError(f"you may not write to collection {collection_ref!r}")
    reporter = viewer.org_name or NODE_ORG
    objects = sighting_for(report, reporter, now_micros, identity_namespace(store))
    provenance = write_provenance(store, viewer, four_eyes=four_eyes)
    if report.anonymous:
        node = store.get_org(NODE_ORG)
        publishes = provenance.state is State.PUBLISHED and provenance.owner_org == node.pk
        # Nobody's name either: the author shown on the object page, in the approvals and in the
        # audit log's write entry would tell the node organisation's members who reported it.
        provenance = replace(provenance, owner_org=node.pk, owner_name=node.name, author=ANONYMOUS,
                             state=State.PUBLISHED if publishes else State.DRAFT)
    prepared = prepare_document((Item(i, o) for i, o in enumerate(objects)), store.marking_levels(),
                                keep_results=True)
    if prepared.report.refused:
        raise InvalidObjectError(prepared.report.refused)
    identity = [v for v in prepared.versions if v.type == "identity"]
    sighting = replace(prepared, versions=[v for v in prepared.versions if v.type != "identity"])
    with store.transaction() as tx:
        if identity:
            write_prepared(tx, collection, replace(provenance, state=State.PUBLISHED),
                           replace(prepared, versions=identity, report=IngestReport(keep_results=True)))
        result = write_prepared(tx, collection, provenance, sighting)
        if result.refused:
            raise InvalidObjectError(result.refused)
    return Recorded(objects[-1]["id"], collection.id, provenance.state.value,
                    provenance.owner_name or reporter)
