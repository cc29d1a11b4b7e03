"""The object endpoints of a collection: list, add, one object, its versions, the manifest.

Listings are pages in ``date_added`` order; the caller's visibility predicate (policy.gate)
goes to the store with every query. Add Objects runs the one ingest pipeline (services.ingest)
in one transaction per request and answers with a complete status resource.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from accord.errors import Problem
from accord.policy.gate import Predicate, Visibility, objects_predicate, visibility
from accord.policy.viewer import Viewer
from accord.services.disclose import disclose
from accord.services.ingest import IngestReport, prepare_document, write_prepared
from accord.services.release import write_provenance
from accord.stix.ids import split_id
from accord.stix.stream import Item, Limits, StixDocument
from accord.stix.timestamps import format_micros, key_to_timestamp
from accord.stix.versions import CONTENT_VERSION_PREFIX
from accord.storage.base import Collection, ListedVersion, ListQuery, Status, Transaction, VersionMatch
from accord.taxii.context import TaxiiContext, begin
from accord.taxii.errors import NOT_FOUND, TaxiiError, forbidden
from accord.taxii.media import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE, TaxiiResponse, is_taxii_content
from accord.taxii.paging import Filters, page_headers, parse_filters, scope_digest
from accord.taxii.resources import visible_collection

OBJECT_FILTERS = frozenset({"id", "type", "version", "spec_version"})
ONE_OBJECT_FILTERS = frozenset({"version", "spec_version"})
VERSIONS_FILTERS = frozenset({"spec_version"})
ACCEPTED_SHAPES = {"envelope", "bundle"}


def version_text(key: str, date_added: int) -> str:
    """A version as TAXII shows it: ``modified`` (else ``created``), else ``date_added``."""
    if key.startswith(CONTENT_VERSION_PREFIX) or not key:
        return format_micros(date_added)
    return key_to_timestamp(key)


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[ListedVersion]
    more: bool
    next: str | None
    bodies: list[bytes | None]

    def envelope_head(self) -> dict[str, Any]:
        head: dict[str, Any] = {"more": self.more}
        if self.next is not None:
            head["next"] = self.next
        return head


def _gate(ctx: TaxiiContext, viewer: Viewer, collection: Collection) -> tuple[Visibility, Predicate]:
    vis = visibility(ctx.store, viewer, ctx.clock())
    return vis, objects_predicate(vis, viewer, ctx.store, collection)


def _page(request: Request, ctx: TaxiiContext, viewer: Viewer, collection: Collection, filters: Filters, *,
          ids: tuple[str, ...] | None = None, with_body: bool, channel: str) -> Page:
    scope = scope_digest(request.url.path, viewer.username, request.query_params.multi_items())
    after = filters.added_after
    if filters.next is not None:
        after = max(after, ctx.cursors.resume(filters.next, scope))
    query = ListQuery(collection.pk, ids=filters.ids if ids is None else ids, types=filters.types,
                      spec_versions=filters.spec_versions, versions=filters.versions, after=after,
                      limit=filters.limit + 1, with_body=with_body)
    vis, predicate = _gate(ctx, viewer, collection)
    rows = ctx.store.list_versions(query, predicate)
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    cursor = ctx.cursors.issue(rows[-1].date_added, scope) if more else None
    # The cursor continues after the last row the query returned, even if disclosure drops it.
    shown = disclose(ctx.store, vis, rows, channel=channel, subject=collection.id)
    return Page([d.row for d in shown], more, cursor, [d.body for d in shown])


def _readable(request: Request) -> tuple[TaxiiContext, Viewer, Collection]:
    ctx, viewer = begin(request)
    collection, access = visible_collection(ctx, viewer, request.path_params["api_root"],
                                            request.path_params["collection_id"])
    if not access.can_read:
        raise forbidden("You may add objects to this collection but not read it.")
    return ctx, viewer, collection


def _object_id(request: Request) -> str:
    object_id: str = request.path_params["object_id"]
    if split_id(object_id) is None:
        raise NOT_FOUND
    return object_id


def _require_object(ctx: TaxiiContext, viewer: Viewer, collection: Collection, object_id: str) -> None:
    """404 unless the caller can see some version of the object in the collection."""
    query = ListQuery(collection.pk, ids=(object_id,), versions=VersionMatch(all=True), limit=1, with_body=False)
    if not ctx.store.list_versions(query, _gate(ctx, viewer, collection)[1]):
        raise NOT_FOUND


def _objects_response(page: Page) -> Response:
    # Always an "objects" member, even empty: the stix2 TAXII source indexes it unconditionally.
    head = orjson.dumps(page.envelope_head())
    body = b"".join((head[:-1], b',"objects":[', b",".join(b or b"" for b in page.bodies), b"]}"))
    return TaxiiResponse(body, headers=page_headers(page.rows))


def get_objects(request: Request) -> Response:
    """Get Objects, TAXII 2.1 section 5.3: filters match[id|type|version|spec_version],
    added_after, limit, next."""
    ctx, viewer, collection = _readable(request)
    filters = parse_filters(request.query_params.multi_items(), OBJECT_FILTERS)
    return _objects_response(_page(request, ctx, viewer, collection, filters, with_body=True, channel="taxii"))


def get_object(request: Request) -> Response:
    """Get an Object, TAXII 2.1 section 5.5: filters match[version|spec_version], added_after, limit, next."""
    ctx, viewer, collection = _readable(request)
    object_id = _object_id(request)
    filters = parse_filters(request.query_params.multi_items(), ONE_OBJECT_FILTERS)
    page = _page(request, ctx, viewer, collection, filters, ids=(object_id,), with_body=True, channel="taxii")
    if not page.rows:
        _require_object(ctx, viewer, collection, object_id)
    return _objects_response(page)


def get_object_versions(request: Request) -> Response:
    """Get Object Versions, TAXII 2.1 section 5.8: every version of one object, oldest
    date_added first; filters match[spec_version], added_after, limit, next."""
    ctx, viewer, collection = _readable(request)
    object_id = _object_id(request)
    filters = parse_filters(request.query_params.multi_items(), VERSIONS_FILTERS, VersionMatch(all=True))
    page = _page(request, ctx, viewer, collection, filters, ids=(object_id,), with_body=False,
                 channel="taxii-versions")
    if not page.rows:
        _require_object(ctx, viewer, collection, object_id)
    resource = page.envelope_head()
    resource["versions"] = [version_text(r.version, r.date_added) for r in page.rows]
    return TaxiiResponse(resource, headers=page_headers(page.rows))


def _stix_media(row: ListedVersion) -> str:
    return STIX_MEDIA_TYPE if row.spec_version == "2.1" else f"application/stix+json;version={row.spec_version}"


def get_manifest(request: Request) -> Response:
    """Get Object Manifests, TAXII 2.1 section 5.6: the same selection as Get Objects, as
    manifest records (id, date_added, version, media_type)."""
    ctx, viewer, collection = _readable(request)
    filters = parse_filters(request.query_params.multi_items(), OBJECT_FILTERS)
    page = _page(request, ctx, viewer, collection, filters, with_body=False, channel="taxii-manifest")
    resource = page.envelope_head()
    resource["objects"] = [{"id": r.stix_id, "date_added": format_micros(r.date_added),
                            "version": version_text(r.version, r.date_added), "media_type": _stix_media(r)}
                           for r in page.rows]
    return TaxiiResponse(resource, headers=page_headers(page.rows))


def delete_object(request: Request) -> Response:
    """Delete an Object, TAXII 2.1 section 5.7: filters match[version], match[spec_version].

    Removes the matching versions from this collection; they stay stored (other collections,
    history, the audit log) and the removal is audited. Only versions the caller's organisation
    owns can be removed, by an analyst or above with write access to the collection. Withdrawing
    a version from partners everywhere is retraction (``accord retract``), not this."""
    ctx, viewer = begin(request)
    collection, access = visible_collection(ctx, viewer, request.path_params["api_root"],
                                            request.path_params["collection_id"])
    object_id = _object_id(request)
    filters = parse_filters(request.query_params.multi_items(), ONE_OBJECT_FILTERS, VersionMatch(all=True))
    query = ListQuery(collection.pk, ids=(object_id,), spec_versions=filters.spec_versions, versions=filters.versions,
                      limit=10_000, with_body=False)
    vis = visibility(ctx.store, viewer, ctx.clock())
    rows = ctx.store.list_versions(query, vis.predicate())
    if not access.can_read:
        # A writer that cannot read the collection still knows its own organisation's objects.
        rows = [r for r in rows if r.owner_org == viewer.org_pk]
    if not rows:
        raise NOT_FOUND
    owned = [r for r in rows if r.owner_org == viewer.org_pk]
    if not access.can_write or len(owned) != len(rows):
        raise forbidden("You may delete only your own organisation's objects, from a collection you can write to.")
    ctx.store.remove_from_collection(collection, owned, actor=viewer.username, org=viewer.org_name)
    return TaxiiResponse(b"", status_code=200)


# -- Add Objects -----------------------------------------------------------------------------
class _RecordingDocument(StixDocument):
    """A StixDocument that remembers each element's id and version, to name refused objects."""

    def __init__(self, read: Callable[[int], bytes], *, source: str, limits: Limits):
        super().__init__(read, source=source, limits=limits)
        self.seen: list[tuple[str | None, str | None]] = []

    def __iter__(self) -> Iterator[Item]:
        for item in super().__iter__():
            value = item.value if isinstance(item.value, dict) else {}
            sid, ver = value.get("id"), value.get("modified", value.get("created"))
            self.seen.append((sid if isinstance(sid, str) else None, ver if isinstance(ver, str) else None))
            yield item


