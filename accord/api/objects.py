"""REST objects under /api/v1/: search, one object, create and update, import with review, and
the sharing preview (issue 8, the object half).

    GET  /api/v1/objects?q=&value=&type=&tlp=&owner=&origin=&collection=&label=&state=&received=
                        &added_after=&limit=&cursor=
    GET  /api/v1/objects/{id}
    POST /api/v1/objects?collection=&draft=          one STIX object, or a bundle
    PUT  /api/v1/objects/{id}?collection=&draft=     a new version of the caller's organisation's object
    POST /api/v1/import/preview?format=              any format: what it holds, nothing stored
    POST /api/v1/import/commit?collection=&tlp=&draft=   {"objects": [...]}: store what was kept
    GET  /api/v1/preview?org=NAME[&object=ID]        what NAME would receive of the caller's data

Every read goes through the gate (services/search.py, services/objects.py); every write through
services/ingest.py as the caller (release.write_provenance: an analyst's writes are drafts, four
eyes are honoured). An object as the caller receives it is its STIX body with one more member,
``_accord`` (a name STIX cannot use: property names start with a letter), holding what Accord
knows of that version: tlp, owner, origin, state, collection, date_added, version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accord.api.routes import NOT_FOUND, ApiContext, ApiError, _version_text, guarded, json_object, json_response
from accord.api.transfer import _collection, _flag, _params, _read_body
from accord.errors import InvalidObjectError, Problem
from accord.policy.gate import collection_access, visibility
from accord.policy.roles import Role
from accord.policy.viewer import Viewer
from accord.services import decay, review, sightings
from accord.services.ingest import prepare_document, write_prepared
from accord.services.objects import Edge, VersionView, object_view
from accord.services.preview import preview_listing, preview_object
from accord.services.release import write_provenance
from accord.services.search import Hit, Searcher, SearchResult, request_from_params
from accord.stix.stream import Item, Limits
from accord.stix.timestamps import format_micros
from accord.stix.versions import version_key
from accord.storage.base import Collection, Status

MAX_ID = 300  # longer than any STIX id Accord stores; anything longer is not one
PREVIEW_PAGE = 100


# -- input ------------------------------------------------------------------------------------------
def _bad(detail: str) -> ApiError:
    return ApiError(400, "Bad request", detail)


def _clean_params(request: Request) -> None:
    """No parameter may hold NUL: no name or id has one, and PostgreSQL refuses it in text."""
    for key, value in request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            raise _bad(f"'{key.replace(chr(0), '')}': NUL is not allowed in a parameter")


def _stix_id(request: Request) -> str:
    stix_id: str = request.path_params["stix_id"]
    if "\x00" in stix_id or len(stix_id) > MAX_ID or "--" not in stix_id:
        raise NOT_FOUND
    return stix_id


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise _bad("the body is empty: send a STIX object (or, to POST, a bundle)")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"the body is not JSON: {exc}") from None


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"object_id": p.object_id, "property": p.property, "reason": p.reason, "index": p.index}
            for p in problems]


class Refused(Exception):
    """A write refused as a whole (nothing stored), with every problem found."""

    def __init__(self, status: int, detail: str, problems: list[Problem]):
        super().__init__(detail)
        self.status, self.detail, self.problems = status, detail, problems

    def response(self) -> Response:
        title = "Conflict" if self.status == 409 else "Bad request"
        return json_response({"error": {"status": self.status, "title": title, "detail": self.detail,
                                        "problems": _problems(self.problems)}}, self.status)


# -- rendering --------------------------------------------------------------------------------------
def _time(micros: int | None) -> str | None:
    return None if micros is None else format_micros(micros)


def _hit(searcher: Searcher, hit: Hit) -> dict[str, Any]:
    row = hit.row
    return {**hit.obj, "_accord": {
        "tlp": hit.tlp, "owner": hit.owner, "origin": hit.origin, "state": row.state,
        "collection": searcher.collection_name(row.collection_pk), "date_added": _time(row.date_added),
        "version": _version_text(row.version)}}


def _listing(searcher: Searcher, result: SearchResult, key: str = "objects") -> dict[str, Any]:
    out: dict[str, Any] = {key: [_hit(searcher, h) for h in result.hits],
                           "facets": {name: [{"value": v, "count": n} for v, n in counts]
                                      for name, counts in result.facets.items()},
                           "facets_sampled": result.facets_sampled}
    if result.next_cursor:
        out["next"] = result.next_cursor
    if result.searched_as:
        out["searched_as"] = result.searched_as
    return out


def _summary(hit: Hit | None) -> dict[str, Any] | None:
    """Another object on the graph, only when the caller may see it."""
    if hit is None:
        return None
    return {"id": hit.row.stix_id, "type": hit.row.type, "name": hit.name, "tlp": hit.tlp}


def _edge(edge: Edge) -> dict[str, Any]:
    return {"label": edge.label, "direction": "out" if edge.outgoing else "in", "id": edge.other_id or None,
            "object": _summary(edge.other), "via": edge.via.row.stix_id if edge.via is not None else None}


def _version(v: VersionView) -> dict[str, Any]:
    return {"version": _version_text(v.row.version), "object": v.obj, "tlp": v.tlp, "owner": v.owner,
            "origin": v.origin, "origin_node": v.origin_node, "state": v.row.state, "author": v.author,
            "released_by": v.released_by, "released_at": _time(v.released_at), "collections": v.collections,
            "date_added": _time(v.row.date_added),
            "changes": [{"property": k, "before": old, "after": new} for k, old, new in v.changes]}


# -- reads ------------------------------------------------------------------------------------------
def search_objects(ctx: ApiContext, viewer: Viewer, request: Request) -> dict[str, Any]:
    """GET /api/v1/objects: the gated search, newest first, with facets and a cursor."""
    _clean_params(request)
    params = request.query_params
    req = request_from_params(params.get, params.getlist)
    searcher = Searcher(ctx.store, visibility(ctx.store, viewer, ctx.clock()))
    return _listing(searcher, searcher.search(req))


def get_object(ctx: ApiContext, viewer: Viewer, request: Request) -> dict[str, Any]:
    """GET /api/v1/objects/{id}: the current version, every version, the graph, the receipts,
    "also seen in" (the other visible objects sharing one of its observables), and an
    indicator's decay score (null for other objects)."""
    stix_id = _stix_id(request)
    now = ctx.clock()
    vis = visibility(ctx.store, viewer, now)
    view = object_view(ctx.store, vis, stix_id, channel="rest", correlation_cap=ctx.correlation_cap,
                       sighting_min_count=ctx.sighting_min_count)
    # Decay (services/decay.py): from the current version as received and the sightings the caller may be told of.
    score = decay.score(view.current.obj, view.sightings.shown if view.sightings else (), now, ctx.decay)
    current = _version(view.current)
    meta = {k: current[k] for k in ("tlp", "owner", "origin", "state", "version", "date_added")}
    meta["collection"] = view.current.collections[0] if view.current.collections else None
    return {"id": view.stix_id, "current": {**view.current.obj, "_accord": meta},
            "versions": [_version(v) for v in view.versions], "edges": [_edge(e) for e in view.edges],
            "receipts": None if view.receipts is None else [
                {"seq": r.seq, "at": _time(r.at), "org": r.org, "agreement": r.agreement, "channel": r.channel}
                for r in view.receipts],
            "correlations": [{"value": c.value, "index_type": c.index_type, "over_correlating": c.over_correlating,
                              "objects": [{**(_summary(h) or {}), "owner": h.owner} for h in c.objects]}
                             for c in view.correlations],
            "sightings": None if view.sightings is None else view.sightings.as_json(),
            "score": score}


