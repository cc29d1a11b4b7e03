"""Search: what an analyst (REST, web UI) finds, through the one gate.

A search is compiled from the caller's words into a storage filter (storage/search.py), run with
the caller's visibility predicate, and its rows are judged once more on the bodies *as the
caller would receive them* (granular-marked parts removed): free text and labels are decided
there, so text hidden by a granular marking can never make a row match. Only the page handed
out goes through :func:`services.disclose.disclose` (receipts in the audit log); facets are
counts over rows the caller may see anyway.

Paging is newest first with an opaque cursor (the ``date_added`` of the last row examined), so
a page is cheap at any depth and never repeats what an earlier page showed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from accord.errors import RequestError
from accord.policy.gate import Visibility, known_collections
from accord.policy.redact import GRANULAR
from accord.policy.viewer import Viewer
from accord.services.cursors import Cursors
from accord.services.disclose import Received, disclose
from accord.stix.markings import TLP_LEVELS
from accord.stix.observables import lookup_pairs, observables_of
from accord.stix.timestamps import parse_to_micros
from accord.storage.base import ListedVersion, SearchFilter, State, Store

MAX_LIMIT = 200
CURSOR_SECRET = "search-cursor"  # noqa: S105 -- the NAME of the node secret cursors are sealed with
FACET_SAMPLE = 500  # facets count the newest matches, up to this many
EXAMINE_CAP = 5_000  # rows whose bodies a text/label search may judge for one page before it stops
WINDOW_ROWS = 40_000  # memberships per search window (see Searcher._scan)
WINDOWS = 2  # windows one page may search
FAR_FUTURE = 2**62
# Properties that are identifiers or bookkeeping, not text an analyst would search for.
_NOT_TEXT = frozenset({"id", "type", "spec_version", "created", "modified", "created_by_ref", "object_marking_refs",
                       "granular_markings", "extensions"})


@dataclass(frozen=True)
class SearchRequest:
    """What the caller asked for, validated. Organisation and collection names are resolved here."""

    text: str | None = None
    value: str | None = None
    types: tuple[str, ...] = ()
    tlps: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    received: bool | None = None
    others_only: bool = False  # only what other organisations own (what partners shared)
    windows: int = 2  # search windows one page may scan (see Searcher._scan); the dashboard takes 1
    added_after: int | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class Hit:
    row: ListedVersion
    obj: dict[str, Any]  # the body as the caller receives it
    tlp: str  # effective: the version's own TLP or its collection's default
    owner: str
    origin: str | None

    @property
    def name(self) -> str:
        return display_name(self.obj)


def display_name(obj: dict[str, Any]) -> str:
    """What to call an object in a list: its name or value, a relationship by its verb and the
    types it connects (without a lookup per row), a file by its name or a hash, else its id."""
    kind = obj.get("type")
    if kind in ("relationship", "sighting"):
        ends = [obj.get(k) for k in ("source_ref", "target_ref", "sighting_of_ref")]
        kinds = [e.split("--")[0] for e in ends if isinstance(e, str)]
        verb = obj.get("relationship_type") or "sighting of"
        return f"{verb} ({' → '.join(kinds)})" if kinds else str(verb)
    for key in ("name", "value", "pattern", "abstract", "content", "opinion", "path", "key", "number", "subject"):
        value = obj.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    hashes = obj.get("hashes")
    if isinstance(hashes, dict):
        for algorithm, digest in sorted(hashes.items()):
            if isinstance(digest, str):
                return f"{algorithm} {digest}"
    return str(obj.get("id", "?"))


@dataclass
class SearchResult:
    hits: list[Hit]
    next_cursor: str | None
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    facets_sampled: bool = False
    searched_as: list[str] = field(default_factory=list)  # the observable types a value matched
    stopped_early: bool = False  # the examine cap ended the page: refine the search


def parse_time(text: str, name: str) -> int:
    """An RFC 3339 timestamp from a request parameter, as microseconds; RequestError naming it."""
    micros = parse_to_micros(text)
    if micros is None:
        raise RequestError(name, f"{text!r} is not an RFC 3339 UTC timestamp (like 2026-01-31T12:00:00Z)")
    return micros


def _strings(obj: Any, key: str | None = None) -> Iterator[str]:
    if isinstance(obj, str):
        if key not in _NOT_TEXT and not (key or "").endswith(("_ref", "_refs")):
            yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k not in _NOT_TEXT:
                yield from _strings(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v, key)


def text_matches(obj: dict[str, Any], words: list[str]) -> bool:
    """Every word occurs (case-folded) in the object's text: names, descriptions, patterns, values."""
    text = "\n".join(_strings(obj)).casefold()
    return all(w in text for w in words)


