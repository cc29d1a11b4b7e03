"""Pull: copy what a partner's node lets us read from one of its collections into ours.

Pages are read oldest ``date_added`` first with ``added_after`` (and ``next`` within a run). Each
page is written in ONE transaction together with the link's new cursor, so an interruption at
any point resumes after what was stored: nothing is skipped, nothing stored twice, and the
cursor never moves back. The cursor is the newest ``date_added`` up to which EVERYTHING has been
stored, which lags a page behind: some servers (medallion) give every object of one POST the
same ``date_added``, so a group may straddle two pages, and resuming from the last page's date
would skip the rest of its group. A resume re-reads at most a page (stored as unchanged).

Pages commit without waiting for the disk, except the last of a run: a power cut can lose the
newest pages, but always together with the cursor that passed them, so the next cycle fetches
them again; a process crash loses nothing committed. Nothing a pull stored was promised to
anyone before its run ended, and the run's final commit is durable (it flushes the earlier ones).

What arrives is owned by the partner organisation the peer speaks for, with that organisation
and the peer's name as its origin, published (the partner released it), and checked against the
peer's inbound policy (types, highest TLP) before anything is stored. The agreements then decide
who on this node may see it, exactly as for data written locally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from accord.errors import SyncError
from accord.services.collector import bulk_gc
from accord.services.ingest import prepare_document, write_prepared
from accord.stix.markings import TLP_RANK, UNKNOWN, object_marking_refs, tlp_of_refs
from accord.stix.stream import Item
from accord.stix.timestamps import parse_to_micros
from accord.stix.versions import version_key
from accord.storage.base import AuditEvent, Collection, Peer, PeerLink, Provenance, State, Store
from accord.storage.sharing import learn_marking
from accord.sync.client import Page, PeerClient
from accord.sync.retract import apply_remote_retractions

PAGE_SIZE = 1000
# Pages one run of a link takes at most; the next cycle goes on from the cursor. Bounds a run
# against a peer that never stops saying "more".
MAX_PAGES_PER_RUN = 2000


@dataclass
class Transfer:
    """What one run of a link moved."""

    objects: int = 0  # received (pull) or sent (push)
    stored: int = 0
    refused: int = 0
    reasons: dict[str, int] | None = None
    retracted: int = 0  # versions retracted because their origin retracted them
    feedback: int = 0  # pull links: sightings (and the identities they name) sent back (sync/feedback.py)

    def refuse(self, reason: str) -> None:
        self.refused += 1
        self.reasons = self.reasons or {}
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def peer_provenance(peer: Peer) -> Provenance:
    return Provenance(peer.org_pk, State.PUBLISHED, author=f"peer {peer.name}", origin_org=peer.org_pk,
                      origin_node=peer.name, owner_name=peer.org_name)


def _keys(objects: list[Any]) -> dict[int, tuple[str, str]]:
    return {i: (o["id"], version_key(o)) for i, o in enumerate(objects)
            if isinstance(o, dict) and isinstance(o.get("id"), str)}


def _inbound(store: Store, peer: Peer, objects: list[Any], levels: dict[str, str],
             transfer: Transfer) -> Iterator[Item]:
    """The page's objects the peer's inbound policy accepts, as items; the rest counted. Our
    own data coming back (the partner's node shows us what we gave it) is not taken again."""
    limit = TLP_RANK[peer.accept_max_tlp]
    keys = _keys(objects)
    ours = store.originated_here(list(keys.values()))
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            yield Item(index, obj)  # ingest refuses it with its reason
            continue
        if keys.get(index) in ours:
            transfer.refuse("originated on this node")
            continue
        if peer.accept_types and obj.get("type") not in peer.accept_types:
            transfer.refuse(f"type {obj.get('type')!r} not accepted from this peer")
            continue
        if obj.get("type") == "marking-definition" and isinstance(obj.get("id"), str):
            learn_marking(levels, obj)
        # Granular markings count too: an object must not bring in a part above what we accept.
        refs = object_marking_refs(obj) + _granular_refs(obj)
        tlp = tlp_of_refs(refs, levels) if refs else None
        if tlp is not None and TLP_RANK.get(tlp, TLP_RANK[UNKNOWN]) > limit:
            transfer.refuse(f"TLP {tlp} above what is accepted from this peer ({peer.accept_max_tlp})")
            continue
        yield Item(index, obj)


def _granular_refs(obj: dict[str, Any]) -> list[str]:
    granular = obj.get("granular_markings")
    if not isinstance(granular, list):
        return []
    return [g["marking_ref"] for g in granular if isinstance(g, dict) and isinstance(g.get("marking_ref"), str)]


def _page_digest(objects: list[Any]) -> str:
    h = hashlib.sha256()
    for obj in objects:
        if isinstance(obj, dict):
            h.update(f"{obj.get('id')}\x1f{obj.get('modified', obj.get('created'))}\x1e".encode())
    return h.hexdigest()


def _later(a: str | None, b: str | None) -> bool:
    """Whether timestamp ``a`` is after ``b`` (servers differ in fractional digits)."""
    ka, kb = parse_to_micros(a) if a else None, parse_to_micros(b) if b else None
    return ka is not None and kb is not None and ka > kb


def _safe_cursor(cursor: str | None, pending: str | None, page: Page) -> str | None:
    """How far everything is stored once ``page`` is: the previous page's newest date when this
    page reaches past it (its group is then complete), or this page's own when it is the last."""
    if not page.more and page.date_added_last:
        return page.date_added_last
    if pending is not None and _later(page.date_added_last, pending):
        return pending
    return cursor


def _following(page: Page, query_after: str | None, url: str) -> tuple[str | None, str | None]:
    """The (added_after, next) that ask for the page after ``page``."""
    if page.next is not None:
        return query_after, page.next  # a `next` token belongs to its query: keep its added_after
    if not page.date_added_last:
        raise SyncError(f"{url}: 'more' pages, but neither a next token nor a date to go on from")
    # A server without tokens: a fresh query after this page (a tie across the boundary may be
    # split there; Accord and servers with `next` do not have that problem).
    return page.date_added_last, None


def pull_link(store: Store, peer: Peer, link: PeerLink, collection: Collection, client: PeerClient) -> Transfer:
    """Pull one link. The next page is fetched while this one is validated and written, so the
    partner's serving and our storing overlap instead of adding up."""
    transfer = Transfer()
    cursor = link.cursor  # how far this node has stored everything, persisted with each page
    pending: str | None = None  # the previous page's newest date_added: complete once a later date shows
    seen_pages: set[tuple[str | None, str | None, str]] = set()

    def fetch(added_after: str | None, next_token: str | None) -> Page:
        return client.get_objects(link.remote_collection, added_after=added_after, next_token=next_token,
                                  limit=PAGE_SIZE)

    query_after = cursor
    # Pages are parsed, validated and written by the thousand: collect cyclic garbage less often
    # meanwhile (services/collector.py).
    with bulk_gc(), ThreadPoolExecutor(1, thread_name_prefix="accord-pull") as prefetch:
        upcoming: Future[Page] | None = prefetch.submit(fetch, query_after, None)
        for _ in range(MAX_PAGES_PER_RUN):
            if upcoming is None:
                break
            page = upcoming.result()
            if not page.objects:
                break
            # The same page again means no progress (a token and a date can legitimately repeat:
            # medallion keeps one token per paging session and may give a whole page one date_added).
            position = (page.next, page.date_added_last, _page_digest(page.objects))
            if position in seen_pages:
                raise SyncError(f"{client.url}: the same page again (next {page.next!r}, date_added "
                                f"{page.date_added_last!r}); the peer is not making progress")
            seen_pages.add(position)
            upcoming = None
            if page.more:
                query_after, next_token = _following(page, query_after, client.url)
                upcoming = prefetch.submit(fetch, query_after, next_token)
            safe = _safe_cursor(cursor, pending, page)
            _store_page(store, peer, link, collection, page, safe, transfer)
            cursor, pending = safe, page.date_added_last
    transfer.retracted = apply_remote_retractions(store, peer, link, client)
    return transfer


def _store_page(store: Store, peer: Peer, link: PeerLink, collection: Collection, page: Page, safe: str | None,
                transfer: Transfer) -> None:
    """One page in one transaction, with the cursor it makes safe and its audit entry."""
    levels = store.marking_levels()
    prepared = prepare_document(_inbound(store, peer, page.objects, levels, transfer), levels, keep_results=True)
    with store.transaction(durable=not page.more) as tx:
        report = write_prepared(tx, collection, peer_provenance(peer), prepared)
        if safe:
            tx.advance_link(link.pk, safe, len(page.objects))
        tx.audit(AuditEvent(
            f"peer {peer.name}", "sync.pull", org=peer.org_name, subject=peer.name,
            detail={"collection": collection.id, "remote_collection": link.remote_collection,
                    "received": len(page.objects), "stored": report.stored, "unchanged": report.unchanged,
                    "refused_by_policy": dict(transfer.reasons or {}),
                    "invalid": len({p.index for p in report.refused})},
            items=tuple((r.stix_id, r.version, None, peer.org_name) for r in report.results)))
    transfer.objects += len(page.objects)
    transfer.stored += report.stored
    transfer.refused += len({p.index for p in report.refused})