# -- writes -----------------------------------------------------------------------------------------
def _write(ctx: ApiContext, viewer: Viewer, collection: Collection, objects: list[Any], draft: bool,
           ) -> dict[str, Any]:
    """Validate everything, then store everything in one transaction, or nothing at all."""
    provenance = write_provenance(ctx.store, viewer, draft=draft, four_eyes=ctx.four_eyes)
    prepared = prepare_document((Item(i, o) for i, o in enumerate(objects)), ctx.store.marking_levels(),
                                keep_results=True)
    if prepared.report.refused:
        raise Refused(400, f"nothing stored: {len(prepared.report.refused)} problem(s) in the objects sent",
                      prepared.report.refused)
    with ctx.store.transaction() as tx:
        report = write_prepared(tx, collection, provenance, prepared)
        if report.refused:  # a version already stored with other content: roll everything back
            raise Refused(409, "nothing stored: a version is already stored with different content",
                          report.refused)
    return {"collection": collection.id, "state": provenance.state.value,
            "objects": [{"id": r.stix_id, "version": _version_text(r.version), "status": r.status.value}
                        for r in report.results if r.status is not Status.CONFLICT]}


def _objects_of(body: Any, *, bundle: bool) -> list[Any]:
    if not isinstance(body, dict):
        raise _bad("the body must be a STIX object" + (" or a bundle" if bundle else ""))
    if body.get("type") == "bundle":
        if not bundle:
            raise _bad("send one STIX object, not a bundle")
        objects = body.get("objects")
        if not isinstance(objects, list) or not objects:
            raise _bad("'objects': a bundle must hold a non-empty list of objects")
        return objects
    return [body]