class Searcher:
    """One caller's search over one store: resolves names, compiles the filter, pages."""

    def __init__(self, store: Store, vis: Visibility, *, names_for: Viewer | None = None):
        """``names_for``: whose knowledge decides which collections are named (default: the
        viewer's; a sharing preview names collections as the person asking knows them)."""
        self.store, self.vis = store, vis
        self._cursors = Cursors(store.node_secret(CURSOR_SECRET), vis.viewer.username, purpose=CURSOR_SECRET)
        self._orgs = {o.pk: o.name for o in store.orgs()}
        known = known_collections(store, names_for or vis.viewer) if not vis.sees_everything else None
        # Collections the caller may know exist: only these are named (hits, facets) or accepted
        # as a filter; another one answers like a collection that does not exist.
        self._collections = [c for c in store.collections() if known is None or c.pk in known]
        self._names = {c.pk: c.alias or c.title for c in self._collections}
        self._received = Received(store, vis)

    def collection_name(self, pk: int) -> str | None:
        """The collection's alias or title if the caller may know it exists, else None."""
        return self._names.get(pk)

    @property
    def org_names(self) -> dict[int, str]:
        """Organisation names by pk, to name the owners of rows the caller may see."""
        return self._orgs

    def org_name(self, pk: int | None) -> str | None:
        return None if pk is None else self._orgs.get(pk, f"#{pk}")

    def _org_pks(self, names: tuple[str, ...], name: str) -> tuple[int, ...]:
        """The organisations named; a name that is no organisation matches nothing (it is not an
        error: which organisations a node has is the operator's business, docs/api.md)."""
        by_name = {v: k for k, v in self._orgs.items()}
        if not names:
            return ()
        return tuple(by_name[n] for n in names if n in by_name) or (-1,)

    def compile(self, req: SearchRequest) -> tuple[SearchFilter, list[str], list[str]]:
        """The storage filter, the words text must contain, and the value's observable types."""
        for tlp in req.tlps:
            if tlp not in TLP_LEVELS:
                raise RequestError("tlp", f"{tlp!r} is not a TLP level (use {', '.join(TLP_LEVELS)})")
        for state in req.states:
            if state not in {s.value for s in State}:
                raise RequestError("state", f"{state!r} is not a release state")
        collections: list[int] = []
        for ref in req.collections:
            match = [c.pk for c in self._collections if ref in (c.id, c.alias)]
            if not match:
                raise RequestError("collection", f"no collection {ref!r}")
            collections.extend(match)
        pairs: list[tuple[str, str]] = []
        if req.value:
            pairs = lookup_pairs(req.value)
            if not pairs:
                raise RequestError("value", f"{req.value!r} is not an IP address, domain, URL, e-mail "
                                   "address or hash")
        words = [w.casefold() for w in (req.text or "").split() if w]
        contains = tuple(w for w in words if w.isascii()) + tuple(f'"{label}"' for label in req.labels)
        defaulted = tuple(c.pk for c in self._collections if c.default_tlp in req.tlps)
        f = SearchFilter(types=req.types, owners=self._org_pks(req.owners, "owner"),
                         origins=self._org_pks(req.origins, "origin"), states=req.states,
                         collections=tuple(collections), tlps=req.tlps, defaulted_collections=defaulted,
                         observables=tuple(pairs), contains=contains, received=req.received,
                         not_owner=self.vis.viewer.org_pk if req.others_only else None,
                         added_after=req.added_after, before=self._cursors.open(req.cursor))
        return f, words, sorted({t for t, _ in pairs})

    def _as_received(self, row: ListedVersion) -> dict[str, Any]:
        return self._received.parsed(row)

    def _matches(self, row: ListedVersion, obj: dict[str, Any], words: list[str], labels: tuple[str, ...],
                 observables: tuple[tuple[str, str], ...] = ()) -> bool:
        if words and not text_matches(obj, words):
            return False
        if observables and not set(observables) & set(observables_of(obj)):
            # The index was built from the whole object; a granular marking may have removed the
            # pattern (or value) the caller searched for: then it must not match.
            return False
        have = obj.get("labels")
        return all(isinstance(have, list) and label in have for label in labels)

    def _scan(self, f: SearchFilter, words: list[str], labels: tuple[str, ...], want: int, *, windows: int = WINDOWS,
              ) -> tuple[list[tuple[ListedVersion, dict[str, Any]]], int | None, bool]:
        """Up to ``want`` + 1 matching rows, the cursor after the last row shown or examined, and
        whether the scan stopped before the oldest row (the caller offers "continue").

        Newest first, in windows of WINDOW_ROWS memberships, at most ``windows`` of them per call:
        a filter the indexes cannot answer (a rare type, text, a partner that sees little) costs a
        bounded amount per page at any store size, instead of a scan of the whole store. A value
        lookup goes through the observable index and needs no window."""
        exact = bool(words or labels)
        redactable = bool(f.observables) and not self.vis.sees_everything
        found: list[tuple[ListedVersion, dict[str, Any]]] = []
        seen: set[int] = set()
        examined = 0
        before = f.before if f.before is not None else FAR_FUTURE
        batch = want + 1 if not exact else max(want * 4, 100)
        for _ in range(windows if not f.observables else 1):
            floor = self.store.membership_floor(before, WINDOW_ROWS) if not f.observables else None
            while True:
                rows = self.store.search_versions(self.vis.predicate(), replace(f, before=before, not_before=floor),
                                                  limit=batch)
                for row in rows:
                    examined += 1
                    before = row.date_added
                    if row.pk in seen:
                        continue  # the same version through a second collection
                    seen.add(row.pk)
                    obj = self._as_received(row)
                    recheck = (redactable and GRANULAR in (row.body or b"")
                               and row.owner_org != self.vis.viewer.org_pk)
                    if not (exact or recheck) or self._matches(row, obj, words, labels,
                                                                f.observables if recheck else ()):
                        found.append((row, obj))
                        if len(found) > want:
                            return found, found[want - 1][0].date_added, False
                if examined >= EXAMINE_CAP:
                    return found, before, True
                if len(rows) < batch:
                    break
            if floor is None:
                return found, None, False
            before = floor  # the window is done; the next one starts below its oldest row
        return found, before, True

    def search(self, req: SearchRequest, *, facets: bool = True, disclose_rows: bool = True) -> SearchResult:
        """A page of hits. ``disclose_rows=False`` is for previews of what ANOTHER organisation
        would receive: the rows are shown to nobody of that organisation, so no receipt is
        written (the bodies are still redacted for it)."""
        limit = max(1, min(req.limit, MAX_LIMIT))
        f, words, searched_as = self.compile(req)
        # One scan feeds the page and the facets: the facets count the matches from this page on,
        # up to FACET_SAMPLE of them, within the same bounded windows.
        found, scanned_to, stopped = self._scan(f, words, req.labels, max(limit, FACET_SAMPLE) if facets else limit,
                                                windows=max(1, min(req.windows, WINDOWS)))
        page = found[:limit]
        cursor = page[-1][0].date_added if len(found) > limit else scanned_to if stopped else None
        if disclose_rows:
            disclosed = {d.row.pk for d in disclose(self.store, self.vis, [r for r, _ in page], channel="search")}
            page = [(row, obj) for row, obj in page if row.pk in disclosed]
        hits = [self.hit(row, obj) for row, obj in page]
        result = SearchResult(hits, self._cursors.seal(cursor) if cursor else None, searched_as=searched_as,
                              stopped_early=stopped and len(found) <= limit)
        if facets:
            result.facets = self._facets(found[:FACET_SAMPLE])
            result.facets_sampled = len(found) > FACET_SAMPLE or stopped or f.before is not None
        return result

    def hits_of(self, version_pks: list[int]) -> list[Hit]:
        """Hits for known versions (the approval queue's drafts), in the order given, through the gate."""
        order = {pk: i for i, pk in enumerate(version_pks)}
        rows: list[ListedVersion] = []
        seen: set[int] = set()
        for row in self.store.listed_versions(version_pks, self.vis.predicate()):
            if row.pk not in seen:
                seen.add(row.pk)
                rows.append(row)
        rows.sort(key=lambda r: order.get(r.pk, len(order)))
        shown = {d.row.pk for d in disclose(self.store, self.vis, rows, channel="search")}
        return [self.hit(row, self._as_received(row)) for row in rows if row.pk in shown]

    def hit(self, row: ListedVersion, obj: dict[str, Any]) -> Hit:
        return Hit(row, obj, self.vis.level(row, row.collection_pk), self.org_name(row.owner_org) or "?",
                   self.org_name(row.origin_org))

    def _facets(self, rows: list[tuple[ListedVersion, dict[str, Any]]]) -> dict[str, list[tuple[str, int]]]:
        counters: dict[str, Counter[str]] = {k: Counter() for k in ("type", "tlp", "owner", "collection", "state")}
        for row, _ in rows:
            counters["type"][row.type] += 1
            counters["tlp"][self.vis.level(row, row.collection_pk)] += 1
            counters["owner"][self.org_name(row.owner_org) or "?"] += 1
            collection = self._names.get(row.collection_pk)
            if collection is not None:  # a collection the caller may not know is not named
                counters["collection"][collection] += 1
            counters["state"][row.state] += 1
        return {k: c.most_common() for k, c in counters.items()}