def _status_resource(report: IngestReport, doc: _RecordingDocument, requested: str) -> tuple[str, bytes]:
    """The status resource (TAXII 2.1 section 4.3.1) of a request that completed."""
    successes = [{"id": r.stix_id, "version": version_text(r.version, r.date_added or 0)}
                 for r in report.results if r.status is not Status.CONFLICT]
    refused: dict[int, list[Problem]] = {}
    for problem in report.refused:
        refused.setdefault(problem.index if problem.index is not None else -1, []).append(problem)
    failures = []
    for index, problems in sorted(refused.items()):
        sid, ver = doc.seen[index] if 0 <= index < len(doc.seen) else (None, None)
        failures.append({"id": problems[0].object_id or sid or f"(object #{index})", "version": ver or "",
                         "message": "; ".join(p.reason if p.property is None else f"{p.property}: {p.reason}"
                                              for p in problems)})
    status_id = str(uuid.uuid4())
    resource = {"id": status_id, "status": "complete", "request_timestamp": requested,
                "total_count": len(doc.seen), "success_count": len(successes), "successes": successes,
                "failure_count": len(failures), "failures": failures, "pending_count": 0, "pendings": []}
    return status_id, orjson.dumps(resource)


def _ingest(ctx: TaxiiContext, viewer: Viewer, collection: Collection, api_root: str, body: bytes) -> bytes:
    """Store one request's objects in one transaction and record its status resource."""
    requested = format_micros(ctx.clock())
    doc = _RecordingDocument(io.BytesIO(body).read, source="request body",
                             limits=Limits(ctx.max_nesting_depth, ctx.max_object_bytes))
    provenance = write_provenance(ctx.store, viewer, four_eyes=ctx.four_eyes)
    # Parse, upgrade and validate before taking the write lock: other workers' requests are
    # written meanwhile, and the lock is held only for the writes themselves.
    prepared = prepare_document(doc, ctx.store.marking_levels(), bundle_spec_version=doc.spec_version,
                                keep_results=True)
    doc.check_envelope()
    if doc.shape not in ACCEPTED_SHAPES:
        raise TaxiiError(422, "Unprocessable entity", "The body must be a TAXII envelope "
                         '({"objects": [...]}) or a STIX bundle.', details={"found": doc.shape})

    def write(tx: Transaction) -> bytes:
        report = write_prepared(tx, collection, provenance, prepared)
        status_id, encoded = _status_resource(report, doc, requested)
        # In the same transaction: a status exists exactly when the objects it lists were stored.
        tx.save_status(status_id, api_root, viewer.username, encoded)
        return encoded

    # Committed together with the requests that arrive meanwhile (storage/group.py): one commit,
    # one wait for the disk, for all of them; this request is answered once its own is durable.
    return ctx.writes.run(write, weight=max(1, len(prepared.versions)))


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = TaxiiError(413, "Content too large", f"Requests to this API root may carry at most {limit} bytes "
                           "(its max_content_length).")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def add_objects(request: Request) -> Response:
    """Add Objects, TAXII 2.1 section 5.4: 202 with a status resource (section 4.3.1) listing
    every object as a success or a failure with its reason. Requests complete within the call,
    so pending_count is 0 and the status is already "complete"."""
    ctx, viewer = await run_in_threadpool(begin, request)
    if not is_taxii_content(request.headers.get("content-type")):
        raise TaxiiError(415, "Unsupported media type", f"Send objects as {TAXII_MEDIA_TYPE}.")
    api_root = request.path_params["api_root"]
    collection, access = await run_in_threadpool(visible_collection, ctx, viewer, api_root,
                                                 request.path_params["collection_id"])
    if not access.can_write:
        raise forbidden("You may not add objects to this collection.")
    body = await _read_body(request, ctx.max_content_length)
    status = await run_in_threadpool(_ingest, ctx, viewer, collection, api_root, body)
    return TaxiiResponse(status, status_code=202)