def create_objects(ctx: ApiContext, viewer: Viewer, request: Request, raw: bytes) -> dict[str, Any]:
    """POST /api/v1/objects?collection=ID[&draft=true]: one object or a bundle, all or nothing."""
    _clean_params(request)
    ref = request.query_params.get("collection")
    if not ref:
        raise _bad("'collection': name the collection to write into (its id or alias)")
    collection = _collection(ctx, viewer, ref, write=True)
    objects = _objects_of(_json_body(raw), bundle=True)
    return _write(ctx, viewer, collection, objects, _flag(request, "draft"))


def update_object(ctx: ApiContext, viewer: Viewer, request: Request, raw: bytes) -> dict[str, Any]:
    """PUT /api/v1/objects/{id}: a new version of an object the caller's organisation owns."""
    _clean_params(request)
    stix_id = _stix_id(request)
    store = ctx.store
    vis = visibility(store, viewer, ctx.clock())
    visible = store.object_versions(stix_id, vis.predicate())
    owned = [r for r in visible if r.owner_org == viewer.org_pk]
    if not owned:
        if visible:  # the caller sees it, so may know it exists; it is another organisation's
            raise ApiError(403, "Forbidden", "This object belongs to another organisation; only its owner "
                           "can add versions (publish your own object with a new id).")
        raise NOT_FOUND
    (obj,) = _objects_of(_json_body(raw), bundle=False)
    if obj.get("id") != stix_id:
        raise Refused(400, "nothing stored: the body is another object",
                      [Problem(obj.get("id") if isinstance(obj.get("id"), str) else None, "id",
                               f"must be {stix_id}, the object of the path")])
    current = max(r.version for r in owned)
    new = version_key(obj)
    if not isinstance(obj.get("modified"), str) or new <= current:
        raise Refused(400, "nothing stored: an update is a new version", [Problem(
            stix_id, "modified", f"must be later than the current version, {_version_text(current)}")])
    ref = request.query_params.get("collection")
    if ref:
        collection = _collection(ctx, viewer, ref, write=True)
    else:
        newest = max(owned, key=lambda r: r.version)
        collection = next(c for c in store.collections() if c.pk == newest.collection_pk)
        if not collection_access(store, viewer, collection).can_write:
            # The caller sees the object, so a 404 would be untrue; the collection is not named, as the
            # caller may not know it (its organisation's grant on it may be gone).
            raise ApiError(403, "Forbidden", "You may not add versions to this object: you may not write to the "
                           "collection it is in (name one you may write with 'collection').")
    return _write(ctx, viewer, collection, [obj], _flag(request, "draft"))


_SIGHTING_REPORT = frozenset({"kind", "count", "first_seen", "last_seen", "anonymous", "tlp", "description",
                              "collection"})


def report_sighting(ctx: ApiContext, viewer: Viewer, request: Request, raw: bytes) -> dict[str, Any]:
    """POST /api/v1/objects/{id}/sightings: "we saw this" (analyst or above; services/sightings.py)."""
    _clean_params(request)
    stix_id = _stix_id(request)
    body = json_object(raw, empty=None, shape="the body must be a JSON object: kind, count, first_seen, last_seen, "
                       "anonymous, tlp, description, collection (all optional)", members=_SIGHTING_REPORT,
                       unknown="'{name}': not a property of a sighting report")
    report = sightings.report_from(body, stix_id)
    collection = body.get("collection")
    if collection is not None and not isinstance(collection, str):
        raise _bad("'collection': must be a collection id or alias")
    try:
        recorded = sightings.record_sighting(ctx.store, viewer, report, now_micros=ctx.clock(),
                                             four_eyes=ctx.four_eyes, collection_ref=collection)
    except InvalidObjectError as exc:
        raise Refused(400, "nothing stored: the sighting is not valid STIX", exc.problems) from exc
    return {"id": recorded.stix_id, "collection": recorded.collection, "state": recorded.state,
            "owner": recorded.owner, "kind": report.kind, "anonymous": report.anonymous}


