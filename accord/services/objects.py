"""One object as an analyst investigates it (REST object detail, the web UI's object page).

Everything here comes through the gate: the versions are those the caller's visibility
predicate admits, disclosed (redacted, receipted) like any other read; the relationships are
the visible objects that point at it or that it points at; "who received it" is shown only to
the organisation that owns the copy (or the node admin), never to a partner, because who else
an agreement reaches is the owner's business; "also seen in" (services/correlation.py) lists the
other visible objects sharing an observable with the current version as the caller receives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from accord.errors import NotFoundError
from accord.policy.gate import Visibility
from accord.services.correlation import DEFAULT_CAP, Correlation, correlations
from accord.services.disclose import disclose
from accord.services.search import Hit, Searcher
from accord.services.sightings import SightingSummary, sightings_of, summarise, threshold
from accord.stix.references import REF_INDEX, references_of
from accord.storage.base import ListedVersion, SearchFilter, Store

MAX_NEIGHBOURS = 60


@dataclass
class VersionView:
    row: ListedVersion
    obj: dict[str, Any]
    tlp: str
    owner: str
    origin: str | None
    origin_node: str | None
    author: str | None
    released_by: str | None
    released_at: int | None
    collections: list[str]
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)  # vs the previous version shown


@dataclass(frozen=True)
class Edge:
    """One line of the graph: ``label`` between the object and ``other`` (a hit the viewer may see,
    or only an id when the other end is not visible or not stored)."""

    label: str
    outgoing: bool
    other_id: str
    other: Hit | None
    via: Hit | None  # the relationship or container object that makes the edge


@dataclass(frozen=True)
class Receipt:
    seq: int
    at: int
    org: str | None
    agreement: str | None
    channel: str


@dataclass
class ObjectView:
    stix_id: str
    versions: list[VersionView]  # oldest first, one per (version, owner)
    edges: list[Edge]
    receipts: list[Receipt] | None  # None: not the caller's to see
    correlations: list[Correlation] = field(default_factory=list)  # "also seen in"
    sightings: SightingSummary | None = None  # of this object, as the caller may be told of them

    @property
    def current(self) -> VersionView:
        return self.versions[-1]


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    keys = sorted(set(old) | set(new))
    return [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def object_view(store: Store, vis: Visibility, stix_id: str, *, channel: str = "web",
                correlation_cap: int = DEFAULT_CAP, sighting_min_count: int = 1) -> ObjectView:
    """What the caller may see of one object; NotFoundError if nothing (same as no such object).
    ``channel`` names the read path in the receipts (web, rest); ``correlation_cap``: a value more
    visible objects share is marked over-correlating instead of listed; ``sighting_min_count``:
    other organisations' sightings are summarised only from this many on (settings.py)."""
    rows = store.object_versions(stix_id, vis.predicate())
    if not rows:
        raise NotFoundError(f"no object {stix_id}")
    searcher = Searcher(store, vis)
    by_version: dict[int, list[ListedVersion]] = {}
    for row in rows:
        by_version.setdefault(row.pk, []).append(row)
    firsts = [members[0] for members in by_version.values()]
    disclosed = {d.row.pk: d.body for d in disclose(store, vis, firsts, channel=channel, subject=stix_id)}
    facts = store.provenance([r.pk for r in firsts])
    versions: list[VersionView] = []
    for row in firsts:
        body = disclosed.get(row.pk)
        if body is None:
            continue
        origin_node, author, released_by, released_at = facts.get(row.pk, (None, None, None, None))
        if not _owners_business(vis, row):
            # Who wrote and who released a version are user names of the owning organisation:
            # its business, like its receipts (another organisation learns the owner only).
            author, released_by, released_at = None, None, None
        names = [searcher.collection_name(m.collection_pk) for m in by_version[row.pk]]
        view = VersionView(row, orjson.loads(body), vis.level(row, row.collection_pk),
                           searcher.org_name(row.owner_org) or "?", searcher.org_name(row.origin_org), origin_node,
                           author, released_by, released_at,
                           [n for n in names if n is not None])
        previous = next((v for v in reversed(versions) if v.row.owner_org == row.owner_org), None)
        if previous is not None:
            view.changes = _changes(previous.obj, view.obj)
        versions.append(view)
    if not versions:
        raise NotFoundError(f"no object {stix_id}")
    current = versions[-1]
    seen = sightings_of(store, vis, [stix_id], channel=channel).get(stix_id, [])
    return ObjectView(stix_id, versions, _edges(store, vis, searcher, current, channel),
                      _receipts(store, vis, current),
                      correlations(store, vis, searcher, stix_id, current.obj, cap=correlation_cap, channel=channel),
                      summarise(seen, threshold(vis, sighting_min_count)))


