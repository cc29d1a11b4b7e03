"""REST import and export in every registered format: the CLI's ``import``/``export`` over HTTP.

    POST /api/v1/collections/{id}/import?format=auto|stix|misp|csv|text[&map=...][&option=KEY=VALUE]...[&draft=true]
    GET  /api/v1/collections/{id}/export?format=stix|misp|csv|...[&type=T]...[&latest=true][&option=KEY=VALUE]...
         [&min_score=N]

Import writes as the caller (their organisation owns what they send, their role and the format
decide draft or published) into a collection they may write; export returns what the caller may
see in a collection they may read, through the gate and disclosure like every other read path.
A collection the caller may not know about is 404, the same as one that does not exist.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from accord.api.routes import NOT_FOUND, ApiContext, ApiError, guarded, json_response
from accord.policy.gate import collection_access, visibility
from accord.policy.viewer import Viewer
from accord.services.decay import at_least
from accord.services.disclose import disclosed_bodies
from accord.services.formats import ExportOptions, ImportOptions, Source, check_params, parse_params, registry
from accord.services.ingest import prepare_document, write_prepared
from accord.services.release import write_provenance
from accord.stix.stream import Limits
from accord.storage.base import AuditEvent, Collection, VersionQuery

# Exports are rendered into a spooled file (memory up to this, then disk) and streamed from it.
SPOOL_BYTES = 8 * 1024 * 1024
CHUNK = 256 * 1024


def _collection(ctx: ApiContext, viewer: Viewer, collection_ref: str, *, write: bool) -> Collection:
    """The collection (id or alias) if the caller may use it so; 404 when they may not know it exists."""
    if "\x00" in collection_ref:  # no id has one, and PostgreSQL refuses NUL in text parameters
        raise NOT_FOUND
    collection = ctx.store.get_collection(collection_ref)
    access = collection_access(ctx.store, viewer, collection)
    if not (access.can_read or access.can_write):
        raise NOT_FOUND
    if write and not access.can_write:
        raise ApiError(403, "Forbidden", "You may not add objects to this collection.")
    if not write and not access.can_read:
        raise NOT_FOUND
    return collection


def _params(request: Request) -> dict[str, str]:
    params = parse_params(request.query_params.getlist("option"))
    if "map" in request.query_params:
        params["map"] = request.query_params["map"]
    return params


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ApiError(400, "Bad request", f"'{name}' must be true or false")
    return value == "true"


def _min_score(request: Request) -> int | None:
    """``min_score``: leave out indicators whose decay score for the caller is below it."""
    raw = request.query_params.get("min_score")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and int(raw) <= 100):
        raise ApiError(400, "Bad request", f"'min_score': {raw[:20]!r} is not a whole number from 0 to 100 "
                                           "(the decay score, docs/early-warning.md)")
    return int(raw)


def _import(ctx: ApiContext, viewer: Viewer, request: Request, body: bytes) -> dict[str, Any]:
    collection = _collection(ctx, viewer, request.path_params["collection_id"], write=True)
    fmt = request.query_params.get("format", "auto")
    params = _params(request)
    source = Source.from_stream("request body", io.BytesIO(body))
    importer = registry().detect(source) if fmt == "auto" else registry().importer(fmt)
    check_params("import", importer.name, importer.options, params)
    provenance = write_provenance(ctx.store, viewer, draft=_flag(request, "draft") or importer.review_required,
                                  four_eyes=ctx.four_eyes)
    imported = importer.read(source, ImportOptions(Limits(ctx.max_nesting_depth, ctx.max_object_bytes), params))
    # A request body is bounded: prepare it all before taking the write lock (as TAXII does).
    prepared = prepare_document(imported.items, ctx.store.marking_levels(), bundle_spec_version=imported.spec_version)
    with ctx.store.transaction() as tx:
        report = write_prepared(tx, collection, provenance, prepared)
    return {
        "format": importer.name, "collection": collection.id, "state": provenance.state.value,
        "stored": report.stored, "added": report.added, "unchanged": report.unchanged, "upgraded": report.upgraded,
        "refused": [{"object_id": p.object_id, "property": p.property, "reason": p.reason, "index": p.index}
                    for p in report.refused],
        "notes": imported.notes,
    }


@guarded
async def import_objects(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
    """POST /api/v1/collections/{collection_id}/import: the body in the named (or detected) format."""
    body = await _read_body(request, ctx.max_content_length)
    return json_response(await run_in_threadpool(_import, ctx, viewer, request, body))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "Content too large", f"at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "Content too large", f"at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _export(ctx: ApiContext, viewer: Viewer, request: Request) -> tuple[Any, str, str]:
    collection = _collection(ctx, viewer, request.path_params["collection_id"], write=False)
    exporter = registry().exporter(request.query_params.get("format", "stix"))
    if exporter.writes_directory:
        raise ApiError(400, "Bad request", f"format {exporter.name!r} writes a directory; export it with the CLI")
    params = _params(request)
    check_params("export", exporter.name, exporter.options, params)
    query = VersionQuery(collection_pk=collection.pk, types=tuple(request.query_params.getlist("type")),
                         latest_only=_flag(request, "latest"))
    min_score = _min_score(request)
    now = ctx.clock()
    vis = visibility(ctx.store, viewer, now)
    bodies = disclosed_bodies(ctx.store, vis, query, channel="export")
    if min_score is not None:
        bodies = at_least(ctx.store, vis, bodies, min_score, now=now, model=ctx.decay,
                          min_count=ctx.sighting_min_count, channel="export")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 -- closed by the response
    try:
        summary = exporter.export(bodies, cast(BinaryIO, spool), ExportOptions(node=ctx.node_name, params=params))
        ctx.store.audit_append(AuditEvent(viewer.username, "export", org=viewer.org_name, subject=collection.id,
                                          detail={"format": exporter.name, "objects": summary.objects_in,
                                                  "written": summary.written, "gated": True, "channel": "rest",
                                                  "notes": summary.notes[:20], "min_score": min_score}))
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    filename = f"{collection.id}-export{exporter.suffix}"
    return spool, exporter.media_type, filename


def _chunks(spool: Any) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(CHUNK):
            yield chunk


@guarded
async def export_objects(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
    """GET /api/v1/collections/{collection_id}/export: what the caller may see, in the named format."""
    spool, media_type, filename = await run_in_threadpool(_export, ctx, viewer, request)
    return StreamingResponse(_chunks(spool), media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


ROUTES = [
    Route("/api/v1/collections/{collection_id}/import", import_objects, methods=["POST"]),
    Route("/api/v1/collections/{collection_id}/export", export_objects, methods=["GET"]),
]