def import_preview(ctx: ApiContext, viewer: Viewer, request: Request, raw: bytes) -> dict[str, Any]:
    """POST /api/v1/import/preview?format=: the extraction, with nothing stored (analyst or above,
    as the web UI's Import page: extraction costs CPU, and only writers have a use for it)."""
    _clean_params(request)
    if not viewer.role.at_least(Role.ANALYST):
        raise ApiError(403, "Forbidden", "importing needs the analyst role or above")
    found = review.extract(raw, request.query_params.get("format", "auto"),
                           Limits(ctx.max_nesting_depth, ctx.max_object_bytes), _params(request))
    return {"format": found.format, "objects": found.objects, "problems": _problems(found.problems),
            "notes": found.notes, "review_required": found.review_required}


def import_commit(ctx: ApiContext, viewer: Viewer, request: Request, raw: bytes) -> dict[str, Any]:
    """POST /api/v1/import/commit?collection=&tlp=&draft=, body {"objects": [...]}: what was kept."""
    _clean_params(request)
    ref = request.query_params.get("collection")
    if not ref:
        raise _bad("'collection': name the collection to write into (its id or alias)")
    collection = _collection(ctx, viewer, ref, write=True)
    body = _json_body(raw)
    if not isinstance(body, dict) or not isinstance(body.get("objects"), list):
        raise _bad("'objects': the body must be {\"objects\": [...]}, the objects kept from the preview")
    if not all(isinstance(o, dict) for o in body["objects"]):
        raise _bad("'objects': every element must be a STIX object")
    unknown = sorted(set(body) - {"objects"})
    if unknown:
        raise _bad(f"'{unknown[0]}' is not a property of this request (expected: objects)")
    tlp = request.query_params.get("tlp") or None
    report, provenance = review.commit(ctx.store, viewer, collection, body["objects"], tlp=tlp,
                                       draft=_flag(request, "draft"), four_eyes=ctx.four_eyes)
    return {"collection": collection.id, "state": provenance.state.value, "stored": report.stored,
            "added": report.added, "unchanged": report.unchanged, "upgraded": report.upgraded,
            "refused": _problems(report.refused)}


# -- the sharing preview ----------------------------------------------------------------------------
def preview(ctx: ApiContext, viewer: Viewer, request: Request) -> dict[str, Any]:
    """GET /api/v1/preview?org=NAME[&object=ID][&q=&cursor=]: what organisation NAME would receive
    of the caller's organisation's data (node-admin: of anyone's), from NAME's own visibility;
    nothing is disclosed, so no receipt is written. For one object, every organisation's answer
    (services/preview.py decides both, for the web UI too)."""
    _clean_params(request)
    store, now, params = ctx.store, ctx.clock(), request.query_params
    stix_id = params.get("object")
    if stix_id:
        found = preview_object(store, viewer, stix_id, now=now)
        return {"id": found.stix_id, "version": _version_text(found.row.version), "tlp": found.tlp,
                "state": found.state, "draft": found.draft,
                "answers": [{"org": a.org, "kind": a.kind, "receives": a.receives, "rule": a.rule,
                             "agreement": a.agreement} for a in found.answers]}
    name = params.get("org")
    if not name:
        raise _bad("'org': name the organisation to preview (one of GET /api/v1/orgs), or give 'object'")
    org, searcher, result = preview_listing(store, viewer, name, text=(params.get("q") or "").strip() or None,
                                            cursor=params.get("cursor") or None, limit=PREVIEW_PAGE, now=now)
    return {"org": org.name, **_listing(searcher, result)}


# -- wiring -----------------------------------------------------------------------------------------
def _reading(handler: Callable[[ApiContext, Viewer, Request], dict[str, Any]],
             ) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
        return json_response(await run_in_threadpool(handler, ctx, viewer, request))

    return guarded(run)


def _writing(handler: Callable[[ApiContext, Viewer, Request, bytes], dict[str, Any]], status: int = 200,
             ) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
        raw = await _read_body(request, ctx.max_content_length)
        try:
            return json_response(await run_in_threadpool(handler, ctx, viewer, request, raw), status)
        except Refused as refused:
            return refused.response()

    return guarded(run)


ROUTES = [
    Route("/api/v1/objects", _reading(search_objects), methods=["GET"]),
    Route("/api/v1/objects", _writing(create_objects, 201), methods=["POST"]),
    Route("/api/v1/objects/{stix_id}", _reading(get_object), methods=["GET"]),
    Route("/api/v1/objects/{stix_id}", _writing(update_object), methods=["PUT"]),
    Route("/api/v1/objects/{stix_id}/sightings", _writing(report_sighting, 201), methods=["POST"]),
    Route("/api/v1/import/preview", _writing(import_preview), methods=["POST"]),
    Route("/api/v1/import/commit", _writing(import_commit), methods=["POST"]),
    Route("/api/v1/preview", _reading(preview), methods=["GET"]),
]