def _owners_business(vis: Visibility, row: ListedVersion) -> bool:
    viewer = vis.viewer
    return vis.sees_everything or viewer.is_node_admin or row.owner_org == viewer.org_pk


def _edges(store: Store, vis: Visibility, searcher: Searcher, current: VersionView, channel: str) -> list[Edge]:
    # (label, outgoing, other id, the relationship or container, or None), then one peek for all.
    found: list[tuple[str, bool, str, Hit | None]] = []
    # Objects pointing here: relationships, sightings, reports and other containers.
    pointing = store.search_versions(vis.predicate(), SearchFilter(observables=((REF_INDEX, current.row.stix_id),)),
                                     limit=MAX_NEIGHBOURS)
    # The index holds every reference of the whole object; a granular marking may have removed,
    # for this caller, the very reference that matched: only references left in what the caller
    # receives make an edge. A version listed through two collections makes one edge.
    pointing = [r for r in pointing if r.stix_id != current.row.stix_id]
    shown = {d.row.pk: d.body for d in disclose(store, vis, pointing, channel=channel, subject=current.row.stix_id)}
    seen: set[int] = set()
    for row in pointing:
        body = shown.get(row.pk)
        if body is None or row.pk in seen:
            continue
        seen.add(row.pk)
        via = searcher.hit(row, orjson.loads(body))
        obj = via.obj
        if (REF_INDEX, current.row.stix_id) not in references_of(obj):
            continue
        if row.type == "sighting" and obj.get("sighting_of_ref") == current.row.stix_id:
            continue  # the sightings of this object are the view's own summary (threshold applied)
        if row.type == "relationship":
            outgoing = obj.get("source_ref") == current.row.stix_id
            other_id = obj.get("target_ref") if outgoing else obj.get("source_ref")
            # An end removed by a granular marking leaves an edge to nothing.
            found.append((str(obj.get("relationship_type", "related-to")), outgoing,
                          other_id if isinstance(other_id, str) else "", via))
        else:
            found.append(("sighting of" if row.type == "sighting" else f"in {row.type}", False, row.stix_id, via))
    # What this object points at (a relationship's ends, a report's contents).
    for _, target in references_of(current.obj)[:MAX_NEIGHBOURS]:
        if target != current.row.stix_id:
            found.append(("refers to", True, target, None))
    wanted = {other for label, _, other, via in found if other and (via is None or via.row.stix_id != other)}
    peeked = _peek(store, vis, searcher, sorted(wanted), channel, current.row.stix_id)
    return [Edge(label, outgoing, other, via if via is not None and via.row.stix_id == other else peeked.get(other),
                 via) for label, outgoing, other, via in found]


def _peek(store: Store, vis: Visibility, searcher: Searcher, stix_ids: list[str], channel: str,
          subject: str) -> dict[str, Hit]:
    """The newest visible version of each of these objects, for a name and a badge (hidden ones are
    absent), disclosed together: one set of receipts for the page, not one per neighbour."""
    rows = []
    for stix_id in stix_ids:
        versions = store.object_versions(stix_id, vis.predicate())
        if versions:
            rows.append(versions[-1])
    disclosed = disclose(store, vis, rows, channel=channel, subject=subject)
    return {d.row.stix_id: searcher.hit(d.row, orjson.loads(d.body)) for d in disclosed if d.body is not None}


def _receipts(store: Store, vis: Visibility, current: VersionView) -> list[Receipt] | None:
    if not _owners_business(vis, current.row):
        return None
    owner = current.owner
    records = store.audit_records(stix_id=current.row.stix_id, action="receive", limit=500)
    items = store.audit_items([r.seq for r in records])
    found: list[Receipt] = []
    for record in records:
        # Only receipts of this organisation's copy (items name the copy's owner).
        if any(i[0] == current.row.stix_id and i[3] == owner for i in items.get(record.seq, [])):
            channel = orjson.loads(record.detail).get("channel", "?") if record.detail else "?"
            found.append(Receipt(record.seq, record.at, record.org, record.agreement, str(channel)))
    return found