def request_from_params(get: Callable[[str], str | None], getlist: Callable[[str], list[str]]) -> SearchRequest:
    """A SearchRequest from query parameters (REST and the web UI name them the same):
    ``q`` (free text, or a value when it looks like one), ``value``, ``type``, ``tlp``, ``owner``,
    ``origin``, ``collection``, ``label``, ``state`` (repeatable), ``received`` (true/false),
    ``added_after`` (RFC 3339), ``limit``, ``cursor``."""
    text = (get("q") or "").strip() or None
    value = (get("value") or "").strip() or None
    if text and not value and lookup_pairs(text):
        text, value = None, text  # an indicator pasted into the search box: look the value up
    limit_text = get("limit") or "50"
    if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text[:6]) <= MAX_LIMIT:
        raise RequestError("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    received_text = get("received")
    if received_text not in (None, "", "true", "false"):
        raise RequestError("received", "must be true or false")
    added_after = get("added_after")

    def many(name: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in getlist(name) if v.strip())

    return SearchRequest(
        text=text, value=value, types=many("type"), tlps=tuple(t.lower() for t in many("tlp")), owners=many("owner"),
        origins=many("origin"), collections=many("collection"), labels=many("label"), states=many("state"),
        received=None if not received_text else received_text == "true",
        added_after=parse_time(added_after, "added_after") if added_after else None,
        limit=int(limit_text), cursor=get("cursor") or None)
